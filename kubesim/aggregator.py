"""API aggregation as kube-aggregator does it: an APIService with `spec.service` resolves through its
Service and Endpoints to a backend; requests under its group-version are proxied there with the caller's
identity in `X-Remote-User`/`X-Remote-Group`; a periodic check keeps the `Available` condition honest and
caches the backend's discovery document.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from kubesim import discovery, errors

if TYPE_CHECKING:
    from kubesim.apiserver import ApiServer
    from kubesim.auth import UserInfo

log = logging.getLogger("kubesim.aggregator")
APISERVICES = "apiregistration.k8s.io/apiservices"
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "authorization",
                "upgrade", "te", "trailer", "proxy-authorization", "proxy-authenticate", "content-encoding"}


@dataclass(frozen=True)
class Backend:
    url: str
    ssl: ssl.SSLContext
    server_hostname: str


class Aggregator:
    """Resolves, checks and proxies the APIServices that name a Service."""

    def __init__(self, api: ApiServer, *, proxy_client_cert: tuple[str, str] | None = None) -> None:
        self.api = api
        self.proxy_client_cert = proxy_client_cert
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._contexts: dict[tuple[bool, str], ssl.SSLContext] = {}

    def _session_get(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=5))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def apiservices(self) -> list[dict[str, Any]]:
        return [e.obj for _n, _m, e in self.api.store.bucket(APISERVICES).entries(None)
                if (e.obj.get("spec") or {}).get("service")]

    def proxied_versions(self) -> set[tuple[str, str]]:
        return {((s["spec"].get("group") or ""), s["spec"].get("version") or "") for s in self.apiservices()}

    def _available(self, svc: dict[str, Any]) -> bool:
        conds = (svc.get("status") or {}).get("conditions") or ()
        return any(c.get("type") == "Available" and c.get("status") == "True" for c in conds)

    def extra_groups(self) -> list[dict[str, Any]]:
        """APIGroup entries for the legacy /apis list, one per aggregated group."""
        by_group: dict[str, list[str]] = {}
        for s in self.apiservices():
            by_group.setdefault(s["spec"]["group"], []).append(s["spec"]["version"])
        return [self._group_doc(g, vs) for g, vs in sorted(by_group.items())]

    def api_group(self, group: str) -> dict[str, Any] | None:
        versions = [s["spec"]["version"] for s in self.apiservices() if s["spec"]["group"] == group]
        return self._group_doc(group, versions) if versions else None

    @staticmethod
    def _group_doc(group: str, versions: list[str]) -> dict[str, Any]:
        gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": gvs, "preferredVersion": gvs[0]}

    def discovery_extra(self) -> list[dict[str, Any]]:
        """Aggregated-discovery groups for the backends, from the last successful discovery check."""
        groups: dict[str, dict[str, Any]] = {}
        for s in self.apiservices():
            g, v = s["spec"]["group"], s["spec"]["version"]
            rl = self.resources.get((g, v))
            freshness = "Current" if self._available(s) and rl is not None else "Stale"
            entry = groups.setdefault(g, {"metadata": {"name": g}, "versions": []})
            entry["versions"].append(discovery.resource_list_to_discovery_version(
                rl or {"groupVersion": f"{g}/{v}", "resources": []}, freshness))
        return list(groups.values())

    # -- resolution -----------------------------------------------------------------------------------------
    def resolve(self, apiservice: dict[str, Any]) -> Backend:
        spec = apiservice["spec"]
        ref = spec["service"]
        ns, name, port = ref.get("namespace", ""), ref.get("name", ""), int(ref.get("port") or 443)
        svc = self.api.store.get("/services", ns, name)
        if svc is None:
            raise _unavailable(f'service/{name} in "{ns}" is not present')
        svc_port = next((p for p in (svc.obj.get("spec") or {}).get("ports") or () if p.get("port") == port), None)
        if svc_port is None:
            raise _unavailable(f'service/{name} in "{ns}" is not listening on port {port}')
        eps = self.api.store.get("/endpoints", ns, name)
        for subset in (eps.obj.get("subsets") or ()) if eps else ():
            addrs = subset.get("addresses") or ()
            ports = subset.get("ports") or ()
            ep_port = next((p for p in ports if p.get("name", "") == svc_port.get("name", "")), None)
            if ep_port is None and len(ports) == 1:
                ep_port = ports[0]
            if addrs and ep_port is not None:
                host = addrs[0]["ip"]
                url = f"https://{host}:{ep_port['port']}"
                return Backend(url, self._ssl(spec), f"{name}.{ns}.svc")
        raise _unavailable(f'endpoints for service/{name} in "{ns}" have no addresses with port name '
                           f'"{svc_port.get("name", "")}"')

    def _ssl(self, spec: dict[str, Any]) -> ssl.SSLContext:
        """One context per trust setting: building one costs ~20 ms (the system CA store), and reusing it lets
        the proxy keep its connections to a backend alive instead of a TLS handshake per request."""
        key = (bool(spec.get("insecureSkipTLSVerify")), str(spec.get("caBundle") or ""))
        ctx = self._contexts.get(key)
        if ctx is None:
            ctx = self._contexts[key] = self._new_ssl(spec)
        return ctx

    def _new_ssl(self, spec: dict[str, Any]) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        if spec.get("insecureSkipTLSVerify"):
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif spec.get("caBundle"):
            ctx = ssl.create_default_context(cadata=base64.b64decode(spec["caBundle"]).decode())
        if self.proxy_client_cert is not None:
            ctx.load_cert_chain(*self.proxy_client_cert)
        return ctx

    def _find(self, group: str, version: str) -> dict[str, Any]:
        for s in self.apiservices():
            if s["spec"].get("group") == group and s["spec"].get("version") == version:
                return s
        raise errors.ApiError(404, "NotFound", "the server could not find the requested resource", {})

    # -- proxy ----------------------------------------------------------------------------------------------
    async def proxy(self, request: web.Request, group: str, version: str, user: UserInfo) -> web.StreamResponse:
        backend = self.resolve(self._find(group, version))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS
                   and not k.lower().startswith("x-remote-")}
        headers["X-Remote-User"] = user.username
        headers["X-Forwarded-For"] = request.remote or ""
        body = await request.read()
        url = backend.url + request.rel_url.path_qs
        try:
            upstream = await self._session_get().request(
                request.method, url, data=body or None, headers=list(headers.items()) + [
                    ("X-Remote-Group", g) for g in user.groups], ssl=backend.ssl,
                server_hostname=backend.server_hostname, allow_redirects=False)
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            log.info("aggregated API %s/%s unreachable: %s", group, version, e)
            raise _unavailable("service unavailable") from None
        async with upstream:
            resp = web.StreamResponse(status=upstream.status)
            for k, v in upstream.headers.items():
                if k.lower() not in _HOP_HEADERS:
                    resp.headers[k] = v
            await resp.prepare(request)
            with contextlib.suppress(ConnectionResetError, aiohttp.ClientPayloadError):
                async for chunk in upstream.content.iter_any():
                    await resp.write(chunk)
            await resp.write_eof()
            return resp

    # -- availability ---------------------------------------------------------------------------------------
    async def run(self, interval_s: float) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self.check_all()
            await asyncio.sleep(interval_s)

    async def check_all(self) -> None:
        for s in self.apiservices():
            await self.check(s)

    async def check(self, svc: dict[str, Any]) -> None:
        g, v = svc["spec"]["group"], svc["spec"]["version"]
        try:
            backend = self.resolve(svc)
        except errors.ApiError as e:
            reason = "ServiceNotFound" if "not present" in e.message else "MissingEndpoints"
            self._set_condition(svc, "False", reason, e.message)
            return
        url = f"{backend.url}/apis/{g}/{v}"
        try:
            # as kube-aggregator's availability check: the system:masters identity always has access rights
            headers = {"X-Remote-User": "system:kube-aggregator", "X-Remote-Group": "system:masters"}
            async with self._session_get().get(url, ssl=backend.ssl, server_hostname=backend.server_hostname,
                                               headers=headers, timeout=aiohttp.ClientTimeout(total=5)) as r:
                body = await r.json(content_type=None) if r.status == 200 else None
                if r.status != 200:
                    raise OSError(f"bad status from {url}: {r.status}")
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as e:
            self._set_condition(svc, "False", "FailedDiscoveryCheck",
                                f"failing or missing response from {url}: {e or type(e).__name__}")
            return
        if isinstance(body, dict):
            self.resources[(g, v)] = body
        self._set_condition(svc, "True", "Passed", "all checks passed")

    def _set_condition(self, svc: dict[str, Any], status: str, reason: str, message: str) -> None:
        rt = self.api.registry.get("apiregistration.k8s.io", "apiservices")
        entry = self.api.store.get(APISERVICES, "", svc["metadata"]["name"])
        if rt is None or entry is None:
            return
        old = next((c for c in (entry.obj.get("status") or {}).get("conditions") or ()
                    if c.get("type") == "Available"), {})
        if (old.get("status"), old.get("reason"), old.get("message")) == (status, reason, message):
            return
        if status != "True":
            self.resources.pop((svc["spec"]["group"], svc["spec"]["version"]), None)
        cond = {"type": "Available", "status": status, "reason": reason, "message": message,
                "lastTransitionTime": old.get("lastTransitionTime") if old.get("status") == status
                else self.api.now()}
        new = {**entry.obj, "status": {"conditions": [cond]}}
        self.api._write_update(rt, entry, new, subresource="status", dry_run=False)


def _unavailable(message: str) -> errors.ApiError:
    return errors.service_unavailable(message)
