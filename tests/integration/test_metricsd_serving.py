"""metricsd's HTTPS app on loopback: the API over TLS with a real store, callers authenticated by front-proxy
client certificate or by bearer token against an in-process kubesim (TokenReview, SubjectAccessReview with a
token file and a policy), the 401/403/200 paths, health probes and /metrics."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from kubescale import pki
from kubesim.app import KubeSim, SimConfig
from metricsd import authn, serving
from metricsd.decoding import ContainerSample, NodeSample, NodeScrape
from metricsd.objects import NodeMeta, PodMeta
from metricsd.storage import MetricsStore
from metricsd.telemetry import Telemetry

pytestmark = pytest.mark.integration

T0 = 1_633_253_797_000  # ms
S = 1_000_000_000
POLICY = """
- users: [alice]
  verbs: [get, list]
  apiGroups: [metrics.k8s.io]
  resources: [pods]
  namespaces: [default]
- users: [alice]
  verbs: [get, list, watch]
  apiGroups: [metrics.k8s.io]
  resources: [nodes]
- users: [alice]
  verbs: [get]
  nonResourceURLs: [/metrics, /apis, /apis/*]
"""


def scrape(k: int) -> dict[str, NodeScrape]:
    ts = T0 + k * 15_000

    def c(ns: str, pod: str, name: str, rate: float) -> ContainerSample:
        return ContainerSample(ns, pod, name, round((k + 1) * rate * 15 * S), 64 << 20, (T0 - 600_000) * 1_000_000,
                               ts)
    return {"node1": NodeScrape(NodeSample(round((k + 1) * 1.5 * 15 * S), 1 << 30, ts),
                                (c("default", "web", "app", 0.25), c("kube-system", "dns", "dns", 0.01)))}


NODES = {"node1": NodeMeta("node1", {"zone": "a"}, (("InternalIP", "127.0.0.1"),), 10250, None,
                           "2021-01-01T00:00:00Z", 2000, 4 << 30)}
PODS = {("default", "web"): PodMeta("default", "web", {"app": "web"}, "2021-01-01T00:00:00Z", True),
        ("kube-system", "dns"): PodMeta("kube-system", "dns", {}, "2021-01-01T00:00:00Z", True)}


@dataclass
class Health:
    resolution_s: float = 15.0
    started: float | None = None
    synced: bool = True

    def last_tick_start(self) -> float | None:
        return self.started

    def ready(self) -> bool:
        return self.synced


@dataclass
class Env:
    url: str
    kube: KubeSim
    store: MetricsStore
    health: Health
    clock: list[float]
    client_ca: pki.KeyPair
    proxy_cert: tuple[str, str]
    stranger_cert: tuple[str, str]
    server_ca_file: str
    authenticator: authn.Authenticator
    authorizer: authn.Authorizer

    def ssl(self, cert: tuple[str, str] | None = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.server_ca_file)
        if cert is not None:
            ctx.load_cert_chain(*cert)
        return ctx

    async def get(self, path: str, *, cert: tuple[str, str] | None = None, token: str | None = None,
                  headers: Mapping[str, str] | None = None) -> tuple[int, Any, str]:
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        async with aiohttp.ClientSession() as s, s.get(self.url + path, ssl=self.ssl(cert), headers=hdrs) as r:
            text = await r.text()
            try:
                body = json.loads(text)
            except ValueError:
                body = text
            return r.status, body, r.headers.get("Content-Type", "")


def _pair(tmp: Path, name: str, pair: pki.KeyPair) -> tuple[str, str]:
    cert, key = str(tmp / f"{name}.crt"), str(tmp / f"{name}.key")
    pki.write_pair(pair, cert_path=cert, key_path=key)
    return cert, key


async def _serve(app: web.Application, ctx: ssl.SSLContext | None) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"{'https' if ctx else 'http'}://127.0.0.1:{port}"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    (tmp_path / "tokens.csv").write_text('alice-token,alice,u1,"dev"\nbob-token,bob,u2\n')
    (tmp_path / "policy.yaml").write_text(POLICY)
    kube = KubeSim(SimConfig(listen="127.0.0.1:0", kubeconfig_out=str(tmp_path / "kc"),
                             token_file=str(tmp_path / "tokens.csv"),
                             authorization_policy_file=str(tmp_path / "policy.yaml")))
    await kube.start()
    session = aiohttp.ClientSession()

    async def post(path: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        async with session.post(kube.url + path, json=body,
                                headers={"Authorization": f"Bearer {kube.admin_token}"}) as r:
            data = await r.json(content_type=None)
            if r.status >= 400:
                raise RuntimeError(f"{r.status}: {data}")
            return data

    server_ca = pki.generate_ca(common_name="serving-ca")
    server_cert, server_key = _pair(tmp_path, "serving", pki.issue_cert(ca=server_ca, common_name="metricsd",
                                                                       ip_addresses=["127.0.0.1"]))
    (tmp_path / "serving-ca.crt").write_bytes(server_ca.cert_pem)
    client_ca = pki.generate_ca(common_name="front-proxy-ca")
    (tmp_path / "front-proxy-ca.crt").write_bytes(client_ca.cert_pem)
    proxy = _pair(tmp_path, "proxy", pki.issue_cert(ca=client_ca, common_name="front-proxy-client", client=True,
                                                    server=False))
    stranger = _pair(tmp_path, "stranger", pki.issue_cert(ca=client_ca, common_name="someone", client=True,
                                                          server=False))
    store = MetricsStore(metric_resolution_s=15)
    health = Health()
    clock = [T0 / 1000 + 40]
    registry = CollectorRegistry()
    telemetry = Telemetry(store=store, scraper=None, resolution_s=15)
    registry.register(telemetry)
    options = authn.RequestHeaderOptions.from_file(str(tmp_path / "front-proxy-ca.crt"),
                                                   allowed_names=["front-proxy-client"])
    authenticator = authn.Authenticator(post=post, requestheader=options)
    authorizer = authn.Authorizer(post=post)
    app = serving.build_app(store=store, nodes=lambda: NODES, pods=lambda: PODS, authenticator=authenticator,
                            authorizer=authorizer, always_allow_paths=authn.DEFAULT_ALWAYS_ALLOW_PATHS,
                            health=health, registry=registry, telemetry=telemetry, clock=lambda: clock[0])
    ctx = serving.serving_ssl_context(server_cert, server_key, client_ca_files=[str(tmp_path / "front-proxy-ca.crt")])
    runner, url = await _serve(app, ctx)
    try:
        yield Env(url, kube, store, health, clock, client_ca, proxy, stranger, str(tmp_path / "serving-ca.crt"),
                  authenticator, authorizer)
    finally:
        await runner.cleanup()
        await session.close()
        await kube.stop()


def fill(env: Env) -> None:
    env.store.store(scrape(0), now=1.0)
    env.store.store(scrape(1), now=2.0)


PODS_DEFAULT = "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods"


async def test_front_proxy_user_allowed_and_denied_by_subject_access_review(env: Env) -> None:
    fill(env)
    status, body, ctype = await env.get(PODS_DEFAULT, cert=env.proxy_cert, headers={"X-Remote-User": "alice"})
    assert (status, ctype) == (200, "application/json")
    assert body["kind"] == "PodMetricsList"
    assert [i["metadata"]["name"] for i in body["items"]] == ["web"]
    assert body["items"][0]["containers"] == [{"name": "app", "usage": {"cpu": "250m", "memory": "64Mi"}}]
    status, body, _ = await env.get(PODS_DEFAULT, cert=env.proxy_cert, headers={"X-Remote-User": "mallory"})
    assert status == 403
    assert body["message"] == ('pods.metrics.k8s.io is forbidden: User "mallory" cannot list resource "pods" '
                               'in API group "metrics.k8s.io" in the namespace "default"')
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "Forbidden", 403)


async def test_untrusted_certificate_cannot_assert_a_user(env: Env) -> None:
    status, body, _ = await env.get(PODS_DEFAULT, cert=env.stranger_cert, headers={"X-Remote-User": "alice"})
    assert status == 401
    assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
    # without a certificate the headers mean nothing: an anonymous caller, denied
    status, body, _ = await env.get(PODS_DEFAULT, headers={"X-Remote-User": "alice"})
    assert status == 403
    assert 'User "system:anonymous" cannot list resource "pods"' in body["message"]


async def test_bearer_tokens(env: Env) -> None:
    fill(env)
    status, body, _ = await env.get(PODS_DEFAULT, token="alice-token")
    assert status == 200 and [i["metadata"]["name"] for i in body["items"]] == ["web"]
    status, body, _ = await env.get("/apis/metrics.k8s.io/v1beta1/namespaces/kube-system/pods", token="alice-token")
    assert status == 403
    assert body["message"].endswith('in the namespace "kube-system"')
    status, body, _ = await env.get(PODS_DEFAULT, token="nope")
    assert (status, body["reason"]) == (401, "Unauthorized")
    status, body, _ = await env.get("/apis/metrics.k8s.io/v1beta1/nodes/node1", token="bob-token")
    assert status == 403
    assert body["message"] == ('nodes.metrics.k8s.io "node1" is forbidden: User "bob" cannot get resource "nodes" '
                               'in API group "metrics.k8s.io" at the cluster scope')
    assert env.authenticator.reviews == 3  # alice's review was cached for her second request


async def test_objects_errors_and_tables_over_https(env: Env) -> None:
    fill(env)
    alice = {"cert": env.proxy_cert, "headers": {"X-Remote-User": "alice"}}
    status, node, _ = await env.get("/apis/metrics.k8s.io/v1beta1/nodes/node1", **alice)
    assert status == 200
    assert node == {"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                    "metadata": {"name": "node1", "creationTimestamp": "2021-10-03T09:37:17Z",
                                 "labels": {"zone": "a"}},
                    "timestamp": "2021-10-03T09:36:52Z", "window": "15s", "usage": {"cpu": "1500m", "memory": "1Gi"}}
    status, body, _ = await env.get("/apis/metrics.k8s.io/v1beta1/nodes/ghost", **alice)
    assert (status, body["message"]) == (404, 'node "ghost" not found')
    status, body, _ = await env.get(PODS_DEFAULT + "/ghost", **alice)
    assert (status, body["message"]) == (404, 'pods "ghost" not found')
    status, body, _ = await env.get("/apis/metrics.k8s.io/v1beta1/nodes?watch=true", **alice)
    assert (status, body["reason"]) == (405, "MethodNotAllowed")
    status, body, _ = await env.get("/apis/metrics.k8s.io/v1beta1/nodes?fieldSelector=spec.unschedulable%3Dtrue",
                                    **alice)
    assert (status, body["reason"]) == (400, "BadRequest")
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    status, table, _ = await env.get("/apis/metrics.k8s.io/v1beta1/nodes", cert=env.proxy_cert,
                                     headers={"X-Remote-User": "alice", "Accept": accept})
    assert status == 200 and table["kind"] == "Table"
    assert table["rows"][0]["cells"] == ["node1", "1500m", "1Gi", "15s"]


async def test_pod_without_metrics_is_404(env: Env) -> None:
    env.store.store(scrape(0), now=1.0)  # one point only: nothing to serve yet
    status, body, _ = await env.get(PODS_DEFAULT + "/web", cert=env.proxy_cert, headers={"X-Remote-User": "alice"})
    assert (status, body["message"]) == (404, 'podmetrics.metrics.k8s.io "default/web" not found')


async def test_discovery(env: Env) -> None:
    alice = {"cert": env.proxy_cert}
    status, body, _ = await env.get("/apis/metrics.k8s.io/v1beta1", headers={"X-Remote-User": "alice"}, **alice)
    assert status == 200 and [r["name"] for r in body["resources"]] == ["nodes", "pods"]
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
    status, body, ctype = await env.get("/apis", headers={"X-Remote-User": "alice", "Accept": accept}, **alice)
    assert status == 200 and body["kind"] == "APIGroupDiscoveryList"
    assert ctype == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    status, body, _ = await env.get("/apis", headers={"X-Remote-User": "alice"}, **alice)
    assert body["kind"] == "APIGroupList"
    status, body, _ = await env.get("/apis/nothing.here/v1", headers={"X-Remote-User": "alice"}, **alice)
    assert (status, body["reason"]) == (404, "NotFound")


async def test_probes(env: Env) -> None:
    # anonymous callers reach the always-allowed probes without any review
    assert (await env.get("/healthz"))[:2] == (200, "ok")
    assert (await env.get("/livez"))[:2] == (200, "ok")
    status, body, _ = await env.get("/readyz")
    assert status == 500
    assert "[-]metric-storage-ready failed: reason withheld\n" in body and body.endswith("readyz check failed\n")
    fill(env)
    assert (await env.get("/readyz"))[:2] == (200, "ok")
    env.health.started = env.clock[0] - 22.0  # within 1.5 x 15 s
    assert (await env.get("/livez"))[0] == 200
    env.health.started = env.clock[0] - 23.0
    status, body, _ = await env.get("/livez?verbose")
    assert status == 500 and "[-]metric-collection-timely failed" in body
    env.health.synced = False
    assert (await env.get("/healthz"))[0] == 500
    assert env.authorizer.reviews == 0


async def test_metrics_endpoint(env: Env) -> None:
    fill(env)
    for _ in range(2):
        await env.get(PODS_DEFAULT, cert=env.proxy_cert, headers={"X-Remote-User": "alice"})
    status, _, _ = await env.get("/metrics", token="bob-token")
    assert status == 403
    status, text, ctype = await env.get("/metrics", token="alice-token")
    assert status == 200 and ctype.startswith("text/plain")
    assert 'metrics_server_storage_points{type="container"} 2.0' in text
    assert 'metrics_server_storage_points{type="node"} 1.0' in text
    assert "metrics_server_api_metric_freshness_seconds_count 2.0" in text  # one pod per list, two lists
    buckets = {line.split('"')[1]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("metrics_server_api_metric_freshness_seconds_bucket")}
    assert len(buckets) == 21
    # the pod's sample is 25 s old: above 1.364^10 = 22.29, within 1.364^11 = 30.41
    assert [n for le, n in buckets.items() if le.startswith(("22.29", "30.40"))] == [0.0, 2.0]


async def test_api_server_unreachable_for_reviews(env: Env, tmp_path: Path) -> None:
    await env.kube.stop()
    status, _, _ = await env.get(PODS_DEFAULT, token="alice-token")
    assert status == 401  # a TokenReview that fails is a 401
    status, body, _ = await env.get(PODS_DEFAULT, cert=env.proxy_cert, headers={"X-Remote-User": "alice"})
    assert status == 500 and "SubjectAccessReview failed" in body
    env.kube = KubeSim(SimConfig(listen="127.0.0.1:0", kubeconfig_out=str(tmp_path / "kc2")))
    await env.kube.start()  # stopped again by the fixture


async def test_loopback_trust_and_self_signed_certificate(tmp_path: Path) -> None:
    store = MetricsStore(metric_resolution_s=15)
    store.store(scrape(0), now=1.0)
    store.store(scrape(1), now=2.0)
    cert, key = serving.ensure_self_signed(str(tmp_path / "certs"))
    first = Path(cert).read_bytes()
    assert serving.ensure_self_signed(str(tmp_path / "certs")) == (cert, key)
    assert Path(cert).read_bytes() == first  # kept, not regenerated
    app = serving.build_app(store=store, nodes=lambda: NODES, pods=lambda: PODS, authenticator=None,
                            authorizer=None, always_allow_paths=(), health=Health(), registry=CollectorRegistry(),
                            loopback=authn.LoopbackTrust(), clock=lambda: T0 / 1000 + 40)
    runner, url = await _serve(app, serving.serving_ssl_context(cert, key))
    try:
        ca = pki.KeyPair(cert_pem=first.split(b"-----END CERTIFICATE-----\n", 1)[1], key_pem=b"")
        ctx = ssl.create_default_context(cadata=ca.cert_pem.decode())
        async with aiohttp.ClientSession() as s, \
                s.get(url + "/apis/metrics.k8s.io/v1beta1/pods", ssl=ctx, headers={"X-Remote-User": "x"}) as r:
            assert r.status == 200
            body = await r.json()
        assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in body["items"]] == [
            ("default", "web"), ("kube-system", "dns")]
    finally:
        await runner.cleanup()
