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
import queue
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

BENCH = Path(__file__).resolve().parent
KUBESCALE = BENCH.parent / ".venv" / "bin" / "kubescale"
AIM_MCPU_PER_NODE = 0.1
AIM_MB_PER_NODE = 0.1
AIM_POD_LIST_S = 1.0
METRICS_SERVER_MCPU_PER_NODE = 1.0
METRICS_SERVER_MB_PER_NODE = 2.0
MB = 1e6
TICKS_RE = re.compile(r"^metrics_server_manager_tick_duration_seconds_count (\S+)$", re.M)
TICK_SUM_RE = re.compile(r"^metrics_server_manager_tick_duration_seconds_sum (\S+)$", re.M)
POINTS_RE = re.compile(r'^metrics_server_storage_points\{type="container"\} (\S+)$', re.M)
ITEM = b'"window":'


class Child:
    """A child process whose stdout lines are read by a thread; its CPU and memory come from /proc."""

    def __init__(self, name: str, cmd: list[str], *, workdir: Path) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pattern: str, *, timeout_s: float) -> re.Match[str]:
        """The first stdout line matching `pattern`, within `timeout_s`; raises when the child exits or is late."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            if m := re.search(pattern, line):
                return m
        self.stop()
        raise RuntimeError(f"{self.name} did not print {pattern!r}; log:\n{self.log_path.read_text()[-4000:]}")

    def _status_kb(self, key: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise KeyError(key)

    def rss_bytes(self) -> int:
        return self._status_kb("VmRSS") * 1024

    def peak_rss_bytes(self) -> int:
        return self._status_kb("VmHWM") * 1024

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / 100  # utime, stime in clock ticks (USER_HZ = 100)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@dataclass(frozen=True)
class Figure:
    """One summary line; `aim` and `upstream` (metrics-server's envelope) are in the figure's unit."""

    name: str
    value: float
    unit: str
    aim: float | None = None
    upstream: float | None = None

    def line(self) -> str:
        shown = f"{self.value:,.0f}" if self.value >= 1000 and self.value == int(self.value) else f"{self.value:.4g}"
        text = f"{self.name}: {shown} {self.unit}"
        if self.aim is not None:
            ratio = self.value / self.aim
            text += f" (aim < {self.aim:g} {self.unit}, {ratio:.2f}x){'  MISSED' if ratio >= 1 else ''}"
        if self.upstream is not None:
            text += f"; {self.value / self.upstream:.3f}x metrics-server's {self.upstream:g} {self.unit}"
        return text


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


class Run:
    """kubesim (populated), the fake kubelets (when nodes > 0) and metricsd, started in that order."""

    def __init__(self, *, workdir: Path, nodes: int, pods_per_node: int, resolution_s: int, timeout_s: float) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.children: list[Child] = []
        ports_file = workdir / "ports.json"
        try:
            if nodes:
                kubelets = self._start("kubelets", [sys.executable, str(BENCH / "_fake_kubelets.py"), "--nodes",
                                                    str(nodes), "--pods-per-node", str(pods_per_node),
                                                    "--ports-out", str(ports_file)], workdir)
                kubelets.wait_for(r"kubelets ready", timeout_s=timeout_s)
            else:
                ports_file.write_text("[]")
            kubesim = self._start("kubesim", [sys.executable, str(BENCH / "_metricsd_kubesim.py"),
                                              "--pods-per-node", str(pods_per_node), "--ports-file", str(ports_file),
                                              "--kubeconfig-out", str(workdir / "kubeconfig")], workdir)
            kubesim.wait_for(r"kubesim ready: ", timeout_s=timeout_s)
            timeout = "10s" if resolution_s * 0.9 >= 10 else f"{int(resolution_s * 0.9)}s"
            self.metricsd = self._start("metricsd", [
                str(KUBESCALE), "metrics-server", "--kubeconfig", str(workdir / "kubeconfig"),
                "--metric-resolution", f"{resolution_s}s", "--kubelet-request-timeout", timeout,
                "--deprecated-kubelet-completely-insecure", "--kubelet-use-node-status-port",
                "--kubelet-preferred-address-types", "InternalIP", "--secure-port", "0",
                "--cert-dir", str(workdir / "certs"), "--local-trust-loopback", "--authentication-skip-lookup"],
                workdir)
            self.url = self.metricsd.wait_for(r"metricsd ready: (\S+)", timeout_s=timeout_s).group(1)
            self.ready_rss = self.metricsd.rss_bytes()
        except BaseException:
            self.stop()
            raise
        self.kubelets = self.children[0] if nodes else None
        self.kubesim = kubesim

    def _start(self, name: str, cmd: list[str], workdir: Path) -> Child:
        child = Child(name, cmd, workdir=workdir)
        self.children.append(child)
        return child

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[float, bytes]:
    t0 = time.perf_counter()
    async with session.get(url) as resp:
        body = await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"GET {url}: {resp.status} {body[:300]!r}")
    return time.perf_counter() - t0, body


def _metric(pattern: re.Pattern[str], text: str) -> float:
    m = pattern.search(text)
    return float(m.group(1)) if m else 0.0


async def _wait_ticks(session: aiohttp.ClientSession, url: str, ticks: int, *, timeout_s: float) -> str:
    """/metrics once at least `ticks` scrape ticks have completed (polled every 2 s, bounded by `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    while True:
        text = (await _get(session, url + "/metrics"))[1].decode()
        if _metric(TICKS_RE, text) >= ticks:
            return text
        if time.monotonic() > deadline:
            raise RuntimeError(f"metricsd did not complete {ticks} ticks in {timeout_s:.0f} s")
        await asyncio.sleep(2)


async def baseline_rss(args: argparse.Namespace, workdir: Path) -> int:
    """metricsd's RSS against an empty cluster, after its first tick."""
    run = Run(workdir=workdir, nodes=0, pods_per_node=args.pods_per_node, resolution_s=args.resolution_s,
              timeout_s=args.timeout_s)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
            await _wait_ticks(session, run.url, 1, timeout_s=2 * args.resolution_s + 30)
        return run.metricsd.rss_bytes()
    finally:
        run.stop()


async def measure(args: argparse.Namespace, run: Run, *, baseline: int | None) -> list[Figure]:
    nodes, pods = args.nodes, args.nodes * args.pods_per_node
    md, res = run.metricsd, args.resolution_s
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False),
                                     timeout=aiohttp.ClientTimeout(total=300)) as session:
        # two ticks first: connections open, every container has a rate
        before = await _wait_ticks(session, run.url, 2, timeout_s=4 * res + 120)
        print(f"metricsd has completed {_metric(TICKS_RE, before):.0f} ticks; measuring over {args.ticks} "
              f"resolutions ({args.ticks * res} s)", flush=True)
        side = [c for c in (run.kubelets, run.kubesim) if c is not None]
        cpu0, side0, t0 = md.cpu_s(), [c.cpu_s() for c in side], time.monotonic()
        before = (await _get(session, run.url + "/metrics"))[1].decode()
        await asyncio.sleep(args.ticks * res)
        after = (await _get(session, run.url + "/metrics"))[1].decode()
        cpu, window = md.cpu_s() - cpu0, time.monotonic() - t0
        side_cpu = [c.cpu_s() - s0 for c, s0 in zip(side, side0, strict=True)]
        rss, peak = md.rss_bytes(), md.peak_rss_bytes()
        ticks = _metric(TICKS_RE, after) - _metric(TICKS_RE, before)
        tick_wall = (_metric(TICK_SUM_RE, after) - _metric(TICK_SUM_RE, before)) / ticks if ticks else 0.0
        points = _metric(POINTS_RE, after)
        print(f"window {window:.1f} s: {ticks:.0f} ticks completed, mean tick {tick_wall:.2f} s wall, "
              f"metricsd CPU {cpu:.2f} s, {points:.0f} container points stored", flush=True)
        list_times, items, size = [], 0, 0
        for _ in range(args.pod_list_repeats):
            seconds, body = await _get(session, run.url + "/apis/metrics.k8s.io/v1beta1/pods")
            list_times.append(seconds)
            items, size = body.count(ITEM), len(body)
            print(f"GET /apis/metrics.k8s.io/v1beta1/pods: {seconds:.3f} s, {items} items, {size / MB:.1f} MB",
                  flush=True)
        node_s, node_body = await _get(session, run.url + "/apis/metrics.k8s.io/v1beta1/nodes")
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
