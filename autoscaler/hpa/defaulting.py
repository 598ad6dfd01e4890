"""HorizontalPodAutoscaler manifests as the API server stores them (Kubernetes v1.35): autoscaling/v1 -> v2
conversion (pkg/apis/autoscaling/v1/conversion.go, incl. the autoscaling.alpha.kubernetes.io/* round-trip
annotations), v2 defaulting (pkg/apis/autoscaling/v2/defaults.go), and parsing of the stored object into
behavior.py's dataclasses plus plain spec dicts.

Pure: dict in, new dict out, inputs never mutated; no I/O. Status is passed through, not reset. Not here: the
metric specs' own parsing (model.py) and anything the controller computes.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from autoscaler.hpa import behavior
from kubescale import quantity

V1 = "autoscaling/v1"
V2 = "autoscaling/v2"

METRIC_SPECS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
METRIC_STATUSES_ANNOTATION = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR_SPECS_ANNOTATION = "autoscaling.alpha.kubernetes.io/behavior"
TOLERANCE_SCALE_DOWN_ANNOTATION = "autoscaling.alpha.kubernetes.io/scale-down-tolerance"
TOLERANCE_SCALE_UP_ANNOTATION = "autoscaling.alpha.kubernetes.io/scale-up-tolerance"
ROUND_TRIP_ANNOTATIONS = (
    METRIC_SPECS_ANNOTATION,
    METRIC_STATUSES_ANNOTATION,
    CONDITIONS_ANNOTATION,
    BEHAVIOR_SPECS_ANNOTATION,
    TOLERANCE_SCALE_DOWN_ANNOTATION,
    TOLERANCE_SCALE_UP_ANNOTATION,
)
DEFAULT_CPU_UTILIZATION = 80
DEFAULT_TOLERANCE = 0.1
MAX_PERIOD_S = 1800
MAX_STABILIZATION_WINDOW_S = 3600


class ManifestError(ValueError):
    """An HPA manifest the API server would not accept; the message lists every problem with its field path."""


def default_scale_up_rules() -> dict[str, Any]:
    """defaultHPAScaleUpRules: no stabilization, the higher of +4 pods or +100 % per 15 s."""
    return {
        "stabilizationWindowSeconds": 0,
        "selectPolicy": behavior.SELECT_MAX,
        "policies": [
            {"type": behavior.POLICY_PODS, "value": 4, "periodSeconds": 15},
            {"type": behavior.POLICY_PERCENT, "value": 100, "periodSeconds": 15},
        ],
    }


def default_scale_down_rules() -> dict[str, Any]:
    """defaultHPAScaleDownRules: -100 % per 15 s; the window stays unset (the controller flag applies)."""
    return {
        "selectPolicy": behavior.SELECT_MAX,
        "policies": [{"type": behavior.POLICY_PERCENT, "value": 100, "periodSeconds": 15}],
    }


def _copy_rules(given: dict[str, Any] | None, defaults: dict[str, Any]) -> dict[str, Any]:
    """copyHPAScalingRules: every field the user set (non-null) wins over the default."""
    if given is None:
        return defaults
    out = dict(defaults)
    for key in ("selectPolicy", "stabilizationWindowSeconds", "policies", "tolerance"):
        if given.get(key) is not None:
            out[key] = copy.deepcopy(given[key])
    return out


def generate_scale_up_rules(rules: dict[str, Any] | None) -> dict[str, Any]:
    """GenerateHPAScaleUpRules."""
    return _copy_rules(rules, default_scale_up_rules())


def generate_scale_down_rules(rules: dict[str, Any] | None) -> dict[str, Any]:
    """GenerateHPAScaleDownRules."""
    return _copy_rules(rules, default_scale_down_rules())


def default_cpu_metric() -> dict[str, Any]:
    return {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}},
    }


def set_defaults_v2(hpa: dict[str, Any]) -> dict[str, Any]:
    """SetDefaults_HorizontalPodAutoscaler (v2) on a copy: minReplicas 1, CPU at 80 % when no metric is listed,
    and a present ``behavior`` filled in direction by direction."""
    out = copy.deepcopy(hpa)
    spec = out.setdefault("spec", {})
    if spec.get("minReplicas") is None:
        spec["minReplicas"] = 1
    if not spec.get("metrics"):
        spec["metrics"] = [default_cpu_metric()]
    if spec.get("behavior") is not None:
        b = spec["behavior"]
        spec["behavior"] = {
            "scaleUp": generate_scale_up_rules(b.get("scaleUp")),
            "scaleDown": generate_scale_down_rules(b.get("scaleDown")),
        }
    return out


# --- autoscaling/v1 -> v2 ---------------------------------------------------------------------------------------


def _json_annotation(annotations: dict[str, Any], key: str, kind: type) -> Any:
    """The decoded annotation, or None when absent or not decodable to ``kind`` (upstream ignores bad values)."""
    raw = annotations.get(key)
    if not isinstance(raw, str):
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, kind) else None


def _ident(src: dict[str, Any], selector_key: str) -> dict[str, Any]:
    ident: dict[str, Any] = {"name": src.get("metricName", "")}
    if src.get(selector_key) is not None:
        ident["selector"] = src[selector_key]
    return ident


def _set(out: dict[str, Any], key: str, src: dict[str, Any], src_key: str) -> None:
    if src.get(src_key) is not None:
        out[key] = src[src_key]


def _ref(src: dict[str, Any]) -> dict[str, Any]:
    out = {"kind": src.get("kind", ""), "name": src.get("name", "")}
    _set(out, "apiVersion", src, "apiVersion")
    return out


def _metric_spec_v1_to_v2(m: dict[str, Any]) -> dict[str, Any]:
    """Convert_v1_MetricSpec_To_autoscaling_MetricSpec with the per-source conversions."""
    out: dict[str, Any] = {"type": m.get("type", "")}
    if isinstance(o := m.get("object"), dict):
        target = {"type": "Value" if o.get("averageValue") is None else "AverageValue"}
        target["value"] = o.get("targetValue", "0")  # a non-pointer Quantity upstream: always set
        _set(target, "averageValue", o, "averageValue")
        described = _ref(o.get("target") or {})
        out["object"] = {"describedObject": described, "metric": _ident(o, "selector"), "target": target}
    if isinstance(p := m.get("pods"), dict):
        target = {"type": "AverageValue", "averageValue": p.get("targetAverageValue", "0")}
        out["pods"] = {"metric": _ident(p, "selector"), "target": target}
    for key in ("resource", "containerResource"):
        if isinstance(r := m.get(key), dict):
            target = {"type": "AverageValue" if r.get("targetAverageUtilization") is None else "Utilization"}
            _set(target, "averageValue", r, "targetAverageValue")
            _set(target, "averageUtilization", r, "targetAverageUtilization")
            source = {"name": r.get("name", ""), "target": target}
            if key == "containerResource":
                source["container"] = r.get("container", "")
            out[key] = source
    if isinstance(e := m.get("external"), dict):
        target = {"type": "AverageValue" if e.get("targetValue") is None else "Value"}
        _set(target, "value", e, "targetValue")
        _set(target, "averageValue", e, "targetAverageValue")
        out["external"] = {"metric": _ident(e, "metricSelector"), "target": target}
    return out


def _metric_status_v1_to_v2(m: dict[str, Any]) -> dict[str, Any]:
    """Convert_v1_MetricStatus_To_autoscaling_MetricStatus with the per-source conversions."""
    out: dict[str, Any] = {"type": m.get("type", "")}
    if isinstance(o := m.get("object"), dict):
        current = {"value": o.get("currentValue", "0")}
        _set(current, "averageValue", o, "averageValue")
        out["object"] = {"describedObject": _ref(o.get("target") or {}), "metric": _ident(o, "selector"),
                         "current": current}
    if isinstance(p := m.get("pods"), dict):
        out["pods"] = {"metric": _ident(p, "selector"), "current": {"averageValue": p.get("currentAverageValue", "0")}}
    for key in ("resource", "containerResource"):
        if isinstance(r := m.get(key), dict):
            current = {"averageValue": r.get("currentAverageValue", "0")}
            _set(current, "averageUtilization", r, "currentAverageUtilization")
            source = {"name": r.get("name", ""), "current": current}
            if key == "containerResource":
                source["container"] = r.get("container", "")
            out[key] = source
    if isinstance(e := m.get("external"), dict):
        current = {"value": e.get("currentValue", "0")}
        _set(current, "averageValue", e, "currentAverageValue")
        out["external"] = {"metric": _ident(e, "metricSelector"), "current": current}
    return out


def _get_ci(obj: dict[str, Any], name: str) -> Any:
    """A struct field as encoding/json finds it: the exact key, else a case-insensitive match."""
    if name in obj:
        return obj[name]
    return next((v for k, v in obj.items() if k.lower() == name.lower()), None)


def _behavior_from_annotation(raw: dict[str, Any]) -> dict[str, Any] | None:
    """The behavior annotation holds the internal Go struct marshalled without json tags (ScaleUp, Policies, ...).
    A zero behavior, or one that does not decode, is ignored as upstream does."""

    def rules(r: Any) -> dict[str, Any] | None:
        if r is None:
            return None
        if not isinstance(r, dict):
            raise ValueError("not an object")
        out: dict[str, Any] = {}
        for go_name, key in (("StabilizationWindowSeconds", "stabilizationWindowSeconds"),
                             ("SelectPolicy", "selectPolicy"), ("Tolerance", "tolerance")):
            if (value := _get_ci(r, go_name)) is not None:
                out[key] = value
        if (policies := _get_ci(r, "Policies")) is not None:
            if not isinstance(policies, list) or not all(isinstance(p, dict) for p in policies):
                raise ValueError("policies not a list of objects")
            out["policies"] = [
                {"type": _get_ci(p, "Type") or "", "value": _get_ci(p, "Value") or 0,
                 "periodSeconds": _get_ci(p, "PeriodSeconds") or 0}
                for p in policies
            ]
        return out

    try:
        up, down = rules(_get_ci(raw, "ScaleUp")), rules(_get_ci(raw, "ScaleDown"))
    except ValueError:
        return None
    if up is None and down is None:
        return None
    return {k: v for k, v in (("scaleUp", up), ("scaleDown", down)) if v is not None}


def _drop_round_trip_annotations(obj: dict[str, Any]) -> None:
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("annotations"), dict):
        return
    kept = {k: v for k, v in meta["annotations"].items() if k not in ROUND_TRIP_ANNOTATIONS}
    if kept:
        meta["annotations"] = kept
    else:
        del meta["annotations"]


def convert_v1_to_v2(hpa: dict[str, Any]) -> dict[str, Any]:
    """An autoscaling/v1 HPA as autoscaling/v2 (v1 defaulting, then conversion through the internal type)."""
    annotations = (hpa.get("metadata") or {}).get("annotations") or {}
    in_spec = hpa.get("spec") or {}
    in_status = hpa.get("status") or {}
    out = copy.deepcopy(hpa)
    out["apiVersion"] = V2

    spec: dict[str, Any] = {"scaleTargetRef": _ref(in_spec.get("scaleTargetRef") or {})}
    spec["minReplicas"] = 1 if in_spec.get("minReplicas") is None else in_spec["minReplicas"]
    spec["maxReplicas"] = in_spec.get("maxReplicas", 0)
    metrics: list[dict[str, Any]] = []
    if (cpu := in_spec.get("targetCPUUtilizationPercentage")) is not None:
        metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": cpu}}})
    if (others := _json_annotation(annotations, METRIC_SPECS_ANNOTATION, list)) is not None:
        # the metric from targetCPUUtilizationPercentage goes after the annotation's
        metrics = [_metric_spec_v1_to_v2(m) for m in others if isinstance(m, dict)] + metrics
    raw_behavior = _json_annotation(annotations, BEHAVIOR_SPECS_ANNOTATION, dict)
    if raw_behavior is not None and (b := _behavior_from_annotation(raw_behavior)) is not None:
        spec["behavior"] = b
    spec["metrics"] = metrics or [default_cpu_metric()]
    out["spec"] = spec

    status: dict[str, Any] = {}
    for key in ("observedGeneration", "lastScaleTime"):
        _set(status, key, in_status, key)
    status["currentReplicas"] = in_status.get("currentReplicas", 0)
    status["desiredReplicas"] = in_status.get("desiredReplicas", 0)
    if (pct := in_status.get("currentCPUUtilizationPercentage")) is not None:
        status["currentMetrics"] = [{"type": "Resource", "resource": {"name": "cpu", "current": {
            "averageUtilization": pct}}}]
    if (current := _json_annotation(annotations, METRIC_STATUSES_ANNOTATION, list)) is not None:
        status["currentMetrics"] = [_metric_status_v1_to_v2(m) for m in current if isinstance(m, dict)]
    if (conditions := _json_annotation(annotations, CONDITIONS_ANNOTATION, list)) is not None:
        status["conditions"] = conditions
    out["status"] = status
    _drop_round_trip_annotations(out)
    return out


def stored_v2(manifest: dict[str, Any]) -> dict[str, Any]:
    """The autoscaling/v2 object the controller reads for a manifest as a user wrote it (v1 or v2)."""
    api_version = manifest.get("apiVersion")
    if manifest.get("kind", "HorizontalPodAutoscaler") != "HorizontalPodAutoscaler":
        raise ManifestError(f"kind: expected HorizontalPodAutoscaler, got {manifest.get('kind')!r}")
    if api_version == V1:
        converted = convert_v1_to_v2(manifest)
    elif api_version == V2:
        converted = copy.deepcopy(manifest)
        _drop_round_trip_annotations(converted)
    else:
        raise ManifestError(f"apiVersion: expected {V1!r} or {V2!r}, got {api_version!r}")
    return set_defaults_v2(converted)


# --- parsing into behavior.py's dataclasses ---------------------------------------------------------------------


@dataclass(frozen=True)
class HPASpec:
    """A stored (defaulted) autoscaling/v2 HPA spec; metric specs stay v2 dicts."""

    scale_target_ref: dict[str, Any]
    min_replicas: int
    max_replicas: int
    metrics: tuple[dict[str, Any], ...]
    behavior: behavior.HPABehavior | None


def approximate_float(q: str | int | float) -> float:
    """Quantity.AsApproximateFloat64: mantissa * 10^exponent of the decimal value (exact for what tolerances
    are written as, e.g. "0.05", "50m")."""
    value = quantity.parse_quantity(q)
    exponent = 0
    while value.denominator != 1:
        value *= 10
        exponent -= 1
    mantissa = int(value)
    while mantissa and mantissa % 10 == 0 and exponent < 0:
        mantissa //= 10
        exponent += 1
    return float(mantissa) * math.pow(10, exponent) if exponent else float(mantissa)


def _int(errors: list[str], path: str, value: Any, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append(f"{path}: expected an integer, got {value!r}")
        return lo
    if value < lo:
        errors.append(f"{path}: must be greater than or equal to {lo}")
    if hi is not None and value > hi:
        errors.append(f"{path}: must be less than or equal to {hi}")
    return value


def _parse_rules(errors: list[str], path: str, r: dict[str, Any]) -> behavior.HPAScalingRules:
    window = r.get("stabilizationWindowSeconds")
    if window is not None:
        window = _int(errors, f"{path}.stabilizationWindowSeconds", window, 0, MAX_STABILIZATION_WINDOW_S)
    select = r.get("selectPolicy", behavior.SELECT_MAX)
    if select not in (behavior.SELECT_MAX, behavior.SELECT_MIN, behavior.SELECT_DISABLED):
        errors.append(f"{path}.selectPolicy: unsupported value {select!r}: supported values: Disabled, Max, Min")
    policies = []
    raw_policies = r.get("policies") or []
    if not raw_policies:
        errors.append(f"{path}.policies: must specify at least one Policy")
    for i, p in enumerate(raw_policies):
        p_path = f"{path}.policies[{i}]"
        if not isinstance(p, dict):
            errors.append(f"{p_path}: expected an object")
            continue
        if p.get("type") not in (behavior.POLICY_PODS, behavior.POLICY_PERCENT):
            errors.append(f"{p_path}.type: unsupported value {p.get('type')!r}: supported values: Percent, Pods")
        value = _int(errors, f"{p_path}.value", p.get("value"), 1)
        period = _int(errors, f"{p_path}.periodSeconds", p.get("periodSeconds"), 1, MAX_PERIOD_S)
        policies.append(behavior.HPAScalingPolicy(p.get("type", ""), value, period))
    tolerance = None
    if r.get("tolerance") is not None:
        try:
            tolerance = approximate_float(r["tolerance"])
        except quantity.QuantityError as exc:
            errors.append(f"{path}.tolerance: {exc}")
        else:
            if tolerance < 0:
                errors.append(f"{path}.tolerance: must be greater than or equal to 0")
    return behavior.HPAScalingRules(window, select, tuple(policies), tolerance)


def parse_spec(stored: dict[str, Any]) -> HPASpec:
    """The stored object's spec as plain data; raises ManifestError listing every invalid field."""
    spec = stored.get("spec") or {}
    errors: list[str] = []
    ref = spec.get("scaleTargetRef")
    if not isinstance(ref, dict) or not ref.get("kind") or not ref.get("name"):
        errors.append("spec.scaleTargetRef: kind and name are required")
    min_replicas = _int(errors, "spec.minReplicas", spec.get("minReplicas"), 0)
    max_replicas = _int(errors, "spec.maxReplicas", spec.get("maxReplicas"), 1)
    if not errors and min_replicas > max_replicas:
        errors.append("spec.maxReplicas: must be greater than or equal to `minReplicas`")
    metrics = spec.get("metrics") or []
    if not all(isinstance(m, dict) for m in metrics):
        errors.append("spec.metrics: expected a list of metric specs")
    parsed_behavior = None
    if (b := spec.get("behavior")) is not None:
        if not isinstance(b, dict):
            raise ManifestError(f"invalid HorizontalPodAutoscaler: spec.behavior: expected an object, got {b!r}")
        up = _parse_rules(errors, "spec.behavior.scaleUp", b.get("scaleUp") or default_scale_up_rules())
        down = _parse_rules(errors, "spec.behavior.scaleDown", b.get("scaleDown") or default_scale_down_rules())
        parsed_behavior = behavior.HPABehavior(up, down)
    if errors:
        raise ManifestError("invalid HorizontalPodAutoscaler: " + "; ".join(errors))
    return HPASpec(dict(ref), min_replicas, max_replicas, tuple(metrics), parsed_behavior)


def tolerances(spec: HPASpec, *, default_tolerance: float = DEFAULT_TOLERANCE) -> tuple[float, float]:
    """tolerancesForHpa: (scale-down, scale-up) tolerance; per-HPA values (HPAConfigurableTolerance, beta and on
    by default in v1.35) override the --horizontal-pod-autoscaler-tolerance flag."""
    down = up = default_tolerance
    if spec.behavior is not None:
        if spec.behavior.scale_down.tolerance is not None:
            down = spec.behavior.scale_down.tolerance
        if spec.behavior.scale_up.tolerance is not None:
            up = spec.behavior.scale_up.tolerance
    return down, up


def _timestamp(raw: Any) -> float:
    if not isinstance(raw, str) or not raw:
        return 0.0
    return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()


def parse_status_conditions(stored: dict[str, Any]) -> tuple[behavior.StatusCondition, ...]:
    """The conditions the stored status holds, in order, for behavior.set_condition to update."""
    conditions = (stored.get("status") or {}).get("conditions") or []
    return tuple(
        behavior.StatusCondition(
            c.get("type", ""), c.get("status", ""), c.get("reason", ""), c.get("message", ""),
            _timestamp(c.get("lastTransitionTime")),
        )
        for c in conditions
        if isinstance(c, dict)
    )
