"""Kind → resource mapping from API discovery, as client-go's deferred discovery RESTMapper gives it: which
resource serves a kind, whether it is namespaced, and which subresources (`scale`) it has. CRDs and aggregated
APIs are found the same way as built-in kinds.

Discovery documents are fetched lazily per group and cached; a lookup that misses drops the cache and asks
again once (a CRD created after start), at most once per `refresh_interval_s`, as the deferred mapper's Reset
does. Errors have client-go's texts (`no matches for kind "X" in group "g"`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from kubescale.kubeclient import ApiError, KubeClient

T = TypeVar("T")


class NoKindMatchError(LookupError):
    """meta.NoKindMatchError."""

    def __init__(self, group: str, kind: str, version: str = "") -> None:
        where = f'in version "{group}/{version}"' if version else f'in group "{group}"'
        super().__init__(f'no matches for kind "{kind}" {where}')


@dataclass(frozen=True)
class Mapping:
    """One RESTMapping: the resource serving `kind` at `group`/`version`."""
    group: str
    version: str
    resource: str
    kind: str
    namespaced: bool
    subresources: frozenset[str]

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """`resource.group` (GroupResource.String()), e.g. "deployments.apps"; core resources have no group."""
        return f"{self.resource}.{self.group}" if self.group else self.resource

    def path(self, namespace: str = "", name: str = "", subresource: str = "") -> str:
        """The URL path of the collection, an object or an object's subresource."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.resource}"
        if name:
            base += f"/{name}"
            if subresource:
                base += f"/{subresource}"
        return base


def split_api_version(api_version: str) -> tuple[str, str]:
    """schema.ParseGroupVersion: "apps/v1" → ("apps", "v1"), "v1" → ("", "v1"); ValueError on more slashes."""
    if api_version in ("", "/"):
        return "", ""
    parts = api_version.split("/")
    if len(parts) == 1:
        return "", parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise ValueError(f"unexpected GroupVersion string: {api_version}")


def mappings_from_discovery(group: str, version: str, doc: dict[str, Any]) -> list[Mapping]:
    """The mappings an APIResourceList describes (subresource entries such as `deployments/scale` attach to
    their resource)."""
    subs: dict[str, set[str]] = {}
    top: list[dict[str, Any]] = []
    for r in doc.get("resources") or []:
        name = str(r.get("name") or "")
        if "/" in name:
            parent, sub = name.split("/", 1)
            subs.setdefault(parent, set()).add(sub)
        elif name:
            top.append(r)
    return [Mapping(group, version, str(r["name"]), str(r.get("kind") or ""), bool(r.get("namespaced")),
                    frozenset(subs.get(str(r["name"]), ()))) for r in top]


class RESTMapper:
    """Discovery-backed kind lookups over one client."""

    def __init__(self, client: KubeClient, *, refresh_interval_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.refresh_interval_s = refresh_interval_s
        self._clock = clock
        self._groups: dict[str, list[str]] | None = None  # group -> versions, preferred first
        self._resources: dict[tuple[str, str], list[Mapping]] = {}
        self._reset_at = float("-inf")
        self._lock = asyncio.Lock()

    def reset(self) -> None:
        self._groups = None
        self._resources.clear()

    async def _group_versions(self) -> dict[str, list[str]]:
        if self._groups is None:
            groups: dict[str, list[str]] = {"": []}
            core = await self.client.get("/api")
            groups[""] = [str(v) for v in (core or {}).get("versions") or []]
            listed = await self.client.get("/apis")
            for g in (listed or {}).get("groups") or []:
                preferred = str((g.get("preferredVersion") or {}).get("version") or "")
                versions = [str(v.get("version")) for v in g.get("versions") or [] if v.get("version")]
                versions.sort(key=lambda v: v != preferred)  # stable: preferred first, then as served
                groups[str(g.get("name"))] = versions
            self._groups = groups
        return self._groups

    async def _version_mappings(self, group: str, version: str) -> list[Mapping]:
        key = (group, version)
        if key not in self._resources:
            path = f"/apis/{group}/{version}" if group else f"/api/{version}"
            try:
                doc = await self.client.get(path)
            except ApiError as e:
                if e.status not in (404, 503):
                    raise
                doc = {}  # an unavailable aggregated version has nothing to offer now
            self._resources[key] = mappings_from_discovery(group, version, doc or {})
        return self._resources[key]

    async def _lookup(self, group: str, kind: str) -> list[Mapping]:
        versions = (await self._group_versions()).get(group, [])
        found: list[Mapping] = []
        for v in versions:
            found.extend(m for m in await self._version_mappings(group, v) if m.kind == kind)
        return found

    async def rest_mappings(self, group: str, kind: str) -> list[Mapping]:
        """Every mapping of group/kind, the preferred version first; NoKindMatchError when there is none even
        after refreshing discovery."""
        found = await self._refreshing(lambda: self._lookup(group, kind))
        if not found:
            raise NoKindMatchError(group, kind)
        return found

    async def resource_for_kind(self, group: str, kind: str) -> Mapping:
        return (await self.rest_mappings(group, kind))[0]

    async def preferred_version(self, group: str, supported: tuple[str, ...]) -> str | None:
        """The first of `supported` the server offers for `group` (None when the group is not served)."""
        async def pick() -> list[str]:
            offered = (await self._group_versions()).get(group, [])
            return [v for v in supported if v in offered]

        found = await self._refreshing(pick)
        return found[0] if found else None

    async def _refreshing(self, find: Callable[[], Awaitable[list[T]]]) -> list[T]:
        """`find()`, and once more on fresh discovery when it finds nothing (at most once per interval)."""
        async with self._lock:
            found = await find()
            if not found and self._clock() - self._reset_at >= self.refresh_interval_s:
                self._reset_at = self._clock()
                self.reset()
                found = await find()
        return found
