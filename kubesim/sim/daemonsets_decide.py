"""The DaemonSet controller's decision at a basic level (pkg/controller/daemon): which nodes should run a
daemon pod (node name, nodeSelector, required node affinity, taints against the pod's tolerations plus the
ones upstream adds to every daemon pod), which pods to create and delete, a rolling update without surge,
and the status. Pods are created unbound with node affinity `matchFields metadata.name In [node]`; the
scheduler binds them. Pure; no I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubesim.sim import workloads_decide as wd
from kubesim.sim.workloads_decide import Obj

BURST_REPLICAS = 250
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"
TEMPLATE_GENERATION_LABEL = "pod-template-generation"
# AddOrUpdateDaemonPodTolerations: daemon pods survive node problems and ignore pressure and cordons
_DAEMON_TOLERATIONS: tuple[tuple[str, str], ...] = (
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
)
_HOST_NETWORK_TOLERATION = ("node.kubernetes.io/network-unavailable", "NoSchedule")


@dataclass(frozen=True)
class DaemonSetActions:
    """One sync: adopt/release pods (names), create a pod on each of `create_on` (node names), delete
    `delete` (pod names), emit `events` ((type, reason, message)), then write `status`."""

    adopt: tuple[str, ...]
    release: tuple[str, ...]
    create_on: tuple[str, ...]
    delete: tuple[str, ...]
    events: tuple[tuple[str, str, str], ...]
    status: Obj
    requeue_after_s: float | None = None


# -- node eligibility ------------------------------------------------------------------------------------------
def with_daemon_tolerations(spec: Obj) -> Obj:
    """AddOrUpdateDaemonPodTolerations on a (shallow) copy of a pod spec."""
    spec = dict(spec)
    wanted = list(_DAEMON_TOLERATIONS) + ([_HOST_NETWORK_TOLERATION] if spec.get("hostNetwork") else [])
    tolerations = list(spec.get("tolerations") or ())
    for key, effect in wanted:
        tol = {"key": key, "operator": "Exists", "effect": effect}
        same = [i for i, t in enumerate(tolerations) if t.get("key", "") == key and t.get("effect", "") == effect
                and t.get("operator", "Equal") == "Exists" and t.get("value", "") == ""]
        if not same:
            tolerations.append(tol)
        else:
            for i in same:
                tolerations[i] = tol
    spec["tolerations"] = tolerations
    return spec


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """Toleration.ToleratesTaint."""
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("key") and toleration["key"] != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    return op == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated(taints: Iterable[Mapping[str, Any]], tolerations: list[Mapping[str, Any]],
                effects: tuple[str, ...]) -> bool:
    return any(t.get("effect") in effects and not any(tolerates(tol, t) for tol in tolerations) for t in taints)


def _requirement_matches(req: Mapping[str, Any], value: str | None) -> bool:
    op = req.get("operator")
    values = [str(v) for v in req.get("values") or ()]
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and len(values) == 1:
        try:
            have, want = int(value), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def node_selector_term_matches(term: Mapping[str, Any], node: Obj) -> bool:
    exprs = term.get("matchExpressions") or ()
    fields = term.get("matchFields") or ()
    if not exprs and not fields:
        return False
    labels = wd.meta(node).get("labels") or {}
    if not all(_requirement_matches(r, labels.get(r.get("key", ""))) for r in exprs):
        return False
    return all(r.get("key") == "metadata.name" and _requirement_matches(r, wd.meta(node).get("name"))
               for r in fields)


def fits_node_affinity(pod_spec: Obj, node: Obj) -> bool:
    """nodeaffinity.GetRequiredNodeAffinity(pod).Match(node): nodeSelector and required node affinity."""
    labels = wd.meta(node).get("labels") or {}
    if not wd.labels_match(labels, pod_spec.get("nodeSelector") or {}):
        return False
    required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if not required:
        return True
    return any(node_selector_term_matches(t, node) for t in required.get("nodeSelectorTerms") or ())


def daemon_pod_spec(ds: Obj) -> Obj:
    """The template's pod spec with the daemon tolerations (what eligibility is judged on)."""
    return with_daemon_tolerations(((ds.get("spec") or {}).get("template") or {}).get("spec") or {})


def should_run(ds: Obj, node: Obj, *, pod_spec: Obj | None = None) -> tuple[bool, bool]:
    """NodeShouldRunDaemonPod: (should run a new daemon pod, should keep an existing one running).
    `pod_spec` is `daemon_pod_spec(ds)` when the caller already has it."""
    spec = daemon_pod_spec(ds) if pod_spec is None else pod_spec
    node_name = wd.meta(node).get("name")
    if spec.get("nodeName") and spec["nodeName"] != node_name:
        return False, False
    if not fits_node_affinity(spec, node):
        return False, False
    taints = (node.get("spec") or {}).get("taints") or ()
    tolerations = spec.get("tolerations") or []
    if untolerated(taints, tolerations, ("NoSchedule", "NoExecute")):
        return False, not untolerated(taints, tolerations, ("NoExecute",))
    return True, True


# -- pods ------------------------------------------------------------------------------------------------------
def template_generation(ds: Obj) -> str | None:
    return (wd.meta(ds).get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION)


def current_hash(ds: Obj) -> str:
    collisions = (ds.get("status") or {}).get("collisionCount")
    return wd.revision_hash(ds, None if collisions is None else int(collisions))


def daemon_pod(ds: Obj, node_name: str, pod_hash: str) -> Obj:
    """CreatePodTemplate plus ReplaceDaemonSetPodNodeNameNodeAffinity: the pod to create for `node_name`."""
    template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
    template["spec"] = with_daemon_tolerations(template.get("spec") or {})
    labels = template.setdefault("metadata", {}).setdefault("labels", {})
    generation = template_generation(ds)
    if generation is not None:
        labels[TEMPLATE_GENERATION_LABEL] = generation
    labels[wd.REVISION_HASH] = pod_hash
    term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}
    affinity = template["spec"].setdefault("affinity", {}) or {}
    template["spec"]["affinity"] = affinity
    node_affinity = affinity.setdefault("nodeAffinity", {}) or {}
    affinity["nodeAffinity"] = node_affinity
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if not required:
        node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [term]}
    else:
        required["nodeSelectorTerms"] = [term]
    return wd.pod_from_template(template, namespace=wd.meta(ds).get("namespace", ""),
                                owner_ref=wd.controller_ref(ds, kind="DaemonSet"),
                                generate_name=wd.pod_prefix(wd.meta(ds)["name"]))


def target_node(pod: Obj) -> str | None:
    """util.GetTargetNodeName: spec.nodeName, else the node its matchFields affinity names."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in required.get("nodeSelectorTerms") or ():
        for req in term.get("matchFields") or ():
            values = req.get("values") or ()
            if req.get("key") == "metadata.name" and req.get("operator") == "In" and len(values) == 1:
                return str(values[0])
    return None


def is_updated(pod: Obj, pod_hash: str, generation: str | None) -> bool:
    labels = wd.meta(pod).get("labels") or {}
    return labels.get(wd.REVISION_HASH) == pod_hash or (
        generation is not None and labels.get(TEMPLATE_GENERATION_LABEL) == generation)


def _oldest_first(pod: Obj) -> tuple[bool, float, str]:
    """podByCreationTimestampAndPhase: scheduled first, then older, then by name."""
    return (not (pod.get("spec") or {}).get("nodeName"), wd.created_at(pod) or 0.0, wd.meta(pod).get("name", ""))


# -- the sync --------------------------------------------------------------------------------------------------
def daemonset_plan(ds: Obj, nodes: Iterable[Obj], pods: Iterable[Obj], now: float) -> DaemonSetActions:
    """syncDaemonSet over all `nodes` and `pods` (the namespace's pods the set may own)."""
    nodes = sorted(nodes, key=lambda n: wd.meta(n).get("name", ""))
    claimed = wd.claim(ds, pods, match=wd.selector_matcher(ds))
    owned = [*claimed.owned, *claimed.adopt]
    by_node: dict[str, list[Obj]] = {}
    for pod in owned:
        node = target_node(pod)
        gone = wd.phase(pod) in ("Succeeded", "Failed") and wd.meta(pod).get("deletionTimestamp")
        if node is not None and not gone:
            by_node.setdefault(node, []).append(pod)
    pod_spec = daemon_pod_spec(ds)
    eligible = {wd.meta(n)["name"]: should_run(ds, n, pod_spec=pod_spec) for n in nodes}
    pod_hash = current_hash(ds)
    create_on: list[str] = []
    delete: list[str] = []
    events: list[tuple[str, str, str]] = []
    if not wd.meta(ds).get("deletionTimestamp"):
        for node in nodes:
            name = wd.meta(node)["name"]
            _manage_node(name, eligible[name], by_node.get(name, []), create_on, delete, events)
        known = {wd.meta(n)["name"] for n in nodes}
        delete += [wd.meta(p)["name"] for n, ps in sorted(by_node.items()) if n not in known for p in ps
                   if not (p.get("spec") or {}).get("nodeName")]
        strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
        if not create_on and not delete and strategy.get("type", "RollingUpdate") == "RollingUpdate":
            delete += _rolling_update(ds, eligible, by_node, pod_hash, now)
    status = _status(ds, eligible, by_node, pod_hash, now)
    min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
    requeue = None
    if min_ready > 0 and status["numberReady"] != status.get("numberAvailable", 0):
        requeue = wd.next_availability(owned, min_ready, now)
    return DaemonSetActions(
        adopt=tuple(wd.meta(p)["name"] for p in claimed.adopt),
        release=tuple(wd.meta(p)["name"] for p in claimed.release),
        create_on=tuple(create_on[:BURST_REPLICAS]), delete=tuple(dict.fromkeys(delete[:BURST_REPLICAS])),
        events=tuple(events), status=status, requeue_after_s=requeue)


def _manage_node(name: str, eligible: tuple[bool, bool], pods: list[Obj], create_on: list[str], delete: list[str],
                 events: list[tuple[str, str, str]]) -> None:
    """podsShouldBeOnNode (without surge)."""
    run, keep = eligible
    if run and not pods:
        create_on.append(name)
    elif keep:
        running = []
        for pod in pods:
            if wd.meta(pod).get("deletionTimestamp"):
                continue
            if wd.phase(pod) == "Failed":
                where = f"{wd.meta(pod).get('namespace')}/{wd.meta(pod)['name']}"
                events.append(("Warning", "FailedDaemonPod",
                               f"Found failed daemon pod {where} on node {name}, will try to kill it"))
                delete.append(wd.meta(pod)["name"])
            elif wd.phase(pod) == "Succeeded":
                delete.append(wd.meta(pod)["name"])
            else:
                running.append(pod)
        running.sort(key=_oldest_first)
        delete += [wd.meta(p)["name"] for p in running[1:]]
    elif pods:
        delete += [wd.meta(p)["name"] for p in pods if not wd.meta(p).get("deletionTimestamp")]


def _rolling_update(ds: Obj, eligible: dict[str, tuple[bool, bool]], by_node: dict[str, list[Obj]], pod_hash: str,
                    now: float) -> list[str]:
    """rollingUpdate without surge: replace old pods while at most maxUnavailable nodes lack an available one."""
    spec = ds.get("spec") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    generation = template_generation(ds)
    desired = sum(1 for run, _ in eligible.values() if run)
    rolling = (spec.get("updateStrategy") or {}).get("rollingUpdate") or {}
    max_unavailable = wd.scaled_value(rolling.get("maxUnavailable", 1), desired, round_up=True)
    unavailable = 0
    replace: list[str] = []
    candidates: list[str] = []
    for node in sorted(by_node):
        alive = [p for p in by_node[node] if not wd.meta(p).get("deletionTimestamp")]
        new = [p for p in alive if is_updated(p, pod_hash, generation)]
        old = [p for p in alive if not is_updated(p, pod_hash, generation)]
        if len(new) > 1 or len(old) > 1 or (not new and not old) or (new and old):
            unavailable += 1
        elif new:
            unavailable += not wd.is_available(new[0], min_ready, now)
        elif not wd.is_available(old[0], min_ready, now):
            replace.append(wd.meta(old[0])["name"])
            unavailable += 1
        elif unavailable < max_unavailable:
            candidates.append(wd.meta(old[0])["name"])
    room = min(max(max_unavailable - unavailable, 0), len(candidates))
    return replace + candidates[:room]


def _status(ds: Obj, eligible: dict[str, tuple[bool, bool]], by_node: dict[str, list[Obj]], pod_hash: str,
            now: float) -> Obj:
    """updateDaemonSetStatus, serialized with Go's omitempty."""
    min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
    generation = template_generation(ds)
    desired = current = misscheduled = ready = available = updated = 0
    for name, (run, _) in eligible.items():
        pods = by_node.get(name) or []
        if run:
            desired += 1
            if not pods:
                continue
            current += 1
            pod = min(pods, key=_oldest_first)
            if wd.is_ready(pod):
                ready += 1
                available += wd.is_available(pod, min_ready, now)
            updated += is_updated(pod, pod_hash, generation)
        elif pods:
            misscheduled += 1
    status: Obj = {"currentNumberScheduled": current, "numberMisscheduled": misscheduled,
                   "desiredNumberScheduled": desired, "numberReady": ready}
    optional = {"observedGeneration": int(wd.meta(ds).get("generation") or 0), "updatedNumberScheduled": updated,
                "numberAvailable": available, "numberUnavailable": desired - available}
    status.update({k: v for k, v in optional.items() if v})
    old = ds.get("status") or {}
    for key in ("collisionCount", "conditions"):
        if old.get(key) is not None:
            status[key] = old[key]
    return status
