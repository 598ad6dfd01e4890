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
ApiServer in-process; what it writes is `kubeletstatus`, what it serves `kubeletmetrics`.
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
    status_report_s: float = 60.0  # Node status (lastHeartbeatTime) refresh
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
class _Run:
    """One container as the runtime runs it."""

    started: float
    id: str
    ready: bool
    restarts: int = 0
    last_state: Obj | None = None


@dataclass(slots=True, eq=False)
class _Pod:
    uid: str
    namespace: str
    name: str
    host: int  # pod IP = node CIDR + host
    admitted: float
    runs: dict[str, _Run] | None = None  # None until the sandbox is up
    terminating: bool = False
    evict_at: float | None = None  # the taint manager's pending deletion

    @property
    def running(self) -> bool:
        return self.runs is not None


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
    pods: dict[str, _Pod] = field(default_factory=dict)  # by uid
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
        self._dirty: dict[tuple[str, str], Obj | None] = {}
        self._timers: list[tuple[float, int, str, str, str]] = []  # (due, seq, kind, node, uid)
        self._heartbeats: list[tuple[float, str]] = []
        self._seq = 0
        self._wake = asyncio.Event()
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
        self._pods_inf.handlers.append(self._on_pod)
        self._nodes_inf.handlers.append(self._on_node)
        self._pods_inf.start()
        self._nodes_inf.start()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._sync_loop()), loop.create_task(self._heartbeat_loop())]

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
            self._mark(e.obj)
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
        """Stop the node's kubelet; with `delete`, remove its Node and Lease and the pods bound to it (what the
        pod garbage collector does for pods of a deleted node)."""
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
        if not delete:
            return
        for rt, ns in ((self._leases_rt, ks.LEASE_NAMESPACE), (self._nodes_rt, "")):
            with contextlib.suppress(errors.ApiError):
                self.api.delete(rt, ns, name)
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
        k = self.kubelet(node) if node else None
        st = k.pods.get(entry.obj["metadata"]["uid"]) if k else None
        run = (st.runs or {}).get(container) if st is not None else None
        if k is None or st is None or run is None:
            raise ValueError(f"{namespace}/{pod} has no running container {container!r} on a simulated kubelet")
        now = self.clock()
        run.last_state = ks.terminated_state(container_id=run.id, started=run.started, finished=now,
                                             exit_code=exit_code, reason=reason)
        run.restarts += 1
        run.id, run.started = ks.runtime_id(st.uid, container, run.restarts), float(int(now))
        written = self._write_pod_status(k, st, now)
        if written is not None:
            k.stats.restart_container(st.uid, container, container_id=run.id, started=run.started, pod=written)
        return written or entry.obj

    def oom_kill(self, namespace: str, pod: str, container: str) -> Obj:
        """The kernel OOM-kills the container (kern.log lines when node logs are on) and it restarts."""
        entry = self.api.get(self._pods_rt, namespace, pod)
        node = (entry.obj.get("spec") or {}).get("nodeName") or ""
        if self.node_logs is not None and node in self.kubelets:
            self.node_logs.problem(node, "oom_kill", now=self.clock(), process=container,
                                   cgroup=ks.pod_cgroup(entry.obj))
        return self.restart_container(namespace, pod, container, reason="OOMKilled", exit_code=137)

    # -- informer events -------------------------------------------------------------------------------------
    def _on_pod(self, typ: str, pod: Obj) -> None:
        if (pod.get("spec") or {}).get("nodeName") in self.kubelets:
            self._mark(pod, deleted=typ == DELETED)

    def _mark(self, pod: Obj, *, deleted: bool = False) -> None:
        meta = pod["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        if deleted:
            self._forget(pod)
            self._dirty.pop(key, None)
        else:
            self._dirty[key] = pod
        self._wake.set()

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
                pod = self._pod_obj(st)
                if pod is not None:
                    self._mark(pod)

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

    def _pod_obj(self, st: _Pod) -> Obj | None:
        entry = self.api.store.get(self._pods_rt.storage, st.namespace, st.name)
        return entry.obj if entry is not None and entry.obj["metadata"].get("uid") == st.uid else None

    # -- the pod loop ----------------------------------------------------------------------------------------
    async def _sync_loop(self) -> None:
        while True:
            self._wake.clear()
            now = self.clock()
            try:
                self._process(now)
            except Exception:
                log.exception("kubelet pod sync failed")
            delay = self._timers[0][0] - self.clock() if self._timers else None
            if delay is None or delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)

    def _process(self, now: float) -> None:
        dirty, self._dirty = self._dirty, {}
        for pod in dirty.values():
            k = self.kubelets.get(pod["spec"].get("nodeName"))
            if k is not None:
                self._sync_pod(k, pod, now)
        while self._timers and self._timers[0][0] <= now:
            _due, _seq, kind, node, uid = heapq.heappop(self._timers)
            k = self.kubelets.get(node)
            st = k.pods.get(uid) if k else None
            if k is not None and st is not None:
                getattr(self, f"_on_{kind}")(k, st, now)

    def _timer(self, due: float, kind: str, k: Kubelet, uid: str) -> None:
        self._seq += 1
        heapq.heappush(self._timers, (due, self._seq, kind, k.name, uid))
        self._wake.set()

    def _sync_pod(self, k: Kubelet, pod: Obj, now: float) -> None:
        meta = pod["metadata"]
        uid = meta["uid"]
        previous = k.by_name.get((meta["namespace"], meta["name"]))
        if previous is not None and previous != uid:
            self._drop(k, previous)
        st = k.pods.get(uid)
        if meta.get("deletionTimestamp"):
            if st is not None and not st.terminating:
                st.terminating = True
                grace = meta.get("deletionGracePeriodSeconds")
                grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30) if grace is None else grace
                self._timer(now + min(float(grace), self.config.termination_cap_s), "remove", k, uid)
            return
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return
        if st is None:
            st = self._admit(k, pod, now)
            if st is None:
                return
        else:
            k.stats.update_pod(pod)
        at = ks.eviction_time(k.taints, (pod.get("spec") or {}).get("tolerations") or [], now=now)
        if at is not None and at != st.evict_at:
            st.evict_at = at
            self._timer(at, "evict", k, uid)

    def _admit(self, k: Kubelet, pod: Obj, now: float) -> _Pod | None:
        meta = pod["metadata"]
        used = {p.host for p in k.pods.values()}
        host = next((h for h in range(2, 255) if h not in used), None)
        if host is None:
            log.warning("node %s: no pod IP left in %s for %s/%s", k.name, k.cidr, meta["namespace"], meta["name"])
            return None
        st = _Pod(meta["uid"], meta["namespace"], meta["name"], host, float(int(now)))
        k.pods[st.uid] = st
        k.by_name[(st.namespace, st.name)] = st.uid
        if self.config.start_delay_s > 0:
            self._write_pod_status(k, st, now)
            self._timer(now + self.config.start_delay_s, "start", k, st.uid)
        else:
            self._on_start(k, st, now)
        return st

    def _on_start(self, k: Kubelet, st: _Pod, now: float) -> None:
        if st.runs is not None or st.terminating:
            return
        pod = self._pod_obj(st)
        containers = ((pod or {}).get("spec") or {}).get("containers") or []
        delays = {c["name"]: ks.readiness_delay(c) for c in containers}
        started = float(int(now))  # as startedAt shows it, so usage counted from startedAt agrees
        st.runs = {n: _Run(started, ks.runtime_id(st.uid, n, 0), d <= 0) for n, d in delays.items()}
        written = self._write_pod_status(k, st, now)
        if written is None:
            return
        k.stats.add_pod(written, sandbox_id=ks.runtime_id(st.uid, "sandbox"),
                        container_ids={n: r.id for n, r in st.runs.items()},
                        started={n: r.started for n, r in st.runs.items()}, start_time=st.admitted)
        for d in sorted({d for d in delays.values() if d > 0}):
            self._timer(now + d, "ready", k, st.uid)

    def _on_ready(self, k: Kubelet, st: _Pod, now: float) -> None:
        pod = self._pod_obj(st)
        if pod is None or st.runs is None or st.terminating:
            return
        for c in pod["spec"].get("containers") or ():
            run = st.runs.get(c["name"])
            if run is not None and now >= run.started + ks.readiness_delay(c) - 1e-6:
                run.ready = True
        self._write_pod_status(k, st, now)

    def _on_evict(self, k: Kubelet, st: _Pod, now: float) -> None:
        st.evict_at = None
        pod = self._pod_obj(st)
        if pod is None:
            return
        at = ks.eviction_time(k.taints, pod["spec"].get("tolerations") or [], now=now)
        if at is None or at > now + 1e-6:
            return  # the taint went, or a later one decides
        with contextlib.suppress(errors.ApiError):
            entry = self.api.get(self._pods_rt, st.namespace, st.name)
            status = dict(entry.obj.get("status") or {})
            status["conditions"] = [*(status.get("conditions") or ()), ks.disruption_condition(now)]
            self.api._write_update(self._pods_rt, entry, {**entry.obj, "status": status}, subresource="status",
                                   dry_run=False)
            self.api.delete(self._pods_rt, st.namespace, st.name, {"preconditions": {"uid": st.uid}})

    def _on_remove(self, k: Kubelet, st: _Pod, now: float) -> None:
        if st.runs is not None:  # the containers exited on SIGTERM
            self._write_pod_status(k, st, now, stopped=True)
            k.stats.remove_pod(st.uid)
        with contextlib.suppress(errors.ApiError):
            self.api.delete(self._pods_rt, st.namespace, st.name,
                            {"gracePeriodSeconds": 0, "preconditions": {"uid": st.uid}})

    def _forget(self, pod: Obj) -> None:
        k = self.kubelets.get((pod.get("spec") or {}).get("nodeName"))
        if k is not None:
            self._drop(k, pod["metadata"]["uid"])

    def _drop(self, k: Kubelet, uid: str) -> None:
        st = k.pods.pop(uid, None)
        if st is not None:
            k.by_name.pop((st.namespace, st.name), None)
            k.stats.remove_pod(uid)

    def _write_pod_status(self, k: Kubelet, st: _Pod, now: float, *, stopped: bool = False) -> Obj | None:
        try:
            entry = self.api.get(self._pods_rt, st.namespace, st.name)
        except errors.ApiError:
            return None
        if entry.obj["metadata"]["uid"] != st.uid:
            return None
        spec = entry.obj.get("spec") or {}
        ip = k.address if spec.get("hostNetwork") else ks.pod_ip(k.cidr, st.host)
        runs = st.runs or {}
        status = ks.pod_status(entry.obj, host_ip=k.address, pod_ip=ip if st.runs is not None else None,
                               started=None if st.runs is None else {n: r.started for n, r in runs.items()},
                               ready={n: r.ready for n, r in runs.items()},
                               restarts={n: r.restarts for n, r in runs.items()},
                               last_state={n: r.last_state for n, r in runs.items() if r.last_state},
                               container_ids={n: r.id for n, r in runs.items()}, start_time=st.admitted, now=now,
                               stopped=stopped)
        written = self.api._write_update(self._pods_rt, entry, {**entry.obj, "status": status}, subresource="status",
                                         dry_run=False)
        k.stats.update_pod(written)
        return written

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
