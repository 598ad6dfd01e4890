"""The official `kubernetes` Python client against kubesim: CRUD, list+watch, scale, HPA views, eviction."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from tests.integration.conftest import Sim, start_sim, stop_sim


@pytest.fixture(scope="module")
def small_cache_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    s = start_sim(tmp_path_factory.mktemp("kubesim-small"), ["--default-watch-cache-size", "20"])
    yield s
    stop_sim(s)


def api_client(sim: Sim) -> client.ApiClient:
    return config.new_client_from_config(config_file=sim.kubeconfig)


def deployment(name: str, replicas: int = 2) -> client.V1Deployment:
    labels = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]),
            ),
        ),
    )


def test_crud(sim: Sim) -> None:
    core = client.CoreV1Api(api_client(sim))
    cm = core.create_namespaced_config_map("default", client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="crud", labels={"k": "v"}), data={"a": "1"}))
    assert cm.metadata.uid and cm.metadata.resource_version and cm.metadata.creation_timestamp
    got = core.read_namespaced_config_map("crud", "default")
    got.data["a"] = "2"
    updated = core.replace_namespaced_config_map("crud", "default", got)
    assert int(updated.metadata.resource_version) > int(cm.metadata.resource_version)
    # a stale resourceVersion is a 409 Conflict
    got.data["a"] = "3"
    with pytest.raises(ApiException) as e:
        core.replace_namespaced_config_map("crud", "default", got)
    assert e.value.status == 409
    patched = core.patch_namespaced_config_map("crud", "default", {"data": {"b": "x"}})
    assert patched.data == {"a": "2", "b": "x"}
    assert [c.metadata.name for c in core.list_namespaced_config_map("default", label_selector="k=v").items] == [
        "crud"]
    core.delete_namespaced_config_map("crud", "default")
    with pytest.raises(ApiException) as e:
        core.read_namespaced_config_map("crud", "default")
    assert e.value.status == 404


def test_generate_name_and_generation(sim: Sim) -> None:
    apps = client.AppsV1Api(api_client(sim))
    dep = deployment("gen")
    dep.metadata.name, dep.metadata.generate_name = None, "gen-"
    created = apps.create_namespaced_deployment("default", dep)
    assert created.metadata.name.startswith("gen-") and len(created.metadata.name) == 9
    assert created.metadata.generation == 1
    patched = apps.patch_namespaced_deployment(created.metadata.name, "default", {"spec": {"replicas": 5}})
    assert patched.metadata.generation == 2
    labelled = apps.patch_namespaced_deployment(created.metadata.name, "default",
                                                {"metadata": {"labels": {"x": "y"}}})
    assert labelled.metadata.generation == 2
    apps.delete_namespaced_deployment(created.metadata.name, "default")


def test_list_then_watch_resumes(sim: Sim) -> None:
    core = client.CoreV1Api(api_client(sim))
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="watched")))
    core.create_namespaced_config_map("watched", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="one")))
    listed = core.list_namespaced_config_map("watched")
    rv = listed.metadata.resource_version
    core.create_namespaced_config_map("watched", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="two")))
    core.delete_namespaced_config_map("one", "watched")
    w = watch.Watch()
    events = []
    for ev in w.stream(core.list_namespaced_config_map, "watched", resource_version=rv, timeout_seconds=2):
        events.append((ev["type"], ev["object"].metadata.name))
        if len(events) == 2:
            w.stop()
    assert events == [("ADDED", "two"), ("DELETED", "one")]


def test_paging(sim: Sim) -> None:
    core = client.CoreV1Api(api_client(sim))
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="paged")))
    for i in range(7):
        core.create_namespaced_secret("paged", client.V1Secret(metadata=client.V1ObjectMeta(name=f"s{i}")))
    names: list[str] = []
    token = None
    while True:
        page = core.list_namespaced_secret("paged", limit=3, _continue=token)
        names += [s.metadata.name for s in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert names == [f"s{i}" for i in range(7)]


def test_watch_too_old_is_410(small_cache_sim: Sim) -> None:
    core = client.CoreV1Api(api_client(small_cache_sim))
    first = core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c0")))
    for i in range(1, 40):
        core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"c{i}")))
    w = watch.Watch()
    with pytest.raises(ApiException) as e:
        for _ in w.stream(core.list_namespaced_config_map, "default",
                          resource_version=first.metadata.resource_version, timeout_seconds=2):
            pass
    assert e.value.status == 410


def test_scale_subresource(sim: Sim) -> None:
    apps = client.AppsV1Api(api_client(sim))
    apps.create_namespaced_deployment("default", deployment("scaled", 2))
    scale = apps.read_namespaced_deployment_scale("scaled", "default")
    assert scale.spec.replicas == 2 and scale.status.selector == "app=scaled"
    apps.patch_namespaced_deployment_scale("scaled", "default", {"spec": {"replicas": 6}})
    assert apps.read_namespaced_deployment("scaled", "default").spec.replicas == 6
    scale = apps.read_namespaced_deployment_scale("scaled", "default")
    scale.spec.replicas = 1
    apps.replace_namespaced_deployment_scale("scaled", "default", scale)
    assert apps.read_namespaced_deployment("scaled", "default").spec.replicas == 1


def test_hpa_v1_and_v2_views(sim: Sim) -> None:
    c = api_client(sim)
    v2 = client.AutoscalingV2Api(c)
    v1 = client.AutoscalingV1Api(c)
    v2.create_namespaced_horizontal_pod_autoscaler("default", client.V2HorizontalPodAutoscaler(
        metadata=client.V1ObjectMeta(name="views"),
        spec=client.V2HorizontalPodAutoscalerSpec(
            scale_target_ref=client.V2CrossVersionObjectReference(api_version="apps/v1", kind="Deployment",
                                                                  name="scaled"),
            max_replicas=8,
            metrics=[
                client.V2MetricSpec(type="Resource", resource=client.V2ResourceMetricSource(
                    name="cpu", target=client.V2MetricTarget(type="Utilization", average_utilization=60))),
                client.V2MetricSpec(type="Pods", pods=client.V2PodsMetricSource(
                    metric=client.V2MetricIdentifier(name="http_requests"),
                    target=client.V2MetricTarget(type="AverageValue", average_value="10"))),
            ],
        ),
    ))
    as_v1 = v1.read_namespaced_horizontal_pod_autoscaler("views", "default")
    assert as_v1.spec.target_cpu_utilization_percentage == 60
    assert as_v1.spec.min_replicas == 1 and as_v1.spec.max_replicas == 8
    assert "http_requests" in as_v1.metadata.annotations["autoscaling.alpha.kubernetes.io/metrics"]
    as_v2 = v2.read_namespaced_horizontal_pod_autoscaler("views", "default")
    assert [m.type for m in as_v2.spec.metrics] == ["Resource", "Pods"]
    assert not (as_v2.metadata.annotations or {})
    # an update through v1 keeps the metric v1 cannot express; as upstream, the CPU target comes back last
    as_v1.spec.max_replicas = 9
    v1.replace_namespaced_horizontal_pod_autoscaler("views", "default", as_v1)
    again = v2.read_namespaced_horizontal_pod_autoscaler("views", "default")
    assert again.spec.max_replicas == 9 and [m.type for m in again.spec.metrics] == ["Pods", "Resource"]


def _ready_pod(name: str, labels: dict[str, str]) -> client.V1Pod:
    return client.V1Pod(metadata=client.V1ObjectMeta(name=name, labels=labels),
                        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]))


def test_eviction_blocked_by_pdb(sim: Sim) -> None:
    c = api_client(sim)
    core, policy = client.CoreV1Api(c), client.PolicyV1Api(c)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="evict")))
    for i in range(2):
        core.create_namespaced_pod("evict", _ready_pod(f"p{i}", {"app": "db"}))
        core.patch_namespaced_pod_status(f"p{i}", "evict", {"status": {
            "phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})
    policy.create_namespaced_pod_disruption_budget("evict", client.V1PodDisruptionBudget(
        metadata=client.V1ObjectMeta(name="db"),
        spec=client.V1PodDisruptionBudgetSpec(min_available=1,
                                              selector=client.V1LabelSelector(match_labels={"app": "db"}))))
    pdb = policy.read_namespaced_pod_disruption_budget("db", "evict")
    assert (pdb.status.current_healthy, pdb.status.desired_healthy, pdb.status.disruptions_allowed,
            pdb.status.expected_pods) == (2, 1, 1, 2)
    body = client.V1Eviction(metadata=client.V1ObjectMeta(name="p0", namespace="evict"))
    core.create_namespaced_pod_eviction("p0", "evict", body)
    with pytest.raises(ApiException) as e:
        core.read_namespaced_pod("p0", "evict")
    assert e.value.status == 404
    body = client.V1Eviction(metadata=client.V1ObjectMeta(name="p1", namespace="evict"))
    with pytest.raises(ApiException) as e:
        core.create_namespaced_pod_eviction("p1", "evict", body)
    assert e.value.status == 429
    assert "disruption budget" in e.value.body
    assert core.read_namespaced_pod("p1", "evict").metadata.name == "p1"


def test_finalizers_hold_deletion(sim: Sim) -> None:
    core = client.CoreV1Api(api_client(sim))
    core.create_namespaced_config_map("default", client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="held", finalizers=["example.com/hold"])))
    core.delete_namespaced_config_map("held", "default")
    held = core.read_namespaced_config_map("held", "default")
    assert held.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("held", "default", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as e:
        core.read_namespaced_config_map("held", "default")
    assert e.value.status == 404


def test_state_file_round_trip(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    first = start_sim(tmp_path / "a", ["--state-file", str(state)])
    try:
        client.CoreV1Api(api_client(first)).create_namespaced_config_map(
            "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="kept"), data={"k": "v"}))
    finally:
        stop_sim(first)
    second = start_sim(tmp_path / "b", ["--state-file", str(state)])
    try:
        cm = client.CoreV1Api(api_client(second)).read_namespaced_config_map("kept", "default")
        assert cm.data == {"k": "v"}
    finally:
        stop_sim(second)
