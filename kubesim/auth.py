"""Authentication and authorization for kubesim, as kube-apiserver does them.

Token files in --token-auth-file CSV format, an allow-list policy file (RBAC's matching rules, plus user,
group and namespace scoping) and the upstream Forbidden messages. The request-info resolver is in
`kubesim.requestinfo`, the review APIs in `kubesim.reviews`. Pure apart from reading the two files; no network.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

log = logging.getLogger(__name__)

AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
MASTERS = "system:masters"
# kube-apiserver's --api-audiences defaults to the service-account issuer, this one in kubeadm clusters.
DEFAULT_API_AUDIENCES = ("https://kubernetes.default.svc.cluster.local",)


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a config file; `line` is 1-based, `field` names the offending entry."""

    path: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ConfigError(ValueError):
    """Every problem found in a file; `.path`, `.line`, `.field` are those of the first."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        first = self.problems[0]
        self.path, self.line, self.field = first.path, first.line, first.field
        super().__init__("\n".join(str(p) for p in self.problems))


# --- authentication ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserInfo:
    """An authenticated (or anonymous) user, as k8s.io/apiserver's user.Info."""

    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)


ANONYMOUS = UserInfo(username="system:anonymous", groups=(UNAUTHENTICATED,))


def authenticated_user(username: str, *, uid: str = "", groups: Iterable[str] = ()) -> UserInfo:
    """A user with `system:authenticated` added, as the apiserver's AuthenticatedGroupAdder does for
    every authenticator (token file, client certificate)."""
    groups = tuple(groups)
    return UserInfo(username=username, uid=uid, groups=groups if AUTHENTICATED in groups else (*groups, AUTHENTICATED))


class TokenTable:
    """Bearer tokens to users. Lookup goes through a SHA-256 digest and a constant-time comparison, and
    the repr never shows a token."""

    __slots__ = ("_by_digest",)

    def __init__(self, entries: Mapping[str, UserInfo]) -> None:
        self._by_digest = {_digest(token): (token.encode(), user) for token, user in entries.items()}

    def authenticate(self, token: str) -> UserInfo | None:
        hit = self._by_digest.get(_digest(token))
        if hit is None or not hmac.compare_digest(hit[0], token.encode()):
            return None
        return hit[1]

    def merged(self, other: TokenTable) -> TokenTable:
        """A table with both sets of tokens; `other` wins on a duplicate."""
        table = TokenTable({})
        table._by_digest = {**self._by_digest, **other._by_digest}
        return table

    def __len__(self) -> int:
        return len(self._by_digest)

    def __repr__(self) -> str:
        return f"TokenTable({len(self)} tokens)"


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


_TOKEN_COLUMNS = ("token", "user", "uid", "groups")


def load_token_file(path: str) -> TokenTable:
    """Read a --token-auth-file: `token,user,uid[,"group1,group2"]` per line, Go encoding/csv quoting,
    extra columns ignored. As upstream, a record with an empty token is skipped with a warning and a
    duplicate token replaces the earlier one; unlike upstream, an empty user name is an error."""
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    entries: dict[str, UserInfo] = {}
    problems: list[Problem] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.removesuffix("\r")
        if not line:
            continue  # encoding/csv skips empty lines
        try:
            record = _split_csv(line)
        except _CsvError as e:
            problems.append(Problem(path, number, _TOKEN_COLUMNS[min(e.index, 3)], f"parse error: {e}"))
            continue
        if len(record) < 3:
            problems.append(
                Problem(
                    path, number, _TOKEN_COLUMNS[len(record)],
                    f"must have at least 3 columns (token, user name, user uid), found {len(record)}",
                )
            )
            continue
        token, username, uid = record[:3]
        if not token:
            log.warning("empty token in token file %s, line %d: record skipped", path, number)
            continue
        if not username:
            problems.append(Problem(path, number, "user", "user name must not be empty"))
            continue
        if token in entries:
            log.warning("duplicate token in token file %s, line %d: it replaces the earlier one", path, number)
        # Upstream splits on "," without trimming; empty names are dropped because no rule can name them.
        groups = [g for g in record[3].split(",") if g] if len(record) > 3 else []
        entries[token] = authenticated_user(username, uid=uid, groups=groups)
    if problems:
        raise ConfigError(problems)
    return TokenTable(entries)


class _CsvError(ValueError):
    def __init__(self, message: str, *, index: int) -> None:
        super().__init__(message)
        self.index = index  # 0-based field index


def _split_csv(line: str) -> list[str]:
    """One record of Go's encoding/csv (RFC 4180, no lazy quotes), with its error texts."""
    fields: list[str] = []
    i, n = 0, len(line)
    while True:
        if i < n and line[i] == '"':
            parts, i = [], i + 1
            while True:
                j = line.find('"', i)
                if j < 0:
                    raise _CsvError(f'column {n + 1}: extraneous or missing " in quoted-field', index=len(fields))
                parts.append(line[i:j])
                i = j + 1
                if i < n and line[i] == '"':
                    parts.append('"')
                    i += 1
                    continue
                break
            if i < n and line[i] != ",":
                raise _CsvError(f'column {i + 1}: extraneous or missing " in quoted-field', index=len(fields))
            fields.append("".join(parts))
        else:
            end = line.find(",", i)
            end = n if end < 0 else end
            value = line[i:end]
            if '"' in value:
                column = i + value.index('"') + 1
                raise _CsvError(f'column {column}: bare " in non-quoted-field', index=len(fields))
            fields.append(value)
            i = end
        if i >= n:
            return fields
        i += 1  # the comma


# --- authorization -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attributes:
    """What is being asked, as authorizer.Attributes / a SubjectAccessReview spec. For a non-resource
    request only `path` and `verb` (the lower-case HTTP method) matter."""

    user: str
    groups: tuple[str, ...] = ()
    verb: str = ""
    resource_request: bool = False
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""


@dataclass(frozen=True)
class Decision:
    """An authorizer's answer and why."""

    allowed: bool
    reason: str  # empty on a denial, as RBAC leaves it (it ends up in Forbidden messages)


@dataclass(frozen=True)
class Rule:
    """One allow rule. Empty `namespaces` means every namespace and the cluster scope; `*` matches
    anything in every field; resources match as RBAC: `pods`, `pods/log`, `*/scale`."""

    verbs: frozenset[str]
    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    api_groups: frozenset[str] = frozenset()
    resources: frozenset[str] = frozenset()
    resource_names: frozenset[str] = frozenset()
    namespaces: frozenset[str] = frozenset()
    non_resource_urls: tuple[str, ...] = ()
    source: str = ""  # where the rule came from, for the decision's reason

    def matches(self, a: Attributes) -> bool:
        if not (_has(self.users, a.user) or any(_has(self.groups, g) for g in a.groups)):
            return False
        if not _has(self.verbs, a.verb):
            return False
        if not a.resource_request:
            return any(_url_matches(url, a.path) for url in self.non_resource_urls)
        combined = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
        return (
            bool(self.resources)
            and _has(self.api_groups, a.api_group)
            and any(_resource_matches(r, combined, a.subresource) for r in self.resources)
            and (not self.resource_names or a.name in self.resource_names)
            and (not self.namespaces or _has(self.namespaces, a.namespace))
        )


def _has(allowed: frozenset[str], value: str) -> bool:
    return "*" in allowed or value in allowed


def _resource_matches(rule: str, combined: str, subresource: str) -> bool:
    # plugin/pkg/auth/authorizer/rbac/rbac.go ResourceMatches
    if rule in ("*", combined):
        return True
    return bool(subresource) and rule == f"*/{subresource}"


def _url_matches(rule: str, path: str) -> bool:
    # NonResourceURLMatches: "*" is everything, a trailing "*" is a prefix match
    return rule in ("*", path) or (rule.endswith("*") and path.startswith(rule.rstrip("*")))


@dataclass(frozen=True)
class Policy:
    """Allow rules; members of `system:masters` may do anything, whatever the rules say."""

    rules: tuple[Rule, ...] = ()

    def authorize(self, attrs: Attributes) -> Decision:
        if MASTERS in attrs.groups:
            return Decision(allowed=True, reason=f'allowed by group "{MASTERS}"')
        for rule in self.rules:
            if rule.matches(attrs):
                return Decision(allowed=True, reason=f"allowed by policy rule {rule.source}")
        return Decision(allowed=False, reason="")


_PUBLIC_INFO = ("/livez", "/readyz", "/healthz", "/version", "/version/")
_BOOTSTRAP_RULES = (
    Rule(
        verbs=frozenset({"get"}),
        groups=frozenset({AUTHENTICATED, UNAUTHENTICATED}),
        non_resource_urls=_PUBLIC_INFO,
        source="system:public-info-viewer",
    ),
    Rule(
        verbs=frozenset({"get"}),
        groups=frozenset({AUTHENTICATED}),
        non_resource_urls=(*_PUBLIC_INFO, "/openapi", "/openapi/*", "/api", "/api/*", "/apis", "/apis/*"),
        source="system:discovery",
    ),
    Rule(
        verbs=frozenset({"create"}),
        groups=frozenset({AUTHENTICATED}),
        api_groups=frozenset({"authorization.k8s.io"}),
        resources=frozenset({"selfsubjectaccessreviews", "selfsubjectrulesreviews"}),
        source="system:basic-user",
    ),
    Rule(
        verbs=frozenset({"create"}),
        groups=frozenset({AUTHENTICATED}),
        api_groups=frozenset({"authentication.k8s.io"}),
        resources=frozenset({"selfsubjectreviews"}),
        source="system:basic-user",
    ),
)


def default_policy() -> Policy:
    """Upstream's bootstrap defaults: system:masters may do anything; everyone may read the health and
    version endpoints (system:public-info-viewer); authenticated users may also read discovery and
    OpenAPI (system:discovery) and ask what they themselves may do (system:basic-user)."""
    return Policy(rules=_BOOTSTRAP_RULES)


_RULE_FIELDS = {
    "users": "users",
    "groups": "groups",
    "verbs": "verbs",
    "apiGroups": "api_groups",
    "resources": "resources",
    "resourceNames": "resource_names",
    "namespaces": "namespaces",
    "nonResourceURLs": "non_resource_urls",
}
_RESOURCE_VERBS = frozenset(
    {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "proxy", "bind"}
    | {"escalate", "impersonate", "approve", "sign", "use", "*"}
)
_RESOURCE_ONLY = ("apiGroups", "resources", "resourceNames", "namespaces")


def load_policy(path: str, *, include_defaults: bool = True) -> Policy:
    """Read a YAML list of allow rules, checked as RBAC checks a PolicyRule, every problem reported:

        - users: [alice]              # and/or groups: [...]; "*" is anyone
          verbs: [get, list, watch]
          apiGroups: [""]             # "" is the core group
          resources: [pods, pods/log, "*/scale"]
          resourceNames: [web]        # optional
          namespaces: [default]       # optional; absent or "*": all namespaces and the cluster scope
        - groups: [monitoring]
          verbs: [get]
          nonResourceURLs: [/metrics, /debug/*]

    With `include_defaults` the file's rules come after `default_policy()`'s, as RBAC's bootstrap
    roles stay in force next to a cluster's own."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 1
        raise ConfigError([Problem(path, line, "", f"invalid YAML: {e.problem or e}")]) from None
    problems: list[Problem] = []
    rules: list[Rule] = []
    if root is not None and not isinstance(root, yaml.SequenceNode):
        problems.append(Problem(path, root.start_mark.line + 1, "", "must be a YAML list of rules"))
    elif root is not None:
        for index, node in enumerate(root.value):
            rule = _parse_rule(node, path=path, where=f"[{index}]", problems=problems)
            if rule is not None:
                rules.append(rule)
    if problems:
        raise ConfigError(problems)
    return Policy(rules=(*(_BOOTSTRAP_RULES if include_defaults else ()), *rules))


def _parse_rule(node: yaml.Node, *, path: str, where: str, problems: list[Problem]) -> Rule | None:
    def problem(at: yaml.Node, name: str, message: str) -> None:
        problems.append(Problem(path, at.start_mark.line + 1, f"{where}.{name}" if name else where, message))

    if not isinstance(node, yaml.MappingNode):
        problem(node, "", "a rule must be a mapping")
        return None
    before = len(problems)
    values: dict[str, list[str]] = {}
    for key_node, value_node in node.value:
        key = key_node.value
        if key not in _RULE_FIELDS:
            problem(key_node, str(key), f"unknown field; accepted: {', '.join(_RULE_FIELDS)}")
            continue
        if key in values:
            problem(key_node, key, "duplicate field")
            continue
        if not isinstance(value_node, yaml.SequenceNode):
            problem(value_node, key, "must be a list of strings")
            continue
        items = []
        for i, item in enumerate(value_node.value):
            if not isinstance(item, yaml.ScalarNode) or item.tag == "tag:yaml.org,2002:null":
                problem(item, f"{key}[{i}]", "must be a string")
            else:
                items.append(item.value)
        values[key] = items
    given = {k for k, v in values.items() if v}
    if "verbs" not in given:
        problem(node, "verbs", "required: at least one verb")
    if not given & {"users", "groups"}:
        problem(node, "users", "at least one of users or groups must be given")
    if "nonResourceURLs" in given:
        for key in sorted(given.intersection(_RESOURCE_ONLY)):
            problem(node, key, "rules cannot apply to both regular resources and non-resource URLs")
        for url in values["nonResourceURLs"]:
            if url != "*" and (not url.startswith("/") or "*" in url[:-1]):
                problem(node, "nonResourceURLs", f"{url!r}: must start with / and may end with a single *")
    else:
        if "apiGroups" not in values:  # [""] (the core group) is given, an empty list is not
            problem(node, "apiGroups", 'resource rules must supply at least one api group ("" is core)')
        if "resources" not in given:
            problem(node, "resources", "resource rules must supply at least one resource")
        for verb in values.get("verbs", ()):
            if verb not in _RESOURCE_VERBS:
                problem(node, "verbs", f"unknown verb {verb!r}; accepted: {', '.join(sorted(_RESOURCE_VERBS))}")
    if len(problems) > before:
        return None
    kwargs: dict[str, Any] = {_RULE_FIELDS[k]: frozenset(v) for k, v in values.items() if k != "nonResourceURLs"}
    return Rule(
        **kwargs,
        non_resource_urls=tuple(values.get("nonResourceURLs", ())),
        source=f"at {path}:{node.start_mark.line + 1}",
    )


# --- Forbidden messages (k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go) ----------

_HTML_UNSAFE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def forbidden_message(attrs: Attributes, *, reason: str = "") -> str:
    """The message of the apiserver's 403 Status, e.g. `pods is forbidden: User "bob" cannot list
    resource "pods" in API group "" in the namespace "default"`."""
    q = go_value
    if not attrs.resource_request:
        msg = f"User {q(attrs.user)} cannot {attrs.verb} path {q(attrs.path)}"
    else:
        resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
        scope = f"in the namespace {q(attrs.namespace)}" if attrs.namespace else "at the cluster scope"
        msg = f"User {q(attrs.user)} cannot {attrs.verb} resource {q(resource)}"
        msg += f" in API group {q(attrs.api_group)} {scope}"
    msg = msg.translate(_HTML_UNSAFE)
    if reason:
        msg = f"{msg}: {reason}"
    # apierrors.NewForbidden(GroupResource{group, resource}, name, msg)
    if not (attrs.api_group or attrs.resource):
        return f"forbidden: {msg}"
    qualified = f"{attrs.resource}.{attrs.api_group}" if attrs.api_group else attrs.resource
    if attrs.name:
        return f"{qualified} {q(attrs.name)} is forbidden: {msg}"
    return f"{qualified} is forbidden: {msg}"


def go_value(value: Any) -> str:
    """A bad value as field.Error prints it: strings quoted, objects as JSON."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
