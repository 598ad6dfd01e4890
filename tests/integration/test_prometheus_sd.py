"""Debian's real Prometheus discovers kubesim's nodes and pods through `kubernetes_sd_configs`."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import Sim

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def kubernetes_sd_support(tmp_path: Path) -> str | None:
    """None when this Prometheus build has kubernetes_sd_configs, else promtool's complaint.

    Debian bookworm's prometheus 2.42 package is built without the Kubernetes discovery plugin
    ("field kubernetes_sd_configs not found in type config.ScrapeConfig"), so on such a machine this test
    can say why it cannot run rather than pass vacuously.
    """
    probe = tmp_path / "probe.yml"
    probe.write_text(yaml.safe_dump({"scrape_configs": [{"job_name": "probe", "kubernetes_sd_configs": [
        {"role": "node", "api_server": "http://127.0.0.1:1"}]}]}))
    out = subprocess.run([PROMTOOL, "check", "config", str(probe)], capture_output=True, text=True, timeout=30)
    return None if out.returncode == 0 else (out.stdout + out.stderr).strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def prometheus(sim: Sim, tmp_path: Path) -> Iterator[str]:
    if not Path(PROMETHEUS).exists():
        pytest.fail("prometheus is not installed: `make venv` installs Debian's package")
    missing = kubernetes_sd_support(tmp_path)
    if missing is not None:
        pytest.skip(f"this Prometheus build has no Kubernetes service discovery: {missing}")
    cfg = {
        "global": {"scrape_interval": "5s"},
        "scrape_configs": [
            {"job_name": "nodes", "kubernetes_sd_configs": [{"role": "node", "kubeconfig_file": sim.kubeconfig}]},
            {"job_name": "pods", "kubernetes_sd_configs": [{"role": "pod", "kubeconfig_file": sim.kubeconfig}]},
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(cfg))
    port = free_port()
    log = open(tmp_path / "prometheus.log", "w")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--web.listen-address=127.0.0.1:{port}", f"--storage.tsdb.path={tmp_path / 'data'}"],
                            stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/-/ready", timeout=1).read()
                break
            except OSError:
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def active_targets(url: str) -> list[dict]:
    with urllib.request.urlopen(f"{url}/api/v1/targets", timeout=5) as r:
        return json.loads(r.read())["data"]["activeTargets"]


def node_manifest(name: str, ip: str) -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}}


def test_prometheus_discovers_nodes_and_pods(sim: Sim, prometheus: str) -> None:
    for i in range(3):
        sim.kubectl("apply", "-f", "-", input=json.dumps(node_manifest(f"sd-node-{i}", f"127.0.1.{i + 1}")))
    for i in range(4):
        sim.kubectl("run", f"sd-pod-{i}", "--image=busybox", "--port=8080", "--labels=app=sd")
        sim.kubectl("patch", "pod", f"sd-pod-{i}", "--subresource=status", "--type=merge",
                    "-p", json.dumps({"status": {"phase": "Running", "podIP": f"10.0.0.{i + 1}"}}))
    deadline = time.monotonic() + 60
    nodes: set[str] = set()
    pods: set[str] = set()
    while time.monotonic() < deadline:
        targets = active_targets(prometheus)
        nodes = {t["discoveredLabels"].get("__meta_kubernetes_node_name", "") for t in targets
                 if t["labels"].get("job") == "nodes"}
        pods = {t["discoveredLabels"].get("__meta_kubernetes_pod_name", "") for t in targets
                if t["labels"].get("job") == "pods"}
        if {f"sd-node-{i}" for i in range(3)} <= nodes and {f"sd-pod-{i}" for i in range(4)} <= pods:
            break
        time.sleep(1)
    assert {f"sd-node-{i}" for i in range(3)} <= nodes
    assert {f"sd-pod-{i}" for i in range(4)} <= pods
    by_pod = {t["discoveredLabels"]["__meta_kubernetes_pod_name"]: t for t in active_targets(prometheus)
              if t["labels"].get("job") == "pods"}
    assert by_pod["sd-pod-0"]["discoveredLabels"]["__address__"] == "10.0.0.1:8080"
    assert by_pod["sd-pod-0"]["discoveredLabels"]["__meta_kubernetes_pod_label_app"] == "sd"
    # a node added later shows up through the watch, not only the initial list
    sim.kubectl("apply", "-f", "-", input=json.dumps(node_manifest("sd-node-late", "127.0.1.9")))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        late = [t for t in active_targets(prometheus)
                if t["discoveredLabels"].get("__meta_kubernetes_node_name") == "sd-node-late"]
        if late:
            assert late[0]["discoveredLabels"]["__address__"] == "127.0.1.9:10250"
            break
        time.sleep(1)
    else:
        pytest.fail("the late node was not discovered")
