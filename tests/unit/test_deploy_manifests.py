"""deploy/metricsd: the manifests parse, name every file the kustomization lists, and the Deployment's
arguments are flags `kubescale metrics-server` accepts (so a deploy never crash-loops on a typo)."""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from metricsd import options

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "metricsd"


def documents() -> list[dict]:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    docs = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]
    return docs


def test_kustomization_names_the_metrics_server_objects() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in documents()}
    assert {("Deployment", "metrics-server"), ("Service", "metrics-server"), ("ServiceAccount", "metrics-server"),
            ("APIService", "v1beta1.metrics.k8s.io")} <= kinds


def test_the_deployment_runs_valid_flags() -> None:
    deployment = next(d for d in documents() if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["kubescale", "metrics-server"]
    p = argparse.ArgumentParser()
    options.add_arguments(p)
    config = options.from_args(p.parse_args(container["args"]))
    assert config.metric_resolution_s == 15.0 and config.serving.secure_port == 10250
    assert config.serving.bind_address == "0.0.0.0"
    port = container["ports"][0]
    assert port["containerPort"] == config.serving.secure_port and port["name"] == "https"
