"""`kubescale metrics-server` against kubesim as a cluster runs it: HTTPS kubelets verified against their CA,
registered as the v1beta1.metrics.k8s.io APIService behind kubesim's aggregator (front-proxy certificate), read
by the real `kubectl top`; kubelet faults; and a Node that points at a kubelet of the test's own."""

from __future__ import annotations

import json
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kubescale import pki
from kubescale.quantity import milli_value, nano_value
from tests.integration.conftest import Sim, start_sim, stop_sim, wait_for

RESOLUTION_S = 10  # metrics-server's minimum
SCENARIO = """
name: metricsd
seed: 3
settings:
  kubeletStartDelay: 0.2s
  podReadyDelay: 0.2s
nodeGroups:
  - name: pool
    minSize: 6
    maxSize: 6
    size: 6
    provisioningDelay: 0s
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
      - name: sidecar
        requests: {cpu: 10m, memory: 16Mi}
    load:
      curve: 0.4
"""
SYSTEM_CPU_M, SYSTEM_MEMORY = 50, 512 * 1024 * 1024  # what a simulated node's system slice uses (kubesim defaults)


class Metricsd:
    def __init__(self, proc: subprocess.Popen[str], url: str, pki_dir: Path) -> None:
        self.proc, self.url, self.pki = proc, url, pki_dir

    def get(self, path: str) -> str:
        """As kubesim's aggregator asks: the front-proxy certificate and the caller in X-Remote-*."""
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.load_cert_chain(str(self.pki / "front-proxy-client.crt"), str(self.pki / "front-proxy-client.key"))
        req = urllib.request.Request(self.url + path, headers={"X-Remote-User": "test",
                                                               "X-Remote-Group": "system:masters"})
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            return r.read().decode()

    def samples(self, name: str) -> list[tuple[dict[str, str], float]]:
        return [(s.labels, s.value) for fam in text_string_to_metric_families(self.get("/metrics"))
                for s in fam.samples if s.name == name]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sim, Metricsd]]:
    d = tmp_path_factory.mktemp("metricsd")
    (d / "metricsd.yaml").write_text(SCENARIO)
    sim = start_sim(d, ["--tls", "--scenario", str(d / "metricsd.yaml")], layers=True)
    pki_dir = Path(sim.kubeconfig).parent / "pki"
    log = open(d / "metricsd.log", "w")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubescale.cli", "metrics-server", "--kubeconfig", sim.kubeconfig,
         f"--metric-resolution={RESOLUTION_S}s", "--kubelet-request-timeout=3s", "--kubelet-use-node-status-port",
         "--kubelet-preferred-address-types=InternalIP", "--kubelet-certificate-authority",
         str(pki_dir / "kubelet-ca.crt"), "--secure-port=0", "--cert-dir", str(d / "certs"), "--register-apiservice"],
        stdout=subprocess.PIPE, stderr=log, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"metricsd ready: (\S+)", line)
    if not m:
        proc.kill()
        stop_sim(sim)
        raise RuntimeError(f"metricsd did not start: {line!r}\n{(d / 'metricsd.log').read_text()}")
    yield sim, Metricsd(proc, m.group(1), pki_dir)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    stop_sim(sim)


def control(sim: Sim, method: str, path: str, body: Any = None) -> Any:
    ctx = ssl.create_default_context(cafile=str(Path(sim.kubeconfig).parent / "pki" / "ca.crt"))
    pki_dir = Path(sim.kubeconfig).parent / "pki"
    ctx.load_cert_chain(str(pki_dir / "admin.crt"), str(pki_dir / "admin.key"))
    req = urllib.request.Request(f"{sim.url}/kubesim/v1/{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        return json.loads(r.read())


def top_rows(sim: Sim, *args: str) -> list[list[str]]:
    out = sim.kubectl("top", *args, "--no-headers", check=False)
    return [line.split() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def with_metrics(sim: Sim) -> list[str]:
    """The nodes the metrics API has (kubectl top nodes also prints `<unknown>` rows for the others)."""
    out = sim.kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes", check=False)
    return sorted(n["metadata"]["name"] for n in json.loads(out.stdout)["items"]) if out.returncode == 0 else []


def running(sim: Sim) -> list[dict[str, Any]]:
    return [p for p in sim.kubectl_json("get", "pods", "-A")["items"] if p["status"].get("phase") == "Running"]


def test_kubectl_top_matches_the_load_model(cluster: tuple[Sim, Metricsd]) -> None:
    sim, _ = cluster
    wait_for("5 running pods", lambda: len(running(sim)) == 5, timeout=60)
    nodes = [n["metadata"]["name"] for n in sim.kubectl_json("get", "nodes")["items"]]
    # every node and every Running pod, after the store has two points of each
    rows = wait_for("kubectl top pods -A", lambda: (r := top_rows(sim, "pods", "-A")) and len(r) == 5 and r,
                    timeout=4 * RESOLUTION_S)
    node_rows = wait_for("kubectl top nodes", lambda: (r := top_rows(sim, "nodes")) and len(r) == 6 and r,
                         timeout=2 * RESOLUTION_S)
    assert sorted(r[0] for r in node_rows) == sorted(nodes)
    expected_m = {"web": 900 / 3, "api": 400 / 2}
    for ns, name, cpu, _memory in rows:
        assert ns == "default"
        assert int(cpu.rstrip("m")) == pytest.approx(expected_m[name.split("-")[0]], rel=0.05), (name, cpu)
    # the raw API: field by field as metrics-server, and each node = its pods + its system slice
    pod_list = json.loads(sim.kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods").stdout)
    assert pod_list["kind"] == "PodMetricsList" and pod_list["apiVersion"] == "metrics.k8s.io/v1beta1"
    assert pod_list["metadata"] == {}
    api = next(p for p in pod_list["items"] if p["metadata"]["name"].startswith("api-"))
    assert list(api) == ["metadata", "timestamp", "window", "containers"]
    assert list(api["metadata"]) == ["name", "namespace", "creationTimestamp", "labels"]
    assert [c["name"] for c in api["containers"]] == ["api", "sidecar"]
    assert re.fullmatch(r"\d+n", api["containers"][0]["usage"]["cpu"])
    assert re.fullmatch(r"\d+(Ki)?", api["containers"][0]["usage"]["memory"])
    assert re.fullmatch(r"\d+(\.\d+)?s", api["window"])
    usage_by_node: dict[str, list[int]] = {n: [0, 0] for n in nodes}
    by_name = {p["metadata"]["name"]: p for p in running(sim)}
    for p in pod_list["items"]:
        node = by_name[p["metadata"]["name"]]["spec"]["nodeName"]
        for c in p["containers"]:
            usage_by_node[node][0] += nano_value(c["usage"]["cpu"])
            usage_by_node[node][1] += nano_value(c["usage"]["memory"]) // 10**9
    node_list = json.loads(sim.kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes").stdout)
    for item in node_list["items"]:
        name = item["metadata"]["name"]
        assert list(item) == ["metadata", "timestamp", "window", "usage"]
        cpu_m = milli_value(item["usage"]["cpu"])
        assert cpu_m == pytest.approx(SYSTEM_CPU_M + usage_by_node[name][0] / 1e6, rel=0.05), name
        memory = nano_value(item["usage"]["memory"]) // 10**9
        assert memory == pytest.approx(SYSTEM_MEMORY + usage_by_node[name][1], rel=0.05), name
    one = json.loads(sim.kubectl("get", "--raw", f"/apis/metrics.k8s.io/v1beta1/nodes/{nodes[0]}").stdout)
    assert one["kind"] == "NodeMetrics" and one["metadata"]["name"] == nodes[0]
    containers = top_rows(sim, "pod", api["metadata"]["name"], "--containers")
    assert [r[1] for r in containers] == ["api", "sidecar"]
    missing = sim.kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes/nope", check=False)
    assert missing.returncode == 1 and 'NotFound' in missing.stderr and '"nope" not found' in missing.stderr


def test_bad_kubelets_are_absent_and_counted(cluster: tuple[Sim, Metricsd]) -> None:
    sim, ms = cluster
    wait_for("6 nodes with metrics", lambda: len(with_metrics(sim)) == 6, timeout=4 * RESOLUTION_S)
    nodes = sorted(n["metadata"]["name"] for n in sim.kubectl_json("get", "nodes")["items"])
    bad = dict(zip(nodes[:3], ("timeout", "http500", "garbage"), strict=True))
    for node, kind in bad.items():
        control(sim, "POST", f"nodes/{node}/faults", {"kind": kind})
    try:
        served = wait_for("the bad nodes gone", lambda: (r := with_metrics(sim)) and len(r) == 3 and r,
                          timeout=3 * RESOLUTION_S)
        assert served == nodes[3:]  # healthy ones served, bad ones absent (never zero)
        unknown = {r[0] for r in top_rows(sim, "nodes") if r[1] == "<unknown>"}
        assert unknown == set(bad)
        by_name = {p["metadata"]["name"]: p["spec"]["nodeName"] for p in running(sim)}
        for _ns, pod, *_ in top_rows(sim, "pods", "-A"):
            assert by_name[pod] not in bad
        failed = sum(v for labels, v in ms.samples("metrics_server_kubelet_request_total")
                     if labels.get("success") == "false")
        assert failed >= 3
        # every tick, the timed-out kubelet's included, finished within the resolution
        ticks = ms.samples("metrics_server_manager_tick_duration_seconds_bucket")
        within = max(v for labels, v in ticks if labels["le"] != "+Inf" and float(labels["le"]) <= RESOLUTION_S)
        total = next(v for labels, v in ticks if labels["le"] == "+Inf")
        assert within == total > 0
    finally:
        for node in bad:
            control(sim, "DELETE", f"nodes/{node}/faults")
    wait_for("the nodes back", lambda: len(with_metrics(sim)) == 6, timeout=4 * RESOLUTION_S)


# A kubelet's /metrics/resource as recorded (metrics-server's decoder test sample, one pod), replayed with the
# times and counters moving on as a kubelet's would.
RECORDED = """# HELP container_cpu_usage_seconds_total [ALPHA] Cumulative cpu time consumed by the container in core-s
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{{container="metrics-server",namespace="kube-system",pod="recorded-pod"}} {cpu} {ts}
# HELP container_memory_working_set_bytes [ALPHA] Current working set of the container in bytes
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{{container="metrics-server",namespace="kube-system",pod="recorded-pod"}} \
1.6867328e+07 {ts}
# HELP container_start_time_seconds [ALPHA] Start time of the container since unix epoch in seconds
# TYPE container_start_time_seconds gauge
container_start_time_seconds{{container="metrics-server",namespace="kube-system",pod="recorded-pod"}} 1.6181896e+09
# HELP node_cpu_usage_seconds_total [ALPHA] Cumulative cpu time consumed by the node in core-seconds
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total {node_cpu} {ts}
# HELP node_memory_working_set_bytes [ALPHA] Current working set of the node in bytes
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 1.406582784e+09 {ts}
# HELP scrape_error [ALPHA] 1 if there was an error while getting container metrics, 0 otherwise
# TYPE scrape_error gauge
scrape_error 0
"""


def test_a_node_of_our_own_with_a_recorded_kubelet(cluster: tuple[Sim, Metricsd], tmp_path: Path) -> None:
    sim, _ = cluster
    pki_dir = Path(sim.kubeconfig).parent / "pki"
    ca = pki.KeyPair((pki_dir / "kubelet-ca.crt").read_bytes(), (pki_dir / "kubelet-ca.key").read_bytes())
    leaf = pki.issue_cert(ca=ca, common_name="recorded", ip_addresses=["127.0.0.1"])
    pki.write_pair(leaf, cert_path=str(tmp_path / "k.crt"), key_path=str(tmp_path / "k.key"))
    started = time.time()

    class Kubelet(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            now = time.time()
            body = RECORDED.format(cpu=0.25 * (now - started) + 10, node_cpu=1.5 * (now - started) + 1000,
                                   ts=int(now * 1000)).encode()
            self.send_response(200 if self.path == "/metrics/resource" else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Kubelet)
    ctx = pki.server_ssl_context(cert_file=str(tmp_path / "k.crt"), key_file=str(tmp_path / "k.key"))
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "recorded", "labels": {"own": "yes"}}}
        sim.kubectl("create", "-f", "-", input=json.dumps(node))
        status = {"status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                             "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
                             "allocatable": {"cpu": "4", "memory": "8Gi"}, "capacity": {"cpu": "4", "memory": "8Gi"}}}
        sim.kubectl("patch", "node", "recorded", "--subresource=status", "--type=merge", "-p", json.dumps(status))
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "recorded-pod", "namespace": "kube-system", "labels": {"own": "yes"}},
               "spec": {"nodeName": "recorded", "containers": [{"name": "metrics-server", "image": "x"}]}}
        sim.kubectl("create", "-f", "-", input=json.dumps(pod))
        sim.kubectl("patch", "pod", "recorded-pod", "-n", "kube-system", "--subresource=status", "--type=merge",
                    "-p", json.dumps({"status": {"phase": "Running"}}))
        rows = wait_for("the recorded node", lambda: top_rows(sim, "node", "recorded"), timeout=4 * RESOLUTION_S)
        assert rows[0][0] == "recorded" and int(rows[0][1].rstrip("m")) == pytest.approx(1500, rel=0.05)
        assert rows[0][3] == "1341Mi"  # 1406582784 bytes
        pods = wait_for("the recorded pod", lambda: top_rows(sim, "pods", "-n", "kube-system", "-l", "own=yes"),
                        timeout=3 * RESOLUTION_S)
        assert pods[0][0] == "recorded-pod" and int(pods[0][1].rstrip("m")) == pytest.approx(250, rel=0.05)
        raw = json.loads(sim.kubectl("get", "--raw",
                                     "/apis/metrics.k8s.io/v1beta1/namespaces/kube-system/pods/recorded-pod").stdout)
        assert raw["containers"][0]["usage"]["memory"] == "16472Ki"  # 16867328 bytes
        assert raw["metadata"]["labels"] == {"own": "yes"}
    finally:
        server.shutdown()
        sim.kubectl("delete", "pod", "recorded-pod", "-n", "kube-system", "--grace-period=0", "--force",
                    check=False)
        sim.kubectl("delete", "node", "recorded", check=False)
