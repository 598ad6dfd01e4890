"""Fixtures that start real processes on loopback: kubesim (as `kubescale sim`), kubectl runs against it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubesim.app import KubeSim, SimConfig

READY = re.compile(r"kubesim ready: (\S+) kubeconfig=(\S+)")


@dataclass
class Sim:
    url: str
    kubeconfig: str
    proc: subprocess.Popen[str]
    workdir: Path

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run the machine's real kubectl against this kubesim."""
        cmd = ["kubectl", "--kubeconfig", self.kubeconfig, *args]
        out = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                             env={**os.environ, "KUBECACHEDIR": str(self.workdir / "kubecache"),
                                  "HOME": str(self.workdir)})
        if check and out.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
        return out

    def kubectl_json(self, *args: str) -> dict:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)


def start_sim(workdir: Path, extra: Sequence[str] = (), timeout: float = 60, *, layers: bool = False) -> Sim:
    """`kubescale sim` as a subprocess: the API server alone, or with the simulation layers (`layers`), whose
    kubelets then listen on ephemeral ports so that several kubesims can run side by side."""
    workdir.mkdir(parents=True, exist_ok=True)
    kubeconfig = workdir / "kubeconfig"
    sim_flags = ["--kubelet-port", "0"] if layers else ["--no-sim"]
    cmd = [sys.executable, "-m", "kubescale.cli", "sim", "--listen", "127.0.0.1:0",
           "--kubeconfig-out", str(kubeconfig), *sim_flags, *extra]
    log = open(workdir / "kubesim.log", "w")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = READY.search(line)
        if m:
            return Sim(m.group(1), m.group(2), proc, workdir)
    proc.kill()
    raise RuntimeError(f"kubesim did not become ready; log:\n{(workdir / 'kubesim.log').read_text()}")


def stop_sim(sim: Sim) -> None:
    sim.proc.send_signal(signal.SIGTERM)
    try:
        sim.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        sim.proc.kill()


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    s = start_sim(tmp_path_factory.mktemp("kubesim"))
    yield s
    stop_sim(s)


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30) -> Any:
    """Call `check()` until it returns something truthy, at most `timeout` seconds (blocking tests)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


async def until(what: str, check: Callable[[], Awaitable[Any]], timeout_s: float = 20.0) -> Any:
    """Await `check()` until it returns something truthy, at most `timeout_s`."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        found = await check()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def inproc_sim(tmp_path: Path) -> AsyncIterator[KubeSim]:
    """kubesim's API server in this test's event loop (no simulation layers: the test starts the ones it needs)."""
    sim = KubeSim(SimConfig(listen="127.0.0.1:0", kubeconfig_out=str(tmp_path / "kc")))
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()
