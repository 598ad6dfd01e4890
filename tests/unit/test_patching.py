"""kubesim.patching: JSON merge patch, JSON patch and strategic merge patch against upstream's examples,
semantics and error answers."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubesim import patching
from kubesim.patching import (
    JSON_PATCH,
    MERGE_PATCH,
    REJECTED,
    STRATEGIC_MERGE_PATCH,
    PatchError,
    apply_patch,
    json_merge_patch,
    json_patch,
    strategic_merge_patch,
)

# --- JSON merge patch (RFC 7386 appendix A) --------------------------------------------------------------


@pytest.mark.parametrize(("target", "patch", "expected"), [
    pytest.param({"a": "b"}, {"a": "c"}, {"a": "c"}, id="replace-member"),
    pytest.param({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}, id="add-member"),
    pytest.param({"a": "b"}, {"a": None}, {}, id="delete-member"),
    pytest.param({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}, id="delete-one-of-two"),
    pytest.param({"a": ["b"]}, {"a": "c"}, {"a": "c"}, id="array-to-string"),
    pytest.param({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}, id="string-to-array"),
    pytest.param({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}, id="nested"),
    pytest.param({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}, id="arrays-replaced"),
    pytest.param(["a", "b"], ["c", "d"], ["c", "d"], id="array-document"),
    pytest.param({"a": "b"}, ["c"], ["c"], id="object-to-array"),
    pytest.param({"a": "foo"}, None, None, id="null-patch"),
    pytest.param({"a": "foo"}, "bar", "bar", id="string-patch"),
    pytest.param({"e": None}, {"a": 1}, {"e": None, "a": 1}, id="existing-null-kept"),
    pytest.param([1, 2], {"a": "b", "c": None}, {"a": "b"}, id="array-target"),
    pytest.param({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}, id="nulls-pruned-in-new-subtree"),
    pytest.param({}, {"a": [{"b": None}, None]}, {"a": [{}, None]}, id="v4-prunes-objects-inside-new-arrays"),
    pytest.param({"a": {"x": 1}}, {"a": [{"b": None}]}, {"a": [{"b": None}]}, id="v4-keeps-array-over-object"),
])
def test_json_merge_patch_rfc7386(target: Any, patch: Any, expected: Any) -> None:
    before = copy.deepcopy(target)
    assert json_merge_patch(target, patch) == expected
    assert target == before


# --- JSON patch (RFC 6902 appendix A, json-patch v4 semantics) --------------------------------------------


@pytest.mark.parametrize(("doc", "ops", "expected"), [
    pytest.param({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}],
                 {"baz": "qux", "foo": "bar"}, id="A1-add-member"),
    pytest.param({"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}],
                 {"foo": ["bar", "qux", "baz"]}, id="A2-add-array-element"),
    pytest.param({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"},
                 id="A3-remove-member"),
    pytest.param({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}], {"foo": ["bar", "baz"]},
                 id="A4-remove-array-element"),
    pytest.param({"baz": "qux", "foo": "bar"}, [{"op": "replace", "path": "/baz", "value": "boo"}],
                 {"baz": "boo", "foo": "bar"}, id="A5-replace"),
    pytest.param({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
                 [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
                 {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}, id="A6-move"),
    pytest.param({"foo": ["all", "grass", "cows", "eat"]}, [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
                 {"foo": ["all", "cows", "eat", "grass"]}, id="A7-move-array-element"),
    pytest.param({"baz": "qux", "foo": ["a", 2, "c"]},
                 [{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}],
                 {"baz": "qux", "foo": ["a", 2, "c"]}, id="A8-test"),
    pytest.param({"foo": "bar"}, [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
                 {"foo": "bar", "child": {"grandchild": {}}}, id="A10-add-nested"),
    pytest.param({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
                 {"foo": "bar", "baz": "qux"}, id="A11-unknown-members-ignored"),
    pytest.param({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10},
                 id="A14-escape-order"),
    pytest.param({"foo": ["bar"]}, [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
                 {"foo": ["bar", ["abc", "def"]]}, id="A16-append-array-value"),
    pytest.param({"a/b": {"m~n": 1}}, [{"op": "replace", "path": "/a~1b/m~0n", "value": 2}], {"a/b": {"m~n": 2}},
                 id="pointer-escapes"),
    pytest.param({"l": [1, 2, 3]}, [{"op": "remove", "path": "/l/-1"}], {"l": [1, 2]}, id="v4-negative-index"),
    pytest.param({"l": [1, 2]}, [{"op": "add", "path": "/l/-1", "value": 9}], {"l": [1, 2, 9]},
                 id="v4-negative-add-index"),
    pytest.param({"a": {}}, [{"op": "replace", "path": "/a/b", "value": 1}], {"a": {"b": 1}},
                 id="v4-replace-missing-member-adds"),
    pytest.param({"a": 1}, [{"op": "copy", "from": "/a", "path": "/b"}], {"a": 1, "b": 1}, id="copy"),
    pytest.param({"a": 1}, [{"op": "copy", "from": "/missing", "path": "/b"}], {"a": 1, "b": None},
                 id="v4-copy-missing-member-copies-null"),
    pytest.param({"a": None}, [{"op": "test", "path": "/a", "value": None}], {"a": None}, id="test-null"),
    pytest.param({"a": {"b": 1}}, [{"op": "test", "path": "/a", "value": {"b": 1, "c": 2}}], {"a": {"b": 1}},
                 id="v4-test-tolerates-extra-expected-members"),
    pytest.param({"a": 1}, [{"op": "replace", "path": "", "value": {"b": 2}}], {"b": 2}, id="replace-root"),
    pytest.param({"a": 1}, [{"op": "test", "path": "", "value": {"a": 1}}], {"a": 1}, id="test-root"),
    pytest.param({"a": 1}, [{"op": "add", "path": "/", "value": 2}], {"a": 1, "": 2}, id="empty-key"),
    pytest.param({"a": 1}, [], {"a": 1}, id="no-operations"),
])
def test_json_patch_applies(doc: Any, ops: list[Any], expected: Any) -> None:
    before = copy.deepcopy(doc)
    assert json_patch(doc, ops) == expected
    assert doc == before


@pytest.mark.parametrize(("doc", "ops", "detail"), [
    pytest.param({"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}],
                 "testing value /baz failed: test failed", id="A9-test-fails"),
    pytest.param({"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}],
                 'add operation does not apply: doc is missing path: "/baz/bat": missing value',
                 id="A12-add-to-missing-parent"),
    pytest.param({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": "10"}],
                 "testing value /~01 failed: test failed", id="A15-string-is-not-number"),
    pytest.param({"a": 1}, [{"op": "test", "path": "/a", "value": 1.0}], "testing value /a failed: test failed",
                 id="test-compares-json-text"),
    pytest.param({"a": {}}, [{"op": "remove", "path": "/a/b"}],
                 "error in remove for path: '/a/b': Unable to remove nonexistent key: b: missing value",
                 id="remove-missing-member"),
    pytest.param({"l": [1]}, [{"op": "add", "path": "/l/5", "value": 0}],
                 "error in add for path: '/l/5': Unable to access invalid index: 5: invalid index referenced",
                 id="add-index-out-of-range"),
    pytest.param({"l": [1]}, [{"op": "add", "path": "/l/x", "value": 0}],
                 "error in add for path: '/l/x': value was not a proper array index: 'x': "
                 'strconv.Atoi: parsing "x": invalid syntax', id="add-index-not-a-number"),
    pytest.param({"l": [1]}, [{"op": "replace", "path": "/l/3", "value": 0}],
                 "replace operation does not apply: doc is missing key: /l/3: missing value",
                 id="replace-index-out-of-range"),
    pytest.param({"a": 1}, [{"op": "replace", "path": "/x/y", "value": 0}],
                 "replace operation does not apply: doc is missing path: /x/y: missing value", id="replace-no-parent"),
    pytest.param({"a": 1}, [{"op": "move", "from": "/b", "path": "/c"}],
                 "error in move for path: 'b': Unable to remove nonexistent key: b: missing value",
                 id="move-missing-source"),
    pytest.param({"a": 1}, [{"op": "copy", "from": "/x/y", "path": "/c"}],
                 "copy operation does not apply: doc is missing from path: /x/y: missing value", id="copy-no-parent"),
    pytest.param({"a": 1}, [{"op": "test", "path": "/b", "value": 1}], "testing value /b failed: test failed",
                 id="test-missing-member"),
    pytest.param({"a": 1}, [{"op": "add", "path": "", "value": 1}],
                 'add operation does not apply: doc is missing path: "": missing value', id="add-root"),
    pytest.param({"a": 1}, [{"op": "frob", "path": "/a"}], "Unexpected kind: frob", id="unknown-op"),
    pytest.param({"a": 1}, [{"path": "/a"}], "Unexpected kind: unknown", id="missing-op"),
    pytest.param({"a": 1}, [None], "Unexpected kind: unknown", id="null-operation"),
    pytest.param({"a": 1}, [{"op": "add", "value": 1}], "add operation failed to decode path: missing value",
                 id="add-without-path"),
    pytest.param({"a": 1}, [{"op": "replace", "value": 1}],
                 "replace operation failed to decode path: operation missing path field: missing value",
                 id="replace-without-path"),
    pytest.param({"a": 1}, [{"op": "move", "path": "/b"}],
                 "move operation failed to decode from: operation, missing from field: missing value",
                 id="move-without-from"),
    pytest.param({"a": {"b": 1}}, [{"op": "remove", "path": "/a/b"}, {"op": "test", "path": "/a/b", "value": 1}],
                 "testing value /a/b failed: test failed", id="operations-apply-in-order"),
])
def test_json_patch_failures_answer_422(doc: Any, ops: list[Any], detail: str) -> None:
    with pytest.raises(PatchError) as info:
        json_patch(doc, ops)
    assert (info.value.status, info.value.reason, str(info.value)) == (422, "Invalid", REJECTED)
    assert info.value.detail == detail


# --- strategic merge patch -----------------------------------------------------------------------------------


def _pod(spec: dict[str, Any] | None = None, **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", **metadata}, "spec": spec or {}}


def _containers(*names: str | dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": n} if isinstance(n, str) else n for n in names]


def _deployment(pod_spec: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"replicas": 1, **spec, "template": {"metadata": {"labels": {"app": "d"}}, "spec": pod_spec}}}


def _template_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]


LIVE_CONTAINER = {"name": "patch-demo-ctr", "image": "nginx", "imagePullPolicy": "Always",
                  "terminationMessagePath": "/dev/termination-log", "resources": {}}


@pytest.mark.parametrize(("kind", "target", "patch", "expected"), [
    # kubectl docs, "Update API Objects in Place Using kubectl patch"
    pytest.param("Deployment", _deployment({"containers": [LIVE_CONTAINER]}),
                 {"spec": {"template": {"spec": {"containers": [{"name": "patch-demo-ctr", "image": "nginx:1.27"}]}}}},
                 _deployment({"containers": [{**LIVE_CONTAINER, "image": "nginx:1.27"}]}),
                 id="docs-container-image-by-name"),
    pytest.param("Deployment", _deployment({"containers": [LIVE_CONTAINER]}),
                 {"spec": {"template": {"spec": {"containers": [{"name": "patch-demo-ctr-2", "image": "redis"}]}}}},
                 _deployment({"containers": [{"name": "patch-demo-ctr-2", "image": "redis"}, LIVE_CONTAINER]}),
                 id="docs-new-container-goes-first"),
    pytest.param("Deployment", _deployment({"tolerations": [{"effect": "NoSchedule", "key": "dedicated",
                                                             "value": "test-team"}]}),
                 {"spec": {"template": {"spec": {"tolerations": [{"effect": "NoSchedule", "key": "disktype",
                                                                  "value": "ssd"}]}}}},
                 _deployment({"tolerations": [{"effect": "NoSchedule", "key": "disktype", "value": "ssd"}]}),
                 id="docs-tolerations-are-replaced"),
    pytest.param("Deployment", _deployment({}, strategy={"type": "RollingUpdate",
                                                         "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}),
                 {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
                 _deployment({}, strategy={"type": "Recreate"}), id="docs-retainkeys-strategy"),
    # kubectl apply of a Deployment whose manifest swapped container order and bumped one image
    pytest.param("Deployment", _deployment({"containers": [{**LIVE_CONTAINER, "name": "a"},
                                                           {**LIVE_CONTAINER, "name": "b"}]}),
                 {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                                                 "containers": [{"image": "nginx:2", "name": "a"}]}}}},
                 _deployment({"containers": [{**LIVE_CONTAINER, "name": "b"},
                                             {**LIVE_CONTAINER, "name": "a", "image": "nginx:2"}]}),
                 id="apply-set-element-order"),
    pytest.param("Deployment", {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {}},
                 {"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "a"}],
                                                 "containers": [{"name": "a", "image": "x", "args": None}]}}}},
                 {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                  "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}},
                 id="directives-and-nulls-never-left-in-new-subtrees"),
    pytest.param("Pod", _pod({"containers": _containers({"name": "c", "env": [{"name": "A", "value": "1"},
                                                                               {"name": "B", "value": "2"}]})}),
                 {"spec": {"containers": [{"name": "c", "env": [{"name": "B", "value": "3"},
                                                                {"name": "A", "$patch": "delete"}]}]}},
                 _pod({"containers": _containers({"name": "c", "env": [{"name": "B", "value": "3"}]})}),
                 id="env-by-name-and-delete-directive"),
    pytest.param("Pod", _pod({"containers": _containers({"name": "c", "ports": [{"containerPort": 80},
                                                                                 {"containerPort": 443}],
                                                          "volumeMounts": [{"mountPath": "/a", "name": "v"}]})}),
                 {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 443, "name": "https"}],
                                           "volumeMounts": [{"mountPath": "/a", "readOnly": True}]}]}},
                 _pod({"containers": _containers({"name": "c", "ports": [{"containerPort": 80},
                                                                         {"containerPort": 443, "name": "https"}],
                                                  "volumeMounts": [{"mountPath": "/a", "name": "v",
                                                                    "readOnly": True}]})}),
                 id="ports-by-container-port-mounts-by-path"),
    pytest.param("Pod", _pod({"volumes": [{"name": "v", "emptyDir": {}}], "imagePullSecrets": [{"name": "a"}]}),
                 {"spec": {"volumes": [{"name": "v", "$retainKeys": ["name", "configMap"],
                                        "configMap": {"name": "cm"}}],
                           "imagePullSecrets": [{"name": "b"}]}},
                 _pod({"volumes": [{"name": "v", "configMap": {"name": "cm"}}],
                       "imagePullSecrets": [{"name": "b"}, {"name": "a"}]}),
                 id="volume-source-swapped-with-retainkeys"),
    pytest.param("Pod", _pod(ownerReferences=[{"uid": "1", "name": "rs-a"}, {"uid": "2", "name": "rs-b"}]),
                 {"metadata": {"ownerReferences": [{"uid": "2", "controller": True}]}},
                 _pod(ownerReferences=[{"uid": "1", "name": "rs-a"}, {"uid": "2", "name": "rs-b", "controller": True}]),
                 id="owner-references-by-uid"),
    pytest.param("Node", {"kind": "Node", "status": {"conditions": [{"type": "Ready", "status": "True"},
                                                                   {"type": "DiskPressure", "status": "False"}],
                                                    "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}},
                 {"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletDown"}],
                             "addresses": [{"type": "Hostname", "address": "n1"}]}},
                 {"kind": "Node", "status": {"conditions": [{"type": "Ready", "status": "False",
                                                             "reason": "KubeletDown"},
                                                            {"type": "DiskPressure", "status": "False"}],
                                             "addresses": [{"type": "Hostname", "address": "n1"},
                                                           {"type": "InternalIP", "address": "10.0.0.1"}]}},
                 id="node-conditions-and-addresses-by-type"),
    pytest.param("Node", {"kind": "Node", "spec": {"taints": [{"key": "a", "effect": "NoSchedule"}],
                                                  "podCIDRs": ["10.0.0.0/24"]}},
                 {"spec": {"taints": [{"key": "b", "effect": "NoExecute"}], "podCIDRs": ["fd00::/64"]}},
                 {"kind": "Node", "spec": {"taints": [{"key": "b", "effect": "NoExecute"}],
                                          "podCIDRs": ["fd00::/64", "10.0.0.0/24"]}},
                 id="node-taints-replaced-pod-cidrs-merged"),
    pytest.param("HorizontalPodAutoscaler",
                 {"kind": "HorizontalPodAutoscaler", "status": {"conditions": [
                     {"type": "AbleToScale", "status": "True"}, {"type": "ScalingActive", "status": "True"}],
                     "currentMetrics": [{"type": "Resource"}]}},
                 {"status": {"conditions": [{"type": "ScalingActive", "status": "False"}], "currentMetrics": []}},
                 {"kind": "HorizontalPodAutoscaler", "status": {"conditions": [
                     {"type": "AbleToScale", "status": "True"}, {"type": "ScalingActive", "status": "False"}],
                     "currentMetrics": []}},
                 id="hpa-conditions-merged-metrics-replaced"),
    pytest.param("Service", {"kind": "Service", "spec": {"ports": [{"port": 80, "protocol": "TCP"}],
                                                        "selector": {"app": "a"}}},
                 {"spec": {"ports": [{"port": 80, "targetPort": 8080}], "selector": {"app": "b", "tier": None}}},
                 {"kind": "Service", "spec": {"ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}],
                                             "selector": {"app": "b"}}},
                 id="service-ports-by-port"),
    pytest.param("CronJob", {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {
                     "containers": _containers("a")}}}}}},
                 {"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": _containers("b")}}}}}},
                 {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {
                     "containers": _containers("b", "a")}}}}}}, id="cronjob-job-template"),
    pytest.param("StatefulSet", {"kind": "StatefulSet", "status": {"conditions": [{"type": "A"}]},
                                 "spec": {"template": {"spec": {"initContainers": _containers("i")}}}},
                 {"status": {"conditions": [{"type": "B"}]},
                  "spec": {"template": {"spec": {"initContainers": [{"name": "i", "image": "x"}]}}}},
                 {"kind": "StatefulSet", "status": {"conditions": [{"type": "B"}, {"type": "A"}]},
                  "spec": {"template": {"spec": {"initContainers": [{"name": "i", "image": "x"}]}}}},
                 id="statefulset-template-and-conditions"),
    pytest.param("ConfigMap", {"kind": "ConfigMap", "metadata": {"finalizers": ["a"]}, "data": {"k": "v"}},
                 {"metadata": {"finalizers": ["b"]}, "data": {"k": None, "k2": "v2"}},
                 {"kind": "ConfigMap", "metadata": {"finalizers": ["b", "a"]}, "data": {"k2": "v2"}},
                 id="metadata-only-kind"),
])
def test_strategic_merge_patch_built_in_kinds(kind: str, target: dict, patch: dict, expected: dict) -> None:
    before, patch_before = copy.deepcopy(target), copy.deepcopy(patch)
    assert strategic_merge_patch(target, patch, kind=kind) == expected
    assert (target, patch) == (before, patch_before)


# upstream strategicpatch test cases (customStrategicMergePatchTestCaseData and raw cases), with MergeItem's
# mergingList as spec.containers, mergingIntList as metadata.finalizers and simpleMap as metadata.labels
@pytest.mark.parametrize(("target", "patch", "expected"), [
    pytest.param(_pod(finalizers=["1", "2"]), {"metadata": {"finalizers": ["2", "3"]}},
                 _pod(finalizers=["1", "2", "3"]), id="unique-scalars-when-merging-lists"),
    pytest.param(_pod(labels={"key1": "1", "key2": "1"}), {"metadata": {"labels": {"$patch": "delete"}}},
                 _pod(labels={}), id="delete-map-from-nested-map"),
    pytest.param(_pod({"containers": _containers("1", "2")}), {"spec": {"containers": [{"$patch": "replace"}]}},
                 _pod({"containers": []}), id="delete-all-items-from-merging-list"),
    pytest.param(_pod({"containers": []}), {"spec": {"containers": []}}, _pod({"containers": []}),
                 id="merge-empty-merging-lists"),
    pytest.param(_pod(labels={"name": "1", "value": "1"}), {"metadata": {"labels": {"$patch": "replace"}}},
                 _pod(labels={}), id="delete-all-keys-from-map"),
    pytest.param(_pod(labels={"name": "1", "value": "1"}),
                 {"metadata": {"labels": {"other": "a", "$patch": "replace"}}},
                 _pod(labels={"other": "a"}), id="add-key-and-delete-all-keys-from-map"),
    pytest.param(_pod({"containers": _containers("1", "1", {"name": "2", "image": "a"}, "3", "3")}),
                 {"spec": {"containers": [{"name": "1", "$patch": "delete"}, {"name": "3", "$patch": "delete"}]}},
                 _pod({"containers": [{"name": "2", "image": "a"}]}), id="delete-all-duplicate-entries"),
    pytest.param(_pod({"containers": _containers("1", {"name": "2", "image": "b"}, "3")}),
                 {"spec": {"containers": [{"name": "3", "image": "c"}, {"name": "1", "image": "a"},
                                          {"name": "2", "imagePullPolicy": "x"}]}},
                 _pod({"containers": [{"name": "3", "image": "c"}, {"name": "1", "image": "a"},
                                      {"name": "2", "image": "b", "imagePullPolicy": "x"}]}),
                 id="preserve-patch-order-in-merging-list"),
    pytest.param(_pod({"containers": _containers("1", {"name": "2", "image": "b"}, "3")}),
                 {"spec": {"containers": [{"name": "3", "image": "c"}, {"name": "1", "image": "a"}]}},
                 _pod({"containers": [{"name": "2", "image": "b"}, {"name": "3", "image": "c"},
                                      {"name": "1", "image": "a"}]}), id="preserve-patch-order-in-merging-list-2"),
    pytest.param(_pod(finalizers=["1", "2", "3"]), {"metadata": {"finalizers": ["3", "1", "2"]}},
                 _pod(finalizers=["3", "1", "2"]), id="preserve-patch-order-in-int-list"),
    pytest.param(_pod(finalizers=["1", "2", "3"]), {"metadata": {"finalizers": ["3", "1"]}},
                 _pod(finalizers=["2", "3", "1"]), id="preserve-patch-order-in-int-list-2"),
    pytest.param(_pod({"containers": _containers("1", "3")}),
                 {"spec": {"$setElementOrder/containers": _containers("3", "2", "1"),
                           "containers": [{"name": "3", "image": "3"}, {"name": "1", "image": "1"}]}},
                 _pod({"containers": [{"name": "3", "image": "3"}, {"name": "1", "image": "1"}]}),
                 id="set-element-order-with-item-not-in-list"),
    pytest.param(_pod(finalizers=["1", "3"]), {"metadata": {"$setElementOrder/finalizers": ["3", "2", "1"]}},
                 _pod(finalizers=["3", "1"]), id="set-element-order-alone-reorders-int-list"),
    pytest.param(_pod(finalizers=["1", "2"]), {"metadata": {"$deleteFromPrimitiveList/finalizers": ["3"]}},
                 _pod(finalizers=["1", "2"]), id="delete-nonexistent-primitive"),
    pytest.param(_pod(finalizers=None), {"metadata": {"$deleteFromPrimitiveList/finalizers": ["3"]}},
                 _pod(finalizers=None), id="delete-from-null-primitive-list"),
    pytest.param(_pod(), {"metadata": {"$deleteFromPrimitiveList/finalizers": ["3"]}}, _pod(),
                 id="delete-from-absent-list-adds-nothing"),
    pytest.param(_pod(finalizers=["1", "2", "3"]), {"metadata": {"$deleteFromPrimitiveList/finalizers": ["2"]}},
                 _pod(finalizers=["1", "3"]), id="delete-from-merging-primitive-list"),
    pytest.param({"kind": "Service", "spec": {"externalIPs": ["1", "2", "3"]}},
                 {"spec": {"$deleteFromPrimitiveList/externalIPs": ["2"]}},
                 {"kind": "Service", "spec": {"externalIPs": ["1", "3"]}}, id="delete-from-non-merging-primitive-list"),
    pytest.param(_pod(finalizers=["1", "2", "3", "3", "4"]),
                 {"metadata": {"$setElementOrder/finalizers": ["1", "2"],
                               "$deleteFromPrimitiveList/finalizers": ["3"]}},
                 _pod(finalizers=["1", "2", "4"]), id="delete-all-duplicate-scalars-with-order"),
    pytest.param(_pod(finalizers=["1", "2", "3", "4"]),
                 {"metadata": {"$setElementOrder/finalizers": ["1", "2", "4"],
                               "$deleteFromPrimitiveList/finalizers": ["3"], "finalizers": ["4"]}},
                 _pod(finalizers=["1", "2", "4"]), id="add-and-delete-scalars"),
    pytest.param(_pod({"containers": [{"name": "1", "imagePullPolicy": "a"},
                                      {"name": "2", "image": "2", "imagePullPolicy": "b"}]}),
                 {"spec": {"$setElementOrder/containers": _containers("4", "1", "2", "3"),
                           "containers": [{"name": "4", "image": "4"}, {"name": "3", "image": "3"}]}},
                 _pod({"containers": [{"name": "4", "image": "4"}, {"name": "1", "imagePullPolicy": "a"},
                                      {"name": "2", "image": "2", "imagePullPolicy": "b"},
                                      {"name": "3", "image": "3"}]}), id="merge-lists-of-maps"),
    pytest.param(_pod(labels={"a": "1"}), {"metadata": {"labels": {"a": None, "b": None}}}, _pod(labels={}),
                 id="null-deletes-and-unmatched-null-ignored"),
    pytest.param(_pod({"containers": _containers({"name": "c", "image": "x"})}),
                 {"spec": {"containers": [{"name": "c", "image": None}]}}, _pod({"containers": _containers("c")}),
                 id="null-inside-merged-element"),
])
def test_strategic_merge_patch_upstream_cases(target: dict, patch: dict, expected: dict) -> None:
    assert strategic_merge_patch(target, patch, kind="Pod") == expected


@pytest.mark.parametrize(("target", "patch", "status", "message"), [
    pytest.param(_pod({"containers": _containers("1", "3", "2")}),
                 {"spec": {"$setElementOrder/containers": _containers("1", "2", "3"),
                           "containers": [{"name": "3", "image": "3"}, {"name": "1", "image": "1"}]}}, 500,
                 "the order in patch list:\n[map[image:3 name:3] map[image:1 name:1]]\n doesn't match "
                 "$setElementOrder list:\n[map[name:1] map[name:2] map[name:3]]", id="order-mismatch"),
    pytest.param(_pod(finalizers=["1", "3", "2"]),
                 {"metadata": {"$setElementOrder/finalizers": ["1", "2", "3"], "finalizers": ["3", "1"]}}, 500,
                 "the order in patch list:\n[3 1]\n doesn't match $setElementOrder list:\n[1 2 3]",
                 id="int-order-mismatch"),
    pytest.param(_pod({"containers": [{"name": "1", "image": "a"}]}), {"spec": {"containers": [{"image": "b"}]}},
                 500, "map: map[image:b] does not contain declared merge key: name", id="missing-merge-key"),
    pytest.param(_pod({"containers": _containers("a")}), {"spec": {"containers": [{"name": "a", "$patch": "merge"}]}},
                 500, "merging lists cannot yet be specified in the patch", id="merge-directive-in-list"),
    pytest.param(_pod(labels={"a": "b"}), {"metadata": {"labels": {"$patch": "merge"}}}, 500,
                 "unknown patch type: merge in map: map[$patch:merge]", id="merge-directive-in-map"),
    pytest.param(_pod(finalizers=["a"]), {"metadata": {"finalizers": [1]}}, 500,
                 "list element types are not identical: [[a] [1]]", id="mixed-element-types"),
    pytest.param(_pod({"containers": []}), {"spec": {"containers": [["a"]]}}, 422, REJECTED, id="lists-of-lists"),
    pytest.param(_pod({"containers": _containers("a")}), {"spec": {"containers": [["a"]]}}, 500,
                 "list element types are not identical: [[map[name:a]] [[a]]]", id="list-among-maps"),
    pytest.param(_pod({"volumes": [{"name": "v", "emptyDir": {}}]}),
                 {"spec": {"volumes": [{"name": "v", "$retainKeys": ["name"], "secret": {}}]}}, 400,
                 "invalid patch format of retainKeys", id="retainkeys-missing-patched-key"),
    pytest.param(_pod(), {"metadata": {"$retainKeys": "name"}}, 400, "invalid patch format of retainKeys",
                 id="retainkeys-not-a-list"),
    pytest.param(_pod(finalizers=["a"]), {"metadata": {"$deleteFromPrimitiveListX/finalizers": ["a"]}}, 400,
                 "invalid patch format of primitive list", id="bad-delete-directive"),
    pytest.param(_pod(finalizers=["a"]), {"metadata": {"$setElementOrder": ["a"]}}, 400,
                 "invalid patch format of setElementOrder list", id="bad-order-directive"),
    pytest.param(_pod(), {"metadata": {"$setElementOrder/finalizers": "a"}}, 500,
                 "expected a []interface {}, but received a string", id="order-not-a-list"),
])
def test_strategic_merge_patch_errors(target: dict, patch: dict, status: int, message: str) -> None:
    with pytest.raises(PatchError) as info:
        strategic_merge_patch(target, patch, kind="Pod")
    assert (info.value.status, str(info.value)) == (status, message)


def test_strategic_merge_patch_directives_at_the_top() -> None:
    pod = _pod({"containers": _containers("a")})
    assert strategic_merge_patch(pod, {"$patch": "delete"}, kind="Pod") == {}
    assert strategic_merge_patch(pod, {"$patch": "replace", "kind": "Pod"}, kind="Pod") == {"kind": "Pod"}
    assert strategic_merge_patch(pod, None, kind="Pod") == pod


@pytest.mark.parametrize("kind", ["", "Widget", "Foo"])
def test_strategic_merge_patch_refuses_custom_resources_with_415(kind: str) -> None:
    with pytest.raises(PatchError) as info:
        strategic_merge_patch({"kind": kind}, {"spec": {}}, kind=kind)
    assert (info.value.status, info.value.reason) == (415, "UnsupportedMediaType")
    assert str(info.value) == ("the body of the request was in an unknown format - accepted media types include: "
                               "application/json-patch+json, application/merge-patch+json")


# --- apply_patch: the request path ----------------------------------------------------------------------------


@pytest.mark.parametrize(("content_type", "body", "expected"), [
    pytest.param(MERGE_PATCH, {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "x"}]}},
                 {"labels": {"a": "b"}, "containers": [{"name": "x"}]}, id="merge-replaces-lists"),
    pytest.param(STRATEGIC_MERGE_PATCH, {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "x"}]}},
                 {"labels": {"a": "b"}, "containers": [{"name": "x"}, {"name": "c", "image": "i"}]},
                 id="strategic-merges-lists"),
    pytest.param(JSON_PATCH, [{"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}],
                 {"labels": {"a": "b"}, "containers": [{"name": "c", "image": "i"}]}, id="json-patch"),
    pytest.param(MERGE_PATCH + "; charset=utf-8", {"metadata": {"labels": {"a": "b"}}},
                 {"labels": {"a": "b"}, "containers": [{"name": "c", "image": "i"}]}, id="parameters-ignored"),
])
def test_apply_patch_dispatches_on_content_type(content_type: str, body: Any, expected: dict) -> None:
    pod = _pod({"containers": [{"name": "c", "image": "i"}]})
    result = apply_patch(pod, json.dumps(body).encode(), content_type, kind="Pod")
    assert {"labels": result["metadata"].get("labels"), "containers": result["spec"]["containers"]} == expected


@pytest.mark.parametrize(("content_type", "body", "kind", "status", "message"), [
    pytest.param("application/apply-patch+yaml", b"{}", "Pod", 415,
                 "the body of the request was in an unknown format - accepted media types include: "
                 "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json",
                 id="server-side-apply"),
    pytest.param("application/json", b"{}", "Pod", 415,
                 "the body of the request was in an unknown format - accepted media types include: "
                 "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json",
                 id="plain-json"),
    pytest.param(STRATEGIC_MERGE_PATCH, b"{}", "", 415,
                 "the body of the request was in an unknown format - accepted media types include: "
                 "application/json-patch+json, application/merge-patch+json", id="strategic-for-custom-resource"),
    pytest.param(MERGE_PATCH, b"{", "Pod", 400, "error decoding patch: unexpected end of JSON input",
                 id="truncated-json"),
    pytest.param(MERGE_PATCH, b"", "Pod", 400, "error decoding patch: unexpected end of JSON input", id="empty-body"),
    pytest.param(MERGE_PATCH, b"{x}", "Pod", 400,
                 "error decoding patch: invalid character 'x' looking for beginning of object key string",
                 id="bad-object-key"),
    pytest.param(STRATEGIC_MERGE_PATCH, b"{} x", "Pod", 400,
                 "error decoding patch: invalid character 'x' after top-level value", id="trailing-garbage"),
    pytest.param(JSON_PATCH, b"[NaN]", "Pod", 400,
                 "error decoding patch: invalid character 'N' looking for beginning of value", id="nan"),
    pytest.param(MERGE_PATCH, b"null", "Pod", 400, "Invalid JSON Patch", id="merge-null"),
    pytest.param(MERGE_PATCH, b"[1]", "Pod", 400,
                 "error decoding patch: json: cannot unmarshal array into Go value of type map[string]interface {}",
                 id="merge-array"),
    pytest.param(STRATEGIC_MERGE_PATCH, b'"x"', "Pod", 400,
                 "error decoding patch: json: cannot unmarshal string into Go value of type map[string]interface {}",
                 id="strategic-string"),
    pytest.param(JSON_PATCH, b"{}", "Pod", 400,
                 "error decoding patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp",
                 id="json-patch-object"),
    pytest.param(JSON_PATCH, b"[1]", "Pod", 400,
                 "error decoding patch: json: cannot unmarshal number into Go value of type handlers.jsonPatchOp",
                 id="json-patch-number-op"),
    pytest.param(JSON_PATCH, b'[{"op": "add", "path": 5}]', "Pod", 400,
                 "error decoding patch: json: cannot unmarshal number into Go struct field jsonPatchOp.path of type "
                 "string", id="json-patch-path-not-string"),
    pytest.param(JSON_PATCH, b'[{"op": "test", "path": "/kind", "value": "Node"}]', "Pod", 422, REJECTED,
                 id="json-patch-test-fails"),
    pytest.param(JSON_PATCH, b'[{"op": "replace", "path": "", "value": [1]}]', "Pod", 422,
                 '"" is invalid: patch: Invalid value: "[1]": the patched document is not a JSON object',
                 id="json-patch-makes-array"),
])
def test_apply_patch_errors(content_type: str, body: bytes, kind: str, status: int, message: str) -> None:
    with pytest.raises(PatchError) as info:
        apply_patch(_pod(), body, content_type, kind=kind)
    assert (info.value.status, str(info.value)) == (status, message)


def test_apply_patch_limits_json_patch_operations() -> None:
    ops = [{"op": "test", "path": "/kind", "value": "Pod"}] * (patching.MAX_JSON_PATCH_OPERATIONS + 1)
    with pytest.raises(PatchError) as info:
        apply_patch(_pod(), json.dumps(ops).encode(), JSON_PATCH, kind="Pod")
    assert (info.value.status, info.value.reason) == (413, "RequestEntityTooLarge")
    assert str(info.value).endswith("is 10000, got 10001")
    assert apply_patch(_pod(), b"null", JSON_PATCH, kind="Pod") == _pod()


# --- invariants ----------------------------------------------------------------------------------------------------

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=3))
_json = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=3), inner, max_size=3)),
                     max_leaves=12)
_paths = st.lists(st.sampled_from(["a", "b", "0", "1", "-", "", "~0", "~1", "x/y"]), max_size=3).map(
    lambda parts: "".join("/" + p for p in parts))
_ops = st.lists(st.one_of(
    st.fixed_dictionaries({"op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "bad"]),
                           "path": _paths}, optional={"from": _paths, "value": _json}),
    _json), max_size=4)


@given(st.dictionaries(st.text(max_size=3), _json, max_size=4))
def test_merge_patch_with_empty_object_is_identity(doc: dict[str, Any]) -> None:
    assert json_merge_patch(doc, {}) == doc


@given(st.dictionaries(st.text(max_size=3), _json, max_size=4), _ops)
def test_json_patch_raises_only_patch_errors_and_never_mutates(doc: dict[str, Any], ops: list[Any]) -> None:
    before = copy.deepcopy(doc)
    try:
        json_patch(doc, ops)
    except PatchError as exc:
        assert exc.status == 422
    assert doc == before


_pods = st.fixed_dictionaries({
    "kind": st.just("Pod"),
    "metadata": st.fixed_dictionaries({"name": st.just("p")}, optional={
        "labels": st.dictionaries(st.sampled_from("abc"), st.sampled_from(["1", "2"]), max_size=3),
        "finalizers": st.lists(st.sampled_from(["f1", "f2", "f3"]), unique=True, max_size=3)}),
    "spec": st.fixed_dictionaries({"containers": st.lists(
        st.fixed_dictionaries({"name": st.sampled_from("xyz")}, optional={"image": st.sampled_from(["i1", "i2"])}),
        unique_by=lambda c: c["name"], max_size=3)}),
})


def _directive_keys(value: Any) -> list[str]:
    if isinstance(value, list):
        return [k for v in value for k in _directive_keys(v)]
    if not isinstance(value, dict):
        return []
    own = [k for k in value if k in ("$patch", "$retainKeys") or k.startswith(("$setElementOrder",
                                                                               "$deleteFromPrimitiveList"))]
    return own + [k for v in value.values() for k in _directive_keys(v)]


_directive_patches = st.recursive(
    st.fixed_dictionaries({}, optional={"$patch": st.sampled_from(["replace", "delete"]),
                                        "$setElementOrder/containers": st.just([{"name": "x"}]),
                                        "$retainKeys": st.just(["spec", "metadata", "kind"]),
                                        "$deleteFromPrimitiveList/finalizers": st.just(["f1"])}),
    lambda inner: st.dictionaries(st.sampled_from(["metadata", "spec", "containers", "finalizers", "image"]),
                                  st.one_of(inner, st.lists(inner, max_size=2)), max_size=3), max_leaves=8)


@given(_pods, st.one_of(_json, _pods, _directive_patches))
def test_strategic_merge_patch_raises_only_patch_errors(pod: dict[str, Any], patch: Any) -> None:
    body = json.dumps(patch).encode()
    try:
        result = apply_patch(pod, body, STRATEGIC_MERGE_PATCH, kind="Pod")
    except PatchError as exc:
        assert exc.status in (400, 422, 500)
        return
    assert not _directive_keys(result)


@given(_pods)
def test_strategic_merge_patch_of_empty_object_and_of_itself_is_identity(pod: dict[str, Any]) -> None:
    assert strategic_merge_patch(pod, {}, kind="Pod") == pod
    assert strategic_merge_patch(pod, pod, kind="Pod") == pod
