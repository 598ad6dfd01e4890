"""kubesim.tables / kubesim.printers: server-side Tables as kube-apiserver prints them (printers.go,
HumanDuration, Quantity strings, formatHPAMetrics, the default and CRD convertors), table-driven."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubesim import conversion, errors, printers, resources, tables

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
REG = resources.Registry()


def ts(delta: timedelta) -> str:
    return (NOW - delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str, age: timedelta = timedelta(minutes=5), **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "default", "uid": f"uid-{name}", "resourceVersion": "42",
            "creationTimestamp": ts(age), **extra}


def rt(group: str, resource: str) -> resources.ResourceType:
    got = REG.get(group, resource)
    assert got is not None
    return got


def header(rtype: resources.ResourceType, **kw: Any) -> list[tuple[str, int]]:
    return [(c["name"], c["priority"]) for c in tables.table_columns(rtype, **kw)]


# --- HumanDuration -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        pytest.param(timedelta(0), "0s", id="zero"),
        pytest.param(timedelta(milliseconds=999), "0s", id="sub-second"),
        pytest.param(timedelta(seconds=-1), "0s", id="one-second-skew"),
        pytest.param(timedelta(milliseconds=-1999), "0s", id="skew-truncates-toward-zero"),
        pytest.param(timedelta(seconds=-2), "<invalid>", id="future"),
        pytest.param(timedelta(seconds=45), "45s", id="45s"),
        pytest.param(timedelta(seconds=119), "119s", id="seconds-until-two-minutes"),
        pytest.param(timedelta(seconds=120), "2m", id="2m"),
        pytest.param(timedelta(seconds=125), "2m5s", id="2m5s"),
        pytest.param(timedelta(minutes=9, seconds=59), "9m59s", id="9m59s"),
        pytest.param(timedelta(minutes=10, seconds=30), "10m", id="10m-drops-seconds"),
        pytest.param(timedelta(minutes=179, seconds=59), "179m", id="minutes-until-three-hours"),
        pytest.param(timedelta(hours=3), "3h", id="3h"),
        pytest.param(timedelta(hours=3, minutes=10), "3h10m", id="3h10m"),
        pytest.param(timedelta(hours=7, minutes=59, seconds=59), "7h59m", id="7h59m"),
        pytest.param(timedelta(hours=8, minutes=30), "8h", id="8h-drops-minutes"),
        pytest.param(timedelta(hours=47, minutes=59), "47h", id="hours-until-two-days"),
        pytest.param(timedelta(hours=48), "2d", id="2d"),
        pytest.param(timedelta(days=2, hours=5), "2d5h", id="2d5h"),
        pytest.param(timedelta(days=7, hours=23), "7d23h", id="7d23h"),
        pytest.param(timedelta(days=8, hours=5), "8d", id="8d-drops-hours"),
        pytest.param(timedelta(days=45), "45d", id="45d"),
        pytest.param(timedelta(days=729, hours=23), "729d", id="days-until-two-years"),
        pytest.param(timedelta(days=730), "2y", id="2y"),
        pytest.param(timedelta(days=740), "2y10d", id="2y10d"),
        pytest.param(timedelta(days=365 * 8 - 1), "7y364d", id="7y364d"),
        pytest.param(timedelta(days=365 * 8 + 100), "8y", id="8y-drops-days"),
    ],
)
def test_human_duration(delta: timedelta, expected: str) -> None:
    assert tables.human_duration(delta) == expected


_UNIT_S = {"y": 365 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}


@given(st.integers(min_value=0, max_value=20 * 365 * 86400))
def test_human_duration_never_overstates_and_loses_less_than_its_last_unit(seconds: int) -> None:
    text = tables.human_duration(timedelta(seconds=seconds))
    parts = re.findall(r"(\d+)([ydhms])", text)
    assert "".join(n + u for n, u in parts) == text
    shown = sum(int(n) * _UNIT_S[u] for n, u in parts)
    assert shown <= seconds < shown + _UNIT_S[parts[-1][1]] * (2 if parts[-1][1] == "s" else 1)


# --- Quantity strings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("500Mi", "500Mi", id="binary-canonical"),
        pytest.param("1024Mi", "1Gi", id="binary-carries-up"),
        pytest.param("1.5Gi", "1536Mi", id="binary-fraction-down"),
        pytest.param("0.5Gi", "512Mi", id="half-gi"),
        pytest.param("1.1Ki", "1126400m", id="binary-inexact-goes-decimal"),
        pytest.param("1023Ki", "1023Ki", id="binary-kept"),
        pytest.param("512", "512", id="plain"),
        pytest.param("1000", "1k", id="plain-thousand-is-k"),
        pytest.param("1.5", "1500m", id="fraction-to-milli"),
        pytest.param("2000m", "2", id="milli-to-unit"),
        pytest.param("245m", "245m", id="milli"),
        pytest.param("0.9n", "1n", id="rounds-up-to-nano"),
        pytest.param("1e3", "1e3", id="exponent-kept"),
        pytest.param("1000E", "1e21", id="beyond-exa"),
        pytest.param("-1.5", "-1500m", id="negative"),
        pytest.param("0Mi", "0", id="zero"),
        pytest.param(100, "100", id="json-int"),
        pytest.param(0.25, "250m", id="json-float"),
        pytest.param(None, "<nil>", id="missing"),
        pytest.param("12 apples", "12 apples", id="unparsable-as-given"),
    ],
)
def test_format_quantity(raw: Any, expected: str) -> None:
    assert printers.format_quantity(raw) == expected


# --- HPA targets (formatHPAMetrics) --------------------------------------------------------------------


def resource_metric(name: str, util: int | None = None, avg: str | None = None) -> dict[str, Any]:
    target: dict[str, Any] = {"type": "Utilization" if util is not None else "AverageValue"}
    if util is not None:
        target["averageUtilization"] = util
    if avg is not None:
        target["averageValue"] = avg
    return {"type": "Resource", "resource": {"name": name, "target": target}}


def status_of(kind: str, **current: Any) -> dict[str, Any]:
    key = kind[0].lower() + kind[1:]
    return {"type": kind, key: {"current": current}}


EXTERNAL_AVG = {"type": "External", "external": {"metric": {"name": "queue_depth"},
                                                 "target": {"type": "AverageValue", "averageValue": "30"}}}
EXTERNAL_VALUE = {"type": "External", "external": {"metric": {"name": "queue_depth"},
                                                   "target": {"type": "Value", "value": "100"}}}
OBJECT_VALUE = {"type": "Object", "object": {
    "describedObject": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "main"},
    "metric": {"name": "requests_per_second"}, "target": {"type": "Value", "value": "2k"}}}
OBJECT_AVG = {"type": "Object", "object": {"metric": {"name": "rps"},
                                           "target": {"type": "AverageValue", "averageValue": "500m"}}}
PODS = {"type": "Pods", "pods": {"metric": {"name": "http_requests"},
                                 "target": {"type": "AverageValue", "averageValue": "10"}}}
CONTAINER = {"type": "ContainerResource", "containerResource": {
    "name": "cpu", "container": "app", "target": {"type": "Utilization", "averageUtilization": 60}}}


@pytest.mark.parametrize(
    ("specs", "statuses", "expected"),
    [
        pytest.param([resource_metric("cpu", 50)], [status_of("Resource", averageUtilization=48,
                                                                  averageValue="245m")],
                     "cpu: 48%/50%", id="cpu-utilization"),
        pytest.param([resource_metric("cpu", 50)], [], "cpu: <unknown>/50%", id="cpu-unknown"),
        pytest.param([resource_metric("memory", avg="500Mi")], [status_of("Resource", averageValue="31285248")],
                     "memory: 31285248/500Mi", id="memory-average-value"),
        pytest.param([resource_metric("memory", avg="1Gi")], [status_of("Resource", averageValue="524288000")],
                     "memory: 524288k/1Gi", id="memory-decimal-bytes-canonical"),
        pytest.param([resource_metric("memory", avg="1Gi")], [], "memory: <unknown>/1Gi", id="memory-unknown"),
        pytest.param([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization"}}}],
                     [status_of("Resource", averageUtilization=12)], "cpu: 12%/<auto>", id="no-target-is-auto"),
        pytest.param([PODS], [status_of("Pods", averageValue="8500m")], "8500m/10", id="pods"),
        pytest.param([PODS], [], "<unknown>/10", id="pods-unknown"),
        pytest.param([OBJECT_VALUE], [status_of("Object", value="1500")], "1500/2k", id="object-value"),
        pytest.param([OBJECT_AVG], [status_of("Object", averageValue="0.25")], "250m/500m (avg)",
                     id="object-average"),
        pytest.param([OBJECT_AVG], [status_of("Object", value="3")], "<unknown>/500m (avg)",
                     id="object-average-without-current-average"),
        pytest.param([EXTERNAL_VALUE], [status_of("External", value="120")], "120/100", id="external-value"),
        pytest.param([EXTERNAL_AVG], [status_of("External", averageValue="25")], "25/30 (avg)",
                     id="external-average"),
        pytest.param([EXTERNAL_VALUE], [], "<unknown>/100", id="external-unknown"),
        pytest.param([CONTAINER], [status_of("ContainerResource", averageUtilization=70)], "cpu: 70%/60%",
                     id="container-resource"),
        pytest.param([{"type": "Bogus"}], [], "<unknown type>", id="unknown-type"),
        pytest.param([resource_metric("cpu", 50), resource_metric("memory", avg="1Gi")],
                     [status_of("Resource", averageUtilization=48)], "cpu: 48%/50%, memory: <unknown>/1Gi",
                     id="two-metrics"),
        pytest.param([resource_metric("cpu", 50), PODS, EXTERNAL_VALUE, OBJECT_VALUE], [],
                     "cpu: <unknown>/50%, <unknown>/10 + 2 more...", id="more-than-two"),
        pytest.param([resource_metric("cpu", 50), resource_metric("memory", avg="1Gi")],
                     [status_of("Resource", averageValue="600Mi", averageUtilization=58),
                      status_of("Resource", averageValue="245m", averageUtilization=48)],
                     "cpu: 58%/50%, memory: 245m/1Gi", id="statuses-matched-by-position-not-name"),
        pytest.param([resource_metric("memory", avg="1Gi")], [status_of("Resource", averageUtilization=48)],
                     "memory: <nil>/1Gi", id="current-without-average-value-prints-go-nil"),
        pytest.param([], [], "<none>", id="none"),
    ],
)
def test_hpa_targets(specs: list, statuses: list, expected: str) -> None:
    assert printers.hpa_targets(specs, statuses) == expected


HPA = {
    "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
    "metadata": meta("web", timedelta(days=2, hours=5)),
    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
             "minReplicas": 2, "maxReplicas": 10, "metrics": [resource_metric("cpu", 50)]},
    "status": {"currentReplicas": 3, "desiredReplicas": 3,
               "currentMetrics": [status_of("Resource", averageUtilization=48, averageValue="245m")]},
}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(HPA, ["web", "Deployment/web", "cpu: 48%/50%", "2", 10, 3, "2d5h"], id="v2"),
        pytest.param({**HPA, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 4},
                      "status": {}},
                     ["web", "Deployment/web", "cpu: <unknown>/80%", "1", 4, 0, "2d5h"], id="api-defaults"),
        pytest.param({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": HPA["metadata"],
                      "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1,
                               "maxReplicas": 5, "targetCPUUtilizationPercentage": 70},
                      "status": {"currentReplicas": 2, "currentCPUUtilizationPercentage": 65}},
                     ["web", "Deployment/web", "cpu: 65%/70%", "1", 5, 2, "2d5h"], id="v1"),
    ],
)
def test_hpa_row(obj: dict, expected: list) -> None:
    rtype = rt("autoscaling", "horizontalpodautoscalers")
    assert header(rtype) == [("Name", 0), ("Reference", 0), ("Targets", 0), ("MinPods", 0), ("MaxPods", 0),
                             ("Replicas", 0), ("Age", 0)]
    assert tables.row_for(rtype, obj, now=NOW) == expected


def test_hpa_converted_to_v1_still_prints_its_annotation_metrics() -> None:
    """Upstream prints the stored object; a v1-shaped one is read back through kubesim.conversion (which puts
    the CPU target last, so a v2 object with CPU last round-trips to the same row)."""
    v2 = {**HPA, "spec": {**HPA["spec"], "metrics": [PODS, EXTERNAL_VALUE, resource_metric("cpu", 50)]},
          "status": {**HPA["status"], "currentMetrics": [
              status_of("Pods", averageValue="8"), status_of("External", value="120"),
              {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 48}}}]}}
    v1 = conversion.convert(v2, to_api_version="autoscaling/v1")
    assert "metrics" not in v1["spec"] and v1["spec"]["targetCPUUtilizationPercentage"] == 50
    rtype = rt("autoscaling", "horizontalpodautoscalers")
    assert tables.row_for(rtype, v1, now=NOW) == tables.row_for(rtype, v2, now=NOW) == [
        "web", "Deployment/web", "8/10, 120/100 + 1 more...", "2", 10, 3, "2d5h"]


def test_include_object_converts_the_stored_object_to_the_requested_version() -> None:
    rtype = rt("autoscaling", "horizontalpodautoscalers")
    table = tables.to_table(rtype, [HPA], now=NOW, include_object="Object", api_version="v1")
    assert table["rows"][0]["cells"][2] == "cpu: 48%/50%"
    assert table["rows"][0]["object"] == conversion.convert(HPA, to_api_version="autoscaling/v1")


# --- Pods ----------------------------------------------------------------------------------------------


def container_status(name: str = "app", *, ready: bool = False, restarts: int = 0, state: dict | None = None,
                     last: dict | None = None, started: bool | None = None) -> dict[str, Any]:
    cs: dict[str, Any] = {"name": name, "image": f"registry.k8s.io/{name}:1.0", "imageID": "", "ready": ready,
                          "restartCount": restarts, "state": state or {}, "lastState": last or {}}
    if started is not None:
        cs["started"] = started
    return cs


RUNNING = {"running": {"startedAt": ts(timedelta(minutes=4))}}


def make_pod(*, phase: str = "Running", containers: int = 1, statuses: list | None = None, init: list | None = None,
             init_statuses: list | None = None, conditions: list | None = None, **extra: Any) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "conditions": conditions or [], "hostIP": "10.0.0.1",
                              "podIP": "10.244.1.7", "podIPs": [{"ip": "10.244.1.7"}],
                              "startTime": ts(timedelta(minutes=5)), "qosClass": "Burstable"}
    if statuses is not None:
        status["containerStatuses"] = statuses
    if init_statuses is not None:
        status["initContainerStatuses"] = init_statuses
    status.update(extra.pop("status", {}))
    spec: dict[str, Any] = {"nodeName": "node-1", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                            "containers": [{"name": "app" if i == 0 else f"app{i}", "image": "nginx:1.27"}
                                           for i in range(containers)]}
    if init is not None:
        spec["initContainers"] = init
    spec.update(extra.pop("spec", {}))
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {**meta("web-7d4b9c-x2x5z"), **extra.pop("metadata", {})},
            "spec": spec, "status": status}


READY = [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"},
         {"type": "ContainersReady", "status": "True"}, {"type": "PodScheduled", "status": "True"}]
TERMINATED_EARLIER = {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": ts(timedelta(minutes=3)),
                                     "finishedAt": ts(timedelta(minutes=2))}}
INIT = [{"name": "migrate", "image": "migrate:1"}, {"name": "seed", "image": "seed:1"}]
SIDECAR = [{"name": "proxy", "image": "envoy:1", "restartPolicy": "Always"}]
DELETING = {"deletionTimestamp": ts(timedelta(seconds=10)), "deletionGracePeriodSeconds": 30}


@pytest.mark.parametrize(
    ("pod", "ready", "reason", "restarts"),
    [
        pytest.param(make_pod(statuses=[container_status(ready=True, state=RUNNING)], conditions=READY),
                     "1/1", "Running", "0", id="running"),
        pytest.param(make_pod(phase="Pending", conditions=[{"type": "PodScheduled", "status": "False",
                                                             "reason": "Unschedulable"}],
                              spec={"nodeName": None}, status={"podIP": None, "podIPs": None}),
                     "0/1", "Pending", "0", id="pending-unscheduled"),
        pytest.param(make_pod(phase="Pending", statuses=[container_status(state={"waiting": {
            "reason": "ContainerCreating"}})]), "0/1", "ContainerCreating", "0", id="container-creating"),
        pytest.param(make_pod(statuses=[container_status(restarts=5, state={"waiting": {
            "reason": "CrashLoopBackOff", "message": "back-off 2m40s"}}, last=TERMINATED_EARLIER)]),
                     "0/1", "CrashLoopBackOff", "5 (2m ago)", id="crash-loop-with-last-restart"),
        pytest.param(make_pod(statuses=[container_status(ready=True, restarts=2, state=RUNNING)], conditions=READY),
                     "1/1", "Running", "2", id="restarts-without-termination-time"),
        pytest.param(make_pod(phase="Succeeded", statuses=[container_status(state={"terminated": {
            "exitCode": 0, "reason": "Completed"}})]), "0/1", "Completed", "0", id="completed"),
        pytest.param(make_pod(phase="Failed", statuses=[container_status(state={"terminated": {"exitCode": 2}})]),
                     "0/1", "ExitCode:2", "0", id="exit-code-without-reason"),
        pytest.param(make_pod(phase="Failed", statuses=[container_status(state={"terminated": {
            "exitCode": 137, "signal": 9}})]), "0/1", "Signal:9", "0", id="signal"),
        pytest.param(make_pod(phase="Failed", status={"reason": "Evicted", "message": "low on memory"}),
                     "0/1", "Evicted", "0", id="evicted"),
        pytest.param(make_pod(containers=2, statuses=[
            container_status("app", state={"terminated": {"exitCode": 0, "reason": "Completed"}}),
            container_status("app1", ready=True, state=RUNNING)], conditions=READY),
                     "1/2", "Running", "0", id="completed-container-but-one-running-ready"),
        pytest.param(make_pod(containers=2, statuses=[
            container_status("app", state={"terminated": {"exitCode": 0, "reason": "Completed"}}),
            container_status("app1", ready=True, state=RUNNING)]),
                     "1/2", "NotReady", "0", id="completed-container-but-pod-not-ready"),
        pytest.param(make_pod(phase="Pending", init=INIT, init_statuses=[
            container_status("migrate", state=RUNNING), container_status("seed", state={"waiting": {
                "reason": "PodInitializing"}})]), "0/1", "Init:0/2", "0", id="init-running"),
        pytest.param(make_pod(phase="Pending", init=INIT, init_statuses=[
            container_status("migrate", state={"terminated": {"exitCode": 0, "reason": "Completed"}}),
            container_status("seed", state=RUNNING)]), "0/1", "Init:1/2", "0", id="init-second"),
        pytest.param(make_pod(phase="Pending", init=INIT, init_statuses=[
            container_status("migrate", restarts=3, state={"waiting": {"reason": "CrashLoopBackOff"}},
                             last=TERMINATED_EARLIER)]), "0/1", "Init:CrashLoopBackOff", "3 (2m ago)",
                     id="init-crash-loop"),
        pytest.param(make_pod(phase="Pending", init=INIT, init_statuses=[
            container_status("migrate", state={"terminated": {"exitCode": 1, "reason": "Error"}})]),
                     "0/1", "Init:Error", "0", id="init-error"),
        pytest.param(make_pod(phase="Pending", init=INIT, init_statuses=[
            container_status("migrate", state={"terminated": {"exitCode": 3}})]),
                     "0/1", "Init:ExitCode:3", "0", id="init-exit-code"),
        pytest.param(make_pod(phase="Pending", init=INIT, init_statuses=[
            container_status("migrate", state={"terminated": {"exitCode": 0, "signal": 15}})]),
                     "0/1", "Pending", "0", id="init-done-zero-exit"),
        pytest.param(make_pod(init=SIDECAR, init_statuses=[
            container_status("proxy", ready=True, started=True, restarts=1, state=RUNNING,
                             last=TERMINATED_EARLIER)],
                              statuses=[container_status(ready=True, state=RUNNING)], conditions=READY),
                     "2/2", "Running", "1 (2m ago)", id="sidecar-counts-and-restarts"),
        pytest.param(make_pod(metadata=DELETING, statuses=[container_status(ready=True, state=RUNNING)],
                              conditions=READY), "1/1", "Terminating", "0", id="terminating"),
        pytest.param(make_pod(phase="Succeeded", metadata=DELETING, statuses=[container_status(state={
            "terminated": {"exitCode": 0, "reason": "Completed"}})]), "0/1", "Completed", "0",
                     id="deleted-after-completion"),
        pytest.param(make_pod(metadata=DELETING, status={"reason": "NodeLost"},
                              statuses=[container_status(ready=True, state=RUNNING)]),
                     "1/1", "Unknown", "0", id="node-lost"),
        pytest.param(make_pod(phase="Pending", conditions=[{"type": "PodScheduled", "status": "False",
                                                             "reason": "SchedulingGated"}]),
                     "0/1", "SchedulingGated", "0", id="scheduling-gated"),
    ],
)
def test_pod_status(pod: dict, ready: str, reason: str, restarts: str) -> None:
    cells = tables.row_for(rt("", "pods"), pod, now=NOW)
    assert cells[:5] == ["web-7d4b9c-x2x5z", ready, reason, restarts, "5m"]


def test_pod_wide_cells_and_columns() -> None:
    pod = make_pod(statuses=[container_status(ready=True, state=RUNNING)], conditions=[
        *READY, {"type": "example.com/lb", "status": "True"}],
        spec={"readinessGates": [{"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}]},
        status={"nominatedNodeName": "node-2", "podIPs": [{"ip": "10.244.1.7"}, {"ip": "fd00::7"}]})
    rtype = rt("", "pods")
    assert header(rtype) == [("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0), ("IP", 1),
                             ("Node", 1), ("Nominated Node", 1), ("Readiness Gates", 1)]
    assert tables.row_for(rtype, pod, now=NOW)[5:] == ["10.244.1.7", "node-1", "node-2", "1/2"]
    bare = make_pod(phase="Pending", spec={"nodeName": ""}, status={"podIP": "", "podIPs": []})
    assert tables.row_for(rtype, bare, now=NOW)[5:] == ["<none>", "<none>", "<none>", "<none>"]


container_states = st.sampled_from([
    {}, RUNNING, {"waiting": {"reason": "ContainerCreating"}}, {"waiting": {}},
    {"terminated": {"exitCode": 0, "reason": "Completed"}}, {"terminated": {"exitCode": 1}},
])


@given(st.lists(st.tuples(container_states, st.booleans(), st.integers(0, 50)), min_size=1, max_size=4),
       st.sampled_from(["Pending", "Running", "Succeeded", "Failed", "Unknown"]), st.booleans())
def test_pod_row_shape_invariants(containers: list, phase: str, deleting: bool) -> None:
    statuses = [container_status(f"c{i}", state=s, ready=r, restarts=n) for i, (s, r, n) in enumerate(containers)]
    pod = make_pod(phase=phase, containers=len(containers), statuses=statuses,
                   metadata=DELETING if deleting else {})
    cells = tables.row_for(rt("", "pods"), pod, now=NOW)
    ready, total = map(int, cells[1].split("/"))
    assert len(cells) == len(tables.table_columns(rt("", "pods")))
    assert 0 <= ready <= total == len(containers)
    assert cells[2]
    assert int(cells[3]) == sum(n for _, _, n in containers)
    if deleting and phase not in ("Succeeded", "Failed"):
        assert cells[2] == "Terminating"


# --- other built-in kinds ------------------------------------------------------------------------------


def node_obj(name: str, *, ready: str | None = "True", labels: dict | None = None, unschedulable: bool = False,
             addresses: list | None = None, info: dict | None = None) -> dict[str, Any]:
    conditions = [{"type": "MemoryPressure", "status": "False"}, {"type": "DiskPressure", "status": "False"}]
    if ready is not None:
        conditions.append({"type": "Ready", "status": ready, "reason": "KubeletReady"})
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "creationTimestamp": ts(timedelta(days=45)),
                         "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": {"unschedulable": unschedulable} if unschedulable else {},
            "status": {"conditions": conditions, "addresses": addresses or [],
                       "nodeInfo": info if info is not None else {
                           "kubeletVersion": "v1.35.0", "osImage": "Ubuntu 24.04.1 LTS",
                           "kernelVersion": "6.8.0-45-generic", "containerRuntimeVersion": "containerd://2.0.0"}}}


CP_LABELS = {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/etcd": "true"}
ADDRESSES = [{"type": "Hostname", "address": "cp-1"}, {"type": "InternalIP", "address": "10.0.0.10"},
             {"type": "ExternalIP", "address": "203.0.113.10"}]
LB_SVC_STATUS = {"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}, {"hostname": "a.elb.example.com"}]}}


@pytest.mark.parametrize(
    ("group", "resource", "obj", "expected"),
    [
        pytest.param("", "nodes", node_obj("cp-1", labels=CP_LABELS, addresses=ADDRESSES),
                     ["cp-1", "Ready", "control-plane,etcd", "45d", "v1.35.0", "10.0.0.10", "203.0.113.10",
                      "Ubuntu 24.04.1 LTS", "6.8.0-45-generic", "containerd://2.0.0"], id="node-ready-roles"),
        pytest.param("", "nodes", node_obj("w-1", unschedulable=True),
                     ["w-1", "Ready,SchedulingDisabled", "<none>", "45d", "v1.35.0", "<none>", "<none>",
                      "Ubuntu 24.04.1 LTS", "6.8.0-45-generic", "containerd://2.0.0"], id="node-cordoned"),
        pytest.param("", "nodes", node_obj("w-2", ready="Unknown", labels={"kubernetes.io/role": "worker"}, info={}),
                     ["w-2", "NotReady", "worker", "45d", "", "<none>", "<none>", "<unknown>", "<unknown>",
                      "<unknown>"], id="node-not-ready-legacy-role"),
        pytest.param("", "nodes", node_obj("w-3", ready=None),
                     ["w-3", "Unknown", "<none>", "45d", "v1.35.0", "<none>", "<none>", "Ubuntu 24.04.1 LTS",
                      "6.8.0-45-generic", "containerd://2.0.0"], id="node-without-ready-condition"),
        pytest.param("apps", "deployments", {
            "metadata": meta("web", timedelta(hours=3, minutes=10)),
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "tier": "fe"},
                                                 "matchExpressions": [{"key": "env", "operator": "In",
                                                                       "values": ["prod", "canary"]}]},
                     "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"},
                                                          {"name": "log", "image": "fluent-bit:3"}]}}},
            "status": {"replicas": 3, "updatedReplicas": 3, "readyReplicas": 2, "availableReplicas": 2}},
                     ["web", "2/3", 3, 2, "3h10m", "web,log", "nginx:1.27,fluent-bit:3",
                      "app=web,env in (canary,prod),tier=fe"], id="deployment"),
        pytest.param("apps", "deployments", {"metadata": meta("new"), "spec": {"template": {}}, "status": {}},
                     ["new", "0/1", 0, 0, "5m", "", "", ""], id="deployment-defaults"),
        pytest.param("apps", "replicasets", {
            "metadata": meta("web-7d4b9c"), "spec": {"replicas": 3, "selector": {"matchLabels": {
                "app": "web", "pod-template-hash": "7d4b9c"}}, "template": {"spec": {"containers": [
                    {"name": "web", "image": "nginx:1.27"}]}}},
            "status": {"replicas": 3, "readyReplicas": 1}},
                     ["web-7d4b9c", 3, 3, 1, "5m", "web", "nginx:1.27", "app=web,pod-template-hash=7d4b9c"],
                     id="replicaset"),
        pytest.param("apps", "replicasets", {"metadata": meta("rs"), "spec": {"replicas": 0, "selector": {}}},
                     ["rs", 0, 0, 0, "5m", "", "", "<none>"], id="replicaset-empty-selector"),
        pytest.param("apps", "replicasets", {"metadata": meta("rs"), "spec": {"selector": {"matchExpressions": [
            {"key": "app", "operator": "Near", "values": ["x"]}]}}}, ["rs", 1, 0, 0, "5m", "", "", "<error>"],
                     id="replicaset-invalid-selector"),
        pytest.param("apps", "deployments", {"metadata": meta("bad"), "spec": {"replicas": 2, "selector": {
            "matchExpressions": [{"key": "app", "operator": "In", "values": []}]}}},
                     ["bad", "0/2", 0, 0, "5m", "", "", "<invalid>"], id="deployment-invalid-selector"),
        pytest.param("apps", "statefulsets", {
            "metadata": meta("db"), "spec": {"replicas": 3, "template": {"spec": {"containers": [
                {"name": "pg", "image": "postgres:17"}]}}}, "status": {"readyReplicas": 3}},
                     ["db", "3/3", "5m", "pg", "postgres:17"], id="statefulset"),
        pytest.param("apps", "daemonsets", {
            "metadata": meta("node-exporter"), "spec": {
                "selector": {"matchExpressions": [{"key": "app", "operator": "Exists"},
                                                  {"key": "legacy", "operator": "DoesNotExist"}]},
                "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"},
                                      "containers": [{"name": "exporter", "image": "node-exporter:1.8"}]}}},
            "status": {"desiredNumberScheduled": 5, "currentNumberScheduled": 5, "numberReady": 4,
                       "updatedNumberScheduled": 5, "numberAvailable": 4}},
                     ["node-exporter", 5, 5, 4, 5, 4, "kubernetes.io/os=linux", "5m", "exporter",
                      "node-exporter:1.8", "app,!legacy"], id="daemonset"),
        pytest.param("", "namespaces", {"metadata": meta("kube-system", timedelta(days=3)),
                                        "status": {"phase": "Terminating"}},
                     ["kube-system", "Terminating", "3d"], id="namespace"),
        pytest.param("", "namespaces", {"metadata": meta("fresh")}, ["fresh", "Active", "5m"],
                     id="namespace-default-phase"),
        pytest.param("", "services", {"metadata": meta("kubernetes"), "spec": {
            "type": "ClusterIP", "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"],
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}},
                     ["kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP", "5m", "<none>"],
                     id="service-clusterip"),
        pytest.param("", "services", {"metadata": meta("web"), "spec": {
            "type": "NodePort", "clusterIP": "10.96.7.7", "selector": {"app": "web", "tier": "fe"},
            "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}},
                     ["web", "NodePort", "10.96.7.7", "<none>", "80:30080/TCP,53/UDP", "5m", "app=web,tier=fe"],
                     id="service-nodeport"),
        pytest.param("", "services", {"metadata": meta("lb"), "spec": {
            "type": "LoadBalancer", "clusterIPs": ["10.96.1.1"], "ports": [{"port": 80, "nodePort": 31000}]}},
                     ["lb", "LoadBalancer", "10.96.1.1", "<pending>", "80:31000/TCP", "5m", "<none>"],
                     id="service-lb-pending"),
        pytest.param("", "services", {"metadata": meta("lb"), "status": LB_SVC_STATUS, "spec": {
            "type": "LoadBalancer", "clusterIPs": ["10.96.1.1"], "externalIPs": ["198.51.100.1"],
            "ports": [{"port": 443, "nodePort": 31443, "protocol": "TCP"}]}},
                     ["lb", "LoadBalancer", "10.96.1.1", "203.0.113.9,a.elb.example.com,198.51.100.1",
                      "443:31443/TCP", "5m", "<none>"], id="service-lb-ingress"),
        pytest.param("", "services", {"metadata": meta("db"), "spec": {"clusterIP": "None", "ports": []}},
                     ["db", "ClusterIP", "None", "<none>", "<none>", "5m", "<none>"], id="service-headless"),
        pytest.param("", "services", {"metadata": meta("ext"), "spec": {
            "type": "ExternalName", "externalName": "db.example.com"}},
                     ["ext", "ExternalName", "<none>", "db.example.com", "<none>", "5m", "<none>"],
                     id="service-externalname"),
        pytest.param("", "endpoints", {"metadata": meta("web"), "subsets": [
            {"addresses": [{"ip": f"10.244.0.{i}"} for i in range(1, 5)],
             "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]},
                     ["web", "10.244.0.1:8080,10.244.0.2:8080,10.244.0.3:8080 + 1 more...", "5m"],
                     id="endpoints-more"),
        pytest.param("", "endpoints", {"metadata": meta("v6"), "subsets": [
            {"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}, {"port": 443}]}]},
                     ["v6", "[fd00::1]:80,[fd00::1]:443", "5m"], id="endpoints-ipv6-two-ports"),
        pytest.param("", "endpoints", {"metadata": meta("headless"), "subsets": [
            {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]}]},
                     ["headless", "10.0.0.1,10.0.0.2", "5m"], id="endpoints-no-ports"),
        pytest.param("", "endpoints", {"metadata": meta("none")}, ["none", "<none>", "5m"], id="endpoints-none"),
        pytest.param("", "configmaps", {"metadata": meta("cfg"), "data": {"a": "1", "b": "2"},
                                        "binaryData": {"c": "AA=="}}, ["cfg", 3, "5m"], id="configmap"),
        pytest.param("", "secrets", {"metadata": meta("tls"), "type": "kubernetes.io/tls",
                                     "data": {"tls.crt": "LS0=", "tls.key": "LS0="}},
                     ["tls", "kubernetes.io/tls", 2, "5m"], id="secret"),
        pytest.param("", "secrets", {"metadata": meta("plain")}, ["plain", "Opaque", 0, "5m"],
                     id="secret-default-type"),
        pytest.param("", "serviceaccounts", {"metadata": meta("default"), "secrets": [{"name": "t"}]},
                     ["default", 1, "5m"], id="serviceaccount"),
        pytest.param("coordination.k8s.io", "leases", {"metadata": meta("kube-controller-manager"), "spec": {
            "holderIdentity": "cp-1_4f1e", "leaseDurationSeconds": 15}},
                     ["kube-controller-manager", "cp-1_4f1e", "5m"], id="lease"),
        pytest.param("coordination.k8s.io", "leases", {"metadata": meta("free"), "spec": {}}, ["free", "", "5m"],
                     id="lease-unheld"),
        pytest.param("policy", "poddisruptionbudgets", {"metadata": meta("web"), "spec": {"minAvailable": 2},
                                                         "status": {"disruptionsAllowed": 1}},
                     ["web", "2", "N/A", 1, "5m"], id="pdb-min"),
        pytest.param("policy", "poddisruptionbudgets", {"metadata": meta("db"), "spec": {"maxUnavailable": "25%"}},
                     ["db", "N/A", "25%", 0, "5m"], id="pdb-max-percent"),
        pytest.param("apiregistration.k8s.io", "apiservices", {"metadata": meta("v1.metrics.k8s.io"), "spec": {
            "service": {"namespace": "kube-system", "name": "metrics-server"}}, "status": {"conditions": [
                {"type": "Available", "status": "False", "reason": "MissingEndpoints"}]}},
                     ["v1.metrics.k8s.io", "kube-system/metrics-server", "False (MissingEndpoints)", "5m"],
                     id="apiservice-unavailable"),
        pytest.param("apiregistration.k8s.io", "apiservices", {"metadata": meta("v1.apps"), "spec": {}, "status": {
            "conditions": [{"type": "Available", "status": "True", "reason": "Local"}]}},
                     ["v1.apps", "Local", "True", "5m"], id="apiservice-local"),
        pytest.param("apiregistration.k8s.io", "apiservices", {"metadata": meta("v1.x"), "spec": {"service": {
            "namespace": "ns", "name": "x"}}}, ["v1.x", "ns/x", "Unknown", "5m"], id="apiservice-no-condition"),
        pytest.param("apiextensions.k8s.io", "customresourcedefinitions", {
            "metadata": meta("widgets.example.com")}, ["widgets.example.com", "2026-11-22T11:55:00Z"],
                     id="crd-default-convertor"),
        pytest.param("authentication.k8s.io", "tokenreviews", {"metadata": {"name": ""}},
                     ["", "0001-01-01T00:00:00Z"], id="default-convertor-zero-time"),
    ],
)
def test_rows(group: str, resource: str, obj: dict, expected: list) -> None:
    assert tables.row_for(rt(group, resource), obj, now=NOW) == expected


EVENT = {"apiVersion": "v1", "kind": "Event",
         "metadata": {"name": "web.17f3a", "namespace": "default", "creationTimestamp": ts(timedelta(minutes=9))},
         "involvedObject": {"kind": "HorizontalPodAutoscaler", "namespace": "default", "name": "web",
                            "apiVersion": "autoscaling/v2"},
         "reason": "SuccessfulRescale", "message": "New size: 4; reason: cpu resource utilization above target\n",
         "source": {"component": "horizontal-pod-autoscaler"}, "firstTimestamp": ts(timedelta(minutes=9)),
         "lastTimestamp": ts(timedelta(minutes=1)), "count": 3, "type": "Normal"}


@pytest.mark.parametrize(
    ("group", "obj", "expected"),
    [
        pytest.param("", EVENT, ["60s", "Normal", "SuccessfulRescale", "horizontalpodautoscaler/web", "",
                                 "horizontal-pod-autoscaler", "New size: 4; reason: cpu resource utilization above "
                                 "target", "9m", 3, "web.17f3a"], id="core"),
        pytest.param("", {**EVENT, "firstTimestamp": None, "lastTimestamp": None, "count": 0,
                          "eventTime": ts(timedelta(seconds=30)) + "", "source": {},
                          "reportingComponent": "kubelet", "reportingInstance": "node-1",
                          "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{app}"}},
                     ["30s", "Normal", "SuccessfulRescale", "pod/web-1", "spec.containers{app}", "kubelet, node-1",
                      "New size: 4; reason: cpu resource utilization above target", "30s", 1, "web.17f3a"],
                     id="new-api-singleton"),
        pytest.param("events.k8s.io", {
            "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": EVENT["metadata"],
            "eventTime": ts(timedelta(minutes=20)), "reportingController": "k8s.io/hpa", "reportingInstance": "",
            "action": "Scale", "reason": "SuccessfulRescale", "type": "Warning", "note": "note text",
            "regarding": {"kind": "Deployment", "name": "web"},
            "series": {"count": 7, "lastObservedTime": ts(timedelta(minutes=2))}},
                     ["2m", "Warning", "SuccessfulRescale", "deployment/web", "", "k8s.io/hpa", "note text", "20m", 7,
                      "web.17f3a"], id="events-k8s-io-series"),
        pytest.param("", {**EVENT, "involvedObject": {"kind": "Node"}, "firstTimestamp": None},
                     ["60s", "Normal", "SuccessfulRescale", "node", "", "horizontal-pod-autoscaler",
                      "New size: 4; reason: cpu resource utilization above target", "<unknown>", 3, "web.17f3a"],
                     id="no-name-no-first-time"),
    ],
)
def test_event_rows(group: str, obj: dict, expected: list) -> None:
    rtype = rt(group, "events")
    assert [c["name"] for c in tables.table_columns(rtype) if c["priority"] == 0] == [
        "Last Seen", "Type", "Reason", "Object", "Message"]
    assert tables.row_for(rtype, obj, now=NOW) == expected


@pytest.mark.parametrize("rtype", [pytest.param(t, id=f"{t.group or 'core'}/{t.resource}") for t in REG])
def test_every_kind_prints_a_cell_per_column_even_for_a_bare_object(rtype: resources.ResourceType) -> None:
    columns = tables.table_columns(rtype)
    assert columns[0 if rtype.kind != "Event" else -1]["format"] == "name"
    assert all(set(c) == {"name", "type", "format", "description", "priority"} for c in columns)
    assert len(tables.row_for(rtype, {"metadata": {"name": "x"}}, now=NOW)) == len(columns)


# --- custom resources ----------------------------------------------------------------------------------

WIDGET_CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
              "metadata": {"name": "widgets.example.com"},
              "spec": {"group": "example.com", "scope": "Namespaced",
                       "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                       "versions": [{"name": "v1", "served": True, "storage": True}]}}
WIDGETS = next(iter(resources.crd_resource_types(WIDGET_CRD)))
COLUMNS = [
    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
    {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio", "priority": 1},
    {"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused"},
    {"name": "Size", "type": "string", "jsonPath": ".spec.size"},
    {"name": "Labels", "type": "string", "jsonPath": ".metadata.labels"},
    {"name": "App", "type": "string", "jsonPath": ".metadata.labels.app\\.kubernetes\\.io/name"},
    {"name": "First", "type": "string", "jsonPath": ".spec.items[0].name"},
    {"name": "Seen", "type": "date", "jsonPath": ".status.lastSeen", "description": "when seen"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {"name": "Other", "type": "string", "jsonPath": ".status.conditions[?(@.type!='Ready')].type"},
    {"name": "PausedText", "type": "string", "jsonPath": ".spec['paused']"},
]
WIDGET = {"apiVersion": "example.com/v1", "kind": "Widget",
          "metadata": meta("w1", timedelta(hours=4), labels={"app.kubernetes.io/name": "shop", "b": "<x>"}),
          "spec": {"replicas": 3.0, "ratio": 2, "paused": False, "size": 1.5e6, "items": [{"name": "a"}]},
          "status": {"conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}],
                     "lastSeen": "yesterday"}}


def test_custom_resource_printer_columns() -> None:
    cols = tables.table_columns(WIDGETS, printer_columns=COLUMNS)
    assert [(c["name"], c["type"], c["priority"]) for c in cols][:4] == [
        ("Name", "string", 0), ("Ready", "string", 0), ("Replicas", "integer", 0), ("Ratio", "number", 1)]
    assert cols[1]["description"] == ('Custom resource definition column (in JSONPath format): '
                                      '.status.conditions[?(@.type=="Ready")].status')
    assert cols[9]["description"] == "when seen"
    assert tables.row_for(WIDGETS, WIDGET, now=NOW, printer_columns=COLUMNS) == [
        "w1", "True", 3, 2.0, False, "1.5e+06", '{"app.kubernetes.io/name":"shop","b":"\\u003cx\\u003e"}',
        "shop", "a", "<invalid>", "4h", "Synced", "false"]
    assert tables.row_for(WIDGETS, {"metadata": {"name": "bare"}}, now=NOW, printer_columns=COLUMNS) == [
        "bare"] + [None] * 12


def test_custom_resource_without_columns_gets_age() -> None:
    assert header(WIDGETS) == [("Name", 0), ("Age", 0)]
    assert tables.table_columns(WIDGETS)[1]["type"] == "date"
    assert tables.row_for(WIDGETS, WIDGET, now=NOW) == ["w1", "4h"]


# --- the Table document --------------------------------------------------------------------------------


def test_table_document_with_metadata_objects_and_pod_conditions() -> None:
    done = make_pod(phase="Succeeded", statuses=[container_status(state={"terminated": {"exitCode": 0,
                                                                                          "reason": "Completed"}})])
    running = make_pod(statuses=[container_status(ready=True, state=RUNNING)], conditions=READY)
    table = tables.to_table(rt("", "pods"), [running, done], now=NOW,
                            list_meta={"resourceVersion": "812", "continue": "abc", "remainingItemCount": 5})
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "812", "continue": "abc", "remainingItemCount": 5}
    assert [c["name"] for c in table["columnDefinitions"]][:5] == ["Name", "Ready", "Status", "Restarts", "Age"]
    first, second = table["rows"]
    assert "conditions" not in first
    assert second["conditions"] == [{"type": "Completed", "status": "True", "reason": "Succeeded",
                                     "message": "The pod has completed successfully."}]
    assert first["object"] == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                               "metadata": running["metadata"]}
    assert list(first) == ["cells", "object"] and list(second) == ["cells", "conditions", "object"]


@pytest.mark.parametrize(
    ("include", "expected"),
    [
        pytest.param("None", None, id="none"),
        pytest.param("Object", {**WIDGET, "apiVersion": "example.com/v1", "kind": "Widget"}, id="object"),
        pytest.param("", {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1beta1",
                          "metadata": WIDGET["metadata"]}, id="empty-means-metadata"),
    ],
)
def test_include_object(include: str, expected: Any) -> None:
    table = tables.to_table(WIDGETS, [WIDGET], now=NOW, include_object=include, api_version="v1",
                            table_version="v1" if include else "v1beta1")
    assert table["rows"][0]["object"] == expected


def test_include_object_rejects_unknown_values() -> None:
    with pytest.raises(errors.ApiError) as err:
        tables.to_table(WIDGETS, [WIDGET], now=NOW, include_object="Everything")
    assert err.value.code == 400
    assert err.value.message == 'unrecognized includeObject value: "Everything"'


def test_watch_events_after_the_first_have_no_headers_and_carry_the_object_version() -> None:
    table = tables.to_table(rt("apps", "deployments"), [{"metadata": meta("web")}], now=NOW, no_headers=True)
    assert table["columnDefinitions"] is None
    assert table["metadata"] == {"resourceVersion": "42"}
    assert table["rows"][0]["cells"][0] == "web"


@pytest.mark.parametrize(
    ("rtype", "rows"),
    [
        pytest.param(rt("apiextensions.k8s.io", "customresourcedefinitions"), None, id="default-convertor-nil"),
        pytest.param(rt("", "pods"), [], id="printer-empty"),
        pytest.param(WIDGETS, [], id="custom-empty"),
    ],
)
def test_empty_lists(rtype: resources.ResourceType, rows: Any) -> None:
    table = tables.to_table(rtype, [], now=NOW, list_meta={"resourceVersion": "9"})
    assert table["rows"] == rows
    assert table["metadata"] == {"resourceVersion": "9"}


def test_default_convertor_columns() -> None:
    crds = rt("apiextensions.k8s.io", "customresourcedefinitions")
    assert [(c["name"], c["type"], c["format"]) for c in tables.table_columns(crds)] == [
        ("Name", "string", "name"), ("Created At", "date", "")]


def test_ages_share_one_rendering_per_timestamp_and_accept_naive_now() -> None:
    pods = [make_pod(statuses=[container_status(ready=True, state=RUNNING)]) for _ in range(3)]
    table = tables.to_table(rt("", "pods"), pods, now=NOW.replace(tzinfo=None))
    assert {r["cells"][4] for r in table["rows"]} == {"5m"}
