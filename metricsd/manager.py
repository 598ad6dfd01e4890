"""The scrape loop: every resolution, take the nodes, keep those `--node-selector` selects, scrape them and store
the batch. Thin I/O around the Scraper and the MetricsStore; reads the clock once at a tick's start and once
when storing.

As metrics-server's server.runScrape/tick (pkg/server/server.go): a tick runs at once, then on a ticker of one
resolution; ticks never overlap, and a tick that overruns is followed at once by the next (Go's ticker holds one
pending tick and drops the rest), after which the ticks keep to the original grid. The batch is stored even when
every node failed (their metrics then disappear, as upstream). The manager, not the node cache, applies the node
selector, so one unfiltered node cache can serve both the API's label selectors and scraping.
Deliberate difference: an exception in a tick (a bug, a failing node source) is logged and the loop goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from kubesim.selectors import LabelSelector
from metricsd.objects import NodeMeta
from metricsd.scraping import ScrapeRound
from metricsd.storage import MetricsStore

log = logging.getLogger("metricsd.manager")


class RoundScraper(Protocol):
    """What the manager needs of a scraper (metricsd.scraping.Scraper)."""

    async def scrape(self, nodes: Iterable[NodeMeta], *, now: float) -> ScrapeRound: ...


class Manager:
    """Runs scrape ticks every `resolution_s`; `last_tick_start` (Unix seconds) and `last_tick_duration_s` feed
    /livez and `metrics_server_manager_tick_duration_seconds`."""

    def __init__(self, *, scraper: RoundScraper, store: MetricsStore, nodes: Callable[[], Iterable[NodeMeta]],
                 resolution_s: float, node_selector: LabelSelector | None = None,
                 clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic,
                 on_tick: Callable[[float], None] | None = None) -> None:
        if resolution_s <= 0:
            raise ValueError(f"resolution_s must be positive, got {resolution_s}")
        self._scraper = scraper
        self._store = store
        self._nodes = nodes
        self._selector = node_selector if node_selector is not None and not node_selector.is_empty() else None
        self.resolution_s = resolution_s
        self._clock = clock
        self._monotonic = monotonic
        self.last_tick_start: float | None = None
        self.last_tick_duration_s: float | None = None
        self.last_round: ScrapeRound | None = None
        self._on_tick = on_tick  # told each tick's duration (metrics_server_manager_tick_duration_seconds)

    async def run(self) -> None:
        """Tick until cancelled."""
        due = self._monotonic()
        while True:
            await self.tick()
            due += self.resolution_s
            now = self._monotonic()
            if due > now:
                await asyncio.sleep(due - now)
            else:  # overran: run at once, and keep to the grid from the last tick missed
                due = now - (now - due) % self.resolution_s

    async def tick(self) -> None:
        """One scrape and store; never raises (but for cancellation)."""
        started = self._monotonic()
        now = self._clock()
        self.last_tick_start = now
        try:
            nodes = list(self._nodes())
            if self._selector is not None:
                nodes = [n for n in nodes if self._selector.matches(n.labels)]
            result = await self._scraper.scrape(nodes, now=now)
            self._store.store(result.batch, now=self._clock())
            self.last_round = result
            log.debug("Scrape finished duration=%.3fs nodeCount=%d failed=%d", result.duration_s, len(result.batch),
                      len(result.failures))
        except Exception:
            log.exception("Scrape tick failed")
        finally:
            self.last_tick_duration_s = self._monotonic() - started
            if self._on_tick is not None:
                self._on_tick(self.last_tick_duration_s)


__all__ = ["Manager", "RoundScraper"]
