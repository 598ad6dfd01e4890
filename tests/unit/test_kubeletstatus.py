"""kubesim.sim.kubeletstatus: addresses, images, the Node/Lease a kubelet writes, pod status through
Pending -> Running, NoExecute eviction times and the node lifecycle controller's decision."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubesim.sim import kubeletstatus as ks

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


@pytest.mark.parametrize(("index", "address"), [
    pytest.param(0, "127.1.0.1", id="first"),
    pytest.param(253, "127.1.0.254", id="end-of-block"),
    pytest.param(254, "127.1.1.1", id="skips-255-and-0"),
    pytest.param(254 * 256, "127.2.0.1", id="next-second-octet"),
])
def test_kubelet_address(index: int, address: str) -> None:
    assert ks.kubelet_address(index) == address


@given(st.integers(0, 254 * 256 * 250))
def test_kubelet_addresses_are_distinct_loopback_hosts(i: int) -> None:
    a, b = ks.kubelet_address(i), ks.kubelet_address(i + 1)
    assert a != b
    for addr in (a, b):
        octets = [int(x) for x in addr.split(".")]
        assert octets[0] == 127 and octets[1] >= 1 and octets[3] not in (0, 255)


def test_pod_cidr_and_ip() -> None:
    assert ks.pod_cidr("10.128.0.0/9", 0) == "10.128.0.0/24"
    assert ks.pod_cidr("10.128.0.0/9", 4999) == "10.147.135.0/24"
    assert ks.pod_ip("10.128.3.0/24", 2) == "10.128.3.2"
    with pytest.raises(ValueError, match="has no /24 number 256"):
        ks.pod_cidr("10.244.0.0/16", 256)


@pytest.mark.parametrize(("image", "normalized"), [
    pytest.param("nginx", "docker.io/library/nginx:latest", id="official"),
    pytest.param("nginx:1.27", "docker.io/library/nginx:1.27", id="tag"),
    pytest.param("bitnami/redis", "docker.io/bitnami/redis:latest", id="user"),
    pytest.param("registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10", id="registry"),
    pytest.param("localhost:5000/app", "localhost:5000/app:latest", id="port"),
    pytest.param("nginx@sha256:abc", "docker.io/library/nginx@sha256:abc", id="digest"),
])
def test_normalized_image(image: str, normalized: str) -> None:
    assert ks.normalized_image(image) == normalized


def _node(**kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"address": "127.1.0.1", "port": 10250, "cidr": "10.128.0.0/24",
                            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"}, "allocatable": None,
                            "labels": {"pool": "a"}, "taints": None, "annotations": None, "unschedulable": False,
                            "provider_id": None, "now": T0}
    return ks.node_object("n1", **{**args, **kw})


def test_node_object_advertises_address_port_and_health() -> None:
    node = _node()
    status = node["status"]
    assert status["addresses"] == [{"type": "InternalIP", "address": "127.1.0.1"},
                                   {"type": "Hostname", "address": "n1"}]
    assert status["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10250}}
    assert status["allocatable"] == status["capacity"]
    assert status["nodeInfo"]["kubeletVersion"] == "v1.35.0"
    assert [(c["type"], c["status"], c["reason"]) for c in status["conditions"]] == [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID"), ("Ready", "True", "KubeletReady")]
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "n1" and node["metadata"]["labels"]["pool"] == "a"
    assert node["spec"] == {"podCIDR": "10.128.0.0/24", "podCIDRs": ["10.128.0.0/24"]}


def test_heartbeat_keeps_transition_times_until_a_condition_flips() -> None:
    status = _node()["status"]
    later = ks.heartbeat_status(status, T0 + 60)
    ready = next(c for c in later["conditions"] if c["type"] == "Ready")
    assert ready["lastHeartbeatTime"] == "2023-11-14T22:14:20Z"
    assert ready["lastTransitionTime"] == "2023-11-14T22:13:20Z"
    unknown = {**status, "conditions": [{**c, "status": "Unknown"} for c in status["conditions"]]}
    back = ks.heartbeat_status(unknown, T0 + 120)
    assert all(c["lastTransitionTime"] == "2023-11-14T22:15:20Z" for c in back["conditions"])


def test_lease() -> None:
    lease = ks.lease_object("n1", node_uid="u", now=T0 + 0.25)
    assert lease["spec"] == {"holderIdentity": "n1", "leaseDurationSeconds": 40,
                             "renewTime": "2023-11-14T22:13:20.250000Z"}
    assert lease["metadata"]["namespace"] == "kube-node-lease"


def _with(node: dict[str, Any], ready: str, taints: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    conds = [{**c, "status": ready} if c["type"] == "Ready" else c for c in node["status"]["conditions"]]
    spec = {**node["spec"], **({"taints": taints} if taints else {})}
    return {**node, "spec": spec, "status": {**node["status"], "conditions": conds}}


UNREACHABLE = [{"key": ks.UNREACHABLE, "effect": "NoSchedule"},
               {"key": ks.UNREACHABLE, "effect": "NoExecute", "timeAdded": "2023-11-14T22:14:20Z"}]


@pytest.mark.parametrize(("ready", "taints", "stale", "conditions_to", "taints_to"), [
    pytest.param("True", None, False, None, None, id="healthy"),
    pytest.param("True", None, True, "Unknown", UNREACHABLE, id="silent-goes-unknown-and-unreachable"),
    pytest.param("Unknown", UNREACHABLE, True, None, None, id="already-marked"),
    pytest.param("True", UNREACHABLE, False, None, [], id="back-clears-taints"),
    pytest.param("False", None, False, None,
                 [{"key": ks.NOT_READY, "effect": "NoSchedule"},
                  {"key": ks.NOT_READY, "effect": "NoExecute", "timeAdded": "2023-11-14T22:14:20Z"}],
                 id="not-ready-taints"),
    pytest.param("True", [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}], True, "Unknown",
                 [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}, *UNREACHABLE], id="keeps-other-taints"),
])
def test_node_health(ready: str, taints: list[dict[str, Any]] | None, stale: bool, conditions_to: str | None,
                     taints_to: list[dict[str, Any]] | None) -> None:
    decision = ks.node_health(_with(_node(), ready, taints), stale=stale, now=T0 + 60)
    if conditions_to is None:
        assert decision.conditions is None
    else:
        assert decision.conditions is not None
        assert {c["status"] for c in decision.conditions} == {conditions_to}
        assert {c["reason"] for c in decision.conditions} == {"NodeStatusUnknown"}
        assert {c["message"] for c in decision.conditions} == {"Kubelet stopped posting node status."}
    assert decision.taints == taints_to


NOEXEC = {"key": ks.UNREACHABLE, "effect": "NoExecute", "timeAdded": "2023-11-14T22:13:20Z"}


@pytest.mark.parametrize(("taints", "tolerations", "at"), [
    pytest.param([], [], None, id="no-taints"),
    pytest.param([{"key": "k", "effect": "NoSchedule"}], [], None, id="noschedule-ignored"),
    pytest.param([{"key": "k", "effect": "NoExecute"}], [], T0 + 5, id="untolerated-now"),
    pytest.param([{"key": "k", "value": "v", "effect": "NoExecute"}],
                 [{"key": "k", "operator": "Equal", "value": "v", "effect": "NoExecute"}], None,
                 id="tolerated-forever"),
    pytest.param([NOEXEC], [{"key": ks.UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                             "tolerationSeconds": 300}], T0 + 300, id="default-toleration-300s"),
    pytest.param([NOEXEC], [{"operator": "Exists", "tolerationSeconds": 60},
                            {"key": ks.UNREACHABLE, "operator": "Exists", "tolerationSeconds": 300}], T0 + 60,
                 id="shortest-matching-toleration"),
    pytest.param([NOEXEC, {"key": "x", "effect": "NoExecute"}],
                 [{"key": ks.UNREACHABLE, "operator": "Exists", "tolerationSeconds": 300}], T0 + 5,
                 id="one-untolerated-taint-is-enough"),
    pytest.param([{"key": "k", "value": "v", "effect": "NoExecute"}],
                 [{"key": "k", "operator": "Equal", "value": "w"}], T0 + 5, id="value-mismatch"),
])
def test_eviction_time(taints: list[dict[str, Any]], tolerations: list[dict[str, Any]], at: float | None) -> None:
    assert ks.eviction_time(taints, tolerations, now=T0 + 5) == at


def _pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"uid": "1234-5678", "namespace": "default", "name": "web"},
            "spec": {"containers": [{"name": "app", "image": "nginx"}, {"name": "log", "image": "busybox"}], **spec},
            "status": {"phase": "Pending", "qosClass": "Burstable",
                       "conditions": [{"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                                       "lastTransitionTime": "2023-11-14T22:13:00Z"}]}}


def test_pod_status_pending_then_running() -> None:
    args: dict[str, Any] = {"host_ip": "127.1.0.1", "restarts": {}, "last_state": {}, "start_time": T0}
    pending = ks.pod_status(_pod(), pod_ip=None, started=None, ready={}, container_ids={}, now=T0, **args)
    assert pending["phase"] == "Pending" and "podIP" not in pending
    assert [c["state"] for c in pending["containerStatuses"]] == [{"waiting": {"reason": "ContainerCreating"}}] * 2
    ready = next(c for c in pending["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False", "ContainersNotReady", "containers with unready status: [app log]")
    assert [c["type"] for c in pending["conditions"]] == [
        "PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
    running_pod = {**_pod(), "status": pending}
    running = ks.pod_status(running_pod, pod_ip="10.128.0.2", started={"app": T0 + 1, "log": T0 + 1},
                            ready={"app": True, "log": False}, container_ids={"app": "a" * 64, "log": "b" * 64},
                            now=T0 + 1, **args)
    assert running["phase"] == "Running" and running["podIPs"] == [{"ip": "10.128.0.2"}]
    app, log = running["containerStatuses"]
    assert app["state"] == {"running": {"startedAt": "2023-11-14T22:13:21Z"}} and app["ready"] and app["started"]
    assert app["containerID"] == f"containerd://{'a' * 64}" and app["image"] == "docker.io/library/nginx:latest"
    assert not log["ready"]
    conds = {c["type"]: c for c in running["conditions"]}
    assert conds["Ready"]["status"] == "False" and conds["Ready"]["message"] == "containers with unready status: [log]"
    assert conds["Initialized"]["lastTransitionTime"] == "2023-11-14T22:13:20Z"  # unchanged since Pending
    assert conds["PodReadyToStartContainers"]["lastTransitionTime"] == "2023-11-14T22:13:21Z"
    assert conds["PodScheduled"]["lastTransitionTime"] == "2023-11-14T22:13:00Z"


def test_pod_created_with_node_name_gets_pod_scheduled() -> None:
    pod = _pod()
    pod["status"] = {"phase": "Pending"}
    status = ks.pod_status(pod, host_ip="h", pod_ip=None, started=None, ready={}, restarts={}, last_state={},
                           container_ids={}, start_time=T0, now=T0)
    assert status["conditions"][-1]["type"] == "PodScheduled" and status["conditions"][-1]["status"] == "True"


def test_readiness_delay() -> None:
    assert ks.readiness_delay({"name": "a"}) == 0
    assert ks.readiness_delay({"name": "a", "readinessProbe": {"initialDelaySeconds": 5}}) == 5


async def test_node_lifecycle_marks_a_silent_node_and_clears_it_on_return() -> None:
    """NodeLifecycle over an in-memory ApiServer with our own clock (its informers need the loop): nothing within
    the grace period, Unknown and unreachable taints after it, taints gone once the kubelet posts Ready and
    renews again; a Node without a Lease is never touched."""
    from kubesim.apiserver import ApiServer
    from kubesim.sim.nodelifecycle import NodeLifecycle

    api = ApiServer(clock=lambda: T0)
    nodes, leases = api.registry.get("", "nodes"), api.registry.get("coordination.k8s.io", "leases")
    node = api.create(nodes, "", _node())
    api.create(nodes, "", {**_node(), "metadata": {"name": "no-kubelet"}})
    api.create(leases, "kube-node-lease", ks.lease_object("n1", node_uid=node["metadata"]["uid"], now=T0))
    lifecycle = NodeLifecycle(api, grace_period_s=50)
    assert lifecycle.monitor(T0) == [] and lifecycle.monitor(T0 + 49) == []
    assert lifecycle.monitor(T0 + 51) == [("n1", "stopped posting status")]
    marked = api.get(nodes, "", "n1").obj
    assert {c["status"] for c in marked["status"]["conditions"]} == {"Unknown"}
    assert [(t["key"], t["effect"]) for t in marked["spec"]["taints"]] == [(ks.UNREACHABLE, "NoSchedule"),
                                                                          (ks.UNREACHABLE, "NoExecute")]
    assert lifecycle.monitor(T0 + 60) == []  # already marked
    entry = api.get(nodes, "", "n1")
    api._write_update(nodes, entry, {**entry.obj, "status": ks.heartbeat_status(entry.obj["status"], T0 + 61)},
                      subresource="status", dry_run=False)
    assert lifecycle.monitor(T0 + 62) == [("n1", "healthy")]
    assert "taints" not in api.get(nodes, "", "n1").obj["spec"]
    assert "taints" not in api.get(nodes, "", "no-kubelet").obj["spec"]
    await lifecycle.stop()
