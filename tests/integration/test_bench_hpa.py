"""bench/hpa.py cannot rot: `--quick` starts the fake kubelets, a kubesim with Deployments and HPAs, metricsd
and `kubescale hpa`, and prints every figure with every HPA synced without errors. No timing checks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
SUMMARY_LINES = [
    "pure core decisions per CPU-second:",
    "pure core CPU for 10,000 decisions:",
    "one full sync of 2",
    "controller CPU for that sync:",
    "controller CPU per HPA:",
    "HPAs per CPU-second:",
    "projected CPU for 200 HPAs at this rate:",
    "mean reconcile wall time (5 workers):",
    "controller start-up CPU (listing pods and HPAs):",
    "controller RSS:",
    "kubesim CPU during that sync (not the controller):",
    "metricsd CPU during that sync (not the controller):",
]


@pytest.fixture(scope="module")
def quick_run() -> str:
    out = subprocess.run([sys.executable, str(BENCH / "hpa.py"), "--quick", "--timeout-s", "150"],
                         capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, f"stdout:\n{out.stdout}\nstderr:\n{out.stderr}"
    return out.stdout


@pytest.mark.parametrize("line", [pytest.param(s, id=s.rstrip(":")) for s in SUMMARY_LINES])
def test_summary_prints_figure(quick_run: str, line: str) -> None:
    summary = quick_run.split("\nsummary\n", 1)[1]
    assert any(s.startswith(line) for s in summary.splitlines())


def test_every_hpa_synced_without_errors_and_some_rescaled(quick_run: str) -> None:
    m = re.search(r"^(\d+) reconciles: (\d+) scale up, (\d+) scale down, (\d+) no change; (\d+) with errors$",
                  quick_run, re.M)
    assert m is not None, quick_run
    total, up, down, none, errors = map(int, m.groups())
    assert total >= 200 and up + down + none == total and errors == 0
    assert up > 0 and none > 0  # the targets are mixed: some HPAs scale, most hold


def test_aims_are_shown(quick_run: str) -> None:
    wall = next(s for s in quick_run.splitlines() if s.startswith("one full sync of"))
    assert "(aim < 15 s, " in wall
