"""OpenAPI v3 component schemas for built-in kinds, generated from the `kubernetes` client's models.

Pure; no I/O. The client's models carry field names, types, descriptions and required-ness; what they
lose is restored here from upstream's Go tags: Quantity and IntOrString fields (typed `str`/`object` in
the client), and the strategic-merge-patch extensions kubectl reads from OpenAPI to build patches
(`x-kubernetes-patch-merge-key`, `-patch-strategy`, `-list-type`, `-list-map-keys`). Schema names follow
upstream (`io.k8s.api.core.v1.Pod`). Paths, documents and caching are in `kubesim.openapi`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

import kubernetes.client.models as models

META_PACKAGE = "io.k8s.apimachinery.pkg.apis.meta.v1"
CORE_PACKAGE = "io.k8s.api.core.v1"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
PATCH = f"{META_PACKAGE}.Patch"
REF_PREFIX = "#/components/schemas/"

# Types of k8s.io/apimachinery/pkg/apis/meta/v1 (by unprefixed name) that the client models as V1<Name>.
META_TYPES = frozenset({
    "ObjectMeta", "ListMeta", "LabelSelector", "LabelSelectorRequirement", "OwnerReference",
    "ManagedFieldsEntry", "Status", "StatusDetails", "StatusCause", "DeleteOptions", "Preconditions",
    "Condition", "FieldSelectorRequirement", "APIResource", "APIResourceList", "APIGroup", "APIGroupList",
    "APIVersions", "GroupVersionForDiscovery", "ServerAddressByClientCIDR", "WatchEvent",
})
# Top-level kinds of the core group: every type they reach (and no meta type) lives in core/v1.
_CORE_KINDS = (
    "V1Pod", "V1PodTemplate", "V1Service", "V1Node", "V1Namespace", "CoreV1Event", "V1Endpoints",
    "V1ConfigMap", "V1Secret", "V1ServiceAccount", "V1PersistentVolume", "V1PersistentVolumeClaim",
    "V1ResourceQuota", "V1LimitRange", "V1ReplicationController", "V1Binding", "V1ComponentStatus",
)
# Groups whose Go packages are not io.k8s.api.<first label>.
_PACKAGE_ROOTS = {
    "": "io.k8s.api.core",
    "apiextensions.k8s.io": "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions",
    "apiregistration.k8s.io": "io.k8s.kube-aggregator.pkg.apis.apiregistration",
}

# (type, field) pairs that hold a resource.Quantity (typed `str` or `Dict[str, str]` in the client).
QUANTITY_FIELDS = frozenset({
    ("ResourceRequirements", "limits"), ("ResourceRequirements", "requests"),
    ("VolumeResourceRequirements", "limits"), ("VolumeResourceRequirements", "requests"),
    ("PodSpec", "overhead"), ("PodStatus", "allocatedResources"), ("ContainerStatus", "allocatedResources"),
    ("NodeStatus", "capacity"), ("NodeStatus", "allocatable"), ("PersistentVolumeSpec", "capacity"),
    ("PersistentVolumeClaimStatus", "capacity"), ("PersistentVolumeClaimStatus", "allocatedResources"),
    ("ResourceQuotaSpec", "hard"), ("ResourceQuotaStatus", "hard"), ("ResourceQuotaStatus", "used"),
    ("LimitRangeItem", "default"), ("LimitRangeItem", "defaultRequest"), ("LimitRangeItem", "max"),
    ("LimitRangeItem", "min"), ("LimitRangeItem", "maxLimitRequestRatio"),
    ("EmptyDirVolumeSource", "sizeLimit"), ("ResourceFieldSelector", "divisor"),
    ("MetricTarget", "value"), ("MetricTarget", "averageValue"),
    ("MetricValueStatus", "value"), ("MetricValueStatus", "averageValue"),
    ("NodeAllocatableMappedResources", "quantity"),
})
# (type, field) pairs that hold an intstr.IntOrString (typed `object` in the client).
INT_OR_STRING_FIELDS = frozenset({
    ("ServicePort", "targetPort"), ("HTTPGetAction", "port"), ("TCPSocketAction", "port"),
    ("RollingUpdateDeployment", "maxSurge"), ("RollingUpdateDeployment", "maxUnavailable"),
    ("RollingUpdateDaemonSet", "maxSurge"), ("RollingUpdateDaemonSet", "maxUnavailable"),
    ("RollingUpdateStatefulSetStrategy", "maxUnavailable"),
    ("PodDisruptionBudgetSpec", "minAvailable"), ("PodDisruptionBudgetSpec", "maxUnavailable"),
    ("NetworkPolicyPort", "port"), ("NetworkPolicyPort", "endPort"),
})


def _map_list(key: str, *keys: str, strategy: str | None = "merge") -> dict:
    ext: dict = {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys or (key,))}
    if strategy:
        ext["x-kubernetes-patch-strategy"] = strategy
        ext["x-kubernetes-patch-merge-key"] = key
    return ext


_BY_TYPE = _map_list("type")
_BY_NAME = _map_list("name")
# Strategic-merge and list extensions of upstream's Go types (their patchStrategy/patchMergeKey/listType tags).
PATCH_EXTENSIONS: dict[tuple[str, str], dict] = {
    ("PodSpec", "volumes"): _map_list("name", strategy="merge,retainKeys"),
    ("PodSpec", "initContainers"): _BY_NAME,
    ("PodSpec", "containers"): _BY_NAME,
    ("PodSpec", "ephemeralContainers"): _BY_NAME,
    ("PodSpec", "imagePullSecrets"): _BY_NAME,
    ("PodSpec", "hostAliases"): _map_list("ip"),
    ("PodSpec", "topologySpreadConstraints"): _map_list("topologyKey", "topologyKey", "whenUnsatisfiable"),
    ("PodSpec", "schedulingGates"): _BY_NAME,
    ("PodSpec", "resourceClaims"): _map_list("name", strategy="merge,retainKeys"),
    ("PodSpec", "tolerations"): {"x-kubernetes-list-type": "atomic"},
    ("PodSpec", "readinessGates"): {"x-kubernetes-list-type": "atomic"},
    ("PodStatus", "conditions"): _BY_TYPE,
    ("PodStatus", "podIPs"): _map_list("ip"),
    ("PodStatus", "hostIPs"): {"x-kubernetes-list-type": "atomic", "x-kubernetes-patch-strategy": "merge",
                               "x-kubernetes-patch-merge-key": "ip"},
    ("PodStatus", "resourceClaimStatuses"): _map_list("name", strategy="merge,retainKeys"),
    ("ObjectMeta", "ownerReferences"): _map_list("uid"),
    ("ObjectMeta", "finalizers"): {"x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"},
    ("ServiceSpec", "ports"): _map_list("port", "port", "protocol"),
    ("ServiceStatus", "conditions"): _BY_TYPE,
    ("ServiceAccount", "secrets"): _BY_NAME,
    ("NodeSpec", "podCIDRs"): {"x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"},
    ("NodeStatus", "conditions"): _BY_TYPE,
    ("NodeStatus", "addresses"): _BY_TYPE,
    ("NamespaceStatus", "conditions"): _BY_TYPE,
    ("PersistentVolumeClaimStatus", "conditions"): _BY_TYPE,
    ("DeploymentStatus", "conditions"): _BY_TYPE,
    ("ReplicaSetStatus", "conditions"): _BY_TYPE,
    ("StatefulSetStatus", "conditions"): _BY_TYPE,
    ("DaemonSetStatus", "conditions"): _BY_TYPE,
    ("HorizontalPodAutoscalerStatus", "conditions"): _BY_TYPE,
    ("PodDisruptionBudgetStatus", "conditions"): _BY_TYPE,
    ("APIServiceStatus", "conditions"): _BY_TYPE,
    ("CustomResourceDefinitionStatus", "conditions"): _map_list("type", strategy=None),
}
for _container in ("Container", "EphemeralContainer"):
    PATCH_EXTENSIONS.update({
        (_container, "ports"): _map_list("containerPort", "containerPort", "protocol"),
        (_container, "env"): _BY_NAME,
        (_container, "volumeMounts"): _map_list("mountPath"),
        (_container, "volumeDevices"): _map_list("devicePath"),
    })

METADATA_DESCRIPTION = ("Standard object's metadata. More info: "
                        "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata")
_SCALARS = {
    "str": {"type": "string"},
    "int": {"type": "integer", "format": "int64"},
    "bool": {"type": "boolean"},
    "float": {"type": "number", "format": "double"},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "bytes": {"type": "string", "format": "byte"},
}
EXTRA_SCHEMAS = {
    QUANTITY: {
        "description": "Quantity is a fixed-point representation of a number: a plain number (`1`, `0.5`) "
                       "or a string with an SI or binary suffix (`500m`, `128Mi`, `1e3`).",
        "anyOf": [{"type": "integer"}, {"type": "number"}, {"type": "string"}],
        "x-kubernetes-int-or-string": True,
    },
    INT_OR_STRING: {
        "description": "IntOrString is a type that can hold an int32 or a string.",
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "format": "int-or-string",
        "x-kubernetes-int-or-string": True,
    },
    PATCH: {
        "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.",
        "type": "object",
    },
}
_MODEL_NAME = re.compile(r"(?P<prefix>(?:[A-Z][a-z]+)*)(?P<version>V\d+(?:(?:alpha|beta)\d+)?)(?P<name>[A-Z]\w*)")


@dataclass(frozen=True)
class Root:
    """A model whose schema a document needs, with its Go package and (for kinds) its group/version/kind."""

    model: str
    package: str
    gvk: tuple[str, str, str] | None = None


def package(group: str, version: str) -> str:
    """The OpenAPI name prefix of a group-version's Go package, e.g. `io.k8s.api.apps.v1`."""
    root = _PACKAGE_ROOTS.get(group) or f"io.k8s.api.{group.split('.')[0]}"
    return f"{root}.{version}"


def short_name(model: str) -> str:
    """`V1Pod` -> `Pod`, `CoreV1Event` -> `Event`, `V2beta1Foo` -> `Foo`."""
    m = _MODEL_NAME.fullmatch(model)
    return m.group("name") if m else model


def model_for(group: str, version: str, kind: str) -> str | None:
    """The client model class name of a kind (`CoreV1Event`, `V1Pod`), or None when it has none."""
    v = version[:1].upper() + version[1:]
    prefix = "".join(p.capitalize() for p in (group.split(".")[0] if group else "core").split("-"))
    for name in (f"{prefix}{v}{kind}", f"{v}{kind}"):
        if hasattr(models, name):
            return name
    return None


def kind_roots(group: str, version: str, kind: str) -> list[Root]:
    """Roots for a kind and its list kind (empty when the client has no model for it)."""
    roots = []
    for k in (kind, f"{kind}List"):
        model = model_for(group, version, k)
        if model is not None:
            roots.append(Root(model, package(group, version), (group, version, k)))
    return roots


def ref(name: str) -> dict:
    return {"$ref": REF_PREFIX + name}


def build_schemas(roots: Iterable[Root]) -> dict[str, dict]:
    """Component schemas for the roots and every type they reach, keyed by upstream-style names."""
    names: dict[str, str] = {}
    out: dict[str, dict] = {}
    queue: list[tuple[str, str]] = []

    def name_of(model: str, inherited: str) -> str:
        if model not in names:
            short = short_name(model)
            if short in META_TYPES and model.startswith("V1"):
                pkg = META_PACKAGE
            elif model in _core_closure():
                pkg = CORE_PACKAGE
            else:
                pkg = inherited
            names[model] = f"{pkg}.{short}"
            queue.append((model, pkg))
        return names[model]

    gvks: dict[str, list[dict]] = {}
    for root in roots:
        name = name_of(root.model, root.package)
        if root.gvk:
            group, version, kind = root.gvk
            entry = {"group": group, "kind": kind, "version": version}
            if entry not in gvks.setdefault(name, []):
                gvks[name].append(entry)
    while queue:
        model, pkg = queue.pop(0)
        name = names[model]
        out[name] = _model_schema(model, lambda m, pkg=pkg: name_of(m, pkg), out)
    for name, entries in gvks.items():
        out[name]["x-kubernetes-group-version-kind"] = entries
    return dict(sorted(out.items()))


def _model_schema(model: str, name_of, out: dict[str, dict]) -> dict:
    cls = getattr(models, model)
    owner = short_name(model)
    properties: dict[str, dict] = {}
    required: list[str] = []
    for attr, type_str in cls.openapi_types.items():
        json_name = cls.attribute_map[attr]
        field = cls.model_fields.get(attr)
        description = (field.description if field else None) or (
            METADATA_DESCRIPTION if json_name == "metadata" else _ref_description(type_str))
        prop = _field_schema(owner, json_name, type_str, name_of, out)
        if description:
            prop = {"description": description, **prop}
        prop.update(PATCH_EXTENSIONS.get((owner, json_name), {}))
        properties[json_name] = prop
        if field is not None and field.is_required():
            required.append(json_name)
    schema: dict = {}
    if description := _class_description(cls):
        schema["description"] = description
    schema["type"] = "object"
    schema["properties"] = properties
    if required:
        schema["required"] = required
    return schema


def _field_schema(owner: str, json_name: str, type_str: str, name_of, out: dict[str, dict]) -> dict:
    if (owner, json_name) in INT_OR_STRING_FIELDS:
        return _extra_ref(INT_OR_STRING, out)
    if (owner, json_name) in QUANTITY_FIELDS:
        return (_extra_ref(QUANTITY, out) if type_str == "str"
                else {"type": "object", "additionalProperties": _extra_ref(QUANTITY, out)})
    return _type_schema(type_str, name_of)


def _extra_ref(name: str, out: dict[str, dict]) -> dict:
    out.setdefault(name, EXTRA_SCHEMAS[name])
    return {"allOf": [ref(name)]}


def _type_schema(type_str: str, name_of) -> dict:
    t = type_str.strip()
    if m := re.fullmatch(r"(?:List|list)\[(.*)\]", t):
        return {"type": "array", "items": _type_schema(m.group(1), name_of)}
    if m := re.fullmatch(r"Dict\[str, (.*)\]|dict\(str, (.*)\)", t):
        return {"type": "object", "additionalProperties": _type_schema(m.group(1) or m.group(2), name_of)}
    if t in _SCALARS:
        return dict(_SCALARS[t])
    if t == "object":
        return {"x-kubernetes-preserve-unknown-fields": True}
    if hasattr(models, t):
        return {"allOf": [ref(name_of(t))]}
    raise ValueError(f"unsupported client model type {type_str!r}")


def _ref_description(type_str: str) -> str:
    """For a field the client documents no further: the description of the type it refers to."""
    return _class_description(getattr(models, type_str)) if hasattr(models, type_str) else ""


def _class_description(cls: type) -> str:
    doc = (cls.__doc__ or "").split("Attributes:")[0]
    return " ".join(doc.split())


@functools.cache
def _core_closure() -> frozenset[str]:
    """Client models reachable from the core kinds (their Go package is core/v1 unless they are meta)."""
    seen: set[str] = set()
    queue = [m for m in _CORE_KINDS if hasattr(models, m)]
    while queue:
        model = queue.pop()
        if model in seen:
            continue
        seen.add(model)
        for type_str in getattr(models, model).openapi_types.values():
            queue.extend(n for n in re.findall(r"[A-Z]\w*", type_str) if n not in ("List", "Dict")
                         and hasattr(models, n))
    return frozenset(seen)
