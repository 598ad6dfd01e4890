"""The `kubescale` command: one subcommand per component (DESIGN.md §4).

Flags load into frozen config dataclasses here, at the edge; nothing deeper reads argv or the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from autoscaler.hpa import command as hpa_command
from kubescale import demo, top
from kubesim.app import KubeSim, SimConfig, run_forever
from kubesim.server import ServingOptions
from kubesim.sim import scenario
from kubesim.sim.simulation import SimulationOptions


def _sim_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("sim", help="run kubesim, the embedded cluster",
                       description="Run kubesim: a Kubernetes API server (and, later, simulated nodes) on loopback.")
    p.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT to serve on; port 0 picks a free one")
    p.add_argument("--tls", action="store_true", help="serve HTTPS with a generated CA and serving certificate")
    p.add_argument("--token-auth-file", "--token-file", dest="token_file",
                   help="kube-apiserver token file (token,user,uid,\"group1,group2\"); enables authentication")
    p.add_argument("--authorization-policy-file", help="YAML allow-list policy (see README)")
    p.add_argument("--kubeconfig-out", default=".kubesim/kubeconfig", help="where to write the admin kubeconfig")
    p.add_argument("--pki-dir", help="where to write the CA and certificates (default: next to the kubeconfig)")
    p.add_argument("--state-file", help="load the store from this file on start and save it on exit")
    p.add_argument("--default-watch-cache-size", type=int, default=10_000, metavar="N",
                   help="watch events kept per resource for resuming watches; older versions get 410 Gone")
    p.add_argument("--watch-bookmark-interval", type=float, default=30.0, metavar="SECONDS",
                   help="how often watches with allowWatchBookmarks get a BOOKMARK")
    p.add_argument("--hint", action="store_true", help="print what a newcomer can try next")
    sim = p.add_argument_group("simulation layers (controllers, scheduler, kubelets, load, cloud)")
    sim.add_argument("--no-sim", action="store_true", help="serve the API alone, without simulation layers")
    sim.add_argument("--scenario", metavar="NAME|FILE",
                     help=f"run a scenario: a file, or one shipped ({', '.join(scenario.shipped_scenarios())})")
    sim.add_argument("--nodes", type=int, default=0, help="without a scenario: a uniform cluster of N nodes")
    sim.add_argument("--pods-per-node", type=int, default=0, help="... with about this many pods per node")
    sim.add_argument("--kubelet-http", action="store_true", help="simulated kubelets serve plain HTTP, not HTTPS")
    sim.add_argument("--kubelet-port", type=int, default=10250,
                     help="port of every simulated kubelet (each has its own 127.x.y.z address); 0: ephemeral")
    sim.add_argument("--data-dir", help="kubelet CA and node logs (default: next to the kubeconfig)")
    sim.add_argument("--seed", type=int, default=0, help="seed of every random choice the simulation makes")
    p.set_defaults(func=_run_sim)


def _run_sim(args: argparse.Namespace) -> int:
    simulation = None
    if not args.no_sim:
        try:
            loaded = scenario.load_scenario(args.scenario) if args.scenario else None
        except scenario.ScenarioError as e:
            print(f"kubescale sim: {e}", file=sys.stderr)
            return 2
        if args.nodes < 0 or args.pods_per_node < 0:
            print("kubescale sim: --nodes and --pods-per-node must not be negative", file=sys.stderr)
            return 2
        simulation = SimulationOptions(
            scenario=loaded, nodes=args.nodes, pods_per_node=args.pods_per_node, kubelet_http=args.kubelet_http,
            kubelet_port=args.kubelet_port, seed=args.seed,
            data_dir=args.data_dir or str(Path(args.kubeconfig_out).parent))
    config = SimConfig(
        listen=args.listen, tls=args.tls, token_file=args.token_file,
        authorization_policy_file=args.authorization_policy_file, kubeconfig_out=args.kubeconfig_out,
        state_file=args.state_file, pki_dir=args.pki_dir, watch_cache_size=args.default_watch_cache_size,
        serving=ServingOptions(bookmark_interval_s=args.watch_bookmark_interval), simulation=simulation,
    )
    try:
        config.host_port  # noqa: B018 - validates --listen before anything starts
        sim = KubeSim(config)
    except (ValueError, OSError) as e:
        print(f"kubescale sim: {e}", file=sys.stderr)
        return 2
    banner = ""
    if args.hint:
        kc = config.kubeconfig_out
        banner = "\n".join((
            "",
            "kubesim is running. In another terminal, try:",
            f"  kubectl --kubeconfig {kc} get nodes -o wide",
            f"  kubectl --kubeconfig {kc} get deploy,rs,pods,hpa -o wide",
            f"  kubectl --kubeconfig {kc} scale deployment web --replicas=4",
            f"  kubectl --kubeconfig {kc} create deployment big --image=nginx --replicas=20   # some will pend",
            f"  curl -s $(kubectl --kubeconfig {kc} config view -o jsonpath='{{.clusters[0].cluster.server}}')"
            "/kubesim/v1/nodegroups",
            "Press Ctrl-C to stop.",
        ))
    asyncio.run(run_forever(sim, banner=banner))
    return 0


def _metrics_server_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from metricsd import options

    p = sub.add_parser("metrics-server", help="the resource metrics server (metrics.k8s.io) behind kubectl top",
                       description="Scrape every kubelet's /metrics/resource and serve metrics.k8s.io/v1beta1, "
                       "with metrics-server's flags and defaults.")
    options.add_arguments(p)
    p.set_defaults(func=_run_metrics_server)


def _run_metrics_server(args: argparse.Namespace) -> int:
    import os

    from metricsd import options, server

    try:
        config = options.from_args(args)
    except options.OptionsError as e:
        for problem in e.problems:
            print(f"kubescale metrics-server: {problem}", file=sys.stderr)
        return 2
    return asyncio.run(server.run_forever(config, environ=os.environ))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubescale", description="Kubernetes monitoring and autoscaling stack.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (repeat for debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _sim_parser(sub)
    _metrics_server_parser(sub)
    top.register(sub)
    hpa_command.register(sub)
    demo.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
