"""`kubescale hpa explain`: the case files under tests/hpa_cases give the expected JSON (worked out by hand from
upstream semantics), through explain_file and through the CLI entry; case errors name the field path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from autoscaler.hpa import explain
from kubescale import cli

CASES = Path(__file__).resolve().parent.parent / "hpa_cases"
CASE_FILES = sorted(CASES.glob("*.yaml"))


def test_there_are_cases() -> None:
    assert len(CASE_FILES) >= 4
    for case in CASE_FILES:
        assert case.with_suffix(".expected.json").exists(), case.name


@pytest.mark.parametrize("case", CASE_FILES, ids=[c.stem for c in CASE_FILES])
def test_case_gives_expected_json(case: Path) -> None:
    expected = json.loads(case.with_suffix(".expected.json").read_text())
    assert explain.explain_file(case) == expected


@pytest.mark.parametrize("case", CASE_FILES[:1], ids=[c.stem for c in CASE_FILES[:1]])
def test_cli_prints_the_json(case: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = cli.build_parser().parse_args(["hpa", "explain", str(case)])
    assert args.func(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(case.with_suffix(".expected.json").read_text())
    assert list(printed) == ["currentReplicas", "desiredReplicas", "rescale", "reason", "metrics", "conditions",
                             "events", "history"]


def test_main_reports_case_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("now: yesterday\n")
    assert cli.main(["hpa", "explain", str(bad)]) == 1
    assert capsys.readouterr().err == ("kubescale hpa explain: now: expected an RFC 3339 time, got 'yesterday'\n")


def _case(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((CASES / f"{name}.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _set(doc: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


@pytest.mark.parametrize(("key", "message"), [
    pytest.param(["podmetrics"], "podmetrics: unknown field (expected one of: now, settings,", id="top-level"),
    pytest.param(["settings", "tolerence"], "settings.tolerence: unknown field", id="settings"),
    pytest.param(["history", "scaleUps"], "history.scaleUps: unknown field", id="history"),
])
def test_unknown_fields_are_reported(key: list[str], message: str) -> None:
    doc = _case("scale_up_cpu")
    doc.setdefault("settings", {})
    _set(doc, key, [])
    with pytest.raises(explain.CaseError) as info:
        explain.explain(doc)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(("path", "value", "message"), [
    pytest.param(["pods", 1, "spec"], {"containers": [{"name": "app", "resources": {"requests": {"cpu": "lots"}}}]},
                 "pods[1].spec.containers[0].resources.requests.cpu: invalid quantity 'lots'", id="pod-request"),
    pytest.param(["pods", 0, "status", "startTime"], "noon",
                 "pods[0].status.startTime: expected an RFC 3339 time", id="pod-start-time"),
    pytest.param(["podMetrics", 2, "window"], "15 seconds", "podMetrics[2].window:", id="metrics-window"),
    pytest.param(["settings"], {"downscaleStabilization": "5 minutes"}, "settings.downscaleStabilization:",
                 id="settings-duration"),
    pytest.param(["scale", "spec", "replicas"], "three", "scale.spec.replicas: expected an integer", id="scale"),
    pytest.param(["history", "recommendations"], [{"replicas": 3, "timestamp": 5}],
                 "history.recommendations[0].timestamp: expected an RFC 3339 time", id="history"),
    pytest.param(["hpa", "spec", "maxReplicas"], 0, "hpa: invalid HorizontalPodAutoscaler: spec.maxReplicas",
                 id="hpa-max"),
    pytest.param(["hpa", "spec", "metrics", 0, "resource", "target", "averageUtilization"], "half",
                 "hpa: spec.metrics[0].resource.target.averageUtilization: expected an integer", id="metric-target"),
])
def test_case_errors_name_the_field(path: list[Any], value: Any, message: str) -> None:
    doc = _set(_case("scale_up_cpu"), path, value)
    with pytest.raises(explain.CaseError) as info:
        explain.explain(doc)
    assert str(info.value).startswith(message)


def test_pods_outside_the_selector_and_their_metrics_are_left_out() -> None:
    doc = _case("scale_up_cpu")
    doc["pods"][3]["metadata"]["labels"] = {"app": "web"}  # "other" at 2 cores joins: (3*400 + 2000) / 2000
    out = explain.explain(doc)
    assert out["metrics"][0]["current"]["resource"]["current"]["averageUtilization"] == 160
    # ratio 160 / 50 = 3.2 over 4 ready pods -> ceil(12.8) = 13, held to the legacy scale-up limit max(2 * 3, 4)
    assert out["metrics"][0]["replicas"] == 13 and out["desiredReplicas"] == 6
    assert out["conditions"][2]["reason"] == "ScaleUpLimit"


def test_missing_selector_is_reported() -> None:
    doc = _case("scale_up_cpu")
    doc["scale"]["status"]["selector"] = ""
    out = explain.explain(doc)
    assert out["rescale"] is False and out["desiredReplicas"] == 3 and out["metrics"] == []
    assert [(e["reason"], e["message"]) for e in out["events"]] == [
        ("SelectorRequired", "selector is required"), ("FailedComputeMetricsReplicas", "selector is required")]
    assert out["conditions"][1]["reason"] == "InvalidSelector"


def test_external_metrics_are_matched_by_name_and_labels() -> None:
    doc = _case("scale_up_cpu")
    doc["hpa"]["spec"]["metrics"] = [{"type": "External", "external": {
        "metric": {"name": "queue_len", "selector": {"matchLabels": {"queue": "orders"}}},
        "target": {"type": "AverageValue", "averageValue": "10"}}}]
    doc["externalMetrics"] = [
        {"metricName": "queue_len", "metricLabels": {"queue": "orders"}, "timestamp": "2026-01-01T11:59:50Z",
         "value": "45"},
        {"metricName": "queue_len", "metricLabels": {"queue": "refunds"}, "timestamp": "2026-01-01T11:59:50Z",
         "value": "1000"},
        {"metricName": "other", "metricLabels": {"queue": "orders"}, "timestamp": "2026-01-01T11:59:50Z",
         "value": "1000"},
    ]
    out = explain.explain(doc)
    # 45 / (10 * 3) = 1.5 outside tolerance -> ceil(45 / 10) = 5; scale-up limit 6
    assert out["metrics"][0]["replicas"] == 5 and out["desiredReplicas"] == 5
    assert out["metrics"][0]["current"]["external"]["current"] == {"averageValue": "15"}


PODS_AND_OBJECT = [
    {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}}},
    {"type": "Object", "object": {"describedObject": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                                                      "name": "main"},
                                  "metric": {"name": "requests"}, "target": {"type": "Value", "value": "100"}}},
]


def _custom(pod: str, value: str) -> dict[str, Any]:
    return {"describedObject": {"kind": "Pod", "namespace": "shop", "name": pod, "apiVersion": "/v1"},
            "metric": {"name": "qps"}, "timestamp": "2026-01-01T11:59:30Z", "windowSeconds": 30, "value": value}


def _ingress(name: str, value: str) -> dict[str, Any]:
    return {"describedObject": {"kind": "Ingress", "namespace": "shop", "name": name,
                                "apiVersion": "networking.k8s.io/v1"},
            "metric": {"name": "requests"}, "timestamp": "2026-01-01T11:59:30Z", "value": value}


def test_custom_metrics_are_matched_by_described_object_and_name() -> None:
    doc = _case("scale_up_cpu")
    doc["hpa"]["spec"]["metrics"] = PODS_AND_OBJECT
    doc["customMetrics"] = [
        _custom("web-a", "15"), _custom("web-b", "15"), _custom("web-c", "15"),
        _custom("other", "1000"),  # not behind the scale selector
        {**_custom("web-a", "1000"), "metric": {"name": "latency"}},  # another metric
        _ingress("side", "9k"), _ingress("main", "250"),
    ]
    out = explain.explain(doc)
    # pods: 15 / 10 over 3 pods -> ceil(4.5) = 5; object: 250 / 100 over 3 ready pods -> ceil(7.5) = 8; limit 6
    assert [m["replicas"] for m in out["metrics"]] == [5, 8]
    assert out["metrics"][0]["current"] == {"type": "Pods", "pods": {"metric": {"name": "qps"},
                                                                     "current": {"averageValue": "15"}}}
    assert out["metrics"][1]["current"]["object"]["current"] == {"value": "250"}
    assert out["reason"] == "Ingress metric requests above target" and out["desiredReplicas"] == 6


def test_a_failed_metric_does_not_block_a_scale_up() -> None:
    doc = _case("scale_up_cpu")
    doc["hpa"]["spec"]["metrics"] = PODS_AND_OBJECT
    doc["customMetrics"] = [_custom("web-a", "15"), _custom("web-b", "15"), _custom("web-c", "15")]
    out = explain.explain(doc)
    assert [m["replicas"] for m in out["metrics"]] == [5, None]
    assert out["metrics"][1]["error"].startswith("failed to get object metric value: unable to get metric requests")
    assert out["desiredReplicas"] == 5 and out["rescale"] is True
    assert [e["reason"] for e in out["events"]] == ["FailedGetObjectMetric", "SuccessfulRescale"]
    assert out["conditions"][1]["reason"] == "ValidMetricFound"


def test_a_failed_metric_blocks_a_scale_down() -> None:
    doc = _case("scale_up_cpu")
    doc["hpa"]["spec"]["metrics"] = PODS_AND_OBJECT
    doc["customMetrics"] = [_custom("web-a", "5"), _custom("web-b", "5"), _custom("web-c", "5")]
    out = explain.explain(doc)
    assert [m["replicas"] for m in out["metrics"]] == [2, None]
    assert (out["desiredReplicas"], out["rescale"]) == (3, False)
    assert [e["reason"] for e in out["events"]] == ["FailedGetObjectMetric", "FailedComputeMetricsReplicas"]
    assert out["events"][1]["message"].startswith("invalid metrics (1 invalid out of 2), first error is: ")
    assert out["conditions"][1]["reason"] == "FailedGetObjectMetric"
