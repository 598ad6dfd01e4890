"""Benchmark: what serving simulated kubelets costs kubesim.

1. The pure generator: CPU seconds per 1,000 `/metrics/resource` texts of a 30-pod node (sample + render),
   with every scrape resampling (housekeeping 0) and with cAdvisor's 10 s reuse; and per 100 cadvisor texts.
2. Over real HTTP: kubesim with its kubelets in a child process (so its CPU and RSS can be read from /proc),
   one keep-alive client in this process: CPU seconds kubesim spends per 1,000 scrapes of one 30-pod node
   (HTTP and HTTPS), and one scrape round over every node. Start-up (nodes registered, pods Running) and RSS
   are printed too, and the projection the issue aims at: kubesim's cores when 5,000 nodes x 30 pods are
   scraped every 15 s (333 scrapes/s), which should stay well under one core.

    python bench/kubelets.py                     # 200 nodes x 30 pods for the round, ~1 minute
    python bench/kubelets.py --nodes 5000 --only http   # the large scenario's size (several minutes)
    python bench/kubelets.py --quick             # 20 nodes, 300 scrapes: a smoke run

A report, not a test: a missed aim is flagged, never an error exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from kubesim.sim import kubeletmetrics as km
from kubesim.sim.kubelets import ConstantUsage
from kubesim.sim.kubeletstats import NodeStats

SCRAPES_PER_S_AT_5000 = 5000 / 15
CAPACITY = {"cpu": "8", "memory": "32Gi", "pods": "110"}


def _pod(i: int, now: float) -> dict[str, Any]:
    started = km.rfc3339(now - 600)
    return {"metadata": {"uid": f"00000000-0000-0000-0000-{i:012d}", "namespace": f"team-{i % 7:02d}",
                         "name": f"api-{i:05d}-7d9f8c6b5-x{i:04d}"},
            "spec": {"containers": [{"name": "app", "image": "registry.example.com/team/api:1.2.3",
                                     "resources": {"requests": {"cpu": "250m", "memory": "256Mi"},
                                                   "limits": {"cpu": "1", "memory": "512Mi"}}}]},
            "status": {"phase": "Running", "qosClass": "Burstable", "startTime": started,
                       "containerStatuses": [{"name": "app", "restartCount": 0,
                                              "state": {"running": {"startedAt": started}}}]}}


def bench_generator(scrapes: int) -> dict[str, float]:
    usage = ConstantUsage(cpu_cores=0.3)
    out = {}
    for label, housekeeping in (("resample every scrape", 0.0), ("cAdvisor 10 s reuse", 10.0)):
        now = time.time()
        node = km.NodeSeries(name="n", cores=8, memory_capacity_bytes=32 << 30, start_time=now - 3600,
                             machine_id="m", system_uuid="u", boot_id="b")
        stats = NodeStats(node, housekeeping_s=housekeeping, system_cpu_cores=0.05, system_memory_bytes=512 << 20)
        for i in range(30):
            stats.add_pod(_pod(i, now), sandbox_id=f"{i:064x}", container_ids={"app": f"{i + 1000:064x}"},
                          started={"app": now - 600}, start_time=now - 601)
        cpu0 = time.process_time()
        for s in range(scrapes):
            stats.refresh(now + s * 0.015, usage)  # 1,000 scrapes in 15 s of simulated time
            pods, containers = stats.sampled()
            km.render_resource(node, pods, containers)
        out[f"generator, {label}: CPU s / 1,000 scrapes"] = (time.process_time() - cpu0) * 1000 / scrapes
        if housekeeping == 0.0:
            cpu0 = time.process_time()
            for s in range(scrapes // 10):
                stats.refresh(now + s, usage)
                km.render_cadvisor(node, stats.sampled()[0], now=now + s)
            out["generator, /metrics/cadvisor: CPU s / 100 scrapes"] = (time.process_time() - cpu0) * 1000 / scrapes
    return out


# -- the server process ----------------------------------------------------------------------------------------
async def serve(nodes: int, pods_per_node: int, https: bool, workdir: Path) -> None:
    from kubesim.app import KubeSim, SimConfig
    from kubesim.sim.kubelets import KubeletConfig, Kubelets

    t0 = time.perf_counter()
    sim = KubeSim(SimConfig(kubeconfig_out=str(workdir / "kubeconfig"), watch_cache_size=1000))
    await sim.start()
    # housekeeping 0: every scrape resamples, as when metrics-server scrapes every 15 s (> cAdvisor's 10 s)
    config = KubeletConfig(http=not https, port=0, pki_dir=str(workdir / "pki"), start_delay_s=0.0,
                           housekeeping_s=0.0, first_address=254 * 100)  # 127.1.100.1 on: clear of the tests'
    kubelets = Kubelets(sim.api, ConstantUsage(cpu_cores=0.3), config)
    await kubelets.start()
    for n in range(nodes):
        await kubelets.register_node(f"node-{n:05d}", capacity=CAPACITY)
    t_nodes = time.perf_counter()
    pods_rt = sim.api.registry.get("", "pods")
    for n in range(nodes):
        for p in range(pods_per_node):
            sim.api.create(pods_rt, "default", {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"web-{n:05d}-{p:02d}", "labels": {"app": "web"}},
                "spec": {"nodeName": f"node-{n:05d}", "containers": [
                    {"name": "app", "image": "nginx", "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}})
    t_created = time.perf_counter()
    want = nodes * pods_per_node
    while sum(1 for k in kubelets.kubelets.values() for st in k.pods.values() if st.running) < want:
        await asyncio.sleep(0.1)
    t_pods = time.perf_counter()
    urls = [kubelets.url(name) for name in sorted(kubelets.kubelets)]
    print(json.dumps({"urls": urls, "ca": kubelets.ca_file, "nodes_s": t_nodes - t0,
                      "created_s": t_created - t_nodes, "running_s": t_pods - t_created}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes stdin
    await kubelets.stop()
    await sim.stop()


# -- the client ------------------------------------------------------------------------------------------------
def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _scrape(session: aiohttp.ClientSession, url: str, ctx: ssl.SSLContext | bool) -> int:
    async with session.get(url + "/metrics/resource", ssl=ctx) as resp:
        body = await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{url}: HTTP {resp.status}")
        return len(body)


async def measure(nodes: int, pods_per_node: int, scrapes: int, https: bool) -> dict[str, float]:
    workdir = Path(tempfile.mkdtemp(prefix="kubesim-bench-kubelets-"))
    cmd = [sys.executable, __file__, "--serve", "--nodes", str(nodes), "--pods-per-node", str(pods_per_node),
           "--workdir", str(workdir)] + (["--https"] if https else [])
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the kubesim process exited before it was ready")
        ready = json.loads(line)
        ctx: ssl.SSLContext | bool = ssl.create_default_context(cafile=ready["ca"]) if https else False
        scheme = "HTTPS" if https else "HTTP"
        out = {f"{scheme}: start-up, {nodes} nodes registered (s)": ready["nodes_s"],
               f"{scheme}: start-up, {nodes * pods_per_node} pods created in the API (s)": ready["created_s"],
               f"{scheme}: start-up, then all Running through the kubelets (s)": ready["running_s"]}
        conn = aiohttp.TCPConnector(limit=64)
        async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=60)) as session:
            url = ready["urls"][0]
            size = await _scrape(session, url, ctx)
            cpu0, t0 = _cpu_s(proc.pid), time.perf_counter()
            for _ in range(scrapes // 4):
                await asyncio.gather(*(_scrape(session, url, ctx) for _ in range(4)))
            cpu1, t1 = _cpu_s(proc.pid), time.perf_counter()
            per_1000 = (cpu1 - cpu0) * 1000 / (scrapes // 4 * 4)
            out[f"{scheme}: body of a {pods_per_node}-pod node (KB)"] = size / 1000
            out[f"{scheme}: kubesim CPU s / 1,000 scrapes of one node"] = per_1000
            out[f"{scheme}: scrapes/s, one client, 4 in flight"] = (scrapes // 4 * 4) / (t1 - t0)
            out[f"{scheme}: projected kubesim cores, 5,000 nodes every 15 s"] = per_1000 / 1000 * SCRAPES_PER_S_AT_5000
            cpu0, t0 = _cpu_s(proc.pid), time.perf_counter()
            sem = asyncio.Semaphore(32)

            async def one(u: str) -> int:
                async with sem:
                    return await _scrape(session, u, ctx)

            await asyncio.gather(*(one(u) for u in ready["urls"]))  # new connections: TLS handshakes included
            cpu1, t1 = _cpu_s(proc.pid), time.perf_counter()
            out[f"{scheme}: one round over all {nodes} kubelets (s)"] = t1 - t0
            out[f"{scheme}: kubesim CPU s / 1,000 first scrapes (new connections)"] = (cpu1 - cpu0) * 1000 / nodes
            out[f"{scheme}: kubesim RSS (MB)"] = _rss_mb(proc.pid)
        return out
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=200)
    ap.add_argument("--pods-per-node", type=int, default=30)
    ap.add_argument("--scrapes", type=int, default=1000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=("http", "https"), help="measure one scheme only")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--https", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        asyncio.run(serve(args.nodes, args.pods_per_node, args.https, args.workdir))
        return
    if args.quick:
        args.nodes, args.scrapes = min(args.nodes, 20), min(args.scrapes, 300)
    figures = bench_generator(args.scrapes)
    for name, value in figures.items():
        print(f"{name}: {value:.3f}", flush=True)
    for https in (False, True) if args.only is None else (args.only == "https",):
        for name, value in asyncio.run(measure(args.nodes, args.pods_per_node, args.scrapes, https)).items():
            aim = "  (aim: well under 1 core)" + ("  MISSED" if value >= 1 else "") if "projected" in name else ""
            print(f"{name}: {value:.3f}{aim}", flush=True)


if __name__ == "__main__":
    main()
