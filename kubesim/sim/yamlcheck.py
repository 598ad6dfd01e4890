"""Reading a YAML document field by field with every problem collected against its file, line and field path,
for validating loaders (scenario files). Works on PyYAML's composed node tree, so each value keeps its mark.

Pure apart from the text it is given; it knows nothing about scenarios.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml

from kubescale.quantity import parse_quantity
from kubesim.sim.loadcurves import parse_duration

V = TypeVar("V")
_NULL = "tag:yaml.org,2002:null"
_BOOL = "tag:yaml.org,2002:bool"
_STR = "tag:yaml.org,2002:str"


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int  # 1-based; 0 when the problem is about the whole file
    field: str  # e.g. "workloads[0].load.curve.points"; "" for the whole file
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ScenarioError(ValueError):
    """Everything wrong with a scenario file; `problems` in file order."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(sorted(problems, key=lambda p: (p.file, p.line)))
        super().__init__("\n".join(str(p) for p in self.problems))


def compose(text: str, file: str) -> yaml.Node | None:
    """The node tree of a single-document YAML text; raises ScenarioError for a syntax error."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise ScenarioError([Problem(file, line, "", f"invalid YAML: {e.problem or e.context}")]) from None
    except yaml.YAMLError as e:
        raise ScenarioError([Problem(file, 0, "", f"invalid YAML: {e}")]) from None


def line_of(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def to_python(node: yaml.Node) -> Any:
    """The plain Python value of a subtree, as yaml.safe_load would build it."""
    return yaml.SafeLoader("").construct_object(node, deep=True)


class Checker:
    """Typed getters over YAML nodes. Each getter records a Problem and answers None when the value is wrong,
    so a loader can carry on and report everything at once."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def error(self, node: yaml.Node | None, path: str, message: str, *, file: str | None = None,
              line: int | None = None) -> None:
        if line is None:
            line = line_of(node) if node is not None else 0
        self.problems.append(Problem(file or self.file, line, path, message))

    def mapping(self, node: yaml.Node, path: str, allowed: Iterable[str],
                required: Iterable[str] = ()) -> dict[str, yaml.Node] | None:
        """A mapping's fields by key; unknown, duplicate and missing required keys are problems."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, path, f"expected a mapping, found {describe(node)}")
            return None
        allowed = list(allowed)
        out: dict[str, yaml.Node] = {}
        for key_node, value in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            sub = join(path, str(key))
            if key is None or key_node.tag != _STR:
                self.error(key_node, path, f"keys must be strings, found {describe(key_node)}")
            elif key in out:
                self.error(key_node, sub, "duplicate field")
            elif key not in allowed:
                self.error(key_node, sub, unknown_field(key, allowed))
            else:
                out[key] = value
        for key in required:
            if key not in out:
                self.error(node, join(path, key), "required field is missing")
        return out

    def sequence(self, node: yaml.Node, path: str, what: str = "list") -> list[yaml.Node] | None:
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, path, f"expected a {what}, found {describe(node)}")
            return None
        return list(node.value)

    def _scalar(self, node: yaml.Node, path: str, expected: str) -> str | None:
        if not isinstance(node, yaml.ScalarNode) or node.tag == _NULL:
            self.error(node, path, f"expected {expected}, found {describe(node)}")
            return None
        return str(node.value)

    def string(self, node: yaml.Node, path: str, *, pattern: re.Pattern[str] | None = None,
               hint: str = "") -> str | None:
        text = self._scalar(node, path, "a string")
        if text is not None and pattern is not None and not pattern.fullmatch(text):
            self.error(node, path, f"invalid value {text!r}" + (f": {hint}" if hint else ""))
            return None
        return text

    def choice(self, node: yaml.Node, path: str, choices: Iterable[str]) -> str | None:
        choices = list(choices)
        text = self._scalar(node, path, "one of " + ", ".join(choices))
        if text is not None and text not in choices:
            near = difflib.get_close_matches(text, choices, n=1) or [c for c in choices if c.startswith(text)]
            hint = f" (did you mean {near[0]}?)" if near else ""
            self.error(node, path, f"{text!r} is not one of {', '.join(choices)}{hint}")
            return None
        return text

    def boolean(self, node: yaml.Node, path: str) -> bool | None:
        if not isinstance(node, yaml.ScalarNode) or node.tag != _BOOL:
            self.error(node, path, f"expected true or false, found {describe(node)}")
            return None
        return bool(to_python(node))

    def number(self, node: yaml.Node, path: str, *, low: float | None = None, high: float | None = None,
               integer: bool = False) -> float | None:
        what = "an integer" if integer else "a number"
        text = self._scalar(node, path, what)
        if text is None:
            return None
        try:
            value = float(int(text)) if integer else float(text)
        except ValueError:
            self.error(node, path, f"expected {what}, found {text!r}")
            return None
        if not math.isfinite(value):
            self.error(node, path, f"expected {what}, found {text!r}")
            return None
        return self._bounded(node, path, value, low, high, f"{value:g}")

    def integer(self, node: yaml.Node, path: str, *, low: int | None = None, high: int | None = None) -> int | None:
        value = self.number(node, path, low=low, high=high, integer=True)
        return None if value is None else int(value)

    def _bounded(self, node: yaml.Node, path: str, value: float, low: float | None, high: float | None,
                 shown: str) -> float | None:
        if low is not None and value < low:
            self.error(node, path, f"must be at least {low:g}, not {shown}")
            return None
        if high is not None and value > high:
            self.error(node, path, f"must be at most {high:g}, not {shown}")
            return None
        return value

    def duration(self, node: yaml.Node, path: str, *, allow_negative: bool = False,
                 positive: bool = False) -> float | None:
        text = self._scalar(node, path, "a duration like 90s, 5m or 1h30m")
        if text is None:
            return None
        try:
            value = parse_duration(text, allow_negative=allow_negative)
        except ValueError as e:
            self.error(node, path, str(e))
            return None
        if positive and value <= 0:
            self.error(node, path, f"must be a positive duration, not {text!r}")
            return None
        return value

    def quantity(self, node: yaml.Node, path: str, *, low: float | None = 0.0) -> float | None:
        text = self._scalar(node, path, "a quantity like 200m, 2 or 128Mi")
        if text is None:
            return None
        try:
            value = float(parse_quantity(text))
        except ValueError as e:
            self.error(node, path, str(e))
            return None
        return self._bounded(node, path, value, low, None, repr(text))

    def string_map(self, node: yaml.Node, path: str) -> dict[str, str] | None:
        """A mapping of strings to strings (labels, selectors); scalar values are taken as written."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, path, f"expected a mapping of strings, found {describe(node)}")
            return None
        out: dict[str, str] = {}
        for k, v in node.value:
            key = self.string(k, path)
            value = self.string(v, join(path, str(k.value))) if key is not None else None
            if key is not None and value is not None:
                if key in out:
                    self.error(k, join(path, key), "duplicate key")
                out[key] = value
        return out

    def optional(self, fields: dict[str, yaml.Node], key: str, path: str,
                 read: Callable[[yaml.Node, str], V | None], default: V) -> V:
        """`read` the field when present; the default when absent or wrong (a problem is recorded)."""
        if key not in fields:
            return default
        value = read(fields[key], join(path, key))
        return default if value is None else value


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == _NULL:
        return "nothing (null)"
    return repr(node.value) if node.tag == _STR else str(node.value)


def unknown_field(key: str, allowed: list[str]) -> str:
    near = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6) or [
        a for a in allowed if a.lower() == key.lower()]
    if near:
        return f"unknown field (did you mean {near[0]}?)"
    return f"unknown field (expected one of: {', '.join(allowed)})"


__all__ = ["Checker", "Problem", "ScenarioError", "compose", "describe", "join", "line_of", "to_python",
           "unknown_field"]
