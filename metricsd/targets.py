"""Where metricsd scrapes a node: the kubelet URL from a NodeMeta, and the `--node-selector` that picks the nodes.

Pure; no I/O. Follows metrics-server: the address is the first address of the first type in
`--kubelet-preferred-address-types` that the node has (pkg/utils/address_resolver.go), the port is
`--kubelet-port` unless `--kubelet-use-node-status-port` and the node reports a non-zero
`status.daemonEndpoints.kubeletEndpoint.Port`, the path is `/metrics/resource` unless the node's
`metrics.k8s.io/resource-metrics-path` annotation is non-empty, and the URL is written as Go's `url.URL.String()`
writes it (`net.JoinHostPort` brackets IPv6, the path escaped as `EscapedPath` does).
Deliberate difference: an empty address is skipped (upstream would take it and dial the local host).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from kubesim.selectors import LabelSelector, parse_label_selector
from metricsd.objects import NodeMeta

DEFAULT_ADDRESS_TYPES = ("Hostname", "InternalDNS", "InternalIP", "ExternalDNS", "ExternalIP")
DEFAULT_METRICS_PATH = "/metrics/resource"
DEFAULT_PORT = 10250
# Go's shouldEscape(c, encodePath) keeps these besides letters, digits and "-_.~" (which quote always keeps)
_PATH_SAFE = "$&+,/:;=@"


class TargetError(ValueError):
    """A node metricsd cannot build a kubelet URL for; the message is upstream's."""

    def __init__(self, node: str, message: str) -> None:
        super().__init__(message)
        self.node = node
        self.message = message


@dataclass(frozen=True, slots=True)
class Target:
    """One kubelet to scrape: the node's name and the URL of its resource metrics."""

    node: str
    url: str


def node_address(addresses: Sequence[tuple[str, str]], address_types: Sequence[str]) -> str | None:
    """The first non-empty address of the first preferred type the node has, or None."""
    for wanted in address_types:
        for kind, address in addresses:
            if kind == wanted and address:
                return address
    return None


def join_host_port(host: str, port: int) -> str:
    """Go's `net.JoinHostPort` as `url.URL.String()` writes it: IPv6 in brackets, a zone's `%` escaped."""
    if ":" in host:
        return f"[{host.replace('%', '%25')}]:{port}"
    return f"{host}:{port}"


def escape_path(path: str) -> str:
    """Go's `url.URL.EscapedPath()` for a path without RawPath, with the `/` String() adds before a relative
    path when there is a host."""
    escaped = quote(path, safe=_PATH_SAFE)
    return escaped if escaped.startswith("/") else "/" + escaped


def target(node: NodeMeta, *, address_types: Sequence[str], port: int, use_node_status_port: bool,
           scheme: str) -> Target:
    """The kubelet URL of `node`; TargetError when none of its addresses has a preferred type."""
    address = node_address(node.addresses, address_types)
    if address is None:
        # upstream formats the []NodeAddressType with %v: "[Hostname InternalIP]"
        raise TargetError(node.name, f"no address matched types [{' '.join(address_types)}]")
    if use_node_status_port and node.kubelet_port != 0:
        port = node.kubelet_port
    path = node.metrics_path or DEFAULT_METRICS_PATH
    return Target(node.name, f"{scheme}://{join_host_port(address, port)}{escape_path(path)}")


def parse_node_selector(text: str) -> LabelSelector:
    """`--node-selector` in label-selector syntax (labels.Parse); "" selects every node. Raises SelectorError
    (a ValueError) with upstream's message."""
    return parse_label_selector(text)


def node_selected(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """Whether a node with `labels` is scraped under `selector`."""
    return selector.matches(labels)


__all__ = ["DEFAULT_ADDRESS_TYPES", "DEFAULT_METRICS_PATH", "DEFAULT_PORT", "Target", "TargetError",
           "escape_path", "join_host_port", "node_address", "node_selected", "parse_node_selector", "target"]
