"""metricsd.telemetry: upstream's metric names, types and buckets, read from fakes of the store and scraper at
collection time; series of nodes no longer scraped vanish."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest

from metricsd import telemetry


@dataclass
class FakeStore:
    counts: dict[str, int] = field(default_factory=lambda: {"node": 2, "container": 30})

    def points(self) -> Mapping[str, int]:
        return self.counts


@dataclass
class FakeScraper:
    requests: dict[str, tuple[float, float]] = field(default_factory=dict)
    totals: dict[bool, int] = field(default_factory=dict)

    def node_requests(self) -> Mapping[str, tuple[float, float]]:
        return self.requests

    def request_totals(self) -> Mapping[bool, int]:
        return self.totals


@pytest.mark.parametrize(("resolution_s", "extra"), [
    pytest.param(15, [12.5, 15.0, 22.5, 30.0], id="15s"),
    pytest.param(60, [35.0, 60.0, 90.0, 120.0], id="60s"),
    pytest.param(3, [3.0], id="3s-inserted"),
    pytest.param(1, [], id="1s-is-a-bucket"),
    pytest.param(10, [], id="10s-is-the-top"),
])
def test_buckets_for_scrape_duration(resolution_s: float, extra: list[float]) -> None:
    buckets = telemetry.buckets_for_scrape_duration(resolution_s)
    assert sorted(buckets) == list(buckets)
    assert sorted(set(buckets) - set(telemetry.DEFAULT_BUCKETS)) == extra


def test_freshness_buckets_as_go_multiplies() -> None:
    assert len(telemetry.FRESHNESS_BUCKETS) == 20
    assert telemetry.FRESHNESS_BUCKETS[:3] == (1, 1.364, 1.364 * 1.364)


@given(st.lists(st.floats(0, 1e4, allow_nan=False), max_size=50))
def test_histogram_many_equals_one_by_one(values: list[float]) -> None:
    one, many = telemetry.Histogram(telemetry.DEFAULT_BUCKETS), telemetry.Histogram(telemetry.DEFAULT_BUCKETS)
    for v in values:
        one.observe(v)
    many.observe_many(np.array(values))
    assert one.buckets() == many.buckets()
    assert one.sum == pytest.approx(many.sum)
    # upper bounds are inclusive: a value equal to a bound counts in that bucket
    assert dict(one.buckets())["0.005"] == sum(1 for v in values if v <= 0.005)


def scrape_text(t: telemetry.Telemetry) -> str:
    registry = CollectorRegistry()
    registry.register(t)
    return generate_latest(registry).decode()


def test_collects_upstream_series() -> None:
    scraper = FakeScraper({"n1": (0.02, 1000.0), "n2": (3.0, 1001.0)}, {True: 7, False: 1})
    t = telemetry.Telemetry(store=FakeStore(), scraper=scraper, resolution_s=15)
    t.observe_tick(1.2)
    t.observe_freshness([20.0, 25.0])
    text = scrape_text(t)
    for line in [
        'metrics_server_storage_points{type="container"} 30.0',
        'metrics_server_storage_points{type="node"} 2.0',
        'metrics_server_kubelet_request_duration_seconds_bucket{le="0.025",node="n1"} 1.0',
        'metrics_server_kubelet_request_duration_seconds_bucket{le="2.5",node="n2"} 0.0',
        'metrics_server_kubelet_request_duration_seconds_count{node="n2"} 1.0',
        'metrics_server_kubelet_last_request_time_seconds{node="n1"} 1000.0',
        'metrics_server_kubelet_request_total{success="true"} 7.0',
        'metrics_server_kubelet_request_total{success="false"} 1.0',
        'metrics_server_manager_tick_duration_seconds_bucket{le="15.0"} 1.0',
        'metrics_server_manager_tick_duration_seconds_bucket{le="1.0"} 0.0',
        "metrics_server_api_metric_freshness_seconds_count 2.0",
        "metrics_server_api_metric_freshness_seconds_sum 45.0",
        "# TYPE metrics_server_kubelet_request_duration_seconds histogram",
        "# TYPE metrics_server_kubelet_request_total counter",
        "# TYPE metrics_server_kubelet_last_request_time_seconds gauge",
    ]:
        assert line in text, line


def test_a_request_counts_once_and_gone_nodes_vanish() -> None:
    scraper = FakeScraper({"n1": (0.02, 1000.0), "n2": (0.5, 1000.0)})
    t = telemetry.Telemetry(store=FakeStore(), scraper=scraper, resolution_s=15)
    scrape_text(t)
    text = scrape_text(t)  # same last requests: not observed again
    assert 'metrics_server_kubelet_request_duration_seconds_count{node="n1"} 1.0' in text
    scraper.requests = {"n1": (0.03, 1015.0)}
    text = scrape_text(t)
    assert 'metrics_server_kubelet_request_duration_seconds_count{node="n1"} 2.0' in text
    assert 'node="n2"' not in text


def test_without_scraper_only_store_manager_and_api_series() -> None:
    text = scrape_text(telemetry.Telemetry(store=FakeStore(), scraper=None, resolution_s=60))
    assert "metrics_server_kubelet" not in text
    assert 'metrics_server_manager_tick_duration_seconds_bucket{le="120.0"} 0.0' in text
