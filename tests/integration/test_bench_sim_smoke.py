"""bench/sim_large.py cannot rot: at a tiny size it starts kubesim with every simulation layer in its own
process, sees every pod Running and Ready, scrapes every kubelet found through the Nodes and prints every
figure. The scaled scenario it generates keeps the large scenario's shape. No timing checks.
"""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kubesim.sim import scenario

BENCH = Path(__file__).resolve().parents[2] / "bench"

SUMMARY_LINES = [
    "start-up: every Node registered:",
    "start-up: every Pod created:",
    "start-up: every Pod bound:",
    "start-up: every Pod Running:",
    "start-up: every Pod Running and Ready:",
    "start-up: kubesim CPU:",
    "RSS after start-up:",
    "kubesim idle CPU, not scraped:",
    "scrape round 1 (new connections), 4 kubelets: wall time:",
    "scrape round 1: kubesim CPU per 1,000 scrapes:",
    "scrape round 1: kubesim cores, scraped every 15 s:",
    "scrape round 2 (kept-alive connections), 4 kubelets: wall time:",
    "scrape round 2: kubesim CPU per 1,000 scrapes:",
    "RSS at the end:",
    "peak RSS (VmHWM):",
]


def _bench() -> dict[str, Any]:
    return runpy.run_path(str(BENCH / "sim_large.py"))


@pytest.fixture(scope="module")
def tiny_run() -> str:
    out = subprocess.run([sys.executable, str(BENCH / "sim_large.py"), "--nodes", "4", "--pods-per-node", "3",
                          "--idle-s", "0.5", "--timeout-s", "120"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"stdout:\n{out.stdout}\nstderr:\n{out.stderr}"
    return out.stdout


@pytest.mark.parametrize("line", [pytest.param(s, id=s.rstrip(":")) for s in SUMMARY_LINES])
def test_summary_prints_figure(tiny_run: str, line: str) -> None:
    summary = tiny_run.split("-- summary --\n", 1)[1]
    assert any(s.startswith(line) for s in summary.splitlines())


def test_start_up_has_aim_and_every_kubelet_answered(tiny_run: str) -> None:
    ready = next(s for s in tiny_run.splitlines() if s.startswith("start-up: every Pod Running and Ready:"))
    assert "(aim < 60 s, " in ready
    assert "4 nodes, 12 pods Running and Ready" in tiny_run
    assert tiny_run.count("4/4 kubelets answered") == 2 and "12 containers" in tiny_run


@pytest.mark.parametrize(("nodes", "pods_per_node", "copies", "replicas"), [
    pytest.param(4, 3, 1, 12, id="tiny: one workload"),
    pytest.param(101, 10, 7, 150, id="odd nodes: zone-a gets the extra one"),
    pytest.param(5000, 30, 1000, 150, id="the large scenario's size"),
])
def test_scaled_scenario_keeps_the_large_shape(tmp_path: Path, nodes: int, pods_per_node: int, copies: int,
                                              replicas: int) -> None:
    path = _bench()["scaled_scenario"](nodes, pods_per_node, tmp_path / "s.yaml")
    loaded = scenario.load_scenario(path)
    assert [g.name for g in loaded.node_groups] == ["zone-a", "zone-b"]
    assert sum(g.size for g in loaded.node_groups) == nodes
    assert loaded.node_groups[0].size - loaded.node_groups[1].size == nodes % 2
    assert len(loaded.workloads) == copies and {w.replicas for w in loaded.workloads} == {replicas}


def test_kubelet_urls_from_nodes() -> None:
    nodes = {"items": [{"status": {
        "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "127.1.0.7"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 41234}}}}]}
    assert _bench()["kubelet_urls"](nodes) == ["http://127.1.0.7:41234/metrics/resource"]
