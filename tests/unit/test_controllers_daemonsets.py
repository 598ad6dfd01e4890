"""kubesim.sim.daemonsets_decide: eligible nodes, daemon pods, one pod per node, updates, status."""

from __future__ import annotations

from typing import Any

import pytest

from kubesim.sim import daemonsets_decide as dsd
from kubesim.sim import workloads_decide as wd

NOW = wd.parse_time("2025-01-01T12:00:00Z")
Obj = dict[str, Any]


def node(name: str, *, labels: dict[str, str] | None = None, taints: list[Obj] | None = None) -> Obj:
    return {"kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": {"taints": taints or []}}


def ds(*, image: str = "v1", pod_spec: Obj | None = None, max_unavailable: Any = 1, min_ready: int = 0,
       on_delete: bool = False) -> Obj:
    spec: Obj = {"selector": {"matchLabels": {"app": "agent"}},
                 "template": {"metadata": {"labels": {"app": "agent"}},
                              "spec": {"containers": [{"name": "c", "image": image}], **(pod_spec or {})}},
                 "updateStrategy": {"type": "OnDelete"} if on_delete else {
                     "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": max_unavailable, "maxSurge": 0}}}
    if min_ready:
        spec["minReadySeconds"] = min_ready
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "kube-system", "uid": "uid-agent", "generation": 3},
            "spec": spec, "status": {}}


HASH_V1 = dsd.current_hash(ds(image="v1"))


def pod(name: str, on: str, *, bound: bool = True, phase: str = "Running", ready: bool = True,
        pod_hash: str = HASH_V1, created_ago: float = 600, deleting: bool = False) -> Obj:
    spec: Obj = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [on]}]}]}}}}
    if bound:
        spec["nodeName"] = on
    meta: Obj = {"name": name, "namespace": "kube-system", "uid": f"uid-{name}",
                 "creationTimestamp": wd.rfc3339(NOW - created_ago),
                 "labels": {"app": "agent", wd.REVISION_HASH: pod_hash},
                 "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent",
                                      "uid": "uid-agent", "controller": True}]}
    if deleting:
        meta["deletionTimestamp"] = wd.rfc3339(NOW)
    return {"metadata": meta, "spec": spec, "status": {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": wd.rfc3339(NOW - 300)}]}}


def taint(key: str, effect: str, value: str = "") -> Obj:
    return {"key": key, "value": value, "effect": effect}


def affinity(*terms: Obj) -> Obj:
    return {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": list(terms)}}}}


@pytest.mark.parametrize(("the_ds", "the_node", "want"), [
    pytest.param(ds(), node("n1"), (True, True), id="plain"),
    pytest.param(ds(pod_spec={"nodeSelector": {"disk": "ssd"}}), node("n1", labels={"disk": "ssd"}), (True, True),
                 id="node-selector-match"),
    pytest.param(ds(pod_spec={"nodeSelector": {"disk": "ssd"}}), node("n1"), (False, False),
                 id="node-selector-mismatch"),
    pytest.param(ds(pod_spec=affinity({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]})),
                 node("n1", labels={"zone": "a"}), (True, True), id="affinity-in"),
    pytest.param(ds(pod_spec=affinity({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]})),
                 node("n1", labels={"zone": "a"}), (False, False), id="affinity-not-in"),
    pytest.param(ds(pod_spec=affinity({"matchExpressions": [{"key": "gpu", "operator": "Exists"}]},
                                      {"matchFields": [{"key": "metadata.name", "operator": "In",
                                                        "values": ["n1"]}]})),
                 node("n1"), (True, True), id="affinity-any-term"),
    pytest.param(ds(pod_spec=affinity({"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["4"]}]})),
                 node("n1", labels={"cores": "8"}), (True, True), id="affinity-gt"),
    pytest.param(ds(pod_spec={"nodeName": "n2"}), node("n1"), (False, False), id="template-node-name"),
    pytest.param(ds(), node("n1", taints=[taint("dedicated", "NoSchedule", "db")]), (False, True),
                 id="untolerated-no-schedule-keeps-running"),
    pytest.param(ds(), node("n1", taints=[taint("dedicated", "NoExecute", "db")]), (False, False),
                 id="untolerated-no-execute"),
    pytest.param(ds(), node("n1", taints=[taint("dedicated", "PreferNoSchedule")]), (True, True),
                 id="prefer-no-schedule-ignored"),
    pytest.param(ds(pod_spec={"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "db"}]}),
                 node("n1", taints=[taint("dedicated", "NoExecute", "db")]), (True, True), id="tolerated"),
    pytest.param(ds(pod_spec={"tolerations": [{"operator": "Exists"}]}),
                 node("n1", taints=[taint("anything", "NoExecute")]), (True, True), id="tolerate-everything"),
    pytest.param(ds(), node("n1", taints=[taint("node.kubernetes.io/not-ready", "NoExecute")]), (True, True),
                 id="daemon-tolerates-not-ready"),
    pytest.param(ds(), node("n1", taints=[taint("node.kubernetes.io/unschedulable", "NoSchedule")]), (True, True),
                 id="daemon-tolerates-cordon"),
    pytest.param(ds(), node("n1", taints=[taint("node.kubernetes.io/disk-pressure", "NoSchedule")]), (True, True),
                 id="daemon-tolerates-disk-pressure"),
    pytest.param(ds(), node("n1", taints=[taint("node.kubernetes.io/network-unavailable", "NoSchedule")]),
                 (False, True), id="network-unavailable-needs-host-network"),
    pytest.param(ds(pod_spec={"hostNetwork": True}),
                 node("n1", taints=[taint("node.kubernetes.io/network-unavailable", "NoSchedule")]), (True, True),
                 id="host-network-tolerates-network-unavailable"),
])
def test_should_run(the_ds: Obj, the_node: Obj, want: tuple[bool, bool]) -> None:
    assert dsd.should_run(the_ds, the_node) == want


def test_a_daemon_pod_targets_its_node_through_affinity() -> None:
    the_ds = ds(pod_spec={"tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                                           "effect": "NoExecute", "tolerationSeconds": 5}],
                          "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                              "nodeSelectorTerms": [{"matchExpressions": [{"key": "x", "operator": "Exists"}]}]}}}})
    the_ds["metadata"]["annotations"] = {dsd.TEMPLATE_GENERATION_ANNOTATION: "3"}
    p = dsd.daemon_pod(the_ds, "n7", "hash1")
    assert "nodeName" not in p["spec"]
    assert p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n7"]}]}]}
    assert p["metadata"]["labels"] == {"app": "agent", dsd.TEMPLATE_GENERATION_LABEL: "3", wd.REVISION_HASH: "hash1"}
    assert p["metadata"]["generateName"] == "agent-"
    assert p["spec"]["tolerations"] == [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
        {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]
    assert dsd.target_node(p) == "n7"


def test_one_pod_per_eligible_node() -> None:
    nodes = [node("n1"), node("n2"), node("n3", taints=[taint("dedicated", "NoExecute")]), node("n4")]
    pods = [pod("a", "n1"), pod("b", "n3"), pod("c", "n4"), pod("d", "n4", created_ago=10),
            pod("e", "gone", bound=False)]
    acts = dsd.daemonset_plan(ds(), nodes, pods, NOW)
    assert acts.create_on == ("n2",)
    assert set(acts.delete) == {"b", "d", "e"}  # ineligible node, the younger duplicate, a vanished node


def test_failed_and_succeeded_daemon_pods_are_replaced() -> None:
    acts = dsd.daemonset_plan(ds(), [node("n1"), node("n2")],
                              [pod("a", "n1", phase="Failed"), pod("b", "n2", phase="Succeeded")], NOW)
    assert set(acts.delete) == {"a", "b"} and acts.create_on == ()
    assert acts.events == (("Warning", "FailedDaemonPod",
                            "Found failed daemon pod kube-system/a on node n1, will try to kill it"),)


def test_status() -> None:
    nodes = [node("n1"), node("n2"), node("n3"), node("n4", labels={"role": "x"}, taints=[taint("t", "NoExecute")])]
    pods = [pod("a", "n1"), pod("b", "n2", ready=False), pod("c", "n4", pod_hash="old")]
    status = dsd.daemonset_plan(ds(), nodes, pods, NOW).status
    assert status == {"currentNumberScheduled": 2, "numberMisscheduled": 1, "desiredNumberScheduled": 3,
                      "numberReady": 1, "observedGeneration": 3, "updatedNumberScheduled": 2, "numberAvailable": 1,
                      "numberUnavailable": 2}


def test_an_empty_daemonset_reports_the_non_omitempty_zeros() -> None:
    status = dsd.daemonset_plan(ds(), [], [], NOW).status
    assert status == {"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0,
                      "numberReady": 0, "observedGeneration": 3}


@pytest.mark.parametrize(("pods", "max_unavailable", "delete"), [
    pytest.param([pod("a", "n1", pod_hash="old"), pod("b", "n2", pod_hash="old"), pod("c", "n3", pod_hash="old")],
                 1, {"a"}, id="one-at-a-time"),
    pytest.param([pod("a", "n1", pod_hash="old"), pod("b", "n2", pod_hash="old"), pod("c", "n3", pod_hash="old")],
                 "50%", {"a", "b"}, id="percent-rounds-up"),
    pytest.param([pod("a", "n1", pod_hash="old"), pod("b", "n2", pod_hash="old", ready=False),
                  pod("c", "n3", pod_hash="old")], 1, {"b"}, id="unavailable-old-pod-replaced-first"),
    pytest.param([pod("a", "n1"), pod("b", "n2", ready=False), pod("c", "n3", pod_hash="old")], 1, set(),
                 id="waits-for-the-new-pod"),
    pytest.param([pod("a", "n1"), pod("b", "n2"), pod("c", "n3")], 1, set(), id="up-to-date"),
])
def test_rolling_update(pods: list[Obj], max_unavailable: Any, delete: set[str]) -> None:
    acts = dsd.daemonset_plan(ds(max_unavailable=max_unavailable), [node("n1"), node("n2"), node("n3")], pods, NOW)
    assert set(acts.delete) == delete and acts.create_on == ()


def test_on_delete_never_replaces_old_pods() -> None:
    pods = [pod("a", "n1", pod_hash="old")]
    assert dsd.daemonset_plan(ds(on_delete=True), [node("n1")], pods, NOW).delete == ()


def test_requeue_while_ready_pods_wait_out_min_ready_seconds() -> None:
    acts = dsd.daemonset_plan(ds(min_ready=400), [node("n1")], [pod("a", "n1")], NOW)
    assert acts.requeue_after_s == pytest.approx(101.0)
