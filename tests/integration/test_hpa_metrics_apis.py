"""The HPA controller's I/O against kubesim over HTTP, one sync at a time: Pods and Object metrics from
custom.metrics.k8s.io (served only at v1beta1, so the controller must fall back), External metrics, a
CustomResourceDefinition with a scale subresource as the target, status written only on change, a target that
does not exist, a scale update that conflicts, and AmbiguousSelector. The metrics APIs are a small HTTPS backend
of this test behind kubesim's aggregator (APIService -> Service -> Endpoints)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from autoscaler.hpa import decide
from autoscaler.hpa.controller import CLASS_ANNOTATION, ControllerOptions, HPAController
from kubescale import kubeconfig, pki
from kubescale.events import EventRecorder
from kubescale.kubeclient import KubeClient
from kubesim.app import KubeSim
from tests.integration.conftest import until

NS = "default"
TS = "2026-11-22T10:00:00Z"


@dataclass
class Backend:
    """custom.metrics.k8s.io/v1beta1 and external.metrics.k8s.io/v1beta1, values set by the test."""
    port: int = 0
    pod_rps: dict[str, str] = field(default_factory=dict)  # pod -> value
    service_hits: str = "0"
    queue_depth: str = "0"
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def app(self) -> web.Application:
        async def custom_discovery(_: web.Request) -> web.Response:
            return web.json_response({"kind": "APIResourceList", "apiVersion": "v1",
                                      "groupVersion": "custom.metrics.k8s.io/v1beta1", "resources": [
                                          {"name": "pods/rps", "namespaced": True, "kind": "MetricValueList",
                                           "verbs": ["get"]}]})

        async def external_discovery(_: web.Request) -> web.Response:
            return web.json_response({"kind": "APIResourceList", "apiVersion": "v1",
                                      "groupVersion": "external.metrics.k8s.io/v1beta1", "resources": [
                                          {"name": "queue_depth", "namespaced": True,
                                           "kind": "ExternalMetricValueList", "verbs": ["get"]}]})

        def record(request: web.Request) -> None:
            self.seen.append((request.path, dict(request.query)))

        async def pods_rps(request: web.Request) -> web.Response:
            record(request)
            items = [{"describedObject": {"kind": "Pod", "namespace": NS, "name": pod, "apiVersion": "/v1"},
                      "metricName": "rps", "timestamp": TS, "value": value} for pod, value in self.pod_rps.items()]
            return web.json_response({"kind": "MetricValueList", "apiVersion": "custom.metrics.k8s.io/v1beta1",
                                      "metadata": {}, "items": items})

        async def service_hits(request: web.Request) -> web.Response:
            record(request)
            return web.json_response({"kind": "MetricValueList", "apiVersion": "custom.metrics.k8s.io/v1beta1",
                                      "metadata": {}, "items": [
                                          {"describedObject": {"kind": "Service", "namespace": NS, "name": "front",
                                                               "apiVersion": "/v1"},
                                           "metricName": "hits", "timestamp": TS, "value": self.service_hits}]})

        async def queue(request: web.Request) -> web.Response:
            record(request)
            return web.json_response({"kind": "ExternalMetricValueList",
                                      "apiVersion": "external.metrics.k8s.io/v1beta1", "metadata": {}, "items": [
                                          {"metricName": "queue_depth", "metricLabels": {"queue": "jobs"},
                                           "timestamp": TS, "value": self.queue_depth}]})

        app = web.Application()
        app.router.add_get("/apis/custom.metrics.k8s.io/v1beta1", custom_discovery)
        app.router.add_get("/apis/external.metrics.k8s.io/v1beta1", external_discovery)
        app.router.add_get("/apis/custom.metrics.k8s.io/v1beta1/namespaces/default/pods/*/rps", pods_rps)
        app.router.add_get("/apis/custom.metrics.k8s.io/v1beta1/namespaces/default/services/front/hits", service_hits)
        app.router.add_get("/apis/external.metrics.k8s.io/v1beta1/namespaces/default/queue_depth", queue)
        return app


def _apiservice(group: str, port: int) -> list[dict[str, Any]]:
    name = group.split(".")[0] + "-metrics"
    return [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "kube-system"},
         "spec": {"ports": [{"port": 443, "targetPort": port}]}},
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": "kube-system"},
         "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": port}]}]},
        {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": f"v1beta1.{group}"},
         "spec": {"group": group, "version": "v1beta1", "groupPriorityMinimum": 100, "versionPriority": 100,
                  "insecureSkipTLSVerify": True, "service": {"namespace": "kube-system", "name": name, "port": 443}}},
    ]


def _pod(name: str, labels: dict[str, str], cpu: str = "100m") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS, "labels": labels},
            "spec": {"containers": [{"name": "app", "image": "app", "resources": {"requests": {"cpu": cpu}}}]}}


def _hpa(name: str, target: dict[str, str], metrics: list[dict[str, Any]], max_replicas: int = 20) -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"scaleTargetRef": target, "minReplicas": 1, "maxReplicas": max_replicas, "metrics": metrics}}


WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "schema": {"openAPIV3Schema": {"type": "object",
                                                          "x-kubernetes-preserve-unknown-fields": True}},
                           "subresources": {"status": {}, "scale": {
                               "specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
                               "labelSelectorPath": ".status.selector"}}}]}}


@dataclass
class Env:
    sim: KubeSim
    client: KubeClient
    controller: HPAController
    backend: Backend

    async def apply(self, path: str, obj: dict[str, Any]) -> dict[str, Any]:
        return await self.client.create(path, obj)

    async def running(self, pod: dict[str, Any]) -> None:
        created = await self.client.create(f"/api/v1/namespaces/{NS}/pods", pod)
        created["status"] = {"phase": "Running", "startTime": "2026-01-01T00:00:00Z",
                             "conditions": [{"type": "Ready", "status": "True",
                                             "lastTransitionTime": "2026-01-01T00:00:10Z"}]}
        await self.client.update(f"/api/v1/namespaces/{NS}/pods/{pod['metadata']['name']}/status", created)

    async def sync(self, name: str) -> decide.Decision:
        await until(f"hpa {name} cached", lambda: _cached(self.controller, name))
        decision = await self.controller.reconcile_key((NS, name))
        assert decision is not None
        return decision

    async def hpa(self, name: str) -> dict[str, Any]:
        return await self.client.get(f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers/{name}")


async def _cached(controller: HPAController, name: str) -> bool:
    return (NS, name) in controller.hpas.items


@pytest.fixture
async def env(inproc_sim: KubeSim, tmp_path: Path) -> AsyncIterator[Env]:
    backend = Backend()
    cert, key = pki.ensure_self_signed(str(tmp_path / "backend"))
    runner = web.AppRunner(backend.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=pki.server_ssl_context(cert_file=cert, key_file=key))
    await site.start()
    backend.port = runner.addresses[0][1]
    client = KubeClient(kubeconfig.load(str(tmp_path / "kc"), environ={}))
    for group in ("custom.metrics.k8s.io", "external.metrics.k8s.io"):
        for obj in _apiservice(group, backend.port):
            path = {"Service": "/api/v1/namespaces/kube-system/services",
                    "Endpoints": "/api/v1/namespaces/kube-system/endpoints",
                    "APIService": "/apis/apiregistration.k8s.io/v1/apiservices"}[obj["kind"]]
            await client.create(path, obj)
    recorder = EventRecorder(client, component="horizontal-pod-autoscaler")
    controller = HPAController(client, ControllerOptions(sync_period_s=3600), recorder=recorder)
    await recorder.start()
    await controller.pods.start()
    await controller.hpas.start()
    assert await controller.wait_synced(10)
    try:
        yield Env(inproc_sim, client, controller, backend)
    finally:
        await controller.stop()
        await recorder.stop()
        await client.close()
        await runner.cleanup()


async def _deployment(env: Env, name: str, replicas: int, labels: dict[str, str]) -> None:
    await env.apply(f"/apis/apps/v1/namespaces/{NS}/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "app", "image": "app"}]}}}})
    dep = await env.client.get(f"/apis/apps/v1/namespaces/{NS}/deployments/{name}")
    dep["status"] = {"replicas": replicas}
    await env.client.update(f"/apis/apps/v1/namespaces/{NS}/deployments/{name}/status", dep)


async def test_pods_and_object_metrics_through_custom_metrics_v1beta1(env: Env) -> None:
    await _deployment(env, "web", 3, {"app": "web"})
    for i in range(3):
        await env.running(_pod(f"web-{i}", {"app": "web"}))
        env.backend.pod_rps[f"web-{i}"] = "30"  # 90 rps over a 10 rps/pod target -> 9
    env.backend.service_hits = "1200"  # 1200 over a Value target of 300 -> ratio 4 x 3 ready pods = 12
    await env.apply(f"/api/v1/namespaces/{NS}/services", {"apiVersion": "v1", "kind": "Service",
                                                          "metadata": {"name": "front", "namespace": NS},
                                                          "spec": {"ports": [{"port": 80}]}})
    await env.apply(f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers", _hpa(
        "web", {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, [
            {"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue",
                                                                           "averageValue": "10"}}},
            {"type": "Object", "object": {"describedObject": {"apiVersion": "v1", "kind": "Service", "name": "front"},
                                          "metric": {"name": "hits"},
                                          "target": {"type": "Value", "value": "300"}}}]))
    await until("pods cached", lambda: _pods_cached(env.controller, 3))
    d = await env.sync("web")
    assert [(m.type, m.name, m.replicas, m.error) for m in d.metrics] == [
        ("Pods", "rps", 9, None), ("Object", "hits", 12, None)]
    # legacy scale-up limit: max(2 x 3, 4) = 6
    assert (d.current_replicas, d.desired_replicas, d.rescale) == (3, 6, True)
    assert d.reason == "Service metric hits above target"
    dep = await env.client.get(f"/apis/apps/v1/namespaces/{NS}/deployments/web")
    assert dep["spec"]["replicas"] == 6
    assert ("/apis/custom.metrics.k8s.io/v1beta1/namespaces/default/pods/*/rps", {"labelSelector": "app=web"}) \
        in env.backend.seen
    status = (await env.hpa("web"))["status"]
    assert status["desiredReplicas"] == 6 and status["currentReplicas"] == 3
    assert status["currentMetrics"][0] == {"type": "Pods", "pods": {"metric": {"name": "rps"},
                                                                   "current": {"averageValue": "30"}}}
    assert status["currentMetrics"][1]["object"]["current"] == {"value": "1200"}
    limited = next(c for c in status["conditions"] if c["type"] == "ScalingLimited")
    assert (limited["status"], limited["reason"]) == ("True", "ScaleUpLimit")


async def _pods_cached(controller: HPAController, n: int) -> bool:
    return len(controller.pods.items) >= n


async def test_a_custom_resource_scaled_on_an_external_metric(env: Env) -> None:
    await env.apply("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", WIDGET_CRD)

    async def widget_served() -> bool:
        found = await env.client.get("/apis/example.com/v1")
        return any(r.get("name") == "widgets/scale" for r in found.get("resources", []))
    await until("widgets served", widget_served)
    await env.apply(f"/apis/example.com/v1/namespaces/{NS}/widgets", {
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": NS},
        "spec": {"replicas": 2}})
    widget = await env.client.get(f"/apis/example.com/v1/namespaces/{NS}/widgets/w")
    widget["status"] = {"replicas": 2, "selector": "app=w"}
    await env.client.update(f"/apis/example.com/v1/namespaces/{NS}/widgets/w/status", widget)
    env.backend.queue_depth = "50"  # 50 over 10 per replica -> 5
    await env.apply(f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers", _hpa(
        "w", {"apiVersion": "example.com/v1", "kind": "Widget", "name": "w"}, [
            {"type": "External", "external": {"metric": {"name": "queue_depth",
                                                         "selector": {"matchLabels": {"queue": "jobs"}}},
                                              "target": {"type": "AverageValue", "averageValue": "10"}}}]))
    d = await env.sync("w")
    assert (d.desired_replicas, d.rescale) == (4, True)  # 5 wanted, the legacy limit max(2 x 2, 4) = 4
    assert d.metrics[0].replicas == 5 and d.metrics[0].error is None
    scaled = await env.client.get(f"/apis/example.com/v1/namespaces/{NS}/widgets/w")
    assert scaled["spec"]["replicas"] == 4
    assert ("/apis/external.metrics.k8s.io/v1beta1/namespaces/default/queue_depth",
            {"labelSelector": "queue=jobs"}) in env.backend.seen


async def test_status_is_written_only_when_it_changes(env: Env) -> None:
    await _deployment(env, "steady", 2, {"app": "steady"})
    for i in range(2):
        await env.running(_pod(f"steady-{i}", {"app": "steady"}))
        env.backend.pod_rps[f"steady-{i}"] = "10"
    await env.apply(f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers", _hpa(
        "steady", {"apiVersion": "apps/v1", "kind": "Deployment", "name": "steady"}, [
            {"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue",
                                                                           "averageValue": "10"}}}]))
    await until("pods cached", lambda: _pods_cached(env.controller, 2))
    first = await env.sync("steady")
    assert not first.rescale
    written = env.controller.telemetry.status_writes
    version = (await env.hpa("steady"))["metadata"]["resourceVersion"]
    await until("the written status cached", lambda: _status_cached(env.controller, "steady", version))
    await env.sync("steady")
    assert env.controller.telemetry.status_writes == written
    assert (await env.hpa("steady"))["metadata"]["resourceVersion"] == version


async def _status_cached(controller: HPAController, name: str, version: str) -> bool:
    cached = controller.hpas.items.get((NS, name)) or {}
    return (cached.get("metadata") or {}).get("resourceVersion") == version


async def test_a_missing_target_and_an_unknown_kind_fail_get_scale(env: Env) -> None:
    await env.apply(f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers", _hpa(
        "gone", {"apiVersion": "apps/v1", "kind": "Deployment", "name": "nope"}, [
            {"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue",
                                                                           "averageValue": "10"}}}]))
    await env.apply(f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers", _hpa(
        "typo", {"apiVersion": "apps/v1", "kind": "Deploymnet", "name": "web"}, [
            {"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue",
                                                                           "averageValue": "10"}}}]))
    gone = await env.sync("gone")
    assert [(e.type, e.reason, e.message) for e in gone.events] == [
        ("Warning", "FailedGetScale", 'deployments.apps "nope" not found')]
    typo = await env.sync("typo")
    assert typo.events[0].message == 'no matches for kind "Deploymnet" in group "apps"'
    able = next(c for c in (await env.hpa("typo"))["status"]["conditions"] if c["type"] == "AbleToScale")
    assert (able["status"], able["reason"]) == ("False", "FailedGetScale")
    assert able["message"] == ("the HPA controller was unable to get the target's current scale: no matches for "
                               'kind "Deploymnet" in group "apps"')


async def test_two_hpas_on_the_same_pods_are_ambiguous(env: Env) -> None:
    await _deployment(env, "shared", 2, {"app": "shared"})
    for i in range(2):
        await env.running(_pod(f"shared-{i}", {"app": "shared"}))
        env.backend.pod_rps[f"shared-{i}"] = "10"
    metric = [{"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue",
                                                                             "averageValue": "10"}}}]
    for name in ("one", "two"):
        await env.apply(f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers", _hpa(
            name, {"apiVersion": "apps/v1", "kind": "Deployment", "name": "shared"}, metric))
    await until("pods cached", lambda: _pods_cached(env.controller, 2))
    await env.sync("one")  # learns one's selector
    d = await env.sync("two")
    assert d.events[0].reason == "AmbiguousSelector"
    assert d.events[0].message == ("pods by selector app=shared are controlled by multiple HPAs: "
                                   "[default/one default/two]")


async def test_a_conflicting_scale_update_is_retried_on_fresh_data(env: Env) -> None:
    await _deployment(env, "busy", 2, {"app": "busy"})
    for i in range(2):
        await env.running(_pod(f"busy-{i}", {"app": "busy"}))
        env.backend.pod_rps[f"busy-{i}"] = "20"  # 40 over 10 each -> 4
    await env.apply(f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers", _hpa(
        "busy", {"apiVersion": "apps/v1", "kind": "Deployment", "name": "busy"}, [
            {"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue",
                                                                           "averageValue": "10"}}}]))
    await until("pods cached", lambda: _pods_cached(env.controller, 2))
    # every write through kubesim conflicts for a moment: the sync retries, then records FailedRescale
    env.sim.server.faults.set(write_conflict_rate=1.0)
    try:
        failed = await env.sync("busy")
    finally:
        env.sim.server.faults.clear()
    assert [e.reason for e in failed.events][-1:] == ["FailedRescale"]
    assert failed.events[-1].message.startswith("New size: 4; reason: pods metric rps above target; error: ")
    assert not failed.rescale and failed.history.scale_up_events == ()
    ok = await env.sync("busy")
    assert ok.rescale and ok.desired_replicas == 4
    dep = await env.client.get(f"/apis/apps/v1/namespaces/{NS}/deployments/busy")
    assert dep["spec"]["replicas"] == 4



async def test_hpas_of_another_class_are_left_alone(env: Env) -> None:
    await _deployment(env, "classy", 2, {"app": "classy"})
    hpa = _hpa("classy", {"apiVersion": "apps/v1", "kind": "Deployment", "name": "classy"}, [
        {"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue",
                                                                       "averageValue": "10"}}}])
    hpa["metadata"]["annotations"] = {CLASS_ANNOTATION: "predictive"}
    await env.apply(f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers", hpa)
    await until("hpa cached", lambda: _cached(env.controller, "classy"))
    assert await env.controller.reconcile_key((NS, "classy")) is None  # this controller has no class
    assert not ((await env.hpa("classy")).get("status") or {}).get("conditions")
    mine = HPAController(env.client, ControllerOptions(hpa_class="predictive"), recorder=env.controller.recorder)
    await mine.hpas.start()
    try:
        await until("hpa cached", lambda: _cached(mine, "classy"))
        decision = await mine.reconcile_key((NS, "classy"))
        assert decision is not None and decision.current_replicas == 2
    finally:
        await mine.stop()
