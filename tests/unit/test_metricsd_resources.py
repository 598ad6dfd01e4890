"""metricsd.resources against metrics-server's API (pkg/api node.go, pod.go, table.go, filter.go and the apiserver
handlers): the JSON field by field, sort order, selectors, Tables, the 400/404/405 Status bodies, discovery."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubesim import errors
from metricsd import resources
from metricsd.decoding import ContainerSample, NodeSample, NodeScrape
from metricsd.formatting import format_cpu, format_duration, format_memory, format_timestamp
from metricsd.objects import NodeMeta, PodMeta
from metricsd.storage import MetricsStore, NodeMetric, PodMetric

T0 = 1_633_253_797_000  # ms: 2021-10-03T09:36:37Z
NOW_NS = 1_633_253_830_000_000_000  # 2021-10-03T09:37:10Z
S = 1_000_000_000


def node_meta(name: str, labels: dict[str, str] | None = None) -> NodeMeta:
    return NodeMeta(name=name, labels=labels or {}, addresses=(("InternalIP", "10.0.0.1"),), kubelet_port=10250,
                    metrics_path=None, creation_timestamp="2021-01-01T00:00:00Z", allocatable_cpu_millis=4000,
                    allocatable_memory_bytes=8 << 30)


def pod_meta(ns: str, name: str, labels: dict[str, str] | None = None, *, running: bool = True) -> PodMeta:
    return PodMeta(namespace=ns, name=name, labels=labels or {}, creation_timestamp="2021-01-01T00:00:00Z",
                   running=running)


def filled_store() -> MetricsStore:
    """Two ticks 15.005 s apart: node1 and node2 with pods; node3 scraped once only (no metrics)."""
    def tick(k: int) -> dict[str, NodeScrape]:
        ts = T0 + k * 15_005
        cpu = (k + 1)

        def c(ns: str, pod: str, name: str, rate: float, mem: int) -> ContainerSample:
            return ContainerSample(ns, pod, name, round(cpu * rate * 15.005 * S), mem, (T0 - 600_000) * 1_000_000, ts)
        batch = {
            "node2": NodeScrape(NodeSample(round(cpu * 2 * 15.005 * S), 2 << 30, ts),
                                (c("kube-system", "coredns", "coredns", 0.0073, 14520 * 1024),
                                 c("default", "web", "app", 0.25, 100 << 20),
                                 c("default", "web", "sidecar", 0.0005, 1536))),
            "node1": NodeScrape(NodeSample(round(cpu * 1.5 * 15.005 * S), 749785088, ts),
                                (c("default", "api", "app", 0.5, 3 << 30),)),
        }
        if k == 1:
            batch["node3"] = NodeScrape(NodeSample(10 * S, 1 << 30, ts), ())
        return batch
    store = MetricsStore(metric_resolution_s=15)
    store.store(tick(0), now=1.0)
    store.store(tick(1), now=2.0)
    return store


NODES = {"node2": node_meta("node2", {"zone": "b", "kubernetes.io/os": "linux"}),
         "node1": node_meta("node1", {"zone": "a", "kubernetes.io/os": "linux"}),
         "node3": node_meta("node3", {"zone": "a"})}
PODS = {("kube-system", "coredns"): pod_meta("kube-system", "coredns", {"k8s-app": "kube-dns"}),
        ("default", "web"): pod_meta("default", "web", {"app": "web", "tier": "front"}),
        ("default", "api"): pod_meta("default", "api", {"app": "api"}),
        ("default", "done"): pod_meta("default", "done", {"app": "web"}, running=False)}


def node_list(query: dict[str, str] | None = None, *, node_selector: str = "") -> dict[str, Any]:
    store = filled_store()
    sel = resources.parse_selection(query or {})
    metas = resources.select_nodes(NODES, sel, node_selector=resources.selectors.parse_label_selector(node_selector))
    body = resources.Encoder().node_list(metas, store.node_metrics(m.name for m in metas), now_ns=NOW_NS)
    return json.loads(body)


def pod_list(query: dict[str, str] | None = None, *, namespace: str | None = None) -> dict[str, Any]:
    store = filled_store()
    metas = resources.select_pods(PODS, resources.parse_selection(query or {}), namespace=namespace)
    body = resources.Encoder().pod_list(metas, store.pod_metrics((m.namespace, m.name) for m in metas),
                                        now_ns=NOW_NS)
    return json.loads(body)


# --- object JSON ------------------------------------------------------------------------------------------

def test_node_metrics_json_field_by_field() -> None:
    store = filled_store()
    meta = NODES["node1"]
    body = resources.Encoder().node(meta, store.node_metrics(["node1"])["node1"], now_ns=NOW_NS)
    obj = json.loads(body)
    assert list(obj) == ["kind", "apiVersion", "metadata", "timestamp", "window", "usage"]
    assert obj == {
        "kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {"name": "node1", "creationTimestamp": "2021-10-03T09:37:10Z",
                     "labels": {"kubernetes.io/os": "linux", "zone": "a"}},
        "timestamp": "2021-10-03T09:36:52Z", "window": "15.005s",
        "usage": {"cpu": "1500m", "memory": "732212Ki"},
    }
    assert list(obj["metadata"]) == ["name", "creationTimestamp", "labels"]
    assert list(obj["metadata"]["labels"]) == ["kubernetes.io/os", "zone"]  # Go sorts map keys
    assert list(obj["usage"]) == ["cpu", "memory"]


def test_pod_metrics_json_field_by_field() -> None:
    store = filled_store()
    key = ("default", "web")
    obj = json.loads(resources.Encoder().pod(PODS[key], store.pod_metrics([key])[key], now_ns=NOW_NS))
    assert list(obj) == ["kind", "apiVersion", "metadata", "timestamp", "window", "containers"]
    assert obj == {
        "kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {"name": "web", "namespace": "default", "creationTimestamp": "2021-10-03T09:37:10Z",
                     "labels": {"app": "web", "tier": "front"}},
        "timestamp": "2021-10-03T09:36:52Z", "window": "15.005s",
        "containers": [{"name": "app", "usage": {"cpu": "250m", "memory": "100Mi"}},
                       {"name": "sidecar", "usage": {"cpu": "500u", "memory": "1536"}}],
    }
    assert list(obj["metadata"]) == ["name", "namespace", "creationTimestamp", "labels"]
    assert list(obj["containers"][0]) == ["name", "usage"]


def test_an_object_without_labels_has_no_labels_field() -> None:
    meta = node_meta("bare")
    metric = NodeMetric(cpu_nanocores=0, memory_bytes=1000, timestamp_ns=NOW_NS, window_ns=60 * S)
    obj = json.loads(resources.Encoder().node(meta, metric, now_ns=NOW_NS))
    assert obj["metadata"] == {"name": "bare", "creationTimestamp": "2021-10-03T09:37:10Z"}
    assert obj["usage"] == {"cpu": "0", "memory": "1k"}
    assert obj["window"] == "1m0s"


def test_changed_metadata_is_encoded_again() -> None:
    """The encoder reuses a metadata object's encoding only while it is the same object."""
    enc = resources.Encoder()
    metric = NodeMetric(1, 1024, NOW_NS, S)
    first = json.loads(enc.node(node_meta("n", {"a": "1"}), metric, now_ns=NOW_NS))
    second = json.loads(enc.node(node_meta("n", {"a": "2"}), metric, now_ns=NOW_NS))
    assert (first["metadata"]["labels"], second["metadata"]["labels"]) == ({"a": "1"}, {"a": "2"})


def test_trim_forgets_objects_no_longer_cached() -> None:
    enc = resources.Encoder()
    metric = NodeMetric(1, 1024, NOW_NS, S)
    for i in range(3000):
        enc.node(node_meta(f"n{i}"), metric, now_ns=NOW_NS)
    alive = [node_meta("kept")]
    enc.node(alive[0], metric, now_ns=NOW_NS)
    enc.trim(alive)
    assert len(enc._meta) == 1
    enc.trim(alive)  # nothing to do
    assert len(enc._meta) == 1


# --- lists ------------------------------------------------------------------------------------------------

def test_node_list_shape_sorted_by_name_without_nodes_lacking_metrics() -> None:
    out = node_list()
    assert list(out) == ["kind", "apiVersion", "metadata", "items"]
    assert (out["kind"], out["apiVersion"], out["metadata"]) == ("NodeMetricsList", "metrics.k8s.io/v1beta1", {})
    assert [i["metadata"]["name"] for i in out["items"]] == ["node1", "node2"]  # node3 has one point only
    assert all(list(i) == ["metadata", "timestamp", "window", "usage"] for i in out["items"])  # no kind in items


def test_empty_lists_have_empty_items() -> None:
    assert node_list({"labelSelector": "zone=nowhere"})["items"] == []
    assert pod_list(namespace="nowhere")["items"] == []


def test_pod_list_sorted_by_namespace_then_name_running_only() -> None:
    out = pod_list()
    assert out["kind"] == "PodMetricsList"
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in out["items"]] == [
        ("default", "api"), ("default", "web"), ("kube-system", "coredns")]


def test_pod_list_sorted_by_byte_order() -> None:
    pods = {(ns, n): pod_meta(ns, n) for ns, n in [("b", "x"), ("a", "Z"), ("a", "a"), ("a", "B-1"), ("a", "b")]}
    metas = resources.select_pods(pods, resources.parse_selection({}), namespace=None)
    assert [(m.namespace, m.name) for m in metas] == [("a", "B-1"), ("a", "Z"), ("a", "a"), ("a", "b"), ("b", "x")]


@pytest.mark.parametrize(("query", "expected"), [
    pytest.param({}, ["node1", "node2"], id="all"),
    pytest.param({"labelSelector": "zone=a"}, ["node1"], id="label-equals"),
    pytest.param({"labelSelector": "zone in (a,b),kubernetes.io/os"}, ["node1", "node2"], id="label-set-exists"),
    pytest.param({"labelSelector": "zone!=a"}, ["node2"], id="label-not-equals"),
    pytest.param({"fieldSelector": "metadata.name=node2"}, ["node2"], id="field-name"),
    pytest.param({"fieldSelector": "metadata.name!=node2"}, ["node1"], id="field-name-not"),
    pytest.param({"fieldSelector": "metadata.namespace=default"}, [], id="nodes-have-no-namespace-field"),
    pytest.param({"fieldSelector": "metadata.namespace="}, ["node1", "node2"], id="empty-namespace-matches"),
    pytest.param({"labelSelector": "zone=a", "fieldSelector": "metadata.name=node2"}, [], id="both"),
])
def test_node_list_selectors(query: dict[str, str], expected: list[str]) -> None:
    assert [i["metadata"]["name"] for i in node_list(query)["items"]] == expected


def test_node_selector_restricts_lists() -> None:
    assert [i["metadata"]["name"] for i in node_list(node_selector="zone=b")["items"]] == ["node2"]


@pytest.mark.parametrize(("query", "namespace", "expected"), [
    pytest.param({}, "default", ["api", "web"], id="namespace"),
    pytest.param({"labelSelector": "app=web"}, None, ["web"], id="label-skips-non-running"),
    pytest.param({"labelSelector": "app"}, None, ["api", "web"], id="label-exists"),
    pytest.param({"labelSelector": "!app"}, None, ["coredns"], id="label-not-exists"),
    pytest.param({"fieldSelector": "metadata.namespace=kube-system"}, None, ["coredns"], id="field-namespace"),
    pytest.param({"fieldSelector": "metadata.name=api"}, None, ["api"], id="field-name"),
    pytest.param({"fieldSelector": "metadata.name==api,metadata.namespace=default"}, None, ["api"], id="fields"),
    pytest.param({"fieldSelector": "metadata.name=done"}, None, [], id="not-running-absent"),
])
def test_pod_list_selectors(query: dict[str, str], namespace: str | None, expected: list[str]) -> None:
    assert [i["metadata"]["name"] for i in pod_list(query, namespace=namespace)["items"]] == expected


@pytest.mark.parametrize(("query", "message"), [
    pytest.param({"fieldSelector": "spec.nodeName=n1"},
                 '"spec.nodeName" is not a known field selector: only "metadata.name", "metadata.namespace"',
                 id="unknown-field"),
    pytest.param({"fieldSelector": "status.phase=Running,metadata.name=x"},
                 '"status.phase" is not a known field selector: only "metadata.name", "metadata.namespace"',
                 id="unknown-field-among-known"),
    pytest.param({"fieldSelector": "metadata.name"},
                 "invalid selector: 'metadata.name'; can't understand 'metadata.name'", id="field-syntax"),
    pytest.param({"labelSelector": "a in b"}, None, id="label-syntax"),
])
def test_bad_selectors_are_400(query: dict[str, str], message: str | None) -> None:
    with pytest.raises(errors.ApiError) as e:
        resources.parse_selection(query)
    assert (e.value.code, e.value.reason) == (400, "BadRequest")
    assert e.value.status()["kind"] == "Status"
    if message is not None:
        assert e.value.message == message
    else:
        assert e.value.message


# --- errors -----------------------------------------------------------------------------------------------

def test_get_errors_as_upstream() -> None:
    cases = []
    for call in (lambda: resources.get_node(NODES, "nope"),
                 lambda: resources.get_pod(PODS, "default", "nope"),
                 lambda: resources.get_pod(PODS, "default", "done")):
        with pytest.raises(errors.ApiError) as e:
            call()
        cases.append(e.value.status())
    assert cases[0] == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": 'node "nope" not found', "reason": "NotFound",
                        "details": {"name": "nope", "kind": "node"}, "code": 404}
    assert cases[1]["message"] == 'pods "nope" not found'
    assert cases[1]["details"] == {"name": "nope", "kind": "pods"}
    assert cases[2]["message"] == 'pods "done" not found'
    assert resources.get_node(NODES, "node1") is NODES["node1"]
    assert resources.get_pod(PODS, "default", "web") is PODS[("default", "web")]


def test_no_metrics_not_found_bodies() -> None:
    node = resources.node_metrics_not_found("node3").status()
    assert node["message"] == 'nodemetrics.metrics.k8s.io "node3" not found'
    assert node["details"] == {"name": "node3", "group": "metrics.k8s.io", "kind": "nodemetrics"}
    pod = resources.pod_metrics_not_found("default", "web").status()
    assert pod["message"] == 'podmetrics.metrics.k8s.io "default/web" not found'
    assert pod["details"] == {"name": "default/web", "group": "metrics.k8s.io", "kind": "podmetrics"}
    assert pod["code"] == 404


@pytest.mark.parametrize(("query", "watch"), [
    pytest.param({}, False, id="absent"), pytest.param({"watch": "true"}, True, id="true"),
    pytest.param({"watch": "1"}, True, id="one"), pytest.param({"watch": "0"}, False, id="zero"),
    pytest.param({"watch": "False"}, False, id="false-any-case"), pytest.param({"watch": ""}, True, id="empty"),
])
def test_watch_parameter(query: dict[str, str], watch: bool) -> None:
    assert resources.is_watch(query) is watch


def test_watch_not_supported_body() -> None:
    e = resources.watch_not_supported("pods")
    assert e.status() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                          "message": 'watch is not supported on resources of kind "pods.metrics.k8s.io"',
                          "reason": "MethodNotAllowed", "details": {"group": "metrics.k8s.io", "kind": "pods"},
                          "code": 405}


# --- Tables -----------------------------------------------------------------------------------------------

def test_node_table_as_upstream() -> None:
    store = filled_store()
    metas = resources.select_nodes(NODES, resources.parse_selection({}))
    metrics = store.node_metrics(m.name for m in metas)
    rows = [(m, metrics[m.name]) for m in metas if m.name in metrics]
    table = json.loads(resources.Encoder().node_table(rows, now_ns=NOW_NS))
    assert list(table) == ["kind", "apiVersion", "metadata", "columnDefinitions", "rows"]
    assert (table["kind"], table["apiVersion"], table["metadata"]) == ("Table", "meta.k8s.io/v1", {})
    assert table["columnDefinitions"] == [
        {"name": "Name", "type": "string", "format": "name", "description": "Name of the resource", "priority": 0},
        {"name": "cpu", "type": "string", "format": "quantity", "description": "", "priority": 0},
        {"name": "memory", "type": "string", "format": "quantity", "description": "", "priority": 0},
        {"name": "Window", "type": "string", "format": "duration", "description": "", "priority": 0}]
    assert [r["cells"] for r in table["rows"]] == [["node1", "1500m", "732212Ki", "15.005s"],
                                                  ["node2", "2", "2Gi", "15.005s"]]
    assert table["rows"][0]["object"] == {
        "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
        "metadata": {"name": "node1", "creationTimestamp": "2021-10-03T09:37:10Z",
                     "labels": {"kubernetes.io/os": "linux", "zone": "a"}}}


def test_pod_table_sums_containers() -> None:
    store = filled_store()
    key = ("default", "web")
    rows = [(PODS[key], store.pod_metrics([key])[key])]
    table = json.loads(resources.Encoder().pod_table(rows, now_ns=NOW_NS, table_version="v1beta1"))
    assert table["apiVersion"] == "meta.k8s.io/v1beta1"
    assert table["rows"][0]["cells"] == ["web", "250500u", str(100 * 1048576 + 1536), "15.005s"]
    assert table["rows"][0]["object"]["apiVersion"] == "meta.k8s.io/v1beta1"
    assert table["rows"][0]["object"]["metadata"]["namespace"] == "default"


def test_empty_table_has_null_columns_and_rows() -> None:
    table = json.loads(resources.Encoder().pod_table([], now_ns=NOW_NS))
    assert table == {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "columnDefinitions": None,
                     "rows": None}


@pytest.mark.parametrize(("include", "expected_kind"), [
    pytest.param("", "PartialObjectMetadata", id="default"),
    pytest.param("Metadata", "PartialObjectMetadata", id="metadata"),
    pytest.param("Object", "NodeMetrics", id="object"),
    pytest.param("None", None, id="none"),
])
def test_table_include_object(include: str, expected_kind: str | None) -> None:
    metric = NodeMetric(5, 2048, NOW_NS, S)
    table = json.loads(resources.Encoder().node_table([(NODES["node1"], metric)], now_ns=NOW_NS,
                                                      include_object=include))
    obj = table["rows"][0]["object"]
    assert (obj or {}).get("kind") == expected_kind
    if expected_kind == "NodeMetrics":
        assert obj["usage"] == {"cpu": "5n", "memory": "2Ki"}


def test_table_bad_include_object() -> None:
    with pytest.raises(errors.ApiError) as e:
        resources.Encoder().node_table([], now_ns=NOW_NS, include_object="All")
    assert (e.value.code, e.value.message) == (400, 'unrecognized includeObject value: "All"')


# --- discovery --------------------------------------------------------------------------------------------

def test_discovery_documents() -> None:
    gv = {"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"}
    assert resources.api_group_list() == {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
        {"name": "metrics.k8s.io", "versions": [gv], "preferredVersion": gv}]}
    assert resources.api_group() == {"kind": "APIGroup", "apiVersion": "v1", "name": "metrics.k8s.io",
                                     "versions": [gv], "preferredVersion": gv}
    assert resources.api_resource_list() == {
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "metrics.k8s.io/v1beta1", "resources": [
            {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics",
             "verbs": ["get", "list"]},
            {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics",
             "verbs": ["get", "list"]}]}


def test_aggregated_discovery() -> None:
    body, content_type = resources.aggregated_discovery("v2")
    assert content_type == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    assert body["kind"] == "APIGroupDiscoveryList"
    (group,) = body["items"]
    assert group["metadata"] == {"name": "metrics.k8s.io"}
    (version,) = group["versions"]
    assert version["version"] == "v1beta1"
    assert [(r["resource"], r["scope"], r["responseKind"]["kind"], r["verbs"]) for r in version["resources"]] == [
        ("nodes", "Cluster", "NodeMetrics", ["get", "list"]), ("pods", "Namespaced", "PodMetrics", ["get", "list"])]


# --- the fast encoder against a plain dict-built reference --------------------------------------------------

def reference_pod(meta: PodMeta, m: PodMetric, now_ns: int) -> dict[str, Any]:
    md: dict[str, Any] = {"name": meta.name, "namespace": meta.namespace,
                          "creationTimestamp": format_timestamp(now_ns)}
    if meta.labels:
        md["labels"] = dict(sorted(meta.labels.items()))
    return {"metadata": md, "timestamp": format_timestamp(m.timestamp_ns), "window": format_duration(m.window_ns),
            "containers": [{"name": c, "usage": {"cpu": format_cpu(cpu), "memory": format_memory(mem)}}
                           for c, cpu, mem in m.containers]}


_names = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
_pods = st.lists(st.tuples(
    _names, _names, st.dictionaries(_names, _names, max_size=3),
    st.lists(st.tuples(_names, st.integers(0, 10**13), st.integers(0, 1 << 45)), min_size=1, max_size=3,
             unique_by=lambda c: c[0]),
    st.integers(0, 2**33) , st.integers(1, 10**12)), max_size=20, unique_by=lambda p: (p[0], p[1]))


@settings(max_examples=150, deadline=None)
@given(_pods)
def test_pod_list_matches_a_plain_reference(pods: list[tuple[Any, ...]]) -> None:
    metas = [pod_meta(ns, name, labels) for ns, name, labels, *_ in pods]
    metrics = {(ns, name): PodMetric(tuple(cs), ts_s * S, window) for ns, name, _, cs, ts_s, window in pods}
    enc = resources.Encoder()
    for _ in range(2):  # a second pass reuses the cached metadata
        out = json.loads(enc.pod_list(metas, metrics, now_ns=NOW_NS))
        assert out["items"] == [reference_pod(m, metrics[(m.namespace, m.name)], NOW_NS) for m in metas]
        assert all(list(i["metadata"]) == list(reference_pod(m, metrics[(m.namespace, m.name)], NOW_NS)["metadata"])
                   for i, m in zip(out["items"], metas, strict=True))


@settings(max_examples=50, deadline=None)
@given(_pods)
def test_pod_list_leaves_out_pods_without_metrics(pods: list[tuple[Any, ...]]) -> None:
    metas = [pod_meta(ns, name) for ns, name, *_ in pods]
    metrics = {(ns, name): PodMetric(tuple(cs), ts_s * S, w) for i, (ns, name, _, cs, ts_s, w) in enumerate(pods)
               if i % 2}
    out = json.loads(resources.Encoder().pod_list(metas, metrics, now_ns=NOW_NS))
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in out["items"]] == [
        (m.namespace, m.name) for m in metas if (m.namespace, m.name) in metrics]
