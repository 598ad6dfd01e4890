"""metricsd.targets: kubelet URLs as metrics-server builds them, and --node-selector matching."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubesim.selectors import SelectorError
from metricsd.objects import NodeMeta, node_meta
from metricsd.targets import (
    DEFAULT_ADDRESS_TYPES,
    Target,
    TargetError,
    escape_path,
    node_selected,
    parse_node_selector,
    target,
)

ALL = (("Hostname", "node-1"), ("InternalDNS", "node-1.internal"), ("InternalIP", "10.0.0.1"),
       ("ExternalDNS", "node-1.example.com"), ("ExternalIP", "203.0.113.7"))


def _node(addresses: tuple[tuple[str, str], ...] = ALL, *, port: int = 0, path: str | None = None,
          labels: Mapping[str, str] | None = None) -> NodeMeta:
    return NodeMeta(name="node-1", labels=labels or {}, addresses=addresses, kubelet_port=port, metrics_path=path,
                    creation_timestamp="", allocatable_cpu_millis=None, allocatable_memory_bytes=None)


def _url(node: NodeMeta, *, types: tuple[str, ...] = DEFAULT_ADDRESS_TYPES, port: int = 10250,
         use_node_status_port: bool = False, scheme: str = "https") -> str:
    return target(node, address_types=types, port=port, use_node_status_port=use_node_status_port,
                  scheme=scheme).url


@pytest.mark.parametrize(("addresses", "types", "url"), [
    pytest.param(ALL, DEFAULT_ADDRESS_TYPES, "https://node-1:10250/metrics/resource", id="hostname-first-by-default"),
    pytest.param(ALL, ("InternalIP",), "https://10.0.0.1:10250/metrics/resource", id="internal-ip-only"),
    pytest.param(ALL, ("ExternalIP", "InternalIP"), "https://203.0.113.7:10250/metrics/resource",
                 id="type-order-wins-over-address-order"),
    pytest.param((("InternalIP", "10.0.0.1"), ("InternalIP", "10.0.0.2")), ("InternalIP",),
                 "https://10.0.0.1:10250/metrics/resource", id="first-address-of-a-type"),
    pytest.param((("ExternalIP", "203.0.113.7"), ("InternalIP", "10.0.0.1")), ("Hostname", "InternalIP"),
                 "https://10.0.0.1:10250/metrics/resource", id="missing-type-falls-through"),
    pytest.param((("InternalIP", "fd00::1"),), ("InternalIP",), "https://[fd00::1]:10250/metrics/resource",
                 id="ipv6-bracketed"),
    pytest.param((("InternalIP", "fe80::1%eth0"),), ("InternalIP",),
                 "https://[fe80::1%25eth0]:10250/metrics/resource", id="ipv6-zone-escaped"),
    pytest.param((("Hostname", ""), ("InternalIP", "10.0.0.1")), DEFAULT_ADDRESS_TYPES,
                 "https://10.0.0.1:10250/metrics/resource", id="empty-address-skipped"),
])
def test_address_by_preferred_types(addresses: tuple[tuple[str, str], ...], types: tuple[str, ...],
                                    url: str) -> None:
    assert _url(_node(addresses), types=types) == url


@pytest.mark.parametrize(("addresses", "types", "message"), [
    pytest.param((), DEFAULT_ADDRESS_TYPES,
                 "no address matched types [Hostname InternalDNS InternalIP ExternalDNS ExternalIP]", id="none"),
    pytest.param((("ExternalIP", "203.0.113.7"),), ("InternalIP",), "no address matched types [InternalIP]",
                 id="other-types-only"),
    pytest.param((("InternalIP", ""),), ("InternalIP",), "no address matched types [InternalIP]", id="empty-only"),
])
def test_no_address(addresses: tuple[tuple[str, str], ...], types: tuple[str, ...], message: str) -> None:
    with pytest.raises(TargetError, match=r"^no address") as info:
        _url(_node(addresses), types=types)
    assert (info.value.node, str(info.value)) == ("node-1", message)


@pytest.mark.parametrize(("status_port", "use", "flag_port", "port"), [
    pytest.param(10255, False, 10250, 10250, id="flag-port-by-default"),
    pytest.param(10255, True, 10250, 10255, id="node-status-port"),
    pytest.param(0, True, 10250, 10250, id="zero-status-port-falls-back"),
    pytest.param(0, False, 4443, 4443, id="custom-flag-port"),
])
def test_port(status_port: int, use: bool, flag_port: int, port: int) -> None:
    url = _url(_node((("InternalIP", "10.0.0.1"),), port=status_port), port=flag_port, use_node_status_port=use)
    assert url == f"https://10.0.0.1:{port}/metrics/resource"


@pytest.mark.parametrize(("annotation", "path"), [
    pytest.param(None, "/metrics/resource", id="default"),
    pytest.param("", "/metrics/resource", id="empty-annotation"),
    pytest.param("/metrics/nodes/kwok-node-0/metrics/resource", "/metrics/nodes/kwok-node-0/metrics/resource",
                 id="kwok-style"),
    pytest.param("metrics/resource", "/metrics/resource", id="relative-gets-slash"),
    pytest.param("/a b/c?d#e", "/a%20b/c%3Fd%23e", id="query-and-fragment-escaped"),
    pytest.param("/x/$&+,:;=@/-_.~", "/x/$&+,:;=@/-_.~", id="go-path-safe-kept"),
    pytest.param("/50%/ü/!*'()", "/50%25/%C3%BC/%21%2A%27%28%29", id="percent-utf8-and-marks-escaped"),
])
def test_path_annotation(annotation: str | None, path: str) -> None:
    assert _url(_node((("InternalIP", "10.0.0.1"),), path=annotation)) == f"https://10.0.0.1:10250{path}"


def test_scheme_and_target_from_api_object() -> None:
    node = node_meta({
        "metadata": {"name": "n", "annotations": {"metrics.k8s.io/resource-metrics-path": "/m"}},
        "status": {"addresses": [{"type": "InternalIP", "address": "127.1.0.1"}],
                   "daemonEndpoints": {"kubeletEndpoint": {"Port": 31000}}},
    })
    got = target(node, address_types=("InternalIP",), port=10250, use_node_status_port=True, scheme="http")
    assert got == Target("n", "http://127.1.0.1:31000/m")


@given(st.text())
def test_escaped_path_is_absolute_ascii_without_query_or_fragment(path: str) -> None:
    escaped = escape_path(path)
    assert escaped.startswith("/") and escaped.isascii()
    assert "?" not in escaped and "#" not in escaped and " " not in escaped


@pytest.mark.parametrize(("selector", "labels", "selected"), [
    pytest.param("", {}, True, id="empty-selects-all"),
    pytest.param("role=worker", {"role": "worker"}, True, id="equals"),
    pytest.param("role==worker", {"role": "master"}, False, id="double-equals-mismatch"),
    pytest.param("role!=master", {}, True, id="not-equals-absent"),
    pytest.param("role!=master", {"role": "master"}, False, id="not-equals-present"),
    pytest.param("role=worker,zone=a", {"role": "worker", "zone": "b"}, False, id="and"),
    pytest.param("zone in (a,b)", {"zone": "b"}, True, id="set-in"),
    pytest.param("zone notin (a,b)", {"zone": "c"}, True, id="set-notin"),
    pytest.param("gpu", {"gpu": ""}, True, id="exists"),
    pytest.param("!gpu", {"gpu": ""}, False, id="does-not-exist"),
])
def test_node_selector(selector: str, labels: dict[str, str], selected: bool) -> None:
    assert node_selected(parse_node_selector(selector), labels) is selected


@pytest.mark.parametrize("selector", [
    pytest.param("=x", id="no-key"),
    pytest.param("zone in a", id="set-without-parens"),
    pytest.param("a b", id="two-keys"),
])
def test_bad_node_selector(selector: str) -> None:
    with pytest.raises(SelectorError):
        parse_node_selector(selector)
