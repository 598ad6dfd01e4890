"""Go's arithmetic and text where the HPA's numbers and messages depend on them: int32/int64 wrap-around,
truncating integer division, IEEE float division, float-to-int conversion as amd64 does it, and the generated
String() of a *metav1.LabelSelector.

Pure; no I/O.
"""

from __future__ import annotations

import math

from autoscaler.hpa.model import LabelSelector

MAX_INT32, MIN_INT32 = 2**31 - 1, -(2**31)
MAX_INT64, MIN_INT64 = 2**63 - 1, -(2**63)


def i64(x: int) -> int:
    """Go int64 wrap-around."""
    x &= 2**64 - 1
    return x - 2**64 if x >= 2**63 else x


def i32(x: int) -> int:
    """Go int32(x) of a wider integer: keeps the low 32 bits."""
    x &= 2**32 - 1
    return x - 2**32 if x >= 2**31 else x


def quo(a: int, b: int) -> int:
    """Go integer division: truncates toward zero (Python's // floors)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def fdiv(a: float, b: float) -> float:
    """IEEE float64 division, as Go does it (x/0 is ±Inf, 0/0 NaN)."""
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def f2i32(x: float) -> int:
    """Go int32(x) of a float64 on amd64: truncation; NaN or out of range gives MinInt32 (CVTTSD2SL)."""
    if math.isnan(x) or not (MIN_INT32 - 1 < x < MAX_INT32 + 1):
        return MIN_INT32
    return int(x)


def f2i64(x: float) -> int:
    """Go int64(x) of a float64 on amd64; NaN or out of range gives MinInt64 (CVTTSD2SQ)."""
    if math.isnan(x) or not (-(2.0**63) <= x < 2.0**63):
        return MIN_INT64
    return int(x)


def fceil(x: float) -> float:
    """math.Ceil: Inf and NaN pass through."""
    return float(math.ceil(x)) if math.isfinite(x) else x


def ceil_i32(x: float) -> int:
    return f2i32(fceil(x))


def ceil_i64(x: float) -> int:
    return f2i64(fceil(x))


def go_selector_string(selector: LabelSelector | None) -> str:
    """`%v` of a *metav1.LabelSelector (its generated String()); "nil" for none."""
    if selector is None:
        return "nil"
    labels = "".join(f"{k}: {v}," for k, v in sorted(selector.match_labels.items()))
    exprs = "".join(f"LabelSelectorRequirement{{Key:{r.key},Operator:{r.operator},Values:[{' '.join(r.values)}],}},"
                    for r in selector.match_expressions)
    return (f"&LabelSelector{{MatchLabels:map[string]string{{{labels}}},"
            f"MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}")
