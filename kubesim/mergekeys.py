"""Strategic merge patch of built-in kinds: the `patchStrategy` / `patchMergeKey` struct tags of k8s.io/api
(core/v1, apps/v1, batch/v1, autoscaling/v2, policy/v1, admissionregistration/v1) and kube-aggregator's
APIService as a table keyed by Go type name, and the server side of apimachinery's strategicpatch (v0.36)
driven by it. `kubesim.patching` is the public entry point.

Pure; no I/O. Only fields that carry a tag, or lead to a type that has tagged fields, are listed. Every
other field has no strategy, which is what upstream does with untagged fields: objects merge key by key and
lists are replaced whole (e.g. `tolerations`, node `taints`, `containerStatuses`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubesim.store import copy_json

__all__ = ["NO_META", "FieldMeta", "MergeError", "copy_json", "lookup", "root_type", "strategic_merge"]


@dataclass(frozen=True, slots=True)
class FieldMeta:
    """Patch metadata of one field: whether it has `patchStrategy:"merge"`, its `patchMergeKey` ("" for a
    list of scalars), and the name of its schema type (for a list, of its elements). A `retainKeys`
    strategy needs no entry: the server acts on the `$retainKeys` directive alone."""

    merge: bool = False
    merge_key: str = ""
    type: str | None = None


NO_META = FieldMeta()


def _of(type_name: str) -> FieldMeta:
    return FieldMeta(type=type_name)


def _merge(key: str = "", type_name: str | None = None) -> FieldMeta:
    return FieldMeta(True, key, type_name)


_BY_TYPE = _merge("type")
_META = {"metadata": _of("ObjectMeta")}


def _object(spec: str | None = None, status: str | None = None) -> dict[str, FieldMeta]:
    fields = dict(_META)
    if spec:
        fields["spec"] = _of(spec)
    if status:
        fields["status"] = _of(status)
    return fields


_TEMPLATE = {"template": _of("PodTemplateSpec")}
_CONDITIONS = {"conditions": _BY_TYPE}

_TYPES: dict[str, dict[str, FieldMeta]] = {
    # metav1.ObjectMeta
    "ObjectMeta": {"finalizers": _merge(), "ownerReferences": _merge("uid")},
    "Object": _object(),
    # core/v1
    "PodTemplateSpec": {**_META, "spec": _of("PodSpec")},
    "PodSpec": {
        "volumes": _merge("name"),  # merge,retainKeys
        "initContainers": _merge("name", "Container"),
        "containers": _merge("name", "Container"),
        "ephemeralContainers": _merge("name", "Container"),
        "imagePullSecrets": _merge("name"),
        "hostAliases": _merge("ip"),
        "topologySpreadConstraints": _merge("topologyKey"),
        "schedulingGates": _merge("name"),
        "resourceClaims": _merge("name"),  # merge,retainKeys
    },
    # Container and EphemeralContainerCommon carry the same tags.
    "Container": {
        "ports": _merge("containerPort"),
        "env": _merge("name"),
        "volumeMounts": _merge("mountPath"),
        "volumeDevices": _merge("devicePath"),
    },
    "PodStatus": {
        "conditions": _BY_TYPE,
        "podIPs": _merge("ip"),
        "hostIPs": _merge("ip"),
        "resourceClaimStatuses": _merge("name"),  # merge,retainKeys
    },
    "Pod": _object("PodSpec", "PodStatus"),
    "PodTemplate": {**_META, **_TEMPLATE},
    "NodeSpec": {"podCIDRs": _merge()},
    "NodeStatus": {"conditions": _BY_TYPE, "addresses": _BY_TYPE},
    "Node": _object("NodeSpec", "NodeStatus"),
    "ServiceSpec": {"ports": _merge("port")},
    "Service": _object("ServiceSpec", "ConditionsStatus"),
    "ServiceAccount": {**_META, "secrets": _merge("name")},
    "ConditionsStatus": _CONDITIONS,
    "TemplateSpec": _TEMPLATE,
    "Namespace": _object(None, "ConditionsStatus"),
    "PersistentVolumeClaim": _object(None, "ConditionsStatus"),
    "ReplicationController": _object("TemplateSpec", "ConditionsStatus"),
    # apps/v1
    "Deployment": _object("TemplateSpec", "ConditionsStatus"),  # spec.strategy: retainKeys
    "ReplicaSet": _object("TemplateSpec", "ConditionsStatus"),
    "StatefulSet": _object("TemplateSpec", "ConditionsStatus"),
    "DaemonSet": _object("TemplateSpec", "ConditionsStatus"),
    # batch/v1
    "Job": _object("TemplateSpec", "ConditionsStatus"),
    "JobTemplateSpec": {**_META, "spec": _of("TemplateSpec")},
    "CronJobSpec": {"jobTemplate": _of("JobTemplateSpec")},
    "CronJob": _object("CronJobSpec"),
    # autoscaling/v2, policy/v1, apiregistration.k8s.io/v1
    "HorizontalPodAutoscaler": _object(None, "ConditionsStatus"),
    "PodDisruptionBudget": _object(None, "ConditionsStatus"),
    "APIService": _object(None, "ConditionsStatus"),
    # admissionregistration.k8s.io/v1
    "WebhookConfiguration": {**_META, "webhooks": _merge("name")},
}

# Built-in kinds whose only tagged fields are in their ObjectMeta.
_METADATA_ONLY_KINDS = (
    "Binding", "CSIDriver", "CSINode", "CertificateSigningRequest", "ClusterRole", "ClusterRoleBinding",
    "ComponentStatus", "ConfigMap", "ControllerRevision", "CustomResourceDefinition", "EndpointSlice",
    "Endpoints", "Event", "Eviction", "FlowSchema", "Ingress", "IngressClass", "Lease", "LimitRange",
    "NetworkPolicy", "PersistentVolume", "PriorityClass", "PriorityLevelConfiguration", "ResourceQuota",
    "Role", "RoleBinding", "RuntimeClass", "Scale", "Secret", "StorageClass", "VolumeAttachment",
)

_KINDS: dict[str, str] = {
    **{kind: "Object" for kind in _METADATA_ONLY_KINDS},
    **{kind: kind for kind in (
        "APIService", "CronJob", "DaemonSet", "Deployment", "HorizontalPodAutoscaler", "Job", "Namespace",
        "Node", "PersistentVolumeClaim", "Pod", "PodDisruptionBudget", "PodTemplate", "ReplicaSet",
        "ReplicationController", "Service", "ServiceAccount", "StatefulSet",
    )},
    "MutatingWebhookConfiguration": "WebhookConfiguration",
    "ValidatingWebhookConfiguration": "WebhookConfiguration",
}


def root_type(kind: str) -> str | None:
    """The schema type of a built-in kind, or None when strategic merge patch does not apply (custom
    resources and unknown kinds)."""
    return _KINDS.get(kind)


def lookup(type_name: str | None, field: str) -> FieldMeta:
    """Patch metadata of `field` in `type_name`; NO_META for untagged fields and unlisted types."""
    if type_name is None:
        return NO_META
    return _TYPES[type_name].get(field, NO_META)


class MergeError(ValueError):
    """A strategic merge patch upstream rejects: `status` is what the apiserver answers (400 for malformed
    directives, 422 for lists of lists, 500 for the errors it passes through unclassified)."""

    def __init__(self, message: str, *, status: int = 500) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# --- JSON values: copying, Go-style rendering and comparison ------------------------------------------


_GO_TYPES = {dict: "map[string]interface {}", list: "[]interface {}", bool: "bool", int: "int64", float: "int64",
             str: "string"}


def _go_type(value: Any) -> str:
    """reflect.TypeOf of the value Kubernetes' JSON decoder produces (integral numbers are int64)."""
    if isinstance(value, float) and not value.is_integer():
        return "float64"
    return _GO_TYPES.get(type(value), "<nil>")


def _go_fmt(value: Any) -> str:
    """fmt's %v of a decoded JSON value."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_fmt(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go_fmt(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _hkey(value: Any) -> tuple[Any, ...] | None:
    """A hashable stand-in for Go's interface ==, or None for maps and lists."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", value)
    if isinstance(value, str):
        return ("s", value)
    return ("z",) if value is None else None


def _same(a: Any, b: Any) -> bool:
    key = _hkey(a)
    return key == _hkey(b) if key is not None else type(a) is type(b) and a == b


def _key_getter(merge_key: str) -> Callable[[Any], Any]:
    if not merge_key:
        return lambda item: item
    return lambda item: item.get(merge_key) if isinstance(item, dict) else None


class _Index:
    """First position of each item in a list, compared by merge key (by value when `merge_key` is ""), as
    upstream's linear `index()` finds it."""

    def __init__(self, items: list[Any], merge_key: str) -> None:
        self.key_of = _key_getter(merge_key)
        self.first: dict[tuple[Any, ...], int] = {}
        self.slow: list[tuple[int, Any]] = []
        for i, item in enumerate(items):
            value = self.key_of(item)
            key = _hkey(value)
            if key is None:
                self.slow.append((i, value))
            else:
                self.first.setdefault(key, i)

    def find(self, item: Any) -> int:
        value = self.key_of(item)
        key = _hkey(value)
        if key is not None:
            return self.first.get(key, -1)
        return next((i for i, v in self.slow if _same(v, value)), -1)


# --- the merge algorithm (strategicpatch mergeMap / mergeSlice with the server's options) -------------

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_DELETE_FROM = "$deleteFromPrimitiveList"
_SET_ORDER = "$setElementOrder"
_RETAIN_KEYS_FORMAT_ERROR = "invalid patch format of retainKeys"
_DIRECTIVE_FORMAT_ERRORS = {
    _DELETE_FROM: "invalid patch format of primitive list",
    _SET_ORDER: "invalid patch format of setElementOrder list",
}


def _no_merge_key(item: dict[str, Any], merge_key: str) -> MergeError:
    return MergeError(f"map: {_go_fmt(item)} does not contain declared merge key: {merge_key}")


def _bad_arg_type(expected: str, actual: Any) -> MergeError:
    return MergeError(f"expected a {expected}, but received a {_go_type(actual)}")


def _extract_key(key: str, prefix: str) -> str:
    head, sep, rest = key.partition("/")
    if not sep or head != prefix:
        raise MergeError(_DIRECTIVE_FORMAT_ERRORS[prefix], status=400)
    return rest


def _prune(value: Any, drop: Callable[[str, Any], bool]) -> None:
    """Deletes, at any depth, the object members for which `drop(key, member)` holds."""
    if isinstance(value, dict):
        for key in [k for k, v in value.items() if drop(k, v)]:
            del value[key]
        children: Any = value.values()
    else:
        children = value if isinstance(value, list) else ()
    for child in children:
        _prune(child, drop)


def _discard_nulls(value: Any) -> None:
    _prune(value, lambda key, member: member is None)


def _is_directive_key(key: str) -> bool:
    return key in (_DIRECTIVE, _RETAIN_KEYS) or key.startswith((_DELETE_FROM, _SET_ORDER))


def _remove_directives(value: Any) -> tuple[Any, bool]:
    """removeDirectives: drops maps carrying `$patch`; returns (value, keep)."""
    if isinstance(value, dict):
        if _DIRECTIVE in value:
            return None, False
        kept = {}
        for k, v in value.items():
            new, keep = _remove_directives(v)
            if keep:
                kept[k] = new
        return kept, True
    if isinstance(value, list):
        return [new for new, keep in map(_remove_directives, value) if keep], True
    return value, True


def _element_kind(*lists: list[Any]) -> str:
    """sliceElementType: "map" or "scalar", after checking all elements share one type."""
    first: str | None = None
    for items in lists:
        for item in items:
            kind = _go_type(item)
            if first is None:
                if isinstance(item, list):
                    raise MergeError("lists of lists are not supported", status=422)
                first = kind
            elif kind != first:
                raise MergeError(f"list element types are not identical: {_go_fmt(list(lists))}")
    if first is None:
        raise MergeError("no elements in any of the given slices")
    return "map" if first.startswith("map") else "scalar"


def _check_merge_keys(merge_key: str, *lists: list[Any]) -> None:
    for items in lists:
        for item in items:
            if not isinstance(item, dict):
                raise _bad_arg_type("map[string]interface {}", item)
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)


def _partition(items: list[Any], by: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    """Items present in `by` (matched by merge key for maps), and the rest."""
    if merge_key:
        _check_merge_keys(merge_key, items)
        for i, other in enumerate(by):
            if not isinstance(other, dict):
                raise MergeError(f"value for key {i} is not a map")
    index = _Index(by, merge_key)
    present, rest = [], []
    for item in items:
        (present if index.find(item) >= 0 else rest).append(item)
    return present, rest


def _sorted_by(items: list[Any], order: list[Any], merge_key: str, kind: str) -> list[Any]:
    deletions: list[Any] = []
    if kind == "map":
        _check_merge_keys(merge_key, items, order)
        deletions = [item for item in items if item.get(_DIRECTIVE) == "delete"]
        items = [item for item in items if item.get(_DIRECTIVE) != "delete"]
    index = _Index(order, merge_key)
    ranks = [index.find(item) for item in items]
    ranked = sorted(range(len(items)), key=lambda i: ranks[i] if ranks[i] >= 0 else len(order))
    return [items[i] for i in ranked] + deletions


def _normalize_order(patch_items: list[Any], server_only: list[Any], patch_order: list[Any],
                     server_order: list[Any], merge_key: str, kind: str) -> list[Any]:
    """normalizeElementOrder: patch items in patch order, server-only items in live order, interleaved by
    their live positions; an item new to the live list goes before the server-only items it meets."""
    right = _sorted_by(patch_items, patch_order, merge_key, kind)
    left = _sorted_by(server_only, server_order, merge_key, kind)
    index = _Index(server_order, merge_key)
    merged: list[Any] = []
    i = j = 0
    while i < len(left) and j < len(right):
        li, ri = index.find(left[i]), index.find(right[j])
        if 0 <= li < ri:
            merged.append(left[i])
            i += 1
        else:
            merged.append(right[j])
            j += 1
    return merged + left[i:] + right[j:]


def _merge_slice(original: list[Any], patch: list[Any], meta: FieldMeta,
                 is_delete_list: bool) -> list[Any]:
    if not original and not patch:
        return original
    kind = _element_kind(original, patch)
    merge_key = meta.merge_key
    if kind != "map":
        if is_delete_list:
            doomed = _Index(patch, "")
            return [item for item in original if doomed.find(item) < 0]
        both = original + patch
        first = _Index(both, "")
        merged = [item for i, item in enumerate(both) if first.find(item) == i]
    else:
        if not merge_key:
            raise MergeError(f"cannot merge lists without merge key for {meta.type or 'unknown'}")
        original, patch = _split_special_elements(original, patch, merge_key)
        merged = list(original)
        for item in patch:
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            at = next((i for i, o in enumerate(merged) if merge_key in o and _same(o[merge_key], item[merge_key])),
                      -1)
            if at >= 0:
                merged[at] = _merge_map(merged[at], item, meta.type)
            else:
                _discard_nulls(item)
                merged.append(item)
    patch_items, server_only = _partition(merged, patch, merge_key)
    return _normalize_order(patch_items, server_only, patch, original, merge_key, kind)


def _split_special_elements(original: list[Any], patch: list[Any],
                            merge_key: str) -> tuple[list[Any], list[Any]]:
    """Applies `$patch` list elements: delete drops every live element with that key, replace makes the
    plain patch elements the whole list."""
    plain: list[Any] = []
    replace = False
    for item in patch:
        if _DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[_DIRECTIVE]
        if directive == "delete":
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            original = [o for o in original if not (merge_key in o and _same(o[merge_key], item[merge_key]))]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise MergeError("merging lists cannot yet be specified in the patch")
        else:
            raise MergeError(f"unknown patch type: {_go_fmt(directive)} in map: {_go_fmt(item)}")
    return (plain, []) if replace else (original, plain)


def _check_order(patch_list: list[Any], order: list[Any], merge_key: str) -> None:
    """validatePatchWithSetOrderList: the patch list must follow the $setElementOrder list."""
    if not order or not patch_list:
        return
    items = patch_list
    if merge_key:  # stricter than upstream, which checks merge keys only as far as its walk gets
        _check_merge_keys(merge_key, order, [i for i in patch_list if not (isinstance(i, dict) and _DIRECTIVE in i)])
        items = [item for item in patch_list if item.get(_DIRECTIVE) != "delete"]
    key_of = _key_getter(merge_key)
    p = s = 0
    while p < len(items) and s < len(order):
        if isinstance(items[p], dict) and _DIRECTIVE in items[p]:
            p += 1
            continue
        if _same(key_of(items[p]), key_of(order[s])):
            p += 1
        s += 1
    if p < len(items):
        raise MergeError(f"the order in patch list:\n{_go_fmt(patch_list)}\n doesn't match {_SET_ORDER} list:\n"
                        f"{_go_fmt(order)}")


def _apply_element_orders(original: dict[str, Any], patch: dict[str, Any], type_name: str | None) -> None:
    """mergePatchIntoOriginal: merges each list that has a `$setElementOrder/<field>` and orders it."""
    for directive in [k for k in patch if k.startswith(_SET_ORDER)]:
        order = patch.pop(directive)
        if not isinstance(order, list):
            raise _bad_arg_type("[]interface {}", order)
        key = _extract_key(directive, _SET_ORDER)
        live, incoming = original.get(key), patch.get(key)
        for found, value in ((key in original, live), (key in patch, incoming)):
            if found and not isinstance(value, list):
                raise _bad_arg_type("[]interface {}", value)
        meta = lookup(type_name, key)
        _check_order(incoming or [], order, meta.merge_key)
        if key in original and key in patch:
            merged = _merge_slice(live, incoming, meta, False) if meta.merge else incoming
        elif key in original:
            merged = live
        elif key in patch:
            merged = _remove_directives(incoming)[0]
        else:
            continue
        patch_items, server_only = _partition(merged, order, meta.merge_key)
        kind = _element_kind(live or [], incoming or [])
        original[key] = _normalize_order(patch_items, server_only, order, live or [], meta.merge_key, kind)
        patch.pop(key, None)


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    if _RETAIN_KEYS not in patch:
        return
    keys = patch.pop(_RETAIN_KEYS)
    if not isinstance(keys, list):
        raise MergeError(_RETAIN_KEYS_FORMAT_ERROR, status=400)
    retained = _Index(keys, "")
    for key, value in patch.items():
        if value is not None and not key.startswith((_DELETE_FROM, _SET_ORDER)) and retained.find(key) < 0:
            raise MergeError(_RETAIN_KEYS_FORMAT_ERROR, status=400)
    for key in [k for k in original if retained.find(k) < 0]:
        del original[key]


_ABSENT = object()


def _merge_map(original: dict[str, Any], patch: dict[str, Any], type_name: str | None) -> dict[str, Any]:
    """mergeMap with the server's options (parallel lists merged, unmatched nulls ignored). Mutates both."""
    if _DIRECTIVE in patch:
        directive = patch[_DIRECTIVE]
        if directive == "delete":
            return {}
        if directive != "replace":
            raise MergeError(f"unknown patch type: {_go_fmt(directive)} in map: {_go_fmt(patch)}")
        del patch[_DIRECTIVE]
        return patch
    _apply_retain_keys(original, patch)
    _apply_element_orders(original, patch, type_name)
    for key, value in patch.items():
        is_delete_list = key.startswith(_DELETE_FROM)
        if is_delete_list:
            key = _extract_key(key, _DELETE_FROM)
        if value is None:
            original.pop(key, None)
            continue
        live = original.get(key, _ABSENT)
        if live is _ABSENT or _go_type(live) != _go_type(value):
            if not is_delete_list:
                _discard_nulls(value)
                new, keep = _remove_directives(value)
                if keep:
                    original[key] = new
                else:
                    original.pop(key, None)
            continue
        meta = lookup(type_name, key)
        if isinstance(live, dict):
            original[key] = _merge_map(live, value, meta.type)
        elif isinstance(live, list):
            use_merge = meta.merge or is_delete_list
            original[key] = _merge_slice(live, value, meta, is_delete_list) if use_merge else value
        else:
            original[key] = value
    return original


def strategic_merge(target: dict[str, Any], patch: dict[str, Any], type_name: str) -> dict[str, Any]:
    """Applies `patch` to `target` (both left untouched) for the schema type `type_name` (see root_type)."""
    result = _merge_map(copy_json(target), copy_json(patch), type_name)
    # Upstream leaves these in its map and then drops them when it decodes the map into the Go struct.
    _prune(result, lambda key, member: _is_directive_key(key))
    return result
