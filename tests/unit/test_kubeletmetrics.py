"""kubesim.sim.kubeletmetrics and kubeletstats: the kubelet's text formats byte for byte (against upstream's
own test expectations), Go's float formatting, client_golang's ordering, prometheus_client parsing, and the
counters' invariants (monotonic pod/node CPU, container reset on restart) under random histories."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from kubesim.sim import kubeletmetrics as km
from kubesim.sim.kubeletstats import NodeStats
from kubesim.sim.usage import ContainerUsage, PodUsage

# kubelet's resource_metrics_test.go: 2021-06-23 05:11:18.302091597 +0800
STATIC = 1624396278.302091597


@pytest.mark.parametrize(("value", "text"), [
    pytest.param(0.0, "0", id="zero"),
    pytest.param(10.0, "10", id="integer"),
    pytest.param(1000, "1000", id="int-below-1e6"),
    pytest.param(100000.0, "100000", id="exponent-5-stays-fixed"),
    pytest.param(1e6, "1e+06", id="exponent-6-goes-e"),
    pytest.param(12533760, "1.253376e+07", id="metrics-server-memory"),
    pytest.param(1616273408.0, "1.616273408e+09", id="metrics-server-node-memory"),
    pytest.param(STATIC - 30, "1.6243962483020916e+09", id="kubelet-start-time"),
    pytest.param(357.35491, "357.35491", id="fraction"),
    pytest.param(0.0001, "0.0001", id="exponent-minus-4-fixed"),
    pytest.param(0.00001, "1e-05", id="exponent-minus-5-goes-e"),
    pytest.param(123456.7, "123456.7", id="six-integer-digits"),
    pytest.param(1.5e16, "1.5e+16", id="python-repr-e-form"),
    pytest.param(-2.5e-7, "-2.5e-07", id="negative"),
    pytest.param(math.inf, "+Inf", id="inf"),
    pytest.param(-math.inf, "-Inf", id="minus-inf"),
    pytest.param(math.nan, "NaN", id="nan"),
])
def test_go_float_matches_strconv_g_shortest(value: float, text: str) -> None:
    assert km.go_float(value) == text


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_go_float_round_trips_and_picks_the_go_form(v: float) -> None:
    text = km.go_float(v)
    assert float(text) == v
    if v != 0:
        exponent = Decimal(repr(v)).adjusted()  # of the leading digit of the shortest representation
        assert ("e" in text) == (exponent < -4 or exponent >= 6), (v, text)


Series = tuple[km.NodeSeries, list[km.PodSeries], list[km.ContainerSeries]]


def _series(containers: list[tuple[str, str, str]]) -> Series:
    node = km.NodeSeries(name="n1", cores=4, memory_capacity_bytes=8 << 30, start_time=STATIC - 3600,
                         machine_id="m", system_uuid="u", boot_id="b")
    pods: dict[tuple[str, str], km.PodSeries] = {}
    out = []
    for name, ns, pod in containers:
        p = pods.setdefault((ns, pod), km.PodSeries(namespace=ns, name=pod, uid=f"uid-{pod}", cgroup=f"/kubepods/{pod}",
                                                    sandbox_id="s" * 64, start_time=STATIC - 600))
        c = km.ContainerSeries(name=name, namespace=ns, pod=pod, image="docker.io/library/nginx:latest",
                               container_id="c" * 64, cgroup=f"/kubepods/{pod}/{name}", start_time=STATIC - 30,
                               t=STATIC, cpu_s=10.0, memory_ws=1000)
        p.containers.append(c)
        p.t, p.cpu_s, p.memory_ws = STATIC, 10.0 * len(p.containers), 1000 * len(p.containers)
        out.append(c)
    return node, sorted(pods.values(), key=lambda p: (p.namespace, p.name)), sorted(out, key=lambda c: c.sort_key)


def test_resource_text_is_the_kubelets_byte_for_byte() -> None:
    """Upstream's 'arbitrary container metrics' case (resource_metrics_test.go), v1.35 on Linux: families in
    name order, samples in label order, timestamps in ms, no timestamp on start times, no hidden scrape_error."""
    node, pods, containers = _series([("container_a", "namespace_a", "pod_a"), ("container_b", "namespace_a", "pod_a"),
                                      ("container_a", "namespace_b", "pod_b")])
    containers[2].start_time = STATIC - 600  # container_b started ten minutes before the sample
    node.t, node.cpu_s, node.memory_ws = STATIC, 10.0, 1000
    text = km.render_resource(node, pods, containers, swap=False)
    lbl = ['container="container_a",namespace="namespace_a",pod="pod_a"',
           'container="container_a",namespace="namespace_b",pod="pod_b"',
           'container="container_b",namespace="namespace_a",pod="pod_a"']
    starts = ["1.6243962483020916e+09", "1.6243962483020916e+09", "1.6243956783020916e+09"]
    want = (
        "# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in "
        "core-seconds\n"
        "# TYPE container_cpu_usage_seconds_total counter\n"
        + "".join(f"container_cpu_usage_seconds_total{{{lb}}} 10 1624396278302\n" for lb in lbl)
        + "# HELP container_memory_working_set_bytes [STABLE] Current working set of the container in bytes\n"
        "# TYPE container_memory_working_set_bytes gauge\n"
        + "".join(f"container_memory_working_set_bytes{{{lb}}} 1000 1624396278302\n" for lb in lbl)
        + "# HELP container_start_time_seconds [STABLE] Start time of the container since unix epoch in seconds\n"
        "# TYPE container_start_time_seconds gauge\n"
        + "".join(f"container_start_time_seconds{{{lb}}} {s}\n" for lb, s in zip(lbl, starts, strict=True))
        + "# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds\n"
        "# TYPE node_cpu_usage_seconds_total counter\n"
        "node_cpu_usage_seconds_total 10 1624396278302\n"
        "# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes\n"
        "# TYPE node_memory_working_set_bytes gauge\n"
        "node_memory_working_set_bytes 1000 1624396278302\n"
        "# HELP pod_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the pod in core-seconds\n"
        "# TYPE pod_cpu_usage_seconds_total counter\n"
        'pod_cpu_usage_seconds_total{namespace="namespace_a",pod="pod_a"} 20 1624396278302\n'
        'pod_cpu_usage_seconds_total{namespace="namespace_b",pod="pod_b"} 10 1624396278302\n'
        "# HELP pod_memory_working_set_bytes [STABLE] Current working set of the pod in bytes\n"
        "# TYPE pod_memory_working_set_bytes gauge\n"
        'pod_memory_working_set_bytes{namespace="namespace_a",pod="pod_a"} 2000 1624396278302\n'
        'pod_memory_working_set_bytes{namespace="namespace_b",pod="pod_b"} 1000 1624396278302\n'
        "# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise\n"
        "# TYPE resource_scrape_error gauge\n"
        "resource_scrape_error 0\n"
    )
    assert text == want


def test_resource_swap_families_and_empty_node() -> None:
    node, pods, containers = _series([("c", "ns", "p")])
    text = km.render_resource(node, pods, containers)
    assert ("# HELP node_swap_usage_bytes [ALPHA] Current swap usage of the node in bytes. Reported only on "
            "non-windows systems\n") not in text  # the node has no sample yet: no node families at all
    assert 'container_swap_usage_bytes{container="c",namespace="ns",pod="p"} 0 1624396278302\n' in text
    assert 'pod_swap_usage_bytes{namespace="ns",pod="p"} 0 1624396278302\n' in text
    assert km.render_resource(None, [], []) == (
        "# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise\n"
        "# TYPE resource_scrape_error gauge\nresource_scrape_error 0\n")


def _parse(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_resource_parses_with_prometheus_client_and_scales_counters_for_the_backwards_fault() -> None:
    node, pods, containers = _series([("c", "ns", "p")])
    node.t, node.cpu_s, node.memory_ws = STATIC, 100.0, 5000
    fams = _parse(km.render_resource(node, pods, containers, cpu_factor=0.5))
    cpu = fams["container_cpu_usage_seconds"]
    assert cpu.type == "counter"
    [s] = cpu.samples
    assert s.labels == {"container": "c", "namespace": "ns", "pod": "p"}
    assert s.value == 5.0 and s.timestamp == pytest.approx(1624396278.302)
    [start] = fams["container_start_time_seconds"].samples
    assert start.timestamp is None
    assert fams["node_cpu_usage_seconds"].samples[0].value == 50.0
    assert fams["node_memory_working_set_bytes"].samples[0].value == 5000  # gauges are not scaled


def test_label_values_are_escaped() -> None:
    assert km.labels(b='x"y', a="back\\slash\nnl") == 'a="back\\\\slash\\nnl",b="x\\"y"'


def test_cadvisor_label_sets_order_and_parse() -> None:
    node, pods, _containers = _series([("web", "default", "web-1"), ("sidecar", "default", "web-1")])
    node.t, node.cpu_s, node.memory_ws = STATIC, 100.0, 5000
    pods[0].containers[0].cpu_limit_cores = 0.5
    text = km.render_cadvisor(node, pods, now=STATIC + 1)
    fams = _parse(text)
    base = {"container", "id", "image", "name", "namespace", "pod"}
    for family in ("container_cpu_usage_seconds", "container_memory_working_set_bytes",
                   "container_network_receive_bytes", "container_spec_cpu_shares", "container_start_time_seconds"):
        for s in fams[family].samples:
            extra = {"container_cpu_usage_seconds": {"cpu"}, "container_network_receive_bytes": {"interface"}}
            assert set(s.labels) == base | extra.get(family, set()), family
    cpu = {s.labels["id"]: s for s in fams["container_cpu_usage_seconds"].samples}
    assert cpu["/"].labels["cpu"] == "total" and cpu["/"].value == 100.0
    assert {s.labels["container"] for s in fams["container_cpu_usage_seconds"].samples} == {"", "web", "sidecar"}
    quota = fams["container_spec_cpu_quota"].samples
    assert [(s.labels["container"], s.value) for s in quota] == [("web", 50_000)]
    [net] = [s for s in fams["container_network_receive_bytes"].samples if s.labels["image"] == km.PAUSE_IMAGE]
    assert net.labels["interface"] == "eth0" and net.labels["container"] == ""
    assert fams["machine_cpu_cores"].samples[0].value == 4
    assert fams["machine_memory_bytes"].samples[0].value == 8 << 30
    # client_golang's Gather: families by name, samples by label values in label-name order
    names = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert names == sorted(names)
    for fam in fams.values():
        keys = [tuple(v for _k, v in sorted(s.labels.items())) for s in fam.samples]
        assert keys == sorted(keys), fam.name


def test_app_metrics_one_counter_family_per_name() -> None:
    a = km.PodSeries(namespace="default", name="web-b", uid="1", cgroup="/x", sandbox_id="s", start_time=0,
                     app_counters=(("http_requests_total", 1234.0), ("jobs_total", 3.0)))
    b = km.PodSeries(namespace="default", name="web-a", uid="2", cgroup="/y", sandbox_id="s", start_time=0,
                     app_counters=(("http_requests_total", 2e6),))
    assert km.render_app([a, b]) == (
        "# TYPE http_requests_total counter\n"
        'http_requests_total{namespace="default",pod="web-a"} 2e+06\n'
        'http_requests_total{namespace="default",pod="web-b"} 1234\n'
        "# TYPE jobs_total counter\n"
        'jobs_total{namespace="default",pod="web-b"} 3\n')
    fams = _parse(km.render_app([a, b]))
    assert fams["http_requests"].type == "counter"


def test_summary_shape_follows_stats_v1alpha1() -> None:
    node, pods, _containers = _series([("c", "ns", "p")])
    node.t, node.cpu_s, node.memory_ws, node.cpu_rate = STATIC, 100.0, 5000, 0.25
    pods[0].containers[0].memory_limit_bytes = 4000
    doc = km.summary(node, pods)
    assert list(doc) == ["node", "pods"]
    n = doc["node"]
    assert n["nodeName"] == "n1"
    assert n["cpu"] == {"time": "2021-06-22T21:11:18Z", "usageNanoCores": 250_000_000,
                        "usageCoreNanoSeconds": 100_000_000_000}
    assert n["memory"]["workingSetBytes"] == 5000 and n["memory"]["availableBytes"] == (8 << 30) - 5000
    [p] = doc["pods"]
    assert p["podRef"] == {"name": "p", "namespace": "ns", "uid": "uid-p"}
    [c] = p["containers"]
    assert c["memory"]["availableBytes"] == 3000 and c["cpu"]["usageCoreNanoSeconds"] == 10_000_000_000
    only = km.summary(node, pods, only_cpu_and_memory=True)
    assert "network" not in only["node"] and "fs" not in only["node"]
    assert "rootfs" not in only["pods"][0]["containers"][0]


# -- kubeletstats ----------------------------------------------------------------------------------------------
class _Usage:
    """A fake UsageSource with real state: per (uid, container) a rate, restarts, start time."""

    def __init__(self) -> None:
        self.rate: dict[tuple[str, str], float] = {}
        self.start: dict[tuple[str, str], float] = {}
        self.restarts: dict[tuple[str, str], int] = {}

    def pod_usage(self, pod: dict[str, Any], now: float) -> PodUsage | None:
        uid = pod["metadata"]["uid"]
        cs = []
        for c in pod["spec"]["containers"]:
            key = (uid, c["name"])
            start = self.start.setdefault(key, now - 1)
            cs.append(ContainerUsage(c["name"], self.rate.get(key, 0.5) * (now - start), 1 << 20, start,
                                     self.restarts.get(key, 0)))
        return PodUsage(tuple(cs), (("http_requests_total", now - 1000),))


def _pod(uid: str, name: str, containers: tuple[str, ...] = ("app",)) -> dict[str, Any]:
    return {"metadata": {"uid": uid, "namespace": "default", "name": name},
            "spec": {"containers": [{"name": c, "image": "nginx", "resources": {"limits": {"cpu": "500m"}}}
                                    for c in containers]},
            "status": {"qosClass": "Burstable"}}


def _stats(housekeeping_s: float = 0.0) -> NodeStats:
    node = km.NodeSeries(name="n", cores=2, memory_capacity_bytes=1 << 30, start_time=0.0, machine_id="m",
                         system_uuid="u", boot_id="b")
    return NodeStats(node, housekeeping_s=housekeeping_s, system_cpu_cores=0.1, system_memory_bytes=1000)


def test_stats_sample_at_most_once_per_housekeeping_interval() -> None:
    stats, usage = _stats(housekeeping_s=10.0), _Usage()
    stats.add_pod(_pod("u1", "a"), sandbox_id="s", container_ids={"app": "1" * 64}, started={"app": 99.0},
                  start_time=98.0)
    stats.refresh(100.0, usage)
    _pods, [c] = stats.sampled()
    assert (c.t, c.cpu_s) == (100.0, 0.5)
    stats.refresh(105.0, usage)
    assert c.t == 100.0  # cached: cAdvisor's housekeeping has not run again
    stats.refresh(110.0, usage)
    assert (c.t, c.cpu_s, c.cpu_rate) == (110.0, 5.5, 0.5)
    assert stats.node.cpu_rate == pytest.approx(0.5 + 0.1)


def test_stats_sorted_like_gather_and_cadvisor_ids() -> None:
    stats, usage = _stats(), _Usage()
    for uid, name in (("u2", "zeta"), ("u1", "alpha")):
        stats.add_pod(_pod(uid, name, ("web", "cache")), sandbox_id="s",
                      container_ids={"web": "w" * 64, "cache": "c" * 64}, started={"web": 1.0, "cache": 1.0},
                      start_time=1.0)
    stats.refresh(5.0, usage)
    pods, containers = stats.sampled()
    assert [p.name for p in pods] == ["alpha", "zeta"]
    assert [(c.name, c.pod) for c in containers] == [("cache", "alpha"), ("cache", "zeta"), ("web", "alpha"),
                                                     ("web", "zeta")]
    assert containers[0].cgroup == "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podu1.slice/" \
                                   f"cri-containerd-{'c' * 64}.scope"


_OPS = st.lists(st.one_of(
    st.tuples(st.just("tick"), st.floats(0.0, 30.0)),
    st.tuples(st.just("add"), st.integers(0, 4)),
    st.tuples(st.just("remove"), st.integers(0, 4)),
    st.tuples(st.just("restart"), st.integers(0, 4)),
    st.tuples(st.just("usage_restart"), st.integers(0, 4)),
    st.tuples(st.just("rate"), st.integers(0, 4), st.floats(0.0, 4.0)),
), max_size=40)


@settings(max_examples=150, deadline=None)
@given(_OPS)
def test_pod_and_node_cpu_never_decrease_and_containers_restart_from_zero(ops: list[tuple[Any, ...]]) -> None:
    stats, usage = _stats(), _Usage()
    now = 100.0
    live: set[int] = set()
    last_node, last_pod = 0.0, {}
    for op in ops:
        kind, i = op[0], op[1]
        uid = f"u{i}"
        if kind == "tick":
            now += op[1]
        elif kind == "add" and i not in live:
            stats.add_pod(_pod(uid, f"p{i}"), sandbox_id="s", container_ids={"app": "a" * 64},
                          started={"app": now}, start_time=now)
            usage.start[(uid, "app")] = now
            live.add(i)
        elif kind == "remove" and i in live:
            stats.remove_pod(uid)
            live.discard(i)
            last_pod.pop(uid, None)
        elif kind == "restart" and i in live:
            usage.start[(uid, "app")] = now  # the usage source sees the new startedAt
            stats.restart_container(uid, "app", container_id="b" * 64, started=now, pod=_pod(uid, f"p{i}"))
        elif kind == "usage_restart" and i in live:
            usage.start[(uid, "app")] = now
            usage.restarts[(uid, "app")] = usage.restarts.get((uid, "app"), 0) + 1
        elif kind == "rate":
            usage.rate[(uid, "app")] = op[2]
        stats.refresh(now, usage)
        pods, containers = stats.sampled()
        assert stats.node.cpu_s >= last_node
        last_node = stats.node.cpu_s
        for p in pods:
            assert p.cpu_s >= last_pod.get(p.uid, 0.0) - 1e-9
            last_pod[p.uid] = p.cpu_s
        for c in containers:
            key = (f"u{c.pod[1:]}", "app")
            assert c.start_time == usage.start[key]
            assert c.cpu_s == pytest.approx(usage.rate.get(key, 0.5) * (now - usage.start[key]))
