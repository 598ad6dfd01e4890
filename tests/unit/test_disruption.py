"""kubesim.disruption against the numbers of upstream's disruption_test.go and eviction_test.go."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubesim import disruption

NOW = "2025-01-01T12:00:00Z"
FOO_BAR = {"foo": "bar"}


def pod(name: str, *, ready: bool = True, labels: dict[str, str] | None = None, phase: str = "Running",
        deleting: bool = False, ns: str = "default") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": dict(FOO_BAR if labels is None else labels)}
    if deleting:
        meta["deletionTimestamp"] = NOW
    return {"metadata": meta, "status": {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}}


def pdb(*, min_available: int | str | None = None, max_unavailable: int | str | None = None,
        selector: dict[str, Any] | None = None, status: dict[str, Any] | None = None, generation: int = 0,
        policy: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"matchLabels": FOO_BAR} if selector is None else selector}
    if min_available is not None:
        spec["minAvailable"] = min_available
    if max_unavailable is not None:
        spec["maxUnavailable"] = max_unavailable
    if policy:
        spec["unhealthyPodEvictionPolicy"] = policy
    meta: dict[str, Any] = {"name": "foobar", "namespace": "default"}
    if generation:
        meta["generation"] = generation
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta, "spec": spec,
            "status": status or {}}


def counts(status: dict[str, Any]) -> tuple[int, int, int, int]:
    """(disruptionsAllowed, currentHealthy, desiredHealthy, expectedPods), VerifyPdbStatus's order."""
    return (status["disruptionsAllowed"], status["currentHealthy"], status["desiredHealthy"],
            status["expectedPods"])


def cond(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "DisruptionAllowed")


# -- compute_pdb_status ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("budget", "pods", "scale", "want"), [
    # TestUnavailable: minAvailable 3, pods added one by one, then one made unready
    pytest.param(pdb(min_available=3), [], None, (0, 0, 3, 0), id="unavailable-no-pods"),
    pytest.param(pdb(min_available=3), [pod(f"p{i}") for i in range(3)], None, (0, 3, 3, 3), id="unavailable-3"),
    pytest.param(pdb(min_available=3), [pod(f"p{i}") for i in range(4)], None, (1, 4, 3, 4), id="unavailable-4"),
    pytest.param(pdb(min_available=3), [pod("p0", ready=False)] + [pod(f"p{i}") for i in range(1, 4)], None,
                 (0, 3, 3, 4), id="unavailable-one-unready"),
    # TestNoSelector: an empty selector selects every pod of the namespace
    pytest.param(pdb(min_available=3, selector={}), [pod("yo", labels={"x": "y"})], None, (0, 1, 3, 1),
                 id="empty-selector-matches-all"),
    # TestReplicaSet: minAvailable 20% of an RS of 10 with one pod
    pytest.param(pdb(min_available="20%"), [pod("pod")], 10, (0, 1, 2, 10), id="replicaset-20-percent"),
    # TestIntegerMaxUnavailableWithScaling: maxUnavailable 2, RS 7 then 5
    pytest.param(pdb(max_unavailable=2), [pod("pod")], 7, (0, 1, 5, 7), id="max-unavailable-2-of-7"),
    pytest.param(pdb(max_unavailable=2), [pod("pod")], 5, (0, 1, 3, 5), id="max-unavailable-2-of-5"),
    # TestPercentageMaxUnavailableWithScaling: 30% rounds up (3 of 7, 1 of 3)
    pytest.param(pdb(max_unavailable="30%"), [pod("pod")], 7, (0, 1, 4, 7), id="max-unavailable-30pc-of-7"),
    pytest.param(pdb(max_unavailable="30%"), [pod("pod")], 3, (0, 1, 2, 3), id="max-unavailable-30pc-of-3"),
    # TestReplicationController: 34% of 3 rounds up to 2
    pytest.param(pdb(min_available="34%"), [pod("a"), pod("b")], 3, (0, 2, 2, 3), id="34-percent-two-pods"),
    pytest.param(pdb(min_available="34%"), [pod("a"), pod("b"), pod("c")], 3, (1, 3, 2, 3), id="34-percent-three"),
    # TestScaleResource: maxUnavailable 5 of 10 replicas with 4 pods
    pytest.param(pdb(max_unavailable=5), [pod(f"pod-{i}") for i in range(4)], 10, (0, 4, 5, 10),
                 id="scale-resource"),
    # TestTwoControllers: 28% of 11 is 4, of 22 is 7
    pytest.param(pdb(min_available="28%"), [pod(f"q{i}") for i in range(5)], 11, (1, 5, 4, 11), id="28pc-of-11"),
    pytest.param(pdb(min_available="28%"), [pod(f"q{i}") for i in range(9)], 22, (2, 9, 7, 22), id="28pc-of-22"),
    # TestIntegerMaxUnavailable: a naked pod, no scale known beyond itself
    pytest.param(pdb(max_unavailable=1), [pod("naked")], 0, (0, 1, 0, 0), id="naked-pod-expected-zero"),
    # pods of another namespace and being deleted do not count
    pytest.param(pdb(min_available=1), [pod("a"), pod("b", ns="other"), pod("c", deleting=True)], None,
                 (0, 1, 1, 2), id="other-namespace-and-deleting"),
])
def test_status_counts_follow_upstream(budget: dict[str, Any], pods: list[dict[str, Any]], scale: int | None,
                                       want: tuple[int, int, int, int]) -> None:
    status = disruption.compute_pdb_status(budget, pods, expected_scale=scale, now=NOW)
    assert counts(status) == want


def test_update_disrupted_pods_prunes_deleted_expired_and_missing() -> None:
    """TestUpdateDisruptedPods: only p3 (disrupted a minute ago, still there) stays."""
    budget = pdb(min_available=1, status={"disruptedPods": {
        "p1": NOW, "p2": "2025-01-01T11:57:00Z", "p3": "2025-01-01T11:59:00Z", "notthere": NOW}})
    pods = [pod("p1", deleting=True), pod("p2"), pod("p3")]
    status = disruption.compute_pdb_status(budget, pods, expected_scale=None, now=NOW)
    assert counts(status) == (0, 1, 1, 3)
    assert status["disruptedPods"] == {"p3": "2025-01-01T11:59:00Z"}
    assert disruption.recheck_at(status) == "2025-01-01T12:01:00Z"


@pytest.mark.parametrize("selector", [
    pytest.param({"matchLabels": {"k8s.io/too/many/slashes": "value"}}, id="illegal-key"),
    pytest.param({"matchExpressions": [{"key": "foo", "operator": "illegal", "values": ["bar"]}]},
                 id="illegal-operator"),
])
def test_invalid_selector_fails_safe(selector: dict[str, Any]) -> None:
    """TestInvalidSelectors: status stays at zero and the condition says SyncFailed."""
    status = disruption.compute_pdb_status(pdb(min_available=3, selector=selector), [pod("a")],
                                           expected_scale=None, now=NOW)
    assert counts(status) == (0, 0, 0, 0)
    assert cond(status)["reason"] == "SyncFailed"
    assert cond(status)["status"] == "False"


def test_percentage_that_is_not_one_fails_safe_with_upstream_message() -> None:
    status = disruption.compute_pdb_status(pdb(min_available="5"), [pod("a")], expected_scale=1, now=NOW)
    assert cond(status)["message"] == "invalid value for IntOrString: invalid type: string is not a percentage"


def test_nil_selector_selects_nothing() -> None:
    budget = pdb(min_available=0)
    budget["spec"].pop("selector")
    assert counts(disruption.compute_pdb_status(budget, [pod("a")], expected_scale=None, now=NOW)) == (0, 0, 0, 0)


def test_condition_reasons_and_transition_time() -> None:
    sufficient = disruption.compute_pdb_status(pdb(min_available=1, generation=3), [pod("a"), pod("b")],
                                               expected_scale=None, now=NOW)
    assert cond(sufficient) == {"type": "DisruptionAllowed", "status": "True", "observedGeneration": 3,
                                "lastTransitionTime": NOW, "reason": "SufficientPods", "message": ""}
    assert sufficient["observedGeneration"] == 3
    later = "2025-01-01T12:05:00Z"
    still = disruption.compute_pdb_status({**pdb(min_available=1, generation=4), "status": sufficient},
                                          [pod("a"), pod("b")], expected_scale=None, now=later)
    assert cond(still)["lastTransitionTime"] == NOW  # reason unchanged: no transition
    assert still["observedGeneration"] == 4
    flipped = disruption.compute_pdb_status({**pdb(min_available=1, generation=4), "status": still}, [pod("a")],
                                            expected_scale=None, now=later)
    assert cond(flipped)["lastTransitionTime"] == later
    assert cond(flipped)["reason"] == "InsufficientPods"


def test_unchanged_status_is_returned_as_is() -> None:
    first = disruption.compute_pdb_status(pdb(min_available=1, generation=1), [pod("a")], expected_scale=None,
                                          now=NOW)
    again = disruption.compute_pdb_status({**pdb(min_available=1, generation=1), "status": first}, [pod("a")],
                                          expected_scale=None, now="2025-01-02T00:00:00Z")
    assert again == first


@given(healthy=st.integers(0, 30), unready=st.integers(0, 10), scale=st.integers(0, 50),
       budget=st.one_of(st.integers(0, 40), st.integers(0, 100).map(lambda p: f"{p}%")),
       use_max=st.booleans())
def test_allowed_is_never_negative_and_never_exceeds_healthy(healthy: int, unready: int, scale: int,
                                                             budget: int | str, use_max: bool) -> None:
    pods = [pod(f"h{i}") for i in range(healthy)] + [pod(f"u{i}", ready=False) for i in range(unready)]
    spec = pdb(max_unavailable=budget) if use_max else pdb(min_available=budget)
    status = disruption.compute_pdb_status(spec, pods, expected_scale=scale, now=NOW)
    assert 0 <= status["disruptionsAllowed"] <= status["currentHealthy"] == healthy
    assert status["disruptionsAllowed"] == max(0, healthy - status["desiredHealthy"]) or status["expectedPods"] <= 0


# -- decide_eviction -------------------------------------------------------------------------------------------
def a_pdb(allowed: int, **status: Any) -> dict[str, Any]:
    return pdb(selector={"matchLabels": {"a": "true"}}, status={"disruptionsAllowed": allowed, **status})


def a_pod(name: str, **kw: Any) -> dict[str, Any]:
    return pod(name, labels={"a": "true"}, **kw)


@pytest.mark.parametrize(("the_pod", "pdbs", "allowed", "code"), [
    # TestEviction
    pytest.param(a_pod("t1", ready=False), [a_pdb(0)], False, 429, id="no-disruptions-running"),
    pytest.param(a_pod("t2", phase="Pending"), [a_pdb(0)], True, 201, id="no-disruptions-pending"),
    pytest.param(a_pod("t3", phase="Succeeded"), [a_pdb(0)], True, 201, id="no-disruptions-succeeded"),
    pytest.param(a_pod("t4", phase="Failed"), [a_pdb(0)], True, 201, id="no-disruptions-failed"),
    pytest.param(a_pod("t5", ready=False), [a_pdb(1)], True, 201, id="disruptions-allowed"),
    pytest.param(a_pod("t6"), [pdb(selector={"matchLabels": {"b": "true"}})], True, 201, id="non-matching"),
    # TestEvictionIngorePDB
    pytest.param(a_pod("t6", deleting=True), [a_pdb(0)], True, 201, id="terminating"),
    pytest.param(a_pod("t7"), [a_pdb(0, currentHealthy=2, desiredHealthy=2)], False, 429,
                 id="healthy-pod-guarded"),
    pytest.param(a_pod("t8", ready=False), [a_pdb(0, currentHealthy=2, desiredHealthy=2)], True, 201,
                 id="unhealthy-pod-budget-met"),
    pytest.param(a_pod("t9", ready=False), [a_pdb(0, currentHealthy=1, desiredHealthy=2)], False, 429,
                 id="unhealthy-pod-budget-not-met"),
    pytest.param(a_pod("t10", ready=False), [{**a_pdb(0, currentHealthy=1, desiredHealthy=2),
                                             "spec": {"selector": {"matchLabels": {"a": "true"}},
                                                      "unhealthyPodEvictionPolicy": "AlwaysAllow"}}],
                 True, 201, id="always-allow-unhealthy"),
    pytest.param(a_pod("t11"), [a_pdb(1), {**a_pdb(1), "metadata": {"name": "bar", "namespace": "default"}}],
                 False, 500, id="two-pdbs"),
    pytest.param(a_pod("t12"), [{**a_pdb(1), "metadata": {"name": "x", "namespace": "other"}}], True, 201,
                 id="pdb-of-other-namespace"),
])
def test_eviction_outcomes(the_pod: dict[str, Any], pdbs: list[dict[str, Any]], allowed: bool, code: int) -> None:
    decision = disruption.decide_eviction(the_pod, pdbs, now=NOW)
    assert (decision.allowed, decision.status_code) == (allowed, code)


def test_refusal_carries_upstream_message_and_cause() -> None:
    decision = disruption.decide_eviction(a_pod("t1"), [a_pdb(0, currentHealthy=2, desiredHealthy=3)], now=NOW)
    assert decision.status() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Cannot evict pod as it would violate the pod's disruption budget.",
        "reason": "TooManyRequests",
        "details": {"causes": [{"reason": "DisruptionBudget",
                                "message": "The disruption budget foobar needs 3 healthy pods and has 2 currently"}]},
        "code": 429}
    assert decision.pdb_status is None


def test_more_than_one_pdb_message() -> None:
    decision = disruption.decide_eviction(a_pod("x"), [a_pdb(1), a_pdb(1)], now=NOW)
    assert decision.message == ("This pod has more than one PodDisruptionBudget, which the eviction subresource "
                                "does not support.")
    assert "reason" not in decision.status()


def test_stale_observed_generation_asks_to_retry() -> None:
    budget = {**a_pdb(5, observedGeneration=1), "metadata": {"name": "foobar", "namespace": "default",
                                                              "generation": 2}}
    decision = disruption.decide_eviction(a_pod("x"), [budget], now=NOW)
    assert decision.status_code == 429
    assert decision.retry_after_seconds == 10
    assert decision.causes[0]["message"] == "The disruption budget foobar is still being processed by the server."


@pytest.mark.parametrize(("status", "why"), [
    pytest.param({"disruptionsAllowed": -1}, "pdb disruptions allowed is negative", id="negative"),
    pytest.param({"disruptionsAllowed": 1, "disruptedPods": {f"p{i}": NOW for i in range(2001)}},
                 "DisruptedPods map too big - too many evictions not confirmed by PDB controller", id="too-big"),
])
def test_forbidden_budgets(status: dict[str, Any], why: str) -> None:
    decision = disruption.decide_eviction(a_pod("x"), [pdb(selector={"matchLabels": {"a": "true"}}, status=status)],
                                          now=NOW)
    assert decision.status_code == 403
    assert decision.message == f'poddisruptionbudget.policy "foobar" is forbidden: {why}'


@pytest.mark.parametrize(("allowed", "want_allowed", "want_reason"), [
    pytest.param(1, 0, "InsufficientPods", id="last-disruption-flips-condition"),  # TestEvictionPDBStatus
    pytest.param(3, 2, "SufficientPods", id="condition-kept-while-allowed"),
])
def test_allowed_eviction_decrements_and_records(allowed: int, want_allowed: int, want_reason: str) -> None:
    budget = a_pdb(allowed, conditions=[{"type": "DisruptionAllowed", "status": "True", "reason": "SufficientPods",
                                         "message": "", "lastTransitionTime": "2025-01-01T00:00:00Z"}])
    decision = disruption.decide_eviction(a_pod("foo-1"), [budget], now=NOW)
    assert decision.allowed and decision.pdb_status is not None
    assert decision.pdb_status["disruptionsAllowed"] == want_allowed
    assert decision.pdb_status["disruptedPods"] == {"foo-1": NOW}
    assert cond(decision.pdb_status)["reason"] == want_reason
    assert decision.pod_condition == {"type": "DisruptionTarget", "status": "True", "lastProbeTime": None,
                                      "lastTransitionTime": NOW, "reason": "EvictionByEvictionAPI",
                                      "message": "Eviction API: evicting"}
    assert budget["status"]["disruptionsAllowed"] == allowed  # the input is not modified


def test_dry_run_writes_nothing() -> None:
    decision = disruption.decide_eviction(a_pod("x"), [a_pdb(1)], now=NOW, dry_run=True)
    assert decision.allowed and decision.pdb_status is None and decision.pod_condition is None


@pytest.mark.parametrize(("the_pod", "pin"), [
    pytest.param(a_pod("p", phase="Pending"), True, id="pending-pinned"),
    pytest.param(a_pod("s", phase="Succeeded"), False, id="terminal-not-pinned"),
    pytest.param(a_pod("u", ready=False), True, id="unready-bypass-pinned"),
])
def test_resource_version_pinning(the_pod: dict[str, Any], pin: bool) -> None:
    decision = disruption.decide_eviction(the_pod, [a_pdb(0, currentHealthy=2, desiredHealthy=2)], now=NOW)
    assert decision.allowed
    assert decision.pin_resource_version is pin


def test_success_status_body() -> None:
    assert disruption.decide_eviction(a_pod("x"), [], now=NOW).status() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
