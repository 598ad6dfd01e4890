"""The HPA replica calculator against upstream's replica_calculator_test.go scenarios (their inputs and expected
numbers), horizontal_test.go's computeReplicasForMetrics cases, and invariants checked with Hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.hpa import gomath, metricreplicas, replicas
from autoscaler.hpa.model import (
    AVERAGE_VALUE,
    EXTERNAL,
    OBJECT,
    PODS,
    RESOURCE,
    UTILIZATION,
    VALUE,
    ZERO_TIME,
    CalcSettings,
    Condition,
    ContainerInfo,
    ContainerUsage,
    CrossVersionObjectReference,
    Event,
    ExternalMetricsFetch,
    ExternalMetricSource,
    LabelSelector,
    LabelSelectorRequirement,
    MetricIdentifier,
    MetricSpec,
    MetricTarget,
    ObjectMetricFetch,
    ObjectMetricSource,
    PodInfo,
    PodMetricSample,
    PodMetricValue,
    PodsMetricsFetch,
    PodsMetricSource,
    ResourceMetricsFetch,
    ResourceMetricSource,
    Tolerances,
)

NOW = 1_700_000_000.0
NS = "test-namespace"
TEST_SETTINGS = CalcSettings(cpu_initialization_period_s=120.0, initial_readiness_delay_s=10.0)  # upstream's testing
DEFAULT_TOL = Tolerances(0.1, 0.1)
HOT = NOW  # hotCPUCreationTime: started now
COOL = NOW - 180.0  # coolCPUCreationTime: started 3 minutes ago
T, F = "True", "False"
DEPLOYMENT = CrossVersionObjectReference(kind="Deployment", name="some-deployment", api_version="apps/v1")
LABEL_SELECTOR = LabelSelector(match_labels={"label": "value"})


def levels(*per_pod: int) -> list[list[int]]:
    """makePodMetricLevels: both containers of pod i report per_pod[i]."""
    return [[v, v] for v in per_pod]


def cpu(n: int, milli: int = 1000) -> list[int]:
    return [milli] * n


def make_pods(current: int, *, requests: list[int] | None = None, readiness: list[str] | None = None,
              start: list[float] | None = None, phase: list[str] | None = None,
              deleting: list[bool] | None = None) -> list[PodInfo]:
    """The fake pod lister of replica_calculator_test.go: two containers, each requesting the pod's request."""
    count = max(current, len(phase or []))
    pods = []
    for i in range(count):
        req = {"cpu": requests[i]} if requests is not None and i < len(requests) else {}
        pods.append(PodInfo(
            name=f"test-pod-{i}",
            phase=phase[i] if phase else "Running",
            ready=readiness[i] if readiness and i < len(readiness) else T,
            start_time_s=start[i] if start else ZERO_TIME,
            deleting=bool(deleting and deleting[i]),
            containers=(ContainerInfo("container1", req), ContainerInfo("container2", req)),
        ))
    return pods


def make_resource_metrics(per_pod: list[list[int]], *, pod_names: list[str] | None = None,
                          timestamp: float = ZERO_TIME) -> ResourceMetricsFetch:
    """The fake metrics.k8s.io client: two container slots per pod, unset ones left empty."""
    items = []
    for i, values in enumerate(per_pod):
        containers = [ContainerUsage(f"container{j + 1}", {"cpu": v}) for j, v in enumerate(values)]
        containers += [ContainerUsage("")] * (2 - len(values))
        name = pod_names[i] if pod_names and i < len(pod_names) else f"test-pod-{i}"
        items.append(PodMetricSample(name, timestamp, 60.0, tuple(containers), namespace=NS))
    return ResourceMetricsFetch(tuple(items))


# ---- GetResourceReplicas (TestReplicaCalcResourceScale and the single resource tests) ----

R = pytest.param
RESOURCE_CASES = [
    # id, pod fixture, metric levels, container, target, want (replicas, utilization, raw) or error text
    R(dict(current=3, requests=cpu(3)), levels(300, 500, 700), "", 30, (5, 50, 2 * 500), id="scale-up"),
    R(dict(current=3, requests=cpu(3)), [[1000, 300], [1000, 500], [1000, 700]], "container2", 30, (5, 50, 500),
      id="scale-up-container-metric"),
    R(dict(current=3, requests=cpu(3), readiness=[F, T, T]), levels(300, 500, 700), "", 30, (4, 60, 2 * 600),
      id="scale-up-unready-pod-scales-less"),
    R(dict(current=3, requests=cpu(3), start=[HOT, COOL, COOL]), [[0, 300], [0, 500], [0, 700]], "container2", 30,
      (4, 60, 600), id="scale-up-hot-cpu-container-scales-less"),
    R(dict(current=3, requests=cpu(3), start=[HOT, COOL, COOL]), levels(300, 500, 700), "", 30, (4, 60, 2 * 600),
      id="scale-up-hot-cpu-pod-scales-less"),
    R(dict(current=3, requests=cpu(3), readiness=[T, F, F]), levels(400, 500, 700), "", 30, (3, 40, 2 * 400),
      id="no-scale-unready-pods-ignored"),
    R(dict(current=3, requests=cpu(3), readiness=[T, F, F], start=[COOL, HOT, HOT]), levels(400, 500, 700), "", 30,
      (3, 40, 2 * 400), id="no-scale-hot-cpu-pods-ignored"),
    R(dict(current=2, requests=cpu(4), readiness=[T, T, F, F], phase=["Running", "Running", "Failed", "Failed"]),
      levels(500, 700), "", 30, (4, 60, 2 * 600), id="scale-up-failed-pods-ignored"),
    # upstream's newest test expects 4 here; v1.35's metrics client fails when a pod's metrics lack the container
    R(dict(current=2, requests=cpu(4), readiness=[T, T, F, F], phase=["Running", "Running", "Failed", "Failed"]),
      [[1000, 500], [9000, 700], [1000], [9000]], "container2", 30,
      "unable to get metrics for resource cpu: failed to get container metrics: container container2 not present "
      "in metrics for pod test-namespace/test-pod-2", id="scale-up-failed-pods-ignored-missing-container-metric"),
    R(dict(current=2, requests=cpu(4), readiness=[T, T, F, F], phase=["Running", "Running", "Failed", "Failed"]),
      [[1000, 500], [9000, 700]], "container2", 30, (4, 60, 600), id="scale-up-container-failed-pods-ignored"),
    R(dict(current=2, requests=cpu(4), readiness=[T, T, F, F], deleting=[False, False, True, True]),
      levels(500, 700), "", 30, (4, 60, 2 * 600), id="scale-up-deleted-pods-ignored"),
    R(dict(current=2, requests=cpu(4), readiness=[T, T, F, F], deleting=[False, False, True, True]),
      levels(500, 700), "container1", 30, (4, 60, 600), id="scale-up-container-deleted-pods-ignored"),
    R(dict(current=5, requests=cpu(5)), levels(100, 300, 500, 250, 250), "", 50, (3, 28, 2 * 280), id="scale-down"),
    R(dict(current=5, requests=cpu(5)), [[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]],
      "container2", 50, (3, 28, 280), id="scale-down-container-metric"),
    R(dict(current=5, requests=cpu(5), readiness=[T, T, T, F, F]), levels(100, 300, 500, 250, 250), "", 50,
      (2, 30, 2 * 300), id="scale-down-exclude-unready-pods"),
    R(dict(current=5, requests=cpu(5), readiness=[T, T, T, F, F]),
      [[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]], "container2", 50, (2, 30, 300),
      id="scale-down-container-exclude-unready-pods"),
    R(dict(current=5, requests=cpu(5), readiness=[T, F, F, F, F], phase=["Running"] + ["Pending"] * 4),
      levels(100), "", 50, (1, 10, 2 * 100), id="scale-down-exclude-unscheduled-pods"),
    R(dict(current=5, requests=cpu(5), readiness=[T, F, F, F, F], phase=["Running"] + ["Pending"] * 4),
      [[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]], "container2", 50, (1, 10, 100),
      id="scale-down-container-exclude-unscheduled-pods"),
    R(dict(current=5, requests=cpu(5), start=[COOL, COOL, COOL, HOT, HOT]), levels(100, 300, 500, 250, 250), "", 50,
      (2, 30, 2 * 300), id="scale-down-ignore-hot-cpu-pods"),
    R(dict(current=5, requests=cpu(5), start=[COOL, COOL, COOL, HOT, HOT]),
      [[1000, 100], [1000, 300], [1000, 500], [1000, 1000], [1000, 1000]], "container2", 50, (2, 30, 300),
      id="scale-down-container-ignore-hot-cpu-pods"),
    R(dict(current=5, requests=cpu(7), readiness=[T] * 5 + [F, F], phase=["Running"] * 5 + ["Failed"] * 2),
      levels(100, 300, 500, 250, 250), "", 50, (3, 28, 2 * 280), id="scale-down-failed-pods-ignored"),
    R(dict(current=5, requests=cpu(7), readiness=[T] * 5 + [F, F], phase=["Running"] * 5 + ["Failed"] * 2),
      [[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]], "container2", 50, (3, 28, 280),
      id="scale-down-container-failed-pods-ignored"),
    R(dict(current=5, requests=cpu(7), readiness=[T] * 5 + [F, F], phase=["Running"] * 7,
           deleting=[False] * 5 + [True] * 2), levels(100, 300, 500, 250, 250), "", 50, (3, 28, 2 * 280),
      id="scale-down-deleted-pods-ignored"),
    R(dict(current=5, requests=cpu(7), readiness=[T] * 5 + [F, F], phase=["Running"] * 7,
           deleting=[False] * 5 + [True] * 2), [[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]],
      "container2", 50, (3, 28, 280), id="scale-down-still-running-deleted-pods-ignored-issue-83561"),
    R(dict(current=3, requests=[900, 1000, 1100]), levels(1010, 1030, 1020), "", 100, (3, 102, 2 * 1020),
      id="tolerance"),
    R(dict(current=4, requests=cpu(4)), levels(4000, 9500, 3000, 7000, 3200, 2000), "", 100, (24, 587, 2 * 5875),
      id="superfluous-metrics"),
    R(dict(current=4, requests=cpu(4)), levels(400, 95), "", 100, (3, 24, 495), id="missing-metrics"),
    R(dict(current=4, requests=cpu(3)), levels(), "", 100,
      "unable to get metrics for resource cpu: no metrics returned from resource metrics API", id="empty-metrics"),
    R(dict(current=1, requests=[]), levels(200), "", 100,
      "missing request for cpu in container container1 of Pod test-pod-0", id="empty-cpu-request"),
    R(dict(current=2, requests=cpu(2)), levels(1000), "", 100, (2, 100, 2 * 1000), id="missing-metrics-no-change-eq"),
    R(dict(current=2, requests=cpu(2)), levels(1900), "", 100, (2, 190, 2 * 1900), id="missing-metrics-no-change-gt"),
    R(dict(current=2, requests=cpu(2)), levels(600), "", 100, (2, 60, 2 * 600), id="missing-metrics-no-change-lt"),
    R(dict(current=3, requests=cpu(3), readiness=[F, T, T]), levels(100, 450), "", 50, (3, 45, 2 * 450),
      id="missing-metrics-unready-change"),
    R(dict(current=3, requests=cpu(3), start=[HOT, COOL, COOL]), levels(100, 450), "", 50, (3, 45, 2 * 450),
      id="missing-metrics-hot-cpu-no-change"),
    R(dict(current=3, requests=cpu(3), readiness=[F, T, T]), levels(100, 2000), "", 50, (4, 200, 2 * 2000),
      id="missing-metrics-unready-scale-up"),
    R(dict(current=3, requests=cpu(3), readiness=[F, T, T], start=[HOT, COOL, COOL]), levels(100, 2000), "", 50,
      (4, 200, 2 * 2000), id="missing-metrics-hot-cpu-scale-up"),
    R(dict(current=4, requests=cpu(4), readiness=[F, T, T, T]), levels(100, 100, 100), "", 50, (3, 10, 2 * 100),
      id="missing-metrics-unready-scale-down"),
    R(dict(current=4, requests=[1000, 1000, 2000, 2000], readiness=[F, T, T, T]), levels(200, 100, 100), "", 300,
      (2, 6, 2 * 100), id="missing-metrics-scale-down-target-over-100"),
    R(dict(current=2, requests=cpu(3), phase=["Running"] * 3), levels(100, 100), "", 50, (2, 10, 2 * 100),
      id="rolling-update-with-max-surge"),
]


@pytest.mark.parametrize(("fixture", "metric_levels", "container", "target", "want"), RESOURCE_CASES)
def test_get_resource_replicas(fixture: dict, metric_levels: list[list[int]], container: str, target: int,
                               want: tuple[int, int, int] | str) -> None:
    current = fixture.pop("current")
    pods = make_pods(current, **fixture)
    call = dict(pods=pods, fetched=make_resource_metrics(metric_levels), container=container,
                tolerances=DEFAULT_TOL, now=NOW, settings=TEST_SETTINGS)
    if isinstance(want, str):
        with pytest.raises(replicas.ReplicaCalcError) as info:
            replicas.get_resource_replicas(current, target, "cpu", **call)
        assert want in str(info.value)
        return
    got = replicas.get_resource_replicas(current, target, "cpu", **call)
    assert (got.replicas, got.utilization, got.usage) == want
    assert got.timestamp_s == ZERO_TIME


def test_disjoint_resource_metrics() -> None:
    pods = make_pods(1, requests=cpu(1))
    fetched = make_resource_metrics(levels(100), pod_names=["an-older-pod-name"])
    # the only metric belongs to no listed pod: the pod is "missing", the metric extraneous
    with pytest.raises(replicas.ReplicaCalcError, match="no metrics returned matched known pods"):
        replicas.get_resource_replicas(1, 100, "cpu", pods=pods, fetched=fetched, tolerances=DEFAULT_TOL, now=NOW,
                                       settings=TEST_SETTINGS)


@pytest.mark.parametrize(("tolerances", "requests", "per_pod", "want"), [
    R(Tolerances(0.0, 0.0), [900, 1000, 1100], levels(909, 1010, 1111), (4, 101, 2 * 1010), id="outside-0pct"),
    R(Tolerances(0.1, 2.0), [900, 1000, 1100], levels(1890, 1910, 1900), (3, 190, 2 * 1900),
      id="within-200pct-scale-up"),
    R(Tolerances(2.0, 0.08), [900, 1000, 1100], levels(1100, 1080, 1090), (4, 109, 2 * 1090),
      id="outside-8pct-scale-up"),
    R(Tolerances(0.36, 0.1), [900, 1000, 1100], levels(660, 640, 650), (3, 65, 2 * 650), id="within-36pct-scale-down"),
    R(Tolerances(0.34, 0.1), [900, 1000, 1100], levels(660, 640, 650), (2, 65, 2 * 650), id="outside-34pct-scale-down"),
])
def test_configurable_tolerance(tolerances: Tolerances, requests: list[int], per_pod: list[list[int]],
                                want: tuple[int, int, int]) -> None:
    got = replicas.get_resource_replicas(3, 100, "cpu", pods=make_pods(3, requests=requests),
                                         fetched=make_resource_metrics(per_pod), tolerances=tolerances, now=NOW,
                                         settings=TEST_SETTINGS)
    assert (got.replicas, got.utilization, got.usage) == want


def test_computed_tolerance_alg_implementation() -> None:
    """TestReplicaCalcComputedToleranceAlgImplementation: a minimal scale-down just outside the tolerance, and
    none just inside it."""
    start_pods, used = 10, 10 * 150
    requested = 2 * used
    per_pod_requested = requested // start_pods
    requests = [per_pod_requested + d for d in (100, -100, 10, -10, 2, -2, 1, -1, 0, 0)]
    per_pod = levels(*[used // 10] * 10)
    requested_to_used = float(requested // used)
    for margin, expect_change in ((0.01, True), (0.004, False)):
        target = abs(1 / (requested_to_used * (1 - 0.1))) + margin
        target_pct = int(target * 100)
        final_pods = gomath.ceil_i32(float(used) / (float(requested) * target) * start_pods)
        got = replicas.get_resource_replicas(start_pods, target_pct, "cpu", pods=make_pods(10, requests=requests),
                                             fetched=make_resource_metrics(per_pod), tolerances=DEFAULT_TOL,
                                             now=NOW, settings=TEST_SETTINGS)
        assert got.replicas == (final_pods if expect_change else start_pods)
        assert got.utilization == used * 100 // requested
        assert got.usage == 2 * used // 10


# ---- groupPods (TestGroupPods), with upstream's 2-minute initialization period and 10-second delay ----

def _pod(name: str, phase: str = "Succeeded", *, start: float | None = None, ready: str | None = None,
         transition: float = ZERO_TIME, deleting: bool = False) -> PodInfo:
    return PodInfo(name, phase=phase, ready=ready, ready_transition_s=transition, start_time_s=start,
                   deleting=deleting)


M = replicas.PodMetric
GROUP_CASES = [
    R([], {}, "cpu", (0, set(), set(), set()), id="void"),
    R([_pod("bentham")], {"bentham": M(1, NOW, 60)}, "memory", (1, set(), set(), set()),
      id="count-in-ready-pod-memory"),
    R([_pod("lucretius", start=NOW)], {"lucretius": M(1)}, "cpu", (0, {"lucretius"}, set(), set()),
      id="unready-pod-without-ready-condition-cpu"),
    R([_pod("bentham", start=NOW - 60, ready=T, transition=NOW - 30)], {"bentham": M(1, NOW, 30)}, "cpu",
      (1, set(), set(), set()), id="count-ready-pod-fresh-metrics-during-initialization"),
    R([_pod("bentham", start=NOW - 60, ready=T, transition=NOW - 30)], {"bentham": M(1, NOW, 60)}, "cpu",
      (0, {"bentham"}, set(), set()), id="unready-ready-pod-stale-metrics-during-initialization"),
    R([_pod("lucretius", start=NOW - 600, ready=F, transition=NOW - 594)], {"lucretius": M(1)}, "cpu",
      (0, {"lucretius"}, set(), set()), id="unready-unready-pod-never-ready-after-initialization"),
    R([_pod("bentham", start=NOW - 180, ready=T, transition=NOW - 180)], {"bentham": M(1, NOW - 120, 60)}, "cpu",
      (1, set(), set(), set()), id="count-ready-pod-stale-metrics-after-initialization"),
    R([_pod("lucretius", start=NOW - 600, ready=F, transition=NOW - 540)], {"lucretius": M(1)}, "cpu",
      (1, set(), set(), set()), id="count-unready-pod-that-was-ready-after-initialization"),
    R([_pod("lucretius", start=NOW - 600, ready=F, transition=NOW - 590)], {"lucretius": M(1)}, "cpu",
      (1, set(), set(), set()), id="count-unready-pod-transition-at-delay-boundary"),
    R([_pod("epicurus", start=NOW - 180)], {}, "cpu", (0, set(), {"epicurus"}, set()), id="missing-pod"),
    R([_pod("lucretius", start=NOW), _pod("niccolo", start=NOW - 180, ready=T, transition=NOW - 180),
       _pod("epicurus", start=NOW - 180)], {"lucretius": M(1), "niccolo": M(1)}, "cpu",
      (1, {"lucretius"}, {"epicurus"}, set()), id="several-pods"),
    R([_pod("unscheduled", "Pending")], {}, "cpu", (0, {"unscheduled"}, set(), set()), id="pending-pods-unready"),
    R([_pod("deleted", "Pending", deleting=True)], {"deleted": M(1)}, "cpu", (0, set(), set(), {"deleted"}),
      id="ignore-pods-with-deletion-timestamp"),
    R([_pod("failed", "Failed")], {"failed": M(1)}, "cpu", (0, set(), set(), {"failed"}), id="ignore-failed-pods"),
]


@pytest.mark.parametrize(("pods", "metrics", "resource", "want"), GROUP_CASES)
def test_group_pods(pods: list[PodInfo], metrics: dict, resource: str, want: tuple) -> None:
    g = replicas.group_pods(pods, metrics, resource, now=NOW, settings=TEST_SETTINGS)
    assert (g.ready_count, set(g.unready), set(g.missing), set(g.ignored)) == want


# ---- calculateRequests (TestCalculateRequests) ----

def _req_pod(containers: list[ContainerInfo], *, init: tuple[ContainerInfo, ...] = (),
             pod_level: dict[str, int] | None = None) -> PodInfo:
    return PodInfo("test-pod", containers=tuple(containers), init_containers=init,
                   pod_requests_milli=pod_level or {})


C1, C2 = ContainerInfo("container1", {"cpu": 100}), ContainerInfo("container2", {"cpu": 50})
REQUEST_CASES = [
    R([], "", {}, id="void"),
    R([_req_pod([C1, C2])], "", {"test-pod": 150}, id="sum-container-requests"),
    R([_req_pod([C1, C2], pod_level={"cpu": 800})], "", {"test-pod": 800}, id="pod-level-overrides-containers"),
    R([_req_pod([ContainerInfo("container1"), C2])], "",
      "missing request for cpu in container container1 of Pod test-pod", id="missing-container-request"),
    R([_req_pod([ContainerInfo("container1"), C2], pod_level={"cpu": 800})], "", {"test-pod": 800},
      id="pod-level-overrides-missing-container-request"),
    R([_req_pod([C1, C2])], "container1", {"test-pod": 100}, id="named-container-only"),
    R([_req_pod([C1, C2], pod_level={"cpu": 800})], "container1", {"test-pod": 100},
      id="named-container-ignores-pod-level"),
    R([_req_pod([C1], init=(ContainerInfo("init-container1", {"cpu": 20}),
                            ContainerInfo("restartable-container1", {"cpu": 50}, restart_policy="Always")))], "",
      {"test-pod": 150}, id="restartable-init-containers-counted"),
    R([_req_pod([C1])], "non-existent-container", "container non-existent-container not found in Pod test-pod",
      id="non-existent-container"),
]


@pytest.mark.parametrize(("pods", "container", "want"), REQUEST_CASES)
def test_calculate_requests(pods: list[PodInfo], container: str, want: dict | str) -> None:
    if isinstance(want, str):
        with pytest.raises(replicas.ReplicaCalcError) as info:
            replicas.calculate_requests(pods, container, "cpu")
        assert str(info.value) == want
    else:
        assert replicas.calculate_requests(pods, container, "cpu") == want


# ---- Pods, Object and External metrics (the CM tests of replica_calculator_test.go) ----

def pods_metric(*values: int, timestamp: float = ZERO_TIME) -> PodsMetricsFetch:
    return PodsMetricsFetch(tuple(PodMetricValue(f"test-pod-{i}", v, timestamp) for i, v in enumerate(values)))


UP01 = Tolerances(0.1, 0.01)
POD_METRIC_CASES = [
    # pod fixture, values, target, tolerances, (replicas, usage)
    R(dict(current=3), (20000, 10000, 30000), 15000, DEFAULT_TOL, (4, 20000), id="scale-up-cm"),
    R(dict(current=3, readiness=[T, T, F], start=[COOL, COOL, HOT]), (50000, 10000, 30000), 15000, DEFAULT_TOL,
      (6, 30000), id="scale-up-cm-unready-hot-cpu-no-less-scale"),
    R(dict(current=3, readiness=[F, T, F], start=[HOT, COOL, HOT]), (50000, 15000, 30000), 15000, DEFAULT_TOL,
      (7, 31666), id="scale-up-cm-unready-hot-cpu-scale-would-scale-down"),
    R(dict(current=5), (12000,) * 5, 20000, DEFAULT_TOL, (3, 12000), id="scale-down-cm"),
    R(dict(current=3), (20000, 21000, 21000), 20000, DEFAULT_TOL, (3, 20666), id="tolerance-cm"),
    R(dict(current=3), (20000, 21000, 21000), 20000, UP01, (4, 20666), id="configurable-tolerance-cm"),
    R(dict(current=5), (20000, 19000, 21000), 20000, DEFAULT_TOL, (5, 20000), id="plain-missing-metrics-no-change-eq"),
    R(dict(current=2, phase=["Running"] * 3), (10000, 10000), 17000, DEFAULT_TOL, (2, 10000),
      id="rolling-update-with-max-surge-cm"),
]


@pytest.mark.parametrize(("fixture", "values", "target", "tolerances", "want"), POD_METRIC_CASES)
def test_get_metric_replicas(fixture: dict, values: tuple[int, ...], target: int, tolerances: Tolerances,
                             want: tuple[int, int]) -> None:
    current = fixture.pop("current")
    got = replicas.get_metric_replicas(current, target, "qps", pods=make_pods(current, **fixture),
                                       fetched=pods_metric(*values), tolerances=tolerances, now=NOW,
                                       settings=TEST_SETTINGS)
    assert (got.replicas, got.usage, got.timestamp_s) == (*want, ZERO_TIME)


def test_pods_metric_errors() -> None:
    pods = make_pods(2)
    call = dict(pods=pods, tolerances=DEFAULT_TOL, now=NOW, settings=TEST_SETTINGS)
    with pytest.raises(replicas.ReplicaCalcError) as info:
        replicas.get_metric_replicas(2, 1000, "qps", fetched=PodsMetricsFetch(error="boom"), **call)
    assert str(info.value) == "unable to get metric qps: unable to fetch metrics from custom metrics API: boom"
    with pytest.raises(replicas.ReplicaCalcError) as info:
        replicas.get_metric_replicas(2, 1000, "qps", fetched=PodsMetricsFetch(), **call)
    assert str(info.value) == "unable to get metric qps: no metrics returned from custom metrics API"
    pending = make_pods(2, phase=["Pending", "Pending"])
    with pytest.raises(replicas.ReplicaCalcError) as info:
        replicas.get_metric_replicas(2, 1000, "qps", fetched=pods_metric(5, 5), **{**call, "pods": pending})
    assert str(info.value) == "did not receive metrics for targeted pods (pods might be unready)"


OBJECT_CASES = [
    # current replicas, pod readiness, value, target, tolerances, (replicas, usage)
    R(3, None, 20000, 15000, DEFAULT_TOL, (4, 20000), id="scale-up-cm-object"),
    R(3, [F, T, F], 50000, 10000, DEFAULT_TOL, (5, 50000), id="scale-up-cm-object-ignores-unready-pods"),
    R(5, None, 12000, 20000, DEFAULT_TOL, (3, 12000), id="scale-down-cm-object"),
    R(3, None, 20666, 20000, DEFAULT_TOL, (3, 20666), id="tolerance-cm-object"),
    R(3, None, 20666, 20000, UP01, (4, 20666), id="configurable-tolerance-cm-object"),
    R(3, None, gomath.MAX_INT64, 1, DEFAULT_TOL, (gomath.MAX_INT32, gomath.MAX_INT64), id="scale-up-overflow"),
    R(0, None, 15000, 10000, DEFAULT_TOL, (2, 15000), id="from-zero-ceil-ratio"),
    R(0, None, 0, 10000, DEFAULT_TOL, (0, 0), id="to-zero"),
]


@pytest.mark.parametrize(("current", "readiness", "value", "target", "tolerances", "want"), OBJECT_CASES)
def test_get_object_metric_replicas(current: int, readiness: list[str] | None, value: int, target: int,
                                    tolerances: Tolerances, want: tuple[int, int]) -> None:
    got = replicas.get_object_metric_replicas(current, target, "qps", DEPLOYMENT, namespace=NS,
                                              fetched=ObjectMetricFetch(value, NOW), pods=make_pods(current or 1,
                                                                                                  readiness=readiness),
                                              tolerances=tolerances)
    assert (got.replicas, got.usage) == want
    assert got.timestamp_s == ZERO_TIME  # upstream drops the object metric's timestamp


OBJECT_PER_POD_CASES = [
    R(3, 20000, 5000, DEFAULT_TOL, (4, 6667), id="scale-up-cm-per-pod-object"),
    R(5, 6000, 2000, DEFAULT_TOL, (3, 1200), id="scale-down-per-pod-cm-object"),
    R(4, 20166, 5000, DEFAULT_TOL, (4, 5042), id="tolerance-per-pod-cm-object"),
    R(4, 20208, 5000, UP01, (5, 5052), id="configurable-tolerance-per-pod-cm-object"),
]


@pytest.mark.parametrize(("status", "value", "target", "tolerances", "want"), OBJECT_PER_POD_CASES)
def test_get_object_per_pod_metric_replicas(status: int, value: int, target: int, tolerances: Tolerances,
                                            want: tuple[int, int]) -> None:
    got = replicas.get_object_per_pod_metric_replicas(status, target, "qps", DEPLOYMENT, namespace=NS,
                                                      fetched=ObjectMetricFetch(value, NOW), tolerances=tolerances)
    assert (got.replicas, got.usage, got.timestamp_s) == (*want, NOW)


def test_object_metric_error_text() -> None:
    with pytest.raises(replicas.ReplicaCalcError) as info:
        replicas.get_object_metric_replicas(3, 1000, "qps", DEPLOYMENT, namespace=NS,
                                            fetched=ObjectMetricFetch(error="not found"), pods=make_pods(3),
                                            tolerances=DEFAULT_TOL)
    assert str(info.value) == ("unable to get metric qps: Deployment on test-namespace some-deployment/unable to "
                               "fetch metrics from custom metrics API: not found")


EXTERNAL_CASES = [
    R(3, [F, T, F], (8600,), 4400, DEFAULT_TOL, (2, 8600), id="scale-up-cm-external-ignores-unready-pods"),
    R(5, None, (8600,), 14334, DEFAULT_TOL, (3, 8600), id="scale-down-cm-external"),
    R(3, None, (8600,), 8888, DEFAULT_TOL, (3, 8600), id="tolerance-cm-external"),
    R(3, None, (8900,), 8800, UP01, (4, 8900), id="configurable-tolerance-cm-external"),
    R(3, None, (gomath.MAX_INT64 // 2 + 1,) * 2, gomath.MAX_INT64, DEFAULT_TOL, (3, gomath.MAX_INT64),
      id="external-metric-usage-overflow"),
]


@pytest.mark.parametrize(("current", "readiness", "values", "target", "tolerances", "want"), EXTERNAL_CASES)
def test_get_external_metric_replicas(current: int, readiness: list[str] | None, values: tuple[int, ...],
                                      target: int, tolerances: Tolerances, want: tuple[int, int]) -> None:
    got = replicas.get_external_metric_replicas(current, target, "qps", LABEL_SELECTOR, namespace=NS,
                                                fetched=ExternalMetricsFetch(values, NOW),
                                                pods=make_pods(current, readiness=readiness), tolerances=tolerances)
    assert (got.replicas, got.usage, got.timestamp_s) == (*want, ZERO_TIME)


EXTERNAL_PER_POD_CASES = [
    R(3, (8600,), 2150, DEFAULT_TOL, (4, 2867), id="scale-up-per-pod-cm-external"),
    R(5, (8600,), 2867, DEFAULT_TOL, (3, 1720), id="scale-down-per-pod-cm-external"),
    R(3, (8600,), 2900, DEFAULT_TOL, (3, 2867), id="tolerance-per-pod-cm-external"),
    R(3, (8600,), 2800, UP01, (4, 2867), id="configurable-tolerance-per-pod-cm-external"),
    R(1, (gomath.MAX_INT64,), 1, DEFAULT_TOL, (gomath.MAX_INT32, gomath.MAX_INT64), id="per-pod-replica-overflow"),
    R(1, (gomath.MAX_INT64,), gomath.MAX_INT64, DEFAULT_TOL, (1, gomath.MAX_INT64), id="per-pod-usage-overflow"),
    R(0, (9500,), 1000, DEFAULT_TOL, (10, gomath.MIN_INT64), id="from-zero-status-replicas"),
]


@pytest.mark.parametrize(("status", "values", "target", "tolerances", "want"), EXTERNAL_PER_POD_CASES)
def test_get_external_per_pod_metric_replicas(status: int, values: tuple[int, ...], target: int,
                                              tolerances: Tolerances, want: tuple[int, int]) -> None:
    got = replicas.get_external_per_pod_metric_replicas(status, target, "qps", LABEL_SELECTOR, namespace=NS,
                                                        fetched=ExternalMetricsFetch(values, NOW),
                                                        tolerances=tolerances)
    assert (got.replicas, got.usage, got.timestamp_s) == (*want, NOW)


def test_external_metric_error_text() -> None:
    sel = LabelSelector(match_labels={"b": "2", "a": "1"},
                        match_expressions=(LabelSelectorRequirement("zone", "In", ("x", "y")),))
    with pytest.raises(replicas.ReplicaCalcError) as info:
        replicas.get_external_per_pod_metric_replicas(3, 1000, "queue", sel, namespace=NS,
                                                      fetched=ExternalMetricsFetch(), tolerances=DEFAULT_TOL)
    assert str(info.value) == (
        "unable to get external metric test-namespace/queue/&LabelSelector{MatchLabels:map[string]string{a: 1,b: 2,},"
        "MatchExpressions:[]LabelSelectorRequirement{LabelSelectorRequirement{Key:zone,Operator:In,Values:[x y],},},}"
        ": no metrics returned from external metrics API")


@pytest.mark.parametrize(("x", "want"), [
    R(2**63, gomath.MIN_INT64, id="i64-wraps"), R(-(2**31) - 1, 2**31 - 1, id="i32-wraps"),
])
def test_go_integer_wrap(x: int, want: int) -> None:
    assert (gomath.i64(x) if abs(x) > 2**32 else gomath.i32(x)) == want


@pytest.mark.parametrize(("a", "b", "want"), [R(-7, 2, -3, id="neg-num"), R(7, -2, -3, id="neg-den"),
                                              R(-7, -2, 3, id="both-neg"), R(7, 2, 3, id="pos")])
def test_go_division_truncates(a: int, b: int, want: int) -> None:
    assert gomath.quo(a, b) == want


# ---- computeReplicasForMetric(s) (horizontal_test.go's multi-metric and invalid-metric cases) ----

def cpu_spec(target: int) -> MetricSpec:
    return MetricSpec(RESOURCE, resource=ResourceMetricSource("cpu", MetricTarget(UTILIZATION,
                                                                                   average_utilization=target)))


def qps_pods_spec(average_milli: int) -> MetricSpec:
    return MetricSpec(PODS, pods=PodsMetricSource(MetricIdentifier("qps"),
                                                  MetricTarget(AVERAGE_VALUE, average_value_milli=average_milli)))


EMPTY_SELECTOR = LabelSelector()
QPS_EXTERNAL_AVG = MetricSpec(EXTERNAL, external=ExternalMetricSource(
    MetricIdentifier("qps", EMPTY_SELECTOR), MetricTarget(AVERAGE_VALUE, average_value_milli=1000)))
CHEDDAR = MetricSpec("CheddarCheese")


def compute(specs: list[MetricSpec], fetched: list, *, spec_replicas: int, pods: list[PodInfo],
            selector: str = "name=test-pod") -> metricreplicas.MetricsResult:
    return metricreplicas.compute_replicas_for_metrics(
        specs, fetched, selector=selector, spec_replicas=spec_replicas, status_replicas=spec_replicas, pods=pods,
        namespace=NS, tolerances=DEFAULT_TOL, now=NOW, settings=TEST_SETTINGS)


UP_PODS, UP_CPU = make_pods(3, requests=cpu(3, 500), start=[COOL] * 3), make_resource_metrics(levels(150, 200, 250))
DOWN_PODS = make_pods(5, requests=cpu(5, 500), start=[COOL] * 5)
DOWN_CPU = make_resource_metrics(levels(50, 150, 250, 125, 125))
CPU_NAME = "cpu resource utilization (percentage of request)"


def test_scale_up_one_metric_invalid() -> None:
    """TestScaleUpOneMetricInvalid: an unknown metric type does not stop a scale-up."""
    r = compute([cpu_spec(30), CHEDDAR], [UP_CPU, ObjectMetricFetch()], spec_replicas=3, pods=UP_PODS)
    assert (r.replicas, r.metric_name) == (4, CPU_NAME)
    assert r.condition == Condition("ScalingActive", "True", "ValidMetricFound",
                                    f"the HPA was able to successfully calculate a replica count from {CPU_NAME}")
    assert r.error == ('invalid metrics (1 invalid out of 2), first error is: unknown metric source type '
                       '"CheddarCheese"')
    assert r.events == (Event("Warning", "InvalidMetricSourceType", 'unknown metric source type "CheddarCheese"'),)
    assert r.statuses is not None and r.statuses[1] is None
    assert metricreplicas.status_to_dict(r.statuses[0]) == {
        "type": "Resource", "resource": {"name": "cpu", "current": {"averageValue": "400m", "averageUtilization": 40}}}


def test_scale_down_one_metric_invalid_blocks() -> None:
    """An invalid metric blocks a scale-down the valid ones propose (computeReplicasForMetrics)."""
    r = compute([cpu_spec(50), CHEDDAR], [DOWN_CPU, ObjectMetricFetch()], spec_replicas=5, pods=DOWN_PODS)
    assert r.replicas == -1
    assert (r.condition.status, r.condition.reason) == ("False", "InvalidMetricSourceType")
    assert r.per_metric[0].replicas == 3


def test_scale_down_one_metric_empty_blocks() -> None:
    """TestScaleDownOneMetricEmpty's inputs: the external metrics API fails while CPU says scale down."""
    failed = ExternalMetricsFetch(error="something went wrong")
    r = compute([cpu_spec(50), QPS_EXTERNAL_AVG], [DOWN_CPU, failed], spec_replicas=5, pods=DOWN_PODS)
    inner = ("unable to get external metric test-namespace/qps/&LabelSelector{MatchLabels:map[string]string{},"
             "MatchExpressions:[]LabelSelectorRequirement{},}: unable to fetch metrics from external metrics API: "
             "something went wrong")
    assert r.replicas == -1
    assert r.condition == Condition("ScalingActive", "False", "FailedGetExternalMetric",
                                    f"the HPA was unable to compute the replica count: {inner}")
    assert r.events == (Event("Warning", "FailedGetExternalMetric", inner),)
    assert r.error == ("invalid metrics (1 invalid out of 2), first error is: failed to get qps external metric "
                       f"value: failed to get qps external metric: {inner}")


def test_all_metrics_invalid() -> None:
    r = compute([CHEDDAR, CHEDDAR], [ObjectMetricFetch(), ObjectMetricFetch()], spec_replicas=3, pods=UP_PODS)
    assert r.replicas == -1 and len(r.events) == 2
    assert r.error is not None and r.error.startswith("invalid metrics (2 invalid out of 2)")


def test_resource_metrics_outage() -> None:
    outage = ResourceMetricsFetch(error="the server is currently unable to handle the request")
    r = compute([cpu_spec(50)], [outage], spec_replicas=3, pods=UP_PODS)
    inner = ("failed to get cpu utilization: unable to get metrics for resource cpu: unable to fetch metrics from "
             "resource metrics API: the server is currently unable to handle the request")
    assert (r.replicas, r.condition.reason, r.condition.message) == (
        -1, "FailedGetResourceMetric", f"the HPA was unable to compute the replica count: {inner}")
    assert r.error == ("invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource metric "
                       f"value: {inner}")
    assert r.statuses == (None,)


def test_maximum_over_metrics() -> None:
    r = compute([cpu_spec(30), qps_pods_spec(10000)], [UP_CPU, pods_metric(20000, 20000, 20000, timestamp=NOW)],
                spec_replicas=3, pods=UP_PODS)
    assert (r.replicas, r.metric_name, r.timestamp_s, r.error) == (6, "pods metric qps", NOW, None)
    assert metricreplicas.status_to_dict(r.statuses[1]) == {
        "type": "Pods", "pods": {"metric": {"name": "qps"}, "current": {"averageValue": "20"}}}


def test_object_and_external_statuses() -> None:
    obj = MetricSpec(OBJECT, object=ObjectMetricSource(DEPLOYMENT, MetricIdentifier("qps"),
                                                       MetricTarget(VALUE, value_milli=15000)))
    per_pod = MetricSpec(OBJECT, object=ObjectMetricSource(DEPLOYMENT, MetricIdentifier("qps"),
                                                           MetricTarget(AVERAGE_VALUE, average_value_milli=5000)))
    ext = MetricSpec(EXTERNAL, external=ExternalMetricSource(MetricIdentifier("qps", LABEL_SELECTOR),
                                                             MetricTarget(VALUE, value_milli=4400)))
    results = [metricreplicas.compute_replicas_for_metric(
        spec, data, spec_replicas=3, status_replicas=3, pods=make_pods(3), namespace=NS, tolerances=DEFAULT_TOL,
        now=NOW, settings=TEST_SETTINGS) for spec, data in (
        (obj, ObjectMetricFetch(20000, NOW)), (per_pod, ObjectMetricFetch(20000, NOW)),
        (ext, ExternalMetricsFetch((8600,), NOW)))]
    assert [r.replicas for r in results] == [4, 4, 6]
    assert [r.metric_name for r in results] == [
        "Deployment metric qps", "external metric qps(nil)",
        "external metric qps(&LabelSelector{MatchLabels:map[string]string{label: value,},"
        "MatchExpressions:[]LabelSelectorRequirement{},})"]
    assert [metricreplicas.status_to_dict(r.status) for r in results] == [
        {"type": "Object", "object": {"metric": {"name": "qps"}, "current": {"value": "20"},
                                      "describedObject": {"kind": "Deployment", "name": "some-deployment",
                                                          "apiVersion": "apps/v1"}}},
        {"type": "Object", "object": {"metric": {"name": "qps"}, "current": {"averageValue": "6667m"}}},
        {"type": "External", "external": {"metric": {"name": "qps", "selector": {"matchLabels": {"label": "value"}}},
                                          "current": {"value": "8600m"}}},
    ]


@pytest.mark.parametrize(("selector", "selector_error", "ambiguous", "reason", "event_reason", "error"), [
    R("", None, (), "InvalidSelector", "SelectorRequired", "selector is required", id="missing-selector"),
    R("a in (", "unable to parse requirement", (), "InvalidSelector", "InvalidSelector",
      "couldn't convert selector into a corresponding internal selector object: unable to parse requirement",
      id="unparsable-selector"),
    R("name=test-pod", None, ("test-namespace/a", "test-namespace/b"), "AmbiguousSelector", "AmbiguousSelector",
      "pods by selector name=test-pod are controlled by multiple HPAs: [test-namespace/a test-namespace/b]",
      id="ambiguous-selector"),
])
def test_selector_checks(selector: str, selector_error: str | None, ambiguous: tuple[str, ...], reason: str,
                         event_reason: str, error: str) -> None:
    r = metricreplicas.compute_replicas_for_metrics(
        [cpu_spec(50)], [UP_CPU], selector=selector, spec_replicas=3, status_replicas=3, pods=UP_PODS, namespace=NS,
        tolerances=DEFAULT_TOL, now=NOW, settings=TEST_SETTINGS, selector_error=selector_error,
        ambiguous_hpas=ambiguous)
    assert (r.replicas, r.condition.reason, r.events[0].reason, r.error, r.statuses) == (
        -1, reason, event_reason, error, None)


# ---- invariants ----

@st.composite
def ready_workloads(draw: st.DrawFn) -> tuple[list[PodInfo], ResourceMetricsFetch, int, Tolerances]:
    """Ready pods, each with a CPU metric (started long ago, ready since then)."""
    n = draw(st.integers(1, 12))
    requests = draw(st.lists(st.integers(1, 4000), min_size=n, max_size=n))
    usage = draw(st.lists(st.integers(0, 20000), min_size=n, max_size=n))
    target = draw(st.integers(1, 300))
    tol = draw(st.sampled_from([DEFAULT_TOL, Tolerances(0.0, 0.0), Tolerances(0.3, 0.05), Tolerances(0.02, 0.5)]))
    pods = [PodInfo(f"p{i}", start_time_s=NOW - 3600, ready_transition_s=NOW - 3500,
                    containers=(ContainerInfo("c", {"cpu": requests[i]}),)) for i in range(n)]
    fetched = ResourceMetricsFetch(tuple(PodMetricSample(f"p{i}", NOW - 10, 30.0, (ContainerUsage("c", {"cpu": u}),))
                                         for i, u in enumerate(usage)))
    return pods, fetched, target, tol


def _resource(pods: list[PodInfo], fetched: ResourceMetricsFetch, target: int, tol: Tolerances,
              current: int | None = None) -> replicas.Proposal:
    return replicas.get_resource_replicas(len(pods) if current is None else current, target, "cpu", pods=pods,
                                          fetched=fetched, tolerances=tol, now=NOW, settings=CalcSettings())


@settings(max_examples=300, deadline=None)
@given(ready_workloads(), st.integers(0, 50))
def test_no_change_inside_tolerance_band(workload: tuple, current: int) -> None:
    pods, fetched, target, tol = workload
    got = _resource(pods, fetched, target, tol, current)
    assert got.utilization is not None
    if tol.within(got.utilization / target):
        assert got.replicas == current
    else:
        assert got.replicas == gomath.ceil_i32(got.utilization / target * len(pods))


@settings(max_examples=300, deadline=None)
@given(ready_workloads(), st.integers(1, 5000))
def test_monotone_in_usage(workload: tuple, extra: int) -> None:
    """More usage on one pod never proposes fewer replicas (current = pod count)."""
    pods, fetched, target, tol = workload
    first = fetched.items[0]
    busier = ResourceMetricsFetch((PodMetricSample(first.pod, first.timestamp_s, first.window_s, (
        ContainerUsage("c", {"cpu": first.containers[0].usage_milli["cpu"] + extra}),)), *fetched.items[1:]))
    assert _resource(pods, busier, target, tol).replicas >= _resource(pods, fetched, target, tol).replicas


@settings(max_examples=300, deadline=None)
@given(ready_workloads())
def test_never_scales_against_usage_ratio(workload: tuple) -> None:
    pods, fetched, target, tol = workload
    got = _resource(pods, fetched, target, tol)
    assert got.utilization is not None
    ratio = got.utilization / target
    if ratio > 1:
        assert got.replicas >= len(pods)
    elif ratio < 1:
        assert got.replicas <= len(pods)
    else:
        assert got.replicas == len(pods)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=10), st.integers(1, 10**6),
       st.lists(st.sampled_from(["ready", "unready", "pending", "missing"]), min_size=1, max_size=10))
def test_pods_metric_never_flips_direction(values: list[int], target: int, kinds: list[str]) -> None:
    """With unready, pending and missing pods mixed in, the proposal follows the ready pods' usage ratio."""
    n = min(len(values), len(kinds))
    pods = [PodInfo(f"test-pod-{i}", phase="Pending" if kinds[i] == "pending" else "Running",
                    ready="False" if kinds[i] == "unready" else "True") for i in range(n)]
    present = tuple(PodMetricValue(f"test-pod-{i}", values[i], NOW) for i in range(n) if kinds[i] != "missing")
    if not any(kinds[i] in ("ready", "unready") for i in range(n)):
        return  # no metric for any pod: an error, covered elsewhere
    got = replicas.get_metric_replicas(n, target, "qps", pods=pods, fetched=PodsMetricsFetch(present),
                                       tolerances=DEFAULT_TOL, now=NOW, settings=CalcSettings())
    ratio = got.usage / target
    if ratio > 1:
        assert got.replicas >= n
    elif ratio < 1:
        assert got.replicas <= n
