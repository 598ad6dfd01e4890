"""Reading the timed events of a scenario file (load changes, faults, node problems, node group sizes) from
its YAML nodes, with every problem recorded against its line and field (see kubesim.sim.yamlcheck). Part of
the scenario loader, kubesim.sim.scenario; pure.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import replace
from typing import Any

import yaml

from kubesim.sim.nodelogs import PROBLEMS
from kubesim.sim.scenariocurves import CurveReader
from kubesim.sim.scenariotypes import (
    API_FAULTS,
    API_VERBS,
    FAULTS,
    KUBELET_FAULTS,
    NODE_FAULTS,
    WRITE_VERBS,
    Event,
    FaultEvent,
    LoadEvent,
    NodeGroupSpec,
    NodeProblemEvent,
    NodeTarget,
    ScaleEvent,
    WorkloadSpec,
)
from kubesim.sim.yamlcheck import Checker, join, to_python

EVENT_KINDS = ("load", "fault", "nodeProblem", "scale")
_TARGET_FIELDS = ("node", "nodeGroup", "fraction")
_FAULT_FIELDS: dict[str, tuple[str, ...]] = {
    **{k: (*_TARGET_FIELDS, "duration", "rate") for k in KUBELET_FAULTS},
    "slow": (*_TARGET_FIELDS, "duration", "rate", "delay"),
    **{k: (*_TARGET_FIELDS, "duration") for k in NODE_FAULTS},
    **{k: ("duration", "rate", "verbs", "resources") for k in API_FAULTS},
    "watchDrop": ("rate", "resources"),
    "provisioningFailure": ("nodeGroup", "duration"),
}
_API_RESOURCE = re.compile(r"[a-z0-9]+(\.[a-z0-9]([-a-z0-9.]*[a-z0-9])?)?(/[a-z]+)?")


def read_event(curves: CurveReader, node: yaml.Node, path: str, groups: list[NodeGroupSpec],
               workloads: list[WorkloadSpec], entry_names: set[str]) -> Event | None:
    """One timed event: `at` and exactly one of load, fault, nodeProblem, scale. `workloads` are the valid
    workloads, `entry_names` the names of every workloads entry (so events naming a broken one are not
    reported again)."""
    ck = curves.ck
    f = ck.mapping(node, path, ("at", *EVENT_KINDS), required=("at",))
    if f is None:
        return None
    at = ck.duration(f["at"], join(path, "at")) if "at" in f else None
    kinds = [k for k in EVENT_KINDS if k in f]
    if len(kinds) != 1:
        found = f" (found {' and '.join(kinds)})" if kinds else ""
        ck.error(node, path, f"an event needs exactly one of {', '.join(EVENT_KINDS)}{found}")
        return None
    kind = kinds[0]
    by_name = {g.name: g for g in groups}
    sub, body = join(path, kind), f[kind]
    event: Event | None
    if kind == "load":
        event = _load_event(curves, body, sub, workloads, entry_names)
    elif kind == "fault":
        event = _fault_event(ck, body, sub, by_name)
    elif kind == "nodeProblem":
        event = _problem_event(ck, body, sub, by_name)
    else:
        event = _scale_event(ck, body, sub, by_name)
    if at is None or event is None:
        return None
    return replace(event, at_s=at)


def _group_name(ck: Checker, node: yaml.Node, path: str, groups: dict[str, NodeGroupSpec]) -> str | None:
    name = ck.string(node, path)
    if name is not None and name not in groups:
        ck.error(node, path, f"no node group named {name!r} (node groups: {', '.join(groups) or 'none'})")
        return None
    return name


def _target(ck: Checker, f: dict[str, yaml.Node], path: str, groups: dict[str, NodeGroupSpec]) -> NodeTarget:
    if "node" in f and ("nodeGroup" in f or "fraction" in f):
        ck.error(f["node"], join(path, "node"), "give either node or nodeGroup/fraction, not both")
    return NodeTarget(
        node=ck.optional(f, "node", path, ck.string, None),
        node_group=ck.optional(f, "nodeGroup", path, lambda n, p: _group_name(ck, n, p, groups), None),
        fraction=ck.optional(f, "fraction", path, lambda n, p: ck.number(n, p, low=1e-9, high=1), 1.0))


def _load_event(curves: CurveReader, node: yaml.Node, path: str, workloads: list[WorkloadSpec],
                entry_names: set[str]) -> LoadEvent | None:
    ck = curves.ck
    f = ck.mapping(node, path, ("workload", "namespace", "kind", "curve", "scale"), required=("workload",))
    if f is None or "workload" not in f:
        return None
    name = ck.string(f["workload"], join(path, "workload"))
    namespace = ck.optional(f, "namespace", path, ck.string, None)
    kind = ck.optional(f, "kind", path, lambda n, p: ck.choice(n, p, ("Deployment", "StatefulSet")), None)
    curve = curves.curve(f["curve"], join(path, "curve")) if "curve" in f else None
    scale = ck.optional(f, "scale", path, lambda n, p: ck.number(n, p, low=0), None)
    if "curve" not in f and "scale" not in f:
        ck.error(node, path, "a load event needs curve, scale or both")
        return None
    hits = [w for w in workloads if name in (w.name, w.template) and namespace in (None, w.namespace)
            and kind in (None, w.kind)]
    if name is not None and not hits and name not in entry_names:
        ck.error(f["workload"], join(path, "workload"), f"no workload named {name!r} in this scenario "
                                                        f"(workloads: {', '.join(sorted(entry_names)) or 'none'})")
    elif name is not None and not hits and (namespace is not None or kind is not None):
        ck.error(f["workload"], join(path, "workload"), f"workload {name!r} is not a {kind or 'workload'} in "
                                                        f"namespace {namespace or 'default'}")
    elif "curve" not in f and any(w.load is None for w in hits):
        ck.error(f["scale"], join(path, "scale"), f"workload {name!r} has no load model to scale; give a curve")
    if not hits or ("curve" in f and curve is None) or ("scale" in f and scale is None):
        return None
    return LoadEvent(at_s=0.0, workloads=tuple(w.key for w in hits), curve=curve, scale=scale)


def _fault_event(ck: Checker, node: yaml.Node, path: str, groups: dict[str, NodeGroupSpec]) -> FaultEvent | None:
    every = sorted({k for fields in _FAULT_FIELDS.values() for k in fields})
    f = ck.mapping(node, path, ("type", *every), required=("type",))
    if f is None or "type" not in f:
        return None
    fault = ck.choice(f["type"], join(path, "type"), FAULTS)
    if fault is None:
        return None
    for key in f:
        if key != "type" and key not in _FAULT_FIELDS[fault]:
            ck.error(f[key], join(path, key), f"does not apply to fault type {fault} (its fields: "
                                              f"{', '.join(_FAULT_FIELDS[fault])})")
    if fault == "provisioningFailure" and "nodeGroup" not in f:
        ck.error(node, join(path, "nodeGroup"), "required field is missing")
    strings = lambda choices: lambda n, p: _string_list(ck, n, p, choices)  # noqa: E731
    return FaultEvent(
        at_s=0.0, fault=fault,
        target=_target(ck, f, path, groups) if "node" in _FAULT_FIELDS[fault] else None,
        duration_s=ck.optional(f, "duration", path, lambda n, p: ck.duration(n, p, positive=True), None),
        rate=ck.optional(f, "rate", path, lambda n, p: ck.number(n, p, low=0, high=1), 1.0),
        delay_s=ck.optional(f, "delay", path, ck.duration, 5.0) if fault == "slow" else None,
        verbs=ck.optional(f, "verbs", path, strings(API_VERBS), WRITE_VERBS if fault in API_FAULTS else ()),
        resources=ck.optional(f, "resources", path, strings(None), ()),
        node_group=(ck.optional(f, "nodeGroup", path, lambda n, p: _group_name(ck, n, p, groups), None)
                    if fault == "provisioningFailure" else None))


def _string_list(ck: Checker, node: yaml.Node, path: str, choices: tuple[str, ...] | None) -> tuple[str, ...] | None:
    items = ck.sequence(node, path)
    if items is None:
        return None
    if choices is None:
        hint = "resource[.group][/subresource], e.g. pods, deployments.apps, nodes/status"
        values = [ck.string(n, f"{path}[{i}]", pattern=_API_RESOURCE, hint=hint) for i, n in enumerate(items)]
    else:
        values = [ck.choice(n, f"{path}[{i}]", choices) for i, n in enumerate(items)]
    return None if None in values else tuple(v for v in values if v is not None)


def _problem_event(ck: Checker, node: yaml.Node, path: str,
                   groups: dict[str, NodeGroupSpec]) -> NodeProblemEvent | None:
    f = ck.mapping(node, path, ("kind", "params", "message", *_TARGET_FIELDS, "count"))
    if f is None:
        return None
    if ("kind" in f) == ("message" in f):
        ck.error(node, path, "give either kind (a known kernel problem) or message (a raw kernel message)")
    if "params" in f and "kind" not in f:
        ck.error(f["params"], join(path, "params"), "params go with kind")
    problem = ck.optional(f, "kind", path, lambda n, p: ck.choice(n, p, PROBLEMS), None)
    params: dict[str, Any] = {}
    if problem is not None and "params" in f:
        accepted = list(inspect.signature(PROBLEMS[problem].lines).parameters)
        if not accepted:
            ck.error(f["params"], join(path, "params"), f"kernel problem {problem} takes no params")
        else:
            fields = ck.mapping(f["params"], join(path, "params"), accepted) or {}
            params = {k: to_python(v) for k, v in fields.items()}
    target = _target(ck, f, path, groups)
    count = ck.optional(f, "count", path, lambda n, p: ck.integer(n, p, low=1), 1)
    message = ck.optional(f, "message", path, ck.string, None)
    if problem is None and message is None:
        return None
    return NodeProblemEvent(0.0, target, problem=problem, params=params, message=message, count=count)


def _scale_event(ck: Checker, node: yaml.Node, path: str, groups: dict[str, NodeGroupSpec]) -> ScaleEvent | None:
    f = ck.mapping(node, path, ("nodeGroup", "size"), required=("nodeGroup", "size"))
    if f is None or "nodeGroup" not in f or "size" not in f:
        return None
    name = _group_name(ck, f["nodeGroup"], join(path, "nodeGroup"), groups)
    size = ck.integer(f["size"], join(path, "size"), low=0)
    if name is None or size is None:
        return None
    g = groups[name]
    if not g.min_size <= size <= g.max_size:
        ck.error(f["size"], join(path, "size"), f"must be between the group's minSize and maxSize "
                                                f"({g.min_size}..{g.max_size}), not {size}")
        return None
    return ScaleEvent(0.0, name, size)


__all__ = ["EVENT_KINDS", "read_event"]
