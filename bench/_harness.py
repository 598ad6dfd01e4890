"""What the benchmarks that run kubesim, fake kubelets and metricsd in child processes share: `Child` (a process
whose stdout lines are read by a thread and whose CPU and memory come from /proc), `Figure` (one summary line
with its aim and upstream ratio) and `Run` (fake kubelets, a populated kubesim and metricsd, started in order).
Used by bench/metricsd.py and bench/hpa.py; `bench/run.py` skips `_`-prefixed files.
"""

from __future__ import annotations

import asyncio
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

BENCH = Path(__file__).resolve().parent
TICKS_RE = re.compile(r"^metrics_server_manager_tick_duration_seconds_count (\S+)$", re.M)
KUBESCALE = BENCH.parent / ".venv" / "bin" / "kubescale"


class Child:
    """A child process whose stdout lines are read by a thread; its CPU and memory come from /proc."""

    def __init__(self, name: str, cmd: list[str], *, workdir: Path) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pattern: str, *, timeout_s: float) -> re.Match[str]:
        """The first stdout line matching `pattern`, within `timeout_s`; raises when the child exits or is late."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            if m := re.search(pattern, line):
                return m
        self.stop()
        raise RuntimeError(f"{self.name} did not print {pattern!r}; log:\n{self.log_path.read_text()[-4000:]}")

    def _status_kb(self, key: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise KeyError(key)

    def rss_bytes(self) -> int:
        return self._status_kb("VmRSS") * 1024

    def peak_rss_bytes(self) -> int:
        return self._status_kb("VmHWM") * 1024

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / 100  # utime, stime in clock ticks (USER_HZ = 100)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@dataclass(frozen=True)
class Figure:
    """One summary line; `aim` and `upstream` (metrics-server's envelope) are in the figure's unit."""

    name: str
    value: float
    unit: str
    aim: float | None = None
    upstream: float | None = None
    upstream_name: str = "metrics-server's"

    def line(self) -> str:
        shown = f"{self.value:,.0f}" if self.value >= 1000 and self.value == int(self.value) else f"{self.value:.4g}"
        text = f"{self.name}: {shown} {self.unit}"
        if self.aim is not None:
            ratio = self.value / self.aim
            text += f" (aim < {self.aim:g} {self.unit}, {ratio:.2f}x){'  MISSED' if ratio >= 1 else ''}"
        if self.upstream is not None:
            text += f"; {self.value / self.upstream:.3f}x {self.upstream_name} {self.upstream:g} {self.unit}"
        return text


class Run:
    """kubesim (populated), the fake kubelets (when nodes > 0) and metricsd, started in that order."""

    def __init__(self, *, workdir: Path, nodes: int, pods_per_node: int, resolution_s: int, timeout_s: float,
                 namespaces: int = 50, workloads: int = 500, kubesim_args: Sequence[str] = (),
                 metricsd_args: Sequence[str] = ()) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.children: list[Child] = []
        ports_file = workdir / "ports.json"
        try:
            if nodes:
                kubelets = self._start("kubelets", [sys.executable, str(BENCH / "_fake_kubelets.py"), "--nodes",
                                                    str(nodes), "--pods-per-node", str(pods_per_node),
                                                    "--namespaces", str(namespaces), "--workloads", str(workloads),
                                                    "--ports-out", str(ports_file)], workdir)
                kubelets.wait_for(r"kubelets ready", timeout_s=timeout_s)
            else:
                ports_file.write_text("[]")
            kubesim = self._start("kubesim", [sys.executable, str(BENCH / "_metricsd_kubesim.py"),
                                              "--pods-per-node", str(pods_per_node), "--ports-file", str(ports_file),
                                              "--namespaces", str(namespaces), "--workloads", str(workloads),
                                              "--kubeconfig-out", str(workdir / "kubeconfig"), *kubesim_args],
                              workdir)
            kubesim.wait_for(r"kubesim ready: ", timeout_s=timeout_s)
            timeout = "10s" if resolution_s * 0.9 >= 10 else f"{int(resolution_s * 0.9)}s"
            self.metricsd = self._start("metricsd", [
                str(KUBESCALE), "metrics-server", "--kubeconfig", str(workdir / "kubeconfig"),
                "--metric-resolution", f"{resolution_s}s", "--kubelet-request-timeout", timeout,
                "--deprecated-kubelet-completely-insecure", "--kubelet-use-node-status-port",
                "--kubelet-preferred-address-types", "InternalIP", "--secure-port", "0",
                "--cert-dir", str(workdir / "certs"), "--local-trust-loopback", "--authentication-skip-lookup",
                *metricsd_args],
                workdir)
            self.url = self.metricsd.wait_for(r"metricsd ready: (\S+)", timeout_s=timeout_s).group(1)
            self.ready_rss = self.metricsd.rss_bytes()
        except BaseException:
            self.stop()
            raise
        self.kubelets = self.children[0] if nodes else None
        self.kubesim = kubesim

    def _start(self, name: str, cmd: list[str], workdir: Path) -> Child:
        child = Child(name, cmd, workdir=workdir)
        self.children.append(child)
        return child

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()


async def get(session: aiohttp.ClientSession, url: str) -> tuple[float, bytes]:
    t0 = time.perf_counter()
    async with session.get(url) as resp:
        body = await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"GET {url}: {resp.status} {body[:300]!r}")
    return time.perf_counter() - t0, body


def metric(pattern: re.Pattern[str], text: str) -> float:
    m = pattern.search(text)
    return float(m.group(1)) if m else 0.0


async def wait_ticks(session: aiohttp.ClientSession, url: str, ticks: int, *, timeout_s: float) -> str:
    """/metrics once at least `ticks` scrape ticks have completed (polled every 2 s, bounded by `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    while True:
        text = (await get(session, url + "/metrics"))[1].decode()
        if metric(TICKS_RE, text) >= ticks:
            return text
        if time.monotonic() > deadline:
            raise RuntimeError(f"metricsd did not complete {ticks} ticks in {timeout_s:.0f} s")
        await asyncio.sleep(2)
