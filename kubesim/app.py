"""Assembling and running kubesim: configuration, TLS material, authentication, the kubeconfig it writes
for clients, and the state file. `kubescale sim` and the test fixtures both start kubesim through here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from kubescale import pki
from kubesim import auth
from kubesim.apiserver import ApiServer
from kubesim.resources import Registry, crd_resource_types
from kubesim.server import Server, ServingOptions
from kubesim.sim.control import Control
from kubesim.sim.simulation import Simulation, SimulationOptions
from kubesim.store import Entry, Store, dumps

log = logging.getLogger("kubesim")


@dataclass(frozen=True)
class SimConfig:
    listen: str = "127.0.0.1:0"
    tls: bool = False
    token_file: str | None = None
    authorization_policy_file: str | None = None
    kubeconfig_out: str = ".kubesim/kubeconfig"
    state_file: str | None = None
    pki_dir: str | None = None
    watch_cache_size: int = 10_000
    simulation: SimulationOptions | None = None  # None: the API server alone
    serving: ServingOptions = field(default_factory=ServingOptions)

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"--listen: expected HOST:PORT, got {self.listen!r}")
        return host.strip("[]"), int(port)


class KubeSim:
    """One running kubesim API server."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.api = ApiServer(store=Store(history_size=config.watch_cache_size))
        if config.state_file and os.path.exists(config.state_file):
            load_state(self.api, config.state_file)
        self.admin_token: str | None = None
        if config.token_file:
            # the kubeconfig's admin gets a fresh token, next to those of the file
            admin = secrets.token_urlsafe(32)
            own = auth.TokenTable({admin: auth.authenticated_user("kubesim-admin", uid="kubesim-admin",
                                                                  groups=("system:masters",))})
            self.admin_token = admin
            self.api.tokens = auth.load_token_file(config.token_file).merged(own)  # type: ignore[attr-defined]
        if config.authorization_policy_file:
            self.api.policy = auth.load_policy(config.authorization_policy_file)  # type: ignore[attr-defined]
        self.server = Server(self.api, options=config.serving)
        self.runner: web.AppRunner | None = None
        self.url = ""
        self.ca_file: str | None = None
        self.simulation: Simulation | None = None

    @property
    def pki_dir(self) -> Path:
        return Path(self.config.pki_dir or Path(self.config.kubeconfig_out).parent / "pki")

    def _ssl_context(self, host: str) -> ssl.SSLContext:
        d = self.pki_dir
        d.mkdir(parents=True, exist_ok=True)
        ca = pki.generate_ca(common_name="kubesim-ca")
        ips = [host] if host[0].isdigit() or ":" in host else []
        dns = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"]
        leaf = pki.issue_cert(ca=ca, common_name="kubesim-apiserver", dns_names=dns,
                              ip_addresses=[*ips, "127.0.0.1"] if "127.0.0.1" not in ips else ips)
        pki.write_pair(ca, cert_path=str(d / "ca.crt"), key_path=str(d / "ca.key"))
        pki.write_pair(leaf, cert_path=str(d / "apiserver.crt"), key_path=str(d / "apiserver.key"))
        # the front-proxy client identity kubesim presents to aggregated API servers
        fp_ca = pki.generate_ca(common_name="kubesim-front-proxy-ca")
        fp = pki.issue_cert(ca=fp_ca, common_name="front-proxy-client", client=True, server=False)
        pki.write_pair(fp_ca, cert_path=str(d / "front-proxy-ca.crt"), key_path=str(d / "front-proxy-ca.key"))
        pki.write_pair(fp, cert_path=str(d / "front-proxy-client.crt"), key_path=str(d / "front-proxy-client.key"))
        self.server.aggregator.proxy_client_cert = (str(d / "front-proxy-client.crt"),
                                                    str(d / "front-proxy-client.key"))
        # without a token, kubectl needs some credential or it prompts for a password: a client certificate
        admin = pki.issue_cert(ca=ca, common_name="kubesim-admin", organizations=["system:masters"], client=True,
                               server=False)
        pki.write_pair(admin, cert_path=str(d / "admin.crt"), key_path=str(d / "admin.key"))
        self.ca_file = str(d / "ca.crt")
        return pki.server_ssl_context(cert_file=str(d / "apiserver.crt"), key_file=str(d / "apiserver.key"),
                                      client_ca_file=self.ca_file)

    async def start(self) -> str:
        host, port = self.config.host_port
        ctx = self._ssl_context(host) if self.config.tls else None
        self.runner = web.AppRunner(self.server.app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port, ssl_context=ctx, backlog=1024)
        await site.start()
        server = site._server
        assert server is not None
        actual = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"{'https' if ctx else 'http'}://{shown}:{actual}"
        client_pair = None if ctx is None or self.admin_token else (str(self.pki_dir / "admin.crt"),
                                                                    str(self.pki_dir / "admin.key"))
        write_kubeconfig(self.config.kubeconfig_out, server=self.url, ca_file=self.ca_file, token=self.admin_token,
                         client_pair=client_pair)
        if ctx is not None:
            self._publish_authentication_config()
        if self.config.simulation is not None:
            self.simulation = Simulation(self.api, self.server, self.config.simulation)
            await self.simulation.start()
            self.server.control = Control(self.simulation)
        return self.url

    def _publish_authentication_config(self) -> None:
        """kube-apiserver's `kube-system/extension-apiserver-authentication` ConfigMap: where aggregated API
        servers (metricsd, like metrics-server) learn which CA signs the front-proxy client certificate and which
        headers carry the caller's identity."""
        d = self.pki_dir
        data = {
            "client-ca-file": (d / "ca.crt").read_text(),
            "requestheader-client-ca-file": (d / "front-proxy-ca.crt").read_text(),
            "requestheader-allowed-names": '["front-proxy-client"]',
            "requestheader-username-headers": '["X-Remote-User"]',
            "requestheader-group-headers": '["X-Remote-Group"]',
            "requestheader-extra-headers-prefix": '["X-Remote-Extra-"]',
        }
        rt = self.api.registry.get("", "configmaps")
        assert rt is not None
        body = {"apiVersion": "v1", "kind": "ConfigMap", "data": data,
                "metadata": {"name": "extension-apiserver-authentication", "namespace": "kube-system"}}
        if self.api.store.get("/configmaps", "kube-system", "extension-apiserver-authentication") is None:
            self.api.create(rt, "kube-system", body)
        else:
            self.api.patch(rt, "kube-system", "extension-apiserver-authentication",
                           json.dumps({"data": data}).encode(), "application/merge-patch+json")

    async def stop(self) -> None:
        if self.simulation is not None:
            self.server.control = None
            await self.simulation.stop()
        if self.config.state_file:
            save_state(self.api, self.config.state_file)
        if self.runner is not None:
            await self.runner.cleanup()


def write_kubeconfig(path: str, *, server: str, ca_file: str | None, token: str | None,
                     client_pair: tuple[str, str] | None = None) -> None:
    import base64

    cluster: dict[str, Any] = {"server": server}
    if ca_file:
        cluster["certificate-authority-data"] = base64.b64encode(Path(ca_file).read_bytes()).decode()
    user: dict[str, Any] = {"token": token} if token else {}
    if client_pair is not None:
        user["client-certificate-data"] = base64.b64encode(Path(client_pair[0]).read_bytes()).decode()
        user["client-key-data"] = base64.b64encode(Path(client_pair[1]).read_bytes()).decode()
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "kubesim",
        "clusters": [{"name": "kubesim", "cluster": cluster}],
        "users": [{"name": "kubesim-admin", "user": user}],
        "contexts": [{"name": "kubesim", "context": {"cluster": "kubesim", "user": "kubesim-admin",
                                                     "namespace": "default"}}],
        "preferences": {},
    }
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(p.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
    os.chmod(tmp, 0o600)
    tmp.replace(p)


# -- state file ----------------------------------------------------------------------------------------------------
def save_state(api: ApiServer, path: str) -> None:
    objects = [{"storage": storage, "object": e.obj}
               for storage, b in api.store.buckets.items() for _n, _m, e in b.entries(None)]
    tmp = f"{path}.tmp"
    Path(tmp).write_text(json.dumps({"resourceVersion": api.store.rv, "objects": objects}))
    os.replace(tmp, path)


def load_state(api: ApiServer, path: str) -> None:
    """Replace the store's content with a saved one (no watch events: nobody is watching yet)."""
    try:
        doc = json.loads(Path(path).read_text())
        rv = int(doc["resourceVersion"])
        objects = doc["objects"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a kubesim state file: {e}") from None
    api.store = Store(history_size=api.store.history_size)
    api.registry = Registry()
    for item in objects:
        obj = item["object"]
        meta = obj["metadata"]
        bucket = api.store.bucket(item["storage"])
        bucket.put(meta.get("namespace", ""), meta["name"], Entry(obj, dumps(obj)), None)
        if obj.get("kind") == "CustomResourceDefinition":
            for t in crd_resource_types(obj):
                api.registry.add(t)
    api.store.rv = rv


async def run_forever(sim: KubeSim, *, banner: str = "") -> None:
    url = await sim.start()
    print(f"kubesim ready: {url} kubeconfig={sim.config.kubeconfig_out}", flush=True)
    if banner:
        print(banner, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping")
    await sim.stop()
