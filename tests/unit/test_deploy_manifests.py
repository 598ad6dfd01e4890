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


HPA_DEPLOY = DEPLOY.parent / "hpa"


def test_the_hpa_deployment_runs_valid_flags_with_leader_election() -> None:
    from autoscaler.hpa import command
    from kubescale import leaderelection

    kustomization = yaml.safe_load((HPA_DEPLOY / "kustomization.yaml").read_text())
    docs = [d for name in kustomization["resources"] for d in yaml.safe_load_all((HPA_DEPLOY / name).read_text())
            if d]
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert {("Deployment", "kubescale-hpa"), ("ServiceAccount", "kubescale-hpa"),
            ("ClusterRole", "kubescale:hpa-controller")} <= kinds
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 2
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["kubescale", "hpa"]
    p = argparse.ArgumentParser()
    command.add_arguments(p)
    args = p.parse_args(container["args"])
    controller, serve, problems = command.options_from_args(args)
    assert problems == [] and controller.sync_period_s == 15.0 and serve.secure_port == 10257
    election = leaderelection.leader_election_config(args)
    assert election is not None and election.lease_name == "kubescale-hpa"
    assert election.lease_namespace == "kube-system"
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    granted = {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
               for v in rule["verbs"]}
    for needed in [("autoscaling", "horizontalpodautoscalers", "watch"),
                   ("autoscaling", "horizontalpodautoscalers/status", "update"), ("*", "*/scale", "update"),
                   ("", "pods", "watch"), ("metrics.k8s.io", "pods", "list"), ("", "events", "create")]:
        assert needed in granted, needed
