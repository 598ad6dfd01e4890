"""autoscaler.hpa.defaulting against pkg/apis/autoscaling: v2 defaults_test.go (TestGenerateScaleUpRules,
TestGenerateScaleDownRules, TestHorizontalPodAutoscalerAnnotations), SetDefaults_HorizontalPodAutoscaler, the
autoscaling/v1 conversion with its round-trip annotations, and parsing into behavior.py's dataclasses."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autoscaler.hpa import behavior as b
from autoscaler.hpa import defaulting as d

REF = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}


def v2(spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default", **meta},
        "spec": {"scaleTargetRef": REF, "maxReplicas": 10, **spec},
    }


def v1(spec: dict[str, Any], annotations: dict[str, str] | None = None, status: dict | None = None) -> dict:
    obj: dict[str, Any] = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"scaleTargetRef": REF, "maxReplicas": 10, **spec},
    }
    if annotations is not None:
        obj["metadata"]["annotations"] = annotations
    if status is not None:
        obj["status"] = status
    return obj


def cpu(pct: int) -> dict[str, Any]:
    target = {"type": "Utilization", "averageUtilization": pct}
    return {"type": "Resource", "resource": {"name": "cpu", "target": target}}


def pol(kind: str, value: int, period: int) -> dict[str, Any]:
    return {"type": kind, "value": value, "periodSeconds": period}


# --- TestGenerateScaleDownRules / TestGenerateScaleUpRules ------------------------------------------------------


@pytest.mark.parametrize(
    ("given_rules", "expected"),
    [
        pytest.param({}, {"selectPolicy": "Max", "policies": [pol("Percent", 100, 15)]}, id="default-values"),
        pytest.param(
            {"stabilizationWindowSeconds": 25, "selectPolicy": "Max",
             "policies": [pol("Pods", 1, 2), pol("Percent", 3, 4)]},
            {"stabilizationWindowSeconds": 25, "selectPolicy": "Max",
             "policies": [pol("Pods", 1, 2), pol("Percent", 3, 4)]},
            id="all-parameters-are-specified",
        ),
        pytest.param(
            {"selectPolicy": "Min", "policies": [pol("Percent", 1, 2)]},
            {"selectPolicy": "Min", "policies": [pol("Percent", 1, 2)]},
            id="percent-policy-is-specified",
        ),
        pytest.param(
            {"policies": [pol("Pods", 3, 4)]}, {"selectPolicy": "Max", "policies": [pol("Pods", 3, 4)]},
            id="pods-policy-is-specified",
        ),
        pytest.param(
            {"tolerance": "50m"},
            {"selectPolicy": "Max", "policies": [pol("Percent", 100, 15)], "tolerance": "50m"},
            id="tolerance-is-kept",
        ),
    ],
)
def test_generate_scale_down_rules(given_rules: dict, expected: dict) -> None:
    assert d.generate_scale_down_rules(given_rules) == expected
    assert "stabilizationWindowSeconds" not in d.generate_scale_down_rules(None)


DEFAULT_UP_POLICIES = [pol("Pods", 4, 15), pol("Percent", 100, 15)]


@pytest.mark.parametrize(
    ("given_rules", "policies", "window", "select"),
    [
        pytest.param({}, DEFAULT_UP_POLICIES, 0, "Max", id="default-values"),
        pytest.param(
            {"stabilizationWindowSeconds": 25, "selectPolicy": "Max",
             "policies": [pol("Pods", 1, 2), pol("Percent", 3, 4)]},
            [pol("Pods", 1, 2), pol("Percent", 3, 4)], 25, "Max", id="all-parameters-are-specified",
        ),
        pytest.param({"selectPolicy": "Min", "policies": [pol("Pods", 1, 2)]}, [pol("Pods", 1, 2)], 0, "Min",
                     id="pod-policy-is-specified"),
        pytest.param({"policies": [pol("Percent", 7, 10)]}, [pol("Percent", 7, 10)], 0, "Max",
                     id="percent-policy-is-specified"),
        pytest.param({"stabilizationWindowSeconds": 25, "policies": [pol("Pods", 4, 2)]}, [pol("Pods", 4, 2)], 25,
                     "Max", id="pod-policy-and-stabilization-window-are-specified"),
        pytest.param({"stabilizationWindowSeconds": 25, "policies": [pol("Percent", 7, 60)]}, [pol("Percent", 7, 60)],
                     25, "Max", id="percent-policy-and-stabilization-window-are-specified"),
        pytest.param({"stabilizationWindowSeconds": None}, DEFAULT_UP_POLICIES, 0, "Max", id="explicit-null-defaults"),
    ],
)
def test_generate_scale_up_rules(given_rules: dict, policies: list, window: int, select: str) -> None:
    up = d.generate_scale_up_rules(given_rules)
    assert (up["policies"], up["stabilizationWindowSeconds"], up["selectPolicy"]) == (policies, window, select)


# --- SetDefaults_HorizontalPodAutoscaler (v2) -------------------------------------------------------------------


def test_v2_defaults_min_replicas_and_cpu_metric() -> None:
    stored = d.stored_v2(v2({}))
    assert stored["spec"]["minReplicas"] == 1
    assert stored["spec"]["metrics"] == [cpu(80)]
    assert "behavior" not in stored["spec"]


@pytest.mark.parametrize(
    ("spec", "expected_min", "expected_metrics"),
    [
        pytest.param({"minReplicas": 3}, 3, [cpu(80)], id="min-kept"),
        pytest.param({"minReplicas": 0}, 0, [cpu(80)], id="min-zero-kept"),
        pytest.param({"metrics": []}, 1, [cpu(80)], id="empty-metrics-defaulted"),
        pytest.param({"metrics": [cpu(50)]}, 1, [cpu(50)], id="metrics-kept"),
    ],
)
def test_v2_defaults(spec: dict, expected_min: int, expected_metrics: list) -> None:
    stored = d.stored_v2(v2(spec))
    assert (stored["spec"]["minReplicas"], stored["spec"]["metrics"]) == (expected_min, expected_metrics)


@pytest.mark.parametrize(
    ("given_behavior", "up", "down"),
    [
        pytest.param({}, d.default_scale_up_rules(), d.default_scale_down_rules(), id="empty-behavior-filled"),
        pytest.param(
            {"scaleDown": {"stabilizationWindowSeconds": 60}},
            d.default_scale_up_rules(),
            {**d.default_scale_down_rules(), "stabilizationWindowSeconds": 60},
            id="scale-down-window-only",
        ),
        pytest.param(
            {"scaleUp": {"selectPolicy": "Disabled", "tolerance": "0.01"}},
            {**d.default_scale_up_rules(), "selectPolicy": "Disabled", "tolerance": "0.01"},
            d.default_scale_down_rules(),
            id="scale-up-disabled-with-tolerance",
        ),
    ],
)
def test_v2_behavior_defaults(given_behavior: dict, up: dict, down: dict) -> None:
    stored = d.stored_v2(v2({"behavior": given_behavior}))
    assert stored["spec"]["behavior"] == {"scaleUp": up, "scaleDown": down}


@pytest.mark.parametrize(
    "value", [pytest.param("", id="empty"), pytest.param("abc", id="random"), pytest.param("[]", id="empty-array")]
)
def test_v2_round_trip_annotations_are_dropped(value: str) -> None:
    """TestHorizontalPodAutoscalerAnnotations: whatever they hold, they never reach the stored object."""
    annotations = {k: value for k in d.ROUND_TRIP_ANNOTATIONS}
    stored = d.stored_v2(v2({}, annotations={**annotations, "team": "a"}))
    assert stored["metadata"]["annotations"] == {"team": "a"}
    assert "annotations" not in d.stored_v2(v2({}, annotations=annotations))["metadata"]


def test_stored_v2_does_not_mutate_the_manifest() -> None:
    manifest = v2({"behavior": {"scaleUp": {"policies": [pol("Pods", 1, 10)]}}}, annotations={"x": "y"})
    before = copy.deepcopy(manifest)
    d.stored_v2(manifest)
    assert manifest == before


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        pytest.param({**v2({}), "apiVersion": "autoscaling/v2beta2"}, "apiVersion", id="unserved-version"),
        pytest.param({**v2({}), "kind": "Deployment"}, "kind", id="wrong-kind"),
    ],
)
def test_stored_v2_rejects(manifest: dict, message: str) -> None:
    with pytest.raises(d.ManifestError, match=message):
        d.stored_v2(manifest)


# --- autoscaling/v1 -> v2 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "metrics", "min_replicas"),
    [
        pytest.param({"targetCPUUtilizationPercentage": 50}, [cpu(50)], 1, id="cpu-target"),
        pytest.param({}, [cpu(80)], 1, id="no-target-cpu-80"),
        pytest.param({"minReplicas": 2, "targetCPUUtilizationPercentage": 70}, [cpu(70)], 2, id="min-kept"),
    ],
)
def test_v1_spec(spec: dict, metrics: list, min_replicas: int) -> None:
    stored = d.stored_v2(v1(spec))
    assert stored["apiVersion"] == "autoscaling/v2"
    assert stored["spec"] == {"scaleTargetRef": REF, "minReplicas": min_replicas, "maxReplicas": 10, "metrics": metrics}


V1_METRICS = [
    {"type": "Resource", "resource": {"name": "memory", "targetAverageUtilization": 60}},
    {"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "100Mi"}},
    {"type": "Pods", "pods": {"metricName": "qps", "targetAverageValue": "10",
                              "selector": {"matchLabels": {"a": "b"}}}},
    {"type": "Object", "object": {"target": {"kind": "Service", "name": "svc", "apiVersion": "v1"},
                                  "metricName": "rps", "targetValue": "2k"}},
    {"type": "Object", "object": {"target": {"kind": "Service", "name": "svc"}, "metricName": "rps",
                                  "targetValue": "0", "averageValue": "5"}},
    {"type": "External", "external": {"metricName": "queue", "metricSelector": {"matchLabels": {"q": "x"}},
                                      "targetValue": "30"}},
    {"type": "External", "external": {"metricName": "queue", "targetAverageValue": "3"}},
    {"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app",
                                                        "targetAverageUtilization": 40}},
]
V2_METRICS = [
    {"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 60}}},
    {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}},
    {"type": "Pods", "pods": {"metric": {"name": "qps", "selector": {"matchLabels": {"a": "b"}}},
                              "target": {"type": "AverageValue", "averageValue": "10"}}},
    {"type": "Object", "object": {"describedObject": {"kind": "Service", "name": "svc", "apiVersion": "v1"},
                                  "metric": {"name": "rps"}, "target": {"type": "Value", "value": "2k"}}},
    {"type": "Object", "object": {"describedObject": {"kind": "Service", "name": "svc"}, "metric": {"name": "rps"},
                                  "target": {"type": "AverageValue", "value": "0", "averageValue": "5"}}},
    {"type": "External", "external": {"metric": {"name": "queue", "selector": {"matchLabels": {"q": "x"}}},
                                      "target": {"type": "Value", "value": "30"}}},
    {"type": "External", "external": {"metric": {"name": "queue"},
                                      "target": {"type": "AverageValue", "averageValue": "3"}}},
    {"type": "ContainerResource", "containerResource": {
        "name": "cpu", "container": "app", "target": {"type": "Utilization", "averageUtilization": 40}}},
]


def test_v1_metrics_annotation_converted_with_cpu_target_last() -> None:
    manifest = v1({"targetCPUUtilizationPercentage": 55},
                  {d.METRIC_SPECS_ANNOTATION: json.dumps(V1_METRICS), "owner": "team-a"})
    stored = d.stored_v2(manifest)
    assert stored["spec"]["metrics"] == [*V2_METRICS, cpu(55)]
    assert stored["metadata"]["annotations"] == {"owner": "team-a"}


def test_v1_metrics_annotation_only() -> None:
    stored = d.stored_v2(v1({}, {d.METRIC_SPECS_ANNOTATION: json.dumps(V1_METRICS[:1])}))
    assert stored["spec"]["metrics"] == V2_METRICS[:1]


@pytest.mark.parametrize(
    "value", [pytest.param("", id="empty"), pytest.param("abc", id="random"), pytest.param("[]", id="empty-array"),
              pytest.param("{}", id="empty-object")]
)
def test_v1_bad_or_empty_annotations_are_ignored(value: str) -> None:
    stored = d.stored_v2(v1({}, {k: value for k in d.ROUND_TRIP_ANNOTATIONS}))
    assert stored["spec"]["metrics"] == [cpu(80)]
    assert "behavior" not in stored["spec"]
    assert "annotations" not in stored["metadata"]
    assert stored["status"].get("conditions", []) == []


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        pytest.param(
            {"ScaleUp": {"StabilizationWindowSeconds": 30, "SelectPolicy": "Min",
                         "Policies": [{"Type": "Pods", "Value": 2, "PeriodSeconds": 60}], "Tolerance": "0.05"},
             "ScaleDown": None},
            {"scaleUp": {"stabilizationWindowSeconds": 30, "selectPolicy": "Min", "policies": [pol("Pods", 2, 60)],
                         "tolerance": "0.05"},
             "scaleDown": d.default_scale_down_rules()},
            id="go-field-names",
        ),
        pytest.param(
            {"scaleDown": {"stabilizationWindowSeconds": 0, "policies": [pol("Percent", 10, 60)]}},
            {"scaleUp": d.default_scale_up_rules(),
             "scaleDown": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                           "policies": [pol("Percent", 10, 60)]}},
            id="json-names-match-case-insensitively",
        ),
    ],
)
def test_v1_behavior_annotation(annotation: dict, expected: dict) -> None:
    stored = d.stored_v2(v1({}, {d.BEHAVIOR_SPECS_ANNOTATION: json.dumps(annotation)}))
    assert stored["spec"]["behavior"] == expected


def test_v1_status() -> None:
    conditions = [{"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale", "message": "m",
                   "lastTransitionTime": "2025-01-02T03:04:05Z"}]
    status = {"currentReplicas": 3, "desiredReplicas": 4, "currentCPUUtilizationPercentage": 91,
              "lastScaleTime": "2025-01-02T03:00:00Z"}
    stored = d.stored_v2(v1({}, {d.CONDITIONS_ANNOTATION: json.dumps(conditions)}, status))
    assert stored["status"] == {
        "lastScaleTime": "2025-01-02T03:00:00Z", "currentReplicas": 3, "desiredReplicas": 4,
        "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 91}}}],
        "conditions": conditions,
    }
    assert d.parse_status_conditions(stored) == (
        b.StatusCondition("AbleToScale", "True", "ReadyForNewScale", "m", 1735787045.0),
    )


def test_v1_current_metrics_annotation_wins_over_cpu_percentage() -> None:
    current = [
        {"type": "Resource", "resource": {"name": "cpu", "currentAverageUtilization": 91,
                                          "currentAverageValue": "910m"}},
        {"type": "Pods", "pods": {"metricName": "qps", "currentAverageValue": "7"}},
        {"type": "External", "external": {"metricName": "queue", "currentValue": "30"}},
    ]
    stored = d.stored_v2(v1({}, {d.METRIC_STATUSES_ANNOTATION: json.dumps(current)},
                            {"currentCPUUtilizationPercentage": 91}))
    assert stored["status"]["currentMetrics"] == [
        {"type": "Resource",
         "resource": {"name": "cpu", "current": {"averageValue": "910m", "averageUtilization": 91}}},
        {"type": "Pods", "pods": {"metric": {"name": "qps"}, "current": {"averageValue": "7"}}},
        {"type": "External", "external": {"metric": {"name": "queue"}, "current": {"value": "30"}}},
    ]


# --- parsing ----------------------------------------------------------------------------------------------------


def test_parse_spec_with_behavior() -> None:
    stored = d.stored_v2(v2({"minReplicas": 2, "behavior": {
        "scaleUp": {"tolerance": "50m"}, "scaleDown": {"policies": [pol("Pods", 1, 60)], "tolerance": 0.2}}}))
    spec = d.parse_spec(stored)
    assert (spec.min_replicas, spec.max_replicas, spec.metrics, spec.scale_target_ref) == (2, 10, (cpu(80),), REF)
    assert spec.behavior == b.HPABehavior(
        b.HPAScalingRules(0, "Max", (b.HPAScalingPolicy("Pods", 4, 15), b.HPAScalingPolicy("Percent", 100, 15)), 0.05),
        b.HPAScalingRules(None, "Max", (b.HPAScalingPolicy("Pods", 1, 60),), 0.2),
    )
    assert d.tolerances(spec) == (0.2, 0.05)
    assert d.tolerances(spec, default_tolerance=0.3) == (0.2, 0.05)


def test_parse_spec_without_behavior_uses_the_flag_tolerance() -> None:
    spec = d.parse_spec(d.stored_v2(v1({"targetCPUUtilizationPercentage": 50})))
    assert spec.behavior is None
    assert d.tolerances(spec, default_tolerance=0.25) == (0.25, 0.25)


@pytest.mark.parametrize(
    ("spec", "messages"),
    [
        pytest.param({"maxReplicas": 0}, ["spec.maxReplicas: must be greater than or equal to 1"], id="max-zero"),
        pytest.param({"minReplicas": 5, "maxReplicas": 3}, ["greater than or equal to `minReplicas`"], id="min-gt-max"),
        pytest.param({"maxReplicas": "3"}, ["spec.maxReplicas: expected an integer"], id="max-not-int"),
        pytest.param(
            {"behavior": {"scaleUp": {"policies": [], "selectPolicy": "Most", "stabilizationWindowSeconds": 3601}}},
            ["scaleUp.policies: must specify at least one Policy", "selectPolicy: unsupported value 'Most'",
             "stabilizationWindowSeconds: must be less than or equal to 3600"],
            id="bad-rules-all-reported",
        ),
        pytest.param(
            {"behavior": {"scaleDown": {"policies": [{"type": "Nodes", "value": 0, "periodSeconds": 1801}]}}},
            ["policies[0].type: unsupported value 'Nodes'", "policies[0].value: must be greater than or equal to 1",
             "policies[0].periodSeconds: must be less than or equal to 1800"],
            id="bad-policy",
        ),
        pytest.param({"behavior": {"scaleUp": {"tolerance": "-1"}}}, ["tolerance: must be greater than or equal to 0"],
                     id="negative-tolerance"),
        pytest.param({"behavior": {"scaleUp": {"tolerance": "1x"}}}, ["scaleUp.tolerance: "], id="bad-tolerance"),
    ],
)
def test_parse_spec_errors(spec: dict, messages: list[str]) -> None:
    manifest = v2(spec)
    with pytest.raises(d.ManifestError) as err:
        d.parse_spec(d.set_defaults_v2(manifest))
    for message in messages:
        assert message in str(err.value)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        pytest.param("0.05", 0.05, id="decimal"),
        pytest.param("50m", 0.05, id="milli"),
        pytest.param("0.050", 0.05, id="trailing-zero"),
        pytest.param("0", 0.0, id="zero"),
        pytest.param("1", 1.0, id="one"),
        pytest.param(0.1, 0.1, id="json-number"),
        pytest.param("1e-2", 0.01, id="exponent"),
    ],
)
def test_approximate_float(raw: str | float, value: float) -> None:
    assert d.approximate_float(raw) == value


# --- properties -------------------------------------------------------------------------------------------------

rules_st = st.fixed_dictionaries(
    {},
    optional={
        "stabilizationWindowSeconds": st.integers(0, 3600),
        "selectPolicy": st.sampled_from(["Max", "Min", "Disabled"]),
        "policies": st.lists(
            st.builds(pol, st.sampled_from(["Pods", "Percent"]), st.integers(1, 500), st.integers(1, 1800)),
            min_size=1, max_size=3,
        ),
        "tolerance": st.sampled_from(["0", "0.01", "50m", "0.5"]),
    },
)
manifest_st = st.builds(
    lambda spec, beh: v2({**spec, **({"behavior": beh} if beh is not None else {})}),
    st.fixed_dictionaries({}, optional={"minReplicas": st.integers(0, 5), "metrics": st.just([cpu(60)])}),
    st.none() | st.fixed_dictionaries({}, optional={"scaleUp": rules_st, "scaleDown": rules_st}),
)


@given(manifest_st)
def test_defaulting_is_idempotent_and_keeps_what_the_user_set(manifest: dict) -> None:
    stored = d.stored_v2(manifest)
    assert d.stored_v2(stored) == stored
    for key, value in manifest["spec"].items():
        if key != "behavior":
            assert stored["spec"][key] == value
    given_behavior = manifest["spec"].get("behavior")
    if given_behavior is None:
        assert "behavior" not in stored["spec"]
        return
    for direction in ("scaleUp", "scaleDown"):
        for key, value in (given_behavior.get(direction) or {}).items():
            assert stored["spec"]["behavior"][direction][key] == value
        assert stored["spec"]["behavior"][direction]["policies"]
    spec = d.parse_spec(stored)
    assert spec.behavior is not None and spec.behavior.scale_up.stabilization_window_s is not None


@given(st.integers(1, 100), st.integers(0, 100), st.lists(st.sampled_from(V1_METRICS), max_size=4))
def test_v1_conversion_keeps_every_metric(cpu_target: int, min_replicas: int, others: list) -> None:
    manifest = v1({"targetCPUUtilizationPercentage": cpu_target, "minReplicas": min_replicas},
                  {d.METRIC_SPECS_ANNOTATION: json.dumps(others)})
    stored = d.stored_v2(manifest)
    assert len(stored["spec"]["metrics"]) == len(others) + 1
    assert stored["spec"]["metrics"][-1] == cpu(cpu_target)
    assert stored["spec"]["minReplicas"] == min_replicas
