"""One HPA sync as reconcileAutoscaler does it in Kubernetes v1.35 (pkg/controller/podautoscaler/horizontal.go),
composed from the pure parts: behavior.precheck, metricreplicas.compute_replicas_for_metrics, the legacy or
`behavior` normalization, the rescale decision, and the conditions, events, status and history that follow.

Pure; no I/O, no clock (`SyncInput.now`). The caller has already got the scale (a failed get-scale is the
controller's business), listed the pods the scale selector matches and fetched one `model.MetricFetch` per
`spec.metrics` entry; the update of the scale is assumed to succeed.

    decide(SyncInput) -> Decision
    rfc3339(seconds) -> str     (metav1.Time's JSON form)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from autoscaler.hpa import behavior, defaulting, metricreplicas, metricspecs, model
from autoscaler.hpa.behavior import Recommendation, ScaleEvent, StatusCondition


@dataclass(frozen=True)
class Scale:
    """The target's autoscaling/v1 Scale: spec.replicas, status.replicas, status.selector."""
    spec_replicas: int
    status_replicas: int
    selector: str


@dataclass(frozen=True)
class History:
    """What the controller remembers per HPA between syncs. `recommendations` None: never seen this HPA.
    Scale events carry the size of the change (positive both ways)."""
    recommendations: tuple[Recommendation, ...] | None = None
    scale_up_events: tuple[ScaleEvent, ...] = ()
    scale_down_events: tuple[ScaleEvent, ...] = ()


@dataclass(frozen=True)
class Settings:
    """kube-controller-manager's HPA flags (upstream defaults), in seconds."""
    tolerance: float = defaulting.DEFAULT_TOLERANCE
    cpu_initialization_period_s: float = 300.0
    initial_readiness_delay_s: float = 30.0
    downscale_stabilization_s: float = behavior.DEFAULT_DOWNSCALE_STABILIZATION_S


@dataclass(frozen=True)
class SyncInput:
    """`hpa` is the stored autoscaling/v2 object (defaulting.stored_v2); `metrics[i]` was fetched for
    `hpa.spec.metrics[i]`; `pods` are the pods the scale selector matches; `selector_error` is the parse error of
    `scale.selector`, if any; `ambiguous_hpas` the "namespace/name" keys of every HPA whose selector covers these
    pods (more than one fails the sync with AmbiguousSelector)."""
    hpa: Mapping[str, Any]
    scale: Scale
    pods: tuple[model.PodInfo, ...]
    metrics: tuple[model.MetricFetch, ...]
    now: float
    history: History = field(default_factory=History)
    settings: Settings = field(default_factory=Settings)
    selector_error: str | None = None
    ambiguous_hpas: tuple[str, ...] = ()
    scale_update_error: str | None = None  # the rescale was tried and failed with this error


@dataclass(frozen=True)
class MetricOutcome:
    """One metric's part in the decision: the replicas it proposed (None when it failed), its status entry as
    `status.currentMetrics` shows it (None when it failed), and its error."""
    type: str
    name: str
    replicas: int | None
    current: dict[str, Any] | None
    error: str | None


@dataclass(frozen=True)
class Decision:
    """The outcome of one sync. `desired_replicas` is what the target is (or stays) scaled to; `status` is the
    HPA status written afterwards (on a metrics failure upstream keeps the previous `desiredReplicas` there)."""
    current_replicas: int
    desired_replicas: int
    rescale: bool
    reason: str
    metrics: tuple[MetricOutcome, ...]
    conditions: tuple[StatusCondition, ...]
    events: tuple[model.Event, ...]
    status: dict[str, Any]
    history: History


def rfc3339(seconds: float) -> str:
    """metav1.Time as JSON: RFC 3339 in UTC, seconds precision (fractions kept only when present)."""
    dt = datetime.fromtimestamp(seconds, tz=UTC)
    text = dt.isoformat(timespec="microseconds" if dt.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def _condition_dict(c: StatusCondition) -> dict[str, Any]:
    return {"type": c.type, "status": c.status, "lastTransitionTime": rfc3339(c.last_transition_time),
            "reason": c.reason, "message": c.message}


def _status(*, current: int, desired: int, statuses: tuple[model.MetricStatus | None, ...] | None,
            conditions: tuple[StatusCondition, ...], last_scale_time: Any) -> dict[str, Any]:
    """setStatus / setCurrentReplicasAndMetricsInStatus, as JSON (omitempty fields left out)."""
    out: dict[str, Any] = {}
    if last_scale_time is not None:
        out["lastScaleTime"] = last_scale_time
    if current:
        out["currentReplicas"] = current
    out["desiredReplicas"] = desired
    if statuses:
        out["currentMetrics"] = [metricreplicas.status_to_dict(s) for s in statuses]
    if conditions:
        out["conditions"] = [_condition_dict(c) for c in conditions]
    return out


def failed_get_scale(hpa: Mapping[str, Any], error: str, *, now: float, history: History) -> Decision:
    """The sync of an HPA whose target's scale could not be read (or whose target kind is unknown): a Warning
    FailedGetScale event and AbleToScale=False; the rest of the status is left as it was."""
    conditions = behavior.set_condition(defaulting.parse_status_conditions(dict(hpa)),
                                        behavior.failed_get_scale(error), now=now)
    status = dict(hpa.get("status") or {})
    status["conditions"] = [_condition_dict(c) for c in conditions]
    current = int(status.get("currentReplicas") or 0)
    return Decision(current, current, False, "", (), conditions, (model.Event("Warning", "FailedGetScale", error),),
                    status, history)


def decide(inp: SyncInput) -> Decision:
    """reconcileAutoscaler from the scale onward."""
    hpa = inp.hpa
    spec = defaulting.parse_spec(dict(hpa))
    specs = metricspecs.parse_metric_specs(spec.metrics)
    if len(specs) != len(inp.metrics):
        raise ValueError(f"{len(specs)} metric specs but {len(inp.metrics)} fetched values")
    now, settings = inp.now, inp.settings
    stored_status = hpa.get("status") or {}
    conditions = defaulting.parse_status_conditions(dict(hpa))
    events: list[model.Event] = []

    def set_condition(c: model.Condition) -> None:
        nonlocal conditions
        conditions = behavior.set_condition(conditions, c, now=now)

    set_condition(behavior.succeeded_get_scale())
    current = inp.scale.spec_replicas
    recommendations = behavior.initial_recommendations(inp.history.recommendations, current_replicas=current,
                                                       now=now)
    up_events, down_events = inp.history.scale_up_events, inp.history.scale_down_events
    statuses: tuple[model.MetricStatus | None, ...] | None = None
    outcomes: tuple[MetricOutcome, ...] = ()
    min_replicas, max_replicas = spec.min_replicas, spec.max_replicas

    pre = behavior.precheck(current_replicas=current, min_replicas=min_replicas, max_replicas=max_replicas)
    if pre is not None:
        desired, rescale, reason = pre.desired_replicas, pre.rescale, pre.reason
        if pre.condition is not None:
            set_condition(pre.condition)
    else:
        down, up = defaulting.tolerances(spec, default_tolerance=settings.tolerance)
        namespace = (hpa.get("metadata") or {}).get("namespace") or "default"
        result = metricreplicas.compute_replicas_for_metrics(
            specs, inp.metrics, selector=inp.scale.selector, spec_replicas=current,
            status_replicas=inp.scale.status_replicas, pods=inp.pods, namespace=namespace,
            tolerances=model.Tolerances(scale_down=down, scale_up=up), now=now,
            settings=model.CalcSettings(cpu_initialization_period_s=settings.cpu_initialization_period_s,
                                        initial_readiness_delay_s=settings.initial_readiness_delay_s),
            selector_error=inp.selector_error, ambiguous_hpas=inp.ambiguous_hpas)
        statuses = result.statuses
        outcomes = tuple(
            MetricOutcome(s.type, metricspecs.metric_display_name(s), None if r.error else r.replicas,
                          None if r.error else metricreplicas.status_to_dict(r.status), r.error)
            for s, r in zip(specs, result.per_metric, strict=True)) if result.per_metric else ()
        if result.condition.type:
            set_condition(result.condition)
        events.extend(result.events)
        if result.error is not None and result.replicas == -1:
            # the metrics failed: record current replicas and metrics only; the target is left alone
            events.append(model.Event("Warning", "FailedComputeMetricsReplicas", result.error))
            status = _status(current=current, desired=int(stored_status.get("desiredReplicas") or 0),
                             statuses=statuses, conditions=conditions,
                             last_scale_time=stored_status.get("lastScaleTime"))
            return Decision(current, current, False, "", outcomes, conditions, tuple(events), status,
                            History(recommendations, up_events, down_events))
        reason = behavior.rescale_reason(current_replicas=current, metric_desired_replicas=result.replicas,
                                         metric_name=result.metric_name)
        proposed = max(result.replicas, 0)
        if spec.behavior is None:
            normalized = behavior.normalize_desired_replicas(
                recommendations=recommendations, current_replicas=current, desired_replicas=proposed,
                min_replicas=min_replicas, max_replicas=max_replicas, now=now,
                downscale_stabilization_s=settings.downscale_stabilization_s)
        else:
            normalized = behavior.normalize_desired_replicas_with_behaviors(
                behavior=spec.behavior, recommendations=recommendations, up_events=up_events,
                down_events=down_events, current_replicas=current, desired_replicas=proposed,
                min_replicas=min_replicas, max_replicas=max_replicas, now=now,
                downscale_stabilization_s=settings.downscale_stabilization_s)
        for c in normalized.conditions:
            set_condition(c)
        recommendations = normalized.recommendations
        desired = normalized.desired_replicas
        rescale = desired != current

    last_scale_time = stored_status.get("lastScaleTime")
    if rescale and inp.scale_update_error is not None:
        # the update of the scale failed: say so, keep the stored desiredReplicas and record no scale event
        error = inp.scale_update_error
        events.append(model.Event("Warning", "FailedRescale", behavior.failed_rescale_message(desired, reason, error)))
        set_condition(behavior.failed_update_scale(error))
        status = _status(current=current, desired=int(stored_status.get("desiredReplicas") or 0), statuses=statuses,
                         conditions=conditions, last_scale_time=last_scale_time)
        return Decision(current, current, False, reason, outcomes, conditions, tuple(events), status,
                        History(recommendations, up_events, down_events))
    if rescale:
        set_condition(behavior.succeeded_rescale(desired))
        events.append(model.Event("Normal", "SuccessfulRescale", behavior.successful_rescale_message(desired, reason)))
        up_events, down_events = behavior.store_scale_event(spec.behavior, up_events, down_events,
                                                            prev_replicas=current, new_replicas=desired, now=now)
        last_scale_time = rfc3339(now)
    else:
        desired = current
    status = _status(current=current, desired=desired, statuses=statuses, conditions=conditions,
                     last_scale_time=last_scale_time)
    return Decision(current, desired, rescale, reason, outcomes, conditions, tuple(events), status,
                    History(recommendations, up_events, down_events))
