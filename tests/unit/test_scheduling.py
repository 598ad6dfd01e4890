"""The scheduler's pure core on plain data: what fits where, the reasons and FitError messages kube-scheduler
v1.35 gives, preemption's verdict, scoring preferences, and reading Pods and Nodes from API objects."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubesim.sim.nodetable import NodeTable
from kubesim.sim.schedinputs import (
    HostPort,
    NodeInfo,
    PodInfo,
    PreferredTerm,
    Requirement,
    SelectorTerm,
    Taint,
    Toleration,
    node_info,
    pod_info,
    pod_requests,
)
from kubesim.sim.scheduling import Placement, Preemption, fit_error_message, schedule

GI = 2**30
NO_VICTIMS = "preemption: 0/{n} nodes are available: {n} No preemption victims found for incoming pod."
NOT_HELPFUL = "preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling."
NO_VICTIMS1 = NO_VICTIMS.format(n=1)
CP_TAINT = Taint("node-role.kubernetes.io/control-plane", "", "NoSchedule")


def node(name: str = "n1", cpu: int = 1000, mem: int = 4 * GI, pods: int = 110, **kw: Any) -> NodeInfo:
    return NodeInfo(name, cpu_millicores=cpu, memory_bytes=mem, ephemeral_bytes=kw.pop("eph", 10 * GI), pods=pods, **kw)


def pod(name: str = "p", cpu: int = 0, mem: int = 0, **kw: Any) -> PodInfo:
    return PodInfo("default", name, cpu_millicores=cpu, memory_bytes=mem, **kw)


def place(nodes: list[NodeInfo], *pods: PodInfo, bound: tuple[PodInfo, ...] = ()) -> list[Placement]:
    return schedule(list(pods), NodeTable(nodes, bound))


def one(nodes: list[NodeInfo], p: PodInfo, bound: tuple[PodInfo, ...] = ()) -> Placement:
    return place(nodes, p, bound=bound)[0]


def labels(**kv: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(kv.items()))


def term(*exprs: Requirement, fields: tuple[Requirement, ...] = ()) -> SelectorTerm:
    return SelectorTerm(tuple(exprs), fields)


# -- filters: which node, or which message -------------------------------------------------------------------
FILTER_CASES = [
    pytest.param([node()], pod(cpu=500), "n1", id="fits"),
    pytest.param([node(cpu=400)], pod(cpu=500), f"0/1 nodes are available: 1 Insufficient cpu. {NO_VICTIMS1}",
                 id="insufficient-cpu"),
    pytest.param([node(mem=GI)], pod(mem=2 * GI), f"0/1 nodes are available: 1 Insufficient memory. {NO_VICTIMS1}",
                 id="insufficient-memory"),
    pytest.param([node(cpu=100, mem=GI)], pod(cpu=500, mem=2 * GI),
                 f"0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. {NO_VICTIMS1}",
                 id="every-insufficient-resource-counts"),
    pytest.param([node(eph=GI)], pod(ephemeral_bytes=2 * GI),
                 f"0/1 nodes are available: 1 Insufficient ephemeral-storage. {NO_VICTIMS1}", id="ephemeral-storage"),
    pytest.param([node()], pod(scalars=(("nvidia.com/gpu", 1),)),
                 f"0/1 nodes are available: 1 Insufficient nvidia.com/gpu. {NO_VICTIMS1}",
                 id="extended-resource-the-node-lacks"),
    pytest.param([node(scalars=(("nvidia.com/gpu", 2),))], pod(scalars=(("nvidia.com/gpu", 2),)), "n1",
                 id="extended-resource"),
    pytest.param([node(pods=0)], pod(), f"0/1 nodes are available: 1 Too many pods. {NO_VICTIMS1}",
                 id="too-many-pods"),
    pytest.param([node(cpu=0, mem=0)], pod(), "n1", id="best-effort-needs-only-a-pod-slot"),
    pytest.param([node(taints=(CP_TAINT,))], pod(),
                 f"0/1 nodes are available: 1 node(s) had untolerated taint {{node-role.kubernetes.io/control-plane: "
                 f"}}. {NOT_HELPFUL.format(n=1)}", id="untolerated-taint"),
    pytest.param([node(taints=(Taint("dedicated", "gpu", "NoExecute"),))], pod(),
                 f"0/1 nodes are available: 1 node(s) had untolerated taint {{dedicated: gpu}}. "
                 f"{NOT_HELPFUL.format(n=1)}", id="noexecute-taint-filters"),
    pytest.param([node(taints=(Taint("a", "1", "PreferNoSchedule"), Taint("b", "2", "NoSchedule"),
                               Taint("c", "3", "NoSchedule")))], pod(tolerations=(Toleration("b", "Equal", "2"),)),
                 f"0/1 nodes are available: 1 node(s) had untolerated taint {{c: 3}}. {NOT_HELPFUL.format(n=1)}",
                 id="first-untolerated-taint-is-named"),
    pytest.param([node(taints=(Taint("x", "", "PreferNoSchedule"),))], pod(), "n1",
                 id="prefer-no-schedule-does-not-filter"),
    pytest.param([node(taints=(CP_TAINT,))], pod(tolerations=(Toleration(operator="Exists"),)), "n1",
                 id="exists-without-key-tolerates-everything"),
    pytest.param([node(taints=(CP_TAINT,))],
                 pod(tolerations=(Toleration(CP_TAINT.key, "Exists", effect="NoExecute"),)),
                 f"0/1 nodes are available: 1 node(s) had untolerated taint {{node-role.kubernetes.io/control-plane: "
                 f"}}. {NOT_HELPFUL.format(n=1)}", id="toleration-for-another-effect"),
    pytest.param([node(unschedulable=True)], pod(),
                 f"0/1 nodes are available: 1 node(s) were unschedulable. {NOT_HELPFUL.format(n=1)}",
                 id="cordoned"),
    pytest.param([node(unschedulable=True)],
                 pod(tolerations=(Toleration("node.kubernetes.io/unschedulable", "Exists", effect="NoSchedule"),)),
                 "n1", id="tolerating-the-unschedulable-taint"),
    pytest.param([node(unschedulable=True, taints=(CP_TAINT,), cpu=0)], pod(cpu=100),
                 f"0/1 nodes are available: 1 node(s) were unschedulable. {NOT_HELPFUL.format(n=1)}",
                 id="only-the-first-failing-plugin-counts"),
    pytest.param([node(labels=labels(disk="hdd"))], pod(node_selector=labels(disk="ssd")),
                 f"0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. "
                 f"{NOT_HELPFUL.format(n=1)}", id="node-selector"),
    pytest.param([node(labels=labels(disk="ssd", zone="a"))], pod(node_selector=labels(disk="ssd")), "n1",
                 id="node-selector-matches"),
    pytest.param([node()], pod(node_name="n2"),
                 f"0/1 nodes are available: 1 node(s) didn't match the requested node name. "
                 f"{NOT_HELPFUL.format(n=1)}", id="node-name"),
    pytest.param([node(), node("n2", cpu=100)], pod(cpu=500, host_ports=(HostPort(port=80),)), "n1",
                 id="host-port-free"),
]


@pytest.mark.parametrize(("nodes", "p", "expected"), FILTER_CASES)
def test_filters(nodes: list[NodeInfo], p: PodInfo, expected: str) -> None:
    result = one(nodes, p)
    assert (result.node or result.message) == expected


AFFINITY_NODES = [node("a", labels=labels(zone="z1", gen="3")), node("b", labels=labels(zone="z2", gen="5")),
                  node("c", labels=labels(gen="x"))]


@pytest.mark.parametrize(
    ("required", "matching"),
    [
        pytest.param((term(Requirement("zone", "In", ("z1", "z9"))),), {"a"}, id="in"),
        pytest.param((term(Requirement("zone", "NotIn", ("z1",))),), {"b", "c"}, id="notin-matches-missing-label"),
        pytest.param((term(Requirement("zone", "Exists")),), {"a", "b"}, id="exists"),
        pytest.param((term(Requirement("zone", "DoesNotExist")),), {"c"}, id="does-not-exist"),
        pytest.param((term(Requirement("gen", "Gt", ("4",))),), {"b"}, id="gt-skips-non-integers"),
        pytest.param((term(Requirement("gen", "Lt", ("4",))),), {"a"}, id="lt"),
        pytest.param((term(Requirement("gen", "Gt", ("four",))),), set(), id="gt-with-a-bad-bound-matches-nothing"),
        pytest.param((term(Requirement("zone", "In", ())),), set(), id="in-without-values-matches-nothing"),
        pytest.param((term(Requirement("zone", "In", ("z1",))), term(Requirement("zone", "In", ("z2",)))),
                     {"a", "b"}, id="terms-are-ored"),
        pytest.param((term(Requirement("zone", "Exists"), Requirement("gen", "In", ("5",))),), {"b"},
                     id="expressions-are-anded"),
        pytest.param((SelectorTerm(),), set(), id="empty-term-matches-nothing"),
        pytest.param((), set(), id="no-terms-match-nothing"),
        pytest.param((term(fields=(Requirement("metadata.name", "NotIn", ("a",)),)),), {"b", "c"},
                     id="match-fields-notin"),
        pytest.param((term(Requirement("zone", "Exists"), fields=(Requirement("metadata.name", "In", ("a", "b")),)),),
                     set(), id="match-fields-in-needs-exactly-one-value"),
    ],
)
def test_required_node_affinity(required: tuple[SelectorTerm, ...], matching: set[str]) -> None:
    table = NodeTable(AFFINITY_NODES)
    placed = set()
    for n in AFFINITY_NODES:  # pin each node in turn with nodeName to see which ones the affinity admits
        result = schedule([pod(f"p-{n.name}", required=required, node_name=n.name)], table)[0]
        if result.node:
            placed.add(result.node)
    assert placed == matching


def test_match_fields_narrow_the_nodes_looked_at() -> None:
    p = pod(cpu=5000, required=(term(fields=(Requirement("metadata.name", "In", ("a",)),)),))
    assert one(AFFINITY_NODES, p).message == (
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't satisfy plugin(s) [NodeAffinity]. "
        "preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, "
        "2 Preemption is not helpful for scheduling.")


def test_conflicting_match_fields_fail_in_prefilter() -> None:
    p = pod(required=(term(fields=(Requirement("metadata.name", "In", ("a",)),
                                   Requirement("metadata.name", "In", ("b",)))),))
    assert one(AFFINITY_NODES, p).message == (
        f"0/3 nodes are available: pod affinity terms conflict. {NOT_HELPFUL.format(n=3)}")


@pytest.mark.parametrize(
    ("used", "wanted", "conflict"),
    [
        pytest.param(HostPort(port=80), HostPort(port=80), True, id="same-port"),
        pytest.param(HostPort(port=80), HostPort(protocol="UDP", port=80), False, id="other-protocol"),
        pytest.param(HostPort("10.0.0.1", port=80), HostPort("10.0.0.2", port=80), False, id="other-ip"),
        pytest.param(HostPort("10.0.0.1", port=80), HostPort(port=80), True, id="wildcard-wanted"),
        pytest.param(HostPort(port=80), HostPort("10.0.0.2", port=80), True, id="wildcard-taken"),
        pytest.param(HostPort(port=80), HostPort(port=81), False, id="other-port"),
    ],
)
def test_host_ports(used: HostPort, wanted: HostPort, conflict: bool) -> None:
    holder = pod("holder", host_ports=(used,), node_name="n1")
    result = one([node()], pod(host_ports=(wanted,)), bound=(holder,))
    expected = (f"0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports. "
                f"{NO_VICTIMS.format(n=1)}") if conflict else "n1"
    assert (result.node or result.message) == expected


def test_no_nodes() -> None:
    result = one([], pod())
    assert (result.node, result.message, result.nominate) == (None, "no nodes available to schedule pods", "")


def test_reasons_sort_as_strings_like_go() -> None:
    nodes = [node(f"small-{i}", cpu=100) for i in range(10)] + [node("cp-1", taints=(CP_TAINT,)),
                                                                node("cp-2", taints=(CP_TAINT,))]
    result = one(nodes, pod(cpu=500))
    assert result.message == (
        "0/12 nodes are available: 10 Insufficient cpu, 2 node(s) had untolerated taint "
        "{node-role.kubernetes.io/control-plane: }. preemption: 0/12 nodes are available: "
        "10 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.")
    assert dict(result.reasons) == {"Insufficient cpu": 10,
                                    "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }": 2}


def test_fit_error_message_parts() -> None:
    assert fit_error_message(3, {"b": 1, "a": 2}) == "0/3 nodes are available: 1 b, 2 a."
    assert fit_error_message(2, {}, prefilter="x", postfilter="preemption: y.") == (
        "0/2 nodes are available: x. preemption: y.")


# -- placement and accounting --------------------------------------------------------------------------------
def test_placed_pods_take_room_from_later_ones() -> None:
    results = place([node("a", cpu=1000), node("b", cpu=1000)], *(pod(f"p{i}", cpu=400) for i in range(5)))
    assert [r.node for r in results[:4]].count("a") == 2
    assert [r.node for r in results[:4]].count("b") == 2
    assert results[4].node is None


def test_bound_pods_count_and_zero_requests_ignore_overcommitment() -> None:
    full = pod("hog", cpu=2000, node_name="n1")  # already more than allocatable
    assert one([node()], pod(cpu=1), bound=(full,)).node is None
    assert one([node()], pod(), bound=(full,)).node == "n1"


def test_bound_pods_on_unknown_nodes_are_ignored() -> None:
    assert one([node()], pod(cpu=1000), bound=(pod("x", cpu=1000, node_name="gone"),)).node == "n1"


# -- scoring ------------------------------------------------------------------------------------------------
def test_prefer_no_schedule_is_avoided_when_possible() -> None:
    soft = node("a", taints=(Taint("spot", "", "PreferNoSchedule"),))
    assert one([soft, node("b", cpu=500)], pod(cpu=100)).node == "b"
    assert one([soft, node("b", cpu=50)], pod(cpu=100)).node == "a"
    tolerant = pod(cpu=100, tolerations=(Toleration("spot", "Exists"),))
    assert one([soft, node("b", cpu=500)], tolerant).node == "a"  # least allocated decides


def test_least_allocated_spreads() -> None:
    results = place([node("a"), node("b"), node("c")], *(pod(f"p{i}", cpu=100, mem=GI // 8) for i in range(6)))
    assert sorted(r.node or "" for r in results) == ["a", "a", "b", "b", "c", "c"]


def test_preferred_affinity() -> None:
    prefer = (PreferredTerm(50, term(Requirement("zone", "In", ("z2",)))),)
    assert one(AFFINITY_NODES, pod(preferred=prefer)).node == "b"


def test_nominated_node_is_tried_first() -> None:
    assert one([node("a"), node("b", cpu=500)], pod(cpu=100, nominated_node="b")).node == "b"


# -- preemption ---------------------------------------------------------------------------------------------
def low(name: str, cpu: int, node_name: str = "n1", priority: int = 0, **kw: Any) -> PodInfo:
    return pod(name, cpu=cpu, node_name=node_name, priority=priority, **kw)


def test_preemption_picks_the_fewest_lowest_victims() -> None:
    bound = (low("a", 300, "n1"), low("b", 300, "n1"), low("c", 300, "n1", priority=5), low("d", 600, "n2"),
             low("e", 300, "n2", priority=50))
    result = one([node("n1"), node("n2")], pod(cpu=500, priority=100), bound=bound)
    assert result.message == "0/2 nodes are available: 2 Insufficient cpu."
    # n1: evicting a and b (0, 0) or the pod at 5 ...; n2: only d (priority 0) is needed
    assert result.preemption == Preemption("n2", (("default", "d"),))
    assert result.nominate == "n2"


def test_preemption_that_would_not_help_names_the_reason() -> None:
    result = one([node(cpu=1000)], pod(cpu=2000, priority=10), bound=(low("a", 500),))
    assert result.preemption is None
    assert result.message == ("0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: "
                              "1 Insufficient cpu.")


def test_preemption_policy_never() -> None:
    result = one([node(cpu=1000)], pod(cpu=800, priority=10, preempt_never=True), bound=(low("a", 500),))
    assert result.message == ("0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to "
                              "preemptionPolicy=Never.")
    assert (result.preemption, result.nominate) == (None, None)


def test_no_second_preemption_while_victims_terminate() -> None:
    result = one([node(cpu=1000)], pod(cpu=800, priority=10, nominated_node="n1"),
                 bound=(low("a", 500, preempted=True), low("b", 400)))
    assert result.message.endswith("preemption: not eligible due to a terminating pod on the nominated node.")
    assert result.preemption is None


# -- reading objects ----------------------------------------------------------------------------------------
def container(cpu: str | None = None, mem: str | None = None, **kw: Any) -> dict[str, Any]:
    reqs = {k: v for k, v in (("cpu", cpu), ("memory", mem)) if v is not None}
    return {"name": "c", "resources": {"requests": reqs}, **kw}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({"containers": [container("1", "1Gi"), container("500m", "1Gi")]},
                     {"cpu": Fraction(3, 2), "memory": 2 * GI}, id="containers-sum"),
        pytest.param({"initContainers": [container("2", "1Gi"), container("2", "3Gi")],
                      "containers": [container("2", "1Gi"), container("1", "1Gi")]},
                     {"cpu": 3, "memory": 3 * GI}, id="largest-init-container"),
        pytest.param({"initContainers": [container("1", restartPolicy="Always"), container("2")],
                      "containers": [container("1")]},
                     {"cpu": 3}, id="sidecar-runs-alongside-later-init-containers"),
        pytest.param({"initContainers": [container("1", restartPolicy="Always")], "containers": [container("1")]},
                     {"cpu": 2}, id="sidecar-adds-to-containers"),
        pytest.param({"containers": [container("1")], "overhead": {"cpu": "250m"}}, {"cpu": Fraction(5, 4)},
                     id="overhead"),
        pytest.param({"containers": [container("1", "1Gi")], "resources": {"requests": {"cpu": "3"}}},
                     {"cpu": 3, "memory": GI}, id="pod-level-requests"),
    ],
)
def test_pod_requests(spec: dict[str, Any], expected: dict[str, Any]) -> None:
    assert pod_requests(spec) == expected


def test_pod_info_reads_the_spec() -> None:
    obj = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1", "deletionTimestamp": "2024-01-01T00:00:00Z"},
           "spec": {"containers": [container("0.5m", "100Mi", ports=[{"containerPort": 80, "hostPort": 8080}]),
                                   container("0.5m")],
                    "initContainers": [container(ports=[{"hostPort": 53, "protocol": "UDP", "hostIP": "10.0.0.1"}],
                                                 restartPolicy="Always")],
                    "nodeSelector": {"disk": "ssd"}, "priority": 7, "preemptionPolicy": "Never",
                    "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
                    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [{"key": "z", "operator": "In", "values": ["a"]}]}]},
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {"weight": 5, "preference": {"matchFields": [
                                {"key": "metadata.name", "operator": "In", "values": ["n"]}]}}]}},
                    "overhead": {"example.com/dongle": "1"}},
           "status": {"nominatedNodeName": "n9", "conditions": [
               {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"}]}}
    info = pod_info(obj)
    assert (info.cpu_millicores, info.memory_bytes, info.scalars) == (1, 100 * 2**20, (("example.com/dongle", 1),))
    # scoring's view: containers without a request count 100m / 200Mi (the second container and the sidecar)
    assert (info.nonzero_cpu_millicores, info.nonzero_memory_bytes) == (101, 500 * 2**20)
    assert info.host_ports == (HostPort("10.0.0.1", "UDP", 53), HostPort("0.0.0.0", "TCP", 8080))
    assert info.node_selector == (("disk", "ssd"),)
    assert info.required == (term(Requirement("z", "In", ("a",))),)
    assert info.preferred == (PreferredTerm(5, term(fields=(Requirement("metadata.name", "In", ("n",)),))),)
    assert info.tolerations == (Toleration("k", "Exists", "", "NoSchedule"),)
    assert (info.priority, info.preempt_never, info.nominated_node, info.preempted) == (7, True, "n9", True)


def node_obj(conditions: list[dict[str, str]], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "n", "labels": {"a": "b"}}, "spec": spec,
            "status": {"allocatable": {"cpu": "3500m", "memory": "1Gi", "pods": "110", "nvidia.com/gpu": "2",
                                       "hugepages-2Mi": "0", "example": "3"},
                       "conditions": conditions}}


@pytest.mark.parametrize(
    ("conditions", "spec", "taints"),
    [
        pytest.param([{"type": "Ready", "status": "True"}], {}, (), id="ready"),
        pytest.param([{"type": "Ready", "status": "False"}], {}, ("node.kubernetes.io/not-ready",), id="not-ready"),
        pytest.param([{"type": "Ready", "status": "Unknown"}], {}, ("node.kubernetes.io/unreachable",),
                     id="unreachable"),
        pytest.param([{"type": "Ready", "status": "True"}, {"type": "DiskPressure", "status": "True"}], {},
                     ("node.kubernetes.io/disk-pressure",), id="pressure"),
        pytest.param([], {"unschedulable": True}, ("node.kubernetes.io/unschedulable",), id="cordoned"),
        pytest.param([{"type": "Ready", "status": "False"}],
                     {"taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]},
                     ("node.kubernetes.io/not-ready",), id="not-added-twice"),
    ],
)
def test_node_info_condition_taints(conditions: list[dict[str, str]], spec: dict[str, Any],
                                    taints: tuple[str, ...]) -> None:
    info = node_info(node_obj(conditions, **spec), condition_taints=True)
    assert tuple(t.key for t in info.taints) == taints
    assert all(t.effect == "NoSchedule" for t in info.taints)
    assert node_info(node_obj(conditions), condition_taints=False).taints == ()


def test_node_info_reads_allocatable() -> None:
    info = node_info(node_obj([]))
    assert (info.cpu_millicores, info.memory_bytes, info.pods, info.labels) == (3500, GI, 110, (("a", "b"),))
    assert info.scalars == (("hugepages-2Mi", 0), ("nvidia.com/gpu", 2))  # "example" is no resource we count


def test_not_ready_node_is_filtered_by_its_taint() -> None:
    n = node_info(node_obj([{"type": "Ready", "status": "False"}]), condition_taints=True)
    assert one([n], pod()).message == (f"0/1 nodes are available: 1 node(s) had untolerated taint "
                                       f"{{node.kubernetes.io/not-ready: }}. {NOT_HELPFUL.format(n=1)}")


# -- the table ----------------------------------------------------------------------------------------------
def test_table_updates_in_place() -> None:
    table = NodeTable([node("a", cpu=1000)], [pod("x", cpu=600, node_name="a")])
    assert schedule([pod("p1", cpu=600)], table)[0].node is None
    table.update_node(node("a", cpu=2000, labels=labels(zone="z"), taints=(CP_TAINT,)))
    assert schedule([pod("p2", cpu=600)], table)[0].message.startswith("0/1 nodes are available: 1 node(s) had")
    table.update_node(node("a", cpu=2000, labels=labels(zone="z")))
    assert schedule([pod("p3", cpu=600, node_selector=labels(zone="z"))], table)[0].node == "a"
    table.remove(("default", "x"))
    table.remove(("default", "p3"))
    assert int(table.free[0, 0]) == 2000
    table.add_node(node("b", cpu=4000, scalars=(("example.com/fpga", 1),)))
    placed = schedule([pod("p4", cpu=3000), pod("p5", scalars=(("example.com/fpga", 1),))], table)
    assert [p.node for p in placed] == ["b", "b"]


# -- invariants ---------------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 8)), min_size=1, max_size=6),
       st.lists(st.integers(0, 2500), min_size=1, max_size=25))
def test_never_overcommits_and_refuses_only_when_nothing_fits(node_specs: list[tuple[int, int]],
                                                              requests: list[int]) -> None:
    nodes = [node(f"n{i}", cpu=c, pods=slots) for i, (c, slots) in enumerate(node_specs)]
    free = {n.name: [n.cpu_millicores, n.pods] for n in nodes}
    for i, result in enumerate(place(nodes, *(pod(f"p{k}", cpu=r) for k, r in enumerate(requests)))):
        r = requests[i]
        fits = [name for name, (cpu, slots) in free.items() if slots >= 1 and (r == 0 or cpu >= r)]
        if result.node is None:
            assert not fits
            assert sum(c for _, c in result.reasons) >= len(nodes)
            assert result.message.startswith(f"0/{len(nodes)} nodes are available: ")
        else:
            assert result.node in fits
            free[result.node][0] -= r
            free[result.node][1] -= 1
    assert all(cpu >= 0 for cpu, _ in free.values())
    assert all(slots >= 0 for _, slots in free.values())


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(400, 1300), min_size=16, max_size=20),  # 16+: caches catch up node by node
       st.lists(st.one_of(st.tuples(st.just("pod"), st.sampled_from([0, 400, 400, 1200])),  # shapes repeat
                          st.tuples(st.just("remove"), st.integers(0, 40)),
                          st.tuples(st.just("resize"), st.integers(0, 19))), min_size=1, max_size=80))
def test_a_long_lived_table_decides_as_a_fresh_one(cpus: list[int], ops: list[tuple[str, int]]) -> None:
    """The fit and score caches a table keeps between cycles never change a decision: after any sequence of
    placements, removals and node resizes, each pod goes where a table built from scratch would send it."""
    nodes = [node(f"n{i}", cpu=c, pods=2) for i, c in enumerate(cpus)]
    table = NodeTable(nodes)
    bound: dict[tuple[str, str], PodInfo] = {}
    for k, (op, arg) in enumerate(ops):
        if op == "pod":
            p = pod(f"p{k}", cpu=arg)
            fresh = schedule([p], NodeTable(nodes, list(bound.values())))[0]
            placed = schedule([p], table)[0]
            assert placed.node == fresh.node and placed.message == fresh.message
            if placed.node is not None:
                bound[p.key] = dataclasses.replace(p, node_name=placed.node)
        elif op == "remove" and bound:
            key = sorted(bound)[arg % len(bound)]
            del bound[key]
            table.remove(key)
        elif op == "resize":
            i = arg % len(nodes)
            nodes[i] = node(nodes[i].name, cpu=cpus[i] + 400 * (k % 3), pods=2)
            table.update_node(nodes[i])
