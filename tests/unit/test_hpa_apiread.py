"""apiread: metrics API items into model data (both custom metrics versions) and client-go's error texts."""

from __future__ import annotations

import pytest

from autoscaler.hpa import apiread, model
from autoscaler.hpa.metricsclient import client_error_text
from kubescale.kubeclient import ApiError

TS = "2026-11-22T10:00:00Z"
TS_S = 1795341600.0


def test_pod_metric_sample() -> None:
    raw = {"metadata": {"name": "web-1", "namespace": "shop"}, "timestamp": TS, "window": "15.2s",
           "containers": [{"name": "app", "usage": {"cpu": "250m", "memory": "10Mi"}},
                          {"name": "proxy", "usage": {"cpu": "12345n", "memory": "6789Ki"}}]}
    sample = apiread.pod_metric_sample(raw, "items[0]")
    assert sample == model.PodMetricSample("web-1", TS_S, 15.2, (
        model.ContainerUsage("app", {"cpu": 250, "memory": 10 * 1024 * 1024 * 1000}),
        model.ContainerUsage("proxy", {"cpu": 1, "memory": 6789 * 1024 * 1000})), "shop")


@pytest.mark.parametrize(("raw", "expected"), [
    pytest.param({"describedObject": {"kind": "Pod", "name": "p"}, "metric": {"name": "rps"}, "timestamp": TS,
                  "windowSeconds": 60, "value": "1500m"},
                 apiread.CustomValue({"kind": "Pod", "name": "p"}, "rps", 1500, TS_S, 60.0), id="v1beta2"),
    pytest.param({"describedObject": {"kind": "Service", "name": "s"}, "metricName": "rps", "timestamp": TS,
                  "window": 30, "value": "7"},
                 apiread.CustomValue({"kind": "Service", "name": "s"}, "rps", 7000, TS_S, 30.0), id="v1beta1"),
    pytest.param({"describedObject": {"kind": "Pod", "name": "p"}, "metric": {"name": "rps"}, "timestamp": TS,
                  "value": "1"},
                 apiread.CustomValue({"kind": "Pod", "name": "p"}, "rps", 1000, TS_S, None), id="no-window"),
])
def test_custom_value(raw: dict, expected: apiread.CustomValue) -> None:
    assert apiread.custom_value(raw, "items[0]") == expected


def test_external_value_and_errors_name_the_field() -> None:
    v = apiread.external_value({"metricName": "queue", "metricLabels": {"q": "jobs"}, "timestamp": TS,
                                "value": "42"}, "items[3]")
    assert v == apiread.ExternalValue("queue", {"q": "jobs"}, 42000, TS_S)
    with pytest.raises(apiread.ReadError, match=r"^items\[3\]\.value: invalid quantity 'lots'"):
        apiread.external_value({"metricName": "queue", "timestamp": TS, "value": "lots"}, "items[3]")


def test_metric_selector_string_is_the_query() -> None:
    sel = model.LabelSelector({"queue": "jobs"}, (model.LabelSelectorRequirement("zone", "In", ("a", "b")),))
    assert str(apiread.metric_selector(sel)) == "queue=jobs,zone in (a,b)"
    assert str(apiread.metric_selector(None)) == ""


@pytest.mark.parametrize(("err", "expected"), [
    pytest.param(ApiError(503, "ServiceUnavailable", "service unavailable"),
                 "the server is currently unable to handle the request (get pods.metrics.k8s.io)", id="503-no-status"),
    pytest.param(ApiError(404, "NotFound", "404 page not found"),
                 "the server could not find the requested resource (get pods.metrics.k8s.io)", id="404-no-status"),
    pytest.param(ApiError(404, "NotFound", 'podmetrics.metrics.k8s.io "x" not found',
                          {"kind": "Status", "message": 'podmetrics.metrics.k8s.io "x" not found'}),
                 'podmetrics.metrics.k8s.io "x" not found', id="status-message"),
    pytest.param(ApiError(500, "InternalError", "boom"),
                 'an error on the server ("boom") has prevented the request from succeeding (get pods.metrics.k8s.io)',
                 id="500-no-status"),
    pytest.param(TimeoutError(), 'Get "https://k/apis": context deadline exceeded', id="timeout"),
])
def test_client_error_text(err: BaseException, expected: str) -> None:
    assert client_error_text(err, verb="get", resource="pods.metrics.k8s.io", url="https://k/apis") == expected
