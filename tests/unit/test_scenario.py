"""Scenario files: the shipped ones and the documented example load; every kind of mistake is reported with
its file, line and field, all at once."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from kubesim.sim.loadcurves import Constant, Diurnal, Spike, Sum, Trace
from kubesim.sim.loadmodel import WorkloadLoad
from kubesim.sim.scenario import SCENARIO_DIR, load_scenario, parse_scenario, shipped_scenarios
from kubesim.sim.scenariotypes import FaultEvent, LoadEvent, NodeProblemEvent, ScaleEvent, Scenario
from kubesim.sim.yamlcheck import Problem, ScenarioError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"

GROUP = """\
nodeGroups:
  - name: default
    size: 2
    maxSize: 4
    instance:
      capacity: {cpu: "4", memory: 16Gi}
"""


def parse(text: str, tmp_path: Path | None = None) -> Scenario:
    return parse_scenario(textwrap.dedent(text), source="s.yaml", base_dir=tmp_path or SCENARIO_DIR)


def problems(text: str, tmp_path: Path | None = None) -> list[Problem]:
    with pytest.raises(ScenarioError) as e:
        parse(text, tmp_path)
    return list(e.value.problems)


# --- shipped scenarios and the docs -----------------------------------------------------------------------


def test_shipped_scenarios_are_the_documented_ones() -> None:
    assert shipped_scenarios() == ["large", "small", "spike", "trace"]


@pytest.mark.parametrize("name", ["large", "small", "spike", "trace"])
def test_shipped_scenarios_load(name: str) -> None:
    s = load_scenario(name)
    assert s.name == name and s.source == f"{name}.yaml" and s.node_groups and s.workloads


def test_small_is_the_demo_cluster() -> None:
    s = load_scenario("small")
    assert sum(g.size for g in s.node_groups) == 3
    (web,) = s.workloads
    assert (web.key, web.replicas) == (("default", "Deployment", "web"), 2)
    assert web.containers[0].requests["cpu"] == "200m" and web.containers[0].limits["cpu"] == "1"
    assert isinstance(web.load, WorkloadLoad) and isinstance(web.load.demand, Diurnal)
    assert 300 <= web.load.demand.period_s <= 900  # a "day" of about ten minutes
    (hpa,) = s.manifests
    assert hpa["kind"] == "HorizontalPodAutoscaler" and hpa["spec"]["scaleTargetRef"]["name"] == "web"
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 50


def test_spike_multiplies_traffic_by_five() -> None:
    load = load_scenario("spike").workloads[0].load
    assert load is not None and isinstance(load.demand, Sum)
    base, peak = load.demand.value(60.0), max(load.demand.value(float(t)) for t in range(0, 1200, 5))
    assert peak == pytest.approx(5 * base)


def test_large_has_five_thousand_nodes_and_thirty_pods_each() -> None:
    s = load_scenario("large")
    nodes = sum(g.size for g in s.node_groups)
    pods = sum(w.replicas for w in s.workloads)
    assert nodes == 5000 and pods == 150_000
    assert len({w.name for w in s.workloads}) == len(s.workloads)
    assert all(g.instance.allocatable.pods >= 30 for g in s.node_groups)


def test_trace_scenario_replays_its_csv() -> None:
    load = load_scenario("trace").workloads[0].load
    assert load is not None and isinstance(load.demand, Trace)
    assert load.demand.end == "loop" and load.demand.source == "traces/web-day.csv"
    day = 86400 / load.demand.speedup
    assert load.demand.value(10.0) == pytest.approx(load.demand.value(10.0 + day))


def test_load_scenario_by_path(tmp_path: Path) -> None:
    f = tmp_path / "mine.yaml"
    f.write_text(GROUP)
    s = load_scenario(f)
    assert s.name == "mine" and s.source == str(f)


def test_unknown_scenario_lists_the_shipped_ones() -> None:
    with pytest.raises(ScenarioError, match=r"no such scenario.*shipped: large, small, spike, trace"):
        load_scenario("smal")


def test_the_documented_example_loads() -> None:
    block = re.search(r"### Example\n\n```yaml\n(.*?)```", DOCS.read_text(), re.S)
    assert block is not None
    s = parse_scenario(block.group(1), source="example.yaml", base_dir=SCENARIO_DIR)
    assert [w.name for w in s.workloads] == ["checkout", "reports", "worker-0", "worker-1", "worker-2"]
    assert {type(e) for e in s.events} == {LoadEvent, FaultEvent, NodeProblemEvent, ScaleEvent}
    assert [e.at_s for e in s.events] == sorted(e.at_s for e in s.events)


def test_documented_error_line_format() -> None:
    text = "name: small\n" + GROUP + textwrap.dedent("""\
        workloads:
          - name: web
            load:
              curve: {kind: points, points: 5}
        """)
    (p,) = problems(text)
    assert str(p) == "s.yaml:11: workloads[0].load.curve.points: expected a list of [time, value] pairs, found 5"


# --- what a valid file becomes ----------------------------------------------------------------------------


def test_defaults() -> None:
    s = parse(GROUP + "workloads: [{name: web}]\n")
    g, w = s.node_groups[0], s.workloads[0]
    assert (g.min_size, g.size, g.max_size) == (0, 2, 4)
    assert g.instance.allocatable == g.instance.capacity
    assert g.instance.capacity.quantities() == {"cpu": "4", "memory": "16Gi", "pods": "110",
                                                "ephemeral-storage": "100Gi"}
    assert (w.namespace, w.kind, w.replicas, w.labels, w.load) == ("default", "Deployment", 1, {"app": "web"}, None)
    assert [c.name for c in w.containers] == ["web"]
    assert s.settings.kubelet_port == 10250 and s.duration_s is None and s.events == ()


def test_manifest_of_a_workload() -> None:
    s = parse(GROUP + textwrap.dedent("""\
        workloads:
          - name: db
            kind: StatefulSet
            namespace: data
            replicas: 3
            requests: {cpu: 0.5, memory: 1024Mi}
            nodeSelector: {disk: ssd}
        """))
    m = s.workloads[0].manifest()
    assert m["apiVersion"] == "apps/v1" and m["kind"] == "StatefulSet" and m["spec"]["serviceName"] == "db"
    assert m["metadata"] == {"name": "db", "namespace": "data", "labels": {"app": "db"}}
    assert m["spec"]["selector"] == {"matchLabels": {"app": "db"}}
    pod = m["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"disk": "ssd"}
    assert pod["containers"][0]["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}}


def test_copies_get_their_own_names_and_selectors() -> None:
    s = parse(GROUP + "workloads: [{name: app, copies: 3, labels: {tier: web}}]\n")
    assert [w.name for w in s.workloads] == ["app-0", "app-1", "app-2"]
    assert {w.template for w in s.workloads} == {"app"}
    assert s.workloads[1].labels == {"tier": "web", "app.kubernetes.io/instance": "app-1"}


def test_load_model_fields() -> None:
    s = parse(GROUP + textwrap.dedent("""\
        workloads:
          - name: web
            load:
              unit: requests
              cpuPerRequest: 2m
              curve: 100
              baseCpu: 20m
              memory: {base: 100Mi, perLoad: 1Mi}
              noise: 0.1
              metric: requests_total
              scale: 2
              selector: {matchLabels: {app: web}}
        """))
    load = s.workloads[0].load
    assert load is not None
    assert load.demand == Constant(100.0) and load.unit == "requests" and load.cpu_per_request == 0.002
    assert (load.base_cpu, load.memory_base_bytes, load.memory_per_load_bytes) == (0.02, 100 * 2**20, 2**20)
    assert (load.noise, load.metric, load.scale) == (0.1, "requests_total", 2.0)
    assert load.selector is not None and load.selector.matches({"app": "web"})
    assert load.cores_and_rps(0) == (pytest.approx(0.4), 200.0)


def test_events_in_time_order_with_their_fields() -> None:
    s = parse(GROUP + textwrap.dedent("""\
        workloads: [{name: web, load: {curve: 1}}]
        events:
          - {at: 10m, scale: {nodeGroup: default, size: 4}}
          - {at: 90s, load: {workload: web, curve: {kind: spike, at: 2m, duration: 1m, height: 3}}}
          - {at: 1h, fault: {type: http500, node: n1, rate: 0.5}}
          - {at: 0, nodeProblem: {kind: task_hung, count: 3, params: {seconds: 240}}}
        """))
    assert [type(e).__name__ for e in s.events] == ["NodeProblemEvent", "LoadEvent", "ScaleEvent", "FaultEvent"]
    problem, load, scale, fault = s.events
    assert isinstance(problem, NodeProblemEvent) and problem.params == {"seconds": 240} and problem.count == 3
    assert isinstance(load, LoadEvent) and load.at_s == 90 and isinstance(load.curve, Spike)
    assert load.workloads == (("default", "Deployment", "web"),)
    assert isinstance(scale, ScaleEvent) and (scale.node_group, scale.size) == ("default", 4)
    assert isinstance(fault, FaultEvent) and fault.at_s == 3600 and fault.rate == 0.5
    assert fault.target is not None and fault.target.node == "n1"


def test_load_event_applies_to_the_model() -> None:
    model = WorkloadLoad(demand=Constant(1.0), noise=0.2)
    scaled = LoadEvent(0, (("default", "Deployment", "web"),), scale=3.0).apply(model)
    assert scaled.scale == 3.0 and scaled.demand == Constant(1.0) and scaled.noise == 0.2
    new = LoadEvent(0, (), curve=Constant(5.0)).apply(None)
    assert new.demand == Constant(5.0) and new.scale == 1.0


def test_api_faults_default_to_write_verbs() -> None:
    s = parse(GROUP + "events: [{at: 1m, fault: {type: apiError, rate: 0.1}}]\n")
    fault = s.events[0]
    assert isinstance(fault, FaultEvent)
    assert fault.verbs == ("create", "update", "patch", "delete") and fault.target is None


def test_trace_file_relative_to_the_scenario(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("t,value\n0,1\n1m,3\n")
    s = parse(GROUP + "workloads: [{name: web, load: {curve: {kind: trace, file: t.csv}}}]\n", tmp_path)
    load = s.workloads[0].load
    assert load is not None and load.demand.value(30.0) == pytest.approx(2.0)


# --- problems ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "line", "field", "message"), [
    pytest.param("nodegroups: []\n" + GROUP, 1, "nodegroups", "did you mean nodeGroups?", id="unknown-top-key"),
    pytest.param("name: x\n", 1, "nodeGroups", "required field is missing", id="missing-node-groups"),
    pytest.param(GROUP + "seed: -1\n", 7, "seed", "at least 0", id="negative-seed"),
    pytest.param(GROUP + "duration: soon\n", 7, "duration", "invalid duration", id="bad-duration"),
    pytest.param(GROUP + "settings: {usageTick: 0s}\n", 7, "settings.usageTick", "positive", id="zero-tick"),
    pytest.param(GROUP + "settings: {kubeletPort: 70000}\n", 7, "settings.kubeletPort", "at most 65535",
                 id="port-range"),
    pytest.param(GROUP + "settings: {kubeletHttp: maybe}\n", 7, "settings.kubeletHttp", "true or false",
                 id="not-a-bool"),
    pytest.param(GROUP.replace("size: 2", "size: 9"), 3, "nodeGroups[0].size", "between minSize and maxSize",
                 id="size-out-of-bounds"),
    pytest.param(GROUP.replace("name: default", "name: Default"), 2, "nodeGroups[0].name", "lowercase",
                 id="group-name"),
    pytest.param(GROUP.replace("{cpu: \"4\", memory: 16Gi}", "{cpu: \"4\"}"), 6,
                 "nodeGroups[0].instance.capacity.memory", "required", id="capacity-memory-missing"),
    pytest.param(GROUP.replace("16Gi", "16GB"), 6, "nodeGroups[0].instance.capacity.memory", "quantities",
                 id="bad-quantity"),
    pytest.param(GROUP.replace("size: 2", "size: 2\n    failureRate: 2"), 4, "nodeGroups[0].failureRate",
                 "at most 1", id="failure-rate"),
    pytest.param(GROUP + "      taints: [{key: k, effect: NoScheduel}]\n", 7,
                 "nodeGroups[0].instance.taints[0].effect", "did you mean NoSchedule?", id="taint-effect"),
    pytest.param(GROUP + "workloads: [{name: web, kind: DaemonSet}]\n", 7, "workloads[0].kind",
                 "not one of Deployment, StatefulSet", id="workload-kind"),
    pytest.param(GROUP + "workloads: [{name: web, replicas: 1.5}]\n", 7, "workloads[0].replicas",
                 "expected an integer", id="fractional-replicas"),
    pytest.param(GROUP + "workloads: [{name: web, requests: {cpu: 2}, limits: {cpu: 1}}]\n", 7,
                 "workloads[0].requests.cpu", "2 must be less than or equal to cpu limit of 1",
                 id="request-over-limit"),
    pytest.param(GROUP + "workloads: [{name: web, requests: {cpu: 1}, containers: [{name: a}]}]\n", 7,
                 "workloads[0].containers", "not both", id="containers-and-shorthand"),
    pytest.param(GROUP + "workloads: [{name: web, containers: [{name: a}, {name: a}]}]\n", 7,
                 "workloads[0].containers", "duplicate container a", id="duplicate-container"),
    pytest.param(GROUP + "workloads: [{name: web}, {name: web}]\n", 7, "workloads",
                 "duplicate workload Deployment default/web", id="duplicate-workload"),
    pytest.param(GROUP + "workloads: [{name: web, load: {}}]\n", 7, "workloads[0].load.curve", "required",
                 id="load-without-curve"),
    pytest.param(GROUP + "workloads: [{name: web, load: {curve: {kind: sine, min: 1, max: 2}}}]\n", 7,
                 "workloads[0].load.curve.period", "required", id="sine-without-period"),
    pytest.param(GROUP + "workloads: [{name: web, load: {curve: {kind: sine, period: 1m, min: 3, max: 2}}}]\n",
                 7, "workloads[0].load.curve.max", "at least min", id="max-below-min"),
    pytest.param(GROUP + "workloads: [{name: web, load: {curve: {kind: steps, steps: [[5m, 1], [1m, 2]]}}}]\n",
                 7, "workloads[0].load.curve.steps[1]", "times must increase", id="steps-out-of-order"),
    pytest.param(GROUP + "workloads: [{name: web, load: {curve: {kind: points, points: [[1, 2, 3]]}}}]\n", 7,
                 "workloads[0].load.curve.points[0]", "[time, value] pairs", id="triple-not-pair"),
    pytest.param(GROUP + "workloads: [{name: web, load: {curve: {kind: spike, at: 1m, height: 2}}}]\n", 7,
                 "workloads[0].load.curve.duration", "required", id="spike-without-duration"),
    pytest.param(GROUP + "workloads: [{name: web, load: {curve: {kind: sum, of: []}}}]\n", 7,
                 "workloads[0].load.curve.of", "at least one curve", id="empty-sum"),
    pytest.param(GROUP + "workloads: [{name: web, load: {curve: {kind: sum, of: [1, {kind: nope}]}}}]\n", 7,
                 "workloads[0].load.curve.of[1].kind", "not one of", id="nested-curve-kind"),
    pytest.param(GROUP + "workloads: [{name: web, load: {curve: {kind: constant, value: 1, extra: 2}}}]\n", 7,
                 "workloads[0].load.curve.extra", "unknown field", id="curve-unknown-field"),
    pytest.param(GROUP + "workloads: [{name: web, load: {curve: \"lots\"}}]\n", 7, "workloads[0].load.curve",
                 "expected a curve", id="curve-string"),
    pytest.param(GROUP + "workloads: [{name: web, load: {curve: 1, unit: rps}}]\n", 7, "workloads[0].load.unit",
                 "not one of cores, requests", id="load-unit"),
    pytest.param(GROUP + "workloads: [{name: web, load: {curve: 1, metric: 'http-requests'}}]\n", 7,
                 "workloads[0].load.metric", "Prometheus metric name", id="metric-name"),
    pytest.param(GROUP + "workloads: [{name: web, load: {curve: 1, selector: {matchExpressions: "
                 "[{key: a, operator: Near}]}}}]\n", 7, "workloads[0].load.selector", "invalid label selector",
                 id="bad-selector"),
    pytest.param(GROUP + "manifests: [{kind: HorizontalPodAutoscaler, metadata: {name: web}}]\n", 7,
                 "manifests[0].apiVersion", "required", id="manifest-without-api-version"),
    pytest.param(GROUP + "manifests: [{apiVersion: v1, kind: ConfigMap, metadata: {}}]\n", 7,
                 "manifests[0].metadata.name", "required", id="manifest-without-name"),
    pytest.param(GROUP + "events: [{load: {workload: web, scale: 2}}]\n", 7, "events[0].at", "required",
                 id="event-without-at"),
    pytest.param(GROUP + "events: [{at: 1m}]\n", 7, "events[0]", "exactly one of load, fault, nodeProblem, scale",
                 id="event-without-kind"),
    pytest.param(GROUP + "events: [{at: 1m, scale: {nodeGroup: default, size: 1}, fault: {type: reset}}]\n", 7,
                 "events[0]", "found fault and scale", id="event-with-two-kinds"),
    pytest.param(GROUP + "events: [{at: 1m, load: {workload: api, scale: 2}}]\n", 7, "events[0].load.workload",
                 "no workload named 'api'", id="load-unknown-workload"),
    pytest.param(GROUP + "workloads: [{name: web}]\nevents: [{at: 1m, load: {workload: web, scale: 2}}]\n", 8,
                 "events[0].load.scale", "no load model to scale", id="scale-without-model"),
    pytest.param(GROUP + "workloads: [{name: web, load: {curve: 1}}]\nevents: [{at: 1m, load: {workload: web}}]\n",
                 8, "events[0].load", "curve, scale or both", id="load-event-empty"),
    pytest.param(GROUP + "events: [{at: 1m, fault: {type: flaky}}]\n", 7, "events[0].fault.type", "not one of",
                 id="fault-type"),
    pytest.param(GROUP + "events: [{at: 1m, fault: {type: timeout, delay: 3s}}]\n", 7, "events[0].fault.delay",
                 "does not apply to fault type timeout", id="fault-field-for-other-type"),
    pytest.param(GROUP + "events: [{at: 1m, fault: {type: slow, nodeGroup: gpu}}]\n", 7,
                 "events[0].fault.nodeGroup", "no node group named 'gpu' (node groups: default)",
                 id="fault-unknown-group"),
    pytest.param(GROUP + "events: [{at: 1m, fault: {type: reset, node: a, fraction: 0.5}}]\n", 7,
                 "events[0].fault.node", "either node or nodeGroup/fraction", id="node-and-fraction"),
    pytest.param(GROUP + "events: [{at: 1m, fault: {type: notReady, fraction: 0}}]\n", 7,
                 "events[0].fault.fraction", "at least", id="zero-fraction"),
    pytest.param(GROUP + "events: [{at: 1m, fault: {type: provisioningFailure}}]\n", 7,
                 "events[0].fault.nodeGroup", "required", id="provisioning-failure-without-group"),
    pytest.param(GROUP + "events: [{at: 1m, fault: {type: apiConflict, verbs: [put]}}]\n", 7,
                 "events[0].fault.verbs[0]", "not one of get, list", id="bad-verb"),
    pytest.param(GROUP + "events: [{at: 1m, fault: {type: watchDrop, resources: [Pods]}}]\n", 7,
                 "events[0].fault.resources[0]", "resource[.group][/subresource]", id="bad-resource"),
    pytest.param(GROUP + "events: [{at: 1m, nodeProblem: {kind: oom}}]\n", 7, "events[0].nodeProblem.kind",
                 "did you mean oom_kill?", id="problem-kind"),
    pytest.param(GROUP + "events: [{at: 1m, nodeProblem: {kind: oom_kill, message: x}}]\n", 7,
                 "events[0].nodeProblem", "either kind", id="problem-kind-and-message"),
    pytest.param(GROUP + "events: [{at: 1m, nodeProblem: {kind: oom_kill, params: {colour: red}}}]\n", 7,
                 "events[0].nodeProblem.params.colour", "expected one of: process, pid", id="problem-param"),
    pytest.param(GROUP + "events: [{at: 1m, scale: {nodeGroup: default, size: 5}}]\n", 7,
                 "events[0].scale.size", "between the group's minSize and maxSize (0..4)", id="scale-beyond-max"),
    pytest.param(GROUP + "workloads: {name: web}\n", 7, "workloads", "expected a list, found a mapping",
                 id="mapping-not-list"),
    pytest.param(GROUP + "nodeGroups: []\n", 7, "nodeGroups", "duplicate field", id="duplicate-key"),
])
def test_problem_names_line_and_field(text: str, line: int, field: str, message: str) -> None:
    found = problems(text)
    assert any(p.line == line and p.field == field and message in p.message for p in found), found
    assert all(p.file == "s.yaml" for p in found)


def test_all_problems_are_reported_at_once() -> None:
    found = problems(GROUP.replace("size: 2", "size: 9") + textwrap.dedent("""\
        workloads:
          - name: web
            replicas: -1
            load: {curve: {kind: diurnal, min: 5, max: 1}, noise: 3}
        events:
          - {at: 5x, scale: {nodeGroup: nope, size: 1}}
        """))
    assert [(p.line, p.field) for p in found] == [
        (3, "nodeGroups[0].size"),
        (9, "workloads[0].replicas"),
        (10, "workloads[0].load.curve.max"),
        (10, "workloads[0].load.noise"),
        (12, "events[0].at"),
        (12, "events[0].scale.nodeGroup"),
    ]


def test_error_message_lists_every_problem() -> None:
    with pytest.raises(ScenarioError) as e:
        parse(GROUP + "seed: x\nduration: y\n")
    assert str(e.value).splitlines() == [
        "s.yaml:7: seed: expected an integer, found 'x'",
        "s.yaml:8: duration: invalid duration 'y': expected seconds or a duration like 90s, 5m or 1h30m "
        "(units ms, s, m, h, d)",
    ]


def test_trace_problems_name_the_csv_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("t,value\n0,1\n1m,n/a\n")
    (p,) = problems(GROUP + "workloads: [{name: web, load: {curve: {kind: trace, file: t.csv}}}]\n", tmp_path)
    assert str(p) == "t.csv:3: workloads[0].load.curve.file: value: not a number: 'n/a'"


def test_missing_trace_file(tmp_path: Path) -> None:
    (p,) = problems(GROUP + "workloads: [{name: web, load: {curve: {kind: trace, file: gone.csv}}}]\n", tmp_path)
    assert p.line == 7 and "cannot read trace" in p.message


@pytest.mark.parametrize(("text", "message"), [
    pytest.param("", "empty scenario", id="empty"),
    pytest.param("- just\n- a list\n", "expected a mapping", id="list"),
    pytest.param("nodeGroups: [\n", "invalid YAML", id="syntax"),
])
def test_unusable_files(text: str, message: str) -> None:
    (p,) = problems(text)
    assert message in p.message


def test_yaml_syntax_error_has_its_line() -> None:
    (p,) = problems(GROUP + "workloads:\n  - name: web\n   replicas: 2\n")
    assert p.line == 9 and "invalid YAML" in p.message
