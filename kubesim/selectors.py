"""Label and field selectors as kube-apiserver parses and matches them (apimachinery pkg/labels and
pkg/fields), including upstream error texts and canonical string forms.

Pure; no I/O. Parsed selectors are immutable and precompile their matching into closures so that
`.matches` stays cheap over very large lists.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FieldRequirement", "FieldSelector", "LabelSelector", "Requirement", "SelectorError", "field_value",
           "format_label_selector", "label_selector_from_dict", "parse_field_selector", "parse_label_selector",
           "selector_dict_to_string"]


class SelectorError(ValueError):
    """A selector that upstream would reject; the message is upstream's (the server answers 400)."""


# --- label key / value validation (apimachinery pkg/api/validate/content) ---------------------------

_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_KEY_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character")
_VALUE_FMT = f"({_KEY_FMT})?"
_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
              "and must start and end with an alphanumeric character")
_DNS_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN_FMT = _DNS_LABEL + r"(\." + _DNS_LABEL + ")*"
_DNS_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                      "'.', and must start and end with an alphanumeric character")
_KEY_RE = re.compile(_KEY_FMT)
_VALUE_RE = re.compile(_VALUE_FMT)
_DNS_SUBDOMAIN_RE = re.compile(_DNS_SUBDOMAIN_FMT)


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    shown = "".join((" or " if i else "") + f"'{e}', " for i, e in enumerate(examples))
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _label_key_errors(key: str) -> list[str]:
    errs: list[str] = []
    parts = key.split("/")
    if len(parts) > 2:
        return ["a valid label key " + _regex_error(_KEY_MSG, _KEY_FMT, "MyName", "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            if len(prefix.encode()) > 253:
                errs.append("prefix part must be no more than 253 bytes")
            if not _DNS_SUBDOMAIN_RE.fullmatch(prefix):
                errs.append("prefix part " + _regex_error(_DNS_SUBDOMAIN_MSG, _DNS_SUBDOMAIN_FMT, "example.com"))
    if not name:
        errs.append("name part must be non-empty")
    elif len(name.encode()) > 63:
        errs.append("name part must be no more than 63 bytes")
    if not _KEY_RE.fullmatch(name):
        errs.append("name part " + _regex_error(_KEY_MSG, _KEY_FMT, "MyName", "my.name", "123-abc"))
    return errs


def _label_value_errors(value: str) -> list[str]:
    errs: list[str] = []
    if len(value.encode()) > 63:
        errs.append("must be no more than 63 bytes")
    if not _VALUE_RE.fullmatch(value):
        errs.append(_regex_error(_VALUE_MSG, _VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def _go_quote(value: str) -> str:
    """Go's %q for the printable strings selectors carry."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _invalid(path: str, value: Any, detail: str) -> str:
    shown = _go_quote(value) if isinstance(value, str) else ("null" if value is None else
                                                              "[" + ",".join(map(_go_quote, value)) + "]")
    return f"{path}: Invalid value: {shown}: {detail}"


def _aggregate(errors: list[str]) -> str:
    unique = list(dict.fromkeys(errors))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


# --- requirements and label selectors -----------------------------------------------------------------

_BINARY_OPS = ("in", "notin", "=", "==", "!=", "gt", "lt")
_INT64_RE = re.compile(r"[+-]?[0-9]+")


def _parse_int64(text: str) -> int | None:
    if not _INT64_RE.fullmatch(text):
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None


@dataclass(frozen=True, slots=True)
class Requirement:
    """One label requirement. `operator` is upstream's selection.Operator: "=", "==", "!=", "in",
    "notin", "exists", "!" (does not exist), "gt" or "lt"."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def __str__(self) -> str:
        op = self.operator
        if op == "exists":
            return self.key
        if op == "!":
            return "!" + self.key
        shown = ",".join(sorted(self.values)) if len(self.values) > 1 else "".join(self.values)
        if op in ("in", "notin"):
            return f"{self.key} {op} ({shown})"
        return self.key + {"gt": ">", "lt": "<"}.get(op, op) + shown


def _new_requirement(key: str, op: str, values: list[str]) -> Requirement:
    """labels.NewRequirement: validates and collects every error like upstream."""
    errs: list[str] = []
    if key_errs := _label_key_errors(key):
        errs.append(_invalid("key", key, "; ".join(key_errs)))
    # The parser always hands "=", "==", "!=", "gt" and "lt" exactly one value, so only the checks that
    # metav1.LabelSelector input can fail are made here.
    if op in ("in", "notin") and not values:
        errs.append(_invalid("values", None, "for 'in', 'notin' operators, values set can't be empty"))
    elif op in ("exists", "!") and values:
        errs.append(_invalid("values", values, "values set must be empty for exists and does not exist"))
    elif op in ("gt", "lt") and _parse_int64(values[0]) is None:
        errs.append(_invalid("values[0]", values[0], "for 'Gt', 'Lt' operators, the value must be an integer"))
    for i, value in enumerate(values):
        if value_errs := _label_value_errors(value):
            errs.append(_invalid(f"values[{i}][{key}]", value, "; ".join(value_errs)))
    if errs:
        raise SelectorError(_aggregate(errs))
    return Requirement(key, op, tuple(values))


def _compile_requirement(req: Requirement) -> Callable[[Mapping[str, str]], bool]:
    key, op, values = req.key, req.operator, req.values
    # Label values are strings, so a missing key (None) never equals or belongs to `values`.
    if op in ("=", "==", "in"):
        if len(values) == 1:
            only = values[0]
            return lambda labels: labels.get(key) == only
        allowed = frozenset(values)
        return lambda labels: labels.get(key) in allowed
    if op in ("!=", "notin"):
        banned = frozenset(values)
        return lambda labels: labels.get(key) not in banned
    if op == "exists":
        return lambda labels: key in labels
    if op == "!":
        return lambda labels: key not in labels
    bound = _parse_int64(values[0])
    greater = op == "gt"

    def compare(labels: Mapping[str, str]) -> bool:
        if bound is None or key not in labels:
            return False
        number = _parse_int64(labels[key])
        return number is not None and (number > bound if greater else number < bound)

    return compare


def _all_of(checks: tuple[Callable[[Mapping[str, str]], bool], ...]) -> Callable[[Mapping[str, str]], bool]:
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda labels: first(labels) and second(labels)

    def every(labels: Mapping[str, str]) -> bool:
        for check in checks:  # noqa: SIM110 - a plain loop beats all() over a generator on list paths
            if not check(labels):
                return False
        return True

    return every


@dataclass(frozen=True)
class LabelSelector:
    """A parsed label selector: the conjunction of `requirements`, sorted by key like upstream.

    `selects_nothing` is upstream's labels.Nothing() (what a nil metav1.LabelSelector converts to)."""

    requirements: tuple[Requirement, ...] = ()
    selects_nothing: bool = False
    _match: Callable[[Mapping[str, str]], bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.selects_nothing:
            match: Callable[[Mapping[str, str]], bool] = lambda labels: False  # noqa: E731
        elif not self.requirements:
            match = lambda labels: True  # noqa: E731
        else:
            match = _all_of(tuple(_compile_requirement(r) for r in self.requirements))
        object.__setattr__(self, "_match", match)

    @classmethod
    def everything(cls) -> LabelSelector:
        return _EVERYTHING

    @classmethod
    def nothing(cls) -> LabelSelector:
        return _NOTHING

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        return self._match(labels if labels is not None else {})

    def is_empty(self) -> bool:
        """True when the selector does not restrict anything (upstream Selector.Empty())."""
        return not self.selects_nothing and not self.requirements

    def exact_matches(self) -> dict[str, str]:
        """Keys that must carry one exact value ("k=v", "k==v", "k in (v)"), for index lookups."""
        exact: dict[str, str] = {}
        for req in self.requirements:
            if req.operator in ("=", "==", "in") and len(req.values) == 1:
                exact.setdefault(req.key, req.values[0])
        return exact

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


_EVERYTHING = LabelSelector()
_NOTHING = LabelSelector(selects_nothing=True)


# --- label selector parser (pkg/labels/selector.go lexer and parser) ---------------------------------

_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")
_SYMBOLS = {")": "CLOSE", ",": "COMMA", "!": "NOT", "==": "DEQ", "=": "EQ", ">": "GT", "<": "LT", "!=": "NEQ",
            "(": "OPEN"}
_OPERATOR_OF = {"IN": "in", "NOTIN": "notin", "EQ": "=", "DEQ": "==", "NEQ": "!=", "GT": "gt", "LT": "lt"}


def _lex(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos, size = 0, len(text)
    while True:
        while pos < size and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= size:
            tokens.append(("EOS", ""))
            return tokens
        start = pos
        if text[pos] in _SPECIAL:
            # Longest run of special symbols that still forms a token ("!=", "==").
            best = ""
            while pos < size and text[pos] in _SPECIAL and text[start:pos + 1] in _SYMBOLS:
                pos += 1
                best = text[start:pos]
            tokens.append((_SYMBOLS[best], best))
            continue
        while pos < size and text[pos] not in _SPECIAL and text[pos] not in _WHITESPACE:
            pos += 1
        word = text[start:pos]
        tokens.append(("IN" if word == "in" else "NOTIN" if word == "notin" else "ID", word))


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0

    def peek(self, values: bool = True) -> tuple[str, str]:
        tok, lit = self.tokens[min(self.pos, len(self.tokens) - 1)]
        return ("ID", lit) if values and tok in ("IN", "NOTIN") else (tok, lit)

    def take(self, values: bool = True) -> tuple[str, str]:
        item = self.peek(values)
        self.pos += 1
        return item

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self.peek()
            if tok == "EOS":
                return reqs
            if tok not in ("ID", "NOT"):
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                reqs.append(self.requirement())
            except SelectorError as exc:
                raise SelectorError(f"unable to parse requirement: {exc}") from None
            tok, lit = self.take()
            if tok == "EOS":
                return reqs
            if tok != "COMMA":
                raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            tok, lit = self.peek()
            if tok not in ("ID", "NOT"):
                raise SelectorError(f"found '{lit}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        tok, key = self.take()
        negated = tok == "NOT"
        if negated:
            tok, key = self.take()
        if tok != "ID":
            raise SelectorError(f"found '{key}', expected: identifier")
        if key_errs := _label_key_errors(key):
            raise SelectorError(_invalid("<nil>", key, "; ".join(key_errs)))
        if negated:
            # Upstream ends a "!key" requirement here even when an operator follows; the caller then
            # reports the operator as unexpected.
            return _new_requirement(key, "!", [])
        if self.peek()[0] in ("EOS", "COMMA"):
            return _new_requirement(key, "exists", [])
        tok, lit = self.take(values=False)
        op = _OPERATOR_OF.get(tok)
        if op is None:
            raise SelectorError(f"found '{lit}', expected: {', '.join(_BINARY_OPS)}")
        values = self.value_set() if op in ("in", "notin") else self.exact_value()
        return _new_requirement(key, op, sorted(values))

    def value_set(self) -> set[str]:
        tok, lit = self.take()
        if tok != "OPEN":
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.peek()
        if tok == "CLOSE":
            self.take()
            return {""}
        if tok not in ("ID", "COMMA"):
            raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")
        values: set[str] = set()
        while True:
            tok, lit = self.take()
            if tok == "ID":
                values.add(lit)
                nxt, nlit = self.peek()
                if nxt == "CLOSE":
                    self.take()
                    return values
                if nxt != "COMMA":
                    raise SelectorError(f"found '{nlit}', expected: ',' or ')'")
            elif tok == "COMMA":
                if not values:
                    values.add("")
                nxt = self.peek()[0]
                if nxt == "CLOSE":
                    values.add("")
                    self.take()
                    return values
                if nxt == "COMMA":
                    self.take()
                    values.add("")
            else:
                raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        if self.peek()[0] in ("EOS", "COMMA"):
            return {""}
        tok, lit = self.take()
        if tok != "ID":
            raise SelectorError(f"found '{lit}', expected: identifier")
        return {lit}


@functools.lru_cache(maxsize=512)
def parse_label_selector(text: str) -> LabelSelector:
    """labels.Parse: "" (or only whitespace) selects everything; raises SelectorError."""
    reqs = _Parser(text).parse()
    if not reqs:
        return _EVERYTHING
    return LabelSelector(tuple(sorted(reqs, key=lambda r: r.key)))


_DICT_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


def label_selector_from_dict(sel: Mapping[str, Any] | None) -> LabelSelector:
    """metav1.LabelSelectorAsSelector. None selects nothing and an empty selector everything, as upstream;
    callers decide which of those a missing selector means for them. Raises SelectorError."""
    if sel is None:
        return _NOTHING
    match_labels = sel.get("matchLabels") or {}
    expressions = sel.get("matchExpressions") or []
    if not match_labels and not expressions:
        return _EVERYTHING
    _check_strings("LabelSelector.matchLabels", list(match_labels.values()))
    reqs = [_new_requirement(k, "=", [v]) for k, v in sorted(match_labels.items())]
    for expr in expressions:
        operator = expr.get("operator", "")
        if operator not in _DICT_OPERATORS:
            raise SelectorError(f"{_go_quote(str(operator))} is not a valid pod selector operator")
        key, values = expr.get("key", ""), list(expr.get("values") or [])
        _check_strings("LabelSelectorRequirement.key", [key])
        _check_strings("LabelSelectorRequirement.values", values)
        reqs.append(_new_requirement(key, _DICT_OPERATORS[operator], values))
    return LabelSelector(tuple(sorted(reqs, key=lambda r: r.key)))


def _check_strings(field_name: str, values: list[Any]) -> None:
    """What decoding a non-string into the Go struct reports (the object was never validated)."""
    for value in values:
        if not isinstance(value, str):
            kind = "bool" if isinstance(value, bool) else "number" if isinstance(value, int | float) else (
                "object" if isinstance(value, Mapping) else "array" if isinstance(value, list) else "null")
            raise SelectorError(f"json: cannot unmarshal {kind} into Go struct field {field_name} of type string")


def selector_dict_to_string(sel: Mapping[str, Any] | None) -> str:
    """labels.Selector.String() of a metav1.LabelSelector: what a Scale's status.selector carries
    ("" for an empty or nil selector). Raises SelectorError for an invalid selector."""
    return str(label_selector_from_dict(sel))


def format_label_selector(sel: Mapping[str, Any] | None) -> str:
    """metav1.FormatLabelSelector, as kubectl prints it: "<none>" when empty, "<error>" when invalid."""
    try:
        text = selector_dict_to_string(sel)
    except SelectorError:
        return "<error>"
    return text or "<none>"


# --- field selectors (pkg/fields/selector.go) --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    """One field term. `op` is "=" (also written "==") or "!="; `value` is unescaped."""

    field: str
    op: str
    value: str

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")
        return f"{self.field}{self.op}{escaped}"


@dataclass(frozen=True)
class FieldSelector:
    """A parsed field selector: the conjunction of `requirements`, in upstream's (sorted-term) order."""

    requirements: tuple[FieldRequirement, ...] = ()
    _terms: tuple[tuple[str, str, bool], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_terms", tuple((r.field, r.value, r.op == "=") for r in self.requirements))

    def matches(self, get: Callable[[str], str | None]) -> bool:
        """`get(field)` returns the object's field value as a string (None counts as "")."""
        for name, value, equal in self._terms:  # noqa: SIM110 - a plain loop is faster on list paths
            if ((get(name) or "") == value) is not equal:
                return False
        return True

    def is_empty(self) -> bool:
        return not self.requirements

    def fields(self) -> frozenset[str]:
        return frozenset(r.field for r in self.requirements)

    def exact(self, name: str) -> str | None:
        """The value an "="/"==" term requires of `name` (upstream RequiresExactMatch), else None."""
        for req in self.requirements:
            if req.field == name and req.op == "=":
                return req.value
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _split_terms(text: str) -> list[str]:
    terms, start, escaped = [], 0, False
    for i, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _unescape(value: str) -> str:
    if not any(c in value for c in "\\,="):
        return value
    out, escaped = [], False
    for char in value:
        if escaped:
            if char not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{char}")
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",=":
            raise SelectorError(f"invalid field selector: unescaped character in value: {ord(char)}")
        else:
            out.append(char)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


@functools.lru_cache(maxsize=512)
def parse_field_selector(text: str) -> FieldSelector:
    """fields.ParseSelector: "" selects everything; raises SelectorError with upstream's message."""
    reqs = []
    for term in sorted(_split_terms(text)) if text else ():
        if not term:
            continue
        for i in range(len(term)):
            if term.startswith("!=", i):
                lhs, op, rhs = term[:i], "!=", term[i + 2:]
                break
            if term.startswith("==", i):
                lhs, op, rhs = term[:i], "=", term[i + 2:]
                break
            if term[i] == "=":
                lhs, op, rhs = term[:i], "=", term[i + 1:]
                break
        else:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        reqs.append(FieldRequirement(lhs, op, _unescape(rhs)))
    return FieldSelector(tuple(reqs))


@functools.lru_cache(maxsize=256)
def _path_parts(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The value at dotted `path` rendered as field selectors see it: strings as they are, booleans
    "true"/"false", integers in decimal, anything missing or null as ""."""
    current: Any = obj
    for part in _path_parts(path):
        if not isinstance(current, Mapping):
            return ""
        current = current.get(part)
    if isinstance(current, str):
        return current
    if isinstance(current, bool):
        return "true" if current else "false"
    if isinstance(current, int):
        return str(current)
    if isinstance(current, float):
        return str(int(current)) if current.is_integer() else repr(current)
    return ""
