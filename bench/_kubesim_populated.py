"""kubesim preloaded with a large, realistic cluster, for benchmarks: builds `KubeSim`, creates Namespaces,
Nodes and bound, Running Pods in-process through `ApiServer` (as fast as the API semantics allow; over HTTP
150,000 pods would take minutes), prints one `populated {json}` line with the timings, then serves like
`kubescale sim` and prints its ready line. Not a product command and not a benchmark itself: `bench/run.py`
skips files starting with an underscore; `bench/kubesim_api.py` starts this in its own process.

With `--profile-dir`, cProfile covers population and serving separately and writes `populate.prof` and
`serve.prof` there when the process stops (SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import sys
import time
from pathlib import Path
from typing import Any

from kubesim.apiserver import ApiServer
from kubesim.app import KubeSim, SimConfig, run_forever

BASES = ("api", "web", "worker", "cache", "auth", "search", "billing", "ingest", "report", "notify")
ZONES = ("zone-a", "zone-b", "zone-c")
SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"
NODE_ROLE_LABEL = "node-role.kubernetes.io/worker"


def node_name(i: int) -> str:
    return f"node-{i:05d}"


def namespace_name(i: int) -> str:
    return f"team-{i:02d}"


def workload_name(w: int) -> str:
    return f"{BASES[w % len(BASES)]}-{w:03d}"


def workload_namespace(w: int, *, namespaces: int) -> str:
    return namespace_name(w % namespaces)


def _suffix(n: int, width: int) -> str:
    """`width` characters of upstream's generateName alphabet, scrambled from `n` (distinct n, distinct suffix
    while n < 27**width)."""
    n = (n * 2_654_435_761 + 12_345) % len(SUFFIX_CHARS) ** width
    out = []
    for _ in range(width):
        n, r = divmod(n, len(SUFFIX_CHARS))
        out.append(SUFFIX_CHARS[r])
    return "".join(out)


def _pod_ip(node: int, slot: int) -> str:
    return f"10.{64 + node // 256}.{node % 256}.{slot + 2}"


def node_object(i: int) -> dict[str, Any]:
    name = node_name(i)
    resources = {"cpu": "16", "memory": "65842340Ki", "pods": "110", "ephemeral-storage": "203056560Ki",
                 "hugepages-1Gi": "0", "hugepages-2Mi": "0"}
    allocatable = {**resources, "cpu": "15890m", "memory": "63235236Ki", "ephemeral-storage": "187136960401"}
    conditions = [
        {"type": t, "status": "False", "reason": r, "message": m,
         "lastHeartbeatTime": "2025-01-01T00:00:00Z", "lastTransitionTime": "2025-01-01T00:00:00Z"}
        for t, r, m in (("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                        ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                        ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"))
    ]
    conditions.append({"type": "Ready", "status": "True", "reason": "KubeletReady",
                       "message": "kubelet is posting ready status", "lastHeartbeatTime": "2025-01-01T00:00:00Z",
                       "lastTransitionTime": "2025-01-01T00:00:00Z"})
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
            "node.kubernetes.io/instance-type": "m5.4xlarge", "topology.kubernetes.io/region": "region-1",
            "topology.kubernetes.io/zone": ZONES[i % len(ZONES)], NODE_ROLE_LABEL: "",
        }, "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                           "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": {"podCIDR": f"10.{64 + i // 256}.{i % 256}.0/24", "podCIDRs": [f"10.{64 + i // 256}.{i % 256}.0/24"],
                 "providerID": f"kubesim://region-1/{name}"},
        "status": {
            "capacity": resources, "allocatable": allocatable, "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": f"172.16.{i // 256}.{i % 256}"},
                          {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": f"{i:032x}", "systemUUID": f"{i:032x}", "bootID": f"{i:032x}",
                         "kernelVersion": "6.1.0-18-amd64", "osImage": "Debian GNU/Linux 12 (bookworm)",
                         "containerRuntimeVersion": "containerd://1.7.13", "kubeletVersion": "v1.35.0",
                         "kubeProxyVersion": "v1.35.0", "operatingSystem": "linux", "architecture": "amd64"},
        },
    }


def _container(name: str, image: str, *, cpu: str, cpu_limit: str, memory: str, port: int) -> dict[str, Any]:
    return {
        "name": name, "image": image,
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": [{"name": "LOG_LEVEL", "value": "info"},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}],
        "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_limit, "memory": memory}},
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": port, "scheme": "HTTP"}, "periodSeconds": 10},
        "volumeMounts": [{"name": "kube-api-access", "readOnly": True,
                          "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
    }


def pod_object(*, workload: int, replica: int, node: int) -> dict[str, Any]:
    wname = workload_name(workload)
    rs = f"{wname}-{_suffix(workload * 7919, 10)}"
    containers = [_container("main", f"registry.example.com/{BASES[workload % len(BASES)]}:1.{workload % 20}.0",
                             cpu="250m", cpu_limit="1", memory="256Mi", port=8080)]
    if workload % 2 == 0:
        containers.append(_container("proxy", "registry.example.com/envoy:1.29.1", cpu="50m", cpu_limit="50m",
                                     memory="64Mi", port=15001))
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": f"{rs}-{_suffix(replica * 104729 + workload, 5)}",
            "labels": {"app": wname, "pod-template-hash": rs.rsplit("-", 1)[1], "tier": BASES[workload % 3]},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                                 "uid": f"00000000-0000-4000-8000-{workload:012d}", "controller": True,
                                 "blockOwnerDeletion": True}],
        },
        "spec": {
            "nodeName": node_name(node), "serviceAccountName": "default", "containers": containers,
            "volumes": [{"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                             "fieldPath": "metadata.namespace"}}]}},
            ]}}],
            "tolerations": [{"key": f"node.kubernetes.io/{k}", "operator": "Exists", "effect": "NoExecute",
                             "tolerationSeconds": 300} for k in ("not-ready", "unreachable")],
        },
    }


def running_status(pod: dict[str, Any], *, node: int, slot: int, now: str) -> dict[str, Any]:
    ip, host_ip = _pod_ip(node, slot), f"172.16.{node // 256}.{node % 256}"
    conds = [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
             for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]
    statuses = [{"name": c["name"], "image": c["image"], "imageID": f"{c['image']}@sha256:{'ab' * 32}",
                 "containerID": f"containerd://{'cd' * 32}", "ready": True, "started": True, "restartCount": 0,
                 "state": {"running": {"startedAt": now}}} for c in pod["spec"]["containers"]]
    return {**pod["status"], "phase": "Running", "conditions": conds, "hostIP": host_ip,
            "hostIPs": [{"ip": host_ip}], "podIP": ip, "podIPs": [{"ip": ip}], "startTime": now,
            "containerStatuses": statuses}


def over_the_wire(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as the server decodes a request body: fresh dicts, lists and strings."""
    return json.loads(json.dumps(obj))


def populate(api: ApiServer, *, nodes: int, pods_per_node: int, namespaces: int, workloads: int) -> dict[str, Any]:
    """Create the cluster; returns counts and per-phase seconds."""
    reg = api.registry
    ns_rt, node_rt, pod_rt = reg.get("", "namespaces"), reg.get("", "nodes"), reg.get("", "pods")
    assert ns_rt is not None and node_rt is not None and pod_rt is not None
    t0 = time.perf_counter()
    for i in range(namespaces):
        api.create(ns_rt, "", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace_name(i)}})
    for i in range(nodes):
        api.create(node_rt, "", over_the_wire(node_object(i)))
    t1 = time.perf_counter()
    total = nodes * pods_per_node
    create_s = status_s = 0.0
    now = api.now()
    for p in range(total):
        # pods of one workload land on different nodes, like a spread deployment; each is created bound, then
        # its kubelet reports it Running, as upstream's pod lifecycle writes them
        workload, replica = p % workloads, p // workloads
        node, slot = p % nodes, p // nodes
        ns = workload_namespace(workload, namespaces=namespaces)
        # bodies go through JSON as they would over HTTP, so no strings are shared between objects
        body = over_the_wire(pod_object(workload=workload, replica=replica, node=node))
        a = time.perf_counter()
        obj = api.create(pod_rt, ns, body)
        b = time.perf_counter()
        body = over_the_wire({**obj, "status": running_status(obj, node=node, slot=slot, now=now)})
        c = time.perf_counter()
        api.update(pod_rt, ns, obj["metadata"]["name"], body, subresource="status")
        status_s += time.perf_counter() - c
        create_s += b - a
    t2 = time.perf_counter()
    return {"namespaces": namespaces, "nodes": nodes, "pods": total, "workloads": min(workloads, total),
            "setup_s": t1 - t0, "pod_create_s": create_s, "pod_status_s": status_s, "total_s": t2 - t0}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, required=True)
    p.add_argument("--pods-per-node", type=int, required=True)
    p.add_argument("--namespaces", type=int, default=50)
    p.add_argument("--workloads", type=int, default=500)
    p.add_argument("--kubeconfig-out", required=True)
    p.add_argument("--profile-dir", help="write cProfile stats populate.prof and serve.prof here")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    profile_dir = Path(args.profile_dir) if args.profile_dir else None
    sim = KubeSim(SimConfig(listen="127.0.0.1:0", kubeconfig_out=args.kubeconfig_out))
    prof = cProfile.Profile() if profile_dir else None
    if prof:
        prof.enable()
    figures = populate(sim.api, nodes=args.nodes, pods_per_node=args.pods_per_node, namespaces=args.namespaces,
                       workloads=args.workloads)
    if prof and profile_dir:
        prof.disable()
        profile_dir.mkdir(parents=True, exist_ok=True)
        prof.dump_stats(str(profile_dir / "populate.prof"))
        prof = cProfile.Profile()
        prof.enable()
    print("populated " + json.dumps(figures), flush=True)
    asyncio.run(run_forever(sim))
    if prof and profile_dir:
        prof.disable()
        prof.dump_stats(str(profile_dir / "serve.prof"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
