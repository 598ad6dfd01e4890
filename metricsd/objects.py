"""What metricsd keeps of Nodes and Pods: the few fields scraping and serving read, cut from the API objects as
they arrive from the list+watch caches, so 150,000 pods cost their names and labels and nothing more.

Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubescale.quantity import QuantityError, milli_value, nano_value

RESOURCE_METRICS_PATH_ANNOTATION = "metrics.k8s.io/resource-metrics-path"
_NO_LABELS: Mapping[str, str] = {}


@dataclass(frozen=True, slots=True)
class NodeMeta:
    """A Node as metricsd sees it: labels for selectors, addresses and the kubelet port for scraping, the
    path annotation, and allocatable CPU/memory for `top`'s percentages (None when absent or unparseable)."""

    name: str
    labels: Mapping[str, str]
    addresses: tuple[tuple[str, str], ...]  # (type, address) in the Node's order
    kubelet_port: int  # status.daemonEndpoints.kubeletEndpoint.Port (0 when absent)
    metrics_path: str | None  # the metrics.k8s.io/resource-metrics-path annotation
    creation_timestamp: str
    allocatable_cpu_millis: int | None
    allocatable_memory_bytes: int | None


@dataclass(frozen=True, slots=True)
class PodMeta:
    """A Pod as metricsd sees it: its key, labels and creation time (for the Table), and whether it is
    Running (only Running pods are served)."""

    namespace: str
    name: str
    labels: Mapping[str, str]
    creation_timestamp: str
    running: bool


def _labels(meta: Mapping[str, Any]) -> Mapping[str, str]:
    labels = meta.get("labels")
    return dict(labels) if labels else _NO_LABELS


def node_meta(obj: Mapping[str, Any]) -> NodeMeta:
    """Cut a Node object (API JSON) down to a NodeMeta."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    addresses = tuple((str(a.get("type", "")), str(a.get("address", "")))
                      for a in status.get("addresses") or () if isinstance(a, Mapping))
    endpoint = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {})
    port = endpoint.get("Port", 0)
    allocatable = status.get("allocatable") or {}
    cpu = memory = None
    try:
        if "cpu" in allocatable:
            cpu = milli_value(allocatable["cpu"])
        if "memory" in allocatable:
            memory = -(-nano_value(allocatable["memory"]) // 1_000_000_000)
    except QuantityError:
        pass
    return NodeMeta(
        name=str(meta.get("name", "")), labels=_labels(meta), addresses=addresses,
        kubelet_port=port if isinstance(port, int) else 0,
        metrics_path=(meta.get("annotations") or {}).get(RESOURCE_METRICS_PATH_ANNOTATION),
        creation_timestamp=str(meta.get("creationTimestamp", "")),
        allocatable_cpu_millis=cpu, allocatable_memory_bytes=memory,
    )


def pod_meta(obj: Mapping[str, Any]) -> PodMeta:
    """Cut a Pod object (API JSON) down to a PodMeta."""
    meta = obj.get("metadata") or {}
    return PodMeta(
        namespace=str(meta.get("namespace", "")), name=str(meta.get("name", "")), labels=_labels(meta),
        creation_timestamp=str(meta.get("creationTimestamp", "")),
        running=(obj.get("status") or {}).get("phase") == "Running",
    )


__all__ = ["RESOURCE_METRICS_PATH_ANNOTATION", "NodeMeta", "PodMeta", "node_meta", "pod_meta"]
