"""kubesim.sim.controllers against an in-process ApiServer on a virtual clock: the loops gather, decide and
write, and the objects converge (stepped with `run_until_idle`, no waiting on the event loop)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from kubesim import kinds
from kubesim.apiserver import ApiServer
from kubesim.sim import daemonsets_decide as dsd
from kubesim.sim import workloads_decide as wd
from kubesim.sim.controllers import Controllers
from kubesim.sim.eventrecorder import EventRecorder

Obj = dict[str, Any]
MERGE = "application/merge-patch+json"
T0 = wd.parse_time("2025-01-01T12:00:00Z")


@dataclass
class Cluster:
    api: ApiServer
    ctl: Controllers
    now: list[float]

    def rt(self, resource: str) -> Any:
        group = "" if resource in ("pods", "nodes", "events") else "apps"
        rt = self.api.registry.get(group, resource)
        assert rt is not None
        return rt

    def create(self, resource: str, body: Obj, ns: str = "default") -> Obj:
        return self.api.create(self.rt(resource), ns, body)

    def get(self, resource: str, name: str, ns: str = "default") -> Obj:
        return self.api.get(self.rt(resource), ns, name).obj

    def list(self, resource: str, ns: str | None = "default") -> list[Obj]:
        return [e.obj for e in self.api.list(self.rt(resource), ns).entries]

    def names(self, resource: str, ns: str | None = "default") -> list[str]:
        return [o["metadata"]["name"] for o in self.list(resource, ns)]

    def patch(self, resource: str, name: str, body: Obj, *, status: bool = False, ns: str = "default") -> None:
        self.api.patch(self.rt(resource), ns, name, json.dumps(body).encode(), MERGE,
                       subresource="status" if status else None)

    def ready(self, *names: str, ns: str = "default") -> None:
        """What a kubelet would report: Running and Ready since now."""
        for name in names:
            self.patch("pods", name, {"status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": wd.rfc3339(self.now[0])}]}},
                status=True, ns=ns)

    def settle(self) -> int:
        return self.ctl.run_until_idle()

    def events(self, kind: str | None = None) -> list[str]:
        return [f"{e['reason']}: {e['message']}" for e in sorted(self.list("events", None),
                                                               key=lambda e: e["metadata"]["name"])
                if kind is None or e["involvedObject"]["kind"] == kind]


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    now = [T0]
    api = ApiServer(clock=lambda: now[0], seed=1)
    ctl = Controllers(api, clock=lambda: now[0], seed=1, resync_s=3600)
    await ctl.start()
    yield Cluster(api, ctl, now)
    await ctl.stop()


def deployment(name: str = "web", replicas: int = 3, image: str = "nginx:1", **spec: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}, **spec}}


def pods_of(c: Cluster, rs: Obj) -> list[str]:
    uid = rs["metadata"]["uid"]
    return sorted(p["metadata"]["name"] for p in c.list("pods")
                  if (wd.controller_of(p) or {}).get("uid") == uid and not p["metadata"].get("deletionTimestamp"))


async def test_a_deployment_converges_scales_and_reports(cluster: Cluster) -> None:
    c = cluster
    c.create("deployments", deployment())
    c.settle()
    (rs,) = c.list("replicasets")
    pods = pods_of(c, rs)
    prefix = rs["metadata"]["name"] + "-"
    assert len(pods) == 3 and all(p.startswith(prefix) and len(p) == len(prefix) + 5 for p in pods)
    pod = c.get("pods", pods[0])
    assert pod["metadata"]["labels"]["pod-template-hash"] == rs["metadata"]["labels"]["pod-template-hash"]
    assert pod["metadata"]["generateName"] == rs["metadata"]["name"] + "-"
    assert pod["spec"]["schedulerName"] == "default-scheduler" and not pod["spec"].get("nodeName")
    c.ready(*pods)
    c.settle()
    d = c.get("deployments", "web")
    assert {k: v for k, v in d["status"].items() if k != "conditions"} == {
        "observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3,
        "terminatingReplicas": 0}
    assert [(x["type"], x["reason"]) for x in d["status"]["conditions"]] == [
        ("Available", "MinimumReplicasAvailable"), ("Progressing", "NewReplicaSetAvailable")]
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    # the scale subresource, as `kubectl scale` and the HPA use it
    kinds.update_scale(c.api, c.rt("deployments"), "default", "web", {"spec": {"replicas": 5}})
    c.settle()
    (rs,) = c.list("replicasets")
    assert rs["spec"]["replicas"] == 5 and len(pods_of(c, rs)) == 5
    scale = kinds.get_scale(c.api, c.rt("deployments"), "default", "web")
    assert scale["status"] == {"replicas": 5, "selector": "app=web"}
    name = rs["metadata"]["name"]
    assert c.events("Deployment") == [f"ScalingReplicaSet: Scaled up replica set {name} from 0 to 3",
                                      f"ScalingReplicaSet: Scaled up replica set {name} from 3 to 5"]
    assert sorted(c.events("ReplicaSet")) == [f"SuccessfulCreate: Created pod: {p}" for p in pods_of(c, rs)]
    kinds.update_scale(c.api, c.rt("deployments"), "default", "web", {"spec": {"replicas": 2}})
    c.settle()
    (rs,) = c.list("replicasets")
    survivors = pods_of(c, rs)
    assert len(survivors) == 2 and set(survivors) <= set(pods)  # the two never-ready new pods went first
    assert sum(e.startswith("SuccessfulDelete: Deleted pod: ") for e in c.events("ReplicaSet")) == 3


async def test_a_rolling_update_replaces_every_pod(cluster: Cluster) -> None:
    c = cluster
    c.create("deployments", deployment(replicas=4))
    c.settle()
    c.ready(*c.names("pods"))
    c.settle()
    old_pods = set(c.names("pods"))
    c.patch("deployments", "web", {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}}})
    for _ in range(20):
        c.settle()
        pending = [p["metadata"]["name"] for p in c.list("pods") if not wd.is_ready(p)]
        if not pending and not set(c.names("pods")) & old_pods:
            break
        c.now[0] += 5
        c.ready(*pending)
    c.settle()
    assert not set(c.names("pods")) & old_pods and len(c.names("pods")) == 4
    rss = {r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: r for r in c.list("replicasets")}
    assert (rss["1"]["spec"]["replicas"], rss["2"]["spec"]["replicas"]) == (0, 4)
    d = c.get("deployments", "web")
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert (d["status"]["updatedReplicas"], d["status"]["availableReplicas"], d["status"]["observedGeneration"]) == (
        4, 4, 2)
    scaled = c.events("Deployment")
    assert f"ScalingReplicaSet: Scaled up replica set {rss['2']['metadata']['name']} from 0 to 1" in scaled
    assert f"ScalingReplicaSet: Scaled down replica set {rss['1']['metadata']['name']} from 1 to 0" in scaled


async def test_min_ready_seconds_delays_availability(cluster: Cluster) -> None:
    c = cluster
    c.create("deployments", deployment(replicas=2, minReadySeconds=30))
    c.settle()
    c.ready(*c.names("pods"))
    c.settle()
    assert c.get("deployments", "web")["status"].get("availableReplicas", 0) == 0
    assert c.list("replicasets")[0]["status"]["readyReplicas"] == 2
    c.now[0] += 31
    c.ctl.resync()
    c.settle()
    assert c.get("deployments", "web")["status"]["availableReplicas"] == 2


async def test_deleting_a_deployment_removes_its_replicasets_and_pods(cluster: Cluster) -> None:
    c = cluster
    c.create("deployments", deployment())
    c.create("deployments", deployment("other", replicas=1))
    c.settle()
    assert len(c.names("pods")) == 4
    c.api.delete(c.rt("deployments"), "default", "web")
    c.settle()
    assert [r["metadata"]["name"].rsplit("-", 1)[0] for r in c.list("replicasets")] == ["other"]
    assert all(p.startswith("other-") for p in c.names("pods")) and len(c.names("pods")) == 1


async def test_foreground_deletion_removes_pods_then_replicasets_then_the_deployment(cluster: Cluster) -> None:
    c = cluster
    c.create("deployments", deployment())
    c.settle()
    c.api.delete(c.rt("deployments"), "default", "web", {"propagationPolicy": "Foreground"})
    d = c.get("deployments", "web")
    assert d["metadata"]["finalizers"] == ["foregroundDeletion"] and d["metadata"]["deletionTimestamp"]
    order: list[str] = []
    c.api.write_hooks.append(lambda rt, ns, old, new: order.append(old["kind"]) if new is None and old else None)
    c.settle()
    assert not c.list("deployments") and not c.list("replicasets") and not c.list("pods")
    assert order == ["Pod", "Pod", "Pod", "ReplicaSet", "Deployment"]


async def test_orphaning_keeps_replicasets_and_pods_and_a_new_deployment_adopts_them(cluster: Cluster) -> None:
    c = cluster
    c.create("deployments", deployment())
    c.settle()
    pods = set(c.names("pods"))
    c.api.delete(c.rt("deployments"), "default", "web", {"propagationPolicy": "Orphan"})
    c.settle()
    (rs,) = c.list("replicasets")
    assert "ownerReferences" not in rs["metadata"] and set(c.names("pods")) == pods
    c.create("deployments", deployment())
    c.settle()
    (rs,) = c.list("replicasets")
    assert rs["metadata"]["ownerReferences"][0]["uid"] == c.get("deployments", "web")["metadata"]["uid"]
    assert set(c.names("pods")) == pods


async def test_a_bare_replicaset_adopts_matching_orphans(cluster: Cluster) -> None:
    c = cluster
    c.create("pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stray", "labels": {"app": "x"}},
                      "spec": {"containers": [{"name": "c", "image": "i"}]}})
    c.create("replicasets", {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "x"},
                             "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "x"}},
                                      "template": {"metadata": {"labels": {"app": "x"}},
                                                   "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    c.settle()
    assert c.get("pods", "stray")["metadata"]["ownerReferences"][0]["name"] == "x"
    assert len(c.names("pods")) == 2


async def test_a_statefulset_starts_pods_in_order(cluster: Cluster) -> None:
    c = cluster
    c.create("statefulsets", {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
                              "spec": {"replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                                       "template": {"metadata": {"labels": {"app": "db"}},
                                                    "spec": {"containers": [{"name": "c", "image": "pg"}]}}}})
    for expected in (["db-0"], ["db-0", "db-1"], ["db-0", "db-1", "db-2"]):
        c.settle()
        assert c.names("pods") == expected
        c.ready(expected[-1])
    c.settle()
    status = c.get("statefulsets", "db")["status"]
    assert (status["replicas"], status["readyReplicas"], status["availableReplicas"], status["currentReplicas"],
            status["updatedReplicas"]) == (3, 3, 3, 3, 3)
    assert c.get("pods", "db-1")["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "1"
    kinds.update_scale(c.api, c.rt("statefulsets"), "default", "db", {"spec": {"replicas": 1}})
    c.settle()
    assert c.names("pods") == ["db-0"]
    # one at a time from the highest ordinal (unbound pods go at once, so both went within one settle)
    assert [e for e in c.events("StatefulSet") if e.startswith("SuccessfulDelete")] == [
        "SuccessfulDelete: delete Pod db-2 in StatefulSet db successful",
        "SuccessfulDelete: delete Pod db-1 in StatefulSet db successful"]
    assert c.events("StatefulSet")[0] == "SuccessfulCreate: create Pod db-0 in StatefulSet db successful"


async def test_a_daemonset_runs_one_pod_per_eligible_node(cluster: Cluster) -> None:
    c = cluster

    def node(name: str, taints: list[Obj] | None = None) -> None:
        c.create("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
                           "spec": {"taints": taints or []}}, ns="")

    node("n1")
    node("n2", [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}])
    node("n3", [{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}])
    c.create("daemonsets", {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
                            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                                     "template": {"metadata": {"labels": {"app": "agent"}},
                                                  "spec": {"containers": [{"name": "c", "image": "a"}]}}}})
    c.settle()

    def targets() -> list[str]:
        return sorted(dsd.target_node(p) or "" for p in c.list("pods") if not p["metadata"].get("deletionTimestamp"))

    assert targets() == ["n1", "n3"]
    status = c.get("daemonsets", "agent")["status"]
    assert (status["desiredNumberScheduled"], status["currentNumberScheduled"]) == (2, 2)
    node("n4")
    c.settle()
    assert targets() == ["n1", "n3", "n4"]
    c.api.delete(c.rt("nodes"), "", "n4")
    c.settle()
    assert targets() == ["n1", "n3"]
    # a heartbeat does not concern the DaemonSet; a taint does
    c.patch("nodes", "n1", {"status": {"conditions": [{"type": "Ready", "status": "True",
                                                         "lastHeartbeatTime": wd.rfc3339(T0)}]}}, status=True, ns="")
    c.ctl.drain()
    assert len(c.ctl.queues["daemonsets"]) == 0
    c.patch("nodes", "n1", {"spec": {"taints": [{"key": "gone", "effect": "NoExecute"}]}}, ns="")
    c.settle()
    assert targets() == ["n3"]


def recorder_and_events(now: list[float]) -> tuple[EventRecorder, Obj, Any]:
    api = ApiServer(seed=3)
    rec = EventRecorder(api, clock=lambda: now[0])
    ns_rt = api.registry.get("", "namespaces")
    obj = api.get(ns_rt, "", "default").obj
    obj = {**obj, "metadata": {**obj["metadata"], "namespace": "default"}}
    ev_rt = api.registry.get("", "events")
    return rec, obj, lambda: sorted((e.obj for e in api.list(ev_rt, "default").entries),
                                    key=lambda e: e["metadata"]["name"])


async def test_repeated_events_are_counted_on_one_event() -> None:
    now = [T0]
    rec, obj, events = recorder_and_events(now)
    for _ in range(3):
        rec.event(obj, "Warning", "Boom", "it broke", component="test")
        now[0] += 1
    (ev,) = events()
    assert (ev["count"], ev["source"], ev["reportingComponent"], ev["type"]) == (3, {"component": "test"}, "test",
                                                                               "Warning")
    assert (ev["firstTimestamp"], ev["lastTimestamp"]) == (wd.rfc3339(T0), wd.rfc3339(T0 + 2))


async def test_similar_events_are_combined_from_the_tenth_message() -> None:
    now = [T0]
    rec, obj, events = recorder_and_events(now)
    for i in range(12):
        rec.event(obj, "Normal", "SuccessfulCreate", f"Created pod: p{i}", component="test")
    got = events()
    assert [e["message"] for e in got[:9]] == [f"Created pod: p{i}" for i in range(9)]
    assert (got[9]["message"], got[9]["count"], len(got)) == ("(combined from similar events): Created pod: p11", 3,
                                                              10)


async def test_the_spam_filter_allows_a_burst_then_one_per_five_minutes() -> None:
    now = [T0]
    rec, obj, events = recorder_and_events(now)
    for i in range(30):
        rec.event(obj, "Normal", f"Reason{i}", "m", component="test")
    assert len(events()) == 25
    now[0] += 301
    rec.event(obj, "Normal", "Later", "m", component="test")
    rec.event(obj, "Normal", "TooSoon", "m", component="test")
    assert [e["reason"] for e in events()][-1] == "Later" and len(events()) == 26
