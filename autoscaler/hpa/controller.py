"""The HPA controller loop (kube-controller-manager's HorizontalController): gather one HPA's inputs through the
API, call the pure `decide`, act. The decision itself is all in `decide.py`; this module only does I/O.

Per HPA and `sync_period_s` (a key is processed by one worker at a time, and requeued one period after it was
taken, as upstream's fixed-interval rate-limited queue does):
1. the stored autoscaling/v2 object from the HPA cache; the target's kind is mapped to its resource through
   discovery (any kind with a `scale` subresource, CRDs included) and its Scale is read;
2. the pods the scale selector matches, from the pod cache, and every metric through the metrics APIs;
3. `decide`; when it rescales, the Scale is updated (on a 409 Conflict the whole sync runs again on fresh
   data, up to `conflict_retries` times; a final failure is decided again as FailedRescale);
4. `status` is written only when it changed, and the decision's Events are recorded.
The recommendation and scale-event history lives here, in memory, per HPA, as upstream keeps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp

from autoscaler.hpa import decide, defaulting, gathering
from autoscaler.hpa.gathering import PodEntry, pod_entry
from autoscaler.hpa.metricsclient import MetricsClient, client_error_text
from autoscaler.hpa.selectorindex import HPAKey, SelectorIndex
from autoscaler.hpa.telemetry import HPATelemetry
from kubescale.events import EventRecorder
from kubescale.informing import DELETED, Informer
from kubescale.kubeclient import ApiError, KubeClient
from kubescale.restmapper import RESTMapper
from kubesim.selectors import LabelSelector

log = logging.getLogger(__name__)

HPA_PATH = "/apis/autoscaling/v2/horizontalpodautoscalers"
PODS_PATH = "/api/v1/pods"
CLASS_ANNOTATION = "autoscaling.kubescale.io/hpa-class"


@dataclass(frozen=True)
class ControllerOptions:
    """kube-controller-manager's HPA flags (upstream defaults) and ours."""
    sync_period_s: float = 15.0
    settings: decide.Settings = field(default_factory=decide.Settings)
    workers: int = 5  # --concurrent-horizontal-pod-autoscaler-syncs
    hpa_class: str = ""  # act only on HPAs whose class annotation equals this ("" = HPAs without one)
    conflict_retries: int = 3


def hpa_class(hpa: Mapping[str, Any]) -> str:
    return str(((hpa.get("metadata") or {}).get("annotations") or {}).get(CLASS_ANNOTATION, ""))


class _Conflict(Exception):
    """The scale changed under us; the sync is run again."""


class HPAController:
    def __init__(self, client: KubeClient, options: ControllerOptions, *, recorder: EventRecorder,
                 telemetry: HPATelemetry | None = None, clock: Callable[[], float] = time.time,
                 on_decision: Callable[[HPAKey, decide.Decision], None] | None = None) -> None:
        self.client = client
        self.on_decision = on_decision
        self.options = options
        self.recorder = recorder
        self.telemetry = telemetry or HPATelemetry()
        self.clock = clock
        self.mapper = RESTMapper(client, refresh_interval_s=options.sync_period_s)
        self.metrics = MetricsClient(client, self.mapper)
        self.hpas: Informer[dict[str, Any]] = Informer(client, HPA_PATH, lambda o: o, name="horizontalpodautoscalers")
        self.pods: Informer[PodEntry] = Informer(client, PODS_PATH, pod_entry, name="pods")
        self.pod_index = gathering.PodIndex()
        self.history: dict[HPAKey, decide.History] = {}
        self.selectors = SelectorIndex()
        self._due: dict[HPAKey, float] = {}
        self._heap: list[tuple[float, HPAKey]] = []
        self._active: set[HPAKey] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.hpas.add_handler(self._on_hpa)
        self.pods.add_handler(self._on_pod)

    # -- caches and queue ------------------------------------------------------------------------------------------
    def _mine(self, hpa: Mapping[str, Any]) -> bool:
        return hpa_class(hpa) == self.options.hpa_class

    def _on_hpa(self, kind: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        obj = new if new is not None else old
        assert obj is not None
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        if kind == DELETED or (new is not None and not self._mine(new)):
            self._forget(key)
            return
        if key not in self.selectors:
            self.selectors.put(key, LabelSelector.nothing())
        self.enqueue(key, after_s=self.options.sync_period_s)

    def _forget(self, key: HPAKey) -> None:
        self._due.pop(key, None)
        self.history.pop(key, None)
        self.selectors.remove(key)

    def _on_pod(self, kind: str, old: PodEntry | None, new: PodEntry | None) -> None:
        entry = new if new is not None else old
        assert entry is not None
        if kind == DELETED:
            self.pod_index.remove(entry.namespace, entry.info.name)
        else:
            self.pod_index.put(entry)

    def enqueue(self, key: HPAKey, *, after_s: float = 0.0) -> None:
        """AddAfter: the earliest of an already queued time and now + after_s wins."""
        due = time.monotonic() + after_s
        if key in self._due and self._due[key] <= due:
            return
        self._due[key] = due
        heapq.heappush(self._heap, (due, key))
        self._wake.set()

    async def _next(self) -> HPAKey:
        while True:
            now = time.monotonic()
            while self._heap:
                due, key = self._heap[0]
                if self._due.get(key) != due:
                    heapq.heappop(self._heap)  # superseded or forgotten
                    continue
                if due > now:
                    break
                heapq.heappop(self._heap)
                if key in self._active:  # being processed: try again once it is done
                    self._due[key] = now + 0.05
                    heapq.heappush(self._heap, (now + 0.05, key))
                    continue
                del self._due[key]
                return key
            self._wake.clear()
            timeout = (self._heap[0][0] - now) if self._heap else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)

    async def _worker(self) -> None:
        while True:
            key = await self._next()
            self._active.add(key)
            self.enqueue(key, after_s=self.options.sync_period_s)  # processed every period, success or not
            try:
                await self.reconcile_key(key)
            except Exception:
                log.exception("hpa %s/%s: sync failed", *key)
                self.telemetry.reconciled(action="none", error="internal", duration_s=0.0)
            finally:
                self._active.discard(key)

    # -- lifecycle -------------------------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.pods.start()
        await self.hpas.start()
        self._tasks = [asyncio.create_task(self._worker(), name=f"hpa worker {i}")
                       for i in range(max(1, self.options.workers))]

    async def wait_synced(self, timeout_s: float | None = None) -> bool:
        return await self.pods.wait_synced(timeout_s) and await self.hpas.wait_synced(timeout_s)

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.hpas.stop()
        await self.pods.stop()

    # -- one sync --------------------------------------------------------------------------------------------------
    async def reconcile_key(self, key: HPAKey) -> decide.Decision | None:
        """Sync one HPA; None when it is gone or not ours."""
        hpa = self.hpas.items.get(key)
        if hpa is None or not self._mine(hpa):
            self._forget(key)
            return None
        started = time.monotonic()
        for attempt in range(self.options.conflict_retries + 1):
            try:
                decision, error_kind = await self._sync(key, hpa, last_try=attempt == self.options.conflict_retries)
                break
            except _Conflict:
                log.info("hpa %s/%s: the scale changed while syncing; syncing again", *key)
                continue
        action = ("scale_up" if decision.desired_replicas > decision.current_replicas else "scale_down") \
            if decision.rescale else "none"
        self.telemetry.reconciled(action=action, error=error_kind, duration_s=time.monotonic() - started)
        return decision

    async def _sync(self, key: HPAKey, hpa: dict[str, Any], *, last_try: bool) -> tuple[decide.Decision, str]:
        now = self.clock()
        stored = defaulting.stored_v2(hpa)
        history = self.history.get(key, decide.History())
        ref = (stored.get("spec") or {}).get("scaleTargetRef") or {}
        try:
            target = await gathering.get_scale(self.client, self.mapper, key[0], ref)
        except gathering.ScaleError as e:
            failed = decide.failed_get_scale(stored, str(e), now=now, history=history)
            return await self._finish(key, hpa, failed), e.kind
        pods = self.pod_index.select(key[0], target.selector)
        ambiguous: tuple[str, ...] = ()
        if target.scale.selector and target.selector_error is None:
            self.selectors.put(key, target.selector)
            ambiguous = tuple(self.selectors.selecting(key[0], (p.labels for p in pods)))
        inp = await gathering.sync_input(self.metrics, stored, target, pods, now=now, history=history,
                                         settings=self.options.settings, ambiguous_hpas=ambiguous)
        decision = decide.decide(inp)
        error_kind = "none" if not any(m.error for m in decision.metrics) else "internal"
        if decision.rescale:
            body = {**target.obj, "spec": {**(target.obj.get("spec") or {}), "replicas": decision.desired_replicas}}
            try:
                await self.client.update(target.path, body)
            except gathering.NETWORK_ERRORS as e:
                if isinstance(e, ApiError) and e.status == 409 and not last_try:
                    raise _Conflict() from e
                error = client_error_text(e, verb="put", resource="scale", url=self.client.url(target.path))
                decision = decide.decide(replace(inp, scale_update_error=error))
                error_kind = "internal"
        return await self._finish(key, hpa, decision), error_kind

    async def _finish(self, key: HPAKey, hpa: dict[str, Any], decision: decide.Decision) -> decide.Decision:
        """Remember the history, record the events and write the status if it changed."""
        self.history[key] = decision.history
        if self.on_decision is not None:
            self.on_decision(key, decision)
        for e in decision.events:
            self.recorder.event(hpa, e.type, e.reason, e.message)
        if decision.status != (hpa.get("status") or {}):
            await self._write_status(key, hpa, decision.status)
        return decision

    async def _write_status(self, key: HPAKey, hpa: dict[str, Any], status: dict[str, Any]) -> None:
        path = f"/apis/autoscaling/v2/namespaces/{key[0]}/horizontalpodautoscalers/{key[1]}/status"
        body = {**hpa, "status": status}
        for attempt in range(2):
            try:
                await self.client.update(path, body)
            except ApiError as e:
                if e.status == 409 and attempt == 0:
                    try:  # the HPA changed since it was cached: put our status on the latest object
                        latest = await self.client.get(path)
                    except gathering.NETWORK_ERRORS:
                        latest = None
                    if isinstance(latest, dict):
                        body = {**latest, "status": status}
                        continue
                self.recorder.event(hpa, "Warning", "FailedUpdateStatus", client_error_text(
                    e, verb="put", resource="horizontalpodautoscalers.autoscaling"))
                log.warning("hpa %s/%s: failed to update status: %s", *key, e)
                self.telemetry.status_write_failures += 1
                return
            except (aiohttp.ClientError, TimeoutError, OSError) as e:
                log.warning("hpa %s/%s: failed to update status: %s: %s", *key, type(e).__name__, e)
                self.telemetry.status_write_failures += 1
                return
            self.telemetry.status_writes += 1
            return
