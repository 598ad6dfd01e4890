"""kubesim preloaded by `bench/_kubesim_populated.populate` (Namespaces, Nodes, bound Running Pods), with each
Node's kubelet pointed at a fake kubelet of `bench/_fake_kubelets.py`: `status.addresses` becomes one
InternalIP 127.0.0.1 (plus the Hostname) and `status.daemonEndpoints.kubeletEndpoint.Port` the port read
from `--ports-file` (a JSON list in node order), written as a kubelet writes node status. Then serves like
`kubescale sim` and prints its ready line. For bench/metricsd.py; `bench/run.py` skips `_`-prefixed files.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _kubesim_populated import node_name, over_the_wire, populate

from kubesim.apiserver import ApiServer
from kubesim.app import KubeSim, SimConfig, run_forever


def point_nodes_at(api: ApiServer, ports: list[int]) -> None:
    """Node i's kubelet is 127.0.0.1:ports[i]."""
    node_rt = api.registry.get("", "nodes")
    assert node_rt is not None
    for i, port in enumerate(ports):
        obj = over_the_wire(api.get(node_rt, "", node_name(i)).obj)
        obj["status"]["addresses"] = [{"type": "InternalIP", "address": "127.0.0.1"},
                                      {"type": "Hostname", "address": node_name(i)}]
        obj["status"]["daemonEndpoints"] = {"kubeletEndpoint": {"Port": port}}
        api.update(node_rt, "", node_name(i), obj, subresource="status")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pods-per-node", type=int, required=True)
    p.add_argument("--namespaces", type=int, default=50)
    p.add_argument("--workloads", type=int, default=500)
    p.add_argument("--ports-file", type=Path, required=True)
    p.add_argument("--kubeconfig-out", required=True)
    args = p.parse_args(argv)
    ports = json.loads(args.ports_file.read_text())
    sim = KubeSim(SimConfig(listen="127.0.0.1:0", kubeconfig_out=args.kubeconfig_out))
    figures = populate(sim.api, nodes=len(ports), pods_per_node=args.pods_per_node, namespaces=args.namespaces,
                       workloads=args.workloads)
    point_nodes_at(sim.api, ports)
    print("populated " + json.dumps(figures), flush=True)
    asyncio.run(run_forever(sim))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
