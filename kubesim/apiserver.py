"""kube-apiserver semantics over the generic store: the verbs, metadata rules, defaulting, validation,
version conversion and the status subresource.

No HTTP here: `kubesim.server` parses requests and calls this; in-process simulation layers call it
directly. Kind-specific behaviour that runs around a write (Pods, Services, Namespaces, CRDs, PDBs,
scale, eviction, binding, reviews) is in `kubesim.kinds`.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubesim import conversion, defaults, errors, kinds, patching, selectors
from kubesim.resources import STATUS_RESET_ON_CREATE, Registry, ResourceType
from kubesim.store import Entry, ListResult, Obj, Store, Watcher, copy_json, dumps
from kubesim.storeindex import Predicate, selector_filter

DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?\Z")
_GENERATE_CHARS = "bcdfghjklmnpqrstvwxz2456789"
# kinds whose names are DNS-1123 labels (or DNS-1035 for Services) rather than subdomains
_LABEL_NAMED = {"Namespace"}
_SERVICE_NAMED = {"Service"}
_NO_GENERATION = {"Namespace", "ConfigMap", "Secret", "ServiceAccount", "Endpoints", "Event", "Lease"}


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def name_error(kind: str, name: str) -> str | None:
    """The upstream validation message for an invalid object name, or None when it is valid."""
    if kind == "APIService":
        return None  # "<version>.<group>" (the core group's is "v1.") is checked by kinds.validate
    if kind in _LABEL_NAMED:
        if len(name) > 63:
            return "must be no more than 63 characters"
        if not DNS1123_LABEL.match(name):
            return ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
                    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
                    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
        return None
    if kind in _SERVICE_NAMED:
        if len(name) > 63:
            return "must be no more than 63 characters"
        if not DNS1035_LABEL.match(name):
            return ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
                    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
        return None
    if len(name) > 253:
        return "must be no more than 253 characters"
    if not DNS1123_SUBDOMAIN.match(name):
        return ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
                "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation "
                "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
    return None


@dataclass(frozen=True)
class ListQuery:
    label_selector: str = ""
    field_selector: str = ""
    limit: int = 0
    continue_token: str | None = None


def _spec_of(obj: Obj) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class ApiServer:
    """The API's verbs over a `Store`; every write goes through here."""

    def __init__(
        self,
        *,
        store: Store | None = None,
        registry: Registry | None = None,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
    ) -> None:
        self.store = store or Store()
        self.registry = registry or Registry()
        self.clock = clock
        self.rng = random.Random(seed)
        self.write_hooks: list[Callable[[ResourceType, str, Obj | None, Obj | None], None]] = []
        kinds.install(self)

    def now(self) -> str:
        return rfc3339(self.clock())

    # -- conversion -----------------------------------------------------------------------------------------
    def to_version(self, rt: ResourceType, obj: Obj, version: str | None) -> Obj:
        """The stored object as served at `rt` and `version` (storage version when None)."""
        target = rt.api_version(version)
        if obj.get("apiVersion") == target:
            return obj
        return conversion.convert(obj, to_api_version=target)

    def from_version(self, rt: ResourceType, obj: Obj) -> Obj:
        storage_rt = self.registry.by_storage(rt.storage) or rt
        target = storage_rt.api_version()
        if obj.get("apiVersion") == target:
            return obj
        return conversion.convert(obj, to_api_version=target)

    def serve_bytes(self, rt: ResourceType, entry: Entry, version: str | None) -> bytes:
        """The stored object as JSON at `rt` and `version`: its stored bytes unless it needs converting."""
        target = rt.api_version(version)
        if entry.api_version == target:
            return entry.raw
        return dumps(conversion.convert(entry.obj, to_api_version=target))

    # -- reads ----------------------------------------------------------------------------------------------
    def get(self, rt: ResourceType, ns: str, name: str) -> Entry:
        entry = self.store.get(rt.storage, ns, name)
        if entry is None:
            raise errors.not_found(rt.group, rt.resource, name)
        return entry

    def predicate(self, rt: ResourceType, q: ListQuery) -> tuple[Predicate | None, str | None]:
        """A filter of stored entries for label and field selectors (evaluated on the entries' index, never
        on decoded objects), plus the node name when the pod index can serve it."""
        try:
            ls = selectors.parse_label_selector(q.label_selector or "")
            fs = selectors.parse_field_selector(q.field_selector or "")
        except selectors.SelectorError as e:
            raise errors.bad_request(str(e)) from None
        allowed = {"metadata.name", "metadata.namespace", *rt.selectable_fields}
        for f in fs.fields():
            if f not in allowed:
                raise errors.bad_request(f'field label not supported: {f}')
        node_name = fs.exact("spec.nodeName") if rt.storage == "/pods" else None
        return selector_filter(ls, fs), node_name

    def list(self, rt: ResourceType, ns: str | None, q: ListQuery = ListQuery()) -> ListResult:
        pred, node_name = self.predicate(rt, q)
        if q.limit < 0:
            raise errors.bad_request("limit must be non-negative")
        result = self.store.list(rt.storage, ns, predicate=pred, node_name=node_name, limit=q.limit,
                                 continue_token=q.continue_token)
        if q.continue_token and result.resource_version < self.store.bucket(rt.storage).oldest_resumable():
            raise errors.gone("The provided continue parameter is too old to display a consistent list result. "
                              "You can start a new list without the continue parameter.")
        return result

    def watch(self, rt: ResourceType, ns: str | None, q: ListQuery, resource_version: str | None) -> Watcher:
        pred, _ = self.predicate(rt, q)
        since: int | None = None
        if resource_version not in (None, "", "0"):
            try:
                since = int(resource_version)  # type: ignore[arg-type]
            except ValueError:
                raise errors.bad_request(f'Invalid value: "{resource_version}": invalid resource version') from None
        return self.store.watch(rt.storage, ns, predicate=pred, since=since, group=rt.group, resource=rt.resource)

    # -- create ---------------------------------------------------------------------------------------------
    def create(self, rt: ResourceType, ns: str, body: Obj, *, dry_run: bool = False, user: Any = None) -> Obj:
        if "create" not in rt.verbs:
            raise errors.method_not_allowed()
        obj = self._decode(rt, body, ns)
        review = kinds.review(self, rt, obj, user)
        if review is not None:
            return review
        meta = obj.setdefault("metadata", {})
        if meta.get("resourceVersion"):
            raise errors.internal("resourceVersion should not be set on objects to be created")
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(self.rng.choice(_GENERATE_CHARS) for _ in range(5))
        name = meta.get("name") or ""
        if not name:
            raise errors.invalid(rt.group, rt.kind, "", [("metadata.name", "FieldValueRequired",
                                                          "Required value: name or generateName "
                                                          "is required")])
        self._validate_name(rt, name)
        if rt.namespaced:
            self._require_namespace(rt, ns, name)
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if self.store.get(rt.storage, ns if rt.namespaced else "", name) is not None:
            raise errors.already_exists(rt.group, rt.resource, name)
        obj = defaults.apply_defaults(obj, api_version=obj["apiVersion"], kind=obj["kind"])
        meta = obj["metadata"]
        meta["uid"] = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        meta["creationTimestamp"] = self.now()
        meta.pop("deletionTimestamp", None)
        meta.pop("deletionGracePeriodSeconds", None)
        if (rt.custom or obj["kind"] not in _NO_GENERATION) and "spec" in obj:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        if obj["kind"] in STATUS_RESET_ON_CREATE or (rt.custom and rt.has_status):
            obj.pop("status", None)
        kinds.prepare_create(self, rt, obj)
        self._validate(rt, obj)
        if dry_run:
            obj["metadata"]["resourceVersion"] = str(self.store.rv)
            return self.to_version(rt, obj, None)
        entry = self.store.put(rt.storage, ns if rt.namespaced else "", name, obj, old=None)
        self._after_write(rt, None, entry.obj)
        return entry.obj

    # -- update ---------------------------------------------------------------------------------------------
    def update(self, rt: ResourceType, ns: str, name: str, body: Obj, *, subresource: str | None = None,
               dry_run: bool = False) -> Obj:
        if "update" not in rt.verbs:
            raise errors.method_not_allowed()
        key_ns = ns if rt.namespaced else ""
        old = self.get(rt, key_ns, name)
        obj = self._decode(rt, body, ns)
        meta = obj.setdefault("metadata", {})
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL "
                                     f"({name})")
        rv = meta.get("resourceVersion")
        if rv and rv != old.obj["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.group, rt.resource, name, errors.STALE)
        uid = meta.get("uid")
        if uid and uid != old.obj["metadata"]["uid"]:
            raise errors.conflict(rt.group, rt.resource, name,
                                  f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
                                  f"{old.obj['metadata']['uid']}")
        return self._write_update(rt, old, obj, subresource=subresource, dry_run=dry_run)

    def _write_update(self, rt: ResourceType, old: Entry, obj: Obj, *, subresource: str | None,
                      dry_run: bool) -> Obj:
        prev = old.obj
        if subresource == "status":
            # stored objects are never mutated: a status write shares everything but metadata and status
            new = {**prev, "metadata": dict(prev["metadata"])}
            if "status" in obj:
                new["status"] = obj["status"]
            else:
                new.pop("status", None)
        else:
            new = defaults.apply_defaults(obj, api_version=obj["apiVersion"], kind=obj["kind"])
            if rt.has_status:
                if "status" in prev:
                    new["status"] = prev["status"]
                else:
                    new.pop("status", None)
            meta = new["metadata"]
            for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation",
                      "namespace", "name"):
                if k in prev["metadata"]:
                    meta[k] = prev["metadata"][k]
                else:
                    meta.pop(k, None)
            if "generation" in meta and _spec_of(new) != _spec_of(prev):
                meta["generation"] = int(meta["generation"]) + 1
            if meta.get("deletionTimestamp") and set(meta.get("finalizers") or ()) - set(
                    prev["metadata"].get("finalizers") or ()):
                raise errors.forbidden(f'{rt.resource} "{meta["name"]}" is forbidden: no new finalizers can be added '
                                       "if the object is being deleted")
            kinds.prepare_update(self, rt, new, prev)
            self._validate(rt, new)
        new["metadata"]["resourceVersion"] = prev["metadata"]["resourceVersion"]
        if new == prev:
            return prev  # upstream skips no-op writes: same resourceVersion, no watch event
        if dry_run:
            return new
        ns = prev["metadata"].get("namespace", "")
        name = prev["metadata"]["name"]
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            entry = self.store.remove(rt.storage, ns, name)
            assert entry is not None
            self._after_write(rt, prev, None)
            return entry.obj
        entry = self.store.put(rt.storage, ns, name, new, old=old)
        self._after_write(rt, prev, entry.obj)
        return entry.obj

    def patch(self, rt: ResourceType, ns: str, name: str, body: bytes, content_type: str, *,
              version: str | None = None, subresource: str | None = None, dry_run: bool = False,
              check_patched: Callable[[Obj, Obj], None] | None = None) -> Obj:
        """Patch an object. `check_patched(current, patched)`, when given, sees the object before and after
        the patch (both at `version`) before anything else is checked: the HTTP layer's fieldValidation
        raises from it to refuse unknown fields, or removes them from `patched`."""
        if "patch" not in rt.verbs:
            raise errors.method_not_allowed()
        old = self.get(rt, ns if rt.namespaced else "", name)
        current = self.to_version(rt, old.obj, version)
        kind = current.get("kind", rt.kind) if not rt.custom else ""
        try:
            patched = patching.apply_patch(current, body, content_type, kind=kind)
        except patching.PatchError as e:
            raise errors.ApiError(e.status, e.reason, e.message) from None
        if not isinstance(patched, dict):
            raise errors.bad_request("the patch did not produce an object")
        if check_patched is not None:
            check_patched(current, patched)
        meta = patched.setdefault("metadata", {})
        rv = meta.get("resourceVersion")
        if rv and rv != old.obj["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.group, rt.resource, name, errors.STALE)
        if meta.get("name", name) != name:
            raise errors.bad_request("metadata.name: Invalid value: the name of the object cannot be changed by patch")
        obj = self._decode(rt, patched, ns)
        return self._write_update(rt, old, obj, subresource=subresource, dry_run=dry_run)

    # -- delete ---------------------------------------------------------------------------------------------
    def delete(self, rt: ResourceType, ns: str, name: str, options: Obj | None = None, *,
               dry_run: bool = False) -> Obj:
        if "delete" not in rt.verbs:
            raise errors.method_not_allowed()
        key_ns = ns if rt.namespaced else ""
        old = self.get(rt, key_ns, name)
        options = options or {}
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != old.obj["metadata"]["uid"]:
            raise errors.conflict(rt.group, rt.resource, name,
                                  f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: "
                                  f"{old.obj['metadata']['uid']}")
        if pre.get("resourceVersion") and pre["resourceVersion"] != old.obj["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.group, rt.resource, name,
                                  f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                                  f"ResourceVersion in object meta: {old.obj['metadata']['resourceVersion']}")
        if dry_run:
            return old.obj
        meta = old.obj["metadata"]
        finalizers = list(meta.get("finalizers") or ())
        extra = kinds.deletion_finalizers(self, rt, old.obj, options)
        grace = kinds.grace_period(rt, old.obj, options)
        if meta.get("deletionTimestamp"):
            # a second delete may only shorten a pending grace period; grace 0 without finalizers removes now
            if grace or finalizers or kinds.defers_deletion(rt, old.obj):
                return old.obj
        elif finalizers or extra or grace or kinds.defers_deletion(rt, old.obj):
            new = copy_json(old.obj)
            new["metadata"]["deletionTimestamp"] = rfc3339(self.clock() + (grace or 0))
            new["metadata"]["deletionGracePeriodSeconds"] = grace or 0
            new["metadata"]["finalizers"] = finalizers + [f for f in extra if f not in finalizers]
            if not new["metadata"]["finalizers"]:
                del new["metadata"]["finalizers"]
            if "generation" in new["metadata"]:
                new["metadata"]["generation"] = int(new["metadata"]["generation"]) + 1
            kinds.begin_deletion(self, rt, new)
            entry = self.store.put(rt.storage, key_ns, name, new, old=old)
            self._after_write(rt, old.obj, entry.obj)
            kinds.after_deletion_started(self, rt, entry.obj)
            return entry.obj
        entry = self.store.remove(rt.storage, key_ns, name)
        assert entry is not None
        self._after_write(rt, old.obj, None)
        return entry.obj

    def delete_collection(self, rt: ResourceType, ns: str | None, q: ListQuery, options: Obj | None = None, *,
                          dry_run: bool = False) -> list[Obj]:
        if "deletecollection" not in rt.verbs:
            raise errors.method_not_allowed()
        result = self.list(rt, ns, ListQuery(q.label_selector, q.field_selector))
        out = []
        for entry in result.entries:
            try:
                out.append(self.delete(rt, entry.namespace, entry.name, options, dry_run=dry_run))
            except errors.ApiError as e:
                if e.code != 404:
                    raise
        return out

    def finalize(self, rt: ResourceType, entry: Entry) -> None:
        """Remove an object whose deletion was pending once nothing holds it any more."""
        meta = entry.obj["metadata"]
        if self.store.remove(rt.storage, meta.get("namespace", ""), meta["name"]) is not None:
            self._after_write(rt, entry.obj, None)

    # -- helpers --------------------------------------------------------------------------------------------
    def _decode(self, rt: ResourceType, body: Obj, ns: str) -> Obj:
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request must be a JSON object")
        # a shallow copy: apply_defaults makes the one deep copy a write needs, and only metadata is touched first
        obj = {**body, "metadata": dict(body["metadata"])} if isinstance(body.get("metadata"), dict) else dict(body)
        served = {rt.api_version(v) for v in rt.versions}
        api_version = obj.get("apiVersion") or rt.api_version()
        kind = obj.get("kind") or rt.kind
        if api_version not in served:
            raise errors.bad_request(f"the API version in the data ({api_version}) does not match the expected API "
                                     f"version ({rt.api_version()})")
        if kind != rt.kind:
            raise errors.bad_request(f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})")
        obj["apiVersion"], obj["kind"] = api_version, kind
        meta = obj.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        if rt.namespaced and meta and meta.get("namespace") and ns and meta["namespace"] != ns:
            raise errors.bad_request("the namespace of the provided object does not match the namespace sent on "
                                     "the request")
        return self.from_version(rt, obj)

    def _validate_name(self, rt: ResourceType, name: str) -> None:
        msg = name_error(rt.kind, name)
        if msg is not None:
            raise errors.invalid(rt.group, rt.kind, name,
                                 [("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {msg}')])

    def _require_namespace(self, rt: ResourceType, ns: str, name: str) -> None:
        if not ns:
            raise errors.bad_request("the server could not find the requested resource: a namespace is required")
        nsobj = self.store.get("/namespaces", "", ns)
        if nsobj is None:
            raise errors.not_found("", "namespaces", ns)
        if nsobj.obj["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(f'{rt.resource} "{name}" is forbidden: unable to create new content in namespace '
                                   f"{ns} because it is being terminated", group=rt.group, resource=rt.resource,
                                   name=name)

    def _validate(self, rt: ResourceType, obj: Obj) -> None:
        causes = kinds.validate(self, rt, obj)
        if causes:
            raise errors.invalid(rt.group, rt.kind, obj["metadata"].get("name", ""), causes)

    def _after_write(self, rt: ResourceType, old: Obj | None, new: Obj | None) -> None:
        for hook in tuple(self.write_hooks):
            hook(rt, (new or old or {}).get("metadata", {}).get("namespace", ""), old, new)
