"""`kubescale demo`: kubesim with a scenario (over TLS, as a cluster) and the parts of the stack built so far
(metricsd, registered as v1beta1.metrics.k8s.io so that `kubectl top` works), in one process, with what to
try next. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

from kubesim.app import KubeSim, SimConfig
from kubesim.sim import scenario
from kubesim.sim.simulation import SimulationOptions
from metricsd import options as metricsd_options
from metricsd.server import MetricsServer, StartError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("demo", help="kubesim with a scenario and the stack on it",
                       description="Run kubesim with a scenario and metricsd on it; print what to try.")
    p.add_argument("--scenario", default="small", metavar="NAME|FILE",
                   help=f"a file, or one shipped ({', '.join(scenario.shipped_scenarios())}); default small")
    p.add_argument("--dir", default=".kubesim", help="where the kubeconfig, certificates and logs go")
    p.add_argument("--metric-resolution", default="15s", help="metricsd's resolution (the shipped manifests' 15s)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        loaded = scenario.load_scenario(args.scenario)
    except scenario.ScenarioError as e:
        print(f"kubescale demo: {e}", file=sys.stderr)
        return 2
    d = Path(args.dir)
    kubeconfig = str(d / "kubeconfig")
    sim = KubeSim(SimConfig(listen="127.0.0.1:0", tls=True, kubeconfig_out=kubeconfig, simulation=SimulationOptions(
        scenario=loaded, kubelet_port=0, data_dir=str(d))))
    p = argparse.ArgumentParser()
    metricsd_options.add_arguments(p)
    try:
        config = metricsd_options.from_args(p.parse_args([
            "--kubeconfig", kubeconfig, f"--metric-resolution={args.metric_resolution}",
            "--kubelet-request-timeout=5s", "--kubelet-use-node-status-port",
            "--kubelet-preferred-address-types=InternalIP",
            "--kubelet-certificate-authority", str(d / "pki" / "kubelet-ca.crt"),
            "--secure-port=0", "--cert-dir", str(d / "metricsd-certs"), "--register-apiservice"]))
    except metricsd_options.OptionsError as e:
        print(f"kubescale demo: {e}", file=sys.stderr)
        return 2
    return asyncio.run(_serve(sim, config, kubeconfig))


async def _serve(sim: KubeSim, config: metricsd_options.MetricsServerConfig, kubeconfig: str) -> int:
    url = await sim.start()
    metrics = MetricsServer(config, environ=os.environ)
    try:
        metrics_url = await metrics.start()
    except StartError as e:
        print(f"kubescale demo: metricsd: {e}", file=sys.stderr)
        await metrics.stop()
        await sim.stop()
        return 1
    k = f"kubectl --kubeconfig {kubeconfig}"
    print("\n".join((
        f"kubesim ready: {url} kubeconfig={kubeconfig}",
        f"metricsd ready: {metrics_url} (APIService v1beta1.metrics.k8s.io)",
        "",
        f"In another terminal (metrics appear after two resolutions, {config.metric_resolution_s:g}s each):",
        f"  {k} get nodes,deploy,pods,hpa -o wide",
        f"  {k} top nodes",
        f"  {k} top pods -A --containers",
        f"  .venv/bin/kubescale top pods -A --kubeconfig {kubeconfig}",
        f"  {k} get --raw /apis/metrics.k8s.io/v1beta1/nodes",
        f"  {k} scale deployment web --replicas=4",
        "Press Ctrl-C to stop.",
    )), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await metrics.stop()
    await sim.stop()
    return 0


__all__ = ["register"]
