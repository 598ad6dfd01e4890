"""The pod side of the simulated kubelets: admitting pods bound to a simulated node (pod IP from the node's
CIDR, Pending with ContainerCreating), starting them after the configured delay (Running, then Ready as
readiness probes pass), restarting containers, deleting pods the node's NoExecute taints do not tolerate
(as the taint manager does), and ending deleted pods (containers stopped, then removed with grace 0).

Driven by the pod informer's events and a timer heap on one asyncio task; what it writes is
`kubeletstatus.pod_status`. Part of `kubesim.sim.kubelets`, which owns the nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubesim import errors
from kubesim.sim import kubeletstatus as ks
from kubesim.sim.informer import DELETED

if TYPE_CHECKING:
    from kubesim.sim.kubelets import Kubelet, Kubelets

log = logging.getLogger("kubesim.kubelets")
Obj = dict[str, Any]


@dataclass(slots=True, eq=False)
class Run:
    """One container as the runtime runs it."""

    started: float
    id: str
    ready: bool
    restarts: int = 0
    last_state: Obj | None = None


@dataclass(slots=True, eq=False)
class PodState:
    """A pod as its kubelet runs it."""

    uid: str
    namespace: str
    name: str
    host: int  # pod IP = node CIDR + host
    admitted: float
    runs: dict[str, Run] | None = None  # None until the sandbox is up
    terminating: bool = False
    evict_at: float | None = None  # the taint manager's pending deletion
    written: str | None = None  # resourceVersion of our last status write, whose event needs no sync

    @property
    def running(self) -> bool:
        return self.runs is not None


class PodLifecycle:
    """Moves the pods of the simulated nodes through their lives."""

    def __init__(self, owner: Kubelets, *, clock: Callable[[], float]) -> None:
        self.owner, self.api, self.config, self.clock = owner, owner.api, owner.config, clock
        rt = self.api.registry.get("", "pods")
        assert rt is not None
        self._pods_rt = rt
        self._dirty: dict[tuple[str, str], Obj] = {}
        self._timers: list[tuple[float, int, str, str, str]] = []  # (due, seq, kind, node, uid)
        self._seq = 0
        self._wake = asyncio.Event()

    def restart(self, k: Kubelet, pod: Obj, container: str, *, reason: str, exit_code: int) -> Obj:
        st = k.pods.get(pod["metadata"]["uid"])
        run = (st.runs or {}).get(container) if st is not None else None
        if st is None or run is None:
            meta = pod["metadata"]
            raise ValueError(f"{meta['namespace']}/{meta['name']} has no running container {container!r}")
        now = self.clock()
        run.last_state = ks.terminated_state(container_id=run.id, started=run.started, finished=now,
                                             exit_code=exit_code, reason=reason)
        run.restarts += 1
        run.id, run.started = ks.runtime_id(st.uid, container, run.restarts), float(int(now))
        written = self.write_status(k, st, now)
        if written is not None:
            k.stats.restart_container(st.uid, container, container_id=run.id, started=run.started, pod=written)
        return written or pod

    def on_pod(self, typ: str, pod: Obj) -> None:
        k = self.owner.kubelets.get((pod.get("spec") or {}).get("nodeName"))
        if k is None:
            return
        meta = pod["metadata"]
        if typ != DELETED and not meta.get("deletionTimestamp"):
            st = k.pods.get(meta["uid"])
            if st is not None and st.written is not None and st.written == meta.get("resourceVersion"):
                return  # our own status write coming back
        self.mark(pod, deleted=typ == DELETED)

    def mark(self, pod: Obj, *, deleted: bool = False) -> None:
        meta = pod["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        if deleted:
            self._forget(pod)
            self._dirty.pop(key, None)
        else:
            self._dirty[key] = pod
        self._wake.set()

    def pod_obj(self, st: PodState) -> Obj | None:
        entry = self.api.store.get(self._pods_rt.storage, st.namespace, st.name)
        return entry.obj if entry is not None and entry.obj["metadata"].get("uid") == st.uid else None

    async def run(self) -> None:
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
            k = self.owner.kubelets.get(pod["spec"].get("nodeName"))
            if k is not None:
                self._sync_pod(k, pod, now)
        while self._timers and self._timers[0][0] <= now:
            _due, _seq, kind, node, uid = heapq.heappop(self._timers)
            k = self.owner.kubelets.get(node)
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
            if st is None:  # nothing runs for it here: nothing to wait for
                with contextlib.suppress(errors.ApiError):
                    self.api.delete(self._pods_rt, meta["namespace"], meta["name"],
                                    {"gracePeriodSeconds": 0, "preconditions": {"uid": uid}})
            elif not st.terminating:
                st.terminating = True
                grace = meta.get("deletionGracePeriodSeconds")
                grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30) if grace is None else grace
                self._timer(now + min(float(grace), self.config.termination_cap_s), "remove", k, uid)
            return
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return
        if st is None:
            st = self._adopt(k, pod) or self._admit(k, pod, now)
            if st is None:
                return
        else:
            k.stats.update_pod(pod)
        at = ks.eviction_time(k.taints, (pod.get("spec") or {}).get("tolerations") or [], now=now)
        if at is not None and at != st.evict_at:
            st.evict_at = at
            self._timer(at, "evict", k, uid)

    def _adopt(self, k: Kubelet, pod: Obj) -> PodState | None:
        """A pod already Running here (kubesim restarted from its state file): carry on from its status."""
        meta, status = pod["metadata"], pod.get("status") or {}
        names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or ()]
        statuses = {cs.get("name"): cs for cs in status.get("containerStatuses") or ()}
        if status.get("phase") != "Running" or set(statuses) != set(names):
            return None
        runs = {}
        for n in names:
            cs = statuses[n]
            started = ks.parse_time(((cs.get("state") or {}).get("running") or {}).get("startedAt"))
            cid = (cs.get("containerID") or "").rpartition("://")[2]
            if started is None or not cid:
                return None
            runs[n] = Run(started, cid, bool(cs.get("ready")), int(cs.get("restartCount") or 0),
                          cs.get("lastState") or None)
        net = ipaddress.IPv4Network(k.cidr)
        try:
            host = int(ipaddress.IPv4Address(status.get("podIP") or "")) - int(net.network_address)
        except ipaddress.AddressValueError:
            return None
        if not 2 <= host <= 254 or any(p.host == host for p in k.pods.values()):
            return None
        st = PodState(meta["uid"], meta["namespace"], meta["name"], host,
                      ks.parse_time(status.get("startTime")) or min(r.started for r in runs.values()), runs=runs)
        k.pods[st.uid] = st
        k.by_name[(st.namespace, st.name)] = st.uid
        if status.get("hostIP") != k.address:
            pod = self.write_status(k, st, self.clock()) or pod
        k.stats.add_pod(pod, sandbox_id=ks.runtime_id(st.uid, "sandbox"),
                        container_ids={n: r.id for n, r in runs.items()},
                        started={n: r.started for n, r in runs.items()}, start_time=st.admitted)
        return st

    def _admit(self, k: Kubelet, pod: Obj, now: float) -> PodState | None:
        meta = pod["metadata"]
        used = {p.host for p in k.pods.values()}
        host = next((h for h in range(2, 255) if h not in used), None)
        if host is None:
            log.warning("node %s: no pod IP left in %s for %s/%s", k.name, k.cidr, meta["namespace"], meta["name"])
            return None
        st = PodState(meta["uid"], meta["namespace"], meta["name"], host, float(int(now)))
        k.pods[st.uid] = st
        k.by_name[(st.namespace, st.name)] = st.uid
        if self.config.start_delay_s > 0:
            self.write_status(k, st, now)
            self._timer(now + self.config.start_delay_s, "start", k, st.uid)
        else:
            self._on_start(k, st, now)
        return st

    def _on_start(self, k: Kubelet, st: PodState, now: float) -> None:
        if st.runs is not None or st.terminating:
            return
        pod = self.pod_obj(st)
        containers = ((pod or {}).get("spec") or {}).get("containers") or []
        delays = {c["name"]: ks.readiness_delay(c) for c in containers}
        started = float(int(now))  # as startedAt shows it, so usage counted from startedAt agrees
        st.runs = {n: Run(started, ks.runtime_id(st.uid, n, 0), d <= 0) for n, d in delays.items()}
        written = self.write_status(k, st, now)
        if written is None:
            return
        k.stats.add_pod(written, sandbox_id=ks.runtime_id(st.uid, "sandbox"),
                        container_ids={n: r.id for n, r in st.runs.items()},
                        started={n: r.started for n, r in st.runs.items()}, start_time=st.admitted)
        for d in sorted({d for d in delays.values() if d > 0}):
            self._timer(now + d, "ready", k, st.uid)

    def _on_ready(self, k: Kubelet, st: PodState, now: float) -> None:
        pod = self.pod_obj(st)
        if pod is None or st.runs is None or st.terminating:
            return
        for c in pod["spec"].get("containers") or ():
            run = st.runs.get(c["name"])
            if run is not None and now >= run.started + ks.readiness_delay(c) - 1e-6:
                run.ready = True
        self.write_status(k, st, now)

    def _on_evict(self, k: Kubelet, st: PodState, now: float) -> None:
        st.evict_at = None
        pod = self.pod_obj(st)
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

    def _on_remove(self, k: Kubelet, st: PodState, now: float) -> None:
        if st.runs is not None:  # the containers exited on SIGTERM
            self.write_status(k, st, now, stopped=True)
            k.stats.remove_pod(st.uid)
        with contextlib.suppress(errors.ApiError):
            self.api.delete(self._pods_rt, st.namespace, st.name,
                            {"gracePeriodSeconds": 0, "preconditions": {"uid": st.uid}})

    def _forget(self, pod: Obj) -> None:
        k = self.owner.kubelets.get((pod.get("spec") or {}).get("nodeName"))
        if k is not None:
            self._drop(k, pod["metadata"]["uid"])

    def _drop(self, k: Kubelet, uid: str) -> None:
        st = k.pods.pop(uid, None)
        if st is not None:
            k.by_name.pop((st.namespace, st.name), None)
            k.stats.remove_pod(uid)

    def write_status(self, k: Kubelet, st: PodState, now: float, *, stopped: bool = False) -> Obj | None:
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
        if written is not entry.obj:  # a no-op write makes no event, and its version may need a sync yet
            st.written = written["metadata"].get("resourceVersion")
        k.stats.update_pod(written)
        return written

