"""kubesim.conversion: HPA autoscaling/v2 <-> v1 (annotations included) and Event v1 <-> events.k8s.io/v1."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubesim import conversion, defaults

V1, V2 = "autoscaling/v1", "autoscaling/v2"
REF = {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"}
CPU_60 = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}
MEMORY = {"type": "Resource",
          "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}}


def hpa_v2(metrics: list[dict[str, Any]] | None = None, *, status: dict[str, Any] | None = None,
           behavior: dict[str, Any] | None = None, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"scaleTargetRef": dict(REF), "minReplicas": 1, "maxReplicas": 3}
    if metrics is not None:
        spec["metrics"] = metrics
    if behavior is not None:
        spec["behavior"] = behavior
    meta: dict[str, Any] = {"name": "web", "namespace": "default"}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": V2, "kind": "HorizontalPodAutoscaler", "metadata": meta, "spec": spec,
            "status": status if status is not None else {"desiredReplicas": 0, "currentMetrics": None}}


def annotations(obj: dict[str, Any]) -> dict[str, str]:
    return obj["metadata"].get("annotations", {})


# -- v2 -> v1 --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("metrics", "want"), [
    # pkg/apis/autoscaling/v1 conversion_test.go (#101370): the first CPU *utilization* metric wins
    pytest.param([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "AverageValue",
                                                                             "averageValue": "300m"}}},
                  {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                             "averageUtilization": 70}}}],
                 70, id="cpu-average-value-and-utilization"),
    pytest.param([CPU_60], 60, id="cpu-utilization-only"),
    pytest.param([], None, id="without-metrics"),
    pytest.param([MEMORY], None, id="memory-only"),
])
def test_target_cpu_utilization_percentage(metrics: list[dict[str, Any]], want: int | None) -> None:
    v1 = conversion.convert(hpa_v2(metrics), to_api_version=V1)
    assert v1["spec"].get("targetCPUUtilizationPercentage") == want
    assert v1["spec"]["minReplicas"] == 1 and v1["spec"]["maxReplicas"] == 3
    assert (v1["apiVersion"], v1["kind"]) == (V1, "HorizontalPodAutoscaler")


def test_annotations_hold_upstream_json() -> None:
    status = {"currentReplicas": 2, "desiredReplicas": 2, "currentMetrics": [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 10, "averageValue": "5m"}}}],
        "conditions": [{"type": "AbleToScale", "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z",
                        "reason": "ReadyForNewScale", "message": "a<b"}]}
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 300, "policies": [
        {"type": "Percent", "value": 100, "periodSeconds": 15}]}}
    v1 = conversion.convert(hpa_v2([MEMORY, CPU_60], status=status, behavior=behavior, annotations={"a": "b"}),
                            to_api_version=V1)
    assert annotations(v1) == {
        "a": "b",
        "autoscaling.alpha.kubernetes.io/metrics":
            '[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"100Mi"}}]',
        "autoscaling.alpha.kubernetes.io/current-metrics":
            '[{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":10,"currentAverageValue":"5m"}}]',
        "autoscaling.alpha.kubernetes.io/behavior":
            '{"ScaleUp":null,"ScaleDown":{"StabilizationWindowSeconds":300,"SelectPolicy":null,'
            '"Policies":[{"Type":"Percent","Value":100,"PeriodSeconds":15}],"Tolerance":null}}',
        "autoscaling.alpha.kubernetes.io/conditions":
            '[{"type":"AbleToScale","status":"True","lastTransitionTime":"2024-01-01T00:00:00Z",'
            '"reason":"ReadyForNewScale","message":"a\\u003cb"}]',
    }
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 60
    assert v1["status"] == {"currentReplicas": 2, "desiredReplicas": 2, "currentCPUUtilizationPercentage": 10}


def test_v1_status_always_has_replica_counts_and_no_annotations_when_nothing_to_keep() -> None:
    v1 = conversion.convert(hpa_v2([CPU_60], status={}), to_api_version=V1)
    assert v1["status"] == {"currentReplicas": 0, "desiredReplicas": 0}
    assert "annotations" not in v1["metadata"]


def test_stale_round_trip_annotations_are_replaced() -> None:
    stale = {"autoscaling.alpha.kubernetes.io/metrics": "[garbage", "autoscaling.alpha.kubernetes.io/conditions": "[]"}
    v1 = conversion.convert(hpa_v2([CPU_60], annotations=stale), to_api_version=V1)
    assert "annotations" not in v1["metadata"]


def test_object_and_external_metrics_use_v1_field_names() -> None:
    metrics = [
        {"type": "Object", "object": {"describedObject": {"kind": "Ingress", "name": "main"},
                                      "target": {"type": "Value", "value": "10k"},
                                      "metric": {"name": "rps", "selector": {"matchLabels": {"b": "2", "a": "1"}}}}},
        {"type": "External", "external": {"metric": {"name": "queue"},
                                          "target": {"type": "AverageValue", "averageValue": "30"}}},
    ]
    v1 = conversion.convert(hpa_v2(metrics), to_api_version=V1)
    assert annotations(v1)["autoscaling.alpha.kubernetes.io/metrics"] == (
        '[{"type":"Object","object":{"target":{"kind":"Ingress","name":"main"},"metricName":"rps",'
        '"targetValue":"10k","selector":{"matchLabels":{"a":"1","b":"2"}}}},'
        '{"type":"External","external":{"metricName":"queue","targetAverageValue":"30"}}]')


# -- v1 -> v2 --------------------------------------------------------------------------------------------------
def hpa_v1(spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None,
           notes: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "web", "namespace": "default"}
    if notes:
        meta["annotations"] = notes
    return {"apiVersion": V1, "kind": "HorizontalPodAutoscaler", "metadata": meta,
            "spec": {"scaleTargetRef": dict(REF), "maxReplicas": 5, **(spec or {})}, "status": status or {}}


@pytest.mark.parametrize(("spec", "notes", "want"), [
    pytest.param({}, None, [{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": 80}}}], id="implicit-default-80"),
    pytest.param({"targetCPUUtilizationPercentage": 60}, None, [CPU_60], id="cpu-target"),
    pytest.param({"targetCPUUtilizationPercentage": 60},
                 {"autoscaling.alpha.kubernetes.io/metrics": '[{"type":"Resource","resource":{"name":"memory",'
                                                             '"targetAverageValue":"100Mi"}}]'},
                 [MEMORY, CPU_60], id="annotation-metrics-then-cpu"),
    pytest.param({}, {"autoscaling.alpha.kubernetes.io/metrics": "not json"}, [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}], id="malformed-ignored"),
    pytest.param({}, {"autoscaling.alpha.kubernetes.io/metrics":
                      '[{"type":"Pods","pods":{"metricName":"qps","targetAverageValue":"1k"}}]'},
                 [{"type": "Pods", "pods": {"metric": {"name": "qps"},
                                            "target": {"type": "AverageValue", "averageValue": "1k"}}}],
                 id="pods-metric"),
])
def test_v1_metrics(spec: dict[str, Any], notes: dict[str, str] | None, want: list[dict[str, Any]]) -> None:
    v2 = conversion.convert(hpa_v1(spec, notes=notes), to_api_version=V2)
    assert v2["spec"]["metrics"] == want
    assert "annotations" not in v2["metadata"]


@pytest.mark.parametrize(("text", "want"), [
    pytest.param('{"ScaleUp":{"StabilizationWindowSeconds":60}}',
                 {"scaleUp": {"stabilizationWindowSeconds": 60}, "scaleDown": defaults.SCALE_DOWN_RULES},
                 id="missing-scale-down-gets-defaults"),
    pytest.param('{"scaledown":{"selectpolicy":"Disabled"}}',
                 {"scaleUp": defaults.SCALE_UP_RULES, "scaleDown": {"selectPolicy": "Disabled"}},
                 id="keys-match-case-insensitively"),
    pytest.param("{}", None, id="zero-behavior-dropped"),
    pytest.param("[1]", None, id="not-the-go-type"),
])
def test_v1_behavior_annotation(text: str, want: dict[str, Any] | None) -> None:
    v2 = conversion.convert(hpa_v1(notes={"autoscaling.alpha.kubernetes.io/behavior": text}), to_api_version=V2)
    assert v2["spec"].get("behavior") == want


def test_v1_status_cpu_percentage_and_annotations() -> None:
    plain = conversion.convert(hpa_v1(status={"currentReplicas": 2, "desiredReplicas": 3,
                                              "currentCPUUtilizationPercentage": 40}), to_api_version=V2)
    assert plain["status"] == {"currentReplicas": 2, "desiredReplicas": 3, "currentMetrics": [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 40}}}]}
    stored = '[{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":40,"currentAverageValue":"1"}}]'
    rich = conversion.convert(hpa_v1(status={"currentCPUUtilizationPercentage": 40},
                                     notes={"autoscaling.alpha.kubernetes.io/current-metrics": stored}),
                              to_api_version=V2)
    assert rich["status"]["currentMetrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageValue": "1", "averageUtilization": 40}}}]
    assert rich["status"]["desiredReplicas"] == 0 and "currentReplicas" not in rich["status"]


# -- round trips -----------------------------------------------------------------------------------------------
def round_trip(obj: dict[str, Any]) -> dict[str, Any]:
    return conversion.convert(conversion.convert(obj, to_api_version=V1), to_api_version=V2)


@pytest.mark.parametrize(("before", "after"), [
    pytest.param(hpa_v2([CPU_60, MEMORY]), hpa_v2([MEMORY, CPU_60]), id="cpu-target-moves-last"),
    pytest.param(hpa_v2([]), hpa_v2([{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": 80}}}]), id="no-metrics-gain-default"),
    pytest.param(hpa_v2([{"type": "Object", "object": {"describedObject": {"kind": "Svc", "name": "s"},
                                                       "target": {"type": "AverageValue", "averageValue": "2"},
                                                       "metric": {"name": "m"}}}]),
                 hpa_v2([{"type": "Object", "object": {"describedObject": {"kind": "Svc", "name": "s"},
                                                       "target": {"type": "AverageValue", "value": "0",
                                                                  "averageValue": "2"},
                                                       "metric": {"name": "m"}}}]),
                 id="object-average-value-gains-zero-value"),
])
def test_upstream_normalizations(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert round_trip(before) == after


quantities = st.sampled_from(["0", "1", "100m", "250Mi", "1k", "2G", "500"])
names = st.text(alphabet="abcdefghij-", min_size=1, max_size=8)
selectors = st.one_of(st.none(), st.just({}),
                      st.dictionaries(names, names, min_size=1, max_size=2).map(lambda m: {"matchLabels": m}))


def identifier(name: str, sel: dict[str, Any] | None) -> dict[str, Any]:
    return {"name": name} if sel is None else {"name": name, "selector": sel}


resource_targets = st.one_of(
    quantities.map(lambda q: {"type": "AverageValue", "averageValue": q}),
    st.integers(1, 200).map(lambda u: {"type": "Utilization", "averageUtilization": u}))
other_metrics = st.one_of(
    st.builds(lambda n, s, q: {"type": "Pods", "pods": {"metric": identifier(n, s),
                                                        "target": {"type": "AverageValue", "averageValue": q}}},
              names, selectors, quantities),
    st.builds(lambda n, s, t: {"type": "Object", "object": {"describedObject": {"kind": "Ingress", "name": n},
                                                            "target": t, "metric": identifier(n, s)}},
              names, selectors, st.one_of(
                  quantities.map(lambda q: {"type": "Value", "value": q}),
                  st.tuples(quantities, quantities).map(lambda qs: {"type": "AverageValue", "value": qs[0],
                                                                    "averageValue": qs[1]}))),
    st.builds(lambda n, t: {"type": "Resource", "resource": {"name": n, "target": t}},
              st.sampled_from(["memory", "ephemeral-storage"]), resource_targets),
    st.builds(lambda t: {"type": "Resource", "resource": {"name": "cpu", "target": t}},
              quantities.map(lambda q: {"type": "AverageValue", "averageValue": q})),
    st.builds(lambda n, c, t: {"type": "ContainerResource", "containerResource": {"name": n, "target": t,
                                                                                  "container": c}},
              st.sampled_from(["cpu", "memory"]), names, resource_targets),
    st.builds(lambda n, s, t: {"type": "External", "external": {"metric": identifier(n, s), "target": t}},
              names, selectors, st.one_of(quantities.map(lambda q: {"type": "Value", "value": q}),
                                          quantities.map(lambda q: {"type": "AverageValue", "averageValue": q}))),
)
metric_statuses = st.one_of(
    st.builds(lambda n, q, u: {"type": "Resource", "resource": {"name": n, "current": (
        {"averageValue": q} if u is None else {"averageValue": q, "averageUtilization": u})}},
              st.sampled_from(["cpu", "memory"]), quantities, st.one_of(st.none(), st.integers(0, 300))),
    st.builds(lambda n, q: {"type": "Pods", "pods": {"metric": {"name": n}, "current": {"averageValue": q}}},
              names, quantities),
    st.builds(lambda n, q: {"type": "External", "external": {"metric": {"name": n}, "current": {"value": q}}},
              names, quantities),
)
rules = st.fixed_dictionaries({}, optional={
    "stabilizationWindowSeconds": st.integers(0, 3600),
    "selectPolicy": st.sampled_from(["Max", "Min", "Disabled"]),
    "policies": st.lists(st.builds(lambda t, v, p: {"type": t, "value": v, "periodSeconds": p},
                                   st.sampled_from(["Pods", "Percent"]), st.integers(1, 100), st.integers(1, 1800)),
                         min_size=1, max_size=2),
    "tolerance": st.sampled_from(["50m", "0.1"]),
})
conditions = st.lists(st.builds(
    lambda t, s, r, m: {"type": t, "status": s, "lastTransitionTime": "2025-01-01T00:00:00Z", "reason": r,
                        "message": m},
    st.sampled_from(["AbleToScale", "ScalingActive", "ScalingLimited"]), st.sampled_from(["True", "False"]),
    names, st.text(min_size=1, max_size=20)), max_size=3)


@st.composite
def canonical_v2(draw: st.DrawFn) -> dict[str, Any]:
    """v2 objects in the form upstream's own v1 round trip leaves unchanged."""
    metrics = draw(st.lists(other_metrics, max_size=3))
    if draw(st.booleans()) or not metrics:
        metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": draw(st.integers(1, 100))}}})
    status: dict[str, Any] = {"desiredReplicas": draw(st.integers(0, 10)),
                              "currentMetrics": draw(st.one_of(st.none(), st.lists(metric_statuses, min_size=1,
                                                                                   max_size=3)))}
    replicas = draw(st.integers(0, 10))
    if replicas:
        status["currentReplicas"] = replicas
    if draw(st.booleans()):
        status.update(observedGeneration=draw(st.integers(0, 9)), lastScaleTime="2025-01-01T00:00:00Z")
    found = draw(conditions)
    if found:
        status["conditions"] = found
    behavior = draw(st.one_of(st.none(), st.fixed_dictionaries({"scaleUp": rules, "scaleDown": rules})))
    notes = draw(st.one_of(st.none(), st.dictionaries(names, st.text(max_size=10), min_size=1, max_size=2)))
    return hpa_v2(metrics, status=status, behavior=behavior, annotations=notes)


@settings(max_examples=300)
@given(canonical_v2())
def test_v2_v1_v2_is_lossless(obj: dict[str, Any]) -> None:
    frozen = copy.deepcopy(obj)
    v1 = conversion.convert(obj, to_api_version=V1)
    assert conversion.convert(v1, to_api_version=V2) == obj
    assert obj == frozen  # inputs are not modified
    json.dumps(v1)  # plain JSON values only


@given(st.lists(other_metrics, max_size=4), st.lists(metric_statuses, max_size=3))
def test_round_trip_is_idempotent(metrics: list[dict[str, Any]], current: list[dict[str, Any]]) -> None:
    once = round_trip(hpa_v2(metrics, status={"desiredReplicas": 1, "currentMetrics": current or None}))
    assert round_trip(once) == once


def test_v1_v2_v1_keeps_the_v1_object() -> None:
    v1 = conversion.convert(hpa_v2([MEMORY, CPU_60], behavior={"scaleUp": {"selectPolicy": "Min"},
                                                             "scaleDown": {"selectPolicy": "Max"}}),
                            to_api_version=V1)
    assert conversion.convert(conversion.convert(v1, to_api_version=V2), to_api_version=V1) == v1


# -- Events ----------------------------------------------------------------------------------------------------
CORE_EVENT = {
    "apiVersion": "v1", "kind": "Event",
    "metadata": {"name": "web.17a", "namespace": "default"},
    "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web-1", "uid": "u1"},
    "reason": "Started", "message": "Started container web",
    "source": {"component": "kubelet", "host": "node-1"},
    "firstTimestamp": "2025-01-01T00:00:00Z", "lastTimestamp": "2025-01-01T00:01:00Z", "count": 2,
    "type": "Normal", "eventTime": None, "reportingComponent": "kubelet", "reportingInstance": "node-1",
}
EVENTS_EVENT = {
    "apiVersion": "events.k8s.io/v1", "kind": "Event",
    "metadata": {"name": "web.17a", "namespace": "default"},
    "reason": "Started", "type": "Normal", "eventTime": None, "reportingController": "kubelet",
    "reportingInstance": "node-1",
    "regarding": {"kind": "Pod", "namespace": "default", "name": "web-1", "uid": "u1"},
    "note": "Started container web", "deprecatedSource": {"component": "kubelet", "host": "node-1"},
    "deprecatedFirstTimestamp": "2025-01-01T00:00:00Z", "deprecatedLastTimestamp": "2025-01-01T00:01:00Z",
    "deprecatedCount": 2,
}


def test_core_event_served_as_events_k8s_io() -> None:
    assert conversion.convert(CORE_EVENT, to_api_version="events.k8s.io/v1") == EVENTS_EVENT


def test_events_k8s_io_event_stored_as_core() -> None:
    assert conversion.convert(EVENTS_EVENT, to_api_version="v1") == CORE_EVENT


def test_new_style_event_gets_go_zero_fields() -> None:
    """A recorder event (events.k8s.io) as core/v1 shows source {}, null timestamps and empty reporters."""
    new = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e", "namespace": "ns"},
           "eventTime": "2025-01-01T00:00:00.000000Z", "reportingController": "ctl", "reportingInstance": "i-1",
           "action": "Scale", "reason": "Scaled", "regarding": {"kind": "Deployment", "name": "web"},
           "related": {"kind": "ReplicaSet", "name": "web-1"},
           "series": {"count": 3, "lastObservedTime": "2025-01-01T00:05:00.000000Z"}}
    core = conversion.convert(new, to_api_version="v1")
    assert core == {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "ns"},
        "reason": "Scaled", "eventTime": "2025-01-01T00:00:00.000000Z",
        "series": {"count": 3, "lastObservedTime": "2025-01-01T00:05:00.000000Z"}, "action": "Scale",
        "related": {"kind": "ReplicaSet", "name": "web-1"}, "reportingInstance": "i-1",
        "involvedObject": {"kind": "Deployment", "name": "web"}, "source": {}, "firstTimestamp": None,
        "lastTimestamp": None, "reportingComponent": "ctl"}
    assert conversion.convert(core, to_api_version="events.k8s.io/v1") == {
        **new, "deprecatedSource": {}, "deprecatedFirstTimestamp": None, "deprecatedLastTimestamp": None}


# -- dispatch --------------------------------------------------------------------------------------------------
def test_same_version_is_a_copy() -> None:
    obj = hpa_v2([CPU_60])
    out = conversion.convert(obj, to_api_version=V2)
    assert out == obj and out is not obj


def test_other_kinds_only_change_api_version() -> None:
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"a": 1}}
    assert conversion.convert(widget, to_api_version="example.com/v2") == {**widget, "apiVersion": "example.com/v2"}


@pytest.mark.parametrize(("kind", "src", "dst", "want"), [
    pytest.param("HorizontalPodAutoscaler", V2, V1, True, id="hpa-down"),
    pytest.param("HorizontalPodAutoscaler", V1, V2, True, id="hpa-up"),
    pytest.param("Event", "v1", "events.k8s.io/v1", True, id="event"),
    pytest.param("Deployment", "apps/v1", "apps/v1", True, id="identity"),
    pytest.param("Deployment", "apps/v1", "apps/v1beta2", False, id="unsupported"),
])
def test_can_convert(kind: str, src: str, dst: str, want: bool) -> None:
    assert conversion.can_convert(kind, src, dst) is want
