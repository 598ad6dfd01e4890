"""kubesim's kube-scheduler: binds pending pods to nodes, in-process, on the same event loop as the API server.

Gather: informers on Pods and Nodes keep the pending pods (no `spec.nodeName`, `schedulerName` ours, not
being deleted, no scheduling gates) and a `NodeTable` of the nodes with their bound pods accounted; pods in
phase Succeeded or Failed count for nothing, as upstream's informer filters them out. Decide:
`kubesim.sim.scheduling.schedule`. Act: a Binding per placed pod (and a `Scheduled` event); for a pod that fits
nowhere, `PodScheduled=False`/`Unschedulable` with the FitError message (written only when it changes) and a
`FailedScheduling` Warning event, repeated ones bumping `count` as client-go's event recorder does; when
preemption would help, the victims get a `DisruptionTarget` condition and are deleted and the pod is
nominated to the node.

Pending pods are tried in batches (every `batch_interval_s` while something is waiting). An unschedulable pod
is tried again when a node appears or changes in a way that matters for scheduling, when a bound pod goes
away, when its own spec changes, and every `retry_interval_s` (upstream's flush of its unschedulable queue is
5 minutes), but not before its backoff since the last attempt has passed (1 s doubling up to 10 s, upstream's
defaults). Nodes are seen only through their taints, as upstream's scheduler does; with `condition_taints`
the NoSchedule taints the node lifecycle controller would add for NotReady, unreachable or pressured nodes
are assumed from the node's conditions, since kubesim has no node lifecycle controller of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from kubesim import errors, kinds
from kubesim.sim.informer import DELETED, Informer
from kubesim.sim.nodetable import NodeTable
from kubesim.sim.schedinputs import NodeInfo, PodInfo, node_info, pod_info
from kubesim.sim.scheduling import Placement, Preemption, schedule

if TYPE_CHECKING:
    from kubesim.apiserver import ApiServer

log = logging.getLogger("kubesim.scheduler")

Obj = dict[str, Any]
Key = tuple[str, str]
DEFAULT_SCHEDULER = "default-scheduler"
NOTE_LENGTH_LIMIT = 1024  # validation.NoteLengthLimit: longer event messages are cut, ending " ..."
_SMP = "application/strategic-merge-patch+json"
_MERGE = "application/merge-patch+json"


@dataclass(frozen=True)
class SchedulerConfig:
    scheduler_name: str = DEFAULT_SCHEDULER
    batch_interval_s: float = 0.1
    retry_interval_s: float = 30.0
    initial_backoff_s: float = 1.0
    max_backoff_s: float = 10.0
    condition_taints: bool = True
    scheduled_events: bool = True  # a Normal `Scheduled` event per binding, as upstream records


def truncate_note(message: str) -> str:
    return message if len(message) <= NOTE_LENGTH_LIMIT else message[:NOTE_LENGTH_LIMIT - 4] + " ..."


class Scheduler:
    """The scheduling loop. `run_once()` is one cycle, for tests and virtual-clock runs."""

    def __init__(self, api: ApiServer, config: SchedulerConfig = SchedulerConfig(), *,
                 clock: Callable[[], float] | None = None) -> None:
        self.api = api
        self.config = config
        self.clock = clock or api.clock
        pod_rt, event_rt = api.registry.get("", "pods"), api.registry.get("", "events")
        assert pod_rt is not None and event_rt is not None
        self.pod_rt, self.event_rt = pod_rt, event_rt
        self.pods = Informer(api, "", "pods")
        self.nodes = Informer(api, "", "nodes")
        self.pods.handlers.append(self._on_pod)
        self.nodes.handlers.append(self._on_node)
        self._nodes: dict[str, NodeInfo] = {}
        self._bound: dict[Key, PodInfo] = {}
        self._bound_fp: dict[Key, tuple[Any, ...]] = {}
        self._pending: dict[Key, PodInfo] = {}
        self._pending_fp: dict[Key, tuple[Any, ...]] = {}
        self._seq: dict[Key, int] = {}
        self._active: set[Key] = set()  # to try as soon as their backoff allows
        self._unschedulable: set[Key] = set()  # waiting for a change, or the periodic flush
        self._attempts: dict[Key, tuple[int, float]] = {}  # failed attempts so far, time of the last one
        self._events: dict[Key, dict[tuple[str, str], tuple[str, int]]] = {}  # (reason, message) -> (name, count)
        self._table: NodeTable | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._counter = 0

    # -- lifecycle ------------------------------------------------------------------------------------------
    async def start(self) -> None:
        self.nodes.start()
        self.pods.start()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.pods.stop()
        await self.nodes.stop()

    def _next_due(self) -> float | None:
        """When the next waiting pod may be tried: its backoff over (active) or the flush (unschedulable)."""
        due = [self._ready_at(k) for k in self._active]
        due += [self._attempts[k][1] + self.config.retry_interval_s for k in self._unschedulable if k in self._attempts]
        return min(due, default=None)

    def _ready_at(self, key: Key) -> float:
        attempts, last = self._attempts.get(key, (0, 0.0))
        if not attempts:
            return last
        return last + min(self.config.initial_backoff_s * 2 ** (attempts - 1), self.config.max_backoff_s)

    async def _run(self) -> None:
        while True:
            due = self._next_due()
            timeout = None if due is None else max(0.0, due - self.clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            await asyncio.sleep(self.config.batch_interval_s)
            self._wake.clear()
            try:
                self.run_once()
            except Exception:  # keep scheduling whatever one cycle ran into
                log.exception("scheduling cycle failed")

    # -- gather ---------------------------------------------------------------------------------------------
    def _wants(self, key: Key) -> None:
        self._active.add(key)
        self._unschedulable.discard(key)
        self._wake.set()

    def _requeue_all(self) -> None:
        self._active |= self._unschedulable
        self._unschedulable.clear()
        if self._active:
            self._wake.set()

    def _forget_pending(self, key: Key) -> None:
        self._pending.pop(key, None)
        self._pending_fp.pop(key, None)
        self._active.discard(key)
        self._unschedulable.discard(key)
        self._attempts.pop(key, None)
        self._seq.pop(key, None)

    def _parse_pod(self, obj: Obj) -> PodInfo | None:
        try:
            return pod_info(obj)
        except ValueError as e:
            log.warning("pod %s/%s: %s", obj["metadata"].get("namespace"), obj["metadata"]["name"], e)
            return None

    def _on_pod(self, typ: str, obj: Obj) -> None:
        meta, spec = obj["metadata"], obj.get("spec") or {}
        key = (meta.get("namespace", ""), meta["name"])
        if typ == DELETED or (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            self._forget_pending(key)
            if typ == DELETED:
                self._events.pop(key, None)
            if self._bound.pop(key, None) is not None:
                self._bound_fp.pop(key, None)
                if self._table is not None:
                    self._table.remove(key)
                self._requeue_all()  # an assigned pod went away: room may have appeared
            return
        node = spec.get("nodeName")
        if node:
            self._forget_pending(key)
            fp = (meta.get("uid"), meta.get("generation"), node, bool(meta.get("deletionTimestamp")))
            if self._bound_fp.get(key) == fp:
                return
            info = self._parse_pod(obj)
            if info is None:
                return
            self._bound[key], self._bound_fp[key] = info, fp
            if self._table is not None:
                if node in self._table.index:
                    self._table.add(info, node)
                else:
                    self._table.remove(key)
            return
        if ((spec.get("schedulerName") or DEFAULT_SCHEDULER) != self.config.scheduler_name
                or meta.get("deletionTimestamp") or spec.get("schedulingGates")):
            self._forget_pending(key)
            return
        fp = (meta.get("uid"), meta.get("generation"))
        if self._pending_fp.get(key) == fp:  # a status update (our own condition, say): nothing to reconsider
            nominated = (obj.get("status") or {}).get("nominatedNodeName") or ""
            if self._pending[key].nominated_node != nominated:
                self._pending[key] = replace(self._pending[key], nominated_node=nominated)
            return
        info = self._parse_pod(obj)
        if info is None:
            return
        self._pending[key], self._pending_fp[key] = info, fp
        if key not in self._seq:
            self._counter += 1
            self._seq[key] = self._counter
        self._wants(key)

    def _on_node(self, typ: str, obj: Obj) -> None:
        name = obj["metadata"]["name"]
        if typ == DELETED:
            if self._nodes.pop(name, None) is not None:
                self._table = None
            return
        try:
            info = node_info(obj, condition_taints=self.config.condition_taints)
        except ValueError as e:
            log.warning("node %s: %s", name, e)
            return
        old = self._nodes.get(name)
        if old == info:
            return  # a heartbeat: nothing the scheduler looks at changed
        self._nodes[name] = info
        if self._table is not None and old is not None:
            self._table.update_node(info)
        elif self._table is not None:
            self._table.add_node(info)
            for pod in [p for p in self._bound.values() if p.node_name == name]:  # bound before the node came
                self._table.add(pod, name)
        self._requeue_all()

    # -- one cycle ------------------------------------------------------------------------------------------
    def run_once(self) -> list[Placement]:
        """Apply what the informers have seen, then try every pod that is due. Returns the decisions."""
        self.nodes.drain()
        self.pods.drain()
        now = self.clock()
        flush = {k for k in self._unschedulable if now - self._attempts[k][1] >= self.config.retry_interval_s}
        self._unschedulable -= flush
        self._active |= flush
        ready = {k for k in self._active if self._ready_at(k) <= now}
        self._active -= ready
        todo = [self._pending[k] for k in ready if k in self._pending]
        if not todo:
            return []
        if self._table is None:
            self._table = NodeTable(list(self._nodes.values()), self._bound.values())
        todo.sort(key=lambda p: (-p.priority, self._seq.get(p.key, 0)))
        placements = schedule(todo, self._table)
        for placement in placements:
            if placement.node is not None:
                self._bind(placement.pod, placement.node)
            else:
                self._retry_later(placement.pod.key, now)
                self._failed(placement)
        return placements

    def _retry_later(self, key: Key, now: float) -> None:
        self._attempts[key] = (self._attempts.get(key, (0, 0.0))[0] + 1, now)
        self._unschedulable.add(key)

    # -- act ------------------------------------------------------------------------------------------------
    def _bind(self, pod: PodInfo, node: str) -> None:
        ns, name = pod.key
        body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        try:
            kinds.bind(self.api, ns, name, body)
        except errors.ApiError as e:
            log.info("binding %s/%s to %s failed: %s", ns, name, node, e)
            assert self._table is not None
            self._table.remove(pod.key)
            if pod.key in self._pending:
                self._retry_later(pod.key, self.clock())
                self._active.add(pod.key)  # a failed binding is retried after the backoff, as upstream does
                self._unschedulable.discard(pod.key)
            return
        uid, generation = self._pending_fp.get(pod.key, (pod.uid, None))
        self._forget_pending(pod.key)
        self._events.pop(pod.key, None)  # its FailedScheduling events are history now
        self._bound[pod.key] = replace(pod, node_name=node)
        self._bound_fp[pod.key] = (uid, generation, node, False)
        obj = self.pods.get(ns, name)
        if self.config.scheduled_events and obj is not None:
            # a pod is bound once: nothing to aggregate later, so the event is not remembered
            self._event(obj, "Normal", "Scheduled", "Binding", f"Successfully assigned {ns}/{name} to {node}",
                        remember=False)

    def _failed(self, placement: Placement) -> None:
        ns, name = placement.pod.key
        obj = self.pods.get(ns, name)
        if obj is None:
            return
        self._event(obj, "Warning", "FailedScheduling", "Scheduling", placement.message)
        if placement.preemption is not None:
            self._preempt(obj, placement.preemption)
        self._set_condition(obj, placement.message, placement.nominate)

    def _set_condition(self, obj: Obj, message: str, nominate: str | None) -> None:
        """`updatePod`: PodScheduled=False/Unschedulable, and nominatedNodeName (None: leave it), when either
        differs from what the pod has."""
        status = obj.get("status") or {}
        nominated = status.get("nominatedNodeName") or ""
        old = next((c for c in status.get("conditions") or () if c.get("type") == "PodScheduled"), None)
        generation = obj["metadata"].get("generation")
        same = (old is not None and old.get("status") == "False" and old.get("reason") == "Unschedulable"
                and old.get("message") == message
                and (generation is None or old.get("observedGeneration") == generation))
        if same and (nominate is None or nominate == nominated):
            return
        cond = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
                "lastTransitionTime": old.get("lastTransitionTime") if old is not None and old.get("status") == "False"
                else self.api.now()}
        if generation is not None:
            cond["observedGeneration"] = generation
        patch: Obj = {"status": {"conditions": [cond]}}
        if nominate is not None and nominate != nominated:
            patch["status"]["nominatedNodeName"] = nominate or None
        self._patch_status(obj, patch)

    def _patch_status(self, obj: Obj, patch: Obj) -> None:
        meta = obj["metadata"]
        try:
            self.api.patch(self.pod_rt, meta.get("namespace", ""), meta["name"], json.dumps(patch).encode(), _SMP,
                           subresource="status")
        except errors.ApiError as e:
            log.info("updating pod %s/%s status: %s", meta.get("namespace"), meta["name"], e)

    def _preempt(self, preemptor: Obj, preemption: Preemption) -> None:
        """`prepareCandidate`: mark each victim DisruptionTarget, delete it, and tell it who preempted it."""
        uid = preemptor["metadata"].get("uid", "")
        for ns, name in preemption.victims:
            victim = self.pods.get(ns, name)
            if victim is None:
                continue
            cond = {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
                    "message": f"{self.config.scheduler_name}: preempting to accommodate a higher priority pod",
                    "lastTransitionTime": self.api.now()}
            self._patch_status(victim, {"status": {"conditions": [cond]}})
            try:
                self.api.delete(self.pod_rt, ns, name, {})
            except errors.ApiError as e:
                log.info("preempting %s/%s: %s", ns, name, e)
                continue
            self._event(victim, "Normal", "Preempted", "Preempting",
                        f"Preempted by pod {uid} on node {preemption.node}")

    def _event(self, pod: Obj, type_: str, reason: str, action: str, message: str, *, remember: bool = True) -> None:
        """Record an Event about `pod`; the same reason and message again bumps the first one's count (unless
        it is not to be remembered)."""
        meta = pod["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        note = truncate_note(message)
        seen = self._events.setdefault((ns, name), {}) if remember else {}
        now = self.api.now()
        prev = seen.get((reason, note))
        if prev is not None:
            ev_name, count = prev
            try:
                self.api.patch(self.event_rt, ns, ev_name,
                               json.dumps({"count": count + 1, "lastTimestamp": now}).encode(), _MERGE)
                seen[(reason, note)] = (ev_name, count + 1)
                return
            except errors.ApiError:
                pass  # deleted (or expired) meanwhile: record a new one
        source = self.config.scheduler_name
        nanos = int(self.clock() * 1e9)
        body = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "", "namespace": ns},
            "involvedObject": {"kind": "Pod", "namespace": ns, "name": name, "uid": meta.get("uid", ""),
                               "apiVersion": "v1", "resourceVersion": meta.get("resourceVersion", "")},
            "reason": reason, "message": note, "source": {"component": source},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1, "type": type_,
            "action": action, "reportingComponent": source, "reportingInstance": "",
        }
        for attempt in range(8):
            body["metadata"]["name"] = f"{name}.{nanos + attempt:x}"
            try:
                self.api.create(self.event_rt, ns, body)
            except errors.ApiError as e:
                if e.code == 409:
                    continue
                log.info("recording event %s for %s/%s: %s", reason, ns, name, e)
                return
            seen[(reason, note)] = (body["metadata"]["name"], 1)
            return


__all__ = ["DEFAULT_SCHEDULER", "NOTE_LENGTH_LIMIT", "Scheduler", "SchedulerConfig", "truncate_note"]
