"""What the scheduler knows about a Pod or a Node, as plain frozen data, and how it is read from API objects.

Pod requests follow upstream `resource.PodRequests` (component-helpers): the sum over containers, at least
the largest init container (plus the restartable init containers started before it), sidecars added to the
sum, pod-level cpu/memory requests taking precedence, overhead on top; quantities are summed exactly and
converted once (cpu with MilliValue, the rest with Value). Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from kubescale.quantity import nano_value

Obj = dict[str, Any]

CPU, MEMORY, EPHEMERAL_STORAGE, PODS = "cpu", "memory", "ephemeral-storage", "pods"
NO_SCHEDULE, PREFER_NO_SCHEDULE, NO_EXECUTE = "NoSchedule", "PreferNoSchedule", "NoExecute"
TAINT_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
# the node lifecycle controller's NoSchedule taints for node conditions (nodeConditionToTaintKeyStatusMap)
CONDITION_TAINTS: Mapping[str, Mapping[str, str]] = {
    "Ready": {"False": "node.kubernetes.io/not-ready", "Unknown": "node.kubernetes.io/unreachable"},
    "MemoryPressure": {"True": "node.kubernetes.io/memory-pressure"},
    "DiskPressure": {"True": "node.kubernetes.io/disk-pressure"},
    "NetworkUnavailable": {"True": "node.kubernetes.io/network-unavailable"},
    "PIDPressure": {"True": "node.kubernetes.io/pid-pressure"},
}
# schedutil.DefaultMilliCPURequest / DefaultMemoryRequest: what scoring assumes for a container without requests
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024
_POD_LEVEL = (CPU, MEMORY)
_NANO = 10**9
_NONZERO_NANOS = {CPU: DEFAULT_MILLI_CPU_REQUEST * 10**6, MEMORY: DEFAULT_MEMORY_REQUEST * _NANO}


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str = ""
    effect: str = ""


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str = ""
    operator: str = ""  # empty means Equal
    value: str = ""
    effect: str = ""

    def tolerates(self, taint: Taint) -> bool:
        """`Toleration.ToleratesTaint`: an empty key with Exists matches every key, an empty effect every effect."""
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        if self.operator in ("", "Equal"):
            return self.value == taint.value
        return self.operator == "Exists"


def tolerated(tolerations: Iterable[Toleration], taint: Taint) -> bool:
    return any(t.tolerates(taint) for t in tolerations)


@dataclass(frozen=True, slots=True)
class Requirement:
    """A NodeSelectorRequirement (operators In, NotIn, Exists, DoesNotExist, Gt, Lt)."""

    key: str
    operator: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SelectorTerm:
    """A NodeSelectorTerm: every expression (on labels) and every field requirement must hold."""

    match_expressions: tuple[Requirement, ...] = ()
    match_fields: tuple[Requirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.match_expressions and not self.match_fields


@dataclass(frozen=True, slots=True)
class PreferredTerm:
    weight: int
    term: SelectorTerm


@dataclass(frozen=True, slots=True)
class HostPort:
    ip: str = "0.0.0.0"
    protocol: str = "TCP"
    port: int = 0


@dataclass(frozen=True, slots=True)
class PodInfo:
    """A pod's scheduling inputs. Amounts: cpu in millicores, memory and storage in bytes, others in units."""

    namespace: str
    name: str
    uid: str = ""
    cpu_millicores: int = 0
    memory_bytes: int = 0
    ephemeral_bytes: int = 0
    scalars: tuple[tuple[str, int], ...] = ()  # extended resources, hugepages-*, ...
    nonzero_cpu_millicores: int = DEFAULT_MILLI_CPU_REQUEST  # requests with scoring's defaults for unset ones
    nonzero_memory_bytes: int = DEFAULT_MEMORY_REQUEST
    node_selector: tuple[tuple[str, str], ...] = ()
    required: tuple[SelectorTerm, ...] | None = None  # None: no required node affinity
    preferred: tuple[PreferredTerm, ...] = ()
    tolerations: tuple[Toleration, ...] = ()
    host_ports: tuple[HostPort, ...] = ()
    priority: int = 0
    preempt_never: bool = False
    node_name: str = ""
    nominated_node: str = ""
    preempted: bool = False  # terminating because the scheduler preempted it

    @property
    def key(self) -> tuple[str, str]:
        return self.namespace, self.name

    @property
    def signature(self) -> tuple[Any, ...]:
        """What the node-static predicates depend on: pods with equal signatures filter nodes alike."""
        return self.node_name, self.node_selector, self.required, self.preferred, self.tolerations


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """A node's scheduling inputs: its allocatable amounts (units as PodInfo; `pods` a count) and constraints."""

    name: str
    cpu_millicores: int = 0
    memory_bytes: int = 0
    ephemeral_bytes: int = 0
    pods: int = 0
    scalars: tuple[tuple[str, int], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    taints: tuple[Taint, ...] = ()
    unschedulable: bool = False


def is_scalar_resource(name: str) -> bool:
    """`schedutil.IsScalarResourceName`: extended (`vendor/x`), prefixed native, hugepages and attachable volumes."""
    return "/" in name or name.startswith(("hugepages-", "attachable-volumes-"))


def _amounts(resources: Mapping[str, Any] | None) -> dict[str, int]:
    return {name: nano_value(q) for name, q in (resources or {}).items()}


def _add(acc: dict[str, int], more: Mapping[str, int]) -> None:
    for name, q in more.items():
        acc[name] = acc.get(name, 0) + q


def _max(acc: dict[str, int], more: Mapping[str, int]) -> None:
    for name, q in more.items():
        acc[name] = max(acc.get(name, q), q)


def _milli(nanos: int) -> int:
    return -(-nanos // 10**6)  # MilliValue rounds up


def _units(nanos: int) -> int:
    return -(-nanos // _NANO)  # Value rounds up


def pod_requests(spec: Obj) -> dict[str, Fraction]:
    """`resource.PodRequests`, exactly (`{"cpu": Fraction(3, 2), ...}`)."""
    return {name: Fraction(n, _NANO) for name, n in _request_nanos(spec).items()}


def _request_nanos(spec: Obj, defaults: Mapping[str, int] | None = None) -> dict[str, int]:
    """`resource.PodRequests` in billionths. With `defaults`, a container missing one of those requests counts
    the default (NonMissingContainerRequests, what scoring uses)."""

    def container(c: Obj) -> dict[str, int]:
        reqs = _amounts((c.get("resources") or {}).get("requests"))
        return {**defaults, **reqs} if defaults else reqs

    total: dict[str, int] = {}
    for c in spec.get("containers") or ():
        _add(total, container(c))
    restartable: dict[str, int] = {}
    init: dict[str, int] = {}
    for c in spec.get("initContainers") or ():
        reqs = container(c)
        if c.get("restartPolicy") == "Always":  # a sidecar runs alongside the containers
            _add(total, reqs)
            _add(restartable, reqs)
            _max(init, restartable)
        else:
            during = dict(reqs)
            _add(during, restartable)
            _max(init, during)
    _max(total, init)
    pod_level = _amounts((spec.get("resources") or {}).get("requests"))
    total.update({name: q for name, q in pod_level.items() if name in _POD_LEVEL})
    _add(total, _amounts(spec.get("overhead")))
    return total


def _term(term: Obj | None) -> SelectorTerm:
    def reqs(items: Any) -> tuple[Requirement, ...]:
        return tuple(Requirement(r.get("key", ""), r.get("operator", ""), tuple(r.get("values") or ()))
                     for r in items or ())

    term = term or {}
    return SelectorTerm(reqs(term.get("matchExpressions")), reqs(term.get("matchFields")))


def host_ports(spec: Obj) -> tuple[HostPort, ...]:
    """`schedutil.GetHostPorts`: host ports of the containers and of the restartable init containers."""
    sidecars = [c for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"]
    return tuple(HostPort(p.get("hostIP") or "0.0.0.0", p.get("protocol") or "TCP", int(p["hostPort"]))
                 for c in (*sidecars, *(spec.get("containers") or ()))
                 for p in c.get("ports") or () if (p.get("hostPort") or 0) > 0)


def _preempted(pod: Obj) -> bool:
    if not pod["metadata"].get("deletionTimestamp"):
        return False
    cond = next((c for c in (pod.get("status") or {}).get("conditions") or () if c.get("type") == "DisruptionTarget"),
                None)
    return cond is not None and cond.get("status") == "True" and cond.get("reason") == "PreemptionByScheduler"


def pod_info(pod: Obj) -> PodInfo:
    """A Pod object as the scheduler sees it. Raises ValueError (QuantityError) on an unparsable quantity."""
    meta, spec = pod["metadata"], pod.get("spec") or {}
    reqs = _request_nanos(spec)
    nonzero = _request_nanos(spec, _NONZERO_NANOS)
    node_affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    return PodInfo(
        namespace=meta.get("namespace", ""), name=meta["name"], uid=meta.get("uid", ""),
        cpu_millicores=_milli(reqs.get(CPU, 0)), memory_bytes=_units(reqs.get(MEMORY, 0)),
        ephemeral_bytes=_units(reqs.get(EPHEMERAL_STORAGE, 0)),
        scalars=tuple(sorted((n, _units(q)) for n, q in reqs.items() if is_scalar_resource(n))),
        nonzero_cpu_millicores=_milli(nonzero.get(CPU, 0)), nonzero_memory_bytes=_units(nonzero.get(MEMORY, 0)),
        node_selector=tuple(sorted((spec.get("nodeSelector") or {}).items())),
        required=None if required is None else tuple(_term(t) for t in required.get("nodeSelectorTerms") or ()),
        preferred=tuple(PreferredTerm(int(p.get("weight") or 0), _term(p.get("preference")))
                        for p in node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or ()),
        tolerations=tuple(Toleration(t.get("key") or "", t.get("operator") or "", t.get("value") or "",
                                     t.get("effect") or "") for t in spec.get("tolerations") or ()),
        host_ports=host_ports(spec),
        priority=int(spec.get("priority") or 0),
        preempt_never=spec.get("preemptionPolicy") == "Never",
        node_name=spec.get("nodeName") or "",
        nominated_node=(pod.get("status") or {}).get("nominatedNodeName") or "",
        preempted=_preempted(pod),
    )


def node_info(node: Obj, *, condition_taints: bool = False) -> NodeInfo:
    """A Node object as the scheduler sees it, from `status.allocatable`. With `condition_taints`, the NoSchedule
    taints the node lifecycle controller would add for its conditions (not-ready, unreachable, pressure, and
    unschedulable) are appended when missing, as upstream's scheduler only ever sees taints."""
    spec, status = node.get("spec") or {}, node.get("status") or {}
    alloc = _amounts(status.get("allocatable"))
    taints = [Taint(t.get("key", ""), t.get("value") or "", t.get("effect") or "") for t in spec.get("taints") or ()]
    if condition_taints:
        keys = [CONDITION_TAINTS.get(c.get("type", ""), {}).get(c.get("status", "")) for c in
                status.get("conditions") or ()]
        if spec.get("unschedulable"):
            keys.append(TAINT_UNSCHEDULABLE)
        for key in keys:
            if key and not any(t.key == key and t.effect == NO_SCHEDULE for t in taints):
                taints.append(Taint(key, "", NO_SCHEDULE))
    return NodeInfo(
        name=node["metadata"]["name"],
        cpu_millicores=_milli(alloc.get(CPU, 0)), memory_bytes=_units(alloc.get(MEMORY, 0)),
        ephemeral_bytes=_units(alloc.get(EPHEMERAL_STORAGE, 0)), pods=_units(alloc.get(PODS, 0)),
        scalars=tuple(sorted((n, _units(q)) for n, q in alloc.items() if is_scalar_resource(n))),
        labels=tuple(sorted((node["metadata"].get("labels") or {}).items())),
        taints=tuple(taints),
        unschedulable=bool(spec.get("unschedulable")),
    )


__all__ = ["CONDITION_TAINTS", "CPU", "DEFAULT_MEMORY_REQUEST", "DEFAULT_MILLI_CPU_REQUEST", "EPHEMERAL_STORAGE",
           "MEMORY", "NO_EXECUTE", "NO_SCHEDULE", "PODS", "PREFER_NO_SCHEDULE", "TAINT_UNSCHEDULABLE", "HostPort",
           "NodeInfo", "PodInfo", "PreferredTerm", "Requirement", "SelectorTerm", "Taint", "Toleration",
           "host_ports", "is_scalar_resource", "node_info", "pod_info", "pod_requests", "tolerated"]
