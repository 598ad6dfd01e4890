"""Benchmark: the `large` scenario end to end (5,000 nodes, 150,000 pods in 1,000 Deployments).

Starts kubesim with its simulation layers in its own process (`bench/_sim_launcher.py`, which builds what
`kubescale sim --scenario large --kubelet-http --kubelet-port 0` builds), so its CPU and RSS can be read from
/proc; prints the start-up milestones (every Node registered, every Pod created, bound, Running, Ready, each
counted from process start), kubesim's idle CPU, then scrapes `/metrics/resource` of every kubelet found
through the Nodes (InternalIP, `status.daemonEndpoints.kubeletEndpoint.Port`), 200 in flight over plain HTTP,
in two rounds (new connections, then kept alive as metrics-server keeps them), and prints per round the wall
time, kubesim's CPU seconds per 1,000 scrapes and the cores it would use scraped every 15 s; RSS last.

    python bench/sim_large.py                          # the shipped large scenario (several minutes)
    python bench/sim_large.py --quick                  # 100 nodes x 10 pods, a smoke run in ~30 s
    python bench/sim_large.py --nodes 1000 --pods-per-node 30   # the large scenario's shape, scaled
    python bench/sim_large.py --quick --profile-dir /tmp/prof   # cProfile kubesim (figures then skewed)

A report, not a test: a missed aim is flagged, never an error exit; a kubelet that does not answer, or pods
that never all get Ready, make it fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

LAUNCHER = Path(__file__).with_name("_sim_launcher.py")
LARGE = Path(__file__).resolve().parent.parent / "kubesim" / "scenarios" / "large.yaml"
READY = re.compile(r"kubesim ready: (\S+) kubeconfig=(\S+)")
SCRAPE_INTERVAL_S = 15.0
SETTLE_S = 5.0
STARTUP_AIM_S = 60.0
CORES_AIM = 1.0
MILESTONES = {"nodes": "every Node registered", "created": "every Pod created", "bound": "every Pod bound",
              "running": "every Pod Running", "ready": "every Pod Running and Ready"}
CONTAINER_SAMPLE = b"\ncontainer_cpu_usage_seconds_total{"
NODE_SAMPLE = b"node_cpu_usage_seconds_total"


@dataclass(frozen=True)
class Figure:
    """One summary line: a measured value and, where the issue sets one, the aim it must stay under."""

    name: str
    value: float
    unit: str
    aim: float | None = None

    def line(self) -> str:
        shown = f"{self.value:.3g}" if self.value < 100 else f"{self.value:.0f}"
        text = f"{self.name}: {shown} {self.unit}"
        if self.aim is None:
            return text
        ratio = self.value / self.aim
        return f"{text} (aim < {self.aim:g} {self.unit}, {ratio:.2f}x){'  MISSED' if ratio >= 1 else ''}"


def scaled_scenario(nodes: int, pods_per_node: int, path: Path) -> Path:
    """The large scenario's shape (two zones, Deployments of up to 150 replicas) at another size."""
    doc = yaml.safe_load(LARGE.read_text())
    doc["name"] = f"large-{nodes}x{pods_per_node}"
    for i, group in enumerate(doc["nodeGroups"]):
        group["size"] = nodes // 2 + (nodes % 2 if i == 0 else 0)
        group["maxSize"] = max(group["size"], 1) * 2
    total = max(1, nodes * pods_per_node)
    workload = doc["workloads"][0]
    workload["replicas"] = min(workload["replicas"], total)
    workload["copies"] = math.ceil(total / workload["replicas"])
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


# -- /proc ---------------------------------------------------------------------------------------------------
def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


# -- scraping ------------------------------------------------------------------------------------------------
def kubelet_urls(nodes: dict[str, Any]) -> list[str]:
    """Each Node's kubelet, as metrics-server finds it: InternalIP and the advertised kubelet port."""
    urls = []
    for node in nodes["items"]:
        status = node.get("status") or {}
        ip = next(a["address"] for a in status.get("addresses") or () if a.get("type") == "InternalIP")
        port = status["daemonEndpoints"]["kubeletEndpoint"]["Port"]
        urls.append(f"http://{ip}:{port}/metrics/resource")
    return urls


@dataclass(frozen=True)
class Round:
    wall_s: float
    cpu_s: float
    answered: int
    failed: list[str]
    containers: int
    bytes: int


async def scrape_round(session: aiohttp.ClientSession, urls: list[str], *, pid: int, concurrency: int) -> Round:
    sem = asyncio.Semaphore(concurrency)
    failed: list[str] = []
    sizes: list[tuple[int, int]] = []

    async def one(url: str) -> None:
        async with sem:
            try:
                async with session.get(url) as resp:
                    body = await resp.read()
            except (aiohttp.ClientError, TimeoutError) as e:
                failed.append(f"{url}: {type(e).__name__} {e}")
                return
            if resp.status != 200 or NODE_SAMPLE not in body:
                failed.append(f"{url}: HTTP {resp.status}, {len(body)} bytes")
                return
            sizes.append((len(body), body.count(CONTAINER_SAMPLE)))

    cpu0, t0 = cpu_s(pid), time.perf_counter()
    await asyncio.gather(*(one(u) for u in urls))
    wall, cpu = time.perf_counter() - t0, cpu_s(pid) - cpu0
    return Round(wall, cpu, len(sizes), failed, sum(c for _, c in sizes), sum(b for b, _ in sizes))


async def measure(url: str, *, pid: int, concurrency: int, rounds: int, idle_s: float) -> tuple[list[Figure], bool]:
    figures: list[Figure] = []
    ok = True
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as api, api.get(f"{url}/api/v1/nodes") as resp:
        urls = kubelet_urls(await resp.json())
    idle = 0.0
    if idle_s > 0:
        await asyncio.sleep(SETTLE_S)  # the last status writes after the last pod got Ready
        cpu0 = cpu_s(pid)
        await asyncio.sleep(idle_s)
        idle = (cpu_s(pid) - cpu0) / idle_s
        print(f"kubesim idle (heartbeats, leases, load model) over {idle_s:g} s: {idle:.3f} cores", flush=True)
        figures.append(Figure("kubesim idle CPU, not scraped", idle, "cores"))
    conn = aiohttp.TCPConnector(limit=concurrency, limit_per_host=0, keepalive_timeout=60)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=120)) as session:
        for r in range(rounds):
            rnd = await scrape_round(session, urls, pid=pid, concurrency=concurrency)
            how = "new connections" if r == 0 else "kept-alive connections"
            per_1000 = rnd.cpu_s * 1000 / max(rnd.answered, 1)
            cores = rnd.cpu_s / SCRAPE_INTERVAL_S
            print(f"scrape round {r + 1} ({how}): {rnd.answered}/{len(urls)} kubelets answered in {rnd.wall_s:.2f} s, "
                  f"{rnd.containers} containers, {rnd.bytes / 1e6:.1f} MB; kubesim CPU {rnd.cpu_s:.2f} s", flush=True)
            for line in rnd.failed[:5]:
                print(f"  failed: {line}", flush=True)
            ok = ok and not rnd.failed
            figures += [Figure(f"scrape round {r + 1} ({how}), {len(urls)} kubelets: wall time", rnd.wall_s, "s"),
                        Figure(f"scrape round {r + 1}: kubesim CPU per 1,000 scrapes", per_1000, "CPU s"),
                        Figure(f"scrape round {r + 1}: kubesim cores, scraped every 15 s", cores, "cores",
                               aim=CORES_AIM),
                        Figure(f"scrape round {r + 1}: idle + scraping every 15 s", idle + cores, "cores",
                               aim=CORES_AIM)]
    return figures, ok


# -- the run -------------------------------------------------------------------------------------------------
def run(scenario: str, *, concurrency: int, rounds: int, idle_s: float, timeout_s: float,
        profile_dir: str | None, workdir: Path) -> int:
    cmd = [sys.executable, str(LAUNCHER), "--scenario", scenario, "--workdir", str(workdir),
           "--timeout-s", str(timeout_s)] + (["--profile-dir", profile_dir] if profile_dir else [])
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    figures: list[Figure] = []
    ok = False
    try:
        assert proc.stdout is not None
        url = ""
        started: dict[str, Any] = {}
        for line in proc.stdout:
            if m := READY.match(line):
                url = m.group(1)
                print(f"kubesim ready (API serving, layers started) after {time.time() - t0:.1f} s", flush=True)
            elif line.startswith("milestone "):
                ms = json.loads(line.split(" ", 1)[1])
                print(f"start-up: {MILESTONES[ms['name']]} at {ms['t'] - t0:.1f} s "
                      f"(RSS {memory_mb(proc.pid)['VmRSS']:.0f} MB)", flush=True)
            elif line.startswith("started "):
                started = json.loads(line.split(" ", 1)[1])
                break
        if not url or not started:
            print("kubesim exited before start-up finished", flush=True)
            return 1
        cpu_startup = cpu_s(proc.pid)
        mem = memory_mb(proc.pid)
        reached = started["reached"]
        for name, text in MILESTONES.items():
            if name in reached:
                figures.append(Figure(f"start-up: {text}", reached[name] - t0, "s",
                                      aim=STARTUP_AIM_S if name == "ready" else None))
        figures += [Figure("start-up: kubesim CPU", cpu_startup, "CPU s"),
                    Figure("start-up: of which the milestone watcher's handler", started["monitor_cpu_s"], "s"),
                    Figure("RSS after start-up", mem["VmRSS"], "MB")]
        if "ready" not in reached:
            print(f"start-up did not finish within {timeout_s:g} s: {started['pods']}/{started['want_pods']} pods "
                  f"created, {started['bound']} bound, {started['running']} Running, {started['ready']} Ready",
                  flush=True)
        else:
            print(f"{started['nodes']} nodes, {started['pods']} pods Running and Ready", flush=True)
            more, ok = asyncio.run(measure(url, pid=proc.pid, concurrency=concurrency, rounds=rounds, idle_s=idle_s))
            figures += more
        mem = memory_mb(proc.pid)
        figures += [Figure("RSS at the end", mem["VmRSS"], "MB"), Figure("peak RSS (VmHWM)", mem["VmHWM"], "MB")]
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    print("\n-- summary --")
    for f in figures:
        print(f.line())
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", default="large", help="a shipped scenario or a file (default: large)")
    p.add_argument("--nodes", type=int, help="instead: the large scenario's shape with this many nodes ...")
    p.add_argument("--pods-per-node", type=int, default=30, help="... and about this many pods per node")
    p.add_argument("--quick", action="store_true", help="100 nodes x 10 pods: a smoke run")
    p.add_argument("--concurrency", type=int, default=200, help="scrapes in flight")
    p.add_argument("--rounds", type=int, default=2, help="scrape rounds over every kubelet")
    p.add_argument("--idle-s", type=float, default=10.0, help="how long to measure kubesim's idle CPU (0: not)")
    p.add_argument("--timeout-s", type=float, default=900.0, help="give up on start-up after this long")
    p.add_argument("--profile-dir", help="cProfile kubesim; writes startup.prof and serve.prof here")
    args = p.parse_args(argv)
    if args.quick and args.nodes is None:
        args.nodes, args.pods_per_node = 100, 10
    workdir = Path(tempfile.mkdtemp(prefix="kubesim-bench-sim-"))
    scenario = args.scenario
    if args.nodes is not None:
        scenario = str(scaled_scenario(args.nodes, args.pods_per_node, workdir / "scenario.yaml"))
    print(f"scenario {scenario}; kubesim data in {workdir}", flush=True)
    return run(scenario, concurrency=args.concurrency, rounds=args.rounds, idle_s=args.idle_s,
               timeout_s=args.timeout_s, profile_dir=args.profile_dir, workdir=workdir)


if __name__ == "__main__":
    sys.exit(main())
