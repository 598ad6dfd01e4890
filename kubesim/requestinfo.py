"""The apiserver's request-info resolver (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go): which
verb, resource, namespace and name an HTTP request asks about, for authorization. Pure; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from kubesim.auth import Attributes, UserInfo

_API_PREFIXES = frozenset({"api", "apis"})
_GROUPLESS_PREFIXES = frozenset({"api"})
_SPECIAL_VERBS = frozenset({"proxy", "watch"})
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
_METHOD_VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def request_attributes(*, method: str, path: str, query: Mapping[str, str], user: UserInfo) -> Attributes:
    """The authorizer attributes of an HTTP request, resolved as the apiserver's RequestInfoFactory."""
    base = {"user": user.username, "groups": user.groups, "path": path}
    parts = path.strip("/").split("/") if path.strip("/") else []
    if len(parts) < 3 or parts[0] not in _API_PREFIXES:
        return Attributes(**base, verb=method.lower())
    prefix, parts = parts[0], parts[1:]
    group = ""
    if prefix not in _GROUPLESS_PREFIXES:
        if len(parts) < 3:
            return Attributes(**base, verb=method.lower())
        group, parts = parts[0], parts[1:]
    version, parts = parts[0], parts[1:]
    if parts[0] in _SPECIAL_VERBS:
        if len(parts) < 2:  # upstream fails the request (500); here it names no resource, so routing rejects it
            return Attributes(**base, verb=parts[0], resource_request=True, api_group=group, api_version=version)
        verb, parts = parts[0], parts[1:]
    else:
        verb = _METHOD_VERBS.get(method.upper(), "")
    namespace = ""
    if parts[0] == "namespaces" and len(parts) > 1:
        namespace = parts[1]
        if len(parts) > 2 and parts[2] not in _NAMESPACE_SUBRESOURCES:
            parts = parts[2:]
    resource = parts[0]
    name = parts[1] if len(parts) >= 2 else ""
    subresource = parts[2] if len(parts) >= 3 and verb != "proxy" else ""
    if not name and verb == "get":
        verb = "watch" if _truthy(query.get("watch")) else "list"
        name = _name_from_field_selector(query.get("fieldSelector", ""))
    if not name and verb == "delete":
        verb = "deletecollection"
    return Attributes(
        **base,
        verb=verb,
        resource_request=True,
        api_group=group,
        api_version=version,
        resource=resource,
        subresource=subresource,
        namespace=namespace,
        name=name,
    )


def _truthy(value: str | None) -> bool:
    # apimachinery's Convert_Slice_string_To_bool: anything but "0" or "false" (any case) is true
    return value is not None and value != "0" and value.lower() != "false"


_SELECTOR_TERM = re.compile(r"(?:\\.|[^,\\])+")  # terms split on unescaped commas
_TERM_PARTS = re.compile(r"(.*?)(!=|==|=)(.*)", re.S)  # fields.splitTerm: first operator position wins
_ESCAPED_VALUE = re.compile(r"(?:\\[\\,=]|[^\\,=])*", re.S)  # fields.UnescapeValue's valid input


def _name_from_field_selector(selector: str) -> str:
    """`metadata.name=X` (or `==`) in a list/watch's field selector names the object, as upstream does
    when the whole selector parses and X is a valid path segment."""
    name = None
    for term in sorted(_SELECTOR_TERM.findall(selector)):
        parts = _TERM_PARTS.fullmatch(term)
        if parts is None or not _ESCAPED_VALUE.fullmatch(parts[3]):
            return ""  # an unparseable selector: upstream drops the decoded list options
        if parts[1] == "metadata.name" and parts[2] != "!=" and name is None:
            name = re.sub(r"\\(.)", r"\1", parts[3])
    if name is None or name in (".", "..") or "/" in name or "%" in name:
        return ""
    return name
