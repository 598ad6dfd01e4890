"""Scraping the kubelets: one round of `GET /metrics/resource` over a set of nodes, decoded into a batch for the
store, with each node's failure kept apart from the others.

I/O only; the URL rules live in metricsd.targets and the text rules in metricsd.decoding. Behaviour kept from
metrics-server (pkg/scraper/scraper.go, pkg/scraper/client/resource/client.go, cmd/.../options/kubelet_client.go):
- every node's request starts after a random delay within `min(8 ms x nodes, 4 s)` (`jitter_s` caps the spread),
  and only then does its timeout (`--kubelet-request-timeout`) start; the timeout covers waiting for a free
  connection, connecting, TLS, the headers and the body;
- the request start time dates samples that carry no timestamp;
- `https` verified against `--kubelet-certificate-authority` or `--kubelet-certificate-authority-text` (the
  system store without either), client certificate
  and bearer token; `--kubelet-insecure-tls` verifies nothing; `--deprecated-kubelet-completely-insecure` is
  plain `http` with no credentials at all;
- a non-200 answer fails as `request failed, status: "500 Internal Server Error"`, a node without a usable
  address as `no address matched types [...]`; request totals count by success, the last request's duration
  and time are kept per node.
Deliberate differences: a failure is logged when a node starts failing and when it recovers, not on every tick;
a body over `max_body_bytes` (after decompression) fails the node; the per-node duration and time are kept only
for the nodes of the last round (so a deleted node's series vanish); connections are bounded by `concurrency`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import aiohttp

from kubescale import pki
from metricsd import targets
from metricsd.decoding import DecodeError, NodeScrape, decode
from metricsd.objects import NodeMeta

log = logging.getLogger("metricsd.scraping")

DELAY_PER_NODE_S = 0.008  # delayPerSourceMs
MAX_DELAY_S = 4.0  # maxDelayMs
TOKEN_FILE_REFRESH_S = 60.0  # client-go re-reads a token file once a minute


@dataclass(frozen=True)
class KubeletClientOptions:
    """How to reach kubelets (the `--kubelet-*` flags, validated by the caller) and the scraper's own bounds."""

    port: int = targets.DEFAULT_PORT
    use_node_status_port: bool = False
    address_types: tuple[str, ...] = targets.DEFAULT_ADDRESS_TYPES
    insecure_tls: bool = False
    completely_insecure: bool = False  # plain http, no credentials
    ca_file: str | None = None
    ca_text: str | None = None  # PEM, --kubelet-certificate-authority-text (or the cluster CA of a kubeconfig)
    client_cert_file: str | None = None
    client_key_file: str | None = None
    token: str | None = None
    token_file: str | None = None  # re-read every minute (a projected service account token rotates)
    timeout_s: float = 10.0
    concurrency: int = 1024  # connections in use at once
    jitter_s: float = MAX_DELAY_S  # the random delays before requests spread over at most this
    max_body_bytes: int = 64 * 1024 * 1024
    idle_timeout_s: float = 90.0  # Go's http.Transport IdleConnTimeout: keep-alive outlives a resolution
    user_agent: str = "metricsd"

    @property
    def scheme(self) -> str:
        return "http" if self.completely_insecure else "https"


@dataclass(frozen=True, slots=True)
class ScrapeRound:
    """One round: the decoded scrape of every node that answered, the others' failure messages, and how long
    the round took."""

    batch: dict[str, NodeScrape]
    failures: dict[str, str]
    duration_s: float


@dataclass(frozen=True, slots=True)
class NodeRequest:
    """A node's last request: its duration, when it ended (Unix seconds) and its failure (None when it worked)."""

    duration_s: float
    time_s: float
    error: str | None


class _Failure(Exception):
    """One node's failure with the message reported for it; `timeout` picks upstream's log text."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.timeout = timeout


class Scraper:
    """Scrapes kubelets over one keep-alive connection pool. `scrape()` never raises for a node's failure."""

    def __init__(self, options: KubeletClientOptions, *, rng: random.Random | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.options = options
        self._ssl = None if options.completely_insecure else _ssl_context(options)
        self._rng = rng or random.Random()
        self._monotonic = monotonic
        self._session: aiohttp.ClientSession | None = None
        self._token_read_at = -TOKEN_FILE_REFRESH_S
        self._token = options.token
        # telemetry, read by metricsd.telemetry
        self.requests_total: dict[str, int] = {"true": 0, "false": 0}
        self.last_requests: Mapping[str, NodeRequest] = {}

    @property
    def failures(self) -> dict[str, str]:
        """The nodes of the last round whose scrape failed, with why."""
        return {node: r.error for node, r in self.last_requests.items() if r.error is not None}

    async def scrape(self, nodes: Iterable[NodeMeta], *, now: float) -> ScrapeRound:
        """Scrape every node concurrently; `now` is the round's wall-clock start (Unix seconds), from which each
        request's start time is derived on the monotonic clock."""
        nodes = list(nodes)
        session = self._session or self._open()
        started = self._monotonic()
        spread = min(DELAY_PER_NODE_S * len(nodes), self.options.jitter_s)
        headers = self._headers()
        results = await asyncio.gather(*(
            self._scrape_node(session, node, headers, delay_s=self._rng.uniform(0, spread), now=now, started=started)
            for node in nodes))
        batch: dict[str, NodeScrape] = {}
        failures: dict[str, str] = {}
        requests: dict[str, NodeRequest] = {}
        previous = self.last_requests
        for node, (scrape, request) in zip(nodes, results, strict=True):
            requests[node.name] = request
            if scrape is not None:
                batch[node.name] = scrape
                if (was := previous.get(node.name)) is not None and was.error is not None:
                    log.info('Scraping node recovered node="%s"', node.name)
            else:
                assert request.error is not None
                failures[node.name] = request.error
        self.last_requests = requests
        return ScrapeRound(batch, failures, self._monotonic() - started)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- one node ----------------------------------------------------------------------------------------------
    async def _scrape_node(self, session: aiohttp.ClientSession, node: NodeMeta, headers: Mapping[str, str], *,
                           delay_s: float, now: float, started: float) -> tuple[NodeScrape | None, NodeRequest]:
        await asyncio.sleep(delay_s)  # prevents network congestion, as upstream
        begin = self._monotonic()
        scrape: NodeScrape | None = None
        error: str | None = None
        try:
            scrape = await self._get(session, node, headers, request_time_s=now + (begin - started))
        except _Failure as e:
            error = e.message
            self._failed(node.name, e)
        except Exception as e:  # a bug must not take the other nodes' scrapes away
            error = f"unexpected error: {e!r}"
            log.exception('Failed to scrape node node="%s"', node.name)
            self._failed(node.name, _Failure(error))
        end = self._monotonic()
        self.requests_total["true" if error is None else "false"] += 1
        return scrape, NodeRequest(end - begin, now + (end - started), error)

    async def _get(self, session: aiohttp.ClientSession, node: NodeMeta, headers: Mapping[str, str], *,
                   request_time_s: float) -> NodeScrape:
        o = self.options
        try:
            url = targets.target(node, address_types=o.address_types, port=o.port,
                                 use_node_status_port=o.use_node_status_port, scheme=o.scheme).url
        except targets.TargetError as e:
            raise _Failure(e.message) from None
        try:
            async with asyncio.timeout(o.timeout_s), session.get(url, headers=headers) as response:
                if response.status != 200:
                    raise _Failure(f'request failed, status: "{response.status} {response.reason}"')
                body = await self._read(response)
        except TimeoutError:
            raise _Failure(f'Get "{url}": context deadline exceeded (timeout {o.timeout_s:g}s)', timeout=True) from None
        except (aiohttp.ClientError, OSError) as e:
            raise _Failure(f'Get "{url}": {e}') from None
        try:
            return decode(body, default_timestamp_ms=int(request_time_s * 1000))
        except DecodeError as e:
            raise _Failure(f"failed to decode the response of {url}: {e}") from None

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self.options.max_body_bytes
        too_big = _Failure(f"response body larger than {limit} bytes")
        if response.content_length is not None and response.content_length > limit:
            response.close()
            raise too_big
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in response.content.iter_any():
                size += len(chunk)
                if size > limit:
                    response.close()
                    raise too_big
                chunks.append(chunk)
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as e:
            raise _Failure(f"failed to read response body - {e}") from None
        return b"".join(chunks)

    def _failed(self, node: str, failure: _Failure) -> None:
        """Log a node's failure once, when it starts failing."""
        was = self.last_requests.get(node)
        if was is not None and was.error is not None:
            return
        if failure.timeout:
            log.error('Failed to scrape node, timeout to access kubelet err="%s" node="%s" timeout="%gs"',
                      failure.message, node, self.options.timeout_s)
        else:
            log.error('Failed to scrape node err="%s" node="%s"', failure.message, node)

    # -- connection ------------------------------------------------------------------------------------------
    def _open(self) -> aiohttp.ClientSession:
        o = self.options
        connector = aiohttp.TCPConnector(limit=o.concurrency, keepalive_timeout=o.idle_timeout_s,
                                         ssl=self._ssl if self._ssl is not None else True)
        self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None),
                                              headers={"User-Agent": o.user_agent}, raise_for_status=False)
        return self._session

    def _headers(self) -> dict[str, str]:
        """The Authorization header (none over plain http, as upstream's anonymous config)."""
        o = self.options
        if o.completely_insecure:
            return {}
        if o.token_file is not None and self._monotonic() - self._token_read_at >= TOKEN_FILE_REFRESH_S:
            try:
                with open(o.token_file, encoding="utf-8") as f:
                    self._token = f.read().strip()
                self._token_read_at = self._monotonic()
            except OSError as e:  # keep the token read last; the kubelets will say if it is no longer good
                log.error("reading the kubelet bearer token from %s: %s", o.token_file, e)
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}


def _ssl_context(o: KubeletClientOptions) -> ssl.SSLContext:
    """The kubelet TLS context: verify against the CA file, else the CA text, else the system store."""
    if o.ca_text is None or o.ca_file is not None or o.insecure_tls:
        return pki.client_ssl_context(ca_file=o.ca_file, cert_file=o.client_cert_file,
                                      key_file=o.client_key_file, insecure=o.insecure_tls)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies and checks host names
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cadata=o.ca_text)
    if o.client_cert_file is not None:
        ctx.load_cert_chain(o.client_cert_file, o.client_key_file)
    return ctx


__all__ = ["DELAY_PER_NODE_S", "MAX_DELAY_S", "KubeletClientOptions", "NodeRequest", "ScrapeRound", "Scraper"]
