"""The HPA's metrics clients, as kube-controller-manager's (pkg/controller/podautoscaler/metrics/client.go and
k8s.io/metrics' custom and external clients): one call per metric spec and sync, each turned into the
`model.MetricFetch` the pure calculator reads.

- Resource / ContainerResource: `metrics.k8s.io/v1beta1` PodMetrics listed with the scale's selector.
- Pods: `custom.metrics.k8s.io` `namespaces/NS/pods/*/METRIC?labelSelector=&metricLabelSelector=`.
- Object: `custom.metrics.k8s.io` `namespaces/NS/RESOURCE.GROUP/NAME/METRIC` (a Namespace: `namespaces/NAME/
  metrics/METRIC`), the resource found through the RESTMapper.
- External: `external.metrics.k8s.io/v1beta1` `namespaces/NS/METRIC?labelSelector=`.
The custom metrics version is discovered (v1beta2 preferred, else v1beta1). A failed call becomes the fetch's
`error` with client-go's text; nothing here raises.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from urllib.parse import quote

import aiohttp

from autoscaler.hpa import apiread, model
from kubescale.kubeclient import ApiError, KubeClient
from kubescale.restmapper import NoKindMatchError, RESTMapper, split_api_version
from kubesim.selectors import LabelSelector

RESOURCE_METRICS = "/apis/metrics.k8s.io/v1beta1"
CUSTOM_GROUP = "custom.metrics.k8s.io"
CUSTOM_VERSIONS = ("v1beta2", "v1beta1")
EXTERNAL_METRICS = "/apis/external.metrics.k8s.io/v1beta1"

# apimachinery's NewGenericServerResponse texts for a response without a Status body
_GENERIC = {
    404: "the server could not find the requested resource",
    401: "Unauthorized", 403: "Forbidden", 409: "the server reported a conflict",
    429: "the server has received too many requests and has asked us to try again later",
    503: "the server is currently unable to handle the request",
    504: "the server was unable to return a response in the time allotted, but may still be processing the request",
}


def client_error_text(err: BaseException, *, verb: str, resource: str, url: str = "") -> str:
    """What client-go's error would print for a failed call: the Status message when the server sent one,
    else the generic text with `(verb resource)`."""
    if isinstance(err, ApiError):
        if isinstance(err.body, dict) and err.body.get("kind") == "Status" and err.message:
            return err.message
        generic = _GENERIC.get(err.status)
        if generic is None:
            generic = f'an error on the server ("{err.message}") has prevented the request from succeeding'
        return f"{generic} ({verb} {resource})"
    if isinstance(err, TimeoutError):
        return f'Get "{url}": context deadline exceeded'
    return f'Get "{url}": {err}'


class MetricsClient:
    """Fetches every metric of one HPA sync."""

    def __init__(self, client: KubeClient, mapper: RESTMapper, *, timeout_s: float = 30.0) -> None:
        self.client = client
        self.mapper = mapper
        self.timeout_s = timeout_s
        self.requests = 0
        self.failures = 0

    async def _get(self, path: str, params: dict[str, str], *, resource: str) -> tuple[dict | None, str | None]:
        self.requests += 1
        try:
            body = await self.client.request("GET", path, params=params, timeout_s=self.timeout_s)
        except (ApiError, aiohttp.ClientError, TimeoutError, OSError) as e:
            self.failures += 1
            return None, client_error_text(e, verb="get", resource=resource, url=self.client.url(path))
        if not isinstance(body, dict):
            self.failures += 1
            return None, f"unexpected response for {resource}: not an object"
        return body, None

    async def fetch_all(self, specs: Sequence[model.MetricSpec], *, namespace: str,
                        selector: LabelSelector) -> tuple[model.MetricFetch, ...]:
        """One fetch per spec, concurrently, in spec order."""
        return tuple(await asyncio.gather(*(self.fetch(s, namespace=namespace, selector=selector) for s in specs)))

    async def fetch(self, spec: model.MetricSpec, *, namespace: str, selector: LabelSelector) -> model.MetricFetch:
        if spec.type in (model.RESOURCE, model.CONTAINER_RESOURCE):
            return await self.resource(namespace, selector)
        if spec.type == model.PODS and spec.pods is not None:
            return await self.pods(namespace, spec.pods.metric, selector)
        if spec.type == model.OBJECT and spec.object is not None:
            return await self.object(namespace, spec.object.described_object, spec.object.metric)
        if spec.type == model.EXTERNAL and spec.external is not None:
            return await self.external(namespace, spec.external.metric)
        return model.ResourceMetricsFetch()  # the calculator rejects an unknown type before reading this

    async def resource(self, namespace: str, selector: LabelSelector) -> model.ResourceMetricsFetch:
        body, err = await self._get(f"{RESOURCE_METRICS}/namespaces/{namespace}/pods",
                                    {"labelSelector": str(selector)}, resource="pods.metrics.k8s.io")
        if err is not None or body is None:
            return model.ResourceMetricsFetch(error=err)
        try:
            items = tuple(apiread.pod_metric_sample(m, f"items[{i}]", namespace=namespace)
                          for i, m in enumerate(apiread.lst(body.get("items"), "items")))
        except apiread.ReadError as e:
            return model.ResourceMetricsFetch(error=f"unable to decode the PodMetrics list: {e}")
        return model.ResourceMetricsFetch(items)

    async def _custom_base(self) -> str | None:
        version = await self.mapper.preferred_version(CUSTOM_GROUP, CUSTOM_VERSIONS)
        return None if version is None else f"/apis/{CUSTOM_GROUP}/{version}"

    async def _custom_list(self, path: str, params: dict[str, str], resource: str,
                           ) -> tuple[list[apiread.CustomValue], str | None]:
        base = await self._custom_base()
        if base is None:
            self.failures += 1
            return [], f"no known available metric versions found (get {resource})"
        body, err = await self._get(base + path, params, resource=resource)
        if err is not None or body is None:
            return [], err
        try:
            return [apiread.custom_value(m, f"items[{i}]")
                    for i, m in enumerate(apiread.lst(body.get("items"), "items"))], None
        except apiread.ReadError as e:
            return [], f"unable to decode the MetricValueList: {e}"

    async def pods(self, namespace: str, metric: model.MetricIdentifier,
                   selector: LabelSelector) -> model.PodsMetricsFetch:
        params = {"labelSelector": str(selector)}
        if metric.selector is not None:
            params["metricLabelSelector"] = str(apiread.metric_selector(metric.selector))
        values, err = await self._custom_list(f"/namespaces/{namespace}/pods/*/{quote(metric.name, safe='')}",
                                              params, f"pods.{CUSTOM_GROUP}")
        if err is not None:
            return model.PodsMetricsFetch(error=err)
        return model.PodsMetricsFetch(tuple(
            model.PodMetricValue(str(v.described.get("name") or ""), v.value_milli, v.timestamp_s, v.window_s)
            for v in values))

    async def object(self, namespace: str, ref: model.CrossVersionObjectReference,
                     metric: model.MetricIdentifier) -> model.ObjectMetricFetch:
        try:
            group, _ = split_api_version(ref.api_version)
        except ValueError as e:
            return model.ObjectMetricFetch(error=str(e))
        name = quote(metric.name, safe="")
        if group == "" and ref.kind == "Namespace":
            path, resource = f"/namespaces/{ref.name}/metrics/{name}", f"metrics.{CUSTOM_GROUP}"
        else:
            try:
                mapping = await self.mapper.resource_for_kind(group, ref.kind)
            except NoKindMatchError as e:
                return model.ObjectMetricFetch(error=str(e))
            except (ApiError, aiohttp.ClientError, TimeoutError, OSError) as e:
                return model.ObjectMetricFetch(error=client_error_text(e, verb="get", resource="discovery"))
            path = f"/namespaces/{namespace}/{mapping.group_resource}/{ref.name}/{name}"
            resource = f"{mapping.group_resource}.{CUSTOM_GROUP}"
        params = {} if metric.selector is None else {
            "metricLabelSelector": str(apiread.metric_selector(metric.selector))}
        values, err = await self._custom_list(path, params, resource)
        if err is not None:
            return model.ObjectMetricFetch(error=err)
        if len(values) != 1:
            return model.ObjectMetricFetch(error=f"the custom metrics API server returned {len(values)} results "
                                                 "when we asked for exactly one")
        return model.ObjectMetricFetch(values[0].value_milli, values[0].timestamp_s)

    async def external(self, namespace: str, metric: model.MetricIdentifier) -> model.ExternalMetricsFetch:
        body, err = await self._get(f"{EXTERNAL_METRICS}/namespaces/{namespace}/{quote(metric.name, safe='')}",
                                    {"labelSelector": str(apiread.metric_selector(metric.selector))},
                                    resource=f"{metric.name}.external.metrics.k8s.io")
        if err is not None or body is None:
            return model.ExternalMetricsFetch(error=err)
        try:
            values = [apiread.external_value(m, f"items[{i}]")
                      for i, m in enumerate(apiread.lst(body.get("items"), "items"))]
        except apiread.ReadError as e:
            return model.ExternalMetricsFetch(error=f"unable to decode the ExternalMetricValueList: {e}")
        return model.ExternalMetricsFetch(tuple(v.value_milli for v in values),
                                          values[0].timestamp_s if values else model.ZERO_TIME)
