"""Simulated kubelets against an in-process kubesim, scraped over real HTTP(S) on their loopback addresses:
resource metrics parsed with prometheus_client (monotonic counters at the configured rate, labels,
timestamps, reset on container restart), TLS verified with the kubelet CA, every fault seen by a client
while the server keeps serving, pods through Pending -> Running -> Ready and termination, heartbeats,
NotReady and back through the node lifecycle controller, NoExecute eviction."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kubesim.app import KubeSim, SimConfig
from kubesim.sim import kubeletstatus as ks
from kubesim.sim.kubelets import ConstantUsage, KubeletConfig, Kubelets
from kubesim.sim.nodelifecycle import NodeLifecycle
from kubesim.sim.nodelogs import NodeLogs

CPU = 0.25  # cores each container uses
CAPACITY = {"cpu": "4", "memory": "8Gi", "pods": "110"}


@dataclass
class Cluster:
    sim: KubeSim
    kubelets: Kubelets
    http: aiohttp.ClientSession
    ssl: ssl.SSLContext | bool

    @property
    def api(self) -> Any:
        return self.sim.api

    def rt(self, group: str, resource: str) -> Any:
        return self.api.registry.get(group, resource)

    def pod(self, name: str, ns: str = "default") -> dict[str, Any] | None:
        entry = self.api.store.get("/pods", ns, name)
        return None if entry is None else entry.obj

    def create_pod(self, name: str, node: str, **spec: Any) -> dict[str, Any]:
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **spec.pop("metadata", {})},
                "spec": {"nodeName": node, "containers": [
                    {"name": "app", "image": "nginx", "resources": {"requests": {"cpu": "100m"},
                                                                    "limits": {"cpu": "1", "memory": "128Mi"}}}],
                         **spec}}
        return self.api.create(self.rt("", "pods"), "default", body)

    async def get(self, node: str, path: str, **kw: Any) -> tuple[int, str]:
        async with self.http.get(self.kubelets.url(node) + path, ssl=self.ssl, **kw) as resp:
            return resp.status, (await resp.read()).decode(errors="replace")

    async def scrape(self, node: str) -> dict[str, Any]:
        status, text = await self.get(node, "/metrics/resource")
        assert status == 200, text
        return {f.name: f for f in text_string_to_metric_families(text)}


@contextlib.asynccontextmanager
async def cluster(tmp_path: Path, *, http: bool = True, authenticate: Callable[[str | None], bool] | None = None,
                  **config: Any) -> AsyncIterator[Cluster]:
    sim = KubeSim(SimConfig(kubeconfig_out=str(tmp_path / "kubeconfig")))
    await sim.start()
    cfg = KubeletConfig(http=http, port=0, pki_dir=str(tmp_path / "pki"), start_delay_s=0.3, housekeeping_s=0,
                        heartbeat_s=0.3, status_report_s=0.6, **config)
    kubelets = Kubelets(sim.api, ConstantUsage(cpu_cores=CPU, app_rates={"http_requests_total": 20.0}), cfg,
                        node_logs=NodeLogs(tmp_path / "nodes"), authenticate=authenticate)
    await kubelets.start()
    ctx: ssl.SSLContext | bool = False if http else ssl.create_default_context(cafile=kubelets.ca_file)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        try:
            for name in ("node-1", "node-2"):
                await kubelets.register_node(name, capacity=CAPACITY, labels={"pool": "default"})
            yield Cluster(sim, kubelets, session, ctx)
        finally:
            await kubelets.stop()
            await sim.stop()


async def until(check: Callable[[], Any], *, timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _condition(obj: dict[str, Any] | None, typ: str) -> str | None:
    for c in ((obj or {}).get("status") or {}).get("conditions") or ():
        if c["type"] == typ:
            return c["status"]
    return None


def running(c: Cluster, name: str) -> bool:
    pod = c.pod(name)
    return bool(pod and pod["status"].get("phase") == "Running" and _condition(pod, "Ready") == "True")


def _sample(fams: dict[str, Any], family: str, **labels: str) -> Any:
    [s] = [s for s in fams[family].samples if all(s.labels.get(k) == v for k, v in labels.items())]
    return s


async def test_nodes_register_with_addresses_ports_and_lease(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        nodes = {e.obj["metadata"]["name"]: e.obj for e in c.api.list(c.rt("", "nodes"), None).entries}
        assert set(nodes) == {"node-1", "node-2"}
        for name, node in nodes.items():
            k = c.kubelets.kubelet(name)
            assert node["status"]["addresses"] == [{"type": "InternalIP", "address": k.address},
                                                   {"type": "Hostname", "address": name}]
            assert node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] == k.port
            assert k.address.startswith("127.") and not k.address.startswith("127.0.")
            assert _condition(node, "Ready") == "True"
            assert (tmp_path / "nodes" / name / "kern.log").exists()
        assert await c.get("node-1", "/healthz") == (200, "ok")
        lease = c.api.get(c.rt("coordination.k8s.io", "leases"), "kube-node-lease", "node-1").obj
        assert lease["spec"]["holderIdentity"] == "node-1" and lease["spec"]["leaseDurationSeconds"] == 40
        first = ks.parse_time(lease["spec"]["renewTime"])
        renewed = await until(lambda: ks.parse_time(c.api.get(c.rt("coordination.k8s.io", "leases"), "kube-node-lease",
                                                               "node-1").obj["spec"]["renewTime"]) > first,  # type: ignore[operator]
                              what="lease renewal")
        assert renewed


async def test_pod_lifecycle_and_resource_metrics(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        c.create_pod("web", "node-1")
        pending = await until(lambda: (c.pod("web") or {}).get("status", {}).get("hostIP") and c.pod("web"),
                              what="pending status")
        assert pending["status"]["phase"] == "Pending"
        assert pending["status"]["containerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}
        await until(lambda: running(c, "web"), what="Running and Ready")
        pod = c.pod("web")
        assert pod is not None
        k = c.kubelets.kubelet("node-1")
        assert pod["status"]["hostIP"] == k.address and pod["status"]["podIP"].startswith("10.128.0.")
        assert [_condition(pod, t) for t in ("PodReadyToStartContainers", "Initialized", "ContainersReady",
                                             "PodScheduled")] == ["True"] * 4
        [cs] = pod["status"]["containerStatuses"]
        assert cs["ready"] and cs["started"] and cs["containerID"].startswith("containerd://")

        first = await c.scrape("node-1")
        await asyncio.sleep(1.0)
        second = await c.scrape("node-1")
        labels = {"container": "app", "namespace": "default", "pod": "web"}
        a, b = (_sample(f, "container_cpu_usage_seconds", **labels) for f in (first, second))
        assert set(a.labels) == set(labels)
        assert b.value > a.value > 0
        assert abs(time.time() - b.timestamp) < 5 and b.timestamp > a.timestamp
        assert (b.value - a.value) / (b.timestamp - a.timestamp) == pytest.approx(CPU, rel=0.05)
        pa, pb = (_sample(f, "pod_cpu_usage_seconds", namespace="default", pod="web") for f in (first, second))
        assert (pb.value - pa.value) / (pb.timestamp - pa.timestamp) == pytest.approx(CPU, rel=0.05)
        na, nb = (f["node_cpu_usage_seconds"].samples[0] for f in (first, second))
        assert nb.value > na.value and na.timestamp is not None
        assert _sample(second, "container_memory_working_set_bytes", **labels).value == 64 * 1024 * 1024
        start = _sample(second, "container_start_time_seconds", **labels)
        assert start.timestamp is None and start.value <= a.timestamp
        assert second["resource_scrape_error"].samples[0].value == 0
        assert not any(s.labels.get("pod") == "web" for f in (await c.scrape("node-2")).values() for s in f.samples)

        # a container restart: new start time, counter from zero, restartCount in the status
        c.kubelets.restart_container("default", "web", "app")
        after = await c.scrape("node-1")
        r = _sample(after, "container_cpu_usage_seconds", **labels)
        assert r.value < b.value and _sample(after, "container_start_time_seconds", **labels).value > start.value
        assert _sample(after, "pod_cpu_usage_seconds", namespace="default", pod="web").value >= pb.value
        [cs] = c.pod("web")["status"]["containerStatuses"]  # type: ignore[index]
        assert cs["restartCount"] == 1 and cs["lastState"]["terminated"]["reason"] == "Error"

        # the other endpoints
        _status, app = await c.get("node-1", "/metrics/app")
        fams = {f.name: f for f in text_string_to_metric_families(app)}
        assert _sample(fams, "http_requests", namespace="default", pod="web").value > 0
        _status, cadvisor = await c.get("node-1", "/metrics/cadvisor")
        cfams = {f.name: f for f in text_string_to_metric_families(cadvisor)}
        s = _sample(cfams, "container_cpu_usage_seconds", container="app", pod="web")
        assert s.labels["cpu"] == "total" and s.labels["image"] == "docker.io/library/nginx:latest"
        _status, body = await c.get("node-1", "/stats/summary")
        summary = json.loads(body)
        assert summary["node"]["nodeName"] == "node-1"
        assert [p["podRef"]["name"] for p in summary["pods"]] == ["web"]

        # deletion: gone from the API and from the metrics
        c.api.delete(c.rt("", "pods"), "default", "web")
        await until(lambda: not k.pods, what="kubelet forgets the pod")
        assert "container_cpu_usage_seconds" not in await c.scrape("node-1")


async def test_graceful_termination_then_removal(tmp_path: Path) -> None:
    async with cluster(tmp_path, termination_cap_s=0.5) as c:
        c.create_pod("held", "node-2", metadata={"finalizers": ["example.com/hold"]})
        await until(lambda: running(c, "held"), what="Running")
        c.api.delete(c.rt("", "pods"), "default", "held")  # a finalizer keeps it: deletionTimestamp is set
        assert c.pod("held")["metadata"]["deletionTimestamp"]  # type: ignore[index]
        done = await until(lambda: (p := c.pod("held")) and p["status"].get("phase") == "Succeeded" and p,
                           what="containers terminated")
        [cs] = done["status"]["containerStatuses"]
        assert cs["state"]["terminated"]["reason"] == "Completed" and not cs["ready"]
        assert _condition(done, "Ready") == "False"


async def test_https_verified_with_the_kubelet_ca(tmp_path: Path) -> None:
    async with cluster(tmp_path, http=False) as c:
        c.create_pod("web", "node-2")
        await until(lambda: running(c, "web"), what="Running")
        first = await c.scrape("node-2")
        await asyncio.sleep(0.5)
        second = await c.scrape("node-2")
        a, b = (_sample(f, "container_cpu_usage_seconds", pod="web") for f in (first, second))
        assert (b.value - a.value) / (b.timestamp - a.timestamp) == pytest.approx(CPU, rel=0.05)
        assert c.kubelets.url("node-2").startswith("https://")
        untrusted = ssl.create_default_context()
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await c.http.get(c.kubelets.url("node-2") + "/healthz", ssl=untrusted)


async def test_each_fault_is_seen_by_a_client_and_the_server_keeps_serving(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        c.create_pod("web", "node-1")
        await until(lambda: running(c, "web"), what="Running")
        before = _sample(await c.scrape("node-1"), "container_cpu_usage_seconds", pod="web").value

        c.kubelets.set_fault("node-1", "timeout")
        with pytest.raises(asyncio.TimeoutError):
            await c.get("node-1", "/metrics/resource", timeout=aiohttp.ClientTimeout(total=0.5))
        c.kubelets.clear_fault("node-1")

        c.kubelets.set_fault("node-1", "slow", delay_s=0.4)
        t0 = time.monotonic()
        assert (await c.get("node-1", "/healthz"))[0] == 200 and time.monotonic() - t0 >= 0.4
        c.kubelets.clear_fault("node-1", "slow")

        c.kubelets.set_fault("node-1", "http500")
        assert (await c.get("node-1", "/metrics/resource"))[0] == 500
        c.kubelets.clear_fault("node-1")

        c.kubelets.set_fault("node-1", "reset")
        with pytest.raises(aiohttp.ClientError):
            await c.get("node-1", "/metrics/resource")
        c.kubelets.clear_fault("node-1")

        for kind, params in (("garbage", {}), ("truncated", {}), ("truncated", {"fraction": 0.9})):
            c.kubelets.set_fault("node-1", kind, **params)
            status, text = await c.get("node-1", "/metrics/resource")
            assert status == 200
            with pytest.raises(ValueError):  # prometheus_client's parse errors are bare ValueErrors
                list(text_string_to_metric_families(text))
            c.kubelets.clear_fault("node-1")

        c.kubelets.set_fault("node-1", "truncated", mode="connection")
        with pytest.raises(aiohttp.ClientPayloadError):
            await c.get("node-1", "/metrics/resource")
        c.kubelets.clear_fault("node-1")

        last = _sample(await c.scrape("node-1"), "container_cpu_usage_seconds", pod="web").value
        c.kubelets.set_fault("node-1", "counter_backwards", factor=0.5)
        backwards = _sample(await c.scrape("node-1"), "container_cpu_usage_seconds", pod="web")
        assert backwards.value < last and _sample(await c.scrape("node-1"), "container_start_time_seconds",
                                                  pod="web").value < backwards.timestamp  # no restart explains it
        c.kubelets.clear_fault("node-1")

        with pytest.raises(ValueError, match="known: counter_backwards"):
            c.kubelets.set_fault("node-1", "meltdown")
        with pytest.raises(ValueError, match="takes"):
            c.kubelets.set_fault("node-1", "slow", seconds=1)

        # nothing lingers: the same kubelet answers normally, its neighbour never noticed
        assert _sample(await c.scrape("node-1"), "container_cpu_usage_seconds", pod="web").value > before
        assert await c.get("node-2", "/healthz") == (200, "ok")


async def test_notready_node_goes_unknown_and_comes_back(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        lifecycle = NodeLifecycle(c.api, grace_period_s=1.0, monitor_period_s=0.1)
        await lifecycle.start()
        try:
            # a Node created by someone else (no kubelet, no Lease) is left alone
            c.api.create(c.rt("", "nodes"), "", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "outside"},
                                                  "status": {"capacity": CAPACITY}})
            c.kubelets.set_fault("node-1", "notready")
            node = await until(lambda: (n := c.api.get(c.rt("", "nodes"), "", "node-1").obj)
                               and _condition(n, "Ready") == "Unknown" and n.get("spec", {}).get("taints") and n,
                               what="Ready Unknown and tainted")
            ready = next(x for x in node["status"]["conditions"] if x["type"] == "Ready")
            assert (ready["reason"], ready["message"]) == ("NodeStatusUnknown", "Kubelet stopped posting node status.")
            assert {(t["key"], t["effect"]) for t in node["spec"]["taints"]} == {
                (ks.UNREACHABLE, "NoSchedule"), (ks.UNREACHABLE, "NoExecute")}
            assert _condition(c.api.get(c.rt("", "nodes"), "", "node-2").obj, "Ready") == "True"
            assert (await c.get("node-1", "/healthz"))[0] == 200  # silent to the API, still serving

            c.kubelets.clear_fault("node-1")
            await until(lambda: (n := c.api.get(c.rt("", "nodes"), "", "node-1").obj)
                        and _condition(n, "Ready") == "True" and not n.get("spec", {}).get("taints"),
                        what="Ready again, taints gone")
            outside = c.api.get(c.rt("", "nodes"), "", "outside").obj
            assert "taints" not in outside.get("spec", {}) and "outside" not in c.kubelets.kubelets

            c.kubelets.set_fault("node-2", "notready", unreachable=True)
            with pytest.raises(aiohttp.ClientError):
                await c.get("node-2", "/healthz")
        finally:
            await lifecycle.stop()


async def test_noexecute_taint_evicts_untolerating_pods(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        c.create_pod("plain", "node-1")
        c.create_pod("tolerant", "node-1", tolerations=[{"key": "dedicated", "operator": "Exists",
                                                          "effect": "NoExecute", "tolerationSeconds": 3}])
        c.create_pod("forever", "node-1", tolerations=[{"key": "dedicated", "operator": "Exists"}])
        for name in ("plain", "tolerant", "forever"):
            await until(lambda name=name: running(c, name), what=f"{name} Running")
        nodes = c.rt("", "nodes")
        entry = c.api.get(nodes, "", "node-1")
        taint = {"key": "dedicated", "value": "x", "effect": "NoExecute"}  # no timeAdded: counts from first seen
        c.api.update(nodes, "", "node-1", {**entry.obj, "spec": {**entry.obj["spec"], "taints": [taint]}})
        await until(lambda: c.pod("plain") is None, timeout=3, what="eviction of the untolerating pod")
        assert c.pod("tolerant") is not None
        await until(lambda: c.pod("tolerant") is None, timeout=6, what="eviction after tolerationSeconds")
        await asyncio.sleep(0.3)
        assert running(c, "forever")


async def test_oom_kill_writes_the_kernel_log_and_restarts(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        c.create_pod("hog", "node-2")
        await until(lambda: running(c, "hog"), what="Running")
        c.kubelets.oom_kill("default", "hog", "app")
        [cs] = c.pod("hog")["status"]["containerStatuses"]  # type: ignore[index]
        terminated = cs["lastState"]["terminated"]
        assert (terminated["reason"], terminated["exitCode"]) == ("OOMKilled", 137)
        assert "Memory cgroup out of memory: Killed process" in (tmp_path / "nodes" / "node-2" / "kern.log").read_text()


async def test_remove_node_stops_its_kubelet(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        c.create_pod("web", "node-2")
        await until(lambda: running(c, "web"), what="Running")
        url = c.kubelets.url("node-2")
        await c.kubelets.remove_node("node-2")
        with pytest.raises(aiohttp.ClientError):
            await c.http.get(url + "/healthz")
        assert c.api.store.get("/nodes", "", "node-2") is None and c.pod("web") is None
        again = await c.kubelets.register_node("node-3", capacity=CAPACITY)
        assert again["status"]["addresses"][0]["address"] == url.split("//")[1].split(":")[0]  # the address is reused

        # someone deletes a simulated node's Node (kubectl delete node): its kubelet stops, its pods are collected
        c.create_pod("orphan", "node-1")
        await until(lambda: running(c, "orphan"), what="Running")
        c.api.delete(c.rt("", "nodes"), "", "node-1")
        await until(lambda: "node-1" not in c.kubelets.kubelets and c.pod("orphan") is None, what="kubelet stopped")


async def test_token_check_when_asked_for(tmp_path: Path) -> None:
    async with cluster(tmp_path, authenticate=lambda token: token == "s3cret") as c:
        assert await c.get("node-1", "/metrics/resource") == (401, "Unauthorized")
        status, _text = await c.get("node-1", "/metrics/resource", headers={"Authorization": "Bearer s3cret"})
        assert status == 200
        assert (await c.get("node-1", "/nope", headers={"Authorization": "Bearer s3cret"}))[0] == 404


async def test_a_running_pod_is_adopted_not_restarted(tmp_path: Path) -> None:
    """As after kubesim restarts from its state file: a pod already Running on a node keeps its containers."""
    async with cluster(tmp_path) as c:
        pods = c.rt("", "pods")
        c.create_pod("survivor", "node-9")  # node-9 has no kubelet yet
        entry = c.api.get(pods, "default", "survivor")
        started = ks.rfc3339(time.time() - 3600)
        status = {**entry.obj["status"], "phase": "Running", "hostIP": "127.9.9.9", "podIP": "10.128.2.7",
                  "startTime": started, "conditions": [{"type": "Ready", "status": "True"}],
                  "containerStatuses": [{"name": "app", "ready": True, "restartCount": 2, "image": "nginx",
                                         "containerID": f"containerd://{'e' * 64}",
                                         "state": {"running": {"startedAt": started}}}]}
        c.api.update(pods, "default", "survivor", {**entry.obj, "status": status}, subresource="status")
        await c.kubelets.register_node("node-9", capacity=CAPACITY)  # the third kubelet: 10.128.2.0/24
        k = c.kubelets.kubelet("node-9")
        pod = await until(lambda: (p := c.pod("survivor")) and p["status"]["hostIP"] == k.address and p,
                          what="adopted")
        [cs] = pod["status"]["containerStatuses"]
        assert (cs["containerID"], cs["restartCount"], pod["status"]["podIP"]) == (
            f"containerd://{'e' * 64}", 2, "10.128.2.7")
        s = _sample(await c.scrape("node-9"), "container_cpu_usage_seconds", pod="survivor")
        assert s.value == pytest.approx(CPU * 3600, rel=0.01)
