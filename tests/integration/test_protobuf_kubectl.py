"""The machine's kubectl sends protobuf bodies; kubesim.protobuf decodes them to the JSON kubectl would send.

kubectl talks to an in-process kubesim through a recording proxy. The proxy keeps every protobuf body
and forwards it to kubesim as the JSON `kubesim.protobuf.decode` made of it, so kubectl succeeding shows
kubesim accepted the decoded object, and comparing with `kubectl ... --dry-run=client -o json` shows the
decoded object is exactly the JSON kubectl itself writes for the same command.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from kubesim import protobuf
from kubesim.app import KubeSim, SimConfig

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")

FORWARDED_HEADERS = ("Accept", "Authorization", "User-Agent")


@dataclass
class Recorder:
    """A proxy in front of kubesim that turns protobuf request bodies into the JSON they decode to."""

    upstream: str
    bodies: list[tuple[str, str, bytes]] = field(default_factory=list)  # method, path, protobuf body

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {h: request.headers[h] for h in FORWARDED_HEADERS if h in request.headers}
        content_type = request.headers.get("Content-Type", "")
        if content_type.startswith(protobuf.CONTENT_TYPE):
            self.bodies.append((request.method, request.path, body))
            body, content_type = json.dumps(protobuf.decode(body)).encode(), "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        async with aiohttp.ClientSession() as session, session.request(
                request.method, self.upstream + request.path_qs, data=body or None, headers=headers) as answer:
            return web.Response(body=await answer.read(), status=answer.status,
                                headers={"Content-Type": answer.headers.get("Content-Type", "application/json")})


@dataclass
class Kubectl:
    recorder: Recorder
    kubeconfig: Path
    home: Path

    async def __call__(self, *args: str) -> tuple[int, str, str]:
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.home), "KUBECONFIG": str(self.kubeconfig)}
        proc = await asyncio.create_subprocess_exec(
            "kubectl", *args, "--cache-dir", str(self.home / "cache"), stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env)
        out, err = await proc.communicate()
        return proc.returncode or 0, out.decode(), err.decode()

    async def ok(self, *args: str) -> str:
        rc, out, err = await self(*args)
        assert rc == 0, f"kubectl {' '.join(args)} failed: {err}"
        return out


@pytest.fixture
async def kubectl(tmp_path: Path) -> AsyncIterator[Kubectl]:
    sim = KubeSim(SimConfig(kubeconfig_out=str(tmp_path / "sim-kubeconfig")))
    url = await sim.start()
    recorder = Recorder(url)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    proxy = TestServer(app, host="127.0.0.1")
    await proxy.start_server()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "sim",
        "clusters": [{"name": "sim", "cluster": {"server": f"http://127.0.0.1:{proxy.port}"}}],
        "contexts": [{"name": "sim", "context": {"cluster": "sim", "user": "u", "namespace": "default"}}],
        "users": [{"name": "u", "user": {}}],
    }))
    yield Kubectl(recorder, kubeconfig, tmp_path)
    await proxy.close()
    await sim.stop()


# Resources kubesim does not serve (yet): kubectl's POST is recorded and decoded, and answered 404.
UNSERVED = ("role", "rolebinding", "quota", "ingress")
COMMANDS = [
    pytest.param((), ("create", "deployment", "web", "--image=nginx", "--replicas=2", "--port=80"), id="deployment"),
    pytest.param((), ("create", "deployment", "zero", "--image=nginx", "--replicas=0"), id="deployment-zero-replicas"),
    pytest.param((), ("create", "configmap", "x", "--from-literal=a=b", "--from-literal=c=d"), id="configmap"),
    pytest.param((), ("create", "secret", "generic", "s", "--from-literal=pw=hunter2"), id="secret"),
    pytest.param((), ("create", "secret", "docker-registry", "d", "--docker-username=u", "--docker-password=p",
                      "--docker-server=r.example"), id="secret-docker-registry"),
    pytest.param((), ("create", "namespace", "ns1"), id="namespace"),
    pytest.param((), ("create", "service", "nodeport", "np", "--tcp=5678:8080"), id="service-nodeport"),
    pytest.param((), ("create", "service", "clusterip", "cip", "--tcp=80:http"), id="service-named-target-port"),
    pytest.param((("create", "deployment", "web", "--image=nginx"),),
                 ("autoscale", "deployment", "web", "--min=2", "--max=5", "--cpu-percent=80"), id="autoscale-hpa-v1"),
    pytest.param((), ("create", "poddisruptionbudget", "pdb", "--selector=app=web", "--max-unavailable=30%"),
                 id="pdb-intorstring-and-required-status"),
    pytest.param((), ("create", "serviceaccount", "sa1"), id="serviceaccount"),
    pytest.param((), ("create", "role", "r", "--verb=get,list", "--resource=pods,deployments.apps"), id="role"),
    pytest.param((), ("create", "rolebinding", "rb", "--role=r", "--user=jane", "--serviceaccount=default:sa1"),
                 id="rolebinding"),
    pytest.param((), ("create", "quota", "q", "--hard=cpu=1,memory=1G,pods=2"), id="resourcequota-quantities"),
    pytest.param((), ("create", "ingress", "ing", "--rule=foo.com/bar*=svc1:http,tls=my-cert", "--class=nginx"),
                 id="ingress-inlined-rule-value"),
]


@pytest.mark.parametrize(("setup", "args"), COMMANDS)
async def test_protobuf_body_decodes_to_the_json_kubectl_writes(
        kubectl: Kubectl, setup: tuple[tuple[str, ...], ...], args: tuple[str, ...]) -> None:
    for command in setup:
        await kubectl.ok(*command)
    kubectl.recorder.bodies.clear()
    rc, _, err = await kubectl(*args, "--dry-run=server")
    assert rc == 0 or args[1] in UNSERVED, err
    [(method, _, raw)] = kubectl.recorder.bodies
    assert method == "POST"
    decoded = protobuf.decode(raw)
    written = json.loads(await kubectl.ok(*args, "--dry-run=client", "-o", "json"))
    assert decoded == written


async def test_create_deployment_body(kubectl: Kubectl) -> None:
    await kubectl.ok("create", "deployment", "web", "--image=nginx", "--replicas=2", "--dry-run=server")
    [(method, path, raw)] = kubectl.recorder.bodies
    assert (method, path) == ("POST", "/apis/apps/v1/namespaces/default/deployments")
    assert protobuf.decode(raw) == {
        "kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"name": "web", "creationTimestamp": None, "labels": {"app": "web"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"creationTimestamp": None, "labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {}}]}},
                 "strategy": {}},
        "status": {},
    }


async def test_auth_can_i_sends_a_self_subject_access_review(kubectl: Kubectl) -> None:
    await kubectl.ok("auth", "can-i", "list", "deployments.apps", "--namespace=team")
    [(method, path, raw)] = kubectl.recorder.bodies
    assert (method, path) == ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
    assert protobuf.decode(raw) == {
        "kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": None},
        "spec": {"resourceAttributes": {"namespace": "team", "verb": "list", "group": "apps",
                                        "resource": "deployments"}},
        "status": {"allowed": False},
    }
