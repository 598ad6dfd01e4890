"""metricsd's own `/metrics`: metrics-server's series, read from the store and the scraper when Prometheus
scrapes, so a deleted node's series vanish with it.

Names, types, labels and buckets as upstream (pkg/scraper, pkg/storage, pkg/server, pkg/api monitoring):
- `metrics_server_kubelet_request_duration_seconds{node}` histogram, default buckets;
- `metrics_server_kubelet_request_total{success}` counter ("true"/"false");
- `metrics_server_kubelet_last_request_time_seconds{node}` gauge;
- `metrics_server_manager_tick_duration_seconds` histogram, buckets around the resolution
  (BucketsForScrapeDuration);
- `metrics_server_storage_points{type}` gauge ("node", "container");
- `metrics_server_api_metric_freshness_seconds` histogram, buckets 1.364^i for i < 20.
Difference: the per-node request histogram is fed at collection time from the scraper's last request per node,
so requests between two Prometheus scrapes (scraped less often than the resolution) count once, not each; the
series of a node no longer scraped disappears (upstream keeps it until restart).

No I/O; `collect()` is called by prometheus_client.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Protocol

import numpy as np
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)  # Prometheus DefBuckets


def exponential_buckets(start: float, factor: float, count: int) -> tuple[float, ...]:
    """prometheus.ExponentialBuckets, multiplied step by step as Go does (so the bounds match to the bit)."""
    out = []
    for _ in range(count):
        out.append(start)
        start *= factor
    return tuple(out)


FRESHNESS_BUCKETS = exponential_buckets(1, 1.364, 20)


class StoreState(Protocol):
    def points(self) -> Mapping[str, int]: ...


class ScraperState(Protocol):
    """What the scraper tells telemetry (adapt the scraper to this)."""

    def node_requests(self) -> Mapping[str, tuple[float, float]]:
        """node -> (duration in seconds, Unix time in seconds) of its last request; nodes of the last round."""
        ...

    def request_totals(self) -> Mapping[bool, int]:
        """Requests so far by success."""
        ...


def buckets_for_scrape_duration(resolution_s: float) -> tuple[float, ...]:
    """utils.BucketsForScrapeDuration: the default buckets with the resolution (and around it) added."""
    buckets = list(DEFAULT_BUCKETS)
    top = buckets[-1]
    if resolution_s > top:
        halfway = top + (resolution_s - top) / 2
        buckets += [halfway, resolution_s, resolution_s * 1.5, resolution_s * 2.0]
    elif resolution_s < top:
        i = next(i for i, b in enumerate(buckets) if b > resolution_s)
        bucket = buckets[i]
        if bucket - resolution_s < buckets[0] or (i > 0 and resolution_s - buckets[i - 1] < buckets[0]):
            return tuple(buckets)
        buckets.insert(i, resolution_s)
    return tuple(buckets)


class Histogram:
    """Cumulative bucket counts and a sum, fed one value or an array at a time (upper bounds inclusive)."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = np.asarray(bounds, dtype=np.float64)
        self.counts = np.zeros(len(bounds) + 1, dtype=np.int64)  # per bucket, the last one +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[int(np.searchsorted(self.bounds, value, side="left"))] += 1
        self.sum += value

    def observe_many(self, values: np.ndarray) -> None:
        if len(values):
            self.counts += np.bincount(np.searchsorted(self.bounds, values, side="left"),
                                       minlength=len(self.counts))
            self.sum += float(values.sum())

    def buckets(self) -> list[tuple[str, float]]:
        cumulative = np.cumsum(self.counts).tolist()
        les = [floatToGoString(b) for b in self.bounds.tolist()] + ["+Inf"]
        return list(zip(les, cumulative, strict=True))


class Telemetry(Collector):
    """The collector. Feed it ticks (`observe_tick`) and served metric ages (`observe_freshness`); it reads
    the store's points and the scraper's per-node requests at each collection."""

    def __init__(self, *, store: StoreState, scraper: ScraperState | None, resolution_s: float) -> None:
        self._store = store
        self._scraper = scraper
        self._ticks = Histogram(buckets_for_scrape_duration(resolution_s))
        self._freshness = Histogram(FRESHNESS_BUCKETS)
        self._requests: dict[str, tuple[float, Histogram]] = {}  # node -> (last request time seen, histogram)

    def observe_tick(self, duration_s: float) -> None:
        """One scrape tick's duration (scrape and store), as the manager measures it."""
        self._ticks.observe(duration_s)

    def observe_freshness(self, ages_s: np.ndarray | Sequence[float]) -> None:
        """The ages (now - sample timestamp, seconds) of the metrics just served, one per object."""
        self._freshness.observe_many(np.asarray(ages_s, dtype=np.float64))

    def _update_requests(self, requests: Mapping[str, tuple[float, float]]) -> None:
        kept: dict[str, tuple[float, Histogram]] = {}
        for node, (duration_s, at) in requests.items():
            seen, hist = self._requests.get(node) or (math.nan, Histogram(DEFAULT_BUCKETS))
            if at != seen:
                hist.observe(duration_s)
            kept[node] = (at, hist)
        self._requests = kept

    def collect(self) -> Iterator[Metric]:
        points = GaugeMetricFamily("metrics_server_storage_points", "Number of metrics points stored.",
                                   labels=["type"])
        for kind, n in sorted(self._store.points().items()):
            points.add_metric([kind], n)
        yield points
        if self._scraper is not None:
            self._update_requests(self._scraper.node_requests())
            duration = HistogramMetricFamily("metrics_server_kubelet_request_duration_seconds",
                                             "Duration of requests to Kubelet API in seconds", labels=["node"])
            last = GaugeMetricFamily("metrics_server_kubelet_last_request_time_seconds",
                                     "Time of last request performed to Kubelet API since unix epoch in seconds",
                                     labels=["node"])
            for node in sorted(self._requests):
                at, hist = self._requests[node]
                duration.add_metric([node], hist.buckets(), hist.sum)
                last.add_metric([node], at)
            yield duration
            yield last
            total = CounterMetricFamily("metrics_server_kubelet_request", "Number of requests sent to Kubelet API",
                                        labels=["success"])
            for success, n in sorted(self._scraper.request_totals().items()):
                total.add_metric(["true" if success else "false"], n)
            yield total
        ticks = HistogramMetricFamily("metrics_server_manager_tick_duration_seconds",
                                      "The total time spent collecting and storing metrics in seconds.")
        ticks.add_metric([], self._ticks.buckets(), self._ticks.sum)
        yield ticks
        fresh = HistogramMetricFamily("metrics_server_api_metric_freshness_seconds", "Freshness of metrics exported")
        fresh.add_metric([], self._freshness.buckets(), self._freshness.sum)
        yield fresh


__all__ = ["DEFAULT_BUCKETS", "FRESHNESS_BUCKETS", "Histogram", "ScraperState", "StoreState", "Telemetry",
           "buckets_for_scrape_duration", "exponential_buckets"]
