"""Benchmark: kubesim as the API server of a large cluster (5,000 nodes, 150,000 pods by default).

Starts `bench/_kubesim_populated.py` in its own process (so its RSS and CPU can be read from /proc), then
measures over HTTP on loopback with one aiohttp keep-alive session: full pod list, pods by `spec.nodeName`,
pods by label (one namespace and cluster-wide), `limit=500` paging, the Table form kubectl asks for, and the
fan-out of pod updates to concurrent watchers. Prints each figure as it goes and a summary against the aims
of the issue. A report, not a test: a missed aim is flagged, never an error exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

POPULATED_SCRIPT = Path(__file__).with_name("_kubesim_populated.py")
READY = re.compile(r"kubesim ready: (\S+) kubeconfig=(\S+)")
TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io," \
               "application/json"
POD_ITEM = b'{"apiVersion":"v1","kind":"Pod"'
TABLE_ROW = b'"cells":'
HEAD_BYTES = 4096  # holds the list metadata (resourceVersion, continue) of a list or Table
SENT_AT = "kubesim.bench/sent-at"
SENT_AT_RE = re.compile(rb'"kubesim\.bench/sent-at":"([0-9.]+)"')
CONTINUE_RE = re.compile(rb'"continue":"([^"]+)"')
GB = 1e9
REQUEST_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Figure:
    """One summary line: a measured value and, when the issue sets one, the aim it must stay under."""

    name: str
    value: float
    unit: str
    aim: float | None = None

    def line(self) -> str:
        text = f"{self.name}: {_fmt(self.value, self.unit)}"
        if self.aim is None:
            return text
        ratio = self.value / self.aim
        return f"{text} (aim < {_fmt(self.aim, self.unit, digits=0)}, {ratio:.2f}x){'  MISSED' if ratio >= 1 else ''}"


def _fmt(value: float, unit: str, *, digits: int = 2) -> str:
    """`digits` decimals for GB and s, one for ms; aims pass 0 to print "2 s", "20 ms", "2 GB"."""
    if unit == "bytes":
        return f"{value / GB:.{digits}f} GB"
    if unit == "s":
        return f"{value * 1000:.{min(digits, 1)}f} ms" if value < 1 else f"{value:.{digits}f} s"
    return f"{value:,.0f} {unit}"


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass(frozen=True)
class Reply:
    """A GET's latency, body size, items (list items or Table rows) and the start of the body."""

    seconds: float
    size: int
    items: int
    head: bytes


class _Occurrences:
    """Counts a pattern in a byte stream fed in chunks, including matches that straddle chunk boundaries."""

    def __init__(self, pattern: bytes) -> None:
        self.pattern, self.count, self._tail = pattern, 0, b""

    def feed(self, chunk: bytes) -> None:
        # the carried tail is shorter than the pattern: a match in tail+chunk is new, never counted before
        data = self._tail + chunk
        self.count += data.count(self.pattern)
        self._tail = data[-len(self.pattern) + 1:]


# -- the kubesim process --------------------------------------------------------------------------------------
class SimProcess:
    """kubesim, populated, in a child process; reads its memory and CPU from /proc."""

    def __init__(self, *, workdir: Path, nodes: int, pods_per_node: int, namespaces: int, workloads: int,
                 profile_dir: str | None) -> None:
        cmd = [sys.executable, str(POPULATED_SCRIPT), "--nodes", str(nodes), "--pods-per-node", str(pods_per_node),
               "--namespaces", str(namespaces), "--workloads", str(workloads),
               "--kubeconfig-out", str(workdir / "kubeconfig")]
        if profile_dir:
            cmd += ["--profile-dir", profile_dir]
        self.log_path = workdir / "kubesim.log"
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
        self.url = ""
        self.populated: dict[str, Any] = {}
        self._wait_ready(timeout_s=120 + nodes * pods_per_node * 0.005)

    def _wait_ready(self, *, timeout_s: float) -> None:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("populated "):
                self.populated = json.loads(line.split(" ", 1)[1])
            m = READY.search(line)
            if m:
                self.url = m.group(1)
                return
        self.proc.kill()
        raise RuntimeError(f"kubesim did not become ready; log:\n{self.log_path.read_text()[-4000:]}")

    def _status(self, key: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
        raise KeyError(key)

    def rss_bytes(self) -> int:
        return self._status("VmRSS")

    def peak_rss_bytes(self) -> int:
        return self._status("VmHWM")

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- measuring ------------------------------------------------------------------------------------------------
class Bench:
    """The measurements against one running, populated kubesim."""

    def __init__(self, sim: SimProcess, session: aiohttp.ClientSession, *, pods: int) -> None:
        self.sim, self.session, self.pods = sim, session, pods
        self.figures: list[Figure] = []

    async def get(self, path: str, *, params: dict[str, str] | None = None,
                  accept: str = "application/json") -> Reply:
        """Time one GET to its last body byte, counting items as the body streams in (never holding it whole)."""
        t0 = time.perf_counter()
        size, head = 0, b""
        pods, rows = _Occurrences(POD_ITEM), _Occurrences(TABLE_ROW)
        async with self.session.get(self.sim.url + path, params=params, headers={"Accept": accept}) as r:
            async for chunk in r.content.iter_any():
                size += len(chunk)
                if len(head) < HEAD_BYTES:
                    head += chunk[:HEAD_BYTES - len(head)]
                pods.feed(chunk)
                rows.feed(chunk)
            if r.status != 200:
                raise RuntimeError(f"GET {path} {params}: HTTP {r.status}: {head[:300]!r}")
        items = rows.count if head.startswith(b'{"kind":"Table"') else pods.count
        return Reply(time.perf_counter() - t0, size, items, head)

    async def repeat(self, label: str, path: str, *, times: int, params: dict[str, str] | None = None,
                     accept: str = "application/json", expect: int | None = None) -> list[float]:
        cpu0 = self.sim.cpu_s()
        samples, size, items = [], 0, 0
        for _ in range(times):
            reply = await self.get(path, params=params, accept=accept)
            samples.append(reply.seconds)
            size, items = reply.size, reply.items
        if expect is not None and items != expect:
            raise RuntimeError(f"{label}: expected {expect} items, got {items}")
        cpu = (self.sim.cpu_s() - cpu0) / times
        print(f"{label}: p50 {_fmt(_pct(samples, 0.5), 's')}, p95 {_fmt(_pct(samples, 0.95), 's')}, "
              f"max {_fmt(max(samples), 's')} over {times} runs; {items} items, {size / 1e6:.2f} MB; "
              f"server CPU {_fmt(cpu, 's')} per request", flush=True)
        return samples

    async def lists(self) -> None:
        full = await self.repeat("full pod list", "/api/v1/pods", times=3, expect=self.pods)
        self.figures.append(Figure("full pod list (median of 3)", statistics.median(full), "s", aim=2.0))
        field = await self.repeat("pods by spec.nodeName", "/api/v1/pods", times=50,
                                  params={"fieldSelector": "spec.nodeName=node-00001"})
        self.figures.append(Figure("pods by spec.nodeName (p50 of 50)", _pct(field, 0.5), "s", aim=0.020))
        self.figures.append(Figure("pods by spec.nodeName (p95 of 50)", _pct(field, 0.95), "s", aim=0.020))
        app, ns = "api-000", "team-00"  # the first workload and its namespace (see _kubesim_populated.py)
        by_label = await self.repeat("pods by label in one namespace", f"/api/v1/namespaces/{ns}/pods", times=20,
                                     params={"labelSelector": f"app={app}"})
        self.figures.append(Figure("pods by label, one namespace (p50 of 20)", _pct(by_label, 0.5), "s"))
        by_label_all = await self.repeat("pods by label cluster-wide", "/api/v1/pods", times=5,
                                         params={"labelSelector": f"app={app}"})
        self.figures.append(Figure("pods by label, cluster-wide (p50 of 5)", _pct(by_label_all, 0.5), "s"))
        table_ns = await self.repeat("Table, one namespace", f"/api/v1/namespaces/{ns}/pods", times=5,
                                     accept=TABLE_ACCEPT)
        self.figures.append(Figure("Table of one namespace's pods (p50 of 5)", _pct(table_ns, 0.5), "s"))
        table_all = await self.repeat("Table, all pods in one response", "/api/v1/pods", times=1,
                                      accept=TABLE_ACCEPT, expect=self.pods)
        self.figures.append(Figure("Table of all pods, one response", table_all[0], "s"))
        paged = await self.paged("list in pages of 500", accept="application/json")
        self.figures.append(Figure("list all pods in pages of 500", paged, "s"))
        kubectl = await self.paged("Table in pages of 500 (kubectl get pods -A)", accept=TABLE_ACCEPT)
        self.figures.append(Figure("Table in pages of 500 (kubectl get pods -A)", kubectl, "s"))

    async def paged(self, label: str, *, accept: str) -> float:
        """Read every pod with limit=500 and continue tokens, like an informer's or kubectl's chunked list."""
        cpu0, t0 = self.sim.cpu_s(), time.perf_counter()
        params = {"limit": "500"}
        pages = items = 0
        slowest = 0.0
        for _ in range(self.pods // 500 + 2):
            reply = await self.get("/api/v1/pods", params=params, accept=accept)
            pages, items, slowest = pages + 1, items + reply.items, max(slowest, reply.seconds)
            m = CONTINUE_RE.search(reply.head)
            if m is None:
                break
            params = {"limit": "500", "continue": m.group(1).decode()}
        total = time.perf_counter() - t0
        if items != self.pods:
            raise RuntimeError(f"{label}: expected {self.pods} items, got {items}")
        print(f"{label}: {_fmt(total, 's')} for {pages} pages, slowest page {_fmt(slowest, 's')}; "
              f"server CPU {self.sim.cpu_s() - cpu0:.2f} s", flush=True)
        return total

    async def watch_fanout(self, *, watchers: int, events: int, concurrency: int, timeout_s: float) -> None:
        """`watchers` watches from the current resourceVersion; `events` pod PATCHes; every watcher must see all."""
        async with self.session.get(self.sim.url + "/api/v1/pods",
                                    params={"limit": str(min(events, self.pods))}) as r:
            page = json.loads(await r.read())
        rv = page["metadata"]["resourceVersion"]
        targets = [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in page["items"]]
        streams = []
        for _ in range(watchers):  # headers back means the server has registered the watcher
            streams.append(await self.session.get(
                self.sim.url + "/api/v1/pods",
                params={"watch": "1", "resourceVersion": rv, "timeoutSeconds": str(int(timeout_s) + 30)}))
        deadline = time.perf_counter() + timeout_s
        latencies: list[list[float]] = [[] for _ in range(watchers)]
        done_at = [0.0] * watchers
        cpu0, t0 = self.sim.cpu_s(), time.perf_counter()
        readers = [asyncio.create_task(_read_watch(s, latencies[i], done_at, i, events=events, deadline=deadline))
                   for i, s in enumerate(streams)]
        patch_s, failures = await self._patch_many(targets, events=events, concurrency=concurrency,
                                                   deadline=deadline)
        await asyncio.gather(*readers)
        for s in streams:
            s.close()
        received = sum(len(x) for x in latencies)
        if received < watchers * events:
            raise RuntimeError(f"watch fan-out: {received} of {watchers * events} events arrived before the "
                               f"{timeout_s:.0f} s limit ({failures} PATCHes failed)")
        all_done = max(done_at) - t0
        flat = [v for x in latencies for v in x]
        p50, p99 = _pct(flat, 0.5), _pct(flat, 0.99)
        print(f"watch fan-out: {events} PATCHes in {patch_s:.2f} s ({events / patch_s:,.0f}/s, concurrency "
              f"{concurrency}); all {watchers} watchers had all events after {all_done:.2f} s "
              f"({received / all_done:,.0f} events/s delivered); event latency p50 {_fmt(p50, 's')}, "
              f"p99 {_fmt(p99, 's')}; server CPU {self.sim.cpu_s() - cpu0:.2f} s", flush=True)
        self.figures += [Figure(f"watch fan-out: all {watchers} watchers have {events} events", all_done, "s"),
                         Figure("watch fan-out: events delivered", received / all_done, "events/s"),
                         Figure("watch fan-out: event latency p50", p50, "s"),
                         Figure("watch fan-out: event latency p99", p99, "s"),
                         Figure("PATCH rate during fan-out", events / patch_s, "PATCH/s")]

    async def _patch_many(self, targets: list[tuple[str, str]], *, events: int, concurrency: int,
                          deadline: float) -> tuple[float, int]:
        sem = asyncio.Semaphore(concurrency)
        failures = 0

        async def one(i: int) -> None:
            nonlocal failures
            ns, name = targets[i % len(targets)]
            async with sem:
                if time.perf_counter() > deadline:
                    failures += 1
                    return
                body = {"metadata": {"annotations": {SENT_AT: f"{time.perf_counter():.6f}"}}}
                async with self.session.patch(f"{self.sim.url}/api/v1/namespaces/{ns}/pods/{name}",
                                              data=json.dumps(body),
                                              headers={"Content-Type": "application/merge-patch+json"}) as r:
                    await r.read()
                    failures += r.status != 200

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(events)))
        return time.perf_counter() - t0, failures


async def _read_watch(resp: aiohttp.ClientResponse, out: list[float], done_at: list[float], index: int, *,
                      events: int, deadline: float) -> None:
    """Collect the delay of each event (now minus the sent-at annotation) until `events` arrived or time is up."""
    buf = b""
    while len(out) < events:
        left = deadline - time.perf_counter()
        if left <= 0:
            return
        try:
            chunk = await asyncio.wait_for(resp.content.readany(), timeout=left)
        except TimeoutError:
            return
        if not chunk:
            return
        now = time.perf_counter()
        *lines, buf = (buf + chunk).split(b"\n")
        for line in lines:
            m = SENT_AT_RE.search(line)
            if m is not None:
                out.append(now - float(m.group(1)))
    done_at[index] = time.perf_counter()


# -- entry ----------------------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/kubesim_api.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, default=5000)
    p.add_argument("--pods-per-node", type=int, default=30)
    p.add_argument("--quick", action="store_true", help="a smoke run: 500 nodes (overrides --nodes)")
    p.add_argument("--namespaces", type=int, default=50)
    p.add_argument("--workloads", type=int, default=500, help="Deployment-like groups of pods (label app=...)")
    p.add_argument("--watchers", type=int, default=20)
    p.add_argument("--watch-events", type=int, default=2000, help="pod PATCHes during the watch fan-out")
    p.add_argument("--patch-concurrency", type=int, default=16)
    p.add_argument("--watch-timeout-s", type=float, default=180.0)
    p.add_argument("--profile-dir", help="cProfile kubesim; writes populate.prof and serve.prof here "
                                         "(slows kubesim: figures are then not comparable)")
    args = p.parse_args(argv)
    if args.quick:
        args.nodes = 500
    return args


async def _measure(sim: SimProcess, args: argparse.Namespace, pods: int) -> list[Figure]:
    timeout = aiohttp.ClientTimeout(total=None, sock_read=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:
        bench = Bench(sim, session, pods=pods)
        await bench.lists()
        await bench.watch_fanout(watchers=args.watchers, events=args.watch_events, concurrency=args.patch_concurrency,
                                 timeout_s=args.watch_timeout_s)
        return bench.figures


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    pods = args.nodes * args.pods_per_node
    print(f"== kubesim API: {args.nodes:,} nodes, {pods:,} pods, {args.namespaces} namespaces, "
          f"{args.workloads} workloads; load average {Path('/proc/loadavg').read_text().split()[0]} ==", flush=True)
    with tempfile.TemporaryDirectory(prefix="kubesim-bench-") as tmp:
        sim = SimProcess(workdir=Path(tmp), nodes=args.nodes, pods_per_node=args.pods_per_node,
                         namespaces=args.namespaces, workloads=args.workloads, profile_dir=args.profile_dir)
        try:
            pop = sim.populated
            rss_populated, cpu_populated = sim.rss_bytes(), sim.cpu_s()
            print(f"populated in {pop['total_s']:.1f} s: pod create {pop['pod_create_s']:.1f} s "
                  f"({pods / pop['pod_create_s']:,.0f} pods/s), status to Running {pop['pod_status_s']:.1f} s "
                  f"({pods / pop['pod_status_s']:,.0f} updates/s), namespaces and nodes {pop['setup_s']:.1f} s; "
                  f"RSS {rss_populated / GB:.2f} GB, CPU {cpu_populated:.1f} s", flush=True)
            figures = [Figure("pod create rate (in-process)", pods / pop["pod_create_s"], "pods/s"),
                       Figure("RSS after population", rss_populated, "bytes", aim=2 * GB)]
            figures += asyncio.run(_measure(sim, args, pods))
            rss_after, peak = sim.rss_bytes(), sim.peak_rss_bytes()
            cpu_runs = sim.cpu_s() - cpu_populated
            print(f"RSS after the runs {rss_after / GB:.2f} GB, peak {peak / GB:.2f} GB; "
                  f"CPU during the runs {cpu_runs:.1f} s", flush=True)
            figures += [Figure("RSS after the runs", rss_after, "bytes", aim=2 * GB),
                        Figure("peak RSS (VmHWM)", peak, "bytes", aim=2 * GB),
                        Figure("kubesim CPU: population", cpu_populated, "s"),
                        Figure("kubesim CPU: the runs", cpu_runs, "s")]
        finally:
            sim.stop()
    print("-- summary --")
    for f in figures:
        print(f.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
