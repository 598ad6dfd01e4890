"""Kubernetes Events as client-go's recorder writes them: core/v1 Events with `source.component` and
`reportingComponent` set to the controller's name, passed through client-go's EventCorrelator
(tools/record/events_cache.go):

- a repeat of the same event raises `count` and `lastTimestamp` of the Event already written;
- from the 10th distinct message with the same reason on the same object within 10 minutes, the messages are
  folded into one "(combined from similar events): ..." Event;
- each object gets a burst of 25 writes, then one per 5 minutes (the spam filter).

`EventCorrelator` is the pure part (kubesim's in-process recorder uses it too); `EventRecorder` writes over
HTTP from a queue, so that recording never blocks or fails a controller's sync (as client-go's broadcaster).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import aiohttp

from kubescale.kubeclient import ApiError, KubeClient

log = logging.getLogger(__name__)

CACHE_SIZE = 4096  # maxLruCacheEntries
AGGREGATE_MAX_EVENTS = 10
AGGREGATE_INTERVAL_S = 600.0
SPAM_BURST = 25
SPAM_REFILL_S = 300.0  # one token per 5 minutes
COMBINED = "(combined from similar events): "
MAX_TRIES = 12  # client-go's maxTriesPerEvent
RETRY_SLEEP_S = 10.0  # client-go's defaultSleepDuration (the first retry is randomised)

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


@dataclass(frozen=True)
class Involved:
    """The object an event is about (involvedObject)."""
    kind: str
    namespace: str
    name: str
    uid: str = ""
    api_version: str = ""
    resource_version: str = ""

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> Involved:
        m = obj.get("metadata") or {}
        return cls(str(obj.get("kind") or ""), str(m.get("namespace") or ""), str(m.get("name") or ""),
                   str(m.get("uid") or ""), str(obj.get("apiVersion") or ""), str(m.get("resourceVersion") or ""))

    def as_dict(self) -> dict[str, str]:
        d = {"kind": self.kind, "namespace": self.namespace, "name": self.name, "uid": self.uid,
             "apiVersion": self.api_version, "resourceVersion": self.resource_version}
        return {k: v for k, v in d.items() if v}


@dataclass(frozen=True)
class Write:
    """What to write for one recorded event: a new Event (`count` 1 unless it replaces a lost one) or a patch of
    `count`, `lastTimestamp` and `message` on the Event named `name`."""
    namespace: str
    name: str
    patch: bool
    count: int
    first_timestamp: str
    last_timestamp: str
    type: str
    reason: str
    message: str
    involved: Involved
    component: str

    def body(self, *, host: str = "") -> dict[str, Any]:
        """The core/v1 Event to create."""
        source: dict[str, str] = {"component": self.component}
        if host:
            source["host"] = host
        return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": self.name, "namespace": self.namespace},
                "involvedObject": self.involved.as_dict(), "reason": self.reason, "message": self.message,
                "source": source, "firstTimestamp": self.first_timestamp, "lastTimestamp": self.last_timestamp,
                "count": self.count, "type": self.type, "eventTime": None, "reportingComponent": self.component,
                "reportingInstance": host}

    def patch_body(self) -> dict[str, Any]:
        return {"count": self.count, "lastTimestamp": self.last_timestamp, "message": self.message}


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventCorrelator:
    """client-go's EventCorrelator: aggregation, repeat counting and the per-object spam filter. Pure: `now` is
    passed in; `exists(namespace, name)` says whether a previously written Event is still there (its absence turns
    a repeat back into a create)."""

    def __init__(self) -> None:
        self._similar: _Lru[tuple[str, ...], _Similar] = _Lru()
        self._observed: _Lru[tuple[str, ...], _Observed] = _Lru()
        self._tokens: _Lru[tuple[str, ...], _Tokens] = _Lru()
        self._stamp = 0

    def correlate(self, involved: Involved, type_: str, reason: str, message: str, *, component: str,
                  now: float) -> Write | None:
        """The write this event needs, or None when the spam filter drops it."""
        ns = involved.namespace or "default"
        source = (component, involved.kind, ns, involved.name, involved.uid, involved.api_version, type_)
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
        ts = rfc3339(now)
        observed = self._observed.get(key)
        if observed is None:
            observed = _Observed(self._new_name(involved.name, now), 0, ts)
        observed.count += 1
        self._observed.put(key, observed)
        if not self._allow(source, now):
            return None
        return Write(ns, observed.name, observed.count > 1, observed.count, observed.first, ts, type_, reason,
                     message, involved, component)

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

    def _new_name(self, name: str, now: float) -> str:
        """`<object>.<hex UnixNano>`, unique even when the clock does not move."""
        stamp = max(int(now * 1e9), self._stamp + 1)
        self._stamp = stamp
        return f"{name}.{stamp:x}"


class EventRecorder:
    """Records events for a controller over HTTP. `event()` never blocks or raises; a writer task creates or
    patches the Events, retrying while the server is unreachable as client-go does (up to 12 tries, about 10 s
    apart); an event the server rejects is not retried."""

    def __init__(self, client: KubeClient, *, component: str, host: str = "", clock: Callable[[], float] = time.time,
                 queue_size: int = 1000, retry_sleep_s: float = RETRY_SLEEP_S,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.client = client
        self.component = component
        self.host = host
        self.clock = clock
        self.retry_sleep_s = retry_sleep_s
        self._sleep = sleep
        self.correlator = EventCorrelator()
        self._queue: asyncio.Queue[Write] = asyncio.Queue(maxsize=queue_size)
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.dropped = 0  # spam-filtered or the queue was full
        self.failed = 0  # given up after the retries

    def event(self, obj: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        write = self.correlator.correlate(Involved.of(obj), type_, reason, message, component=self.component,
                                          now=self.clock())
        if write is None:
            self.dropped += 1
            return
        try:
            self._queue.put_nowait(write)
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("event queue full: dropping %s %s on %s/%s", type_, reason, write.namespace,
                        write.involved.name)

    async def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"events {self.component}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until the queued events are written (tests and shutdown)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout_s)

    async def _run(self) -> None:
        while True:
            write = await self._queue.get()
            try:
                await self._write_with_retries(write)
            finally:
                self._queue.task_done()

    async def _write_with_retries(self, write: Write) -> None:
        for attempt in range(1, MAX_TRIES + 1):
            try:
                await self._write(write)
                self.written += 1
                return
            except ApiError as e:
                # the server answered: client-go does not retry an event it rejected (or that already exists)
                log.warning("server rejected event %s on %s/%s (will not retry): %s", write.reason,
                            write.namespace, write.involved.name, e)
                self.failed += 1
                return
            except (aiohttp.ClientError, TimeoutError, OSError) as e:  # the server is unreachable: hold and retry
                error: BaseException = e
            if attempt == MAX_TRIES:
                break
            delay = self.retry_sleep_s * (random.random() if attempt == 1 else 1.0)
            log.debug("event %s on %s/%s: %s; retrying in %.1f s", write.reason, write.namespace,
                      write.involved.name, error, delay)
            await self._sleep(delay)
        self.failed += 1
        log.warning("could not write event %s on %s/%s after %d tries", write.reason, write.namespace,
                    write.involved.name, MAX_TRIES)

    async def _write(self, write: Write) -> None:
        base = f"/api/v1/namespaces/{write.namespace}/events"
        if write.patch:
            try:
                await self.client.patch(f"{base}/{write.name}", write.patch_body(), patch_type="strategic")
                return
            except ApiError as e:
                if e.status != 404:
                    raise
            # the Event to patch is gone (expired or never written): create it anew, as recordToSink does
        await self.client.create(base, write.body(host=self.host))
