"""Gathering one HPA sync's inputs from a live API: the target's Scale through discovery, the pods its selector
matches and every metric, assembled into `decide.SyncInput`. The controller and `explain --from-cluster` both
gather through here, so a live decision and its explanation see the same inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from autoscaler.hpa import apiread, decide, defaulting, metricspecs, model
from autoscaler.hpa.metricsclient import MetricsClient, client_error_text
from kubescale.kubeclient import ApiError, KubeClient
from kubescale.restmapper import NoKindMatchError, RESTMapper, split_api_version
from kubesim.selectors import LabelSelector, SelectorError, parse_label_selector

NETWORK_ERRORS = (ApiError, aiohttp.ClientError, TimeoutError, OSError)


@dataclass(frozen=True)
class PodEntry:
    """What the HPA keeps of a Pod."""
    namespace: str
    labels: Mapping[str, str]
    info: model.PodInfo


def pod_entry(obj: dict[str, Any]) -> PodEntry:
    namespace, labels, info = apiread.pod(obj, "pod")
    return PodEntry(namespace, labels, info)


class ScaleError(Exception):
    """The target's Scale could not be read; `kind` is "spec" (the reference is wrong) or "internal"."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class ScaleTarget:
    obj: dict[str, Any]  # the autoscaling/v1 Scale as read (sent back, replicas changed, to rescale)
    path: str
    scale: decide.Scale
    selector: LabelSelector
    selector_error: str | None


async def get_scale(client: KubeClient, mapper: RESTMapper, namespace: str, ref: Mapping[str, Any]) -> ScaleTarget:
    """scaleForResourceMappings: the Scale of the first mapping of the target's kind that has one."""
    try:
        group, _ = split_api_version(str(ref.get("apiVersion") or ""))
        mappings = await mapper.rest_mappings(group, str(ref.get("kind") or ""))
    except (NoKindMatchError, ValueError) as e:
        raise ScaleError(str(e), "spec") from None
    except NETWORK_ERRORS as e:
        raise ScaleError(client_error_text(e, verb="get", resource="discovery"), "internal") from None
    first_error = ""
    for m in mappings:
        path = m.path(namespace, str(ref.get("name") or ""), "scale")
        try:
            obj = await client.get(path)
        except NETWORK_ERRORS as e:
            first_error = first_error or client_error_text(e, verb="get", resource=f"{m.group_resource}",
                                                           url=client.url(path))
            continue
        if isinstance(obj, dict):
            spec, status = obj.get("spec") or {}, obj.get("status") or {}
            scale = decide.Scale(int(spec.get("replicas") or 0), int(status.get("replicas") or 0),
                                 str(status.get("selector") or ""))
            selector, selector_error = LabelSelector.nothing(), None
            if scale.selector:
                try:
                    selector = parse_label_selector(scale.selector)
                except SelectorError as e:
                    selector_error = str(e)
            return ScaleTarget(obj, path, scale, selector, selector_error)
    raise ScaleError(first_error or "the scale subresource answered with no object", "internal")


class PodIndex:
    """The pod cache by namespace and by label pair, so that a selector's pods are found from its rarest exact
    `key=value` instead of by a scan of the namespace (10,000 HPAs over 1,000-pod namespaces)."""

    def __init__(self) -> None:
        self._pods: dict[str, dict[str, PodEntry]] = {}
        self._by_label: dict[tuple[str, str, str], set[str]] = {}

    def put(self, entry: PodEntry) -> None:
        self.remove(entry.namespace, entry.info.name)
        self._pods.setdefault(entry.namespace, {})[entry.info.name] = entry
        for k, v in entry.labels.items():
            self._by_label.setdefault((entry.namespace, k, v), set()).add(entry.info.name)

    def remove(self, namespace: str, name: str) -> None:
        old = self._pods.get(namespace, {}).pop(name, None)
        if old is None:
            return
        for k, v in old.labels.items():
            names = self._by_label.get((namespace, k, v))
            if names is not None:
                names.discard(name)
                if not names:
                    del self._by_label[(namespace, k, v)]

    def select(self, namespace: str, selector: LabelSelector) -> list[PodEntry]:
        if selector.selects_nothing:
            return []
        pods = self._pods.get(namespace, {})
        exact = selector.exact_matches()
        if not exact:
            return [p for p in pods.values() if selector.matches(p.labels)]
        names = min((self._by_label.get((namespace, k, v), set()) for k, v in exact.items()), key=len)
        return [p for n in sorted(names) if selector.matches((p := pods[n]).labels)]


async def sync_input(metrics: MetricsClient, stored: Mapping[str, Any], target: ScaleTarget,
                     pods: Sequence[PodEntry], *, now: float, history: decide.History, settings: decide.Settings,
                     ambiguous_hpas: tuple[str, ...] = ()) -> decide.SyncInput:
    """Fetch every metric of `stored` (a stored autoscaling/v2 HPA) and assemble the sync's input."""
    namespace = str((stored.get("metadata") or {}).get("namespace") or "default")
    specs = metricspecs.parse_metric_specs(defaulting.parse_spec(dict(stored)).metrics)
    fetched = await metrics.fetch_all(specs, namespace=namespace, selector=target.selector)
    return decide.SyncInput(hpa=stored, scale=target.scale, pods=tuple(p.info for p in pods), metrics=fetched,
                            now=now, history=history, settings=settings, selector_error=target.selector_error,
                            ambiguous_hpas=ambiguous_hpas)
