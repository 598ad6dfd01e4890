"""Load curves: values at known instants, scalar/array agreement, bounds, and the duration and trace parsers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubesim.sim.loadcurves import (
    DAILY_PROFILE,
    Constant,
    Curve,
    CurveError,
    Diurnal,
    Points,
    Product,
    Sine,
    Spike,
    Steps,
    Sum,
    Trace,
    TraceFormatError,
    parse_duration,
    parse_trace_csv,
)

# --- durations --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [
    pytest.param("90s", 90.0, id="seconds"),
    pytest.param("5m", 300.0, id="minutes"),
    pytest.param("1h30m", 5400.0, id="compound"),
    pytest.param("1h30m15s", 5415.0, id="three-parts"),
    pytest.param("250ms", 0.25, id="millis"),
    pytest.param("2d", 172800.0, id="days"),
    pytest.param("1.5h", 5400.0, id="fractional"),
    pytest.param("90", 90.0, id="bare-number-string"),
    pytest.param("0", 0.0, id="zero"),
    pytest.param(" 10s ", 10.0, id="whitespace"),
    pytest.param(12, 12.0, id="int"),
    pytest.param(0.5, 0.5, id="float"),
])
def test_parse_duration_accepts(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", [
    pytest.param("", id="empty"),
    pytest.param("abc", id="word"),
    pytest.param("5x", id="bad-unit"),
    pytest.param("1h30", id="trailing-number"),
    pytest.param("m", id="unit-only"),
    pytest.param("5 m", id="inner-space"),
    pytest.param("nan", id="nan"),
    pytest.param("inf", id="inf"),
    pytest.param("-5m", id="negative"),
    pytest.param(True, id="bool"),
    pytest.param("5m-", id="trailing-sign"),
])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_parse_duration_negative_when_allowed() -> None:
    assert parse_duration("-1m30s", allow_negative=True) == -90.0
    assert parse_duration("-15", allow_negative=True) == -15.0


def test_parse_duration_error_says_what_is_accepted() -> None:
    with pytest.raises(ValueError, match=r"like 90s, 5m or 1h30m \(units ms, s, m, h, d\)"):
        parse_duration("five minutes")


# --- curves at known instants -----------------------------------------------------------------------------


@pytest.mark.parametrize(("curve", "t", "expected"), [
    pytest.param(Constant(2.5), 1e6, 2.5, id="constant"),
    pytest.param(Points(((0, 1), (10, 3))), 5, 2.0, id="points-midway"),
    pytest.param(Points(((0, 1), (10, 3))), -5, 1.0, id="points-before-first"),
    pytest.param(Points(((0, 1), (10, 3))), 50, 3.0, id="points-after-last"),
    pytest.param(Points(((0, 1), (10, 3), (20, 0))), 15, 1.5, id="points-second-segment"),
    pytest.param(Points(((5, 7),)), 0, 7.0, id="points-single"),
    pytest.param(Steps(((10, 1), (20, 2)), initial=0.5), 9.99, 0.5, id="steps-initial"),
    pytest.param(Steps(((10, 1), (20, 2))), 10, 1.0, id="steps-at-step-time"),
    pytest.param(Steps(((10, 1), (20, 2))), 19.9, 1.0, id="steps-before-next"),
    pytest.param(Steps(((10, 1), (20, 2))), 1e9, 2.0, id="steps-last"),
    pytest.param(Sine(100, 0, 2), 0, 1.0, id="sine-starts-halfway"),
    pytest.param(Sine(100, 0, 2), 25, 2.0, id="sine-quarter-is-max"),
    pytest.param(Sine(100, 0, 2), 75, 0.0, id="sine-three-quarters-is-min"),
    pytest.param(Sine(100, 0, 2, phase_s=25), 50, 2.0, id="sine-phase-shifts"),
    pytest.param(Diurnal(10, 110, period_s=2400), 500, 10.0, id="diurnal-minimum-at-5h"),
    pytest.param(Diurnal(10, 110, period_s=2400), 1600, 110.0, id="diurnal-maximum-at-16h"),
    pytest.param(Diurnal(10, 110, period_s=2400), 1600 + 2400 * 3, 110.0, id="diurnal-periodic"),
    pytest.param(Diurnal(10, 110, period_s=2400, phase_s=100), 1700, 110.0, id="diurnal-phase"),
    pytest.param(Diurnal(0, 1), 12 * 3600, DAILY_PROFILE[12], id="diurnal-default-day"),
    pytest.param(Spike(10, 5, 4, ramp_s=2), 9.9, 0.0, id="spike-before"),
    pytest.param(Spike(10, 5, 4, ramp_s=2), 11, 2.0, id="spike-rising"),
    pytest.param(Spike(10, 5, 4, ramp_s=2), 12, 4.0, id="spike-top-starts"),
    pytest.param(Spike(10, 5, 4, ramp_s=2), 17, 4.0, id="spike-top-ends"),
    pytest.param(Spike(10, 5, 4, ramp_s=2), 18, 2.0, id="spike-falling"),
    pytest.param(Spike(10, 5, 4, ramp_s=2), 19, 0.0, id="spike-over"),
    pytest.param(Spike(10, 5, 4), 10, 4.0, id="spike-no-ramp-starts"),
    pytest.param(Spike(10, 5, 4), 15, 0.0, id="spike-no-ramp-ends"),
    pytest.param(Spike(10, 5, 4, every_s=60), 72, 4.0, id="spike-repeats"),
    pytest.param(Spike(10, 5, 4, every_s=60), 5, 0.0, id="spike-repeats-not-before-at"),
    pytest.param(Sum((Constant(1), Spike(0, 10, 4))), 5, 5.0, id="sum"),
    pytest.param(Product((Constant(3), Steps(((10, 2),), initial=1))), 11, 6.0, id="product"),
    pytest.param(Trace((0, 10), (1, 3)), 5, 2.0, id="trace-interpolates"),
    pytest.param(Trace((0, 10), (1, 3)), 25, 3.0, id="trace-holds"),
    pytest.param(Trace((0, 10), (1, 3), end="loop"), 25, 2.0, id="trace-loops"),
    pytest.param(Trace((0, 10), (1, 3), end="loop"), -3, 1.0, id="trace-before-first"),
    pytest.param(Trace((0, 100), (1, 3), speedup=10), 5, 2.0, id="trace-speedup"),
    pytest.param(Trace((60, 120), (1, 3), end="loop"), 150, 2.0, id="trace-loop-from-first-time"),
])
def test_curve_values(curve: Curve, t: float, expected: float) -> None:
    got = curve.value(t)
    assert isinstance(got, float)
    assert got == pytest.approx(expected)


# --- vectorisation and bounds (invariants) ----------------------------------------------------------------

_t = st.floats(min_value=-1e5, max_value=1e6, allow_nan=False)
_level = st.floats(min_value=-100, max_value=100, allow_nan=False)
_period = st.floats(min_value=1, max_value=1e5, allow_nan=False)


@st.composite
def _band(draw: st.DrawFn) -> tuple[float, float]:
    a, b = draw(_level), draw(_level)
    return min(a, b), max(a, b)


@st.composite
def curves(draw: st.DrawFn, depth: int = 2) -> Curve:
    kinds = ["constant", "points", "steps", "sine", "diurnal", "spike", "trace"] + (["sum", "product"] if depth else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "constant":
        return Constant(draw(_level))
    if kind in ("points", "steps", "trace"):
        times = sorted(set(draw(st.lists(st.integers(-1000, 10000), min_size=2, max_size=8))))
        if len(times) < 2:
            times = [0, 1]
        values = [draw(_level) for _ in times]
        if kind == "points":
            return Points(tuple(zip(times, values, strict=True)))
        if kind == "steps":
            return Steps(tuple(zip(times, values, strict=True)), initial=draw(_level))
        return Trace(tuple(map(float, times)), tuple(values), end=draw(st.sampled_from(["hold", "loop"])),
                     speedup=draw(st.floats(0.1, 100)))
    if kind in ("sine", "diurnal"):
        lo, hi = draw(_band())
        cls = Sine if kind == "sine" else Diurnal
        return cls(draw(_period), lo, hi, draw(_t)) if kind == "sine" else cls(lo, hi, draw(_period), draw(_t))
    if kind == "spike":
        return Spike(draw(_t), draw(st.floats(0, 1000)), draw(_level), draw(st.floats(0, 100)))
    parts = tuple(draw(st.lists(curves(depth - 1), min_size=1, max_size=3)))
    return Sum(parts) if kind == "sum" else Product(parts)


@given(curve=curves(), ts=st.lists(_t, min_size=1, max_size=20))
def test_array_values_equal_scalar_values(curve: Curve, ts: list[float]) -> None:
    arr = curve.value(np.array(ts))
    assert isinstance(arr, np.ndarray) and arr.shape == (len(ts),)
    for t, v in zip(ts, arr, strict=True):
        assert v == pytest.approx(curve.value(t), rel=1e-9, abs=1e-9)


@given(curve=curves())
def test_two_dimensional_times_keep_their_shape(curve: Curve) -> None:
    assert curve.value(np.zeros((3, 2))).shape == (3, 2)


@given(band=_band(), period=_period, phase=_t, t=_t, kind=st.sampled_from(["sine", "diurnal"]))
def test_sine_and_diurnal_stay_between_min_and_max(band: tuple[float, float], period: float, phase: float, t: float,
                                                    kind: str) -> None:
    lo, hi = band
    c = Sine(period, lo, hi, phase) if kind == "sine" else Diurnal(lo, hi, period, phase)
    assert lo - 1e-9 <= c.value(t) <= hi + 1e-9


@given(band=_band(), period=_period, t=_t, k=st.integers(-3, 3))
def test_diurnal_repeats_every_period(band: tuple[float, float], period: float, t: float, k: int) -> None:
    c = Diurnal(band[0], band[1], period)
    assert c.value(t + k * period) == pytest.approx(c.value(t), abs=1e-6 * max(1.0, abs(band[1] - band[0])))


@given(at=_t, width=st.floats(0, 1000), height=st.floats(0, 100), ramp=st.floats(0, 100), t=_t)
def test_spike_stays_between_zero_and_height(at: float, width: float, height: float, ramp: float, t: float) -> None:
    assert 0.0 <= Spike(at, width, height, ramp).value(t) <= height


def test_daily_profile_spans_zero_to_one() -> None:
    assert min(DAILY_PROFILE) == 0.0 and max(DAILY_PROFILE) == 1.0 and len(DAILY_PROFILE) == 24


# --- bad parameters ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("build", "field", "message"), [
    pytest.param(lambda: Points(()), "points", "at least 1", id="points-empty"),
    pytest.param(lambda: Points(((0, 1), (0, 2))), "points[1]", "times must increase", id="points-repeated-time"),
    pytest.param(lambda: Steps(((5, 1), (2, 2))), "steps[1]", "times must increase", id="steps-decreasing"),
    pytest.param(lambda: Sine(0, 0, 1), "period", "positive", id="sine-zero-period"),
    pytest.param(lambda: Sine(10, 2, 1), "max", "at least min", id="sine-max-below-min"),
    pytest.param(lambda: Diurnal(0, math.nan), "max", "finite", id="diurnal-nan"),
    pytest.param(lambda: Spike(0, -1, 1), "duration", "negative", id="spike-negative-duration"),
    pytest.param(lambda: Spike(0, 10, 1, ramp_s=-1), "ramp", "negative", id="spike-negative-ramp"),
    pytest.param(lambda: Spike(0, 10, 1, ramp_s=5, every_s=15), "every", "at least", id="spike-every-too-short"),
    pytest.param(lambda: Sum(()), "of", "at least one", id="sum-empty"),
    pytest.param(lambda: Trace((0,), (1,)), "file", "at least 2", id="trace-one-row"),
    pytest.param(lambda: Trace((0, 1), (1, 2), end="stop"), "end", "loop or hold", id="trace-bad-end"),  # type: ignore[arg-type]
    pytest.param(lambda: Trace((0, 1), (1, 2), speedup=0), "speedup", "positive", id="trace-zero-speedup"),
    pytest.param(lambda: Constant(math.inf), "value", "finite", id="constant-inf"),
])
def test_bad_parameters_name_their_field(build: object, field: str, message: str) -> None:
    with pytest.raises(CurveError, match=message) as e:
        build()  # type: ignore[operator]
    assert e.value.field == field


# --- trace CSV --------------------------------------------------------------------------------------------


def test_parse_trace_csv_reads_columns_by_name() -> None:
    text = "# a comment\n\nvalue,t,host\n1.5,0,a\n2.5,90s,b\n3,5m,c\n"
    assert parse_trace_csv(text) == ((0.0, 90.0, 300.0), (1.5, 2.5, 3.0))


@pytest.mark.parametrize(("text", "line", "message"), [
    pytest.param("", 1, "empty trace", id="empty"),
    pytest.param("time,value\n0,1\n1,2\n", 1, "must name the columns t and value", id="no-t-column"),
    pytest.param("t,value\n0,1\n", 2, "at least two rows", id="one-row"),
    pytest.param("t,value\n0,1\n10,x\n", 3, "value: not a number", id="bad-value"),
    pytest.param("t,value\n0,1\nsoon,2\n", 3, "t: invalid duration", id="bad-time"),
    pytest.param("t,value\n0,1\n10,2\n5,3\n", 4, "times must increase", id="decreasing"),
    pytest.param("t,value\n0,1\n10\n", 3, "expected 2 columns", id="short-row"),
    pytest.param("t,value\n0,1\n10,inf\n", 3, "must be finite", id="infinite"),
])
def test_parse_trace_csv_errors_name_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(TraceFormatError, match=message) as e:
        parse_trace_csv(text)
    assert e.value.line == line
