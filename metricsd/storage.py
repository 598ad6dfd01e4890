"""The in-memory window behind metrics.k8s.io: the last two points per node and per container, and the usage
metrics-server computes from them (pkg/storage: storage.go, node.go, pod.go, types.go).

Pure; no I/O, no clock (each `store()` is told `now`). One `store()` per scrape tick with every node's decoded
scrape; whatever is not in it (a node whose scrape failed, a pod gone) disappears, as upstream. Containers are
kept column-wise in numpy arrays (one row per container, each pod's rows contiguous) and pods in one dict of
(namespace, pod) -> pod index, so 150,000 containers cost a few megabytes and a tick is a Python pass to match
rows plus vectorised rules.

Upstream rules kept:
- the previous point: the stored last point when the new sample is newer, else the stored previous point when
  it is still older than the new sample, else none; for a container only if it has not restarted (its start
  time is before the stored last sample's time);
- a fresh container (sample taken at least 10 s and less than one resolution after its start) gets, instead,
  a previous point at its start time with a zero counter;
- CPU = `uint64(float64(counter delta) / window.Seconds())` nanocores; memory = the last working set;
  timestamp = the last sample's; window = the two samples' time difference;
- a node or container whose counter went down (or whose start time went back) has no usage this time;
- a pod's timestamp and window are those of its container with the earliest timestamp;
- duplicates in a batch (a pod reported by two kubelets): the first wins.
Deliberate differences: a pod is served only when every one of its containers has a usage (upstream serves
the pod without a container whose counter went down, and with no containers and a zero timestamp when that
was the only one); a container with no previous point of its own never borrows a zero point from its pod
(upstream's map lookup of a missing container yields a zero point and a usage near zero over ~292 years).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from kubescale.gcpause import gc_paused
from metricsd.decoding import NodeScrape

FRESH_CONTAINER_MIN_NS = 10_000_000_000  # freshContainerMinMetricsResolution
_NS_PER_S = 1_000_000_000
_NS_PER_MS = 1_000_000
_COLUMNS = ("cpu", "memory", "ts", "start", "prev_cpu", "prev_ts", "prev_start")


@dataclass(frozen=True, slots=True)
class NodeMetric:
    """A node's usage: CPU in nanocores, working set in bytes, sample time and window in nanoseconds."""

    cpu_nanocores: int
    memory_bytes: int
    timestamp_ns: int
    window_ns: int


@dataclass(frozen=True, slots=True)
class PodMetric:
    """A pod's usage per container (name, CPU nanocores, working set bytes), in the kubelet's order, with the
    earliest container sample time and its window, in nanoseconds."""

    containers: tuple[tuple[str, int, int], ...]
    timestamp_ns: int
    window_ns: int


@dataclass(frozen=True, slots=True)
class _NodePoints:
    cpu: int
    memory: int
    ts: int
    prev_cpu: int
    prev_ts: int
    has_prev: bool


def _rate(delta: int, window_ns: int) -> int:
    """`uint64(float64(delta) / window.Seconds())`, Seconds() computed as Go does (whole + fraction)."""
    seconds = float(window_ns // _NS_PER_S) + float(window_ns % _NS_PER_S) / 1e9
    return int(min(delta / seconds, 9.2e18))


class MetricsStore:
    """The last two points per node and container; `node_metrics` and `pod_metrics` read usages from them."""

    def __init__(self, *, metric_resolution_s: float) -> None:
        self._resolution_ns = round(metric_resolution_s * _NS_PER_S)
        self._nodes: dict[str, _NodePoints] = {}
        self._pods: dict[str, dict[str, int]] = {}  # namespace -> pod -> pod index (no key tuples kept)
        self._first = np.zeros(1, np.int32)  # pod p's rows are first[p]:first[p + 1]
        self._names: list[str] = []
        self._cols = {name: np.zeros(0, np.int64) for name in _COLUMNS}
        self._has_prev = np.zeros(0, bool)
        # derived on store(), read by pod_metrics()
        self._rate = np.zeros(0, np.int64)
        self._pod_ok = np.zeros(0, bool)
        self._pod_row = np.zeros(0, np.int32)  # each pod's row with the earliest timestamp
        self.stored_at: float | None = None

    # -- writing ---------------------------------------------------------------------------------------------
    def store(self, batch: Mapping[str, NodeScrape], *, now: float) -> None:
        """Replace the window with one tick's scrapes (node name -> its decoded scrape)."""
        self._store_nodes(batch)
        self._store_pods(batch.values())
        self.stored_at = now

    def _store_nodes(self, batch: Mapping[str, NodeScrape]) -> None:
        nodes: dict[str, _NodePoints] = {}
        for name, scrape in batch.items():
            new = scrape.node
            if new is None:
                continue
            ts = new.timestamp_ms * _NS_PER_MS
            prev_cpu = prev_ts = 0
            has_prev = False
            old = self._nodes.get(name)
            if old is not None:
                if ts > old.ts:
                    prev_cpu, prev_ts, has_prev = old.cpu, old.ts, True
                elif old.has_prev and old.prev_ts < ts:
                    prev_cpu, prev_ts, has_prev = old.prev_cpu, old.prev_ts, True
            nodes[sys.intern(name)] = _NodePoints(new.cpu_ns, new.memory_bytes, ts, prev_cpu, prev_ts, has_prev)
        self._nodes = nodes

    def _store_pods(self, scrapes: Iterable[NodeScrape]) -> None:
        pods: dict[str, dict[str, int]] = {}
        first = [0]
        names: list[str] = []
        old_rows: list[int] = []
        cpu: list[int] = []
        memory: list[int] = []
        ts: list[int] = []
        start: list[int] = []
        old_pods, old_first, old_names = self._pods, self._first.tolist(), self._names
        no_pods: dict[str, int] = {}
        skip = False
        lo = hi = 0
        for scrape in scrapes:
            namespace = pod = None  # a pod's rows never continue across scrapes
            for c in scrape.containers:
                if c.pod != pod or c.namespace != namespace:
                    namespace, pod = c.namespace, c.pod
                    in_namespace = pods.get(namespace)
                    if in_namespace is None:
                        in_namespace = pods[namespace] = {}
                    skip = pod in in_namespace  # reported by an earlier kubelet
                    if skip:
                        continue
                    if len(names) > first[-1]:
                        first.append(len(names))
                    in_namespace[pod] = len(first) - 1
                    p = old_pods.get(namespace, no_pods).get(pod)
                    lo, hi = (old_first[p], old_first[p + 1]) if p is not None else (0, 0)
                elif skip:
                    continue
                row = -1
                for r in range(lo, hi):
                    if old_names[r] == c.container:
                        row = r
                        break
                old_rows.append(row)
                names.append(c.container)
                cpu.append(c.cpu_ns)
                memory.append(c.memory_bytes)
                ts.append(c.timestamp_ms)
                start.append(c.start_time_ns)
        if len(names) > first[-1]:
            first.append(len(names))
        self._advance(pods, np.array(first, np.int32), names, np.array(old_rows, np.int64),
                      np.array(cpu, np.int64), np.array(memory, np.int64),
                      np.array(ts, np.int64) * _NS_PER_MS, np.array(start, np.int64))

    def _advance(self, pods: dict[str, dict[str, int]], first: np.ndarray, names: list[str], old: np.ndarray,
                 cpu: np.ndarray, memory: np.ndarray, ts: np.ndarray, start: np.ndarray) -> None:
        """The upstream prev/last rules, vectorised over the new rows (`old`: the row each had, or -1)."""
        o = self._cols
        has_old = old >= 0
        oi = np.where(has_old, old, 0)
        if len(o["ts"]) == 0:  # nothing stored yet: every gather below reads a zero row
            has_old[:] = False
            o = {name: np.zeros(1, np.int64) for name in _COLUMNS}
            old_has_prev = np.zeros(1, bool)[oi]
        else:
            old_has_prev = self._has_prev[oi]
        age = ts - start
        fresh = (start < ts) & (age < self._resolution_ns) & (age >= FRESH_CONTAINER_MIN_NS)
        not_restarted = ~fresh & has_old & (start < o["ts"][oi])
        moved = not_restarted & (ts > o["ts"][oi])
        kept = not_restarted & ~moved & old_has_prev & (o["prev_ts"][oi] < ts)
        zero = np.zeros_like(ts)
        prev_cpu = np.select([moved, kept], [o["cpu"][oi], o["prev_cpu"][oi]], zero)
        prev_ts = np.select([fresh, moved, kept], [start, o["ts"][oi], o["prev_ts"][oi]], zero)
        prev_start = np.select([fresh, moved, kept], [start, o["start"][oi], o["prev_start"][oi]], zero)
        has_prev = fresh | moved | kept
        self._pods, self._first, self._names = pods, first, names
        self._cols = {"cpu": cpu, "memory": memory, "ts": ts, "start": start, "prev_cpu": prev_cpu,
                      "prev_ts": prev_ts, "prev_start": prev_start}
        self._has_prev = has_prev
        self._derive()

    def _derive(self) -> None:
        """Per row: the usage (or none); per pod: whether every container has one, and its earliest row."""
        c = self._cols
        window = c["ts"] - c["prev_ts"]
        ok = self._has_prev & (c["start"] >= c["prev_start"]) & (c["cpu"] >= c["prev_cpu"]) & (window > 0)
        safe_window = np.where(ok, window, 1)
        seconds = (safe_window // _NS_PER_S).astype(np.float64) + (safe_window % _NS_PER_S).astype(np.float64) / 1e9
        rate = (c["cpu"] - c["prev_cpu"]).astype(np.float64) / seconds
        self._rate = np.where(ok, np.minimum(rate, 9.2e18), 0).astype(np.int64)
        pods = len(self._first) - 1
        if pods == 0:
            self._pod_ok, self._pod_row = np.zeros(0, bool), np.zeros(0, np.int32)
            return
        starts = self._first[:-1]
        self._pod_ok = np.logical_and.reduceat(ok, starts)
        # the earliest timestamp's row: reduceat over (ts, row) ordering via lexsort within each pod
        pod_of_row = np.repeat(np.arange(pods), np.diff(self._first))
        order = np.lexsort((c["ts"], pod_of_row))
        self._pod_row = order[starts].astype(np.int32)

    # -- reading ---------------------------------------------------------------------------------------------
    def node_metrics(self, names: Iterable[str]) -> dict[str, NodeMetric]:
        """The usage of each named node that has one (a previous point and a counter that did not go down)."""
        out: dict[str, NodeMetric] = {}
        with gc_paused():
            for name in names:
                n = self._nodes.get(name)
                if n is None or not n.has_prev or n.cpu < n.prev_cpu:
                    continue
                window = n.ts - n.prev_ts
                out[name] = NodeMetric(_rate(n.cpu - n.prev_cpu, window), n.memory, n.ts, window)
        return out

    def pod_metrics(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], PodMetric]:
        """The usage of each (namespace, pod) whose every container has one."""
        no_pods: dict[str, int] = {}
        asked = [(key, p) for key in keys if (p := self._pods.get(key[0], no_pods).get(key[1])) is not None]
        if not asked:
            return {}
        index = np.fromiter((p for _, p in asked), np.int64, len(asked))
        served = self._pod_ok[index]
        index = index[served]
        # gather only the rows asked for, then build the objects from plain lists
        lo, hi = self._first[index], self._first[index + 1]
        counts = hi - lo
        rows = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        earliest = self._pod_row[index]
        ts, prev_ts = self._cols["ts"][earliest], self._cols["prev_ts"][earliest]
        names, rates, memory = self._names, self._rate[rows].tolist(), self._cols["memory"][rows].tolist()
        out: dict[tuple[str, str], PodMetric] = {}
        i = 0
        with gc_paused():  # 150,000 new objects: the cyclic GC would rescan the heap several times meanwhile
            for (key, _), n, row, t, w in zip([a for a, ok in zip(asked, served.tolist(), strict=True) if ok],
                                            counts.tolist(), lo.tolist(), ts.tolist(),
                                            (ts - prev_ts).tolist(), strict=True):
                if n == 1:
                    containers = ((names[row], rates[i], memory[i]),)
                else:
                    containers = tuple(zip(names[row:row + n], rates[i:i + n], memory[i:i + n], strict=True))
                out[key] = PodMetric(containers, t, w)
                i += n
        return out

    # -- state -----------------------------------------------------------------------------------------------
    def ready(self) -> bool:
        """Upstream's readiness (`len(nodes.prev) != 0 || len(pods.prev) != 0`): some node or some container
        has a previous point."""
        return any(n.has_prev for n in self._nodes.values()) or bool(self._has_prev.any())

    def points(self) -> dict[str, int]:
        """`metrics_server_storage_points{type}`: the nodes and containers that have a previous point."""
        return {"node": sum(1 for n in self._nodes.values() if n.has_prev),
                "container": int(self._has_prev.sum())}

    def nbytes(self) -> int:
        """The arrays' bytes (the dicts and strings not included)."""
        arrays = [*self._cols.values(), self._has_prev, self._rate, self._pod_ok, self._pod_row, self._first]
        return sum(a.nbytes for a in arrays)


__all__ = ["FRESH_CONTAINER_MIN_NS", "MetricsStore", "NodeMetric", "PodMetric"]
