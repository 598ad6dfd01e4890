"""The whole simulated cluster as `kubescale sim --scenario` runs it: nodes from the cloud, workloads
scheduled and running on kubelets that serve real metrics, the control API for node groups, faults and
node logs."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import Sim, start_sim, stop_sim, wait_for

SCENARIO = """
name: tiny
seed: 7
settings:
  kubeletStartDelay: 0.2s
  podReadyDelay: 0.2s
nodeGroups:
  - name: pool
    minSize: 1
    maxSize: 4
    size: 1
    provisioningDelay: 1s
    instance:
      capacity: {cpu: "2", memory: 8Gi, pods: "110"}
workloads:
  - name: web
    replicas: 3
    containers:
      - name: web
        requests: {cpu: 800m, memory: 128Mi}
        limits: {cpu: "1", memory: 256Mi}
    load:
      curve: 0.9
  - name: api
    replicas: 2
    containers:
      - name: api
        requests: {cpu: 50m, memory: 64Mi}
        limits: {cpu: "1", memory: 128Mi}
    load:
      curve: 0.4
"""


def control(sim: Sim, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    req = urllib.request.Request(f"{sim.url}/kubesim/v1/{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    d = tmp_path_factory.mktemp("cluster")
    (d / "tiny.yaml").write_text(SCENARIO)
    s = start_sim(d, ["--scenario", str(d / "tiny.yaml")], layers=True)
    yield s
    stop_sim(s)


def pods(sim: Sim) -> list[dict]:
    return sim.kubectl_json("get", "pods", "-l", "app=web")["items"]


def test_workload_runs_and_overflow_waits_for_a_node(cluster: Sim) -> None:
    # 3 x 800m on one 2-CPU node: two run, the third is Unschedulable
    def settled() -> Any:
        ps = pods(cluster)
        running = [p for p in ps if p["status"].get("phase") == "Running"]
        pending = [p for p in ps if p["status"].get("phase") == "Pending"
                   and any(c.get("reason") == "Unschedulable" for c in p["status"].get("conditions", []))]
        return (running, pending) if len(running) == 2 and len(pending) == 1 else None

    _running, pending = wait_for("2 running, 1 unschedulable", settled)
    msg = next(c["message"] for c in pending[0]["status"]["conditions"] if c["type"] == "PodScheduled")
    assert msg.startswith("0/1 nodes are available: 1 Insufficient cpu.")
    status, group = control(cluster, "POST", "nodegroups/pool/increase", {"delta": 1})
    assert status == 200 and group["targetSize"] == 2
    wait_for("a second node", lambda: len(cluster.kubectl_json("get", "nodes")["items"]) == 2)
    wait_for("all 3 running", lambda: sum(p["status"].get("phase") == "Running" for p in pods(cluster)) == 3)
    dep = cluster.kubectl_json("get", "deployment", "web")
    wait_for("deployment available", lambda: cluster.kubectl_json("get", "deployment", "web")["status"].get(
        "availableReplicas") == 3)
    assert dep["spec"]["replicas"] == 3


def _scrape(url: str, ca: str | None) -> str:
    ctx = ssl.create_default_context(cafile=ca) if ca else None
    with urllib.request.urlopen(url, timeout=10, context=ctx) as r:
        return r.read().decode()


def test_kubelet_serves_metrics_that_follow_the_load(cluster: Sim) -> None:
    wait_for("all 3 running", lambda: sum(p["status"].get("phase") == "Running" for p in pods(cluster)) == 3,
             timeout=60)
    pod = next(p for p in pods(cluster) if p["status"].get("phase") == "Running")
    node = cluster.kubectl_json("get", "node", pod["spec"]["nodeName"])
    ip = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
    port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    ca = str(Path(cluster.kubeconfig).parent / "pki" / "kubelet-ca.crt")
    url = f"https://{ip}:{port}/metrics/resource"

    def cpu() -> tuple[float, float]:
        for fam in text_string_to_metric_families(_scrape(url, ca)):
            for s in fam.samples:
                if s.name == "container_cpu_usage_seconds_total" and s.labels["pod"] == pod["metadata"]["name"]:
                    return s.value, s.timestamp
        raise AssertionError("no sample for the pod")

    time.sleep(2)  # let every replica be Ready so the demand is split three ways
    v1, t1 = cpu()
    # like cAdvisor, a kubelet refreshes its samples every housekeeping interval (10 s), each with its own time
    v2, t2 = wait_for("a fresh sample", lambda: (s := cpu())[1] != t1 and s, timeout=30)
    rate = (v2 - v1) / (t2 - t1)  # the parser gives sample timestamps in seconds
    assert rate == pytest.approx(0.9 / 3, rel=0.05)


def test_control_api_faults_and_node_logs(cluster: Sim) -> None:
    node = cluster.kubectl_json("get", "nodes")["items"][0]
    name = node["metadata"]["name"]
    ip = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
    port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    ca = str(Path(cluster.kubeconfig).parent / "pki" / "kubelet-ca.crt")
    status, _ = control(cluster, "POST", f"nodes/{name}/faults", {"kind": "http500"})
    assert status == 201
    with pytest.raises(urllib.error.HTTPError) as e:
        _scrape(f"https://{ip}:{port}/metrics/resource", ca)
    assert e.value.code == 500
    assert control(cluster, "DELETE", f"nodes/{name}/faults")[0] == 200
    assert "node_cpu_usage_seconds_total" in _scrape(f"https://{ip}:{port}/metrics/resource", ca)
    status, logged = control(cluster, "POST", f"nodes/{name}/log", {"problem": "oom_kill"})
    assert status == 201 and Path(logged["file"]).read_text().count("Killed process") >= 1
    status, body = control(cluster, "POST", "nodes/ghost/faults", {"kind": "http500"})
    assert status == 404 and body["kind"] == "Status"
    status, body = control(cluster, "POST", f"nodes/{name}/faults", {"kind": "meltdown"})
    assert status == 400 and "unknown kubelet fault 'meltdown'" in body["message"]
    status, body = control(cluster, "PATCH", "nodegroups/pool", {"targetSize": 99})
    assert status == 422 and "outside [1, 4]" in body["message"]


def test_api_faults_are_seen_by_clients(cluster: Sim) -> None:
    assert control(cluster, "PUT", "apifaults", {"writeConflictRate": 1.0})[0] == 200
    try:
        out = cluster.kubectl("create", "configmap", "under-fault", check=False)
        assert out.returncode != 0 and "the object has been modified" in out.stderr
    finally:
        control(cluster, "PUT", "apifaults", {"writeConflictRate": 0.0})
    cluster.kubectl("create", "configmap", "under-fault")


def test_prometheus_scrapes_kubelets_and_rates_follow_the_load(cluster: Sim, tmp_path: Path) -> None:
    """Debian's Prometheus has no Kubernetes discovery (see test_prometheus_sd), so its targets are listed
    statically here; what is checked is that real Prometheus scrapes the kubelets' /metrics/app and
    /metrics/cadvisor over HTTPS and that rate() of the app counter is the load model's request rate."""
    import subprocess

    import yaml

    from tests.integration.test_prometheus_sd import PROMETHEUS, free_port

    wait_for("pods running", lambda: sum(p["status"].get("phase") == "Running" for p in pods(cluster)) >= 2,
             timeout=60)
    targets = []
    for node in cluster.kubectl_json("get", "nodes")["items"]:
        ip = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
        targets.append(f"{ip}:{node['status']['daemonEndpoints']['kubeletEndpoint']['Port']}")
    tls = {"ca_file": str(Path(cluster.kubeconfig).parent / "pki" / "kubelet-ca.crt")}
    cfg = {"global": {"scrape_interval": "1s"}, "scrape_configs": [
        {"job_name": "app", "scheme": "https", "metrics_path": "/metrics/app", "tls_config": tls,
         "static_configs": [{"targets": targets}]},
        {"job_name": "cadvisor", "scheme": "https", "metrics_path": "/metrics/cadvisor", "tls_config": tls,
         "static_configs": [{"targets": targets}]},
    ]}
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(cfg))
    port = free_port()
    with open(tmp_path / "prometheus.log", "w") as log:
        proc = subprocess.Popen([PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
                                 f"--web.listen-address=127.0.0.1:{port}",
                                 f"--storage.tsdb.path={tmp_path / 'data'}"], stdout=log, stderr=log)
    try:
        def query(q: str) -> list[dict]:
            url = f"http://127.0.0.1:{port}/api/v1/query?query={urllib.request.quote(q)}"
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    return json.loads(r.read())["data"]["result"]
            except OSError:
                return []

        # 0.9 cores of demand at the default 0.01 CPU-seconds per request: 90 requests/s over its Ready pods
        def rate() -> float:
            result = query('sum(rate(http_requests_total{namespace="default"}[30s]))')
            return float(result[0]["value"][1]) if result else 0.0

        # once the 30 s window holds a few samples, the rate settles at the model's
        wait_for("the request rate", lambda: abs(rate() - 90.0) < 9.0, timeout=75)
        cadvisor = wait_for("cadvisor series", lambda: query('container_cpu_usage_seconds_total{container="web"}'))
        assert {"namespace", "pod", "container", "id", "image", "name"} <= set(cadvisor[0]["metric"])
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _pod_cpu_rates(sim: Sim, app: str) -> dict[str, float]:
    """Each Running pod's CPU rate from two kubelet samples (kubelets refresh them every 10 s)."""
    ca = str(Path(sim.kubeconfig).parent / "pki" / "kubelet-ca.crt")
    urls = set()
    names = set()
    for p in sim.kubectl_json("get", "pods", "-l", f"app={app}")["items"]:
        if p["status"].get("phase") != "Running":
            continue
        names.add(p["metadata"]["name"])
        node = sim.kubectl_json("get", "node", p["spec"]["nodeName"])
        ip = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
        urls.add(f"https://{ip}:{node['status']['daemonEndpoints']['kubeletEndpoint']['Port']}/metrics/resource")

    def sample() -> dict[str, tuple[float, float]]:
        out = {}
        for url in urls:
            for fam in text_string_to_metric_families(_scrape(url, ca)):
                for smp in fam.samples:
                    if smp.name == "container_cpu_usage_seconds_total" and smp.labels["pod"] in names:
                        out[smp.labels["pod"]] = (smp.value, smp.timestamp)
        return out

    first = sample()
    second = wait_for("fresh samples", lambda: (s := sample()) and all(
        s[n][1] != first[n][1] for n in first) and s, timeout=40)
    return {n: (second[n][0] - first[n][0]) / (second[n][1] - first[n][1]) for n in first}


def test_closed_loop_more_replicas_less_cpu_each(cluster: Sim) -> None:
    """The same demand over twice the replicas: each pod's CPU halves (what lets an HPA settle)."""
    ready = lambda n: lambda: cluster.kubectl_json("get", "deployment", "api")["status"].get("readyReplicas") == n  # noqa: E731
    wait_for("2 api replicas ready", ready(2), timeout=60)
    time.sleep(1.5)
    before = _pod_cpu_rates(cluster, "api")
    assert len(before) == 2 and all(r == pytest.approx(0.2, rel=0.05) for r in before.values())
    cluster.kubectl("scale", "deployment", "api", "--replicas=4")
    wait_for("4 api replicas ready", ready(4), timeout=60)
    time.sleep(11)  # past one kubelet housekeeping period, so no sample spans the change
    after = _pod_cpu_rates(cluster, "api")
    assert len(after) == 4 and all(r == pytest.approx(0.1, rel=0.05) for r in after.values())


def test_stockout_is_visible_and_adds_no_node(cluster: Sim) -> None:
    nodes_before = len(cluster.kubectl_json("get", "nodes")["items"])
    assert control(cluster, "PATCH", "nodegroups/pool", {"stockout": True})[0] == 200
    try:
        status, group = control(cluster, "POST", "nodegroups/pool/increase", {"delta": 1})
        assert status == 200
        assert [i["error"] for i in group["instances"] if i["error"]] == ["OutOfResources"]
        time.sleep(2)
        assert len(cluster.kubectl_json("get", "nodes")["items"]) == nodes_before
    finally:
        control(cluster, "PATCH", "nodegroups/pool", {"stockout": False})


def test_dropped_watch_ends_the_stream(cluster: Sim) -> None:
    import threading

    from kubernetes import client, config, watch

    core = client.CoreV1Api(config.new_client_from_config(config_file=cluster.kubeconfig))
    ended = threading.Event()

    def follow() -> None:
        for _ in watch.Watch().stream(core.list_namespaced_config_map, "default", timeout_seconds=60):
            pass
        ended.set()

    t = threading.Thread(target=follow, daemon=True)
    t.start()
    time.sleep(1.0)
    status, body = control(cluster, "POST", "watches/drop")
    assert status == 200 and body["dropped"] >= 1
    assert ended.wait(10), "the watch stream did not end"


def test_uniform_cluster_from_flags(tmp_path: Path) -> None:
    s = start_sim(tmp_path, ["--nodes", "3", "--pods-per-node", "4"], layers=True)
    try:
        wait_for("3 Ready nodes", lambda: sum(
            any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])
            for n in s.kubectl_json("get", "nodes")["items"]) == 3)
        wait_for("12 running pods", lambda: sum(
            p["status"].get("phase") == "Running" for p in s.kubectl_json("get", "pods", "-A")["items"]) == 12)
    finally:
        stop_sim(s)
