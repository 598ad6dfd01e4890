"""The benchmarks cannot rot: bench/kubesim_api.py runs end to end at a tiny size (its own kubesim process,
real HTTP on loopback) and prints every figure; bench/run.py finds the benchmark modules; the streaming item
counter agrees with counting the whole body. No timing checks.
"""

from __future__ import annotations

import functools
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

BENCH = Path(__file__).resolve().parents[2] / "bench"

SUMMARY_LINES = [
    "pod create rate (in-process):",
    "RSS after population:",
    "full pod list (median of 3):",
    "pods by spec.nodeName (p50 of 50):",
    "pods by spec.nodeName (p95 of 50):",
    "pods by label, one namespace (p50 of 20):",
    "pods by label, cluster-wide (p50 of 5):",
    "Table of one namespace's pods (p50 of 5):",
    "Table of all pods, one response:",
    "list all pods in pages of 500:",
    "Table in pages of 500 (kubectl get pods -A):",
    "watch fan-out: all 4 watchers have 40 events:",
    "watch fan-out: events delivered:",
    "watch fan-out: event latency p50:",
    "watch fan-out: event latency p99:",
    "PATCH rate during fan-out:",
    "RSS after the runs:",
    "peak RSS (VmHWM):",
    "kubesim CPU: population:",
    "kubesim CPU: the runs:",
]


@functools.cache
def _load(name: str) -> dict[str, Any]:
    """A bench module's globals (bench/ is a directory of scripts, not a package)."""
    return runpy.run_path(str(BENCH / f"{name}.py"))


@pytest.fixture(scope="module")
def tiny_run() -> str:
    # 510 pods: more than one page of 500, so paging follows a continue token
    out = subprocess.run([sys.executable, str(BENCH / "kubesim_api.py"), "--nodes", "30", "--pods-per-node", "17",
                          "--namespaces", "5", "--workloads", "12", "--watchers", "4", "--watch-events", "40",
                          "--watch-timeout-s", "60"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"stdout:\n{out.stdout}\nstderr:\n{out.stderr}"
    return out.stdout


@pytest.mark.parametrize("line", [pytest.param(s, id=s.rstrip(":")) for s in SUMMARY_LINES])
def test_summary_prints_figure(tiny_run: str, line: str) -> None:
    summary = tiny_run.split("-- summary --\n", 1)[1]
    assert any(s.startswith(line) for s in summary.splitlines())


@pytest.mark.parametrize("aimed", [
    pytest.param("full pod list (median of 3):", id="full-list"),
    pytest.param("pods by spec.nodeName (p50 of 50):", id="field-selector"),
    pytest.param("RSS after population:", id="rss"),
])
def test_aimed_figures_show_aim_and_ratio(tiny_run: str, aimed: str) -> None:
    line = next(s for s in tiny_run.splitlines() if s.startswith(aimed))
    assert "(aim < " in line and "x)" in line


def test_lists_saw_every_pod(tiny_run: str) -> None:
    assert "full pod list: " in tiny_run and "510 items" in tiny_run
    assert "list in pages of 500: " in tiny_run and " for 2 pages" in tiny_run


def test_runner_finds_benchmarks_not_helpers() -> None:
    modules = _load("run")["modules"]
    names = [p.name for p in modules()]
    assert "kubesim_api.py" in names
    assert not [n for n in names if n.startswith("_") or n == "run.py"]


def test_runner_rejects_unknown_name_listing_known() -> None:
    modules = _load("run")["modules"]
    with pytest.raises(SystemExit, match=r"no benchmark nope; there are: .*kubesim_api"):
        modules(["nope"])


@given(pieces=st.lists(st.sampled_from([b'"cells":', b'{"apiVersion":"v1","kind":"Pod"', b'"ce', b"x", b"{"]),
                       max_size=40),
       cuts=st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=40))
def test_streamed_count_equals_whole_body_count(pieces: list[bytes], cuts: list[int]) -> None:
    occurrences = _load("kubesim_api")["_Occurrences"]
    body = b"".join(pieces)
    for pattern in (b'"cells":', b'{"apiVersion":"v1","kind":"Pod"'):
        counter, i, k = occurrences(pattern), 0, 0
        while i < len(body):
            step = cuts[k % len(cuts)]
            counter.feed(body[i:i + step])
            i, k = i + step, k + 1
        assert counter.count == body.count(pattern)
