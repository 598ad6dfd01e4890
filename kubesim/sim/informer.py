"""In-process list+watch caches over kubesim's store, the informers of the simulation layers.

An informer primes its cache with the current objects, then drains the store's watch queue; handlers run
on the event loop after each batch, so a layer reacts to changes without polling the API. Informers of one
resource share their objects: changes carry the written object, and a new informer primes from a current
one's cache (the store keeps JSON bytes, so priming on its own decodes a private copy of every object).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kubesim import storeindex
from kubesim.store import ADDED, DELETED, Watcher, queued_object

if TYPE_CHECKING:
    from kubesim.apiserver import ApiServer

Obj = dict[str, Any]
Handler = Callable[[str, Obj], None]

_running: weakref.WeakKeyDictionary[ApiServer, weakref.WeakSet[Informer]] = weakref.WeakKeyDictionary()


class Informer:
    """A cache of one resource (optionally one namespace), kept current from the store's events."""

    def __init__(self, api: ApiServer, group: str, resource: str, *, namespace: str | None = None) -> None:
        rt = api.registry.get(group, resource)
        if rt is None:
            raise ValueError(f"unknown resource {resource}.{group}")
        self.api = api
        self.rt = rt
        self.namespace = namespace
        self.cache: dict[tuple[str, str], Obj] = {}
        self.handlers: list[Handler] = []
        self._watcher: Watcher | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Prime the cache synchronously (handlers see ADDED for each object) and follow changes."""
        self._prime()
        _running.setdefault(self.api, weakref.WeakSet()).add(self)
        self._task = asyncio.get_running_loop().create_task(self._run())

    def _prime(self) -> Watcher:
        """Watch from the current state and apply it, taking objects from a current peer's cache if any."""
        self._watcher = w = self._watch_all()
        with storeindex.decoding_many():  # otherwise every stored object is decoded here
            self.drain(peer=self._current_peer())
        return w

    def _current_peer(self) -> Informer | None:
        """Another informer of this resource (and namespace) that has applied every change so far."""
        for other in _running.get(self.api, ()):
            w = other._watcher
            if (other is not self and other.rt.storage == self.rt.storage and other.namespace in (None, self.namespace)
                    and w is not None and not w.queue and not w.closed):
                return other
        return None

    def drain(self, *, peer: Informer | None = None) -> int:
        """Apply every queued event now; returns how many there were."""
        w = self._watcher
        if w is None:
            return 0
        n = 0
        while w.queue:
            item = w.queue.popleft()
            typ, entry, obj = item  # a change carries the writer's object; the state sent first does not
            key = (entry.namespace, entry.name)
            if obj is None:
                obj = peer.cache.get(key) if peer is not None else None
                if obj is None:
                    obj = queued_object(item)
            if typ == DELETED:
                self.cache.pop(key, None)
            else:
                self.cache[key] = obj
            for h in self.handlers:
                h(typ, obj)
            n += 1
        return n

    async def _run(self) -> None:
        w = self._watcher
        assert w is not None
        while True:
            w.wakeup.clear()
            self.drain()
            if w.closed:
                # fell too far behind (or was closed): start over from the current state
                self.cache.clear()
                w = self._prime()
                continue
            await w.wakeup.wait()

    def _watch_all(self) -> Watcher:
        """A watch that first sends every current object as ADDED."""
        return self.api.store.watch(self.rt.storage, self.namespace, predicate=None, since=None,
                                    group=self.rt.group, resource=self.rt.resource)

    async def stop(self) -> None:
        _running.get(self.api, weakref.WeakSet()).discard(self)
        if self._watcher is not None:
            self.api.store.unwatch(self.rt.storage, self._watcher)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def get(self, namespace: str, name: str) -> Obj | None:
        return self.cache.get((namespace, name))

    def values(self) -> list[Obj]:
        return list(self.cache.values())


__all__ = ["ADDED", "DELETED", "Informer"]
