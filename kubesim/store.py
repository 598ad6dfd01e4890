"""The generic object store behind kubesim: objects, resourceVersions, watch history and watchers.

In memory, single-threaded (the asyncio loop owns it), kind-agnostic. It keeps each object as JSON bytes
with a small index (`kubesim.storeindex.Entry`), so a list of 150,000 pods is one `b",".join` and
selectors never decode; it indexes pods by `spec.nodeName` for the field selector kubelets use, and keeps
a bounded per-resource event history so watches resume from a resourceVersion or get 410 Gone. Kind
semantics (defaults, validation, subresources) live in `kubesim.apiserver`; HTTP in `kubesim.server`.
"""

from __future__ import annotations

import asyncio
import base64
import bisect
import json
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kubesim import errors
from kubesim.storeindex import Entry, Predicate

Obj = dict[str, Any]
# a watch queue item: the event type, the entry, and the object when the writer's one is at hand (None: decode
# `entry.obj` when the object is needed, e.g. for a state sent first or replayed from history)
QueueItem = tuple[str, Entry, Obj | None]

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"
_intern = sys.intern


def copy_json(value: Any) -> Any:
    """A deep copy of a decoded JSON value (three times faster than copy.deepcopy on API objects)."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value


def intern_json(value: Any) -> Any:
    """The value with its keys and short strings interned: the objects informers keep then share one copy of
    "metadata", "containers", their label values and image names instead of holding their own."""
    t = type(value)
    if t is dict:
        return {_intern(k): intern_json(v) for k, v in value.items()}
    if t is list:
        return [intern_json(v) for v in value]
    if t is str and len(value) <= 64:
        return _intern(value)
    return value


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class Event:
    """One change as the history keeps it: the entries only (no decoded objects), `old` for MODIFIED."""

    rv: int
    type: str
    namespace: str
    name: str
    entry: Entry
    old: Entry | None


def queued_object(item: QueueItem) -> Obj:
    """The object of a watch queue item, decoded if the item does not carry it."""
    _typ, entry, obj = item
    return obj if obj is not None else entry.obj


class Watcher:
    """One watch stream's queue; the server drains it, the store fills it."""

    def __init__(self, *, namespace: str | None, predicate: Predicate | None, max_backlog: int) -> None:
        self.namespace = namespace
        self.predicate = predicate
        self.max_backlog = max_backlog
        self.queue: deque[QueueItem] = deque()
        self.wakeup = asyncio.Event()
        self.closed = False
        self.overflowed = False

    def offer(self, ev: Event, obj: Obj | None) -> None:
        """Queue `ev` if it concerns this watch; `obj` is the written object, when at hand."""
        if self.closed or (self.namespace is not None and ev.namespace != self.namespace):
            return
        p = self.predicate
        if p is None:
            self._put(ev.type, ev.entry, obj)
            return
        now = p(ev.entry)
        if ev.type == MODIFIED and ev.old is not None:
            before = p(ev.old)
            if now and not before:
                self._put(ADDED, ev.entry, obj)
            elif before and not now:
                self._put(DELETED, ev.entry, obj)
            elif now:
                self._put(MODIFIED, ev.entry, obj)
        elif now:
            self._put(ev.type, ev.entry, obj)

    def _put(self, typ: str, entry: Entry, obj: Obj | None) -> None:
        if len(self.queue) >= self.max_backlog:
            # A consumer this far behind would only fall further; upstream closes such watches too.
            self.overflowed = True
            self.close()
            return
        self.queue.append((typ, entry, obj))
        self.wakeup.set()

    def close(self) -> None:
        self.closed = True
        self.wakeup.set()


class Bucket:
    """All objects of one storage key, by namespace then name."""

    def __init__(self, storage: str, *, history: int, index_node_name: bool) -> None:
        self.storage = storage
        self.by_ns: dict[str, dict[str, Entry]] = {}
        self._sorted: dict[str, list[str]] = {}
        self._sorted_ns: list[str] | None = None
        self.history: deque[Event] = deque(maxlen=history)
        self.watchers: set[Watcher] = set()
        self.node_index: dict[str, set[tuple[str, str]]] | None = {} if index_node_name else None
        self.count = 0
        self.compacted_rv = 0

    def oldest_resumable(self) -> int:
        """The smallest resourceVersion a watch may resume from without missing events."""
        floor = self.compacted_rv
        if self.history and len(self.history) == self.history.maxlen:
            floor = max(floor, self.history[0].rv - 1)
        return floor

    def sorted_names(self, ns: str) -> list[str]:
        names = self._sorted.get(ns)
        if names is None:
            names = sorted(self.by_ns.get(ns, ()))
            self._sorted[ns] = names
        return names

    def sorted_namespaces(self) -> list[str]:
        if self._sorted_ns is None:
            self._sorted_ns = sorted(ns for ns, objs in self.by_ns.items() if objs)
        return self._sorted_ns

    def count_after(self, ns: str | None, key: tuple[str, str]) -> int:
        """How many objects sort after `key` (within `ns` when given), without walking them."""
        names = self.sorted_names(key[0])
        after = len(names) - bisect.bisect_right(names, key[1])
        if ns is None:
            after += sum(len(self.by_ns[n]) for n in self.sorted_namespaces() if n > key[0])
        return after

    def _invalidate(self, ns: str) -> None:
        self._sorted.pop(ns, None)
        self._sorted_ns = None

    def put(self, ns: str, name: str, entry: Entry, old: Entry | None) -> None:
        objs = self.by_ns.setdefault(ns, {})
        objs[name] = entry
        if old is None:
            self.count += 1
            self._invalidate(ns)
        if self.node_index is not None:
            before = _node_name(old) if old else None
            after = _node_name(entry)
            if before != after:
                if before is not None:
                    self.node_index.get(before, set()).discard((ns, name))
                if after is not None:
                    self.node_index.setdefault(after, set()).add((ns, name))

    def pop(self, ns: str, name: str) -> Entry | None:
        objs = self.by_ns.get(ns)
        if not objs or name not in objs:
            return None
        entry = objs.pop(name)
        self.count -= 1
        self._invalidate(ns)
        if self.node_index is not None:
            node = _node_name(entry)
            if node is not None:
                self.node_index.get(node, set()).discard((ns, name))
        return entry

    def entries(self, ns: str | None, start: tuple[str, str] | None = None) -> Iterator[tuple[str, str, Entry]]:
        """Entries in key order (namespace, name), strictly after `start` when given."""
        namespaces = [ns] if ns is not None else self.sorted_namespaces()
        for n in namespaces:
            if start is not None and n < start[0]:
                continue
            objs = self.by_ns.get(n)
            if not objs:
                continue
            names = self.sorted_names(n)
            if start is not None and n == start[0]:
                names = names[bisect.bisect_right(names, start[1]):]
            for name in names:
                yield n, name, objs[name]


def _node_name(entry: Entry) -> str | None:
    return entry.field("spec.nodeName") or None


@dataclass
class ListResult:
    entries: list[Entry]
    resource_version: int
    continue_token: str | None = None
    remaining: int | None = None


@dataclass
class Store:
    """Cluster-wide resourceVersion counter over per-resource buckets."""

    history_size: int = 10_000
    watch_backlog: int = 2_000_000
    rv: int = 1
    buckets: dict[str, Bucket] = field(default_factory=dict)

    def bucket(self, storage: str) -> Bucket:
        b = self.buckets.get(storage)
        if b is None:
            b = Bucket(storage, history=self.history_size, index_node_name=storage == "/pods")
            self.buckets[storage] = b
        return b

    def next_rv(self) -> int:
        self.rv += 1
        return self.rv

    # -- reads ---------------------------------------------------------------------------------------------
    def get(self, storage: str, ns: str, name: str) -> Entry | None:
        objs = self.bucket(storage).by_ns.get(ns)
        return objs.get(name) if objs else None

    def list(
        self,
        storage: str,
        ns: str | None,
        *,
        predicate: Predicate | None = None,
        node_name: str | None = None,
        limit: int = 0,
        continue_token: str | None = None,
    ) -> ListResult:
        """Objects in key order; `node_name` uses the pod index; `limit`/`continue` page as upstream."""
        b = self.bucket(storage)
        rv = self.rv
        start: tuple[str, str] | None = None
        if continue_token:
            start, rv = decode_continue(continue_token)
        if node_name is not None and b.node_index is not None:
            keys = sorted(k for k in b.node_index.get(node_name, ()) if ns is None or k[0] == ns)
            if start is not None:
                keys = [k for k in keys if k > start]
            source: Iterator[tuple[str, str, Entry]] = (
                (k[0], k[1], b.by_ns[k[0]][k[1]]) for k in keys
            )
        else:
            source = b.entries(ns, start)
        out: list[Entry] = []
        last: tuple[str, str] | None = None
        for n, name, entry in source:
            if predicate is not None and not predicate(entry):
                continue
            if limit and len(out) >= limit:
                # one more match exists: hand out a continue token from the last returned key; like the
                # apiserver, count what remains only when no selector filters the list
                assert last is not None
                remaining = b.count_after(ns, last) if predicate is None and node_name is None else None
                return ListResult(out, rv, encode_continue(last, rv), remaining)
            out.append(entry)
            last = (n, name)
        return ListResult(out, rv)

    # -- writes --------------------------------------------------------------------------------------------
    def put(self, storage: str, ns: str, name: str, obj: Obj, *, old: Entry | None) -> Entry:
        """Store `obj` (its metadata.resourceVersion is set here) and notify watchers."""
        rv = self.next_rv()
        ns, name = _intern(ns), _intern(name)  # the bucket's keys and the index then share the object's strings
        b = self.bucket(storage)
        if b.watchers:  # only a watcher (an informer's cache) may keep the object: then sharing strings pays
            obj = intern_json(obj)
        obj["metadata"]["resourceVersion"] = str(rv)
        entry = Entry(obj, dumps(obj))
        b.put(ns, name, entry, old)
        self._emit(b, Event(rv, MODIFIED if old else ADDED, ns, name, entry, old), obj)
        return entry

    def remove(self, storage: str, ns: str, name: str) -> Entry | None:
        b = self.bucket(storage)
        old = b.pop(ns, name)
        if old is None:
            return None
        rv = self.next_rv()
        # the DELETED event carries the last state with the deletion's resourceVersion, as etcd3 watch does
        last = old.obj
        obj = {**last, "metadata": {**last["metadata"], "resourceVersion": str(rv)}}
        entry = Entry(obj, dumps(obj))
        self._emit(b, Event(rv, DELETED, ns, name, entry, None), obj)
        return entry

    def _emit(self, b: Bucket, ev: Event, obj: Obj) -> None:
        b.history.append(ev)
        for w in tuple(b.watchers):
            w.offer(ev, obj)
            if w.closed:
                b.watchers.discard(w)

    # -- watch ---------------------------------------------------------------------------------------------
    def watch(
        self,
        storage: str,
        ns: str | None,
        *,
        predicate: Predicate | None,
        since: int | None,
        group: str,
        resource: str,
    ) -> Watcher:
        """Start a watcher. `since=None` sends the current state as ADDED first (upstream's RV unset/"0")."""
        b = self.bucket(storage)
        w = Watcher(namespace=ns, predicate=predicate, max_backlog=self.watch_backlog)
        if since is None:
            for _n, _name, entry in b.entries(ns):
                if predicate is None or predicate(entry):
                    w.queue.append((ADDED, entry, None))
            if w.queue:
                w.wakeup.set()
        elif since < self.rv:
            oldest = b.oldest_resumable()
            if since < oldest:
                raise errors.gone(f"too old resource version: {since} ({oldest})")
            for ev in b.history:
                if ev.rv > since:
                    w.offer(ev, None)
        b.watchers.add(w)
        return w

    def unwatch(self, storage: str, w: Watcher) -> None:
        w.close()
        self.bucket(storage).watchers.discard(w)

    def compact(self, storage: str) -> None:
        """Forget a resource's history (tests use it to provoke 410 Gone)."""
        b = self.bucket(storage)
        b.history.clear()
        b.compacted_rv = self.rv


def encode_continue(start: tuple[str, str], rv: int) -> str:
    key = f"/{start[0]}/{start[1]}" if start[0] else f"/{start[1]}"
    doc = {"v": "meta.k8s.io/v1", "rv": rv, "start": key + "\x00"}
    return base64.urlsafe_b64encode(dumps(doc)).decode().rstrip("=")


def decode_continue(token: str) -> tuple[tuple[str, str], int]:
    try:
        pad = "=" * (-len(token) % 4)
        doc = json.loads(base64.urlsafe_b64decode(token + pad))
        key = doc["start"].rstrip("\x00").lstrip("/")
        rv = int(doc["rv"])
        ns, _, name = key.rpartition("/")
        if doc.get("v") != "meta.k8s.io/v1" or not name:
            raise ValueError
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise errors.bad_request(f"continue key is not valid: {e or 'malformed'}") from None
    return (ns, name), rv
