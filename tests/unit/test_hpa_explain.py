"""`kubescale hpa explain`: the case files under tests/hpa_cases give the expected JSON (worked out by hand from
upstream semantics), through explain_file and through the CLI entry; case errors name the field path."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from autoscaler.hpa import explain

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
    parser = argparse.ArgumentParser(prog="kubescale")
    explain.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["hpa", "explain", str(case)])
    assert args.func(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(case.with_suffix(".expected.json").read_text())
    assert list(printed) == ["currentReplicas", "desiredReplicas", "rescale", "reason", "metrics", "conditions",
                             "events", "history"]


def test_main_reports_case_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("now: yesterday\n")
    assert explain.main(["hpa", "explain", str(bad)]) == 1
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
