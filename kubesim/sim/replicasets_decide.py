"""The ReplicaSet controller's decision (pkg/controller/replicaset): which pods it claims, how many it creates,
which it deletes, and the status it writes. Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kubesim.sim import workloads_decide as wd
from kubesim.sim.workloads_decide import Obj

BURST_REPLICAS = 500  # --concurrent-replicaset-syncs' burstReplicas: creations/deletions per sync
REPLICA_FAILURE = "ReplicaFailure"


@dataclass(frozen=True)
class ReplicaSetActions:
    """One sync: adopt and release pods (names), create `create` pods from the template, delete `delete`
    (names, in upstream's order), then write `status`; resync after `requeue_after_s` if set."""

    adopt: tuple[str, ...]
    release: tuple[str, ...]
    create: int
    delete: tuple[str, ...]
    status: Obj
    requeue_after_s: float | None = None


def desired_replicas(rs: Obj) -> int:
    value = (rs.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def min_ready_seconds(obj: Obj) -> int:
    return int((obj.get("spec") or {}).get("minReadySeconds") or 0)


def replicaset_diff(rs: Obj, pods: Iterable[Obj], now: float, *, related: Iterable[Obj] | None = None,
                    manage_error: str | None = None) -> ReplicaSetActions:
    """syncReplicaSet over `pods` (the namespace's pods the ReplicaSet may own: its own and orphans).

    `related` are the pods of the ReplicaSet's siblings (same controller), used to prefer deleting pods
    doubled up on a node; by default the ReplicaSet's own pods. `manage_error` is the error the creations
    or deletions of this sync ended with: the status then carries a ReplicaFailure condition."""
    pods = list(pods)
    match = wd.selector_matcher(rs)
    claimed = wd.claim(rs, [p for p in pods if wd.is_active(p)], match=match)
    active = [*claimed.owned, *claimed.adopt]
    uid = wd.meta(rs).get("uid")
    terminating = [p for p in pods if wd.is_terminating(p) and match(p)
                   and (wd.controller_of(p) or {}).get("uid") == uid]
    create = 0
    delete: list[str] = []
    if not wd.meta(rs).get("deletionTimestamp"):
        diff = len(active) - desired_replicas(rs)
        if diff < 0:
            create = min(-diff, BURST_REPLICAS)
        elif diff > 0:
            victims = wd.pods_to_delete(active, active if related is None else related,
                                        min(diff, BURST_REPLICAS), now)
            delete = [wd.meta(p)["name"] for p in victims]
    status = replicaset_status(rs, active, terminating, now, manage_error=manage_error,
                               create_missing=len(active) < desired_replicas(rs))
    requeue = None
    spec_replicas = desired_replicas(rs)
    min_ready = min_ready_seconds(rs)
    if (min_ready > 0 and status.get("readyReplicas", 0) == spec_replicas
            and status.get("availableReplicas", 0) != spec_replicas):
        requeue = wd.next_availability(active, min_ready, now)
    return ReplicaSetActions(
        adopt=tuple(wd.meta(p)["name"] for p in claimed.adopt),
        release=tuple(wd.meta(p)["name"] for p in claimed.release),
        create=create, delete=tuple(delete), status=status, requeue_after_s=requeue,
    )


def replicaset_status(rs: Obj, active: list[Obj], terminating: list[Obj], now: float, *,
                      manage_error: str | None = None, create_missing: bool = True) -> Obj:
    """calculateStatus + updateReplicaSetStatus's observedGeneration, serialized with Go's omitempty.

    `manage_error` is the error of the last create/delete round (a ReplicaFailure condition); set
    `create_missing` to say whether that round was short of pods (FailedCreate) or over (FailedDelete)."""
    status = dict(rs.get("status") or {})
    template_labels = (((rs.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = min_ready_seconds(rs)
    fully = sum(1 for p in active if wd.labels_match(wd.meta(p).get("labels") or {}, template_labels))
    ready = [p for p in active if wd.is_ready(p)]
    available = sum(1 for p in ready if wd.is_available(p, min_ready, now))
    failure = wd.get_condition(status, REPLICA_FAILURE)
    if manage_error is not None and failure is None:
        reason = "FailedCreate" if create_missing else "FailedDelete"
        status["conditions"] = [*(status.get("conditions") or ()), {
            "type": REPLICA_FAILURE, "status": "True", "lastTransitionTime": wd.rfc3339(now),
            "reason": reason, "message": manage_error}]
    elif manage_error is None and failure is not None:
        wd.remove_condition(status, REPLICA_FAILURE)
    counts = {"replicas": len(active), "fullyLabeledReplicas": fully, "readyReplicas": len(ready),
              "availableReplicas": available,
              "observedGeneration": int(wd.meta(rs).get("generation") or 0)}
    for key, value in counts.items():
        if value or key == "replicas":
            status[key] = value
        else:
            status.pop(key, None)
    status["terminatingReplicas"] = len(terminating)  # DeploymentReplicaSetTerminatingReplicas (beta, on)
    return status
