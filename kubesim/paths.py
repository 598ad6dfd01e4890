"""Parsing of API request paths into (group, version, namespace, resource, name, subresource).

Pure; no I/O. Mirrors the apiserver's RequestInfo resolution for the resource paths kubesim serves.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubesim.resources import Registry


@dataclass(frozen=True)
class ResourcePath:
    group: str
    version: str
    resource: str
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    legacy_watch: bool = False


def parse(path: str, registry: Registry) -> ResourcePath | None:
    """A resource request path, or None for anything else (discovery, health, unknown)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return None
    legacy_watch = False
    if rest[0] == "watch":
        legacy_watch, rest = True, rest[1:]
        if not rest:
            return None
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        rt = registry.get(group, rest[2])
        if group == "" and (rt is None or not rt.namespaced):
            # /api/v1/namespaces/{name}/{subresource}: a subresource of the Namespace itself
            return ResourcePath(group, version, "namespaces", None, rest[1], "/".join(rest[2:]) or None,
                                legacy_watch)
        namespace, rest = rest[1], rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else None
    sub = "/".join(rest[2:]) or None
    return ResourcePath(group, version, resource, namespace, name, sub, legacy_watch)
