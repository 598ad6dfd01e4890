"""`kubescale hpa explain CASE`: replay one HPA sync offline. A case document (YAML or JSON) holds what the
controller would see — `now`, `settings`, the `hpa` manifest as a user wrote it (v1 or v2; the API server's
defaulting is applied), the target's `scale`, the `pods`, `podMetrics`, `customMetrics`, `externalMetrics` and the
controller's `history` — and the answer is decide.decide's Decision as JSON.

Pure apart from reading the case file; case errors raise CaseError naming the field path. Not here: the
`--from-cluster` mode (it needs the controller's API client).

    load_case(doc) -> decide.SyncInput
    render(decision) -> dict
    explain(doc) -> dict
    explain_file(path) -> dict
    register(subparsers)      (adds `hpa explain CASE` to the kubescale CLI)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from autoscaler.hpa import decide, defaulting, metricspecs, model
from autoscaler.hpa.behavior import Recommendation, ScaleEvent
from kubescale.durations import parse_go_duration_ns
from kubescale.quantity import QuantityError, milli_value
from kubesim.selectors import LabelSelector, SelectorError, label_selector_from_dict, parse_label_selector


class CaseError(ValueError):
    """A case document that cannot be replayed; the message starts with the field path."""


CASE_FIELDS = ("now", "settings", "hpa", "scale", "pods", "podMetrics", "customMetrics", "externalMetrics", "history")
SETTINGS_FIELDS = ("tolerance", "cpuInitializationPeriod", "initialReadinessDelay", "downscaleStabilization")
HISTORY_FIELDS = ("recommendations", "scaleUpEvents", "scaleDownEvents")


def _known(raw: Mapping[str, Any], path: str, fields: Sequence[str]) -> None:
    """Unknown keys are typos (keys starting with "_" are comments)."""
    for key in raw:
        if key not in fields and not str(key).startswith("_"):
            where = f"{path}.{key}" if path else str(key)
            raise CaseError(f"{where}: unknown field (expected one of: {', '.join(fields)})")


# ---- field readers ----

def _obj(raw: Any, path: str) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise CaseError(f"{path}: expected an object, got {raw!r}")
    return raw


def _list(raw: Any, path: str) -> Sequence[Any]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise CaseError(f"{path}: expected a list, got {raw!r}")
    return raw


def _time(raw: Any, path: str) -> float:
    if isinstance(raw, datetime):  # YAML reads unquoted timestamps itself
        return (raw if raw.tzinfo else raw.replace(tzinfo=UTC)).timestamp()
    if not isinstance(raw, str):
        raise CaseError(f"{path}: expected an RFC 3339 time, got {raw!r}")
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise CaseError(f"{path}: expected an RFC 3339 time, got {raw!r}") from None
    if parsed.tzinfo is None:
        raise CaseError(f"{path}: an RFC 3339 time needs a zone offset (e.g. Z), got {raw!r}")
    return parsed.timestamp()


def _opt_time(raw: Any, path: str) -> float | None:
    return None if raw is None else _time(raw, path)


def _duration(raw: Any, path: str) -> float:
    """A Go duration ("5m", "1m30s") or a number of seconds."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    if not isinstance(raw, str):
        raise CaseError(f"{path}: expected a duration such as 30s, got {raw!r}")
    try:
        return parse_go_duration_ns(raw) / 1e9
    except ValueError as e:
        raise CaseError(f"{path}: {e}") from None


def _int(raw: Any, path: str, default: int | None = None) -> int:
    if raw is None and default is not None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise CaseError(f"{path}: expected an integer, got {raw!r}")
    return raw


def _milli(raw: Any, path: str) -> int:
    try:
        return milli_value(raw)
    except (QuantityError, TypeError, ValueError) as e:
        raise CaseError(f"{path}: invalid quantity {raw!r}: {e}") from None


def _quantities(raw: Any, path: str) -> dict[str, int]:
    return {str(k): _milli(v, f"{path}.{k}") for k, v in _obj(raw, path).items()}


def _selector_from_dict(raw: Any, path: str) -> LabelSelector:
    try:
        return label_selector_from_dict(_obj(raw, path))
    except SelectorError as e:
        raise CaseError(f"{path}: {e}") from None


# ---- sections ----

def _settings(raw: Any) -> decide.Settings:
    s = _obj(raw, "settings")
    _known(s, "settings", SETTINGS_FIELDS)
    d = decide.Settings()
    tolerance = s.get("tolerance", d.tolerance)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)):
        raise CaseError(f"settings.tolerance: expected a number, got {tolerance!r}")

    def dur(key: str, default: float) -> float:
        return default if s.get(key) is None else _duration(s[key], f"settings.{key}")

    return decide.Settings(float(tolerance), dur("cpuInitializationPeriod", d.cpu_initialization_period_s),
                           dur("initialReadinessDelay", d.initial_readiness_delay_s),
                           dur("downscaleStabilization", d.downscale_stabilization_s))


def _containers(raw: Any, path: str) -> tuple[model.ContainerInfo, ...]:
    out = []
    for i, c in enumerate(_list(raw, path)):
        c = _obj(c, f"{path}[{i}]")
        requests = _quantities(_obj(c.get("resources"), f"{path}[{i}].resources").get("requests"),
                               f"{path}[{i}].resources.requests")
        out.append(model.ContainerInfo(str(c.get("name", "")), requests, c.get("restartPolicy")))
    return tuple(out)


def _pod(raw: Any, path: str) -> tuple[str, dict[str, str], model.PodInfo]:
    """(namespace, labels, PodInfo) of a v1 Pod."""
    p = _obj(raw, path)
    meta, spec, status = (_obj(p.get(k), f"{path}.{k}") for k in ("metadata", "spec", "status"))
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise CaseError(f"{path}.metadata.name: required string, got {name!r}")
    ready, ready_since = None, model.ZERO_TIME
    for i, c in enumerate(_list(status.get("conditions"), f"{path}.status.conditions")):
        c = _obj(c, f"{path}.status.conditions[{i}]")
        if c.get("type") == "Ready":
            ready = str(c.get("status", ""))
            if c.get("lastTransitionTime") is not None:
                ready_since = _time(c["lastTransitionTime"], f"{path}.status.conditions[{i}].lastTransitionTime")
    info = model.PodInfo(
        name=name, phase=str(status.get("phase", "")), ready=ready, ready_transition_s=ready_since,
        start_time_s=_opt_time(status.get("startTime"), f"{path}.status.startTime"),
        deleting=meta.get("deletionTimestamp") is not None,
        containers=_containers(spec.get("containers"), f"{path}.spec.containers"),
        init_containers=_containers(spec.get("initContainers"), f"{path}.spec.initContainers"),
        pod_requests_milli=_quantities(_obj(spec.get("resources"), f"{path}.spec.resources").get("requests"),
                                       f"{path}.spec.resources.requests"),
        overhead_milli=_quantities(spec.get("overhead"), f"{path}.spec.overhead"))
    labels = {str(k): str(v) for k, v in _obj(meta.get("labels"), f"{path}.metadata.labels").items()}
    return str(meta.get("namespace") or ""), labels, info


def _pod_metrics(raw: Any, namespace: str, selected: Mapping[str, dict[str, str]],
                 selector: LabelSelector) -> model.ResourceMetricsFetch:
    """The PodMetrics list for the scale selector: the namespace's items whose labels (theirs, else the pod's)
    match, in case order."""
    items = []
    for i, m in enumerate(_list(raw, "podMetrics")):
        path = f"podMetrics[{i}]"
        m = _obj(m, path)
        meta = _obj(m.get("metadata"), f"{path}.metadata")
        name, ns = str(meta.get("name", "")), str(meta.get("namespace") or namespace)
        labels = meta.get("labels") if meta.get("labels") is not None else selected.get(name)
        if ns != namespace or labels is None or not selector.matches(labels):
            continue
        containers = tuple(
            model.ContainerUsage(str(_obj(c, f"{path}.containers[{j}]").get("name", "")),
                                 _quantities(c.get("usage"), f"{path}.containers[{j}].usage"))
            for j, c in enumerate(_list(m.get("containers"), f"{path}.containers")))
        window = _duration(m.get("window", "0s"), f"{path}.window")
        items.append(model.PodMetricSample(name, _time(m.get("timestamp"), f"{path}.timestamp"), window,
                                           containers, ns))
    return model.ResourceMetricsFetch(tuple(items))


def _custom(raw: Any) -> list[tuple[str, Mapping[str, Any]]]:
    return [(f"customMetrics[{i}]", _obj(m, f"customMetrics[{i}]")) for i, m in enumerate(_list(raw, "customMetrics"))]


def _described(m: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    return _obj(m.get("describedObject"), f"{path}.describedObject")


def _metric_name(m: Mapping[str, Any], path: str) -> str:
    return str(_obj(m.get("metric"), f"{path}.metric").get("name", ""))


def _fetch(spec: model.MetricSpec, case: Mapping[str, Any], *, namespace: str,
           selected: Mapping[str, dict[str, str]], selector: LabelSelector) -> model.MetricFetch:
    if spec.type in (model.RESOURCE, model.CONTAINER_RESOURCE):
        return _pod_metrics(case.get("podMetrics"), namespace, selected, selector)
    if spec.type == model.PODS and spec.pods is not None:
        name = spec.pods.metric.name
        values = []
        for path, m in _custom(case.get("customMetrics")):
            d = _described(m, path)
            if (d.get("kind") == "Pod" and str(d.get("name")) in selected
                    and str(d.get("namespace") or namespace) == namespace and _metric_name(m, path) == name):
                window = m.get("windowSeconds")
                values.append(model.PodMetricValue(
                    str(d.get("name")), _milli(m.get("value"), f"{path}.value"),
                    _time(m.get("timestamp"), f"{path}.timestamp"),
                    None if window is None else float(_int(window, f"{path}.windowSeconds"))))
        return model.PodsMetricsFetch(tuple(values))
    if spec.type == model.OBJECT and spec.object is not None:
        ref, name = spec.object.described_object, spec.object.metric.name
        for path, m in _custom(case.get("customMetrics")):
            d = _described(m, path)
            if (d.get("kind") == ref.kind and d.get("name") == ref.name and _metric_name(m, path) == name
                    and (not ref.api_version or d.get("apiVersion") in (None, ref.api_version))):
                return model.ObjectMetricFetch(_milli(m.get("value"), f"{path}.value"),
                                               _time(m.get("timestamp"), f"{path}.timestamp"))
        return model.ObjectMetricFetch(error=f"the server could not find the metric {name} for {ref.kind} {ref.name}")
    if spec.type == model.EXTERNAL and spec.external is not None:
        name, sel = spec.external.metric.name, spec.external.metric.selector
        wanted = LabelSelector.everything() if sel is None else label_selector_from_dict(
            {"matchLabels": dict(sel.match_labels),
             "matchExpressions": [{"key": r.key, "operator": r.operator, "values": list(r.values)}
                                  for r in sel.match_expressions]})
        values, first_ts = [], model.ZERO_TIME
        for i, m in enumerate(_list(case.get("externalMetrics"), "externalMetrics")):
            path = f"externalMetrics[{i}]"
            m = _obj(m, path)
            labels = {str(k): str(v) for k, v in _obj(m.get("metricLabels"), f"{path}.metricLabels").items()}
            if m.get("metricName") == name and wanted.matches(labels):
                if not values:
                    first_ts = _time(m.get("timestamp"), f"{path}.timestamp")
                values.append(_milli(m.get("value"), f"{path}.value"))
        return model.ExternalMetricsFetch(tuple(values), first_ts)
    return model.ResourceMetricsFetch()  # an unknown metric type fails in the calculator before reading this


def _history(raw: Any) -> decide.History:
    h = _obj(raw, "history")
    _known(h, "history", HISTORY_FIELDS)

    def entries(key: str) -> list[tuple[str, Mapping[str, Any]]]:
        return [(f"history.{key}[{i}]", _obj(e, f"history.{key}[{i}]")) for i, e in enumerate(_list(h.get(key),
                                                                                                      f"history.{key}"))]

    recs = None
    if h.get("recommendations") is not None:
        recs = tuple(Recommendation(_time(e.get("timestamp"), f"{p}.timestamp"), _int(e.get("replicas"),
                                                                                      f"{p}.replicas"))
                     for p, e in entries("recommendations"))

    def events(key: str) -> tuple[ScaleEvent, ...]:
        return tuple(ScaleEvent(_time(e.get("timestamp"), f"{p}.timestamp"), _int(e.get("replicas"), f"{p}.replicas"),
                                bool(e.get("outdated", False))) for p, e in entries(key))

    return decide.History(recs, events("scaleUpEvents"), events("scaleDownEvents"))


def load_case(doc: Any) -> decide.SyncInput:
    """The SyncInput a case document describes; raises CaseError."""
    case = _obj(doc, "case")
    _known(case, "", CASE_FIELDS)
    now = _time(case.get("now"), "now")
    try:
        hpa = defaulting.stored_v2(dict(_obj(case.get("hpa"), "hpa")))
        specs = metricspecs.parse_metric_specs(defaulting.parse_spec(hpa).metrics)
    except (defaulting.ManifestError, metricspecs.MetricSpecError) as e:
        raise CaseError(f"hpa: {e}") from None
    namespace = str((hpa.get("metadata") or {}).get("namespace") or "default")
    scale = _obj(case.get("scale"), "scale")
    scale_spec, scale_status = _obj(scale.get("spec"), "scale.spec"), _obj(scale.get("status"), "scale.status")
    selector_text = scale_status.get("selector", "")
    if not isinstance(selector_text, str):
        raise CaseError(f"scale.status.selector: expected a string, got {selector_text!r}")
    selector_error, selector = None, LabelSelector.nothing()
    try:
        selector = parse_label_selector(selector_text) if selector_text else LabelSelector.nothing()
    except SelectorError as e:
        selector_error = str(e)
    pods, selected = [], {}
    for i, raw in enumerate(_list(case.get("pods"), "pods")):
        ns, labels, info = _pod(raw, f"pods[{i}]")
        if (ns or namespace) == namespace and selector.matches(labels):
            pods.append(info)
            selected[info.name] = labels
    fetched = tuple(_fetch(s, case, namespace=namespace, selected=selected, selector=selector) for s in specs)
    return decide.SyncInput(
        hpa=hpa, scale=decide.Scale(_int(scale_spec.get("replicas"), "scale.spec.replicas", 0),
                                    _int(scale_status.get("replicas"), "scale.status.replicas", 0), selector_text),
        pods=tuple(pods), metrics=fetched, now=now, history=_history(case.get("history")),
        settings=_settings(case.get("settings")), selector_error=selector_error)


# ---- output ----

def _entries(items: Sequence[Recommendation] | Sequence[ScaleEvent]) -> list[dict[str, Any]]:
    out = []
    for e in items:
        replicas = e.replicas if isinstance(e, Recommendation) else e.replica_change
        entry: dict[str, Any] = {"replicas": replicas, "timestamp": decide.rfc3339(e.timestamp)}
        if isinstance(e, ScaleEvent) and e.outdated:
            entry["outdated"] = True
        out.append(entry)
    return out


def render(decision: decide.Decision) -> dict[str, Any]:
    """The JSON `hpa explain` prints."""
    h = decision.history
    return {
        "currentReplicas": decision.current_replicas,
        "desiredReplicas": decision.desired_replicas,
        "rescale": decision.rescale,
        "reason": decision.reason,
        "metrics": [{"type": m.type, "name": m.name, "replicas": m.replicas, "current": m.current, "error": m.error}
                    for m in decision.metrics],
        "conditions": decision.status.get("conditions", []),
        "events": [{"type": e.type, "reason": e.reason, "message": e.message} for e in decision.events],
        "history": {"recommendations": None if h.recommendations is None else _entries(h.recommendations),
                    "scaleUpEvents": _entries(h.scale_up_events),
                    "scaleDownEvents": _entries(h.scale_down_events)},
    }


def explain(doc: Any) -> dict[str, Any]:
    return render(decide.decide(load_case(doc)))


def explain_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON case (JSON is YAML) and explain it; raises CaseError (also for unreadable files)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise CaseError(f"{path}: {e.strerror}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise CaseError(f"{path}: not YAML or JSON: {e}") from None
    return explain(doc)


def _run_explain(args: argparse.Namespace) -> int:
    try:
        result = explain_file(args.case)
    except CaseError as e:
        print(f"kubescale hpa explain: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `hpa explain CASE` to the `kubescale` subcommands."""
    hpa = subparsers.add_parser("hpa", help="the horizontal pod autoscaler",
                                description="The HorizontalPodAutoscaler controller and its tools.")
    commands = hpa.add_subparsers(dest="hpa_command", required=True, metavar="explain")
    ex = commands.add_parser("explain", help="print the decision one HPA sync would make for a case file",
                             description="Replay one HPA sync offline: read a YAML or JSON case and print the "
                                         "decision (replicas, conditions, events, history) as JSON.")
    ex.add_argument("case", metavar="CASE", help="the case file (YAML or JSON)")
    ex.set_defaults(func=_run_explain)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubescale")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
