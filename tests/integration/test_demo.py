"""`make demo`'s command: kubesim with the small scenario, metricsd (so that `kubectl top` works) and the HPA
controller, whose live view shows the web HPA scaling when the load goes up."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path


def test_demo_shows_kubectl_top(tmp_path: Path) -> None:
    log = open(tmp_path / "demo.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "kubescale.cli", "demo", "--dir", str(tmp_path / "kubesim"),
                             "--metric-resolution=10s", "--horizontal-pod-autoscaler-sync-period=2s"],
                            stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        assert lines[0].startswith("kubesim ready: ") and lines[1].startswith("metricsd ready: "), lines
        assert lines[2].startswith("hpa controller running"), lines
        url = lines[0].split()[2]
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
        # five times the traffic: the live view shows the HPA scaling web up
        pki_dir = tmp_path / "kubesim" / "pki"
        ctx = ssl.create_default_context(cafile=str(pki_dir / "ca.crt"))
        ctx.load_cert_chain(str(pki_dir / "admin.crt"), str(pki_dir / "admin.key"))
        req = urllib.request.Request(f"{url}/kubesim/v1/workloads/default/Deployment/web/load", method="PATCH",
                                     data=json.dumps({"scale": 5}).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, context=ctx, timeout=10).close()
        lines_q: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=lambda: [lines_q.put(x) for x in iter(proc.stdout.readline, "")],
                                  daemon=True)
        reader.start()
        deadline = time.monotonic() + 90
        seen = []
        while time.monotonic() < deadline:
            try:
                line = lines_q.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            seen.append(line)
            if re.search(r"hpa default/web: cpu: \d+%; replicas 2 -> \d+ \(cpu resource utilization", line):
                break
        else:
            raise AssertionError(f"the live view never showed web scaling up: {seen}")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    assert proc.returncode == 0
    reader.join(timeout=10)
    report = "".join(lines_q.queue)
    assert re.search(r"default/web: [1-9]\d* rescales, replicas between 2 and \d+", report), report
