"""kubescale.quantity against apimachinery's resource.Quantity: ParseQuantity, MilliValue, Value, String."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubescale import quantity


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("1", Fraction(1), id="plain"),
        pytest.param("250m", Fraction(1, 4), id="milli"),
        pytest.param("1.5", Fraction(3, 2), id="fraction"),
        pytest.param("1Ki", Fraction(1024), id="kibi"),
        pytest.param("1.5Gi", Fraction(1610612736), id="fractional-gibi"),
        pytest.param("128974848", Fraction(128974848), id="bytes"),
        pytest.param("129e6", Fraction(129_000_000), id="exponent"),
        pytest.param("1E3", Fraction(1000), id="capital-exponent"),
        pytest.param("1E", Fraction(10**18), id="exa"),
        pytest.param("2k", Fraction(2000), id="kilo"),
        pytest.param("5u", Fraction(5, 10**6), id="micro"),
        pytest.param("0.1n", Fraction(1, 10**9), id="below-nano-rounds-up"),
        pytest.param("-0.1n", Fraction(-1, 10**9), id="negative-rounds-away-from-zero"),
        pytest.param("-1.5", Fraction(-3, 2), id="negative"),
        pytest.param("+2", Fraction(2), id="plus-sign"),
        pytest.param("1.", Fraction(1), id="trailing-dot"),
        pytest.param(".5", Fraction(1, 2), id="leading-dot"),
        pytest.param("0007", Fraction(7), id="leading-zeros"),
        pytest.param("m", Fraction(0), id="suffix-only-is-zero"),
        pytest.param(" 2 ", Fraction(2), id="json-whitespace-trimmed"),
        pytest.param(100, Fraction(100), id="json-int"),
        pytest.param(0.25, Fraction(1, 4), id="json-float"),
        pytest.param("16Ei", Fraction(2**63 - 1), id="binary-capped"),
    ],
)
def test_parse_quantity(raw: str | int | float, expected: Fraction) -> None:
    assert quantity.parse_quantity(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty"),
        pytest.param("12 apples", id="words"),
        pytest.param("1K", id="capital-k-is-not-kilo"),
        pytest.param("1Kii", id="bad-binary"),
        pytest.param("1m3", id="digits-after-suffix"),
        pytest.param("1e", id="exponent-without-digits"),
        pytest.param("1e+", id="exponent-sign-only"),
        pytest.param("1.2.3", id="two-dots"),
        pytest.param(True, id="bool"),
        pytest.param(float("inf"), id="infinite"),
        pytest.param(None, id="none"),
    ],
)
def test_parse_quantity_rejects(raw: object) -> None:
    with pytest.raises(quantity.QuantityError):
        quantity.parse_quantity(raw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "millicores"),
    [
        pytest.param("1", 1000, id="one-core"),
        pytest.param("100m", 100, id="milli"),
        pytest.param("0.5m", 1, id="sub-milli-rounds-up"),
        pytest.param("1n", 1, id="nano-rounds-up"),
        pytest.param("0", 0, id="zero"),
        pytest.param("2.0005", 2001, id="rounds-up"),
    ],
)
def test_cpu_millicores(raw: str, millicores: int) -> None:
    assert quantity.cpu_millicores(raw) == millicores


@pytest.mark.parametrize(
    ("raw", "nbytes"),
    [
        pytest.param("1Gi", 2**30, id="gibi"),
        pytest.param("1G", 10**9, id="giga"),
        pytest.param("1500m", 2, id="fraction-rounds-up"),
        pytest.param("100Mi", 100 * 2**20, id="mebi"),
    ],
)
def test_bytes_of(raw: str, nbytes: int) -> None:
    assert quantity.bytes_of(raw) == nbytes


def test_integer_views_accept_parsed_values() -> None:
    assert quantity.cpu_millicores(Fraction(1, 3)) == 334
    assert quantity.bytes_of(Fraction(5, 2)) == 3


@given(st.integers(min_value=0, max_value=10**12), st.sampled_from(["", "m", "k", "M", "Ki", "Mi", "Gi"]))
def test_canonical_form_parses_back_to_the_same_value(n: int, suffix: str) -> None:
    raw = f"{n}{suffix}"
    assert quantity.parse_quantity(quantity.format_quantity(raw)) == quantity.parse_quantity(raw)


@given(st.fractions(min_value=0, max_value=10**6, max_denominator=10**6))
def test_milli_value_is_the_ceiling(v: Fraction) -> None:
    m = quantity.milli_value(v)
    assert m - 1 < v * 1000 <= m


@pytest.mark.parametrize(
    ("raw", "nanos"),
    [
        pytest.param("1m", 10**6, id="milli"),
        pytest.param("0.1n", 1, id="rounded-up"),
        pytest.param(3, 3 * 10**9, id="json-int"),
        pytest.param("1Ki", 1024 * 10**9, id="kibi"),
        pytest.param(Fraction(1, 4), 250_000_000, id="fraction"),
    ],
)
def test_nano_value(raw: str | int | Fraction, nanos: int) -> None:
    assert quantity.nano_value(raw) == nanos


def test_nano_value_rejects_what_parse_rejects() -> None:
    with pytest.raises(quantity.QuantityError):
        quantity.nano_value("12 apples")


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=0, max_value=2**70), st.sampled_from(["", "n", "u", "m", "k", "M", "G", "T", "P", "E",
                                                                   "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]))
def test_the_integer_fast_path_agrees_with_the_exact_parse(digits: int, suffix: str) -> None:
    text = f"{digits}{suffix}"
    exact = quantity._parse(text)[0]
    assert quantity._simple_nanos(text) == int(exact * 1_000_000_000)
    assert quantity.milli_value(text) == -(-(exact * 1000).numerator // (exact * 1000).denominator)
    assert quantity.milli_value(text) == quantity.milli_value(Fraction(exact))
