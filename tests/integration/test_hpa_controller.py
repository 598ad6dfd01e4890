"""`kubescale hpa` closing the loop on kubesim: metricsd serves metrics.k8s.io through kubesim's aggregator, two
controller replicas share a Lease, and the real kubectl reads what the controller wrote.

Short intervals stand in for production defaults: a 2 s sync period, a 10 s down-scale stabilization window,
a 10 s CPU initialization period and a 10 s metrics resolution (metrics-server's minimum).
"""

from __future__ import annotations

import json
import re
import signal
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import Sim, start_sim, stop_sim, wait_for

RESOLUTION_S = 10
SCENARIO = """
name: hpa
seed: 5
settings:
  kubeletStartDelay: 0.2s
  podReadyDelay: 0.5s
nodeGroups:
  - name: pool
    minSize: 3
    maxSize: 3
    size: 3
    provisioningDelay: 0s
    instance:
      capacity: {cpu: "4", memory: 16Gi, pods: "110"}
workloads:
  - name: web
    replicas: 2
    containers:
      - name: web
        requests: {cpu: 200m, memory: 64Mi}
        limits: {cpu: "1", memory: 256Mi}
    load:
      curve: 0.19
manifests:
  - apiVersion: autoscaling/v2
    kind: HorizontalPodAutoscaler
    metadata: {name: web, namespace: default}
    spec:
      scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
      minReplicas: 2
      maxReplicas: 8
      metrics:
        - type: Resource
          resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
"""
LEASE = ["--leader-elect-lease-duration=3s", "--leader-elect-renew-deadline=2s", "--leader-elect-retry-period=0.5s"]
FAST = ["--horizontal-pod-autoscaler-sync-period=2s", "--horizontal-pod-autoscaler-downscale-stabilization=10s",
        "--horizontal-pod-autoscaler-cpu-initialization-period=10s",
        "--horizontal-pod-autoscaler-initial-readiness-delay=2s"]


@dataclass
class Proc:
    proc: subprocess.Popen[str]
    url: str
    log: Path

    def metric(self, name: str) -> float:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with urllib.request.urlopen(self.url + "/metrics", context=ctx, timeout=10) as r:
            text = r.read().decode()
        return sum(s.value for fam in text_string_to_metric_families(text) for s in fam.samples if s.name == name)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def launch(args: list[str], ready: str, log: Path) -> Proc:
    out = open(log, "w")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen([sys.executable, "-m", "kubescale.cli", *args], stdout=subprocess.PIPE, stderr=out,
                            text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(ready + r" (\S+)", line)
    if not m:
        proc.kill()
        raise RuntimeError(f"{args[0]} did not start: {line!r}\n{log.read_text()}")
    return Proc(proc, m.group(1), log)


@dataclass
class Cluster:
    sim: Sim
    metricsd: Proc
    controllers: list[Proc]

    def control(self, method: str, path: str, body: Any = None) -> Any:
        pki_dir = Path(self.sim.kubeconfig).parent / "pki"
        ctx = ssl.create_default_context(cafile=str(pki_dir / "ca.crt"))
        ctx.load_cert_chain(str(pki_dir / "admin.crt"), str(pki_dir / "admin.key"))
        req = urllib.request.Request(f"{self.sim.url}/kubesim/v1/{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return json.loads(r.read())

    def hpa(self) -> dict[str, Any]:
        return self.sim.kubectl_json("get", "hpa", "web")

    def replicas(self) -> int:
        return int(self.sim.kubectl_json("get", "deployment", "web")["spec"]["replicas"])

    def condition(self, kind: str) -> dict[str, Any] | None:
        return next((c for c in self.hpa().get("status", {}).get("conditions", []) if c["type"] == kind), None)


def controller(sim: Sim, d: Path, name: str) -> Proc:
    return launch(["hpa", "--kubeconfig", sim.kubeconfig, "--secure-port=0", "--cert-dir", str(d / f"{name}-certs"),
                   *FAST, *LEASE], "kubescale hpa ready:", d / f"{name}.log")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    d = tmp_path_factory.mktemp("hpa")
    (d / "hpa.yaml").write_text(SCENARIO)
    sim = start_sim(d, ["--tls", "--scenario", str(d / "hpa.yaml")], layers=True)
    pki_dir = Path(sim.kubeconfig).parent / "pki"
    procs: list[Proc] = []
    try:
        procs.append(launch(
            ["metrics-server", "--kubeconfig", sim.kubeconfig, f"--metric-resolution={RESOLUTION_S}s",
             "--kubelet-request-timeout=3s", "--kubelet-use-node-status-port",
             "--kubelet-preferred-address-types=InternalIP",
             "--kubelet-certificate-authority", str(pki_dir / "kubelet-ca.crt"), "--secure-port=0", "--cert-dir",
             str(d / "certs"), "--register-apiservice"], "metricsd ready:", d / "metricsd.log"))
        procs.append(controller(sim, d, "hpa-a"))
        procs.append(controller(sim, d, "hpa-b"))
        yield Cluster(sim, procs[0], procs[1:])
    finally:
        for p in reversed(procs):
            p.stop()
        stop_sim(sim)


def _leader(c: Cluster) -> tuple[int, str] | None:
    """(index of the leading controller, holder identity) from the replicas' /metrics and the Lease; None while
    nobody leads. Two leaders at once fail the test."""
    leading = [i for i, p in enumerate(c.controllers) if p.proc.poll() is None and p.metric("kubescale_hpa_leader")]
    assert len(leading) <= 1, f"controllers {leading} both lead"
    if not leading:
        return None
    lease = c.sim.kubectl_json("get", "lease", "-n", "kube-system", "kubescale-hpa")
    return leading[0], lease["spec"]["holderIdentity"]


def test_scales_up_on_a_load_step_settles_and_scales_down_after_the_window(cluster: Cluster) -> None:
    c = cluster
    # steady at 0.19 cores over 2 pods of 200m: 47-48 % of request, inside the tolerance band
    target = wait_for("kubectl get hpa to show cpu utilization",
                      lambda: (row := c.sim.kubectl("get", "hpa", "web", "--no-headers").stdout.split())
                      and re.fullmatch(r"cpu: \d+%/50%", f"{row[2]} {row[3]}") and row, timeout=6 * RESOLUTION_S)
    assert int(re.search(r"(\d+)%/", target[3]).group(1)) == pytest.approx(47.5, abs=2.5)  # type: ignore[union-attr]
    assert c.replicas() == 2
    active = c.condition("ScalingActive")
    assert active is not None and active["status"] == "True" and active["reason"] == "ValidMetricFound"
    # the load triples: 0.57 cores want ceil(0.57 / 0.1) = 6 pods (2 -> 4 -> 6 under the legacy limit)
    c.control("PATCH", "workloads/default/Deployment/web/load", {"scale": 3})
    wait_for("a scale-up to 6", lambda: c.replicas() == 6, timeout=8 * RESOLUTION_S)
    status = wait_for("6 current replicas", lambda: (h := c.hpa()["status"]).get("currentReplicas") == 6 and h,
                      timeout=4 * RESOLUTION_S)
    assert status["desiredReplicas"] == 6 and "lastScaleTime" in status
    described = c.sim.kubectl("describe", "hpa", "web").stdout
    assert re.search(r"SuccessfulRescale\s+.*New size: 6; reason: cpu resource utilization \(percentage of "
                     r"request\) above target", described), described
    assert re.search(r"AbleToScale\s+True\s+(ReadyForNewScale|SucceededRescale|ScaleDownStabilized)", described)
    assert re.search(r"ScalingActive\s+True\s+ValidMetricFound", described)
    # it settles: 6 pods at 95 m each are inside the band
    wait_for("utilization back to 47-48 %", lambda: (u := _utilization(c)) is not None and 45 <= u <= 50,
             timeout=6 * RESOLUTION_S)
    assert c.replicas() == 6
    # the load drops back: down to 2 only after the 10 s stabilization window
    c.control("PATCH", "workloads/default/Deployment/web/load", {"scale": 1})
    wait_for("a scale-down to 2", lambda: c.replicas() == 2, timeout=10 * RESOLUTION_S)
    described = c.sim.kubectl("describe", "hpa", "web").stdout
    assert re.search(r"New size: 2; reason: All metrics below target", described), described


def _utilization(c: Cluster) -> int | None:
    metrics = c.hpa().get("status", {}).get("currentMetrics") or []
    current = metrics[0]["resource"]["current"] if metrics else {}
    return current.get("averageUtilization")


def test_a_metrics_outage_leaves_the_replicas_and_says_why(cluster: Cluster) -> None:
    c = cluster
    wait_for("metrics flowing", lambda: (a := c.condition("ScalingActive")) and a["status"] == "True",
             timeout=6 * RESOLUTION_S)
    before = c.replicas()
    apiservice = c.sim.kubectl_json("get", "apiservice", "v1beta1.metrics.k8s.io")
    c.sim.kubectl("delete", "apiservice", "v1beta1.metrics.k8s.io")
    try:
        active = wait_for("ScalingActive False", lambda: (a := c.condition("ScalingActive")) and
                          a["status"] == "False" and a, timeout=30)
        assert active["reason"] == "FailedGetResourceMetric"
        assert active["message"].startswith("the HPA was unable to compute the replica count: failed to get cpu "
                                            "utilization: unable to get metrics for resource cpu: unable to fetch "
                                            "metrics from resource metrics API: ")
        assert c.replicas() == before
        described = c.sim.kubectl("describe", "hpa", "web").stdout
        assert "FailedGetResourceMetric" in described and "FailedComputeMetricsReplicas" in described
    finally:
        for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
            apiservice["metadata"].pop(key, None)
        apiservice.pop("status", None)
        c.sim.kubectl("apply", "-f", "-", input=json.dumps(apiservice))
    wait_for("metrics back", lambda: (a := c.condition("ScalingActive")) and a["status"] == "True", timeout=60)
    assert c.replicas() == before


def test_explain_from_cluster_gathers_what_the_controller_sees(cluster: Cluster) -> None:
    c = cluster
    wait_for("metrics flowing", lambda: (a := c.condition("ScalingActive")) and a["status"] == "True", timeout=60)
    cmd = [sys.executable, "-m", "kubescale.cli", "hpa", "explain", "--from-cluster", "default/web", "--kubeconfig",
           c.sim.kubeconfig]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
    result = json.loads(out.stdout)
    assert result["currentReplicas"] == c.replicas()
    assert [(m["type"], m["name"], m["error"]) for m in result["metrics"]] == [("Resource", "cpu", None)]
    assert result["metrics"][0]["current"]["resource"]["current"]["averageUtilization"] > 0
    assert [x["type"] for x in result["conditions"]] == ["AbleToScale", "ScalingActive", "ScalingLimited"]
    assert "history" in result and "not visible from the cluster" in result["note"]
    human = subprocess.run([*cmd, "-o", "human"], capture_output=True, text=True, timeout=60, check=True).stdout
    assert human.startswith("HorizontalPodAutoscaler default/web -> Deployment/web\n")
    assert re.search(r"Resource cpu: current averageValue=\d+m, averageUtilization=\d+; proposes \d+ replicas", human)
    missing = subprocess.run([*cmd[:-3], "default/nope", "--kubeconfig", c.sim.kubeconfig], capture_output=True,
                             text=True, timeout=60)
    assert missing.returncode == 1
    assert missing.stderr == 'kubescale hpa explain: horizontalpodautoscalers.autoscaling "nope" not found\n'


def test_two_replicas_never_both_act_and_the_standby_takes_over(cluster: Cluster) -> None:
    c = cluster
    index, holder = wait_for("one leader", lambda: _leader(c), timeout=20)
    standby = c.controllers[1 - index]
    wait_for("the leader syncs", lambda: c.controllers[index].metric(
        "horizontal_pod_autoscaler_controller_reconciliations_total") > 0, timeout=20)
    assert standby.metric("horizontal_pod_autoscaler_controller_reconciliations_total") == 0
    c.controllers[index].stop()
    assert c.controllers[index].proc.returncode == 0
    new_index, new_holder = wait_for("the standby leads", lambda: (r := _leader(c)) is not None and r[0] != index
                                     and r, timeout=20)
    assert new_holder != holder and new_index == 1 - index
    wait_for("the new leader syncs", lambda: standby.metric(
        "horizontal_pod_autoscaler_controller_reconciliations_total") > 0, timeout=20)
