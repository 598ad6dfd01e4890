"""kubesim.sim.workloads_decide: pod predicates, the ReplicaSet deletion order, hashes, claiming, templates."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubesim.sim import workloads_decide as wd

NOW = wd.parse_time("2025-01-01T12:00:00Z")


def ts(seconds_ago: float) -> str:
    return wd.rfc3339(NOW - seconds_ago)


def pod(name: str, *, node: str = "n1", phase: str = "Running", ready: bool = True, ready_ago: float = 3600,
        created_ago: float = 7200, restarts: int = 0, cost: int | None = None, uid: str | None = None,
        labels: dict[str, str] | None = None, owner: str | None = None, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": uid or f"uid-{name}",
                            "creationTimestamp": ts(created_ago),
                            "labels": labels if labels is not None else {"a": "b"}}
    if cost is not None:
        meta["annotations"] = {wd.DELETION_COST: str(cost)}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner,
                                    "uid": f"uid-{owner}", "controller": True}]
    if deleting:
        meta["deletionTimestamp"] = ts(0)
    status: dict[str, Any] = {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": ts(ready_ago)}],
        "containerStatuses": [{"name": "c", "restartCount": restarts}]}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"nodeName": node}, "status": status}


# -- predicates ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("p", "min_ready", "want"), [
    pytest.param(pod("a"), 0, True, id="ready-no-min"),
    pytest.param(pod("a", ready=False), 0, False, id="not-ready"),
    pytest.param(pod("a", ready_ago=5), 10, False, id="ready-5s-min-10s"),
    pytest.param(pod("a", ready_ago=11), 10, True, id="ready-11s-min-10s"),
    pytest.param(pod("a", ready_ago=10), 10, False, id="exactly-min-is-not-after"),
])
def test_is_available(p: dict[str, Any], min_ready: int, want: bool) -> None:
    assert wd.is_available(p, min_ready, NOW) is want


@pytest.mark.parametrize(("p", "active", "terminating"), [
    pytest.param(pod("a"), True, False, id="running"),
    pytest.param(pod("a", phase="Pending"), True, False, id="pending"),
    pytest.param(pod("a", phase="Succeeded"), False, False, id="succeeded"),
    pytest.param(pod("a", phase="Failed"), False, False, id="failed"),
    pytest.param(pod("a", deleting=True), False, True, id="deleting"),
    pytest.param(pod("a", phase="Failed", deleting=True), False, False, id="deleting-failed"),
])
def test_active_and_terminating(p: dict[str, Any], active: bool, terminating: bool) -> None:
    assert (wd.is_active(p), wd.is_terminating(p)) == (active, terminating)


def test_next_availability_is_the_earliest_pending_pod_plus_a_second() -> None:
    pods = [pod("a", ready_ago=2), pod("b", ready_ago=8), pod("c", ready_ago=100), pod("d", ready=False)]
    assert wd.next_availability(pods, 10, NOW) == pytest.approx(3.0)
    assert wd.next_availability([pod("c", ready_ago=100)], 10, NOW) is None


# -- deletion order --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("first", "second"), [
    pytest.param(pod("x", node=""), pod("y"), id="unscheduled-before-scheduled"),
    pytest.param(pod("x", phase="Pending"), pod("y", phase="Unknown"), id="pending-before-unknown"),
    pytest.param(pod("x", phase="Unknown"), pod("y"), id="unknown-before-running"),
    pytest.param(pod("x", ready=False), pod("y"), id="not-ready-before-ready"),
    pytest.param(pod("x", cost=-5), pod("y", cost=10), id="lower-deletion-cost-first"),
    pytest.param(pod("x", ready_ago=10), pod("y", ready_ago=100_000), id="ready-more-recently-first"),
    pytest.param(pod("x", restarts=4), pod("y", restarts=1), id="more-restarts-first"),
    pytest.param(pod("x", created_ago=60), pod("y", created_ago=600_000), id="newer-first"),
    pytest.param(pod("x", created_ago=100, uid="a"), pod("y", created_ago=110, uid="b"),
                 id="same-log2-bucket-by-uid"),
])
def test_deletion_order_rules(first: dict[str, Any], second: dict[str, Any]) -> None:
    assert [p["metadata"]["name"] for p in wd.deletion_order([second, first], [], NOW)] == ["x", "y"]
    assert [p["metadata"]["name"] for p in wd.deletion_order([first, second], [], NOW)] == ["x", "y"]


def test_deletion_prefers_pods_doubled_up_on_a_node() -> None:
    x, y = pod("x", node="busy"), pod("y", node="quiet")
    related = [x, y, pod("z1", node="busy"), pod("z2", node="busy")]
    assert [p["metadata"]["name"] for p in wd.deletion_order([y, x], related, NOW)] == ["x", "y"]


def test_pods_to_delete_takes_everything_without_sorting_when_all_go() -> None:
    pods = [pod("b"), pod("a", node="")]
    assert wd.pods_to_delete(pods, pods, 2, NOW) == pods
    assert [p["metadata"]["name"] for p in wd.pods_to_delete(pods, pods, 1, NOW)] == ["a"]


@given(st.lists(st.tuples(st.sampled_from(["", "n1", "n2"]), st.sampled_from(["Pending", "Running", "Unknown"]),
                          st.booleans(), st.integers(0, 10**6), st.integers(0, 3)), min_size=1, max_size=12),
       st.integers(0, 12))
def test_pods_to_delete_is_a_subset_of_the_requested_size(specs: list[tuple[str, str, bool, int, int]],
                                                          count: int) -> None:
    pods = [pod(f"p{i}", node=n, phase=ph, ready=r, created_ago=age, restarts=x)
            for i, (n, ph, r, age, x) in enumerate(specs)]
    victims = wd.pods_to_delete(pods, pods, count, NOW)
    names = [p["metadata"]["name"] for p in victims]
    assert len(names) == min(count, len(pods)) and len(set(names)) == len(names)
    # an unscheduled pod is never kept while a scheduled one goes
    if any(not p["spec"]["nodeName"] for p in pods) and victims and count < len(pods):
        kept = [p for p in pods if p not in victims]
        assert not (any(not p["spec"]["nodeName"] for p in kept) and any(p["spec"]["nodeName"] for p in victims))


# -- hashes ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("data", "fnv1", "fnv1a"), [
    pytest.param(b"", 0x811C9DC5, 0x811C9DC5, id="empty"),
    pytest.param(b"a", 0x050C5D7E, 0xE40C292C, id="a"),
    pytest.param(b"ab", 0x70772D38, 0x4D2505CA, id="ab"),
    pytest.param(b"abc", 0x439C2F4B, 0x1A47E90B, id="abc"),
])
def test_fnv_vectors_of_go_hash_fnv(data: bytes, fnv1: int, fnv1a: int) -> None:
    assert (wd.fnv32(data), wd.fnv32a(data)) == (fnv1, fnv1a)


def test_safe_encode_maps_digits_to_consonants_and_digits() -> None:
    assert wd.safe_encode("0123456789") == "456789bcdf"


TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


def test_pod_template_hash_is_stable_and_sensitive() -> None:
    h = wd.pod_template_hash(TEMPLATE, None)
    assert h == wd.pod_template_hash({"spec": TEMPLATE["spec"], "metadata": {"labels": {"app": "web"},
                                                                             "creationTimestamp": None}}, None)
    assert set(h) <= set("bcdfghjklmnpqrstvwxz2456789") and 1 <= len(h) <= 10
    other = {**TEMPLATE, "spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}
    assert wd.pod_template_hash(other, None) != h
    assert wd.pod_template_hash(TEMPLATE, 1) != h
    assert wd.pod_template_hash(TEMPLATE, 0) != h  # a zero collision count still feeds 8 bytes


def test_revision_patch_is_go_json_of_the_template_with_patch_replace() -> None:
    sts = {"spec": {"template": {"metadata": {"labels": {"app": "<x>"}}, "spec": {"containers": []}}}}
    assert wd.template_patch(sts) == (b'{"spec":{"template":{"$patch":"replace","metadata":{"creationTimestamp":null,'
                                      b'"labels":{"app":"\\u003cx\\u003e"}},"spec":{"containers":[]}}}}')
    assert wd.revision_hash(sts, 0) != wd.revision_hash(sts, 1)
    assert wd.revision_hash(sts, None) == wd.safe_encode(str(wd.fnv32(wd.template_patch(sts))))


@pytest.mark.parametrize(("a", "b", "equal"), [
    pytest.param(TEMPLATE, {**TEMPLATE, "metadata": {"labels": {"app": "web", wd.POD_TEMPLATE_HASH: "x"}}}, True,
                 id="hash-label-ignored"),
    pytest.param(TEMPLATE, {**TEMPLATE, "metadata": {"labels": {"app": "web"}, "annotations": {}}}, True,
                 id="empty-map-is-nil"),
    pytest.param(TEMPLATE, {**TEMPLATE, "metadata": {"labels": {"app": "db"}}}, False, id="label-differs"),
    pytest.param(TEMPLATE, {**TEMPLATE, "spec": {"containers": [{"name": "c", "image": "x"}]}}, False,
                 id="spec-differs"),
])
def test_templates_equal_ignoring_hash(a: dict[str, Any], b: dict[str, Any], equal: bool) -> None:
    assert wd.templates_equal_ignoring_hash(a, b) is equal


@pytest.mark.parametrize(("value", "total", "up", "want"), [
    pytest.param(None, 10, True, 0, id="missing"),
    pytest.param(2, 10, True, 2, id="int"),
    pytest.param("25%", 3, True, 1, id="25pct-of-3-up"),
    pytest.param("25%", 3, False, 0, id="25pct-of-3-down"),
    pytest.param("50%", 10, False, 5, id="50pct-of-10"),
])
def test_scaled_value(value: Any, total: int, up: bool, want: int) -> None:
    assert wd.scaled_value(value, total, round_up=up) == want


# -- ownership -------------------------------------------------------------------------------------------------
OWNER = {"kind": "ReplicaSet", "metadata": {"name": "rs", "namespace": "default", "uid": "uid-rs"},
         "spec": {"selector": {"matchLabels": {"a": "b"}}}}


@pytest.mark.parametrize(("candidate", "owner", "want"), [
    pytest.param(pod("p", owner="rs"), OWNER, "owned", id="owned-matching"),
    pytest.param(pod("p", owner="rs", labels={"a": "c"}), OWNER, "release", id="owned-not-matching"),
    pytest.param(pod("p", owner="other"), OWNER, "none", id="someone-elses"),
    pytest.param(pod("p"), OWNER, "adopt", id="orphan-matching"),
    pytest.param(pod("p", labels={"x": "y"}), OWNER, "none", id="orphan-not-matching"),
    pytest.param(pod("p", deleting=True), OWNER, "none", id="orphan-being-deleted"),
    pytest.param(pod("p"), {**OWNER, "metadata": {**OWNER["metadata"], "deletionTimestamp": ts(0)}}, "none",
                 id="owner-being-deleted-adopts-nothing"),
    pytest.param(pod("p", owner="rs", labels={"a": "c"}),
                 {**OWNER, "metadata": {**OWNER["metadata"], "deletionTimestamp": ts(0)}}, "none",
                 id="owner-being-deleted-releases-nothing"),
])
def test_claim(candidate: dict[str, Any], owner: dict[str, Any], want: str) -> None:
    c = wd.claim(owner, [candidate], match=wd.selector_matcher(owner))
    got = "owned" if c.owned else "adopt" if c.adopt else "release" if c.release else "none"
    assert got == want


def test_an_empty_selector_selects_nothing() -> None:
    assert not wd.selector_matcher({"spec": {"selector": {}}})(pod("p"))


def test_pod_from_template_copies_metadata_and_spec_and_owns_the_pod() -> None:
    template = {"metadata": {"labels": {"a": "b"}, "annotations": {"x": "y"}, "finalizers": ["f"]},
                "spec": {"containers": [{"name": "c", "image": "i"}]}}
    ref = wd.controller_ref(OWNER, kind="ReplicaSet")
    p = wd.pod_from_template(template, namespace="default", owner_ref=ref, generate_name="rs-")
    assert p["metadata"] == {"namespace": "default", "generateName": "rs-", "labels": {"a": "b"},
                             "annotations": {"x": "y"}, "finalizers": ["f"], "ownerReferences": [ref]}
    assert ref == {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "uid-rs", "controller": True,
                   "blockOwnerDeletion": True}
    p["spec"]["containers"][0]["image"] = "changed"
    assert template["spec"]["containers"][0]["image"] == "i"


def test_random_suffix_uses_the_generate_name_alphabet() -> None:
    s = wd.random_suffix(random.Random(3).choice)
    assert len(s) == 5 and set(s) <= set("bcdfghjklmnpqrstvwxz2456789")
