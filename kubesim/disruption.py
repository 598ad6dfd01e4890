"""PodDisruptionBudget arithmetic: the disruption controller's status computation
(pkg/controller/disruption/disruption.go) and the eviction subresource's decision
(pkg/registry/core/pod/storage/eviction.go), over plain policy/v1 and core/v1 dicts.

Pure; no I/O, no clock: `now` is an RFC 3339 time passed in. Finding the owners' scale, writing the PDB
status and deleting the evicted pod are the caller's.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kubesim import selectors

Obj = dict[str, Any]

DELETION_TIMEOUT = timedelta(minutes=2)  # DeletionTimeout: how long a disrupted pod may take to go away
MAX_DISRUPTED_POD_SIZE = 2000
DISRUPTION_ALLOWED = "DisruptionAllowed"
SUFFICIENT_PODS, INSUFFICIENT_PODS, SYNC_FAILED = "SufficientPods", "InsufficientPods", "SyncFailed"
EVICTION_REFUSED = "Cannot evict pod as it would violate the pod's disruption budget."
MULTIPLE_PDBS = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."


# -- times -----------------------------------------------------------------------------------------------------
def _parse(ts: str) -> datetime:
    t = datetime.fromisoformat(ts)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _fmt(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rfc3339(ts: str) -> str:
    """`ts` as metav1.Time serializes it: UTC, whole seconds."""
    return _fmt(_parse(ts))


# -- pods ------------------------------------------------------------------------------------------------------
def is_pod_ready(pod: Obj) -> bool:
    """podutil.IsPodReady: the Ready condition is True."""
    conditions = (pod.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _pods_of(pdb: Obj, pods: list[Obj]) -> list[Obj]:
    ns = _meta(pdb).get("namespace")
    selector = (pdb.get("spec") or {}).get("selector")
    matcher = selectors.label_selector_from_dict(selector)
    return [p for p in pods if (ns is None or _meta(p).get("namespace", ns) == ns)
            and matcher.matches(_meta(p).get("labels") or {})]


# -- the disruption controller ---------------------------------------------------------------------------------
def scaled_value(value: int | str, total: int) -> int:
    """intstr.GetScaledValueFromIntOrPercent with roundUp=True; ValueError carries upstream's message."""
    if isinstance(value, int):
        return value
    if not value.endswith("%"):
        raise ValueError("invalid value for IntOrString: invalid type: string is not a percentage")
    try:
        percent = int(value[:-1])
    except ValueError:
        raise ValueError(f'invalid value for IntOrString: invalid value "{value}": '
                         f'strconv.Atoi: parsing "{value[:-1]}": invalid syntax') from None
    return math.ceil(percent * total / 100)


def _expected_and_desired(spec: Obj, selected: int, expected_scale: int | None) -> tuple[int, int]:
    scale = selected if expected_scale is None else expected_scale
    if spec.get("maxUnavailable") is not None:
        return scale, max(0, scale - scaled_value(spec["maxUnavailable"], scale))
    min_available = spec.get("minAvailable")
    if isinstance(min_available, int):
        return selected, min_available
    if min_available is not None:
        return scale, scaled_value(min_available, scale)
    return 0, 0


def _disrupted_pods(pdb_status: Obj, pods: list[Obj], now: datetime) -> dict[str, str]:
    """buildDisruptedPodMap: keep entries of live, not yet deleted pods younger than DeletionTimeout."""
    recorded = pdb_status.get("disruptedPods") or {}
    kept = {}
    for pod in pods:
        name = _meta(pod).get("name", "")
        if _meta(pod).get("deletionTimestamp") or name not in recorded:
            continue
        if not _parse(recorded[name]) + DELETION_TIMEOUT < now:
            kept[name] = _rfc3339(recorded[name])
    return kept


def _current_healthy(pods: list[Obj], disrupted: dict[str, str], now: datetime) -> int:
    healthy = 0
    for pod in pods:
        name = _meta(pod).get("name", "")
        if _meta(pod).get("deletionTimestamp"):
            continue
        if name in disrupted and _parse(disrupted[name]) + DELETION_TIMEOUT > now:
            continue
        healthy += is_pod_ready(pod)
    return healthy


def _set_condition(conditions: list[Obj], new: Obj, now: str) -> list[Obj]:
    """apimeta.SetStatusCondition: lastTransitionTime moves only when the status changes."""
    out = copy.deepcopy(conditions)
    existing = next((c for c in out if c.get("type") == new["type"]), None)
    if existing is None:
        out.append({**new, "lastTransitionTime": now})
        return out
    if existing.get("status") != new["status"]:
        existing["lastTransitionTime"] = now
    existing.update({k: v for k, v in new.items() if k != "observedGeneration"})
    if new.get("observedGeneration"):
        existing["observedGeneration"] = new["observedGeneration"]
    else:
        existing.pop("observedGeneration", None)
    return out


def _condition(status: str, reason: str, message: str, generation: int) -> Obj:
    cond: Obj = {"type": DISRUPTION_ALLOWED, "status": status}
    if generation:
        cond["observedGeneration"] = generation
    cond.update(reason=reason, message=message)
    return cond


def _with_allowed_condition(status: Obj, now: str) -> Obj:
    """pdbhelper.UpdateDisruptionAllowedCondition."""
    gen = status.get("observedGeneration", 0)
    cond = (_condition("True", SUFFICIENT_PODS, "", gen) if status["disruptionsAllowed"] > 0
            else _condition("False", INSUFFICIENT_PODS, "", gen))
    return {**status, "conditions": _set_condition(status.get("conditions") or [], cond, now)}


def _conditions_up_to_date(pdb: Obj) -> bool:
    status = pdb.get("status") or {}
    cond = next((c for c in status.get("conditions") or () if c.get("type") == DISRUPTION_ALLOWED), None)
    if cond is None or status.get("observedGeneration", 0) != _meta(pdb).get("generation", 0):
        return False
    if status.get("disruptionsAllowed", 0) > 0:
        return cond.get("status") == "True" and cond.get("reason") == SUFFICIENT_PODS
    return cond.get("status") == "False" and cond.get("reason") == INSUFFICIENT_PODS


def _status(generation: int, disrupted: dict[str, str], allowed: int, current: int, desired: int,
            expected: int, conditions: list[Obj]) -> Obj:
    out: Obj = {}
    if generation:
        out["observedGeneration"] = generation
    if disrupted:
        out["disruptedPods"] = disrupted
    out.update(disruptionsAllowed=allowed, currentHealthy=current, desiredHealthy=desired, expectedPods=expected)
    if conditions:
        out["conditions"] = conditions
    return out


def fail_safe_status(pdb: Obj, *, error: str, now: str) -> Obj:
    """failSafe: after a failed sync, allow no disruptions and say why (reason SyncFailed)."""
    status = copy.deepcopy(pdb.get("status") or {})
    cond = _condition("False", SYNC_FAILED, error, status.get("observedGeneration", 0))
    status["disruptionsAllowed"] = 0
    status["conditions"] = _set_condition(status.get("conditions") or [], cond, _rfc3339(now))
    return _status(status.get("observedGeneration", 0), status.get("disruptedPods") or {}, 0,
                   status.get("currentHealthy", 0), status.get("desiredHealthy", 0), status.get("expectedPods", 0),
                   status["conditions"])


def compute_pdb_status(pdb: Obj, pods: list[Obj], *, expected_scale: int | None, now: str) -> Obj:
    """The policy/v1 status the disruption controller writes for `pdb`.

    `pods` may hold the whole namespace: the PDB's selector picks its own. `expected_scale` is the sum of
    the selected pods' controllers' desired replicas (used for percentages and maxUnavailable); when None,
    the number of selected pods stands in. An unchanged status is returned equal to the current one.
    """
    current_status = pdb.get("status") or {}
    spec = pdb.get("spec") or {}
    try:
        selected = _pods_of(pdb, pods)
        expected, desired = _expected_and_desired(spec, len(selected), expected_scale)
    except ValueError as e:
        return fail_safe_status(pdb, error=str(e), now=now)
    t_now = _parse(now)
    disrupted = _disrupted_pods(current_status, selected, t_now)
    healthy = _current_healthy(selected, disrupted, t_now)
    allowed = healthy - desired
    if expected <= 0 or allowed <= 0:
        allowed = 0
    generation = _meta(pdb).get("generation", 0)
    recorded = {k: _rfc3339(v) for k, v in (current_status.get("disruptedPods") or {}).items()}
    if (current_status.get("currentHealthy", 0) == healthy and current_status.get("desiredHealthy", 0) == desired
            and current_status.get("expectedPods", 0) == expected
            and current_status.get("disruptionsAllowed", 0) == allowed and recorded == disrupted
            and _conditions_up_to_date(pdb)):
        return copy.deepcopy(current_status)
    status = _status(generation, disrupted, allowed, healthy, desired, expected,
                     copy.deepcopy(current_status.get("conditions") or []))
    return _with_allowed_condition(status, _rfc3339(now))


def recheck_at(status: Obj) -> str | None:
    """When the controller must look again: the earliest time a disrupted pod's entry expires."""
    times = [_parse(t) + DELETION_TIMEOUT for t in (status.get("disruptedPods") or {}).values()]
    return _fmt(min(times)) if times else None


# -- the eviction subresource ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class EvictionDecision:
    """What POST pods/<name>/eviction answers, and what the caller must write when it is allowed.

    `status_code` is the HTTP code (201 when allowed). `pdb_status` is the PDB status to write before the
    delete (None: nothing to write). `pin_resource_version` asks for the delete to be preconditioned on the
    pod's resourceVersion (upstream does so when the budget was bypassed for a not-ready pod, so the pod
    cannot turn ready meanwhile). `pod_condition` is the DisruptionTarget condition to add before deleting.
    """

    allowed: bool
    status_code: int
    message: str = ""
    reason: str = ""
    causes: tuple[Obj, ...] = ()
    retry_after_seconds: int = 0
    details: Obj = field(default_factory=dict)
    pdb_name: str | None = None
    pdb_status: Obj | None = None
    pin_resource_version: bool = False
    pod_condition: Obj | None = None

    def status(self) -> Obj:
        """The meta/v1 Status body of the answer."""
        body: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                     "status": "Success" if self.allowed else "Failure"}
        if self.message:
            body["message"] = self.message
        if self.reason:
            body["reason"] = self.reason
        details = dict(self.details)
        if self.causes:
            details["causes"] = [dict(c) for c in self.causes]
        if self.retry_after_seconds:
            details["retryAfterSeconds"] = self.retry_after_seconds
        if details:
            body["details"] = details
        body["code"] = self.status_code
        return body


def _evicting_condition(now: str) -> Obj:
    return {"type": "DisruptionTarget", "status": "True", "lastProbeTime": None,
            "lastTransitionTime": _rfc3339(now), "reason": "EvictionByEvictionAPI",
            "message": "Eviction API: evicting"}


def _too_many_requests(name: str, cause: str, retry_after: int) -> EvictionDecision:
    return EvictionDecision(False, 429, EVICTION_REFUSED, "TooManyRequests",
                            ({"reason": "DisruptionBudget", "message": cause},), retry_after, pdb_name=name)


def _forbidden(name: str, why: str) -> EvictionDecision:
    return EvictionDecision(False, 403, f'poddisruptionbudget.policy "{name}" is forbidden: {why}', "Forbidden",
                            details={"name": name, "group": "policy", "kind": "poddisruptionbudget"}, pdb_name=name)


def _check_and_decrement(pdb: Obj, pod_name: str, now: str, dry_run: bool) -> EvictionDecision:
    name = _meta(pdb).get("name", "")
    status = copy.deepcopy(pdb.get("status") or {})
    allowed = status.get("disruptionsAllowed", 0)
    if status.get("observedGeneration", 0) < _meta(pdb).get("generation", 0):
        return _too_many_requests(name, f"The disruption budget {name} is still being processed by the server.", 10)
    if allowed < 0:
        return _forbidden(name, "pdb disruptions allowed is negative")
    if len(status.get("disruptedPods") or {}) > MAX_DISRUPTED_POD_SIZE:
        return _forbidden(name, "DisruptedPods map too big - too many evictions not confirmed by PDB controller")
    if allowed == 0:
        return _too_many_requests(name, f"The disruption budget {name} needs {status.get('desiredHealthy', 0)} "
                                        f"healthy pods and has {status.get('currentHealthy', 0)} currently", 0)
    status["disruptionsAllowed"] = allowed - 1
    if status["disruptionsAllowed"] == 0:
        status = _with_allowed_condition(status, _rfc3339(now))
    if dry_run:
        return EvictionDecision(True, 201, pdb_name=name)
    status["disruptedPods"] = {**(status.get("disruptedPods") or {}), pod_name: _rfc3339(now)}
    return EvictionDecision(True, 201, pdb_name=name, pdb_status=status, pod_condition=_evicting_condition(now))


def decide_eviction(pod: Obj, pdbs: list[Obj], *, now: str, dry_run: bool = False) -> EvictionDecision:
    """EvictionREST.Create for `pod` given the PDBs of its namespace (non-matching ones are skipped)."""
    phase = (pod.get("status") or {}).get("phase")
    deleting = bool(_meta(pod).get("deletionTimestamp"))
    condition = None if dry_run else _evicting_condition(now)
    if phase in ("Succeeded", "Failed", "Pending") or deleting:  # canIgnorePDB
        pin = phase not in ("Succeeded", "Failed") and not deleting  # shouldEnforceResourceVersion
        return EvictionDecision(True, 201, pin_resource_version=pin, pod_condition=condition)
    matching = []
    for pdb in pdbs:
        if _meta(pdb).get("namespace", _meta(pod).get("namespace")) != _meta(pod).get("namespace"):
            continue
        try:
            matcher = selectors.label_selector_from_dict((pdb.get("spec") or {}).get("selector"))
        except selectors.SelectorError:  # an invalid selector matches no pod
            continue
        if matcher.matches(_meta(pod).get("labels") or {}):
            matching.append(pdb)
    if len(matching) > 1:
        return EvictionDecision(False, 500, MULTIPLE_PDBS)
    if not matching:
        return EvictionDecision(True, 201, pod_condition=condition)
    pdb = matching[0]
    name = _meta(pdb).get("name", "")
    if not is_pod_ready(pod):
        status = pdb.get("status") or {}
        always = (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy") == "AlwaysAllow"
        desired = status.get("desiredHealthy", 0)
        if always or (status.get("currentHealthy", 0) >= desired and desired > 0):
            # the unhealthy pod neither counts as healthy nor uses up the budget
            return EvictionDecision(True, 201, pdb_name=name, pin_resource_version=True, pod_condition=condition)
    return _check_and_decrement(pdb, _meta(pod).get("name", ""), now, dry_run)
