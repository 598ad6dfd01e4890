"""kubesim.sim.informer over an in-memory ApiServer: priming, following changes, sharing objects between
informers of one resource, and starting over after falling behind."""

from __future__ import annotations

import asyncio
from typing import Any

from kubesim.apiserver import ApiServer
from kubesim.sim.informer import ADDED, DELETED, Informer
from kubesim.store import Store
from kubesim.storeindex import DECODED_KEPT, Entry


def pod(name: str, *, node: str = "") -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "web"}}, "spec": spec}


def forget_decoded_objects() -> None:
    for i in range(DECODED_KEPT):
        Entry({"kind": "Pod", "metadata": {"name": f"filler{i}"}}, b"{}")


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_primes_from_the_store_then_follows_changes() -> None:
    api = ApiServer()
    pods = api.registry.get("", "pods")
    assert pods is not None
    api.create(pods, "default", pod("a"))
    forget_decoded_objects()  # priming must decode from the stored bytes
    inf = Informer(api, "", "pods")
    seen: list[tuple[str, str]] = []
    inf.handlers.append(lambda typ, obj: seen.append((typ, obj["metadata"]["name"])))
    inf.start()
    try:
        assert inf.get("default", "a") == api.get(pods, "default", "a").obj
        written = api.create(pods, "default", pod("b"))
        api.delete(pods, "default", "a")
        inf.drain()
        assert inf.get("default", "b") is written  # a change carries the writer's object
        assert inf.get("default", "a") is None
        assert seen == [(ADDED, "a"), (ADDED, "b"), (DELETED, "a")]
    finally:
        await inf.stop()


async def test_a_second_informer_shares_the_first_ones_objects() -> None:
    api = ApiServer()
    pods = api.registry.get("", "pods")
    assert pods is not None
    for name in ("a", "b", "c"):
        api.create(pods, "default", pod(name))
    first, second = Informer(api, "", "pods"), Informer(api, "", "pods", namespace="default")
    first.start()
    forget_decoded_objects()  # the second cannot get them from the store's small decoded cache
    second.start()
    try:
        assert second.cache.keys() == first.cache.keys()
        assert all(second.cache[k] is first.cache[k] for k in first.cache)
        api.update(pods, "default", "b", {**api.get(pods, "default", "b").obj, "spec": pod("b", node="n1")["spec"]})
        first.drain()
        second.drain()
        assert second.get("default", "b") is first.get("default", "b")
        assert first.get("default", "b")["spec"]["nodeName"] == "n1"  # type: ignore[index]
    finally:
        await first.stop()
        await second.stop()


async def test_an_informer_that_fell_behind_starts_over_from_the_current_state() -> None:
    api = ApiServer(store=Store(watch_backlog=3))
    pods = api.registry.get("", "pods")
    assert pods is not None
    inf = Informer(api, "", "pods")
    inf.start()
    try:
        for i in range(10):  # without yielding: the informer's queue overflows and its watch is closed
            api.create(pods, "default", pod(f"p{i}"))
        await settle()
        assert sorted(name for _ns, name in inf.cache) == [f"p{i}" for i in range(10)]
        api.delete(pods, "default", "p0")
        await settle()
        assert inf.get("default", "p0") is None
    finally:
        await inf.stop()
