"""One HPA sync's metric step, upstream-exact to Kubernetes v1.35 horizontal.go: computeReplicasForMetric (the
proposal, the `status.currentMetrics` entry, and on failure the ScalingActive=False condition and Warning event
with upstream's reason and message) and computeReplicasForMetrics (the maximum over metrics, the invalid-metric
rules, the ValidMetricFound condition, the selector checks).

Pure; no I/O. The caller passes, for each metric spec, what it fetched for it (`model.MetricFetch`), the pods the
scale selector matches, and `now`.

    compute_replicas_for_metric(spec, fetched, *, spec_replicas, status_replicas, pods, namespace, tolerances,
                                now, settings) -> MetricResult
    compute_replicas_for_metrics(specs, fetched, *, selector, spec_replicas, status_replicas, pods, namespace,
                                 tolerances, now, settings, selector_error=None, ambiguous_hpas=())
                                 -> MetricsResult
    status_to_dict(status) -> dict       (the autoscaling/v2 MetricStatus JSON, quantities as upstream prints)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from autoscaler.hpa import model, replicas
from autoscaler.hpa.gomath import go_selector_string
from autoscaler.hpa.model import (
    ZERO_TIME,
    CalcSettings,
    Condition,
    Event,
    ExternalMetricsFetch,
    LabelSelector,
    MetricFetch,
    MetricSpec,
    MetricStatus,
    MetricValueStatus,
    ObjectMetricFetch,
    PodInfo,
    PodsMetricsFetch,
    ResourceMetricsFetch,
    Tolerances,
)
from kubescale.quantity import format_quantity

SCALING_ACTIVE = "ScalingActive"


@dataclass(frozen=True)
class MetricResult:
    """computeReplicasForMetric's answer. On failure `replicas` is 0, `status` None (upstream leaves a zero
    MetricStatus in its slot), `error` the error it returns, and `condition` / `event` what it records."""
    replicas: int
    metric_name: str
    timestamp_s: float
    status: MetricStatus | None
    error: str | None = None
    condition: Condition | None = None
    event: Event | None = None


@dataclass(frozen=True)
class MetricsResult:
    """computeReplicasForMetrics' answer. `replicas` is -1 when the HPA must not act on metrics (all invalid, or
    some invalid and the rest would scale down, or a bad selector); `error` may be set alongside a usable
    `replicas` (upstream scales and reports the error). `condition` is the ScalingActive condition to set;
    `events` are the Warning events in the order upstream records them. `statuses` is None when the selector
    failed before any metric was computed (upstream's nil slice)."""
    replicas: int
    metric_name: str
    statuses: tuple[MetricStatus | None, ...] | None
    timestamp_s: float
    error: str | None
    condition: Condition
    events: tuple[Event, ...]
    per_metric: tuple[MetricResult, ...] = ()


class _Failed(Exception):
    """A metric failed: the error computeReplicasForMetric returns, and the one its condition and event carry."""

    def __init__(self, returned: str, reason: str, recorded: str) -> None:
        super().__init__(returned)
        self.returned, self.reason, self.recorded = returned, reason, recorded


def _milli(value: int) -> str:
    return format_quantity(f"{value}m")  # resource.NewMilliQuantity(value, DecimalSI).String()


def status_to_dict(status: MetricStatus | None) -> dict[str, Any]:
    """The MetricStatus as autoscaling/v2 JSON; a failed metric's empty status is `{"type": ""}`."""
    if status is None:
        return {"type": ""}
    current: dict[str, Any] = {}
    if status.current.value_milli is not None:
        current["value"] = _milli(status.current.value_milli)
    if status.current.average_value_milli is not None:
        current["averageValue"] = _milli(status.current.average_value_milli)
    if status.current.average_utilization is not None:
        current["averageUtilization"] = status.current.average_utilization
    if status.type in (model.RESOURCE, model.CONTAINER_RESOURCE):
        body: dict[str, Any] = {"name": status.name, "current": current}
        if status.type == model.CONTAINER_RESOURCE:
            body["container"] = status.container
        key = "resource" if status.type == model.RESOURCE else "containerResource"
        return {"type": status.type, key: body}
    metric: dict[str, Any] = {"name": status.name}
    if status.selector is not None:
        metric["selector"] = _selector_dict(status.selector)
    body = {"metric": metric, "current": current}
    if status.described_object is not None:
        ref = status.described_object
        body["describedObject"] = {"kind": ref.kind, "name": ref.name,
                                   **({"apiVersion": ref.api_version} if ref.api_version else {})}
    return {"type": status.type, status.type[0].lower() + status.type[1:]: body}


def _selector_dict(sel: LabelSelector) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if sel.match_labels:
        out["matchLabels"] = dict(sel.match_labels)
    if sel.match_expressions:
        out["matchExpressions"] = [{"key": r.key, "operator": r.operator,
                                    **({"values": list(r.values)} if r.values else {})}
                                   for r in sel.match_expressions]
    return out


def _expect(fetched: MetricFetch, kind: type) -> Any:
    if not isinstance(fetched, kind):
        raise TypeError(f"expected a {kind.__name__} for this metric, got {type(fetched).__name__}")
    return fetched


def compute_replicas_for_metric(spec: MetricSpec, fetched: MetricFetch, *, spec_replicas: int, status_replicas: int,
                                pods: Sequence[PodInfo], namespace: str, tolerances: Tolerances, now: float,
                                settings: CalcSettings) -> MetricResult:
    """computeReplicasForMetric for one metric spec."""
    try:
        replicas_, name, ts, status = _compute(spec, fetched, spec_replicas=spec_replicas,
                                               status_replicas=status_replicas, pods=pods, namespace=namespace,
                                               tolerances=tolerances, now=now, settings=settings)
    except _Failed as f:
        message = f"the HPA was unable to compute the replica count: {f.recorded}"
        return MetricResult(0, "", ZERO_TIME, None, error=f.returned,
                            condition=Condition(SCALING_ACTIVE, "False", f.reason, message),
                            event=Event("Warning", f.reason, f.recorded))
    return MetricResult(replicas_, name, ts, status)


def _compute(spec: MetricSpec, fetched: MetricFetch, *, spec_replicas: int, status_replicas: int,
             pods: Sequence[PodInfo], namespace: str, tolerances: Tolerances, now: float,
             settings: CalcSettings) -> tuple[int, str, float, MetricStatus]:
    common = dict(tolerances=tolerances)
    if spec.type in (model.RESOURCE, model.CONTAINER_RESOURCE):
        src = spec.resource if spec.type == model.RESOURCE else spec.container_resource
        assert src is not None, f"{spec.type} metric without its source"
        container = getattr(src, "container", "")
        if spec.type == model.RESOURCE:
            reason, wrap = "FailedGetResourceMetric", f"failed to get {src.name} resource metric value: "
        else:
            reason, wrap = "FailedGetContainerResourceMetric", f"failed to get {container} container metric value: "
        target = src.target
        data = _expect(fetched, ResourceMetricsFetch)
        call = dict(pods=pods, fetched=data, container=container, now=now, settings=settings, **common)
        try:
            if target.average_value_milli is not None:
                try:
                    p = replicas.get_raw_resource_replicas(spec_replicas, target.average_value_milli, src.name, **call)
                except replicas.ReplicaCalcError as e:
                    raise replicas.ReplicaCalcError(f"failed to get {src.name} usage: {e}") from None
                return p.replicas, f"{src.name} resource", p.timestamp_s, MetricStatus(
                    spec.type, src.name, MetricValueStatus(average_value_milli=p.usage), container=container or None)
            if target.average_utilization is None:
                raise replicas.ReplicaCalcError("invalid resource metric source: neither an average utilization "
                                                "target nor an average value (usage) target was set")
            try:
                p = replicas.get_resource_replicas(spec_replicas, target.average_utilization, src.name, **call)
            except replicas.ReplicaCalcError as e:
                raise replicas.ReplicaCalcError(f"failed to get {src.name} utilization: {e}") from None
        except replicas.ReplicaCalcError as e:
            raise _Failed(wrap + str(e), reason, str(e)) from None
        kind = "container resource" if spec.type == model.CONTAINER_RESOURCE else "resource"
        return p.replicas, f"{src.name} {kind} utilization (percentage of request)", p.timestamp_s, MetricStatus(
            spec.type, src.name, MetricValueStatus(average_value_milli=p.usage, average_utilization=p.utilization),
            container=container or None)

    if spec.type == model.PODS:
        src = spec.pods
        assert src is not None and src.target.average_value_milli is not None, "Pods metric without AverageValue"
        try:
            p = replicas.get_metric_replicas(spec_replicas, src.target.average_value_milli, src.metric.name,
                                             pods=pods, fetched=_expect(fetched, PodsMetricsFetch), now=now,
                                             settings=settings, **common)
        except replicas.ReplicaCalcError as e:
            raise _Failed(f"failed to get pods metric value: {e}", "FailedGetPodsMetric", str(e)) from None
        return p.replicas, f"pods metric {src.metric.name}", p.timestamp_s, MetricStatus(
            model.PODS, src.metric.name, MetricValueStatus(average_value_milli=p.usage), selector=src.metric.selector)

    if spec.type == model.OBJECT:
        src = spec.object
        assert src is not None, "Object metric without its source"
        target, metric, ref = src.target, src.metric, src.described_object
        data = _expect(fetched, ObjectMetricFetch)
        reason, wrap = "FailedGetObjectMetric", "failed to get object metric value: "
        if target.type == model.VALUE and target.value_milli is not None:
            try:
                p = replicas.get_object_metric_replicas(spec_replicas, target.value_milli, metric.name, ref,
                                                        namespace=namespace, fetched=data, pods=pods, **common)
            except replicas.ReplicaCalcError as e:
                raise _Failed(wrap + str(e), reason, str(e)) from None
            return p.replicas, f"{ref.kind} metric {metric.name}", p.timestamp_s, MetricStatus(
                model.OBJECT, metric.name, MetricValueStatus(value_milli=p.usage), selector=metric.selector,
                described_object=ref)
        if target.type == model.AVERAGE_VALUE and target.average_value_milli is not None:
            try:
                p = replicas.get_object_per_pod_metric_replicas(status_replicas, target.average_value_milli,
                                                                metric.name, ref, namespace=namespace, fetched=data,
                                                                **common)
            except replicas.ReplicaCalcError as e:
                raise _Failed(f"{wrap}failed to get {metric.name} object metric: {e}", reason, str(e)) from None
            # upstream names this an external metric and leaves describedObject out of the status
            return (p.replicas, f"external metric {metric.name}({go_selector_string(metric.selector)})",
                    p.timestamp_s, MetricStatus(model.OBJECT, metric.name,
                                                MetricValueStatus(average_value_milli=p.usage),
                                                selector=metric.selector))
        msg = "invalid object metric source: neither a value target nor an average value target was set"
        raise _Failed(wrap + msg, reason, msg)

    if spec.type == model.EXTERNAL:
        src = spec.external
        assert src is not None, "External metric without its source"
        target, metric = src.target, src.metric
        data = _expect(fetched, ExternalMetricsFetch)
        reason = "FailedGetExternalMetric"
        wrap = f"failed to get {metric.name} external metric value: "
        name = f"external metric {metric.name}({go_selector_string(metric.selector)})"
        if target.average_value_milli is not None:
            try:
                p = replicas.get_external_per_pod_metric_replicas(status_replicas, target.average_value_milli,
                                                                  metric.name, metric.selector, namespace=namespace,
                                                                  fetched=data, **common)
            except replicas.ReplicaCalcError as e:
                raise _Failed(f"{wrap}failed to get {metric.name} external metric: {e}", reason, str(e)) from None
            return p.replicas, name, p.timestamp_s, MetricStatus(
                model.EXTERNAL, metric.name, MetricValueStatus(average_value_milli=p.usage), selector=metric.selector)
        if target.value_milli is not None:
            try:
                p = replicas.get_external_metric_replicas(spec_replicas, target.value_milli, metric.name,
                                                          metric.selector, namespace=namespace, fetched=data,
                                                          pods=pods, **common)
            except replicas.ReplicaCalcError as e:
                raise _Failed(f"{wrap}failed to get external metric {metric.name}: {e}", reason, str(e)) from None
            return p.replicas, name, p.timestamp_s, MetricStatus(
                model.EXTERNAL, metric.name, MetricValueStatus(value_milli=p.usage), selector=metric.selector)
        msg = "invalid external metric source: neither a value target nor an average value target was set"
        raise _Failed(wrap + msg, reason, msg)

    msg = f'unknown metric source type "{spec.type}"'
    raise _Failed(msg, "InvalidMetricSourceType", msg)


def compute_replicas_for_metrics(specs: Sequence[MetricSpec], fetched: Sequence[MetricFetch], *, selector: str,
                                 spec_replicas: int, status_replicas: int, pods: Sequence[PodInfo], namespace: str,
                                 tolerances: Tolerances, now: float, settings: CalcSettings,
                                 selector_error: str | None = None,
                                 ambiguous_hpas: Sequence[str] = ()) -> MetricsResult:
    """computeReplicasForMetrics. `fetched[i]` is what was fetched for `specs[i]`. `selector_error` is
    labels.Parse's error for the scale's selector; `ambiguous_hpas` the "namespace/name" keys of every HPA whose
    selector covers these pods (more than one is an error), as validateAndParseSelector checks."""
    if len(specs) != len(fetched):
        raise ValueError(f"{len(specs)} metric specs but {len(fetched)} fetched values")
    bad_selector = _check_selector(selector, selector_error, ambiguous_hpas)
    if bad_selector is not None:
        return bad_selector
    results = tuple(compute_replicas_for_metric(spec, data, spec_replicas=spec_replicas,
                                                status_replicas=status_replicas, pods=pods, namespace=namespace,
                                                tolerances=tolerances, now=now, settings=settings)
                    for spec, data in zip(specs, fetched, strict=True))
    best, metric, timestamp = 0, "", ZERO_TIME
    invalid = [r for r in results if r.error is not None]
    for r in results:
        if r.error is None and (best == 0 or r.replicas > best):
            best, metric, timestamp = r.replicas, r.metric_name, r.timestamp_s
    events = tuple(r.event for r in invalid if r.event is not None)
    statuses = tuple(r.status for r in results)
    error = None
    if invalid:
        error = f"invalid metrics ({len(invalid)} invalid out of {len(specs)}), first error is: {invalid[0].error}"
    if len(invalid) >= len(specs) or (invalid and best < spec_replicas):
        condition = invalid[0].condition if invalid else None
        assert condition is not None or not specs, "an invalid metric always carries its condition"
        # with no metric specs upstream copies a zero condition; an empty ScalingActive stands in for it
        return MetricsResult(-1, "", statuses, ZERO_TIME, error, condition or Condition("", "", "", ""), events,
                             results)
    condition = Condition(SCALING_ACTIVE, "True", "ValidMetricFound",
                          f"the HPA was able to successfully calculate a replica count from {metric}")
    return MetricsResult(best, metric, statuses, timestamp, error, condition, events, results)


def _check_selector(selector: str, selector_error: str | None, ambiguous_hpas: Sequence[str]) -> MetricsResult | None:
    """validateAndParseSelector's failures, with the event and condition upstream records."""
    if selector == "":
        event = Event("Warning", "SelectorRequired", "selector is required")
        condition = Condition(SCALING_ACTIVE, "False", "InvalidSelector",
                              "the HPA target's scale is missing a selector")
        return MetricsResult(-1, "", None, ZERO_TIME, "selector is required", condition, (event,))
    if selector_error is not None:
        msg = f"couldn't convert selector into a corresponding internal selector object: {selector_error}"
        return MetricsResult(-1, "", None, ZERO_TIME, msg, Condition(SCALING_ACTIVE, "False", "InvalidSelector", msg),
                             (Event("Warning", "InvalidSelector", msg),))
    if len(ambiguous_hpas) > 1:
        msg = f"pods by selector {selector} are controlled by multiple HPAs: [{' '.join(ambiguous_hpas)}]"
        return MetricsResult(-1, "", None, ZERO_TIME, msg,
                             Condition(SCALING_ACTIVE, "False", "AmbiguousSelector", msg),
                             (Event("Warning", "AmbiguousSelector", msg),))
    return None
