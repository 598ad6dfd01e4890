"""The generic store: resourceVersions, key order, paging, the pod node index, watch replay and 410."""

from __future__ import annotations

import pytest

from kubesim import errors, selectors
from kubesim.store import ADDED, DELETED, MODIFIED, Store, decode_continue, encode_continue, queued_object
from kubesim.storeindex import DECODED_KEPT, Entry, selector_filter


def pod(ns: str, name: str, node: str | None = None, labels: dict[str, str] | None = None) -> dict:
    spec = {"nodeName": node} if node else {}
    return {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
            "spec": spec}


def put(s: Store, obj: dict) -> None:
    m = obj["metadata"]
    s.put("/pods", m["namespace"], m["name"], obj, old=s.get("/pods", m["namespace"], m["name"]))


def names(entries) -> list[str]:
    return [f"{e.obj['metadata']['namespace']}/{e.obj['metadata']['name']}" for e in entries]


def test_resource_versions_increase_cluster_wide() -> None:
    s = Store()
    put(s, pod("a", "x"))
    s.put("/nodes", "", "n1", {"metadata": {"name": "n1"}}, old=None)
    put(s, pod("a", "y"))
    rvs = [int(s.get("/pods", "a", "x").obj["metadata"]["resourceVersion"]),
           int(s.get("/nodes", "", "n1").obj["metadata"]["resourceVersion"]),
           int(s.get("/pods", "a", "y").obj["metadata"]["resourceVersion"])]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3
    assert s.rv == rvs[-1]


def test_list_is_in_key_order_across_namespaces() -> None:
    s = Store()
    for ns, name in [("b", "z"), ("a", "m"), ("b", "a"), ("a", "c")]:
        put(s, pod(ns, name))
    assert names(s.list("/pods", None).entries) == ["a/c", "a/m", "b/a", "b/z"]
    assert names(s.list("/pods", "b").entries) == ["b/a", "b/z"]


def test_paging_with_continue_returns_every_item_once() -> None:
    s = Store()
    for i in range(25):
        put(s, pod(f"ns{i % 3}", f"p{i:02d}"))
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        r = s.list("/pods", None, limit=10, continue_token=token)
        seen += names(r.entries)
        pages += 1
        if not r.continue_token:
            assert r.remaining is None
            break
        assert r.remaining == 25 - len(seen)
        token = r.continue_token
    assert pages == 3
    assert seen == names(s.list("/pods", None).entries)


def test_continue_token_round_trip_and_garbage() -> None:
    assert decode_continue(encode_continue(("ns", "name"), 42)) == (("ns", "name"), 42)
    assert decode_continue(encode_continue(("", "node-1"), 7)) == (("", "node-1"), 7)
    with pytest.raises(errors.ApiError) as e:
        decode_continue("not-base64!!")
    assert e.value.code == 400


def test_node_index_follows_binding_and_deletion() -> None:
    s = Store()
    put(s, pod("a", "p1"))
    put(s, pod("a", "p2", node="n1"))
    assert names(s.list("/pods", None, node_name="n1").entries) == ["a/p2"]
    put(s, pod("a", "p1", node="n1"))
    assert names(s.list("/pods", None, node_name="n1").entries) == ["a/p1", "a/p2"]
    s.remove("/pods", "a", "p2")
    assert names(s.list("/pods", None, node_name="n1").entries) == ["a/p1"]
    assert s.list("/pods", None, node_name="n2").entries == []


def test_predicate_filters_list() -> None:
    s = Store()
    put(s, pod("a", "web", labels={"app": "web"}))
    put(s, pod("a", "db", labels={"app": "db"}))
    r = s.list("/pods", None, predicate=lambda e: e.labels.get("app") == "web")
    assert names(r.entries) == ["a/web"]


def test_watch_without_version_sends_state_then_changes() -> None:
    s = Store()
    put(s, pod("a", "x"))
    w = s.watch("/pods", None, predicate=None, since=None, group="", resource="pods")
    put(s, pod("a", "y"))
    s.remove("/pods", "a", "x")
    assert [(t, e.name) for t, e, _ in w.queue] == [(ADDED, "x"), (ADDED, "y"), (DELETED, "x")]


def test_watch_resumes_from_resource_version() -> None:
    s = Store()
    put(s, pod("a", "x"))
    rv = s.rv
    put(s, pod("a", "y"))
    put(s, pod("a", "x", node="n"))
    w = s.watch("/pods", None, predicate=None, since=rv, group="", resource="pods")
    assert [(t, e.name) for t, e, _ in w.queue] == [(ADDED, "y"), (MODIFIED, "x")]


def test_deleted_event_carries_a_new_resource_version() -> None:
    s = Store()
    put(s, pod("a", "x"))
    before = s.rv
    w = s.watch("/pods", None, predicate=None, since=before, group="", resource="pods")
    s.remove("/pods", "a", "x")
    (typ, entry, obj), = w.queue
    assert typ == DELETED and int(obj["metadata"]["resourceVersion"]) == before + 1
    assert b'"resourceVersion":"%d"' % (before + 1) in entry.raw


def test_watch_too_old_is_gone() -> None:
    s = Store(history_size=3)
    for i in range(6):
        put(s, pod("a", f"p{i}"))
    with pytest.raises(errors.ApiError) as e:
        s.watch("/pods", None, predicate=None, since=2, group="", resource="pods")
    assert e.value.code == 410 and "too old resource version" in e.value.message
    s.watch("/pods", None, predicate=None, since=s.rv - 2, group="", resource="pods")


def test_compaction_makes_older_versions_gone() -> None:
    s = Store()
    put(s, pod("a", "x"))
    rv = s.rv
    put(s, pod("a", "y"))
    s.compact("/pods")
    with pytest.raises(errors.ApiError):
        s.watch("/pods", None, predicate=None, since=rv, group="", resource="pods")


def test_selector_transitions_become_added_and_deleted() -> None:
    s = Store()
    put(s, pod("a", "x", labels={"app": "other"}))
    w = s.watch("/pods", None, predicate=lambda e: e.labels.get("app") == "web", since=s.rv,
                group="", resource="pods")
    put(s, pod("a", "x", labels={"app": "web"}))
    put(s, pod("a", "x", labels={"app": "web", "v": "2"}))
    put(s, pod("a", "x", labels={"app": "other"}))
    assert [t for t, _o, _r in w.queue] == [ADDED, MODIFIED, DELETED]


def test_namespace_filtered_watch() -> None:
    s = Store()
    w = s.watch("/pods", "b", predicate=None, since=s.rv, group="", resource="pods")
    put(s, pod("a", "x"))
    put(s, pod("b", "y"))
    assert [e.name for _t, e, _o in w.queue] == ["y"]


def test_slow_watcher_is_closed_not_unbounded() -> None:
    s = Store(watch_backlog=5)
    w = s.watch("/pods", None, predicate=None, since=s.rv, group="", resource="pods")
    for i in range(10):
        put(s, pod("a", f"p{i}"))
    assert w.closed and w.overflowed
    assert w not in s.bucket("/pods").watchers


def forget_decoded_objects() -> None:
    """Push every stored entry's decoded object out of the small decoded cache."""
    for i in range(DECODED_KEPT):
        Entry({"kind": "Pod", "metadata": {"name": f"filler{i}"}}, b"{}")


def test_selectors_read_the_index_and_never_decode_what_they_skip() -> None:
    s = Store()
    for i in range(5):
        put(s, pod("a", f"p{i}", node="n1", labels={"app": "web" if i == 2 else "db"}))
    forget_decoded_objects()
    for _n, name, e in s.bucket("/pods").entries(None):
        if name != "p2":
            e.raw = b"{undecodable"  # decoding any of these would raise
    check = selector_filter(selectors.parse_label_selector("app=web"),
                            selectors.parse_field_selector("spec.nodeName=n1,metadata.namespace=a"))
    assert names(s.list("/pods", None, predicate=check, node_name="n1").entries) == ["a/p2"]
    w = s.watch("/pods", None, predicate=check, since=None, group="", resource="pods")
    assert [(t, e.name) for t, e, _o in w.queue] == [(ADDED, "p2")]


def test_replayed_events_decode_the_written_objects_from_bytes() -> None:
    s = Store()
    before = s.rv
    put(s, pod("a", "x", labels={"app": "web"}))
    put(s, pod("a", "x", node="n1", labels={"app": "web"}))
    s.remove("/pods", "a", "x")
    forget_decoded_objects()
    w = s.watch("/pods", None, predicate=None, since=before, group="", resource="pods")
    items = list(w.queue)
    assert [t for t, _e, obj in items] == [ADDED, MODIFIED, DELETED]
    assert all(obj is None for _t, _e, obj in items)  # history keeps no decoded objects
    objs = [queued_object(item) for item in items]
    assert [o["spec"].get("nodeName") for o in objs] == [None, "n1", "n1"]
    assert [int(o["metadata"]["resourceVersion"]) for o in objs] == [before + 1, before + 2, before + 3]
