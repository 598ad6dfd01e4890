"""The HPA replica calculator, upstream-exact to Kubernetes v1.35 (`pkg/controller/podautoscaler`:
replica_calculator.go, metrics/utilization.go, the metrics client's PodMetrics reduction).

Pure; no I/O and no clock: `now` is a parameter. Inputs are the `model` dataclasses; the caller fetches pods and
metric values and passes them in (a failed fetch as the fetch's `error` text, which is wrapped here as upstream
wraps it). Go's int32/int64 wrap-around, truncating division and float-to-int conversion are reproduced.

Each `get_*_replicas` function is one ReplicaCalculator method; it returns a `Proposal` or raises
`ReplicaCalcError` with upstream's message. `metricreplicas.py` builds the per-metric status, conditions and events on
top of these (computeReplicasForMetric(s) of horizontal.go).

    get_resource_replicas(current, target_utilization, resource, *, pods, fetched, container="", tolerances,
                          now, settings) -> Proposal           (utilization and raw average usage set)
    get_raw_resource_replicas(current, target_usage_milli, resource, *, pods, fetched, container="", ...)
    get_metric_replicas(current, target_usage_milli, metric_name, *, pods, fetched, tolerances, now, settings)
    get_object_metric_replicas(current, target_milli, metric_name, described_object, *, namespace, fetched,
                               pods, tolerances)
    get_object_per_pod_metric_replicas(status_replicas, target_average_milli, metric_name, described_object, *,
                                       namespace, fetched, tolerances)
    get_external_metric_replicas(current, target_milli, metric_name, selector, *, namespace, fetched, pods,
                                 tolerances)
    get_external_per_pod_metric_replicas(status_replicas, target_per_pod_milli, metric_name, selector, *,
                                         namespace, fetched, tolerances)
    group_pods(pods, metrics, resource, *, now, settings) -> PodGroups
    calculate_requests(pods, container, resource) -> dict[str, int]
    tolerances_for_hpa(flag_tolerance, *, scale_up=None, scale_down=None) -> Tolerances
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from autoscaler.hpa import model
from autoscaler.hpa.gomath import (
    MAX_INT32,
    MAX_INT64,
    ceil_i32,
    ceil_i64,
    f2i32,
    fceil,
    fdiv,
    go_selector_string,
    i32,
    i64,
    quo,
)
from autoscaler.hpa.model import (
    ZERO_TIME,
    CalcSettings,
    CrossVersionObjectReference,
    ExternalMetricsFetch,
    LabelSelector,
    ObjectMetricFetch,
    PodInfo,
    PodsMetricsFetch,
    ResourceMetricsFetch,
    Tolerances,
)

_DEFAULT_CUSTOM_WINDOW_S = 60.0  # metricServerDefaultMetricWindow
_CPU = "cpu"


class ReplicaCalcError(Exception):
    """A replica calculation failed; str() is upstream's error text."""


@dataclass(frozen=True)
class Proposal:
    """A calculator's answer. `usage` is the milli-value upstream reports (average per pod, the object's or the
    external sum, or the per-pod average for AverageValue targets); `utilization` is the integer percentage of
    requests, set only by get_resource_replicas. `timestamp_s` is ZERO_TIME where upstream leaves it unset."""
    replicas: int
    usage: int
    timestamp_s: float
    utilization: int | None = None


@dataclass(frozen=True)
class PodMetric:
    value: int
    timestamp_s: float = ZERO_TIME
    window_s: float = 0.0


@dataclass(frozen=True)
class PodGroups:
    ready_count: int
    unready: frozenset[str]
    missing: frozenset[str]
    ignored: frozenset[str]


# ---- tolerances ----

def tolerances_for_hpa(flag_tolerance: float, *, scale_up: float | None = None,
                       scale_down: float | None = None) -> Tolerances:
    """tolerancesForHpa: the --horizontal-pod-autoscaler-tolerance flag for both directions, overridden by
    `behavior.scaleUp.tolerance` / `behavior.scaleDown.tolerance` (HPAConfigurableTolerance, on in v1.35)."""
    return Tolerances(scale_down=flag_tolerance if scale_down is None else scale_down,
                      scale_up=flag_tolerance if scale_up is None else scale_up)


# ---- metric reduction (the metrics client) ----

def resource_pod_metrics(fetched: ResourceMetricsFetch, resource: str, container: str) -> tuple[dict[str, PodMetric],
                                                                                                float]:
    """GetResourceMetric: per-pod usage (summed over containers, or the named container's) and the first
    item's timestamp. Raises with the client's error text."""
    if fetched.error is not None:
        raise ReplicaCalcError(f"unable to fetch metrics from resource metrics API: {fetched.error}")
    if not fetched.items:
        raise ReplicaCalcError("no metrics returned from resource metrics API")
    res: dict[str, PodMetric] = {}
    for m in fetched.items:
        if container:
            found = next((c for c in m.containers if c.name == container), None)
            if found is None:
                raise ReplicaCalcError(f"failed to get container metrics: container {container} not present in "
                                       f"metrics for pod {m.namespace}/{m.pod}")
            if resource in found.usage_milli:
                res[m.pod] = PodMetric(found.usage_milli[resource], m.timestamp_s, m.window_s)
            continue
        if not m.containers or any(resource not in c.usage_milli for c in m.containers):
            continue  # a container without the resource drops the pod
        total = 0
        for c in m.containers:
            total = i64(total + c.usage_milli[resource])
        res[m.pod] = PodMetric(total, m.timestamp_s, m.window_s)
    return res, fetched.items[0].timestamp_s


def custom_pod_metrics(fetched: PodsMetricsFetch) -> tuple[dict[str, PodMetric], float]:
    """GetRawMetric: custom.metrics.k8s.io values per pod and the first item's timestamp."""
    if fetched.error is not None:
        raise ReplicaCalcError(f"unable to fetch metrics from custom metrics API: {fetched.error}")
    if not fetched.items:
        raise ReplicaCalcError("no metrics returned from custom metrics API")
    res = {m.pod: PodMetric(m.value_milli, m.timestamp_s,
                            _DEFAULT_CUSTOM_WINDOW_S if m.window_s is None else m.window_s) for m in fetched.items}
    return res, fetched.items[0].timestamp_s


# ---- pods ----

def group_pods(pods: Sequence[PodInfo], metrics: Mapping[str, PodMetric], resource: str, *, now: float,
               settings: CalcSettings) -> PodGroups:
    """groupPods: ignored (deleting or Failed), unready (Pending; for CPU also the initialization and
    readiness-delay rules), missing (no metric), the rest ready."""
    ready, unready, missing, ignored = 0, set(), set(), set()
    for pod in pods:
        if pod.deleting or pod.phase == model.FAILED:
            ignored.add(pod.name)
            continue
        if pod.phase == model.PENDING:
            unready.add(pod.name)
            continue
        metric = metrics.get(pod.name)
        if metric is None:
            missing.add(pod.name)
            continue
        if resource == _CPU:
            if pod.ready is None or pod.start_time_s is None:
                is_unready = True
            elif pod.start_time_s + settings.cpu_initialization_period_s > now:
                # still initializing: unready, or no full metric window since the last readiness change
                is_unready = pod.ready == "False" or metric.timestamp_s < pod.ready_transition_s + metric.window_s
            else:
                # unready and never ready since start
                is_unready = (pod.ready == "False"
                              and pod.start_time_s + settings.initial_readiness_delay_s > pod.ready_transition_s)
            if is_unready:
                unready.add(pod.name)
                continue
        ready += 1
    return PodGroups(ready, frozenset(unready), frozenset(missing), frozenset(ignored))


def remove_metrics_for_pods(metrics: dict[str, PodMetric], pods: Iterable[str]) -> None:
    for name in pods:
        metrics.pop(name, None)


def calculate_requests(pods: Sequence[PodInfo], container: str, resource: str) -> dict[str, int]:
    """calculateRequests: per-pod request milli-values. Pod-level requests win when set and no container is
    named (PodLevelResources, on in v1.35); otherwise containers plus restartable init containers are summed, and
    a container without the request fails the whole calculation."""
    requests: dict[str, int] = {}
    for pod in pods:
        if pod.pod_requests_milli and not container:
            requests[pod.name] = _pod_level_request(pod, resource)
        else:
            requests[pod.name] = _container_requests(pod, container, resource)
    return requests


def _sidecars_and_containers(pod: PodInfo) -> list[model.ContainerInfo]:
    return [*pod.containers, *(c for c in pod.init_containers if c.restart_policy == "Always")]


def _pod_level_request(pod: PodInfo, resource: str) -> int:
    # resourcehelpers.PodRequests: pod-level requests override the containers' aggregate; overhead is added
    if resource in pod.pod_requests_milli:
        total = pod.pod_requests_milli[resource]
    else:
        present = [c.requests_milli[resource] for c in _sidecars_and_containers(pod) if resource in c.requests_milli]
        if not present:
            raise ReplicaCalcError(f"missing pod-level request for {resource} in Pod {pod.name}")
        total = sum(present)
    return i64(total + pod.overhead_milli.get(resource, 0))


def _container_requests(pod: PodInfo, container: str, resource: str) -> int:
    request = 0
    for c in _sidecars_and_containers(pod):
        if not container or container == c.name:
            if resource not in c.requests_milli:
                raise ReplicaCalcError(f"missing request for {resource} in container {c.name} of Pod {pod.name}")
            request = i64(request + c.requests_milli[resource])
        if container == c.name:
            return request
    if container:
        raise ReplicaCalcError(f"container {container} not found in Pod {pod.name}")
    return request


def ready_pods_count(pods: Sequence[PodInfo]) -> int:
    """getReadyPodsCount: Running pods whose Ready condition is True."""
    if not pods:
        raise ReplicaCalcError("no pods returned by selector while calculating replica count")
    return sum(1 for p in pods if p.phase == model.RUNNING and p.ready == "True")


# ---- usage ratios (metrics/utilization.go) ----

def resource_utilization_ratio(metrics: Mapping[str, PodMetric], requests: Mapping[str, int],
                               target_utilization: int) -> tuple[float, int, int]:
    """GetResourceUtilizationRatio: (ratio, int32 percentage of summed requests, raw average milli-value)."""
    metrics_total = requests_total = entries = 0
    for pod, metric in metrics.items():
        if pod not in requests:
            continue  # extraneous metric
        metrics_total = i64(metrics_total + metric.value)
        requests_total = i64(requests_total + requests[pod])
        entries += 1
    if requests_total == 0:
        raise ReplicaCalcError("no metrics returned matched known pods")
    utilization = i32(quo(i64(metrics_total * 100), requests_total))
    return fdiv(float(utilization), float(target_utilization)), utilization, quo(metrics_total, entries)


def metric_usage_ratio(metrics: Mapping[str, PodMetric], target_usage: int) -> tuple[float, int]:
    """GetMetricUsageRatio: (ratio, average milli-value)."""
    total = 0
    for metric in metrics.values():
        total = i64(total + metric.value)
    usage = quo(total, len(metrics))
    return fdiv(float(usage), float(target_usage)), usage


# ---- the calculators ----

def get_resource_replicas(current_replicas: int, target_utilization: int, resource: str, *,
                          pods: Sequence[PodInfo], fetched: ResourceMetricsFetch, container: str = "",
                          tolerances: Tolerances, now: float, settings: CalcSettings) -> Proposal:
    """GetResourceReplicas: a Utilization target on a Resource or ContainerResource metric."""
    try:
        metrics, timestamp = resource_pod_metrics(fetched, resource, container)
    except ReplicaCalcError as e:
        raise ReplicaCalcError(f"unable to get metrics for resource {resource}: {e}") from None
    if not pods:
        raise ReplicaCalcError("no pods returned by selector while calculating replica count")
    groups = group_pods(pods, metrics, resource, now=now, settings=settings)
    remove_metrics_for_pods(metrics, groups.ignored)
    remove_metrics_for_pods(metrics, groups.unready)
    if not metrics:
        raise ReplicaCalcError("did not receive metrics for targeted pods (pods might be unready)")
    requests = calculate_requests(pods, container, resource)
    ratio, utilization, raw = resource_utilization_ratio(metrics, requests, target_utilization)

    def proposal(replicas: int) -> Proposal:
        return Proposal(replicas, raw, timestamp, utilization)

    scale_up_with_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if tolerances.within(ratio):
            return proposal(current_replicas)
        return proposal(ceil_i32(ratio * groups.ready_count))
    if groups.missing:
        if ratio < 1.0:
            # scale-down: missing pods use all of their request, or the target when it is above 100%
            fallback = max(100, target_utilization)
            for name in groups.missing:
                metrics[name] = PodMetric(quo(i64(requests[name] * fallback), 100))
        elif ratio > 1.0:
            for name in groups.missing:
                metrics[name] = PodMetric(0)
    if scale_up_with_unready:
        for name in groups.unready:
            metrics[name] = PodMetric(0)
    new_ratio, _, _ = resource_utilization_ratio(metrics, requests, target_utilization)
    if tolerances.within(new_ratio) or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return proposal(current_replicas)  # too small a change, or the direction would flip
    new_replicas = ceil_i32(new_ratio * len(metrics))
    if (new_ratio < 1.0 and new_replicas > current_replicas) or (new_ratio > 1.0 and new_replicas < current_replicas):
        return proposal(current_replicas)  # the count of metrics would flip the direction
    return proposal(new_replicas)


def get_raw_resource_replicas(current_replicas: int, target_usage: int, resource: str, *,
                              pods: Sequence[PodInfo], fetched: ResourceMetricsFetch, container: str = "",
                              tolerances: Tolerances, now: float, settings: CalcSettings) -> Proposal:
    """GetRawResourceReplicas: an AverageValue target on a Resource or ContainerResource metric."""
    try:
        metrics, timestamp = resource_pod_metrics(fetched, resource, container)
    except ReplicaCalcError as e:
        raise ReplicaCalcError(f"unable to get metrics for resource {resource}: {e}") from None
    replicas, usage = _plain_metric_replicas(metrics, current_replicas, target_usage, resource, pods=pods,
                                             tolerances=tolerances, now=now, settings=settings)
    return Proposal(replicas, usage, timestamp)


def get_metric_replicas(current_replicas: int, target_usage: int, metric_name: str, *, pods: Sequence[PodInfo],
                        fetched: PodsMetricsFetch, tolerances: Tolerances, now: float,
                        settings: CalcSettings) -> Proposal:
    """GetMetricReplicas: a Pods metric (AverageValue)."""
    try:
        metrics, timestamp = custom_pod_metrics(fetched)
    except ReplicaCalcError as e:
        raise ReplicaCalcError(f"unable to get metric {metric_name}: {e}") from None
    replicas, usage = _plain_metric_replicas(metrics, current_replicas, target_usage, "", pods=pods,
                                             tolerances=tolerances, now=now, settings=settings)
    return Proposal(replicas, usage, timestamp)


def _plain_metric_replicas(metrics: dict[str, PodMetric], current_replicas: int, target_usage: int,
                           resource: str, *, pods: Sequence[PodInfo], tolerances: Tolerances, now: float,
                           settings: CalcSettings) -> tuple[int, int]:
    """calcPlainMetricReplicas."""
    if not pods:
        raise ReplicaCalcError("no pods returned by selector while calculating replica count")
    groups = group_pods(pods, metrics, resource, now=now, settings=settings)
    remove_metrics_for_pods(metrics, groups.ignored)
    remove_metrics_for_pods(metrics, groups.unready)
    if not metrics:
        raise ReplicaCalcError("did not receive metrics for targeted pods (pods might be unready)")
    ratio, usage = metric_usage_ratio(metrics, target_usage)
    scale_up_with_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if tolerances.within(ratio):
            return current_replicas, usage
        return ceil_i32(ratio * groups.ready_count), usage
    if groups.missing:
        if ratio < 1.0:
            for name in groups.missing:
                metrics[name] = PodMetric(target_usage)  # scale-down: missing pods at exactly the target
        elif ratio > 1.0:
            for name in groups.missing:
                metrics[name] = PodMetric(0)
    if scale_up_with_unready:
        for name in groups.unready:
            metrics[name] = PodMetric(0)
    new_ratio, _ = metric_usage_ratio(metrics, target_usage)
    if tolerances.within(new_ratio) or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current_replicas, usage
    new_replicas = ceil_i32(new_ratio * len(metrics))
    if (new_ratio < 1.0 and new_replicas > current_replicas) or (new_ratio > 1.0 and new_replicas < current_replicas):
        return current_replicas, usage
    return new_replicas, usage


def _usage_ratio_replica_count(current_replicas: int, ratio: float, pods: Sequence[PodInfo],
                               tolerances: Tolerances) -> int:
    """getUsageRatioReplicaCount: ready pods times the ratio; from zero replicas, ceil(ratio) without tolerance."""
    if current_replicas == 0:
        return ceil_i32(ratio)
    if tolerances.within(ratio):
        return current_replicas
    try:
        ready = ready_pods_count(pods)
    except ReplicaCalcError as e:
        raise ReplicaCalcError(f"unable to calculate ready pods: {e}") from None
    replicas = ratio * float(ready)
    return MAX_INT32 if replicas > MAX_INT32 else ceil_i32(replicas)


def _object_value(fetched: ObjectMetricFetch, metric_name: str, ref: CrossVersionObjectReference,
                  namespace: str) -> int:
    if fetched.error is None:
        return fetched.value_milli
    # upstream's format string puts the object's kind where the error belongs, and the error last
    raise ReplicaCalcError(f"unable to get metric {metric_name}: {ref.kind} on {namespace} {ref.name}/"
                           f"unable to fetch metrics from custom metrics API: {fetched.error}")


def get_object_metric_replicas(current_replicas: int, target_usage: int, metric_name: str,
                               described_object: CrossVersionObjectReference, *, namespace: str,
                               fetched: ObjectMetricFetch, pods: Sequence[PodInfo],
                               tolerances: Tolerances) -> Proposal:
    """GetObjectMetricReplicas: an Object metric with a Value target. The timestamp is left unset, as upstream."""
    usage = _object_value(fetched, metric_name, described_object, namespace)
    ratio = fdiv(float(usage), float(target_usage))
    return Proposal(_usage_ratio_replica_count(current_replicas, ratio, pods, tolerances), usage, ZERO_TIME)


def get_object_per_pod_metric_replicas(status_replicas: int, target_average_usage: int, metric_name: str,
                                       described_object: CrossVersionObjectReference, *, namespace: str,
                                       fetched: ObjectMetricFetch, tolerances: Tolerances) -> Proposal:
    """GetObjectPerPodMetricReplicas: an Object metric with an AverageValue target, over status.replicas."""
    usage = _object_value(fetched, metric_name, described_object, namespace)
    replicas = status_replicas
    ratio = fdiv(float(usage), float(target_average_usage) * float(replicas))
    if not tolerances.within(ratio):
        replicas = ceil_i32(fdiv(float(usage), float(target_average_usage)))
    return Proposal(replicas, ceil_i64(fdiv(float(usage), float(status_replicas))), fetched.timestamp_s)


def _external_values(fetched: ExternalMetricsFetch, metric_name: str, selector: LabelSelector | None,
                     namespace: str) -> tuple[int, ...]:
    err = None
    if fetched.error is not None:
        err = f"unable to fetch metrics from external metrics API: {fetched.error}"
    elif not fetched.values_milli:
        err = "no metrics returned from external metrics API"
    if err is not None:
        raise ReplicaCalcError(f"unable to get external metric {namespace}/{metric_name}/"
                               f"{go_selector_string(selector)}: {err}")
    return fetched.values_milli


def get_external_metric_replicas(current_replicas: int, target_usage: int, metric_name: str,
                                 selector: LabelSelector | None, *, namespace: str, fetched: ExternalMetricsFetch,
                                 pods: Sequence[PodInfo], tolerances: Tolerances) -> Proposal:
    """GetExternalMetricReplicas: an External metric with a Value target (the sum of all matching series).
    The timestamp is left unset, as upstream."""
    usage = 0
    for val in _external_values(fetched, metric_name, selector, namespace):
        if val > 0 and usage > MAX_INT64 - val:
            usage = MAX_INT64  # capped at MaxInt64
            break
        usage = i64(usage + val)
    ratio = fdiv(float(usage), float(target_usage))
    return Proposal(_usage_ratio_replica_count(current_replicas, ratio, pods, tolerances), usage, ZERO_TIME)


def get_external_per_pod_metric_replicas(status_replicas: int, target_usage_per_pod: int, metric_name: str,
                                         selector: LabelSelector | None, *, namespace: str,
                                         fetched: ExternalMetricsFetch, tolerances: Tolerances) -> Proposal:
    """GetExternalPerPodMetricReplicas: an External metric with an AverageValue target: ceil(sum / target)."""
    usage = 0
    for val in _external_values(fetched, metric_name, selector, namespace):
        usage = i64(usage + val)
        if usage < 0:
            usage = MAX_INT64  # int64 overflow
            break
    replicas = status_replicas
    ratio = fdiv(float(usage), float(target_usage_per_pod) * float(replicas))
    if not tolerances.within(ratio):
        result = fceil(fdiv(float(usage), float(target_usage_per_pod)))
        replicas = MAX_INT32 if result > MAX_INT32 else f2i32(result)
    overflow = float(usage) >= float(MAX_INT64)
    average = MAX_INT64 if overflow else ceil_i64(fdiv(float(usage), float(status_replicas)))
    return Proposal(replicas, average, fetched.timestamp_s)
