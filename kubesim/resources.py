"""The resource types kubesim serves: names, scope, versions, subresources and discovery facts.

Pure data; no I/O. The store, discovery, OpenAPI and server-side printing all read this registry, so a
kind added here (or by a CustomResourceDefinition at run time) is served everywhere at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
CREATE_ONLY = ("create",)


@dataclass(frozen=True)
class Subresource:
    """A subresource such as `status` or `scale`; `kind`/`group`/`version` describe its body."""

    name: str
    kind: str
    group: str = ""
    version: str = ""
    verbs: tuple[str, ...] = ("get", "patch", "update")


@dataclass(frozen=True)
class ScalePaths:
    """Where a resource keeps the numbers a Scale exposes (CRDs declare these; built-ins use defaults)."""

    spec_replicas: str = ".spec.replicas"
    status_replicas: str = ".status.replicas"
    label_selector: str | None = ".status.selector"


@dataclass(frozen=True)
class ResourceType:
    """One resource as seen by clients at one group.

    `versions` lists the served versions, the first being the storage and preferred version. Two types
    that share `storage` are two views of one set of objects (core and events.k8s.io Events).
    """

    group: str
    resource: str
    kind: str
    namespaced: bool
    versions: tuple[str, ...]
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    storage: str = ""
    scale: ScalePaths | None = None
    custom: bool = False
    # fields (besides metadata.name/namespace) that field selectors may use
    selectable_fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.singular:
            object.__setattr__(self, "singular", self.kind.lower())
        if not self.storage:
            object.__setattr__(self, "storage", f"{self.group}/{self.resource}")

    @property
    def storage_version(self) -> str:
        return self.versions[0]

    def api_version(self, version: str | None = None) -> str:
        v = version or self.storage_version
        return f"{self.group}/{v}" if self.group else v

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def subresource(self, name: str) -> Subresource | None:
        return next((s for s in self.subresources if s.name == name), None)

    @property
    def has_status(self) -> bool:
        return self.subresource("status") is not None


def _status(kind: str) -> Subresource:
    return Subresource("status", kind)


SCALE = Subresource("scale", "Scale", "autoscaling", "v1")

_ALL = ("all",)

BUILTIN: tuple[ResourceType, ...] = (
    ResourceType("", "namespaces", "Namespace", False, ("v1",), short_names=("ns",),
                 subresources=(_status("Namespace"), Subresource("finalize", "Namespace", verbs=("update",))),
                 verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
                 selectable_fields=("status.phase",)),
    ResourceType("", "nodes", "Node", False, ("v1",), short_names=("no",),
                 subresources=(_status("Node"), Subresource("proxy", "NodeProxyOptions", verbs=("get",))),
                 selectable_fields=("spec.unschedulable",)),
    ResourceType("", "pods", "Pod", True, ("v1",), short_names=("po",), categories=_ALL,
                 subresources=(
                     _status("Pod"),
                     Subresource("binding", "Binding", verbs=("create",)),
                     Subresource("eviction", "Eviction", "policy", "v1", verbs=("create",)),
                     Subresource("log", "Pod", verbs=("get",)),
                 ),
                 selectable_fields=("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                                    "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
                                    "status.podIP", "status.nominatedNodeName")),
    ResourceType("", "services", "Service", True, ("v1",), short_names=("svc",), categories=_ALL,
                 subresources=(_status("Service"),),
                 verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
                 selectable_fields=("spec.clusterIP", "spec.type")),
    ResourceType("", "endpoints", "Endpoints", True, ("v1",), short_names=("ep",)),
    ResourceType("", "configmaps", "ConfigMap", True, ("v1",), short_names=("cm",)),
    ResourceType("", "secrets", "Secret", True, ("v1",), selectable_fields=("type",)),
    ResourceType("", "serviceaccounts", "ServiceAccount", True, ("v1",), short_names=("sa",)),
    ResourceType("", "events", "Event", True, ("v1",), short_names=("ev",),
                 selectable_fields=("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                                    "involvedObject.uid", "involvedObject.apiVersion",
                                    "involvedObject.resourceVersion", "involvedObject.fieldPath",
                                    "reason", "reportingComponent", "source", "type")),
    ResourceType("events.k8s.io", "events", "Event", True, ("v1",), short_names=("ev",),
                 storage="/events"),
    ResourceType("coordination.k8s.io", "leases", "Lease", True, ("v1",)),
    ResourceType("apps", "deployments", "Deployment", True, ("v1",), short_names=("deploy",), categories=_ALL,
                 subresources=(_status("Deployment"), SCALE), scale=ScalePaths()),
    ResourceType("apps", "replicasets", "ReplicaSet", True, ("v1",), short_names=("rs",), categories=_ALL,
                 subresources=(_status("ReplicaSet"), SCALE), scale=ScalePaths()),
    ResourceType("apps", "statefulsets", "StatefulSet", True, ("v1",), short_names=("sts",), categories=_ALL,
                 subresources=(_status("StatefulSet"), SCALE), scale=ScalePaths()),
    ResourceType("apps", "controllerrevisions", "ControllerRevision", True, ("v1",)),
    ResourceType("apps", "daemonsets", "DaemonSet", True, ("v1",), short_names=("ds",), categories=_ALL,
                 subresources=(_status("DaemonSet"),)),
    ResourceType("autoscaling", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True, ("v2", "v1"),
                 short_names=("hpa",), categories=_ALL, subresources=(_status("HorizontalPodAutoscaler"),)),
    ResourceType("policy", "poddisruptionbudgets", "PodDisruptionBudget", True, ("v1",), short_names=("pdb",),
                 subresources=(_status("PodDisruptionBudget"),)),
    ResourceType("apiregistration.k8s.io", "apiservices", "APIService", False, ("v1",),
                 categories=("api-extensions",), subresources=(_status("APIService"),)),
    ResourceType("apiextensions.k8s.io", "customresourcedefinitions", "CustomResourceDefinition", False,
                 ("v1",), short_names=("crd", "crds"), categories=("api-extensions",),
                 subresources=(_status("CustomResourceDefinition"),)),
    ResourceType("authentication.k8s.io", "tokenreviews", "TokenReview", False, ("v1",), verbs=CREATE_ONLY),
    ResourceType("authorization.k8s.io", "subjectaccessreviews", "SubjectAccessReview", False, ("v1",),
                 verbs=CREATE_ONLY),
    ResourceType("authorization.k8s.io", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False,
                 ("v1",), verbs=CREATE_ONLY),
)

# Kinds whose create resets `status` (the strategies' PrepareForCreate); others keep what the client sent.
STATUS_RESET_ON_CREATE = frozenset({
    "Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "HorizontalPodAutoscaler",
    "PodDisruptionBudget", "Service", "Namespace", "CustomResourceDefinition",
})


@dataclass
class Registry:
    """Mutable index of served resource types; CRDs add and remove entries at run time."""

    types: list[ResourceType] = field(default_factory=lambda: list(BUILTIN))

    def __post_init__(self) -> None:
        self._reindex()

    def _reindex(self) -> None:
        self._by_gr: dict[tuple[str, str], ResourceType] = {(t.group, t.resource): t for t in self.types}
        self._by_storage: dict[str, ResourceType] = {}
        for t in self.types:
            self._by_storage.setdefault(t.storage, t)

    def add(self, rt: ResourceType) -> None:
        self.types = [t for t in self.types if (t.group, t.resource) != (rt.group, rt.resource)] + [rt]
        self._reindex()

    def remove(self, group: str, resource: str) -> None:
        self.types = [t for t in self.types if (t.group, t.resource) != (group, resource)]
        self._reindex()

    def get(self, group: str, resource: str) -> ResourceType | None:
        return self._by_gr.get((group, resource))

    def lookup(self, group: str, version: str, resource: str) -> ResourceType | None:
        """The type served at /apis/{group}/{version}/{resource}, or None when that version is not served."""
        rt = self._by_gr.get((group, resource))
        return rt if rt is not None and version in rt.versions else None

    def by_storage(self, storage: str) -> ResourceType | None:
        return self._by_storage.get(storage)

    def by_kind(self, group: str, kind: str) -> ResourceType | None:
        return next((t for t in self.types if t.group == group and t.kind == kind), None)

    def groups(self) -> dict[str, list[str]]:
        """Group name -> served versions, preferred first, in stable order (core group under "")."""
        out: dict[str, list[str]] = {}
        for t in self.types:
            vs = out.setdefault(t.group, [])
            for v in t.versions:
                if v not in vs:
                    vs.append(v)
        for vs in out.values():
            vs.sort(key=version_priority)
        return out

    def in_group_version(self, group: str, version: str) -> Iterator[ResourceType]:
        return (t for t in self.types if t.group == group and version in t.versions)

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(self.types)


def version_priority(version: str) -> tuple[int, int, int]:
    """Sort key for Kubernetes versions: GA before beta before alpha, higher numbers first."""
    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not m:
        return (3, 0, 0)
    major = int(m.group(1))
    stage = {"": 0, None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    minor = int(m.group(3) or 0)
    return (stage, -major, -minor)


def crd_resource_types(crd: dict) -> Iterable[ResourceType]:
    """The ResourceType a CustomResourceDefinition (apiextensions.k8s.io/v1) makes servable."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    served = [v for v in spec.get("versions") or [] if v.get("served", True)]
    if not served or not names.get("plural") or not names.get("kind"):
        return ()
    storage = next((v for v in served if v.get("storage")), served[0])
    ordered = [storage] + [v for v in served if v is not storage]
    subs = storage.get("subresources") or {}
    subresources: list[Subresource] = []
    scale: ScalePaths | None = None
    if "status" in subs:
        subresources.append(_status(names["kind"]))
    if "scale" in subs:
        sc = subs["scale"] or {}
        subresources.append(SCALE)
        scale = ScalePaths(
            spec_replicas=sc.get("specReplicasPath", ".spec.replicas"),
            status_replicas=sc.get("statusReplicasPath", ".status.replicas"),
            label_selector=sc.get("labelSelectorPath"),
        )
    return (ResourceType(
        group=spec.get("group", ""),
        resource=names["plural"],
        kind=names["kind"],
        singular=names.get("singular") or names["kind"].lower(),
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        versions=tuple(v["name"] for v in ordered),
        short_names=tuple(names.get("shortNames") or ()),
        categories=tuple(names.get("categories") or ()),
        subresources=tuple(subresources),
        scale=scale,
        custom=True,
    ),)
