"""The `metrics.k8s.io/v1beta1` API as metrics-server serves it (pkg/api: node.go, pod.go, table.go, filter.go,
and what k8s.io/apiserver's handlers add): which objects a request selects, their JSON, the Tables, the error
Status bodies and the discovery documents.

Pure; no I/O and no clock (callers pass `now`). The JSON is built from string fragments, not dicts: each
NodeMeta/PodMeta's metadata is encoded once and reused while the metadata cache keeps the same object, so the
full list of 150,000 pods is a join of pre-encoded pieces.

Upstream behaviour kept:
- objects carry `metadata{name, namespace, creationTimestamp (now, as upstream), labels}`, `timestamp`,
  `window` and `usage{cpu, memory}` (nodes) or `containers[{name, usage}]` (pods); list items have no
  kind/apiVersion, a single object has them; lists are `{"kind", "apiVersion", "metadata": {}, "items"}`;
- lists sorted by name (nodes) and by namespace then name (pods); only Running pods exist (metrics-server's pod
  informer lists `status.phase=Running`); `--node-selector` restricts node lists, not gets;
- `labelSelector` over the objects' labels, `fieldSelector` over `metadata.name` (and `metadata.namespace` for
  pods; a node has no namespace field); any other field is a 400 as the apiserver's default conversion says;
- a get of an unknown object answers the lister's 404 (`node "x" not found`, `pods "x" not found`), of an
  object without metrics `nodemetrics.metrics.k8s.io "x" not found` / `podmetrics.metrics.k8s.io "ns/x" not
  found`; watch is a 405 (metrics-server releases serve get and list only);
- Tables: columns Name, cpu, memory, Window; a pod's row sums its containers; rows carry a
  PartialObjectMetadata (or the object, or null, per `includeObject`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii as _quote  # type: ignore[attr-defined]
from typing import Any

from kubescale.gcpause import gc_paused
from kubesim import errors, selectors
from kubesim.discovery import discovery_content_type, group_discovery, resource_list_to_discovery_version
from metricsd.formatting import format_cpu, format_duration, format_memory, format_timestamp
from metricsd.objects import NodeMeta, PodMeta
from metricsd.storage import NodeMetric, PodMetric

GROUP = "metrics.k8s.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
_NAME, _NAMESPACE = "metadata.name", "metadata.namespace"
_INCLUDE_OBJECT = ("", "Metadata", "Object", "None")


# --- what a request selects -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """A list request's label and field selectors, parsed and checked as the apiserver does."""

    labels: selectors.LabelSelector
    fields: selectors.FieldSelector


def parse_selection(query: Mapping[str, str]) -> Selection:
    """`labelSelector` and `fieldSelector` of a list request; errors.ApiError (400) with upstream's message for
    a selector that does not parse or a field other than metadata.name / metadata.namespace."""
    try:
        labels = selectors.parse_label_selector(query.get("labelSelector", ""))
        fields = selectors.parse_field_selector(query.get("fieldSelector", ""))
    except selectors.SelectorError as e:
        raise errors.bad_request(str(e)) from None
    for name in sorted(fields.fields()):
        if name not in (_NAME, _NAMESPACE):
            raise errors.bad_request(f'"{name}" is not a known field selector: only "{_NAME}", "{_NAMESPACE}"')
    return Selection(labels, fields)


def is_watch(query: Mapping[str, str]) -> bool:
    """`?watch=` as the apiserver reads a bool parameter: anything but "0" or "false" (any case) is true."""
    value = query.get("watch")
    return value is not None and value != "0" and value.lower() != "false"


def watch_not_supported(resource: str) -> errors.ApiError:
    """errors.NewMethodNotSupported for a watch of `resource` ("nodes" or "pods")."""
    return errors.ApiError(405, "MethodNotAllowed",
                           f'watch is not supported on resources of kind "{resource}.{GROUP}"',
                           {"group": GROUP, "kind": resource})


def select_nodes(nodes: Mapping[str, NodeMeta], selection: Selection, *,
                 node_selector: selectors.LabelSelector | None = None) -> list[NodeMeta]:
    """The nodes a list selects (label selector, `--node-selector`, field selector), sorted by name."""
    match = selection.labels.matches
    extra = node_selector.matches if node_selector is not None and not node_selector.is_empty() else None
    fields = None if selection.fields.is_empty() else selection.fields
    out = []
    for meta in nodes.values():
        if not match(meta.labels) or (extra is not None and not extra(meta.labels)):
            continue
        if fields is not None and not fields.matches({_NAME: meta.name}.get):
            continue
        out.append(meta)
    out.sort(key=_node_name)
    return out


def select_pods(pods: Mapping[tuple[str, str], PodMeta], selection: Selection, *,
                namespace: str | None) -> list[PodMeta]:
    """The Running pods a list selects (in `namespace`, or all when None), sorted by namespace then name."""
    match = None if selection.labels.is_empty() else selection.labels.matches
    fields = None if selection.fields.is_empty() else selection.fields
    by_namespace: dict[str, list[PodMeta]] = {}
    for meta in pods.values():
        if not meta.running or (namespace is not None and meta.namespace != namespace):
            continue
        if match is not None and not match(meta.labels):
            continue
        if fields is not None and not fields.matches({_NAME: meta.name, _NAMESPACE: meta.namespace}.get):
            continue
        in_namespace = by_namespace.get(meta.namespace)
        if in_namespace is None:
            by_namespace[meta.namespace] = [meta]
        else:
            in_namespace.append(meta)
    out: list[PodMeta] = []
    for ns in sorted(by_namespace):
        out.extend(sorted(by_namespace[ns], key=_pod_name))
    return out


def _node_name(meta: NodeMeta) -> str:
    return meta.name


def _pod_name(meta: PodMeta) -> str:
    return meta.name


def get_node(nodes: Mapping[str, NodeMeta], name: str) -> NodeMeta:
    """The node a get asks for; the node lister's 404 when it does not exist."""
    meta = nodes.get(name)
    if meta is None:
        raise errors.not_found("", "node", name)
    return meta


def get_pod(pods: Mapping[tuple[str, str], PodMeta], namespace: str, name: str) -> PodMeta:
    """The Running pod a get asks for; the pod lister's 404 when there is none (a pod in another phase is not
    in metrics-server's cache)."""
    meta = pods.get((namespace, name))
    if meta is None or not meta.running:
        raise errors.not_found("", "pods", name)
    return meta


def node_metrics_not_found(name: str) -> errors.ApiError:
    return errors.not_found(GROUP, "nodemetrics", name)


def pod_metrics_not_found(namespace: str, name: str) -> errors.ApiError:
    return errors.not_found(GROUP, "podmetrics", f"{namespace}/{name}")


# --- JSON -------------------------------------------------------------------------------------------------


class Encoder:
    """Encodes NodeMetrics/PodMetrics and their lists and Tables as metrics-server's JSON (bytes).

    Keeps each metadata object's encoded form while the caller keeps passing the same object (an informer
    replaces the object when it changes), so repeated lists re-encode only what changed. Not thread-safe."""

    def __init__(self) -> None:
        self._meta: dict[int, tuple[object, str, str]] = {}  # id(meta) -> (meta, head, tail)
        self._quoted: dict[str, str] = {}
        self._times: dict[int, str] = {}
        self._windows: dict[int, str] = {}

    # -- fragments ---------------------------------------------------------------------------------------
    def _parts(self, meta: NodeMeta | PodMeta) -> tuple[str, str]:
        """`{"name":…,"namespace":…,"creationTimestamp":"` and `"` + labels + `}`: the metadata around its
        creation time."""
        entry = self._meta.get(id(meta))
        if entry is not None and entry[0] is meta:
            return entry[1], entry[2]
        head = '{"name":' + _quote(meta.name)
        if isinstance(meta, PodMeta):
            head += ',"namespace":' + _quote(meta.namespace)
        head += ',"creationTimestamp":"'
        tail = '"'
        if meta.labels:
            tail += ',"labels":' + json.dumps(dict(meta.labels), sort_keys=True, separators=(",", ":"))
        tail += "}"
        self._meta[id(meta)] = (meta, head, tail)
        return head, tail

    def _time(self, ns: int) -> str:
        text = self._times.get(ns)
        if text is None:
            if len(self._times) > 100_000:
                self._times.clear()
            text = self._times[ns] = format_timestamp(ns)
        return text

    def _window(self, ns: int) -> str:
        text = self._windows.get(ns)
        if text is None:
            if len(self._windows) > 100_000:
                self._windows.clear()
            text = self._windows[ns] = format_duration(ns)
        return text

    def _name(self, name: str) -> str:
        text = self._quoted.get(name)
        if text is None:
            if len(self._quoted) > 100_000:
                self._quoted.clear()
            text = self._quoted[name] = _quote(name)
        return text

    def trim(self, *alive: Collection[NodeMeta | PodMeta]) -> None:
        """Forget the encodings of objects no longer in the caches once they outnumber the live ones (the
        encodings keep their objects alive); cheap unless that happens. Call after serving a list."""
        if len(self._meta) <= 2 * sum(len(a) for a in alive) + 1024:
            return
        ids = {id(m) for objects in alive for m in objects}
        self._meta = {k: v for k, v in self._meta.items() if k in ids}

    def _node_items(self, metas: Iterable[NodeMeta], metrics: Mapping[str, NodeMetric], created: str) -> list[str]:
        out = []
        parts, time, window = self._parts, self._time, self._window
        for meta in metas:
            m = metrics.get(meta.name)
            if m is None:
                continue
            head, tail = parts(meta)
            out.append(f'{{"metadata":{head}{created}{tail},"timestamp":"{time(m.timestamp_ns)}",'
                       f'"window":"{window(m.window_ns)}","usage":{{"cpu":"{_cpu(m.cpu_nanocores)}",'
                       f'"memory":"{_memory(m.memory_bytes)}"}}}}')
        return out

    def _pod_items(self, metas: Iterable[PodMeta], metrics: Mapping[tuple[str, str], PodMetric],
                   created: str) -> list[str]:
        """The items' JSON: the hot loop of a full pod list, so everything is inline."""
        out = []
        get, cache, parts, names = metrics.get, self._meta.get, self._parts, self._quoted.get
        last_ts = last_win = -1
        ts = win = ""
        for meta in metas:
            m = get((meta.namespace, meta.name))
            if m is None:
                continue
            entry = cache(id(meta))
            head, tail = (entry[1], entry[2]) if entry is not None and entry[0] is meta else parts(meta)
            if m.timestamp_ns != last_ts:  # a tick's pods mostly share their timestamp and window
                last_ts, ts = m.timestamp_ns, self._time(m.timestamp_ns)
            if m.window_ns != last_win:
                last_win, win = m.window_ns, self._window(m.window_ns)
            cs = m.containers
            if len(cs) == 1:
                c, cpu, mem = cs[0]
                out.append(f'{{"metadata":{head}{created}{tail},"timestamp":"{ts}","window":"{win}",'
                           f'"containers":[{{"name":{names(c) or self._name(c)},"usage":{{'
                           f'"cpu":"{f"{cpu}n" if cpu % 10 else _cpu(cpu)}",'
                           f'"memory":"{mem if mem % 1024 and mem >= 1024 else _memory(mem)}"}}}}]}}')
            else:
                containers = ",".join([f'{{"name":{names(c) or self._name(c)},"usage":{{"cpu":"{_cpu(cpu)}",'
                                       f'"memory":"{_memory(mem)}"}}}}' for c, cpu, mem in cs])
                out.append(f'{{"metadata":{head}{created}{tail},"timestamp":"{ts}","window":"{win}",'
                           f'"containers":[{containers}]}}')
        return out

    # -- objects and lists -------------------------------------------------------------------------------
    def node(self, meta: NodeMeta, metric: NodeMetric, *, now_ns: int) -> bytes:
        """One NodeMetrics (a get)."""
        (body,) = self._node_items([meta], {meta.name: metric}, format_timestamp(now_ns))
        return _with_kind("NodeMetrics", body).encode()

    def pod(self, meta: PodMeta, metric: PodMetric, *, now_ns: int) -> bytes:
        """One PodMetrics (a get)."""
        (body,) = self._pod_items([meta], {(meta.namespace, meta.name): metric}, format_timestamp(now_ns))
        return _with_kind("PodMetrics", body).encode()

    def node_list(self, metas: Sequence[NodeMeta], metrics: Mapping[str, NodeMetric], *, now_ns: int) -> bytes:
        """The NodeMetricsList of the `metas` (in their order) that have metrics."""
        return _list("NodeMetricsList", self._node_items(metas, metrics, format_timestamp(now_ns)))

    def pod_list(self, metas: Sequence[PodMeta], metrics: Mapping[tuple[str, str], PodMetric], *,
                 now_ns: int) -> bytes:
        """The PodMetricsList of the `metas` (in their order) that have metrics."""
        with gc_paused():  # 150,000 new strings: the cyclic GC would rescan the heap meanwhile
            return _list("PodMetricsList", self._pod_items(metas, metrics, format_timestamp(now_ns)))

    # -- Tables ------------------------------------------------------------------------------------------
    def node_table(self, rows: Sequence[tuple[NodeMeta, NodeMetric]], *, now_ns: int, table_version: str = "v1",
                   include_object: str = "") -> bytes:
        """The meta.k8s.io Table of NodeMetrics (a get is a one-row table)."""
        created = format_timestamp(now_ns)

        def cells(meta: NodeMeta, m: NodeMetric) -> list[str]:
            return [meta.name, _cpu(m.cpu_nanocores), _memory(m.memory_bytes), self._window(m.window_ns)]

        def whole(meta: NodeMeta, m: NodeMetric) -> str:
            return _with_kind("NodeMetrics", self._node_items([meta], {meta.name: m}, created)[0])

        return self._table(rows, cells, whole, created, table_version, include_object)

    def pod_table(self, rows: Sequence[tuple[PodMeta, PodMetric]], *, now_ns: int, table_version: str = "v1",
                  include_object: str = "") -> bytes:
        """The meta.k8s.io Table of PodMetrics: a row per pod with its containers' usage summed."""
        created = format_timestamp(now_ns)

        def cells(meta: PodMeta, m: PodMetric) -> list[str]:
            cpu = sum(c[1] for c in m.containers)
            memory = sum(c[2] for c in m.containers)
            return [meta.name, _cpu(cpu), _memory(memory), self._window(m.window_ns)]

        def whole(meta: PodMeta, m: PodMetric) -> str:
            return _with_kind("PodMetrics", self._pod_items([meta], {(meta.namespace, meta.name): m}, created)[0])

        with gc_paused():
            return self._table(rows, cells, whole, created, table_version, include_object)

    def _table(self, rows: Sequence[tuple[Any, Any]], cells: Callable[[Any, Any], list[str]],
               whole: Callable[[Any, Any], str], created: str, table_version: str, include_object: str) -> bytes:
        if include_object not in _INCLUDE_OBJECT:
            raise errors.bad_request(f'unrecognized includeObject value: "{include_object}"')
        api_version = f"meta.k8s.io/{table_version}"
        out = []
        for meta, m in rows:
            if include_object == "None":
                obj = "null"
            elif include_object == "Object":
                obj = whole(meta, m)
            else:
                head, tail = self._parts(meta)
                obj = (f'{{"kind":"PartialObjectMetadata","apiVersion":"{api_version}",'
                       f'"metadata":{head}{created}{tail}}}')
            out.append(f'{{"cells":{json.dumps(cells(meta, m), ensure_ascii=False)},"object":{obj}}}')
        columns = json.dumps(TABLE_COLUMNS) if out else "null"
        rows_json = "[" + ",".join(out) + "]" if out else "null"
        return (f'{{"kind":"Table","apiVersion":"{api_version}","metadata":{{}},'
                f'"columnDefinitions":{columns},"rows":{rows_json}}}').encode()


TABLE_COLUMNS = [
    {"name": "Name", "type": "string", "format": "name", "description": "Name of the resource", "priority": 0},
    {"name": "cpu", "type": "string", "format": "quantity", "description": "", "priority": 0},
    {"name": "memory", "type": "string", "format": "quantity", "description": "", "priority": 0},
    {"name": "Window", "type": "string", "format": "duration", "description": "", "priority": 0},
]


_cpu, _memory = format_cpu, format_memory


def _with_kind(kind: str, body: str) -> str:
    return f'{{"kind":"{kind}","apiVersion":"{API_VERSION}",{body[1:]}'


def _list(kind: str, items: list[str]) -> bytes:
    head = f'{{"kind":"{kind}","apiVersion":"{API_VERSION}","metadata":{{}},"items":['
    return (head + ",".join(items) + "]}").encode()


# --- discovery --------------------------------------------------------------------------------------------

_GROUP_VERSION = {"groupVersion": API_VERSION, "version": VERSION}
_RESOURCES = (
    {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics", "verbs": ["get", "list"]},
    {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics", "verbs": ["get", "list"]},
)


def api_group() -> dict[str, Any]:
    """`/apis/metrics.k8s.io` (APIGroup)."""
    return {"kind": "APIGroup", "apiVersion": "v1", "name": GROUP, "versions": [dict(_GROUP_VERSION)],
            "preferredVersion": dict(_GROUP_VERSION)}


def api_group_list() -> dict[str, Any]:
    """`/apis` (APIGroupList) in the legacy form."""
    group = api_group()
    del group["kind"], group["apiVersion"]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [group]}


def api_resource_list() -> dict[str, Any]:
    """`/apis/metrics.k8s.io/v1beta1` (APIResourceList): nodes and pods, get and list."""
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": API_VERSION,
            "resources": [dict(r, verbs=list(r["verbs"])) for r in _RESOURCES]}


def aggregated_discovery(version: str) -> tuple[dict[str, Any], str]:
    """`/apis` as an `apidiscovery.k8s.io` APIGroupDiscoveryList of `version` ("v2" or "v2beta1") and its
    Content-Type; what kube-apiserver's aggregator and kubectl ask for first."""
    versions = [resource_list_to_discovery_version(api_resource_list())]
    body = {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{version}", "metadata": {},
            "items": [group_discovery(GROUP, versions)]}
    return body, discovery_content_type(version)


__all__ = ["API_VERSION", "GROUP", "TABLE_COLUMNS", "VERSION", "Encoder", "Selection", "aggregated_discovery",
           "api_group", "api_group_list", "api_resource_list", "get_node", "get_pod", "is_watch",
           "node_metrics_not_found", "parse_selection", "pod_metrics_not_found", "select_nodes", "select_pods",
           "watch_not_supported"]
