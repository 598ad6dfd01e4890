"""Readers of Kubernetes API objects into the HPA's plain data (`model`): Pods, PodMetrics, custom and external
metric values, RFC 3339 times, Go durations and quantities. `explain` reads case files with them and the
controller reads API responses with them, so a case and a live cluster are read the same way.

Pure; no I/O. Errors raise ReadError whose message starts with the field path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from autoscaler.hpa import model
from kubescale.durations import parse_go_duration_ns
from kubescale.quantity import QuantityError, milli_value
from kubesim.selectors import LabelSelector, label_selector_from_dict


class ReadError(ValueError):
    """An object that cannot be read; the message starts with the field path."""


def obj(raw: Any, path: str) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ReadError(f"{path}: expected an object, got {raw!r}")
    return raw


def lst(raw: Any, path: str) -> Sequence[Any]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ReadError(f"{path}: expected a list, got {raw!r}")
    return raw


def time_s(raw: Any, path: str) -> float:
    if isinstance(raw, datetime):  # YAML reads unquoted timestamps itself
        return (raw if raw.tzinfo else raw.replace(tzinfo=UTC)).timestamp()
    if not isinstance(raw, str):
        raise ReadError(f"{path}: expected an RFC 3339 time, got {raw!r}")
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ReadError(f"{path}: expected an RFC 3339 time, got {raw!r}") from None
    if parsed.tzinfo is None:
        raise ReadError(f"{path}: an RFC 3339 time needs a zone offset (e.g. Z), got {raw!r}")
    return parsed.timestamp()


def opt_time_s(raw: Any, path: str) -> float | None:
    return None if raw is None else time_s(raw, path)


def duration_s(raw: Any, path: str) -> float:
    """A Go duration ("5m", "1m30s") or a number of seconds."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    if not isinstance(raw, str):
        raise ReadError(f"{path}: expected a duration such as 30s, got {raw!r}")
    try:
        return parse_go_duration_ns(raw) / 1e9
    except ValueError as e:
        raise ReadError(f"{path}: {e}") from None


def integer(raw: Any, path: str, default: int | None = None) -> int:
    if raw is None and default is not None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ReadError(f"{path}: expected an integer, got {raw!r}")
    return raw


def milli(raw: Any, path: str) -> int:
    try:
        return milli_value(raw)
    except (QuantityError, TypeError, ValueError) as e:
        raise ReadError(f"{path}: invalid quantity {raw!r}: {e}") from None


def quantities(raw: Any, path: str) -> dict[str, int]:
    return {str(k): milli(v, f"{path}.{k}") for k, v in obj(raw, path).items()}


def containers(raw: Any, path: str) -> tuple[model.ContainerInfo, ...]:
    out = []
    for i, c in enumerate(lst(raw, path)):
        c = obj(c, f"{path}[{i}]")
        requests = quantities(obj(c.get("resources"), f"{path}[{i}].resources").get("requests"),
                               f"{path}[{i}].resources.requests")
        out.append(model.ContainerInfo(str(c.get("name", "")), requests, c.get("restartPolicy")))
    return tuple(out)


def pod(raw: Any, path: str) -> tuple[str, dict[str, str], model.PodInfo]:
    """(namespace, labels, PodInfo) of a v1 Pod."""
    p = obj(raw, path)
    meta, spec, status = (obj(p.get(k), f"{path}.{k}") for k in ("metadata", "spec", "status"))
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise ReadError(f"{path}.metadata.name: required string, got {name!r}")
    ready, ready_since = None, model.ZERO_TIME
    for i, c in enumerate(lst(status.get("conditions"), f"{path}.status.conditions")):
        c = obj(c, f"{path}.status.conditions[{i}]")
        if c.get("type") == "Ready":
            ready = str(c.get("status", ""))
            if c.get("lastTransitionTime") is not None:
                ready_since = time_s(c["lastTransitionTime"], f"{path}.status.conditions[{i}].lastTransitionTime")
    info = model.PodInfo(
        name=name, phase=str(status.get("phase", "")), ready=ready, ready_transition_s=ready_since,
        start_time_s=opt_time_s(status.get("startTime"), f"{path}.status.startTime"),
        deleting=meta.get("deletionTimestamp") is not None,
        containers=containers(spec.get("containers"), f"{path}.spec.containers"),
        init_containers=containers(spec.get("initContainers"), f"{path}.spec.initContainers"),
        pod_requests_milli=quantities(obj(spec.get("resources"), f"{path}.spec.resources").get("requests"),
                                       f"{path}.spec.resources.requests"),
        overhead_milli=quantities(spec.get("overhead"), f"{path}.spec.overhead"))
    labels = {str(k): str(v) for k, v in obj(meta.get("labels"), f"{path}.metadata.labels").items()}
    return str(meta.get("namespace") or ""), labels, info




def pod_metric_sample(raw: Any, path: str, *, namespace: str = "") -> model.PodMetricSample:
    """One metrics.k8s.io/v1beta1 PodMetrics."""
    m = obj(raw, path)
    meta = obj(m.get("metadata"), f"{path}.metadata")
    usage = tuple(
        model.ContainerUsage(str(obj(c, f"{path}.containers[{j}]").get("name", "")),
                             quantities(c.get("usage"), f"{path}.containers[{j}].usage"))
        for j, c in enumerate(lst(m.get("containers"), f"{path}.containers")))
    return model.PodMetricSample(str(meta.get("name", "")), time_s(m.get("timestamp"), f"{path}.timestamp"),
                                 duration_s(m.get("window", "0s"), f"{path}.window"), usage,
                                 str(meta.get("namespace") or namespace))


@dataclass(frozen=True)
class CustomValue:
    """One custom.metrics.k8s.io MetricValue (v1beta2, or v1beta1 with `metricName` and `window`)."""
    described: Mapping[str, Any]
    metric: str
    value_milli: int
    timestamp_s: float
    window_s: float | None


def custom_value(raw: Any, path: str) -> CustomValue:
    m = obj(raw, path)
    if "metricName" in m:  # v1beta1
        name, window_key = str(m.get("metricName") or ""), "window"
    else:
        name, window_key = str(obj(m.get("metric"), f"{path}.metric").get("name", "")), "windowSeconds"
    window = m.get(window_key)
    return CustomValue(obj(m.get("describedObject"), f"{path}.describedObject"), name,
                       milli(m.get("value"), f"{path}.value"), time_s(m.get("timestamp"), f"{path}.timestamp"),
                       None if window is None else float(integer(window, f"{path}.{window_key}")))


@dataclass(frozen=True)
class ExternalValue:
    """One external.metrics.k8s.io/v1beta1 ExternalMetricValue."""
    metric: str
    labels: Mapping[str, str]
    value_milli: int
    timestamp_s: float


def external_value(raw: Any, path: str) -> ExternalValue:
    m = obj(raw, path)
    labels = {str(k): str(v) for k, v in obj(m.get("metricLabels"), f"{path}.metricLabels").items()}
    return ExternalValue(str(m.get("metricName") or ""), labels, milli(m.get("value"), f"{path}.value"),
                         time_s(m.get("timestamp"), f"{path}.timestamp"))


def metric_selector(sel: model.LabelSelector | None) -> LabelSelector:
    """A metric's label selector as a matcher; str() of it is the `labelSelector` query a metrics API takes."""
    if sel is None:
        return LabelSelector.everything()
    return label_selector_from_dict(
        {"matchLabels": dict(sel.match_labels),
         "matchExpressions": [{"key": r.key, "operator": r.operator, "values": list(r.values)}
                              for r in sel.match_expressions]})
