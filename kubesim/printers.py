"""Row cells of kube-apiserver's printers.go, one function per kind, over plain JSON dicts.

Pure; no I/O. Mirrors kubernetes/kubernetes pkg/printers/internalversion/printers.go (rows are always
generated "wide", as the apiserver does), plus the formatting helpers those printers lean on:
apimachinery's `duration.HumanDuration` (here) and `resource.Quantity` canonical strings (`kubescale.quantity`).
Objects are read as a v1 client sends them; where upstream storage would have applied an API default to a
printed field (replicas 1, HPA minReplicas 1 and the 80% CPU metric, Service type ClusterIP, ...) the row
shows the defaulted value. Column definitions and Table assembly live in `kubesim.tables`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kubescale.quantity import format_quantity
from kubesim import conversion, selectors

Obj = dict[str, Any]

UNKNOWN = "<unknown>"
NONE = "<none>"
ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


def _tdiv(a: int, b: int) -> int:
    """Integer division truncating toward zero, as Go's."""
    return -(-a // b) if a < 0 else a // b


def human_duration(delta: timedelta) -> str:
    """apimachinery `duration.HumanDuration`: ~2-3 significant figures (`45s`, `2m5s`, `3h10m`, `2d5h`)."""
    ns = (delta // timedelta(microseconds=1)) * 1000
    seconds = _tdiv(ns, 10**9)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = ns // (60 * 10**9)
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = ns // (3600 * 10**9)
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (`2026-11-22T01:50:14Z`, micro-time too) as an aware datetime; None if unset."""
    if not value or not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    t = t if t.tzinfo else t.replace(tzinfo=UTC)
    return None if t == ZERO_TIME else t


class RowContext:
    """`now` plus a per-call cache of rendered ages: a big list has many objects created in the same second."""

    __slots__ = ("_ages", "now")

    def __init__(self, now: datetime) -> None:
        self.now = now if now.tzinfo else now.replace(tzinfo=UTC)
        self._ages: dict[Any, str] = {}

    def since(self, timestamp: Any) -> str:
        """`translateTimestampSince`: HumanDuration(now - timestamp), `<unknown>` when unset."""
        got = self._ages.get(timestamp)
        if got is None:
            t = parse_time(timestamp)
            got = UNKNOWN if t is None else human_duration(self.now - t)
            self._ages[timestamp] = got
        return got

    def age(self, obj: Obj) -> str:
        return self.since((obj.get("metadata") or {}).get("creationTimestamp"))


# --- cells ------------------------------------------------------------------------------------------------


def format_labels(labels: dict[str, str] | None) -> str:
    """`labels.FormatLabels`: sorted `k=v` pairs, `<none>` when empty."""
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels)) if labels else NONE


def _containers(template: Obj | None) -> tuple[str, str]:
    """`layoutContainerCells`: container names and images, comma separated."""
    cs = ((template or {}).get("spec") or {}).get("containers") or []
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


def name_of(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("name", "")


def int_field(d: Obj, key: str) -> int:
    """An integer field that Go reads as 0 when unset."""
    return d.get(key) or 0


# --- rows -------------------------------------------------------------------------------------------------


def _finished(state: Obj | None) -> datetime | None:
    term = (state or {}).get("terminated")
    return parse_time(term.get("finishedAt")) if term is not None else None


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None or (b is not None and b > a) else a


def _cond_true(conditions: list[Obj], ctype: str) -> bool:
    """Whether the first condition of `ctype` is True (isPodInitializedConditionTrue, hasPodReadyCondition)."""
    return next((c.get("status") == "True" for c in conditions if c.get("type") == ctype), False)


def _terminated_reason(term: Obj, prefix: str) -> str:
    if term.get("reason"):
        return prefix + term["reason"]
    if term.get("signal"):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{term.get('exitCode', 0)}"


def pod(obj: Obj, ctx: RowContext) -> list[Any]:
    """NAME READY STATUS RESTARTS AGE IP NODE NOMINATED-NODE READINESS-GATES, with printPod's status logic."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    conditions = status.get("conditions") or []
    init_specs = spec.get("initContainers") or []
    restartable = {c.get("name") for c in init_specs if c.get("restartPolicy") == "Always"}
    total = len(spec.get("containers") or []) + len(restartable)
    ready = restarts = sidecar_restarts = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    for c in conditions:
        if c.get("reason") == "SchedulingGated" and c.get("type") == "PodScheduled":
            reason = "SchedulingGated"

    initializing = False
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        restarts += cs.get("restartCount") or 0
        finished = _finished(cs.get("lastState"))
        last_restart = _later(last_restart, finished)
        is_sidecar = cs.get("name") in restartable
        if is_sidecar:
            sidecar_restarts += cs.get("restartCount") or 0
            last_sidecar_restart = _later(last_sidecar_restart, finished)
        state = cs.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting")
        if term is not None and not term.get("exitCode"):
            continue
        if is_sidecar and cs.get("started"):
            ready += bool(cs.get("ready"))
            continue
        if term is not None:
            reason = _terminated_reason(term, "Init:")
        elif waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _cond_true(conditions, "Initialized"):
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += cs.get("restartCount") or 0
            last_restart = _later(last_restart, _finished(cs.get("lastState")))
            state = cs.get("state") or {}
            term, waiting = state.get("terminated"), state.get("waiting")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif term is not None:
                reason = _terminated_reason(term, "")
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _cond_true(conditions, "Ready") else "NotReady"

    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"

    restarts_cell = str(restarts)
    if restarts and last_restart is not None:
        restarts_cell = f"{restarts} ({human_duration(ctx.now - last_restart)} ago)"

    ips = status.get("podIPs") or []
    pod_ip = (ips[0].get("ip") if ips else status.get("podIP")) or NONE
    gates_cell = NONE
    if gates := spec.get("readinessGates"):
        by_type = {}
        for c in conditions:
            by_type.setdefault(c.get("type"), c.get("status"))
        true = sum(1 for g in gates if by_type.get(g.get("conditionType")) == "True")
        gates_cell = f"{true}/{len(gates)}"
    return [name_of(obj), f"{ready}/{total}", reason, restarts_cell, ctx.age(obj),
            pod_ip, spec.get("nodeName") or NONE, status.get("nominatedNodeName") or NONE, gates_cell]


_POD_SUCCEEDED = [{"type": "Completed", "status": "True", "reason": "Succeeded",
                   "message": "The pod has completed successfully."}]
_POD_FAILED = [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]


def pod_conditions(obj: Obj) -> list[Obj] | None:
    """The row conditions printPod sets: `Completed` for a pod that succeeded or failed."""
    phase = (obj.get("status") or {}).get("phase")
    return _POD_SUCCEEDED if phase == "Succeeded" else _POD_FAILED if phase == "Failed" else None


def node(obj: Obj, ctx: RowContext) -> list[Any]:
    """NAME STATUS ROLES AGE VERSION INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION CONTAINER-RUNTIME."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ready = None
    for c in status.get("conditions") or []:
        if c.get("type") == "Ready":
            ready = c  # the last one wins, as with the upstream condition map
    states = ["Unknown" if ready is None else "Ready" if ready.get("status") == "True" else "NotReady"]
    if spec.get("unschedulable"):
        states.append("SchedulingDisabled")
    roles = set()
    for k, v in ((obj.get("metadata") or {}).get("labels") or {}).items():
        if k.startswith("node-role.kubernetes.io/"):
            if role := k[len("node-role.kubernetes.io/"):]:
                roles.add(role)
        elif k == "kubernetes.io/role" and v:
            roles.add(v)
    info = status.get("nodeInfo") or {}
    addresses = status.get("addresses") or []
    internal = next((a.get("address") for a in addresses if a.get("type") == "InternalIP"), NONE)
    external = next((a.get("address") for a in addresses if a.get("type") == "ExternalIP"), NONE)
    return [name_of(obj), ",".join(states), ",".join(sorted(roles)) or NONE, ctx.age(obj),
            info.get("kubeletVersion", ""), internal, external, info.get("osImage") or UNKNOWN,
            info.get("kernelVersion") or UNKNOWN, info.get("containerRuntimeVersion") or UNKNOWN]


def _replicas(spec: Obj) -> int:
    r = spec.get("replicas")
    return 1 if r is None else r


def deployment(obj: Obj, ctx: RowContext) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(spec.get("template"))
    try:
        selector = selectors.selector_dict_to_string(spec.get("selector"))
    except selectors.SelectorError:
        selector = "<invalid>"
    return [name_of(obj), f"{int_field(status, 'readyReplicas')}/{_replicas(spec)}",
            int_field(status, "updatedReplicas"), int_field(status, "availableReplicas"), ctx.age(obj), names, images,
            selector]


def replica_set(obj: Obj, ctx: RowContext) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(spec.get("template"))
    return [name_of(obj), _replicas(spec), int_field(status, "replicas"), int_field(status, "readyReplicas"),
            ctx.age(obj), names, images, selectors.format_label_selector(spec.get("selector"))]


def stateful_set(obj: Obj, ctx: RowContext) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    names, images = _containers(spec.get("template"))
    return [name_of(obj), f"{int_field(status, 'readyReplicas')}/{_replicas(spec)}", ctx.age(obj), names, images]


def daemon_set(obj: Obj, ctx: RowContext) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    template = spec.get("template") or {}
    names, images = _containers(template)
    return [name_of(obj), int_field(status, "desiredNumberScheduled"), int_field(status, "currentNumberScheduled"),
            int_field(status, "numberReady"), int_field(status, "updatedNumberScheduled"),
            int_field(status, "numberAvailable"), format_labels((template.get("spec") or {}).get("nodeSelector")),
            ctx.age(obj), names, images, selectors.format_label_selector(spec.get("selector"))]


_DEFAULT_HPA_METRICS = [{"type": "Resource",
                         "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]


def _hpa_metrics(obj: Obj) -> tuple[list[Obj], list[Obj]]:
    """(spec.metrics, status.currentMetrics) as the internal type has them, also from an autoscaling/v1 object."""
    if obj.get("apiVersion") == conversion.HPA_V1:
        obj = conversion.convert({**obj, "kind": conversion.HPA}, to_api_version=conversion.HPA_V2)
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return spec.get("metrics") or _DEFAULT_HPA_METRICS, status.get("currentMetrics") or []


def _current(statuses: list[Obj], i: int, source: str) -> Obj | None:
    """`statuses[i].<Source>.Current` when that status entry exists (matched by position, as upstream)."""
    if i < len(statuses) and statuses[i].get(source) is not None:
        return statuses[i][source].get("current") or {}
    return None


def hpa_targets(specs: list[Obj], statuses: list[Obj]) -> str:
    """`formatHPAMetrics`: `cpu: 45%/50%`, `500Mi/1Gi (avg)`, `<unknown>` currents, `+ N more...` after two."""
    if not specs:
        return NONE
    cells: list[str] = []
    for i, m in enumerate(specs):
        kind = m.get("type")
        source = {"External": "external", "Object": "object", "Pods": "pods", "Resource": "resource",
                  "ContainerResource": "containerResource"}.get(kind)
        if source is None:
            cells.append("<unknown type>")
            continue
        src = m.get(source) or {}
        target = src.get("target") or {}
        cur = _current(statuses, i, source)
        if source in ("external", "object"):
            if target.get("averageValue") is not None:
                value = UNKNOWN if cur is None or cur.get("averageValue") is None else format_quantity(
                    cur["averageValue"])
                cells.append(f"{value}/{format_quantity(target['averageValue'])} (avg)")
            else:
                value = UNKNOWN if cur is None else format_quantity(cur.get("value"))
                cells.append(f"{value}/{format_quantity(target.get('value'))}")
        elif source == "pods":
            value = UNKNOWN if cur is None else format_quantity(cur.get("averageValue"))
            cells.append(f"{value}/{format_quantity(target.get('averageValue'))}")
        elif target.get("averageValue") is not None:
            value = UNKNOWN if cur is None else format_quantity(cur.get("averageValue"))
            cells.append(f"{src.get('name', '')}: {value}/{format_quantity(target['averageValue'])}")
        else:
            util = None if cur is None else cur.get("averageUtilization")
            want = target.get("averageUtilization")
            cells.append(f"{src.get('name', '')}: {UNKNOWN if util is None else f'{util}%'}/"
                         f"{'<auto>' if want is None else f'{want}%'}")
    text = ", ".join(cells[:2])
    return f"{text} + {len(cells) - 2} more..." if len(cells) > 2 else text


def horizontal_pod_autoscaler(obj: Obj, ctx: RowContext) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    ref = spec.get("scaleTargetRef") or {}
    min_replicas = spec.get("minReplicas")
    return [name_of(obj), f"{ref.get('kind', '')}/{ref.get('name', '')}", hpa_targets(*_hpa_metrics(obj)),
            str(1 if min_replicas is None else min_replicas), int_field(spec, "maxReplicas"),
            int_field(status, "currentReplicas"), ctx.age(obj)]


def event(obj: Obj, ctx: RowContext) -> list[Any]:
    """LAST SEEN TYPE REASON OBJECT SUBOBJECT SOURCE MESSAGE FIRST SEEN COUNT NAME."""
    ev = obj
    if obj.get("apiVersion") == conversion.EVENT_EVENTS:  # printed from the internal (core-shaped) fields
        ev = conversion.convert({**obj, "kind": conversion.EVENT}, to_api_version=conversion.EVENT_CORE)
    first = ctx.since(ev.get("firstTimestamp")) if parse_time(ev.get("firstTimestamp")) else ctx.since(
        ev.get("eventTime"))
    last = ctx.since(ev.get("lastTimestamp")) if parse_time(ev.get("lastTimestamp")) else first
    count = ev.get("count") or 0
    if (series := ev.get("series")) is not None:
        last, count = ctx.since(series.get("lastObservedTime")), series.get("count", 0)
    elif count == 0:
        count = 1
    involved = ev.get("involvedObject") or {}
    kind = (involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = ev.get("source") or {}
    component = source.get("component") or ev.get("reportingComponent") or ""
    host = source.get("host") or ev.get("reportingInstance") or ""
    return [last, ev.get("type") or "", ev.get("reason") or "", target, involved.get("fieldPath") or "",
            f"{component}, {host}" if host else component, (ev.get("message") or "").strip(), first, count,
            name_of(obj)]


def namespace(obj: Obj, ctx: RowContext) -> list[Any]:
    return [name_of(obj), (obj.get("status") or {}).get("phase") or "Active", ctx.age(obj)]


def _external_ip(spec: Obj, status: Obj) -> str:
    svc_type = spec.get("type") or "ClusterIP"
    external = spec.get("externalIPs") or []
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external) or NONE
    if svc_type == "LoadBalancer":
        ingress = ((status.get("loadBalancer") or {}).get("ingress")) or []
        lb = sorted({i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")})
        return ",".join(lb + external) or "<pending>"
    if svc_type == "ExternalName":
        return spec.get("externalName", "")
    return UNKNOWN


def service(obj: Obj, ctx: RowContext) -> list[Any]:
    """NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE SELECTOR."""
    spec = obj.get("spec") or {}
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    ports = []
    for p in spec.get("ports") or []:
        proto = p.get("protocol") or "TCP"
        node_port = p.get("nodePort") or 0
        ports.append(f"{p.get('port', 0)}:{node_port}/{proto}" if node_port > 0 else f"{p.get('port', 0)}/{proto}")
    return [name_of(obj), spec.get("type") or "ClusterIP", cluster_ips[0] if cluster_ips else NONE,
            _external_ip(spec, obj.get("status") or {}), ",".join(ports) or NONE, ctx.age(obj),
            format_labels(spec.get("selector"))]


def _host_port(ip: str, port: Any) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def endpoints(obj: Obj, ctx: RowContext) -> list[Any]:
    """NAME ENDPOINTS AGE; at most three addresses then `+ N more...`."""
    subsets = obj.get("subsets") or []
    if not subsets:
        return [name_of(obj), NONE, ctx.age(obj)]
    shown: list[str] = []
    count, more = 0, False
    for ss in subsets:
        addresses = ss.get("addresses") or []
        for port in ss.get("ports") or [None]:
            count += len(addresses)
            for a in addresses:
                if len(shown) == 3:
                    more = True
                    break
                ip = a.get("ip", "")
                shown.append(ip if port is None else _host_port(ip, port.get("port", 0)))
    text = ",".join(shown)
    return [name_of(obj), f"{text} + {count - 3} more..." if more else text, ctx.age(obj)]


def config_map(obj: Obj, ctx: RowContext) -> list[Any]:
    return [name_of(obj), len(obj.get("data") or {}) + len(obj.get("binaryData") or {}), ctx.age(obj)]


def secret(obj: Obj, ctx: RowContext) -> list[Any]:
    return [name_of(obj), obj.get("type") or "Opaque", len(obj.get("data") or {}), ctx.age(obj)]


def service_account(obj: Obj, ctx: RowContext) -> list[Any]:
    return [name_of(obj), len(obj.get("secrets") or []), ctx.age(obj)]


def lease(obj: Obj, ctx: RowContext) -> list[Any]:
    return [name_of(obj), (obj.get("spec") or {}).get("holderIdentity") or "", ctx.age(obj)]


def pod_disruption_budget(obj: Obj, ctx: RowContext) -> list[Any]:
    spec = obj.get("spec") or {}
    lo, hi = spec.get("minAvailable"), spec.get("maxUnavailable")
    return [name_of(obj), "N/A" if lo is None else str(lo), "N/A" if hi is None else str(hi),
            int_field(obj.get("status") or {}, "disruptionsAllowed"), ctx.age(obj)]
