"""The scheduler's snapshot of the cluster as numpy arrays: one column per node for allocatable and free amounts,
label values coded per key, taint sets grouped, host ports and bound pods kept for the port and preemption
checks. `kubesim.sim.scheduling` evaluates a pod against every column at once.

Pure; no I/O. A table is mutable: placing a pod (`add`) or forgetting one (`remove`) updates it in place.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

import numpy as np

from kubescale.gcpause import gc_paused
from kubesim.sim.schedinputs import CPU, EPHEMERAL_STORAGE, MEMORY, PODS, HostPort, NodeInfo, PodInfo, Taint

RESOURCES = (CPU, MEMORY, EPHEMERAL_STORAGE, PODS)
R_CPU, R_MEMORY, R_EPHEMERAL, R_PODS = range(4)
_INT64_MAX = 2**63 - 1


_CPU, _MEMORY, _EPHEMERAL = attrgetter("cpu_millicores"), attrgetter("memory_bytes"), attrgetter("ephemeral_bytes")
_NZ_CPU, _NZ_MEMORY = attrgetter("nonzero_cpu_millicores"), attrgetter("nonzero_memory_bytes")
_KEY, _PRIORITY = attrgetter("namespace", "name"), attrgetter("priority")


def _conflict(a: HostPort, b: HostPort) -> bool:
    return a.port == b.port and a.protocol == b.protocol and (a.ip == b.ip or "0.0.0.0" in (a.ip, b.ip))


def _clamp(v: int) -> int:
    return min(v, _INT64_MAX)


def _allocatable(node: NodeInfo) -> tuple[int, int, int, int]:
    """The rows every table has (cpu, memory, ephemeral-storage, pods), clamped to int64."""
    return (_clamp(node.cpu_millicores), _clamp(node.memory_bytes), _clamp(node.ephemeral_bytes),
            _clamp(node.pods))


class NodeTable:
    """Nodes as columns of arrays, with the pods bound to them accounted.

    `alloc` and `free` are (resources by nodes) int64 arrays, rows named by `resources` (cpu in millicores,
    memory and storage in bytes, pods as a count, then scalar resources); `nonzero` holds the cpu/memory
    requests with scoring's defaults for unset ones.
    """

    def __init__(self, nodes: Sequence[NodeInfo], pods: Iterable[PodInfo] = ()) -> None:
        bound = [p for p in pods if p.node_name]
        self.nodes = list(nodes)
        self.names = [n.name for n in self.nodes]
        self.index = {name: i for i, name in enumerate(self.names)}
        scalars = sorted({r for n in self.nodes for r, _ in n.scalars} | {r for p in bound for r, _ in p.scalars})
        self.resources = [*RESOURCES, *scalars]
        self.row = {r: i for i, r in enumerate(self.resources)}
        n = len(self.nodes)
        self.alloc = np.zeros((len(self.resources), n), np.int64)
        self.alloc[:4] = np.array([_allocatable(node) for node in self.nodes], np.int64).reshape(n, 4).T
        for i, node in enumerate(self.nodes):
            for r, v in node.scalars:
                self.alloc[self.row[r], i] = _clamp(v)
        self.free = self.alloc.copy()
        self.nonzero = np.zeros((2, n), np.int64)  # cpu, memory
        self.unschedulable = np.array([node.unschedulable for node in self.nodes], bool)
        self._taint_groups: dict[tuple[Taint, ...], int] = {}
        self.taint_group = np.array([self._group(node.taints) for node in self.nodes], np.int32)
        self.labels = [dict(node.labels) for node in self.nodes]
        self.ports: dict[int, list[tuple[PodInfo, HostPort]]] = {}
        self.bound: dict[tuple[str, str], tuple[int, PodInfo]] = {}
        self.priorities: Counter[int] = Counter()
        self.version = 0
        self._label_codes: dict[str, tuple[np.ndarray, dict[str, int]]] = {}
        self._by_node: tuple[int, list[list[PodInfo]]] | None = None
        self._lower: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}
        self.signatures: dict[tuple[Any, ...], Any] = {}  # kubesim.sim.scheduling's per-signature masks
        self.scores: dict[tuple[int, ...], tuple[int, np.ndarray]] = {}  # and its resource scores per request
        self.fits: dict[tuple[tuple[int, int], ...], tuple[int, np.ndarray]] = {}  # and NodeResourcesFit per usage
        self.changes: list[int] = []  # nodes whose amounts changed, in order (what cached scores catch up on)
        with gc_paused():  # allocation-heavy: the cyclic GC would rescan the whole heap several times meanwhile
            self._bulk_add(bound)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def taint_sets(self) -> list[tuple[Taint, ...]]:
        """The distinct taint lists, indexed by `taint_group`."""
        return list(self._taint_groups)

    def _group(self, taints: tuple[Taint, ...]) -> int:
        return self._taint_groups.setdefault(taints, len(self._taint_groups))

    def _column(self, node: NodeInfo) -> np.ndarray:
        """A node's allocatable amounts as a column (adding rows for scalar resources the table lacks)."""
        rows = [self._ensure_row(r) for r, _ in node.scalars]
        column = np.zeros(len(self.resources), np.int64)
        column[:4] = _allocatable(node)
        for row, (_, v) in zip(rows, node.scalars, strict=True):
            column[row] = _clamp(v)
        return column

    def add_node(self, node: NodeInfo) -> None:
        """Append a node, with nothing bound to it yet."""
        column = self._column(node)[:, None]
        self.index[node.name] = len(self)
        self.nodes.append(node)
        self.names.append(node.name)
        self.alloc = np.hstack([self.alloc, column])
        self.free = np.hstack([self.free, column])
        self.nonzero = np.hstack([self.nonzero, np.zeros((2, 1), np.int64)])
        self.unschedulable = np.append(self.unschedulable, node.unschedulable)
        self.taint_group = np.append(self.taint_group, np.int32(self._group(node.taints)))
        self.labels.append(dict(node.labels))
        for cache in (self._label_codes, self.signatures, self.scores, self.fits, self._lower):
            cache.clear()
        self.changes.clear()
        self._by_node = None
        self.version += 1

    def update_node(self, node: NodeInfo) -> None:
        """Take a known node's new allocatable, labels, taints and unschedulable flag (pods stay accounted)."""
        i = self.index[node.name]
        old, self.nodes[i] = self.nodes[i], node
        if (old.cpu_millicores, old.memory_bytes, old.ephemeral_bytes, old.pods, old.scalars) != (
                node.cpu_millicores, node.memory_bytes, node.ephemeral_bytes, node.pods, node.scalars):
            column = self._column(node)
            self.free[:, i] += column - self.alloc[:, i]
            self.alloc[:, i] = column
        self.unschedulable[i] = node.unschedulable
        self.taint_group[i] = self._group(node.taints)
        if old.labels != node.labels:
            self.labels[i] = dict(node.labels)
            self._label_codes.clear()
        self.signatures.clear()
        self._changed(i)

    # -- pods -----------------------------------------------------------------------------------------------
    def usage(self, pod: PodInfo) -> list[tuple[int, int]]:
        """(row, amount) pairs a pod takes on a node, its pod slot included; adds rows for unknown scalars."""
        out = [(R_PODS, 1)]
        out += [(r, v) for r, v in ((R_CPU, pod.cpu_millicores), (R_MEMORY, pod.memory_bytes),
                                    (R_EPHEMERAL, pod.ephemeral_bytes)) if v]
        for name, v in pod.scalars:
            if v:
                out.append((self._ensure_row(name), v))
        return out

    def _ensure_row(self, name: str) -> int:
        row = self.row.get(name)
        if row is None:  # nobody has it: allocatable 0 everywhere
            row = self.row[name] = len(self.resources)
            self.resources.append(name)
            self.alloc = np.vstack([self.alloc, np.zeros((1, len(self)), np.int64)])
            self.free = np.vstack([self.free, np.zeros((1, len(self)), np.int64)])
        return row

    def _bulk_add(self, pods: Sequence[PodInfo]) -> None:
        """`add` for many pods at once, vectorised (a table is built from every bound pod of the cluster)."""
        idx = np.fromiter((self.index.get(p.node_name, -1) for p in pods), np.int64, len(pods))
        if (idx < 0).any():
            pods = [p for p, i in zip(pods, idx, strict=True) if i >= 0]
            idx = idx[idx >= 0]
        if not pods:
            return
        count = len(pods)
        for row, get in ((R_CPU, _CPU), (R_MEMORY, _MEMORY), (R_EPHEMERAL, _EPHEMERAL)):
            np.subtract.at(self.free[row], idx, np.fromiter(map(get, pods), np.int64, count))
        self.free[R_PODS] -= np.bincount(idx, minlength=len(self))
        np.add.at(self.nonzero[0], idx, np.fromiter(map(_NZ_CPU, pods), np.int64, count))
        np.add.at(self.nonzero[1], idx, np.fromiter(map(_NZ_MEMORY, pods), np.int64, count))
        for p, i in zip(pods, idx.tolist(), strict=True):
            for name, v in p.scalars:
                self.free[self.row[name], i] -= v
            for hp in p.host_ports:
                self.ports.setdefault(i, []).append((p, hp))
        self.bound.update(zip(map(_KEY, pods), zip(idx.tolist(), pods, strict=True), strict=True))
        self.priorities.update(map(_PRIORITY, pods))
        self.version += 1

    def _changed(self, i: int) -> None:
        self.version += 1
        self.changes.append(i)
        if len(self.changes) > 4 * max(len(self), 1024):  # cached scores would rather start over
            self.changes.clear()
            self.scores.clear()
            self.fits.clear()

    def _account(self, pod: PodInfo, i: int) -> None:
        self.bound[pod.key] = (i, pod)
        self.priorities[pod.priority] += 1
        for hp in pod.host_ports:
            self.ports.setdefault(i, []).append((pod, hp))
        self._changed(i)

    def add(self, pod: PodInfo, node: str) -> None:
        """Account `pod` on `node` (as kube-scheduler's cache assumes a pod it has just placed)."""
        i = self.index[node]
        self.remove(pod.key)
        self._account(pod, i)
        for r, v in self.usage(pod):
            self.free[r, i] -= v
        self.nonzero[0, i] += pod.nonzero_cpu_millicores
        self.nonzero[1, i] += pod.nonzero_memory_bytes

    def remove(self, key: tuple[str, str]) -> PodInfo | None:
        """Forget a bound pod (deleted, finished, or a binding that failed); returns what was accounted."""
        found = self.bound.pop(key, None)
        if found is None:
            return None
        i, pod = found
        for r, v in self.usage(pod):
            self.free[r, i] += v
        self.nonzero[0, i] -= pod.nonzero_cpu_millicores
        self.nonzero[1, i] -= pod.nonzero_memory_bytes
        self.priorities[pod.priority] -= 1
        if not self.priorities[pod.priority]:
            del self.priorities[pod.priority]
        if pod.host_ports:
            self.ports[i] = [e for e in self.ports[i] if e[0].key != key]
        self._changed(i)
        return pod

    def pods_on(self, i: int) -> list[PodInfo]:
        """The pods bound to node `i`, in the order they were accounted."""
        if self._by_node is None or self._by_node[0] != self.version:
            by_node: list[list[PodInfo]] = [[] for _ in range(len(self))]
            for j, pod in self.bound.values():
                by_node[j].append(pod)
            self._by_node = (self.version, by_node)
        return self._by_node[1][i]

    def lower_priority(self, priority: int) -> tuple[np.ndarray, np.ndarray]:
        """Per node: whether any bound pod has a priority below `priority`, and what those pods use
        (resources by nodes), i.e. what preempting all of them would free."""
        cached = self._lower.get(priority)
        if cached is not None and cached[0] == self.version:
            return cached[1], cached[2]
        has = np.zeros(len(self), bool)
        freed = np.zeros_like(self.free)
        if self.priorities and min(self.priorities) < priority:
            for i, pod in self.bound.values():
                if pod.priority < priority:
                    has[i] = True
                    for r, v in self.usage(pod):
                        freed[r, i] += v
        self._lower[priority] = (self.version, has, freed)
        return has, freed

    # -- labels ---------------------------------------------------------------------------------------------
    def label_codes(self, key: str) -> tuple[np.ndarray, dict[str, int]]:
        """Node label `key` coded as int32 per node (-1: no such label) and the code of each value."""
        found = self._label_codes.get(key)
        if found is None:
            vocab: dict[str, int] = {}
            codes = np.fromiter((vocab.setdefault(v, len(vocab)) if (v := labels.get(key)) is not None else -1
                                 for labels in self.labels), np.int32, len(self))
            found = self._label_codes[key] = (codes, vocab)
        return found

    def port_conflicts(self, ports: Sequence[HostPort], *, keep: Any = None) -> np.ndarray:
        """Nodes where one of `ports` is taken (`HostPortInfo.CheckConflict`): the same protocol and port, and the
        same IP or 0.0.0.0 on either side. `keep(pod)` selects which bound pods count (all by default)."""
        out = np.zeros(len(self), bool)
        for i, used in self.ports.items():
            out[i] = any(_conflict(want, hp) for pod, hp in used if keep is None or keep(pod) for want in ports)
        return out


__all__ = ["RESOURCES", "R_CPU", "R_EPHEMERAL", "R_MEMORY", "R_PODS", "NodeTable"]
