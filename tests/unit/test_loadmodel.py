"""The workload load model: the pure usage formula, pod-to-workload matching, and the counters kubelets serve
(monotonic, restarting with their container, rates that follow demand over Ready pods: the closed loop)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubesim.apiserver import ApiServer
from kubesim.selectors import label_selector_from_dict
from kubesim.sim.loadcurves import Constant, Steps
from kubesim.sim.loadmodel import (
    IDLE,
    LoadModel,
    LoadModelLayer,
    WorkloadLoad,
    container_rates,
    jitter,
    owner_workload,
)
from kubesim.sim.usage import PodUsage

Obj = dict[str, Any]
T0 = 1_700_000_000.0  # scenario start, unix seconds
STARTED = "2023-11-14T22:13:20Z"  # == T0
MiB = 2**20


def pod(name: str, *, deployment: str | None = "web", ready: bool = True, phase: str = "Running",
        restarts: int = 0, started: str = STARTED, rv: str = "1", namespace: str = "default",
        labels: dict[str, str] | None = None, containers: list[Obj] | None = None,
        owner: tuple[str, str] | None = None) -> Obj:
    containers = containers or [{"name": "app", "resources": {"requests": {"cpu": "200m"}, "limits": {"cpu": "4"}}}]
    meta: Obj = {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}", "resourceVersion": rv,
                 "labels": dict(labels or {})}
    if deployment is not None:
        meta["labels"]["pod-template-hash"] = "5d8f9"
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{deployment}-5d8f9",
                                    "uid": "rs", "controller": True}]
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1], "controller": True}]
    statuses = [{"name": c["name"], "restartCount": restarts, "state": {"running": {"startedAt": started}}}
                for c in containers] if phase == "Running" else []
    return {"metadata": meta, "spec": {"containers": containers},
            "status": {"phase": phase, "startTime": STARTED, "containerStatuses": statuses,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def model(**load: Any) -> LoadModel:
    m = LoadModel(start=T0)
    m.set_workload_load("default", "Deployment", "web", WorkloadLoad(**{"demand": Constant(1.0), **load}))
    return m


def cpu_rate(m: LoadModel, p: Obj, t1: float, t2: float) -> float:
    """What a scraper computes from two samples: the counter delta over the time delta."""
    u1, u2 = m.pod_usage(p, t1), m.pod_usage(p, t2)
    assert u1 is not None and u2 is not None
    return (u2.containers[0].cpu_seconds_total - u1.containers[0].cpu_seconds_total) / (t2 - t1)


def usage(m: LoadModel, p: Obj, t: float) -> PodUsage:
    u = m.pod_usage(p, t)
    assert u is not None
    return u


# --- the pure formula -------------------------------------------------------------------------------------


def _rates(**kw: Any) -> tuple[float, float]:
    args = {"base_cpu": 0.0, "cpu_share": 0.0, "mem_base": 0.0, "mem_per_share": 0.0, "ready": True, "weight": 1.0,
            "noise": 0.0, "jitter": 0.0, "cpu_limit": np.inf, "mem_limit": np.inf, **kw}
    cpu, mem = container_rates(**{k: np.array([v]) for k, v in args.items()})
    return float(cpu[0]), float(mem[0])


@pytest.mark.parametrize(("kw", "cpu", "mem"), [
    pytest.param({"base_cpu": 0.01, "cpu_share": 0.5}, 0.51, 0.0, id="ready-base-plus-share"),
    pytest.param({"base_cpu": 0.01, "cpu_share": 0.5, "ready": False}, 0.01, 0.0, id="unready-base-only"),
    pytest.param({"cpu_share": 3.0, "cpu_limit": 1.0}, 1.0, 0.0, id="capped-at-limit"),
    pytest.param({"cpu_share": 1.0, "weight": 0.25}, 0.25, 0.0, id="container-weight"),
    pytest.param({"cpu_share": 1.0, "noise": 0.1, "jitter": 1.0}, 1.1, 0.0, id="noise-up"),
    pytest.param({"cpu_share": 1.0, "noise": 0.1, "jitter": -1.0}, 0.9, 0.0, id="noise-down"),
    pytest.param({"mem_base": 100.0, "mem_per_share": 50.0}, 0.0, 150.0, id="memory-base-plus-load"),
    pytest.param({"mem_base": 100.0, "mem_per_share": 50.0, "ready": False}, 0.0, 100.0, id="memory-unready"),
    pytest.param({"mem_base": 100.0, "mem_per_share": 50.0, "mem_limit": 120.0}, 0.0, 120.0, id="memory-limit"),
    pytest.param({"mem_base": 100.0, "weight": 0.5}, 0.0, 50.0, id="memory-weight"),
])
def test_container_rates(kw: Obj, cpu: float, mem: float) -> None:
    assert _rates(**kw) == pytest.approx((cpu, mem))


@given(share=st.floats(0, 100), limit=st.floats(0.001, 64), noise=st.floats(0, 1), j=st.floats(-1, 1))
def test_container_cpu_never_exceeds_limit_or_goes_negative(share: float, limit: float, noise: float,
                                                             j: float) -> None:
    cpu, _ = _rates(cpu_share=share, cpu_limit=limit, noise=noise, jitter=j)
    assert 0.0 <= cpu <= limit


def test_jitter_is_deterministic_bounded_and_varies() -> None:
    keys = np.arange(1, 10001, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    a, b = jitter(keys, 7), jitter(keys, 7)
    assert np.array_equal(a, b)
    assert a.min() >= -1.0 and a.max() < 1.0
    assert abs(a.mean()) < 0.05 and a.std() > 0.5  # roughly uniform on [-1, 1)
    assert not np.array_equal(a, jitter(keys, 8))


# --- which workload a pod belongs to ----------------------------------------------------------------------


@pytest.mark.parametrize(("p", "resolver", "expected"), [
    pytest.param(pod("a"), None, ("default", "Deployment", "web"), id="replicaset-by-hash-convention"),
    pytest.param(pod("a", deployment="my-app-v2"), None, ("default", "Deployment", "my-app-v2"),
                 id="dashed-deployment-name"),
    pytest.param(pod("a"), lambda ns, rs: "other", ("default", "Deployment", "other"), id="replicaset-resolver"),
    pytest.param(pod("a", deployment=None, owner=("ReplicaSet", "bare")), None, ("default", "ReplicaSet", "bare"),
                 id="replicaset-without-deployment"),
    pytest.param(pod("db-0", deployment=None, owner=("StatefulSet", "db")), None, ("default", "StatefulSet", "db"),
                 id="statefulset"),
    pytest.param(pod("a", deployment=None), None, None, id="no-owner"),
])
def test_owner_workload(p: Obj, resolver: Any, expected: tuple[str, str, str] | None) -> None:
    assert owner_workload(p, resolver) == expected


def test_non_controller_owner_is_ignored() -> None:
    p = pod("a", deployment=None)
    p["metadata"]["ownerReferences"] = [{"kind": "ReplicaSet", "name": "web-5d8f9", "controller": False}]
    assert owner_workload(p) is None


def test_selector_claims_pods_without_a_modelled_owner() -> None:
    m = LoadModel(start=T0)
    sel = label_selector_from_dict({"matchLabels": {"tier": "front"}})
    m.set_workload_load("default", "Deployment", "front", WorkloadLoad(demand=Constant(2.0), selector=sel))
    bare = pod("bare", deployment=None, labels={"tier": "front"})
    other = pod("other", deployment=None, labels={"tier": "back"})
    m.advance(T0, [bare, other])
    assert m.workload_of(bare) == ("default", "Deployment", "front")
    assert m.workload_of(other) is None
    m.advance(T0 + 10)
    assert cpu_rate(m, bare, T0 + 10, T0 + 11) == pytest.approx(2.0)


def test_owner_with_a_model_wins_over_a_selector() -> None:
    m = model()
    m.set_workload_load("default", "Deployment", "all", WorkloadLoad(
        demand=Constant(5.0), selector=label_selector_from_dict({"matchLabels": {"app": "web"}})))
    p = pod("a", labels={"app": "web"})
    m.advance(T0, [p])
    assert m.workload_of(p) == ("default", "Deployment", "web")


def test_a_selector_model_set_later_claims_existing_pods() -> None:
    m = LoadModel(start=T0)
    p = pod("bare", deployment=None, labels={"tier": "front"})
    m.advance(T0, [p])
    assert m.workload_of(p) is None
    m.set_workload_load("default", "Deployment", "front", WorkloadLoad(
        demand=Constant(1.0), selector=label_selector_from_dict({"matchLabels": {"tier": "front"}})))
    assert m.workload_of(p) == ("default", "Deployment", "front")


# --- usage and counters -----------------------------------------------------------------------------------


def test_closed_loop_doubling_replicas_halves_cpu_usage() -> None:
    m = model(demand=Constant(1.2))
    pods = [pod(f"web-{i}") for i in range(3)]
    m.advance(T0, pods)
    m.advance(T0 + 10)
    before = cpu_rate(m, pods[0], T0 + 10, T0 + 11)
    pods += [pod(f"web-{i}") for i in range(3, 6)]
    m.advance(T0 + 20, pods)
    after = cpu_rate(m, pods[0], T0 + 20, T0 + 21)
    assert before == pytest.approx(0.4)
    assert after == pytest.approx(before / 2)
    assert m.ready_pods("default", "Deployment", "web") == 6
    # and every new pod gets the same share
    assert cpu_rate(m, pods[5], T0 + 20, T0 + 21) == pytest.approx(after)


def test_unready_and_pending_pods_do_not_take_a_share() -> None:
    m = model(demand=Constant(1.0), base_cpu=0.05)
    ready, unready, pending = pod("a"), pod("b", ready=False), pod("c", phase="Pending")
    m.advance(T0, [ready, unready, pending])
    m.advance(T0 + 1)
    assert cpu_rate(m, ready, T0 + 1, T0 + 2) == pytest.approx(1.05)
    assert cpu_rate(m, unready, T0 + 1, T0 + 2) == pytest.approx(0.05)
    assert m.pod_usage(pending, T0 + 2) is None
    assert m.ready_pods("default", "Deployment", "web") == 1


def test_cpu_is_capped_at_the_container_limit() -> None:
    m = model(demand=Constant(10.0))
    p = pod("a", containers=[{"name": "app", "resources": {"limits": {"cpu": "1"}}}])
    m.advance(T0, [p])
    m.advance(T0 + 1)
    assert cpu_rate(m, p, T0 + 1, T0 + 3) == pytest.approx(1.0)


def test_counters_match_the_model_between_two_scrapes() -> None:
    """Ticks every second, scrapes every 15 s: each scrape window's rate is the demand in it."""
    m = model(demand=Steps(((60, 2.0),), initial=1.0))
    p = pod("a")
    scrapes = {}
    for t in range(0, 120):
        m.advance(T0 + t, [p])
        if t % 15 == 0:
            scrapes[t] = usage(m, p, T0 + t + 0.5).containers[0].cpu_seconds_total
    assert (scrapes[45] - scrapes[30]) / 15 == pytest.approx(1.0)
    assert (scrapes[105] - scrapes[90]) / 15 == pytest.approx(2.0)
    assert (scrapes[60] - scrapes[45]) / 15 == pytest.approx(1 + 0.5 / 15)  # from the tick at 60 s, 2 cores


def test_counter_starts_from_the_container_start() -> None:
    m = model(demand=Constant(0.5))
    p = pod("a")
    m.advance(T0 + 100, [p])  # first seen 100 s after it started
    u = usage(m, p, T0 + 100)
    assert u.containers[0].cpu_seconds_total == pytest.approx(50.0)
    assert u.containers[0].start_time == T0


def test_restart_starts_the_counter_again_at_zero() -> None:
    m = model(demand=Constant(1.0))
    p = pod("a")
    m.advance(T0, [p])
    m.advance(T0 + 100)
    assert usage(m, p, T0 + 100).containers[0].cpu_seconds_total == pytest.approx(100.0)
    restarted = pod("a", restarts=1, started="2023-11-14T22:15:00Z", rv="2")  # T0 + 100
    m.advance(T0 + 101, [restarted])
    u = usage(m, restarted, T0 + 105)
    assert u.containers[0].cpu_seconds_total == pytest.approx(5.0)
    assert u.containers[0].restarts == 1 and u.containers[0].start_time == T0 + 100
    assert dict(u.app_counters)["http_requests_total"] == pytest.approx(500.0)


def test_new_start_time_alone_restarts_the_counter() -> None:
    m = model(demand=Constant(1.0))
    p = pod("a")
    m.advance(T0, [p])
    m.advance(T0 + 50)
    again = pod("a", started="2023-11-14T22:14:00Z", rv="2")  # T0 + 40, same restartCount
    assert usage(m, again, T0 + 50).containers[0].cpu_seconds_total == pytest.approx(10.0)


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(st.tuples(st.floats(0.05, 30), st.integers(1, 6), st.floats(0, 5), st.booleans()),
                      min_size=1, max_size=25))
def test_counters_never_go_backwards(steps: list[tuple[float, int, float, bool]]) -> None:
    """Whatever happens to replicas, readiness and load between ticks, counters only grow (scrapes come
    between ticks, as on one clock)."""
    m = model(demand=Constant(1.0), noise=0.3)
    probe = pod("probe")
    t, last_cpu, last_app = T0, 0.0, 0.0
    for rv, (dt, replicas, load, flip) in enumerate(steps, 1):
        t += dt
        m.set_workload_load("default", "Deployment", "web", replace(m.workload_load(
            "default", "Deployment", "web") or IDLE, demand=Constant(load)))
        probe = pod("probe", ready=not flip, rv=str(rv))
        m.advance(t, [probe] + [pod(f"w{i}") for i in range(replicas)])
        u = usage(m, probe, t + 0.04)
        cpu, app = u.containers[0].cpu_seconds_total, dict(u.app_counters)["http_requests_total"]
        assert cpu >= last_cpu - 1e-9 and app >= last_app - 1e-9
        last_cpu, last_app = cpu, app


def test_memory_is_base_plus_per_load_share() -> None:
    m = model(demand=Constant(2.0), memory_base_bytes=100 * MiB, memory_per_load_bytes=50 * MiB)
    a, b = pod("a"), pod("b")
    m.advance(T0, [a, b])
    m.advance(T0 + 1)
    assert usage(m, a, T0 + 1).containers[0].memory_working_set_bytes == 150 * MiB  # 100Mi + 50Mi x 1 core
    unready = pod("a", ready=False, rv="2")
    m.advance(T0 + 2, [unready, b])
    assert usage(m, unready, T0 + 2).containers[0].memory_working_set_bytes == 100 * MiB


@pytest.mark.parametrize(("load", "cpu", "rps"), [
    pytest.param({"demand": Constant(1.0)}, 0.5, 50.0, id="cores-demand"),
    pytest.param({"demand": Constant(200.0), "unit": "requests", "cpu_per_request": 0.005}, 0.5, 100.0,
                 id="requests-demand"),
    pytest.param({"demand": Constant(1.0), "scale": 3.0}, 1.5, 150.0, id="scaled"),
])
def test_application_counter_follows_demand(load: Obj, cpu: float, rps: float) -> None:
    m = model(**load)
    a, b = pod("a"), pod("b")
    m.advance(T0, [a, b])
    m.advance(T0 + 10)
    u1, u2 = usage(m, a, T0 + 10), usage(m, a, T0 + 20)
    assert (u2.containers[0].cpu_seconds_total - u1.containers[0].cpu_seconds_total) / 10 == pytest.approx(cpu)
    app = (dict(u2.app_counters)["http_requests_total"] - dict(u1.app_counters)["http_requests_total"]) / 10
    assert app == pytest.approx(rps)


def test_pods_without_a_model_idle_and_have_no_app_counters() -> None:
    m = LoadModel(start=T0)
    p = pod("a", deployment="unmodelled")
    m.advance(T0, [p])
    m.advance(T0 + 10)
    u = usage(m, p, T0 + 20)
    assert u.app_counters == ()
    assert u.containers[0].cpu_seconds_total == pytest.approx(IDLE.base_cpu * 20)
    assert u.containers[0].memory_working_set_bytes == IDLE.memory_base_bytes


def test_containers_split_the_pod_load_by_cpu_request() -> None:
    m = model(demand=Constant(1.0))
    p = pod("a", containers=[{"name": "app", "resources": {"requests": {"cpu": "300m"}}},
                             {"name": "sidecar", "resources": {"requests": {"cpu": "100m"}}}])
    m.advance(T0, [p])
    m.advance(T0 + 1)
    u1, u2 = usage(m, p, T0 + 1), usage(m, p, T0 + 5)
    rates = [(b.cpu_seconds_total - a.cpu_seconds_total) / 4 for a, b in zip(u1.containers, u2.containers,
                                                                              strict=True)]
    assert rates == pytest.approx([0.75, 0.25])
    assert [c.name for c in u2.containers] == ["app", "sidecar"]


def test_load_step_takes_effect_at_the_next_tick() -> None:
    m = model(demand=Constant(1.0))
    p = pod("a")
    m.advance(T0, [p])
    m.advance(T0 + 1)
    m.set_workload_load("default", "Deployment", "web", WorkloadLoad(demand=Constant(0.25)))
    assert cpu_rate(m, p, T0 + 1, T0 + 2) == pytest.approx(1.0)
    m.advance(T0 + 2)
    assert cpu_rate(m, p, T0 + 2, T0 + 3) == pytest.approx(0.25)


def test_advance_runs_at_most_once_per_tick() -> None:
    m = LoadModel(start=T0, tick_s=5.0)
    m.set_workload_load("default", "Deployment", "web", WorkloadLoad(demand=Steps(((1, 2.0),), initial=1.0)))
    p = pod("a")
    m.advance(T0, [p])
    m.advance(T0 + 2)  # within the tick: the rate stays what it was at T0
    assert cpu_rate(m, p, T0 + 2, T0 + 3) == pytest.approx(1.0)
    m.advance(T0 + 5)
    assert cpu_rate(m, p, T0 + 5, T0 + 6) == pytest.approx(2.0)


def test_noise_is_deterministic_per_seed() -> None:
    def run(seed: int) -> float:
        m = LoadModel(start=T0, seed=seed)
        m.set_workload_load("default", "Deployment", "web", WorkloadLoad(demand=Constant(1.0), noise=0.5))
        p = pod("a")
        m.advance(T0, [p])
        m.advance(T0 + 1)
        return cpu_rate(m, p, T0 + 1, T0 + 2)

    assert run(1) == run(1)
    assert run(1) != run(2)
    assert 0.5 <= run(3) <= 1.5


def test_deleted_pods_free_their_slots_for_new_pods() -> None:
    m = model(demand=Constant(1.0))
    old = pod("old")
    m.advance(T0, [old])
    m.advance(T0 + 100)
    m.advance(T0 + 101, [])
    assert m.workload_of(old) is None
    new = pod("new", started="2023-11-14T22:15:01Z")  # T0 + 101
    m.advance(T0 + 102, [new])
    assert usage(m, new, T0 + 102).containers[0].cpu_seconds_total == pytest.approx(1.0)


def test_many_pods_beyond_the_initial_capacity() -> None:
    m = model(demand=Constant(30.0))
    pods = [pod(f"w{i}") for i in range(3000)]
    m.advance(T0, pods)
    m.advance(T0 + 10)
    assert m.ready_pods("default", "Deployment", "web") == 3000
    assert cpu_rate(m, pods[-1], T0 + 10, T0 + 20) == pytest.approx(0.01)
    total = sum(usage(m, p, T0 + 10).containers[0].cpu_seconds_total for p in pods)
    assert total == pytest.approx(300.0)  # 30 cores for 10 s, shared


# --- the informer-fed layer -------------------------------------------------------------------------------


async def test_layer_follows_pods_through_the_api() -> None:
    api = ApiServer(seed=1)
    pods_rt = api.registry.get("", "pods")
    assert pods_rt is not None
    clock = [T0]
    m = LoadModel(start=T0, tick_s=3600)  # the test advances by hand
    m.set_workload_load("default", "Deployment", "web", WorkloadLoad(demand=Constant(1.0)))
    layer = LoadModelLayer(api, m, clock=lambda: clock[0])
    await layer.start()
    try:
        for name in ("a", "b"):
            p = pod(name)
            p["metadata"] = {k: v for k, v in p["metadata"].items() if k not in ("uid", "resourceVersion")}
            api.create(pods_rt, "default", {k: v for k, v in p.items() if k != "status"})
            api.patch(pods_rt, "default", name, json.dumps({"status": p["status"]}).encode(),
                      "application/merge-patch+json", subresource="status")
        assert layer._pods is not None
        layer._pods.drain()
        stored = layer._pods.get("default", "a")
        assert stored is not None
        m.advance(T0 + 10)
        assert m.ready_pods("default", "Deployment", "web") == 2
        assert cpu_rate(m, stored, T0 + 10, T0 + 12) == pytest.approx(0.5)
    finally:
        await layer.stop()
