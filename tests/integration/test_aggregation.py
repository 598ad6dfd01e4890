"""API aggregation: a tiny HTTPS backend registered by APIService is reachable through kubesim."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubescale import pki
from tests.integration.conftest import Sim
from tests.integration.test_prometheus_sd import free_port

BACKEND = textwrap.dedent('''
    import json, ssl, sys
    from aiohttp import web

    GV = "widgets.kubescale.io/v1"

    async def discovery(request):
        return web.json_response({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GV,
            "resources": [{"name": "widgets", "singularName": "widget", "namespaced": True, "kind": "Widget",
                           "verbs": ["get", "list"]}]})

    async def widgets(request):
        return web.json_response({"kind": "WidgetList", "apiVersion": GV, "metadata": {}, "items": [
            {"kind": "Widget", "apiVersion": GV, "metadata": {"name": "w1", "namespace": "default"},
             "seenUser": request.headers.get("X-Remote-User"),
             "seenGroups": request.headers.getall("X-Remote-Group", [])}]})

    app = web.Application()
    app.router.add_get("/apis/" + GV, discovery)
    app.router.add_get("/apis/" + GV + "/namespaces/default/widgets", widgets)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(sys.argv[2], sys.argv[3])
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), ssl_context=ctx, print=None)
''')


@pytest.fixture()
def backend(tmp_path: Path) -> Iterator[tuple[int, bytes]]:
    ca = pki.generate_ca(common_name="test-ca")
    leaf = pki.issue_cert(ca=ca, common_name="widgets", dns_names=["widgets.default.svc"],
                          ip_addresses=["127.0.0.1"])
    pki.write_pair(leaf, cert_path=str(tmp_path / "tls.crt"), key_path=str(tmp_path / "tls.key"))
    (tmp_path / "backend.py").write_text(BACKEND)
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(tmp_path / "backend.py"), str(port), str(tmp_path / "tls.crt"),
                             str(tmp_path / "tls.key")])
    yield port, ca.cert_pem
    proc.terminate()
    proc.wait(timeout=10)


def register(sim: Sim, port: int, ca_pem: bytes) -> None:
    objs = [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "widgets", "namespace": "default"},
         "spec": {"ports": [{"port": 443, "targetPort": port}]}},
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "widgets", "namespace": "default"},
         "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": port}]}]},
        {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
         "metadata": {"name": "v1.widgets.kubescale.io"},
         "spec": {"group": "widgets.kubescale.io", "version": "v1", "groupPriorityMinimum": 100,
                  "versionPriority": 100, "caBundle": base64.b64encode(ca_pem).decode(),
                  "service": {"namespace": "default", "name": "widgets", "port": 443}}},
    ]
    sim.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}))


def wait_available(sim: Sim, name: str, want: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    cond: dict = {}
    while time.monotonic() < deadline:
        svc = sim.kubectl_json("get", "apiservice", name)
        cond = next((c for c in svc.get("status", {}).get("conditions", []) if c["type"] == "Available"), {})
        if cond.get("status") == want:
            return cond
        time.sleep(0.5)
    raise AssertionError(f"APIService {name} never became Available={want}: {cond}")


def test_aggregated_api_is_proxied_and_discovered(sim: Sim, backend: tuple[int, bytes]) -> None:
    port, ca = backend
    register(sim, port, ca)
    cond = wait_available(sim, "v1.widgets.kubescale.io", "True")
    assert cond["reason"] == "Passed"
    raw = json.loads(sim.kubectl("get", "--raw", "/apis/widgets.kubescale.io/v1/namespaces/default/widgets").stdout)
    item = raw["items"][0]
    assert item["metadata"]["name"] == "w1"
    assert item["seenUser"] == "kubesim-admin" and "system:masters" in item["seenGroups"]
    resources = sim.kubectl("api-resources", "--api-group=widgets.kubescale.io").stdout
    assert "widgets" in resources and "widgets.kubescale.io/v1" in resources
    groups = json.loads(sim.kubectl("get", "--raw", "/apis").stdout)
    assert "widgets.kubescale.io" in {g["name"] for g in groups["groups"]}


def test_unavailable_backend_is_503(sim: Sim) -> None:
    register(sim, free_port(), b"")
    sim.kubectl("patch", "apiservice", "v1.widgets.kubescale.io", "--type=merge",
                "-p", '{"spec":{"caBundle":null,"insecureSkipTLSVerify":true}}')
    cond = wait_available(sim, "v1.widgets.kubescale.io", "False")
    assert cond["reason"] == "FailedDiscoveryCheck"
    out = sim.kubectl("get", "--raw", "/apis/widgets.kubescale.io/v1/namespaces/default/widgets", check=False)
    assert (out.returncode != 0 and "ServiceUnavailable" in out.stderr) or "service unavailable" in out.stderr
    sim.kubectl("delete", "apiservice", "v1.widgets.kubescale.io")
