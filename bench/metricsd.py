"""Benchmark: metricsd (`kubescale metrics-server`) in its own process scraping 5,000 kubelets of 30 pods each
at 15 s resolution: CPU seconds per scrape tick, mCPU and RSS per node, and the time to serve the full pod list.

Three child processes, so metricsd's CPU and RSS can be read alone from /proc: `bench/_fake_kubelets.py` (one
plain-HTTP listener per node on 127.0.0.1, kubesim's `/metrics/resource` text), `bench/_metricsd_kubesim.py`
(kubesim populated in-process with the Nodes, pointed at those listeners, and the Running Pods), and metricsd
with `--deprecated-kubelet-completely-insecure --kubelet-use-node-status-port --local-trust-loopback`.
A report, not a test: a missed aim is flagged, never an error exit; a child that does not start, or a pod
list without items, is.

    python bench/metricsd.py            # 5,000 nodes x 30 pods at 15 s (a few minutes)
    python bench/metricsd.py --quick    # 50 nodes x 5 pods at 10 s, a smoke run in about a minute
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import TICKS_RE, Figure, Run, get, metric, wait_ticks

AIM_MCPU_PER_NODE = 0.1
AIM_MB_PER_NODE = 0.1
AIM_POD_LIST_S = 1.0
METRICS_SERVER_MCPU_PER_NODE = 1.0
METRICS_SERVER_MB_PER_NODE = 2.0
MB = 1e6
TICK_SUM_RE = re.compile(r"^metrics_server_manager_tick_duration_seconds_sum (\S+)$", re.M)
POINTS_RE = re.compile(r'^metrics_server_storage_points\{type="container"\} (\S+)$', re.M)
ITEM = b'"window":'


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="50 nodes x 5 pods at 10 s resolution, 2 ticks")
    p.add_argument("--nodes", type=int, default=5000)
    p.add_argument("--pods-per-node", type=int, default=30)
    p.add_argument("--resolution-s", type=int, default=15, help="--metric-resolution, seconds (at least 10)")
    p.add_argument("--ticks", type=int, default=3, help="scrape ticks in the CPU window")
    p.add_argument("--pod-list-repeats", type=int, default=3)
    p.add_argument("--no-baseline", action="store_true", help="skip the RSS of metricsd with 0 nodes")
    p.add_argument("--timeout-s", type=float, default=600, help="bound on each child's start-up")
    args = p.parse_args(argv)
    if args.quick:
        args.nodes, args.pods_per_node, args.resolution_s, args.ticks = 50, 5, 10, 2
    return args


async def baseline_rss(args: argparse.Namespace, workdir: Path) -> int:
    """metricsd's RSS against an empty cluster, after its first tick."""
    run = Run(workdir=workdir, nodes=0, pods_per_node=args.pods_per_node, resolution_s=args.resolution_s,
              timeout_s=args.timeout_s)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
            await wait_ticks(session, run.url, 1, timeout_s=2 * args.resolution_s + 30)
        return run.metricsd.rss_bytes()
    finally:
        run.stop()


async def measure(args: argparse.Namespace, run: Run, *, baseline: int | None) -> list[Figure]:
    nodes, pods = args.nodes, args.nodes * args.pods_per_node
    md, res = run.metricsd, args.resolution_s
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False),
                                     timeout=aiohttp.ClientTimeout(total=300)) as session:
        # two ticks first: connections open, every container has a rate
        before = await wait_ticks(session, run.url, 2, timeout_s=4 * res + 120)
        print(f"metricsd has completed {metric(TICKS_RE, before):.0f} ticks; measuring over {args.ticks} "
              f"resolutions ({args.ticks * res} s)", flush=True)
        side = [c for c in (run.kubelets, run.kubesim) if c is not None]
        cpu0, side0, t0 = md.cpu_s(), [c.cpu_s() for c in side], time.monotonic()
        before = (await get(session, run.url + "/metrics"))[1].decode()
        await asyncio.sleep(args.ticks * res)
        after = (await get(session, run.url + "/metrics"))[1].decode()
        cpu, window = md.cpu_s() - cpu0, time.monotonic() - t0
        side_cpu = [c.cpu_s() - s0 for c, s0 in zip(side, side0, strict=True)]
        rss, peak = md.rss_bytes(), md.peak_rss_bytes()
        ticks = metric(TICKS_RE, after) - metric(TICKS_RE, before)
        tick_wall = (metric(TICK_SUM_RE, after) - metric(TICK_SUM_RE, before)) / ticks if ticks else 0.0
        points = metric(POINTS_RE, after)
        print(f"window {window:.1f} s: {ticks:.0f} ticks completed, mean tick {tick_wall:.2f} s wall, "
              f"metricsd CPU {cpu:.2f} s, {points:.0f} container points stored", flush=True)
        list_times, items, size = [], 0, 0
        for _ in range(args.pod_list_repeats):
            seconds, body = await get(session, run.url + "/apis/metrics.k8s.io/v1beta1/pods")
            list_times.append(seconds)
            items, size = body.count(ITEM), len(body)
            print(f"GET /apis/metrics.k8s.io/v1beta1/pods: {seconds:.3f} s, {items} items, {size / MB:.1f} MB",
                  flush=True)
        node_s, node_body = await get(session, run.url + "/apis/metrics.k8s.io/v1beta1/nodes")
    if items == 0:
        raise RuntimeError("metricsd served no pod metrics")
    if items < pods:
        print(f"WARNING: {pods - items} of {pods} pods have no metrics", flush=True)
    per_tick = cpu / (window / res)
    mcpu_per_node = cpu / window / nodes * 1000
    figures = [
        Figure("metricsd CPU per tick", per_tick, "s"),
        Figure("metricsd CPU per node", mcpu_per_node, "mCPU", aim=AIM_MCPU_PER_NODE,
               upstream=METRICS_SERVER_MCPU_PER_NODE),
        Figure("metricsd RSS when ready (Node and Pod caches listed, first tick under way)", run.ready_rss / MB, "MB"),
        Figure("metricsd RSS", rss / MB, "MB"),
        Figure("metricsd peak RSS (VmHWM)", peak / MB, "MB"),
        Figure("metricsd RSS per node", rss / MB / nodes, "MB", aim=AIM_MB_PER_NODE,
               upstream=METRICS_SERVER_MB_PER_NODE),
    ]
    if baseline is not None:
        figures += [Figure("metricsd RSS with 0 nodes (baseline)", baseline / MB, "MB"),
                    Figure("metricsd RSS per node above the baseline", (rss - baseline) / MB / nodes, "MB",
                           aim=AIM_MB_PER_NODE, upstream=METRICS_SERVER_MB_PER_NODE)]
    figures += [
        Figure(f"full pod list (median of {len(list_times)})", statistics.median(list_times), "s", aim=AIM_POD_LIST_S),
        Figure(f"full pod list (best of {len(list_times)})", min(list_times), "s"),
        Figure("full pod list items", items, f"of {pods:,} pods"),
        Figure("full pod list size", size / MB, "MB"),
        Figure("full node list", node_s, f"s ({node_body.count(ITEM)} of {nodes} nodes)"),
        Figure("mean tick wall time", tick_wall, "s"),
    ]
    figures += [Figure(f"{c.name} CPU per tick (not metricsd)", s / (window / res), "s")
                for c, s in zip(side, side_cpu, strict=True)]
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"metricsd: {args.nodes} nodes x {args.pods_per_node} pods = {args.nodes * args.pods_per_node} pods, "
          f"{args.resolution_s} s resolution", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-metricsd-") as tmp:
        workdir = Path(tmp)
        baseline = None
        if not args.no_baseline:
            baseline = asyncio.run(baseline_rss(args, workdir / "baseline"))
            print(f"baseline: metricsd RSS with 0 nodes {baseline / MB:.1f} MB", flush=True)
        t0 = time.monotonic()
        run = Run(workdir=workdir / "run", nodes=args.nodes, pods_per_node=args.pods_per_node,
                  resolution_s=args.resolution_s, timeout_s=args.timeout_s)
        try:
            print(f"started kubelets, kubesim and metricsd in {time.monotonic() - t0:.1f} s", flush=True)
            figures = asyncio.run(measure(args, run, baseline=baseline))
        finally:
            run.stop()
    print("\nsummary")
    for f in figures:
        print(f.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
