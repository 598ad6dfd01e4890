"""The `spec.metrics` entries of a stored autoscaling/v2 HPA (plain dicts, as defaulting.HPASpec keeps them) read
into model.MetricSpec for the replica calculator.

Pure; no I/O. Not here: defaulting or validation beyond what reading needs (defaulting.py); an entry that cannot
be read raises MetricSpecError naming its field path.

    parse_metric_spec(raw, path="spec.metrics[0]") -> model.MetricSpec
    parse_metric_specs(raws) -> tuple[model.MetricSpec, ...]
    metric_display_name(spec) -> str     (the resource name, or the metric name)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from autoscaler.hpa import model
from kubescale.quantity import QuantityError, milli_value


class MetricSpecError(ValueError):
    """A metric spec that cannot be read; the message starts with its field path."""


def _obj(raw: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise MetricSpecError(f"{path}: expected an object, got {raw!r}")
    return raw


def _str(raw: Mapping[str, Any], key: str, path: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise MetricSpecError(f"{path}.{key}: required string, got {value!r}")
    return value


def _milli(raw: Mapping[str, Any], key: str, path: str) -> int | None:
    if raw.get(key) is None:
        return None
    try:
        return milli_value(raw[key])
    except (QuantityError, TypeError, ValueError) as e:
        raise MetricSpecError(f"{path}.{key}: {e}") from None


def _target(raw: Any, path: str) -> model.MetricTarget:
    t = _obj(raw, path)
    utilization = t.get("averageUtilization")
    if utilization is not None and (isinstance(utilization, bool) or not isinstance(utilization, int)):
        raise MetricSpecError(f"{path}.averageUtilization: expected an integer, got {utilization!r}")
    return model.MetricTarget(type=str(t.get("type", "")), value_milli=_milli(t, "value", path),
                              average_value_milli=_milli(t, "averageValue", path), average_utilization=utilization)


def _selector(raw: Any, path: str) -> model.LabelSelector | None:
    if raw is None:
        return None
    sel = _obj(raw, path)
    labels = sel.get("matchLabels") or {}
    exprs = []
    for i, e in enumerate(sel.get("matchExpressions") or []):
        e = _obj(e, f"{path}.matchExpressions[{i}]")
        exprs.append(model.LabelSelectorRequirement(str(e.get("key", "")), str(e.get("operator", "")),
                                                    tuple(str(v) for v in e.get("values") or ())))
    return model.LabelSelector(dict(labels), tuple(exprs))


def _metric(raw: Any, path: str) -> model.MetricIdentifier:
    m = _obj(raw, path)
    return model.MetricIdentifier(_str(m, "name", path), _selector(m.get("selector"), f"{path}.selector"))


def parse_metric_spec(raw: Any, path: str = "spec.metrics[0]") -> model.MetricSpec:
    """One autoscaling/v2 MetricSpec; an unknown `type` is kept (the calculator reports InvalidMetricSourceType)."""
    m = _obj(raw, path)
    kind = m.get("type")
    if not isinstance(kind, str):
        raise MetricSpecError(f"{path}.type: required string, got {kind!r}")
    if kind == model.RESOURCE:
        r = _obj(m.get("resource"), f"{path}.resource")
        return model.MetricSpec(kind, resource=model.ResourceMetricSource(
            _str(r, "name", f"{path}.resource"), _target(r.get("target"), f"{path}.resource.target")))
    if kind == model.CONTAINER_RESOURCE:
        p = f"{path}.containerResource"
        r = _obj(m.get("containerResource"), p)
        return model.MetricSpec(kind, container_resource=model.ContainerResourceMetricSource(
            _str(r, "name", p), _str(r, "container", p), _target(r.get("target"), f"{p}.target")))
    if kind == model.PODS:
        r = _obj(m.get("pods"), f"{path}.pods")
        return model.MetricSpec(kind, pods=model.PodsMetricSource(
            _metric(r.get("metric"), f"{path}.pods.metric"), _target(r.get("target"), f"{path}.pods.target")))
    if kind == model.OBJECT:
        p = f"{path}.object"
        r = _obj(m.get("object"), p)
        ref = _obj(r.get("describedObject"), f"{p}.describedObject")
        described = model.CrossVersionObjectReference(_str(ref, "kind", f"{p}.describedObject"),
                                                      _str(ref, "name", f"{p}.describedObject"),
                                                      str(ref.get("apiVersion", "")))
        return model.MetricSpec(kind, object=model.ObjectMetricSource(
            described, _metric(r.get("metric"), f"{p}.metric"), _target(r.get("target"), f"{p}.target")))
    if kind == model.EXTERNAL:
        r = _obj(m.get("external"), f"{path}.external")
        return model.MetricSpec(kind, external=model.ExternalMetricSource(
            _metric(r.get("metric"), f"{path}.external.metric"), _target(r.get("target"), f"{path}.external.target")))
    return model.MetricSpec(kind)


def parse_metric_specs(raws: Sequence[Any]) -> tuple[model.MetricSpec, ...]:
    return tuple(parse_metric_spec(raw, f"spec.metrics[{i}]") for i, raw in enumerate(raws))


def metric_display_name(spec: model.MetricSpec) -> str:
    """The name `kubectl describe hpa` would show for the metric: the resource name or the metric name."""
    if spec.resource is not None:
        return spec.resource.name
    if spec.container_resource is not None:
        return spec.container_resource.name
    source = spec.pods or spec.object or spec.external
    return source.metric.name if source is not None else ""
