"""HPA replica normalization: stabilization windows, scaling policies, min/max clamping and the conditions,
reasons and messages they produce, upstream-exact to Kubernetes v1.35 (pkg/controller/podautoscaler/horizontal.go).

Pure: no I/O, no clock (``now`` is a parameter, Unix seconds), inputs are never mutated; updated recommendation
and scale-event histories are returned. Go's int32 arithmetic (wrap-around, float-to-int32 conversion on amd64)
is reproduced. Not here: the replica calculator (replicas.py) and API defaulting (defaulting.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from autoscaler.hpa.model import Condition

POLICY_PODS = "Pods"
POLICY_PERCENT = "Percent"
SELECT_MAX = "Max"
SELECT_MIN = "Min"
SELECT_DISABLED = "Disabled"

ABLE_TO_SCALE = "AbleToScale"
SCALING_ACTIVE = "ScalingActive"
SCALING_LIMITED = "ScalingLimited"
TRUE = "True"
FALSE = "False"

# horizontal.go scaleUpLimitFactor / scaleUpLimitMinimum (legacy path without behavior).
SCALE_UP_LIMIT_FACTOR = 2.0
SCALE_UP_LIMIT_MINIMUM = 4.0
DEFAULT_DOWNSCALE_STABILIZATION_S = 300.0

_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1

MSG_SCALE_UP_STABILIZED = (
    "recent recommendations were lower than current one, applying the lowest recent recommendation"
)
MSG_SCALE_DOWN_STABILIZED = (
    "recent recommendations were higher than current one, applying the highest recent recommendation"
)
MSG_READY_FOR_NEW_SCALE = "recommended size matches current size"
MSG_SCALE_UP_LIMIT = "the desired replica count is increasing faster than the maximum scale rate"
MSG_SCALE_DOWN_LIMIT = "the desired replica count is decreasing faster than the maximum scale rate"
MSG_TOO_MANY = "the desired replica count is more than the maximum replica count"
MSG_TOO_FEW = "the desired replica count is less than the minimum replica count"
MSG_WITHIN_RANGE = "the desired count is within the acceptable range"

REASON_ABOVE_MAX = "Current number of replicas above Spec.MaxReplicas"
REASON_BELOW_MIN = "Current number of replicas below Spec.MinReplicas"
REASON_ALL_BELOW = "All metrics below target"


def _i32(value: int) -> int:
    """Go int32 wrap-around."""
    return (value - _INT32_MIN) % 2**32 + _INT32_MIN


def _f2i32(value: float) -> int:
    """Go ``int32(f)`` on amd64 (CVTTSD2SL): truncation, 'integer indefinite' (MinInt32) when out of range."""
    if math.isnan(value) or math.isinf(value):
        return _INT32_MIN
    truncated = math.trunc(value)
    if truncated < _INT32_MIN or truncated > _INT32_MAX:
        return _INT32_MIN
    return truncated


@dataclass(frozen=True)
class HPAScalingPolicy:
    type: str  # POLICY_PODS or POLICY_PERCENT
    value: int
    period_s: int


@dataclass(frozen=True)
class HPAScalingRules:
    """One direction of a defaulted ``spec.behavior``. ``stabilization_window_s`` None on scale-down means the
    controller's --horizontal-pod-autoscaler-downscale-stabilization applies."""

    stabilization_window_s: int | None
    select_policy: str = SELECT_MAX
    policies: tuple[HPAScalingPolicy, ...] = ()
    tolerance: float | None = None


@dataclass(frozen=True)
class HPABehavior:
    scale_up: HPAScalingRules
    scale_down: HPAScalingRules


@dataclass(frozen=True)
class Recommendation:
    timestamp: float
    replicas: int


@dataclass(frozen=True)
class ScaleEvent:
    timestamp: float
    replica_change: int  # size of the change, positive in both directions
    outdated: bool = False


@dataclass(frozen=True)
class StatusCondition:
    """A condition as the HPA status holds it."""

    type: str
    status: str
    reason: str
    message: str
    last_transition_time: float


@dataclass(frozen=True)
class Normalized:
    """The outcome of one normalization: what to scale to, the AbleToScale and ScalingLimited conditions it sets,
    and the recommendation history to keep for the next sync."""

    desired_replicas: int
    able_to_scale: Condition
    scaling_limited: Condition
    recommendations: tuple[Recommendation, ...]

    @property
    def conditions(self) -> tuple[Condition, Condition]:
        return (self.able_to_scale, self.scaling_limited)


@dataclass(frozen=True)
class Precheck:
    """reconcileAutoscaler's decision before metrics are read: scaling disabled, or outside [min, max]."""

    desired_replicas: int
    rescale: bool
    reason: str
    condition: Condition | None  # ScalingActive=False/ScalingDisabled when the target is at zero


# --- recommendation history -------------------------------------------------------------------------------------


def initial_recommendations(
    recommendations: Sequence[Recommendation] | None, *, current_replicas: int, now: float
) -> tuple[Recommendation, ...]:
    """recordInitialRecommendation: a controller that has never seen the HPA starts with the current size."""
    if recommendations is None:
        return (Recommendation(now, current_replicas),)
    return tuple(recommendations)


def stabilize_recommendation(
    recommendations: Sequence[Recommendation], desired_replicas: int, *, now: float, window_s: float
) -> tuple[int, tuple[Recommendation, ...]]:
    """Legacy path: the highest recommendation within the window; the last sample older than the window is
    replaced by the new one, else the new one is appended."""
    cutoff = now - window_s
    highest = desired_replicas
    old_index: int | None = None
    for i, rec in enumerate(recommendations):
        if rec.timestamp < cutoff:
            old_index = i
        elif rec.replicas > highest:
            highest = rec.replicas
    return highest, _record(recommendations, old_index, Recommendation(now, desired_replicas))


def stabilize_recommendation_with_behaviors(
    recommendations: Sequence[Recommendation],
    *,
    current_replicas: int,
    desired_replicas: int,
    up_window_s: int,
    down_window_s: int,
    now: float,
) -> tuple[int, str, str, tuple[Recommendation, ...]]:
    """Behavior path: the result stays between the lowest recommendation in the scale-up window and the highest
    in the scale-down window, starting from the current size. Returns (replicas, reason, message, history)."""
    up_cutoff = now - up_window_s
    down_cutoff = now - down_window_s
    up_recommendation = desired_replicas
    down_recommendation = desired_replicas
    old_index: int | None = None
    for i, rec in enumerate(recommendations):
        if rec.timestamp > up_cutoff:
            up_recommendation = min(rec.replicas, up_recommendation)
        if rec.timestamp > down_cutoff:
            down_recommendation = max(rec.replicas, down_recommendation)
        if rec.timestamp < up_cutoff and rec.timestamp < down_cutoff:
            old_index = i
    recommendation = current_replicas
    if recommendation < up_recommendation:
        recommendation = up_recommendation
    if recommendation > down_recommendation:
        recommendation = down_recommendation
    history = _record(recommendations, old_index, Recommendation(now, desired_replicas))
    if desired_replicas >= current_replicas:
        return recommendation, "ScaleUpStabilized", MSG_SCALE_UP_STABILIZED, history
    return recommendation, "ScaleDownStabilized", MSG_SCALE_DOWN_STABILIZED, history


def _record(
    recommendations: Sequence[Recommendation], old_index: int | None, new: Recommendation
) -> tuple[Recommendation, ...]:
    if old_index is None:
        return (*recommendations, new)
    updated = list(recommendations)
    updated[old_index] = new
    return tuple(updated)


# --- limits ---------------------------------------------------------------------------------------------------


def calculate_scale_up_limit(current_replicas: int) -> int:
    """Legacy path: max(2 * current, 4)."""
    return _f2i32(max(SCALE_UP_LIMIT_FACTOR * float(current_replicas), SCALE_UP_LIMIT_MINIMUM))


def convert_desired_replicas_with_rules(
    current_replicas: int, desired_replicas: int, min_replicas: int, max_replicas: int
) -> tuple[int, str, str]:
    """Legacy path clamping: (replicas, ScalingLimited reason, message)."""
    scale_up_limit = calculate_scale_up_limit(current_replicas)
    if max_replicas > scale_up_limit:
        maximum, reason, message = scale_up_limit, "ScaleUpLimit", MSG_SCALE_UP_LIMIT
    else:
        maximum, reason, message = max_replicas, "TooManyReplicas", MSG_TOO_MANY
    if desired_replicas < min_replicas:
        return min_replicas, "TooFewReplicas", MSG_TOO_FEW
    if desired_replicas > maximum:
        return maximum, reason, message
    return desired_replicas, "DesiredWithinRange", MSG_WITHIN_RANGE


def get_replicas_change_per_period(period_s: int, events: Iterable[ScaleEvent], *, now: float) -> int:
    """The replicas changed by the events strictly newer than ``now - period_s``."""
    cutoff = now - period_s
    total = 0
    for event in events:
        if event.timestamp > cutoff:
            total = _i32(total + event.replica_change)
    return total


def _period_start(
    current_replicas: int,
    period_s: int,
    up_events: Sequence[ScaleEvent],
    down_events: Sequence[ScaleEvent],
    now: float,
) -> int:
    added = get_replicas_change_per_period(period_s, up_events, now=now)
    deleted = get_replicas_change_per_period(period_s, down_events, now=now)
    return _i32(_i32(current_replicas - added) + deleted)


def calculate_scale_up_limit_with_scaling_rules(
    current_replicas: int,
    up_events: Sequence[ScaleEvent],
    down_events: Sequence[ScaleEvent],
    rules: HPAScalingRules,
    *,
    now: float,
) -> int:
    """The highest size the scale-up policies allow now (Min select: the lowest of the policies' proposals)."""
    if rules.select_policy == SELECT_DISABLED:
        return current_replicas
    pick = min if rules.select_policy == SELECT_MIN else max
    result = _INT32_MAX if rules.select_policy == SELECT_MIN else _INT32_MIN
    proposed = 0  # Go keeps the previous proposal for a policy of unknown type
    for policy in rules.policies:
        start = _period_start(current_replicas, policy.period_s, up_events, down_events, now)
        if policy.type == POLICY_PODS:
            proposed = _i32(start + policy.value)
        elif policy.type == POLICY_PERCENT:
            proposed = _f2i32(math.ceil(float(start) * (1 + float(policy.value) / 100)))
        result = pick(result, proposed)
    return result


def calculate_scale_down_limit_with_behaviors(
    current_replicas: int,
    up_events: Sequence[ScaleEvent],
    down_events: Sequence[ScaleEvent],
    rules: HPAScalingRules,
    *,
    now: float,
) -> int:
    """The lowest size the scale-down policies allow now (Min select: the highest of the policies' proposals)."""
    if rules.select_policy == SELECT_DISABLED:
        return current_replicas
    pick = max if rules.select_policy == SELECT_MIN else min
    result = _INT32_MIN if rules.select_policy == SELECT_MIN else _INT32_MAX
    proposed = 0
    for policy in rules.policies:
        start = _period_start(current_replicas, policy.period_s, up_events, down_events, now)
        if policy.type == POLICY_PODS:
            proposed = _i32(start - policy.value)
        elif policy.type == POLICY_PERCENT:
            proposed = _f2i32(float(start) * (1 - float(policy.value) / 100))
        result = pick(result, proposed)
    return result


def convert_desired_replicas_with_behavior_rate(
    *,
    current_replicas: int,
    desired_replicas: int,
    min_replicas: int,
    max_replicas: int,
    scale_up: HPAScalingRules,
    scale_down: HPAScalingRules,
    up_events: Sequence[ScaleEvent],
    down_events: Sequence[ScaleEvent],
    now: float,
) -> tuple[int, str, str]:
    """Behavior path clamping by the policies and [min, max]: (replicas, ScalingLimited reason, message)."""
    if desired_replicas > current_replicas:
        limit = calculate_scale_up_limit_with_scaling_rules(current_replicas, up_events, down_events, scale_up, now=now)
        # Recent scale-ups can push the limit below the current size: hold, never shrink here.
        limit = max(limit, current_replicas)
        if max_replicas > limit:
            maximum, reason, message = limit, "ScaleUpLimit", MSG_SCALE_UP_LIMIT
        else:
            maximum, reason, message = max_replicas, "TooManyReplicas", MSG_TOO_MANY
        if desired_replicas > maximum:
            return maximum, reason, message
    elif desired_replicas < current_replicas:
        limit = calculate_scale_down_limit_with_behaviors(
            current_replicas, up_events, down_events, scale_down, now=now
        )
        limit = min(limit, current_replicas)
        if min_replicas < limit:
            minimum, reason, message = limit, "ScaleDownLimit", MSG_SCALE_DOWN_LIMIT
        else:
            minimum, reason, message = min_replicas, "TooFewReplicas", MSG_TOO_FEW
        if desired_replicas < minimum:
            return minimum, reason, message
    return desired_replicas, "DesiredWithinRange", MSG_WITHIN_RANGE


# --- normalization ----------------------------------------------------------------------------------------------


def _limited(desired: int, stabilized: int, reason: str, message: str) -> Condition:
    return Condition(SCALING_LIMITED, FALSE if desired == stabilized else TRUE, reason, message)


def normalize_desired_replicas(
    *,
    recommendations: Sequence[Recommendation],
    current_replicas: int,
    desired_replicas: int,
    min_replicas: int,
    max_replicas: int,
    now: float,
    downscale_stabilization_s: float = DEFAULT_DOWNSCALE_STABILIZATION_S,
) -> Normalized:
    """normalizeDesiredReplicas: the path for an HPA without ``spec.behavior``."""
    stabilized, history = stabilize_recommendation(
        recommendations, desired_replicas, now=now, window_s=downscale_stabilization_s
    )
    if stabilized != desired_replicas:
        able = Condition(ABLE_TO_SCALE, TRUE, "ScaleDownStabilized", MSG_SCALE_DOWN_STABILIZED)
    else:
        able = Condition(ABLE_TO_SCALE, TRUE, "ReadyForNewScale", MSG_READY_FOR_NEW_SCALE)
    replicas, reason, message = convert_desired_replicas_with_rules(
        current_replicas, stabilized, min_replicas, max_replicas
    )
    return Normalized(replicas, able, _limited(replicas, stabilized, reason, message), history)


def normalize_desired_replicas_with_behaviors(
    *,
    behavior: HPABehavior,
    recommendations: Sequence[Recommendation],
    up_events: Sequence[ScaleEvent],
    down_events: Sequence[ScaleEvent],
    current_replicas: int,
    desired_replicas: int,
    min_replicas: int,
    max_replicas: int,
    now: float,
    downscale_stabilization_s: float = DEFAULT_DOWNSCALE_STABILIZATION_S,
) -> Normalized:
    """normalizeDesiredReplicasWithBehaviors: stabilization windows, then the policies' rate limits and
    [min, max]. A scale-down window left unset takes the controller flag (maybeInitScaleDownStabilizationWindow)."""
    if behavior.scale_up.stabilization_window_s is None:
        raise ValueError("behavior.scaleUp.stabilizationWindowSeconds must be defaulted before normalizing")
    down_window = behavior.scale_down.stabilization_window_s
    if down_window is None:
        down_window = _f2i32(downscale_stabilization_s)
    stabilized, reason, message, history = stabilize_recommendation_with_behaviors(
        recommendations,
        current_replicas=current_replicas,
        desired_replicas=desired_replicas,
        up_window_s=behavior.scale_up.stabilization_window_s,
        down_window_s=down_window,
        now=now,
    )
    if stabilized != desired_replicas:
        able = Condition(ABLE_TO_SCALE, TRUE, reason, message)
    else:
        able = Condition(ABLE_TO_SCALE, TRUE, "ReadyForNewScale", MSG_READY_FOR_NEW_SCALE)
    replicas, reason, message = convert_desired_replicas_with_behavior_rate(
        current_replicas=current_replicas,
        desired_replicas=stabilized,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        scale_up=behavior.scale_up,
        scale_down=behavior.scale_down,
        up_events=up_events,
        down_events=down_events,
        now=now,
    )
    return Normalized(replicas, able, _limited(replicas, stabilized, reason, message), history)


# --- scale-event history ----------------------------------------------------------------------------------------


def longest_policy_period(rules: HPAScalingRules) -> int:
    return max((p.period_s for p in rules.policies), default=0)


def mark_scale_events_outdated(
    events: Sequence[ScaleEvent], longest_period_s: int, *, now: float
) -> tuple[ScaleEvent, ...]:
    """Events older than the longest policy period are flagged for reuse (the flag sticks)."""
    cutoff = now - longest_period_s
    return tuple(replace(e, outdated=True) if e.timestamp < cutoff else e for e in events)


def _store(events: Sequence[ScaleEvent], rules: HPAScalingRules, change: int, now: float) -> tuple[ScaleEvent, ...]:
    marked = list(mark_scale_events_outdated(events, longest_policy_period(rules), now=now))
    new = ScaleEvent(now, change, False)
    old_index = next((i for i in range(len(marked) - 1, -1, -1) if marked[i].outdated), None)
    if old_index is None:
        marked.append(new)
    else:
        marked[old_index] = new
    return tuple(marked)


def store_scale_event(
    behavior: HPABehavior | None,
    up_events: Sequence[ScaleEvent],
    down_events: Sequence[ScaleEvent],
    *,
    prev_replicas: int,
    new_replicas: int,
    now: float,
) -> tuple[tuple[ScaleEvent, ...], tuple[ScaleEvent, ...]]:
    """storeScaleEvent after a successful rescale: (up_events, down_events). Without behavior nothing is kept;
    the last outdated event of the direction is overwritten, else the event is appended."""
    up, down = tuple(up_events), tuple(down_events)
    if behavior is None:
        return up, down
    if new_replicas > prev_replicas:
        return _store(up, behavior.scale_up, _i32(new_replicas - prev_replicas), now), down
    return up, _store(down, behavior.scale_down, _i32(prev_replicas - new_replicas), now)


# --- reconcile-level reasons, conditions and events -------------------------------------------------------------


def precheck(*, current_replicas: int, min_replicas: int, max_replicas: int) -> Precheck | None:
    """The branches of reconcileAutoscaler taken before any metric is read; None means: compute from metrics."""
    if current_replicas == 0 and min_replicas != 0:
        message = "scaling is disabled since the replica count of the target is zero"
        disabled = Condition(SCALING_ACTIVE, FALSE, "ScalingDisabled", message)
        return Precheck(0, False, "", disabled)
    if current_replicas > max_replicas:
        return Precheck(max_replicas, True, REASON_ABOVE_MAX, None)
    if current_replicas < min_replicas:
        return Precheck(min_replicas, True, REASON_BELOW_MIN, None)
    return None


def rescale_reason(*, current_replicas: int, metric_desired_replicas: int, metric_name: str) -> str:
    """The reason text of a metric-driven rescale, e.g. "cpu resource utilization (percentage of request) above
    target" or "All metrics below target"; "" when the metrics propose the current size."""
    desired, metric = 0, ""
    if metric_desired_replicas > desired:
        desired, metric = metric_desired_replicas, metric_name
    if desired > current_replicas:
        return f"{metric} above target"
    if desired < current_replicas:
        return REASON_ALL_BELOW
    return ""


def successful_rescale_message(new_size: int, reason: str) -> str:
    """The message of the Normal ``SuccessfulRescale`` event."""
    return f"New size: {new_size}; reason: {reason}"


def failed_rescale_message(new_size: int, reason: str, error: str) -> str:
    """The message of the Warning ``FailedRescale`` event."""
    return f"New size: {new_size}; reason: {reason}; error: {error}"


def succeeded_get_scale() -> Condition:
    message = "the HPA controller was able to get the target's current scale"
    return Condition(ABLE_TO_SCALE, TRUE, "SucceededGetScale", message)


def failed_get_scale(error: str) -> Condition:
    message = f"the HPA controller was unable to get the target's current scale: {error}"
    return Condition(ABLE_TO_SCALE, FALSE, "FailedGetScale", message)


def succeeded_rescale(new_size: int) -> Condition:
    return Condition(
        ABLE_TO_SCALE, TRUE, "SucceededRescale", f"the HPA controller was able to update the target scale to {new_size}"
    )


def failed_update_scale(error: str) -> Condition:
    return Condition(
        ABLE_TO_SCALE, FALSE, "FailedUpdateScale", f"the HPA controller was unable to update the target scale: {error}"
    )


def set_condition(
    conditions: Sequence[StatusCondition], condition: Condition, *, now: float
) -> tuple[StatusCondition, ...]:
    """setConditionInList: replace the condition of that type in place (the transition time changes only with the
    status), or append it."""
    updated = list(conditions)
    for i, existing in enumerate(updated):
        if existing.type == condition.type:
            changed = existing.status != condition.status
            updated[i] = StatusCondition(
                condition.type,
                condition.status,
                condition.reason,
                condition.message,
                now if changed else existing.last_transition_time,
            )
            return tuple(updated)
    updated.append(StatusCondition(condition.type, condition.status, condition.reason, condition.message, now))
    return tuple(updated)
