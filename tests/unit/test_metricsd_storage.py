"""metricsd.storage against metrics-server's pkg/storage rules (node.go, pod.go, types.go): the prev/last window,
rates, restarts, counter resets, fresh containers, and what disappears."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metricsd.decoding import ContainerSample, NodeSample, NodeScrape
from metricsd.storage import MetricsStore, NodeMetric, PodMetric

T0 = 1_700_000_000_000  # ms
S = 1_000_000_000  # ns per second
POD = ("default", "web")


def c(name: str = "app", *, cpu_s: float, ts_ms: int, memory: int = 4096, start_s: float = 0.0,
      pod: tuple[str, str] = POD) -> ContainerSample:
    return ContainerSample(pod[0], pod[1], name, round(cpu_s * S), memory, round(start_s * S), ts_ms)


def tick(*containers: ContainerSample, node: NodeSample | None = None, name: str = "n1") -> dict[str, NodeScrape]:
    return {name: NodeScrape(node, containers)}


def store_ticks(*batches: dict[str, NodeScrape], resolution_s: float = 15) -> MetricsStore:
    store = MetricsStore(metric_resolution_s=resolution_s)
    for i, batch in enumerate(batches):
        store.store(batch, now=float(i))
    return store


def test_first_tick_serves_nothing_second_serves_the_rate() -> None:
    store = store_ticks(tick(c(cpu_s=10, ts_ms=T0)))
    assert store.pod_metrics([POD]) == {}
    assert not store.ready()
    store.store(tick(c(cpu_s=13, ts_ms=T0 + 15_000, memory=8192)), now=1)
    assert store.pod_metrics([POD]) == {POD: PodMetric((("app", 200_000_000, 8192),), (T0 + 15_000) * 1_000_000,
                                                       15 * S)}


def test_rate_is_go_float_arithmetic_truncated() -> None:
    store = store_ticks(tick(c(cpu_s=1, ts_ms=T0)), tick(c(cpu_s=1 + 4.710169, ts_ms=T0 + 15_005)))
    (_name, cpu, _), = store.pod_metrics([POD])[POD].containers
    assert cpu == int(4710169000 / 15.005) == 313906631
    assert store.pod_metrics([POD])[POD].window_ns == 15_005_000_000


def test_idle_container_is_served_with_zero_cpu() -> None:
    store = store_ticks(tick(c(cpu_s=5, ts_ms=T0)), tick(c(cpu_s=5, ts_ms=T0 + 15_000)))
    assert store.pod_metrics([POD])[POD].containers == (("app", 0, 4096),)


def test_same_timestamp_again_keeps_the_previous_point() -> None:
    """A kubelet serving its cached sample again: the window stays the older pair's."""
    store = store_ticks(tick(c(cpu_s=1, ts_ms=T0)), tick(c(cpu_s=4, ts_ms=T0 + 15_000)),
                        tick(c(cpu_s=4, ts_ms=T0 + 15_000, memory=1)))
    assert store.pod_metrics([POD])[POD] == PodMetric((("app", 200_000_000, 1),), (T0 + 15_000) * 1_000_000,
                                                      15 * S)


def test_sample_older_than_the_previous_point_drops_it() -> None:
    store = store_ticks(tick(c(cpu_s=1, ts_ms=T0)), tick(c(cpu_s=4, ts_ms=T0 + 15_000)),
                        tick(c(cpu_s=0.5, ts_ms=T0 - 1)))
    assert store.pod_metrics([POD]) == {}


def test_restart_has_no_rate_until_the_next_sample() -> None:
    """Started after the stored sample (T0 + 15 s), 5 s before its own: too fresh for a start-time point."""
    restarted_s = (T0 + 25_000) / 1000
    store = store_ticks(tick(c(cpu_s=50, ts_ms=T0)), tick(c(cpu_s=51, ts_ms=T0 + 15_000)),
                        tick(c(cpu_s=1, ts_ms=T0 + 30_000, start_s=restarted_s)))
    assert store.pod_metrics([POD]) == {}
    store.store(tick(c(cpu_s=4, ts_ms=T0 + 45_000, start_s=restarted_s)), now=9)
    assert store.pod_metrics([POD])[POD].containers == (("app", 200_000_000, 4096),)


def test_counter_going_down_has_no_rate_until_the_next_sample() -> None:
    store = store_ticks(tick(c(cpu_s=50, ts_ms=T0)), tick(c(cpu_s=40, ts_ms=T0 + 15_000)))
    assert store.pod_metrics([POD]) == {}
    store.store(tick(c(cpu_s=43, ts_ms=T0 + 30_000)), now=2)
    assert store.pod_metrics([POD])[POD].containers == (("app", 200_000_000, 4096),)


def test_fresh_container_gets_a_rate_from_its_start_time() -> None:
    """Started 12 s before its first sample (>= 10 s, < the 15 s resolution): usage = counter / 12 s."""
    start_s = T0 / 1000 - 12
    store = store_ticks(tick(c(cpu_s=3, ts_ms=T0, start_s=start_s)))
    assert store.pod_metrics([POD]) == {POD: PodMetric((("app", 250_000_000, 4096),), T0 * 1_000_000, 12 * S)}


def test_fresh_rule_takes_precedence_over_a_stored_point() -> None:
    start_s = T0 / 1000 - 14
    store = store_ticks(tick(c(cpu_s=1, ts_ms=T0 - 3000, start_s=start_s)), tick(c(cpu_s=7, ts_ms=T0, start_s=start_s)))
    assert store.pod_metrics([POD])[POD].containers == (("app", 500_000_000, 4096),)
    assert store.pod_metrics([POD])[POD].window_ns == 14 * S


def test_too_fresh_or_too_old_start_gives_no_first_rate() -> None:
    for age_s in (9.999, 15, 600):
        store = store_ticks(tick(c(cpu_s=3, ts_ms=T0, start_s=T0 / 1000 - age_s)))
        assert store.pod_metrics([POD]) == {}, age_s


def test_a_container_without_a_previous_point_hides_the_pod() -> None:
    store = store_ticks(tick(c("a", cpu_s=1, ts_ms=T0)),
                        tick(c("a", cpu_s=4, ts_ms=T0 + 15_000), c("b", cpu_s=1, ts_ms=T0 + 15_000)))
    assert store.pod_metrics([POD]) == {}
    store.store(tick(c("a", cpu_s=7, ts_ms=T0 + 30_000), c("b", cpu_s=2.5, ts_ms=T0 + 29_000)), now=3)
    metric = store.pod_metrics([POD])[POD]
    assert metric.containers == (("a", 200_000_000, 4096), ("b", 107_142_857, 4096))
    assert (metric.timestamp_ns, metric.window_ns) == ((T0 + 29_000) * 1_000_000, 14 * S)  # the earliest container


def test_nodes_and_pods_missing_from_the_latest_tick_disappear() -> None:
    node = NodeSample(10 * S, 1 << 30, T0)
    later = NodeSample(13 * S, 1 << 30, T0 + 15_000)
    other = ("default", "other")
    store = store_ticks({"n1": NodeScrape(node, (c(cpu_s=1, ts_ms=T0),)),
                         "n2": NodeScrape(node, (c(cpu_s=1, ts_ms=T0, pod=other),))},
                        {"n1": NodeScrape(later, (c(cpu_s=4, ts_ms=T0 + 15_000),)),
                         "n2": NodeScrape(later, (c(cpu_s=4, ts_ms=T0 + 15_000, pod=other),))})
    assert set(store.node_metrics(["n1", "n2"])) == {"n1", "n2"}
    assert set(store.pod_metrics([POD, other])) == {POD, other}
    store.store({"n1": NodeScrape(NodeSample(16 * S, 1 << 30, T0 + 30_000), ())}, now=3)
    assert set(store.node_metrics(["n1", "n2"])) == {"n1"}
    assert store.pod_metrics([POD, other]) == {}


def test_node_metrics_and_counter_reset() -> None:
    store = store_ticks(tick(node=NodeSample(100 * S, 2 << 30, T0)),
                        tick(node=NodeSample(130 * S, 3 << 30, T0 + 15_000)))
    assert store.node_metrics(["n1", "missing"]) == {
        "n1": NodeMetric(2 * S, 3 << 30, (T0 + 15_000) * 1_000_000, 15 * S)}
    store.store(tick(node=NodeSample(5 * S, 3 << 30, T0 + 30_000)), now=2)
    assert store.node_metrics(["n1"]) == {}
    assert store.ready()  # a previous point exists, even if its usage cannot be computed


def test_a_pod_reported_by_two_kubelets_keeps_the_first() -> None:
    batch = {"n1": NodeScrape(None, (c(cpu_s=1, ts_ms=T0),)), "n2": NodeScrape(None, (c(cpu_s=99, ts_ms=T0),))}
    later = {"n1": NodeScrape(None, (c(cpu_s=4, ts_ms=T0 + 15_000),)),
             "n2": NodeScrape(None, (c(cpu_s=99, ts_ms=T0 + 15_000),))}
    assert store_ticks(batch, later).pod_metrics([POD])[POD].containers == (("app", 200_000_000, 4096),)


def test_ready_when_nodes_or_pods_have_a_previous_point() -> None:
    assert not store_ticks().ready()
    assert not store_ticks(tick(c(cpu_s=1, ts_ms=T0))).ready()
    assert store_ticks(tick(c(cpu_s=1, ts_ms=T0)), tick(c(cpu_s=2, ts_ms=T0 + 15_000))).ready()
    assert store_ticks(tick(node=NodeSample(S, 1, T0)), tick(node=NodeSample(2 * S, 1, T0 + 1))).ready()


def test_ready_and_points() -> None:
    node = lambda s, t: NodeSample(s * S, 1 << 30, t)  # noqa: E731
    store = store_ticks(tick(c(cpu_s=1, ts_ms=T0), node=node(1, T0)),
                        tick(c(cpu_s=2, ts_ms=T0 + 15_000), node=node(2, T0 + 15_000)))
    assert store.ready()
    assert store.points() == {"node": 1, "container": 1}
    assert store.nbytes() > 0


# -- against a transcription of upstream's podStorage.Store / GetMetrics ---------------------------------------
class _Upstream:
    """pod.go with dicts, minus the two deliberate differences (see metricsd.storage)."""

    def __init__(self, resolution_ns: int) -> None:
        self.res, self.last, self.prev = resolution_ns, {}, {}

    def store(self, containers: list[ContainerSample]) -> None:
        last: dict = {}
        prev: dict = {}
        for x in containers:
            key = (x.namespace, x.pod)
            if x.container in last.get(key, {}):
                continue
            point = (x.start_time_ns, x.timestamp_ms * 1_000_000, x.cpu_ns, x.memory_bytes)
            last.setdefault(key, {})[x.container] = point
            start, ts = point[0], point[1]
            if start < ts and 10 * S <= ts - start < self.res:
                prev.setdefault(key, {})[x.container] = (start, start, 0, x.memory_bytes)
            elif (old := self.last.get(key, {}).get(x.container)) is not None and start < old[1]:
                if ts > old[1]:
                    prev.setdefault(key, {})[x.container] = old
                elif (p := self.prev.get(key, {}).get(x.container)) is not None and p[1] < ts:
                    prev.setdefault(key, {})[x.container] = p
        self.last, self.prev = last, prev

    def get(self, key: tuple[str, str]) -> PodMetric | None:
        if key not in self.last or key not in self.prev:
            return None
        out, earliest = [], None
        for name, (start, ts, cpu, memory) in self.last[key].items():
            p = self.prev[key].get(name)
            if p is None or start < p[0] or cpu < p[2]:
                return None
            window = ts - p[1]
            seconds = float(window // S) + float(window % S) / 1e9
            out.append((name, int((cpu - p[2]) / seconds), memory))
            if earliest is None or ts < earliest[0]:
                earliest = (ts, window)
        assert earliest is not None
        return PodMetric(tuple(out), earliest[0], earliest[1])


_sample = st.tuples(st.sampled_from("pqr"), st.sampled_from("ab"), st.integers(1, 60), st.integers(0, 40),
                    st.integers(-30, 20))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_sample, max_size=6), min_size=1, max_size=6))
def test_matches_upstream_rules(ticks: list[list[tuple[str, str, int, int, int]]]) -> None:
    """Random ticks (counters jumping either way, timestamps repeating or going back, start times moving) give
    exactly the usages upstream's rules give."""
    store = MetricsStore(metric_resolution_s=15)
    reference = _Upstream(15 * S)
    for i, samples in enumerate(ticks):
        by_pod: dict[str, list[ContainerSample]] = {}
        for pod, name, cpu_s, ts_s, start_s in samples:
            if all(x.container != name for x in by_pod.get(pod, [])):
                by_pod.setdefault(pod, []).append(
                    ContainerSample("ns", pod, name, cpu_s * S, 1024, (1000 + start_s) * S, (1000 + ts_s) * 1000))
        containers = [x for group in by_pod.values() for x in group]
        store.store({"n": NodeScrape(None, tuple(containers))}, now=float(i))
        reference.store(containers)
        keys = [("ns", p) for p in "pqr"]
        got = store.pod_metrics(keys)
        assert got == {k: m for k in keys if (m := reference.get(k)) is not None}


# -- the cases of upstream's pkg/storage/pod_test.go (resolution 60 s; CoreSecond = 1e9, MiByte = 2^20) ---------
MI = 1 << 20
START_S = 1_700_000_000  # upstream's containerStart


def _point(start_s: float | None, ts_s: float, cpu_cores_s: float, memory: int, name: str = "container1",
           ) -> ContainerSample:
    start_ns = 0 if start_s is None else round((START_S + start_s) * S)
    return ContainerSample("ns1", "pod1", name, round(cpu_cores_s * S), memory, start_ns,
                           round((START_S + ts_s) * 1000))


UPSTREAM_POD = ("ns1", "pod1")


@pytest.mark.parametrize(
    ("ticks", "expected"),
    [
        pytest.param([[_point(0, 120, 1, 4 * MI)], [_point(0, 125, 6, 5 * MI)]],
                     PodMetric((("container1", S, 5 * MI),), (START_S + 125) * S, 5 * S),
                     id="provides-pod-metrics-from-stored-batches"),
        pytest.param([[_point(0, 110, 1, 4 * MI), _point(0, 115, 2, 5 * MI, "container2")],
                      [_point(0, 120, 6, 6 * MI), _point(0, 125, 7, 7 * MI, "container2")]],
                     PodMetric((("container1", S // 2, 6 * MI), ("container2", S // 2, 7 * MI)), (START_S + 120) * S,
                               10 * S),
                     id="returns-timestamp-of-earliest-container"),
        pytest.param([[_point(0, 110, 1, 4 * MI)], [_point(0, 110, 1, 4 * MI)]], None,
                     id="handle-repeated-pod-metric-point"),
        pytest.param([[_point(0, 10, 1, 4 * MI)], [_point(15, 25, 5, 5 * MI)]],
                     PodMetric((("container1", S // 2, 5 * MI),), (START_S + 25) * S, 10 * S),
                     id="restart-with-window-from-start-time"),
        pytest.param([[_point(0, 1115, 20, 4 * MI)], [_point(0, 1125, 40, 4 * MI)], [_point(0, 115, 10, 4 * MI)]],
                     None, id="metrics-older-than-prev"),
        pytest.param([[_point(0, 115, 10, 4 * MI)], [_point(0, 125, 50, 5 * MI)], [_point(0, 120, 35, 5 * MI)]],
                     PodMetric((("container1", 5 * S, 5 * MI),), (START_S + 120) * S, 5 * S),
                     id="prev-ts-before-new-ts-before-last-ts"),
        pytest.param([[_point(0, 120, 1, 4 * MI)]], None, id="no-start-time-window-for-long-running-container"),
        pytest.param([[_point(0, 10, 10, 4 * MI)]],
                     PodMetric((("container1", S, 4 * MI),), (START_S + 10) * S, 10 * S),
                     id="start-time-window-for-fresh-container"),
        pytest.param([[_point(0, -10, 10, 4 * MI)]], None, id="fresh-container-start-after-timestamp"),
        pytest.param([[_point(0, 9, 10, 4 * MI)]], None, id="fresh-container-under-10s"),
        pytest.param([[_point(None, 120, 1, 4 * MI)], [_point(None, 125, 6, 5 * MI)]],
                     PodMetric((("container1", S, 5 * MI),), (START_S + 125) * S, 5 * S),
                     id="start-time-zero"),
        pytest.param([[_point(0, 110, 20, 4 * MI)], [_point(0, 120, 10, 4 * MI)]], None,
                     id="decreased-counter-pod-not-served-where-upstream-serves-it-without-containers"),
    ],
)
def test_upstream_pod_storage_cases(ticks: list[list[ContainerSample]], expected: PodMetric | None) -> None:
    store = MetricsStore(metric_resolution_s=60)
    for i, containers in enumerate(ticks):
        store.store({"node1": NodeScrape(None, tuple(containers))}, now=float(i))
    assert store.pod_metrics([UPSTREAM_POD]).get(UPSTREAM_POD) == expected


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        pytest.param([(115, 10), (125, 50), (120, 35)], NodeMetric(5 * S, MI, (START_S + 120) * S, 5 * S),
                     id="prev-ts-before-new-ts-before-last-ts"),
        pytest.param([(1115, 20), (1125, 40), (115, 10)], None, id="older-than-prev"),
        pytest.param([(110, 1), (110, 1)], None, id="repeated-point"),
        pytest.param([(110, 1), (120, 6), (120, 6)], NodeMetric(S // 2, MI, (START_S + 120) * S, 10 * S),
                     id="repeated-last-point-keeps-prev"),
    ],
)
def test_upstream_node_storage_cases(points: list[tuple[int, int]], expected: NodeMetric | None) -> None:
    store = MetricsStore(metric_resolution_s=60)
    for i, (ts_s, cpu_s) in enumerate(points):
        store.store({"node1": NodeScrape(NodeSample(cpu_s * S, MI, (START_S + ts_s) * 1000), ())}, now=float(i))
    assert store.node_metrics(["node1"]).get("node1") == expected
