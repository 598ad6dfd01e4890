"""`kubescale demo`: kubesim with a scenario (over TLS, as a cluster) and the parts of the stack built so far
(metricsd, registered as v1beta1.metrics.k8s.io so that `kubectl top` works, and the HPA controller), in one
process, with what to try next. While it runs it prints a line for every HPA sync that changes something (the
live view); Ctrl-C stops everything and prints what the HPAs did (the report).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

from autoscaler.hpa import decide
from autoscaler.hpa.command import COMPONENT
from autoscaler.hpa.controller import ControllerOptions, HPAController
from kubescale import kubeconfig as kubeconfigs
from kubescale.durations import go_duration_s
from kubescale.events import EventRecorder
from kubescale.kubeclient import KubeClient
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
    p.add_argument("--horizontal-pod-autoscaler-sync-period", type=go_duration_s, default=15.0, metavar="DURATION",
                   help="the HPA controller's sync period (default 15s)")
    p.add_argument("--horizontal-pod-autoscaler-downscale-stabilization", type=go_duration_s, default=300.0,
                   metavar="DURATION", help="the HPA controller's down-scale stabilization window (default 5m0s)")
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
    hpa = ControllerOptions(sync_period_s=args.horizontal_pod_autoscaler_sync_period, settings=decide.Settings(
        downscale_stabilization_s=args.horizontal_pod_autoscaler_downscale_stabilization))
    return asyncio.run(_serve(sim, config, kubeconfig, hpa))


class LiveView:
    """Prints a line when an HPA's replicas, utilization or conditions change; keeps what the report needs."""

    def __init__(self) -> None:
        self.last: dict[tuple[str, str], tuple[object, ...]] = {}
        self.seen: dict[tuple[str, str], list[int]] = {}  # min, max replicas, rescales

    def __call__(self, key: tuple[str, str], d: decide.Decision) -> None:
        targets = ", ".join(_target(m.name, m.current) for m in d.metrics) or "no metrics"
        conditions = tuple((c.type, c.status, c.reason) for c in d.conditions)
        state = (d.current_replicas, d.desired_replicas, targets, conditions)
        seen = self.seen.setdefault(key, [d.current_replicas, d.current_replicas, 0])
        seen[0], seen[1] = min(seen[0], d.desired_replicas), max(seen[1], d.desired_replicas)
        seen[2] += d.rescale
        if self.last.get(key) == state:
            return
        self.last[key] = state
        change = f"{d.current_replicas} -> {d.desired_replicas} ({d.reason})" if d.rescale else \
            f"{d.current_replicas}"
        problems = [f"{c.type}={c.status} {c.reason}" for c in d.conditions
                    if (c.type, c.status) in (("AbleToScale", "False"), ("ScalingActive", "False"))]
        print(f"{time.strftime('%H:%M:%S')} hpa {key[0]}/{key[1]}: {targets}; replicas {change}"
              + (f"; {', '.join(problems)}" if problems else ""), flush=True)

    def report(self) -> str:
        lines = ["", "What the HPAs did:"]
        for (ns, name), (low, high, rescales) in sorted(self.seen.items()):
            lines.append(f"  {ns}/{name}: {rescales} rescales, replicas between {low} and {high}")
        return "\n".join(lines if self.seen else ["", "No HPA was synced."])


def _target(name: str, current: dict | None) -> str:
    """`cpu: 48%` as kubectl get hpa shows the current value (the utilization when there is one)."""
    value = "<unknown>"
    for source in (current or {}).values():
        if isinstance(source, dict) and isinstance(source.get("current"), dict):
            cur = source["current"]
            value = f"{cur['averageUtilization']}%" if "averageUtilization" in cur else \
                str(cur.get("averageValue", cur.get("value", value)))
    return f"{name.split()[0]}: {value}"


async def _serve(sim: KubeSim, config: metricsd_options.MetricsServerConfig, kubeconfig: str,
                 hpa_options: ControllerOptions) -> int:
    url = await sim.start()
    metrics = MetricsServer(config, environ=os.environ)
    try:
        metrics_url = await metrics.start()
    except StartError as e:
        print(f"kubescale demo: metricsd: {e}", file=sys.stderr)
        await metrics.stop()
        await sim.stop()
        return 1
    client = KubeClient(kubeconfigs.load(kubeconfig, environ=os.environ), user_agent="kubescale-hpa")
    recorder = EventRecorder(client, component=COMPONENT)
    view = LiveView()
    controller = HPAController(client, hpa_options, recorder=recorder, on_decision=view)
    await recorder.start()
    await controller.start()
    k = f"kubectl --kubeconfig {kubeconfig}"
    print("\n".join((
        f"kubesim ready: {url} kubeconfig={kubeconfig}",
        f"metricsd ready: {metrics_url} (APIService v1beta1.metrics.k8s.io)",
        f"hpa controller running (sync every {hpa_options.sync_period_s:g}s); its decisions follow below",
        "",
        f"In another terminal (metrics appear after two resolutions, {config.metric_resolution_s:g}s each):",
        f"  {k} get nodes,deploy,pods,hpa -o wide",
        f"  {k} top nodes",
        f"  {k} top pods -A --containers",
        f"  .venv/bin/kubescale top pods -A --kubeconfig {kubeconfig}",
        f"  {k} get --raw /apis/metrics.k8s.io/v1beta1/nodes",
        f"  {k} get hpa -w",
        f"  {k} describe hpa web",
        f"  .venv/bin/kubescale hpa explain --from-cluster default/web -o human --kubeconfig {kubeconfig}",
        "Press Ctrl-C to stop.",
    )), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await controller.stop()
    await recorder.stop()
    await client.close()
    await metrics.stop()
    await sim.stop()
    print(view.report(), flush=True)
    return 0


__all__ = ["register"]
