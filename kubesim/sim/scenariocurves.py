"""Reading load curves and load models from a scenario file's YAML nodes, with every problem recorded against
its line and field (see kubesim.sim.yamlcheck). Reads trace CSV files next to the scenario; nothing else.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from kubesim.selectors import SelectorError, label_selector_from_dict
from kubesim.sim.loadcurves import (
    Constant,
    Curve,
    CurveError,
    Diurnal,
    Points,
    Product,
    Sine,
    Spike,
    Steps,
    Sum,
    Trace,
    TraceFormatError,
    parse_trace_csv,
)
from kubesim.sim.loadmodel import DEFAULT_METRIC, WorkloadLoad
from kubesim.sim.yamlcheck import Checker, join, to_python

MiB = 2**20
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")

# The fields of each curve kind ("kind" itself is allowed everywhere).
CURVE_FIELDS: dict[str, tuple[str, ...]] = {
    "constant": ("value",),
    "points": ("points",),
    "steps": ("steps", "initial"),
    "sine": ("period", "min", "max", "phase"),
    "diurnal": ("period", "min", "max", "phase"),
    "spike": ("at", "duration", "height", "ramp", "every"),
    "sum": ("of",),
    "product": ("of",),
    "trace": ("file", "end", "speedup"),
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "constant": ("value",), "points": ("points",), "steps": ("steps",), "sine": ("period", "min", "max"),
    "diurnal": ("min", "max"), "spike": ("at", "duration", "height"), "sum": ("of",), "product": ("of",),
    "trace": ("file",),
}


class CurveReader:
    """Reads curves for one scenario file; trace files are resolved against `base_dir`."""

    def __init__(self, ck: Checker, base_dir: Path) -> None:
        self.ck = ck
        self.base_dir = base_dir

    def curve(self, node: yaml.Node, path: str) -> Curve | None:
        """A number (a constant) or a mapping with `kind` and that kind's fields."""
        ck = self.ck
        if isinstance(node, yaml.ScalarNode) and node.tag != "tag:yaml.org,2002:str":
            level = ck.number(node, path)
            return None if level is None else Constant(level)
        if not isinstance(node, yaml.MappingNode):
            ck.error(node, path, "expected a curve: a number or a mapping with kind: "
                     + ", ".join(CURVE_FIELDS))
            return None
        kind_node = next((v for k, v in node.value if getattr(k, "value", None) == "kind"), None)
        if kind_node is None:
            ck.error(node, join(path, "kind"), "required field is missing (one of: " + ", ".join(CURVE_FIELDS) + ")")
            return None
        kind = ck.choice(kind_node, join(path, "kind"), CURVE_FIELDS)
        if kind is None:
            return None
        f = ck.mapping(node, path, ("kind", *CURVE_FIELDS[kind]), required=_REQUIRED[kind])
        if f is None or any(k not in f for k in _REQUIRED[kind]):
            return None
        n_before = len(ck.problems)
        try:
            built = self._build(kind, f, path)
        except CurveError as e:
            ck.error(f.get(e.field.split("[")[0], node), join(path, e.field), str(e))
            return None
        return built if len(ck.problems) == n_before else None

    def _build(self, kind: str, f: dict[str, yaml.Node], path: str) -> Curve | None:
        """The curve of `kind` from its fields; None after recording a problem (CurveError passes through)."""
        ck = self.ck
        if kind == "constant":
            level = ck.number(f["value"], join(path, "value"))
            return None if level is None else Constant(level)
        if kind in ("points", "steps"):
            pairs = self._pairs(f[kind], join(path, kind))
            if pairs is None:
                return None
            if kind == "points":
                return Points(pairs)
            return Steps(pairs, initial=ck.optional(f, "initial", path, ck.number, 0.0))
        if kind in ("sine", "diurnal"):
            period = ck.optional(f, "period", path, lambda n, p: ck.duration(n, p, positive=True), 86400.0)
            low, high = ck.number(f["min"], join(path, "min")), ck.number(f["max"], join(path, "max"))
            phase = ck.optional(f, "phase", path, lambda n, p: ck.duration(n, p, allow_negative=True), 0.0)
            if low is None or high is None:
                return None
            return Sine(period, low, high, phase) if kind == "sine" else Diurnal(low, high, period, phase)
        if kind == "spike":
            at, width = ck.duration(f["at"], join(path, "at")), ck.duration(f["duration"], join(path, "duration"))
            height = ck.number(f["height"], join(path, "height"))
            ramp = ck.optional(f, "ramp", path, ck.duration, 0.0)
            every = ck.optional(f, "every", path, lambda n, p: ck.duration(n, p, positive=True), None)
            if at is None or width is None or height is None:
                return None
            return Spike(at, width, height, ramp, every)
        if kind in ("sum", "product"):
            items = ck.sequence(f["of"], join(path, "of"), "list of curves")
            if items is not None and not items:
                ck.error(f["of"], join(path, "of"), "needs at least one curve")
            curves = [self.curve(n, f"{path}.of[{i}]") for i, n in enumerate(items or [])]
            if not items or None in curves:
                return None
            parts = tuple(c for c in curves if c is not None)
            return Sum(parts) if kind == "sum" else Product(parts)
        return self._trace(f, path)

    def _pairs(self, node: yaml.Node, path: str) -> tuple[tuple[float, float], ...] | None:
        ck = self.ck
        message = "expected a list of [time, value] pairs"
        items = ck.sequence(node, path, "list of [time, value] pairs")
        if items is None:
            return None
        if not items:
            ck.error(node, path, message)
            return None
        out = []
        for i, item in enumerate(items):
            sub = f"{path}[{i}]"
            if not isinstance(item, yaml.SequenceNode) or len(item.value) != 2:
                ck.error(item, sub, message)
                continue
            t = ck.duration(item.value[0], sub, allow_negative=True)
            v = ck.number(item.value[1], sub)
            if t is not None and v is not None:
                out.append((t, v))
        return tuple(out)

    def _trace(self, f: dict[str, yaml.Node], path: str) -> Trace | None:
        ck = self.ck
        name = ck.string(f["file"], join(path, "file"))
        end = ck.optional(f, "end", path, lambda n, p: ck.choice(n, p, ("hold", "loop")), "hold")
        speedup = ck.optional(f, "speedup", path, lambda n, p: ck.number(n, p, low=1e-9), 1.0)
        if name is None:
            return None
        file = self.base_dir / name
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as e:
            ck.error(f["file"], join(path, "file"), f"cannot read trace {str(file)!r}: {e.strerror or e}")
            return None
        try:
            times, values = parse_trace_csv(text)
        except TraceFormatError as e:
            ck.error(None, join(path, "file"), str(e).split(": ", 1)[1], file=name, line=e.line)
            return None
        return Trace(times, values, "loop" if end == "loop" else "hold", speedup, source=name)

    def load(self, node: yaml.Node, path: str) -> WorkloadLoad | None:
        """A workload's `load` block."""
        ck = self.ck
        f = ck.mapping(node, path, ("curve", "unit", "cpuPerRequest", "baseCpu", "memory", "noise", "metric",
                                    "scale", "selector"), required=("curve",))
        if f is None or "curve" not in f:
            return None
        demand = self.curve(f["curve"], join(path, "curve"))
        mem = (ck.mapping(f["memory"], join(path, "memory"), ("base", "perLoad")) or {}) if "memory" in f else {}
        mpath = join(path, "memory")
        selector = None
        if "selector" in f:
            sel_fields = ck.mapping(f["selector"], join(path, "selector"), ("matchLabels", "matchExpressions"))
            if sel_fields is not None:
                try:
                    selector = label_selector_from_dict(to_python(f["selector"]))
                except (SelectorError, AttributeError, TypeError) as e:
                    ck.error(f["selector"], join(path, "selector"), f"invalid label selector: {e}")
        unit = ck.optional(f, "unit", path, lambda n, p: ck.choice(n, p, ("cores", "requests")), "cores")
        fields = {
            "cpu_per_request": ck.optional(f, "cpuPerRequest", path, lambda n, p: ck.quantity(n, p, low=1e-9), 0.01),
            "base_cpu": ck.optional(f, "baseCpu", path, ck.quantity, 0.0),
            "memory_base_bytes": ck.optional(mem, "base", mpath, ck.quantity, 64.0 * MiB),
            "memory_per_load_bytes": ck.optional(mem, "perLoad", mpath, ck.quantity, 0.0),
            "noise": ck.optional(f, "noise", path, lambda n, p: ck.number(n, p, low=0, high=1), 0.0),
            "scale": ck.optional(f, "scale", path, lambda n, p: ck.number(n, p, low=0), 1.0)}
        metric = ck.optional(f, "metric", path, lambda n, p: ck.string(
            n, p, pattern=_METRIC_NAME, hint="a Prometheus metric name"), DEFAULT_METRIC)
        if demand is None:
            return None
        return WorkloadLoad(demand=demand, unit="requests" if unit == "requests" else "cores", metric=metric,
                            selector=selector, **fields)


__all__ = ["CURVE_FIELDS", "CurveReader"]
