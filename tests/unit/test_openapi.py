"""OpenAPI v3 index and documents, checked the way kubectl 1.32 reads them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubesim import openapi, resources
from kubesim import openapi_schemas as schemas

CRONTAB_SCHEMA = {
    "type": "object",
    "properties": {"spec": {"type": "object", "properties": {"cronSpec": {"type": "string"},
                                                             "replicas": {"type": "integer"}}}},
}
CRONTAB_CRD = {"spec": {
    "group": "stable.example.com", "scope": "Namespaced",
    "names": {"plural": "crontabs", "kind": "CronTab"},
    "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}, "scale": {}}}],
}}
CRD_SCHEMAS = {("stable.example.com", "v1", "CronTab"): CRONTAB_SCHEMA}
CACHE = openapi.OpenAPICache()


def registry_with_crd() -> resources.Registry:
    reg = resources.Registry()
    for rt in resources.crd_resource_types(CRONTAB_CRD):
        reg.add(rt)
    return reg


def document(group: str, version: str, reg: resources.Registry | None = None) -> dict:
    doc = CACHE.document(reg or registry_with_crd(), group, version, crd_schemas=CRD_SCHEMAS)
    assert doc is not None
    return doc


def served_group_versions() -> list[tuple[str, str]]:
    return [(g, v) for g, vs in registry_with_crd().groups().items() for v in vs]


GV_PARAMS = [pytest.param(g, v, id=openapi.path_key(g, v)) for g, v in served_group_versions()]


# -- what kubectl does with a document (ports of client-go / kubectl code) ---------------------------------
def supports_field_validation(doc: dict, gvk: dict) -> bool:
    """cli-runtime queryParamVerifierV3.supportsQueryParamV3 for `fieldValidation`: the first PATCH of the kind."""
    for path in doc["paths"].values():
        op = path.get("patch")
        if op is None or op.get("x-kubernetes-group-version-kind") != gvk:
            continue
        return any(p["name"] == "fieldValidation" and p["in"] == "query" for p in op["parameters"])
    raise AssertionError(f"Path not found for GVK ({gvk}) in OpenAPI V3 doc")


def supports_strategic_merge(doc: dict, gvk: dict) -> bool:
    """kubectl apply's gvkSupportsPatchOpenAPIV3."""
    for path in doc["paths"].values():
        op = path.get("patch")
        if op is not None and op.get("x-kubernetes-group-version-kind") == gvk:
            return "application/strategic-merge-patch+json" in op["requestBody"]["content"]
    return False


def resolve(doc: dict, schema: dict) -> dict:
    """apimachinery PatchMetaFromOpenAPIV3's resolve: first allOf, then a components $ref."""
    if schema.get("allOf"):
        schema = schema["allOf"][0]
    if "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].removeprefix(openapi.schemas.REF_PREFIX)]
    return schema


def patch_meta(doc: dict, kind_schema: str, path: list[str]) -> dict:
    """Walk field names like LookupPatchMetadataForStruct/ForSlice; the last field's schema (unresolved)."""
    schema = doc["components"]["schemas"][kind_schema]
    for i, key in enumerate(path):
        assert key in schema.get("properties", {}), f'unable to find api field "{key}"'
        field = schema["properties"][key]
        if i == len(path) - 1:
            return field
        schema = resolve(doc, field.get("items", field))
    raise AssertionError("empty path")


def refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):  # JSONSchemaProps has a *property* named "$ref"
                yield v
            else:
                yield from refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from refs(v)


def matches(doc: dict, schema: dict, value: object) -> bool:
    """Type check enough for scalars: resolves allOf/$ref and honours anyOf."""
    schema = resolve(doc, schema)
    if "anyOf" in schema:
        return any(matches(doc, s, value) for s in schema["anyOf"])
    checks = {"integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
              "string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool)}
    return checks[schema["type"]](value) if "type" in schema else True


# -- index --------------------------------------------------------------------------------------------------
def test_index_lists_every_served_group_version_with_content_hash() -> None:
    reg = registry_with_crd()
    index = openapi.openapi_v3_index(reg, crd_schemas=CRD_SCHEMAS, cache=CACHE)
    assert sorted(index["paths"]) == sorted(openapi.path_key(g, v) for g, v in served_group_versions())
    for key, entry in index["paths"].items():
        url = entry["serverRelativeURL"]
        m = re.fullmatch(rf"/openapi/v3/{re.escape(key)}\?hash=([0-9A-F]{{128}})", url)
        assert m is not None, url
        body = CACHE.document_for_path(reg, key, CRD_SCHEMAS)
        assert body is not None and openapi.content_hash(body) == m.group(1)


def test_index_hash_is_stable_and_changes_only_for_the_changed_group() -> None:
    before = openapi.OpenAPICache().index(resources.Registry())["paths"]
    assert openapi.OpenAPICache().index(resources.Registry())["paths"] == before
    reg = resources.Registry()
    reg.add(resources.ResourceType("apps", "widgets", "Widget", True, ("v1",), custom=True))
    after = openapi.OpenAPICache().index(reg)["paths"]
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"apis/apps/v1"}


def test_index_includes_extra_paths() -> None:
    url = "/openapi/v3/apis/metrics.k8s.io/v1beta1?hash=AB"
    index = CACHE.index(resources.Registry(), extra_paths={"apis/metrics.k8s.io/v1beta1": url})
    assert index["paths"]["apis/metrics.k8s.io/v1beta1"] == {"serverRelativeURL": url}


@pytest.mark.parametrize(("path", "served"), [
    pytest.param("api/v1", True, id="core"),
    pytest.param("apis/apps/v1?hash=0A1B", True, id="with-hash"),
    pytest.param("/apis/autoscaling/v1", True, id="leading-slash"),
    pytest.param("apis/apps/v1beta1", False, id="unserved-version"),
    pytest.param("apis/nope.example.com/v1", False, id="unknown-group"),
    pytest.param("api/v1/pods", False, id="not-a-group-version"),
])
def test_document_for_path(path: str, served: bool) -> None:
    body = CACHE.document_for_path(resources.Registry(), path)
    assert (body is not None) == served
    if body is not None:
        assert json.loads(body)["openapi"] == "3.0.0"


def test_cached_document_is_a_copy() -> None:
    reg = resources.Registry()
    CACHE.document(reg, "apps", "v1")["paths"].clear()  # type: ignore[index]
    assert CACHE.document(reg, "apps", "v1")["paths"]  # type: ignore[index]


def test_cache_drops_least_recently_used() -> None:
    cache = openapi.OpenAPICache(max_entries=2)
    reg = resources.Registry()
    for gv in (("apps", "v1"), ("policy", "v1"), ("coordination.k8s.io", "v1")):
        cache.document_json(reg, *gv)
    assert len(cache) == 2


# -- documents: what kubectl relies on ----------------------------------------------------------------------
@pytest.mark.parametrize(("group", "version"), GV_PARAMS)
def test_every_kind_delegates_validation_to_server(group: str, version: str) -> None:
    doc = document(group, version)
    for rt in registry_with_crd().in_group_version(group, version):
        gvk = {"group": group, "kind": rt.kind, "version": version}
        if "patch" in rt.verbs:
            assert supports_field_validation(doc, gvk), rt.kind
            assert supports_strategic_merge(doc, gvk) == (not rt.custom), rt.kind
        for path in doc["paths"].values():
            for method in ("post", "put", "patch"):
                if method in path:
                    assert "fieldValidation" in [p["name"] for p in path[method]["parameters"]]


@pytest.mark.parametrize(("group", "version"), GV_PARAMS)
def test_every_kind_has_one_schema_with_its_gvk_and_refs_resolve(group: str, version: str) -> None:
    doc = document(group, version)
    components = doc["components"]["schemas"]
    for rt in registry_with_crd().in_group_version(group, version):
        for kind in (rt.kind, rt.list_kind) if "list" in rt.verbs else (rt.kind,):
            gvk = {"group": group, "kind": kind, "version": version}
            holders = [n for n, s in components.items() if gvk in s.get("x-kubernetes-group-version-kind", ())]
            assert len(holders) == 1, (kind, holders)
    for r in refs(doc):
        assert r.removeprefix(openapi.schemas.REF_PREFIX) in components, r


@pytest.mark.parametrize(("group", "version"), GV_PARAMS)
def test_operation_ids_unique(group: str, version: str) -> None:
    ids = [op["operationId"] for path in document(group, version)["paths"].values()
           for m, op in path.items() if m != "parameters"]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(("group", "version", "kind_schema", "path", "expected"), [
    pytest.param("apps", "v1", "io.k8s.api.apps.v1.Deployment", ["spec", "template", "spec", "containers"],
                 {"x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge",
                  "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}, id="containers"),
    pytest.param("apps", "v1", "io.k8s.api.apps.v1.Deployment",
                 ["spec", "template", "spec", "containers", "ports"],
                 {"x-kubernetes-patch-merge-key": "containerPort",
                  "x-kubernetes-list-map-keys": ["containerPort", "protocol"]}, id="container-ports"),
    pytest.param("apps", "v1", "io.k8s.api.apps.v1.StatefulSet", ["spec", "template", "spec", "volumes"],
                 {"x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge,retainKeys"},
                 id="volumes"),
    pytest.param("", "v1", "io.k8s.api.core.v1.Pod", ["spec", "containers", "env"],
                 {"x-kubernetes-patch-merge-key": "name"}, id="env"),
    pytest.param("", "v1", "io.k8s.api.core.v1.Pod", ["spec", "initContainers", "volumeMounts"],
                 {"x-kubernetes-patch-merge-key": "mountPath"}, id="volume-mounts"),
    pytest.param("", "v1", "io.k8s.api.core.v1.Pod", ["status", "conditions"],
                 {"x-kubernetes-patch-merge-key": "type", "x-kubernetes-list-map-keys": ["type"]},
                 id="pod-conditions"),
    pytest.param("", "v1", "io.k8s.api.core.v1.Pod", ["spec", "tolerations"],
                 {"x-kubernetes-list-type": "atomic"}, id="tolerations-atomic"),
    pytest.param("", "v1", "io.k8s.api.core.v1.Service", ["spec", "ports"],
                 {"x-kubernetes-patch-merge-key": "port", "x-kubernetes-list-map-keys": ["port", "protocol"]},
                 id="service-ports"),
    pytest.param("", "v1", "io.k8s.api.core.v1.ConfigMap", ["metadata", "finalizers"],
                 {"x-kubernetes-patch-strategy": "merge", "x-kubernetes-list-type": "set"}, id="finalizers"),
    pytest.param("", "v1", "io.k8s.api.core.v1.ConfigMap", ["metadata", "ownerReferences"],
                 {"x-kubernetes-patch-merge-key": "uid"}, id="owner-references"),
    pytest.param("", "v1", "io.k8s.api.core.v1.Node", ["status", "addresses"],
                 {"x-kubernetes-patch-merge-key": "type"}, id="node-addresses"),
    pytest.param("autoscaling", "v2", "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler",
                 ["status", "conditions"], {"x-kubernetes-patch-merge-key": "type"}, id="hpa-conditions"),
    pytest.param("policy", "v1", "io.k8s.api.policy.v1.PodDisruptionBudget", ["status", "conditions"],
                 {"x-kubernetes-patch-merge-key": "type"}, id="pdb-conditions"),
])
def test_patch_extensions_reachable_like_kubectl(group: str, version: str, kind_schema: str, path: list[str],
                                                 expected: dict) -> None:
    field = patch_meta(document(group, version), kind_schema, path)
    assert {k: field.get(k) for k in expected} == expected


@pytest.mark.parametrize(("group", "version", "kind_schema", "path", "values"), [
    pytest.param("apps", "v1", "io.k8s.api.apps.v1.Deployment",
                 ["spec", "strategy", "rollingUpdate", "maxSurge"], [1, "25%"], id="maxSurge"),
    pytest.param("apps", "v1", "io.k8s.api.apps.v1.DaemonSet",
                 ["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"], [0, "10%"], id="ds-maxUnavailable"),
    pytest.param("", "v1", "io.k8s.api.core.v1.Service", ["spec", "ports", "targetPort"], [8080, "http"],
                 id="targetPort"),
    pytest.param("", "v1", "io.k8s.api.core.v1.Pod", ["spec", "containers", "livenessProbe", "httpGet", "port"],
                 [80, "http"], id="probe-port"),
    pytest.param("policy", "v1", "io.k8s.api.policy.v1.PodDisruptionBudget", ["spec", "minAvailable"],
                 [1, "50%"], id="pdb-minAvailable"),
    pytest.param("", "v1", "io.k8s.api.core.v1.Pod", ["spec", "volumes", "emptyDir", "sizeLimit"],
                 [1, 0.5, "1Gi"], id="sizeLimit"),
    pytest.param("autoscaling", "v2", "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler",
                 ["spec", "metrics", "pods", "target", "averageValue"], [1, "100m"], id="metric-target"),
])
def test_int_or_string_and_quantity_fields(group: str, version: str, kind_schema: str, path: list[str],
                                           values: list) -> None:
    doc = document(group, version)
    field = patch_meta(doc, kind_schema, path)
    assert resolve(doc, field)["x-kubernetes-int-or-string"] is True
    assert all(matches(doc, field, v) for v in values)
    assert not matches(doc, field, True)


@pytest.mark.parametrize(("kind_schema", "path"), [
    pytest.param("io.k8s.api.core.v1.Pod", ["spec", "containers", "resources", "limits"], id="limits"),
    pytest.param("io.k8s.api.core.v1.Pod", ["spec", "overhead"], id="overhead"),
    pytest.param("io.k8s.api.core.v1.Node", ["status", "allocatable"], id="allocatable"),
    pytest.param("io.k8s.api.core.v1.Node", ["status", "capacity"], id="capacity"),
])
def test_quantity_maps(kind_schema: str, path: list[str]) -> None:
    doc = document("", "v1")
    field = patch_meta(doc, kind_schema, path)
    values = field["additionalProperties"]
    assert all(matches(doc, values, v) for v in (1, 0.5, "500m", "128Mi"))


@pytest.mark.parametrize(("group", "version", "name"), [
    pytest.param("", "v1", "io.k8s.api.core.v1.Pod", id="pod"),
    pytest.param("", "v1", "io.k8s.api.core.v1.Event", id="core-event"),
    pytest.param("", "v1", "io.k8s.api.policy.v1.Eviction", id="eviction-in-core-doc"),
    pytest.param("", "v1", "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", id="object-meta"),
    pytest.param("events.k8s.io", "v1", "io.k8s.api.events.v1.Event", id="events-event"),
    pytest.param("apps", "v1", "io.k8s.api.core.v1.PodTemplateSpec", id="pod-template-is-core"),
    pytest.param("apps", "v1", "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector", id="label-selector-meta"),
    pytest.param("apps", "v1", "io.k8s.api.autoscaling.v1.Scale", id="scale"),
    pytest.param("apps", "v1", "io.k8s.api.apps.v1.RollingUpdateDeployment", id="apps-nested"),
    pytest.param("autoscaling", "v2", "io.k8s.api.autoscaling.v2.MetricSpec", id="hpa-v2-nested"),
    pytest.param("apiregistration.k8s.io", "v1", "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIService",
                 id="apiservice"),
    pytest.param("apiextensions.k8s.io", "v1",
                 "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps", id="crd-nested"),
    pytest.param("stable.example.com", "v1", "com.example.stable.v1.CronTab", id="custom-resource"),
])
def test_schema_names_follow_upstream(group: str, version: str, name: str) -> None:
    assert name in document(group, version)["components"]["schemas"]


def test_schema_descriptions_and_required() -> None:
    components = document("apps", "v1")["components"]["schemas"]
    spec = components["io.k8s.api.apps.v1.DeploymentSpec"]
    assert spec["description"].startswith("DeploymentSpec is the specification")
    assert set(spec["required"]) == {"selector", "template"}
    assert components["io.k8s.api.core.v1.Container"]["required"] == ["name"]
    assert "replicas" in spec["properties"] and spec["properties"]["replicas"]["type"] == "integer"
    meta = components["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]
    assert meta["labels"] == {**meta["labels"], "type": "object", "additionalProperties": {"type": "string"}}
    assert meta["creationTimestamp"]["format"] == "date-time"


@pytest.mark.parametrize(("group", "version", "path", "methods", "gvk"), [
    pytest.param("", "v1", "/api/v1/namespaces/{namespace}/pods", {"get", "post", "delete"},
                 ("", "v1", "Pod"), id="pods-collection"),
    pytest.param("", "v1", "/api/v1/namespaces/{namespace}/pods/{name}", {"get", "put", "patch", "delete"},
                 ("", "v1", "Pod"), id="pod"),
    pytest.param("", "v1", "/api/v1/pods", {"get"}, ("", "v1", "Pod"), id="pods-all-namespaces"),
    pytest.param("", "v1", "/api/v1/namespaces/{namespace}/pods/{name}/status", {"get", "put", "patch"},
                 ("", "v1", "Pod"), id="pod-status"),
    pytest.param("", "v1", "/api/v1/namespaces/{namespace}/pods/{name}/eviction", {"post"},
                 ("policy", "v1", "Eviction"), id="pod-eviction"),
    pytest.param("", "v1", "/api/v1/namespaces/{namespace}/pods/{name}/binding", {"post"},
                 ("", "v1", "Binding"), id="pod-binding"),
    pytest.param("", "v1", "/api/v1/namespaces/{namespace}/pods/{name}/log", {"get"},
                 ("", "v1", "Pod"), id="pod-log"),
    pytest.param("", "v1", "/api/v1/namespaces/{name}", {"get", "put", "patch", "delete"},
                 ("", "v1", "Namespace"), id="namespace-cluster-scoped"),
    pytest.param("", "v1", "/api/v1/namespaces/{name}/finalize", {"put"}, ("", "v1", "Namespace"),
                 id="namespace-finalize"),
    pytest.param("apps", "v1", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale",
                 {"get", "put", "patch"}, ("autoscaling", "v1", "Scale"), id="deployment-scale"),
    pytest.param("authentication.k8s.io", "v1", "/apis/authentication.k8s.io/v1/tokenreviews", {"post"},
                 ("authentication.k8s.io", "v1", "TokenReview"), id="create-only"),
    pytest.param("stable.example.com", "v1",
                 "/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}/scale",
                 {"get", "put", "patch"}, ("autoscaling", "v1", "Scale"), id="custom-scale"),
])
def test_paths(group: str, version: str, path: str, methods: set[str], gvk: tuple[str, str, str]) -> None:
    doc = document(group, version)
    item = doc["paths"][path]
    assert set(item) - {"parameters"} == methods
    for method in methods:
        assert item[method]["x-kubernetes-group-version-kind"] == dict(zip(("group", "version", "kind"), gvk,
                                                                           strict=True))


def test_unproxied_and_unknown_paths_absent() -> None:
    paths = document("", "v1")["paths"]
    assert not any(p.endswith("/proxy") for p in paths)
    assert "/api/v1/namespaces/{namespace}/tokenreviews" not in paths
    assert "/api/v1/nodes/{name}/status" in paths and "/api/v1/namespaces/{namespace}/nodes" not in paths


@pytest.mark.parametrize(("group", "version", "path", "method", "operation_id"), [
    pytest.param("apps", "v1", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}", "patch",
                 "patchAppsV1NamespacedDeployment", id="patch"),
    pytest.param("", "v1", "/api/v1/pods", "get", "listCoreV1PodForAllNamespaces", id="all-namespaces"),
    pytest.param("", "v1", "/api/v1/namespaces/{namespace}/pods", "delete",
                 "deleteCoreV1CollectionNamespacedPod", id="deletecollection"),
    pytest.param("apps", "v1", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status", "put",
                 "replaceAppsV1NamespacedDeploymentStatus", id="status"),
    pytest.param("", "v1", "/api/v1/namespaces/{name}", "get", "readCoreV1Namespace", id="cluster"),
    pytest.param("coordination.k8s.io", "v1", "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases",
                 "post", "createCoordinationV1NamespacedLease", id="dotted-group"),
])
def test_operation_ids_follow_upstream(group: str, version: str, path: str, method: str,
                                       operation_id: str) -> None:
    assert document(group, version)["paths"][path][method]["operationId"] == operation_id


# -- custom resources ---------------------------------------------------------------------------------------
def test_custom_resource_schema_from_crd() -> None:
    components = document("stable.example.com", "v1")["components"]["schemas"]
    schema = components["com.example.stable.v1.CronTab"]
    assert schema["properties"]["spec"] == CRONTAB_SCHEMA["properties"]["spec"]
    assert schema["properties"]["metadata"]["allOf"] == [schemas.ref(f"{schemas.META_PACKAGE}.ObjectMeta")]
    assert schema["x-kubernetes-group-version-kind"] == [
        {"group": "stable.example.com", "kind": "CronTab", "version": "v1"}]
    items = components["com.example.stable.v1.CronTabList"]["properties"]["items"]["items"]
    assert items == {"allOf": [schemas.ref("com.example.stable.v1.CronTab")]}
    assert "metadata" not in CRONTAB_SCHEMA["properties"], "the CRD's schema must not be changed"


def test_custom_resource_without_schema_preserves_unknown_fields() -> None:
    doc = openapi.openapi_v3_document(registry_with_crd(), "stable.example.com", "v1")
    assert doc is not None
    schema = doc["components"]["schemas"]["com.example.stable.v1.CronTab"]
    assert schema["x-kubernetes-preserve-unknown-fields"] is True


def test_unserved_group_version_has_no_document() -> None:
    assert openapi.openapi_v3_document(resources.Registry(), "apps", "v1beta1") is None


# -- naming helpers -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("group", "version", "kind", "model"), [
    pytest.param("", "v1", "Pod", "V1Pod", id="pod"),
    pytest.param("", "v1", "Event", "CoreV1Event", id="core-event"),
    pytest.param("events.k8s.io", "v1", "Event", "EventsV1Event", id="events-event"),
    pytest.param("autoscaling", "v2", "HorizontalPodAutoscaler", "V2HorizontalPodAutoscaler", id="hpa-v2"),
    pytest.param("autoscaling", "v1", "Scale", "V1Scale", id="scale"),
    pytest.param("stable.example.com", "v1", "CronTab", None, id="custom"),
])
def test_model_for(group: str, version: str, kind: str, model: str | None) -> None:
    assert schemas.model_for(group, version, kind) == model


@given(st.sampled_from(["", "apps", "events.k8s.io", "apiextensions.k8s.io", "rbac.authorization.k8s.io"]),
       st.from_regex(r"v[1-9](?:(?:alpha|beta)[1-9])?", fullmatch=True),
       st.from_regex(r"[A-Z][a-z]{1,8}(?:[A-Z][a-z]{1,8})?", fullmatch=True))
def test_short_name_inverts_model_naming(group: str, version: str, kind: str) -> None:
    prefix = "".join(p.capitalize() for p in (group.split(".")[0] if group else "core").split("-"))
    v = version[:1].upper() + version[1:]
    assert schemas.short_name(f"{v}{kind}") == kind
    assert schemas.short_name(f"{prefix}{v}{kind}") == kind
