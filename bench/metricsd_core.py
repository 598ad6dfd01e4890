"""Benchmark: metricsd's pure core (decode, window store, quantity formatting), no HTTP.

1. Decoding: kubesim's own `/metrics/resource` text for a 30-pod and a 110-pod node (HELP/TYPE lines, pod and
   swap families included, as a v1.30+ kubelet serves them): microseconds per parse and parses per second.
2. The store at the DESIGN.md §6 scale, 5,000 nodes x 30 pods (150,000 containers): seconds per `store()` of a
   full tick, the store's memory per container and per node after two ticks (traced by tracemalloc: arrays,
   dicts, keys and pod-name strings), and the time to read every node's and every pod's usage.
3. Formatting: microseconds per CPU and memory quantity string.
The projection printed against the aims (0.1 mCPU and 0.1 MB per node at 15 s resolution): decode + store
CPU per node per tick spread over 15 s, and the store's bytes per node. Scraping (HTTP, TLS) is not here.

    python bench/metricsd_core.py            # ~1 minute
    python bench/metricsd_core.py --quick    # 500 nodes

A report, not a test: a missed aim is flagged, never an error exit.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kubesim.sim import kubeletmetrics as km
from kubesim.sim.kubelets import ConstantUsage
from kubesim.sim.kubeletstats import NodeStats
from metricsd import formatting
from metricsd.decoding import ContainerSample, NodeSample, NodeScrape, decode
from metricsd.storage import MetricsStore

RESOLUTION_S = 15.0
AIM_MCPU_PER_NODE = 0.1
AIM_BYTES_PER_NODE = 100_000
AIM_PARSE_S_30_PODS = 0.001
METRICS_SERVER_BYTES_PER_NODE = 2_000_000


def _pod(i: int, now: float) -> dict[str, Any]:
    started = km.rfc3339(now - 600)
    return {"metadata": {"uid": f"00000000-0000-0000-0000-{i:012d}", "namespace": f"team-{i % 7:02d}",
                         "name": f"api-{i:05d}-7d9f8c6b5-x{i:04d}"},
            "spec": {"containers": [{"name": "app", "image": "registry.example.com/team/api:1.2.3",
                                     "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}}}]},
            "status": {"phase": "Running", "qosClass": "Burstable", "startTime": started,
                       "containerStatuses": [{"name": "app", "restartCount": 0,
                                              "state": {"running": {"startedAt": started}}}]}}


def kubelet_text(pods: int) -> str:
    """kubesim's `/metrics/resource` for a node running `pods` one-container pods."""
    now = time.time()
    node = km.NodeSeries(name="n", cores=8, memory_capacity_bytes=32 << 30, start_time=now - 3600,
                         machine_id="m", system_uuid="u", boot_id="b")
    stats = NodeStats(node, housekeeping_s=0.0, system_cpu_cores=0.05, system_memory_bytes=512 << 20)
    for i in range(pods):
        stats.add_pod(_pod(i, now), sandbox_id=f"{i:064x}", container_ids={"app": f"{i + 1000:064x}"},
                      started={"app": now - 600}, start_time=now - 601)
    usage = ConstantUsage(cpu_cores=0.3)
    stats.refresh(now, usage)
    stats.refresh(now + 1, usage)
    return km.render_resource(node, *stats.sampled())


def _best(fn: Callable[[], object], repeat: int, number: int) -> float:
    """Seconds per call: the best of `repeat` runs of `number` calls."""
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        runs.append((time.perf_counter() - t0) / number)
    return min(runs)


def bench_decode() -> dict[str, float]:
    out = {}
    for pods in (30, 110):
        text = kubelet_text(pods)
        data = text.encode()
        scrape = decode(data, default_timestamp_ms=0)
        assert len(scrape.containers) == pods and scrape.node is not None, "kubesim text did not decode"
        per = _best(lambda data=data: decode(data, default_timestamp_ms=0), 5, 200)
        out[f"decode, {pods}-pod node: us ({len(data) // 1024} KiB, {text.count(chr(10))} lines)"] = per * 1e6
        out[f"decode, {pods}-pod node: parses/s"] = 1 / per
    return out


def _batch(nodes: int, pods: int, tick: int) -> dict[str, NodeScrape]:
    """One tick of `nodes` kubelets' scrapes: counters advanced by 0.3 cores over 15 s per tick."""
    ts = 1_700_000_000_000 + tick * 15_000
    batch = {}
    for n in range(nodes):
        containers = tuple(
            ContainerSample(sys.intern(f"team-{p % 7:02d}"), f"api-{n:04d}-{p:02d}-7d9f8c6b5-x{p:04d}", "app",
                            (600 + tick * 15) * 300_000_000 + p, 200_000_000 + p * 4096, 1_699_999_000 * 10**9, ts)
            for p in range(pods))
        batch[f"node-{n:05d}"] = NodeScrape(NodeSample((3600 + tick * 15) * 8 * 10**9, 20 << 30, ts), containers)
    return batch


def bench_store(nodes: int, pods: int) -> dict[str, float]:
    out: dict[str, float] = {}
    batches = [_batch(nodes, pods, t) for t in range(4)]
    store = MetricsStore(metric_resolution_s=RESOLUTION_S)
    times = []
    for i, batch in enumerate(batches):
        t0 = time.perf_counter()
        store.store(batch, now=float(i))
        times.append(time.perf_counter() - t0)
    del batches, batch, store
    # memory, traced separately (tracemalloc slows what it watches): two ticks stored, the batches dropped
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    store = MetricsStore(metric_resolution_s=RESOLUTION_S)
    for t in range(2):
        store.store(_batch(nodes, pods, t), now=float(t))
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    containers = nodes * pods
    keys = [(f"team-{p % 7:02d}", f"api-{n:04d}-{p:02d}-7d9f8c6b5-x{p:04d}") for n in range(nodes) for p in range(pods)]
    names = [f"node-{n:05d}" for n in range(nodes)]
    t0 = time.perf_counter()
    served = store.pod_metrics(keys)
    read_pods = time.perf_counter() - t0
    t0 = time.perf_counter()
    served_nodes = store.node_metrics(names)
    read_nodes = time.perf_counter() - t0
    assert len(served) == containers and len(served_nodes) == nodes, "the store did not serve every pod and node"
    out[f"store(), full tick of {nodes} nodes x {pods} pods: s (median of the 3 after the first)"] = (
        statistics.median(times[1:]))
    out["store(): us per container"] = statistics.median(times[1:]) / containers * 1e6
    out["store memory: bytes per container (everything the store holds)"] = held / containers
    out["store memory: numpy columns only, bytes per container"] = store.nbytes() / containers
    out["store memory: bytes per node"] = held / nodes
    out[f"pod_metrics() of all {containers} pods: s"] = read_pods
    out[f"node_metrics() of all {nodes} nodes: s"] = read_nodes
    return out


def bench_format() -> dict[str, float]:
    return {"format_cpu: us": _best(lambda: formatting.format_cpu(487558164), 3, 20000) * 1e6,
            "format_memory: us": _best(lambda: formatting.format_memory(749785088), 3, 20000) * 1e6}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 nodes instead of 5,000")
    args = parser.parse_args(argv)
    nodes, pods = (500, 30) if args.quick else (5000, 30)
    results = {**bench_decode(), **bench_store(nodes, pods), **bench_format()}
    for name, value in results.items():
        print(f"{name}: {value:,.3f}" if value < 1000 else f"{name}: {value:,.0f}")
    parse_30 = next(v for k, v in results.items() if k.startswith("decode, 30-pod node: us")) / 1e6
    store_tick = results[f"store(), full tick of {nodes} nodes x {pods} pods: s (median of the 3 after the first)"]
    mcpu = (parse_30 + store_tick / nodes) / RESOLUTION_S * 1000
    per_node = results["store memory: bytes per node"]
    print(f"decode of a 30-pod node: {parse_30 * 1e3:.3f} ms, {parse_30 / AIM_PARSE_S_30_PODS:.2f}x the 1 ms aim"
          f"{'' if parse_30 <= AIM_PARSE_S_30_PODS else '  MISSED'}")
    print(f"decode + store per node at {RESOLUTION_S:.0f} s: {mcpu:.4f} mCPU, {mcpu / AIM_MCPU_PER_NODE:.2f}x the "
          f"{AIM_MCPU_PER_NODE} mCPU aim (scraping not included){'' if mcpu <= AIM_MCPU_PER_NODE else '  MISSED'}")
    print(f"store memory per node: {per_node / 1e3:.1f} kB, {per_node / AIM_BYTES_PER_NODE:.3f}x the 0.1 MB aim, "
          f"{per_node / METRICS_SERVER_BYTES_PER_NODE:.4f}x metrics-server's 2 MB"
          f"{'' if per_node <= AIM_BYTES_PER_NODE else '  MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
