"""decide.decide: one reconcileAutoscaler sync (Kubernetes v1.35 horizontal.go) over plain data — the
precheck branches, metrics failures, legacy and `behavior` normalization, rescale, conditions with their
transition times, events, status and history. Expected values are worked out by hand from upstream semantics."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.hpa import decide, defaulting, model
from autoscaler.hpa.behavior import Recommendation, ScaleEvent

NOW = 1_767_268_800.0  # 2026-01-01T12:00:00Z
NOW_TEXT = "2026-01-01T12:00:00Z"
CPU_NAME = "cpu resource utilization (percentage of request)"
NO_METRICS = ("failed to get cpu utilization: unable to get metrics for resource cpu: "
              "no metrics returned from resource metrics API")


def _hpa(*, min_replicas: int = 1, max_replicas: int = 10, target: int = 50, behavior: dict[str, Any] | None = None,
         status: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": min_replicas, "maxReplicas": max_replicas,
        "metrics": [{"type": "Resource",
                     "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}}]}
    if behavior is not None:
        spec["behavior"] = behavior
    manifest: dict[str, Any] = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                                "metadata": {"name": "web", "namespace": "default"}, "spec": spec}
    if status is not None:
        manifest["status"] = status
    return defaulting.stored_v2(manifest)


def _pods(n: int, request_m: int = 1000) -> tuple[model.PodInfo, ...]:
    return tuple(model.PodInfo(f"p{i}", start_time_s=NOW - 3600, ready_transition_s=NOW - 3590,
                               containers=(model.ContainerInfo("app", {"cpu": request_m}),)) for i in range(n))


def _usage(n: int, usage_m: int) -> model.ResourceMetricsFetch:
    return model.ResourceMetricsFetch(tuple(
        model.PodMetricSample(f"p{i}", NOW - 15, 15.0, (model.ContainerUsage("app", {"cpu": usage_m}),), "default")
        for i in range(n)))


@dataclass(frozen=True)
class Want:
    desired: int
    rescale: bool
    reason: str
    conditions: tuple[tuple[str, str, str], ...]  # (type, status, reason) in status order
    events: tuple[tuple[str, str, str], ...] = ()  # (type, reason, message)
    metric_replicas: tuple[int | None, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def _sync(*, current: int, pods: int, usage_m: int | None, hpa: dict[str, Any],
          history: decide.History | None = None, request_m: int = 1000) -> decide.SyncInput:
    fetched = model.ResourceMetricsFetch() if usage_m is None else _usage(pods, usage_m)
    return decide.SyncInput(hpa=hpa, scale=decide.Scale(current, current, "app=web"), pods=_pods(pods, request_m),
                            metrics=(fetched,), now=NOW, history=history or decide.History())


UP_ONE_PER_MINUTE = {"scaleUp": {"policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]}}
DOWN_NO_WINDOW = {"scaleDown": {"stabilizationWindowSeconds": 0}}
GET = ("AbleToScale", "True", "SucceededGetScale")
RESCALED = ("AbleToScale", "True", "SucceededRescale")
VALID = ("ScalingActive", "True", "ValidMetricFound")
WITHIN = ("ScalingLimited", "False", "DesiredWithinRange")

CASES = [
    pytest.param(
        # 3 pods at 400m of 500m: 80 % vs 50 % -> ceil(1.6 * 3) = 5 (legacy limit max(6, 4))
        _sync(current=3, pods=3, usage_m=400, request_m=500, hpa=_hpa()),
        Want(5, True, f"{CPU_NAME} above target", (RESCALED, VALID, WITHIN),
             (("Normal", "SuccessfulRescale", f"New size: 5; reason: {CPU_NAME} above target"),), (5,)),
        id="scale-up-on-cpu"),
    pytest.param(
        # 52 % vs 50 %: ratio 1.04 inside the 0.1 tolerance -> the current 4
        _sync(current=4, pods=4, usage_m=520, hpa=_hpa()),
        Want(4, False, "", (("AbleToScale", "True", "ReadyForNewScale"), VALID, WITHIN), (), (4,)),
        id="within-tolerance-no-change"),
    pytest.param(
        # 20 % vs 50 % wants 2; a recommendation of 4 one minute ago in the 300 s scale-down window holds 4
        _sync(current=4, pods=4, usage_m=200, hpa=_hpa(behavior={"scaleDown": {"stabilizationWindowSeconds": 300}}),
              history=decide.History((Recommendation(NOW - 60, 4),))),
        Want(4, False, "All metrics below target", (("AbleToScale", "True", "ScaleDownStabilized"), VALID, WITHIN),
             (), (2,), {"recommendations": (Recommendation(NOW - 60, 4), Recommendation(NOW, 2))}),
        id="scale-down-held-by-stabilization"),
    pytest.param(
        # 150 % vs 50 % wants 9; +2 pods per 60 s with +1 thirty seconds ago: period start 3 - 1 = 2 -> 4
        _sync(current=3, pods=3, usage_m=1500, hpa=_hpa(behavior=UP_ONE_PER_MINUTE),
              history=decide.History(None, (ScaleEvent(NOW - 30, 1),))),
        Want(4, True, f"{CPU_NAME} above target", (RESCALED, VALID, ("ScalingLimited", "True", "ScaleUpLimit")),
             (("Normal", "SuccessfulRescale", f"New size: 4; reason: {CPU_NAME} above target"),), (9,),
             {"scale_up_events": (ScaleEvent(NOW - 30, 1), ScaleEvent(NOW, 1))}),
        id="behavior-policy-limit"),
    pytest.param(
        _sync(current=4, pods=4, usage_m=None, hpa=_hpa(status={"currentReplicas": 4, "desiredReplicas": 7})),
        Want(4, False, "", (GET, ("ScalingActive", "False", "FailedGetResourceMetric")),
             (("Warning", "FailedGetResourceMetric", NO_METRICS),
              ("Warning", "FailedComputeMetricsReplicas", "invalid metrics (1 invalid out of 1), first error is: "
               f"failed to get cpu resource metric value: {NO_METRICS}")),
             (None,), {"status": {"currentReplicas": 4, "desiredReplicas": 7, "currentMetrics": [{"type": ""}]}}),
        id="metrics-failure-no-change"),
    pytest.param(
        # 10 % vs 50 % wants 1; no scale-down window, -100 % allowed; minReplicas 2 holds it at 2
        _sync(current=3, pods=3, usage_m=100, hpa=_hpa(min_replicas=2, behavior=DOWN_NO_WINDOW)),
        Want(2, True, "All metrics below target",
             (RESCALED, VALID, ("ScalingLimited", "True", "TooFewReplicas")),
             (("Normal", "SuccessfulRescale", "New size: 2; reason: All metrics below target"),), (1,),
             {"scale_down_events": (ScaleEvent(NOW, 1),)}),
        id="min-clamp-too-few"),
    pytest.param(
        # wants 9; legacy limit max(2 * 3, 4) = 6 is above maxReplicas 5 -> 5, TooManyReplicas
        _sync(current=3, pods=3, usage_m=1500, hpa=_hpa(max_replicas=5)),
        Want(5, True, f"{CPU_NAME} above target", (RESCALED, VALID, ("ScalingLimited", "True", "TooManyReplicas")),
             (("Normal", "SuccessfulRescale", f"New size: 5; reason: {CPU_NAME} above target"),), (9,)),
        id="max-clamp-too-many"),
    pytest.param(
        _sync(current=12, pods=12, usage_m=500, hpa=_hpa(behavior={})),
        Want(10, True, "Current number of replicas above Spec.MaxReplicas", (RESCALED,),
             (("Normal", "SuccessfulRescale",
               "New size: 10; reason: Current number of replicas above Spec.MaxReplicas"),),
             (), {"scale_down_events": (ScaleEvent(NOW, 2),)}),
        id="above-max-precheck"),
    pytest.param(
        _sync(current=1, pods=1, usage_m=500, hpa=_hpa(min_replicas=3)),
        Want(3, True, "Current number of replicas below Spec.MinReplicas", (RESCALED,),
             (("Normal", "SuccessfulRescale",
               "New size: 3; reason: Current number of replicas below Spec.MinReplicas"),),
             (), {"scale_up_events": ()}),  # legacy path keeps no scale events
        id="below-min-precheck"),
    pytest.param(
        _sync(current=0, pods=0, usage_m=None, hpa=_hpa()),
        Want(0, False, "", (GET, ("ScalingActive", "False", "ScalingDisabled")), (), (),
             {"status": {"desiredReplicas": 0}, "recommendations": (Recommendation(NOW, 0),)}),
        id="scaling-disabled"),
]


@pytest.mark.parametrize(("inp", "want"), CASES)
def test_decide(inp: decide.SyncInput, want: Want) -> None:
    d = decide.decide(inp)
    assert (d.desired_replicas, d.rescale, d.reason) == (want.desired, want.rescale, want.reason)
    assert d.current_replicas == inp.scale.spec_replicas
    assert tuple((c.type, c.status, c.reason) for c in d.conditions) == want.conditions
    assert tuple((e.type, e.reason, e.message) for e in d.events) == want.events
    assert tuple(m.replicas for m in d.metrics) == want.metric_replicas
    for key, value in want.extra.items():
        if key == "status":
            conditions = d.status.pop("conditions")
            assert len(conditions) == len(want.conditions)
            assert d.status == value
        else:
            assert getattr(d.history, key) == value
    if d.rescale:
        assert d.status["lastScaleTime"] == NOW_TEXT and d.status["desiredReplicas"] == want.desired
    else:
        assert "lastScaleTime" not in d.status


def test_conditions_keep_their_transition_time_while_the_status_holds() -> None:
    t0 = "2026-01-01T09:00:00Z"
    stored = {"conditions": [
        {"type": "AbleToScale", "status": "True", "lastTransitionTime": t0, "reason": "ReadyForNewScale",
         "message": ""},
        {"type": "ScalingActive", "status": "False", "lastTransitionTime": t0, "reason": "FailedGetResourceMetric",
         "message": ""},
        {"type": "ScalingLimited", "status": "False", "lastTransitionTime": t0, "reason": "DesiredWithinRange",
         "message": ""}], "lastScaleTime": t0}
    d = decide.decide(_sync(current=3, pods=3, usage_m=1500, hpa=_hpa(max_replicas=5, status=stored)))
    assert [(c["type"], c["reason"], c["lastTransitionTime"]) for c in d.status["conditions"]] == [
        ("AbleToScale", "SucceededRescale", t0), ("ScalingActive", "ValidMetricFound", NOW_TEXT),
        ("ScalingLimited", "TooManyReplicas", NOW_TEXT)]
    assert d.status["conditions"][0]["message"] == "the HPA controller was able to update the target scale to 5"
    assert d.status["lastScaleTime"] == NOW_TEXT
    assert d.status["currentMetrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "current": {"averageValue": "1500m", "averageUtilization": 150}}}]


def test_metric_count_must_match_the_specs() -> None:
    inp = _sync(current=3, pods=3, usage_m=100, hpa=_hpa())
    with pytest.raises(ValueError, match="1 metric specs but 0 fetched"):
        decide.decide(decide.SyncInput(inp.hpa, inp.scale, inp.pods, (), NOW))


@settings(max_examples=150, deadline=None)
@given(min_replicas=st.integers(1, 5), span=st.integers(0, 10), offset=st.integers(0, 10),
       usage_m=st.integers(0, 5000), with_behavior=st.booleans())
def test_result_stays_within_min_and_max(min_replicas: int, span: int, offset: int, usage_m: int,
                                         with_behavior: bool) -> None:
    max_replicas = min_replicas + span
    current = min(min_replicas + offset, max_replicas)
    hpa = _hpa(min_replicas=min_replicas, max_replicas=max_replicas, behavior={} if with_behavior else None)
    d = decide.decide(_sync(current=current, pods=current, usage_m=usage_m, hpa=hpa))
    assert min_replicas <= d.desired_replicas <= max_replicas
    assert d.rescale == (d.desired_replicas != current)
    assert d.status["desiredReplicas"] == d.desired_replicas
    assert [e.reason for e in d.events] == (["SuccessfulRescale"] if d.rescale else [])


def test_a_failed_scale_update_records_failed_rescale_and_keeps_the_stored_desired_replicas() -> None:
    hpa = _hpa(behavior=DOWN_NO_WINDOW, status={"currentReplicas": 3, "desiredReplicas": 3,
                                                "lastScaleTime": "2026-11-22T09:00:00Z"})
    inp = _sync(current=3, pods=3, usage_m=400, request_m=500, hpa=hpa)
    ok = decide.decide(inp)
    assert ok.rescale and ok.desired_replicas == 5
    failed = decide.decide(replace(inp, scale_update_error="the server reported a conflict"))
    assert (failed.rescale, failed.desired_replicas, failed.current_replicas) == (False, 3, 3)
    assert [(e.type, e.reason, e.message) for e in failed.events] == [
        ("Warning", "FailedRescale", f"New size: 5; reason: {CPU_NAME} above target; error: the server reported a "
                                     "conflict")]
    first = failed.conditions[0]
    assert (first.type, first.status, first.reason) == ("AbleToScale", "False", "FailedUpdateScale")
    assert failed.conditions[0].message == ("the HPA controller was unable to update the target scale: the server "
                                            "reported a conflict")
    assert failed.status["desiredReplicas"] == 3 and failed.status["lastScaleTime"] == "2026-11-22T09:00:00Z"
    assert failed.history.scale_up_events == () and failed.history.recommendations == ok.history.recommendations


def test_failed_get_scale_sets_able_to_scale_false_and_keeps_the_rest_of_the_status() -> None:
    hpa = _hpa(status={"currentReplicas": 4, "desiredReplicas": 4, "currentMetrics": [{"type": "Resource"}]})
    history = decide.History((), ())
    d = decide.failed_get_scale(hpa, 'deployments.apps "web" not found', now=NOW, history=history)
    assert (d.rescale, d.current_replicas, d.desired_replicas, d.history) == (False, 4, 4, history)
    assert [(e.type, e.reason, e.message) for e in d.events] == [
        ("Warning", "FailedGetScale", 'deployments.apps "web" not found')]
    assert d.status["conditions"] == [{
        "type": "AbleToScale", "status": "False", "lastTransitionTime": decide.rfc3339(NOW), "reason": "FailedGetScale",
        "message": "the HPA controller was unable to get the target's current scale: deployments.apps \"web\" not "
                   "found"}]
    assert d.status["currentMetrics"] == [{"type": "Resource"}] and d.status["desiredReplicas"] == 4
