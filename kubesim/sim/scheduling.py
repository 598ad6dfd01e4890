"""kube-scheduler's decisions over plain data: the node each pending pod goes to, or why none fits.

Filters are upstream's default filter plugins in their order — NodeUnschedulable, NodeName, TaintToleration,
NodeAffinity (with its PreFilter narrowing to `metadata.name` matchFields), NodePorts, NodeResourcesFit — and
a node is rejected with the reasons of the first plugin that fails, as upstream's framework does. A pod that
fits nowhere gets kube-scheduler v1.35's FitError message, `0/N nodes are available: <sorted "count reason">.`
followed by the DefaultPreemption PostFilter's verdict (`preemption: 0/N nodes are available: ...`); when
evicting lower-priority pods would make room, the placement carries that preemption instead.

Each pod is checked against every node at once (numpy, over a `NodeTable`); what depends only on the pod's
selectors and tolerations is computed once per distinct signature. Pods are placed one at a time, in the
order given, each updating the table.

Scoring is a deterministic simplification of upstream's default scorers: TaintToleration (weight 3, fewer
untolerated PreferNoSchedule taints), NodeAffinity preferred terms (2), NodeResourcesFit LeastAllocated (1)
and NodeResourcesBalancedAllocation (1) over cpu and memory; the highest total wins and ties go to the first
node, where upstream samples `percentageOfNodesToScore` of the feasible nodes and breaks ties at random.
Pod (anti-)affinity, topology spread, volumes and image locality are not modelled. Pure; no I/O.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kubesim.sim.nodetable import R_CPU, R_MEMORY, R_PODS, NodeTable
from kubesim.sim.schedinputs import (
    NO_EXECUTE,
    NO_SCHEDULE,
    PREFER_NO_SCHEDULE,
    TAINT_UNSCHEDULABLE,
    PodInfo,
    Requirement,
    SelectorTerm,
    Taint,
    tolerated,
)

MAX_NODE_SCORE = 100
NO_NODES_AVAILABLE = "no nodes available to schedule pods"
REASON_UNSCHEDULABLE = "node(s) were unschedulable"
REASON_NODE_NAME = "node(s) didn't match the requested node name"
REASON_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
REASON_AFFINITY_CONFLICT = "pod affinity terms conflict"
REASON_PREFILTER_NODE_AFFINITY = "node(s) didn't satisfy plugin(s) [NodeAffinity]"
REASON_PORTS = "node(s) didn't have free ports for the requested pod ports"
REASON_TOO_MANY_PODS = "Too many pods"
REASON_NO_VICTIMS = "No preemption victims found for incoming pod"
REASON_PREEMPTION_NOT_HELPFUL = "Preemption is not helpful for scheduling"
PREEMPT_NEVER = "not eligible due to preemptionPolicy=Never."
PREEMPT_TERMINATING = "not eligible due to a terminating pod on the nominated node."
MAX_PREEMPTION_CANDIDATES = 100  # nodes whose victims are worked out in detail (upstream: 10%, at least 100)
_INT64 = re.compile(r"[+-]?[0-9]+")
_TAINT_WEIGHT, _AFFINITY_WEIGHT = 3, 2


def untolerated_taint_reason(taint: Taint) -> str:
    return f"node(s) had untolerated taint {{{taint.key}: {taint.value}}}"


def insufficient_reason(resource: str) -> str:
    return f"Insufficient {resource}"


@dataclass(frozen=True, slots=True)
class Preemption:
    """Make room on `node` by evicting `victims` (namespace, name), then nominate the pod there."""

    node: str
    victims: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Placement:
    """Where `pod` goes (`node`), or why nowhere: the FitError `message`, its per-reason node counts, and
    what becomes of `status.nominatedNodeName` (`nominate`: None leaves it, "" clears it)."""

    pod: PodInfo
    node: str | None = None
    message: str = ""
    reasons: tuple[tuple[str, int], ...] = ()
    preemption: Preemption | None = None
    nominate: str | None = None


def fit_error_message(num_nodes: int, reasons: Counter[str] | dict[str, int], *, prefilter: str = "",
                      postfilter: str = "") -> str:
    """`FitError.Error()`: `0/N nodes are available: <PreFilter msg>. | <"count reason", sorted as strings>.`,
    then the PostFilter message."""
    msg = f"0/{num_nodes} nodes are available:"
    if prefilter:
        msg += f" {prefilter}."
    else:
        hist = sorted(f"{count} {reason}" for reason, count in reasons.items() if count)
        if hist:
            msg += f" {', '.join(hist)}."
    return f"{msg} {postfilter}" if postfilter else msg


# -- per-signature node masks ---------------------------------------------------------------------------------
@dataclass(slots=True)
class _Masks:
    allowed: np.ndarray  # nodes the PreFilter lets through (all unless matchFields metadata.name narrows)
    narrowed: bool
    conflict: bool  # the PreFilter rejects the pod outright
    unschedulable: np.ndarray
    node_name: np.ndarray
    taint: np.ndarray  # index into taint_reasons of the first untolerated NoSchedule/NoExecute taint, or -1
    taint_reasons: list[str]
    affinity: np.ndarray
    static_ok: np.ndarray
    prefer_taints: np.ndarray  # untolerated PreferNoSchedule taints
    preferred: np.ndarray  # summed weights of matching preferred terms


def _int64(s: str) -> int | None:
    return int(s) if _INT64.fullmatch(s) and -(2**63) <= int(s) < 2**63 else None


def _requirement(table: NodeTable, req: Requirement) -> np.ndarray | None:
    """Nodes whose labels satisfy `req` (labels.Requirement.Matches); None when the requirement is invalid."""
    op, values = req.operator, req.values
    if (op in ("In", "NotIn") and not values) or (op in ("Exists", "DoesNotExist") and values):
        return None
    codes, vocab = table.label_codes(req.key)
    if op in ("In", "NotIn"):
        hit = np.isin(codes, [vocab[v] for v in values if v in vocab])
        return hit if op == "In" else ~hit
    if op == "Exists":
        return codes >= 0
    if op == "DoesNotExist":
        return codes < 0
    if op in ("Gt", "Lt"):
        bound = _int64(values[0]) if len(values) == 1 else None
        if bound is None:
            return None
        parsed = [_int64(v) for v in vocab]
        ok = np.array([p is not None and (p > bound if op == "Gt" else p < bound) for p in parsed] + [False])
        return ok[codes]  # code -1 picks the trailing False
    return None


def _term(table: NodeTable, term: SelectorTerm) -> np.ndarray:
    out = np.ones(len(table), bool)
    for req in term.match_expressions:
        m = _requirement(table, req)
        if m is None:
            return np.zeros(len(table), bool)  # a term that does not parse matches nothing
        out &= m
    for req in term.match_fields:  # only metadata.name is a node field; In/NotIn with exactly one value
        if req.operator not in ("In", "NotIn") or len(req.values) != 1:
            return np.zeros(len(table), bool)
        hit = np.zeros(len(table), bool)
        if req.key == "metadata.name" and req.values[0] in table.index:
            hit[table.index[req.values[0]]] = True
        out &= hit if req.operator == "In" else ~hit
    return out


def _prefilter(table: NodeTable, pod: PodInfo) -> tuple[np.ndarray | None, bool]:
    """NodeAffinity's PreFilter: the node names every term pins with matchFields `metadata.name In`, or None
    when some term does not; (None, True) when the pinned sets are all empty ("pod affinity terms conflict")."""
    if not pod.required:
        return None, False
    names: set[str] = set()
    for term in pod.required:
        pinned: set[str] | None = None
        for r in term.match_fields:
            if r.key == "metadata.name" and r.operator == "In":
                pinned = set(r.values) if pinned is None else pinned & set(r.values)
        if pinned is None:
            return None, False
        names |= pinned
    if not names:
        return None, True
    allowed = np.zeros(len(table), bool)
    allowed[[table.index[n] for n in names if n in table.index]] = True
    return allowed, False


def _masks(table: NodeTable, pod: PodInfo) -> _Masks:
    n = len(table)
    allowed, conflict = _prefilter(table, pod)
    tol = pod.tolerations
    unsched = table.unschedulable.copy()
    if tolerated(tol, Taint(TAINT_UNSCHEDULABLE, "", NO_SCHEDULE)):
        unsched[:] = False
    node_name = np.zeros(n, bool)
    if pod.node_name:
        node_name[:] = True
        if pod.node_name in table.index:
            node_name[table.index[pod.node_name]] = False
    reasons: dict[str, int] = {}
    first, prefer = [], []
    for taints in table.taint_sets:
        bad = next((t for t in taints if t.effect in (NO_SCHEDULE, NO_EXECUTE) and not tolerated(tol, t)), None)
        first.append(-1 if bad is None else reasons.setdefault(untolerated_taint_reason(bad), len(reasons)))
        soft = [t for t in tol if t.effect in ("", PREFER_NO_SCHEDULE)]
        prefer.append(sum(1 for t in taints if t.effect == PREFER_NO_SCHEDULE and not tolerated(soft, t)))
    taint = np.array(first, np.int32)[table.taint_group] if n else np.zeros(0, np.int32)
    match = np.ones(n, bool)
    for key, value in pod.node_selector:
        codes, vocab = table.label_codes(key)
        match &= codes == vocab.get(value, -2)
    if pod.required is not None:
        any_term = np.zeros(n, bool)
        for term in pod.required:
            if not term.empty:
                any_term |= _term(table, term)
        match &= any_term
    preferred = np.zeros(n, np.int64)
    for p in pod.preferred:
        if p.weight and not p.term.empty:
            preferred += p.weight * _term(table, p.term)
    allowed = np.ones(n, bool) if allowed is None else allowed
    return _Masks(
        allowed=allowed, narrowed=not allowed.all(), conflict=conflict, unschedulable=unsched, node_name=node_name,
        taint=taint, taint_reasons=list(reasons), affinity=~match,
        static_ok=allowed & ~unsched & ~node_name & (taint < 0) & match,
        prefer_taints=np.array(prefer, np.int64)[table.taint_group] if n else np.zeros(0, np.int64),
        preferred=preferred,
    )


def _masks_for(table: NodeTable, pod: PodInfo) -> _Masks:
    sig = pod.signature
    found = table.signatures.get(sig)
    if found is None:
        found = table.signatures[sig] = _masks(table, pod)
    return found


# -- fit, score -----------------------------------------------------------------------------------------------
def _fits(table: NodeTable, usage: list[tuple[int, int]], free: np.ndarray | None = None,
          cols: np.ndarray | slice = slice(None)) -> np.ndarray:
    """NodeResourcesFit over `free` (the table's by default): every requested amount, and a pod slot, free."""
    free = table.free if free is None else free
    ok = free[R_PODS, cols] >= 1
    for r, v in usage:
        if r != R_PODS:
            ok &= free[r, cols] >= v
    return ok


def _fits_everywhere(table: NodeTable, usage: list[tuple[int, int]]) -> np.ndarray:
    """`_fits` over every node, cached per usage and refreshed only on the nodes that changed since (as resource
    scores are): placing one pod changes one node. Read-only for callers."""
    key = tuple(usage)
    cached = table.fits.get(key)
    changed = table.changes
    if cached is None or len(changed) - cached[0] > len(table) // 8:
        cached = table.fits[key] = (len(changed), _fits(table, usage))
    elif cached[0] < len(changed):
        since = changed[cached[0]:]
        idx = np.array(since if len(since) == 1 else sorted(set(since)), np.int64)
        cached[1][idx] = _fits(table, usage, cols=idx)
        cached = table.fits[key] = (len(changed), cached[1])
    return cached[1]


def _fit_reasons(table: NodeTable, usage: list[tuple[int, int]], rows: np.ndarray, hist: Counter[str],
                 free: np.ndarray | None = None) -> None:
    """Count NodeResourcesFit's reasons over the nodes `rows` (every insufficient resource counts)."""
    free = table.free if free is None else free
    hist[REASON_TOO_MANY_PODS] += int(np.count_nonzero(free[R_PODS, rows] < 1))
    for r, v in usage:
        if r != R_PODS:
            hist[insufficient_reason(table.resources[r])] += int(np.count_nonzero(free[r, rows] < v))


def _normalize(raw: np.ndarray, feasible: np.ndarray, *, reverse: bool) -> np.ndarray:
    """helper.DefaultNormalizeScore over the feasible nodes (raw scores are never negative)."""
    top = int((raw * feasible).max())
    if top == 0:
        return np.full(raw.shape, MAX_NODE_SCORE if reverse else 0, np.int64)
    scaled = MAX_NODE_SCORE * raw // top
    return MAX_NODE_SCORE - scaled if reverse else scaled


def _resource_scores(table: NodeTable, pod: PodInfo, idx: np.ndarray | slice) -> np.ndarray:
    """LeastAllocated (cpu and memory with scoring's default requests) plus BalancedAllocation (their actual
    requests) if `pod` went to each of the nodes `idx`."""
    least: Any = 0
    counted: Any = 0
    fractions = []
    for k, r, nonzero, request in ((0, R_CPU, pod.nonzero_cpu_millicores, pod.cpu_millicores),
                                   (1, R_MEMORY, pod.nonzero_memory_bytes, pod.memory_bytes)):
        alloc = table.alloc[r, idx]
        has = alloc > 0
        safe = np.where(has, alloc, 1)
        requested = table.nonzero[k, idx] + nonzero
        least = least + np.where(has & (requested <= alloc), (alloc - requested) * MAX_NODE_SCORE // safe, 0)
        counted = counted + has
        fractions.append((has, np.minimum((alloc - table.free[r, idx] + request) / safe, 1.0)))
    least = np.where(counted > 0, least // np.maximum(counted, 1), 0)
    (has_cpu, cpu), (has_mem, mem) = fractions
    std = np.where(has_cpu & has_mem, np.abs(cpu - mem) / 2, 0.0)
    return least + ((1 - std) * MAX_NODE_SCORE).astype(np.int64)


def _best(table: NodeTable, pod: PodInfo, masks: _Masks, feasible: np.ndarray) -> int:
    """The feasible node with the highest weighted score, the first one on ties. Resource scores are cached per
    request shape and refreshed only on the nodes that changed since."""
    key = (pod.cpu_millicores, pod.memory_bytes, pod.nonzero_cpu_millicores, pod.nonzero_memory_bytes)
    cached = table.scores.get(key)
    changed = table.changes
    if cached is None or len(changed) - cached[0] > len(table) // 8:
        cached = table.scores[key] = (len(changed), _resource_scores(table, pod, slice(None)))
    elif cached[0] < len(changed):
        since = changed[cached[0]:]
        idx = np.array(since if len(since) == 1 else sorted(set(since)), np.int64)
        cached[1][idx] = _resource_scores(table, pod, idx)
        cached = table.scores[key] = (len(changed), cached[1])
    total = cached[1]
    if masks.prefer_taints.any():
        total = total + _TAINT_WEIGHT * _normalize(masks.prefer_taints, feasible, reverse=True)
    if masks.preferred.any():
        total = total + _AFFINITY_WEIGHT * _normalize(masks.preferred, feasible, reverse=False)
    return int(np.where(feasible, total, -1).argmax())


# -- failure --------------------------------------------------------------------------------------------------
def _diagnose(table: NodeTable, pod: PodInfo, masks: _Masks, usage: list[tuple[int, int]],
              conflicts: np.ndarray) -> tuple[Counter[str], np.ndarray]:
    """The reasons per node, each node failing at the first plugin that rejects it; and the nodes rejected
    only by NodePorts or NodeResourcesFit (status Unschedulable: preemption might help there)."""
    hist: Counter[str] = Counter()
    if masks.narrowed:
        hist[REASON_PREFILTER_NODE_AFFINITY] += int(np.count_nonzero(~masks.allowed))
    left = masks.allowed.copy()
    for mask, reason in ((masks.unschedulable, REASON_UNSCHEDULABLE), (masks.node_name, REASON_NODE_NAME)):
        hit = left & mask
        hist[reason] += int(np.count_nonzero(hit))
        left &= ~hit
    hit = left & (masks.taint >= 0)
    for i, count in enumerate(np.bincount(masks.taint[hit], minlength=len(masks.taint_reasons))):
        hist[masks.taint_reasons[i]] += int(count)
    left &= ~hit
    hit = left & masks.affinity
    hist[REASON_AFFINITY] += int(np.count_nonzero(hit))
    left &= ~hit
    potential = left.copy()
    hit = left & conflicts
    hist[REASON_PORTS] += int(np.count_nonzero(hit))
    left &= ~hit
    _fit_reasons(table, usage, np.flatnonzero(left), hist)
    return hist, potential


def _victims(table: NodeTable, pod: PodInfo, i: int, usage: list[tuple[int, int]]) -> list[PodInfo]:
    """SelectVictimsOnNode: remove every lower-priority pod, then put back the most important ones that still
    leave room (PodDisruptionBudgets are not considered)."""
    lower = sorted((p for p in table.pods_on(i) if p.priority < pod.priority), key=lambda p: -p.priority)
    free = table.free[:, i].copy()
    for p in lower:
        for r, v in table.usage(p):
            free[r] += v
    victims = []
    for p in lower:
        trial = free.copy()
        for r, v in table.usage(p):
            trial[r] -= v
        fits = bool(_fits(table, usage, trial[:, None])[0])
        if fits and pod.host_ports and p.host_ports:
            fits = not any(a.port == b.port and a.protocol == b.protocol and
                           (a.ip == b.ip or "0.0.0.0" in (a.ip, b.ip)) for a in pod.host_ports for b in p.host_ports)
        if fits:
            free = trial
        else:
            victims.append(p)
    return victims


def _preempt(table: NodeTable, pod: PodInfo, potential: np.ndarray,
             usage: list[tuple[int, int]]) -> tuple[str, Preemption | None, str | None]:
    """DefaultPreemption's PostFilter: its message, the preemption to make when one node would do, and the
    nominated node to set (None: leave it)."""
    n = len(table)
    if pod.preempt_never:
        return f"preemption: {PREEMPT_NEVER}", None, None
    if pod.nominated_node in table.index:
        j = table.index[pod.nominated_node]
        if potential[j] and any(p.preempted and p.priority < pod.priority for p in table.pods_on(j)):
            return f"preemption: {PREEMPT_TERMINATING}", None, None
    hist: Counter[str] = Counter()
    if not potential.any():
        hist[REASON_PREEMPTION_NOT_HELPFUL] = n
        return f"preemption: {fit_error_message(n, hist)}", None, ""
    has_victims, freed = table.lower_priority(pod.priority)
    hist[REASON_NO_VICTIMS] += int(np.count_nonzero(potential & ~has_victims))
    rows = np.flatnonzero(potential & has_victims)
    if rows.size:
        after = table.free[:, rows] + freed[:, rows]
        ports = np.zeros(rows.size, bool)
        if pod.host_ports:
            ports = table.port_conflicts(pod.host_ports, keep=lambda p: p.priority >= pod.priority)[rows]
        fits = ~ports & _fits(table, usage, after)
        hist[REASON_PORTS] += int(np.count_nonzero(ports))
        _fit_reasons(table, usage, np.flatnonzero(~ports & ~fits), hist, free=after)
        if fits.any():
            options = []
            for i in rows[fits][:MAX_PREEMPTION_CANDIDATES]:
                victims = _victims(table, pod, int(i), usage)
                prios = [v.priority for v in victims]
                options.append(((max(prios, default=0), sum(prios), len(victims), int(i)), int(i), victims))
            _, i, victims = min(options, key=lambda o: o[0])
            return "", Preemption(table.names[i], tuple(v.key for v in victims)), table.names[i]
    hist[REASON_PREEMPTION_NOT_HELPFUL] += n - int(np.count_nonzero(potential))
    return f"preemption: {fit_error_message(n, hist)}", None, ""


def _unschedulable(table: NodeTable, pod: PodInfo, masks: _Masks, usage: list[tuple[int, int]],
                   conflicts: np.ndarray) -> Placement:
    n = len(table)
    if masks.conflict:
        potential = np.zeros(n, bool)
        hist: Counter[str] = Counter()
        post, preemption, nominate = _preempt(table, pod, potential, usage)
        return Placement(pod, None, fit_error_message(n, hist, prefilter=REASON_AFFINITY_CONFLICT, postfilter=post),
                         (), preemption, nominate)
    hist, potential = _diagnose(table, pod, masks, usage, conflicts)
    post, preemption, nominate = _preempt(table, pod, potential, usage)
    reasons = tuple(sorted((r, c) for r, c in hist.items() if c))
    return Placement(pod, None, fit_error_message(n, hist, postfilter=post), reasons, preemption, nominate)


def schedule(pods: Sequence[PodInfo], table: NodeTable) -> list[Placement]:
    """Place `pods` one after another (callers order them: upstream pops higher priority first), each seeing
    the pods placed before it. Mutates `table`: every placed pod is accounted on its node."""
    out = []
    for pod in pods:
        if not len(table):
            out.append(Placement(pod, None, NO_NODES_AVAILABLE, nominate=""))
            continue
        masks = _masks_for(table, pod)
        usage = table.usage(pod)
        conflicts = table.port_conflicts(pod.host_ports) if pod.host_ports and table.ports else None
        feasible = masks.static_ok & _fits_everywhere(table, usage)
        if conflicts is not None:
            feasible &= ~conflicts
        if masks.conflict or not feasible.any():
            out.append(_unschedulable(table, pod, masks, usage,
                                      np.zeros(len(table), bool) if conflicts is None else conflicts))
            continue
        nominated = table.index.get(pod.nominated_node)
        i = nominated if nominated is not None and feasible[nominated] else _best(table, pod, masks, feasible)
        table.add(pod, table.names[i])
        out.append(Placement(pod, table.names[i]))
    return out


__all__ = ["MAX_NODE_SCORE", "NO_NODES_AVAILABLE", "PREEMPT_NEVER", "PREEMPT_TERMINATING", "REASON_AFFINITY",
           "REASON_AFFINITY_CONFLICT", "REASON_NODE_NAME", "REASON_NO_VICTIMS", "REASON_PORTS",
           "REASON_PREEMPTION_NOT_HELPFUL", "REASON_PREFILTER_NODE_AFFINITY", "REASON_TOO_MANY_PODS",
           "REASON_UNSCHEDULABLE", "Placement", "Preemption", "fit_error_message", "insufficient_reason", "schedule",
           "untolerated_taint_reason"]
