"""The data a scenario file describes, as frozen dataclasses: settings, node groups (the simulated cloud),
workloads with load models, and timed events (load changes, faults, node problems, node group sizes).
docs/scenarios.md documents the YAML they are read from; kubesim.sim.scenario reads and validates it.

Pure data; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from kubescale.quantity import format_quantity
from kubesim.sim.loadcurves import Curve
from kubesim.sim.loadmodel import WorkloadKey, WorkloadLoad

DEFAULT_IMAGE = "registry.k8s.io/pause:3.10"
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")

# Faults. Kubelet faults hit the simulated kubelets' HTTP endpoints: `slow` answers late, `timeout` never
# answers, `reset` closes the connection, `http500` answers 500, `garbage` answers bytes that are not the
# text format, `truncated` cuts the metrics off mid-line, `counterBackwards` serves CPU counters lower than
# the last scrape saw.
KUBELET_FAULTS = ("slow", "timeout", "reset", "http500", "garbage", "truncated", "counterBackwards")
NODE_FAULTS = ("notReady",)  # the kubelet stops heartbeating (Node status and Lease) until the fault ends
API_FAULTS = ("apiConflict", "apiError")  # API requests answered 409 Conflict / 500 Internal Server Error
FAULTS = (*KUBELET_FAULTS, *NODE_FAULTS, *API_FAULTS, "watchDrop", "provisioningFailure")
API_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
WRITE_VERBS = ("create", "update", "patch", "delete")


@dataclass(frozen=True, slots=True)
class Settings:
    """Timings of the simulated kubelets and control plane (upstream defaults where there is one)."""

    kubelet_start_delay_s: float = 2.0  # a bound pod becomes Running after this
    pod_ready_delay_s: float = 1.0  # ... and Ready this much later
    node_status_update_frequency_s: float = 10.0  # kubelet heartbeat: Node status and Lease renewal
    node_lease_duration_s: float = 40.0
    node_monitor_grace_period_s: float = 50.0  # no heartbeat for this long: the node turns NotReady/Unknown
    usage_tick_s: float = 1.0  # how often usage counters advance (well under a 15 s scrape)
    kubelet_port: int = 10250
    kubelet_http: bool = False  # plain HTTP kubelets instead of HTTPS


@dataclass(frozen=True, slots=True)
class Resources:
    cpu_millicores: int
    memory_bytes: int
    pods: int
    ephemeral_storage_bytes: int

    def quantities(self) -> dict[str, str]:
        """As a Node's `status.capacity`/`allocatable` writes them."""
        return {"cpu": format_quantity(f"{self.cpu_millicores}m"), "memory": _bytes(self.memory_bytes),
                "pods": str(self.pods), "ephemeral-storage": _bytes(self.ephemeral_storage_bytes)}


def _bytes(n: int) -> str:
    """Binary units when they are exact (`7Gi`), as kubelets report memory, else plain bytes."""
    return format_quantity(f"{n // 1024}Ki") if n % 1024 == 0 else str(n)


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str
    effect: str  # NoSchedule, PreferNoSchedule or NoExecute

    def as_dict(self) -> dict[str, str]:
        """As a Node's `spec.taints` item."""
        return {"key": self.key, **({"value": self.value} if self.value else {}), "effect": self.effect}


@dataclass(frozen=True, slots=True)
class InstanceShape:
    instance_type: str
    capacity: Resources
    allocatable: Resources
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()


@dataclass(frozen=True, slots=True)
class NodeGroupSpec:
    """A node group of the simulated cloud. A scale-up registers each new node `provisioning_delay_s` after
    the request and it turns Ready `ready_delay_s` later; each new node fails to provision with probability
    `failure_rate`; a group in `stockout` cannot add nodes at all."""

    name: str
    min_size: int
    max_size: int
    size: int  # initial (target) size
    instance: InstanceShape
    provisioning_delay_s: float = 30.0
    ready_delay_s: float = 5.0
    failure_rate: float = 0.0
    stockout: bool = False


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    name: str
    requests: dict[str, str]  # canonical quantities
    limits: dict[str, str]


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    """An image-free Deployment or StatefulSet and its load model (`template` is the scenario entry's name;
    it differs from `name` for the copies of an entry with `copies`)."""

    namespace: str
    kind: str  # Deployment or StatefulSet
    name: str
    template: str
    replicas: int
    labels: dict[str, str]
    containers: tuple[ContainerSpec, ...]
    load: WorkloadLoad | None = None
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = ()
    image: str = DEFAULT_IMAGE

    @property
    def key(self) -> WorkloadKey:
        return (self.namespace, self.kind, self.name)

    def manifest(self) -> dict[str, Any]:
        """The apps/v1 object to create."""
        pod_spec: dict[str, Any] = {"containers": [
            {"name": c.name, "image": self.image,
             "resources": {k: dict(v) for k, v in (("requests", c.requests), ("limits", c.limits)) if v}}
            for c in self.containers]}
        if self.node_selector:
            pod_spec["nodeSelector"] = dict(self.node_selector)
        if self.tolerations:
            pod_spec["tolerations"] = [dict(t) for t in self.tolerations]
        spec: dict[str, Any] = {"replicas": self.replicas, "selector": {"matchLabels": dict(self.labels)},
                                "template": {"metadata": {"labels": dict(self.labels)}, "spec": pod_spec}}
        if self.kind == "StatefulSet":
            spec["serviceName"] = self.name
        return {"apiVersion": "apps/v1", "kind": self.kind,
                "metadata": {"name": self.name, "namespace": self.namespace, "labels": dict(self.labels)},
                "spec": spec}


@dataclass(frozen=True, slots=True)
class NodeTarget:
    """Which nodes an event hits: `node` by name, else a `fraction` of the nodes of `node_group` (of all
    simulated nodes when None), at least one, picked deterministically from the scenario seed."""

    node: str | None = None
    node_group: str | None = None
    fraction: float = 1.0


@dataclass(frozen=True, slots=True)
class LoadEvent:
    """Change the load of `workloads` (every copy of an entry): a new demand curve and/or scale factor."""

    at_s: float
    workloads: tuple[WorkloadKey, ...]
    curve: Curve | None = None
    scale: float | None = None

    def apply(self, model: WorkloadLoad | None) -> WorkloadLoad:
        """The workload's model after this event (a workload without one gets the defaults and the curve)."""
        if model is None:
            assert self.curve is not None  # the loader rejects a scale-only event for a workload without load
            model = WorkloadLoad(demand=self.curve)
        return replace(model, demand=self.curve if self.curve is not None else model.demand,
                       scale=self.scale if self.scale is not None else model.scale)


@dataclass(frozen=True, slots=True)
class FaultEvent:
    """A fault from `at_s` for `duration_s` (to the end when None). `fault` is one of FAULTS:
    kubelet faults (KUBELET_FAULTS) hit `target`'s kubelets on a share `rate` of requests, `slow` answering
    `delay_s` late; `notReady` stops `target`'s heartbeats; API faults (API_FAULTS) answer a share `rate` of
    the requests with `verbs` on `resources` (all when empty) with 409 Conflict or 500; `watchDrop` closes
    each open watch on `resources` with probability `rate` at `at_s`; `provisioningFailure` makes
    `node_group` fail every scale-up."""

    at_s: float
    fault: str
    target: NodeTarget | None = None
    duration_s: float | None = None
    rate: float = 1.0
    delay_s: float | None = None
    verbs: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    node_group: str | None = None


@dataclass(frozen=True, slots=True)
class NodeProblemEvent:
    """Write a kernel problem to the log of each `target` node, `count` times: `problem` is a kind of
    kubesim.sim.nodelogs.PROBLEMS (written with `params`), or else `message` is one raw kernel message."""

    at_s: float
    target: NodeTarget
    problem: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    message: str | None = None
    count: int = 1


@dataclass(frozen=True, slots=True)
class ScaleEvent:
    at_s: float
    node_group: str
    size: int


Event = LoadEvent | FaultEvent | NodeProblemEvent | ScaleEvent


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    source: str  # the file it was read from
    description: str
    seed: int
    duration_s: float | None  # how long demo/simulate run it; None: until stopped
    settings: Settings
    node_groups: tuple[NodeGroupSpec, ...]
    workloads: tuple[WorkloadSpec, ...]
    manifests: tuple[dict[str, Any], ...]  # any objects to apply, as written
    events: tuple[Event, ...]  # by time

    def node_group(self, name: str) -> NodeGroupSpec | None:
        return next((g for g in self.node_groups if g.name == name), None)


__all__ = ["API_FAULTS", "API_VERBS", "DEFAULT_IMAGE", "FAULTS", "KUBELET_FAULTS", "NODE_FAULTS", "TAINT_EFFECTS",
           "WRITE_VERBS", "ContainerSpec", "Event", "FaultEvent", "InstanceShape", "LoadEvent", "NodeGroupSpec",
           "NodeProblemEvent", "NodeTarget", "Resources", "ScaleEvent", "Scenario", "Settings", "Taint",
           "WorkloadSpec"]
