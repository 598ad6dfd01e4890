"""Decoding a kubelet's `/metrics/resource` text into the node and container samples metrics-server keeps.

Pure; no I/O. Reads only the five families metrics-server's resource decoder reads (node and container CPU
counters and working sets, container start times); every other line (HELP/TYPE/comments, other families) is
skipped without being parsed. A malformed line of a needed family rejects the whole scrape with `DecodeError`
naming the line; nothing else is ever raised.

Upstream rules kept (metrics-server pkg/scraper/client/resource/decode.go, Prometheus text format as
prometheus/model/textparse's PromParser lexes it):
- a sample without a timestamp gets the request time; a node's and a container's timestamp is that of the
  last of its CPU/memory lines in the text (the start-time line carries none of its own);
- CPU is kept as `uint64(seconds * 1e9)` core-nanoseconds, memory as `uint64(bytes)`, start time as
  `int64(seconds * 1e9)` nanoseconds: the same float arithmetic, truncated toward zero;
- the node is dropped when it has no CPU or memory sample, or either reads zero; a pod is dropped (all its
  containers) when any of its containers lacks a CPU or memory sample or either reads zero.
Deliberate differences, where Go's behaviour is undefined or accidental: a NaN, infinite, negative or
out-of-range CPU/memory value counts as zero (Go's float->uint64 conversion makes a garbage counter of it on
amd64); a non-finite start time counts as absent; label values are unescaped (`\\"`, `\\\\`, `\\n`) and read by
name in any order, where upstream takes the raw bytes up to the first quote; a missing `container`,
`namespace` or `pod` label is an error, not an empty name; malformed lines of other families are skipped
(upstream's full parser rejects the scrape); a timestamp past year 2262 (nanoseconds overflowing int64) is an
error. Swap (`*_swap_usage_bytes`, read by the newest upstream) is not read.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass

NODE_CPU = "node_cpu_usage_seconds_total"
NODE_MEMORY = "node_memory_working_set_bytes"
CONTAINER_CPU = "container_cpu_usage_seconds_total"
CONTAINER_MEMORY = "container_memory_working_set_bytes"
CONTAINER_START = "container_start_time_seconds"
FAMILIES = (NODE_CPU, NODE_MEMORY, CONTAINER_CPU, CONTAINER_MEMORY, CONTAINER_START)

_MAX_INT64 = 2**63 - 1
_MAX_TS_MS = _MAX_INT64 // 1_000_000  # the latest timestamp whose nanoseconds fit an int64
_CONTAINER_FAMILY = {"c": CONTAINER_CPU, "m": CONTAINER_MEMORY}
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:")
_LABEL_VALUE = r'"(?:\\.|[^\\"])*"'
_PAIR = r"[a-zA-Z_][a-zA-Z0-9_]*[ \t]*=[ \t]*" + _LABEL_VALUE
# after the name: optional {labels} (pairs separated by commas and/or blanks, a trailing comma allowed),
# the value token, an optional all-digit millisecond timestamp, trailing blanks
_REST = re.compile(
    r"[ \t]*(?:\{[ \t]*((?:" + _PAIR + r"[ \t]*(?:,[ \t]*)?)*)\}[ \t]*)?([^{ \t]+)(?:[ \t]+([0-9]+))?[ \t]*"
)
_TAIL = re.compile(r"[ \t]*([^{ \t]+)(?:[ \t]+([0-9]+))?[ \t]*")  # what follows a label block seen before
_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*\"((?:\\.|[^\\\"])*)\"")
_ESCAPE = re.compile(r"\\([\"\\n])")
_UNESCAPED = {'"': '"', "\\": "\\", "n": "\n"}


class DecodeError(ValueError):
    """A `/metrics/resource` text that cannot be read: the line number (1-based) and what was wrong."""

    def __init__(self, line: int, problem: str, text: str) -> None:
        shown = text if len(text) <= 120 else text[:117] + "..."
        super().__init__(f"line {line}: {problem}: {shown!r}")
        self.line = line
        self.problem = problem


@dataclass(frozen=True, slots=True)
class NodeSample:
    """The node's cumulative CPU (core-nanoseconds), working set and sample time (Unix milliseconds)."""

    cpu_ns: int
    memory_bytes: int
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class ContainerSample:
    """One container's cumulative CPU (core-nanoseconds), working set, start time (Unix nanoseconds, 0 when
    the kubelet gave none) and sample time (Unix milliseconds)."""

    namespace: str
    pod: str
    container: str
    cpu_ns: int
    memory_bytes: int
    start_time_ns: int
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class NodeScrape:
    """One kubelet's decoded scrape: its node sample (None when dropped) and the containers of the pods kept,
    each pod's containers next to each other."""

    node: NodeSample | None
    containers: tuple[ContainerSample, ...]


def _float(token: str) -> float | None:
    """Go's strconv.ParseFloat as Prometheus calls it (no `_`, `p`, hex), or None when it would fail."""
    if not token.isascii() or "_" in token or token.strip() != token:  # float() would take these
        return None
    try:
        value = float(token)
    except ValueError:
        return None
    if value != value and token[0] in "+-":  # Go accepts NaN only unsigned
        return None
    if value in (math.inf, -math.inf) and "n" not in token.lower():  # overflow: Go's ErrRange, not an Inf
        return None
    return value


def _counter(value: float, scale: float) -> int:
    """`uint64(value * scale)`, with what Go leaves undefined (NaN, infinities, negatives, 2^63 and up) as 0."""
    scaled = value * scale
    if not 0.0 <= scaled < 9.223372036854775807e18:  # also False for NaN
        return 0
    return int(scaled)


def _start_ns(value: float) -> int:
    """`int64(value * 1e9)`; a non-finite start time counts as absent (0), an out-of-range one saturates."""
    scaled = value * 1e9
    if not math.isfinite(scaled):
        return 0
    return max(-_MAX_INT64 - 1, min(_MAX_INT64, int(scaled)))


def _unescape(value: str) -> str:
    return _ESCAPE.sub(lambda m: _UNESCAPED[m.group(1)], value) if "\\" in value else value


def decode(data: bytes | str, *, default_timestamp_ms: int) -> NodeScrape:
    """Decode one `/metrics/resource` response; `default_timestamp_ms` (the request's start, Unix ms) dates
    samples that carry no timestamp. Raises DecodeError, and only that, for a malformed needed line."""
    # invalid UTF-8 matters only in the label values read
    text = data if isinstance(data, str) else bytes(data).decode("utf-8", "surrogateescape")
    node_cpu = node_memory = node_ts = 0
    node_seen = False
    # (namespace, pod) -> container -> [cpu_ns, memory_bytes, start_time_ns, timestamp_ms]
    pods: dict[tuple[str, str], dict[str, list[int]]] = {}
    by_block: dict[str, list[int]] = {}  # a label block seen before (so valid) -> its container's point
    for number, line in enumerate(text.split("\n"), 1):
        if not line.startswith(FAMILIES) and (
                line[:1] not in (" ", "\t") or not (line := line.lstrip(" \t")).startswith(FAMILIES)):
            continue
        family = _family(line)
        if family is None:
            continue
        rest = line[len(family):]
        if family[0] == "c":
            close = rest.rfind("}")
            point = by_block.get(rest[:close + 1]) if close >= 0 else None
            if point is not None:
                parsed = _TAIL.fullmatch(rest, close + 1)
                if parsed is None:
                    raise DecodeError(number, f"malformed {family} sample", line)
                token, ts_token = parsed.groups()
            else:
                parsed = _REST.fullmatch(rest)
                if parsed is None:
                    raise DecodeError(number, f"malformed {family} sample", line)
                labels, token, ts_token = parsed.groups()
                namespace, pod, container = _container_labels(labels or "", family, number, line)
                point = pods.setdefault((namespace, pod), {}).setdefault(container, [0, 0, 0, 0])
                if labels is not None:
                    by_block[rest[:parsed.end(1) + 1]] = point
        else:
            parsed = _REST.fullmatch(rest)
            if parsed is None:
                raise DecodeError(number, f"malformed {family} sample", line)
            _, token, ts_token = parsed.groups()
            point = None
        value = _float(token)
        if value is None:
            raise DecodeError(number, f"invalid value {token!r}", line)
        if ts_token is None:
            ts = default_timestamp_ms
        else:
            ts = int(ts_token)
            if ts > _MAX_TS_MS:
                raise DecodeError(number, f"timestamp {ts_token} out of range", line)
        if point is None:  # node_*: labels, if any, are not read
            node_seen = True
            node_ts = ts
            if family == NODE_CPU:
                node_cpu = _counter(value, 1e9)
            else:
                node_memory = _counter(value, 1.0)
        elif family == CONTAINER_CPU:
            point[0] = _counter(value, 1e9)
            point[3] = ts
        elif family == CONTAINER_MEMORY:
            point[1] = _counter(value, 1.0)
            point[3] = ts
        else:
            point[2] = _start_ns(value)
    node = NodeSample(node_cpu, node_memory, node_ts) if node_seen and node_cpu and node_memory else None
    kept: list[ContainerSample] = []
    for (namespace, pod), containers in pods.items():
        if all(p[0] and p[1] for p in containers.values()):
            kept.extend(ContainerSample(namespace, pod, name, p[0], p[1], p[2], p[3])
                        for name, p in containers.items())
    return NodeScrape(node, tuple(kept))


def _family(line: str) -> str | None:
    """The needed family a line starting with one of their names is a sample of, or None (a longer name)."""
    if line[0] == "n":
        family = NODE_CPU if line[5] == "c" else NODE_MEMORY
    else:
        family = _CONTAINER_FAMILY.get(line[10], CONTAINER_START)
    return None if len(line) > len(family) and line[len(family)] in _NAME_CHARS else family


def _container_labels(labels: str, family: str, number: int, line: str) -> tuple[str, str, str]:
    """(namespace, pod, container) from a container sample's label block: the first of each name."""
    found: dict[str, str] = {}
    for name, raw in _LABEL.findall(labels):
        if name in ("namespace", "pod", "container") and name not in found:
            if not raw.isascii() and any("\udc80" <= ch <= "\udcff" for ch in raw):
                raise DecodeError(number, "invalid UTF-8 label value", line)
            found[name] = _unescape(raw)
    missing = [n for n in ("container", "namespace", "pod") if n not in found]
    if missing:
        raise DecodeError(number, f"{family} without label {', '.join(missing)}", line)
    # interned: the store's keys and a metadata cache that interns too share one string per pod
    return sys.intern(found["namespace"]), sys.intern(found["pod"]), sys.intern(found["container"])


__all__ = ["CONTAINER_CPU", "CONTAINER_MEMORY", "CONTAINER_START", "FAMILIES", "NODE_CPU", "NODE_MEMORY",
           "ContainerSample", "DecodeError", "NodeSample", "NodeScrape", "decode"]
