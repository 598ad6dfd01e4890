"""Server-side printing: the `meta.k8s.io/v1` Table that `kubectl get` asks kube-apiserver for.

Pure; no I/O. Column definitions (including the wide, priority-1 columns: the apiserver always prints
wide and kubectl picks what to show) as upstream declares them; the cells come from `kubesim.printers`.
Kinds without an upstream printer get apiserver's default convertor (NAME, CREATED AT); custom resources
get apiextensions' convertor: NAME plus the CRD version's `additionalPrinterColumns`, or AGE.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from kubesim import conversion, errors, printers
from kubesim.printers import human_duration
from kubesim.resources import ResourceType

__all__ = ["human_duration", "row_for", "table_columns", "to_table"]

Obj = dict[str, Any]

NAME_DOC = ("Name must be unique within a namespace. Is required when creating resources, although some resources "
            "may allow a client to request the generation of an appropriate name automatically. Name is primarily "
            "intended for creation idempotence and configuration definition. Cannot be updated. More info: "
            "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
AGE_DOC = ("CreationTimestamp is a timestamp representing the server time when this object was created. It is not "
           "guaranteed to be set in happens-before order across separate operations. Clients may not set this "
           "value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null "
           "for lists. More info: "
           "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata")
CONTAINERS_DOC = "Names of each container in the template."
IMAGES_DOC = "Images referenced by each container in the template."
READY_DOC = "Number of the pod with ready state"
ADDRESSES_DOC = ("List of addresses reachable to the node. Queried from cloud provider, if available. More info: "
                 "https://kubernetes.io/docs/reference/node/node-status/#addresses")
DS_DOC = "More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/"
SELECTOR_DOC = "More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"


def _col(name: str, type_: str, description: str, *, fmt: str = "", priority: int = 0) -> Obj:
    return {"name": name, "type": type_, "format": fmt, "description": description, "priority": priority}


NAME = _col("Name", "string", NAME_DOC, fmt="name")
AGE = _col("Age", "string", AGE_DOC)
CONTAINERS = _col("Containers", "string", CONTAINERS_DOC, priority=1)
IMAGES = _col("Images", "string", IMAGES_DOC, priority=1)

POD_COLUMNS = (
    NAME,
    _col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    _col("Status", "string", "The aggregate status of the containers in this pod."),
    _col("Restarts", "string", "The number of times the containers in this pod have been restarted and when the "
         "last container in this pod has restarted."),
    AGE,
    _col("IP", "string", "podIP address allocated to the pod. Routable at least within the cluster. Empty if not "
         "yet allocated.", priority=1),
    _col("Node", "string", "NodeName indicates in which node this pod is scheduled. If empty, this pod is a "
         "candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet "
         "for this node becomes responsible for the lifecycle of this pod. This field should not be used to "
         "express a desire for the pod to be scheduled on a specific node. "
         "https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename", priority=1),
    _col("Nominated Node", "string", "nominatedNodeName is set only when this pod preempts other pods on the node, "
         "but it cannot be scheduled right away as preemption victims receive their graceful termination periods. "
         "This field does not guarantee that the pod will be scheduled on this node.", priority=1),
    _col("Readiness Gates", "string", "If specified, all readiness gates will be evaluated for pod readiness. A pod "
         "is ready when all its containers are ready AND all conditions specified in the readiness gates have "
         'status equal to "True" More info: '
         "https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates", priority=1),
)
NODE_COLUMNS = (
    NAME,
    _col("Status", "string", "The status of the node"),
    _col("Roles", "string", "The roles of the node"),
    AGE,
    _col("Version", "string", "Kubelet Version reported by the node."),
    _col("Internal-IP", "string", ADDRESSES_DOC, priority=1),
    _col("External-IP", "string", ADDRESSES_DOC, priority=1),
    _col("OS-Image", "string", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 "
         "(wheezy)).", priority=1),
    _col("Kernel-Version", "string", "Kernel Version reported by the node from 'uname -r' (e.g. "
         "3.16.0-0.bpo.4-amd64).", priority=1),
    _col("Container-Runtime", "string", "ContainerRuntime Version reported by the node through runtime remote API "
         "(e.g. containerd://1.4.2).", priority=1),
)
DEPLOYMENT_COLUMNS = (
    NAME,
    _col("Ready", "string", READY_DOC),
    _col("Up-to-date", "string", "Total number of non-terminated pods targeted by this deployment that have the "
         "desired template spec."),
    _col("Available", "string", "Total number of available pods (ready for at least minReadySeconds) targeted by "
         "this deployment."),
    AGE, CONTAINERS, IMAGES,
    _col("Selector", "string", "Label selector for pods. Existing ReplicaSets whose pods are selected by this will "
         "be the ones affected by this deployment.", priority=1),
)
REPLICA_SET_COLUMNS = (
    NAME,
    _col("Desired", "integer", "Replicas is the number of desired replicas. This is a pointer to distinguish "
         "between explicit zero and unspecified. Defaults to 1. More info: "
         "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller"),
    _col("Current", "integer", "Replicas is the most recently observed number of replicas. More info: "
         "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller"),
    _col("Ready", "integer", "The number of ready replicas for this replica set."),
    AGE, CONTAINERS, IMAGES,
    _col("Selector", "string", "Selector is a label query over pods that should match the replica count. Label "
         "keys and values that must match in order to be controlled by this replica set. " + SELECTOR_DOC,
         priority=1),
)
STATEFUL_SET_COLUMNS = (NAME, _col("Ready", "string", READY_DOC), AGE, CONTAINERS, IMAGES)
DAEMON_SET_COLUMNS = (
    NAME,
    _col("Desired", "integer", "The total number of nodes that should be running the daemon pod (including nodes "
         "correctly running the daemon pod). " + DS_DOC),
    _col("Current", "integer", "The number of nodes that are running at least 1 daemon pod and are supposed to run "
         "the daemon pod. " + DS_DOC),
    _col("Ready", "integer", "numberReady is the number of nodes that should be running the daemon pod and have "
         "one or more of the daemon pod running with a Ready Condition."),
    _col("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod"),
    _col("Available", "integer", "The number of nodes that should be running the daemon pod and have one or more "
         "of the daemon pod running and available (ready for at least spec.minReadySeconds)"),
    _col("Node Selector", "string", "NodeSelector is a selector which must be true for the pod to fit on a node. "
         "Selector which must match a node's labels for the pod to be scheduled on that node. More info: "
         "https://kubernetes.io/docs/concepts/configuration/assign-pod-node/"),
    AGE, CONTAINERS, IMAGES,
    _col("Selector", "string", "A label query over pods that are managed by the daemon set. Must match in order to "
         "be controlled. " + SELECTOR_DOC, priority=1),
)
HPA_COLUMNS = (
    NAME,
    _col("Reference", "string", "scaleTargetRef points to the target resource to scale, and is used to the pods "
         "for which metrics should be collected, as well as to actually change the replica count."),
    _col("Targets", "string", "metrics contains the specifications for which to use to calculate the desired "
         "replica count (the maximum replica count across all metrics will be used)."),
    _col("MinPods", "string", "minReplicas is the lower limit for the number of replicas to which the autoscaler "
         "can scale down.  It defaults to 1 pod."),
    _col("MaxPods", "string", "maxReplicas is the upper limit for the number of replicas to which the autoscaler "
         "can scale up. It cannot be less that minReplicas."),
    _col("Replicas", "string", "currentReplicas is current number of replicas of pods managed by this autoscaler, "
         "as last seen by the autoscaler."),
    AGE,
)
EVENT_COLUMNS = (
    _col("Last Seen", "string", "The time at which the most recent occurrence of this event was recorded."),
    _col("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future"),
    _col("Reason", "string", "This should be a short, machine understandable string that gives the reason for the "
         "transition into the object's current status."),
    _col("Object", "string", "The object that this event is about."),
    _col("Subobject", "string", "If referring to a piece of an object instead of an entire object, this string "
         "should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].",
         priority=1),
    _col("Source", "string", "The component reporting this event. Should be a short machine understandable "
         "string.", priority=1),
    _col("Message", "string", "A human-readable description of the status of this operation."),
    _col("First Seen", "string", "The time at which the event was first recorded. (Time of server receipt is in "
         "TypeMeta.)", priority=1),
    _col("Count", "string", "The number of times this event has occurred.", priority=1),
    {**NAME, "priority": 1},
)
SERVICE_COLUMNS = (
    NAME,
    _col("Type", "string", "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are "
         "ExternalName, ClusterIP, NodePort, and LoadBalancer."),
    _col("Cluster-IP", "string", "clusterIP is the IP address of the service and is usually assigned randomly."),
    _col("External-IP", "string", "externalIPs is a list of IP addresses for which nodes in the cluster will also "
         "accept traffic for this service.  These IPs are not managed by Kubernetes."),
    _col("Port(s)", "string", "The list of ports that are exposed by this service. More info: "
         "https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies"),
    AGE,
    _col("Selector", "string", "Route service traffic to pods with label keys and values matching this selector. "
         "If empty or not present, the service is assumed to have an external process managing its endpoints, "
         "which Kubernetes will not modify. More info: "
         "https://kubernetes.io/docs/concepts/services-networking/service/", priority=1),
)
ENDPOINTS_COLUMNS = (
    NAME,
    _col("Endpoints", "string", "The set of all endpoints is the union of all subsets. Addresses are placed into "
         "subsets according to the IPs they share."),
    AGE,
)
NAMESPACE_COLUMNS = (NAME, _col("Status", "string", "The status of the namespace"), AGE)
SECRET_COLUMNS = (
    NAME,
    _col("Type", "string", "Used to facilitate programmatic handling of secret data. More info: "
         "https://kubernetes.io/docs/concepts/configuration/secret/#secret-types"),
    _col("Data", "string", "Data contains the secret data. Each key must consist of alphanumeric characters, '-', "
         "'_' or '.'."),
    AGE,
)
CONFIG_MAP_COLUMNS = (
    NAME,
    _col("Data", "string", "Data contains the configuration data. Each key must consist of alphanumeric "
         "characters, '-', '_' or '.'."),
    AGE,
)
SERVICE_ACCOUNT_COLUMNS = (
    NAME,
    _col("Secrets", "string", "Secrets is a list of the secrets in the same namespace that pods running using "
         "this ServiceAccount are allowed to use."),
    AGE,
)
LEASE_COLUMNS = (
    NAME, _col("Holder", "string", "holderIdentity contains the identity of the holder of a current lease."), AGE)
PDB_COLUMNS = (
    NAME,
    _col("Min Available", "string", "The minimum number of pods that must be available."),
    _col("Max Unavailable", "string", "The maximum number of pods that may be unavailable."),
    _col("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
    AGE,
)
API_SERVICE_COLUMNS = (
    NAME,
    _col("Service", "string", "The reference to the service that hosts this API endpoint."),
    _col("Available", "string", "Whether this service is available."),
    AGE,
)
DEFAULT_COLUMNS = (NAME, _col("Created At", "date", AGE_DOC))


@dataclass(frozen=True)
class Printer:
    """How one kind becomes a Table: its columns, its row cells and (pods only) its row conditions."""

    columns: tuple[Obj, ...]
    row: Callable[[Obj, printers.RowContext], list[Any]]
    conditions: Callable[[Obj], list[Obj] | None] | None = None
    null_rows_when_empty: bool = False  # apiserver's default convertor leaves `rows` nil for an empty list


def _api_service(obj: Obj, ctx: printers.RowContext) -> list[Any]:
    """kube-aggregator's convertor: `Local` or `ns/name`; Available `True`, `False (MissingEndpoints)`."""
    svc = (obj.get("spec") or {}).get("service")
    where = "Local" if svc is None else f"{svc.get('namespace', '')}/{svc.get('name', '')}"
    available = "Unknown"
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Available":
            status = c.get("status", "")
            available = f"{status} ({c['reason']})" if status != "True" and c.get("reason") else status
            break
    return [printers.name_of(obj), where, available, ctx.age(obj)]


def _created_at(obj: Obj, ctx: printers.RowContext) -> list[Any]:
    """apiserver's default convertor: the name and creationTimestamp in RFC 3339, UTC."""
    t = printers.parse_time((obj.get("metadata") or {}).get("creationTimestamp")) or printers.ZERO_TIME
    t = t.astimezone(UTC)
    return [printers.name_of(obj),
            f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}Z"]


_BUILTIN: dict[tuple[str, str], Printer] = {
    ("", "Pod"): Printer(POD_COLUMNS, printers.pod, printers.pod_conditions),
    ("", "Node"): Printer(NODE_COLUMNS, printers.node),
    ("", "Namespace"): Printer(NAMESPACE_COLUMNS, printers.namespace),
    ("", "Service"): Printer(SERVICE_COLUMNS, printers.service),
    ("", "Endpoints"): Printer(ENDPOINTS_COLUMNS, printers.endpoints),
    ("", "ConfigMap"): Printer(CONFIG_MAP_COLUMNS, printers.config_map),
    ("", "Secret"): Printer(SECRET_COLUMNS, printers.secret),
    ("", "ServiceAccount"): Printer(SERVICE_ACCOUNT_COLUMNS, printers.service_account),
    ("", "Event"): Printer(EVENT_COLUMNS, printers.event),
    ("events.k8s.io", "Event"): Printer(EVENT_COLUMNS, printers.event),
    ("coordination.k8s.io", "Lease"): Printer(LEASE_COLUMNS, printers.lease),
    ("apps", "Deployment"): Printer(DEPLOYMENT_COLUMNS, printers.deployment),
    ("apps", "ReplicaSet"): Printer(REPLICA_SET_COLUMNS, printers.replica_set),
    ("apps", "StatefulSet"): Printer(STATEFUL_SET_COLUMNS, printers.stateful_set),
    ("apps", "DaemonSet"): Printer(DAEMON_SET_COLUMNS, printers.daemon_set),
    ("autoscaling", "HorizontalPodAutoscaler"): Printer(HPA_COLUMNS, printers.horizontal_pod_autoscaler),
    ("policy", "PodDisruptionBudget"): Printer(PDB_COLUMNS, printers.pod_disruption_budget),
    ("apiregistration.k8s.io", "APIService"): Printer(API_SERVICE_COLUMNS, _api_service),
}
_DEFAULT = Printer(DEFAULT_COLUMNS, _created_at, null_rows_when_empty=True)


# --- custom resources: additionalPrinterColumns -----------------------------------------------------------

_STEP = re.compile(r"""
    (?P<all>\[\*\]|\.\*)
  | \.(?P<field>(?:\\.|[^.\[\]\\])+)
  | \[(?P<index>-?\d+)\]
  | \[(?P<q>['"])(?P<quoted>.*?)(?P=q)\]
  | \[\?\(@(?P<fpath>(?:\.[^.\[\]=!\s)]+)+)\s*(?P<op>==|!=)\s*(?P<lit>'[^']*'|"[^"]*"|[^)\s]+)\s*\)\]
""", re.X)


def _literal(text: str) -> Any:
    if text[:1] in "'\"":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    try:
        return json.loads(text)
    except ValueError:
        return text


def _compile_path(path: str) -> tuple[tuple[Any, ...], ...] | None:
    """The JSONPath subset CRD columns use: `.a.b`, `[0]`, `[*]`, `['k']`, `[?(@.type=="Ready")]`."""
    steps: list[tuple[Any, ...]] = []
    pos = 0
    while pos < len(path):
        m = _STEP.match(path, pos)
        if m is None:
            return None
        if m["all"]:
            steps.append(("all",))
        elif m["field"] is not None:
            steps.append(("field", re.sub(r"\\(.)", r"\1", m["field"])))
        elif m["index"] is not None:
            steps.append(("index", int(m["index"])))
        elif m["quoted"] is not None:
            steps.append(("field", m["quoted"]))
        else:
            steps.append(("filter", tuple(m["fpath"][1:].split(".")), m["op"] == "==", _literal(m["lit"])))
        pos = m.end()
    return tuple(steps)


_MISSING = object()


def _walk(value: Any, steps: tuple[tuple[Any, ...], ...]) -> Iterator[Any]:
    if not steps:
        yield value
        return
    step, rest = steps[0], steps[1:]
    if step[0] == "field":
        if isinstance(value, dict) and step[1] in value:
            yield from _walk(value[step[1]], rest)
    elif step[0] == "index":
        if isinstance(value, list) and -len(value) <= step[1] < len(value):
            yield from _walk(value[step[1]], rest)
    elif step[0] == "all":
        for item in value.values() if isinstance(value, dict) else value if isinstance(value, list) else ():
            yield from _walk(item, rest)
    elif isinstance(value, list):
        _, keys, equal, literal = step
        for item in value:
            got = next(_walk(item, tuple(("field", k) for k in keys)), _MISSING)
            if got is not _MISSING and (got == literal) == equal:
                yield from _walk(item, rest)


def _go_float(v: float) -> str:
    """Go's `%v` of a float64: shortest digits, exponent form below 1e-4 and from 1e6 (`1e+06`)."""
    if v != v or v in (math.inf, -math.inf):
        return "NaN" if v != v else ("+Inf" if v > 0 else "-Inf")
    if v == 0:
        return "0"
    _, digit_tuple, exponent = Decimal(repr(abs(v))).normalize().as_tuple()
    digits, sign = "".join(map(str, digit_tuple)), "-" if v < 0 else ""
    x = len(digits) + int(exponent) - 1
    if x < -4 or x >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'+' if x >= 0 else '-'}{abs(x):02d}"
    point = x + 1
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _go_json(v: Any) -> str:
    text = json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                    ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def _cell(type_: str, value: Any, ctx: printers.RowContext) -> Any:
    """apiextensions' `cellForJSONValue`, with `string` columns printed as client-go's JSONPath prints."""
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if value is None:
        return None
    if type_ == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            return _go_float(value)
        return _go_json(value) if isinstance(value, dict | list) else str(value)
    if type_ == "integer" and (is_int or isinstance(value, float)):
        return int(value)
    if type_ == "number" and (is_int or isinstance(value, float)):
        return float(value)
    if type_ == "boolean" and isinstance(value, bool):
        return value
    if type_ == "date" and isinstance(value, str):
        if value in ("", "null"):
            return printers.UNKNOWN
        return ctx.since(value) if _RFC3339.fullmatch(value) else "<invalid>"
    return None


_DEFAULT_CR_COLUMNS = ({"name": "Age", "type": "date", "description": AGE_DOC,
                        "jsonPath": ".metadata.creationTimestamp"},)


def _column_key(columns: list[Obj] | tuple[Obj, ...]) -> tuple[tuple[Any, ...], ...]:
    return tuple((c.get("name", ""), c.get("type", ""), c.get("format", ""), c.get("description", ""),
                  c.get("priority", 0), c.get("jsonPath", "")) for c in columns)


@lru_cache(maxsize=256)
def _custom_printer(key: tuple[tuple[Any, ...], ...]) -> Printer:
    headers = [NAME]
    paths = []
    for name, type_, fmt, description, priority, path in key:
        desc = description or f"Custom resource definition column (in JSONPath format): {path}"
        headers.append(_col(name, type_, desc, fmt=fmt, priority=priority))
        paths.append((type_, _compile_path(path)))

    def row(obj: Obj, ctx: printers.RowContext) -> list[Any]:
        cells: list[Any] = [printers.name_of(obj)]
        for type_, steps in paths:
            got = None if steps is None else next(_walk(obj, steps), None)
            cells.append(_cell(type_, got, ctx))
        return cells

    return Printer(tuple(headers), row)


# --- tables -----------------------------------------------------------------------------------------------


def _printer(rt: ResourceType, printer_columns: list[Obj] | None) -> Printer:
    if rt.custom:
        return _custom_printer(_column_key(printer_columns or _DEFAULT_CR_COLUMNS))
    return _BUILTIN.get((rt.group, rt.kind), _DEFAULT)


def table_columns(rt: ResourceType, *, printer_columns: list[Obj] | None = None) -> list[Obj]:
    """The Table's columnDefinitions for `rt` (shared dicts: do not mutate)."""
    return list(_printer(rt, printer_columns).columns)


def row_for(rt: ResourceType, obj: Obj, *, now: datetime, printer_columns: list[Obj] | None = None) -> list[Any]:
    """The cells of one object's row, in `table_columns` order."""
    return _printer(rt, printer_columns).row(obj, printers.RowContext(now))


INCLUDE_OBJECT = ("None", "Metadata", "Object")


def _object_meta(objects: list[Obj]) -> Obj:
    """A single object's Table (a get, a watch event) carries that object's resourceVersion."""
    rv = (objects[0].get("metadata") or {}).get("resourceVersion") if len(objects) == 1 else None
    return {"resourceVersion": rv} if rv else {}


def to_table(rt: ResourceType, objects: list[Obj], *, now: datetime, include_object: str = "Metadata",
             list_meta: Obj | None = None, api_version: str | None = None,
             printer_columns: list[Obj] | None = None, no_headers: bool = False,
             table_version: str = "v1") -> Obj:
    """A `meta.k8s.io` Table of `objects` as kube-apiserver serves it for `Accept: ...;as=Table`.

    Pass the objects as stored: upstream prints its internal object whatever version was asked for (a v1
    HPA keeps only the CPU metric in spec). `include_object` is the request's includeObject: "Metadata"
    (default) puts a PartialObjectMetadata in each row, "Object" the object converted to `api_version`
    (a version of `rt`, e.g. "v1"; unconverted when None), "None" a null. `list_meta` becomes the Table's
    metadata (resourceVersion, continue, remainingItemCount); left None, a single object's resourceVersion.
    `no_headers` drops columnDefinitions, as on every watch event after the first. `printer_columns` are the
    CRD version's additionalPrinterColumns.
    """
    if include_object not in INCLUDE_OBJECT and include_object != "":
        raise errors.bad_request(f'unrecognized includeObject value: "{include_object}"')
    printer = _printer(rt, printer_columns)
    ctx = printers.RowContext(now)
    meta_api = f"meta.k8s.io/{table_version}"
    row_of, conditions_of = printer.row, printer.conditions
    target = None if api_version is None else rt.api_version(api_version)
    rows: list[Obj] = []
    for obj in objects:
        row: Obj = {"cells": row_of(obj, ctx)}
        if conditions_of is not None and (conditions := conditions_of(obj)):
            row["conditions"] = conditions
        if include_object == "None":
            row["object"] = None
        elif include_object == "Object":
            row["object"] = obj if target is None or obj.get("apiVersion") == target else conversion.convert(
                {"kind": rt.kind, **obj}, to_api_version=target)
        else:
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": meta_api,
                             "metadata": obj.get("metadata") or {}}
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": meta_api,
        "metadata": dict(list_meta) if list_meta is not None else _object_meta(objects),
        "columnDefinitions": None if no_headers else list(printer.columns),
        "rows": None if not rows and printer.null_rows_when_empty else rows,
    }
