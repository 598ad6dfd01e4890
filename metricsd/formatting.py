"""The strings metrics.k8s.io objects carry, exactly as metrics-server's Go types marshal them.

Pure; no I/O. Integer fast paths for the two quantities metrics-server builds (kubescale.quantity holds the
general `Quantity.String()`; these agree with it, see the tests):
- CPU: `resource.NewScaledQuantity(nanocores, -9)` (DecimalSI) -> `"487558164n"`, canonicalised: trailing
  zeros become a larger SI suffix (`"1500m"`, `"1"`, `"12u"`), zero is `"0"`;
- memory: `resource.NewQuantity(bytes, BinarySI)` -> `"732212Ki"`; a value not a multiple of 1024 prints as
  plain bytes (`"1536"`), a value under 1024 falls back to DecimalSI (`"1k"` for 1000);
- `window`: `metav1.Duration` marshals as Go's `time.Duration.String()` (`"15.005s"`, `"1m0s"`, `"0s"`);
- `timestamp`: `metav1.Time` marshals as RFC 3339 in UTC with whole seconds (`"2021-10-03T09:36:52Z"`).
"""

from __future__ import annotations

import time

_DECIMAL_SUFFIX = {-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}
_BINARY_SUFFIX = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")


def _decimal(mantissa: int, exponent: int) -> str:
    """apimachinery's AsCanonicalBytes + DecimalSI suffix: strip factors of ten, align the exponent to 3."""
    if mantissa == 0:
        return "0"
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    shift = exponent % 3
    mantissa, exponent = mantissa * 10**shift, exponent - shift
    suffix = _DECIMAL_SUFFIX.get(exponent)
    return f"{mantissa}{suffix}" if suffix is not None else f"{mantissa}e{exponent}"


def format_cpu(nanocores: int) -> str:
    """A CPU usage in nanocores as metrics-server prints it (`487558164` -> `"487558164n"`)."""
    return _decimal(nanocores, -9)


def format_memory(memory_bytes: int) -> str:
    """A working set in bytes as metrics-server prints it (`749785088` -> `"732212Ki"`, `1536` -> `"1536"`)."""
    if -1024 < memory_bytes < 1024:
        return _decimal(memory_bytes, 0)
    mantissa, power = memory_bytes, 0
    while mantissa % 1024 == 0 and power < len(_BINARY_SUFFIX) - 1:
        mantissa //= 1024
        power += 1
    return f"{mantissa}{_BINARY_SUFFIX[power]}"


def format_duration(nanoseconds: int) -> str:
    """Go's `time.Duration.String()`: `"15.005s"`, `"1m0s"`, `"2h0m0s"`, `"1.5ms"`, `"0s"`."""
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    n = abs(nanoseconds)
    if n < 1_000_000_000:  # under a second: the largest unit that keeps an integer part
        for unit, scale in (("ns", 1), ("µs", 1_000), ("ms", 1_000_000)):
            if n < scale * 1000:
                return f"{sign}{_fraction(n, scale)}{unit}"
    hours, rest = divmod(n, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    seconds = _fraction(rest, 1_000_000_000)
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{sign}{minutes}m{seconds}s"
    return f"{sign}{seconds}s"


def _fraction(value: int, scale: int) -> str:
    """`value / scale` with Go's fmtFrac: the integer part, then the fraction without trailing zeros."""
    whole, frac = divmod(value, scale)
    if not frac:
        return str(whole)
    digits = f"{frac:0{len(str(scale)) - 1}d}".rstrip("0")
    return f"{whole}.{digits}"


def format_timestamp(nanoseconds: int) -> str:
    """`metav1.Time` in JSON: RFC 3339, UTC, whole seconds (`"2021-10-03T09:36:52Z"`)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(nanoseconds // 1_000_000_000))


__all__ = ["format_cpu", "format_duration", "format_memory", "format_timestamp"]
