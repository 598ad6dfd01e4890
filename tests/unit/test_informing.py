"""kubescale.informing.Informer over a scripted fake list/watch client: resuming from bookmarks, relisting on
410 with the right handler events, capped exponential backoff, and surviving bad objects and handlers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest

from kubescale.informing import Informer, object_key
from kubescale.kubeclient import ApiError

Script = list[Any]  # events (dicts) and exceptions, in order


def obj(name: str, version: str, value: str = "", namespace: str = "ns") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "resourceVersion": version}, "data": {"v": value}}


def event(kind: str, o: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "object": o}


def bookmark(version: str) -> dict[str, Any]:
    return {"type": "BOOKMARK", "object": {"kind": "ConfigMap", "metadata": {"resourceVersion": version}}}


class FakeApi:
    """Answers each list and watch with the next scripted answer; once the watch script is used up, a watch
    blocks (an idle stream) and `idle` is set."""

    def __init__(self, lists: list[Any], watches: list[Script]) -> None:
        self.lists, self.watches = lists, watches
        self.watched_from: list[str] = []
        self.list_calls = 0
        self.idle = asyncio.Event()

    async def list(self, path: str, *, params: Mapping[str, str] | None = None, page_size: int = 500,
                   item: Callable[[dict[str, Any]], Any] | None = None) -> tuple[list[Any], str]:
        self.list_calls += 1
        answer = self.lists.pop(0)
        if isinstance(answer, Exception):
            raise answer
        items, version = answer
        return ([item(o) for o in items] if item is not None else items), version

    async def watch(self, path: str, *, resource_version: str, params: Mapping[str, str] | None = None,
                    timeout_s: int = 300) -> AsyncIterator[dict[str, Any]]:
        self.watched_from.append(resource_version)
        if not self.watches:
            self.idle.set()
            await asyncio.Event().wait()
        for item in self.watches.pop(0):
            if isinstance(item, Exception):
                raise item
            yield item


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


def value(o: dict[str, Any]) -> str:
    if o["data"]["v"] == "boom":
        raise ValueError("cannot transform boom")
    return str(o["data"]["v"])


async def run(api: FakeApi, *, handler_fails: bool = False) -> tuple[Informer[str], list[tuple[Any, ...]], Sleeps]:
    """Run an informer until the fake has nothing more to say."""
    sleeps = Sleeps()
    informer: Informer[str] = Informer(api, "/x", value, name="test", sleep=sleeps)  # type: ignore[arg-type]
    seen: list[tuple[Any, ...]] = []

    def record(kind: str, old: str | None, new: str | None) -> None:
        seen.append((kind, old, new))
        if handler_fails and new == "bad-handler":
            raise RuntimeError("handler bug")

    informer.add_handler(record)
    await informer.start()
    await asyncio.wait_for(api.idle.wait(), 5)
    await informer.stop()
    return informer, seen, sleeps


async def test_resumes_from_the_last_event_and_bookmark() -> None:
    api = FakeApi(lists=[([obj("a", "5", "1")], "10")],
                  watches=[[event("ADDED", obj("b", "11", "2")), bookmark("20")],
                           [event("MODIFIED", obj("a", "21", "3"))],
                           []])
    informer, seen, sleeps = await run(api)
    assert api.watched_from == ["10", "20", "21", "21"]
    assert informer.items == {("ns", "a"): "3", ("ns", "b"): "2"}
    assert seen == [("ADDED", None, "1"), ("ADDED", None, "2"), ("MODIFIED", "1", "3")]
    assert (informer.errors, informer.relists, informer.resource_version) == (0, 0, "21")
    assert sleeps.delays == [0.5]  # only the empty stream that ended at once waited


async def test_gone_relists_at_once_and_reports_the_difference() -> None:
    api = FakeApi(
        lists=[([obj("same", "1", "s"), obj("changes", "2", "c1"), obj("goes", "3", "g")], "3"),
               ([obj("same", "1", "s"), obj("changes", "7", "c2"), obj("new", "8", "n")], "9")],
        watches=[[ApiError(410, "Expired", "too old resource version: 3 (5)")]],
    )
    informer, seen, sleeps = await run(api)
    assert informer.items == {("ns", "same"): "s", ("ns", "changes"): "c2", ("ns", "new"): "n"}
    assert seen[3:] == [("DELETED", "g", None), ("MODIFIED", "c1", "c2"), ("ADDED", None, "n")]
    assert (informer.errors, informer.relists, sleeps.delays) == (0, 1, [])
    assert api.watched_from == ["3", "9"]


async def test_failures_back_off_exponentially_up_to_30s_then_reset() -> None:
    failures: list[Any] = [ConnectionResetError("reset")] * 8
    api = FakeApi(lists=[*failures, ([obj("a", "1", "x")], "1"), ([obj("a", "1", "x")], "1")],
                  watches=[[ApiError(500, "InternalError", "etcd timeout")]])
    informer, seen, sleeps = await run(api)
    assert sleeps.delays == [0.5, 1, 2, 4, 8, 16, 30, 30, 0.5]  # reset by the successful list
    assert (informer.errors, informer.relists, informer.synced()) == (9, 9, True)
    assert seen == [("ADDED", None, "x")]  # the second list changed nothing


async def test_bad_objects_and_failing_handlers_are_counted_not_fatal() -> None:
    api = FakeApi(
        lists=[([obj("a", "1", "1"), {"metadata": {}}, obj("b", "2", "boom")], "2")],
        watches=[[
            {"type": "ADDED"},
            event("ADDED", {"metadata": {"resourceVersion": "3"}}),
            event("WEIRD", obj("c", "4", "1")),
            event("ADDED", obj("d", "5", "boom")),
            event("ADDED", obj("e", "6", "bad-handler")),
            event("DELETED", obj("never-seen", "7")),
            event("ADDED", obj("f", "8", "fine")),
        ]],
    )
    informer, seen, _ = await run(api, handler_fails=True)
    assert informer.items == {("ns", "a"): "1", ("ns", "e"): "bad-handler", ("ns", "f"): "fine"}
    assert seen == [("ADDED", None, "1"), ("ADDED", None, "bad-handler"), ("ADDED", None, "fine")]
    assert informer.errors == 7  # 2 listed, 4 streamed bad objects, 1 handler
    assert informer.resource_version == "8" and informer.relists == 0


async def test_wait_synced_times_out_while_lists_fail() -> None:
    api = FakeApi(lists=[ConnectionRefusedError("refused")] * 1000, watches=[])
    informer: Informer[str] = Informer(api, "/x", value, sleep=lambda _s: asyncio.sleep(0))  # type: ignore[arg-type]
    await informer.start()
    try:
        assert await informer.wait_synced(0.05) is False
        assert not informer.synced() and informer.errors > 0
    finally:
        await informer.stop()


@pytest.mark.parametrize(("o", "key"), [
    pytest.param({"metadata": {"name": "n", "namespace": "ns"}}, ("ns", "n"), id="namespaced"),
    pytest.param({"metadata": {"name": "node-1"}}, ("", "node-1"), id="cluster-scoped"),
])
def test_object_key(o: dict[str, Any], key: tuple[str, str]) -> None:
    assert object_key(o) == key


@pytest.mark.parametrize("o", [
    pytest.param({}, id="no-metadata"),
    pytest.param({"metadata": {"name": ""}}, id="empty-name"),
    pytest.param({"metadata": "x"}, id="metadata-not-a-mapping"),
])
def test_object_key_needs_a_name(o: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"no metadata\.name"):
        object_key(o)
