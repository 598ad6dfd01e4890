"""bench/metricsd.py cannot rot: `--quick` starts the fake kubelets, a populated kubesim and metricsd in their own
processes, measures over two scrape ticks and prints every figure, with every pod served. The fake kubelets'
text decodes with metricsd's own decoder into the pods kubesim holds for that node. No timing checks.
"""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from metricsd.decoding import decode

BENCH = Path(__file__).resolve().parents[2] / "bench"

SUMMARY_LINES = [
    "metricsd CPU per tick:",
    "metricsd CPU per node:",
    "metricsd RSS when ready",
    "metricsd RSS:",
    "metricsd peak RSS (VmHWM):",
    "metricsd RSS per node:",
    "metricsd RSS with 0 nodes (baseline):",
    "metricsd RSS per node above the baseline:",
    "full pod list (median of 3):",
    "full pod list (best of 3):",
    "full pod list items:",
    "full pod list size:",
    "full node list:",
    "mean tick wall time:",
    "kubelets CPU per tick (not metricsd):",
    "kubesim CPU per tick (not metricsd):",
]


@pytest.fixture(scope="module")
def quick_run() -> str:
    out = subprocess.run([sys.executable, str(BENCH / "metricsd.py"), "--quick", "--timeout-s", "120"],
                         capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, f"stdout:\n{out.stdout}\nstderr:\n{out.stderr}"
    return out.stdout


@pytest.mark.parametrize("line", [pytest.param(s, id=s.rstrip(":")) for s in SUMMARY_LINES])
def test_summary_prints_figure(quick_run: str, line: str) -> None:
    summary = quick_run.split("\nsummary\n", 1)[1]
    assert any(s.startswith(line) for s in summary.splitlines())


@pytest.mark.parametrize(("line", "expected"), [
    pytest.param("metricsd CPU per node:", "(aim < 0.1 mCPU, ", id="CPU aim"),
    pytest.param("metricsd CPU per node:", "metrics-server's 1 mCPU", id="CPU upstream"),
    pytest.param("metricsd RSS per node:", "(aim < 0.1 MB, ", id="RSS aim"),
    pytest.param("metricsd RSS per node:", "metrics-server's 2 MB", id="RSS upstream"),
    pytest.param("full pod list (median of 3):", "(aim < 1 s, ", id="pod list aim"),
    pytest.param("full pod list items:", "250 of 250 pods", id="every pod served"),
    pytest.param("full node list:", "(50 of 50 nodes)", id="every node served"),
])
def test_figure_carries(quick_run: str, line: str, expected: str) -> None:
    found = next(s for s in quick_run.splitlines() if s.startswith(line))
    assert expected in found


def test_fake_kubelet_text_decodes_to_the_populated_pods() -> None:
    kubelets: dict[str, Any] = runpy.run_path(str(BENCH / "_fake_kubelets.py"))
    populated: dict[str, Any] = runpy.run_path(str(BENCH / "_kubesim_populated.py"))
    fakes = kubelets["build_nodes"](nodes=3, pods_per_node=4, namespaces=2, workloads=5)
    scrape = decode(fakes[1].render(), default_timestamp_ms=0)
    expected = set()
    for p in range(12):
        workload, replica, node = p % 5, p // 5, p % 3
        if node == 1:
            pod = populated["pod_object"](workload=workload, replica=replica, node=node)
            ns = populated["workload_namespace"](workload, namespaces=2)
            expected |= {(ns, pod["metadata"]["name"], c["name"]) for c in pod["spec"]["containers"]}
    assert {(c.namespace, c.pod, c.container) for c in scrape.containers} == expected
    assert scrape.node is not None and all(c.cpu_ns > 0 and c.memory_bytes > 0 for c in scrape.containers)
