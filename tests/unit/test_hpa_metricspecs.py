"""metricspecs: autoscaling/v2 `spec.metrics` dicts read into model.MetricSpec, errors naming the field path."""

from __future__ import annotations

from typing import Any

import pytest

from autoscaler.hpa import metricspecs, model
from autoscaler.hpa.model import (
    ContainerResourceMetricSource,
    CrossVersionObjectReference,
    ExternalMetricSource,
    LabelSelector,
    LabelSelectorRequirement,
    MetricIdentifier,
    MetricSpec,
    MetricTarget,
    ObjectMetricSource,
    PodsMetricSource,
    ResourceMetricSource,
)

SEL = {"matchLabels": {"queue": "a"}, "matchExpressions": [{"key": "zone", "operator": "In", "values": ["x", "y"]}]}
PARSED_SEL = LabelSelector({"queue": "a"}, (LabelSelectorRequirement("zone", "In", ("x", "y")),))


@pytest.mark.parametrize(("raw", "want", "name"), [
    pytest.param({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                            "averageUtilization": 60}}},
                 MetricSpec("Resource", resource=ResourceMetricSource("cpu", MetricTarget("Utilization",
                                                                                          average_utilization=60))),
                 "cpu", id="resource-utilization"),
    pytest.param({"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue",
                                                                               "averageValue": "1Gi"}}},
                 MetricSpec("Resource", resource=ResourceMetricSource("memory", MetricTarget(
                     "AverageValue", average_value_milli=1024**3 * 1000))), "memory", id="resource-average-value"),
    pytest.param({"type": "ContainerResource", "containerResource": {
        "name": "cpu", "container": "app", "target": {"type": "AverageValue", "averageValue": "250m"}}},
                 MetricSpec("ContainerResource", container_resource=ContainerResourceMetricSource(
                     "cpu", "app", MetricTarget("AverageValue", average_value_milli=250))), "cpu", id="container"),
    pytest.param({"type": "Pods", "pods": {"metric": {"name": "qps", "selector": SEL},
                                           "target": {"type": "AverageValue", "averageValue": "1.5"}}},
                 MetricSpec("Pods", pods=PodsMetricSource(MetricIdentifier("qps", PARSED_SEL),
                                                          MetricTarget("AverageValue", average_value_milli=1500))),
                 "qps", id="pods"),
    pytest.param({"type": "Object", "object": {
        "describedObject": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "main"},
        "metric": {"name": "rps"}, "target": {"type": "Value", "value": "2k"}}},
                 MetricSpec("Object", object=ObjectMetricSource(
                     CrossVersionObjectReference("Ingress", "main", "networking.k8s.io/v1"), MetricIdentifier("rps"),
                     MetricTarget("Value", value_milli=2_000_000))), "rps", id="object"),
    pytest.param({"type": "External", "external": {"metric": {"name": "queue"},
                                                   "target": {"type": "Value", "value": 30}}},
                 MetricSpec("External", external=ExternalMetricSource(MetricIdentifier("queue"),
                                                                      MetricTarget("Value", value_milli=30_000))),
                 "queue", id="external"),
    pytest.param({"type": "CheddarCheese"}, MetricSpec("CheddarCheese"), "", id="unknown-type-kept"),
])
def test_parse(raw: dict[str, Any], want: model.MetricSpec, name: str) -> None:
    got = metricspecs.parse_metric_spec(raw)
    assert got == want
    assert metricspecs.metric_display_name(got) == name


@pytest.mark.parametrize(("raws", "message"), [
    pytest.param([{"type": "Resource"}], "spec.metrics[0].resource: expected an object", id="missing-source"),
    pytest.param([{"type": "Pods", "pods": {"metric": {"name": "a"}, "target": {}}},
                  {"type": "Pods", "pods": {"metric": {}, "target": {}}}],
                 "spec.metrics[1].pods.metric.name: required string", id="metric-name"),
    pytest.param([{"type": "External", "external": {"metric": {"name": "q"}, "target": {"value": "ten"}}}],
                 "spec.metrics[0].external.target.value:", id="quantity"),
    pytest.param([{"type": "Object", "object": {"describedObject": {"kind": "Ingress"}, "metric": {"name": "r"},
                                                "target": {}}}],
                 "spec.metrics[0].object.describedObject.name: required string", id="described-object"),
    pytest.param(["cpu"], "spec.metrics[0]: expected an object", id="not-an-object"),
])
def test_errors_name_the_field(raws: list[Any], message: str) -> None:
    with pytest.raises(metricspecs.MetricSpecError) as info:
        metricspecs.parse_metric_specs(raws)
    assert str(info.value).startswith(message)
