"""Deployment arithmetic and status (pkg/controller/deployment/util, sync.go calculateStatus, progress.go):
surge and unavailability fenceposts, replica sums over ReplicaSets, revision and replica annotations, the
Available and Progressing conditions with upstream reasons and messages. Pure; no I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

from kubesim.sim import workloads_decide as wd
from kubesim.sim.workloads_decide import Obj

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
_SKIP_COPY = frozenset({"kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY,
                        DESIRED_REPLICAS, MAX_REPLICAS, "deprecated.deployment.rollback.to"})
MAX_REVISION_HISTORY_CHARS = 2000
MAX_INT32 = 2**31 - 1

AVAILABLE, PROGRESSING, REPLICA_FAILURE = "Available", "Progressing", "ReplicaFailure"
MIN_AVAILABLE, MIN_UNAVAILABLE = "MinimumReplicasAvailable", "MinimumReplicasUnavailable"
NEW_RS_CREATED, FOUND_NEW_RS, RS_UPDATED = "NewReplicaSetCreated", "FoundNewReplicaSet", "ReplicaSetUpdated"
NEW_RS_AVAILABLE, TIMED_OUT, FAILED_RS_CREATE = "NewReplicaSetAvailable", "ProgressDeadlineExceeded", \
    "ReplicaSetCreateError"
PAUSED, RESUMED = "DeploymentPaused", "DeploymentResumed"


# -- spec ------------------------------------------------------------------------------------------------------
def spec(d: Obj) -> Obj:
    return d.get("spec") or {}


def replicas(obj: Obj | None) -> int:
    """`spec.replicas` of a Deployment or ReplicaSet (0 for a missing ReplicaSet)."""
    if obj is None:
        return 0
    value = spec(obj).get("replicas")
    return 1 if value is None else int(value)


def is_rolling(d: Obj) -> bool:
    return (spec(d).get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"


def _rolling(d: Obj) -> Obj:
    return (spec(d).get("strategy") or {}).get("rollingUpdate") or {}


def fenceposts(d: Obj) -> tuple[int, int]:
    """ResolveFenceposts: (surge, unavailable) against spec.replicas; both 0 makes unavailable 1."""
    total = replicas(d)
    surge = wd.scaled_value(_rolling(d).get("maxSurge"), total, round_up=True)
    unavailable = wd.scaled_value(_rolling(d).get("maxUnavailable"), total, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(d: Obj) -> int:
    return fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: Obj) -> int:
    if not is_rolling(d) or replicas(d) == 0:
        return 0
    return min(fenceposts(d)[1], replicas(d))


def has_progress_deadline(d: Obj) -> bool:
    value = spec(d).get("progressDeadlineSeconds")
    return value is not None and int(value) != MAX_INT32


# -- sums over ReplicaSets -------------------------------------------------------------------------------------
def _status_sum(rss: Iterable[Obj | None], key: str) -> int:
    return sum(int((rs.get("status") or {}).get(key) or 0) for rs in rss if rs is not None)


def replica_count(rss: Iterable[Obj | None]) -> int:
    return sum(replicas(rs) for rs in rss if rs is not None)


def actual_count(rss: Iterable[Obj | None]) -> int:
    return _status_sum(rss, "replicas")


def terminating_count(rss: Iterable[Obj | None]) -> int | None:
    total = 0
    for rs in rss:
        if rs is None:
            continue
        value = (rs.get("status") or {}).get("terminatingReplicas")
        if value is None:
            return None
        total += int(value)
    return total


def active(rss: Iterable[Obj | None]) -> list[Obj]:
    """FilterActiveReplicaSets: ReplicaSets with spec.replicas > 0."""
    return [rs for rs in rss if rs is not None and replicas(rs) > 0]


def by_creation(rs: Obj) -> tuple[float, str]:
    """ReplicaSetsByCreationTimestamp's key."""
    return wd.created_at(rs) or 0.0, wd.meta(rs).get("name", "")


def revision_of(obj: Obj) -> int:
    try:
        return int((wd.meta(obj).get("annotations") or {}).get(REVISION, "0") or 0)
    except ValueError:
        return 0


def new_rs_new_replicas(d: Obj, all_rss: Sequence[Obj | None], new_rs: Obj) -> int:
    """NewRSNewReplicas: how far the new ReplicaSet may grow now."""
    if not is_rolling(d):
        return replicas(d)
    surge = wd.scaled_value(_rolling(d).get("maxSurge"), replicas(d), round_up=True)
    current = replica_count(all_rss)
    max_total = replicas(d) + surge
    if current >= max_total:
        return replicas(new_rs)
    return replicas(new_rs) + min(max_total - current, replicas(d) - replicas(new_rs))


def is_saturated(d: Obj, rs: Obj | None) -> bool:
    if rs is None:
        return False
    try:
        desired = int((wd.meta(rs).get("annotations") or {}).get(DESIRED_REPLICAS, ""))
    except ValueError:
        return False
    want = replicas(d)
    return replicas(rs) == want and desired == want and \
        int((rs.get("status") or {}).get("availableReplicas") or 0) == want


# -- annotations -----------------------------------------------------------------------------------------------
def _annotations(obj: Obj) -> dict[str, str]:
    m = obj.setdefault("metadata", {})
    if m.get("annotations") is None:
        m["annotations"] = {}
    return m["annotations"]  # type: ignore[no-any-return]


def set_replicas_annotations(rs: Obj, desired: int, max_replicas: int) -> bool:
    ann = _annotations(rs)
    changed = False
    for key, value in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(max_replicas))):
        if ann.get(key) != value:
            ann[key] = value
            changed = True
    return changed


def replicas_annotations_need_update(rs: Obj, desired: int, max_replicas: int) -> bool:
    ann = wd.meta(rs).get("annotations") or {}
    return ann.get(DESIRED_REPLICAS) != str(desired) or ann.get(MAX_REPLICAS) != str(max_replicas)


def set_new_rs_annotations(d: Obj, rs: Obj, new_revision: str, *, exists: bool) -> bool:
    """SetNewReplicaSetAnnotations: copy the Deployment's annotations, raise the revision (keeping the
    history when a ReplicaSet comes back), and give a new ReplicaSet its replica annotations."""
    ann = _annotations(rs)
    changed = False
    for key, value in (wd.meta(d).get("annotations") or {}).items():
        if key not in _SKIP_COPY and ann.get(key) != value:
            ann[key] = value
            changed = True
    old = ann.get(REVISION)
    try:
        old_int = int(old) if old else 0
    except ValueError:
        return False
    new_int = int(new_revision)
    if old_int < new_int:
        ann[REVISION] = new_revision
        changed = True
        if old is not None:
            history = ann.get(REVISION_HISTORY, "")
            olds = history.split(",") if history else []
            if not olds:
                ann[REVISION_HISTORY] = old
            else:
                total, start = len(history) + len(old) + 1, 0
                while total > MAX_REVISION_HISTORY_CHARS and start < len(olds):
                    total -= len(olds[start]) + 1
                    start += 1
                if total <= MAX_REVISION_HISTORY_CHARS:
                    ann[REVISION_HISTORY] = ",".join([*olds[start:], old])
    if not exists and set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)):
        changed = True
    return changed


def set_deployment_revision(d: Obj, revision: str | None) -> bool:
    ann = _annotations(d)
    if revision is None or ann.get(REVISION) == revision:
        return False
    ann[REVISION] = revision
    return True


# -- conditions ------------------------------------------------------------------------------------------------
def new_condition(ctype: str, status: str, reason: str, message: str, now: float) -> Obj:
    ts = wd.rfc3339(now)
    return {"type": ctype, "status": status, "lastUpdateTime": ts, "lastTransitionTime": ts, "reason": reason,
            "message": message}


def set_condition(status: Obj, cond: Obj) -> None:
    """SetDeploymentCondition: same status and reason is a no-op; same status keeps lastTransitionTime; the
    condition moves to the end."""
    current = wd.get_condition(status, cond["type"])
    if current is not None and current.get("status") == cond["status"] and current.get("reason") == cond["reason"]:
        return
    if current is not None and current.get("status") == cond["status"]:
        cond = {**cond, "lastTransitionTime": current.get("lastTransitionTime")}
    status["conditions"] = [*(c for c in status.get("conditions") or () if c.get("type") != cond["type"]), cond]


def calculate_status(all_rss: Sequence[Obj | None], new_rs: Obj | None, d: Obj, now: float) -> Obj:
    """calculateStatus, serialized with Go's omitempty."""
    old = d.get("status") or {}
    available = _status_sum(all_rss, "availableReplicas")
    unavailable = max(replica_count(all_rss) - available, 0)
    status: Obj = {}
    counts = {"observedGeneration": int(wd.meta(d).get("generation") or 0), "replicas": actual_count(all_rss),
              "updatedReplicas": actual_count([new_rs]), "readyReplicas": _status_sum(all_rss, "readyReplicas"),
              "availableReplicas": available, "unavailableReplicas": unavailable}
    status.update({k: v for k, v in counts.items() if v})
    terminating = terminating_count(all_rss)
    if terminating is not None:
        status["terminatingReplicas"] = terminating
    if old.get("conditions"):
        status["conditions"] = copy.deepcopy(old["conditions"])
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if available >= replicas(d) - max_unavailable(d):
        set_condition(status, new_condition(AVAILABLE, "True", MIN_AVAILABLE, "Deployment has minimum availability.",
                                            now))
    else:
        set_condition(status, new_condition(AVAILABLE, "False", MIN_UNAVAILABLE,
                                            "Deployment does not have minimum availability.", now))
    return status


def deployment_complete(d: Obj, status: Obj) -> bool:
    want = replicas(d)
    return (status.get("updatedReplicas", 0) == want and status.get("replicas", 0) == want
            and status.get("availableReplicas", 0) == want
            and status.get("observedGeneration", 0) >= int(wd.meta(d).get("generation") or 0))


def deployment_progressing(d: Obj, status: Obj) -> bool:
    old = d.get("status") or {}
    old_old = old.get("replicas", 0) - old.get("updatedReplicas", 0)
    new_old = status.get("replicas", 0) - status.get("updatedReplicas", 0)
    return (status.get("updatedReplicas", 0) > old.get("updatedReplicas", 0) or new_old < old_old
            or status.get("readyReplicas", 0) > old.get("readyReplicas", 0)
            or status.get("availableReplicas", 0) > old.get("availableReplicas", 0))


def deployment_timed_out(d: Obj, status: Obj, now: float) -> bool:
    if not has_progress_deadline(d):
        return False
    cond = wd.get_condition(status, PROGRESSING)
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    since = wd.parse_time(cond["lastUpdateTime"]) if cond.get("lastUpdateTime") else now
    return since + int(spec(d)["progressDeadlineSeconds"]) < now


def rollout_status(all_rss: Sequence[Obj | None], new_rs: Obj | None, d: Obj, now: float) -> Obj:
    """syncRolloutStatus's new status: calculateStatus plus the Progressing and ReplicaFailure conditions."""
    status = calculate_status(all_rss, new_rs, d, now)
    if not has_progress_deadline(d):
        wd.remove_condition(status, PROGRESSING)
    current = wd.get_condition(d.get("status") or {}, PROGRESSING)
    complete = (status.get("replicas", 0) == status.get("updatedReplicas", 0) and current is not None
                and current.get("reason") == NEW_RS_AVAILABLE)
    name = wd.meta(d).get("name")
    subject = f'ReplicaSet "{wd.meta(new_rs)["name"]}"' if new_rs is not None else f'Deployment "{name}"'
    if has_progress_deadline(d) and not complete:
        if deployment_complete(d, status):
            set_condition(status, new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE,
                                                f"{subject} has successfully progressed.", now))
        elif deployment_progressing(d, status):
            cond = new_condition(PROGRESSING, "True", RS_UPDATED, f"{subject} is progressing.", now)
            if current is not None:
                if current.get("status") == "True":
                    cond["lastTransitionTime"] = current.get("lastTransitionTime")
                wd.remove_condition(status, PROGRESSING)
            set_condition(status, cond)
        elif deployment_timed_out(d, status, now):
            set_condition(status, new_condition(PROGRESSING, "False", TIMED_OUT,
                                                f"{subject} has timed out progressing.", now))
    failures = _replica_failures([new_rs]) or _replica_failures(all_rss)
    if failures:
        f = failures[0]
        set_condition(status, {"type": REPLICA_FAILURE, "status": f.get("status"),
                               "lastUpdateTime": f.get("lastTransitionTime"),
                               "lastTransitionTime": f.get("lastTransitionTime"), "reason": f.get("reason"),
                               "message": f.get("message")})
    else:
        wd.remove_condition(status, REPLICA_FAILURE)
    return status


def _replica_failures(rss: Iterable[Obj | None]) -> list[Obj]:
    return [c for rs in rss if rs is not None
            for c in (rs.get("status") or {}).get("conditions") or () if c.get("type") == REPLICA_FAILURE]


def stuck_requeue_after(d: Obj, status: Obj, now: float) -> float | None:
    """requeueStuckDeployment: when to look again for a progress deadline."""
    current = wd.get_condition(d.get("status") or {}, PROGRESSING)
    if not has_progress_deadline(d) or current is None:
        return None
    if deployment_complete(d, status) or current.get("reason") == TIMED_OUT:
        return None
    updated = wd.parse_time(current["lastUpdateTime"]) if current.get("lastUpdateTime") else now
    after = updated + int(spec(d)["progressDeadlineSeconds"]) - now
    return 1.0 if after < 1 else after + 1.0
