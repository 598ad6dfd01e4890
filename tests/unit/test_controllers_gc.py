"""kubesim.sim.gc: the garbage collector's decisions, and the collector against an in-process ApiServer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubesim import errors
from kubesim.apiserver import ApiServer
from kubesim.sim import gc

Obj = dict[str, Any]


def ref(uid: str, *, block: bool = True, kind: str = "ConfigMap", api_version: str = "v1") -> Obj:
    return {"apiVersion": api_version, "kind": kind, "name": f"n-{uid}", "uid": uid, "blockOwnerDeletion": block}


def obj(*, deleting: bool = False, finalizers: list[str] | None = None) -> Obj:
    meta: Obj = {"name": "x", "uid": "me"}
    if deleting:
        meta["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    if finalizers:
        meta["finalizers"] = finalizers
    return {"metadata": meta}


# -- decisions -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("owner", "want"), [
    pytest.param(None, gc.DANGLING, id="absent"),
    pytest.param({"metadata": {"uid": "other"}}, gc.DANGLING, id="name-reused"),
    pytest.param({"metadata": {"uid": "o"}}, gc.SOLID, id="present"),
    pytest.param({"metadata": {"uid": "o", "deletionTimestamp": "t", "finalizers": ["foregroundDeletion"]}},
                 gc.WAITING, id="foreground"),
    pytest.param({"metadata": {"uid": "o", "deletionTimestamp": "t", "finalizers": ["orphan"]}}, gc.SOLID,
                 id="orphaning"),
])
def test_owner_state(owner: Obj | None, want: str) -> None:
    assert gc.owner_state(ref("o"), owner) == want


@pytest.mark.parametrize(("the_obj", "states", "has_deps", "want"), [
    pytest.param(obj(), [], False, gc.DependentAction("keep"), id="no-owners"),
    pytest.param(obj(), [(ref("a"), gc.SOLID)], False, gc.DependentAction("keep"), id="solid"),
    pytest.param(obj(), [(ref("a"), gc.DANGLING)], False, gc.DependentAction("delete", "Background"),
                 id="owner-gone"),
    pytest.param(obj(finalizers=["orphan"]), [(ref("a"), gc.DANGLING)], False, gc.DependentAction("delete", "Orphan"),
                 id="owner-gone-orphan-finalizer"),
    pytest.param(obj(), [(ref("a"), gc.SOLID), (ref("b"), gc.DANGLING)], False,
                 gc.DependentAction("unlink", owner_uids=("b",)), id="one-of-two-owners-gone"),
    pytest.param(obj(), [(ref("a"), gc.SOLID), (ref("b"), gc.WAITING)], True,
                 gc.DependentAction("unlink", owner_uids=("b",)), id="solid-and-waiting"),
    pytest.param(obj(), [(ref("a"), gc.WAITING)], True, gc.DependentAction("delete", "Foreground"),
                 id="waiting-with-dependents"),
    pytest.param(obj(), [(ref("a"), gc.WAITING)], False, gc.DependentAction("delete", "Background"),
                 id="waiting-without-dependents"),
    pytest.param(obj(deleting=True), [(ref("a"), gc.DANGLING)], False, gc.DependentAction("keep"),
                 id="already-deleting"),
    pytest.param(obj(), [(ref("a"), gc.UNRESOLVED)], False, gc.DependentAction("keep"), id="unknown-kind"),
])
def test_decide_dependent(the_obj: Obj, states: list[tuple[Obj, str]], has_deps: bool,
                          want: gc.DependentAction) -> None:
    assert gc.decide_dependent(the_obj, states, has_dependents=has_deps) == want


def test_blocking_dependents() -> None:
    a = {"metadata": {"name": "a", "ownerReferences": [ref("o", block=True)]}}
    b = {"metadata": {"name": "b", "ownerReferences": [ref("o", block=False)]}}
    c = {"metadata": {"name": "c", "ownerReferences": [ref("p", block=True)]}}
    assert gc.blocking("o", [a, b, c]) == [a]


# -- the collector ---------------------------------------------------------------------------------------------
@pytest.fixture
async def collector() -> AsyncIterator[tuple[ApiServer, gc.GarbageCollector]]:
    api = ApiServer(seed=7)
    collector = gc.GarbageCollector(api)
    await collector.start()
    yield api, collector
    await collector.stop()


def settle(collector: gc.GarbageCollector) -> None:
    for _ in range(1000):
        collector.drain()
        if not collector.queue.process_one():
            collector.drain()
            if not len(collector.queue):
                return
    raise AssertionError("the garbage collector did not settle")


def cm(api: ApiServer, name: str, *owners: Obj, block: bool = True) -> Obj:
    rt = api.registry.get("", "configmaps")
    assert rt is not None
    refs = [{"apiVersion": "v1", "kind": "ConfigMap", "name": o["metadata"]["name"], "uid": o["metadata"]["uid"],
             "blockOwnerDeletion": block} for o in owners]
    meta: Obj = {"name": name}
    if refs:
        meta["ownerReferences"] = refs
    return api.create(rt, "default", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta})


def names(api: ApiServer) -> set[str]:
    rt = api.registry.get("", "configmaps")
    assert rt is not None
    return {e.obj["metadata"]["name"] for e in api.list(rt, "default").entries} - {"kube-root-ca.crt"}


def delete(api: ApiServer, name: str, policy: str | None = None) -> None:
    rt = api.registry.get("", "configmaps")
    assert rt is not None
    api.delete(rt, "default", name, {"propagationPolicy": policy} if policy else {})


async def test_background_deletion_collects_dependents_transitively(collector: Any) -> None:
    api, c = collector
    owner = cm(api, "owner")
    child = cm(api, "child", owner)
    cm(api, "grandchild", child)
    cm(api, "bystander")
    settle(c)
    assert names(api) == {"owner", "child", "grandchild", "bystander"}
    delete(api, "owner")
    settle(c)
    assert names(api) == {"bystander"}


async def test_a_dependent_with_another_owner_only_loses_the_reference(collector: Any) -> None:
    api, c = collector
    a, b = cm(api, "a"), cm(api, "b")
    cm(api, "shared", a, b)
    delete(api, "a")
    settle(c)
    rt = api.registry.get("", "configmaps")
    shared = api.get(rt, "default", "shared").obj
    assert [r["name"] for r in shared["metadata"]["ownerReferences"]] == ["b"]


async def test_orphan_propagation_unlinks_dependents_then_lets_the_owner_go(collector: Any) -> None:
    api, c = collector
    owner = cm(api, "owner")
    cm(api, "child", owner)
    delete(api, "owner", "Orphan")
    rt = api.registry.get("", "configmaps")
    assert api.get(rt, "default", "owner").obj["metadata"]["finalizers"] == ["orphan"]
    settle(c)
    assert names(api) == {"child"}
    assert "ownerReferences" not in api.get(rt, "default", "child").obj["metadata"]


async def test_foreground_propagation_deletes_dependents_before_the_owner(collector: Any) -> None:
    api, c = collector
    owner = cm(api, "owner")
    child = cm(api, "child", owner)
    cm(api, "grandchild", child)
    cm(api, "loose", owner, block=False)
    seen: list[set[str]] = []
    rt = api.registry.get("", "configmaps")
    api.write_hooks.append(lambda t, ns, old, new: seen.append(names(api)) if t is rt and new is None else None)
    delete(api, "owner", "Foreground")
    assert api.get(rt, "default", "owner").obj["metadata"]["finalizers"] == ["foregroundDeletion"]
    settle(c)
    assert names(api) == set()
    # the owner went only after its blocking dependents; the non-blocking one after the owner
    owner_gone = next(i for i, s in enumerate(seen) if "owner" not in s)
    assert "child" not in seen[owner_gone] and "grandchild" not in seen[owner_gone]


async def test_a_dependent_of_an_owner_that_never_existed_is_collected(collector: Any) -> None:
    api, c = collector
    ghost = {"metadata": {"name": "ghost", "uid": "00000000-0000-0000-0000-000000000000"}}
    cm(api, "lonely", ghost)
    settle(c)
    assert names(api) == set()


async def test_references_to_kinds_nobody_serves_are_left_alone(collector: Any) -> None:
    api, c = collector
    rt = api.registry.get("", "configmaps")
    api.create(rt, "default", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "kept", "ownerReferences": [{"apiVersion": "example.com/v1", "kind": "Widget", "name": "w",
                                             "uid": "u"}]}})
    settle(c)
    assert names(api) == {"kept"}


async def test_a_vanished_object_is_not_an_error(collector: Any) -> None:
    api, c = collector
    owner = cm(api, "owner")
    cm(api, "child", owner)
    delete(api, "owner")
    delete(api, "child")
    settle(c)
    with pytest.raises(errors.ApiError):
        api.get(api.registry.get("", "configmaps"), "default", "child")
    assert json.dumps(sorted(names(api))) == "[]"
