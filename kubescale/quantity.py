"""Kubernetes resource quantities (apimachinery `resource.Quantity`): parsing into exact values, the integer
views the scheduler and kubelet use (`MilliValue`, `Value`), and the canonical string form (`String()`).

Pure; no I/O. Values are `Fraction`s, exact to the nano unit as upstream keeps them: a value finer than 1n is
rounded up (away from zero) to the next nano, and a BinarySI value is capped at 2^63-1, as ParseQuantity does.
"""

from __future__ import annotations

import functools
import math
import re
from fractions import Fraction
from typing import Any

_DEC_SUFFIX = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BIN_SUFFIX = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DEC_BY_EXP = {e: s for s, e in _DEC_SUFFIX.items()}
_BIN_BY_EXP = {0: "", **{e // 10: s for s, e in _BIN_SUFFIX.items()}}
# parseQuantityString: sign, digits, optional fraction, then suffix letters and an optional signed exponent
_QUANTITY = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?([eEinumkKMGTP]*[-+]?[0-9]*)")
_EXPONENT = re.compile(r"[eE]([-+]?[0-9]+)")
_SIMPLE = re.compile(r"([0-9]+)(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|)")
_MAX_BINARY = 2**63 - 1
_NANO = 10**9

DECIMAL_SI, BINARY_SI, DECIMAL_EXPONENT = "DecimalSI", "BinarySI", "DecimalExponent"


class QuantityError(ValueError):
    """A string resource.ParseQuantity would reject."""


@functools.lru_cache(maxsize=8192)  # clusters repeat a handful of quantity strings endlessly
def _parse(raw: str) -> tuple[Fraction, str]:
    """The value (rounded up to nanos, BinarySI capped) and the format ParseQuantity gives `raw`."""
    m = _QUANTITY.fullmatch(raw)
    if not raw or m is None:
        raise QuantityError(f"quantities must match the regular expression "
                            f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {raw!r}")
    sign, whole, frac, suffix = m.group(1), m.group(2), m.group(3) or "", m.group(4)
    if suffix in _DEC_SUFFIX:
        fmt, scale = DECIMAL_SI, Fraction(10) ** _DEC_SUFFIX[suffix]
    elif suffix in _BIN_SUFFIX:
        fmt, scale = BINARY_SI, Fraction(2 ** _BIN_SUFFIX[suffix])
    elif (e := _EXPONENT.fullmatch(suffix)) is not None:
        fmt, scale = DECIMAL_EXPONENT, Fraction(10) ** int(e.group(1))
    else:
        raise QuantityError(f"unable to parse quantity's suffix: {raw!r}")
    nanos = Fraction(int(whole + frac or "0"), 10 ** len(frac)) * scale * _NANO
    n = math.ceil(nanos)  # magnitude rounded up to the nano
    if fmt == BINARY_SI and n > _MAX_BINARY * _NANO:
        n = _MAX_BINARY * _NANO
    if fmt == BINARY_SI and 0 < n < _NANO:
        fmt = DECIMAL_SI
    return Fraction(-n if sign == "-" else n, _NANO), fmt


def _raw(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise QuantityError(f"expected a quantity string or number, not {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise QuantityError(f"quantities must be finite: {value!r}")
    return (value if isinstance(value, str) else repr(value)).strip()


def parse_quantity(value: str | int | float) -> Fraction:
    """`resource.ParseQuantity`'s exact value (`"1.5Gi"` -> 1610612736, `"250m"` -> 1/4). A JSON number is read
    as its text, as Quantity.UnmarshalJSON does. Raises QuantityError for what upstream rejects."""
    return _parse(_raw(value))[0]


def nano_value(q: str | int | float | Fraction) -> int:
    """The value in billionths, exactly: an int, since ParseQuantity keeps nothing finer (`"1m"` -> 1000000).
    Sums of quantities are exact in this unit, as upstream's are."""
    if isinstance(q, str):
        return _str_nanos(q)
    if isinstance(q, int) and not isinstance(q, bool):
        return q * _NANO
    return int(_value(q) * _NANO)


@functools.lru_cache(maxsize=8192)
def _str_nanos(raw: str) -> int:
    text = _raw(raw)
    simple = _simple_nanos(text)
    return simple if simple is not None else int(_parse(text)[0] * _NANO)


def _simple_nanos(text: str) -> int | None:
    """The nanos of the form metrics APIs serve ("487558164n", "6789Ki", "250m"), in integer arithmetic: the
    general parse goes through Fractions and costs ten times as much; None for any other form."""
    m = _SIMPLE.fullmatch(text)
    if m is None:
        return None
    digits, suffix = m.groups()
    if suffix in _BIN_SUFFIX:
        return min(int(digits) << _BIN_SUFFIX[suffix], _MAX_BINARY) * _NANO
    return int(digits) * 10 ** (9 + _DEC_SUFFIX[suffix])


def _value(q: str | int | float | Fraction) -> Fraction:
    return q if isinstance(q, Fraction) else parse_quantity(q)


def milli_value(q: str | int | float | Fraction) -> int:
    """`Quantity.MilliValue()`: the value in thousandths, rounded up (`"0.1m"` -> 1)."""
    if isinstance(q, str):
        return -(-_str_nanos(q) // 1_000_000)
    return math.ceil(_value(q) * 1000)


def int_value(q: str | int | float | Fraction) -> int:
    """`Quantity.Value()`: the value as an integer, rounded up (`"1500m"` -> 2)."""
    return math.ceil(_value(q))


def cpu_millicores(q: str | int | float | Fraction) -> int:
    """A CPU quantity in millicores, as the scheduler counts it (MilliValue: `"1"` -> 1000, `"0.5m"` -> 1)."""
    return milli_value(q)


def bytes_of(q: str | int | float | Fraction) -> int:
    """A memory or storage quantity in bytes, as the scheduler counts it (Value: `"1Ki"` -> 1024)."""
    return int_value(q)


def format_quantity(value: Any) -> str:
    """`Quantity.String()`: the canonical form (`1.5` -> `1500m`, `1024Mi` -> `1Gi`, `1000` -> `1k`).

    `<nil>` for a missing quantity, as Go prints a nil *Quantity; an unparsable value is returned as given.
    """
    if value is None:
        return "<nil>"
    raw = value if isinstance(value, str) else str(value)
    try:
        v, fmt = _parse(_raw(value))
    except QuantityError:
        return raw
    n = int(v * _NANO)
    if n == 0:
        return "0"
    if fmt == BINARY_SI:
        if -1024 * _NANO < n < 1024 * _NANO or n % _NANO:
            fmt = DECIMAL_SI
        else:
            mantissa, exp = n // _NANO, 0
            while mantissa % 1024 == 0:
                mantissa, exp = mantissa // 1024, exp + 1
            return f"{mantissa}{_BIN_BY_EXP[exp]}"
    mantissa, exp = n, -9
    while mantissa % 10 == 0:
        mantissa, exp = mantissa // 10, exp + 1
    while exp % 3:
        mantissa, exp = mantissa * 10, exp - 1
    if fmt == DECIMAL_SI and exp in _DEC_BY_EXP:
        return f"{mantissa}{_DEC_BY_EXP[exp]}"
    return f"{mantissa}e{exp}" if exp else str(mantissa)


__all__ = ["BINARY_SI", "DECIMAL_EXPONENT", "DECIMAL_SI", "QuantityError", "bytes_of", "cpu_millicores",
           "format_quantity", "int_value", "milli_value", "nano_value", "parse_quantity"]
