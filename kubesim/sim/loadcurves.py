"""Load curves: a workload's demand as a function of seconds since the scenario started, and the duration
expressions scenario files write times in.

Every curve's `value(t)` takes a float or a numpy array of times and answers in kind, so the load model can
evaluate many instants at once. Pure; no I/O (a trace is built from CSV text the caller has read).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

import numpy as np

Tf = TypeVar("Tf", float, np.ndarray)


class CurveError(ValueError):
    """A curve parameter that makes no sense; `field` is the scenario key it came from (e.g. "max")."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


class Curve(Protocol):
    """A load curve. `value` answers a float for a float and an array of the same shape for an array."""

    def value(self, t: Tf) -> Tf: ...


def _answer(t: float | np.ndarray, out: np.ndarray) -> Any:
    return float(out) if np.ndim(t) == 0 else out


def _finite(name: str, v: float) -> None:
    if not math.isfinite(v):
        raise CurveError(name, f"must be a finite number, not {v}")


@dataclass(frozen=True, slots=True)
class Constant:
    level: float

    def __post_init__(self) -> None:
        _finite("value", self.level)

    def value(self, t: Tf) -> Tf:
        return _answer(t, np.full(np.shape(t), self.level, dtype=float))


def _check_series(name: str, pairs: Sequence[tuple[float, float]], *, min_len: int) -> None:
    if len(pairs) < min_len:
        raise CurveError(name, f"needs at least {min_len} [time, value] pair{'s' if min_len > 1 else ''}")
    for i, (t, v) in enumerate(pairs):
        _finite(f"{name}[{i}]", t)
        _finite(f"{name}[{i}]", v)
        if i and t <= pairs[i - 1][0]:
            raise CurveError(f"{name}[{i}]", f"times must increase: {t:g}s comes after {pairs[i - 1][0]:g}s")


@dataclass(frozen=True, slots=True)
class Points:
    """Piecewise linear through `(t, value)` points; before the first and after the last, the end values."""

    points: tuple[tuple[float, float], ...]
    _t: np.ndarray = field(init=False, repr=False, compare=False)
    _v: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_series("points", self.points, min_len=1)
        object.__setattr__(self, "_t", np.array([p[0] for p in self.points], dtype=float))
        object.__setattr__(self, "_v", np.array([p[1] for p in self.points], dtype=float))

    def value(self, t: Tf) -> Tf:
        return _answer(t, np.interp(t, self._t, self._v))


@dataclass(frozen=True, slots=True)
class Steps:
    """`initial` until the first step's time, then each step's value from its time until the next step."""

    steps: tuple[tuple[float, float], ...]
    initial: float = 0.0
    _t: np.ndarray = field(init=False, repr=False, compare=False)
    _v: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_series("steps", self.steps, min_len=1)
        _finite("initial", self.initial)
        object.__setattr__(self, "_t", np.array([s[0] for s in self.steps], dtype=float))
        object.__setattr__(self, "_v", np.array([self.initial, *(s[1] for s in self.steps)], dtype=float))

    def value(self, t: Tf) -> Tf:
        return _answer(t, self._v[np.searchsorted(self._t, t, side="right")])


def _check_band(lo: float, hi: float, period_s: float) -> None:
    _finite("min", lo)
    _finite("max", hi)
    if hi < lo:
        raise CurveError("max", f"must be at least min ({hi:g} < {lo:g})")
    if not (math.isfinite(period_s) and period_s > 0):
        raise CurveError("period", f"must be a positive duration, not {period_s:g}s")


@dataclass(frozen=True, slots=True)
class Sine:
    """A sine between `min` and `max`: at t = phase it is halfway and rising."""

    period_s: float
    low: float
    high: float
    phase_s: float = 0.0

    def __post_init__(self) -> None:
        _check_band(self.low, self.high, self.period_s)
        _finite("phase", self.phase_s)

    def value(self, t: Tf) -> Tf:
        x = 2 * np.pi * (np.asarray(t, dtype=float) - self.phase_s) / self.period_s
        return _answer(t, (self.low + self.high) / 2 + (self.high - self.low) / 2 * np.sin(x))


# A day of interactive traffic, hour by hour, scaled to [0, 1]: quiet before dawn (minimum at 05:00), a
# morning climb, a working-day plateau peaking at 16:00, and a smaller evening shoulder.
DAILY_PROFILE: tuple[float, ...] = (
    0.30, 0.20, 0.12, 0.06, 0.02, 0.00, 0.05, 0.18, 0.40, 0.62, 0.78, 0.88,
    0.92, 0.90, 0.93, 0.97, 1.00, 0.95, 0.85, 0.80, 0.82, 0.75, 0.58, 0.42,
)
_DAY_X = np.arange(len(DAILY_PROFILE) + 1, dtype=float) / len(DAILY_PROFILE)
_DAY_Y = np.array([*DAILY_PROFILE, DAILY_PROFILE[0]], dtype=float)


@dataclass(frozen=True, slots=True)
class Diurnal:
    """A daily shape (`DAILY_PROFILE`) between `min` and `max`, one "day" per `period` (24h unless
    compressed); t = phase is midnight."""

    low: float
    high: float
    period_s: float = 86400.0
    phase_s: float = 0.0

    def __post_init__(self) -> None:
        _check_band(self.low, self.high, self.period_s)
        _finite("phase", self.phase_s)

    def value(self, t: Tf) -> Tf:
        frac = np.mod((np.asarray(t, dtype=float) - self.phase_s) / self.period_s, 1.0)
        return _answer(t, self.low + (self.high - self.low) * np.interp(frac, _DAY_X, _DAY_Y))


@dataclass(frozen=True, slots=True)
class Spike:
    """0, then from `at` a linear rise over `ramp` to `height`, `duration` at full height, and a linear fall
    over `ramp` back to 0; with `every`, the spike repeats with that period."""

    at_s: float
    duration_s: float
    height: float
    ramp_s: float = 0.0
    every_s: float | None = None

    def __post_init__(self) -> None:
        for name, v in (("at", self.at_s), ("duration", self.duration_s), ("height", self.height),
                        ("ramp", self.ramp_s)):
            _finite(name, v)
        if self.duration_s < 0:
            raise CurveError("duration", "must not be negative")
        if self.ramp_s < 0:
            raise CurveError("ramp", "must not be negative")
        if self.every_s is not None and not (self.every_s >= self.duration_s + 2 * self.ramp_s > 0):
            raise CurveError("every", f"must be at least duration + 2 * ramp ({self.duration_s + 2 * self.ramp_s:g}s)"
                             " and positive")

    def value(self, t: Tf) -> Tf:
        x = np.asarray(t, dtype=float) - self.at_s
        if self.every_s is not None:
            x = np.where(x >= 0, np.mod(x, self.every_s), x)
        width = self.duration_s + 2 * self.ramp_s
        if self.ramp_s > 0:
            with np.errstate(over="ignore"):  # a tiny ramp overflows to inf, which the clip turns into 1
                shape = np.clip(np.minimum(x, width - x) / self.ramp_s, 0.0, 1.0)
        else:
            shape = ((x >= 0) & (x < width)).astype(float)
        return _answer(t, self.height * shape)


@dataclass(frozen=True, slots=True)
class Sum:
    terms: tuple[Curve, ...]

    def __post_init__(self) -> None:
        if not self.terms:
            raise CurveError("of", "needs at least one curve")

    def value(self, t: Tf) -> Tf:
        out = np.zeros(np.shape(t), dtype=float)
        for c in self.terms:
            out = out + c.value(t)
        return _answer(t, out)


@dataclass(frozen=True, slots=True)
class Product:
    factors: tuple[Curve, ...]

    def __post_init__(self) -> None:
        if not self.factors:
            raise CurveError("of", "needs at least one curve")

    def value(self, t: Tf) -> Tf:
        out = np.ones(np.shape(t), dtype=float)
        for c in self.factors:
            out = out * c.value(t)
        return _answer(t, out)


TraceEnd = Literal["loop", "hold"]


@dataclass(frozen=True, slots=True)
class Trace:
    """A recorded series replayed with linear interpolation: scenario time t reads the trace at
    `t * speedup`; before its first time, the first value; past its last time it either holds the last value
    or loops over [first time, last time]."""

    times: tuple[float, ...]
    values: tuple[float, ...]
    end: TraceEnd = "hold"
    speedup: float = 1.0
    source: str = ""
    _t: np.ndarray = field(init=False, repr=False, compare=False)
    _v: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.times) != len(self.values):
            raise CurveError("file", "needs as many values as times")
        _check_series("file", list(zip(self.times, self.values, strict=True)), min_len=2)
        if self.end not in ("loop", "hold"):
            raise CurveError("end", f"must be loop or hold, not {self.end!r}")
        if not (math.isfinite(self.speedup) and self.speedup > 0):
            raise CurveError("speedup", f"must be a positive number, not {self.speedup:g}")
        object.__setattr__(self, "_t", np.array(self.times, dtype=float))
        object.__setattr__(self, "_v", np.array(self.values, dtype=float))

    def value(self, t: Tf) -> Tf:
        x = np.asarray(t, dtype=float) * self.speedup
        if self.end == "loop":
            t0, span = self._t[0], self._t[-1] - self._t[0]
            x = np.where(x > t0, t0 + np.mod(x - t0, span), x)
        return _answer(t, np.interp(x, self._t, self._v))


class TraceFormatError(ValueError):
    """A malformed trace CSV; `line` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


def parse_trace_csv(text: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(times, values) from CSV text with a header naming the columns `t` and `value` (others are ignored).
    Times are seconds or durations (`90s`, `5m`); blank lines and lines starting with `#` are skipped."""
    rows = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip() and not line.startswith("#")]
    if not rows:
        raise TraceFormatError(1, "empty trace: expected a header line `t,value` and at least two rows")
    header_line, header = rows[0]
    columns = [c.strip() for c in next(csv.reader([header]))]
    missing = [c for c in ("t", "value") if c not in columns]
    if missing:
        raise TraceFormatError(header_line, f"the header must name the columns t and value (missing: "
                                            f"{', '.join(missing)}; found: {', '.join(columns)})")
    ti, vi = columns.index("t"), columns.index("value")
    times: list[float] = []
    values: list[float] = []
    for n, line in rows[1:]:
        cells = [c.strip() for c in next(csv.reader([line]))]
        if len(cells) <= max(ti, vi):
            raise TraceFormatError(n, f"expected {len(columns)} columns, found {len(cells)}")
        try:
            t = parse_duration(cells[ti])
        except ValueError as e:
            raise TraceFormatError(n, f"t: {e}") from None
        try:
            v = float(cells[vi])
        except ValueError:
            raise TraceFormatError(n, f"value: not a number: {cells[vi]!r}") from None
        if not math.isfinite(v):
            raise TraceFormatError(n, f"value: must be finite, not {cells[vi]!r}")
        if times and t <= times[-1]:
            raise TraceFormatError(n, f"t: times must increase ({t:g}s comes after {times[-1]:g}s)")
        times.append(t)
        values.append(v)
    if len(times) < 2:
        raise TraceFormatError(rows[-1][0], "a trace needs at least two rows")
    return tuple(times), tuple(values)


# --- value expressions ----------------------------------------------------------------------------------

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h|d)")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def parse_duration(text: str | float, *, allow_negative: bool = False) -> float:
    """Seconds from a duration: a number of seconds (`90`, `1.5`) or number-unit parts (`90s`, `5m`,
    `1h30m`, `250ms`, `2d`; units ms, s, m, h, d). Raises ValueError naming what is accepted."""
    if isinstance(text, bool):
        raise ValueError(f"expected a duration like 90s, 5m or 1h30m, not {text!r}")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        s = text.strip()
        sign = -1.0 if s[:1] == "-" else 1.0
        body = s[1:] if s[:1] in ("+", "-") else s
        if _NUMBER.fullmatch(s):
            seconds = float(s)
        elif body and _DURATION_PART.sub("", body) == "":
            seconds = sign * sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(body))
        else:
            raise ValueError(f"invalid duration {text!r}: expected seconds or a duration like 90s, 5m or 1h30m "
                             "(units ms, s, m, h, d)")
    if not math.isfinite(seconds):
        raise ValueError(f"invalid duration {text!r}: must be finite")
    if seconds < 0 and not allow_negative:
        raise ValueError(f"invalid duration {text!r}: must not be negative")
    return seconds


__all__ = ["DAILY_PROFILE", "Constant", "Curve", "CurveError", "Diurnal", "Points", "Product", "Sine", "Spike",
           "Steps", "Sum", "Trace", "TraceEnd", "TraceFormatError", "parse_duration", "parse_trace_csv"]
