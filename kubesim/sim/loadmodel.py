"""Workload load models: how much CPU, memory and application traffic each simulated pod uses.

A workload (Deployment, StatefulSet, ... by namespace/kind/name) carries a `WorkloadLoad`: a demand curve
spread over its Ready pods, a per-pod base, memory, noise and an application counter. `LoadModel` keeps the
cumulative counters of every container in numpy arrays indexed by container slot, advances them all at once
each tick and answers kubelets through the `UsageSource` protocol. The usage formula is the pure function
`container_rates`; `LoadModelLayer` is the thin loop that feeds the model from informers. No HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from kubescale.quantity import parse_quantity
from kubesim.selectors import LabelSelector
from kubesim.sim.informer import DELETED, Informer
from kubesim.sim.loadcurves import Constant, Curve
from kubesim.sim.usage import ContainerUsage, PodUsage

if TYPE_CHECKING:
    from kubesim.apiserver import ApiServer

Obj = dict[str, Any]
WorkloadKey = tuple[str, str, str]  # (namespace, kind, name)
MiB = 1024 * 1024
DEFAULT_METRIC = "http_requests_total"


@dataclass(frozen=True, slots=True)
class WorkloadLoad:
    """One workload's load. `demand` is in cores (`unit="cores"`) or requests/s (`unit="requests"`), times
    `scale`; each request costs `cpu_per_request` CPU-seconds, which converts between the two. A Ready pod
    uses `base_cpu + demand/N_ready` cores (capped at its limit), an unready one `base_cpu`; memory is
    `memory_base_bytes + memory_per_load_bytes * (the pod's share of demand, in demand units)`. `noise` is
    the relative amplitude of deterministic CPU jitter. `selector`, when set, also claims pods by label."""

    demand: Curve
    unit: Literal["cores", "requests"] = "cores"
    cpu_per_request: float = 0.01
    base_cpu: float = 0.0
    memory_base_bytes: float = 64 * MiB
    memory_per_load_bytes: float = 0.0
    noise: float = 0.0
    metric: str = DEFAULT_METRIC
    scale: float = 1.0
    selector: LabelSelector | None = None

    def __post_init__(self) -> None:
        if self.unit not in ("cores", "requests"):
            raise ValueError(f"unit must be cores or requests, not {self.unit!r}")
        if self.cpu_per_request <= 0:
            raise ValueError("cpu_per_request must be positive")
        if min(self.base_cpu, self.memory_base_bytes, self.memory_per_load_bytes, self.noise, self.scale) < 0:
            raise ValueError("base_cpu, memory, noise and scale must not be negative")

    def cores_and_rps(self, t: float) -> tuple[float, float]:
        """The whole workload's (CPU cores, requests/s) demand at scenario time t."""
        d = max(0.0, float(self.demand.value(t)) * self.scale)
        if self.unit == "cores":
            return d, d / self.cpu_per_request
        return d * self.cpu_per_request, d


# What pods outside any modelled workload use: a little CPU and memory, no application traffic.
IDLE = WorkloadLoad(demand=Constant(0.0), base_cpu=0.002, memory_base_bytes=16 * MiB, metric="")


def container_rates(*, base_cpu: np.ndarray, cpu_share: np.ndarray, mem_base: np.ndarray,
                    mem_per_share: np.ndarray, ready: np.ndarray, weight: np.ndarray, noise: np.ndarray,
                    jitter: np.ndarray, cpu_limit: np.ndarray, mem_limit: np.ndarray,
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Per-container (CPU cores, memory bytes), vectorised over containers. Per container: the pod's base
    and, when Ready, its share of the workload's demand (`cpu_share` = cores per Ready pod, `mem_per_share`
    = per-load bytes * demand units per Ready pod), split by `weight` (the container's part of its pod),
    CPU times `1 + noise * jitter` (jitter in [-1, 1]), both capped at the container's limits."""
    cpu = (base_cpu + np.where(ready, cpu_share, 0.0)) * weight * (1.0 + noise * jitter)
    mem = (mem_base + np.where(ready, mem_per_share, 0.0)) * weight
    return np.clip(cpu, 0.0, cpu_limit), np.minimum(mem, mem_limit)


def jitter(keys: np.ndarray, step: int) -> np.ndarray:
    """Deterministic noise in [-1, 1) per (key, step): splitmix64 of the two."""
    with np.errstate(over="ignore"):
        z = keys ^ np.uint64((step * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 52) - 1.0


def _rfc3339(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    return _parse_time(value)


@functools.lru_cache(maxsize=4096)  # whole-second times: the pods started in the same second share them
def _parse_time(value: str) -> float | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _has_true(conditions: list[Obj] | None, ctype: str) -> bool:
    return any(c.get("type") == ctype and c.get("status") == "True" for c in conditions or ())


def owner_workload(pod: Obj, replicaset_owner: Callable[[str, str], str | None] | None = None,
                   ) -> WorkloadKey | None:
    """The workload owning a pod through its controller ownerReference; a ReplicaSet resolves to its
    Deployment (by `replicaset_owner`, else by the `<deployment>-<pod-template-hash>` naming convention)."""
    meta = pod.get("metadata") or {}
    ns = meta.get("namespace", "")
    ref = next((r for r in meta.get("ownerReferences") or () if r.get("controller")), None)
    if ref is None:
        return None
    kind, name = ref.get("kind", ""), ref.get("name", "")
    if kind == "ReplicaSet":
        deployment = replicaset_owner(ns, name) if replicaset_owner is not None else None
        if deployment is None:
            h = (meta.get("labels") or {}).get("pod-template-hash")
            if h and name.endswith("-" + h):
                deployment = name[: -len(h) - 1]
        if deployment:
            return (ns, "Deployment", deployment)
    return (ns, kind, name)


@dataclass(slots=True)
class _Pod:
    rv: str
    namespace: str
    labels: dict[str, str]
    owner: WorkloadKey | None
    workload: int
    names: tuple[str, ...]
    slots: list[int]
    running: bool = False
    fresh: bool = False  # a container (re)started and has no rate yet


@dataclass(frozen=True, slots=True)
class _ContainerState:
    running: bool
    start: float
    restarts: int


def _container_states(pod: Obj, names: tuple[str, ...], now: float) -> list[_ContainerState]:
    status = pod.get("status") or {}
    pod_running = status.get("phase") == "Running"
    pod_start = _rfc3339(status.get("startTime")) or now
    by_name = {s.get("name"): s for s in status.get("containerStatuses") or ()}
    out = []
    for name in names:
        s = by_name.get(name)
        if s is None:  # no statuses reported: every container runs with the pod
            out.append(_ContainerState(pod_running and not by_name, pod_start, 0))
            continue
        running = (s.get("state") or {}).get("running")
        start = _rfc3339((running or {}).get("startedAt")) or pod_start
        out.append(_ContainerState(pod_running and running is not None, start, int(s.get("restartCount") or 0)))
    return out


class LoadModel:
    """The usage of every simulated container, integrated over time (implements `UsageSource`).

    `advance(now)` integrates each container's CPU and application counters at the rates fixed at the
    previous advance, then recomputes the rates at `now` (at most once per `tick_s`); `pod_usage` answers
    the counters extrapolated to its `now` at those rates, so counters are monotonic and a scrape's rate
    matches the model. Times are unix seconds; curves read seconds since `start`."""

    def __init__(self, *, start: float, seed: int = 0, tick_s: float = 1.0, default: WorkloadLoad = IDLE,
                 replicaset_owner: Callable[[str, str], str | None] | None = None) -> None:
        self.start = start
        self.seed = seed
        self.tick_s = tick_s
        self.default = default
        self.replicaset_owner = replicaset_owner
        # workloads by number; 0 stands for "no workload" (pods use `default`)
        self._keys: list[WorkloadKey] = [("", "", "")]
        self._models: list[WorkloadLoad | None] = [None]
        self._index: dict[WorkloadKey, int] = {}
        self._selectors: dict[str, list[int]] = {}  # namespace -> workloads whose model has a selector
        self._pods: dict[str, _Pod] = {}
        self._fresh: list[_Pod] = []  # pods whose new containers wait for a rate (next advance or pod_usage)
        self._free: list[int] = []
        self._n = 0  # slots ever used
        self._now = start  # when rates were last computed
        self._advanced: float | None = None
        cap = 1024
        self._cpu = np.zeros(cap)  # cumulative CPU seconds at _t
        self._app = np.zeros(cap)  # cumulative application counter at _t (first container of a pod)
        self._t = np.zeros(cap)
        self._cpu_rate = np.zeros(cap)
        self._app_rate = np.zeros(cap)
        self._mem = np.zeros(cap)
        self._wl = np.zeros(cap, dtype=np.int64)
        self._alive = np.zeros(cap, dtype=bool)  # slot in use by a running container
        self._ready = np.zeros(cap, dtype=bool)
        self._first = np.zeros(cap, dtype=bool)  # the pod's first container slot (counts the pod once)
        self._weight = np.zeros(cap)
        self._cpu_limit = np.full(cap, np.inf)
        self._mem_limit = np.full(cap, np.inf)
        self._key = np.zeros(cap, dtype=np.uint64)
        self._start = np.zeros(cap)
        self._restarts = np.zeros(cap, dtype=np.int64)
        self._state = self._workload_state()
        self._state_stale = False  # a model changed since the state was computed

    # --- workloads ------------------------------------------------------------------------------------

    def set_workload_load(self, namespace: str, kind: str, name: str, model: WorkloadLoad | None) -> None:
        """Give a workload a load model, replace it (a load step) or remove it (None: its pods go idle)."""
        key = (namespace, kind, name)
        idx = self._workload_index(key)
        previous = self._models[idx]
        self._models[idx] = model
        sel = self._selectors.setdefault(namespace, [])
        if idx in sel:
            sel.remove(idx)
        if model is not None and model.selector is not None:
            sel.append(idx)
        if (previous is not None and previous.selector is not None) or sel:
            for rec in self._pods.values():
                if rec.namespace == namespace:
                    self._assign(rec)
        self._state_stale = True

    def workload_load(self, namespace: str, kind: str, name: str) -> WorkloadLoad | None:
        idx = self._index.get((namespace, kind, name))
        return None if idx is None else self._models[idx]

    def workload_of(self, pod: Obj) -> WorkloadKey | None:
        """The modelled workload a known pod counts towards, or None."""
        rec = self._pods.get(_uid(pod))
        if rec is None or rec.workload == 0 or self._models[rec.workload] is None:
            return None
        return self._keys[rec.workload]

    def ready_pods(self, namespace: str, kind: str, name: str) -> int:
        """How many Ready, running pods the workload had at the last advance."""
        idx = self._index.get((namespace, kind, name))
        return 0 if idx is None or idx >= len(self._state["ready"]) else int(self._state["ready"][idx])

    def _workload_index(self, key: WorkloadKey) -> int:
        idx = self._index.get(key)
        if idx is None:
            idx = self._index[key] = len(self._keys)
            self._keys.append(key)
            self._models.append(None)
        return idx

    def _resolve(self, namespace: str, labels: dict[str, str], owner: WorkloadKey | None) -> int:
        """Owner with a model, else a selector model that matches, else the owner (idle), else 0."""
        owned = self._workload_index(owner) if owner is not None else 0
        if owned and self._models[owned] is not None:
            return owned
        for idx in self._selectors.get(namespace, ()):
            sel = self._models[idx].selector  # type: ignore[union-attr]
            if sel is not None and sel.matches(labels):
                return idx
        return owned

    def _assign(self, rec: _Pod) -> None:
        rec.workload = self._resolve(rec.namespace, rec.labels, rec.owner)
        self._wl[rec.slots] = rec.workload

    def _workload_state(self) -> dict[str, np.ndarray]:
        """Per-workload base, shares and rates at `self._now`, from the current Ready flags."""
        nw = len(self._keys)
        n = self._n
        counted = self._first[:n] & self._alive[:n] & self._ready[:n]
        ready = np.bincount(self._wl[:n][counted], minlength=nw)[:nw]
        t = self._now - self.start
        cols = {k: np.zeros(nw) for k in ("base", "cpu_share", "mem_base", "mem_share", "rps_share", "noise")}
        for i, model in enumerate(self._models):
            m = model or self.default
            cores, rps = m.cores_and_rps(t)
            per = 1.0 / max(int(ready[i]), 1)
            units = rps if m.unit == "requests" else cores
            cols["base"][i] = m.base_cpu
            cols["cpu_share"][i] = cores * per
            cols["mem_base"][i] = m.memory_base_bytes
            cols["mem_share"][i] = m.memory_per_load_bytes * units * per
            cols["rps_share"][i] = rps * per if m.metric else 0.0
            cols["noise"][i] = m.noise
        cols["ready"] = ready
        return cols

    def _rates(self, s: np.ndarray | slice) -> None:
        """Recompute the rates of slots `s` from the workload state."""
        if self._state_stale or len(self._state["base"]) < len(self._keys):
            self._state, self._state_stale = self._workload_state(), False
        st, wl = self._state, self._wl[s]
        alive, ready = self._alive[s], self._ready[s]
        step = int(np.floor((self._now - self.start) / self.tick_s)) if self.tick_s > 0 else 0
        cpu, mem = container_rates(
            base_cpu=st["base"][wl], cpu_share=st["cpu_share"][wl], mem_base=st["mem_base"][wl],
            mem_per_share=st["mem_share"][wl], ready=ready, weight=self._weight[s], noise=st["noise"][wl],
            jitter=jitter(self._key[s], step), cpu_limit=self._cpu_limit[s], mem_limit=self._mem_limit[s])
        self._cpu_rate[s] = np.where(alive, cpu, 0.0)
        self._mem[s] = np.where(alive, mem, 0.0)
        self._app_rate[s] = np.where(alive & ready & self._first[s], st["rps_share"][wl], 0.0)

    # --- pods -----------------------------------------------------------------------------------------

    def on_pod_event(self, typ: str, pod: Obj) -> None:
        """An informer handler."""
        if typ == DELETED:
            self.forget(pod)
        else:
            self.observe(pod)

    def observe(self, pod: Obj) -> None:
        """Take in a pod's current state (new pod, readiness, container restarts)."""
        uid = _uid(pod)
        meta = pod.get("metadata") or {}
        rv = str(meta.get("resourceVersion", ""))
        rec = self._pods.get(uid)
        if rec is not None and rec.rv == rv and rv:
            return
        spec = pod.get("spec") or {}
        containers = spec.get("containers") or []
        names = tuple(c.get("name", "") for c in containers)
        if rec is not None and rec.names != names:
            self.forget(pod)
            rec = None
        status = pod.get("status") or {}
        if rec is not None and not rec.running and status.get("phase") != "Running":
            rec.rv = rv  # bound, or Pending with its containers being created: nothing runs yet
            return
        if rec is None:
            slots = [self._alloc() for _ in names]
            owner = owner_workload(pod, self.replicaset_owner)
            labels = dict(meta.get("labels") or {})
            ns = meta.get("namespace", "")
            rec = self._pods[uid] = _Pod(rv, ns, labels, owner, 0, names, slots)
            self._assign(rec)
            self._describe(uid, rec, containers)
        rec.rv = rv
        now = self._now
        states = _container_states(pod, names, now)
        ready = _has_true(status.get("conditions"), "Ready")
        rec.running = any(c.running for c in states)
        for slot, c in zip(rec.slots, states, strict=True):
            if c.running and (not self._alive[slot] or c.restarts != self._restarts[slot]
                              or c.start != self._start[slot]):
                self._cpu[slot] = self._app[slot] = 0.0  # a (re)started container counts from zero
                self._t[slot] = c.start
                self._start[slot], self._restarts[slot] = c.start, c.restarts
                if not rec.fresh:
                    rec.fresh = True
                    self._fresh.append(rec)
            self._alive[slot] = c.running
        # readiness changes reach the rates at the next advance: rates only change at ticks (or for fresh
        # containers, which nobody has seen yet), so no served counter is ever revised downwards
        self._ready[rec.slots] = ready and rec.running

    def _describe(self, uid: str, rec: _Pod, containers: list[Obj]) -> None:
        """Per-slot constants: limits, the split of pod load between containers, the noise key."""
        res = [c.get("resources") or {} for c in containers]
        req = [_quantity((r.get("requests") or {}).get("cpu")) for r in res]
        weights = ([q / sum(req) for q in req] if all(q and q > 0 for q in req)  # type: ignore[operator]
                   else [1.0 / len(req)] * len(req))
        for i, (slot, r) in enumerate(zip(rec.slots, res, strict=True)):
            limits = r.get("limits") or {}
            self._cpu_limit[slot] = _quantity(limits.get("cpu")) or np.inf
            self._mem_limit[slot] = _quantity(limits.get("memory")) or np.inf
            self._weight[slot] = weights[i]
            self._first[slot] = i == 0
            digest = hashlib.blake2b(f"{self.seed}/{uid}/{rec.names[i]}".encode(), digest_size=8).digest()
            self._key[slot] = np.frombuffer(digest, dtype=np.uint64)[0]
            self._cpu[slot] = self._app[slot] = 0.0
            self._restarts[slot] = -1

    def forget(self, pod: Obj) -> None:
        rec = self._pods.pop(_uid(pod), None)
        if rec is None:
            return
        s = rec.slots
        self._alive[s] = self._ready[s] = self._first[s] = False
        self._cpu_rate[s] = self._app_rate[s] = 0.0
        self._free.extend(s)

    def _alloc(self) -> int:
        if self._free:
            return self._free.pop()
        if self._n == len(self._cpu):
            self._grow()
        self._n += 1
        return self._n - 1

    def _grow(self) -> None:
        for name in ("_cpu", "_app", "_t", "_cpu_rate", "_app_rate", "_mem", "_wl", "_alive", "_ready", "_first",
                     "_weight", "_cpu_limit", "_mem_limit", "_key", "_start", "_restarts"):
            a = getattr(self, name)
            fill = np.inf if name in ("_cpu_limit", "_mem_limit") else 0
            setattr(self, name, np.concatenate([a, np.full(len(a), fill, dtype=a.dtype)]))

    # --- time -----------------------------------------------------------------------------------------

    def advance(self, now: float, pods: Iterable[Obj] | None = None) -> None:
        """Integrate every counter up to `now` and recompute the rates (no more than once per tick). With
        `pods`, first make the known pods exactly those (otherwise `observe`/`forget` keep them current)."""
        if pods is not None:
            seen = set()
            for pod in pods:
                seen.add(_uid(pod))
                self.observe(pod)
            for uid in [u for u in self._pods if u not in seen]:
                self.forget({"metadata": {"uid": uid}})
        if self._advanced is not None and now - self._advanced < self.tick_s:
            return
        if self._fresh:  # containers started since the last tick run at the last tick's demand until now
            self._state_stale = True
            self._rates(np.array([i for rec in self._fresh if rec.fresh for i in rec.slots], dtype=np.int64))
            for rec in self._fresh:
                rec.fresh = False
            self._fresh.clear()
        n = self._n
        dt = np.maximum(now - self._t[:n], 0.0)
        self._cpu[:n] += self._cpu_rate[:n] * dt
        self._app[:n] += self._app_rate[:n] * dt
        self._t[:n] = np.maximum(self._t[:n], now)
        self._advanced = self._now = now
        self._state_stale = True
        self._rates(slice(0, n))

    def pod_usage(self, pod: Obj, now: float) -> PodUsage | None:
        self.observe(pod)
        rec = self._pods[_uid(pod)]
        if not rec.running:
            return None
        if rec.fresh:
            rec.fresh = False
            self._rates(np.array(rec.slots, dtype=np.int64))
        containers = []
        app = 0.0
        for name, slot in zip(rec.names, rec.slots, strict=True):
            if not self._alive[slot]:
                continue
            dt = max(now - self._t[slot], 0.0)
            containers.append(ContainerUsage(
                name=name, cpu_seconds_total=float(self._cpu[slot] + self._cpu_rate[slot] * dt),
                memory_working_set_bytes=int(self._mem[slot]), start_time=float(self._start[slot]),
                restarts=int(self._restarts[slot])))
            if self._first[slot]:
                app = float(self._app[slot] + self._app_rate[slot] * dt)
        model = self._models[rec.workload]
        counters = ((model.metric, app),) if model is not None and model.metric else ()
        return PodUsage(containers=tuple(containers), app_counters=counters)


def _uid(pod: Obj) -> str:
    meta = pod.get("metadata") or {}
    return meta.get("uid") or f"{meta.get('namespace', '')}/{meta.get('name', '')}"


@functools.lru_cache(maxsize=4096)
def _quantity(value: str | int | float | None) -> float | None:
    if value is None:
        return None
    try:
        return float(parse_quantity(value))
    except ValueError:
        return None


class LoadModelLayer:
    """Feeds a `LoadModel` from pod and ReplicaSet informers and advances it every tick."""

    def __init__(self, api: ApiServer, model: LoadModel, *, clock: Callable[[], float] = time.time) -> None:
        self.api = api
        self.model = model
        self.clock = clock
        self._pods: Informer | None = None
        self._replicasets: Informer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._replicasets = Informer(self.api, "apps", "replicasets")
        self._replicasets.start()
        self.model.replicaset_owner = self._deployment_of
        self._pods = Informer(self.api, "", "pods")
        self._pods.handlers.append(self.model.on_pod_event)
        self._pods.start()
        self._task = asyncio.get_running_loop().create_task(self._run())

    def _deployment_of(self, namespace: str, replicaset: str) -> str | None:
        rs = self._replicasets.get(namespace, replicaset) if self._replicasets is not None else None
        refs = ((rs or {}).get("metadata") or {}).get("ownerReferences") or ()
        return next((r.get("name") for r in refs if r.get("controller") and r.get("kind") == "Deployment"), None)

    async def _run(self) -> None:
        while True:
            self.model.advance(self.clock())
            await asyncio.sleep(self.model.tick_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for inf in (self._pods, self._replicasets):
            if inf is not None:
                await inf.stop()


__all__ = ["DEFAULT_METRIC", "IDLE", "LoadModel", "LoadModelLayer", "WorkloadKey", "WorkloadLoad",
           "container_rates", "jitter", "owner_workload"]
