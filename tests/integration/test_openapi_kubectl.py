"""The machine's kubectl against a stub API server that serves only kubesim's discovery and OpenAPI documents.

The stub stores what kubectl creates and records every request, so the tests can say exactly what
kubectl asked for: which discovery form, which OpenAPI documents, which query parameters and patch types.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from kubesim import discovery, openapi, resources

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")

WORKLOADS = """
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {level: debug}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 25%}}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 80}]
        env: [{name: LEVEL, value: debug}]
        resources: {requests: {cpu: 1, memory: 64Mi}, limits: {cpu: 1.5}}
        readinessProbe: {httpGet: {path: /, port: 80}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: web}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 10
  metrics:
  - type: Pods
    pods: {metric: {name: rps}, target: {type: AverageValue, averageValue: 1}}
"""

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: crontabs.stable.example.com}
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ct]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cronSpec: {type: string}
              replicas: {type: integer}
"""
CRONTAB = """
apiVersion: stable.example.com/v1
kind: CronTab
metadata: {name: nightly}
spec: {cronSpec: "0 3 * * *", replicas: REPLICAS}
"""


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    accept: str
    content_type: str
    body: bytes


@dataclass
class Stub:
    """Discovery and OpenAPI from kubesim; objects kept as sent; every request recorded."""

    aggregated: bool = True
    registry: resources.Registry = field(default_factory=resources.Registry)
    cache: openapi.OpenAPICache = field(default_factory=openapi.OpenAPICache)
    crd_schemas: dict[tuple[str, str, str], dict] = field(default_factory=dict)
    objects: dict[str, dict] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(Request(request.method, request.path, dict(request.query),
                                     request.headers.get("Accept", ""), request.headers.get("Content-Type", ""),
                                     body))
        doc = self.document(request)
        if doc is not None:
            return doc
        return self.object(request, body)

    def document(self, request: web.Request) -> web.Response | None:
        path, reg = request.path, self.registry
        if path == "/version":
            return json_response(discovery.version_info())
        if path in ("/api", "/apis"):
            negotiated = discovery.negotiate_discovery(request.headers.get("Accept", ""))
            if negotiated and self.aggregated:
                version, ctype = negotiated
                return json_response(discovery.aggregated_discovery(reg, legacy=path == "/api", version=version),
                                     ctype)
            return json_response(discovery.api_versions() if path == "/api" else discovery.api_group_list(reg))
        if path == "/openapi/v3":
            return json_response(self.cache.index(reg, self.crd_schemas))
        if path.startswith("/openapi/v3/"):
            body = self.cache.document_for_path(reg, path.removeprefix("/openapi/v3/"), self.crd_schemas)
            return web.Response(body=body, content_type="application/json") if body else not_found()
        parts = path.strip("/").split("/")
        if parts == ["api", "v1"] or (len(parts) == 3 and parts[0] == "apis"):
            group, version = ("", "v1") if parts[0] == "api" else (parts[1], parts[2])
            doc = discovery.api_resource_list(reg, group, version)
            return json_response(doc) if doc else not_found()
        if len(parts) == 2 and parts[0] == "apis":
            doc = discovery.api_group(reg, parts[1])
            return json_response(doc) if doc else not_found()
        return None

    def object(self, request: web.Request, body: bytes) -> web.Response:
        if request.method == "POST":
            obj = json.loads(body)
            meta = obj.setdefault("metadata", {})
            meta.update(uid=f"uid-{len(self.objects)}", resourceVersion="1",
                        creationTimestamp="2025-01-01T00:00:00Z")
            if "/namespaces/" in request.path:
                meta.setdefault("namespace", request.path.split("/namespaces/")[1].split("/")[0])
            self.objects[f"{request.path}/{meta['name']}"] = obj
            if obj.get("kind") == "CustomResourceDefinition":
                self.add_crd(obj)
            return json_response(obj, status=201)
        obj = self.objects.get(request.path)
        if obj is None:
            return not_found()
        return json_response(obj)

    def add_crd(self, crd: dict) -> None:
        for rt in resources.crd_resource_types(crd):
            self.registry.add(rt)
        spec = crd["spec"]
        for v in spec["versions"]:
            self.crd_schemas[(spec["group"], v["name"], spec["names"]["kind"])] = v["schema"]["openAPIV3Schema"]

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method in ("POST", "PUT", "PATCH")]

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]


def json_response(doc: dict, content_type: str = "application/json", status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(doc).encode(), status=status, headers={"Content-Type": content_type})


def not_found() -> web.Response:
    return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                          "reason": "NotFound", "message": "the server could not find the requested resource",
                          "code": 404}, status=404)


@dataclass
class Kubectl:
    stub: Stub
    kubeconfig: Path
    cache_dir: Path
    home: Path

    async def __call__(self, *args: str, stdin: str = "") -> tuple[int, str, str]:
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.home), "KUBECONFIG": str(self.kubeconfig)}
        proc = await asyncio.create_subprocess_exec(
            "kubectl", *args, "--cache-dir", str(self.cache_dir), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
        out, err = await proc.communicate(stdin.encode())
        return proc.returncode or 0, out.decode(), err.decode()

    async def ok(self, *args: str, stdin: str = "") -> str:
        rc, out, err = await self(*args, stdin=stdin)
        assert rc == 0, f"kubectl {' '.join(args)} failed: {err}"
        assert "error" not in err.lower(), err
        return out


async def start(stub: Stub, tmp_path: Path) -> tuple[TestServer, Kubectl]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", stub.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "stub",
        "clusters": [{"name": "stub", "cluster": {"server": f"http://127.0.0.1:{server.port}"}}],
        "contexts": [{"name": "stub", "context": {"cluster": "stub", "user": "u", "namespace": "default"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
    }))
    return server, Kubectl(stub, kubeconfig, tmp_path / "cache", tmp_path)


@pytest.fixture(params=[pytest.param(True, id="aggregated-discovery"), pytest.param(False, id="legacy-discovery")])
async def kubectl(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Kubectl]:
    server, k = await start(Stub(aggregated=request.param), tmp_path)
    yield k
    await server.close()


async def test_apply_leaves_validation_to_the_server(kubectl: Kubectl) -> None:
    await kubectl.ok("apply", "-f", "-", stdin=WORKLOADS)
    stub = kubectl.stub
    posts = [r for r in stub.writes() if r.method == "POST"]
    assert [r.path.rsplit("/", 1)[1] for r in posts] == [
        "configmaps", "deployments", "services", "poddisruptionbudgets", "horizontalpodautoscalers"]
    assert all(r.query.get("fieldValidation") == "Strict" for r in posts)
    assert "/openapi/v2" not in stub.paths()
    index = stub.cache.index(stub.registry)["paths"]
    fetched = {f"{r.path}?hash={r.query['hash']}" for r in stub.requests if "hash" in r.query}
    assert {index[k]["serverRelativeURL"] for k in ("api/v1", "apis/apps/v1", "apis/policy/v1",
                                                      "apis/autoscaling/v2")} <= fetched
    api = next(r for r in stub.requests if r.path == "/api")
    assert discovery.negotiate_discovery(api.accept) is not None
    per_group_version = [p for p in stub.paths() if p.startswith("/apis/") and p.count("/") == 3]
    assert bool(per_group_version) != stub.aggregated


async def test_reapply_builds_strategic_merge_patch_from_openapi(kubectl: Kubectl) -> None:
    await kubectl.ok("apply", "-f", "-", stdin=WORKLOADS)
    await kubectl.ok("apply", "-f", "-", stdin=WORKLOADS.replace("nginx:1.27", "nginx:1.28"))
    patch = next(r for r in kubectl.stub.writes() if r.method == "PATCH" and r.path.endswith("/deployments/web"))
    assert patch.content_type == "application/strategic-merge-patch+json"
    assert patch.query.get("fieldValidation") == "Strict"
    spec = json.loads(patch.body)["spec"]["template"]["spec"]
    assert spec == {"$setElementOrder/containers": [{"name": "web"}],
                    "containers": [{"name": "web", "image": "nginx:1.28"}]}


async def test_custom_resource_create_and_merge_patch(kubectl: Kubectl) -> None:
    await kubectl.ok("apply", "-f", "-", stdin=CRD)
    await kubectl.ok("apply", "-f", "-", stdin=CRONTAB.replace("REPLICAS", "1"))
    await kubectl.ok("apply", "-f", "-", stdin=CRONTAB.replace("REPLICAS", "2"))
    writes = [r for r in kubectl.stub.writes() if "/crontabs" in r.path]
    assert [(r.method, r.query.get("fieldValidation")) for r in writes] == [("POST", "Strict"), ("PATCH", "Strict")]
    assert writes[1].content_type == "application/merge-patch+json"
    assert json.loads(writes[1].body)["spec"] == {"replicas": 2}
    assert "/openapi/v3/apis/stable.example.com/v1" in kubectl.stub.paths()


@pytest.mark.parametrize(("field", "expected"), [
    pytest.param("deployment.spec.strategy.rollingUpdate", ["maxSurge\t<IntOrString>"], id="int-or-string"),
    pytest.param("pods.spec.containers.resources", ["limits\t<map[string]Quantity>"], id="quantity"),
    pytest.param("hpa.spec", ["GROUP:      autoscaling", "VERSION:    v2", "metrics\t<[]MetricSpec>",
                              "scaleTargetRef\t<CrossVersionObjectReference> -required-"], id="hpa-v2"),
])
async def test_explain_reads_openapi_v3(tmp_path: Path, field: str, expected: list[str]) -> None:
    server, kubectl = await start(Stub(), tmp_path)
    try:
        out = await kubectl.ok("explain", field)
    finally:
        await server.close()
    for line in expected:
        assert line in out, out
