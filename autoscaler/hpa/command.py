"""`kubescale hpa`: the HPA controller as a process, with kube-controller-manager's HPA flags, leader election on a
Lease, and `/healthz` `/livez` `/readyz` `/metrics` on a loopback HTTPS port. `kubescale hpa explain` is added
here too (see explain.py).

Flags load into ControllerOptions at the edge; SIGTERM/SIGINT stop it cleanly (the Lease is released); losing
the Lease ends the process with status 1, as kube-controller-manager does, so that a supervisor restarts it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from autoscaler.hpa import decide, explain, fromcluster
from autoscaler.hpa.controller import CLASS_ANNOTATION, ControllerOptions, HPAController
from autoscaler.hpa.telemetry import HPATelemetry
from kubescale import kubeconfig, leaderelection, pki
from kubescale.durations import go_duration_s
from kubescale.events import EventRecorder
from kubescale.kubeclient import KubeClient

log = logging.getLogger(__name__)

COMPONENT = "horizontal-pod-autoscaler"  # the event source kube-controller-manager's HPA controller uses


@dataclass(frozen=True)
class ServeOptions:
    bind_address: str = "127.0.0.1"
    secure_port: int = 10257
    cert_dir: str = ""
    tls_cert_file: str = ""
    tls_private_key_file: str = ""


def add_arguments(p: argparse.ArgumentParser) -> None:
    d, s = ControllerOptions(), decide.Settings()
    p.add_argument("--kubeconfig", help="kubeconfig for the API server (default: in-cluster, then $KUBECONFIG, "
                                        "then ~/.kube/config)")
    p.add_argument("--context", help="kubeconfig context to use (default: the current one)")
    h = p.add_argument_group("horizontal pod autoscaler (kube-controller-manager's flags)")
    h.add_argument("--horizontal-pod-autoscaler-sync-period", type=go_duration_s, default=d.sync_period_s,
                   metavar="DURATION", help="the period for syncing the number of pods in horizontal pod "
                                            "autoscaler (default 15s)")
    h.add_argument("--horizontal-pod-autoscaler-tolerance", type=float, default=s.tolerance, metavar="FLOAT",
                   help="the minimum change (from 1.0) in the desired-to-actual metrics ratio for the horizontal "
                        "pod autoscaler to consider scaling (default 0.1)")
    h.add_argument("--horizontal-pod-autoscaler-downscale-stabilization", type=go_duration_s,
                   default=s.downscale_stabilization_s, metavar="DURATION",
                   help="the period for which autoscaler will look backwards and not scale down below any "
                        "recommendation it made during that period (default 5m0s)")
    h.add_argument("--horizontal-pod-autoscaler-cpu-initialization-period", type=go_duration_s,
                   default=s.cpu_initialization_period_s, metavar="DURATION",
                   help="the period after pod start when CPU samples might be skipped (default 5m0s)")
    h.add_argument("--horizontal-pod-autoscaler-initial-readiness-delay", type=go_duration_s,
                   default=s.initial_readiness_delay_s, metavar="DURATION",
                   help="the period after pod start during which readiness changes will be treated as initial "
                        "readiness (default 30s)")
    h.add_argument("--concurrent-horizontal-pod-autoscaler-syncs", type=int, default=d.workers, metavar="N",
                   help="the number of horizontal pod autoscaler objects that are allowed to sync concurrently "
                        "(default 5)")
    h.add_argument("--hpa-class", default="", metavar="CLASS",
                   help=f"act only on HPAs annotated {CLASS_ANNOTATION}=CLASS (default: only HPAs without that "
                        "annotation); see the README on running beside kube-controller-manager")
    le = p.add_argument_group("leader election")
    leaderelection.add_leader_election_flags(le, default_name="kubescale-hpa")
    sv = p.add_argument_group("serving (/healthz, /livez, /readyz, /metrics)")
    sv.add_argument("--bind-address", default="127.0.0.1",
                    help="address to serve on (default 127.0.0.1; kube-controller-manager's is 0.0.0.0)")
    sv.add_argument("--secure-port", type=int, default=10257, help="HTTPS port; 0 picks a free one (default 10257)")
    sv.add_argument("--cert-dir", default="", help="where a self-signed certificate is written when "
                                                   "--tls-cert-file is not given (default: a temporary directory)")
    sv.add_argument("--tls-cert-file", default="", help="serving certificate (with --tls-private-key-file)")
    sv.add_argument("--tls-private-key-file", default="", help="serving key")


def options_from_args(args: argparse.Namespace) -> tuple[ControllerOptions, ServeOptions, list[str]]:
    """The options, and the problems that make them unusable (kube-controller-manager's validation texts)."""
    problems = []
    if args.concurrent_horizontal_pod_autoscaler_syncs < 1:
        problems.append("concurrent-horizontal-pod-autoscaler-syncs must be greater than 0, but got "
                        f"{args.concurrent_horizontal_pod_autoscaler_syncs}")
    if args.horizontal_pod_autoscaler_sync_period <= 0:
        problems.append("horizontal-pod-autoscaler-sync-period must be greater than 0")
    if args.horizontal_pod_autoscaler_tolerance < 0:
        problems.append("horizontal-pod-autoscaler-tolerance must not be negative")
    if bool(args.tls_cert_file) != bool(args.tls_private_key_file):
        problems.append("--tls-cert-file and --tls-private-key-file must be given together")
    if not 0 <= args.secure_port <= 65535:
        problems.append(f"--secure-port {args.secure_port} must be between 0 and 65535, inclusive")
    settings = decide.Settings(
        tolerance=args.horizontal_pod_autoscaler_tolerance,
        cpu_initialization_period_s=args.horizontal_pod_autoscaler_cpu_initialization_period,
        initial_readiness_delay_s=args.horizontal_pod_autoscaler_initial_readiness_delay,
        downscale_stabilization_s=args.horizontal_pod_autoscaler_downscale_stabilization)
    controller = ControllerOptions(sync_period_s=args.horizontal_pod_autoscaler_sync_period, settings=settings,
                                   workers=args.concurrent_horizontal_pod_autoscaler_syncs, hpa_class=args.hpa_class)
    serve = ServeOptions(args.bind_address, args.secure_port, args.cert_dir, args.tls_cert_file,
                         args.tls_private_key_file)
    return controller, serve, problems


class _Health:
    """What the probes look at."""

    def __init__(self) -> None:
        self.controller: HPAController | None = None
        self.elector: leaderelection.LeaderElector | None = None

    def ready(self) -> tuple[bool, str]:
        if self.elector is not None and not self.elector.is_leader():
            return True, "ok (not the leader)"
        c = self.controller
        if c is None or not (c.hpas.synced() and c.pods.synced()):
            return False, "informers not synced"
        return True, "ok"


def _app(health: _Health, registry: CollectorRegistry) -> web.Application:
    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        good, text = health.ready()
        return web.Response(status=200 if good else 500, text=text)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", ok)
    app.router.add_get("/livez", ok)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


async def _serve(app: web.Application, opts: ServeOptions) -> tuple[web.AppRunner, str]:
    cert, key = opts.tls_cert_file, opts.tls_private_key_file
    if not cert:
        cert_dir = opts.cert_dir or tempfile.mkdtemp(prefix="kubescale-hpa-")
        cert, key = pki.ensure_self_signed(cert_dir, host="localhost", alternate_ips=(opts.bind_address,))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, opts.bind_address, opts.secure_port,
                       ssl_context=pki.server_ssl_context(cert_file=cert, key_file=key))
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"https://{opts.bind_address}:{port}"


async def run_forever(args: argparse.Namespace, *, environ: Mapping[str, str]) -> int:
    controller_opts, serve_opts, problems = options_from_args(args)
    for problem in problems:
        print(f"kubescale hpa: {problem}", file=sys.stderr)
    if problems:
        return 2
    try:
        cluster = kubeconfig.load(args.kubeconfig, context=args.context, environ=environ)
        client = KubeClient(cluster, user_agent="kubescale-hpa")
    except (kubeconfig.KubeconfigError, OSError, ValueError) as e:
        print(f"kubescale hpa: {e}", file=sys.stderr)
        return 1
    try:
        election = leaderelection.leader_election_config(args)
    except ValueError as e:
        print(f"kubescale hpa: {e}", file=sys.stderr)
        await client.close()
        return 2
    telemetry = HPATelemetry()
    registry = CollectorRegistry()
    registry.register(telemetry)
    recorder = EventRecorder(client, component=COMPONENT)
    controller = HPAController(client, controller_opts, recorder=recorder, telemetry=telemetry)
    telemetry.add_source("kubescale_hpa_metrics_requests", "Requests to the metrics APIs.",
                         lambda: controller.metrics.requests)
    telemetry.add_source("kubescale_hpa_metrics_request_failures", "Failed requests to the metrics APIs.",
                         lambda: controller.metrics.failures)
    telemetry.add_source("kubescale_hpa_events_written", "Events written.", lambda: recorder.written)
    telemetry.add_source("kubescale_hpa_events_dropped", "Events dropped (queue full or spam filter).",
                         lambda: recorder.dropped)
    telemetry.add_source("kubescale_hpa_informer_errors", "Failed lists and watches and unreadable objects.",
                         lambda: controller.hpas.errors + controller.pods.errors)
    health = _Health()
    health.controller = controller
    elector = None if election is None else leaderelection.LeaderElector(client, election)
    health.elector = elector
    telemetry.add_source("kubescale_hpa_leader", "1 while this replica holds the lease (or runs without one).",
                         lambda: 1.0 if elector is None or elector.is_leader() else 0.0, kind="gauge")
    try:
        runner, url = await _serve(_app(health, registry), serve_opts)
    except OSError as e:
        print(f"kubescale hpa: cannot serve on {serve_opts.bind_address}:{serve_opts.secure_port}: {e}",
              file=sys.stderr)
        await client.close()
        return 1
    await recorder.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    print(f"kubescale hpa ready: {url}", flush=True)

    async def lead() -> None:
        log.info("started leading: running the HPA controller")
        try:
            await controller.start()
            await asyncio.Event().wait()
        finally:  # before the Lease is released, so that the next leader never overlaps with this one
            await controller.stop()

    work = asyncio.create_task(lead() if elector is None else elector.run(lead))
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
    lost = work.done() and not stop.is_set()
    for t in (work, stopper):
        t.cancel()
    await asyncio.gather(work, stopper, return_exceptions=True)
    await controller.stop()
    await recorder.stop()
    await runner.cleanup()
    await client.close()
    if lost:
        log.error("leaderelection lost")
        print("kubescale hpa: leaderelection lost", file=sys.stderr)
        return 1
    return 0


def _run(args: argparse.Namespace) -> int:
    return asyncio.run(run_forever(args, environ=os.environ))


async def _explain_live(args: argparse.Namespace) -> int:
    try:
        cluster = kubeconfig.load(args.kubeconfig, context=args.context, environ=os.environ)
    except (kubeconfig.KubeconfigError, OSError) as e:
        print(f"kubescale hpa explain: {e}", file=sys.stderr)
        return 1
    async with KubeClient(cluster, user_agent="kubescale-hpa-explain") as client:
        try:
            hpa, decision = await fromcluster.decide_from_cluster(client, args.from_cluster)
        except fromcluster.FromClusterError as e:
            print(f"kubescale hpa explain: {e}", file=sys.stderr)
            return 1
    if args.output == "human":
        print(fromcluster.report(hpa, decision))
    else:
        print(json.dumps(fromcluster.render(decision), indent=2))
    return 0


def _run_explain(args: argparse.Namespace) -> int:
    if (args.case is None) == (args.from_cluster is None):
        print("kubescale hpa explain: give either a CASE file or --from-cluster NAMESPACE/NAME", file=sys.stderr)
        return 2
    if args.case is not None:
        return explain.run_case(args.case)
    return asyncio.run(_explain_live(args))


def _add_explain(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    ex = commands.add_parser("explain", help="print the decision one HPA sync would make",
                             description="Replay one HPA sync: from a YAML or JSON case file offline, or from a live "
                                         "cluster with --from-cluster, and print the decision (replicas, "
                                         "conditions, events, history).")
    ex.add_argument("case", metavar="CASE", nargs="?", help="the case file (YAML or JSON)")
    ex.add_argument("--from-cluster", metavar="NAMESPACE/NAME", help="explain a live HPA instead of a case file")
    ex.add_argument("--kubeconfig", default=argparse.SUPPRESS, help="with --from-cluster: the kubeconfig")
    ex.add_argument("--context", default=argparse.SUPPRESS, help="with --from-cluster: the kubeconfig context")
    ex.add_argument("-o", "--output", choices=("json", "human"), default="json",
                    help="with --from-cluster: JSON (default) or a readable report")
    ex.set_defaults(func=_run_explain)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `hpa` (the controller) and `hpa explain CASE` to the `kubescale` subcommands."""
    hpa = subparsers.add_parser("hpa", help="the horizontal pod autoscaler controller (and `hpa explain`)",
                                description="The HorizontalPodAutoscaler controller, with kube-controller-manager's "
                                            "HPA flags. `kubescale hpa explain CASE` replays one decision offline.")
    add_arguments(hpa)
    hpa.set_defaults(func=_run)
    commands = hpa.add_subparsers(dest="hpa_command", metavar="explain")
    _add_explain(commands)
