"""A controller work queue (client-go workqueue, reduced): keys are deduplicated while waiting, handed to
one sync function at a time, re-added after a delay or with per-key exponential backoff after a failure.

Runs on the event loop; the sync function is synchronous (the simulation layers call the API server
in-process), and the worker yields to the loop between keys so the API server keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from kubesim import errors

log = logging.getLogger("kubesim.controllers")

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    def __init__(self, sync: Callable[[K], float | None], *, name: str, before: Callable[[], None] | None = None,
                 base_backoff_s: float = 0.005, max_backoff_s: float = 30.0) -> None:
        """`sync(key)` returns seconds after which to look at the key again (or None); raising re-adds the
        key with backoff. `before()` runs ahead of each key (e.g. to bring informer caches up to date)."""
        self.sync = sync
        self.name = name
        self.before = before
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self._pending: dict[K, None] = {}
        self._failures: dict[K, int] = {}
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.busy = False

    def add(self, key: K) -> None:
        if key not in self._pending:
            self._pending[key] = None
            self._wakeup.set()

    def add_after(self, key: K, delay_s: float) -> None:
        """Add `key` once `delay_s` has passed (an earlier pending timer for it wins)."""
        if delay_s <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + delay_s
        timer = self._timers.get(key)
        if timer is not None and timer.when() <= when:
            return
        if timer is not None:
            timer.cancel()
        self._timers[key] = loop.call_at(when, self._fire, key)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key: K) -> None:
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        self.add_after(key, min(self.base_backoff_s * 2**n, self.max_backoff_s))

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def __len__(self) -> int:
        return len(self._pending)

    def idle(self) -> bool:
        """Nothing waiting and nothing being processed (timers may still be armed)."""
        return not self._pending and not self.busy

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"workqueue-{self.name}")

    async def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def process_one(self) -> bool:
        """Sync the oldest waiting key now; False when none is waiting."""
        if not self._pending:
            return False
        key = next(iter(self._pending))
        del self._pending[key]
        self.busy = True
        try:
            if self.before is not None:
                self.before()
            again = self.sync(key)
        except Exception as e:  # a failed sync must not stop the controller: retry the key with backoff
            log.warning("%s: sync of %s failed: %s", self.name, key, e, exc_info=not isinstance(e, errors.ApiError))
            self.add_rate_limited(key)
            return True
        finally:
            self.busy = False
        self.forget(key)
        if again is not None:
            self.add_after(key, again)
        return True

    async def _run(self) -> None:
        while True:
            self._wakeup.clear()
            while self.process_one():
                await asyncio.sleep(0)
            await self._wakeup.wait()

