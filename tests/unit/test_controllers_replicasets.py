"""kubesim.sim.replicasets_decide: what one ReplicaSet sync creates, deletes, claims and reports."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubesim.sim import replicasets_decide as rsd
from kubesim.sim import workloads_decide as wd

NOW = wd.parse_time("2025-01-01T12:00:00Z")
LABELS = {"app": "web", "pod-template-hash": "abc"}


def rs(replicas: int = 3, *, min_ready: int = 0, generation: int = 2, deleting: bool = False,
       status: dict[str, Any] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "web-abc", "namespace": "default", "uid": "uid-rs", "generation": generation}
    if deleting:
        meta["deletionTimestamp"] = wd.rfc3339(NOW)
    spec: dict[str, Any] = {"replicas": replicas, "selector": {"matchLabels": dict(LABELS)},
                            "template": {"metadata": {"labels": dict(LABELS)}, "spec": {"containers": []}}}
    if min_ready:
        spec["minReadySeconds"] = min_ready
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta, "spec": spec, "status": status or {}}


def pod(name: str, *, owned: bool = True, ready: bool = False, ready_ago: float = 100, node: str = "n1",
        phase: str = "Running", deleting: bool = False, labels: dict[str, str] | None = None,
        owner_uid: str = "uid-rs") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": f"uid-{name}",
                            "creationTimestamp": wd.rfc3339(NOW - 1000),
                            "labels": dict(LABELS if labels is None else labels)}
    if owned:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc",
                                    "uid": owner_uid, "controller": True, "blockOwnerDeletion": True}]
    if deleting:
        meta["deletionTimestamp"] = wd.rfc3339(NOW)
    return {"metadata": meta, "spec": {"nodeName": node}, "status": {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": wd.rfc3339(NOW - ready_ago)}]}}


@pytest.mark.parametrize(("the_rs", "pods", "create", "delete"), [
    pytest.param(rs(3), [], 3, (), id="from-zero"),
    pytest.param(rs(3), [pod("a"), pod("b")], 1, (), id="one-missing"),
    pytest.param(rs(3), [pod("a"), pod("b"), pod("c")], 0, (), id="steady"),
    pytest.param(rs(2), [pod("a", ready=True), pod("b", node=""), pod("c", ready=True)], 0, ("b",),
                 id="scale-down-unscheduled-first"),
    pytest.param(rs(2), [pod("a", ready=True), pod("b", phase="Pending"), pod("c", ready=True)], 0, ("b",),
                 id="scale-down-pending-first"),
    pytest.param(rs(2), [pod("a", ready=True), pod("b"), pod("c", ready=True)], 0, ("b",),
                 id="scale-down-not-ready-first"),
    pytest.param(rs(0), [pod("a"), pod("b")], 0, ("a", "b"), id="to-zero"),
    pytest.param(rs(2), [pod("a"), pod("b", deleting=True)], 1, (), id="terminating-pods-are-replaced"),
    pytest.param(rs(2), [pod("a"), pod("b", phase="Failed")], 1, (), id="failed-pods-are-replaced"),
    pytest.param(rs(2), [pod("a"), pod("x", owner_uid="other")], 1, (), id="someone-elses-pod-ignored"),
    pytest.param(rs(2), [pod("a"), pod("o", owned=False)], 0, (), id="orphan-adopted-and-counted"),
    pytest.param(rs(3, deleting=True), [], 0, (), id="deleting-rs-does-not-manage"),
    pytest.param(rs(900), [], rsd.BURST_REPLICAS, (), id="burst-limit"),
])
def test_replicaset_diff_creates_and_deletes(the_rs: dict[str, Any], pods: list[dict[str, Any]], create: int,
                                             delete: tuple[str, ...]) -> None:
    acts = rsd.replicaset_diff(the_rs, pods, NOW)
    assert (acts.create, acts.delete) == (create, delete)


def test_deletion_prefers_pods_doubled_up_with_siblings() -> None:
    mine = [pod("a", ready=True, node="n1"), pod("b", ready=True, node="n2")]
    siblings = [*mine, pod("s1", ready=True, node="n2", owner_uid="uid-old"),
                pod("s2", ready=True, node="n2", owner_uid="uid-old")]
    assert rsd.replicaset_diff(rs(1), mine, NOW, related=siblings).delete == ("b",)
    assert rsd.replicaset_diff(rs(1), mine, NOW).delete in (("a",), ("b",))


def test_claims_adopt_orphans_and_release_mismatches() -> None:
    pods = [pod("a"), pod("o", owned=False), pod("gone", labels={"app": "other"}),
            pod("stranger", owned=False, labels={"app": "other"})]
    acts = rsd.replicaset_diff(rs(2), pods, NOW)
    assert (acts.adopt, acts.release) == (("o",), ("gone",))


@pytest.mark.parametrize(("the_rs", "pods", "want"), [
    pytest.param(rs(3), [], {"replicas": 0, "observedGeneration": 2, "terminatingReplicas": 0}, id="empty"),
    pytest.param(rs(3), [pod("a"), pod("b", ready=True), pod("c", ready=True, labels={**LABELS, "extra": "1"})],
                 {"replicas": 3, "fullyLabeledReplicas": 3, "readyReplicas": 2, "availableReplicas": 2,
                  "observedGeneration": 2, "terminatingReplicas": 0}, id="some-ready"),
    pytest.param(rs(2, min_ready=30), [pod("a", ready=True, ready_ago=10), pod("b", ready=True, ready_ago=60)],
                 {"replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 2, "availableReplicas": 1,
                  "observedGeneration": 2, "terminatingReplicas": 0}, id="min-ready-seconds"),
    pytest.param(rs(1), [pod("a", ready=True), pod("b", deleting=True), pod("c", phase="Succeeded")],
                 {"replicas": 1, "fullyLabeledReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
                  "observedGeneration": 2, "terminatingReplicas": 1}, id="terminating-counted-apart"),
])
def test_status(the_rs: dict[str, Any], pods: list[dict[str, Any]], want: dict[str, Any]) -> None:
    assert rsd.replicaset_diff(the_rs, pods, NOW).status == want


def test_status_counts_only_pods_that_existed_before_the_sync() -> None:
    acts = rsd.replicaset_diff(rs(3), [pod("a", ready=True)], NOW)
    assert acts.create == 2 and acts.status["replicas"] == 1


def test_requeue_when_ready_pods_become_available_later() -> None:
    pods = [pod("a", ready=True, ready_ago=10), pod("b", ready=True, ready_ago=25)]
    assert rsd.replicaset_diff(rs(2, min_ready=30), pods, NOW).requeue_after_s == pytest.approx(6.0)
    assert rsd.replicaset_diff(rs(2), pods, NOW).requeue_after_s is None
    assert rsd.replicaset_diff(rs(3, min_ready=30), pods, NOW).requeue_after_s is None  # not all ready yet


def test_replica_failure_condition_comes_and_goes() -> None:
    failing = rsd.replicaset_diff(rs(3), [pod("a")], NOW, manage_error='pods "x" is forbidden: quota')
    cond = failing.status["conditions"][0]
    assert cond == {"type": "ReplicaFailure", "status": "True", "lastTransitionTime": "2025-01-01T12:00:00Z",
                    "reason": "FailedCreate", "message": 'pods "x" is forbidden: quota'}
    over = rsd.replicaset_diff(rs(0), [pod("a")], NOW, manage_error="boom").status["conditions"][0]
    assert over["reason"] == "FailedDelete"
    healed = rsd.replicaset_diff(rs(3, status=failing.status), [pod("a")], NOW)
    assert "conditions" not in healed.status


@given(st.integers(0, 40), st.lists(st.tuples(st.booleans(), st.sampled_from(["Running", "Pending", "Failed"]),
                                              st.booleans()), max_size=40))
def test_diff_reaches_the_desired_count(replicas: int, specs: list[tuple[bool, str, bool]]) -> None:
    pods = [pod(f"p{i}", ready=r, phase=ph, deleting=d) for i, (r, ph, d) in enumerate(specs)]
    acts = rsd.replicaset_diff(rs(replicas), pods, NOW)
    active = sum(1 for p in pods if wd.is_active(p))
    assert active + acts.create - len(acts.delete) == replicas
    assert not (acts.create and acts.delete)
    assert set(acts.delete) <= {p["metadata"]["name"] for p in pods if wd.is_active(p)}
