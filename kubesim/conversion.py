"""Conversion between the stored version of an object and the other versions it is served at.

What kube-apiserver's scheme does for the two built-in kinds kubesim serves at more than one version:

- HorizontalPodAutoscaler, stored as ``autoscaling/v2``, served also as ``autoscaling/v1``
  (pkg/apis/autoscaling/v1/conversion.go). Whatever v1 cannot express travels in
  ``autoscaling.alpha.kubernetes.io/*`` annotations, in the JSON upstream marshals: the metrics as
  ``autoscaling/v1`` (v2beta1-style) MetricSpec/MetricStatus lists, the conditions as a v1 condition list,
  and the behavior as Go's *internal* type marshalled without json tags (``{"ScaleUp":{...}}``).
- Event, stored as core ``v1``, served also as ``events.k8s.io/v1`` (pkg/apis/events/v1/conversion.go).

Any other kind converts like a CRD with conversion strategy ``None``: only ``apiVersion`` changes.
Outputs carry the fields Go always encodes (non-``omitempty`` ones) so clients see what a real server sends.
Pure; no I/O. Not defaulting (kubesim.defaults) and not validation.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from kubesim import defaults

Obj = dict[str, Any]

HPA = "HorizontalPodAutoscaler"
EVENT = "Event"
HPA_V1, HPA_V2 = "autoscaling/v1", "autoscaling/v2"
EVENT_CORE, EVENT_EVENTS = "v1", "events.k8s.io/v1"

METRIC_SPECS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
METRIC_STATUSES_ANNOTATION = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR_ANNOTATION = "autoscaling.alpha.kubernetes.io/behavior"
ROUND_TRIP_ANNOTATIONS = (METRIC_SPECS_ANNOTATION, BEHAVIOR_ANNOTATION, METRIC_STATUSES_ANNOTATION,
                          CONDITIONS_ANNOTATION)
DEFAULT_CPU_UTILIZATION = 80

SUPPORTED: dict[tuple[str, str], set[str]] = {
    (HPA, HPA_V2): {HPA_V1},
    (HPA, HPA_V1): {HPA_V2},
    (EVENT, EVENT_CORE): {EVENT_EVENTS},
    (EVENT, EVENT_EVENTS): {EVENT_CORE},
}


def can_convert(kind: str, from_version: str, to_version: str) -> bool:
    """True when a field-level conversion exists (same version counts: it is the identity)."""
    return from_version == to_version or to_version in SUPPORTED.get((kind, from_version), set())


def convert(obj: Obj, *, to_api_version: str) -> Obj:
    """`obj` as seen at `to_api_version`; a new dict, the input is not modified."""
    kind, from_version = obj.get("kind", ""), obj.get("apiVersion", "")
    if from_version == to_api_version:
        return copy.deepcopy(obj)
    converter = _CONVERTERS.get((kind, from_version, to_api_version))
    if converter is None:
        out = copy.deepcopy(obj)
        out["apiVersion"] = to_api_version
        return out
    out = converter(obj)
    return {"apiVersion": to_api_version, "kind": kind, **out}


# -- Go JSON ------------------------------------------------------------------------------------------------
def go_json(value: Any) -> str:
    """json.Marshal's text for `value` (dict key order is kept: callers build dicts in struct field order)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                    ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


def _put(out: Obj, key: str, value: Any) -> None:
    """Set an ``omitempty`` string, number, slice or map field: skipped when absent or empty."""
    if value is not None and value != "" and value != 0 and value != [] and value != {}:
        out[key] = value


def _opt(out: Obj, key: str, value: Any) -> None:
    """Set an ``omitempty`` pointer field: skipped only when nil."""
    if value is not None:
        out[key] = value


def _quantity(value: Any) -> str:
    """A non-pointer resource.Quantity: the zero quantity marshals as "0"."""
    return "0" if value is None else str(value)


def _selector(sel: Any) -> Any:
    """A *metav1.LabelSelector as Go marshals it (map keys sorted, fields in struct order)."""
    if not isinstance(sel, dict):
        return None
    out: Obj = {}
    if sel.get("matchLabels"):
        out["matchLabels"] = dict(sorted(sel["matchLabels"].items()))
    exprs = []
    for e in sel.get("matchExpressions") or ():
        item = {"key": e.get("key", ""), "operator": e.get("operator", "")}
        _put(item, "values", list(e.get("values") or ()))
        exprs.append(item)
    _put(out, "matchExpressions", exprs)
    return out


def _ref(ref: Any) -> Obj:
    ref = ref or {}
    out = {"kind": ref.get("kind", ""), "name": ref.get("name", "")}
    _put(out, "apiVersion", ref.get("apiVersion"))
    return out


def _ci_get(d: Obj, key: str) -> Any:
    """encoding/json's field lookup: the exact key first, then a case-insensitive match."""
    if key in d:
        return d[key]
    low = key.lower()
    return next((v for k, v in d.items() if k.lower() == low), None)


# -- HPA metrics: autoscaling/v2 <-> the v1 annotation types --------------------------------------------------
def _metric_id(src: Obj) -> tuple[str, Any]:
    metric = src.get("metric") or {}
    return metric.get("name", ""), _selector(metric.get("selector"))


def _identifier(name: Any, selector: Any) -> Obj:
    out: Obj = {"name": name or ""}
    _opt(out, "selector", _selector(selector))
    return out


def _metric_spec_to_v1(m: Obj) -> Obj:
    out: Obj = {"type": m.get("type", "")}
    if m.get("object") is not None:
        o, target = m["object"], m["object"].get("target") or {}
        name, sel = _metric_id(o)
        v: Obj = {"target": _ref(o.get("describedObject")), "metricName": name,
                  "targetValue": _quantity(target.get("value"))}
        _opt(v, "selector", sel)
        _opt(v, "averageValue", target.get("averageValue"))
        out["object"] = v
    if m.get("pods") is not None:
        p, target = m["pods"], m["pods"].get("target") or {}
        name, sel = _metric_id(p)
        v = {"metricName": name, "targetAverageValue": _quantity(target.get("averageValue"))}
        _opt(v, "selector", sel)
        out["pods"] = v
    for key in ("resource", "containerResource"):
        if m.get(key) is not None:
            r, target = m[key], m[key].get("target") or {}
            v = {"name": r.get("name", "")}
            _opt(v, "targetAverageUtilization", target.get("averageUtilization"))
            _opt(v, "targetAverageValue", target.get("averageValue"))
            if key == "containerResource":
                v["container"] = r.get("container", "")
            out[key] = v
    if m.get("external") is not None:
        e, target = m["external"], m["external"].get("target") or {}
        name, sel = _metric_id(e)
        v = {"metricName": name}
        _opt(v, "metricSelector", sel)
        _opt(v, "targetValue", target.get("value"))
        _opt(v, "targetAverageValue", target.get("averageValue"))
        out["external"] = v
    return out


def _metric_spec_from_v1(m: Obj) -> Obj:
    out: Obj = {"type": m.get("type", "")}
    if m.get("object") is not None:
        o = m["object"]
        target: Obj = {"type": "Value" if o.get("averageValue") is None else "AverageValue",
                       "value": _quantity(o.get("targetValue"))}
        _opt(target, "averageValue", o.get("averageValue"))
        out["object"] = {"describedObject": _ref(o.get("target")),
                         "target": target, "metric": _identifier(o.get("metricName"), o.get("selector"))}
    if m.get("pods") is not None:
        p = m["pods"]
        out["pods"] = {"metric": _identifier(p.get("metricName"), p.get("selector")),
                       "target": {"type": "AverageValue", "averageValue": _quantity(p.get("targetAverageValue"))}}
    for key in ("resource", "containerResource"):
        if m.get(key) is not None:
            r = m[key]
            utilization = r.get("targetAverageUtilization")
            target = {"type": "AverageValue" if utilization is None else "Utilization"}
            _opt(target, "averageValue", r.get("targetAverageValue"))
            _opt(target, "averageUtilization", utilization)
            v: Obj = {"name": r.get("name", ""), "target": target}
            if key == "containerResource":
                v["container"] = r.get("container", "")
            out[key] = v
    if m.get("external") is not None:
        e = m["external"]
        target = {"type": "AverageValue" if e.get("targetValue") is None else "Value"}
        _opt(target, "value", e.get("targetValue"))
        _opt(target, "averageValue", e.get("targetAverageValue"))
        out["external"] = {"metric": _identifier(e.get("metricName"), e.get("metricSelector")), "target": target}
    return out


def _metric_status_to_v1(m: Obj) -> Obj:
    out: Obj = {"type": m.get("type", "")}
    if m.get("object") is not None:
        o, cur = m["object"], m["object"].get("current") or {}
        name, sel = _metric_id(o)
        v: Obj = {"target": _ref(o.get("describedObject")), "metricName": name,
                  "currentValue": _quantity(cur.get("value"))}
        _opt(v, "selector", sel)
        _opt(v, "averageValue", cur.get("averageValue"))
        out["object"] = v
    if m.get("pods") is not None:
        p, cur = m["pods"], m["pods"].get("current") or {}
        name, sel = _metric_id(p)
        v = {"metricName": name, "currentAverageValue": _quantity(cur.get("averageValue"))}
        _opt(v, "selector", sel)
        out["pods"] = v
    for key in ("resource", "containerResource"):
        if m.get(key) is not None:
            r, cur = m[key], m[key].get("current") or {}
            v = {"name": r.get("name", "")}
            _opt(v, "currentAverageUtilization", cur.get("averageUtilization"))
            v["currentAverageValue"] = _quantity(cur.get("averageValue"))
            if key == "containerResource":
                v["container"] = r.get("container", "")
            out[key] = v
    if m.get("external") is not None:
        e, cur = m["external"], m["external"].get("current") or {}
        name, sel = _metric_id(e)
        v = {"metricName": name}
        _opt(v, "metricSelector", sel)
        v["currentValue"] = _quantity(cur.get("value"))
        _opt(v, "currentAverageValue", cur.get("averageValue"))
        out["external"] = v
    return out


def _metric_status_from_v1(m: Obj) -> Obj:
    out: Obj = {"type": m.get("type", "")}
    if m.get("object") is not None:
        o = m["object"]
        cur: Obj = {"value": _quantity(o.get("currentValue"))}
        _opt(cur, "averageValue", o.get("averageValue"))
        out["object"] = {"metric": _identifier(o.get("metricName"), o.get("selector")), "current": cur,
                         "describedObject": _ref(o.get("target"))}
    if m.get("pods") is not None:
        p = m["pods"]
        out["pods"] = {"metric": _identifier(p.get("metricName"), p.get("selector")),
                       "current": {"averageValue": _quantity(p.get("currentAverageValue"))}}
    for key in ("resource", "containerResource"):
        if m.get(key) is not None:
            r = m[key]
            cur = {"averageValue": _quantity(r.get("currentAverageValue"))}
            _opt(cur, "averageUtilization", r.get("currentAverageUtilization"))
            v: Obj = {"name": r.get("name", ""), "current": cur}
            if key == "containerResource":
                v["container"] = r.get("container", "")
            out[key] = v
    if m.get("external") is not None:
        e = m["external"]
        cur = {"value": _quantity(e.get("currentValue"))}
        _opt(cur, "averageValue", e.get("currentAverageValue"))
        out["external"] = {"metric": _identifier(e.get("metricName"), e.get("metricSelector")), "current": cur}
    return out


def _condition(c: Obj) -> Obj:
    out: Obj = {"type": c.get("type", ""), "status": c.get("status", ""),
                "lastTransitionTime": c.get("lastTransitionTime")}
    _put(out, "reason", c.get("reason"))
    _put(out, "message", c.get("message"))
    _opt(out, "observedGeneration", c.get("observedGeneration"))
    return out


# -- HPA behavior: the internal Go type without json tags ------------------------------------------------------
_RULE_FIELDS = (("stabilizationWindowSeconds", "StabilizationWindowSeconds"), ("selectPolicy", "SelectPolicy"),
                ("policies", "Policies"), ("tolerance", "Tolerance"))
_POLICY_FIELDS = (("type", "Type", ""), ("value", "Value", 0), ("periodSeconds", "PeriodSeconds", 0))
_DIRECTIONS = (("scaleUp", "ScaleUp"), ("scaleDown", "ScaleDown"))


def _rules_to_internal(rules: Any) -> Obj | None:
    if not isinstance(rules, dict):
        return None
    out: Obj = {}
    for wire, go in _RULE_FIELDS:
        value = rules.get(wire)
        if wire == "policies" and value is not None:
            value = [{g: p.get(w, zero) for w, g, zero in _POLICY_FIELDS} for p in value]
        out[go] = value
    return out


def _rules_from_internal(rules: Any) -> Obj | None:
    if not isinstance(rules, dict):
        return None
    out: Obj = {}
    for wire, go in _RULE_FIELDS:
        value = _ci_get(rules, go)
        if wire == "policies" and value is not None:
            value = [{w: _ci_get(p, g) or zero for w, g, zero in _POLICY_FIELDS} for p in value]
        (_put if wire == "policies" else _opt)(out, wire, value)
    return out


def behavior_annotation(behavior: Obj) -> str:
    """The ``autoscaling.alpha.kubernetes.io/behavior`` value for a v2 ``spec.behavior``."""
    return go_json({go: _rules_to_internal(behavior.get(wire)) for wire, go in _DIRECTIONS})


def _behavior_from_annotation(text: str) -> Obj | None:
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    try:
        behavior = {wire: _rules_from_internal(_ci_get(raw, go)) for wire, go in _DIRECTIONS}
    except (AttributeError, TypeError):  # not the Go type: json.Unmarshal fails, the annotation is ignored
        return None
    if all(v is None for v in behavior.values()):
        return None  # the zero behavior is not moved to the field
    # conversion.go fills a missing direction with the v2 defaults (GenerateHPAScale{Up,Down}Rules(nil))
    return {wire: rules if rules is not None else defaults.scaling_rules(None, scale_up=wire == "scaleUp")
            for wire, rules in behavior.items()}


# -- HPA objects -----------------------------------------------------------------------------------------------
def _is_cpu_utilization(metric: Obj, part: str) -> bool:
    res = metric.get("resource")
    return (metric.get("type") == "Resource" and isinstance(res, dict) and res.get("name") == "cpu"
            and (res.get(part) or {}).get("averageUtilization") is not None)


def _meta_without_round_trip(obj: Obj) -> tuple[Obj, Obj]:
    meta = copy.deepcopy(obj.get("metadata") or {})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in ROUND_TRIP_ANNOTATIONS}
    return meta, annotations


def _set_annotations(meta: Obj, annotations: Obj) -> Obj:
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    return meta


def _hpa_v2_to_v1(obj: Obj) -> Obj:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    meta, annotations = _meta_without_round_trip(obj)
    metrics = spec.get("metrics") or []
    v1_spec: Obj = {"scaleTargetRef": _ref(spec.get("scaleTargetRef"))}
    _opt(v1_spec, "minReplicas", spec.get("minReplicas"))
    v1_spec["maxReplicas"] = spec.get("maxReplicas", 0)
    cpu = next((m for m in metrics if _is_cpu_utilization(m, "target")), None)
    if cpu is not None:
        v1_spec["targetCPUUtilizationPercentage"] = cpu["resource"]["target"]["averageUtilization"]
    others = [_metric_spec_to_v1(m) for m in metrics if not _is_cpu_utilization(m, "target")]
    current = status.get("currentMetrics") or []
    conditions = status.get("conditions") or []
    if others:
        annotations[METRIC_SPECS_ANNOTATION] = go_json(others)
    if current:
        annotations[METRIC_STATUSES_ANNOTATION] = go_json([_metric_status_to_v1(m) for m in current])
    if spec.get("behavior") is not None:
        annotations[BEHAVIOR_ANNOTATION] = behavior_annotation(spec["behavior"])
    if conditions:
        annotations[CONDITIONS_ANNOTATION] = go_json([_condition(c) for c in conditions])
    v1_status: Obj = {}
    _opt(v1_status, "observedGeneration", status.get("observedGeneration"))
    _opt(v1_status, "lastScaleTime", status.get("lastScaleTime"))
    v1_status["currentReplicas"] = status.get("currentReplicas", 0)
    v1_status["desiredReplicas"] = status.get("desiredReplicas", 0)
    for m in current:  # no break upstream: the last CPU utilization wins
        if _is_cpu_utilization(m, "current"):
            v1_status["currentCPUUtilizationPercentage"] = m["resource"]["current"]["averageUtilization"]
    return {"metadata": _set_annotations(meta, annotations), "spec": v1_spec, "status": v1_status}


def _annotation_list(annotations: Obj, key: str, item: Callable[[Obj], Obj]) -> list[Obj] | None:
    """A JSON list annotation, each item converted; None when absent or malformed (upstream ignores it)."""
    if key not in annotations:
        return None
    try:
        return [item(v) for v in json.loads(annotations[key]) or ()]
    except (AttributeError, TypeError, ValueError):
        return None


def _hpa_v1_to_v2(obj: Obj) -> Obj:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    annotations = dict((obj.get("metadata") or {}).get("annotations") or {})
    meta, kept = _meta_without_round_trip(obj)
    v2_spec: Obj = {"scaleTargetRef": _ref(spec.get("scaleTargetRef"))}
    _opt(v2_spec, "minReplicas", spec.get("minReplicas"))
    v2_spec["maxReplicas"] = spec.get("maxReplicas", 0)
    metrics: list[Obj] = []
    if spec.get("targetCPUUtilizationPercentage") is not None:
        metrics = [_cpu_metric(spec["targetCPUUtilizationPercentage"])]
    others = _annotation_list(annotations, METRIC_SPECS_ANNOTATION, _metric_spec_from_v1)
    if others is not None:  # the CPU target, if any, goes after the annotation's metrics
        metrics = others + metrics
    if not metrics:  # v1's implicit default, made explicit now that all metrics are known
        metrics = [_cpu_metric(DEFAULT_CPU_UTILIZATION)]
    v2_spec["metrics"] = metrics
    if BEHAVIOR_ANNOTATION in annotations:
        _put(v2_spec, "behavior", _behavior_from_annotation(annotations[BEHAVIOR_ANNOTATION]))
    v2_status: Obj = {}
    _opt(v2_status, "observedGeneration", status.get("observedGeneration"))
    _opt(v2_status, "lastScaleTime", status.get("lastScaleTime"))
    _put(v2_status, "currentReplicas", status.get("currentReplicas"))
    v2_status["desiredReplicas"] = status.get("desiredReplicas", 0)
    current: list[Obj] | None = None
    if status.get("currentCPUUtilizationPercentage") is not None:
        current = [{"type": "Resource", "resource": {
            "name": "cpu", "current": {"averageUtilization": status["currentCPUUtilizationPercentage"]}}}]
    stored = _annotation_list(annotations, METRIC_STATUSES_ANNOTATION, _metric_status_from_v1)
    if stored is not None:  # it has more information than the CPU percentage
        current = stored
    v2_status["currentMetrics"] = current or None
    _put(v2_status, "conditions", _annotation_list(annotations, CONDITIONS_ANNOTATION, _condition))
    return {"metadata": _set_annotations(meta, kept), "spec": v2_spec, "status": v2_status}


def _cpu_metric(utilization: int) -> Obj:
    return {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                       "averageUtilization": utilization}}}


# -- Events ----------------------------------------------------------------------------------------------------
# (core v1 field, events.k8s.io/v1 field); the rest share their names
_EVENT_RENAMES = (("involvedObject", "regarding"), ("message", "note"), ("source", "deprecatedSource"),
                  ("firstTimestamp", "deprecatedFirstTimestamp"), ("lastTimestamp", "deprecatedLastTimestamp"),
                  ("count", "deprecatedCount"), ("reportingComponent", "reportingController"))
_EVENT_SHARED = ("reason", "type", "eventTime", "series", "action", "related", "reportingInstance")
# Fields Go encodes even when empty, with the empty value it writes.
_EVENT_ALWAYS = {
    EVENT_CORE: {"involvedObject": {}, "source": {}, "firstTimestamp": None, "lastTimestamp": None,
                 "eventTime": None, "reportingComponent": "", "reportingInstance": ""},
    EVENT_EVENTS: {"eventTime": None, "regarding": {}, "deprecatedSource": {}, "deprecatedFirstTimestamp": None,
                   "deprecatedLastTimestamp": None},
}


def _event(obj: Obj, to_version: str) -> Obj:
    names = [(a, a) for a in _EVENT_SHARED] + [
        (core, new) if to_version == EVENT_EVENTS else (new, core) for core, new in _EVENT_RENAMES]
    out: Obj = {"metadata": copy.deepcopy(obj.get("metadata") or {})}
    always = _EVENT_ALWAYS[to_version]
    for src, dst in names:
        value = copy.deepcopy(obj.get(src))
        if dst in always:
            out[dst] = always[dst] if value is None else value
        else:
            _put(out, dst, value)
    return out


_CONVERTERS: dict[tuple[str, str, str], Callable[[Obj], Obj]] = {
    (HPA, HPA_V2, HPA_V1): _hpa_v2_to_v1,
    (HPA, HPA_V1, HPA_V2): _hpa_v1_to_v2,
    (EVENT, EVENT_CORE, EVENT_EVENTS): lambda o: _event(o, EVENT_EVENTS),
    (EVENT, EVENT_EVENTS, EVENT_CORE): lambda o: _event(o, EVENT_CORE),
}
