"""metricsd's HTTPS server: the metrics.k8s.io API, discovery, health probes and /metrics on one aiohttp app,
behind authentication and authorization; and the TLS serving context (--tls-cert-file or a self-signed pair
in --cert-dir).

Thin: what to answer comes from `metricsd.resources`, who may ask from `metricsd.authn`. The app reads the store
and the metadata caches on the event loop (neither is thread-safe), so one full pod list holds the loop for its
duration.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from kubescale import pki
from kubesim import errors, negotiation, selectors
from kubesim.auth import ANONYMOUS
from kubesim.discovery import negotiate_discovery
from kubesim.requestinfo import request_attributes
from metricsd import authn, resources
from metricsd.objects import NodeMeta, PodMeta
from metricsd.storage import MetricsStore
from metricsd.telemetry import Telemetry

log = logging.getLogger("metricsd.serving")
_PREFIX = f"/apis/{resources.GROUP}/{resources.VERSION}"
_JSON = "application/json"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class HealthSource(Protocol):
    """What the probes read: the scrape loop's last tick start (Unix seconds, None before the first), the
    resolution, and whether the metadata caches have synced."""

    resolution_s: float

    def last_tick_start(self) -> float | None: ...

    def ready(self) -> bool: ...


# --- TLS --------------------------------------------------------------------------------------------------

def serving_ssl_context(cert_file: str, key_file: str, *, client_ca_files: Sequence[str] = ()) -> ssl.SSLContext:
    """TLS >= 1.2 serving context. With `client_ca_files` (the --requestheader-client-ca-file, and any other
    client CA) a client certificate is asked for and must chain to one of them; which CA signed it is checked
    again by the authenticator."""
    ctx = pki.server_ssl_context(cert_file=cert_file, key_file=key_file,
                                 client_ca_file=client_ca_files[0] if client_ca_files else None)
    for extra in client_ca_files[1:]:
        ctx.load_verify_locations(cafile=extra)
    return ctx


# --- health -----------------------------------------------------------------------------------------------

def _probe(name: str, checks: Sequence[tuple[str, str | None]], verbose: bool) -> web.Response:
    """k8s.io/apiserver healthz output: "ok", or each check's line and `<name> check failed` with a 500."""
    failed = any(err is not None for _, err in checks)
    if not failed and not verbose:
        return web.Response(text="ok", content_type="text/plain")
    lines = "".join(f"[+]{check} ok\n" if err is None else f"[-]{check} failed: reason withheld\n"
                    for check, err in checks)
    if failed:
        for check, err in checks:
            if err is not None:
                log.info("failed %s probe %s: %s", name, check, err)
        return web.Response(status=500, text=f"{lines}{name} check failed\n", content_type="text/plain")
    return web.Response(text=f"{lines}{name} check passed\n", content_type="text/plain")


def _version_info() -> dict[str, str]:
    try:
        version = importlib.metadata.version("kubescale")
    except importlib.metadata.PackageNotFoundError:
        version = "0.0.0"
    major, _, rest = version.partition(".")
    return {"major": major, "minor": rest.partition(".")[0], "gitVersion": f"v{version}-kubescale",
            "gitCommit": "", "gitTreeState": "", "buildDate": "", "goVersion": "", "compiler": "",
            "platform": "linux/amd64"}


# --- the app ----------------------------------------------------------------------------------------------

def _status(e: errors.ApiError) -> web.Response:
    return web.Response(status=e.code, body=json.dumps(e.status()).encode(), content_type=_JSON)


def _json(body: bytes | dict[str, Any], content_type: str = _JSON) -> web.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return web.Response(body=data, headers={"Content-Type": content_type})


def _credentials(request: web.Request) -> authn.Credentials:
    cert = None
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport is not None else None
    if ssl_object is not None:
        cert = ssl_object.getpeercert(binary_form=True)
    return authn.Credentials(headers=list(request.headers.items()), peer_cert_der=cert or None,
                             remote=request.remote or "")


def build_app(*, store: MetricsStore, nodes: Callable[[], Mapping[str, NodeMeta]],
              pods: Callable[[], Mapping[tuple[str, str], PodMeta]], authenticator: authn.Authenticator | None,
              authorizer: authn.Authorizer | None, always_allow_paths: Sequence[str], health: HealthSource,
              registry: CollectorRegistry, telemetry: Telemetry | None = None,
              loopback: authn.LoopbackTrust | None = None, node_selector: str = "",
              clock: Callable[[], float] = time.time,
              pods_in: Callable[[str], Mapping[tuple[str, str], PodMeta]] | None = None) -> web.Application:
    """The aiohttp app. Without an authenticator callers are anonymous; without an authorizer everyone may do
    everything (tests, or behind something else). `loopback` trusts loopback callers (kubesim's local mode).
    `node_selector` is --node-selector (label syntax): it restricts node lists as upstream. `pods_in(namespace)`,
    when given, is the pod cache of one namespace, so that a namespaced list (the HPA's, one per HPA and sync)
    does not walk every pod of the cluster."""
    encoder = resources.Encoder()
    selector = selectors.parse_label_selector(node_selector)
    version = _version_info()

    def now_ns() -> int:
        return int(clock() * 1e9)

    def observe(timestamps_ns: Sequence[int] | np.ndarray, at_ns: int) -> None:
        if telemetry is not None:
            telemetry.observe_freshness((at_ns - np.asarray(timestamps_ns, dtype=np.int64)) / 1e9)

    @web.middleware
    async def security(request: web.Request, handler: Handler) -> web.StreamResponse:
        creds = _credentials(request)
        if loopback is not None and authn.is_loopback(creds.remote):
            return await handler(request)  # loopback_user(creds, loopback) is who it is; nothing to check
        try:
            user = await authenticator.authenticate(creds) if authenticator is not None else None
        except authn.Unauthorized as e:
            log.info("unable to authenticate the request to %s from %s: %s", request.path, creds.remote, e)
            return _status(errors.unauthorized())
        user = user or ANONYMOUS
        if authorizer is None or authn.path_always_allowed(request.path, always_allow_paths):
            return await handler(request)
        attrs = request_attributes(method=request.method, path=request.path, query=request.query, user=user)
        try:
            decision = await authorizer.authorize(attrs, user)
        except authn.AuthorizationError as e:
            log.warning("authorization of %s %s for %s failed: %s", request.method, request.path, user.username, e)
            return web.Response(status=500, text=f'Internal Server Error: "{request.path_qs}": {e}\n',
                                content_type="text/plain")
        if not decision.allowed:
            return _status(authn.forbidden(attrs, decision.reason))
        return await handler(request)

    @web.middleware
    async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except errors.ApiError as e:
            return _status(e)
        except web.HTTPNotFound:
            return _status(errors.ApiError(404, "NotFound", "the server could not find the requested resource"))
        except web.HTTPMethodNotAllowed:
            return _status(errors.method_not_allowed())

    # -- discovery ---------------------------------------------------------------------------------------
    async def apis(request: web.Request) -> web.Response:
        negotiated = negotiate_discovery(request.headers.get("Accept", ""))
        if negotiated is not None:
            body, content_type = resources.aggregated_discovery(negotiated[0])
            return _json(body, content_type)
        return _json(resources.api_group_list())

    async def group(request: web.Request) -> web.Response:
        return _json(resources.api_group())

    async def group_version(request: web.Request) -> web.Response:
        return _json(resources.api_resource_list())

    # -- metrics -----------------------------------------------------------------------------------------
    def table_of(request: web.Request) -> str | None:
        wanted = negotiation.parse_accept(request.headers.get("Accept"))
        return wanted.meta_version if wanted.as_kind == "Table" else None

    async def list_nodes(request: web.Request) -> web.Response:
        if resources.is_watch(request.query):
            raise resources.watch_not_supported("nodes")
        selection = resources.parse_selection(request.query)
        metas = resources.select_nodes(nodes(), selection, node_selector=selector)
        metrics = store.node_metrics(m.name for m in metas)
        at = now_ns()
        observe([m.timestamp_ns for m in metrics.values()], at)
        table = table_of(request)
        if table is not None:
            rows = [(meta, metrics[meta.name]) for meta in metas if meta.name in metrics]
            return _json(encoder.node_table(rows, now_ns=at, table_version=table,
                                            include_object=request.query.get("includeObject", "")))
        return _json(encoder.node_list(metas, metrics, now_ns=at))

    async def get_node(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        meta = resources.get_node(nodes(), name)
        metric = store.node_metrics([name]).get(name)
        if metric is None:
            raise resources.node_metrics_not_found(name)
        at = now_ns()
        observe([metric.timestamp_ns], at)
        table = table_of(request)
        if table is not None:
            return _json(encoder.node_table([(meta, metric)], now_ns=at, table_version=table,
                                            include_object=request.query.get("includeObject", "")))
        return _json(encoder.node(meta, metric, now_ns=at))

    async def list_pods(request: web.Request) -> web.Response:
        if resources.is_watch(request.query):
            raise resources.watch_not_supported("pods")
        selection = resources.parse_selection(request.query)
        namespace = request.match_info.get("namespace")
        cache = pods_in(namespace) if pods_in is not None and namespace is not None else pods()
        metas = resources.select_pods(cache, selection, namespace=namespace)
        metrics = store.pod_metrics([(m.namespace, m.name) for m in metas])
        at = now_ns()
        observe(np.fromiter((m.timestamp_ns for m in metrics.values()), np.int64, len(metrics)), at)
        table = table_of(request)
        if table is not None:
            rows = [(meta, m) for meta in metas if (m := metrics.get((meta.namespace, meta.name))) is not None]
            body = encoder.pod_table(rows, now_ns=at, table_version=table,
                                     include_object=request.query.get("includeObject", ""))
        else:
            body = encoder.pod_list(metas, metrics, now_ns=at)
        encoder.trim(nodes().values(), cache.values())
        return _json(body)

    async def get_pod(request: web.Request) -> web.Response:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        meta = resources.get_pod(pods(), namespace, name)
        metric = store.pod_metrics([(namespace, name)]).get((namespace, name))
        if metric is None:
            raise resources.pod_metrics_not_found(namespace, name)
        at = now_ns()
        observe([metric.timestamp_ns], at)
        table = table_of(request)
        if table is not None:
            return _json(encoder.pod_table([(meta, metric)], now_ns=at, table_version=table,
                                           include_object=request.query.get("includeObject", "")))
        return _json(encoder.pod(meta, metric, now_ns=at))

    # -- probes, /metrics, /version ----------------------------------------------------------------------
    def common_checks() -> list[tuple[str, str | None]]:
        return [("ping", None), ("log", None),
                ("metadata-informer-sync", None if health.ready() else "caches not synced")]

    def verbose(request: web.Request) -> bool:
        return "verbose" in request.query

    async def healthz(request: web.Request) -> web.Response:
        return _probe("healthz", common_checks(), verbose(request))

    async def livez(request: web.Request) -> web.Response:
        started = health.last_tick_start()
        late = started is not None and clock() - started > 1.5 * health.resolution_s
        timely = "metric collection didn't finish on time" if late else None
        return _probe("livez", [*common_checks(), ("metric-collection-timely", timely)], verbose(request))

    async def readyz(request: web.Request) -> web.Response:
        stored = None if store.ready() else "no metrics to serve"
        return _probe("readyz", [*common_checks(), ("metric-storage-ready", stored), ("shutdown", None)],
                      verbose(request))

    async def metrics_endpoint(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def version_endpoint(request: web.Request) -> web.Response:
        return _json(version)

    app = web.Application(middlewares=[security, api_errors])
    app.add_routes([
        web.get("/apis", apis), web.get("/apis/", apis),
        web.get(f"/apis/{resources.GROUP}", group), web.get(f"/apis/{resources.GROUP}/", group),
        web.get(_PREFIX, group_version), web.get(_PREFIX + "/", group_version),
        web.get(_PREFIX + "/nodes", list_nodes), web.get(_PREFIX + "/nodes/{name}", get_node),
        web.get(_PREFIX + "/pods", list_pods),
        web.get(_PREFIX + "/namespaces/{namespace}/pods", list_pods),
        web.get(_PREFIX + "/namespaces/{namespace}/pods/{name}", get_pod),
        web.get("/healthz", healthz), web.get("/livez", livez), web.get("/readyz", readyz),
        web.get("/metrics", metrics_endpoint), web.get("/version", version_endpoint),
    ])
    return app


ensure_self_signed = pki.ensure_self_signed

__all__ = ["HealthSource", "build_app", "ensure_self_signed", "serving_ssl_context"]
