"""Discovery documents: legacy and aggregated forms, their agreement, and Accept negotiation."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubesim import discovery, resources

KUBECTL_ACCEPT = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                  "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")
V2 = ("v2", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
V2BETA1 = ("v2beta1", "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList")

CRONTAB_CRD = {
    "spec": {
        "group": "stable.example.com",
        "scope": "Namespaced",
        "names": {"plural": "crontabs", "kind": "CronTab", "shortNames": ["ct"], "categories": ["all"]},
        "versions": [{"name": "v1", "served": True, "storage": True,
                      "subresources": {"status": {}, "scale": {}}}],
    },
}


def registry_with_crd() -> resources.Registry:
    reg = resources.Registry()
    for rt in resources.crd_resource_types(CRONTAB_CRD):
        reg.add(rt)
    return reg


def test_version_info_is_semver_matching_major_minor() -> None:
    v = discovery.version_info()
    m = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?", v["gitVersion"])
    assert m is not None
    assert (v["major"], v["minor"]) == (m.group(1), m.group(2)) == ("1", "35")
    assert {"platform", "goVersion", "buildDate", "compiler", "gitCommit", "gitTreeState"} <= v.keys()


def test_api_versions_lists_core_v1() -> None:
    doc = discovery.api_versions(server_address="127.0.0.1:8443")
    assert doc == {"kind": "APIVersions", "versions": ["v1"],
                   "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:8443"}]}


def test_api_group_list_orders_builtins_then_crds_then_extra() -> None:
    extra = [discovery.api_group_entry("metrics.k8s.io", ["v1beta1"])]
    names = [g["name"] for g in discovery.api_group_list(registry_with_crd(), extra)["groups"]]
    assert names[:3] == ["apiregistration.k8s.io", "apps", "events.k8s.io"]
    assert names[-2:] == ["stable.example.com", "metrics.k8s.io"]
    assert "" not in names
    assert len(names) == len(set(names))


def test_api_group_list_merges_extra_versions_into_known_group() -> None:
    extra = [discovery.api_group_entry("apps", ["v1beta9"])]
    apps = next(g for g in discovery.api_group_list(resources.Registry(), extra)["groups"] if g["name"] == "apps")
    assert [v["version"] for v in apps["versions"]] == ["v1", "v1beta9"]
    assert apps["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}


@pytest.mark.parametrize(("group", "versions"), [
    pytest.param("apps", ["v1"], id="apps"),
    pytest.param("autoscaling", ["v2", "v1"], id="autoscaling-prefers-v2"),
    pytest.param("stable.example.com", ["v1"], id="crd-group"),
])
def test_api_group(group: str, versions: list[str]) -> None:
    doc = discovery.api_group(registry_with_crd(), group)
    assert doc is not None
    assert doc["kind"] == "APIGroup" and doc["name"] == group
    assert [v["version"] for v in doc["versions"]] == versions
    assert doc["preferredVersion"]["version"] == versions[0]


@pytest.mark.parametrize("group", [pytest.param("", id="core"), pytest.param("nope.example.com", id="unknown")])
def test_api_group_unknown_is_none(group: str) -> None:
    assert discovery.api_group(resources.Registry(), group) is None


@pytest.mark.parametrize(("group", "version", "name", "expected"), [
    pytest.param("", "v1", "pods", {
        "name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        "shortNames": ["po"], "categories": ["all"], "storageVersionHash": "xPOwRZ+Yhw8="}, id="pods"),
    pytest.param("", "v1", "pods/status", {
        "name": "pods/status", "singularName": "", "namespaced": True, "kind": "Pod",
        "verbs": ["get", "patch", "update"]}, id="pods-status"),
    pytest.param("", "v1", "pods/eviction", {
        "name": "pods/eviction", "singularName": "", "namespaced": True, "group": "policy", "version": "v1",
        "kind": "Eviction", "verbs": ["create"]}, id="pods-eviction"),
    pytest.param("apps", "v1", "deployments/scale", {
        "name": "deployments/scale", "singularName": "", "namespaced": True, "group": "autoscaling",
        "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}, id="deployments-scale"),
    pytest.param("apps", "v1", "deployments", {
        "name": "deployments", "singularName": "deployment", "namespaced": True, "kind": "Deployment",
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        "shortNames": ["deploy"], "categories": ["all"], "storageVersionHash": "8aSe+NMegvE="},
        id="deployments"),
    pytest.param("", "v1", "namespaces", {
        "name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace",
        "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"], "shortNames": ["ns"],
        "storageVersionHash": discovery.storage_version_hash("", "v1", "Namespace")}, id="namespaces"),
    pytest.param("autoscaling", "v1", "horizontalpodautoscalers", {
        "name": "horizontalpodautoscalers", "singularName": "horizontalpodautoscaler", "namespaced": True,
        "kind": "HorizontalPodAutoscaler",
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        "shortNames": ["hpa"], "categories": ["all"],
        "storageVersionHash": discovery.storage_version_hash("autoscaling", "v2", "HorizontalPodAutoscaler")},
        id="hpa-served-at-v1-stored-at-v2"),
])
def test_api_resource_list_entries(group: str, version: str, name: str, expected: dict) -> None:
    doc = discovery.api_resource_list(resources.Registry(), group, version)
    assert doc is not None
    assert doc["groupVersion"] == discovery.group_version(group, version)
    assert next(r for r in doc["resources"] if r["name"] == name) == expected


def test_api_resource_list_is_sorted_and_unknown_is_none() -> None:
    doc = discovery.api_resource_list(resources.Registry(), "", "v1")
    assert doc is not None
    names = [r["name"] for r in doc["resources"]]
    assert names == sorted(names)
    assert discovery.api_resource_list(resources.Registry(), "apps", "v1beta1") is None


def test_resource_list_conversion_folds_subresources() -> None:
    rl = {"groupVersion": "metrics.k8s.io/v1beta1", "resources": [
        {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics", "verbs": ["get", "list"]},
        {"name": "pods/status", "namespaced": True, "kind": "PodMetrics", "verbs": ["get"]},
        {"name": "widgets/scale", "namespaced": False, "group": "autoscaling", "version": "v1", "kind": "Scale",
         "verbs": ["get"]},
    ]}
    out = discovery.resource_list_to_discovery_version(rl, discovery.FRESHNESS_STALE)
    assert out["version"] == "v1beta1" and out["freshness"] == "Stale"
    pods, widgets = out["resources"]
    assert pods["responseKind"] == {"group": "", "version": "", "kind": "PodMetrics"}
    assert pods["scope"] == "Namespaced"
    assert pods["subresources"] == [{"subresource": "status", "verbs": ["get"],
                                     "responseKind": {"group": "", "version": "", "kind": "PodMetrics"}}]
    assert widgets["responseKind"] == {"group": "", "version": "", "kind": ""}
    assert widgets["scope"] == "Cluster"
    assert widgets["subresources"][0]["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}


def split_groups_and_resources(doc: dict) -> dict[str, set[tuple]]:
    """client-go's SplitGroupsAndResources: aggregated discovery back to per-group-version resource lists."""
    out: dict[str, set[tuple]] = {}
    for item in doc["items"]:
        group = item["metadata"].get("name", "")
        for v in item["versions"]:
            assert v["freshness"] == "Current"
            entries = out.setdefault(discovery.group_version(group, v["version"]), set())
            for r in v["resources"]:
                rk = r["responseKind"]
                assert rk["kind"], f"{r['resource']} has no kind: client-go would drop it"
                namespaced = r["scope"] == "Namespaced"
                entries.add((r["resource"], rk["group"], rk["version"], rk["kind"], namespaced,
                             tuple(r["verbs"]), tuple(r.get("shortNames", ())), tuple(r.get("categories", ()))))
                for s in r.get("subresources", ()):
                    sk = s["responseKind"]
                    entries.add((f"{r['resource']}/{s['subresource']}", sk["group"], sk["version"], sk["kind"],
                                 namespaced, tuple(s["verbs"]), (), ()))
    return out


def legacy_view(reg: resources.Registry) -> dict[str, set[tuple]]:
    out: dict[str, set[tuple]] = {}
    for group, versions in reg.groups().items():
        for v in versions:
            rl = discovery.api_resource_list(reg, group, v)
            assert rl is not None
            out[rl["groupVersion"]] = {
                (r["name"], r.get("group", ""), r.get("version", ""), r["kind"], r["namespaced"], tuple(r["verbs"]),
                 tuple(r.get("shortNames", ())), tuple(r.get("categories", ()))) for r in rl["resources"]}
    return out


@pytest.mark.parametrize("version", discovery.DISCOVERY_VERSIONS)
def test_aggregated_discovery_agrees_with_legacy_documents(version: str) -> None:
    reg = registry_with_crd()
    api = discovery.aggregated_discovery(reg, legacy=True, version=version)
    apis = discovery.aggregated_discovery(reg, legacy=False, version=version)
    assert api["apiVersion"] == apis["apiVersion"] == f"apidiscovery.k8s.io/{version}"
    assert api["kind"] == "APIGroupDiscoveryList"
    assert [i["metadata"] for i in api["items"]] == [{}]
    assert "" not in [i["metadata"].get("name") for i in apis["items"]]
    assert split_groups_and_resources(api) | split_groups_and_resources(apis) == legacy_view(reg)


def test_aggregated_discovery_group_order_matches_legacy_list() -> None:
    reg = registry_with_crd()
    apis = discovery.aggregated_discovery(reg, legacy=False)
    assert [i["metadata"]["name"] for i in apis["items"]] == [
        g["name"] for g in discovery.api_group_list(reg)["groups"]]
    autoscaling = next(i for i in apis["items"] if i["metadata"]["name"] == "autoscaling")
    assert [v["version"] for v in autoscaling["versions"]] == ["v2", "v1"]


def test_aggregated_discovery_extra_groups_only_under_apis() -> None:
    rl = {"groupVersion": "metrics.k8s.io/v1beta1", "resources": [
        {"name": "nodes", "namespaced": False, "kind": "NodeMetrics", "verbs": ["get", "list"]}]}
    extra = [discovery.group_discovery("metrics.k8s.io", [discovery.resource_list_to_discovery_version(rl)])]
    reg = resources.Registry()
    apis = discovery.aggregated_discovery(reg, legacy=False, extra=extra)
    assert apis["items"][-1]["metadata"] == {"name": "metrics.k8s.io"}
    assert apis["items"][-1]["versions"][0]["resources"][0]["resource"] == "nodes"
    assert len(discovery.aggregated_discovery(reg, legacy=True, extra=extra)["items"]) == 1


def test_aggregated_discovery_rejects_unknown_version() -> None:
    with pytest.raises(ValueError, match="v2beta1"):
        discovery.aggregated_discovery(resources.Registry(), legacy=True, version="v3")


@pytest.mark.parametrize(("accept", "expected"), [
    pytest.param(KUBECTL_ACCEPT, V2, id="kubectl-1.32"),
    pytest.param("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;profile=nopeer,"
                 + KUBECTL_ACCEPT, V2, id="client-go-nopeer"),
    pytest.param("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList", V2BETA1,
                 id="v2beta1-only"),
    pytest.param("application/json; as=APIGroupDiscoveryList; v=v2; g=apidiscovery.k8s.io", V2,
                 id="spaces-any-param-order"),
    pytest.param("application/json", None, id="plain-json"),
    pytest.param("", None, id="no-accept"),
    pytest.param("*/*", None, id="wildcard"),
    pytest.param("application/json, " + KUBECTL_ACCEPT, None, id="json-first"),
    pytest.param("application/json;q=0.5," + KUBECTL_ACCEPT, V2, id="json-lower-q"),
    pytest.param("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0.5,application/json",
                 None, id="aggregated-lower-q"),
    pytest.param("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;profile=other,"
                 "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList", V2BETA1,
                 id="unknown-profile-skipped"),
    pytest.param("application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList", None,
                 id="unknown-version"),
    pytest.param("application/json;as=Table;v=v1;g=meta.k8s.io,application/json", None, id="table"),
    pytest.param("application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
                 None, id="protobuf-not-served"),
])
def test_negotiate_discovery(accept: str, expected: tuple[str, str] | None) -> None:
    assert discovery.negotiate_discovery(accept) == expected


@given(st.text())
def test_negotiate_discovery_never_raises(accept: str) -> None:
    assert discovery.negotiate_discovery(accept) in (None, V2, V2BETA1)


@given(st.lists(st.from_regex(r"[a-z]{1,8}\.example\.com", fullmatch=True), max_size=6, unique=True))
def test_every_served_group_listed_once_with_builtins_first(crd_groups: list[str]) -> None:
    reg = resources.Registry()
    for i, group in enumerate(crd_groups):
        reg.add(resources.ResourceType(group, f"things{i}", f"Thing{i}", True, ("v1",), custom=True))
    names = [g["name"] for g in discovery.api_group_list(reg)["groups"]]
    assert sorted(names) == sorted(g for g in reg.groups() if g)
    builtin = [n for n in names if n in discovery.BUILTIN_GROUP_ORDER]
    assert names[:len(builtin)] == builtin
    assert names[len(builtin):] == sorted(crd_groups)
