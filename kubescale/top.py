"""`kubescale top nodes|pods`: the tables `kubectl top node` and `kubectl top pod` print (kubectl v1.32,
pkg/cmd/top and pkg/metricsutil/metrics_printer.go), byte for byte, from the metrics.k8s.io API.

The tables are pure functions over the decoded NodeMetricsList/PodMetricsList JSON (and the Node objects, for
`CPU(%)`/`MEMORY(%)`); `top_nodes`/`top_pods` are the thin fetch over any client with kubeclient's `get`;
`register` adds the subcommand to the `kubescale` CLI. Where kubectl's output depends on Go map order (nodes
without metrics) we sort by name; where it depends on Go's unstable sort (ties under `--sort-by` beyond 12 rows)
we keep the server's order.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp

from kubescale import kubeclient, kubeconfig, quantity
from metricsd.formatting import format_duration

NODE_COLUMNS = ("NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)")  # v1.32 prints "CPU(%)", not "CPU%"
POD_COLUMNS = ("NAME", "CPU(cores)", "MEMORY(bytes)")
SORT_KEYS = ("cpu", "memory")
UNKNOWN = "<unknown>"
METRICS_GROUP, METRICS_VERSION = "metrics.k8s.io", "v1beta1"
METRICS_PREFIX = f"/apis/{METRICS_GROUP}/{METRICS_VERSION}"
METRICS_CREATION_DELAY_NS = 120 * 10**9  # top_pod.go metricsCreationDelay: 2 minutes

# cli-runtime printers.GetNewTabWriter: liggitt/tabwriter, minwidth 6, tabwidth 4, padding 3, ' ', RememberWidths
_MIN_WIDTH, _PADDING = 6, 3
_NANO, _MILLI_IN_NANO, _MI = 10**9, 10**6, 1024 * 1024
_INT64_MIN = -(2**63)
_MAX_DURATION_NS = 2**63 - 1
# integers of up to 15 digits with the suffixes metrics-server prints: exact in nanos, far from BinarySI's cap
_SIMPLE_QUANTITY = re.compile(r"([0-9]{1,15})(n|m|Ki|Mi|Gi|)")
_SIMPLE_SCALE = {"n": 1, "m": 10**6, "": 10**9, "Ki": 1024 * 10**9, "Mi": 1024**2 * 10**9, "Gi": 1024**3 * 10**9}


class TopError(Exception):
    """A failure, as the one line kubectl prints for it (`error: metrics not available yet`,
    `Error from server (NotFound): ...`)."""


@dataclass(frozen=True)
class NodeOptions:
    sort_by: str = ""  # "", "cpu" or "memory"
    no_headers: bool = False
    show_capacity: bool = False  # percentages of status.capacity instead of status.allocatable


@dataclass(frozen=True)
class PodOptions:
    sort_by: str = ""
    no_headers: bool = False
    containers: bool = False
    all_namespaces: bool = False
    sum: bool = False


@dataclass(frozen=True)
class Output:
    stdout: str
    stderr: str = ""


# -- Go's text/tabwriter (liggitt's fork, RememberWidths), for tab-terminated cells --------------------------------

def tabwrite(rows: Iterable[Sequence[str]]) -> str:
    """What kubectl's tab writer prints for `rows` written as `cell\\t` each and `\\n` per row, then flushed.

    Column widths are per block of consecutive rows that have the column (a row with fewer cells ends the block),
    at least 6, cell plus 3 spaces; a later block is at least as wide as an earlier one in the same column
    (RememberWidths). Every cell is padded, the last included, so lines end in spaces as kubectl's do.
    """
    lines = [[*row, ""] for row in rows]
    if any(len(line) < 2 for line in lines):
        raise ValueError("tabwrite: every row needs at least one cell")  # a bare "\n" would flush mid-table
    lines.append([])  # the empty line after the last newline
    out: list[str] = []
    widths: list[int] = []
    maxwidths: list[int] = []

    def write_lines(line0: int, line1: int) -> None:
        for i in range(line0, line1):
            for j, cell in enumerate(lines[i]):
                out.append(cell)
                if j < len(widths):
                    out.append(" " * (widths[j] - len(cell)))
            if i + 1 != len(lines):
                out.append("\n")

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write_lines(line0, this)
            line0 = this
            width = _MIN_WIDTH
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + _PADDING)
                this += 1
            if len(maxwidths) < len(widths):
                maxwidths.extend(widths[len(maxwidths):])
            if len(maxwidths) == len(widths):
                maxwidths.append(width)
            elif maxwidths[column] > width:
                width = maxwidths[column]
            else:
                maxwidths[column] = width
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
            this += 1
        write_lines(line0, line1)

    fmt(0, len(lines))
    return "".join(out)


# -- quantities as metrics_printer.go prints them ---------------------------------------------------------------

_HUGE_NANOS = (2**63 - 1) * 10**9


def _nanos(usage: Mapping[str, Any], resource: str) -> int:
    raw = usage.get(resource)
    if raw is None:
        return 0
    if isinstance(raw, str) and (m := _SIMPLE_QUANTITY.fullmatch(raw)) is not None:
        nanos = int(m.group(1)) * _SIMPLE_SCALE[m.group(2)]  # metrics-server's forms, without Fractions
        if nanos < _HUGE_NANOS:  # beyond, ParseQuantity's caps apply: leave them to kubescale.quantity
            return nanos
    return quantity.nano_value(raw)


def _milli(nanos: int) -> int:
    return -(-nanos // _MILLI_IN_NANO)  # Quantity.MilliValue rounds up


def _value(nanos: int) -> int:
    return -(-nanos // _NANO)  # Quantity.Value rounds up


def _usage_text(resource: str, nanos: int) -> str:
    if resource == "cpu":
        return f"{_milli(nanos)}m"
    value = _value(nanos)
    mebi = abs(value) // _MI  # Go's integer division truncates toward zero
    return f"{-mebi if value < 0 else mebi}Mi"


def _percent(used_nanos: int, available_nanos: int) -> str:
    """`int64(float64(used.MilliValue()) / float64(available.MilliValue()) * 100)`; v1.32 does not guard a zero
    denominator, and Go on amd64 turns the resulting Inf/NaN (like any out-of-range float) into MinInt64."""
    used, available = float(_milli(used_nanos)), float(_milli(available_nanos))
    if available == 0:
        return f"{_INT64_MIN}%"
    fraction = used / available * 100
    return f"{int(fraction) if abs(fraction) < 2**63 else _INT64_MIN}%"


def _usage_cells(usage: Mapping[str, int], available: Mapping[str, Any] | None) -> list[str]:
    cells = []
    for resource in ("cpu", "memory"):
        cells.append(_usage_text(resource, usage[resource]))
        if available is not None and resource in available:
            cells.append(_percent(usage[resource], quantity.nano_value(available[resource])))
    return cells


# -- nodes ------------------------------------------------------------------------------------------------------

def available_resources(nodes: Iterable[Mapping[str, Any]], *,
                        show_capacity: bool = False) -> dict[str, Mapping[str, Any]]:
    """Node name -> status.allocatable (or status.capacity), what the percentages are taken against."""
    key = "capacity" if show_capacity else "allocatable"
    return {n["metadata"]["name"]: (n.get("status") or {}).get(key) or {} for n in nodes}


def node_table(node_metrics: Mapping[str, Any], nodes: Iterable[Mapping[str, Any]], options: NodeOptions) -> str:
    """`kubectl top node` for a NodeMetricsList and the Nodes listed with the same selector: a row per metric
    (no percentage for a node that was not listed), then `<unknown>` rows for listed nodes without metrics."""
    available = available_resources(nodes, show_capacity=options.show_capacity)
    items = [(m["metadata"]["name"], {r: _nanos(m.get("usage") or {}, r) for r in ("cpu", "memory")})
             for m in node_metrics.get("items") or ()]
    if not items:
        return ""
    if options.sort_by == "cpu":
        items.sort(key=lambda item: -_milli(item[1]["cpu"]))
    elif options.sort_by == "memory":
        items.sort(key=lambda item: -_value(item[1]["memory"]))
    else:
        items.sort(key=lambda item: item[0])
    rows: list[list[str]] = [] if options.no_headers else [list(NODE_COLUMNS)]
    for name, usage in items:
        rows.append([name, *_usage_cells(usage, available.pop(name, None))])
    rows.extend([name, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN] for name in sorted(available))
    return tabwrite(rows)


# -- pods -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Pod:
    namespace: str
    name: str
    containers: tuple[tuple[str, Mapping[str, int]], ...]
    total: Mapping[str, int]


def _pod(m: Mapping[str, Any]) -> _Pod:
    containers = tuple((c.get("name", ""), {r: _nanos(c.get("usage") or {}, r) for r in ("cpu", "memory")})
                       for c in m.get("containers") or ())
    total = {r: sum(usage[r] for _, usage in containers) for r in ("cpu", "memory")}
    meta = m["metadata"]
    return _Pod(meta.get("namespace", ""), meta["name"], containers, total)


def _by_usage(sort_by: str, usage: Mapping[str, int]) -> int:
    return -_milli(usage["cpu"]) if sort_by == "cpu" else -_value(usage["memory"])


def pod_table(pod_metrics: Mapping[str, Any], options: PodOptions) -> str:
    """`kubectl top pod` for a PodMetricsList: a row per pod (or per container with `containers`), NAMESPACE
    first with `all_namespaces`, and with `sum` two rows of totals under the usage columns."""
    pods = [_pod(m) for m in pod_metrics.get("items") or ()]
    if not pods:
        return ""
    rows: list[list[str]] = []
    column_width = len(POD_COLUMNS)
    if not options.no_headers:  # kubectl widens the sum rows only when it prints the headers
        header = []
        if options.all_namespaces:
            header.append("NAMESPACE")
            column_width += 1
        if options.containers:
            header.append("POD")
            column_width += 1
        rows.append([*header, *POD_COLUMNS])
    if options.sort_by in SORT_KEYS:
        pods.sort(key=lambda p: _by_usage(options.sort_by, p.total))
    elif options.all_namespaces:
        pods.sort(key=lambda p: (p.namespace, p.name))
    else:
        pods.sort(key=lambda p: p.name)
    for pod in pods:
        prefix = [pod.namespace] if options.all_namespaces else []
        if not options.containers:
            rows.append([*prefix, pod.name, *_usage_cells(pod.total, None)])
            continue
        containers = list(pod.containers)
        if options.sort_by in SORT_KEYS:
            containers.sort(key=lambda c: _by_usage(options.sort_by, c[1]))
        else:
            containers.sort(key=lambda c: c[0])
        rows.extend([*prefix, pod.name, name, *_usage_cells(usage, None)] for name, usage in containers)
    if options.sum:
        total = {r: sum(p.total[r] for p in pods) for r in ("cpu", "memory")}
        rows.append([""] * (column_width - 2) + ["________", "________"])
        rows.append([""] * (column_width - 2) + _usage_cells(total, None))
    return tabwrite(rows)


def _created_ns(pod: Mapping[str, Any]) -> int | None:
    raw = (pod.get("metadata") or {}).get("creationTimestamp")
    if not raw:
        return None
    return int(datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()) * _NANO


def empty_metrics_error(pods: Iterable[Mapping[str, Any]], *, now: float) -> str | None:
    """verifyEmptyMetrics: why a pod listing came back empty. None when there are no pods (kubectl then says
    "No resources found"); the first pod older than 2 minutes by name; else "metrics not available yet"."""
    pods = list(pods)
    if not pods:
        return None
    for pod in pods:
        created = _created_ns(pod)
        age = _MAX_DURATION_NS if created is None else min(round(now * _NANO) - created, _MAX_DURATION_NS)
        if age > METRICS_CREATION_DELAY_NS:
            meta = pod["metadata"]
            who = f"{meta.get('namespace', '')}/{meta['name']}"
            return f"Metrics not available for pod {who}, age: {format_duration(age)}"
    return "metrics not available yet"


def metrics_api_available(group_list: Mapping[str, Any]) -> bool:
    """SupportedMetricsAPIVersionAvailable over the `/apis` APIGroupList."""
    return any(g.get("name") == METRICS_GROUP
               and any(v.get("version") == METRICS_VERSION for v in g.get("versions") or ())
               for g in group_list.get("groups") or ())


def validate(*, sort_by: str, name: str, selectors: Sequence[str], kind: str) -> None:
    """The checks of TopNodeOptions/TopPodOptions.Validate, with their messages."""
    if sort_by and sort_by not in SORT_KEYS:
        raise TopError("error: --sort-by accepts only cpu or memory")
    if name and any(selectors):
        raise TopError(f"error: only one of NAME or {'--selector' if kind == 'node' else 'selector'} can be provided")


def error_line(err: Exception) -> str:
    """kubectl's StandardErrorMessage for an API Status error (kubeclient.ApiError) or anything else."""
    if isinstance(err, kubeclient.ApiError):
        if err.reason == "Unauthorized":
            return f"error: You must be logged in to the server ({err.message})"
        return f"Error from server ({err.reason}): {err.message}" if err.reason else f"Error from server: {err.message}"
    if isinstance(err, aiohttp.ClientError | OSError | TimeoutError):
        return f"Unable to connect to the server: {err or type(err).__name__}"
    text = str(err)
    return text if text.startswith("error: ") else f"error: {text}"


# -- fetch ------------------------------------------------------------------------------------------------------

class ApiReader(Protocol):
    """What the fetch needs of kubescale.kubeclient.KubeClient: GET returning decoded JSON, ApiError otherwise."""

    async def get(self, path: str, *, params: Mapping[str, str] | None = None) -> Any: ...


def _params(**selectors: str) -> dict[str, str] | None:
    chosen = {k: v for k, v in selectors.items() if v}
    return chosen or None


async def _require_metrics_api(client: ApiReader) -> None:
    if not metrics_api_available(await client.get("/apis")):
        raise TopError("error: Metrics API not available")


async def top_nodes(client: ApiReader, *, name: str = "", selector: str = "", options: NodeOptions) -> Output:
    """RunTopNode: discovery, the node metrics (one by name or a list by label selector), then the Nodes."""
    validate(sort_by=options.sort_by, name=name, selectors=[selector], kind="node")
    await _require_metrics_api(client)
    if name:
        metrics = {"items": [await client.get(f"{METRICS_PREFIX}/nodes/{quote(name, safe='')}")]}
    else:
        metrics = await client.get(f"{METRICS_PREFIX}/nodes", params=_params(labelSelector=selector))
    if not metrics.get("items"):
        raise TopError("error: metrics not available yet")
    if name:
        nodes = [await client.get(f"/api/v1/nodes/{quote(name, safe='')}")]
    else:
        nodes = (await client.get("/api/v1/nodes", params=_params(labelSelector=selector))).get("items") or []
    return Output(node_table(metrics, nodes, options))


async def top_pods(client: ApiReader, *, namespace: str, name: str = "", selector: str = "", field_selector: str = "",
                   options: PodOptions, now: float) -> Output:
    """RunTopPod: discovery, the pod metrics (in `namespace`, or everywhere with all_namespaces), and when none
    came back, kubectl's check of the pods themselves (in `namespace`, even with all_namespaces, as kubectl)."""
    validate(sort_by=options.sort_by, name=name, selectors=[selector, field_selector], kind="pod")
    await _require_metrics_api(client)
    base = METRICS_PREFIX if options.all_namespaces else f"{METRICS_PREFIX}/namespaces/{quote(namespace, safe='')}"
    if name:
        metrics = {"items": [await client.get(f"{base}/pods/{quote(name, safe='')}")]}
    else:
        metrics = await client.get(f"{base}/pods", params=_params(labelSelector=selector, fieldSelector=field_selector))
    if metrics.get("items"):
        return Output(pod_table(metrics, options))
    pods_path = f"/api/v1/namespaces/{quote(namespace, safe='')}/pods"
    if name:
        pods = [await client.get(f"{pods_path}/{quote(name, safe='')}")]
    else:
        listed = await client.get(pods_path, params=_params(labelSelector=selector, fieldSelector=field_selector))
        pods = listed.get("items") or []
    problem = empty_metrics_error(pods, now=now)
    if problem is not None:
        raise TopError(f"error: {problem}")
    if options.all_namespaces:
        return Output("", "No resources found\n")
    return Output("", f"No resources found in {namespace} namespace.\n")


# -- command line -----------------------------------------------------------------------------------------------

def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `top nodes|pods` (aliases as kubectl's: node/no, pod/po) to the `kubescale` subcommands."""
    top = subparsers.add_parser("top", help="kubectl top-style tables from the metrics API",
                                description="Display resource (CPU/memory) usage of nodes or pods, as kubectl top.")
    kinds = top.add_subparsers(dest="top_kind", required=True, metavar="nodes|pods")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then $KUBECONFIG, ~/.kube/config)")
    common.add_argument("--context", help="the kubeconfig context to use")
    common.add_argument("-l", "--selector", default="", help="label selector to filter on (e.g. -l key1=value1)")
    common.add_argument("--sort-by", default="", help="sort by 'cpu' or 'memory' (largest first)")
    common.add_argument("--no-headers", action="store_true", help="print output without headers")
    nodes = kinds.add_parser("nodes", aliases=["node", "no"], parents=[common], help="usage of nodes",
                             description="Display resource (CPU/memory) usage of nodes.")
    nodes.add_argument("name", nargs="?", default="", metavar="NAME")
    nodes.add_argument("--show-capacity", action="store_true",
                       help="percentages of the nodes' capacity instead of their allocatable")
    nodes.set_defaults(func=_run_nodes)
    pods = kinds.add_parser("pods", aliases=["pod", "po"], parents=[common], help="usage of pods",
                            description="Display resource (CPU/memory) usage of pods.")
    pods.add_argument("name", nargs="?", default="", metavar="NAME")
    pods.add_argument("-n", "--namespace", help="namespace (default: the kubeconfig context's, else 'default')")
    pods.add_argument("-A", "--all-namespaces", action="store_true", help="pods in all namespaces")
    pods.add_argument("--containers", action="store_true", help="print usage of containers within a pod")
    pods.add_argument("--field-selector", default="", help="field selector to filter on (e.g. metadata.name=x)")
    pods.add_argument("--sum", action="store_true", help="print the sum of the resource usage")
    pods.set_defaults(func=_run_pods)


def _run_nodes(args: argparse.Namespace) -> int:
    options = NodeOptions(sort_by=args.sort_by, no_headers=args.no_headers, show_capacity=args.show_capacity)
    return _run(args, lambda client, _config: top_nodes(client, name=args.name, selector=args.selector,
                                                         options=options))


def _run_pods(args: argparse.Namespace) -> int:
    options = PodOptions(sort_by=args.sort_by, no_headers=args.no_headers, containers=args.containers,
                         all_namespaces=args.all_namespaces, sum=args.sum)
    return _run(args, lambda client, config: top_pods(
        client, namespace=args.namespace or config.namespace, name=args.name, selector=args.selector,
        field_selector=args.field_selector, options=options, now=time.time()))


Fetch = Callable[[kubeclient.KubeClient, kubeconfig.ClusterConfig], Awaitable[Output]]


def _run(args: argparse.Namespace, fetch: Fetch) -> int:
    async def go() -> Output:
        config = kubeconfig.load(args.kubeconfig, context=args.context, environ=os.environ)
        client = kubeclient.KubeClient(config)
        try:
            return await fetch(client, config)
        finally:
            await client.close()

    try:
        output = asyncio.run(go())
    except TopError as e:
        print(e, file=sys.stderr)
        return 1
    except (kubeclient.ApiError, aiohttp.ClientError, OSError, TimeoutError, ValueError) as e:
        print(error_line(e), file=sys.stderr)
        return 1
    sys.stdout.write(output.stdout)
    sys.stderr.write(output.stderr)
    return 0


__all__ = ["NodeOptions", "Output", "PodOptions", "TopError", "available_resources", "empty_metrics_error",
           "error_line", "metrics_api_available", "node_table", "pod_table", "register", "tabwrite", "top_nodes",
           "top_pods", "validate"]
