"""kubescale.top against real `kubectl top` v1.32.4 output.

Every expected table below was printed by kubectl v1.32.4 (`kubectl top node|pod ...`) against a small fake API
serving exactly the METRICS/NODES below; `$` marks each line end so the trailing spaces kubectl prints stay
visible. The one liberty: kubectl prints nodes without metrics in Go map order (random); we sort them by name.
"""

from __future__ import annotations

import argparse
import copy
import itertools
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubescale import quantity, top
from kubescale.kubeclient import ApiError
from kubescale.top import NodeOptions, PodOptions, TopError


def golden(text: str) -> str:
    return text.replace("$\n", "\n")


def _nm(name: str, zone: str, cpu: str, memory: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"zone": zone}}, "timestamp": "2024-01-01T00:00:00Z",
            "window": "15s", "usage": {"cpu": cpu, "memory": memory}}


def _node(name: str, allocatable: dict[str, str], capacity: dict[str, str] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"allocatable": allocatable}
    if capacity is not None:
        status["capacity"] = capacity
    return {"metadata": {"name": name}, "status": status}


def _pm(ns: str, name: str, app: str, *containers: tuple[str, str, str]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns, "labels": {"app": app}}, "timestamp": "2024-01-01T00:00:00Z",
            "window": "15s",
            "containers": [{"name": c, "usage": {"cpu": cpu, "memory": mem}} for c, cpu, mem in containers]}


NODE_METRICS = {"kind": "NodeMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": [
    _nm("node-b", "b", "487558164n", "5Gi"),
    _nm("node-a", "a", "1250000000n", "3145728Ki"),
    _nm("node-longer-name-x", "a", "2", "1048575"),  # no Node object: no percentages; 1048575 bytes is 0Mi
]}
NODES = [
    _node("node-a", {"cpu": "2", "memory": "4Gi", "pods": "110"}, {"cpu": "4", "memory": "8Gi"}),
    _node("node-b", {"cpu": "1900m", "memory": "7Gi"}, {"cpu": "2", "memory": "8Gi"}),
    _node("node-c", {"cpu": "2", "memory": "4Gi"}),  # no metrics: <unknown>
    _node("node-zz-unknown", {"cpu": "2", "memory": "4Gi"}),
]
POD_METRICS = {"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": [
    _pm("default", "web-1", "web", ("nginx", "100500000n", "52428800"), ("sidecar", "1500000n", "80Mi")),
    _pm("default", "db-0", "db", ("postgres", "250m", "1Gi")),
    _pm("kube-system", "coredns-abc", "dns", ("coredns", "3000000n", "20000Ki")),
    _pm("kube-system", "a-very-long-pod-name-0123456789", "x", ("c", "0", "0")),
]}


def _default_ns(metrics: Mapping[str, Any]) -> dict[str, Any]:
    return {**metrics, "items": [m for m in metrics["items"] if m["metadata"]["namespace"] == "default"]}


# -- nodes --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("options", "expected"), [
    pytest.param(NodeOptions(), """\
NAME                 CPU(cores)   CPU(%)      MEMORY(bytes)   MEMORY(%)   $
node-a               1250m        62%         3072Mi          75%         $
node-b               488m         25%         5120Mi          71%         $
node-longer-name-x   2000m        0Mi         $
node-c               <unknown>    <unknown>   <unknown>       <unknown>   $
node-zz-unknown      <unknown>    <unknown>   <unknown>       <unknown>   $
""", id="node default"),
    pytest.param(NodeOptions(no_headers=True), """\
node-a               1250m       62%         3072Mi   75%   $
node-b               488m        25%         5120Mi   71%   $
node-longer-name-x   2000m       0Mi         $
node-c               <unknown>   <unknown>   <unknown>   <unknown>   $
node-zz-unknown      <unknown>   <unknown>   <unknown>   <unknown>   $
""", id="node --no-headers"),
    pytest.param(NodeOptions(sort_by='cpu'), """\
NAME                 CPU(cores)   CPU(%)      MEMORY(bytes)   MEMORY(%)   $
node-longer-name-x   2000m        0Mi         $
node-a               1250m        62%         3072Mi          75%         $
node-b               488m         25%         5120Mi          71%         $
node-c               <unknown>    <unknown>   <unknown>       <unknown>   $
node-zz-unknown      <unknown>    <unknown>   <unknown>       <unknown>   $
""", id="node --sort-by cpu"),
    pytest.param(NodeOptions(sort_by='memory'), """\
NAME                 CPU(cores)   CPU(%)      MEMORY(bytes)   MEMORY(%)   $
node-b               488m         25%         5120Mi          71%         $
node-a               1250m        62%         3072Mi          75%         $
node-longer-name-x   2000m        0Mi         $
node-c               <unknown>    <unknown>   <unknown>       <unknown>   $
node-zz-unknown      <unknown>    <unknown>   <unknown>       <unknown>   $
""", id="node --sort-by memory"),
    pytest.param(NodeOptions(show_capacity=True), """\
NAME                 CPU(cores)   CPU(%)      MEMORY(bytes)   MEMORY(%)   $
node-a               1250m        31%         3072Mi          37%         $
node-b               488m         24%         5120Mi          62%         $
node-longer-name-x   2000m        0Mi         $
node-c               <unknown>    <unknown>   <unknown>       <unknown>   $
node-zz-unknown      <unknown>    <unknown>   <unknown>       <unknown>   $
""", id="node --show-capacity"),
])
def test_node_table_matches_kubectl(options: NodeOptions, expected: str) -> None:
    assert top.node_table(copy.deepcopy(NODE_METRICS), NODES, options) == golden(expected)


def test_node_by_name_lists_only_that_node() -> None:
    metrics = {"items": [m for m in NODE_METRICS["items"] if m["metadata"]["name"] == "node-a"]}
    assert top.node_table(metrics, NODES[:1], NodeOptions()) == golden("""\
NAME     CPU(cores)   CPU(%)   MEMORY(bytes)   MEMORY(%)   $
node-a   1250m        62%      3072Mi          75%         $
""")


def test_zero_allocatable_prints_go_min_int64_and_missing_allocatable_drops_the_percentage() -> None:
    nodes = copy.deepcopy(NODES)
    nodes[0]["status"]["allocatable"] = {"cpu": "0"}  # 1250/0 = +Inf in Go; int64(+Inf) on amd64; no memory key
    assert top.node_table(NODE_METRICS, nodes, NodeOptions()) == golden("""\
NAME                 CPU(cores)   CPU(%)                  MEMORY(bytes)   MEMORY(%)   $
node-a               1250m        -9223372036854775808%   3072Mi          $
node-b               488m         25%                     5120Mi          71%         $
node-longer-name-x   2000m        0Mi                     $
node-c               <unknown>    <unknown>               <unknown>       <unknown>   $
node-zz-unknown      <unknown>    <unknown>               <unknown>       <unknown>   $
""")


def test_no_node_metrics_prints_nothing() -> None:
    assert top.node_table({"items": []}, NODES, NodeOptions()) == ""


@pytest.mark.parametrize(("usage", "available", "expected"), [
    pytest.param({"cpu": "1n", "memory": "1"}, {"cpu": "1", "memory": "1Mi"}, ["1m", "0%", "0Mi", "0%"],
                 id="milli rounds up, Mi truncates"),
    pytest.param({"cpu": "999m", "memory": "1Mi"}, {"cpu": "1", "memory": "1Mi"}, ["999m", "99%", "1Mi", "100%"],
                 id="percent truncates"),
    pytest.param({"cpu": "3", "memory": "3Gi"}, {"cpu": "1"}, ["3000m", "300%", "3072Mi"], id="over 100 and no memory"),
    pytest.param({}, {"cpu": "1", "memory": "1Gi"}, ["0m", "0%", "0Mi", "0%"], id="missing usage is zero"),
    pytest.param({"cpu": "0", "memory": "0"}, {"cpu": "0", "memory": "0"},
                 ["0m", "-9223372036854775808%", "0Mi", "-9223372036854775808%"], id="0 of 0 is NaN"),
])
def test_usage_cells(usage: dict[str, str], available: dict[str, str], expected: list[str]) -> None:
    metrics = {"items": [{"metadata": {"name": "n"}, "usage": usage}]}
    out = top.node_table(metrics, [_node("n", available)], NodeOptions(no_headers=True))
    assert out.split() == ["n", *expected]


@given(st.integers(0, 10**15 - 1), st.sampled_from(["n", "u", "m", "", "k", "Ki", "Mi", "Gi", "Ti", "e3"]))
def test_usage_parsing_agrees_with_quantity(mantissa: int, suffix: str) -> None:
    raw = f"{mantissa}{suffix}"
    assert top._nanos({"cpu": raw}, "cpu") == quantity.nano_value(raw)


def test_show_capacity_reads_status_capacity() -> None:
    assert top.available_resources(NODES[:1], show_capacity=True) == {"node-a": {"cpu": "4", "memory": "8Gi"}}
    assert top.available_resources(NODES[:1]) == {"node-a": {"cpu": "2", "memory": "4Gi", "pods": "110"}}


# -- pods ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("options", "expected"), [
    pytest.param(PodOptions(), """\
NAME    CPU(cores)   MEMORY(bytes)   $
db-0    250m         1024Mi          $
web-1   102m         130Mi           $
""", id="pod default"),
    pytest.param(PodOptions(all_namespaces=True), """\
NAMESPACE     NAME                              CPU(cores)   MEMORY(bytes)   $
default       db-0                              250m         1024Mi          $
default       web-1                             102m         130Mi           $
kube-system   a-very-long-pod-name-0123456789   0m           0Mi             $
kube-system   coredns-abc                       3m           19Mi            $
""", id="pod -A"),
    pytest.param(PodOptions(containers=True), """\
POD     NAME       CPU(cores)   MEMORY(bytes)   $
db-0    postgres   250m         1024Mi          $
web-1   nginx      101m         50Mi            $
web-1   sidecar    2m           80Mi            $
""", id="pod --containers"),
    pytest.param(PodOptions(all_namespaces=True, containers=True), """\
NAMESPACE     POD                               NAME       CPU(cores)   MEMORY(bytes)   $
default       db-0                              postgres   250m         1024Mi          $
default       web-1                             nginx      101m         50Mi            $
default       web-1                             sidecar    2m           80Mi            $
kube-system   a-very-long-pod-name-0123456789   c          0m           0Mi             $
kube-system   coredns-abc                       coredns    3m           19Mi            $
""", id="pod -A --containers"),
    pytest.param(PodOptions(sum=True), """\
NAME    CPU(cores)   MEMORY(bytes)   $
db-0    250m         1024Mi          $
web-1   102m         130Mi           $
        ________     ________        $
        352m         1154Mi          $
""", id="pod --sum"),
    pytest.param(PodOptions(all_namespaces=True, sum=True), """\
NAMESPACE     NAME                              CPU(cores)   MEMORY(bytes)   $
default       db-0                              250m         1024Mi          $
default       web-1                             102m         130Mi           $
kube-system   a-very-long-pod-name-0123456789   0m           0Mi             $
kube-system   coredns-abc                       3m           19Mi            $
                                                ________     ________        $
                                                355m         1173Mi          $
""", id="pod -A --sum"),
    pytest.param(PodOptions(containers=True, sum=True), """\
POD     NAME       CPU(cores)   MEMORY(bytes)   $
db-0    postgres   250m         1024Mi          $
web-1   nginx      101m         50Mi            $
web-1   sidecar    2m           80Mi            $
                   ________     ________        $
                   352m         1154Mi          $
""", id="pod --containers --sum"),
    pytest.param(PodOptions(all_namespaces=True, containers=True, sum=True), """\
NAMESPACE     POD                               NAME       CPU(cores)   MEMORY(bytes)   $
default       db-0                              postgres   250m         1024Mi          $
default       web-1                             nginx      101m         50Mi            $
default       web-1                             sidecar    2m           80Mi            $
kube-system   a-very-long-pod-name-0123456789   c          0m           0Mi             $
kube-system   coredns-abc                       coredns    3m           19Mi            $
                                                           ________     ________        $
                                                           355m         1173Mi          $
""", id="pod -A --containers --sum"),
    pytest.param(PodOptions(no_headers=True, sum=True), """\
db-0    250m       1024Mi     $
web-1   102m       130Mi      $
        ________   ________   $
        352m       1154Mi     $
""", id="pod --no-headers --sum"),
    pytest.param(PodOptions(no_headers=True, all_namespaces=True, sum=True), """\
default       db-0                              250m       1024Mi   $
default       web-1                             102m       130Mi    $
kube-system   a-very-long-pod-name-0123456789   0m         0Mi      $
kube-system   coredns-abc                       3m         19Mi     $
              ________                          ________   $
              355m                              1173Mi     $
""", id="pod -A --no-headers --sum"),
    pytest.param(PodOptions(no_headers=True, all_namespaces=True, containers=True, sum=True), """\
default       db-0                              postgres   250m   1024Mi   $
default       web-1                             nginx      101m   50Mi     $
default       web-1                             sidecar    2m     80Mi     $
kube-system   a-very-long-pod-name-0123456789   c          0m     0Mi      $
kube-system   coredns-abc                       coredns    3m     19Mi     $
              ________                          ________   $
              355m                              1173Mi     $
""", id="pod -A --no-headers --containers --sum"),
    pytest.param(PodOptions(all_namespaces=True, sort_by='cpu'), """\
NAMESPACE     NAME                              CPU(cores)   MEMORY(bytes)   $
default       db-0                              250m         1024Mi          $
default       web-1                             102m         130Mi           $
kube-system   coredns-abc                       3m           19Mi            $
kube-system   a-very-long-pod-name-0123456789   0m           0Mi             $
""", id="pod -A --sort-by cpu"),
    pytest.param(PodOptions(all_namespaces=True, containers=True, sort_by='memory'), """\
NAMESPACE     POD                               NAME       CPU(cores)   MEMORY(bytes)   $
default       db-0                              postgres   250m         1024Mi          $
default       web-1                             sidecar    2m           80Mi            $
default       web-1                             nginx      101m         50Mi            $
kube-system   coredns-abc                       coredns    3m           19Mi            $
kube-system   a-very-long-pod-name-0123456789   c          0m           0Mi             $
""", id="pod -A --sort-by memory --containers"),
    pytest.param(PodOptions(no_headers=True, all_namespaces=True), """\
default       db-0                              250m   1024Mi   $
default       web-1                             102m   130Mi    $
kube-system   a-very-long-pod-name-0123456789   0m     0Mi      $
kube-system   coredns-abc                       3m     19Mi     $
""", id="pod -A --no-headers"),
])
def test_pod_table_matches_kubectl(options: PodOptions, expected: str) -> None:
    metrics = POD_METRICS if options.all_namespaces else _default_ns(POD_METRICS)
    assert top.pod_table(copy.deepcopy(metrics), options) == golden(expected)


def test_pod_sort_ties_keep_the_server_order() -> None:
    # Go's sort.Sort is an insertion sort up to 12 elements: stable, like Python's.
    metrics = {"items": [_pm("default", n, "a", ("c", "5m", "1Mi")) for n in ("zeta", "alpha", "mid")]}
    rows = top.pod_table(metrics, PodOptions(sort_by="cpu", no_headers=True)).splitlines()
    assert [r.split()[0] for r in rows] == ["zeta", "alpha", "mid"]


def test_pod_cpu_is_rounded_after_summing_containers() -> None:
    # 100.5m + 1.5m: the pod is 102m, its containers 101m and 2m (each rounded up on its own)
    rows = top.pod_table(_default_ns(POD_METRICS), PodOptions(no_headers=True)).splitlines()
    assert rows[1].split() == ["web-1", "102m", "130Mi"]


def test_no_pod_metrics_prints_nothing() -> None:
    assert top.pod_table({"items": None}, PodOptions(sum=True)) == ""


# -- the tab writer -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("rows", "expected"), [
    pytest.param([["a", "b"]], "a     b     $\n", id="minwidth 6"),
    pytest.param([["abcdef", "x"]], "abcdef   x     $\n", id="padding 3"),
    pytest.param([["a", "bb"], ["ccc", "d"]], "a     bb    $\nccc   d     $\n", id="one block"),
    pytest.param([["a", "longer-cell"], ["b"], ["c", "d"]],
                 "a     longer-cell   $\nb     $\nc     d             $\n", id="a short row ends a block, width kept"),
    pytest.param([["x", "d"], ["b"], ["c", "longer-cell"]],
                 "x     d     $\nb     $\nc     longer-cell   $\n", id="earlier blocks are not widened"),
    pytest.param([["", "x"], ["name", ""]], "       x     $\nname         $\n", id="empty cells are padded"),
])
def test_tabwrite(rows: list[list[str]], expected: str) -> None:
    assert top.tabwrite(rows) == golden(expected)


def test_tabwrite_rejects_an_empty_row() -> None:
    with pytest.raises(ValueError, match="at least one cell"):
        top.tabwrite([["a"], []])


_cell = st.text(alphabet="abcxyz-0123456789", min_size=1, max_size=12)


@given(st.integers(1, 5).flatmap(lambda n: st.lists(st.lists(_cell, min_size=n, max_size=n), min_size=1, max_size=8)))
def test_tabwrite_aligns_rows_of_equal_length(rows: list[list[str]]) -> None:
    lines = top.tabwrite(rows).split("\n")
    assert lines[-1] == "" and len(lines) == len(rows) + 1
    starts = None
    for row, line in zip(rows, lines, strict=False):
        assert line.split() == row
        offsets = []
        pos = 0
        for cell in row:
            pos = line.index(cell, pos)
            offsets.append(pos)
            pos += len(cell)
        starts = starts or offsets
        assert offsets == starts
        assert line.endswith("   ")  # the last cell is padded too
    widths = [b - a for a, b in itertools.pairwise(starts)]
    assert all(w >= 6 and w >= 3 + max(len(r[i]) for r in rows) for i, w in enumerate(widths))


# -- empty results, discovery, validation, errors -------------------------------------------------------------------

NOW = 1_700_000_000.0


def _pod_obj(name: str, created: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if created is not None:
        meta["creationTimestamp"] = created
    return {"metadata": meta}


@pytest.mark.parametrize(("pods", "expected"), [
    pytest.param([], None, id="no pods: No resources found"),
    pytest.param([_pod_obj("young", "2023-11-14T22:12:20Z")], "metrics not available yet", id="60s old"),
    pytest.param([_pod_obj("edge", "2023-11-14T22:11:20Z")], "metrics not available yet", id="exactly 2m"),
    pytest.param([_pod_obj("young", "2023-11-14T22:12:20Z"), _pod_obj("old", "2023-11-14T21:13:10Z")],
                 "Metrics not available for pod default/old, age: 1h0m10s", id="an old pod"),
    pytest.param([_pod_obj("zero", None)], "Metrics not available for pod default/zero, age: 2562047h47m16.854775807s",
                 id="no creationTimestamp: Go's zero time"),
])
def test_empty_metrics_error(pods: list[dict[str, Any]], expected: str | None) -> None:
    assert top.empty_metrics_error(pods, now=NOW) == expected


GROUPS = {"kind": "APIGroupList", "groups": [
    {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}]},
    {"name": "metrics.k8s.io", "versions": [{"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"}]},
]}


@pytest.mark.parametrize(("groups", "expected"), [
    pytest.param(GROUPS, True, id="served"),
    pytest.param({"groups": GROUPS["groups"][:1]}, False, id="absent"),
    pytest.param({"groups": [{"name": "metrics.k8s.io", "versions": [{"version": "v1"}]}]}, False, id="other version"),
    pytest.param({}, False, id="empty"),
])
def test_metrics_api_available(groups: dict[str, Any], expected: bool) -> None:
    assert top.metrics_api_available(groups) is expected


@pytest.mark.parametrize(("kwargs", "message"), [
    pytest.param({"sort_by": "name", "name": "", "selectors": [""], "kind": "node"},
                 "error: --sort-by accepts only cpu or memory", id="sort-by"),
    pytest.param({"sort_by": "", "name": "n", "selectors": ["a=b"], "kind": "node"},
                 "error: only one of NAME or --selector can be provided", id="node name and selector"),
    pytest.param({"sort_by": "", "name": "p", "selectors": ["", "metadata.name=p"], "kind": "pod"},
                 "error: only one of NAME or selector can be provided", id="pod name and field selector"),
])
def test_validate(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(TopError) as err:
        top.validate(**kwargs)
    assert str(err.value) == message


def test_validate_accepts_the_sort_keys_and_a_lone_name() -> None:
    for key in ("", "cpu", "memory"):
        top.validate(sort_by=key, name="x", selectors=["", ""], kind="pod")


@pytest.mark.parametrize(("err", "line"), [
    pytest.param(ApiError(404, "NotFound", 'nodemetrics.metrics.k8s.io "x" not found'),
                 'Error from server (NotFound): nodemetrics.metrics.k8s.io "x" not found', id="status"),
    pytest.param(ApiError(401, "Unauthorized", "Unauthorized"),
                 "error: You must be logged in to the server (Unauthorized)", id="unauthorized"),
    pytest.param(ApiError(500, "", "boom"), "Error from server: boom", id="no reason"),
    pytest.param(ConnectionRefusedError("connect refused"), "Unable to connect to the server: connect refused",
                 id="connection"),
    pytest.param(ValueError("bad quantity"), "error: bad quantity", id="other"),
])
def test_error_line(err: Exception, line: str) -> None:
    assert top.error_line(err) == line


# -- the fetch, over a fake API with real state ---------------------------------------------------------------------

class FakeApi:
    """Answers GETs from a path -> JSON table, records them, and 404s the rest as the API server does."""

    def __init__(self, routes: dict[str, Any]) -> None:
        self.routes = routes
        self.calls: list[tuple[str, dict[str, str]]] = []

    async def get(self, path: str, *, params: Mapping[str, str] | None = None) -> Any:
        self.calls.append((path, dict(params or {})))
        if path not in self.routes:
            raise ApiError(404, "NotFound", f'"{path.rsplit("/", 1)[-1]}" not found')
        return copy.deepcopy(self.routes[path])


P = "/apis/metrics.k8s.io/v1beta1"


def _api(**extra: Any) -> FakeApi:
    routes = {"/apis": GROUPS, f"{P}/nodes": NODE_METRICS, f"{P}/nodes/node-a": NODE_METRICS["items"][1],
              "/api/v1/nodes": {"items": NODES}, "/api/v1/nodes/node-a": NODES[0],
              f"{P}/pods": POD_METRICS, f"{P}/namespaces/default/pods": _default_ns(POD_METRICS),
              f"{P}/namespaces/default/pods/db-0": POD_METRICS["items"][1],
              f"{P}/namespaces/empty/pods": {"items": []}, "/api/v1/namespaces/empty/pods": {"items": []},
              "/api/v1/namespaces/default/pods": {"items": []}}
    routes.update(extra)
    return FakeApi(routes)


async def test_top_nodes_lists_metrics_then_nodes_with_the_selector() -> None:
    api = _api()
    out = await top.top_nodes(api, selector="zone=a", options=NodeOptions(no_headers=True))
    assert api.calls == [("/apis", {}), (f"{P}/nodes", {"labelSelector": "zone=a"}),
                         ("/api/v1/nodes", {"labelSelector": "zone=a"})]
    assert out.stdout.splitlines()[0].split() == ["node-a", "1250m", "62%", "3072Mi", "75%"]


async def test_top_nodes_by_name_gets_one_of_each() -> None:
    api = _api()
    out = await top.top_nodes(api, name="node-a", options=NodeOptions())
    assert [c[0] for c in api.calls] == ["/apis", f"{P}/nodes/node-a", "/api/v1/nodes/node-a"]
    assert out == top.Output(golden("""\
NAME     CPU(cores)   CPU(%)   MEMORY(bytes)   MEMORY(%)   $
node-a   1250m        62%      3072Mi          75%         $
"""))


@pytest.mark.parametrize(("api", "kwargs", "line"), [
    pytest.param(_api(**{"/apis": {"groups": []}}), {}, "error: Metrics API not available", id="no metrics API"),
    pytest.param(_api(**{f"{P}/nodes": {"items": []}}), {}, "error: metrics not available yet", id="no metrics"),
    pytest.param(_api(), {"options": NodeOptions(sort_by="pods")}, "error: --sort-by accepts only cpu or memory",
                 id="bad sort"),
])
async def test_top_nodes_errors(api: FakeApi, kwargs: dict[str, Any], line: str) -> None:
    with pytest.raises(TopError) as err:
        await top.top_nodes(api, **{"options": NodeOptions(), **kwargs})
    assert str(err.value) == line


async def test_top_nodes_not_found_is_the_servers_status() -> None:
    with pytest.raises(ApiError) as err:
        await top.top_nodes(_api(), name="nosuch", options=NodeOptions())
    assert err.value.status == 404


async def test_top_pods_in_a_namespace_with_selectors() -> None:
    api = _api()
    out = await top.top_pods(api, namespace="default", selector="app=db", field_selector="metadata.name=db-0",
                             options=PodOptions(), now=NOW)
    assert api.calls[1] == (f"{P}/namespaces/default/pods",
                            {"labelSelector": "app=db", "fieldSelector": "metadata.name=db-0"})
    assert out.stdout.splitlines()[0].split() == ["NAME", "CPU(cores)", "MEMORY(bytes)"]


async def test_top_pods_all_namespaces_and_by_name() -> None:
    api = _api()
    out = await top.top_pods(api, namespace="default", options=PodOptions(all_namespaces=True), now=NOW)
    assert api.calls[1] == (f"{P}/pods", {})
    assert len(out.stdout.splitlines()) == 5
    api = _api()
    out = await top.top_pods(api, namespace="default", name="db-0", options=PodOptions(), now=NOW)
    assert api.calls[1][0] == f"{P}/namespaces/default/pods/db-0"
    assert out.stdout.splitlines()[1].split() == ["db-0", "250m", "1024Mi"]


@pytest.mark.parametrize(("namespace", "all_namespaces", "stderr"), [
    pytest.param("empty", False, "No resources found in empty namespace.\n", id="namespace"),
    pytest.param("default", True, "No resources found\n", id="all namespaces"),
])
async def test_top_pods_nothing_found(namespace: str, all_namespaces: bool, stderr: str) -> None:
    api = _api(**{f"{P}/pods": {"items": []}})
    out = await top.top_pods(api, namespace=namespace, options=PodOptions(all_namespaces=all_namespaces), now=NOW)
    assert out == top.Output("", stderr)
    # kubectl checks the pods of the current namespace even under -A
    assert api.calls[-1][0] == f"/api/v1/namespaces/{namespace}/pods"


async def test_top_pods_empty_metrics_with_pods_explains_why() -> None:
    pods = {"items": [_pod_obj("old", "2023-11-14T21:13:10Z")]}
    api = _api(**{f"{P}/namespaces/default/pods": {"items": []}, "/api/v1/namespaces/default/pods": pods})
    with pytest.raises(TopError) as err:
        await top.top_pods(api, namespace="default", options=PodOptions(), now=NOW)
    assert str(err.value) == "error: Metrics not available for pod default/old, age: 1h0m10s"


async def test_top_pods_validates_before_any_request() -> None:
    api = _api()
    with pytest.raises(TopError, match="only one of NAME or selector"):
        await top.top_pods(api, namespace="default", name="x", field_selector="a=b", options=PodOptions(), now=NOW)
    assert api.calls == []


# -- the command line -----------------------------------------------------------------------------------------------

def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kubescale")
    top.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


@pytest.mark.parametrize("kind", ["nodes", "node", "no"])
def test_register_nodes(kind: str) -> None:
    args = _parse("top", kind, "n1", "--sort-by", "cpu", "--no-headers", "--show-capacity", "--context", "c")
    assert (args.name, args.sort_by, args.no_headers, args.show_capacity, args.context, args.kubeconfig) == \
        ("n1", "cpu", True, True, "c", None)
    assert args.func.__name__ == "_run_nodes"


@pytest.mark.parametrize("kind", ["pods", "pod", "po"])
def test_register_pods(kind: str) -> None:
    args = _parse("top", kind, "-A", "--containers", "--sum", "-l", "app=x", "--field-selector", "f=v",
                  "--kubeconfig", "kc")
    assert (args.name, args.all_namespaces, args.containers, args.sum, args.selector, args.field_selector,
            args.namespace, args.kubeconfig) == ("", True, True, True, "app=x", "f=v", None, "kc")
    assert _parse("top", kind, "-n", "kube-system").namespace == "kube-system"
    assert args.func.__name__ == "_run_pods"


def test_register_requires_a_kind() -> None:
    with pytest.raises(SystemExit):
        _parse("top")
