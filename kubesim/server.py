"""kubesim's HTTP front: routing, authentication and authorization, content negotiation, discovery and OpenAPI
documents. Kind semantics are in `kubesim.apiserver`/`kubesim.kinds`; list and watch streaming in
`kubesim.listwatch`; API aggregation (proxying to APIService backends) in `kubesim.aggregator`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from kubesim import (
    aggregator,
    apifaults,
    auth,
    discovery,
    errors,
    fieldvalidation,
    kinds,
    listwatch,
    negotiation,
    openapi,
    paths,
    requestinfo,
    tables,
)
from kubesim.apiserver import ApiServer, ListQuery
from kubesim.resources import ResourceType
from kubesim.store import Entry, dumps

log = logging.getLogger("kubesim.server")

JSON = "application/json"
ADMIN = auth.authenticated_user("kubesim-admin", groups=("system:masters",))
OPENAPI_V2_PROTOBUF = "application/octet-stream"
HEALTH_PATHS = {"/healthz", "/livez", "/readyz", "/healthz/ping", "/livez/ping", "/readyz/ping"}


@dataclass(frozen=True)
class ServingOptions:
    bookmark_interval_s: float = 30.0
    min_request_timeout_s: float = 1800.0
    apiservice_check_interval_s: float = 10.0


def _json_response(body: Any, status: int = 200, content_type: str = JSON) -> web.Response:
    return web.Response(body=dumps(body), status=status, headers={"Content-Type": content_type})


def error_response(e: errors.ApiError) -> web.Response:
    resp = _json_response(e.status(), e.code)
    for k, v in e.headers.items():
        resp.headers[k] = v
    return resp


class Server:
    """The aiohttp application serving one `ApiServer`."""

    def __init__(self, api: ApiServer, *, options: ServingOptions = ServingOptions()) -> None:
        self.api = api
        self.options = options
        self.openapi = openapi.OpenAPICache()
        self.aggregator = aggregator.Aggregator(api)
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_route("*", "/{tail:.*}", self.handle)
        self.app.on_startup.append(self._start_background)
        # on_shutdown runs before aiohttp waits for open handlers: closing watches there lets them end at once
        self.app.on_shutdown.append(self._stop_background)
        self._tasks: list[asyncio.Task[None]] = []
        self.watchers: set[Any] = set()
        self.faults = apifaults.ApiFaults()
        # the simulation's control API (`/kubesim/v1/...`: node groups, faults, node logs, load), when it runs
        self.control: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None

    async def _start_background(self, _app: web.Application) -> None:
        self._tasks.append(asyncio.create_task(self.aggregator.run(self.options.apiservice_check_interval_s)))

    async def _stop_background(self, _app: web.Application) -> None:
        for t in self._tasks:
            t.cancel()
        for w in list(self.watchers):
            w.close()
        await self.aggregator.close()

    # -- entry ----------------------------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            user = self.authenticate(request)
            return await self._route(request, user)
        except errors.ApiError as e:
            return error_response(e)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as e:  # a bug must cost one request, never the server
            log.exception("internal error serving %s %s", request.method, request.path)
            return error_response(errors.internal(str(e)))

    def authenticate(self, request: web.Request) -> auth.UserInfo:
        tokens = self.api.tokens  # type: ignore[attr-defined]
        header = request.headers.get("Authorization", "")
        if tokens is None:
            return ADMIN
        if header.lower().startswith("bearer "):
            user = tokens.authenticate(header[7:].strip())
            if user is None:
                raise errors.unauthorized()
            return user
        ident = _peer_identity(request)
        if ident is not None:
            name, groups = ident
            return auth.authenticated_user(name, groups=groups)
        return auth.ANONYMOUS

    def authorize(self, request: web.Request, user: auth.UserInfo) -> None:
        attrs = requestinfo.request_attributes(method=request.method, path=request.path, query=request.query, user=user)
        decision = self.api.policy.authorize(attrs)  # type: ignore[attr-defined]
        if not decision.allowed:
            raise errors.forbidden(auth.forbidden_message(attrs), group=attrs.api_group, resource=attrs.resource,
                                   name=attrs.name or "")

    async def _route(self, request: web.Request, user: auth.UserInfo) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        self.authorize(request, user)
        if path in HEALTH_PATHS:
            return web.Response(text="ok")
        if path.startswith("/kubesim/"):
            if self.control is None:
                raise errors.ApiError(404, "NotFound", "the simulation layers are not running", {})
            return await self.control(request)
        if request.method == "GET":
            doc = await self._non_resource(request, path)
            if doc is not None:
                return doc
        rp = paths.parse(path, self.api.registry)
        if rp is not None and (rp.group, rp.version) in self.aggregator.proxied_versions():
            return await self.aggregator.proxy(request, rp.group, rp.version, user)
        if rp is None:
            if path.startswith("/apis/"):
                parts = path.split("/")
                if len(parts) == 4 and (parts[2], parts[3]) in self.aggregator.proxied_versions():
                    return await self.aggregator.proxy(request, parts[2], parts[3], user)
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource", {})
        rt = self.api.registry.lookup(rp.group, rp.version, rp.resource)
        if rt is None:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource", {})
        fault = self.faults.decide(method=request.method, resource=rp.resource, name=rp.name or "")
        if fault is not None:
            raise fault
        return await self._resource(request, rt, rp, user)

    def drop_watches(self) -> int:
        """End every open watch stream, as an apiserver restart or a proxy timeout would."""
        dropped = list(self.watchers)
        for w in dropped:
            w.close()
        return len(dropped)

    # -- discovery, openapi, version --------------------------------------------------------------------------
    async def _non_resource(self, request: web.Request, path: str) -> web.StreamResponse | None:
        reg = self.api.registry
        if path == "/version":
            return _json_response(discovery.version_info())
        if path == "/openapi/v3":
            return _json_response(self.openapi.index(reg, self._crd_schemas()))
        if path.startswith("/openapi/v3/"):
            gv = path[len("/openapi/v3/"):]
            doc = self.openapi.document_for_path(reg, gv, self._crd_schemas())
            if doc is None:
                raise errors.ApiError(404, "NotFound", "the server could not find the requested resource", {})
            return web.Response(body=doc, content_type=JSON)
        if path == "/openapi/v2":
            # kubesim publishes its schemas as OpenAPI v3 only. kubectl reads v2 (protobuf only) just to validate
            # items of a `kind: List` client-side; an empty document tells it there are no v2 schemas, so it
            # skips that and the server's own fieldValidation applies instead.
            return web.Response(body=b"", headers={"Content-Type": OPENAPI_V2_PROTOBUF})
        if path in ("/api", "/apis"):
            agg = discovery.negotiate_discovery(request.headers.get("Accept", ""))
            if agg is not None:
                version, ctype = agg
                doc = discovery.aggregated_discovery(reg, legacy=path == "/api",
                                                     extra=self.aggregator.discovery_extra(), version=version)
                return _json_response(doc, content_type=ctype)
            if path == "/api":
                return _json_response(discovery.api_versions())
            return _json_response(discovery.api_group_list(reg, self.aggregator.extra_groups()))
        parts = path.split("/")[1:]
        if parts == ["api", "v1"]:
            return _json_response(discovery.api_resource_list(reg, "", "v1"))
        if len(parts) == 2 and parts[0] == "apis":
            doc = discovery.api_group(reg, parts[1]) if parts[1] in reg.groups() else None
            if doc is None:
                doc = self.aggregator.api_group(parts[1])
            if doc is None:
                raise errors.ApiError(404, "NotFound", "the server could not find the requested resource", {})
            return _json_response(doc)
        if len(parts) == 3 and parts[0] == "apis" and (parts[1], parts[2]) not in self.aggregator.proxied_versions():
            if parts[2] not in reg.groups().get(parts[1], ()):
                raise errors.ApiError(404, "NotFound", "the server could not find the requested resource", {})
            return _json_response(discovery.api_resource_list(reg, parts[1], parts[2]))
        return None

    def _crd_schemas(self) -> dict[tuple[str, str, str], dict[str, Any]]:
        out: dict[tuple[str, str, str], dict[str, Any]] = {}
        for _n, _m, e in self.api.store.bucket("apiextensions.k8s.io/customresourcedefinitions").entries(None):
            spec = e.obj.get("spec") or {}
            for v in spec.get("versions") or ():
                schema = (v.get("schema") or {}).get("openAPIV3Schema")
                if schema:
                    out[(spec.get("group", ""), v["name"], (spec.get("names") or {}).get("kind", ""))] = schema
        return out

    # -- resources ------------------------------------------------------------------------------------------
    async def _resource(self, request: web.Request, rt: ResourceType, rp: paths.ResourcePath,
                        user: auth.UserInfo) -> web.StreamResponse:
        q = request.query
        api = self.api
        ns = rp.namespace or ""
        if rt.namespaced and rp.namespace is None and rp.name is not None:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource", {})
        if not rt.namespaced and rp.namespace is not None:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource", {})
        dry_run = q.get("dryRun") == "All"
        method = request.method
        wanted = negotiation.parse_accept(request.headers.get("Accept"))
        if rp.subresource is not None:
            return await self._subresource(request, rt, rp, ns, dry_run, wanted, user)
        if rp.name is None:
            lq = ListQuery(q.get("labelSelector", ""), q.get("fieldSelector", ""), _int(q.get("limit", "0")),
                           q.get("continue") or None)
            if method == "GET":
                if rp.legacy_watch or q.get("watch") in ("1", "true", "True"):
                    return await listwatch.watch(self, request, rt, rp.namespace, lq, wanted)
                return await listwatch.list_response(self, request, rt, rp.namespace, lq, rp.version, wanted,
                                                     q.get("includeObject"))
            if method == "POST":
                body, warnings = await self._checked_body(request, rt, rp.version, "CreateOptions")
                created = api.create(rt, ns, body, dry_run=dry_run, user=user)
                if created.get("kind") in ("TokenReview", "SubjectAccessReview", "SelfSubjectAccessReview"):
                    return _warned(_json_response(created, 201), warnings)
                return _warned(self._object(rt, created, rp.version, wanted, 201), warnings)
            if method == "DELETE":
                opts = await self._delete_options(request)
                deleted = api.delete_collection(rt, rp.namespace, lq, opts, dry_run=dry_run)
                items = [api.to_version(rt, o, rp.version) for o in deleted]
                return _json_response({"kind": rt.list_kind, "apiVersion": rt.api_version(rp.version),
                                       "metadata": {"resourceVersion": str(api.store.rv)}, "items": items})
            raise errors.method_not_allowed()
        name = rp.name
        if method == "GET":
            entry = api.get(rt, ns if rt.namespaced else "", name)
            return self._object_entry(rt, entry, rp.version, wanted)
        if method == "PUT":
            body, warnings = await self._checked_body(request, rt, rp.version, "UpdateOptions")
            return _warned(self._object(rt, api.update(rt, ns, name, body, dry_run=dry_run), rp.version, wanted),
                           warnings)
        if method == "PATCH":
            body = await request.read()
            check, warnings = self._patch_check(request, rt, rp.version, body)
            patched = api.patch(rt, ns, name, body, request.headers.get("Content-Type", ""), version=rp.version,
                                dry_run=dry_run, check_patched=check)
            return _warned(self._object(rt, patched, rp.version, wanted), warnings)
        if method == "DELETE":
            opts = await self._delete_options(request)
            deleted = api.delete(rt, ns, name, opts, dry_run=dry_run)
            return self._object(rt, deleted, rp.version, wanted)
        raise errors.method_not_allowed()

    async def _subresource(self, request: web.Request, rt: ResourceType, rp: paths.ResourcePath, ns: str,
                           dry_run: bool, wanted: negotiation.Wanted, user: auth.UserInfo) -> web.StreamResponse:
        api, method, sub, name = self.api, request.method, rp.subresource, rp.name
        assert name is not None and sub is not None
        if rt.subresource(sub) is None:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource", {})
        if sub == "status":
            if method == "GET":
                return self._object_entry(rt, api.get(rt, ns if rt.namespaced else "", name), rp.version, wanted)
            if method == "PUT":
                body, warnings = await self._checked_body(request, rt, rp.version, "UpdateOptions")
                updated = api.update(rt, ns, name, body, subresource="status", dry_run=dry_run)
                return _warned(self._object(rt, updated, rp.version, wanted), warnings)
            if method == "PATCH":
                raw = await request.read()
                check, warnings = self._patch_check(request, rt, rp.version, raw)
                patched = api.patch(rt, ns, name, raw, request.headers.get("Content-Type", ""), version=rp.version,
                                    subresource="status", dry_run=dry_run, check_patched=check)
                return _warned(self._object(rt, patched, rp.version, wanted), warnings)
        elif sub == "scale":
            if method == "GET":
                return _json_response(kinds.get_scale(api, rt, ns, name))
            if method == "PUT":
                body = negotiation.decode_body(await request.read(), request.headers.get("Content-Type", ""))
                return _json_response(kinds.update_scale(api, rt, ns, name, body, dry_run=dry_run))
            if method == "PATCH":
                return _json_response(kinds.patch_scale(api, rt, ns, name, await request.read(),
                                                        request.headers.get("Content-Type", ""), dry_run=dry_run))
        elif sub == "eviction" and method == "POST":
            body = negotiation.decode_body(await request.read(), request.headers.get("Content-Type", ""))
            return _json_response(kinds.evict(api, ns, name, body), 201)
        elif sub == "binding" and method == "POST":
            body = negotiation.decode_body(await request.read(), request.headers.get("Content-Type", ""))
            return _json_response(kinds.bind(api, ns, name, body), 201)
        elif sub == "finalize" and method == "PUT":
            body, warnings = await self._checked_body(request, rt, rp.version, "UpdateOptions")
            return _warned(self._object(rt, api.update(rt, ns, name, body, dry_run=dry_run), rp.version, wanted),
                           warnings)
        raise errors.method_not_allowed()

    # -- fieldValidation ------------------------------------------------------------------------------------
    async def _checked_body(self, request: web.Request, rt: ResourceType, version: str,
                            options_kind: str) -> tuple[Any, list[str]]:
        """A create/update body without unknown fields, and the warnings its unknown or duplicate fields earn
        (Strict: 400 instead)."""
        mode = fieldvalidation.directive(request.query.get("fieldValidation"), options_kind=options_kind)
        decoded = fieldvalidation.decode_body(await request.read(), request.headers.get("Content-Type", ""))
        return decoded.obj, fieldvalidation.check_body(mode, decoded, rt=rt, version=version, crd=self._crd(rt))

    def _patch_check(self, request: web.Request, rt: ResourceType, version: str,
                     patch: bytes) -> tuple[Callable[[dict[str, Any], dict[str, Any]], None], list[str]]:
        """The `check_patched` hook for ApiServer.patch and the list its warnings go to."""
        mode = fieldvalidation.directive(request.query.get("fieldValidation"), options_kind="PatchOptions")
        warnings: list[str] = []

        def check(current: dict[str, Any], patched: dict[str, Any]) -> None:
            warnings.extend(fieldvalidation.check_patch(
                mode, patched, current=current, patch=patch, content_type=request.headers.get("Content-Type", ""),
                rt=rt, version=version, crd=self._crd(rt)))
        return check, warnings

    def _crd(self, rt: ResourceType) -> dict[str, Any] | None:
        if not rt.custom:
            return None
        entry = self.api.store.get("apiextensions.k8s.io/customresourcedefinitions", "", f"{rt.resource}.{rt.group}")
        return entry.obj if entry is not None else None

    async def _delete_options(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        opts: dict[str, Any] = {}
        if raw:
            body = negotiation.decode_body(raw, request.headers.get("Content-Type", ""))
            if isinstance(body, dict):
                opts = body
        for key in ("propagationPolicy", "gracePeriodSeconds"):
            if key in request.query:
                opts[key] = request.query[key]
        return opts

    # -- responses ------------------------------------------------------------------------------------------
    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.api.clock(), UTC)

    def _object(self, rt: ResourceType, obj: dict[str, Any], version: str, wanted: negotiation.Wanted,
                code: int = 200) -> web.Response:
        if wanted.as_kind == "Table":
            # upstream prints the stored object whatever version was asked for
            stored = self.api.from_version(rt, obj)
            return _json_response(self.table(rt, [stored], version), code)
        served = self.api.to_version(rt, obj, version)
        if wanted.as_kind.startswith("PartialObjectMetadata"):
            return _json_response(negotiation.partial_metadata(served, wanted.meta_version), code)
        return _json_response(served, code)

    def table(self, rt: ResourceType, objs: list[dict[str, Any]], version: str, *, include_object: str = "Metadata",
               list_meta: dict[str, Any] | None = None, no_headers: bool = False) -> dict[str, Any]:
        """The Table of stored objects as served at `version` (CRDs' printer columns included)."""
        return tables.to_table(rt, objs, now=self._now(), include_object=include_object, list_meta=list_meta,
                               api_version=version, printer_columns=self._printer_columns(rt, version),
                               no_headers=no_headers)

    def _printer_columns(self, rt: ResourceType, version: str) -> list[dict[str, Any]] | None:
        if not rt.custom:
            return None
        crd = self.api.store.get("apiextensions.k8s.io/customresourcedefinitions", "", f"{rt.resource}.{rt.group}")
        if crd is None:
            return None
        for v in (crd.obj.get("spec") or {}).get("versions") or ():
            if v.get("name") == version:
                return v.get("additionalPrinterColumns")
        return None

    def _object_entry(self, rt: ResourceType, entry: Entry, version: str,
                      wanted: negotiation.Wanted) -> web.Response:
        if wanted.as_kind:
            return self._object(rt, entry.obj, version, wanted)
        return web.Response(body=self.api.serve_bytes(rt, entry, version), content_type=JSON)


def _warned(resp: web.Response, warnings: list[str]) -> web.Response:
    for text in dict.fromkeys(warnings):  # upstream's recorder drops repeats
        resp.headers.add("Warning", fieldvalidation.warning_header(text))
    return resp


def _int(v: str | None) -> int:
    try:
        return int(v or 0)
    except ValueError:
        raise errors.bad_request(f'invalid integer value "{v}"') from None


def _peer_identity(request: web.Request) -> tuple[str, list[str]] | None:
    from kubescale import pki

    transport = request.transport
    ssl_obj = transport.get_extra_info("ssl_object") if transport else None
    if ssl_obj is None:
        return None
    return pki.peer_identity(ssl_obj)
