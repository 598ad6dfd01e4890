"""The StatefulSet controller's decision at a basic level (pkg/controller/statefulset stateful_set_control.go
updateStatefulSet): pods named `<set>-<ordinal>` created in order (OrderedReady: the next only once every
earlier one is Running, Ready and available; Parallel: all at once), removed from the highest ordinal, and
replaced from the highest ordinal down to the partition when the template changes. Pure; no I/O.

Not modelled: ControllerRevision objects (the revision name is computed as upstream names it), recreating
pods below the partition at the old revision, PersistentVolumeClaims (pods get the claim volumes upstream
gives them, but no claim is created), maxUnavailable for updates.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from dataclasses import dataclass

from kubesim.sim import workloads_decide as wd
from kubesim.sim.workloads_decide import Obj

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
_ORDINAL = re.compile(r"(.*)-([0-9]+)\Z")


@dataclass(frozen=True)
class StatefulSetActions:
    """One sync: adopt/release pods (names), create `create` (full pod objects, in order), delete `delete`
    (names), then write `status`."""

    adopt: tuple[str, ...]
    release: tuple[str, ...]
    create: tuple[Obj, ...]
    delete: tuple[str, ...]
    status: Obj
    requeue_after_s: float | None = None


def ordinal_of(sts_name: str, pod: Obj) -> int:
    """getParentNameAndOrdinal: the ordinal of `<set>-<n>`, -1 for a pod of another name."""
    m = _ORDINAL.match(wd.meta(pod).get("name", ""))
    if m is None or m.group(1) != sts_name:
        return -1
    return int(m.group(2))


def revision_name(sts: Obj) -> str:
    """The update revision: ControllerRevisionName(set name, HashControllerRevision(patch, collisionCount))."""
    collisions = int((sts.get("status") or {}).get("collisionCount") or 0)
    return f"{wd.meta(sts)['name'][:223]}-{wd.revision_hash(sts, collisions)}"


def _spec(sts: Obj) -> Obj:
    return sts.get("spec") or {}


def _start(sts: Obj) -> int:
    return int((_spec(sts).get("ordinals") or {}).get("start") or 0)


def _replicas(sts: Obj) -> int:
    value = _spec(sts).get("replicas")
    return 1 if value is None else int(value)


def _min_ready(sts: Obj) -> int:
    return int(_spec(sts).get("minReadySeconds") or 0)


def _created(pod: Obj) -> bool:
    return bool(wd.phase(pod))


def _terminating(pod: Obj) -> bool:
    return bool(wd.meta(pod).get("deletionTimestamp"))


def _healthy(pod: Obj) -> bool:
    return wd.is_running_and_ready(pod) and not _terminating(pod)


def _available(pod: Obj, min_ready: int, now: float) -> bool:
    return wd.phase(pod) == "Running" and wd.is_available(pod, min_ready, now)


def new_pod(sts: Obj, ordinal: int, revision: str) -> Obj:
    """newStatefulSetPod + setPodRevision: the template's pod named for its ordinal, with its identity labels,
    hostname, subdomain and claim volumes."""
    name = f"{wd.meta(sts)['name']}-{ordinal}"
    pod = wd.pod_from_template(_spec(sts).get("template") or {}, namespace=wd.meta(sts).get("namespace", ""),
                               owner_ref=wd.controller_ref(sts, kind="StatefulSet"),
                               generate_name=wd.pod_prefix(wd.meta(sts)["name"]), name=name)
    labels = pod["metadata"].setdefault("labels", {})
    labels[POD_NAME_LABEL] = name
    labels[POD_INDEX_LABEL] = str(ordinal)
    labels[wd.REVISION_HASH] = revision
    spec = pod["spec"]
    spec["hostname"] = name
    if _spec(sts).get("serviceName"):
        spec["subdomain"] = _spec(sts)["serviceName"]
    claims = _spec(sts).get("volumeClaimTemplates") or ()
    if claims:
        names = {(c.get("metadata") or {}).get("name") for c in claims}
        volumes = [v for v in spec.get("volumes") or () if v.get("name") not in names]
        for c in claims:
            claim = (c.get("metadata") or {}).get("name")
            volumes.append({"name": claim, "persistentVolumeClaim": {
                "claimName": f"{claim}-{wd.meta(sts)['name']}-{ordinal}"}})
        spec["volumes"] = volumes
    return pod


def statefulset_plan(sts: Obj, pods: Iterable[Obj], now: float) -> StatefulSetActions:
    """One sync over `pods` (the namespace's pods the set may own: its own and orphans)."""
    name = wd.meta(sts)["name"]
    match = wd.selector_matcher(sts)
    claimed = wd.claim(sts, pods, match=lambda p: match(p) and ordinal_of(name, p) >= 0)
    owned = [*claimed.owned, *claimed.adopt]
    update_rev = revision_name(sts)
    current_rev = (sts.get("status") or {}).get("currentRevision") or update_rev
    min_ready = _min_ready(sts)
    start, count = _start(sts), _replicas(sts)
    replicas: list[Obj | None] = [None] * count
    condemned: list[Obj] = []
    for pod in owned:
        ordinal = ordinal_of(name, pod)
        if start <= ordinal < start + count:
            replicas[ordinal - start] = pod
        elif ordinal >= 0:
            condemned.append(pod)
    condemned.sort(key=lambda p: -ordinal_of(name, p))
    status = _status(sts, owned, current_rev, update_rev, now)
    create: list[Obj] = []
    delete: list[str] = []
    strategy = _spec(sts).get("updateStrategy") or {}
    rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
    if not wd.meta(sts).get("deletionTimestamp"):
        monotonic = _spec(sts).get("podManagementPolicy", "OrderedReady") != "Parallel"
        blocked = _process_replicas(sts, replicas, start, update_rev, monotonic, now, create, delete)
        if not blocked:
            blocked = _process_condemned(replicas, condemned, monotonic, min_ready, now, delete)
        if not blocked and rolling:
            partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
            for target in range(len(replicas) - 1, partition - 1, -1):
                pod = replicas[target]
                assert pod is not None
                if (wd.meta(pod).get("labels") or {}).get(wd.REVISION_HASH) != update_rev and not _terminating(pod):
                    delete.append(wd.meta(pod)["name"])
                    status["currentReplicas"] -= 1
                    break
                if not _healthy(pod):
                    break
    if rolling and status["updatedReplicas"] == status["replicas"] and status["readyReplicas"] == status["replicas"]:
        status["currentReplicas"] = status["updatedReplicas"]
        status["currentRevision"] = update_rev
    _omit_zero(status, ("readyReplicas", "currentReplicas", "updatedReplicas", "observedGeneration"))
    requeue = None
    if min_ready > 0 and status["availableReplicas"] != count:
        requeue = wd.next_availability(owned, min_ready, now)
    return StatefulSetActions(
        adopt=tuple(wd.meta(p)["name"] for p in claimed.adopt),
        release=tuple(wd.meta(p)["name"] for p in claimed.release),
        create=tuple(create), delete=tuple(dict.fromkeys(delete)), status=status, requeue_after_s=requeue)


def _process_replicas(sts: Obj, replicas: list[Obj | None], start: int, update_rev: str, monotonic: bool,
                      now: float, create: list[Obj], delete: list[str]) -> bool:
    """processReplica for each ordinal in order; True when a monotonic set must wait."""
    min_ready = _min_ready(sts)
    for i, pod in enumerate(replicas):
        if pod is None:
            pod = replicas[i] = new_pod(sts, start + i, update_rev)
        if wd.phase(pod) in ("Failed", "Succeeded"):
            if not _terminating(pod):
                delete.append(wd.meta(pod)["name"])
            if monotonic:
                return True
            continue
        if not _created(pod):
            create.append(copy.deepcopy(pod))
            if monotonic:
                return True
            continue
        if monotonic and (_terminating(pod) or not wd.is_running_and_ready(pod)
                          or not _available(pod, min_ready, now)):
            return True
    return False


def _process_condemned(replicas: list[Obj | None], condemned: list[Obj], monotonic: bool, min_ready: int,
                       now: float, delete: list[str]) -> bool:
    """processCondemned from the highest ordinal; a monotonic set deletes one at a time, only when healthy
    (or when the pod is the first unhealthy one)."""
    first_unhealthy = next((p for p in [*replicas, *reversed(condemned)] if p is not None and not _healthy(p)),
                           None)
    for pod in condemned:
        if _terminating(pod):
            if monotonic:
                return True
            continue
        if monotonic and pod is not first_unhealthy and (not wd.is_running_and_ready(pod)
                                                         or not _available(pod, min_ready, now)):
            return True
        delete.append(wd.meta(pod)["name"])
        if monotonic:
            return True
    return False


def _status(sts: Obj, pods: list[Obj], current_rev: str, update_rev: str, now: float) -> Obj:
    """computeReplicaStatus with the revisions and collision count."""
    min_ready = _min_ready(sts)
    counts = {"replicas": 0, "readyReplicas": 0, "currentReplicas": 0, "updatedReplicas": 0,
              "availableReplicas": 0}
    for pod in pods:
        if _created(pod):
            counts["replicas"] += 1
        if wd.is_running_and_ready(pod):
            counts["readyReplicas"] += 1
            if _available(pod, min_ready, now):
                counts["availableReplicas"] += 1
        if _created(pod) and not _terminating(pod):
            revision = (wd.meta(pod).get("labels") or {}).get(wd.REVISION_HASH)
            counts["currentReplicas"] += revision == current_rev
            counts["updatedReplicas"] += revision == update_rev
    status: Obj = {"observedGeneration": int(wd.meta(sts).get("generation") or 0), **counts,
                   "currentRevision": current_rev, "updateRevision": update_rev,
                   "collisionCount": int((sts.get("status") or {}).get("collisionCount") or 0)}
    conditions = (sts.get("status") or {}).get("conditions")
    if conditions:
        status["conditions"] = conditions
    return status


def _omit_zero(status: Obj, keys: tuple[str, ...]) -> None:
    for key in keys:
        if not status.get(key):
            status.pop(key, None)
