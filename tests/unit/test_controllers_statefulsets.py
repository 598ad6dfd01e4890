"""kubesim.sim.statefulsets_decide: ordered pod names, ordered and parallel management, updates, status."""

from __future__ import annotations

from typing import Any

import pytest

from kubesim.sim import statefulsets_decide as ssd
from kubesim.sim import workloads_decide as wd

NOW = wd.parse_time("2025-01-01T12:00:00Z")
Obj = dict[str, Any]


def sts(replicas: int = 3, *, image: str = "v1", parallel: bool = False, partition: int | None = None,
        on_delete: bool = False, status: Obj | None = None, start: int | None = None, min_ready: int = 0) -> Obj:
    spec: Obj = {"replicas": replicas, "serviceName": "web-svc", "selector": {"matchLabels": {"app": "db"}},
                 "podManagementPolicy": "Parallel" if parallel else "OrderedReady",
                 "template": {"metadata": {"labels": {"app": "db"}},
                              "spec": {"containers": [{"name": "c", "image": image}]}}}
    if on_delete:
        spec["updateStrategy"] = {"type": "OnDelete"}
    else:
        spec["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"partition": partition or 0}}
    if start is not None:
        spec["ordinals"] = {"start": start}
    if min_ready:
        spec["minReadySeconds"] = min_ready
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": "default", "uid": "uid-db", "generation": 2},
            "spec": spec, "status": status or {}}


REV_V1 = ssd.revision_name(sts(image="v1"))
REV_V2 = ssd.revision_name(sts(image="v2"))


def pod(ordinal: int, *, phase: str = "Running", ready: bool = True, revision: str = REV_V1,
        deleting: bool = False, ready_ago: float = 600) -> Obj:
    name = f"db-{ordinal}"
    meta: Obj = {"name": name, "namespace": "default", "uid": f"uid-{name}",
                 "labels": {"app": "db", wd.REVISION_HASH: revision},
                 "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "uid": "uid-db",
                                      "controller": True, "blockOwnerDeletion": True}]}
    if deleting:
        meta["deletionTimestamp"] = wd.rfc3339(NOW)
    return {"metadata": meta, "spec": {}, "status": {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": wd.rfc3339(NOW - ready_ago)}]}}


def created(acts: ssd.StatefulSetActions) -> list[str]:
    return [p["metadata"]["name"] for p in acts.create]


@pytest.mark.parametrize(("the_set", "pods", "create", "delete"), [
    pytest.param(sts(), [], ["db-0"], [], id="ordered-first"),
    pytest.param(sts(), [pod(0, phase="Pending", ready=False)], [], [], id="ordered-waits-for-running"),
    pytest.param(sts(), [pod(0, ready=False)], [], [], id="ordered-waits-for-ready"),
    pytest.param(sts(), [pod(0)], ["db-1"], [], id="ordered-next"),
    pytest.param(sts(min_ready=60), [pod(0, ready_ago=10)], [], [], id="ordered-waits-for-available"),
    pytest.param(sts(), [pod(0), pod(2)], ["db-1"], [], id="ordered-fills-the-gap"),
    pytest.param(sts(parallel=True), [], ["db-0", "db-1", "db-2"], [], id="parallel-all"),
    pytest.param(sts(start=5), [], ["db-5"], [], id="start-ordinal"),
    pytest.param(sts(1), [pod(0), pod(1), pod(2)], [], ["db-2"], id="ordered-scale-down-highest-first"),
    pytest.param(sts(1), [pod(0), pod(1), pod(2, deleting=True)], [], [], id="ordered-waits-for-termination"),
    pytest.param(sts(1, parallel=True), [pod(0), pod(1), pod(2)], [], ["db-2", "db-1"], id="parallel-scale-down"),
    pytest.param(sts(3), [pod(0), pod(1, phase="Failed")], [], ["db-1"], id="failed-pod-deleted"),
    pytest.param(sts(3, image="v2"), [pod(0), pod(1), pod(2)], [], ["db-2"], id="rolling-update-highest-first"),
    pytest.param(sts(3, image="v2"), [pod(0), pod(1), pod(2, revision=REV_V2)], [], ["db-1"],
                 id="rolling-update-next"),
    pytest.param(sts(3, image="v2"), [pod(0), pod(1), pod(2, revision=REV_V2, ready=False)], [], [],
                 id="rolling-update-waits-for-updated-pod"),
    pytest.param(sts(3, image="v2", partition=2), [pod(0), pod(1), pod(2, revision=REV_V2)], [], [],
                 id="rolling-update-stops-at-partition"),
    pytest.param(sts(3, image="v2", on_delete=True), [pod(0), pod(1), pod(2)], [], [], id="on-delete"),
])
def test_statefulset_plan(the_set: Obj, pods: list[Obj], create: list[str], delete: list[str]) -> None:
    acts = ssd.statefulset_plan(the_set, pods, NOW)
    assert (created(acts), list(acts.delete)) == (create, delete)


def test_a_new_pod_has_its_identity() -> None:
    the_set = sts()
    the_set["spec"]["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": {}}]
    (p,) = ssd.statefulset_plan(the_set, [pod(0)], NOW).create
    assert p["metadata"]["name"] == "db-1" and p["metadata"]["generateName"] == "db-"
    assert p["metadata"]["labels"] == {"app": "db", ssd.POD_NAME_LABEL: "db-1", ssd.POD_INDEX_LABEL: "1",
                                       wd.REVISION_HASH: REV_V1}
    assert p["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db",
                                                 "uid": "uid-db", "controller": True, "blockOwnerDeletion": True}]
    assert (p["spec"]["hostname"], p["spec"]["subdomain"]) == ("db-1", "web-svc")
    assert p["spec"]["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "data-db-1"}}]


def test_revision_names_follow_the_template() -> None:
    assert REV_V1.startswith("db-") and REV_V1 != REV_V2
    assert ssd.revision_name(sts(image="v1", status={"collisionCount": 1})) != REV_V1


def test_status_counts_pods_by_state_and_revision() -> None:
    pods = [pod(0), pod(1, ready=False), pod(2, revision=REV_V2), pod(3, phase="Pending", ready=False)]
    status = ssd.statefulset_plan(sts(4, image="v2", status={"currentRevision": REV_V1}), pods, NOW).status
    assert status == {"observedGeneration": 2, "replicas": 4, "readyReplicas": 2, "currentReplicas": 3,
                      "updatedReplicas": 1, "availableReplicas": 2, "currentRevision": REV_V1,
                      "updateRevision": REV_V2, "collisionCount": 0}


def test_a_finished_update_makes_the_update_revision_current() -> None:
    pods = [pod(i, revision=REV_V2) for i in range(3)]
    status = ssd.statefulset_plan(sts(3, image="v2", status={"currentRevision": REV_V1}), pods, NOW).status
    assert (status["currentRevision"], status["currentReplicas"], status["updatedReplicas"]) == (REV_V2, 3, 3)


def test_an_empty_set_reports_zeros_that_go_does_not_omit() -> None:
    status = ssd.statefulset_plan(sts(0), [], NOW).status
    assert status == {"observedGeneration": 2, "replicas": 0, "availableReplicas": 0, "currentRevision": REV_V1,
                      "updateRevision": REV_V1, "collisionCount": 0}


def test_pods_of_other_names_are_not_claimed() -> None:
    stray = pod(0)
    stray["metadata"]["name"] = "other-0"
    orphan = pod(1)
    del orphan["metadata"]["ownerReferences"]
    acts = ssd.statefulset_plan(sts(), [stray, orphan], NOW)
    assert acts.adopt == ("db-1",) and created(acts) == ["db-0"]
