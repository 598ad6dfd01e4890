"""`kubescale metrics-server`: wires the parts together — Node and Pod caches (list+watch), the scrape loop, the
store, the HTTPS app with delegated authentication and authorization, and the optional APIService registration.

Thin: every decision lives in the modules it calls. Credentials are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import ssl
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from prometheus_client import CollectorRegistry

from kubescale import kubeconfig
from kubescale.informing import Informer
from kubescale.kubeclient import ApiError, KubeClient
from metricsd import authn, registration, serving, targets
from metricsd.manager import Manager
from metricsd.objects import NodeMeta, PodMeta, node_meta, pod_meta
from metricsd.options import MetricsServerConfig
from metricsd.scraping import KubeletClientOptions, Scraper
from metricsd.storage import MetricsStore
from metricsd.telemetry import Telemetry

log = logging.getLogger("metricsd")
_AUTH_CONFIGMAP = "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"


class StartError(RuntimeError):
    """metricsd cannot start: a bad kubeconfig, certificate, or an unreachable API server."""


class _ScraperState:
    """metricsd.telemetry's view of the scraper."""

    def __init__(self, scraper: Scraper) -> None:
        self._scraper = scraper

    def node_requests(self) -> Mapping[str, tuple[float, float]]:
        return {n: (r.duration_s, r.time_s) for n, r in self._scraper.last_requests.items()}

    def request_totals(self) -> Mapping[bool, int]:
        return {k == "true": v for k, v in self._scraper.requests_total.items()}


class _Health:
    def __init__(self, manager: Manager, informers: tuple[Informer[Any], ...]) -> None:
        self.resolution_s = manager.resolution_s
        self._manager = manager
        self._informers = informers

    def last_tick_start(self) -> float | None:
        return self._manager.last_tick_start

    def ready(self) -> bool:
        return all(i.synced() for i in self._informers)


def _kubelet_options(config: MetricsServerConfig, cluster: kubeconfig.ClusterConfig) -> KubeletClientOptions:
    """The --kubelet-* flags over the kubeconfig's CA and token, as upstream copies the rest config."""
    k = config.kubelet
    insecure = k.completely_insecure
    ca_text = None
    if not (insecure or k.insecure_tls or k.ca_file or k.ca_text) and cluster.ca_data:
        ca_text = cluster.ca_data.decode()
    return KubeletClientOptions(
        port=k.port, use_node_status_port=k.use_node_status_port, address_types=k.address_types,
        insecure_tls=k.insecure_tls, completely_insecure=insecure, ca_file=k.ca_file, ca_text=k.ca_text or ca_text,
        client_cert_file=k.client_cert_file, client_key_file=k.client_key_file,
        token=None if insecure else cluster.token, token_file=None if insecure else cluster.token_file,
        timeout_s=k.request_timeout_s, jitter_s=min(4.0, 0.1 * config.metric_resolution_s))


class MetricsServer:
    """One metricsd process: `start()` returns the URL it serves on; `stop()` undoes it."""

    def __init__(self, config: MetricsServerConfig, *, environ: Mapping[str, str]) -> None:
        self.config = config
        self.environ = environ
        self.store = MetricsStore(metric_resolution_s=config.metric_resolution_s)
        self.url = ""
        self._clients: list[KubeClient] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self._informers: tuple[Informer[NodeMeta], Informer[PodMeta]] | None = None
        self._scraper: Scraper | None = None

    def _client(self, path: str | None) -> KubeClient:
        try:
            cluster = kubeconfig.load(path, context=self.config.context, environ=self.environ)
        except kubeconfig.KubeconfigError as e:
            raise StartError(str(e)) from None
        client = KubeClient(cluster, user_agent="kubescale-metrics-server")
        self._clients.append(client)
        return client

    async def _requestheader(self, client: KubeClient) -> authn.RequestHeaderOptions | None:
        """--requestheader-client-ca-file, else kube-system/extension-apiserver-authentication (as the delegating
        authenticator looks it up)."""
        a = self.config.auth
        if a.requestheader_client_ca_file:
            opts = authn.RequestHeaderOptions.from_file(a.requestheader_client_ca_file,
                                                        allowed_names=a.requestheader_allowed_names)
        elif a.authentication_skip_lookup:
            return None
        else:
            try:
                data = (await client.get(_AUTH_CONFIGMAP)).get("data") or {}
            except (ApiError, OSError, TimeoutError) as e:
                if a.authentication_tolerate_lookup_failure:
                    log.warning("Unable to get configmap/extension-apiserver-authentication in kube-system: %s", e)
                    return None
                raise StartError(f"unable to load configmap based request-header-client-ca-file: {e}") from None
            pem = data.get("requestheader-client-ca-file")
            if not pem:
                return None
            names = tuple(json.loads(data.get("requestheader-allowed-names") or "[]"))
            opts = authn.RequestHeaderOptions(ca_certs=tuple(x509.load_pem_x509_certificates(pem.encode())),
                                              allowed_names=a.requestheader_allowed_names or names)
        return authn.RequestHeaderOptions(
            ca_certs=opts.ca_certs, allowed_names=opts.allowed_names,
            username_headers=a.requestheader_username_headers, group_headers=a.requestheader_group_headers,
            extra_headers_prefixes=a.requestheader_extra_headers_prefix)

    def _ssl(self, requestheader: authn.RequestHeaderOptions | None) -> tuple[ssl.SSLContext, bytes | None]:
        """The serving context, and the CA bundle to register (our self-signed certificate, or None)."""
        s = self.config.serving
        ca_bundle = None
        if s.tls_cert_file and s.tls_private_key_file:
            cert, key = s.tls_cert_file, s.tls_private_key_file
        else:
            r = self.config.registration
            cert, key = serving.ensure_self_signed(
                s.cert_dir, alternate_ips=("127.0.0.1", s.bind_address) if s.bind_address[:1].isdigit() else
                ("127.0.0.1",), alternate_dns=(f"{r.service}.{r.namespace}.svc", "localhost"))
            with open(cert, "rb") as f:
                ca_bundle = f.read()
        ctx = serving.serving_ssl_context(cert, key)
        if requestheader is not None:  # ask for (never require) a client certificate signed by the front proxy CA
            ctx.verify_mode = ssl.CERT_OPTIONAL
            ctx.load_verify_locations(cadata="".join(c.public_bytes(Encoding.PEM).decode()
                                                     for c in requestheader.ca_certs))
        return ctx, ca_bundle

    async def start(self) -> str:
        c = self.config
        client = self._client(c.kubeconfig)
        authn_client = self._client(c.auth.authentication_kubeconfig) if c.auth.authentication_kubeconfig else client
        authz_client = self._client(c.auth.authorization_kubeconfig) if c.auth.authorization_kubeconfig else client
        try:
            selector = targets.parse_node_selector(c.kubelet.node_selector)
        except ValueError as e:
            raise StartError(f"--node-selector: {e}") from None
        nodes = Informer(client, "/api/v1/nodes", node_meta, name="nodes")
        pods = Informer(client, "/api/v1/pods", pod_meta, params={"fieldSelector": "status.phase=Running"},
                        name="pods")
        by_namespace: dict[str, dict[tuple[str, str], PodMeta]] = {}

        def index_pod(kind: str, old: PodMeta | None, new: PodMeta | None) -> None:
            meta = new if new is not None else old
            assert meta is not None
            bucket = by_namespace.setdefault(meta.namespace, {})
            if new is None:
                bucket.pop((meta.namespace, meta.name), None)
            else:
                bucket[(meta.namespace, meta.name)] = new

        pods.add_handler(index_pod)
        self._informers = (nodes, pods)
        self._scraper = Scraper(_kubelet_options(c, client.config))
        telemetry = Telemetry(store=self.store, scraper=_ScraperState(self._scraper),
                              resolution_s=c.metric_resolution_s)
        manager = Manager(scraper=self._scraper, store=self.store, nodes=lambda: list(nodes.items.values()),
                          resolution_s=c.metric_resolution_s, node_selector=selector, on_tick=telemetry.observe_tick)
        registry = CollectorRegistry()
        registry.register(telemetry)

        async def post(path: str, body: Any) -> Any:
            return await (authz_client if "authorization" in path else authn_client).request("POST", path, body=body)

        loopback = authn.LoopbackTrust() if c.auth.trust_loopback else None
        requestheader = None if loopback else await self._requestheader(client)
        ctx, ca_bundle = self._ssl(requestheader)
        authenticator = authn.Authenticator(post=post, requestheader=requestheader,
                                            cache_ttl_s=c.auth.token_cache_ttl_s)
        authorizer = authn.Authorizer(post=post, always_allow_paths=c.auth.always_allow_paths,
                                      allow_ttl_s=c.auth.authorized_cache_ttl_s,
                                      deny_ttl_s=c.auth.unauthorized_cache_ttl_s)
        app = serving.build_app(
            store=self.store, nodes=lambda: {k[1]: v for k, v in nodes.items.items()}, pods=lambda: pods.items,
            authenticator=authenticator, authorizer=authorizer, always_allow_paths=c.auth.always_allow_paths,
            health=_Health(manager, self._informers), registry=registry, telemetry=telemetry, loopback=loopback,
            node_selector=c.kubelet.node_selector, pods_in=lambda ns: by_namespace.get(ns, {}))
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, c.serving.bind_address, c.serving.secure_port, ssl_context=ctx)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        host = c.serving.bind_address
        self.url = f"https://{f'[{host}]' if ':' in host else host}:{port}"
        await nodes.start()
        await pods.start()
        if not (await nodes.wait_synced(30) and await pods.wait_synced(60)):
            log.warning("Node and Pod caches have not synced yet; serving what arrives")
        self._tasks.append(asyncio.create_task(manager.run(), name="metricsd-scrape"))
        if c.registration.enabled:
            address = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
            try:
                await registration.register(client, namespace=c.registration.namespace,
                                            service=c.registration.service, address=address, port=port,
                                            ca_bundle=ca_bundle)
            except (ApiError, OSError, TimeoutError) as e:
                raise StartError(f"--register-apiservice: {e}") from None
        return self.url

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for informer in self._informers or ():
            await informer.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._scraper is not None:
            await self._scraper.close()
        for client in self._clients:
            await client.close()


async def run_forever(config: MetricsServerConfig, *, environ: Mapping[str, str]) -> int:
    server = MetricsServer(config, environ=environ)
    try:
        url = await server.start()
    except StartError as e:
        log.error("%s", e)
        await server.stop()
        print(f"kubescale metrics-server: {e}", flush=True)
        return 1
    print(f"metricsd ready: {url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    started = time.monotonic()
    await stop.wait()
    log.info("stopping after %.0f s", time.monotonic() - started)
    await server.stop()
    return 0


__all__ = ["MetricsServer", "StartError", "run_forever"]
