"""Kubernetes Events as kube-controller-manager's recorder writes them: core/v1 Events with `source.component`
and `reportingComponent` set to the controller's name, passed through client-go's EventCorrelator:

- a repeat of the same event raises `count` and `lastTimestamp` of the Event already written;
- from the 10th distinct message with the same reason on the same object within 10 minutes, the messages are
  folded into one "(combined from similar events): ..." Event;
- each object gets a burst of 25 writes, then one per 5 minutes (the spam filter), so a ReplicaSet that
  creates 3,000 pods does not write 3,000 Events.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from kubesim import errors
from kubesim.sim.workloads_decide import Obj, meta, rfc3339

if TYPE_CHECKING:
    from kubesim.apiserver import ApiServer

log = logging.getLogger("kubesim.events")
CACHE_SIZE = 4096  # maxLruCacheEntries
AGGREGATE_MAX_EVENTS = 10
AGGREGATE_INTERVAL_S = 600.0
SPAM_BURST = 25
SPAM_REFILL_S = 300.0  # one token per 5 minutes
COMBINED = "(combined from similar events): "

K = TypeVar("K")
V = TypeVar("V")


class _Lru(Generic[K, V]):
    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self.items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self.items.get(key)
        if value is not None:
            self.items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        if len(self.items) > self.size:
            self.items.popitem(last=False)


@dataclass
class _Similar:
    messages: dict[str, None] = field(default_factory=dict)
    last: float = 0.0


@dataclass
class _Observed:
    name: str
    count: int
    first: str


@dataclass
class _Tokens:
    tokens: float
    at: float


class EventRecorder:
    def __init__(self, api: ApiServer, *, clock: Callable[[], float]) -> None:
        self.api = api
        self.clock = clock
        self._similar: _Lru[tuple[str, ...], _Similar] = _Lru()
        self._observed: _Lru[tuple[str, ...], _Observed] = _Lru()
        self._tokens: _Lru[tuple[str, ...], _Tokens] = _Lru()
        self._stamp = 0

    def event(self, obj: Obj, type_: str, reason: str, message: str, *, component: str) -> None:
        """Record an event about `obj`; failures are logged, never raised (as client-go drops them)."""
        m = meta(obj)
        ns = m.get("namespace") or "default"
        involved = {"kind": obj.get("kind", ""), "namespace": m.get("namespace", ""), "name": m.get("name", ""),
                    "uid": m.get("uid", ""), "apiVersion": obj.get("apiVersion", ""),
                    "resourceVersion": m.get("resourceVersion", "")}
        source = (component, involved["kind"], ns, involved["name"], involved["uid"], involved["apiVersion"], type_)
        now = self.clock()
        # EventAggregator: distinct messages of one reason on one object
        similar_key = (*source, reason)
        similar = self._similar.get(similar_key)
        if similar is None or now - similar.last > AGGREGATE_INTERVAL_S:
            similar = _Similar()
        similar.messages[message] = None
        similar.last = now
        self._similar.put(similar_key, similar)
        if len(similar.messages) < AGGREGATE_MAX_EVENTS:
            key: tuple[str, ...] = (*similar_key, message)
        else:
            del similar.messages[next(iter(similar.messages))]
            key, message = similar_key, COMBINED + message
        # eventObserve: a repeat updates the Event already written
        ts = rfc3339(now)
        observed = self._observed.get(key)
        if observed is None:
            observed = _Observed(self._new_name(ns, involved["name"], now), 0, ts)
        observed.count += 1
        self._observed.put(key, observed)
        if not self._allow(source, now):
            return
        try:
            self._write(ns, observed, involved, type_, reason, message, component, ts)
        except errors.ApiError as e:
            log.debug("event %s on %s/%s dropped: %s", reason, ns, involved["name"], e)

    def _allow(self, source: tuple[str, ...], now: float) -> bool:
        """EventSourceObjectSpamFilter: a token bucket per object."""
        bucket = self._tokens.get(source)
        if bucket is None:
            bucket = _Tokens(SPAM_BURST, now)
        bucket.tokens = min(SPAM_BURST, bucket.tokens + (now - bucket.at) / SPAM_REFILL_S)
        bucket.at = now
        self._tokens.put(source, bucket)
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def _new_name(self, ns: str, name: str, now: float) -> str:
        """`<object>.<hex UnixNano>`, made unique (a frozen clock would repeat it)."""
        rt = self.api.registry.get("", "events")
        assert rt is not None
        stamp = max(int(now * 1e9), self._stamp + 1)
        while self.api.store.get(rt.storage, ns, f"{name}.{stamp:x}") is not None:
            stamp += 1
        self._stamp = stamp
        return f"{name}.{stamp:x}"

    def _write(self, ns: str, observed: _Observed, involved: dict[str, str], type_: str, reason: str, message: str,
               component: str, ts: str) -> None:
        rt = self.api.registry.get("", "events")
        assert rt is not None
        if observed.count > 1 and self.api.store.get(rt.storage, ns, observed.name) is not None:
            patch = {"count": observed.count, "lastTimestamp": ts, "message": message}
            self.api.patch(rt, ns, observed.name, json.dumps(patch).encode(), "application/merge-patch+json")
            return
        self.api.create(rt, ns, {
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": observed.name, "namespace": ns},
            "involvedObject": {k: v for k, v in involved.items() if v},
            "reason": reason, "message": message, "source": {"component": component},
            "firstTimestamp": observed.first, "lastTimestamp": ts, "count": observed.count, "type": type_,
            "eventTime": None, "reportingComponent": component, "reportingInstance": "",
        })
