"""Simulated kubelets, one per simulated node, in kubesim's process: each listens on its own loopback address
(127.1.0.1, 127.1.0.2, ...) at the port its Node advertises, over HTTPS with a certificate from a kubelet CA
(or plain HTTP), and serves /metrics/resource, /metrics/cadvisor, /stats/summary, /metrics/app and /healthz;
it registers its Node, renews its Lease, moves the pods bound to it through Pending -> Running -> Ready,
evicts them for untolerated NoExecute taints, and removes them after a (capped) graceful termination.

Requests are not authenticated (a real kubelet checks bearer tokens and client certificates through the
API server's TokenReview/SubjectAccessReview): any client is accepted unless an `authenticate` callback is
given. Faults (`set_fault`) make one kubelet slow, hang, reset connections, fail, return garbage or
truncated metrics, move counters backwards or stop heartbeating.

The layer owns only the nodes it registered; Nodes created by others are left alone. Talks to the
ApiServer in-process; what it writes is `kubeletstatus`, what it serves `kubeletmetrics` (through
`kubeletserving`); the pods' side is `kubeletpods`.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import resource
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from kubescale import pki, quantity
from kubesim import errors
from kubesim.apiserver import ListQuery
from kubesim.sim import kubeletserving as serving
from kubesim.sim import kubeletstatus as ks
from kubesim.sim.informer import DELETED, Informer
from kubesim.sim.kubeletmetrics import NodeSeries
from kubesim.sim.kubeletpods import PodLifecycle, PodState
from kubesim.sim.kubeletserving import Fault, make_fault
from kubesim.sim.kubeletstats import NodeStats
from kubesim.sim.nodelogs import NodeLogs
from kubesim.sim.usage import ContainerUsage, PodUsage, UsageSource

if TYPE_CHECKING:
    from kubesim.apiserver import ApiServer

log = logging.getLogger("kubesim.kubelets")
Obj = dict[str, Any]


@dataclass(frozen=True)
class KubeletConfig:
    http: bool = False  # plain HTTP (--kubelet-http) instead of HTTPS
    port: int = 10250  # 0: an ephemeral port per kubelet, advertised in its Node
    first_address: int = 0  # index of the first kubelet's loopback address (0 = 127.1.0.1)
    pki_dir: str = ".kubesim/pki"  # where kubelet-ca.crt (for clients) is written
    start_delay_s: float = 1.0  # Pending (ContainerCreating) -> Running
    housekeeping_s: float = 10.0  # cAdvisor: a sample is reused for this long
    heartbeat_s: float = 10.0  # Lease renewal
    status_report_s: float = 300.0  # Node status (lastHeartbeatTime) refresh: nodeStatusReportFrequency
    termination_cap_s: float = 2.0  # at most this long from deletionTimestamp to removal
    pod_cidr: str = "10.128.0.0/9"  # node i gets its i-th /24
    system_cpu_cores: float = 0.05  # what the OS, kubelet and runtime use outside pods
    system_memory_bytes: int = 512 * 1024 * 1024
    swap: bool = True  # serve the *_swap_usage_bytes families (0 bytes, as on a swapless cgroup v2 node)
    kubelet_version: str = ks.KUBELET_VERSION


class ConstantUsage:
    """A UsageSource where every running container uses `cpu_cores` and `memory_bytes`, and every Running pod's
    application counters grow by `app_rates` per second. Counters count from the start the pod's status
    shows (startedAt, pod startTime), so a restart (new startedAt) restarts them. Stateless."""

    def __init__(self, *, cpu_cores: float = 0.1, memory_bytes: int = 64 * 1024 * 1024,
                 app_rates: Mapping[str, float] | None = None) -> None:
        self.cpu_cores, self.memory_bytes = cpu_cores, memory_bytes
        self.app_rates = sorted((app_rates if app_rates is not None else {"http_requests_total": 10.0}).items())

    def pod_usage(self, pod: Obj, now: float) -> PodUsage | None:
        status = pod.get("status") or {}
        if status.get("phase") != "Running":
            return None
        containers = []
        for cs in status.get("containerStatuses") or ():
            started = ks.parse_time(((cs.get("state") or {}).get("running") or {}).get("startedAt"))
            if started is not None:
                containers.append(ContainerUsage(cs["name"], self.cpu_cores * max(0.0, now - started),
                                                 self.memory_bytes, started, int(cs.get("restartCount") or 0)))
        since = ks.parse_time(status.get("startTime")) or now
        return PodUsage(tuple(containers), tuple((n, r * max(0.0, now - since)) for n, r in self.app_rates))


@dataclass(slots=True, eq=False)
class Kubelet:
    """One simulated kubelet (read-only for callers: address, port, name)."""

    name: str
    index: int
    address: str
    port: int
    cidr: str
    stats: NodeStats
    site: web.BaseSite | None = None
    pods: dict[str, PodState] = field(default_factory=dict)  # by uid
    by_name: dict[tuple[str, str], str] = field(default_factory=dict)
    faults: dict[str, Fault] = field(default_factory=dict)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    taints: list[Obj] = field(default_factory=list)  # as the taint manager sees them: NoExecute ones with timeAdded
    raw_taints: list[Obj] = field(default_factory=list)
    last_status: float = 0.0


class Kubelets:
    """The kubelets of the simulated nodes; `register_node` adds one (Node, Lease, server)."""

    def __init__(self, api: ApiServer, usage: UsageSource, config: KubeletConfig = KubeletConfig(), *,
                 clock: Callable[[], float] = time.time, authenticate: Callable[[str | None], bool] | None = None,
                 node_logs: NodeLogs | None = None, ca: pki.KeyPair | None = None) -> None:
        self.api, self.usage, self.config, self.clock = api, usage, config, clock
        self.node_logs = node_logs
        rts = {r: api.registry.get(g, r) for g, r in (("", "nodes"), ("", "pods"),
                                                      ("coordination.k8s.io", "leases"))}
        assert all(rts.values())
        self._nodes_rt, self._pods_rt, self._leases_rt = rts["nodes"], rts["pods"], rts["leases"]  # type: ignore[assignment]
        self.kubelets: dict[str, Kubelet] = {}
        self._by_addr: dict[tuple[str, int], Kubelet] = {}
        self._free_indexes: list[int] = []
        self._next_index = 0
        self._heartbeats: list[tuple[float, str]] = []
        self._pods = PodLifecycle(self, clock=clock)
        self._tasks: list[asyncio.Task[None]] = []
        self._pods_inf = Informer(api, "", "pods")
        self._nodes_inf = Informer(api, "", "nodes")
        self._server = serving.KubeletServer(self, authenticate=authenticate)
        self._tls = None if config.http else serving.KubeletTLS(Path(config.pki_dir), ca=ca)

    @property
    def ca_file(self) -> str | None:
        """The CA that signed the kubelets' serving certificates (None over plain HTTP)."""
        return None if self._tls is None else str(self._tls.ca_file)

    # -- lifecycle -------------------------------------------------------------------------------------------
    async def start(self) -> None:
        _raise_fd_limit()
        if self._tls is not None:
            self._tls.setup()
        await self._server.setup()
        self._pods_inf.handlers.append(self._pods.on_pod)
        self._nodes_inf.handlers.append(self._on_node)
        self._pods_inf.start()
        self._nodes_inf.start()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._pods.run()), loop.create_task(self._heartbeat_loop())]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await self._pods_inf.stop()
        await self._nodes_inf.stop()
        for k in self.kubelets.values():
            k.released.set()
        await self._server.cleanup()

    # -- nodes -----------------------------------------------------------------------------------------------
    async def register_node(self, name: str, *, capacity: Mapping[str, str],
                            allocatable: Mapping[str, str] | None = None,
                            labels: Mapping[str, str] | None = None, taints: list[Obj] | None = None,
                            annotations: Mapping[str, str] | None = None, unschedulable: bool = False,
                            provider_id: str | None = None) -> Obj:
        """Start a kubelet for `name` and register its Node (status included) and Lease; returns the Node."""
        if name in self.kubelets:
            raise ValueError(f"node {name!r} already has a simulated kubelet")
        index = heapq.heappop(self._free_indexes) if self._free_indexes else self._next_index
        self._next_index = max(self._next_index, index + 1)
        address = ks.kubelet_address(self.config.first_address + index)
        try:
            site, port = await self._server.listen(address, self.config.port,
                                                   None if self._tls is None else self._tls.context_for(address))
        except BaseException:
            heapq.heappush(self._free_indexes, index)
            raise
        now = self.clock()
        cidr = ks.pod_cidr(self.config.pod_cidr, index)
        body = ks.node_object(name, address=address, port=port, cidr=cidr, capacity=capacity,
                              allocatable=allocatable, labels=labels, taints=taints, annotations=annotations,
                              unschedulable=unschedulable, provider_id=provider_id, now=now,
                              kubelet_version=self.config.kubelet_version)
        try:
            node = self._create_or_adopt_node(body)
        except BaseException:
            await site.stop()
            heapq.heappush(self._free_indexes, index)
            raise
        info = node["status"]["nodeInfo"]
        series = NodeSeries(name=name, cores=max(1, quantity.cpu_millicores(capacity.get("cpu", "1")) // 1000),
                            memory_capacity_bytes=quantity.bytes_of(capacity.get("memory", "0")),
                            start_time=now, machine_id=info["machineID"], system_uuid=info["systemUUID"],
                            boot_id=info["bootID"])
        k = Kubelet(name, index, address, port, cidr, NodeStats(
            series, housekeeping_s=self.config.housekeeping_s, system_cpu_cores=self.config.system_cpu_cores,
            system_memory_bytes=self.config.system_memory_bytes), site=site,
            last_status=now)
        self._set_taints(k, (node.get("spec") or {}).get("taints") or [], now)
        self.kubelets[name] = k
        self._by_addr[(address, port)] = k
        self._renew_lease(k, now, node_uid=node["metadata"]["uid"])
        heapq.heappush(self._heartbeats, (now + self.config.heartbeat_s * serving.stable_fraction(name), name))
        if self.node_logs is not None:
            self.node_logs.register(name, now=now)
        for e in self.api.list(self._pods_rt, None, ListQuery(field_selector=f"spec.nodeName={name}")).entries:
            self._pods.mark(e.obj)
        return node

    def _create_or_adopt_node(self, body: Obj) -> Obj:
        name = body["metadata"]["name"]
        try:
            return self.api.create(self._nodes_rt, "", body)
        except errors.ApiError as e:
            if e.code != 409:
                raise
        entry = self.api.get(self._nodes_rt, "", name)  # e.g. restored from a state file: take it over
        status = {**entry.obj.get("status", {}), **{k: body["status"][k] for k in ("addresses", "daemonEndpoints")}}
        return self.api._write_update(self._nodes_rt, entry, {**entry.obj, "status": status}, subresource="status",
                                      dry_run=False)

    async def remove_node(self, name: str, *, delete: bool = True) -> None:
        """Stop the node's kubelet (its address stops answering); with `delete`, remove its Node and Lease.
        Once the Node is gone, the pods bound to it go too, as the pod garbage collector deletes the pods of
        deleted nodes. Without `delete` the Node stays (a crashed machine) and so do its pods."""
        k = self.kubelets.pop(name, None)
        if k is None:
            return
        self._by_addr.pop((k.address, k.port), None)
        k.released.set()
        if k.site is not None:
            await k.site.stop()
        heapq.heappush(self._free_indexes, k.index)
        if self.node_logs is not None:
            self.node_logs.forget(name)
        if delete:
            for rt, ns in ((self._leases_rt, ks.LEASE_NAMESPACE), (self._nodes_rt, "")):
                with contextlib.suppress(errors.ApiError):
                    self.api.delete(rt, ns, name)
        if self.api.store.get(self._nodes_rt.storage, "", name) is not None:
            return
        for e in self.api.list(self._pods_rt, None, ListQuery(field_selector=f"spec.nodeName={name}")).entries:
            with contextlib.suppress(errors.ApiError):
                self.api.delete(self._pods_rt, e.obj["metadata"]["namespace"], e.obj["metadata"]["name"],
                                {"gracePeriodSeconds": 0})

    def kubelet(self, node: str) -> Kubelet:
        k = self.kubelets.get(node)
        if k is None:
            raise KeyError(f"no simulated kubelet for node {node!r}; known: {', '.join(sorted(self.kubelets))}")
        return k

    def by_address(self, address: str, port: int) -> Kubelet | None:
        return self._by_addr.get((address, port))

    def url(self, node: str) -> str:
        """The kubelet's base URL, as a client would build it from the Node."""
        k = self.kubelet(node)
        return f"{'http' if self._tls is None else 'https'}://{k.address}:{k.port}"

    # -- faults ----------------------------------------------------------------------------------------------
    def set_fault(self, node: str, kind: str, **params: Any) -> Fault:
        """Inject a fault into one kubelet (see kubeletserving.FAULTS for kinds and parameters)."""
        k = self.kubelet(node)
        fault = make_fault(kind, **params)
        k.faults[kind] = fault
        k.released.clear()
        return fault

    def clear_fault(self, node: str, kind: str | None = None) -> None:
        """Remove one fault (or all); a node that stopped heartbeating posts status and renews at once."""
        k = self.kubelet(node)
        was_silent = "notready" in k.faults
        if kind is None:
            k.faults.clear()
        else:
            k.faults.pop(kind, None)
        if not k.faults:
            k.released.set()
        if was_silent and "notready" not in k.faults:
            now = self.clock()
            self._renew_lease(k, now)
            self._post_status(k, now)

    # -- containers ------------------------------------------------------------------------------------------
    def restart_container(self, namespace: str, pod: str, container: str, *, reason: str = "Error",
                          exit_code: int = 1) -> Obj:
        """The container exits and the kubelet starts it again at once: restartCount + 1, lastState
        terminated, a new containerID and start time; its CPU counter restarts from zero."""
        entry = self.api.get(self._pods_rt, namespace, pod)
        node = (entry.obj.get("spec") or {}).get("nodeName")
        if node not in self.kubelets:
            raise ValueError(f"{namespace}/{pod} is not on a simulated kubelet")
        return self._pods.restart(self.kubelets[node], entry.obj, container, reason=reason, exit_code=exit_code)

    def oom_kill(self, namespace: str, pod: str, container: str) -> Obj:
        """The kernel OOM-kills the container (kern.log lines when node logs are on) and it restarts."""
        entry = self.api.get(self._pods_rt, namespace, pod)
        node = (entry.obj.get("spec") or {}).get("nodeName") or ""
        if self.node_logs is not None and node in self.kubelets:
            self.node_logs.problem(node, "oom_kill", now=self.clock(), process=container,
                                   cgroup=ks.pod_cgroup(entry.obj))
        return self.restart_container(namespace, pod, container, reason="OOMKilled", exit_code=137)

    # -- informer events -------------------------------------------------------------------------------------
    def _on_node(self, typ: str, node: Obj) -> None:
        k = self.kubelets.get(node["metadata"]["name"])
        if k is None:
            return
        if typ == DELETED:  # its machine is gone as far as the cluster knows: the kubelet stops
            log.info("node %s was deleted; stopping its simulated kubelet", k.name)
            self._tasks.append(asyncio.get_running_loop().create_task(self.remove_node(k.name, delete=False)))
            return
        if self._set_taints(k, (node.get("spec") or {}).get("taints") or [], self.clock()):
            for st in list(k.pods.values()):
                pod = self._pods.pod_obj(st)
                if pod is not None:
                    self._pods.mark(pod)

    def _set_taints(self, k: Kubelet, taints: list[Obj], now: float) -> bool:
        """Keep the node's taints; a NoExecute taint without timeAdded counts from when it was first seen."""
        if taints == k.raw_taints:
            return False
        seen = {(t.get("key"), t.get("value"), t.get("effect")): t.get("timeAdded") for t in k.taints}
        k.raw_taints = list(taints)
        k.taints = [t if t.get("effect") != "NoExecute" or t.get("timeAdded") else
                    {**t, "timeAdded": seen.get((t.get("key"), t.get("value"), t.get("effect"))) or ks.rfc3339(now)}
                    for t in taints]
        return True

    # -- heartbeats ------------------------------------------------------------------------------------------
    async def _heartbeat_loop(self) -> None:
        while True:
            now = self.clock()
            while self._heartbeats and self._heartbeats[0][0] <= now:
                _due, name = heapq.heappop(self._heartbeats)
                k = self.kubelets.get(name)
                if k is None:
                    continue
                heapq.heappush(self._heartbeats, (now + self.config.heartbeat_s, name))
                if "notready" in k.faults:
                    continue
                try:
                    self._renew_lease(k, now)
                    if now - k.last_status >= self.config.status_report_s:
                        self._post_status(k, now)
                except errors.ApiError as e:
                    log.info("node %s heartbeat: %s", name, e)
            delay = self._heartbeats[0][0] - self.clock() if self._heartbeats else self.config.heartbeat_s
            await asyncio.sleep(min(max(delay, 0.01), self.config.heartbeat_s))

    def _renew_lease(self, k: Kubelet, now: float, *, node_uid: str | None = None) -> None:
        try:
            entry = self.api.get(self._leases_rt, ks.LEASE_NAMESPACE, k.name)
        except errors.ApiError:
            uid = node_uid or self.api.get(self._nodes_rt, "", k.name).obj["metadata"]["uid"]
            self.api.create(self._leases_rt, ks.LEASE_NAMESPACE, ks.lease_object(k.name, node_uid=uid, now=now))
            return
        spec = {**entry.obj.get("spec", {}), "holderIdentity": k.name, "renewTime": ks.micro_time(now)}
        self.api._write_update(self._leases_rt, entry, {**entry.obj, "spec": spec}, subresource=None, dry_run=False)

    def _post_status(self, k: Kubelet, now: float) -> None:
        entry = self.api.get(self._nodes_rt, "", k.name)
        status = ks.heartbeat_status(entry.obj.get("status") or {}, now)
        self.api._write_update(self._nodes_rt, entry, {**entry.obj, "status": status}, subresource="status",
                               dry_run=False)
        k.last_status = now


def _raise_fd_limit() -> None:
    """Thousands of listening sockets: lift the soft open-files limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard and soft != resource.RLIM_INFINITY:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


__all__ = ["ConstantUsage", "Fault", "Kubelet", "KubeletConfig", "Kubelets", "make_fault"]
