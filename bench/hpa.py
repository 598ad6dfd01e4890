"""Benchmark: `kubescale hpa` syncing 10,000 HPAs, each over 10 pods, in kubesim with metricsd; and the
decisions per second of the pure core alone. Aim (DESIGN.md §6): all 10,000 within one 15 s sync period on
one core.

Child processes, so the controller's CPU can be read alone from /proc: the fake kubelets and a populated
kubesim of `bench/_harness.Run` (with `--hpas`: a Deployment and a CPU-utilization HPA per workload, pods
spread over nodes), metricsd, and the controller (`--leader-elect=false`). The controller first syncs every
HPA one sync period after it sees it (upstream's queue), so the measured round is that first full sync: from
the first reconcile to the last, read from its /metrics (the reconciliations_total counter).
A report, not a test: a missed aim is flagged, never an error exit.

    python bench/hpa.py            # 10,000 HPAs x 10 pods (3,334 nodes x 30 pods; several minutes)
    python bench/hpa.py --quick    # 200 HPAs x 10 pods, a smoke run in about a minute
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import KUBESCALE, Child, Figure, Run, get, wait_ticks

from autoscaler.hpa import decide, defaulting, model

AIM_SYNC_S = 15.0
RECONCILES_RE = re.compile(
    r'^horizontal_pod_autoscaler_controller_reconciliations_total\{action="(\w+)",error="(\w+)"\} (\S+)$', re.M)
DURATION_SUM_RE = re.compile(
    r"^horizontal_pod_autoscaler_controller_reconciliation_duration_seconds_sum\{[^}]*\} (\S+)$", re.M)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="200 HPAs x 10 pods")
    p.add_argument("--hpas", type=int, default=10_000)
    p.add_argument("--pods-per-hpa", type=int, default=10)
    p.add_argument("--pods-per-node", type=int, default=30)
    p.add_argument("--namespaces", type=int, default=100)
    p.add_argument("--workers", type=int, default=5, help="--concurrent-horizontal-pod-autoscaler-syncs")
    p.add_argument("--sync-period-s", type=int, default=15)
    p.add_argument("--core-decisions", type=int, default=20_000, help="decide() calls for the pure-core figure")
    p.add_argument("--timeout-s", type=float, default=900, help="bound on each child's start-up and on the sync")
    p.add_argument("--profile-out", help="run the controller under cProfile and write its stats here")
    p.add_argument("--kubesim-profile-out", help="run kubesim under cProfile and write its stats here")
    args = p.parse_args(argv)
    if args.quick:
        args.hpas, args.namespaces, args.core_decisions = 200, 10, 2_000
    return args


def _reconciles(text: str) -> dict[tuple[str, str], float]:
    return {(m.group(1), m.group(2)): float(m.group(3)) for m in RECONCILES_RE.finditer(text)}


async def measure_controller(args: argparse.Namespace, run: Run, workdir: Path) -> list[Figure]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False),
                                     timeout=aiohttp.ClientTimeout(total=120)) as session:
        await wait_ticks(session, run.url, 2, timeout_s=4 * 15 + args.timeout_s)
        print("metricsd has two ticks: every pod has a CPU rate; starting the controller", flush=True)
        launcher = [str(KUBESCALE)] if not args.profile_out else [
            sys.executable, "-m", "cProfile", "-o", args.profile_out, "-m", "kubescale.cli"]
        hpa = Child("hpa", [*launcher, "hpa", "--kubeconfig", str(workdir / "kubeconfig"), "--secure-port=0",
                            "--cert-dir", str(workdir / "hpa-certs"), "--leader-elect=false",
                            f"--horizontal-pod-autoscaler-sync-period={args.sync_period_s}s",
                            f"--concurrent-horizontal-pod-autoscaler-syncs={args.workers}"], workdir=workdir)
        run.children.append(hpa)
        url = hpa.wait_for(r"kubescale hpa ready: (\S+)", timeout_s=args.timeout_s).group(1)
        started = time.monotonic()
        first_t = first_cpu = 0.0
        others = [c for c in run.children if c is not hpa]
        others_cpu: list[float] = []
        text = ""
        deadline = started + args.timeout_s
        while time.monotonic() < deadline:
            text = (await get(session, url + "/metrics"))[1].decode()
            done = sum(_reconciles(text).values())
            if done and not first_t:
                first_t, first_cpu = time.monotonic(), hpa.cpu_s()
                others_cpu = [c.cpu_s() for c in others]
                print(f"first reconcile {first_t - started:.1f} s after start (informers listed, one period "
                      f"waited); startup CPU {first_cpu:.1f} s", flush=True)
            if done >= args.hpas:
                break
            await asyncio.sleep(0.25)
        else:
            raise RuntimeError(f"the controller synced {done:.0f} of {args.hpas} HPAs in {args.timeout_s:.0f} s")
        end_t, end_cpu = time.monotonic(), hpa.cpu_s()
        others_cpu = [c.cpu_s() - before for c, before in zip(others, others_cpu, strict=True)]
    by_key = _reconciles(text)
    done = sum(by_key.values())
    wall, cpu = end_t - first_t, end_cpu - first_cpu
    actions = {a: sum(v for (act, _), v in by_key.items() if act == a) for a in ("scale_up", "scale_down", "none")}
    errors = sum(v for (_, err), v in by_key.items() if err != "none")
    mean_reconcile = sum(float(x) for x in DURATION_SUM_RE.findall(text)) / done if done else 0.0
    print(f"{done:.0f} reconciles: {actions['scale_up']:.0f} scale up, {actions['scale_down']:.0f} scale down, "
          f"{actions['none']:.0f} no change; {errors:.0f} with errors", flush=True)
    if errors:
        print(f"WARNING: {errors:.0f} reconciles had errors; see {hpa.log_path}", flush=True)
    return [
        Figure(f"one full sync of {done:,.0f} HPAs, wall", wall, "s", aim=AIM_SYNC_S),
        Figure("controller CPU for that sync", cpu, "s", aim=AIM_SYNC_S),
        Figure("controller CPU per HPA", cpu / done * 1000, "ms"),
        Figure("HPAs per CPU-second", done / cpu if cpu else 0.0, "/s"),
        Figure(f"projected CPU for {args.hpas:,} HPAs at this rate", cpu / done * args.hpas, "s", aim=AIM_SYNC_S),
        Figure(f"mean reconcile wall time ({args.workers} workers)", mean_reconcile * 1000, "ms"),
        Figure("controller start-up CPU (listing pods and HPAs)", first_cpu, "s"),
        Figure("controller RSS", hpa.rss_bytes() / 1e6, "MB"),
        *(Figure(f"{c.name} CPU during that sync (not the controller)", s, "s") for c, s in zip(others, others_cpu,
                                                                                                 strict=True)),
    ]


def core_inputs(n: int) -> list[decide.SyncInput]:
    """n different syncs of an HPA at 50 % CPU over 10 pods: usage spread so that some scale up, some down."""
    now = 1_800_000_000.0
    hpa = defaulting.stored_v2({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "minReplicas": 1, "maxReplicas": 40,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                     "type": "Utilization", "averageUtilization": 50}}}]}})
    pods = tuple(model.PodInfo(f"p{i}", start_time_s=now - 3600, ready_transition_s=now - 3590,
                               containers=(model.ContainerInfo("main", {"cpu": 250}),)) for i in range(10))
    inputs = []
    for k in range(n):
        usage = 20 + (k * 37) % 230
        fetched = model.ResourceMetricsFetch(tuple(
            model.PodMetricSample(f"p{i}", now - 15, 15.0, (model.ContainerUsage("main", {"cpu": usage + i}),),
                                  "default") for i in range(10)))
        inputs.append(decide.SyncInput(hpa=hpa, scale=decide.Scale(10, 10, "app=web"), pods=pods,
                                       metrics=(fetched,), now=now))
    return inputs


def measure_core(n: int) -> list[Figure]:
    inputs = core_inputs(n)
    t0 = time.process_time()
    rescales = sum(decide.decide(i).rescale for i in inputs)
    cpu = time.process_time() - t0
    print(f"pure core: {n:,} decisions ({rescales:,} rescale) in {cpu:.2f} CPU-s", flush=True)
    return [Figure("pure core decisions per CPU-second", n / cpu, "/s"),
            Figure("pure core CPU for 10,000 decisions", cpu / n * 10_000, "s", aim=AIM_SYNC_S)]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    pods = args.hpas * args.pods_per_hpa
    nodes = -(-pods // args.pods_per_node)
    print(f"hpa: {args.hpas:,} HPAs x {args.pods_per_hpa} pods = {pods:,} pods on {nodes:,} nodes, "
          f"{args.namespaces} namespaces, {args.workers} workers, {args.sync_period_s} s sync period", flush=True)
    figures = measure_core(args.core_decisions)
    with tempfile.TemporaryDirectory(prefix="bench-hpa-") as tmp:
        workdir = Path(tmp)
        t0 = time.monotonic()
        profile = ["--profile-out", args.kubesim_profile_out] if args.kubesim_profile_out else []
        run = Run(workdir=workdir, nodes=nodes, pods_per_node=args.pods_per_node, resolution_s=15,
                  timeout_s=args.timeout_s, namespaces=args.namespaces, workloads=args.hpas,
                  kubesim_args=["--hpas", *profile], metricsd_args=["--register-apiservice"])
        try:
            print(f"started kubelets, kubesim and metricsd in {time.monotonic() - t0:.1f} s", flush=True)
            figures += asyncio.run(measure_controller(args, run, workdir))
        finally:
            run.stop()
    print("\nsummary")
    for f in figures:
        print(f.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
