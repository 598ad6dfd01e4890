"""kubesim.fieldvalidation: unknown and duplicate fields as kube-apiserver reports them.

Expected strings are upstream's, from test/integration/apiserver/field_validation_test.go.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubesim import errors, fieldvalidation
from kubesim.apiserver import ApiServer
from kubesim.fieldvalidation import STRICT, WARN
from kubesim.resources import Registry, ResourceType

REGISTRY = Registry()
PODS = REGISTRY.lookup("", "v1", "pods")
DEPLOYMENTS = REGISTRY.lookup("apps", "v1", "deployments")
assert PODS is not None and DEPLOYMENTS is not None
CRONTABS = ResourceType("stable.example.com", "crontabs", "CronTab", True, ("v1",), custom=True)
POD_SCHEMA = fieldvalidation.builtin_schema("", "v1", "Pod")
assert POD_SCHEMA is not None


def pod(**spec_extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "labels": {"app": "web", "example.com/any-key": "x"},
                     "annotations": {"free/form": "yes"}},
        "spec": {
            "containers": [
                {"name": "a", "image": "nginx", "ports": [{"containerPort": 80, "name": "http"}],
                 "resources": {"requests": {"cpu": "100m", "memory": 64 * 2**20},
                               "limits": {"nvidia.com/gpu": 1, "cpu": 0.5}},
                 "livenessProbe": {"httpGet": {"port": "http", "path": "/"}},
                 "readinessProbe": {"tcpSocket": {"port": 8080}},
                 "env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]},
                {"name": "b", "image": "busybox"},
            ],
            "nodeSelector": {"kubernetes.io/os": "linux", "anything": "goes"},
            "volumes": [{"name": "v", "emptyDir": {}}, {"name": "c", "configMap": {"name": "cm"}}],
            "overhead": {"cpu": "10m"},
            **spec_extra,
        },
    }


def unknown_in_pod(obj: dict[str, Any]) -> list[str]:
    assert POD_SCHEMA is not None
    return fieldvalidation.unknown_fields(obj, POD_SCHEMA[0], POD_SCHEMA[1])


def with_change(path: list[str | int], value: Any) -> dict[str, Any]:
    obj = pod()
    node: Any = obj
    for step in path[:-1]:
        node = node[step] if isinstance(step, int) else node.setdefault(step, {})
    node[path[-1]] = value
    return obj


@pytest.mark.parametrize(("path", "expected"), [
    pytest.param(["specc"], ["specc"], id="top-level"),
    pytest.param(["metadata", "labelz"], ["metadata.labelz"], id="metadata"),
    pytest.param(["spec", "containerz"], ["spec.containerz"], id="spec"),
    pytest.param(["spec", "containers", 1, "imagez"], ["spec.containers[1].imagez"], id="list-item"),
    pytest.param(["spec", "containers", 0, "resources", "requestz"], ["spec.containers[0].resources.requestz"],
                 id="resources"),
    pytest.param(["spec", "containers", 0, "livenessProbe", "httpGet", "portz"],
                 ["spec.containers[0].livenessProbe.httpGet.portz"], id="probe"),
    pytest.param(["spec", "volumes", 0, "emptyDir", "medium2"], ["spec.volumes[0].emptyDir.medium2"],
                 id="empty-struct"),
    pytest.param(["status", "phasez"], ["status.phasez"], id="status"),
])
def test_unknown_fields_at_depth(path: list[str | int], expected: list[str]) -> None:
    assert unknown_in_pod(pod()) == []
    assert unknown_in_pod(with_change(path, 1)) == expected


@pytest.mark.parametrize("path", [
    pytest.param(["metadata", "labels", "new.example.com/key"], id="label-keys"),
    pytest.param(["metadata", "annotations", "a/b"], id="annotation-keys"),
    pytest.param(["spec", "containers", 0, "resources", "requests", "example.com/foo"], id="resource-names"),
    pytest.param(["spec", "nodeSelector", "zone"], id="node-selector"),
    pytest.param(["spec", "containers", 0, "ports", 0, "containerPort"], id="int"),
    pytest.param(["spec", "containers", 0, "livenessProbe", "httpGet", "port"], id="int-or-string"),
    pytest.param(["spec", "overhead", "memory"], id="quantity-map"),
])
def test_maps_and_int_or_string_are_not_flagged(path: list[str | int]) -> None:
    assert unknown_in_pod(with_change(path, "1")) == []
    assert unknown_in_pod(with_change(path, 1)) == []


def test_unknown_fields_order_and_sorted_keys() -> None:
    obj = pod(zeta=1, alpha=2)
    obj["aaa"] = 0
    assert unknown_in_pod(obj) == ["spec.zeta", "spec.alpha", "aaa"]
    assert POD_SCHEMA is not None
    assert fieldvalidation.unknown_fields(obj, POD_SCHEMA[0], POD_SCHEMA[1], sorted_keys=True) == [
        "aaa", "spec.alpha", "spec.zeta"]


@given(st.dictionaries(st.text(min_size=1), st.text(), max_size=5),
       st.text(min_size=1).filter(lambda k: k not in POD_SCHEMA[1][fieldvalidation.OBJECT_META]["properties"]))
def test_any_label_is_fine_and_an_unknown_meta_field_is_reported_alone(labels: dict[str, str], key: str) -> None:
    obj = pod()
    obj["metadata"]["labels"] = labels
    assert unknown_in_pod(obj) == []
    obj["metadata"][key] = "x"
    assert unknown_in_pod(obj) == [f"metadata.{key}"]


# -- create/update bodies (upstream's testFieldValidationPost) --------------------------------------------------------
INVALID_DEPLOYMENT = b"""{
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "dupename", "name": "d", "labels": {"app": "nginx"}, "unknownMeta": "metaVal"},
    "spec": {
        "unknown1": "val1", "unknownDupe": "valDupe", "unknownDupe": "valDupe2",
        "paused": true, "paused": false,
        "selector": {"matchLabels": {"app": "nginx"}},
        "template": {"metadata": {"labels": {"app": "nginx"}},
                     "spec": {"containers": [{"name": "nginx", "image": "nginx:latest", "unknownNested": "val1",
                                              "imagePullPolicy": "Always", "imagePullPolicy": "Never"}]}}}}"""
DEPLOYMENT_ERRORS = [
    'duplicate field "metadata.name"', 'unknown field "metadata.unknownMeta"', 'unknown field "spec.unknown1"',
    'unknown field "spec.unknownDupe"', 'duplicate field "spec.paused"',
    'unknown field "spec.template.spec.containers[0].unknownNested"',
    'duplicate field "spec.template.spec.containers[0].imagePullPolicy"',
]


def test_deployment_body_matches_upstream() -> None:
    decoded = fieldvalidation.decode_body(INVALID_DEPLOYMENT, "application/json")
    assert fieldvalidation.body_errors(decoded, rt=DEPLOYMENTS, version="v1") == DEPLOYMENT_ERRORS


def test_duplicate_map_keys_are_reported_and_the_last_value_wins() -> None:
    decoded = fieldvalidation.decode_body(
        b'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"a":"1","a":"2"}},'
        b'"spec":{"containers":[]}}', None)
    assert fieldvalidation.body_errors(decoded, rt=PODS, version="v1") == ['duplicate field "metadata.labels.a"']
    assert decoded.obj["metadata"]["labels"] == {"a": "2"}


@pytest.mark.parametrize(("mode", "warnings"), [
    pytest.param(WARN, DEPLOYMENT_ERRORS, id="warn"),
    pytest.param(fieldvalidation.IGNORE, [], id="ignore"),
])
def test_check_body_drops_unknown_fields_in_every_mode(mode: str, warnings: list[str]) -> None:
    decoded = fieldvalidation.decode_body(INVALID_DEPLOYMENT, "application/json")
    assert fieldvalidation.check_body(mode, decoded, rt=DEPLOYMENTS, version="v1") == warnings
    spec = decoded.obj["spec"]
    assert "unknown1" not in spec and "unknownDupe" not in spec and spec["paused"] is False
    assert "unknownMeta" not in decoded.obj["metadata"]
    assert "unknownNested" not in spec["template"]["spec"]["containers"][0]


def test_check_body_strict_is_upstreams_bad_request() -> None:
    decoded = fieldvalidation.decode_body(b'{"apiVersion":"apps/v1","kind":"Deployment","spec":{"replicaz":2}}',
                                          "application/json")
    with pytest.raises(errors.ApiError) as e:
        fieldvalidation.check_body(STRICT, decoded, rt=DEPLOYMENTS, version="v1")
    assert (e.value.code, e.value.reason) == (400, "BadRequest")
    assert e.value.message == ('Deployment in version "v1" cannot be handled as a Deployment: strict decoding '
                               'error: unknown field "spec.replicaz"')


def test_clean_body_passes_strict() -> None:
    decoded = fieldvalidation.decode_body(json.dumps(pod()).encode(), "application/json")
    assert fieldvalidation.check_body(STRICT, decoded, rt=PODS, version="v1") == []


def test_yaml_body_is_checked_in_key_order() -> None:
    decoded = fieldvalidation.decode_body(b"apiVersion: v1\nkind: Pod\nspec:\n  zz: 1\n  aa: 2\n", "application/yaml")
    assert fieldvalidation.body_errors(decoded, rt=PODS, version="v1") == [
        'unknown field "spec.aa"', 'unknown field "spec.zz"']


@pytest.mark.parametrize(("value", "options"), [
    pytest.param(None, "CreateOptions", id="absent"), pytest.param("", "UpdateOptions", id="empty"),
])
def test_directive_defaults_to_warn(value: str | None, options: str) -> None:
    assert fieldvalidation.directive(value, options_kind=options) == WARN


@pytest.mark.parametrize("value", ["Ignore", "Warn", "Strict"])
def test_directive_accepts_upstream_values(value: str) -> None:
    assert fieldvalidation.directive(value, options_kind="PatchOptions") == value


def test_directive_refuses_others_like_validate_patch_options() -> None:
    with pytest.raises(errors.ApiError) as e:
        fieldvalidation.directive("strict", options_kind="PatchOptions")
    assert (e.value.code, e.value.reason) == (422, "Invalid")
    assert e.value.message == ('PatchOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: '
                               '"strict": supported values: "", "Ignore", "Strict", "Warn"')
    assert e.value.details is not None and e.value.details["causes"][0]["field"] == "fieldValidation"


# -- custom resources (upstream's CRD tests) ------------------------------------------------------------------------
def crd(*, preserve: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": "object", "properties": {
        "cronSpec": {"type": "string"}, "knownField1": {"type": "string"},
        "embeddedObj": {"x-kubernetes-embedded-resource": True, "type": "object", "properties": {
            "apiversion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}}},
        "ports": {"type": "array", "x-kubernetes-list-type": "map",
                  "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
                  "items": {"type": "object", "required": ["containerPort", "protocol"], "properties": {
                      "containerPort": {"type": "integer"}, "hostIP": {"type": "string"},
                      "hostPort": {"type": "integer"}, "name": {"type": "string"},
                      "protocol": {"type": "string"}}}},
    }}
    if preserve:
        spec["x-kubernetes-preserve-unknown-fields"] = True
    return {"spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": {
        "type": "object", "properties": {"spec": spec}}}}]}}


CR_INVALID = b"""{
    "apiVersion": "stable.example.com/v1", "kind": "CronTab",
    "metadata": {"name": "dupename", "name": "c", "unknownMeta": "metaVal", "resourceVersion": "1"},
    "spec": {
        "unknown1": "val1", "unknownDupe": "valDupe", "unknownDupe": "valDupe2",
        "knownField1": "val1", "knownField1": "val2",
        "ports": [{"name": "portName", "containerPort": 8080, "protocol": "TCP", "hostPort": 8081, "hostPort": 8082,
                   "unknownNested": "val"}],
        "embeddedObj": {"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "my-cm", "namespace": "my-ns", "unknownEmbeddedMeta": "foo"}}}}"""
CR_DUPLICATES = ['duplicate field "metadata.name"', 'duplicate field "spec.unknownDupe"',
                 'duplicate field "spec.knownField1"', 'duplicate field "spec.ports[0].hostPort"']


@pytest.mark.parametrize(("preserve", "unknown"), [
    pytest.param(False, ["metadata.unknownMeta", "spec.ports[0].unknownNested", "spec.unknown1", "spec.unknownDupe",
                         "spec.embeddedObj.metadata.unknownEmbeddedMeta"], id="schema"),
    pytest.param(True, ["metadata.unknownMeta", "spec.ports[0].unknownNested",
                        "spec.embeddedObj.metadata.unknownEmbeddedMeta"], id="preserve-unknown-fields"),
])
def test_custom_resource_body_matches_upstream(preserve: bool, unknown: list[str]) -> None:
    decoded = fieldvalidation.decode_body(CR_INVALID, "application/json")
    found = fieldvalidation.body_errors(decoded, rt=CRONTABS, version="v1", crd=crd(preserve=preserve), drop=True)
    assert found == [*CR_DUPLICATES, *(f'unknown field "{p}"' for p in unknown)]
    again = fieldvalidation.Decoded(decoded.obj, {})
    assert fieldvalidation.body_errors(again, rt=CRONTABS, version="v1", crd=crd(preserve=preserve)) == []


@pytest.mark.parametrize(("schema", "obj", "expected"), [
    pytest.param({"type": "object", "properties": {"spec": {"type": "object", "additionalProperties": {
        "type": "object", "properties": {"a": {"type": "string"}}}}}},
        {"spec": {"anyKey": {"a": "x", "b": "y"}}}, ["spec.anyKey.b"], id="map-of-objects"),
    pytest.param({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "port": {"x-kubernetes-int-or-string": True}}}}},
        {"spec": {"port": "http"}}, [], id="int-or-string"),
    pytest.param({"type": "object", "properties": {"spec": {"type": "object"}}},
        {"spec": {"a": 1}}, ["spec.a"], id="object-without-properties"),
    pytest.param({"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {
        "spec": {"type": "object", "properties": {"a": {"type": "string"}}}}},
        {"spec": {"b": 1}, "extra": {"c": 1}}, ["spec.b"], id="preserve-stops-at-unknown-keys-only"),
    pytest.param({"type": "object", "properties": {"spec": {"type": "object", "properties": {"list": {
        "type": "array", "x-kubernetes-preserve-unknown-fields": True,
        "items": {"type": "object", "properties": {"a": {"type": "string"}}}}}}}},
        {"spec": {"list": [{"a": "x", "b": 1}]}}, [], id="preserve-covers-items"),
])
def test_structural_pruning(schema: dict, obj: dict, expected: list[str]) -> None:
    assert fieldvalidation.pruned_fields(obj, schema) == expected


def test_custom_resource_without_schema_is_not_checked() -> None:
    decoded = fieldvalidation.decode_body(b'{"kind":"CronTab","metadata":{"x":1},"spec":{"anything":1}}', None)
    assert fieldvalidation.body_errors(decoded, rt=CRONTABS, version="v1", crd=None) == []


# -- patches (upstream's testFieldValidationPatchTyped and SMP) -----------------------------------------------------
def stored_deployment() -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "default"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "nginx"}},
                     "template": {"metadata": {"labels": {"app": "nginx"}},
                                  "spec": {"containers": [{"name": "nginx", "image": "nginx:latest",
                                                           "imagePullPolicy": "Always"}]}}}}


MERGE_PATCH = b"""{"spec": {"unknown1": "val1", "unknownDupe": "valDupe", "unknownDupe": "valDupe2",
    "paused": true, "paused": false,
    "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:latest", "unknownNested": "val1",
                                          "imagePullPolicy": "Always", "imagePullPolicy": "Never"}]}}}}"""
JSON_PATCH = b"""[
    {"op": "add", "path": "/spec/unknown1", "value": "val1", "foo": "bar"},
    {"op": "add", "path": "/spec/unknown2", "path": "/spec/unknown3", "value": "val1"},
    {"op": "add", "path": "/spec/unknownDupe", "value": "valDupe"},
    {"op": "add", "path": "/spec/unknownDupe", "value": "valDupe2"},
    {"op": "add", "path": "/spec/paused", "value": true},
    {"op": "add", "path": "/spec/paused", "value": false},
    {"op": "add", "path": "/spec/template/spec/containers/0/unknownNested", "value": "val1"}]"""


def patched_deployment(**spec: Any) -> dict[str, Any]:
    obj = stored_deployment()
    obj["spec"].update(spec)
    obj["spec"]["template"]["spec"]["containers"][0]["unknownNested"] = "val1"
    return obj


@pytest.mark.parametrize(("body", "ctype", "patched", "expected"), [
    pytest.param(MERGE_PATCH, "application/merge-patch+json",
                 patched_deployment(unknown1="val1", unknownDupe="valDupe2", paused=False),
                 'strict decoding error: duplicate field "spec.unknownDupe", duplicate field "spec.paused", '
                 'duplicate field "spec.template.spec.containers[0].imagePullPolicy", unknown field '
                 '"spec.template.spec.containers[0].unknownNested", unknown field "spec.unknown1", unknown field '
                 '"spec.unknownDupe"', id="merge-patch"),
    pytest.param(MERGE_PATCH, "application/strategic-merge-patch+json",
                 patched_deployment(unknown1="val1", unknownDupe="valDupe2", paused=False),
                 'strict decoding error: duplicate field "spec.unknownDupe", duplicate field "spec.paused", '
                 'duplicate field "spec.template.spec.containers[0].imagePullPolicy", unknown field '
                 '"spec.template.spec.containers[0].unknownNested", unknown field "spec.unknown1", unknown field '
                 '"spec.unknownDupe"', id="strategic-merge-patch"),
    pytest.param(JSON_PATCH, "application/json-patch+json",
                 patched_deployment(unknown1="val1", unknown3="val1", unknownDupe="valDupe2", paused=False),
                 'strict decoding error: json patch unknown field "[0].foo", json patch duplicate field "[1].path", '
                 'unknown field "spec.template.spec.containers[0].unknownNested", unknown field "spec.unknown1", '
                 'unknown field "spec.unknown3", unknown field "spec.unknownDupe"', id="json-patch"),
])
def test_patch_errors_match_upstream(body: bytes, ctype: str, patched: dict, expected: str) -> None:
    found = fieldvalidation.patch_errors(patched, current=stored_deployment(), patch=body, content_type=ctype,
                                         rt=DEPLOYMENTS, version="v1")
    assert fieldvalidation.strict_decoding_error(found) == expected
    assert fieldvalidation.check_patch(WARN, patched, current=stored_deployment(), patch=body, content_type=ctype,
                                       rt=DEPLOYMENTS, version="v1") == found
    assert "unknown1" not in patched["spec"]


def test_strict_strategic_merge_patch_is_upstreams_invalid() -> None:
    patch = b'{"spec":{"replicaz":3,"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"}]}}}}'
    patched = stored_deployment()
    patched["spec"]["replicaz"] = 3
    with pytest.raises(errors.ApiError) as e:
        fieldvalidation.check_patch(STRICT, patched, current=stored_deployment(), patch=patch,
                                    content_type="application/strategic-merge-patch+json", rt=DEPLOYMENTS,
                                    version="v1")
    assert (e.value.code, e.value.reason) == (422, "Invalid")
    assert e.value.message == (' "" is invalid: patch: Invalid value: "map[spec:map[replicaz:3 template:map[spec:'
                               'map[$setElementOrder/containers:[map[name:nginx]]]]]]": strict decoding error: '
                               'unknown field "spec.replicaz"')


def test_strict_merge_patch_quotes_the_patched_document() -> None:
    patched = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicaz": "<3>"}}
    with pytest.raises(errors.ApiError) as e:
        fieldvalidation.check_patch(STRICT, patched, current={}, patch=b'{"spec":{"replicaz":"<3>"}}',
                                    content_type="application/merge-patch+json", rt=DEPLOYMENTS, version="v1")
    assert e.value.message == (' "" is invalid: patch: Invalid value: "{\\"apiVersion\\":\\"apps/v1\\",\\"kind\\":'
                               '\\"Deployment\\",\\"spec\\":{\\"replicaz\\":\\"\\\\u003c3\\\\u003e\\"}}": strict '
                               'decoding error: unknown field "spec.replicaz"')


def test_patch_is_not_blamed_for_unknown_fields_already_stored_and_shared_parts_stay_intact() -> None:
    current = stored_deployment()
    current["spec"]["template"]["spec"]["legacy"] = True
    patched = dict(current, spec=dict(current["spec"], paused=True))  # shares the template with `current`
    assert fieldvalidation.check_patch(STRICT, patched, current=current, patch=b'{"spec":{"paused":true}}',
                                       content_type="application/merge-patch+json", rt=DEPLOYMENTS,
                                       version="v1") == []
    assert "legacy" not in patched["spec"]["template"]["spec"]
    assert current["spec"]["template"]["spec"]["legacy"] is True


def test_apply_patches_are_left_to_apply() -> None:
    patched = stored_deployment()
    patched["spec"]["replicaz"] = 1
    assert fieldvalidation.check_patch(STRICT, patched, current=stored_deployment(), patch=b"spec: {replicaz: 1}",
                                       content_type="application/apply-patch+yaml", rt=DEPLOYMENTS,
                                       version="v1") == []


# -- what kubesim itself stores must pass Strict (or every kubectl apply after a create would fail) ---------------
def test_objects_kubesim_defaults_and_stores_have_no_unknown_fields() -> None:
    api = ApiServer(seed=1)
    created = [
        (DEPLOYMENTS, api.create(DEPLOYMENTS, "default", {**stored_deployment(), "metadata": {"name": "d"}})),
        (PODS, api.create(PODS, "default", pod())),
        (svc := REGISTRY.lookup("", "v1", "services"), api.create(svc, "default", {  # type: ignore[arg-type]
            "metadata": {"name": "s"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})),
    ]
    for rt, obj in created:
        assert rt is not None
        schema = fieldvalidation.builtin_schema(rt.group, rt.storage_version, rt.kind)
        assert schema is not None
        assert fieldvalidation.unknown_fields(obj, schema[0], schema[1]) == [], rt.kind


# -- formatting -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "header"), [
    pytest.param('unknown field "spec.replicaz"', '299 - "unknown field \\"spec.replicaz\\""', id="quotes"),
    pytest.param("a\\b", '299 - "a\\\\b"', id="backslash"),
])
def test_warning_header(text: str, header: str) -> None:
    assert fieldvalidation.warning_header(text) == header


@pytest.mark.parametrize(("value", "text"), [
    pytest.param({"b": [1, "x", None], "a": True}, "map[a:true b:[1 x <nil>]]", id="map"),
    pytest.param(1e6, "1e+06", id="large-float"), pytest.param(123456.0, "123456", id="float-integral"),
    pytest.param(0.5, "0.5", id="fraction"), pytest.param(1.5e-7, "1.5e-07", id="small-float"),
    pytest.param(-2.0, "-2", id="negative"),
])
def test_go_format(value: Any, text: str) -> None:
    assert fieldvalidation.go_format(value) == text


@pytest.mark.parametrize(("text", "quoted"), [
    pytest.param('a"b\\c', '"a\\"b\\\\c"', id="escapes"), pytest.param("x\ny\t", '"x\\ny\\t"', id="controls"),
    pytest.param("é\x00", '"é\\x00"', id="unicode-and-nul"),
])
def test_go_quote(text: str, quoted: str) -> None:
    assert fieldvalidation.go_quote(text) == quoted


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(), kids, max_size=3),
                    max_leaves=10))
def test_decode_body_agrees_with_json(value: Any) -> None:
    decoded = fieldvalidation.decode_body(json.dumps(value).encode(), "application/json")
    assert decoded.obj == value and decoded.repeats == {}
    assert copy.deepcopy(decoded.obj) == value
