"""kubesim.sim.deployments_decide / deployments_status: one Deployment sync, against upstream's sync.go,
rolling.go, recreate.go and progress.go behaviour, and a rolling update driven to completion."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubesim.sim import deployments_decide as dd
from kubesim.sim import deployments_status as ds
from kubesim.sim import workloads_decide as wd

NOW = wd.parse_time("2025-01-01T12:00:00Z")
Obj = dict[str, Any]


def template(image: str) -> Obj:
    return {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": image}]}}


def rs_name(image: str, collisions: int | None = None) -> str:
    return f"web-{wd.pod_template_hash(template(image), collisions)}"


def deploy(replicas: int = 3, *, image: str = "v1", generation: int = 1, surge: Any = "25%",
           unavailable: Any = "25%", recreate: bool = False, status: Obj | None = None, paused: bool = False,
           history: int = 10, deadline: int | None = 600, deleting: bool = False) -> Obj:
    spec: Obj = {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": template(image),
                 "revisionHistoryLimit": history}
    spec["strategy"] = {"type": "Recreate"} if recreate else {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}
    if deadline is not None:
        spec["progressDeadlineSeconds"] = deadline
    if paused:
        spec["paused"] = True
    meta: Obj = {"name": "web", "namespace": "default", "uid": "uid-web", "generation": generation}
    if deleting:
        meta["deletionTimestamp"] = wd.rfc3339(NOW)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec, "status": status or {}}


def rs(image: str, replicas: int, *, available: int | None = None, actual: int | None = None, revision: int = 1,
       created_ago: float = 1000, desired: int | None = None, max_replicas: int | None = None,
       owner: str | None = "uid-web", generation: int = 1) -> Obj:
    t = template(image)
    h = wd.pod_template_hash(t, None)
    t["metadata"]["labels"]["pod-template-hash"] = h
    annotations = {ds.REVISION: str(revision)}
    if desired is not None:
        annotations[ds.DESIRED_REPLICAS] = str(desired)
        annotations[ds.MAX_REPLICAS] = str(max_replicas if max_replicas is not None else desired + 1)
    meta: Obj = {"name": f"web-{h}", "namespace": "default", "uid": f"uid-{image}", "generation": generation,
                 "creationTimestamp": wd.rfc3339(NOW - created_ago), "annotations": annotations,
                 "labels": dict(t["metadata"]["labels"])}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": owner,
                                    "controller": True, "blockOwnerDeletion": True}]
    avail = replicas if available is None else available
    status = {"replicas": replicas if actual is None else actual, "readyReplicas": avail, "availableReplicas": avail,
              "observedGeneration": generation}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta,
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web", "pod-template-hash": h}},
                     "template": t}, "status": status}


def ops_of(plan: dd.DeploymentPlan, kind: type) -> list[Any]:
    return [op for op in plan.ops if isinstance(op, kind)]


def events(plan: dd.DeploymentPlan) -> list[str]:
    return [op.message for op in ops_of(plan, dd.Event)]


def final_status(plan: dd.DeploymentPlan) -> Obj:
    return ops_of(plan, dd.WriteStatus)[-1].status


def cond(status: Obj, ctype: str) -> tuple[str, str, str]:
    c = wd.get_condition(status, ctype)
    assert c is not None, status
    return c["status"], c["reason"], c["message"]


# -- a new Deployment ------------------------------------------------------------------------------------------
def test_a_new_deployment_creates_its_replicaset() -> None:
    plan = dd.deployment_plan(deploy(), [], NOW)
    assert plan.path == "rolling"
    (create,) = ops_of(plan, dd.CreateReplicaSet)
    new = create.obj
    h = wd.pod_template_hash(template("v1"), None)
    assert new["metadata"] == {
        "name": f"web-{h}", "namespace": "default", "labels": {"app": "web", "pod-template-hash": h},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "uid-web",
                             "controller": True, "blockOwnerDeletion": True}],
        "annotations": {ds.REVISION: "1", ds.DESIRED_REPLICAS: "3", ds.MAX_REPLICAS: "4"}}
    assert new["spec"]["replicas"] == 3
    assert new["spec"]["selector"] == {"matchLabels": {"app": "web", "pod-template-hash": h}}
    assert new["spec"]["template"]["metadata"]["labels"] == {"app": "web", "pod-template-hash": h}
    assert events(plan) == [f"Scaled up replica set web-{h} from 0 to 3"]
    assert ops_of(plan, dd.SetAnnotations) == [dd.SetAnnotations({ds.REVISION: "1"})]
    status = final_status(plan)
    assert cond(status, "Progressing") == ("True", "NewReplicaSetCreated", f'Created new replica set "web-{h}"')
    assert cond(status, "Available") == ("False", "MinimumReplicasUnavailable",
                                         "Deployment does not have minimum availability.")
    assert status["observedGeneration"] == 1 and status.get("replicas", 0) == 0
    assert [c["type"] for c in status["conditions"]] == ["Progressing", "Available"]


def test_without_a_progress_deadline_there_is_no_progressing_condition() -> None:
    status = final_status(dd.deployment_plan(deploy(deadline=None), [], NOW))
    assert [c["type"] for c in status["conditions"]] == ["Available"]


def test_a_finished_rollout_reports_available_and_progressed() -> None:
    d = deploy(status={"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "conditions": [
        ds.new_condition("Progressing", "True", "ReplicaSetUpdated", "x", NOW - 50)]})
    plan = dd.deployment_plan(d, [rs("v1", 3, desired=3, max_replicas=4)], NOW)
    status = final_status(plan)
    assert {k: v for k, v in status.items() if k != "conditions"} == {
        "observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3}
    assert cond(status, "Available") == ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
    assert cond(status, "Progressing") == ("True", "NewReplicaSetAvailable",
                                           f'ReplicaSet "{rs_name("v1")}" has successfully progressed.')
    assert [c["type"] for c in status["conditions"]] == ["Available", "Progressing"]
    # and once recorded, the next sync writes nothing
    again = dd.deployment_plan(_apply(d, {}, plan, NOW), [rs("v1", 3, desired=3, max_replicas=4)], NOW + 30)
    assert again.ops == ()


def test_the_revision_moves_to_a_deployment_missing_it() -> None:
    d = deploy(status={"conditions": [ds.new_condition("Progressing", "True", "NewReplicaSetAvailable", "x", NOW)]})
    plan = dd.deployment_plan(d, [rs("v1", 3, revision=4, desired=3, max_replicas=4)], NOW)
    assert ops_of(plan, dd.SetAnnotations) == [dd.SetAnnotations({ds.REVISION: "4"})]


# -- scaling ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("replicas", "message", "annotations"), [
    pytest.param(5, "Scaled up replica set {} from 3 to 5", {ds.DESIRED_REPLICAS: "5", ds.MAX_REPLICAS: "7"},
                 id="up"),
    pytest.param(1, "Scaled down replica set {} from 3 to 1", {ds.DESIRED_REPLICAS: "1", ds.MAX_REPLICAS: "2"},
                 id="down"),
    pytest.param(0, "Scaled down replica set {} from 3 to 0", {ds.DESIRED_REPLICAS: "0", ds.MAX_REPLICAS: "0"},
                 id="to-zero"),
])
def test_a_replicas_change_scales_the_only_replicaset(replicas: int, message: str, annotations: Obj) -> None:
    plan = dd.deployment_plan(deploy(replicas), [rs("v1", 3, desired=3, max_replicas=4)], NOW)
    assert plan.path == "scale"
    (update,) = ops_of(plan, dd.UpdateReplicaSet)
    assert update.obj["spec"]["replicas"] == replicas
    assert {k: v for k, v in update.obj["metadata"]["annotations"].items() if k != ds.REVISION} == annotations
    assert events(plan) == [message.format(rs_name("v1"))]


def test_scaling_mid_rollout_is_proportional() -> None:
    old = rs("v1", 2, revision=1, created_ago=1000, desired=3, max_replicas=4)
    new = rs("v2", 2, revision=2, created_ago=100, desired=3, max_replicas=4)
    plan = dd.deployment_plan(deploy(6, image="v2", generation=3), [old, new], NOW)
    assert plan.path == "scale"
    sizes = {u.obj["metadata"]["name"]: u.obj["spec"]["replicas"] for u in ops_of(plan, dd.UpdateReplicaSet)}
    assert sizes == {rs_name("v2"): 4, rs_name("v1"): 4}  # 6 + maxSurge 2 = 8, split 2:2 -> 4:4
    assert events(plan) == [f"Scaled up replica set {rs_name('v2')} from 2 to 4",
                            f"Scaled up replica set {rs_name('v1')} from 2 to 4"]


def test_proportional_scale_down_takes_leftovers_from_the_largest() -> None:
    old = rs("v1", 3, revision=1, created_ago=1000, desired=5, max_replicas=7)
    new = rs("v2", 4, revision=2, created_ago=100, desired=5, max_replicas=7)
    plan = dd.deployment_plan(deploy(2, image="v2", generation=3), [old, new], NOW)
    sizes = {u.obj["metadata"]["name"]: u.obj["spec"]["replicas"] for u in ops_of(plan, dd.UpdateReplicaSet)}
    # allowed 2 + 1 = 3, remove 4: old 3*3/7 -> 1 (-2), new 4*3/7 -> 2 (-2)
    assert sizes == {rs_name("v2"): 2, rs_name("v1"): 1}


# -- rolling update --------------------------------------------------------------------------------------------
def test_a_template_change_starts_a_new_replicaset_within_max_surge() -> None:
    plan = dd.deployment_plan(deploy(image="v2", generation=2), [rs("v1", 3, desired=3, max_replicas=4)], NOW)
    assert plan.path == "rolling"
    (create,) = ops_of(plan, dd.CreateReplicaSet)
    assert create.obj["metadata"]["name"] == rs_name("v2") and create.obj["spec"]["replicas"] == 1
    assert create.obj["metadata"]["annotations"][ds.REVISION] == "2"
    assert events(plan) == [f"Scaled up replica set {rs_name('v2')} from 0 to 1"]
    assert not ops_of(plan, dd.UpdateReplicaSet)  # maxUnavailable 0 of 3: the old one waits
    assert ops_of(plan, dd.SetAnnotations) == [dd.SetAnnotations({ds.REVISION: "2"})]


def test_old_pods_go_as_new_ones_become_available() -> None:
    old = rs("v1", 3, revision=1, desired=3, max_replicas=4)
    new = rs("v2", 1, revision=2, created_ago=10, desired=3, max_replicas=4)
    plan = dd.deployment_plan(deploy(image="v2", generation=2), [old, new], NOW)
    assert events(plan) == [f"Scaled down replica set {rs_name('v1')} from 3 to 2"]
    waiting = dd.deployment_plan(deploy(image="v2", generation=2),
                                 [old, rs("v2", 1, available=0, revision=2, created_ago=10, desired=3)], NOW)
    assert not events(waiting)


def test_without_surge_old_pods_go_first() -> None:
    plan = dd.deployment_plan(deploy(image="v2", generation=2, surge=0, unavailable=1),
                              [rs("v1", 3, desired=3, max_replicas=3)], NOW)
    (create,) = ops_of(plan, dd.CreateReplicaSet)
    assert create.obj["spec"]["replicas"] == 0
    assert events(plan) == [f"Scaled down replica set {rs_name('v1')} from 3 to 2"]


def test_unhealthy_old_replicas_are_cleaned_up_first() -> None:
    old = rs("v1", 3, available=1, revision=1, desired=3, max_replicas=4)
    new = rs("v2", 1, revision=2, created_ago=10, desired=3, max_replicas=4)
    plan = dd.deployment_plan(deploy(image="v2", generation=2, unavailable=1), [old, new], NOW)
    # maxUnavailable 1: min available 2; 4 pods - 2 - 0 new unavailable = 2 may go, the 2 unhealthy ones
    assert events(plan) == [f"Scaled down replica set {rs_name('v1')} from 3 to 1"]


def test_completion_cleans_up_old_replicasets_beyond_the_history_limit() -> None:
    olds = [rs(f"v{i}", 0, revision=i, created_ago=1000 - i, desired=3) for i in range(1, 4)]
    current = rs("v4", 3, revision=4, created_ago=10, desired=3, max_replicas=4)
    d = deploy(image="v4", generation=4, history=1, status={
        "observedGeneration": 4, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3, "readyReplicas": 3})
    plan = dd.deployment_plan(d, [*olds, current], NOW)
    assert [op.name for op in ops_of(plan, dd.DeleteReplicaSet)] == [rs_name("v1"), rs_name("v2")]


def test_a_stalled_rollout_times_out() -> None:
    stale = ds.new_condition("Progressing", "True", "ReplicaSetUpdated", "x", NOW - 700)
    d = deploy(image="v2", generation=2, status={"observedGeneration": 2, "replicas": 4, "updatedReplicas": 1,
                                                "availableReplicas": 3, "readyReplicas": 3, "unavailableReplicas": 1,
                                                "conditions": [stale]})
    rss = [rs("v1", 3, revision=1, desired=3, max_replicas=4),
           rs("v2", 1, available=0, revision=2, created_ago=700, desired=3, max_replicas=4)]
    status = final_status(dd.deployment_plan(d, rss, NOW))
    assert cond(status, "Progressing") == ("False", "ProgressDeadlineExceeded",
                                           f'ReplicaSet "{rs_name("v2")}" has timed out progressing.')


def test_a_stuck_rollout_asks_to_be_looked_at_when_its_deadline_passes() -> None:
    recent = ds.new_condition("Progressing", "True", "ReplicaSetUpdated",
                              f'ReplicaSet "{rs_name("v2")}" is progressing.', NOW - 100)
    rss = [rs("v1", 3, revision=1, desired=3, max_replicas=4),
           rs("v2", 1, available=0, revision=2, created_ago=100, desired=3, max_replicas=4)]
    d = deploy(image="v2", generation=2, status={"conditions": [recent]})
    settled = _apply(d, {}, dd.deployment_plan(d, rss, NOW), NOW)
    plan = dd.deployment_plan(settled, rss, NOW)
    # the first sync saw progress (a new ReplicaSet) and stamped the condition: the deadline plus a second
    assert plan.ops == () and plan.requeue_after_s == pytest.approx(601.0)
    later = dd.deployment_plan(settled, rss, NOW + 400)
    assert later.ops == () and later.requeue_after_s == pytest.approx(201.0)


# -- recreate --------------------------------------------------------------------------------------------------
def test_recreate_scales_old_down_then_waits_then_creates() -> None:
    d = deploy(image="v2", generation=2, recreate=True)
    first = dd.deployment_plan(d, [rs("v1", 3, desired=3, max_replicas=3)], NOW)
    assert first.path == "recreate" and not ops_of(first, dd.CreateReplicaSet)
    assert events(first) == [f"Scaled down replica set {rs_name('v1')} from 3 to 0"]
    draining = rs("v1", 0, actual=2, desired=3, max_replicas=3)
    assert not ops_of(dd.deployment_plan(d, [draining], NOW), dd.CreateReplicaSet)
    gone = rs("v1", 0, actual=0, desired=3, max_replicas=3)
    old_pod = {"metadata": {"name": "p", "ownerReferences": [{"uid": "uid-v1", "controller": True}]},
               "status": {"phase": "Running"}}
    assert not ops_of(dd.deployment_plan(d, [gone], NOW, pods=[old_pod]), dd.CreateReplicaSet)
    done_pod = {**old_pod, "status": {"phase": "Succeeded"}}
    last = dd.deployment_plan(d, [gone], NOW, pods=[done_pod])
    (create,) = ops_of(last, dd.CreateReplicaSet)
    assert create.obj["spec"]["replicas"] == 3
    assert events(last) == [f"Scaled up replica set {rs_name('v2')} from 0 to 3"]


# -- paused, deleted, adoption, collisions ---------------------------------------------------------------------
def test_a_paused_deployment_records_it_and_starts_no_rollout() -> None:
    plan = dd.deployment_plan(deploy(image="v2", generation=2, paused=True), [rs("v1", 3, desired=3)], NOW)
    assert plan.path == "paused" and not ops_of(plan, dd.CreateReplicaSet)
    assert cond(final_status(plan), "Progressing") == ("Unknown", "DeploymentPaused", "Deployment is paused")
    resumed = dd.deployment_plan(deploy(image="v1", status=final_status(plan)), [rs("v1", 3, desired=3)], NOW)
    written = [cond(op.status, "Progressing")[1] for op in ops_of(resumed, dd.WriteStatus)]
    assert (written[0], written[-1]) == ("DeploymentResumed", "NewReplicaSetAvailable")


def test_a_deployment_being_deleted_only_reports_status() -> None:
    plan = dd.deployment_plan(deploy(image="v2", deleting=True), [rs("v1", 3, desired=3)], NOW)
    assert plan.path == "deleting"
    assert all(isinstance(op, dd.WriteStatus) for op in plan.ops)


def test_orphans_are_adopted_and_strangers_released() -> None:
    orphan = rs("v1", 3, desired=3, max_replicas=4, owner=None)
    stranger = rs("v9", 1, owner="uid-web")
    stranger["metadata"]["labels"] = stranger["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    plan = dd.deployment_plan(deploy(), [orphan, stranger], NOW)
    refs = ops_of(plan, dd.SetOwnerReferences)
    assert [(r.name, len(r.owner_references)) for r in refs] == [(stranger["metadata"]["name"], 0),
                                                                 (rs_name("v1"), 1)]
    assert not ops_of(plan, dd.CreateReplicaSet)  # the adopted one is the new ReplicaSet


def test_a_hash_collision_bumps_the_collision_count() -> None:
    squatter = rs("v1", 1, owner="someone-else")
    plan = dd.deployment_plan(deploy(), [squatter], NOW)
    assert plan.path == "retry" and not ops_of(plan, dd.CreateReplicaSet)
    assert final_status(plan)["collisionCount"] == 1
    retried = dd.deployment_plan(deploy(status={"collisionCount": 1}), [squatter], NOW)
    (create,) = ops_of(retried, dd.CreateReplicaSet)
    assert create.obj["metadata"]["name"] == rs_name("v1", 1) != rs_name("v1")


# -- fenceposts ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("replicas", "surge", "unavailable", "want"), [
    pytest.param(3, "25%", "25%", (1, 0), id="defaults-of-3"),
    pytest.param(10, "25%", "25%", (3, 2), id="defaults-of-10"),
    pytest.param(3, 0, 0, (0, 1), id="both-zero-makes-one-unavailable"),
    pytest.param(2, "10%", "10%", (1, 0), id="round-surge-up-unavailable-down"),
    pytest.param(2, 0, 5, (0, 2), id="unavailable-capped-at-replicas"),
])
def test_fenceposts(replicas: int, surge: Any, unavailable: Any, want: tuple[int, int]) -> None:
    d = deploy(replicas, surge=surge, unavailable=unavailable)
    assert (ds.max_surge(d), ds.max_unavailable(d)) == want


# -- a whole rolling update ------------------------------------------------------------------------------------
def _apply(d: Obj, rss: dict[str, Obj], plan: dd.DeploymentPlan, now: float) -> Obj:
    for op in plan.ops:
        if isinstance(op, dd.CreateReplicaSet):
            obj = copy.deepcopy(op.obj)
            obj["metadata"].update(uid=f"uid-{obj['metadata']['name']}", creationTimestamp=wd.rfc3339(now),
                                   generation=1)
            rss[obj["metadata"]["name"]] = obj
        elif isinstance(op, dd.UpdateReplicaSet):
            rss[op.obj["metadata"]["name"]] = {**copy.deepcopy(op.obj),
                                               "status": rss[op.obj["metadata"]["name"]].get("status", {})}
        elif isinstance(op, dd.DeleteReplicaSet):
            del rss[op.name]
        elif isinstance(op, dd.SetAnnotations):
            d = {**d, "metadata": {**d["metadata"], "annotations": {**(d["metadata"].get("annotations") or {}),
                                                                     **op.annotations}}}
        elif isinstance(op, dd.WriteStatus):
            d = {**d, "status": op.status}
    return d


def _replicaset_controller(rss: dict[str, Obj]) -> None:
    """Pods appear at once and become available one step after they appeared."""
    for obj in rss.values():
        want = obj["spec"]["replicas"]
        before = (obj.get("status") or {}).get("replicas", 0)
        available = min(want, before)
        obj["status"] = {"replicas": want, "readyReplicas": available, "availableReplicas": available,
                         "observedGeneration": 1}


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.one_of(st.integers(0, 4), st.sampled_from(["0%", "10%", "25%", "50%", "100%"])),
       st.one_of(st.integers(0, 4), st.sampled_from(["0%", "10%", "25%", "50%"])))
def test_a_rolling_update_stays_within_surge_and_availability_and_finishes(replicas: int, surge: Any,
                                                                           unavailable: Any) -> None:
    d = deploy(replicas, image="v2", generation=2, surge=surge, unavailable=unavailable)
    max_total = replicas + ds.max_surge(d)
    min_available = replicas - ds.max_unavailable(d)
    old = rs("v1", replicas, desired=replicas, max_replicas=max_total)
    rss = {old["metadata"]["name"]: old}
    now = NOW
    for _ in range(4 * replicas + 10):
        now += 10
        plan = dd.deployment_plan(d, list(rss.values()), now)
        d = _apply(d, rss, plan, now)
        assert sum(r["spec"]["replicas"] for r in rss.values()) <= max_total
        _replicaset_controller(rss)
        assert sum(r["status"]["availableReplicas"] for r in rss.values()) >= min_available
        new = rss.get(rs_name("v2"))
        if new is not None and new["status"]["availableReplicas"] == replicas and all(
                r["spec"]["replicas"] == 0 for n, r in rss.items() if n != rs_name("v2")):
            break
    else:
        pytest.fail(f"rollout did not finish: {[(n, r['spec']['replicas']) for n, r in rss.items()]}")
    final = dd.deployment_plan(d, list(rss.values()), now + 10)
    d = _apply(d, rss, final, now + 10)
    assert d["status"]["updatedReplicas"] == d["status"]["availableReplicas"] == replicas
    assert cond(d["status"], "Progressing")[1] == "NewReplicaSetAvailable"
    assert d["metadata"]["annotations"][ds.REVISION] == "2"
