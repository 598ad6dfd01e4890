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
    run_case(path) -> int     (what `kubescale hpa explain CASE` runs)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from autoscaler.hpa import decide, defaulting, metricspecs, model
from autoscaler.hpa.apiread import (
    CustomValue,
    ReadError,
    custom_value,
    duration_s,
    external_value,
    integer,
    lst,
    metric_selector,
    obj,
    pod,
    pod_metric_sample,
    time_s,
)
from autoscaler.hpa.behavior import Recommendation, ScaleEvent
from kubesim.selectors import LabelSelector, SelectorError, parse_label_selector

# A case document that cannot be replayed; the message starts with the field path.
CaseError = ReadError


CASE_FIELDS = ("now", "settings", "hpa", "scale", "pods", "podMetrics", "customMetrics", "externalMetrics", "history")
SETTINGS_FIELDS = ("tolerance", "cpuInitializationPeriod", "initialReadinessDelay", "downscaleStabilization")
HISTORY_FIELDS = ("recommendations", "scaleUpEvents", "scaleDownEvents")


def _known(raw: Mapping[str, Any], path: str, fields: Sequence[str]) -> None:
    """Unknown keys are typos (keys starting with "_" are comments)."""
    for key in raw:
        if key not in fields and not str(key).startswith("_"):
            where = f"{path}.{key}" if path else str(key)
            raise CaseError(f"{where}: unknown field (expected one of: {', '.join(fields)})")


# ---- sections ----

def _settings(raw: Any) -> decide.Settings:
    s = obj(raw, "settings")
    _known(s, "settings", SETTINGS_FIELDS)
    d = decide.Settings()
    tolerance = s.get("tolerance", d.tolerance)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)):
        raise CaseError(f"settings.tolerance: expected a number, got {tolerance!r}")

    def dur(key: str, default: float) -> float:
        return default if s.get(key) is None else duration_s(s[key], f"settings.{key}")

    return decide.Settings(float(tolerance), dur("cpuInitializationPeriod", d.cpu_initialization_period_s),
                           dur("initialReadinessDelay", d.initial_readiness_delay_s),
                           dur("downscaleStabilization", d.downscale_stabilization_s))


def _pod_metrics(raw: Any, namespace: str, selected: Mapping[str, dict[str, str]],
                 selector: LabelSelector) -> model.ResourceMetricsFetch:
    """The PodMetrics list for the scale selector: the namespace's items whose labels (theirs, else the pod's)
    match, in case order."""
    items = []
    for i, raw_item in enumerate(lst(raw, "podMetrics")):
        m = pod_metric_sample(raw_item, f"podMetrics[{i}]", namespace=namespace)
        labels = obj(obj(raw_item, "").get("metadata"), "").get("labels")
        labels = labels if labels is not None else selected.get(m.pod)
        if m.namespace == namespace and labels is not None and selector.matches(labels):
            items.append(m)
    return model.ResourceMetricsFetch(tuple(items))


def _custom(raw: Any) -> list[CustomValue]:
    return [custom_value(m, f"customMetrics[{i}]") for i, m in enumerate(lst(raw, "customMetrics"))]


def _fetch(spec: model.MetricSpec, case: Mapping[str, Any], *, namespace: str,
           selected: Mapping[str, dict[str, str]], selector: LabelSelector) -> model.MetricFetch:
    if spec.type in (model.RESOURCE, model.CONTAINER_RESOURCE):
        return _pod_metrics(case.get("podMetrics"), namespace, selected, selector)
    if spec.type == model.PODS and spec.pods is not None:
        name = spec.pods.metric.name
        values = [model.PodMetricValue(str(v.described.get("name")), v.value_milli, v.timestamp_s, v.window_s)
                  for v in _custom(case.get("customMetrics"))
                  if v.described.get("kind") == "Pod" and str(v.described.get("name")) in selected
                  and str(v.described.get("namespace") or namespace) == namespace and v.metric == name]
        return model.PodsMetricsFetch(tuple(values))
    if spec.type == model.OBJECT and spec.object is not None:
        ref, name = spec.object.described_object, spec.object.metric.name
        for v in _custom(case.get("customMetrics")):
            d = v.described
            if (d.get("kind") == ref.kind and d.get("name") == ref.name and v.metric == name
                    and (not ref.api_version or d.get("apiVersion") in (None, ref.api_version))):
                return model.ObjectMetricFetch(v.value_milli, v.timestamp_s)
        return model.ObjectMetricFetch(error=f"the server could not find the metric {name} for {ref.kind} {ref.name}")
    if spec.type == model.EXTERNAL and spec.external is not None:
        name, wanted = spec.external.metric.name, metric_selector(spec.external.metric.selector)
        found = [v for i, m in enumerate(lst(case.get("externalMetrics"), "externalMetrics"))
                 if (v := external_value(m, f"externalMetrics[{i}]")).metric == name and wanted.matches(v.labels)]
        return model.ExternalMetricsFetch(tuple(v.value_milli for v in found),
                                          found[0].timestamp_s if found else model.ZERO_TIME)
    return model.ResourceMetricsFetch()  # an unknown metric type fails in the calculator before reading this


def _history(raw: Any) -> decide.History:
    h = obj(raw, "history")
    _known(h, "history", HISTORY_FIELDS)

    def entries(key: str) -> list[tuple[str, Mapping[str, Any]]]:
        return [(f"history.{key}[{i}]", obj(e, f"history.{key}[{i}]")) for i, e in enumerate(lst(h.get(key),
                                                                                                      f"history.{key}"))]

    recs = None
    if h.get("recommendations") is not None:
        recs = tuple(Recommendation(time_s(e.get("timestamp"), f"{p}.timestamp"), integer(e.get("replicas"),
                                                                                      f"{p}.replicas"))
                     for p, e in entries("recommendations"))

    def events(key: str) -> tuple[ScaleEvent, ...]:
        return tuple(ScaleEvent(time_s(e.get("timestamp"), f"{p}.timestamp"),
                                integer(e.get("replicas"), f"{p}.replicas"), bool(e.get("outdated", False)))
                     for p, e in entries(key))

    return decide.History(recs, events("scaleUpEvents"), events("scaleDownEvents"))


def load_case(doc: Any) -> decide.SyncInput:
    """The SyncInput a case document describes; raises CaseError."""
    case = obj(doc, "case")
    _known(case, "", CASE_FIELDS)
    now = time_s(case.get("now"), "now")
    try:
        hpa = defaulting.stored_v2(dict(obj(case.get("hpa"), "hpa")))
        specs = metricspecs.parse_metric_specs(defaulting.parse_spec(hpa).metrics)
    except (defaulting.ManifestError, metricspecs.MetricSpecError) as e:
        raise CaseError(f"hpa: {e}") from None
    namespace = str((hpa.get("metadata") or {}).get("namespace") or "default")
    scale = obj(case.get("scale"), "scale")
    scale_spec, scale_status = obj(scale.get("spec"), "scale.spec"), obj(scale.get("status"), "scale.status")
    selector_text = scale_status.get("selector", "")
    if not isinstance(selector_text, str):
        raise CaseError(f"scale.status.selector: expected a string, got {selector_text!r}")
    selector_error, selector = None, LabelSelector.nothing()
    try:
        selector = parse_label_selector(selector_text) if selector_text else LabelSelector.nothing()
    except SelectorError as e:
        selector_error = str(e)
    pods, selected = [], {}
    for i, raw in enumerate(lst(case.get("pods"), "pods")):
        ns, labels, info = pod(raw, f"pods[{i}]")
        if (ns or namespace) == namespace and selector.matches(labels):
            pods.append(info)
            selected[info.name] = labels
    fetched = tuple(_fetch(s, case, namespace=namespace, selected=selected, selector=selector) for s in specs)
    return decide.SyncInput(
        hpa=hpa, scale=decide.Scale(integer(scale_spec.get("replicas"), "scale.spec.replicas", 0),
                                    integer(scale_status.get("replicas"), "scale.status.replicas", 0), selector_text),
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


def run_case(path: str) -> int:
    """Print the explanation of a case file as JSON; case errors go to stderr (exit status 1)."""
    try:
        result = explain_file(path)
    except CaseError as e:
        print(f"kubescale hpa explain: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0
