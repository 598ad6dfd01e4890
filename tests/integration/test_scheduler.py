"""kubesim's scheduler against a running kubesim: pods beyond capacity stay Pending with upstream's message and
a FailedScheduling event; a new node gets them scheduled. Pods are read back over HTTP, as a client sees them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from kubesim.app import KubeSim
from kubesim.sim.scheduler import Scheduler, SchedulerConfig
from tests.integration.conftest import until

pytestmark = pytest.mark.integration

Obj = dict[str, Any]
CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


def node(name: str, cpu: str, *, taints: tuple[Obj, ...] = ()) -> Obj:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {"taints": list(taints)},
            "status": {"allocatable": {"cpu": cpu, "memory": "4Gi", "pods": "110"},
                       "capacity": {"cpu": cpu, "memory": "4Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def pod(name: str, cpu: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx", "resources": {"requests": {"cpu": cpu}}}]}}


class Cluster:
    def __init__(self, sim: KubeSim, http: aiohttp.ClientSession) -> None:
        self.sim, self.http = sim, http
        self.nodes = sim.api.registry.get("", "nodes")
        self.pods = sim.api.registry.get("", "pods")

    async def get(self, path: str) -> Obj:
        async with self.http.get(self.sim.url + path) as r:
            assert r.status == 200, await r.text()
            return json.loads(await r.text())

    async def pod_list(self) -> list[Obj]:
        return (await self.get("/api/v1/namespaces/default/pods"))["items"]

    async def until(self, what: str, check: Callable[[], Any], timeout_s: float = 10.0) -> Any:
        return await until(what, check, timeout_s)


@pytest.fixture
async def cluster(inproc_sim: KubeSim) -> AsyncIterator[Cluster]:
    sim = inproc_sim
    scheduler = Scheduler(sim.api, SchedulerConfig(batch_interval_s=0.02, retry_interval_s=60, initial_backoff_s=0.05,
                                                   max_backoff_s=0.2))
    await scheduler.start()
    async with aiohttp.ClientSession() as http:
        yield Cluster(sim, http)
    await scheduler.stop()


def scheduled_cond(p: Obj) -> Obj | None:
    return next((c for c in (p.get("status") or {}).get("conditions") or () if c["type"] == "PodScheduled"), None)


async def test_pods_beyond_capacity_wait_for_a_new_node(cluster: Cluster) -> None:
    api = cluster.sim.api
    for n in (node("worker-1", "1"), node("worker-2", "1"), node("control-plane", "4", taints=(CONTROL_PLANE_TAINT,))):
        api.create(cluster.nodes, "", n)
    for i in range(6):  # 400m each: two fit on each 1-cpu worker, two are left over
        api.create(cluster.pods, "default", pod(f"web-{i}", "400m"))

    async def settled() -> list[Obj] | None:
        pods = await cluster.pod_list()
        bound = [p for p in pods if p["spec"].get("nodeName")]
        waiting = [p for p in pods if (c := scheduled_cond(p)) and c["status"] == "False"]
        return pods if len(bound) == 4 and len(waiting) == 2 else None

    pods = await cluster.until("4 pods bound and 2 unschedulable", settled)
    per_node: dict[str, int] = {}
    for p in pods:
        if p["spec"].get("nodeName"):
            per_node[p["spec"]["nodeName"]] = per_node.get(p["spec"]["nodeName"], 0) + 1
    assert per_node == {"worker-1": 2, "worker-2": 2}
    expected = ("0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, "
                "2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for "
                "scheduling, 2 No preemption victims found for incoming pod.")
    pending = [p for p in pods if not p["spec"].get("nodeName")]
    for p in pending:
        cond = scheduled_cond(p)
        assert cond is not None
        assert (cond["status"], cond["reason"], cond["message"]) == ("False", "Unschedulable", expected)
        assert p["status"]["phase"] == "Pending"

    events = (await cluster.get("/api/v1/namespaces/default/events"))["items"]
    failed = [e for e in events if e["reason"] == "FailedScheduling"]
    assert {e["involvedObject"]["name"] for e in failed} == {p["metadata"]["name"] for p in pending}
    for e in failed:
        assert (e["type"], e["message"], e["source"]["component"], e["reportingComponent"]) == (
            "Warning", expected, "default-scheduler", "default-scheduler")
        assert e["count"] >= 1 and e["firstTimestamp"] and e["lastTimestamp"]
    scheduled = [e for e in events if e["reason"] == "Scheduled"]
    assert len(scheduled) == 4
    assert all(e["message"].startswith("Successfully assigned default/web-") for e in scheduled)

    api.create(cluster.nodes, "", node("worker-3", "1"))

    async def all_bound() -> list[Obj] | None:
        pods = await cluster.pod_list()
        return pods if all(p["spec"].get("nodeName") for p in pods) else None

    pods = await cluster.until("the two waiting pods to be bound", all_bound)
    assert {p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == "worker-3"} == {
        p["metadata"]["name"] for p in pending}
    for p in pods:
        cond = scheduled_cond(p)
        assert cond is not None and cond["status"] == "True"


async def test_retries_bump_the_event_count_and_keep_the_condition(cluster: Cluster) -> None:
    api = cluster.sim.api
    api.create(cluster.nodes, "", node("small", "500m"))
    api.create(cluster.pods, "default", pod("big", "2"))

    async def failed_events() -> list[Obj] | None:
        events = (await cluster.get("/api/v1/namespaces/default/events"))["items"]
        return [e for e in events if e["reason"] == "FailedScheduling"] or None

    first = await cluster.until("a FailedScheduling event", failed_events)
    assert len(first) == 1 and first[0]["count"] == 1
    assert first[0]["message"] == ("0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are "
                                   "available: 1 No preemption victims found for incoming pod.")
    cond_before = scheduled_cond(await cluster.get("/api/v1/namespaces/default/pods/big"))
    # a node change that matters (a label) makes the scheduler try again: same message, so the count goes up
    api.patch(cluster.nodes, "", "small", json.dumps({"metadata": {"labels": {"tier": "x"}}}).encode(),
              "application/merge-patch+json")

    async def bumped() -> list[Obj] | None:
        events = await failed_events() or []
        return events if events and events[0]["count"] == 2 else None

    events = await cluster.until("the event count to reach 2", bumped)
    assert len(events) == 1
    after = await cluster.get("/api/v1/namespaces/default/pods/big")
    assert scheduled_cond(after) == cond_before  # unchanged condition: not rewritten


async def test_a_higher_priority_pod_preempts_and_is_nominated(cluster: Cluster) -> None:
    api = cluster.sim.api
    api.create(cluster.nodes, "", node("only", "1"))
    for i in range(2):
        api.create(cluster.pods, "default", pod(f"low-{i}", "500m"))

    async def both_bound() -> bool:
        return all(p["spec"].get("nodeName") for p in await cluster.pod_list())

    await cluster.until("the low-priority pods to be bound", both_bound)
    urgent = pod("urgent", "400m")
    urgent["spec"]["priority"] = 1000
    api.create(cluster.pods, "default", urgent)

    async def nominated() -> Obj | None:
        p = await cluster.get("/api/v1/namespaces/default/pods/urgent")
        return p if p["status"].get("nominatedNodeName") == "only" else None

    p = await cluster.until("urgent to be nominated", nominated)
    assert scheduled_cond(p)["message"] == "0/1 nodes are available: 1 Insufficient cpu."  # type: ignore[index]
    victims = [v for v in await cluster.pod_list() if v["metadata"].get("deletionTimestamp")]
    assert len(victims) == 1  # one 500m pod is enough to make room
    victim = victims[0]
    disruption = next(c for c in victim["status"]["conditions"] if c["type"] == "DisruptionTarget")
    assert (disruption["status"], disruption["reason"]) == ("True", "PreemptionByScheduler")
    # while the victim terminates, a retry (any node change) preempts no one else
    api.patch(cluster.nodes, "", "only", json.dumps({"metadata": {"labels": {"retry": "1"}}}).encode(),
              "application/merge-patch+json")

    async def patient() -> Obj | None:
        p = await cluster.get("/api/v1/namespaces/default/pods/urgent")
        cond = scheduled_cond(p)
        return p if cond and cond["message"].endswith("not eligible due to a terminating pod on the nominated "
                                                        "node.") else None

    p = await cluster.until("urgent to wait for its victim", patient)
    assert p["status"]["nominatedNodeName"] == "only"
    assert [v["metadata"]["name"] for v in await cluster.pod_list() if v["metadata"].get("deletionTimestamp")] == [
        victim["metadata"]["name"]]
    # the victim terminates (no kubelet here: finish it), then urgent is bound where it was nominated
    api.delete(cluster.pods, "default", victim["metadata"]["name"], {"gracePeriodSeconds": 0})

    async def urgent_bound() -> Obj | None:
        p = await cluster.get("/api/v1/namespaces/default/pods/urgent")
        return p if p["spec"].get("nodeName") else None

    p = await cluster.until("urgent to be bound", urgent_bound)
    assert p["spec"]["nodeName"] == "only"
    events = (await cluster.get("/api/v1/namespaces/default/events"))["items"]
    assert any(e["reason"] == "Preempted" and e["involvedObject"]["name"] == victim["metadata"]["name"]
               for e in events)


async def test_a_not_ready_node_is_skipped_until_it_is_ready(cluster: Cluster) -> None:
    api = cluster.sim.api
    sick = node("sick", "4")
    sick["status"]["conditions"] = [{"type": "Ready", "status": "False", "reason": "KubeletNotReady"}]
    api.create(cluster.nodes, "", sick)
    api.create(cluster.pods, "default", pod("patient", "100m"))

    async def waiting() -> Obj | None:
        cond = scheduled_cond(await cluster.get("/api/v1/namespaces/default/pods/patient"))
        return cond if cond and cond["status"] == "False" else None

    cond = await cluster.until("patient to be unschedulable", waiting)
    assert cond["message"] == ("0/1 nodes are available: 1 node(s) had untolerated taint "
                               "{node.kubernetes.io/not-ready: }. preemption: 0/1 nodes are available: "
                               "1 Preemption is not helpful for scheduling.")
    ready = {"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}
    api.patch(cluster.nodes, "", "sick", json.dumps(ready).encode(), "application/strategic-merge-patch+json",
              subresource="status")

    async def bound() -> Obj | None:
        p = await cluster.get("/api/v1/namespaces/default/pods/patient")
        return p if p["spec"].get("nodeName") == "sick" else None

    await cluster.until("patient to be bound once the node is Ready", bound)
