"""`make demo`'s command: kubesim with the small scenario and metricsd, so that `kubectl top` works."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def test_demo_shows_kubectl_top(tmp_path: Path) -> None:
    log = open(tmp_path / "demo.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "kubescale.cli", "demo", "--dir", str(tmp_path / "kubesim"),
                             "--metric-resolution=10s"], stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(2)]
        assert lines[0].startswith("kubesim ready: ") and lines[1].startswith("metricsd ready: "), lines
        kubeconfig = str(tmp_path / "kubesim" / "kubeconfig")
        env = {**os.environ, "HOME": str(tmp_path)}
        deadline = time.monotonic() + 60
        out = None
        while time.monotonic() < deadline:
            out = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "top", "nodes", "--no-headers"],
                                 capture_output=True, text=True, env=env, timeout=30)
            rows = [r.split() for r in out.stdout.splitlines()]
            if out.returncode == 0 and len(rows) == 3 and all(r[1].endswith("m") for r in rows):
                break
            time.sleep(1)
        else:
            raise AssertionError(f"kubectl top nodes never showed 3 nodes: {out}")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    assert proc.returncode == 0
