"""Go's time.ParseDuration cases (time_test.go's parseDurationTests, the ones flags meet) and its errors."""

from __future__ import annotations

import argparse

import pytest

from kubescale.durations import go_duration_s, parse_go_duration_ns

S = 1_000_000_000


@pytest.mark.parametrize(("text", "ns"), [
    pytest.param("0", 0, id="zero"), pytest.param("5s", 5 * S, id="seconds"), pytest.param("30s", 30 * S, id="30s"),
    pytest.param("1478s", 1478 * S, id="big"), pytest.param("-5s", -5 * S, id="negative"),
    pytest.param("+5s", 5 * S, id="plus"), pytest.param("-0", 0, id="minus-zero"),
    pytest.param("5.6s", 5 * S + 600_000_000, id="fraction"), pytest.param("5.s", 5 * S, id="trailing-dot"),
    pytest.param(".5s", S // 2, id="leading-dot"), pytest.param("1.004s", S + 4_000_000, id="millis-in-fraction"),
    pytest.param("10ns", 10, id="ns"), pytest.param("11us", 11_000, id="us"), pytest.param("12µs", 12_000, id="micro"),
    pytest.param("13ms", 13_000_000, id="ms"), pytest.param("15m", 900 * S, id="minutes"),
    pytest.param("16h", 16 * 3600 * S, id="hours"), pytest.param("3h30m", 12600 * S, id="compound"),
    pytest.param("10.5s4m", 4 * 60 * S + 10 * S + S // 2, id="any-order"),
    pytest.param("-2m3.4s", -(123 * S + 400_000_000), id="negative-compound"),
    pytest.param("1h2m3s4ms5us6ns", 3723 * S + 4_005_006, id="every-unit"),
    pytest.param("9223372036854775807ns", 2**63 - 1, id="max"),
])
def test_parses_as_go_does(text: str, ns: int) -> None:
    assert parse_go_duration_ns(text) == ns


@pytest.mark.parametrize(("text", "message"), [
    pytest.param("", 'time: invalid duration ""', id="empty"),
    pytest.param("3", 'time: missing unit in duration "3"', id="no-unit"),
    pytest.param("-", 'time: invalid duration "-"', id="sign-only"),
    pytest.param("s", 'time: invalid duration "s"', id="unit-only"),
    pytest.param(".", 'time: invalid duration "."', id="dot"),
    pytest.param("-.s", 'time: invalid duration "-.s"', id="dot-unit"),
    pytest.param("3000000h", 'time: invalid duration "3000000h"', id="overflow"),
    pytest.param("1d", 'time: unknown unit "d" in duration "1d"', id="days-are-not-go"),
    pytest.param("15 s", 'time: unknown unit " s" in duration "15 s"', id="blank"),
])
def test_rejects_with_gos_message(text: str, message: str) -> None:
    with pytest.raises(ValueError) as e:
        parse_go_duration_ns(text)
    assert str(e.value) == message


def test_argparse_type_reports_a_usage_error() -> None:
    assert go_duration_s("1m30s") == 90.0
    with pytest.raises(argparse.ArgumentTypeError, match="missing unit"):
        go_duration_s("15")
