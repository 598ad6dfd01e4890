"""In-process list+watch caches over kubesim's store, the informers of the simulation layers.

An informer primes its cache with the current objects, then drains the store's watch queue; handlers run
on the event loop after each batch, so a layer reacts to changes without polling the API.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kubesim import storeindex
from kubesim.store import ADDED, DELETED, Watcher, queued_object

if TYPE_CHECKING:
    from kubesim.apiserver import ApiServer

Obj = dict[str, Any]
Handler = Callable[[str, Obj], None]


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
        self._watcher = self._watch_all()
        with storeindex.decoding_many():  # every stored object is decoded into the cache here
            self.drain()
        self._task = asyncio.get_running_loop().create_task(self._run())

    def drain(self) -> int:
        """Apply every queued event now; returns how many there were."""
        w = self._watcher
        if w is None:
            return 0
        n = 0
        while w.queue:
            item = w.queue.popleft()
            typ, entry, _obj = item
            obj = queued_object(item)  # the writer's object for changes; decoded for the state sent first
            key = (entry.namespace, entry.name)
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
                self._watcher = w = self._watch_all()
                with storeindex.decoding_many():
                    self.drain()
                continue
            await w.wakeup.wait()

    def _watch_all(self) -> Watcher:
        """A watch that first sends every current object as ADDED."""
        return self.api.store.watch(self.rt.storage, self.namespace, predicate=None, since=None,
                                    group=self.rt.group, resource=self.rt.resource)

    async def stop(self) -> None:
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
