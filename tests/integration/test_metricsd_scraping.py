"""metricsd scraping and its tick loop against tiny kubelets on 127.0.0.1: healthy, slow, failing, garbage,
oversized and TLS ones."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import random
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from kubescale import pki
from metricsd.manager import Manager
from metricsd.objects import NodeMeta
from metricsd.scraping import KubeletClientOptions, Scraper, ScrapeRound
from metricsd.storage import MetricsStore
from metricsd.targets import parse_node_selector

TIMEOUT_S = 0.5
MARGIN_S = 0.5
LABELS = 'container="coredns",namespace="kube-system",pod="coredns-558bd4d5db-4dpjz"'

# a kubelet's /metrics/resource as recorded (v1.22), its counters advanced and re-dated on every request
RECORDED = """\
# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{%(labels)s} %(container_cpu)s %(ts)s
# HELP container_memory_working_set_bytes [STABLE] Current working set of the container in bytes
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{%(labels)s} 1.0276864e+07 %(ts)s
# HELP container_start_time_seconds [STABLE] Start time of the container since unix epoch in seconds
# TYPE container_start_time_seconds gauge
container_start_time_seconds{%(labels)s} 1.6332537e+09 1633253700000
# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total %(node_cpu)s %(ts)s
# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 1.616273408e+09 %(ts)s
# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise
# TYPE resource_scrape_error gauge
resource_scrape_error 0
"""


@dataclass
class Kubelet:
    """A fake kubelet with real state: what it answers (`mode`), the connections and headers it saw."""

    mode: str = "ok"  # ok | slow | error | garbage | huge | untimed
    require_auth: tuple[str, str] | None = None  # (client CN, token) a TLS kubelet insists on
    port: int = 0
    requests: int = 0
    peers: set[tuple[str, int]] = field(default_factory=set)
    authorizations: list[str | None] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        assert request.transport is not None
        self.peers.add(request.transport.get_extra_info("peername")[:2])
        self.authorizations.append(request.headers.get("Authorization"))
        if self.require_auth is not None:
            cn, token = self.require_auth
            identity = pki.peer_identity(request.transport.get_extra_info("ssl_object"))
            if identity is None or identity[0] != cn or request.headers.get("Authorization") != f"Bearer {token}":
                return web.Response(status=401, text="Unauthorized")
        if self.mode == "slow":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), 10)
        if self.mode == "error":
            return web.Response(status=500, text="internal error")
        if self.mode == "garbage":
            return web.Response(text="node_cpu_usage_seconds_total{oops 12\n")
        if self.mode == "huge":
            return web.Response(text="# " + "x" * 10000 + "\n")
        n = self.requests
        ts = "" if self.mode == "untimed" else str(int(time.time() * 1000))
        text = RECORDED % {"labels": LABELS, "container_cpu": 6.009560305 + 0.25 * n,
                           "node_cpu": 357.35491 + 0.5 * n, "ts": ts}
        return web.Response(text=text, content_type="text/plain")


Start = Callable[..., Awaitable[Kubelet]]


@pytest.fixture
async def start_kubelet() -> AsyncIterator[Start]:
    runners: list[tuple[web.AppRunner, Kubelet]] = []

    async def start(mode: str = "ok", *, ssl_context: ssl.SSLContext | None = None,
                    require_auth: tuple[str, str] | None = None) -> Kubelet:
        kubelet = Kubelet(mode=mode, require_auth=require_auth)
        app = web.Application()
        app.router.add_get("/metrics/resource", kubelet.handle)
        app.router.add_get("/custom/path", kubelet.handle)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        kubelet.port = runner.addresses[0][1]
        runners.append((runner, kubelet))
        return kubelet

    yield start
    for runner, kubelet in runners:
        kubelet.release.set()
        await runner.cleanup()


def _node(name: str, port: int, *, address: str = "127.0.0.1", path: str | None = None) -> NodeMeta:
    return NodeMeta(name=name, labels={}, addresses=(("InternalIP", address),) if address else (),
                    kubelet_port=port, metrics_path=path, creation_timestamp="", allocatable_cpu_millis=None,
                    allocatable_memory_bytes=None)


def _http(**kwargs: object) -> KubeletClientOptions:
    return KubeletClientOptions(completely_insecure=True, use_node_status_port=True, address_types=("InternalIP",),
                                timeout_s=TIMEOUT_S, jitter_s=0.0, token="not-sent", **kwargs)  # type: ignore[arg-type]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_one_round_keeps_healthy_nodes_and_names_the_bad_ones(start_kubelet: Start) -> None:
    ok1, ok2 = await start_kubelet(), await start_kubelet()
    slow, error, garbage, huge = [await start_kubelet(m) for m in ("slow", "error", "garbage", "huge")]
    nodes = [_node("ok-1", ok1.port), _node("ok-2", ok2.port, path="/custom/path"), _node("slow", slow.port),
             _node("error", error.port), _node("garbage", garbage.port), _node("huge", huge.port),
             _node("refused", _free_port()), _node("no-address", 1, address="")]
    scraper = Scraper(_http(max_body_bytes=4000))
    try:
        started = time.monotonic()
        result = await scraper.scrape(nodes, now=time.time())
        elapsed = time.monotonic() - started
    finally:
        await scraper.close()
    assert sorted(result.batch) == ["ok-1", "ok-2"]
    assert result.batch["ok-1"].node is not None and len(result.batch["ok-2"].containers) == 1
    f = result.failures
    assert sorted(f) == ["error", "garbage", "huge", "no-address", "refused", "slow"]
    assert f["slow"] == (f'Get "http://127.0.0.1:{slow.port}/metrics/resource": context deadline exceeded '
                         f"(timeout {TIMEOUT_S:g}s)")
    assert f["error"] == 'request failed, status: "500 Internal Server Error"'
    assert f["garbage"].startswith(f"failed to decode the response of http://127.0.0.1:{garbage.port}/metrics/resource:"
                                   " line 1: malformed node_cpu_usage_seconds_total sample")
    assert f["huge"] == "response body larger than 4000 bytes"
    assert f["refused"].startswith('Get "http://127.0.0.1:') and "Cannot connect" in f["refused"]
    assert f["no-address"] == "no address matched types [InternalIP]"
    assert elapsed < TIMEOUT_S + MARGIN_S
    assert result.duration_s <= elapsed
    assert scraper.requests_total == {"true": 2, "false": 6}
    assert set(scraper.last_requests) == {n.name for n in nodes}
    assert scraper.failures == f
    assert 0 < scraper.last_requests["slow"].duration_s < TIMEOUT_S + MARGIN_S
    assert ok1.authorizations == [None]  # plain http never carries credentials


async def test_connections_are_reused_across_rounds(start_kubelet: Start) -> None:
    kubelets = [await start_kubelet() for _ in range(3)]
    nodes = [_node(f"n{i}", k.port) for i, k in enumerate(kubelets)]
    scraper = Scraper(_http())
    try:
        for _ in range(4):
            result = await scraper.scrape(nodes, now=time.time())
            assert not result.failures
    finally:
        await scraper.close()
    assert [(k.requests, len(k.peers)) for k in kubelets] == [(4, 1)] * 3


async def test_the_request_start_time_dates_untimed_samples(start_kubelet: Start) -> None:
    kubelet = await start_kubelet("untimed")
    scraper = Scraper(_http())
    now = 1_700_000_000.0  # the round's wall clock; each request's start is derived from it
    try:
        result = await scraper.scrape([_node("n", kubelet.port)], now=now)
    finally:
        await scraper.close()
    node = result.batch["n"].node
    assert node is not None and int(now * 1000) <= node.timestamp_ms < int(now * 1000) + 1000
    assert result.batch["n"].containers[0].timestamp_ms == node.timestamp_ms
    request = scraper.last_requests["n"]
    assert request.error is None and now <= request.time_s < now + 1


async def test_a_failure_is_logged_when_it_starts_and_when_it_ends(start_kubelet: Start,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    kubelet = await start_kubelet()
    nodes = [_node("flaky", kubelet.port)]
    scraper = Scraper(_http())
    logged: list[list[str]] = []
    try:
        for mode in ("ok", "error", "error", "error", "ok", "ok", "slow"):
            kubelet.mode = mode
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="metricsd.scraping"):
                await scraper.scrape(nodes, now=time.time())
            logged.append([r.getMessage() for r in caplog.records])
    finally:
        await scraper.close()
    assert logged == [
        [], ['Failed to scrape node err="request failed, status: "500 Internal Server Error"" node="flaky"'], [], [],
        ['Scraping node recovered node="flaky"'], [],
        [f'Failed to scrape node, timeout to access kubelet err="Get "http://127.0.0.1:{kubelet.port}/metrics/resource":'
         f' context deadline exceeded (timeout 0.5s)" node="flaky" timeout="0.5s"'],
    ]
    assert scraper.requests_total == {"true": 3, "false": 4}


async def test_only_the_last_rounds_nodes_are_kept(start_kubelet: Start) -> None:
    a, b = await start_kubelet(), await start_kubelet("error")
    scraper = Scraper(_http())
    try:
        await scraper.scrape([_node("a", a.port), _node("b", b.port)], now=time.time())
        assert set(scraper.last_requests) == {"a", "b"} and set(scraper.failures) == {"b"}
        await scraper.scrape([_node("a", a.port)], now=time.time())
    finally:
        await scraper.close()
    assert set(scraper.last_requests) == {"a"} and scraper.failures == {}


class RecordingRandom(random.Random):
    """A seeded Random that remembers the bounds asked of uniform()."""

    def __init__(self) -> None:
        super().__init__(7)
        self.bounds: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.bounds.append((a, b))
        return super().uniform(a, b)


@pytest.mark.parametrize(("nodes", "jitter_s", "spread"), [
    pytest.param(3, 4.0, 0.024, id="8ms-per-node"),
    pytest.param(3, 0.01, 0.01, id="capped-by-jitter"),
])
async def test_requests_are_spread_as_upstream(start_kubelet: Start, nodes: int, jitter_s: float,
                                               spread: float) -> None:
    kubelet = await start_kubelet()
    rng = RecordingRandom()
    scraper = Scraper(KubeletClientOptions(completely_insecure=True, use_node_status_port=True,
                                           address_types=("InternalIP",), timeout_s=TIMEOUT_S, jitter_s=jitter_s),
                      rng=rng)
    try:
        result = await scraper.scrape([_node(f"n{i}", kubelet.port) for i in range(nodes)], now=time.time())
    finally:
        await scraper.close()
    assert len(result.batch) == nodes
    assert rng.bounds == [pytest.approx((0, spread))] * nodes


# -- TLS --------------------------------------------------------------------------------------------------------
@dataclass
class Pki:
    ca_file: str
    other_ca_file: str
    client_cert: str
    client_key: str
    server: ssl.SSLContext


@pytest.fixture
def kubelet_pki(tmp_path: Path) -> Pki:
    ca, other = pki.generate_ca(common_name="kubelet-ca"), pki.generate_ca(common_name="someone-else")
    serving = pki.issue_cert(ca=ca, common_name="kubelet", ip_addresses=["127.0.0.1"])
    client = pki.issue_cert(ca=ca, common_name="system:metrics-server", client=True, server=False)
    paths = {name: str(tmp_path / name) for name in ("ca.crt", "other.crt", "srv.crt", "srv.key", "cl.crt", "cl.key")}
    Path(paths["ca.crt"]).write_bytes(ca.cert_pem)
    Path(paths["other.crt"]).write_bytes(other.cert_pem)
    pki.write_pair(serving, cert_path=paths["srv.crt"], key_path=paths["srv.key"])
    pki.write_pair(client, cert_path=paths["cl.crt"], key_path=paths["cl.key"])
    server = pki.server_ssl_context(cert_file=paths["srv.crt"], key_file=paths["srv.key"],
                                    client_ca_file=paths["ca.crt"])
    return Pki(paths["ca.crt"], paths["other.crt"], paths["cl.crt"], paths["cl.key"], server)


def _tls(p: Pki, *, ca: str | None = "ok", cert: bool = True, token: str | None = "s3cret",
         token_file: str | None = None, insecure: bool = False) -> KubeletClientOptions:
    return KubeletClientOptions(
        use_node_status_port=True, address_types=("InternalIP",), timeout_s=TIMEOUT_S * 4, jitter_s=0.0,
        ca_file={"ok": p.ca_file, "other": p.other_ca_file}.get(ca or ""), insecure_tls=insecure,
        ca_text=Path(p.ca_file).read_text() if ca == "text" else None,
        client_cert_file=p.client_cert if cert else None, client_key_file=p.client_key if cert else None,
        token=token, token_file=token_file)


@pytest.mark.parametrize(("options", "failure"), [
    pytest.param({}, None, id="ca-client-cert-and-token"),
    pytest.param({"ca": "other"}, "certificate verify failed", id="wrong-ca"),
    pytest.param({"ca": "text"}, None, id="ca-text"),
    pytest.param({"ca": None}, "certificate verify failed", id="system-store-does-not-know-the-kubelet-ca"),
    pytest.param({"ca": "other", "insecure": True}, None, id="insecure-tls-skips-verification"),
    pytest.param({"cert": False}, 'request failed, status: "401 Unauthorized"', id="no-client-cert"),
    pytest.param({"token": None}, 'request failed, status: "401 Unauthorized"', id="no-token"),
    pytest.param({"token": None, "token_file": "token"}, None, id="token-from-file"),
])
async def test_tls_kubelet(start_kubelet: Start, kubelet_pki: Pki, tmp_path: Path, options: dict[str, object],
                           failure: str | None) -> None:
    kubelet = await start_kubelet(ssl_context=kubelet_pki.server, require_auth=("system:metrics-server", "s3cret"))
    if options.get("token_file"):
        (tmp_path / "token").write_text("s3cret\n")
        options = {**options, "token_file": str(tmp_path / "token")}
    scraper = Scraper(_tls(kubelet_pki, **options))  # type: ignore[arg-type]
    try:
        result = await scraper.scrape([_node("tls", kubelet.port)], now=time.time())
    finally:
        await scraper.close()
    if failure is None:
        assert result.failures == {} and result.batch["tls"].node is not None
    else:
        assert list(result.failures) == ["tls"] and failure in result.failures["tls"]
        assert result.failures["tls"].startswith(('Get "https://127.0.0.1:', "request failed"))


# -- the manager's tick loop ------------------------------------------------------------------------------------
async def _until(condition: Callable[[], bool], *, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_manager_scrapes_selected_nodes_into_the_store(start_kubelet: Start) -> None:
    a, b, master = await start_kubelet(), await start_kubelet(), await start_kubelet()
    nodes = [_node("a", a.port), _node("b", b.port),
             dataclasses.replace(_node("m", master.port), labels={"node-role.kubernetes.io/control-plane": ""})]
    scraper = Scraper(_http())
    store = MetricsStore(metric_resolution_s=0.2)
    manager = Manager(scraper=scraper, store=store, nodes=lambda: nodes, resolution_s=0.2,
                      node_selector=parse_node_selector("!node-role.kubernetes.io/control-plane"))
    task = asyncio.create_task(manager.run())
    try:
        await _until(lambda: store.stored_at is not None)
        assert store.node_metrics(["a", "b"]) == {}  # one point each: no rate yet
        await _until(lambda: len(store.node_metrics(["a", "b", "m"])) == 2)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await scraper.close()
    metric = store.node_metrics(["a"])["a"]
    assert metric.cpu_nanocores > 0 and metric.memory_bytes == 1616273408 and metric.window_ns > 0
    pod = store.pod_metrics([("kube-system", "coredns-558bd4d5db-4dpjz")])
    assert [c[0] for c in pod[("kube-system", "coredns-558bd4d5db-4dpjz")].containers] == ["coredns"]
    assert master.requests == 0 and a.requests >= 2
    assert manager.last_round is not None and manager.last_round.failures == {}
    assert manager.last_tick_start is not None and manager.last_tick_duration_s is not None


@dataclass
class FakeScraper:
    """Takes `durations` (then 0) per round and records when each round ran (loop time)."""

    durations: list[float]
    rounds: list[tuple[float, float, list[str]]] = field(default_factory=list)

    async def scrape(self, nodes: Iterable[NodeMeta], *, now: float) -> ScrapeRound:
        loop = asyncio.get_running_loop()
        start, names = loop.time(), [n.name for n in nodes]
        await asyncio.sleep(self.durations.pop(0) if self.durations else 0)
        self.rounds.append((start, loop.time(), names))
        return ScrapeRound({}, {}, loop.time() - start)


async def test_ticks_never_overlap_and_an_overrun_tick_is_followed_at_once() -> None:
    scraper = FakeScraper([0.75])
    manager = Manager(scraper=scraper, store=MetricsStore(metric_resolution_s=0.3), nodes=list, resolution_s=0.3,
                      monotonic=asyncio.get_running_loop().time)
    task = asyncio.create_task(manager.run())
    try:
        await _until(lambda: len(scraper.rounds) >= 4)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    starts = [r[0] for r in scraper.rounds]
    assert all(nxt[0] >= prev[1] for prev, nxt in itertools.pairwise(scraper.rounds))
    assert starts[1] - scraper.rounds[0][1] < 0.1  # right after the overrun
    # then back on the original grid (0, 0.3, 0.6 missed, 0.9, 1.2), not 0.3 after the catch-up tick
    assert 0.85 < starts[2] - starts[0] < 1.0 and 1.15 < starts[3] - starts[0] < 1.3


async def test_a_failing_tick_is_logged_and_the_next_runs(caplog: pytest.LogCaptureFixture) -> None:
    calls = 0

    def nodes() -> list[NodeMeta]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("node cache broke")
        return [_node("n", 1)]

    scraper = FakeScraper([])
    store = MetricsStore(metric_resolution_s=0.1)
    manager = Manager(scraper=scraper, store=store, nodes=nodes, resolution_s=0.1, clock=lambda: 1000.0)
    with caplog.at_level(logging.ERROR, logger="metricsd.manager"):
        task = asyncio.create_task(manager.run())
        try:
            await _until(lambda: len(scraper.rounds) >= 1)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert [r.getMessage() for r in caplog.records] == ["Scrape tick failed"]
    assert "node cache broke" in caplog.text
    assert scraper.rounds[0][2] == ["n"]
    assert manager.last_tick_start == 1000.0 and store.stored_at == 1000.0
