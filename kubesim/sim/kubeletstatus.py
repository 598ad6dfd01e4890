"""What a simulated kubelet writes to the API, as plain functions over plain data: the Node it registers and
the status it keeps fresh, its Lease, a pod's status through Pending -> Running -> Ready and container
restarts, when a NoExecute taint evicts a pod, the node lifecycle controller's health decision, and the
loopback addresses, pod CIDRs and runtime ids a kubelet is given.

Pure: every function takes `now` (unix seconds) and returns new dicts; no I/O, no clock.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]

KUBELET_VERSION = "v1.35.0"
CONTAINER_RUNTIME = "containerd://2.0.5"
LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_S = 40
UNREACHABLE, NOT_READY = "node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready"
PRESSURE_CONDITIONS = (
    ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
)
_FIRST_ADDRESS = int(ipaddress.IPv4Address("127.1.0.1"))


def rfc3339(ts: float) -> str:
    return _rfc3339_seconds(math.floor(ts))


@functools.lru_cache(maxsize=1024)  # a kubelet writes the same few seconds over and over
def _rfc3339_seconds(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_time(ts: float) -> str:
    """metav1.MicroTime's JSON form (a Lease's renewTime)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# -- addresses and ids -----------------------------------------------------------------------------------------
def kubelet_address(index: int) -> str:
    """The loopback address of the index-th kubelet: 127.1.0.1, 127.1.0.2, ..., skipping .0 and .255 of every
    /24 and staying out of 127.0.0.0/16 where local services listen."""
    if index < 0:
        raise ValueError(f"kubelet index must be >= 0, got {index}")
    block, host = divmod(index, 254)
    addr = _FIRST_ADDRESS + block * 256 + host
    if addr > int(ipaddress.IPv4Address("127.255.255.254")):
        raise ValueError(f"kubelet index {index} is beyond 127.255.255.254")
    return str(ipaddress.IPv4Address(addr))


def pod_cidr(cluster_cidr: str, index: int) -> str:
    """The index-th /24 of the cluster's pod CIDR, the node's spec.podCIDR."""
    net = ipaddress.IPv4Network(cluster_cidr)
    subnets = 2 ** (24 - net.prefixlen)
    if net.prefixlen > 24 or index >= subnets:
        raise ValueError(f"pod CIDR {cluster_cidr} has no /24 number {index} (it has {max(subnets, 0)})")
    return str(ipaddress.IPv4Network((int(net.network_address) + index * 256, 24)))


def pod_ip(cidr: str, host: int) -> str:
    """A pod address in the node's /24; host-local IPAM hands out .2 upwards (.1 is the bridge)."""
    return str(ipaddress.IPv4Address(_network_address(cidr) + host))


@functools.lru_cache(maxsize=8192)
def _network_address(cidr: str) -> int:
    return int(ipaddress.IPv4Network(cidr).network_address)


def runtime_id(*parts: object) -> str:
    """A container or sandbox id: 64 hex digits, stable for the same inputs."""
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


@functools.lru_cache(maxsize=1024)
def normalized_image(image: str) -> str:
    """The image reference as containerd reports it (`nginx` -> `docker.io/library/nginx:latest`)."""
    name, digest = image.split("@", 1) if "@" in image else (image, "")
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    if digest:
        return f"{name}@{digest}"
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


@functools.lru_cache(maxsize=1024)
def image_id(image: str) -> str:
    repo = normalized_image(image).split("@", 1)[0].rsplit(":", 1)[0]
    return f"{repo}@sha256:{runtime_id('image', normalized_image(image))}"


def pod_cgroup(pod: Obj) -> str:
    """The pod's cgroup as cAdvisor names it (systemd driver, cgroup v2), by QoS class."""
    uid = pod["metadata"].get("uid", "").replace("-", "_")
    qos = ((pod.get("status") or {}).get("qosClass") or "BestEffort").lower()
    if qos == "guaranteed":
        return f"/kubepods.slice/kubepods-pod{uid}.slice"
    return f"/kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{uid}.slice"


# -- the Node and its Lease ------------------------------------------------------------------------------------
def node_conditions(now: float, *, heartbeat: float, transitions: Mapping[str, str] | None = None) -> list[Obj]:
    """A healthy kubelet's conditions; `transitions` keeps each condition's lastTransitionTime."""
    transitions = transitions or {}
    hb = rfc3339(heartbeat)
    out = [{"type": t, "status": "False", "lastHeartbeatTime": hb,
            "lastTransitionTime": transitions.get(t, rfc3339(now)), "reason": reason, "message": msg}
           for t, reason, msg in PRESSURE_CONDITIONS]
    out.append({"type": "Ready", "status": "True", "lastHeartbeatTime": hb,
                "lastTransitionTime": transitions.get("Ready", rfc3339(now)), "reason": "KubeletReady",
                "message": "kubelet is posting ready status"})
    return out


def node_object(name: str, *, address: str, port: int, cidr: str, capacity: Mapping[str, str],
                allocatable: Mapping[str, str] | None, labels: Mapping[str, str] | None,
                taints: Sequence[Obj] | None, annotations: Mapping[str, str] | None, unschedulable: bool,
                provider_id: str | None, now: float, kubelet_version: str = KUBELET_VERSION) -> Obj:
    """The Node a kubelet registers, status included (kube-apiserver keeps a Node's status on create)."""
    node_labels = {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                   "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                   **(labels or {})}
    spec: Obj = {"podCIDR": cidr, "podCIDRs": [cidr]}
    if provider_id:
        spec["providerID"] = provider_id
    if taints:
        spec["taints"] = [dict(t) for t in taints]
    if unschedulable:
        spec["unschedulable"] = True
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": node_labels,
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                     "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                                     **(annotations or {})}},
        "spec": spec,
        "status": {
            "capacity": dict(capacity),
            "allocatable": dict(allocatable if allocatable is not None else capacity),
            "conditions": node_conditions(now, heartbeat=now),
            "addresses": [{"type": "InternalIP", "address": address}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
            "nodeInfo": {
                "machineID": runtime_id("machine", name)[:32], "systemUUID": _uuid(runtime_id("uuid", name)),
                "bootID": _uuid(runtime_id("boot", name, now)), "kernelVersion": "6.1.0-kubesim-amd64",
                "osImage": "Debian GNU/Linux 12 (bookworm)", "containerRuntimeVersion": CONTAINER_RUNTIME,
                "kubeletVersion": kubelet_version, "operatingSystem": "linux", "architecture": "amd64",
            },
        },
    }


def _uuid(hexdigits: str) -> str:
    h = hexdigits
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def heartbeat_status(status: Obj, now: float) -> Obj:
    """The node status a kubelet posts: healthy conditions with a fresh lastHeartbeatTime; a condition's
    lastTransitionTime moves only when its status changes (e.g. back from Unknown)."""
    healthy = {t: "False" for t, _r, _m in PRESSURE_CONDITIONS} | {"Ready": "True"}
    kept = {c["type"]: c.get("lastTransitionTime", rfc3339(now)) for c in status.get("conditions") or ()
            if c.get("status") == healthy.get(c.get("type", ""))}
    others = [c for c in status.get("conditions") or () if c.get("type") not in healthy]
    return {**status, "conditions": node_conditions(now, heartbeat=now, transitions=kept) + others}


def lease_object(node: str, *, node_uid: str, now: float) -> Obj:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": node, "namespace": LEASE_NAMESPACE,
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node, "uid": node_uid}]},
            "spec": {"holderIdentity": node, "leaseDurationSeconds": LEASE_DURATION_S,
                     "renewTime": micro_time(now)}}


# -- the node lifecycle controller -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NodeHealth:
    """What the node lifecycle controller writes: new conditions and/or taints (None = leave as is)."""

    conditions: list[Obj] | None
    taints: list[Obj] | None
    reason: str


def node_health(node: Obj, *, stale: bool, now: float) -> NodeHealth:
    """Upstream's monitorNodeHealth + taint passes: a node whose kubelet stopped posting (lease and status
    older than the grace period) gets every condition Unknown ("Kubelet stopped posting node status.");
    Ready Unknown means the unreachable taints, Ready False the not-ready ones (NoExecute with timeAdded,
    and NoSchedule); a Ready node loses both."""
    status = node.get("status") or {}
    conditions = status.get("conditions") or []
    new_conditions = None
    reason = "healthy"
    if stale and any(c.get("status") != "Unknown" for c in conditions if c.get("type") == "Ready"):
        ts = rfc3339(now)
        new_conditions = [{**c, "status": "Unknown", "reason": "NodeStatusUnknown",
                           "message": "Kubelet stopped posting node status.", "lastTransitionTime": ts}
                          if c.get("type") in ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure") else c
                          for c in conditions]
        reason = "stopped posting status"
    ready = next((c.get("status") for c in new_conditions or conditions if c.get("type") == "Ready"), None)
    want = UNREACHABLE if ready == "Unknown" else NOT_READY if ready == "False" else None
    taints = list((node.get("spec") or {}).get("taints") or [])
    kept = [t for t in taints if t.get("key") not in (UNREACHABLE, NOT_READY) or t.get("key") == want]
    for effect in ("NoSchedule", "NoExecute") if want else ():
        if not any(t.get("key") == want and t.get("effect") == effect for t in kept):
            taint: Obj = {"key": want, "effect": effect}
            if effect == "NoExecute":
                taint["timeAdded"] = rfc3339(now)
            kept.append(taint)
    new_taints = kept if kept != taints else None
    if want and reason == "healthy":
        reason = f"Ready={ready}"
    return NodeHealth(new_conditions, new_taints, reason)


# -- NoExecute -------------------------------------------------------------------------------------------------
def tolerates(toleration: Obj, taint: Obj) -> bool:
    """v1.Toleration.ToleratesTaint."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    return op == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def eviction_time(taints: Iterable[Obj], tolerations: Sequence[Obj], *, now: float) -> float | None:
    """When the taint manager deletes a pod for the node's NoExecute taints: `now` for an untolerated taint,
    else the earliest timeAdded + tolerationSeconds over the taints (the minimum tolerationSeconds of the
    matching tolerations); None when every NoExecute taint is tolerated forever."""
    deadline: float | None = None
    for taint in taints:
        if taint.get("effect") != "NoExecute":
            continue
        matching = [t for t in tolerations if tolerates(t, taint)]
        if not matching:
            return now
        seconds = [t["tolerationSeconds"] for t in matching if t.get("tolerationSeconds") is not None]
        if not seconds:
            continue
        added = parse_time(taint.get("timeAdded")) or now
        at = added + max(0, min(seconds))
        deadline = at if deadline is None else min(deadline, at)
    return deadline


# -- pod status ------------------------------------------------------------------------------------------------
def _condition(typ: str, ok: bool, ts: str, reason: str = "", message: str = "") -> Obj:
    c: Obj = {"type": typ, "status": "True" if ok else "False", "lastProbeTime": None, "lastTransitionTime": ts}
    if not ok and reason:
        c["reason"] = reason
        if message:
            c["message"] = message
    return c


def _kept_transition(old: Obj, typ: str, ok: bool, ts: str) -> str:
    for c in old.get("conditions") or ():
        if c.get("type") == typ and c.get("status") == ("True" if ok else "False"):
            return c.get("lastTransitionTime") or ts
    return ts


def pod_status(pod: Obj, *, host_ip: str, pod_ip: str | None, started: Mapping[str, float] | None,
               ready: Mapping[str, bool], restarts: Mapping[str, int], last_state: Mapping[str, Obj],
               container_ids: Mapping[str, str], start_time: float, now: float, stopped: bool = False) -> Obj:
    """The status the kubelet's status manager writes. `started` None: the sandbox is being created (Pending,
    ContainerCreating); else each container's start time (Running); `stopped`: a deleted pod's containers
    exited at `now` after SIGTERM (Succeeded). Conditions in kubelet order, each keeping its
    lastTransitionTime until its status flips."""
    old = pod.get("status") or {}
    spec = pod.get("spec") or {}
    ts = rfc3339(now)
    names = [c["name"] for c in spec.get("containers") or ()]
    statuses = []
    for c in spec.get("containers") or ():
        n = c["name"]
        s: Obj = {"name": n, "state": {}, "lastState": dict(last_state.get(n) or {}),
                  "ready": bool(started and ready.get(n)), "restartCount": restarts.get(n, 0),
                  "image": c.get("image", ""), "imageID": "", "started": bool(started)}
        if started:
            s["state"] = {"running": {"startedAt": rfc3339(started[n])}}
            s["image"], s["imageID"] = normalized_image(c.get("image", "")), image_id(c.get("image", ""))
            s["containerID"] = f"containerd://{container_ids[n]}"
            if stopped:
                s["state"] = terminated_state(container_id=container_ids[n], started=started[n], finished=now,
                                              exit_code=0, reason="Completed")
                s["ready"] = s["started"] = False
        else:
            s["state"] = {"waiting": {"reason": "ContainerCreating"}}
        statuses.append(s)
    unready = [n for n in names if not (started and ready.get(n)) or stopped]
    ok, sandbox = not unready, bool(started) and not stopped
    why, msg = ("PodCompleted", "") if stopped else ("ContainersNotReady",
                                                     f"containers with unready status: [{' '.join(unready)}]")
    conds = [
        _condition("PodReadyToStartContainers", sandbox,
                   _kept_transition(old, "PodReadyToStartContainers", sandbox, ts)),
        _condition("Initialized", True, _kept_transition(old, "Initialized", True, ts)),
        _condition("Ready", ok, _kept_transition(old, "Ready", ok, ts), why, msg),
        _condition("ContainersReady", ok, _kept_transition(old, "ContainersReady", ok, ts), why, msg),
    ]
    known = {c["type"] for c in conds}
    conds += [c for c in old.get("conditions") or () if c.get("type") not in known]
    if not any(c["type"] == "PodScheduled" for c in conds):  # created with spec.nodeName, never scheduled
        conds.append(_condition("PodScheduled", True, ts))
    status: Obj = {"phase": "Succeeded" if stopped else "Running" if started else "Pending", "conditions": conds,
                   "hostIP": host_ip, "hostIPs": [{"ip": host_ip}]}
    if pod_ip:
        status["podIP"], status["podIPs"] = pod_ip, [{"ip": pod_ip}]
    status["startTime"] = rfc3339(start_time)
    inits = spec.get("initContainers") or ()
    uid = (pod.get("metadata") or {}).get("uid", "")
    if inits:
        status["initContainerStatuses"] = [
            {"name": c["name"], "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                                                         "startedAt": rfc3339(start_time),
                                                         "finishedAt": rfc3339(start_time),
                                                         "containerID": f"containerd://{runtime_id(uid, c['name'])}"}},
             "lastState": {}, "ready": True, "restartCount": 0, "image": normalized_image(c.get("image", "")),
             "imageID": image_id(c.get("image", "")), "started": False} for c in inits]
    status["containerStatuses"] = statuses
    status["qosClass"] = old.get("qosClass") or "BestEffort"
    return status


def terminated_state(*, container_id: str, started: float, finished: float, exit_code: int, reason: str) -> Obj:
    """A container's lastState after it exited (e.g. OOMKilled, 137)."""
    return {"terminated": {"exitCode": exit_code, "reason": reason, "startedAt": rfc3339(started),
                           "finishedAt": rfc3339(finished), "containerID": f"containerd://{container_id}"}}


def disruption_condition(now: float) -> Obj:
    """The condition the taint manager adds before deleting a pod for a NoExecute taint."""
    return {"type": "DisruptionTarget", "status": "True", "lastProbeTime": None,
            "lastTransitionTime": rfc3339(now), "reason": "DeletionByTaintManager",
            "message": "Taint manager: deleting due to NoExecute taint"}


def readiness_delay(container: Obj) -> float:
    """Seconds from a container's start until its readiness probe first succeeds (0 without a probe)."""
    probe = container.get("readinessProbe")
    if not probe:
        return 0.0
    return float(probe.get("initialDelaySeconds") or 0)
