"""Plain data the HPA replica calculator decides on: the metric specs of an `autoscaling/v2` HPA, the pods behind
its scale target, and the metric values fetched for them (`replicas.py` turns these into replica proposals).

Pure data; no I/O, no parsing of manifests. Quantities are integer milli-values (`Quantity.MilliValue()`, see
`kubescale.quantity.milli_value`); times are Unix seconds as floats, with `ZERO_TIME` standing for Go's zero
`time.Time` (an unset `lastTransitionTime`, or the timestamp upstream leaves empty).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# time.Time{} (0001-01-01T00:00:00Z) in Unix seconds: what an unset metav1.Time compares as
ZERO_TIME = -62135596800.0

RESOURCE, CONTAINER_RESOURCE, PODS, OBJECT, EXTERNAL = "Resource", "ContainerResource", "Pods", "Object", "External"
UTILIZATION, VALUE, AVERAGE_VALUE = "Utilization", "Value", "AverageValue"
RUNNING, PENDING, SUCCEEDED, FAILED = "Running", "Pending", "Succeeded", "Failed"


# ---- metric specs (autoscaling/v2 MetricSpec and friends) ----

@dataclass(frozen=True)
class LabelSelectorRequirement:
    key: str
    operator: str  # In, NotIn, Exists, DoesNotExist
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabelSelector:
    match_labels: Mapping[str, str] = field(default_factory=dict)
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()


@dataclass(frozen=True)
class MetricIdentifier:
    name: str
    selector: LabelSelector | None = None


@dataclass(frozen=True)
class CrossVersionObjectReference:
    kind: str
    name: str
    api_version: str = ""


@dataclass(frozen=True)
class MetricTarget:
    """One of value / average_value (milli-values) / average_utilization (percent) is set; `type` as written."""
    type: str = ""
    value_milli: int | None = None
    average_value_milli: int | None = None
    average_utilization: int | None = None


@dataclass(frozen=True)
class ResourceMetricSource:
    name: str  # cpu, memory, ...
    target: MetricTarget


@dataclass(frozen=True)
class ContainerResourceMetricSource:
    name: str
    container: str
    target: MetricTarget


@dataclass(frozen=True)
class PodsMetricSource:
    metric: MetricIdentifier
    target: MetricTarget


@dataclass(frozen=True)
class ObjectMetricSource:
    described_object: CrossVersionObjectReference
    metric: MetricIdentifier
    target: MetricTarget


@dataclass(frozen=True)
class ExternalMetricSource:
    metric: MetricIdentifier
    target: MetricTarget


@dataclass(frozen=True)
class MetricSpec:
    """`type` names the one source that is set (Resource, ContainerResource, Pods, Object, External)."""
    type: str
    resource: ResourceMetricSource | None = None
    container_resource: ContainerResourceMetricSource | None = None
    pods: PodsMetricSource | None = None
    object: ObjectMetricSource | None = None
    external: ExternalMetricSource | None = None


# ---- pods ----

@dataclass(frozen=True)
class ContainerInfo:
    name: str
    requests_milli: Mapping[str, int] = field(default_factory=dict)  # resource name -> MilliValue
    restart_policy: str | None = None  # "Always" on an init container makes it a sidecar


@dataclass(frozen=True)
class PodInfo:
    """What the calculator reads of a v1 Pod. `ready` is the Ready condition's status ("True", "False",
    "Unknown") or None when the pod has no Ready condition; `start_time_s` None is a nil status.startTime."""
    name: str
    phase: str = RUNNING
    ready: str | None = "True"
    ready_transition_s: float = ZERO_TIME
    start_time_s: float | None = ZERO_TIME
    deleting: bool = False
    containers: tuple[ContainerInfo, ...] = ()
    init_containers: tuple[ContainerInfo, ...] = ()
    pod_requests_milli: Mapping[str, int] = field(default_factory=dict)  # spec.resources.requests (pod-level)
    overhead_milli: Mapping[str, int] = field(default_factory=dict)  # spec.overhead


# ---- fetched metrics ----

@dataclass(frozen=True)
class ContainerUsage:
    name: str
    usage_milli: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PodMetricSample:
    """One metrics.k8s.io PodMetrics item."""
    pod: str
    timestamp_s: float
    window_s: float
    containers: tuple[ContainerUsage, ...] = ()
    namespace: str = ""


@dataclass(frozen=True)
class ResourceMetricsFetch:
    """The PodMetrics list for the scale selector, in the order the API returned it; `error` is the list
    call's error text when it failed."""
    items: tuple[PodMetricSample, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class PodMetricValue:
    """One custom.metrics.k8s.io MetricValue describing a pod."""
    pod: str
    value_milli: int
    timestamp_s: float
    window_s: float | None = None  # windowSeconds; None -> upstream's 1-minute default


@dataclass(frozen=True)
class PodsMetricsFetch:
    items: tuple[PodMetricValue, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class ObjectMetricFetch:
    """The custom.metrics.k8s.io value for a described object (the first MetricValue returned)."""
    value_milli: int = 0
    timestamp_s: float = ZERO_TIME
    error: str | None = None


@dataclass(frozen=True)
class ExternalMetricsFetch:
    """external.metrics.k8s.io values matching the metric selector; `timestamp_s` is the first item's."""
    values_milli: tuple[int, ...] = ()
    timestamp_s: float = ZERO_TIME
    error: str | None = None


MetricFetch = ResourceMetricsFetch | PodsMetricsFetch | ObjectMetricFetch | ExternalMetricsFetch


# ---- results ----

@dataclass(frozen=True)
class Tolerances:
    """Usage-ratio tolerances: no change while 1 - scale_down <= ratio <= 1 + scale_up."""
    scale_down: float = 0.1
    scale_up: float = 0.1

    def within(self, usage_ratio: float) -> bool:
        return (1.0 - self.scale_down) <= usage_ratio <= (1.0 + self.scale_up)


@dataclass(frozen=True)
class MetricValueStatus:
    value_milli: int | None = None
    average_value_milli: int | None = None
    average_utilization: int | None = None


@dataclass(frozen=True)
class MetricStatus:
    """An autoscaling/v2 MetricStatus as the controller writes it into status.currentMetrics. `name` is the
    resource name (Resource, ContainerResource) or the metric name (Pods, Object, External)."""
    type: str
    name: str
    current: MetricValueStatus
    container: str | None = None
    selector: LabelSelector | None = None
    described_object: CrossVersionObjectReference | None = None


@dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str
    message: str


@dataclass(frozen=True)
class Event:
    type: str  # Normal, Warning
    reason: str
    message: str


@dataclass(frozen=True)
class CalcSettings:
    """kube-controller-manager's HPA flags the calculator reads (upstream defaults)."""
    cpu_initialization_period_s: float = 300.0  # --horizontal-pod-autoscaler-cpu-initialization-period
    initial_readiness_delay_s: float = 30.0  # --horizontal-pod-autoscaler-initial-readiness-delay
