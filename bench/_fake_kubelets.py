"""Many fake kubelets in one process, for bench/metricsd.py: one plain-HTTP aiohttp listener per node on
127.0.0.1 (an ephemeral port each), answering `GET /metrics/resource` with the text kubesim's kubelets serve
(`kubesim.sim.kubeletmetrics.render_resource`: HELP/TYPE lines, millisecond timestamps, counters advancing
with time) for the pods `bench/_kubesim_populated.py` puts on that node (same names, namespaces, containers).
Writes the ports, in node order, as a JSON list to `--ports-out`, then prints `kubelets ready N`.

Not a product command and not a benchmark: `bench/run.py` skips files starting with an underscore. Not a
kubelet either: no TLS, no authentication, no other paths, no load model (each container's rate is fixed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _kubesim_populated import node_name, pod_object, workload_namespace

from kubesim.sim import kubeletmetrics as km

GIB = 1 << 30


class FakeNode:
    """One node's series; `render()` advances every counter to now and renders `/metrics/resource`."""

    def __init__(self, index: int, *, started: float) -> None:
        self.node = km.NodeSeries(name=node_name(index), cores=16, memory_capacity_bytes=64 * GIB,
                                  start_time=started - 86_400, machine_id=f"{index:032x}",
                                  system_uuid=f"{index:032x}", boot_id=f"{index:032x}")
        self.pods: list[km.PodSeries] = []
        self.containers: list[km.ContainerSeries] = []
        self.rates: list[float] = []  # cores per container, fixed
        self.memory: list[int] = []

    def add_pod(self, namespace: str, name: str, containers: list[str], *, started: float, seed: int) -> None:
        pod = km.PodSeries(namespace=namespace, name=name, uid=f"{seed:032x}", cgroup="", sandbox_id="",
                           start_time=started)
        for k, cname in enumerate(containers):
            c = km.ContainerSeries(name=cname, namespace=namespace, pod=name, image="", container_id="", cgroup="",
                                   start_time=started)
            pod.containers.append(c)
            self.containers.append(c)
            self.rates.append(0.01 + (seed * 7 + k * 13) % 97 / 200)
            self.memory.append((64 + (seed * 11 + k) % 400) << 20)
        self.pods.append(pod)

    def finish(self) -> None:
        self.pods.sort(key=lambda p: (p.namespace, p.name))
        order = sorted(range(len(self.containers)), key=lambda i: self.containers[i].sort_key)
        self.containers = [self.containers[i] for i in order]
        self.rates = [self.rates[i] for i in order]
        self.memory = [self.memory[i] for i in order]

    def render(self) -> bytes:
        now = time.time()
        for c, rate, mem in zip(self.containers, self.rates, self.memory, strict=True):
            c.t, c.cpu_s, c.memory_ws, c.cpu_rate = now, rate * (now - c.start_time), mem + int(now) % 4096, rate
        for p in self.pods:
            p.t, p.cpu_s = now, sum(c.cpu_s for c in p.containers)
            p.memory_ws = sum(c.memory_ws for c in p.containers)
        n = self.node
        n.t, n.cpu_s, n.memory_ws = now, 2.0 * (now - n.start_time), 8 * GIB
        return km.render_resource(n, self.pods, self.containers).encode()


def build_nodes(*, nodes: int, pods_per_node: int, namespaces: int, workloads: int) -> list[FakeNode]:
    """The pods of `_kubesim_populated.populate`, node by node (same loop, same names)."""
    started = time.time() - 600
    fakes = [FakeNode(i, started=started) for i in range(nodes)]
    for p in range(nodes * pods_per_node):
        workload, replica, node = p % workloads, p // workloads, p % nodes
        pod = pod_object(workload=workload, replica=replica, node=node)
        fakes[node].add_pod(workload_namespace(workload, namespaces=namespaces), pod["metadata"]["name"],
                            [c["name"] for c in pod["spec"]["containers"]], started=started, seed=p)
    for f in fakes:
        f.finish()
    return fakes


async def serve(fakes: list[FakeNode], *, ports_out: Path) -> None:
    by_port: dict[int, FakeNode] = {}

    async def resource(request: web.Request) -> web.Response:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        fake = by_port.get(sockname[1]) if sockname else None
        if fake is None:
            raise web.HTTPNotFound()
        return web.Response(body=fake.render(), content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})

    app = web.Application()
    app.router.add_get("/metrics/resource", resource)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    ports = []
    for fake in fakes:
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=128)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        by_port[port] = fake
        ports.append(port)
    ports_out.write_text(json.dumps(ports))
    print(f"kubelets ready {len(ports)}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, required=True)
    p.add_argument("--pods-per-node", type=int, required=True)
    p.add_argument("--namespaces", type=int, default=50)
    p.add_argument("--workloads", type=int, default=500)
    p.add_argument("--ports-out", type=Path, required=True)
    args = p.parse_args(argv)
    fakes = build_nodes(nodes=args.nodes, pods_per_node=args.pods_per_node, namespaces=args.namespaces,
                        workloads=args.workloads)
    asyncio.run(serve(fakes, ports_out=args.ports_out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
