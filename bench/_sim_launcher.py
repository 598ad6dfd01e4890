"""The kubesim process of bench/sim_large.py: `kubescale sim --scenario S --kubelet-http --kubelet-port 0`, built
in-process the way kubescale/cli.py builds it, plus a watcher of the start-up milestones.

Prints `kubesim ready: URL kubeconfig=PATH` (as `kubescale sim` does), one `milestone {json}` line per
milestone reached (unix time: every Node registered; every expected Pod created, bound, Running, Ready), then
`started {json}` when every pod is Ready or `--timeout-s` has passed, and serves until stdin closes.
Milestones come from an in-process pod informer, whose cost is measured and reported (`monitor_cpu_s`).

With `--profile-dir`, cProfile covers start-up (construction to all Ready) and serving separately and writes
`startup.prof` and `serve.prof` there. Not a product entry point: flags here exist for the benchmark only.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kubesim.app import KubeSim, SimConfig
from kubesim.sim import scenario as scenarios
from kubesim.sim.informer import DELETED, Informer
from kubesim.sim.simulation import SimulationOptions

BOUND, RUNNING, READY = 1, 2, 4
POLL_S = 0.1


class Milestones:
    """Counts pods by how far they got, from an informer's events; records when each count is complete."""

    def __init__(self, sim: KubeSim, *, nodes: int, pods: int) -> None:
        self.want_nodes, self.want_pods = nodes, pods
        self.pods = Informer(sim.api, "", "pods")
        self.nodes = Informer(sim.api, "", "nodes")
        self.pods.handlers.append(self._on_pod)
        self.flags: dict[tuple[str, str], int] = {}
        self.counts = {BOUND: 0, RUNNING: 0, READY: 0}
        self.reached: dict[str, float] = {}
        self.cpu_s = 0.0

    def start(self) -> None:
        self.pods.start()
        self.nodes.start()

    async def stop(self) -> None:
        await self.pods.stop()
        await self.nodes.stop()

    def _on_pod(self, typ: str, pod: dict[str, Any]) -> None:
        c0 = time.perf_counter()
        meta = pod["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        old = self.flags.pop(key, 0)
        new = 0
        if typ != DELETED:
            status = pod.get("status") or {}
            new = BOUND if (pod.get("spec") or {}).get("nodeName") else 0
            if status.get("phase") == "Running":
                new |= RUNNING
                if any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ()):
                    new |= READY
            self.flags[key] = new
        for bit in (BOUND, RUNNING, READY):
            self.counts[bit] += bool(new & bit) - bool(old & bit)
        self.cpu_s += time.perf_counter() - c0

    def check(self) -> list[str]:
        """The milestones reached since the last check."""
        now = time.time()
        state = {"nodes": len(self.nodes.cache) >= self.want_nodes,
                 "created": len(self.flags) >= self.want_pods,
                 "bound": self.counts[BOUND] >= self.want_pods,
                 "running": self.counts[RUNNING] >= self.want_pods,
                 "ready": self.counts[READY] >= self.want_pods}
        new = [name for name, done in state.items() if done and name not in self.reached]
        for name in new:
            self.reached[name] = now
        return new

    def summary(self) -> dict[str, Any]:
        return {"reached": self.reached, "nodes": len(self.nodes.cache), "pods": len(self.flags),
                "bound": self.counts[BOUND], "running": self.counts[RUNNING], "ready": self.counts[READY],
                "monitor_cpu_s": self.cpu_s}


def _config(scenario: scenarios.Scenario, workdir: Path) -> SimConfig:
    """What `kubescale sim --scenario S --kubelet-http --kubelet-port 0` configures (kubescale/cli.py)."""
    options = SimulationOptions(scenario=scenario, kubelet_http=True, kubelet_port=0, seed=0, data_dir=str(workdir))
    return SimConfig(listen="127.0.0.1:0", kubeconfig_out=str(workdir / "kubeconfig"), simulation=options)


async def run(scenario: scenarios.Scenario, workdir: Path, timeout_s: float, prof: cProfile.Profile | None,
              profile_dir: Path | None) -> None:
    sim = KubeSim(_config(scenario, workdir))
    want_pods = sum(w.replicas for w in scenario.workloads)
    watch = Milestones(sim, nodes=sum(g.size for g in scenario.node_groups), pods=want_pods)
    watch.start()  # before the layers, so every pod is seen from its creation
    url = await sim.start()
    print(f"kubesim ready: {url} kubeconfig={sim.config.kubeconfig_out}", flush=True)
    deadline = time.monotonic() + timeout_s
    while "ready" not in watch.reached and time.monotonic() < deadline:
        await asyncio.sleep(POLL_S)
        for name in watch.check():
            print("milestone " + json.dumps({"name": name, "t": watch.reached[name]}), flush=True)
    if prof is not None and profile_dir is not None:
        prof.disable()
        prof.dump_stats(str(profile_dir / "startup.prof"))
        prof.enable()
    await watch.stop()
    print("started " + json.dumps({**watch.summary(), "want_pods": want_pods}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes stdin
    await sim.stop()


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", required=True, help="a shipped scenario name or a file")
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--timeout-s", type=float, default=900.0)
    p.add_argument("--profile-dir", type=Path, help="write cProfile stats startup.prof and serve.prof here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="kubesim %(levelname)s %(name)s: %(message)s")
    prof = None
    if args.profile_dir is not None:
        args.profile_dir.mkdir(parents=True, exist_ok=True)
        prof = cProfile.Profile()
        prof.enable()
    loaded = scenarios.load_scenario(args.scenario)
    asyncio.run(run(loaded, args.workdir, args.timeout_s, prof, args.profile_dir))
    if prof is not None and args.profile_dir is not None:
        prof.disable()
        prof.dump_stats(str(args.profile_dir / "serve.prof"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
