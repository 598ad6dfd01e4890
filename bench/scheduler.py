"""Benchmark: kubesim's scheduler placing 1,000 pending pods on 5,000 nodes ("it must keep up with 1,000 pending
pods on 5,000 nodes", issue 3).

Decision (pure, `kubesim.sim.scheduling.schedule` over a `NodeTable`): 5,000 nodes in 3 zones, a tenth of them
tainted, already running 30 pods each (150,000 bound pods, about 60 % of their cpu requested); 1,000 pending
pods from 10 workloads with different selectors, tolerations and preferences. Prints the time to build the
table from the bound pods, to place the 1,000 pods (median of 3, each on a fresh table), and to answer 1,000
pods that fit nowhere (the diagnosis and preemption dry run behind every FitError message).

End to end (`Scheduler.run_once` against an in-process `ApiServer`, no HTTP): the same 5,000 nodes and 1,000
pending Pod objects; the time to bind every pod, writes and `Scheduled` events included.
A report, not a test: a missed aim is flagged, never an error exit.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from kubesim.apiserver import ApiServer
from kubesim.sim.nodetable import NodeTable
from kubesim.sim.schedinputs import NodeInfo, PodInfo, PreferredTerm, Requirement, SelectorTerm, Taint, Toleration
from kubesim.sim.scheduler import Scheduler, SchedulerConfig
from kubesim.sim.scheduling import schedule

GI = 2**30
AIM_S = 1.0  # 1,000 pods on 5,000 nodes "well under" a second
ZONES = ("zone-a", "zone-b", "zone-c")
DEDICATED = Taint("dedicated", "batch", "NoSchedule")


def make_nodes(n: int) -> list[NodeInfo]:
    return [NodeInfo(f"node-{i:05d}", cpu_millicores=8000, memory_bytes=32 * GI, ephemeral_bytes=100 * GI, pods=110,
                     labels=(("kubernetes.io/hostname", f"node-{i:05d}"), ("topology.kubernetes.io/zone",
                                                                          ZONES[i % 3])),
                     taints=(DEDICATED,) if i % 10 == 9 else ())
            for i in range(n)]


def make_bound(nodes: Sequence[NodeInfo], per_node: int) -> list[PodInfo]:
    return [PodInfo(f"team-{j % 50:02d}", f"run-{i:05d}-{j:02d}", cpu_millicores=160, memory_bytes=600 * 2**20,
                    nonzero_cpu_millicores=160, nonzero_memory_bytes=600 * 2**20, node_name=node.name, priority=0)
            for i, node in enumerate(nodes) for j in range(per_node)]


def make_pending(count: int, *, cpu_millicores: int = 250) -> list[PodInfo]:
    """10 workloads: plain, zone-pinned by nodeSelector or required affinity, tolerating the batch taint,
    preferring a zone."""
    shapes: list[dict[str, Any]] = [
        {},
        {"node_selector": (("topology.kubernetes.io/zone", "zone-b"),)},
        {"required": (SelectorTerm((Requirement("topology.kubernetes.io/zone", "In", ("zone-a", "zone-c")),)),)},
        {"tolerations": (Toleration("dedicated", "Equal", "batch", "NoSchedule"),)},
        {"preferred": (PreferredTerm(10, SelectorTerm((Requirement("topology.kubernetes.io/zone", "In",
                                                                   ("zone-c",)),))),)},
    ]
    return [PodInfo("bench", f"web-{w}-{i:04d}", cpu_millicores=cpu_millicores, memory_bytes=512 * 2**20,
                    nonzero_cpu_millicores=cpu_millicores, nonzero_memory_bytes=512 * 2**20,
                    **shapes[w % len(shapes)])
            for i in range(count) for w in [i % 10]]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def figure(name: str, seconds: float, aim: float | None = None) -> str:
    text = f"{name}: {seconds * 1000:.1f} ms"
    if aim is None:
        return text
    ratio = seconds / aim
    return f"{text} (aim < {aim * 1000:.0f} ms, {ratio:.2f}x){'  MISSED' if ratio >= 1 else ''}"


def decision(nodes: int, per_node: int, pending: int) -> list[str]:
    node_infos = make_nodes(nodes)
    bound = make_bound(node_infos, per_node)
    pods = make_pending(pending)
    build_s, _ = timed(lambda: NodeTable(node_infos, bound))
    runs = []
    placed = 0
    for _ in range(3):
        table = NodeTable(node_infos, bound)
        seconds, placements = timed(lambda t=table: schedule(pods, t))  # type: ignore[misc]
        runs.append(seconds)
        placed = sum(p.node is not None for p in placements)
    too_big = make_pending(pending, cpu_millicores=64_000)
    table = NodeTable(node_infos, bound)
    fail_s, failed = timed(lambda: schedule(too_big, table))
    print(f"decision: {nodes:,} nodes, {len(bound):,} bound pods, {pending:,} pending pods: {placed:,} placed; "
          f"{sum(p.node is None for p in failed):,} of {pending:,} oversized pods unschedulable, e.g.\n"
          f"  {failed[0].message}", flush=True)
    return [figure(f"table build ({len(bound):,} bound pods)", build_s),
            figure(f"place {pending:,} pods on {nodes:,} nodes (median of 3)", statistics.median(runs), AIM_S),
            figure(f"{pending:,} unschedulable pods, messages and preemption dry run", fail_s),
            f"per pod: {statistics.median(runs) / pending * 1e6:.0f} us placed, {fail_s / pending * 1e6:.0f} us "
            "unschedulable"]


def end_to_end(nodes: int, pending: int) -> list[str]:
    api = ApiServer()
    node_rt, pod_rt = api.registry.get("", "nodes"), api.registry.get("", "pods")
    assert node_rt is not None and pod_rt is not None
    api.create(api.registry.get("", "namespaces"), "", {"metadata": {"name": "bench"}})  # type: ignore[arg-type]
    for info in make_nodes(nodes):
        api.create(node_rt, "", {"metadata": {"name": info.name, "labels": dict(info.labels)},
                                 "spec": {"taints": [{"key": t.key, "value": t.value, "effect": t.effect}
                                                     for t in info.taints]},
                                 "status": {"allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                                            "conditions": [{"type": "Ready", "status": "True"}]}})
    for i in range(pending):
        api.create(pod_rt, "bench", {"metadata": {"name": f"web-{i:04d}"}, "spec": {"containers": [
            {"name": "c", "image": "app", "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}}}]}})
    scheduler = Scheduler(api, SchedulerConfig())

    async def cycle() -> tuple[float, list[Any]]:
        scheduler.nodes.start()  # the informers only; the cycle is run (and timed) here, not by the loop
        scheduler.pods.start()
        try:
            return timed(scheduler.run_once)
        finally:
            await scheduler.pods.stop()
            await scheduler.nodes.stop()

    seconds, placements = asyncio.run(cycle())
    bound = sum(1 for e in api.list(pod_rt, "bench").entries if e.obj["spec"].get("nodeName"))
    print(f"end to end: {bound:,} of {pending:,} pods bound in one cycle", flush=True)
    return [figure(f"one cycle: {len(placements):,} pods bound on {nodes:,} nodes, with writes and events", seconds)]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--pods-per-node", type=int, default=30, help="bound pods per node (decision part)")
    ap.add_argument("--pending", type=int, default=1000)
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"== kubesim scheduler: {args.pending:,} pending pods, {args.nodes:,} nodes ==", flush=True)
    figures = decision(args.nodes, args.pods_per_node, args.pending)
    figures += end_to_end(args.nodes, args.pending)
    print("-- summary --")
    for line in figures:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
