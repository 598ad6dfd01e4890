"""Go's `time.ParseDuration`, for flags that keep their upstream names and so their upstream syntax
(`--metric-resolution=15s`, `--horizontal-pod-autoscaler-sync-period=1m30s`).

Pure; no I/O. Scenario files have their own, friendlier durations (kubesim.sim.loadcurves.parse_duration).
"""

from __future__ import annotations

import argparse
import re

_UNITS_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
             "m": 60_000_000_000, "h": 3_600_000_000_000}
_NUMBER = re.compile(r"[0-9]*(?:\.[0-9]*)?")
_UNIT = re.compile(r"[^0-9.]*")
_MAX_NS = 2**63 - 1


def parse_go_duration_ns(text: str) -> int:
    """Nanoseconds from Go duration syntax (`300ms`, `-1.5h`, `2h45m`); ValueError with Go's message otherwise."""
    quoted = '"' + text + '"'
    s = text
    neg = s[:1] == "-"
    if s[:1] in "+-" and s:
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f"time: invalid duration {quoted}")
    total = 0
    pos = 0
    while pos < len(s):
        m = _NUMBER.match(s, pos)
        number = m.group(0) if m else ""
        if not any(c.isdigit() for c in number):
            raise ValueError(f"time: invalid duration {quoted}")
        pos += len(number)
        unit = _UNIT.match(s, pos).group(0)  # type: ignore[union-attr]  # matches the empty string at worst
        pos += len(unit)
        if not unit:
            raise ValueError(f"time: missing unit in duration {quoted}")
        if unit not in _UNITS_NS:
            raise ValueError(f'time: unknown unit "{unit}" in duration {quoted}')
        whole, _, frac = number.partition(".")
        total += int(whole or "0") * _UNITS_NS[unit]
        if frac:
            total += int(frac) * _UNITS_NS[unit] // 10 ** len(frac)
        if total > _MAX_NS + (1 if neg else 0):
            raise ValueError(f"time: invalid duration {quoted}")
    return -total if neg else total


def go_duration_s(text: str) -> float:
    """`parse_go_duration_ns` in seconds, as an argparse `type=` (its ValueError becomes a usage error)."""
    try:
        return parse_go_duration_ns(text) / 1e9
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


__all__ = ["go_duration_s", "parse_go_duration_ns"]
