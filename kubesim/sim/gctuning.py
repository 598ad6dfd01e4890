"""CPython's cyclic garbage collector while the simulation layers build and then run a cluster.

Building the `large` scenario leaves some nine million long-lived containers (the objects the informers cache,
the layers' own records) and makes no reference cycles, yet the collector keeps rescanning them: with the
default thresholds a full collection comes every time the heap has grown by a quarter (100 of the 290 s the
large start-up took), with raised ones each new object is still scanned once or twice (15 s). So:

- from `start()`, the collector is off while the heap grows (start-up);
- once the net growth has stayed under `quiet_growth` objects a second for `quiet_periods` seconds (or after
  `max_hold_s`), everything alive is frozen (`gc.freeze`: never scanned again, still freed by reference
  counting) and the collector is back on, with thresholds raised so young collections come every 50,000 net
  allocations and full ones practically never (cycles that die young are still collected);
- `stop()` unfreezes and puts back the thresholds and the on/off state it found.

Process-wide state, meant for one simulation at a time. Timing comes from asyncio.sleep; no I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging

log = logging.getLogger("kubesim.sim")

THRESHOLDS = (50_000, 20, 100)


class StartupCollector:
    def __init__(self, *, period_s: float = 1.0, quiet_growth: int = 20_000, quiet_periods: int = 3,
                 max_hold_s: float = 600.0) -> None:
        self.period_s = period_s
        self.quiet_growth = quiet_growth
        self.quiet_periods = quiet_periods
        self.max_hold_s = max_hold_s
        self.frozen = 0  # objects frozen at the end of start-up
        self._saved: tuple[tuple[int, int, int], bool] | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def holding(self) -> bool:
        """The collector is off for start-up."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._saved is not None:
            return
        self._saved = (gc.get_threshold(), gc.isenabled())
        gc.set_threshold(*THRESHOLDS)
        gc.disable()
        self._task = asyncio.get_running_loop().create_task(self._hold())

    async def _hold(self) -> None:
        try:
            last, quiet, waited = gc.get_count()[0], 0, 0.0
            while quiet < self.quiet_periods and waited < self.max_hold_s:
                await asyncio.sleep(self.period_s)
                waited += self.period_s
                count = gc.get_count()[0]  # net allocations of tracked objects: nothing resets it while off
                quiet = quiet + 1 if count - last < self.quiet_growth * self.period_s else 0
                last = count
        finally:
            gc.freeze()
            self.frozen = gc.get_freeze_count()
            if self._saved is not None and self._saved[1]:
                gc.enable()
        log.info("start-up settled: %d objects frozen, cyclic garbage collector back on", self.frozen)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._saved is None:
            return
        thresholds, enabled = self._saved
        self._saved = None
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        if enabled:
            gc.enable()
        else:
            gc.disable()
