"""List-then-watch caches of API collections, like client-go's reflector + informer: a background task keeps
`items` (transformed objects keyed (namespace, name)) current and calls handlers on every change.

Resumes a watch from the last resourceVersion seen (BOOKMARK events included), lists again on 410 Gone and,
with capped exponential backoff, on any other failure. One bad object or a failing handler is counted and
logged, never fatal. Not a work queue: handlers run inline on the event loop and must be quick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar

from kubescale.kubeclient import ApiError

log = logging.getLogger(__name__)

T = TypeVar("T")
Key = tuple[str, str]
Handler = Callable[[str, Any, Any], None]

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"


class ListWatcher(Protocol):
    """What an informer needs of a client (kubeclient.KubeClient is one; tests pass small fakes)."""

    async def list(
        self, path: str, *, params: Mapping[str, str] | None = None, page_size: int = 500,
        item: Callable[[dict[str, Any]], Any] | None = None,
    ) -> tuple[list[Any], str]: ...

    def watch(
        self, path: str, *, resource_version: str, params: Mapping[str, str] | None = None, timeout_s: int = 300
    ) -> AsyncIterator[dict[str, Any]]: ...


def object_key(obj: Mapping[str, Any]) -> Key:
    """(namespace or "", name) of an API object; ValueError when it has no name."""
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name:
        raise ValueError("object has no metadata.name")
    return str(meta.get("namespace") or ""), name  # type: ignore[union-attr]


class Informer(Generic[T]):
    """A cache of one collection (`path`, e.g. "/api/v1/nodes"), optionally narrowed by `params`
    (labelSelector, fieldSelector)."""

    def __init__(
        self,
        client: ListWatcher,
        path: str,
        transform: Callable[[dict[str, Any]], T],
        *,
        params: Mapping[str, str] | None = None,
        name: str = "",
        page_size: int = 500,
        watch_timeout_s: int = 300,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.client = client
        self.path = path
        self.transform = transform
        self.params = dict(params or {})
        self.name = name or path
        self.page_size = page_size
        self.watch_timeout_s = watch_timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self._sleep = sleep
        self.items: dict[Key, T] = {}
        self.errors = 0  # failed lists and watches (410 Gone is not a failure), bad objects, failing handlers
        self.relists = 0  # lists after the first (after 410 Gone or a failure)
        self.resource_version = ""
        self._versions: dict[Key, str] = {}  # the raw resourceVersion of each cached object
        self._handlers: list[Callable[[str, T | None, T | None], None]] = []
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add_handler(self, fn: Callable[[str, T | None, T | None], None]) -> None:
        """Call `fn(event, old, new)` on every change: ADDED (old None), MODIFIED, DELETED (new None)."""
        self._handlers.append(fn)

    async def start(self) -> None:
        """Start the background list+watch task and return at once; `wait_synced` waits for the first list."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"informer {self.name}")

    def synced(self) -> bool:
        """Whether a list has completed (`items` holds the whole collection as of some version)."""
        return self._synced.is_set()

    async def wait_synced(self, timeout_s: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._synced.wait(), timeout=timeout_s)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- the loop --------------------------------------------------------------------------------------------------
    async def _run(self) -> None:
        backoff = self.backoff_initial_s
        first = True
        while True:
            try:
                if not first:
                    self.relists += 1
                first = False
                items, version = await self.client.list(self.path, params=self.params, page_size=self.page_size,
                                                        item=self._listed)
                self._replace(items)
                self.resource_version = version
                self._synced.set()
                backoff = self.backoff_initial_s
                while True:
                    started = asyncio.get_running_loop().time()
                    events = await self._watch_once()
                    if events == 0 and asyncio.get_running_loop().time() - started < 1.0:
                        # a stream that ends at once, again and again, must not spin
                        await self._sleep(backoff)
                        backoff = min(backoff * 2, self.backoff_max_s)
                    else:
                        backoff = self.backoff_initial_s
            except asyncio.CancelledError:
                raise
            except ApiError as e:
                if e.status == 410:
                    log.info("informer %s: %s; listing again", self.name, e.message or "resource version too old")
                    continue
                self.errors += 1
                log.warning("informer %s: %s; listing again in %.1f s", self.name, e, backoff)
            except Exception as e:  # any failure of one list or watch: retry, never die
                self.errors += 1
                log.warning("informer %s: %s: %s; listing again in %.1f s", self.name, type(e).__name__, e, backoff)
            await self._sleep(backoff)
            backoff = min(backoff * 2, self.backoff_max_s)

    async def _watch_once(self) -> int:
        """One watch stream from `resource_version`, applied to the cache; the number of events it carried."""
        count = 0
        stream = self.client.watch(self.path, resource_version=self.resource_version, params=self.params,
                                   timeout_s=self.watch_timeout_s)
        async with contextlib.aclosing(stream) as events:  # type: ignore[type-var]
            async for event in events:
                count += 1
                self._apply(event)
        return count

    def _apply(self, event: dict[str, Any]) -> None:
        kind, obj = event.get("type"), event.get("object")
        if not isinstance(obj, dict):
            self._bad(f"{kind} event without an object")
            return
        version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
        if kind == "BOOKMARK":
            self.resource_version = version or self.resource_version
            return
        if kind not in (ADDED, MODIFIED, DELETED):
            self._bad(f"unknown event type {kind!r}")
            return
        if version:
            self.resource_version = version
        try:
            key = object_key(obj)
        except ValueError as e:
            self._bad(f"{kind} event: {e}")
            return
        if kind == DELETED:
            self._versions.pop(key, None)
            old = self.items.pop(key, None)
            if old is not None:
                self._notify(DELETED, old, None)
            return
        try:
            new = self.transform(obj)
        except Exception as e:
            self._bad(f"cannot transform {key[0]}/{key[1]}: {type(e).__name__}: {e}")
            return
        old = self.items.get(key)
        self.items[key] = new
        self._versions[key] = version
        self._notify(ADDED if old is None else MODIFIED, old, new)

    def _listed(self, obj: dict[str, Any]) -> tuple[Key, str, T] | None:
        """A listed object as kept while its page arrives: key, version and the transformed object (the one
        cached when the version is unchanged), or None when it cannot be read."""
        try:
            key = object_key(obj)
            version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
            if key in self.items and self._versions.get(key) == version and version:
                return key, version, self.items[key]
            return key, version, self.transform(obj)
        except Exception as e:
            self._bad(f"listed object: {type(e).__name__}: {e}")
            return None

    def _replace(self, listed: list[tuple[Key, str, T] | None]) -> None:
        """A fresh list: the cache becomes exactly `listed`; handlers hear of what was added, changed
        (by resourceVersion) or is gone."""
        items: dict[Key, T] = {}
        versions: dict[Key, str] = {}
        for entry in listed:
            if entry is not None:
                key, version, obj = entry
                items[key] = obj
                versions[key] = version
        old_items = self.items
        self.items, self._versions = items, versions
        for key, old in old_items.items():
            if key not in items:
                self._notify(DELETED, old, None)
        for key, new in items.items():
            old = old_items.get(key)
            if old is None:
                self._notify(ADDED, None, new)
            elif old is not new:
                self._notify(MODIFIED, old, new)

    def _notify(self, kind: str, old: T | None, new: T | None) -> None:
        for fn in self._handlers:
            try:
                fn(kind, old, new)
            except Exception:
                self.errors += 1
                log.exception("informer %s: a %s handler failed", self.name, kind)

    def _bad(self, what: str) -> None:
        self.errors += 1
        log.warning("informer %s: skipping a bad object: %s", self.name, what)
