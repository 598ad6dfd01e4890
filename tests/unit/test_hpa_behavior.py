"""autoscaler.hpa.behavior against horizontal_test.go: TestNormalizeDesiredReplicas, TestScalingWithRules,
TestStoreScaleEvents, TestNormalizeDesiredReplicasWithBehavior, TestConvertDesiredReplicasWithRules,
TestCalculateScaleUp/DownLimit..., plus Hypothesis invariants of the behavior path."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.hpa import behavior as b

NOW = 1_700_000_000.0
# Go's tests stamp history with time.Now() before the code under test reads time.Now() again: a hair later.
LATER = NOW + 0.001

DEFAULT_UP = b.HPAScalingRules(
    0, b.SELECT_MAX, (b.HPAScalingPolicy(b.POLICY_PODS, 4, 15), b.HPAScalingPolicy(b.POLICY_PERCENT, 100, 15))
)
DEFAULT_DOWN = b.HPAScalingRules(None, b.SELECT_MAX, (b.HPAScalingPolicy(b.POLICY_PERCENT, 100, 15),))


def rules(pods: int, pods_period: int, percent: int, percent_period: int, window: int) -> b.HPAScalingRules:
    """generateScalingRules."""
    policies = []
    if pods:
        policies.append(b.HPAScalingPolicy(b.POLICY_PODS, pods, pods_period))
    if percent:
        policies.append(b.HPAScalingPolicy(b.POLICY_PERCENT, percent, percent_period))
    return b.HPAScalingRules(window, b.SELECT_MAX, tuple(policies))


def uniform(raw: list[int], period_s: int) -> tuple[b.ScaleEvent, ...]:
    """generateEventsUniformDistribution: each event in the middle of its segment of the last period_s seconds
    (time.Duration(float) truncates the offset to whole seconds)."""
    segment = period_s / len(raw)
    return tuple(
        b.ScaleEvent(NOW - int(period_s - segment * (i + 1) + segment / 2), change) for i, change in enumerate(raw)
    )


def recs(*pairs: tuple[int, float]) -> tuple[b.Recommendation, ...]:
    """(replicas, minutes ago) pairs."""
    return tuple(b.Recommendation(NOW - minutes * 60, replicas) for replicas, minutes in pairs)


# --- TestConvertDesiredReplicasWithRules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "desired", "lo", "hi", "expected", "reason"),
    [
        pytest.param(5, 7, 3, 8, 7, "DesiredWithinRange", id="within-range"),
        pytest.param(3, 1, 2, 8, 2, "TooFewReplicas", id="below-min"),
        pytest.param(1, 0, 0, 10, 0, "DesiredWithinRange", id="zero-within-range"),
        pytest.param(20, 1000, 1, 10, 10, "TooManyReplicas", id="max-below-scale-up-limit"),
        pytest.param(3, 1000, 1, 2000, 6, "ScaleUpLimit", id="scale-up-limit-below-max"),
        pytest.param(1, 1000, 1, 2000, 4, "ScaleUpLimit", id="scale-up-limit-minimum-4"),
    ],
)
def test_convert_desired_replicas_with_rules(
    current: int, desired: int, lo: int, hi: int, expected: int, reason: str
) -> None:
    replicas, got_reason, message = b.convert_desired_replicas_with_rules(current, desired, lo, hi)
    assert (replicas, got_reason) == (expected, reason)
    assert message == {
        "DesiredWithinRange": "the desired count is within the acceptable range",
        "TooFewReplicas": "the desired replica count is less than the minimum replica count",
        "TooManyReplicas": "the desired replica count is more than the maximum replica count",
        "ScaleUpLimit": "the desired replica count is increasing faster than the maximum scale rate",
    }[reason]


@pytest.mark.parametrize(
    ("current", "limit"),
    [
        pytest.param(0, 4, id="zero"),
        pytest.param(1, 4, id="minimum"),
        pytest.param(3, 6, id="double"),
        pytest.param(2**30, -(2**31), id="int32-overflow-is-min-int32"),
    ],
)
def test_calculate_scale_up_limit(current: int, limit: int) -> None:
    assert b.calculate_scale_up_limit(current) == limit


# --- TestNormalizeDesiredReplicas (legacy stabilization) --------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "desired", "stabilized", "log_length"),
    [
        pytest.param((), 5, 5, 1, id="empty-log"),
        pytest.param(recs((4, 2), (5, 1)), 3, 5, 3, id="stabilize"),
        pytest.param(recs((1, 2), (2, 1)), 3, 3, 3, id="no-stabilize"),
        pytest.param(recs((10, 10), (9, 9)), 3, 3, 2, id="no-stabilize-old-recommendations"),
        pytest.param(recs((10, 10), (4, 1), (5, 2), (9, 9)), 3, 5, 4, id="stabilize-old-recommendations"),
    ],
)
def test_stabilize_recommendation(
    history: tuple[b.Recommendation, ...], desired: int, stabilized: int, log_length: int
) -> None:
    got, updated = b.stabilize_recommendation(history, desired, now=LATER, window_s=300)
    assert got == stabilized
    assert len(updated) == log_length
    assert b.Recommendation(LATER, desired) in updated


def test_stabilize_recommendation_replaces_the_last_old_sample() -> None:
    history = recs((10, 10), (4, 1), (5, 2), (9, 9))
    _, updated = b.stabilize_recommendation(history, 3, now=NOW, window_s=300)
    assert [r.replicas for r in updated] == [10, 4, 5, 3]
    assert history == recs((10, 10), (4, 1), (5, 2), (9, 9)), "input not mutated"


def test_stabilize_recommendation_keeps_a_sample_exactly_at_the_cutoff() -> None:
    got, updated = b.stabilize_recommendation((b.Recommendation(NOW - 300, 9),), 3, now=NOW, window_s=300)
    assert (got, len(updated)) == (9, 2)


@pytest.mark.parametrize(
    ("history", "current", "desired", "expected", "able", "limited"),
    [
        pytest.param((), 5, 5, 5, ("ReadyForNewScale", "True"), ("DesiredWithinRange", "False"), id="steady"),
        pytest.param(
            recs((8, 1)), 8, 3, 8, ("ScaleDownStabilized", "True"), ("DesiredWithinRange", "False"), id="held"
        ),
        pytest.param(
            (), 3, 100, 6, ("ReadyForNewScale", "True"), ("ScaleUpLimit", "True"), id="scale-up-limited-to-double"
        ),
        pytest.param((), 5, 1, 2, ("ReadyForNewScale", "True"), ("TooFewReplicas", "True"), id="too-few"),
        pytest.param((), 5, 9, 8, ("ReadyForNewScale", "True"), ("TooManyReplicas", "True"), id="too-many"),
    ],
)
def test_normalize_desired_replicas_conditions(
    history: tuple[b.Recommendation, ...],
    current: int,
    desired: int,
    expected: int,
    able: tuple[str, str],
    limited: tuple[str, str],
) -> None:
    out = b.normalize_desired_replicas(
        recommendations=history,
        current_replicas=current,
        desired_replicas=desired,
        min_replicas=2,
        max_replicas=8,
        now=NOW,
    )
    assert out.desired_replicas == expected
    assert (out.able_to_scale.reason, out.able_to_scale.status) == able
    assert (out.scaling_limited.reason, out.scaling_limited.status) == limited
    assert out.able_to_scale.type == "AbleToScale" and out.scaling_limited.type == "ScalingLimited"
    assert out.recommendations[-1] == b.Recommendation(NOW, desired)


def test_normalize_desired_replicas_uses_the_downscale_flag() -> None:
    out = b.normalize_desired_replicas(
        recommendations=recs((8, 1)),
        current_replicas=8,
        desired_replicas=3,
        min_replicas=1,
        max_replicas=10,
        now=NOW,
        downscale_stabilization_s=30,
    )
    assert out.desired_replicas == 3


# --- TestScalingWithRules (convertDesiredReplicasWithBehaviorRate) ----------------------------------------------

SCALING_WITH_RULES = [
    # (id, up_events, down_events, min, max, up_rules, down_rules, current, desired, expected, reason)
    ("prenormalized desired replicas within range", (), (), 3, 8, None, None, 5, 7, 7, "DesiredWithinRange"),
    ("prenormalized desired replicas < minReplicas", (), (), 2, 8, None, None, 3, 1, 2, "TooFewReplicas"),
    ("desired replicas within range when minReplicas is 0", (), (), 0, 10, None, None, 1, 0, 0, "DesiredWithinRange"),
    ("maxReplicas is the limit because maxReplicas < scaleUpLimit", (), (), 1, 10, None, None, 20, 1000, 10,
     "TooManyReplicas"),
    ("desired replica count is more than the maximum replica count", (), (), 100, 150, None, None, 100, 1000, 150,
     "TooManyReplicas"),
    ("scaleUpLimit < maxReplicas with user policies", (), (), 1, 2000, rules(0, 0, 1, 60, 0), None, 3, 1000, 4,
     "ScaleUpLimit"),
    ("scaleDownLimit > minReplicas with user defined policies", (), (), 3, 2000, None, rules(20, 60, 0, 0, 0), 1000, 3,
     980, "ScaleDownLimit"),
    ("scaleUp with default behavior", (), (), 1, 1000, None, None, 10, 50, 20, "ScaleUpLimit"),
    ("scaleUp with pods policy larger than percent policy", (), (), 1, 1000, rules(100, 60, 100, 60, 0), None, 10, 500,
     110, "ScaleUpLimit"),
    ("scaleUp with percent policy larger than pods policy", (), (), 1, 1000, rules(2, 60, 100, 60, 0), None, 10, 500,
     20, "ScaleUpLimit"),
    ("scaleUp with spec MaxReplicas limitation with large pod policy", (), (), 1, 1000, rules(100, 60, 0, 0, 0), None,
     10, 50, 50, "DesiredWithinRange"),
    ("scaleUp with spec MaxReplicas limitation with large percent policy", (), (), 1, 1000,
     rules(10000, 60, 0, 0, 0), None, 10, 50, 50, "DesiredWithinRange"),
    ("scaleUp with pod policy limitation", (), (), 1, 1000, rules(30, 60, 0, 0, 0), None, 10, 50, 40, "ScaleUpLimit"),
    ("scaleUp with percent policy limitation", (), (), 1, 1000, rules(0, 0, 200, 60, 0), None, 10, 50, 30,
     "ScaleUpLimit"),
    ("scaleDown with percent policy larger than pod policy", (), (), 1, 1000, None, rules(20, 60, 1, 60, 300), 100, 2,
     80, "ScaleDownLimit"),
    ("scaleDown with pod policy larger than percent policy", (), (), 1, 1000, None, rules(2, 60, 1, 60, 300), 100, 2,
     98, "ScaleDownLimit"),
    ("scaleDown with spec MinReplicas=nil limitation with large pod policy", (), (), 1, 1000, None,
     rules(100, 60, 0, 0, 300), 10, 0, 1, "TooFewReplicas"),
    ("scaleDown with spec MinReplicas limitation with large pod policy", (), (), 1, 1000, None,
     rules(100, 60, 0, 0, 300), 10, 0, 1, "TooFewReplicas"),
    ("scaleDown with spec MinReplicas limitation with large percent policy", (), (), 5, 1000, None,
     rules(0, 0, 100, 60, 300), 10, 2, 5, "TooFewReplicas"),
    ("scaleDown with pod policy limitation", (), (), 1, 1000, None, rules(5, 60, 0, 0, 300), 10, 2, 5,
     "ScaleDownLimit"),
    ("scaleDown with percent policy limitation", (), (), 1, 1000, None, rules(0, 0, 50, 60, 300), 10, 5, 5,
     "DesiredWithinRange"),
    ("scaleUp with spec MaxReplicas limitation with large pod policy and events", uniform([1, 5, 9], 120), (), 1, 200,
     rules(300, 60, 0, 0, 0), None, 100, 500, 200, "TooManyReplicas"),
    ("scaleUp with spec MaxReplicas limitation with large percent policy and events", uniform([1, 5, 9], 120), (), 1,
     200, rules(0, 0, 10000, 60, 0), None, 100, 500, 200, "TooManyReplicas"),
    ("scaleUp with currentReplicas limitation with a lot of recent scale up events", uniform([1, 5, 9], 120), (), 1,
     1000, rules(5, 120, 0, 0, 0), None, 100, 500, 100, "ScaleUpLimit"),
    ("scaleUp with pod policy and previous scale up events", uniform([1, 5, 9], 120), (), 1, 1000,
     rules(150, 120, 0, 0, 0), None, 100, 500, 235, "ScaleUpLimit"),
    ("scaleUp with percent policy and previous scale up events", uniform([1, 5, 9], 120), (), 1, 1000,
     rules(0, 0, 200, 120, 0), None, 100, 500, 255, "ScaleUpLimit"),
    ("scaleUp with percent policy and previous scale up and down events", uniform([4], 120), uniform([2], 120), 1,
     1000, rules(0, 0, 300, 300, 0), None, 6, 24, 16, "ScaleUpLimit"),
    ("scaleDown with default policy and previous events", (), uniform([1, 5, 9], 120), 1, 1000, None, None, 10, 5, 5,
     "DesiredWithinRange"),
    ("scaleDown with spec MinReplicas=nil limitation with large pod policy and previous events", (),
     uniform([1, 5, 9], 120), 1, 1000, None, rules(115, 120, 0, 0, 300), 100, 0, 1, "TooFewReplicas"),
    ("scaleDown with spec MinReplicas limitation with large pod policy and previous events", (),
     uniform([1, 5, 9], 120), 5, 1000, None, rules(130, 120, 0, 0, 300), 100, 0, 5, "TooFewReplicas"),
    ("scaleDown with spec MinReplicas limitation with large percent policy and previous events", (),
     uniform([1, 5, 9], 120), 5, 1000, None, rules(0, 0, 100, 120, 300), 100, 2, 5, "TooFewReplicas"),
    ("scaleDown with pod policy limitation and previous events", (), uniform([1, 5, 9], 120), 1, 1000, None,
     rules(5, 120, 0, 0, 300), 100, 2, 100, "ScaleDownLimit"),
    ("scaleDown with percent policy limitation and previous events", (), uniform([2, 4, 6], 120), 1, 1000, None,
     rules(0, 0, 50, 120, 300), 100, 0, 56, "ScaleDownLimit"),
    ("scaleDown with percent policy and previous scale up and down events", uniform([2], 120), uniform([4], 120), 1,
     1000, None, rules(0, 0, 50, 180, 0), 10, 1, 6, "ScaleDownLimit"),
    ("scaleDown with previous events preventing further scale down", (), uniform([10, 10, 10], 120), 1, 1000, None,
     rules(0, 0, 10, 120, 300), 100, 0, 100, "ScaleDownLimit"),
    ("scaleDown with previous events still allowing more scale down", (), uniform([10, 10, 10], 120), 1, 1000, None,
     rules(0, 0, 1000, 120, 300), 10, 5, 5, "DesiredWithinRange"),
    ("check 'outdated' flag for events for one behavior for up", uniform([8, 12, 9, 11], 120), (), 1, 1000,
     rules(1000, 60, 0, 0, 0), None, 100, 200, 200, "DesiredWithinRange"),
    ("events not marked 'outdated' for two different policies for up", uniform([8, 12, 9, 11], 120), (), 1, 1000,
     rules(1000, 120, 100, 60, 0), None, 100, 200, 200, "DesiredWithinRange"),
    ("events marked 'outdated' for two different policies for up", uniform([8, 12, 9, 11], 120), (), 1, 1000,
     rules(1000, 30, 100, 60, 0), None, 100, 200, 200, "DesiredWithinRange"),
    ("check 'outdated' flag for events for one behavior for down", (), uniform([8, 12, 9, 11], 120), 1, 1000, None,
     rules(1000, 60, 0, 0, 300), 100, 5, 5, "DesiredWithinRange"),
    ("events not marked 'outdated' for two different policies for down", (), uniform([8, 12, 9, 11], 120), 1, 1000,
     None, rules(1000, 120, 100, 60, 300), 100, 5, 5, "DesiredWithinRange"),
    ("events marked 'outdated' for two different policies for down", (), uniform([8, 12, 9, 11], 120), 1, 1000, None,
     rules(1000, 30, 100, 60, 300), 100, 5, 5, "DesiredWithinRange"),
]


@pytest.mark.parametrize(
    ("up_events", "down_events", "lo", "hi", "up_rules", "down_rules", "current", "desired", "expected", "reason"),
    [pytest.param(*case[1:], id=case[0]) for case in SCALING_WITH_RULES],
)
def test_scaling_with_rules(
    up_events: tuple[b.ScaleEvent, ...],
    down_events: tuple[b.ScaleEvent, ...],
    lo: int,
    hi: int,
    up_rules: b.HPAScalingRules | None,
    down_rules: b.HPAScalingRules | None,
    current: int,
    desired: int,
    expected: int,
    reason: str,
) -> None:
    replicas, got_reason, _ = b.convert_desired_replicas_with_behavior_rate(
        current_replicas=current,
        desired_replicas=desired,
        min_replicas=lo,
        max_replicas=hi,
        scale_up=up_rules or DEFAULT_UP,
        scale_down=down_rules or DEFAULT_DOWN,
        up_events=up_events,
        down_events=down_events,
        now=LATER,
    )
    assert (replicas, got_reason) == (expected, reason)


@pytest.mark.parametrize(
    ("select", "up_limit", "down_limit"),
    [
        pytest.param(b.SELECT_MIN, 2, 3, id="min-select"),  # TestCalculateScaleUp/DownLimitWith...
        pytest.param(b.SELECT_MAX, 3, 2, id="max-select"),
        pytest.param(b.SELECT_DISABLED, 1, 5, id="disabled-returns-current"),
    ],
)
def test_scale_limits_by_select_policy(select: str, up_limit: int, down_limit: int) -> None:
    policies = (b.HPAScalingPolicy(b.POLICY_PODS, 2, 60), b.HPAScalingPolicy(b.POLICY_PERCENT, 50, 60))
    r = b.HPAScalingRules(300, select, policies)
    assert b.calculate_scale_up_limit_with_scaling_rules(1, (), (), r, now=NOW) == up_limit
    assert b.calculate_scale_down_limit_with_behaviors(5, (), (), r, now=NOW) == down_limit


def test_disabled_scale_up_holds_current_size() -> None:
    replicas, reason, _ = b.convert_desired_replicas_with_behavior_rate(
        current_replicas=3,
        desired_replicas=9,
        min_replicas=1,
        max_replicas=10,
        scale_up=b.HPAScalingRules(0, b.SELECT_DISABLED, DEFAULT_UP.policies),
        scale_down=DEFAULT_DOWN,
        up_events=(),
        down_events=(),
        now=NOW,
    )
    assert (replicas, reason) == (3, "ScaleUpLimit")


@pytest.mark.parametrize(
    ("percent", "start", "limit"),
    [
        pytest.param(10, 15, 17, id="up-rounds-up"),  # ceil(16.5)
        pytest.param(1, 1, 2, id="up-one-percent-of-one-still-adds-one"),
        pytest.param(-10, 15, 14, id="percent-is-float-math"),  # ceil(13.5)
    ],
)
def test_percent_scale_up_rounds_up(percent: int, start: int, limit: int) -> None:
    r = b.HPAScalingRules(0, b.SELECT_MAX, (b.HPAScalingPolicy(b.POLICY_PERCENT, percent, 60),))
    assert b.calculate_scale_up_limit_with_scaling_rules(start, (), (), r, now=NOW) == limit


@pytest.mark.parametrize(
    ("percent", "start", "limit"),
    [pytest.param(10, 15, 13, id="down-truncates"), pytest.param(50, 5, 2, id="half-of-five-is-two")],
)
def test_percent_scale_down_truncates(percent: int, start: int, limit: int) -> None:
    r = b.HPAScalingRules(0, b.SELECT_MAX, (b.HPAScalingPolicy(b.POLICY_PERCENT, percent, 60),))
    assert b.calculate_scale_down_limit_with_behaviors(start, (), (), r, now=NOW) == limit


def test_pods_policy_wraps_like_int32() -> None:
    r = b.HPAScalingRules(0, b.SELECT_MAX, (b.HPAScalingPolicy(b.POLICY_PODS, 2**31 - 1, 60),))
    assert b.calculate_scale_up_limit_with_scaling_rules(10, (), (), r, now=NOW) == -(2**31) + 9


def test_replicas_change_per_period_is_strictly_after_the_cutoff() -> None:
    events = (b.ScaleEvent(NOW - 60, 3), b.ScaleEvent(NOW - 59.999, 4), b.ScaleEvent(NOW - 61, 5, outdated=True))
    assert b.get_replicas_change_per_period(60, events, now=NOW) == 4
    assert b.get_replicas_change_per_period(120, events, now=NOW) == 12


# --- TestStoreScaleEvents ---------------------------------------------------------------------------------------


def _ago(change: int, seconds: int) -> b.ScaleEvent:
    return b.ScaleEvent(NOW - seconds, change)


STORE_CASES = [
    # (id, prev events, expected (change, outdated) after storing a change of 5, rules, change in the last 60 s)
    ("empty entries with default behavior", (), [], None, 0),
    ("empty entries with two-policy-behavior", (), [(5, False)], rules(10, 60, 100, 60, 0), 0),
    ("one outdated entry to be kept untouched without behavior", (_ago(7, 61),), [(7, False)], None, 0),
    ("one outdated entry to be replaced with behavior", (_ago(7, 61),), [(5, False)], rules(10, 60, 100, 60, 0), 0),
    ("one actual entry to be not touched with behavior", (_ago(7, 58),), [(7, False), (5, False)],
     rules(10, 60, 100, 60, 0), 7),
    ("two entries, one of them to be replaced", (_ago(7, 61), _ago(6, 59)), [(5, False), (6, False)],
     rules(10, 60, 0, 0, 0), 6),
    ("replace one entry, use policies with different periods", (_ago(8, 29), _ago(6, 59), _ago(7, 61), _ago(9, 61)),
     [(8, False), (6, False), (7, True), (5, False)], rules(10, 60, 100, 30, 0), 14),
    ("two entries, both actual", (_ago(7, 58), _ago(6, 59)), [(7, False), (6, False), (5, False)],
     rules(10, 120, 100, 30, 0), 13),
]


@pytest.mark.parametrize(
    ("prev", "expected", "scaling_rules", "change_60s"), [pytest.param(*c[1:], id=c[0]) for c in STORE_CASES]
)
def test_store_scale_events(
    prev: tuple[b.ScaleEvent, ...],
    expected: list[tuple[int, bool]],
    scaling_rules: b.HPAScalingRules | None,
    change_60s: int,
) -> None:
    assert b.get_replicas_change_per_period(60, prev, now=LATER) == change_60s
    # Without behavior the stored (untouched) history is the previous one.
    want = expected if scaling_rules is not None else [(e.replica_change, e.outdated) for e in prev]

    up_behavior = None if scaling_rules is None else b.HPABehavior(scaling_rules, DEFAULT_DOWN)
    up, down = b.store_scale_event(up_behavior, prev, (), prev_replicas=10, new_replicas=15, now=LATER)
    assert [(e.replica_change, e.outdated) for e in up] == want
    assert down == ()

    down_behavior = None if scaling_rules is None else b.HPABehavior(DEFAULT_UP, scaling_rules)
    up, down = b.store_scale_event(down_behavior, (), prev, prev_replicas=10, new_replicas=5, now=LATER)
    assert [(e.replica_change, e.outdated) for e in down] == want
    assert up == ()


def test_stored_event_carries_now() -> None:
    up, _ = b.store_scale_event(
        b.HPABehavior(DEFAULT_UP, DEFAULT_DOWN), (_ago(3, 100),), (), prev_replicas=2, new_replicas=4, now=NOW
    )
    assert up == (b.ScaleEvent(NOW, 2, False),)


# --- TestNormalizeDesiredReplicasWithBehavior (stabilizeRecommendationWithBehaviors) ----------------------------

STABILIZE_CASES = [
    # (id, history, current, desired, expected, stored replicas (None: not checked), up window, down window)
    ("empty recommendations for scaling down", (), 100, 5, 5, [5], 0, 0),
    ("simple scale down stabilization", recs((4, 2), (5, 1)), 100, 3, 5, [4, 5, 3], 0, 180),
    ("simple scale up stabilization", recs((4, 2), (5, 1)), 1, 7, 4, [4, 5, 7], 300, 0),
    ("no scale down stabilization", recs((1, 2), (2, 1)), 100, 3, 3, [1, 2, 3], 300, 0),
    ("no scale up stabilization", recs((4, 2), (5, 1)), 1, 3, 3, [4, 5, 3], 0, 300),
    ("no scale down stabilization, reuse recommendation element", recs((10, 10), (9, 9)), 100, 3, 3, [10, 3], 0, 0),
    ("no scale up stabilization, reuse recommendation element", recs((10, 10), (9, 9)), 1, 100, 100, [10, 100], 0, 0),
    ("scale down stabilization, reuse one of obsolete recommendation element",
     recs((10, 10), (4, 1), (5, 2), (9, 9)), 100, 3, 5, [10, 4, 5, 3], 0, 180),
    ("scale up stabilization, reuse one of obsolete recommendation element",
     recs((10, 100), (6, 1), (5, 2), (9, 3)), 1, 100, 5, [100, 6, 5, 9], 300, 0),
    ("do not scale up when prenormalized rec goes down", recs((2, 100), (3, 3)), 2, 1, 2, None, 300, 300),
    ("do not scale down when prenormalized rec goes up", recs((2, 100), (1, 3)), 2, 3, 2, None, 300, 300),
]


@pytest.mark.parametrize(
    ("history", "current", "desired", "expected", "stored", "up_window", "down_window"),
    [pytest.param(*c[1:], id=c[0]) for c in STABILIZE_CASES],
)
def test_stabilize_recommendation_with_behaviors(
    history: tuple[b.Recommendation, ...],
    current: int,
    desired: int,
    expected: int,
    stored: list[int] | None,
    up_window: int,
    down_window: int,
) -> None:
    got, reason, message, updated = b.stabilize_recommendation_with_behaviors(
        history,
        current_replicas=current,
        desired_replicas=desired,
        up_window_s=up_window,
        down_window_s=down_window,
        now=LATER,
    )
    assert got == expected
    if stored is not None:
        assert [r.replicas for r in updated] == stored
    if desired >= current:
        assert (reason, message) == ("ScaleUpStabilized", b.MSG_SCALE_UP_STABILIZED)
    else:
        assert (reason, message) == ("ScaleDownStabilized", b.MSG_SCALE_DOWN_STABILIZED)


@pytest.mark.parametrize(
    ("history", "current", "desired", "expected", "able", "limited"),
    [
        pytest.param((), 4, 4, 4, "ReadyForNewScale", ("DesiredWithinRange", "False"), id="steady"),
        pytest.param(recs((9, 1)), 9, 3, 9, "ScaleDownStabilized", ("DesiredWithinRange", "False"), id="down-held"),
        pytest.param((), 4, 40, 8, "ReadyForNewScale", ("ScaleUpLimit", "True"), id="up-rate-limited"),
        pytest.param((), 6, 12, 10, "ReadyForNewScale", ("TooManyReplicas", "True"), id="up-max"),
    ],
)
def test_normalize_desired_replicas_with_behaviors(
    history: tuple[b.Recommendation, ...],
    current: int,
    desired: int,
    expected: int,
    able: str,
    limited: tuple[str, str],
) -> None:
    out = b.normalize_desired_replicas_with_behaviors(
        behavior=b.HPABehavior(DEFAULT_UP, DEFAULT_DOWN),
        recommendations=history,
        up_events=(),
        down_events=(),
        current_replicas=current,
        desired_replicas=desired,
        min_replicas=1,
        max_replicas=10,
        now=NOW,
    )
    assert out.desired_replicas == expected
    assert out.able_to_scale == b.Condition(
        "AbleToScale",
        "True",
        able,
        b.MSG_SCALE_DOWN_STABILIZED if able == "ScaleDownStabilized" else b.MSG_READY_FOR_NEW_SCALE,
    )
    assert (out.scaling_limited.reason, out.scaling_limited.status) == limited


def test_unset_scale_down_window_takes_the_flag() -> None:
    kwargs = dict(
        behavior=b.HPABehavior(DEFAULT_UP, DEFAULT_DOWN),
        recommendations=(b.Recommendation(NOW - 100, 9),),
        up_events=(),
        down_events=(),
        current_replicas=9,
        desired_replicas=3,
        min_replicas=1,
        max_replicas=10,
        now=NOW,
    )
    assert b.normalize_desired_replicas_with_behaviors(**kwargs).desired_replicas == 9
    assert b.normalize_desired_replicas_with_behaviors(**kwargs, downscale_stabilization_s=60).desired_replicas == 3


# --- reconcile-level helpers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "lo", "hi", "expected"),
    [
        pytest.param(0, 1, 5, b.Precheck(0, False, "", b.Condition(
            "ScalingActive", "False", "ScalingDisabled",
            "scaling is disabled since the replica count of the target is zero")), id="disabled-at-zero"),
        pytest.param(0, 0, 5, None, id="zero-allowed-by-min-zero"),
        pytest.param(7, 1, 5, b.Precheck(5, True, "Current number of replicas above Spec.MaxReplicas", None),
                     id="above-max"),
        pytest.param(1, 2, 5, b.Precheck(2, True, "Current number of replicas below Spec.MinReplicas", None),
                     id="below-min"),
        pytest.param(3, 1, 5, None, id="in-range"),
    ],
)
def test_precheck(current: int, lo: int, hi: int, expected: b.Precheck | None) -> None:
    assert b.precheck(current_replicas=current, min_replicas=lo, max_replicas=hi) == expected


@pytest.mark.parametrize(
    ("current", "proposed", "reason"),
    [
        pytest.param(2, 5, "cpu resource utilization (percentage of request) above target", id="above"),
        pytest.param(5, 2, "All metrics below target", id="below"),
        pytest.param(5, 0, "All metrics below target", id="zero-proposal"),
        pytest.param(5, 5, "", id="unchanged"),
    ],
)
def test_rescale_reason(current: int, proposed: int, reason: str) -> None:
    name = "cpu resource utilization (percentage of request)"
    assert b.rescale_reason(current_replicas=current, metric_desired_replicas=proposed, metric_name=name) == reason


def test_event_and_condition_texts() -> None:
    reason = "All metrics below target"
    assert b.successful_rescale_message(4, reason) == "New size: 4; reason: All metrics below target"
    assert b.failed_rescale_message(4, "r", "boom") == "New size: 4; reason: r; error: boom"
    assert b.succeeded_rescale(4).message == "the HPA controller was able to update the target scale to 4"
    assert b.failed_update_scale("boom") == b.Condition(
        "AbleToScale", "False", "FailedUpdateScale", "the HPA controller was unable to update the target scale: boom"
    )
    assert b.failed_get_scale("x").message == "the HPA controller was unable to get the target's current scale: x"
    assert b.succeeded_get_scale().reason == "SucceededGetScale"


def test_initial_recommendations() -> None:
    assert b.initial_recommendations(None, current_replicas=3, now=NOW) == (b.Recommendation(NOW, 3),)
    assert b.initial_recommendations((), current_replicas=3, now=NOW) == ()


def test_set_condition_keeps_order_and_transition_time() -> None:
    conds = b.set_condition((), b.succeeded_get_scale(), now=1.0)
    conds = b.set_condition(conds, b.Condition("ScalingActive", "True", "ValidMetricFound", "m"), now=2.0)
    conds = b.set_condition(conds, b.succeeded_rescale(3), now=3.0)
    conds = b.set_condition(conds, b.failed_update_scale("e"), now=4.0)
    assert [(c.type, c.reason, c.last_transition_time) for c in conds] == [
        ("AbleToScale", "FailedUpdateScale", 4.0),
        ("ScalingActive", "ValidMetricFound", 2.0),
    ]
    again = b.set_condition(conds, b.Condition("ScalingActive", "True", "ValidMetricFound", "n"), now=5.0)
    assert again[1] == b.StatusCondition("ScalingActive", "True", "ValidMetricFound", "n", 2.0)


# --- Hypothesis invariants --------------------------------------------------------------------------------------

policy_st = st.builds(
    b.HPAScalingPolicy,
    type=st.sampled_from([b.POLICY_PODS, b.POLICY_PERCENT]),
    value=st.integers(1, 300),
    period_s=st.integers(1, 600),
)
rules_st = st.builds(
    b.HPAScalingRules,
    stabilization_window_s=st.integers(0, 600),
    select_policy=st.sampled_from([b.SELECT_MAX, b.SELECT_MIN, b.SELECT_DISABLED]),
    policies=st.lists(policy_st, min_size=1, max_size=3).map(tuple),
)
history_st = st.lists(
    st.builds(b.Recommendation, timestamp=st.floats(NOW - 900, NOW), replicas=st.integers(0, 200)), max_size=6
).map(tuple)
events_st = st.lists(
    st.builds(b.ScaleEvent, timestamp=st.floats(NOW - 900, NOW), replica_change=st.integers(1, 50)), max_size=5
).map(tuple)


@st.composite
def scenario(draw: st.DrawFn) -> dict:
    lo = draw(st.integers(0, 50))
    hi = draw(st.integers(max(lo, 1), 200))
    return dict(
        behavior=b.HPABehavior(draw(rules_st), draw(rules_st)),
        recommendations=draw(history_st),
        up_events=draw(events_st),
        down_events=draw(events_st),
        current_replicas=draw(st.integers(lo, hi)),
        desired_replicas=draw(st.integers(0, 400)),
        min_replicas=lo,
        max_replicas=hi,
        now=NOW,
    )


@given(scenario())
def test_behavior_result_within_min_max_and_never_flips_direction(s: dict) -> None:
    out = b.normalize_desired_replicas_with_behaviors(**s)
    current, desired = s["current_replicas"], s["desired_replicas"]
    assert s["min_replicas"] <= out.desired_replicas <= s["max_replicas"]
    if desired > current:
        assert out.desired_replicas >= current
    elif desired < current:
        assert out.desired_replicas <= current
    else:
        assert out.desired_replicas == current
    assert out.recommendations[-1].replicas == desired or b.Recommendation(NOW, desired) in out.recommendations


@given(
    history=history_st,
    lo=st.integers(0, 20),
    span=st.integers(0, 100),
    current_offset=st.integers(0, 100),
    desired=st.integers(0, 400),
)
def test_legacy_result_within_min_max(
    history: tuple[b.Recommendation, ...], lo: int, span: int, current_offset: int, desired: int
) -> None:
    hi = max(lo + span, 1)
    current = min(lo + current_offset, hi)
    out = b.normalize_desired_replicas(
        recommendations=history, current_replicas=current, desired_replicas=desired, min_replicas=lo, max_replicas=hi,
        now=NOW,
    )
    assert lo <= out.desired_replicas <= hi
    if desired > current:
        assert out.desired_replicas >= current  # scale-up is never turned into a scale-down


@settings(max_examples=60)
@given(
    up_policy=st.builds(b.HPAScalingPolicy, type=st.just(b.POLICY_PODS), value=st.integers(1, 10),
                        period_s=st.integers(10, 120)),
    down_policy=st.builds(b.HPAScalingPolicy, type=st.just(b.POLICY_PODS), value=st.integers(1, 10),
                          period_s=st.integers(10, 120)),
    steps=st.lists(st.tuples(st.integers(1, 40), st.integers(0, 60)), min_size=1, max_size=25),
)
def test_scale_events_never_exceed_the_policy_within_a_period(
    up_policy: b.HPAScalingPolicy, down_policy: b.HPAScalingPolicy, steps: list[tuple[int, int]]
) -> None:
    """Replaying syncs: when the HPA scales in one direction, the replicas changed that way in the policy's period
    (this change included) never exceed the policy value plus the replicas changed the other way."""
    behavior = b.HPABehavior(b.HPAScalingRules(0, b.SELECT_MAX, (up_policy,)),
                             b.HPAScalingRules(0, b.SELECT_MAX, (down_policy,)))
    now, current = NOW, 10
    history: tuple[b.Recommendation, ...] = ()
    up: tuple[b.ScaleEvent, ...] = ()
    down: tuple[b.ScaleEvent, ...] = ()
    log: list[tuple[float, int]] = []  # every change ever made, signed
    for gap_s, desired in steps:
        now += gap_s
        out = b.normalize_desired_replicas_with_behaviors(
            behavior=behavior, recommendations=history, up_events=up, down_events=down, current_replicas=current,
            desired_replicas=desired, min_replicas=0, max_replicas=60, now=now,
        )
        history = out.recommendations
        if out.desired_replicas != current:
            up, down = b.store_scale_event(behavior, up, down, prev_replicas=current,
                                           new_replicas=out.desired_replicas, now=now)
            log.append((now, out.desired_replicas - current))
            policy, sign = (up_policy, 1) if out.desired_replicas > current else (down_policy, -1)
            window = [c for t, c in log if t > now - policy.period_s]
            same = sum(abs(c) for c in window if c * sign > 0)
            other = sum(abs(c) for c in window if c * sign < 0)
            assert same <= policy.value + other
            current = out.desired_replicas
