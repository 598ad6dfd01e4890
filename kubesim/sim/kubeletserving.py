"""The HTTP side of the simulated kubelets: one aiohttp application behind one listening site per kubelet
(the kubelet is found by the address a request arrived on), the kubelet CA and serving certificates, and
the faults a kubelet can be told to have.

TLS: one CA (given, e.g. kubesim's own; else `<pki_dir>/kubelet-ca.crt`, reused when present with its key,
or a fresh one), written to `<pki_dir>/kubelet-ca.crt` for clients, signs one serving certificate
per 127.x.y.0/24 block of kubelet addresses, with every address of the block as an IP SAN, all on one
shared key: 5,000 kubelets need 20 certificates, not 5,000 TLS contexts.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import json
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from kubescale import pki
from kubesim.sim import kubeletmetrics as km

if TYPE_CHECKING:
    import ssl

    from kubesim.sim.kubelets import Kubelet, Kubelets

TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"

# kind -> parameters and their defaults
FAULTS: dict[str, dict[str, Any]] = {
    "slow": {"delay_s": 2.0},  # answer after a delay
    "timeout": {"hang_s": 3600.0},  # accept, then never answer (until cleared or hang_s), then reset
    "reset": {},  # reset the connection (TCP RST)
    "http500": {},  # 500 Internal Server Error
    "garbage": {},  # 200 with a body no Prometheus parser accepts
    "truncated": {"fraction": 0.5, "mode": "body"},  # body cut inside a sample; mode "connection": cut the TCP stream
    "counter_backwards": {"factor": 0.5},  # CPU counters scaled down (without a container restart)
    "notready": {"unreachable": False},  # stop renewing the Lease and posting status; unreachable: reset requests too
}


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    params: tuple[tuple[str, Any], ...]

    def get(self, name: str) -> Any:
        return dict(self.params)[name]


def make_fault(kind: str, **params: Any) -> Fault:
    """A validated fault; unknown kinds and parameters are refused with what is accepted."""
    defaults = FAULTS.get(kind)
    if defaults is None:
        raise ValueError(f"unknown kubelet fault {kind!r}; known: {', '.join(sorted(FAULTS))}")
    unknown = set(params) - set(defaults)
    if unknown:
        raise ValueError(f"kubelet fault {kind!r} takes {sorted(defaults) or 'no parameters'}, not {sorted(unknown)}")
    if kind == "truncated" and params.get("mode", "body") not in ("body", "connection"):
        raise ValueError("truncated: mode is 'body' or 'connection'")
    return Fault(kind, tuple(sorted({**defaults, **params}.items())))


GARBAGE = (b"\x1f\x8b\x08\x00garbage\x00\n# TYPE container_cpu_usage_seconds_total counter\n"
           b'container_cpu_usage_seconds_total{container="web",pod= 12 abc\n{{{not prometheus}}}\n')


def truncate(body: bytes, fraction: float) -> bytes:
    """The body cut inside the first label set after `fraction` of it, so no parser takes it for whole."""
    at = int(len(body) * min(max(fraction, 0.0), 1.0))
    brace = body.find(b"{", at)
    return body[: brace + 3] if brace != -1 else body[: max(at, 1) - 1]


class KubeletTLS:
    """The kubelet CA and the serving contexts of address blocks."""

    def __init__(self, pki_dir: Path, *, ca: pki.KeyPair | None = None) -> None:
        self.pki_dir = pki_dir
        self.ca_file = pki_dir / "kubelet-ca.crt"
        self._ca = ca
        self._key_file = pki_dir / "kubelet-serving.key"
        self._contexts: dict[str, ssl.SSLContext] = {}

    def setup(self) -> None:
        self.pki_dir.mkdir(parents=True, exist_ok=True)
        ca_key = self.pki_dir / "kubelet-ca.key"
        if self._ca is None and self.ca_file.exists() and ca_key.exists():
            self._ca = pki.KeyPair(self.ca_file.read_bytes(), ca_key.read_bytes())
        else:
            self._ca = self._ca or pki.generate_ca(common_name="kubesim-kubelet-ca")
            pki.write_pair(self._ca, cert_path=str(self.ca_file), key_path=str(ca_key))
        self._key = pki.new_key()

    def context_for(self, address: str) -> ssl.SSLContext:
        net = ipaddress.IPv4Network(f"{address}/24", strict=False)
        ctx = self._contexts.get(str(net))
        if ctx is None:
            assert self._ca is not None, "setup() first"
            ips = [str(net.network_address + h) for h in range(1, 255)]
            leaf = pki.issue_cert(ca=self._ca, common_name=f"kubesim-kubelets-{net.network_address}",
                                  ip_addresses=ips, key=self._key)
            stem = self.pki_dir / f"kubelet-{net.network_address}"
            pki.write_pair(leaf, cert_path=f"{stem}.crt", key_path=f"{stem}.key")
            ctx = self._contexts[str(net)] = pki.server_ssl_context(cert_file=f"{stem}.crt", key_file=f"{stem}.key")
        return ctx


def _reset(request: web.Request) -> web.Response:
    """Drop the connection with a TCP RST, as a crashed or firewalled kubelet would."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=499)


class KubeletServer:
    """Routes each request to the kubelet it was addressed to, applying that kubelet's faults."""

    def __init__(self, owner: Kubelets, *, authenticate: Callable[[str | None], bool] | None) -> None:
        self.owner = owner
        self.authenticate = authenticate
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        self._routes: dict[str, Callable[[Kubelet, web.Request], tuple[bytes, str]]] = {
            "/healthz": lambda k, r: (b"ok", "text/plain; charset=utf-8"),
            "/metrics/resource": self.resource,
            "/metrics/cadvisor": self.cadvisor,
            "/metrics/app": self.app_metrics,
            "/stats/summary": self.summary,
            "/stats/summary/": self.summary,
        }

    async def setup(self) -> None:
        await self.runner.setup()

    async def cleanup(self) -> None:
        await self.runner.cleanup()

    async def listen(self, address: str, port: int, ssl_context: ssl.SSLContext | None) -> tuple[web.BaseSite, int]:
        site = web.TCPSite(self.runner, address, port, ssl_context=ssl_context, backlog=128)
        await site.start()
        server = site._server
        assert server is not None
        return site, server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    # -- requests --------------------------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        local = request.transport.get_extra_info("sockname") if request.transport is not None else None
        k = self.owner.by_address(local[0], local[1]) if local else None
        if k is None:
            return _reset(request)  # the kubelet is gone
        faults = k.faults
        if faults:
            early = await self._early_fault(request, k)
            if early is not None:
                return early
        if self.authenticate is not None:
            header = request.headers.get("Authorization", "")
            token = header[7:].strip() if header[:7].lower() == "bearer " else None
            if not self.authenticate(token):
                return web.Response(status=401, text="Unauthorized")
        route = self._routes.get(request.path)
        if route is None:
            return web.Response(status=404, text="404 page not found\n")
        if request.method not in ("GET", "HEAD"):
            return web.Response(status=405, text="405: Method Not Allowed")
        body, content_type = route(k, request)
        truncated = faults.get("truncated") if faults else None
        if truncated is not None:
            return await self._truncated(request, body, content_type, truncated)
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def _early_fault(self, request: web.Request, k: Kubelet) -> web.StreamResponse | None:
        faults = k.faults
        notready = faults.get("notready")
        if "reset" in faults or (notready is not None and notready.get("unreachable")):
            return _reset(request)
        hang = faults.get("timeout")
        if hang is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(k.released.wait(), hang.get("hang_s"))
            return _reset(request)
        slow = faults.get("slow")
        if slow is not None:
            await asyncio.sleep(slow.get("delay_s"))
        if "http500" in faults:
            return web.Response(status=500, text="Internal Server Error: failed to get node info: simulated fault\n")
        if "garbage" in faults:
            return web.Response(body=GARBAGE, headers={"Content-Type": TEXT_FORMAT})
        return None

    async def _truncated(self, request: web.Request, body: bytes, content_type: str,
                         fault: Fault) -> web.StreamResponse:
        cut = truncate(body, fault.get("fraction"))
        if fault.get("mode") == "body":
            return web.Response(body=cut, headers={"Content-Type": content_type})
        resp = web.StreamResponse(headers={"Content-Type": content_type})
        resp.content_length = len(body)  # promise the whole body, send part, drop the connection
        await resp.prepare(request)
        await resp.write(cut)
        return _reset(request)

    def _counter_factor(self, k: Kubelet) -> float:
        f = k.faults.get("counter_backwards") if k.faults else None
        return float(f.get("factor")) if f is not None else 1.0

    def resource(self, k: Kubelet, request: web.Request) -> tuple[bytes, str]:
        k.stats.refresh(self.owner.clock(), self.owner.usage)
        pods, containers = k.stats.sampled()
        text = km.render_resource(k.stats.node, pods, containers, cpu_factor=self._counter_factor(k),
                                  swap=self.owner.config.swap)
        return text.encode(), TEXT_FORMAT

    def cadvisor(self, k: Kubelet, request: web.Request) -> tuple[bytes, str]:
        now = self.owner.clock()
        k.stats.refresh(now, self.owner.usage)
        pods, _containers = k.stats.sampled()
        return km.render_cadvisor(k.stats.node, pods, now=now, cpu_factor=self._counter_factor(k)).encode(), TEXT_FORMAT

    def app_metrics(self, k: Kubelet, request: web.Request) -> tuple[bytes, str]:
        return km.render_app(k.stats.app_series(self.owner.clock(), self.owner.usage)).encode(), TEXT_FORMAT

    def summary(self, k: Kubelet, request: web.Request) -> tuple[bytes, str]:
        k.stats.refresh(self.owner.clock(), self.owner.usage)
        pods, _containers = k.stats.sampled()
        only = request.query.get("only_cpu_and_memory", "").lower() == "true"
        doc = km.summary(k.stats.node, pods, only_cpu_and_memory=only, cpu_factor=self._counter_factor(k))
        return json.dumps(doc, indent=1).encode(), "application/json"


def stable_fraction(name: str) -> float:
    """A name's fixed place in [0, 1): spreads per-node timers without a random source."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big") / 2**32
