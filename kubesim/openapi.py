"""OpenAPI v3 documents: the `/openapi/v3` index and one document per served group-version.

Pure; no I/O. What kubectl 1.32 needs from them: each PATCH (and POST/PUT) operation carries
`x-kubernetes-group-version-kind` and the `fieldValidation` query parameter, so kubectl leaves field
validation to the server (`?fieldValidation=Strict`) instead of downloading `/openapi/v2`; PATCH operations
of built-in kinds accept `application/strategic-merge-patch+json`, so client-side `kubectl apply` builds a
strategic merge patch from the component schemas (their `x-kubernetes-patch-*` extensions); and
`kubectl explain` reads the same schemas. Built-in schemas come from `kubesim.openapi_schemas`; custom
resources take theirs from the CRD (`crd_schemas`). `/openapi/v2` is not served: client-go asks for it
only in protobuf, and only when v3 is missing.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping

from kubesim import discovery, resources
from kubesim import openapi_schemas as schemas

CrdSchemas = Mapping[tuple[str, str, str], dict]

JSON_TYPES = ("application/json", "application/yaml")
PATCH_TYPES = ("application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json")
SMP_TYPE = "application/strategic-merge-patch+json"

_QUERY = {
    "pretty": ("string", "If 'true', then the output is pretty printed. Defaults to 'false' unless the "
                         "user-agent indicates a browser or command-line HTTP tool (curl and wget)."),
    "dryRun": ("string", "When present, indicates that modifications should not be persisted. Valid "
                         "values are: - All: all dry run stages will be processed"),
    "fieldManager": ("string", "fieldManager is a name associated with the actor or entity that is making "
                               "these changes."),
    "fieldValidation": ("string", "fieldValidation instructs the server on how to handle objects in the "
                                  "request containing unknown or duplicate fields. Valid values are: "
                                  "- Ignore - Warn (the default) - Strict"),
    "force": ("boolean", "Force is going to \"force\" Apply requests. It means user will re-acquire "
                         "conflicting fields owned by other people."),
    "gracePeriodSeconds": ("integer", "The duration in seconds before the object should be deleted."),
    "orphanDependents": ("boolean", "Deprecated: please use the PropagationPolicy."),
    "propagationPolicy": ("string", "Whether and how garbage collection will be performed: 'Orphan', "
                                    "'Background' or 'Foreground'."),
    "allowWatchBookmarks": ("boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\"."),
    "continue": ("string", "The continue option should be set when retrieving more results from the server."),
    "fieldSelector": ("string", "A selector to restrict the list of returned objects by their fields."),
    "labelSelector": ("string", "A selector to restrict the list of returned objects by their labels."),
    "limit": ("integer", "limit is a maximum number of responses to return for a list call."),
    "resourceVersion": ("string", "resourceVersion sets a constraint on what resource versions a request "
                                  "may be served from."),
    "resourceVersionMatch": ("string", "resourceVersionMatch determines how resourceVersion is applied to "
                                       "list calls."),
    "sendInitialEvents": ("boolean", "`sendInitialEvents=true` may be set together with `watch=true`."),
    "timeoutSeconds": ("integer", "Timeout for the list/watch call."),
    "watch": ("boolean", "Watch for changes to the described resources and return them as a stream of add, "
                         "update, and remove notifications."),
}
_LIST_PARAMS = ("allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit",
                "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch")
_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")
_STATUS = f"{schemas.META_PACKAGE}.Status"
_DELETE_OPTIONS = f"{schemas.META_PACKAGE}.DeleteOptions"
_DELETE_PARAMS = ("dryRun", "gracePeriodSeconds", "orphanDependents", "propagationPolicy")


def path_key(group: str, version: str) -> str:
    """The index key of a group-version: `api/v1` or `apis/<group>/<version>`."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def crd_schema_name(group: str, version: str, kind: str) -> str:
    """Upstream's name for a custom resource schema: reversed group, version, kind."""
    return ".".join([*reversed(group.split(".")), version, kind])


def openapi_v3_document(
    registry: resources.Registry, group: str, version: str, *, crd_schemas: CrdSchemas | None = None
) -> dict | None:
    """The OpenAPI 3.0 document for one group-version, or None when it is not served."""
    types = sorted(registry.in_group_version(group, version), key=lambda t: t.resource)
    if not types:
        return None
    crd_schemas = crd_schemas or {}
    roots = [schemas.Root("V1Status", schemas.META_PACKAGE, ("", "v1", "Status")),
             *(schemas.Root(m, schemas.META_PACKAGE) for m in ("V1DeleteOptions", "V1ObjectMeta", "V1ListMeta"))]
    for rt in types:
        if not rt.custom:
            roots.extend(schemas.kind_roots(group, version, rt.kind))
        for sub in rt.subresources:
            if sub.group or sub.version:
                roots.extend(schemas.kind_roots(sub.group, sub.version, sub.kind)[:1])
            elif sub.kind != rt.kind:
                roots.extend(schemas.kind_roots(group, version, sub.kind)[:1])
    components = schemas.build_schemas(roots)
    components.setdefault(schemas.PATCH, schemas.EXTRA_SCHEMAS[schemas.PATCH])
    for rt in types:
        if rt.custom:
            components.update(_custom_resource_schemas(rt, version, crd_schemas.get((group, version, rt.kind))))
    paths: dict[str, dict] = {}
    for rt in types:
        paths.update(_resource_paths(rt, version, components))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": discovery.GIT_VERSION},
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication",
                                                "name": "authorization", "in": "header"}},
        },
    }


def openapi_v3_index(
    registry: resources.Registry, *, extra_paths: Mapping[str, str] | None = None,
    crd_schemas: CrdSchemas | None = None, cache: OpenAPICache | None = None,
) -> dict:
    """The `/openapi/v3` index: every served group-version with a content-hashed URL.

    `extra_paths` maps index keys (`apis/metrics.k8s.io/v1beta1`) of aggregated API servers to their
    serverRelativeURL; they are listed as given.
    """
    cache = cache or OpenAPICache()
    paths: dict[str, dict] = {}
    for group, versions in registry.groups().items():
        for version in versions:
            served = cache.document_json(registry, group, version, crd_schemas=crd_schemas)
            if served is not None:
                key = path_key(group, version)
                paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={served[1]}"}
    for key, url in (extra_paths or {}).items():
        paths.setdefault(key, {"serverRelativeURL": url})
    return {"paths": dict(sorted(paths.items()))}


def content_hash(body: bytes) -> str:
    """kube-apiserver's hash for /openapi/v3 URLs: upper-case hex SHA-512 of the served JSON."""
    return hashlib.sha512(body).hexdigest().upper()


class OpenAPICache:
    """Memoized documents, keyed by what they are built from (the group-version's types and CRD schemas).

    Registry changes (a CRD added) change the key, so nothing needs invalidating; the least recently used
    entries beyond `max_entries` are dropped.
    """

    def __init__(self, max_entries: int = 128) -> None:
        self._max_entries = max_entries
        self._docs: OrderedDict[tuple, tuple[dict, bytes, str] | None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._docs)

    def document(self, registry: resources.Registry, group: str, version: str, *,
                 crd_schemas: CrdSchemas | None = None) -> dict | None:
        """A deep copy of the cached document (callers may change it)."""
        entry = self._entry(registry, group, version, crd_schemas)
        return copy.deepcopy(entry[0]) if entry else None

    def document_json(self, registry: resources.Registry, group: str, version: str, *,
                      crd_schemas: CrdSchemas | None = None) -> tuple[bytes, str] | None:
        """(JSON body, content hash) of the document, or None when the group-version is not served."""
        entry = self._entry(registry, group, version, crd_schemas)
        return (entry[1], entry[2]) if entry else None

    def document_for_path(self, registry: resources.Registry, path: str,
                          crd_schemas: CrdSchemas | None = None) -> bytes | None:
        """JSON body for `/openapi/v3/<path>` (`api/v1`, `apis/apps/v1`; any `?hash=` stripped), or None."""
        parts = path.split("?", 1)[0].strip("/").split("/")
        if len(parts) == 2 and parts[0] == "api":
            group, version = "", parts[1]
        elif len(parts) == 3 and parts[0] == "apis":
            group, version = parts[1], parts[2]
        else:
            return None
        served = self.document_json(registry, group, version, crd_schemas=crd_schemas)
        return served[0] if served else None

    def index(self, registry: resources.Registry, crd_schemas: CrdSchemas | None = None, *,
              extra_paths: Mapping[str, str] | None = None) -> dict:
        """The `/openapi/v3` index (see `openapi_v3_index`)."""
        return openapi_v3_index(registry, extra_paths=extra_paths, crd_schemas=crd_schemas, cache=self)

    def _entry(self, registry: resources.Registry, group: str, version: str,
               crd_schemas: CrdSchemas | None) -> tuple[dict, bytes, str] | None:
        types = tuple(sorted(registry.in_group_version(group, version), key=lambda t: t.resource))
        crd_key = json.dumps(sorted(
            ([*k], v) for k, v in (crd_schemas or {}).items() if (k[0], k[1]) == (group, version)
        ), sort_keys=True)
        key = (group, version, types, crd_key)
        if key in self._docs:
            self._docs.move_to_end(key)
            return self._docs[key]
        doc = openapi_v3_document(registry, group, version, crd_schemas=crd_schemas)
        entry = None
        if doc is not None:
            body = json.dumps(doc, separators=(",", ":")).encode()
            entry = (doc, body, content_hash(body))
        self._docs[key] = entry
        while len(self._docs) > self._max_entries:
            self._docs.popitem(last=False)
        return entry


def _custom_resource_schemas(rt: resources.ResourceType, version: str, crd_schema: dict | None) -> dict:
    """The schema of a custom resource (from its CRD's openAPIV3Schema) and of its list."""
    name = crd_schema_name(rt.group, version, rt.kind)
    schema = copy.deepcopy(crd_schema) if crd_schema else {"type": "object"}
    schema.setdefault("type", "object")
    props = schema.setdefault("properties", {})
    if not crd_schema:
        schema["x-kubernetes-preserve-unknown-fields"] = True
    props["apiVersion"] = {"description": _API_VERSION_DOC, "type": "string"}
    props["kind"] = {"description": _KIND_DOC, "type": "string"}
    props["metadata"] = {"description": schemas.METADATA_DESCRIPTION,
                         "allOf": [schemas.ref(f"{schemas.META_PACKAGE}.ObjectMeta")]}
    schema["x-kubernetes-group-version-kind"] = [{"group": rt.group, "kind": rt.kind, "version": version}]
    list_schema = {
        "description": f"{rt.kind}List is a list of {rt.kind}",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"description": _API_VERSION_DOC, "type": "string"},
            "items": {"description": f"List of {rt.resource}.", "type": "array",
                      "items": {"allOf": [schemas.ref(name)]}},
            "kind": {"description": _KIND_DOC, "type": "string"},
            "metadata": {"allOf": [schemas.ref(f"{schemas.META_PACKAGE}.ListMeta")]},
        },
        "x-kubernetes-group-version-kind": [{"group": rt.group, "kind": rt.list_kind, "version": version}],
    }
    return {name: schema, f"{name}List": list_schema}


_API_VERSION_DOC = ("APIVersion defines the versioned schema of this representation of an object. Servers "
                    "should convert recognized schemas to the latest internal value, and may reject "
                    "unrecognized values.")
_KIND_DOC = ("Kind is a string value representing the REST resource this object represents. Servers may "
             "infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase.")


def _resource_paths(rt: resources.ResourceType, version: str, components: dict[str, dict]) -> dict[str, dict]:
    """Paths and operations of one resource and its subresources."""
    prefix = f"/{path_key(rt.group, version)}"
    gvk = {"group": rt.group, "kind": rt.kind, "version": version}
    kind_ref = _schema_for(rt.group, version, rt.kind, components)
    list_ref = _schema_for(rt.group, version, rt.list_kind, components)
    op_prefix = _operation_prefix(rt.group, version)
    scope = "Namespaced" if rt.namespaced else ""
    base = f"{prefix}/namespaces/{{namespace}}/{rt.resource}" if rt.namespaced else f"{prefix}/{rt.resource}"
    path_params = [_path_param("namespace")] if rt.namespaced else []
    ops = _Ops(op_prefix, rt.kind, gvk, custom=rt.custom, scope=scope)
    verbs = set(rt.verbs)
    paths: dict[str, dict] = {}

    collection: dict = {}
    if "list" in verbs:
        collection["get"] = ops.make("list", "list", list_ref, params=_LIST_PARAMS)
    if "create" in verbs:
        collection["post"] = ops.make("post", "create", kind_ref, body=kind_ref, params=_WRITE_PARAMS,
                                      codes=("200", "201", "202"))
    if "deletecollection" in verbs:
        collection["delete"] = ops.make("deletecollection", "deleteCollection", _STATUS,
                                        body=_DELETE_OPTIONS, params=(*_DELETE_PARAMS, *_LIST_PARAMS))
    if collection:
        paths[base] = {**collection, "parameters": [*path_params, _query_param("pretty")]}

    item: dict = {}
    if "get" in verbs:
        item["get"] = ops.make("get", "read", kind_ref)
    if "update" in verbs:
        item["put"] = ops.make("put", "replace", kind_ref, body=kind_ref, params=_WRITE_PARAMS,
                               codes=("200", "201"))
    if "patch" in verbs:
        item["patch"] = ops.make("patch", "patch", kind_ref, body="patch",
                                 params=(*_WRITE_PARAMS, "force"), codes=("200", "201"))
    if "delete" in verbs:
        item["delete"] = ops.make("delete", "delete", _STATUS, body=_DELETE_OPTIONS,
                                  params=_DELETE_PARAMS, codes=("200", "202"))
    item_params = [_path_param("name"), *path_params, _query_param("pretty")]
    if item:
        paths[f"{base}/{{name}}"] = {**item, "parameters": item_params}

    if rt.namespaced and "list" in verbs:
        all_ns = _Ops(op_prefix, rt.kind, gvk, custom=rt.custom, suffix="ForAllNamespaces")
        paths[f"{prefix}/{rt.resource}"] = {
            "get": all_ns.make("list", "list", list_ref, params=_LIST_PARAMS),
            "parameters": [_query_param("pretty")],
        }

    for sub in rt.subresources:
        sub_ops = _subresource_ops(rt, sub, version, scope, op_prefix, components)
        if sub_ops:
            paths[f"{base}/{{name}}/{sub.name}"] = {**sub_ops, "parameters": item_params}
    return paths


def _subresource_ops(rt: resources.ResourceType, sub: resources.Subresource, version: str, scope: str,
                     op_prefix: str, components: dict[str, dict]) -> dict:
    group, sub_version = (sub.group, sub.version) if (sub.group or sub.version) else (rt.group, version)
    body_ref: str | None = None  # pods/log answers plain text
    if sub.name != "log":
        body_ref = _schema_for(group, sub_version, sub.kind, components)
        if body_ref is None:
            return {}
    gvk = {"group": group, "kind": sub.kind, "version": sub_version}
    title = sub.name[:1].upper() + sub.name[1:]
    ops = _Ops(op_prefix, rt.kind, gvk, custom=rt.custom, scope=scope, suffix=title)
    out: dict = {}
    if "get" in sub.verbs:
        out["get"] = ops.make("get", "read", body_ref)
    if "create" in sub.verbs:
        out["post"] = ops.make("post", "create", body_ref, body=body_ref, params=_WRITE_PARAMS,
                               codes=("200", "201", "202"))
    if "update" in sub.verbs:
        out["put"] = ops.make("put", "replace", body_ref, body=body_ref, params=_WRITE_PARAMS,
                              codes=("200", "201"))
    if "patch" in sub.verbs:
        out["patch"] = ops.make("patch", "patch", body_ref, body="patch",
                                params=(*_WRITE_PARAMS, "force"), codes=("200", "201"))
    return out


def _schema_for(group: str, version: str, kind: str, components: dict[str, dict]) -> str | None:
    """The component name holding a kind's schema in this document, if any."""
    for name, schema in components.items():
        if {"group": group, "kind": kind, "version": version} in schema.get("x-kubernetes-group-version-kind", []):
            return name
    return None


class _Ops:
    """Builds the operations of one path family (a kind, or one of its subresources)."""

    def __init__(self, op_prefix: str, kind: str, gvk: dict, *, custom: bool, scope: str = "",
                 suffix: str = "") -> None:
        self.op_prefix, self.kind, self.gvk, self.custom = op_prefix, kind, gvk, custom
        self.scope, self.suffix = scope, suffix

    def make(self, action: str, verb: str, response: str | None, *, body: str | None = None,
             params: tuple[str, ...] = (), codes: tuple[str, ...] = ("200",)) -> dict:
        head, collection, _ = verb.partition("Collection")
        op: dict = {
            "tags": [_tag(self.op_prefix)],
            "description": f"{action} {self.kind}{self.suffix}",
            "operationId": f"{head}{self.op_prefix}{collection}{self.scope}{self.kind}{self.suffix}",
            "parameters": [_query_param(p) for p in params],
        }
        if body == "patch":
            types = PATCH_TYPES if self.custom else (*PATCH_TYPES, SMP_TYPE)
            op["requestBody"] = {"content": {t: {"schema": schemas.ref(schemas.PATCH)} for t in types},
                                 "required": True}
        elif body is not None:
            op["requestBody"] = {"content": {t: {"schema": _body_schema(body)} for t in JSON_TYPES},
                                 "required": action != "delete" and action != "deletecollection"}
        statuses = {"200": "OK", "201": "Created", "202": "Accepted"}
        op["responses"] = {
            **{c: {"description": statuses[c],
                   "content": {t: {"schema": _body_schema(response)} for t in JSON_TYPES}} for c in codes},
            "401": {"description": "Unauthorized"},
        }
        op["x-kubernetes-action"] = action
        op["x-kubernetes-group-version-kind"] = dict(self.gvk)
        return op


def _body_schema(name: str | None) -> dict:
    """A reference to a component schema; None stands for a plain-text body (pods/log)."""
    return schemas.ref(name) if name is not None else {"type": "string"}


def _operation_prefix(group: str, version: str) -> str:
    """`CoreV1`, `AppsV1`, `RbacAuthorizationV1`: upstream's operationId infix for a group-version."""
    name = group.removesuffix(".k8s.io") if group else "core"
    return "".join(p[:1].upper() + p[1:] for p in name.replace("-", ".").split(".")) + version.capitalize()


def _tag(op_prefix: str) -> str:
    for i, ch in enumerate(op_prefix):
        if ch == "V" and op_prefix[i + 1:i + 2].isdigit():
            return f"{op_prefix[:1].lower()}{op_prefix[1:i]}_{op_prefix[i:].lower()}"
    return op_prefix


def _query_param(name: str) -> dict:
    type_, description = _QUERY[name]
    return {"name": name, "in": "query", "description": description,
            "schema": {"type": type_, "uniqueItems": True}}


def _path_param(name: str) -> dict:
    description = ("object name and auth scope, such as for teams and projects" if name == "namespace"
                   else "name of the resource")
    return {"name": name, "in": "path", "description": description, "required": True,
            "schema": {"type": "string", "uniqueItems": True}}
