"""Loading scenario files: node groups, workloads with load models, manifests and timed events that kubesim,
`kubescale demo` and `kubescale simulate` run (format: docs/scenarios.md; data: kubesim.sim.scenariotypes).

`load_scenario` reads a shipped name (`small` -> kubesim/scenarios/small.yaml) or a path, validates every
field, reports every problem with file, line and field (`ScenarioError.problems`) and returns frozen
dataclasses. It reads the scenario and its trace files; running a scenario is the simulation layers' job.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from kubescale.quantity import format_quantity
from kubesim.sim.scenariocurves import CurveReader
from kubesim.sim.scenarioevents import read_event
from kubesim.sim.scenariotypes import (
    DEFAULT_IMAGE,
    TAINT_EFFECTS,
    ContainerSpec,
    InstanceShape,
    NodeGroupSpec,
    Resources,
    Scenario,
    Settings,
    Taint,
    WorkloadSpec,
)
from kubesim.sim.yamlcheck import Checker, Problem, ScenarioError, compose, join, to_python

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS_HINT = "lowercase letters, digits and '-', starting and ending with a letter or digit"
_RESOURCE_NAME = re.compile(r"([a-z0-9.-]+/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?")
T = TypeVar("T")
Reader = Callable[[Checker, yaml.Node, str], T | None]


def shipped_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A shipped scenario by name, or a scenario file by path. Raises ScenarioError."""
    shown = str(name_or_path)
    path = Path(name_or_path)
    if not path.suffix and "/" not in shown and not path.exists():
        path = SCENARIO_DIR / f"{shown}.yaml"
        if not path.exists():
            raise ScenarioError([Problem(shown, 0, "", "no such scenario file or shipped scenario (shipped: "
                                                       f"{', '.join(shipped_scenarios())})")])
        shown = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ScenarioError([Problem(shown, 0, "", f"cannot read: {e.strerror or e}")]) from None
    return parse_scenario(text, source=shown, base_dir=path.parent, default_name=path.stem)


def parse_scenario(text: str, *, source: str, base_dir: Path, default_name: str = "scenario") -> Scenario:
    """A scenario from YAML text; `source` names it in problems, trace files are read from `base_dir`."""
    root = compose(text, source)
    if root is None:
        raise ScenarioError([Problem(source, 0, "", "empty scenario: expected a mapping with nodeGroups, "
                                                    "workloads, manifests and events")])
    ck = Checker(source)
    top = ck.mapping(root, "", ("name", "description", "seed", "duration", "settings", "nodeGroups", "workloads",
                                "manifests", "events"), required=("nodeGroups",))
    if top is None:
        raise ScenarioError(ck.problems)
    curves = CurveReader(ck, base_dir)
    groups = _listed(ck, top, "nodeGroups", _node_group)
    _unique(ck, top.get("nodeGroups"), [g.name for g in groups], "nodeGroups", "node group")
    entries = _listed(ck, top, "workloads", lambda c, n, p: _workload(curves, n, p))
    workloads = [w for entry in entries for w in entry]
    _unique(ck, top.get("workloads"), [f"{w.kind} {w.namespace}/{w.name}" for w in workloads], "workloads",
            "workload")
    entry_names = _entry_names(top.get("workloads"))
    events = _listed(ck, top, "events", lambda c, n, p: read_event(curves, n, p, groups, workloads, entry_names))
    scenario = Scenario(
        name=ck.optional(top, "name", "", lambda n, p: ck.string(n, p, pattern=_DNS_SUBDOMAIN, hint=_DNS_HINT),
                         default_name),
        source=source,
        description=ck.optional(top, "description", "", ck.string, ""),
        seed=ck.optional(top, "seed", "", lambda n, p: ck.integer(n, p, low=0), 0),
        duration_s=ck.optional(top, "duration", "", lambda n, p: ck.duration(n, p, positive=True), None),
        settings=_settings(ck, top["settings"]) if "settings" in top else Settings(),
        node_groups=tuple(groups), workloads=tuple(workloads),
        manifests=tuple(_listed(ck, top, "manifests", _manifest)),
        events=tuple(sorted(events, key=lambda e: e.at_s)))
    if ck.problems:
        raise ScenarioError(ck.problems)
    return scenario


def _listed(ck: Checker, fields: dict[str, yaml.Node], key: str, read: Reader[T], path: str = "") -> list[T]:
    """Read each item of an optional list field; items with problems are left out."""
    if key not in fields:
        return []
    lpath = join(path, key)
    items = ck.sequence(fields[key], lpath) or []
    return [v for i, n in enumerate(items) if (v := read(ck, n, f"{lpath}[{i}]")) is not None]


def _entry_names(node: yaml.Node | None) -> set[str]:
    """The names the workloads entries give, valid or not (so that events naming a broken entry are not
    reported again)."""
    names = set()
    for item in node.value if isinstance(node, yaml.SequenceNode) else ():
        for k, v in item.value if isinstance(item, yaml.MappingNode) else ():
            if getattr(k, "value", None) == "name" and isinstance(v, yaml.ScalarNode):
                names.add(str(v.value))
    return names


def _unique(ck: Checker, node: yaml.Node | None, names: list[str], path: str, what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            ck.error(node, path, f"duplicate {what} {name}")
        seen.add(name)


# --- settings and node groups -----------------------------------------------------------------------------


def _settings(ck: Checker, node: yaml.Node) -> Settings:
    f = ck.mapping(node, "settings", ("kubeletStartDelay", "podReadyDelay", "nodeStatusUpdateFrequency",
                                      "nodeLeaseDuration", "nodeMonitorGracePeriod", "usageTick", "kubeletPort",
                                      "kubeletHttp")) or {}
    d = Settings()

    def dur(key: str, default: float, *, positive: bool = True) -> float:
        return ck.optional(f, key, "settings", lambda n, p: ck.duration(n, p, positive=positive), default)

    return Settings(
        kubelet_start_delay_s=dur("kubeletStartDelay", d.kubelet_start_delay_s, positive=False),
        pod_ready_delay_s=dur("podReadyDelay", d.pod_ready_delay_s, positive=False),
        node_status_update_frequency_s=dur("nodeStatusUpdateFrequency", d.node_status_update_frequency_s),
        node_lease_duration_s=dur("nodeLeaseDuration", d.node_lease_duration_s),
        node_monitor_grace_period_s=dur("nodeMonitorGracePeriod", d.node_monitor_grace_period_s),
        usage_tick_s=dur("usageTick", d.usage_tick_s),
        kubelet_port=ck.optional(f, "kubeletPort", "settings", lambda n, p: ck.integer(n, p, low=1, high=65535),
                                 d.kubelet_port),
        kubelet_http=ck.optional(f, "kubeletHttp", "settings", ck.boolean, d.kubelet_http))


def _resources(ck: Checker, node: yaml.Node, path: str, base: Resources | None) -> Resources | None:
    """Node capacity (cpu and memory required) or allocatable (each field defaults to `base`'s)."""
    f = ck.mapping(node, path, ("cpu", "memory", "pods", "ephemeral-storage"),
                   required=() if base is not None else ("cpu", "memory"))
    if f is None:
        return None
    b = base or Resources(0, 0, 110, 100 * 2**30)
    cpu = ck.optional(f, "cpu", path, ck.quantity, b.cpu_millicores / 1000)
    return Resources(cpu_millicores=round(cpu * 1000),
                     memory_bytes=round(ck.optional(f, "memory", path, ck.quantity, b.memory_bytes)),
                     pods=ck.optional(f, "pods", path, lambda n, p: ck.integer(n, p, low=0), b.pods),
                     ephemeral_storage_bytes=round(ck.optional(f, "ephemeral-storage", path, ck.quantity,
                                                               b.ephemeral_storage_bytes)))


def _taint(ck: Checker, node: yaml.Node, path: str) -> Taint | None:
    f = ck.mapping(node, path, ("key", "value", "effect"), required=("key", "effect"))
    if f is None or "key" not in f or "effect" not in f:
        return None
    key = ck.string(f["key"], join(path, "key"))
    effect = ck.choice(f["effect"], join(path, "effect"), TAINT_EFFECTS)
    value = ck.optional(f, "value", path, ck.string, "")
    return Taint(key, value, effect) if key is not None and effect is not None else None


def _node_group(ck: Checker, node: yaml.Node, path: str) -> NodeGroupSpec | None:
    f = ck.mapping(node, path, ("name", "minSize", "maxSize", "size", "instance", "provisioningDelay",
                                "readyDelay", "failureRate", "stockout"), required=("name", "instance"))
    if f is None or "name" not in f or "instance" not in f:
        return None
    name = ck.string(f["name"], join(path, "name"), pattern=_DNS_LABEL, hint=_DNS_HINT)
    count = lambda n, p: ck.integer(n, p, low=0)  # noqa: E731
    lo = ck.optional(f, "minSize", path, count, 0)
    size = ck.optional(f, "size", path, count, lo)
    hi = ck.optional(f, "maxSize", path, count, max(lo, size))
    if hi < lo:
        ck.error(f["maxSize"], join(path, "maxSize"), f"must be at least minSize ({hi} < {lo})")
    elif not lo <= size <= hi:
        ck.error(f.get("size", node), join(path, "size"), f"must be between minSize and maxSize ({lo}..{hi}), "
                                                            f"not {size}")
    ipath = join(path, "instance")
    inst = ck.mapping(f["instance"], ipath, ("type", "capacity", "allocatable", "labels", "taints"),
                      required=("capacity",))
    if inst is None or "capacity" not in inst:
        return None
    capacity = _resources(ck, inst["capacity"], join(ipath, "capacity"), None)
    if capacity is None:
        return None
    alloc = capacity
    if "allocatable" in inst:
        alloc = _resources(ck, inst["allocatable"], join(ipath, "allocatable"), capacity) or capacity
        over = [k for k, a, c in (("cpu", alloc.cpu_millicores, capacity.cpu_millicores),
                                  ("memory", alloc.memory_bytes, capacity.memory_bytes),
                                  ("pods", alloc.pods, capacity.pods),
                                  ("ephemeral-storage", alloc.ephemeral_storage_bytes,
                                   capacity.ephemeral_storage_bytes)) if a > c]
        if over:
            ck.error(inst["allocatable"], join(ipath, "allocatable"), f"exceeds capacity in {', '.join(over)}")
    taints = _listed(ck, inst, "taints", _taint, ipath)
    if name is None:
        return None
    return NodeGroupSpec(
        name=name, min_size=lo, max_size=hi, size=size,
        instance=InstanceShape(instance_type=ck.optional(inst, "type", ipath, ck.string, f"sim.{name}"),
                               capacity=capacity, allocatable=alloc,
                               labels=ck.optional(inst, "labels", ipath, ck.string_map, {}), taints=tuple(taints)),
        provisioning_delay_s=ck.optional(f, "provisioningDelay", path, ck.duration, 30.0),
        ready_delay_s=ck.optional(f, "readyDelay", path, ck.duration, 5.0),
        failure_rate=ck.optional(f, "failureRate", path, lambda n, p: ck.number(n, p, low=0, high=1), 0.0),
        stockout=ck.optional(f, "stockout", path, ck.boolean, False))


# --- workloads and manifests ------------------------------------------------------------------------------


def _quantities(ck: Checker, node: yaml.Node, path: str) -> dict[str, tuple[float, str]] | None:
    """requests/limits: resource name -> (value, canonical quantity)."""
    if not isinstance(node, yaml.MappingNode):
        ck.error(node, path, "expected a mapping of resource names to quantities, e.g. {cpu: 200m, memory: 128Mi}")
        return None
    out = {}
    for k, v in node.value:
        key = ck.string(k, path, pattern=_RESOURCE_NAME, hint="a resource name like cpu, memory or "
                                                              "ephemeral-storage")
        value = ck.quantity(v, join(path, str(k.value)))
        if key is not None and value is not None:
            out[key] = (value, format_quantity(v.value))
    return out


def _container(ck: Checker, node: yaml.Node, path: str, default_name: str | None = None) -> ContainerSpec | None:
    f = ck.mapping(node, path, ("name", "requests", "limits"), required=() if default_name else ("name",))
    if f is None:
        return None
    name = ck.optional(f, "name", path, lambda n, p: ck.string(n, p, pattern=_DNS_LABEL, hint=_DNS_HINT),
                       default_name)
    requests = ck.optional(f, "requests", path, _quantities_of(ck), {})
    limits = ck.optional(f, "limits", path, _quantities_of(ck), {})
    for res, (req, shown) in requests.items():
        if res in limits and req > limits[res][0]:
            ck.error(f["requests"], join(path, f"requests.{res}"),
                     f"{shown} must be less than or equal to {res} limit of {limits[res][1]}")
    if name is None:
        return None
    return ContainerSpec(name, {k: v[1] for k, v in requests.items()}, {k: v[1] for k, v in limits.items()})


def _quantities_of(ck: Checker) -> Callable[[yaml.Node, str], dict[str, tuple[float, str]] | None]:
    return lambda n, p: _quantities(ck, n, p)


_WORKLOAD_FIELDS = ("name", "namespace", "kind", "replicas", "copies", "labels", "containers", "requests", "limits",
                    "nodeSelector", "tolerations", "image", "load")


def _workload(curves: CurveReader, node: yaml.Node, path: str) -> list[WorkloadSpec] | None:
    """One workloads entry: a workload, or `copies` of it named <name>-0, <name>-1, ..."""
    ck = curves.ck
    f = ck.mapping(node, path, _WORKLOAD_FIELDS, required=("name",))
    if f is None or "name" not in f:
        return None
    name = ck.string(f["name"], join(path, "name"), pattern=_DNS_SUBDOMAIN, hint=_DNS_HINT)
    namespace = ck.optional(f, "namespace", path, lambda n, p: ck.string(n, p, pattern=_DNS_LABEL, hint=_DNS_HINT),
                            "default")
    kind = ck.optional(f, "kind", path, lambda n, p: ck.choice(n, p, ("Deployment", "StatefulSet")), "Deployment")
    replicas = ck.optional(f, "replicas", path, lambda n, p: ck.integer(n, p, low=0), 1)
    copies = ck.optional(f, "copies", path, lambda n, p: ck.integer(n, p, low=1), 1)
    labels = ck.optional(f, "labels", path, ck.string_map, None)
    if "containers" in f and ("requests" in f or "limits" in f):
        ck.error(f["containers"], join(path, "containers"), "give either containers or requests/limits (for a "
                                                            "single container), not both")
    if "containers" in f:
        containers = _listed(ck, f, "containers", _container, path)
        _unique(ck, f["containers"], [c.name for c in containers], join(path, "containers"), "container")
        if isinstance(f["containers"], yaml.SequenceNode) and not f["containers"].value:
            ck.error(f["containers"], join(path, "containers"), "needs at least one container")
    else:
        single = yaml.MappingNode("tag:yaml.org,2002:map", [(k, v) for k, v in node.value
                                                           if k.value in ("requests", "limits")],
                                  start_mark=node.start_mark, end_mark=node.end_mark)
        one = _container(ck, single, path, default_name=name if name and _DNS_LABEL.fullmatch(name) else "app")
        containers = [one] if one is not None else []
    load = curves.load(f["load"], join(path, "load")) if "load" in f else None
    tolerations = _listed(ck, f, "tolerations", _toleration, path)
    node_selector = ck.optional(f, "nodeSelector", path, ck.string_map, {})
    image = ck.optional(f, "image", path, ck.string, DEFAULT_IMAGE)
    if name is None or ("load" in f and load is None) or not containers:
        return None
    names = [name] if copies == 1 else [f"{name}-{i}" for i in range(copies)]
    out = []
    for n in names:
        own = dict(labels) if labels is not None else {"app": n}
        if labels is not None and copies > 1:
            own["app.kubernetes.io/instance"] = n  # copies need selectors of their own
        spec = WorkloadSpec(namespace=namespace, kind=kind, name=n, template=name, replicas=replicas, labels=own,
                            containers=tuple(containers), load=load, node_selector=node_selector,
                            tolerations=tuple(tolerations), image=image)
        out.append(spec)
    return out


def _toleration(ck: Checker, node: yaml.Node, path: str) -> dict[str, Any] | None:
    f = ck.mapping(node, path, ("key", "operator", "value", "effect", "tolerationSeconds"))
    if f is None:
        return None
    ck.optional(f, "operator", path, lambda n, p: ck.choice(n, p, ("Exists", "Equal")), "")
    ck.optional(f, "effect", path, lambda n, p: ck.choice(n, p, TAINT_EFFECTS), "")
    ck.optional(f, "tolerationSeconds", path, ck.integer, 0)
    for key in ("key", "value"):
        ck.optional(f, key, path, ck.string, "")
    return to_python(node)


def _manifest(ck: Checker, node: yaml.Node, path: str) -> dict[str, Any] | None:
    """Any object: apiVersion, kind and metadata.name are required; the rest is the API server's to check."""
    if not isinstance(node, yaml.MappingNode):
        ck.error(node, path, "expected an object with apiVersion, kind and metadata")
        return None
    f = {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
    for key in ("apiVersion", "kind", "metadata"):
        if key not in f:
            ck.error(node, join(path, key), "required field is missing")
    meta = f.get("metadata")
    if meta is not None and not isinstance(meta, yaml.MappingNode):
        ck.error(meta, join(path, "metadata"), "expected a mapping with name")
    elif meta is not None:
        name = next((v for k, v in meta.value if getattr(k, "value", None) == "name"), None)
        if name is None:
            ck.error(meta, join(path, "metadata.name"), "required field is missing")
        else:
            ck.string(name, join(path, "metadata.name"), pattern=_DNS_SUBDOMAIN, hint=_DNS_HINT)
    for key in ("apiVersion", "kind"):
        if key in f:
            ck.string(f[key], join(path, key))
    obj = to_python(node)
    return obj if isinstance(obj, dict) else None


__all__ = ["SCENARIO_DIR", "Problem", "Scenario", "ScenarioError", "load_scenario", "parse_scenario",
           "shipped_scenarios"]
