"""kubesim preloaded by `bench/_kubesim_populated.populate` (Namespaces, Nodes, bound Running Pods), with each
Node's kubelet pointed at a fake kubelet of `bench/_fake_kubelets.py`: `status.addresses` becomes one
InternalIP 127.0.0.1 (plus the Hostname) and `status.daemonEndpoints.kubeletEndpoint.Port` the port read
from `--ports-file` (a JSON list in node order), written as a kubelet writes node status. Then serves like
`kubescale sim` and prints its ready line. With `--hpas`, also a Deployment and an HPA per workload. For
bench/metricsd.py and bench/hpa.py; `bench/run.py` skips `_`-prefixed files.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _kubesim_populated import node_name, over_the_wire, populate, workload_name, workload_namespace

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


TARGETS = (100, 100, 100, 100, 50, 100, 100, 100, 100, 200)  # averageUtilization by workload


def add_hpas(api: ApiServer, *, pods: int, namespaces: int, workloads: int) -> int:
    """A Deployment (replicas = its pods, selector app=<workload>) and an autoscaling/v2 HPA on CPU utilization
    (1 to 40 replicas) per workload, for bench/hpa.py. The fake kubelets' pods run near 100 % of their request
    on average, so most HPAs target 100 % (no change), one in ten 50 % (scale up) and one in ten 200 % (scale
    down). Without simulation layers nothing acts on the Deployments: scale updates are stored and that is all."""
    dep_rt = api.registry.get("apps", "deployments")
    hpa_rt = api.registry.get("autoscaling", "horizontalpodautoscalers")
    assert dep_rt is not None and hpa_rt is not None
    for w in range(min(workloads, pods)):
        name, ns = workload_name(w), workload_namespace(w, namespaces=namespaces)
        replicas = pods // workloads + (1 if w < pods % workloads else 0)
        dep = api.create(dep_rt, ns, over_the_wire({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "main", "image": "main"}]}}}}))
        api.update(dep_rt, ns, name, over_the_wire({**dep, "status": {"replicas": replicas,
                                                                      "readyReplicas": replicas}}),
                   subresource="status")
        api.create(hpa_rt, ns, over_the_wire({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                     "minReplicas": 1, "maxReplicas": 40,
                     "metrics": [{"type": "Resource", "resource": {
                         "name": "cpu", "target": {"type": "Utilization",
                                                   "averageUtilization": TARGETS[w % len(TARGETS)]}}}]}}))
    return min(workloads, pods)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pods-per-node", type=int, required=True)
    p.add_argument("--namespaces", type=int, default=50)
    p.add_argument("--workloads", type=int, default=500)
    p.add_argument("--ports-file", type=Path, required=True)
    p.add_argument("--kubeconfig-out", required=True)
    p.add_argument("--hpas", action="store_true", help="a Deployment and an HPA per workload (bench/hpa.py)")
    p.add_argument("--profile-out", help="serve under cProfile and write its stats here on exit")
    args = p.parse_args(argv)
    ports = json.loads(args.ports_file.read_text())
    sim = KubeSim(SimConfig(listen="127.0.0.1:0", kubeconfig_out=args.kubeconfig_out))
    figures = populate(sim.api, nodes=len(ports), pods_per_node=args.pods_per_node, namespaces=args.namespaces,
                       workloads=args.workloads)
    point_nodes_at(sim.api, ports)
    if args.hpas:
        figures["hpas"] = add_hpas(sim.api, pods=figures["pods"], namespaces=args.namespaces,
                                   workloads=args.workloads)
    print("populated " + json.dumps(figures), flush=True)
    if args.profile_out:
        cProfile.runctx("asyncio.run(run_forever(sim))", globals(), {"sim": sim}, args.profile_out)
    else:
        asyncio.run(run_forever(sim))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
