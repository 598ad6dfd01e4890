"""Discovery documents: `/version`, `/api`, `/apis`, group and group-version resource lists.

Pure; no I/O. Built from a `resources.Registry` plus groups that aggregated API servers serve (passed in
as data). Covers both forms clients use: the legacy documents (APIVersions, APIGroupList, APIGroup,
APIResourceList) and aggregated discovery (`apidiscovery.k8s.io/v2` and `v2beta1` APIGroupDiscoveryList,
what kubectl and client-go ask for first). Content negotiation for the latter is `negotiate_discovery`.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence

from kubesim import resources

KUBE_VERSION = (1, 35, 0)
GIT_VERSION = "v{}.{}.{}-kubesim".format(*KUBE_VERSION)
DISCOVERY_GROUP = "apidiscovery.k8s.io"
DISCOVERY_VERSIONS = ("v2", "v2beta1")
FRESHNESS_CURRENT = "Current"
FRESHNESS_STALE = "Stale"

# Built-in groups in the order kube-apiserver lists them under /apis (its APIService priorities); other
# groups (CustomResourceDefinitions) follow by name, then groups of aggregated API servers.
BUILTIN_GROUP_ORDER = (
    "apiregistration.k8s.io", "apps", "events.k8s.io", "authentication.k8s.io", "authorization.k8s.io",
    "autoscaling", "batch", "certificates.k8s.io", "networking.k8s.io", "policy",
    "rbac.authorization.k8s.io", "storage.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io",
    "scheduling.k8s.io", "coordination.k8s.io", "node.k8s.io", "discovery.k8s.io",
    "flowcontrol.apiserver.k8s.io", "internal.apiserver.k8s.io", "resource.k8s.io",
    "storagemigration.k8s.io",
)


def version_info() -> dict:
    """The `/version` document (k8s.io/apimachinery version.Info).

    kubectl only compares versions in `kubectl version`, which prints a skew WARNING for a 1.32 client
    against this 1.35 server; no other command looks at it.
    """
    major, minor, _ = KUBE_VERSION
    return {
        "major": str(major),
        "minor": str(minor),
        "emulationMajor": str(major),
        "emulationMinor": str(minor),
        "minCompatibilityMajor": str(major),
        "minCompatibilityMinor": str(minor - 1),
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-12-17T00:00:00Z",
        "goVersion": "go1.25.5",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(*, server_address: str = "127.0.0.1:6443") -> dict:
    """`/api` in the legacy form: the core group's versions."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def group_version(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def api_group_entry(name: str, versions: Sequence[str]) -> dict:
    """One APIGroup (as listed in /apis and served at /apis/<group>); `versions` preferred first."""
    entries = [{"groupVersion": group_version(name, v), "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(registry: resources.Registry, extra_groups: Iterable[dict] = ()) -> dict:
    """`/apis` in the legacy form; `extra_groups` are APIGroup dicts of aggregated API servers."""
    groups = [api_group_entry(name, versions) for name, versions in _ordered_groups(registry)]
    groups.extend(_merge_extra(groups, extra_groups))
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: resources.Registry, group: str) -> dict | None:
    """`/apis/<group>`, or None when the registry does not serve the group."""
    versions = registry.groups().get(group)
    if not group or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **api_group_entry(group, versions)}


def storage_version_hash(group: str, version: str, kind: str) -> str:
    """kube-apiserver's storageVersionHash: base64 of the first 8 bytes of sha256("group/version/kind")."""
    digest = hashlib.sha256(f"{group}/{version}/{kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def api_resource_list(registry: resources.Registry, group: str, version: str) -> dict | None:
    """`/api/v1` or `/apis/<group>/<version>`, or None when that group-version is not served."""
    types = sorted(registry.in_group_version(group, version), key=lambda t: t.resource)
    if not types:
        return None
    entries: list[dict] = []
    for rt in types:
        entry: dict = {
            "name": rt.resource,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(rt.verbs),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        entry["storageVersionHash"] = storage_version_hash(rt.group, rt.storage_version, rt.kind)
        entries.append(entry)
        for sub in sorted(rt.subresources, key=lambda s: s.name):
            sub_entry: dict = {"name": f"{rt.resource}/{sub.name}", "singularName": "",
                               "namespaced": rt.namespaced}
            if sub.group or sub.version:
                sub_entry["group"] = sub.group
                sub_entry["version"] = sub.version
            sub_entry["kind"] = sub.kind
            sub_entry["verbs"] = list(sub.verbs)
            entries.append(sub_entry)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version(group, version),
            "resources": entries}


def resource_list_to_discovery_version(resource_list: dict, freshness: str = FRESHNESS_CURRENT) -> dict:
    """An APIResourceList as one APIVersionDiscovery (the conversion kube-apiserver applies).

    Subresources (`pods/status`) fold into their parent's `subresources`; a subresource whose parent is
    not listed gets a parent without a kind, as upstream does.
    """
    version = resource_list.get("groupVersion", "").rpartition("/")[2]
    parents: dict[str, dict] = {}
    out: list[dict] = []
    entries = resource_list.get("resources") or []
    for r in entries:
        if "/" in r["name"]:
            continue
        d = {
            "resource": r["name"],
            "responseKind": {"group": r.get("group", ""), "version": r.get("version", ""),
                             "kind": r.get("kind", "")},
            "scope": "Namespaced" if r.get("namespaced") else "Cluster",
            "singularResource": r.get("singularName", ""),
            "verbs": list(r.get("verbs") or []),
        }
        for key in ("shortNames", "categories"):
            if r.get(key):
                d[key] = list(r[key])
        parents[r["name"]] = d
        out.append(d)
    for r in entries:
        parent_name, sep, sub_name = r["name"].partition("/")
        if not sep:
            continue
        parent = parents.get(parent_name)
        if parent is None:
            parent = {"resource": parent_name, "responseKind": {"group": "", "version": "", "kind": ""},
                      "scope": "Namespaced" if r.get("namespaced") else "Cluster"}
            parents[parent_name] = parent
            out.append(parent)
        parent.setdefault("subresources", []).append({
            "subresource": sub_name,
            "responseKind": {"group": r.get("group", ""), "version": r.get("version", ""),
                             "kind": r.get("kind", "")},
            "verbs": list(r.get("verbs") or []),
        })
    return {"version": version, "resources": out, "freshness": freshness}


def group_discovery(name: str, versions: Sequence[dict]) -> dict:
    """One APIGroupDiscovery from APIVersionDiscovery entries (preferred first); "" for the core group."""
    return {"metadata": {"name": name} if name else {}, "versions": list(versions)}


def aggregated_discovery(
    registry: resources.Registry, *, legacy: bool, extra: Sequence[dict] = (), version: str = "v2"
) -> dict:
    """APIGroupDiscoveryList for `/api` (`legacy=True`: the core group only) or `/apis` (all others).

    `extra` are APIGroupDiscovery dicts from aggregated API servers (see `group_discovery` and
    `resource_list_to_discovery_version`); they are listed after the registry's groups and only for /apis.
    """
    if version not in DISCOVERY_VERSIONS:
        raise ValueError(f"unsupported aggregated discovery version {version!r}; "
                         f"supported: {', '.join(DISCOVERY_VERSIONS)}")
    items: list[dict] = []
    for name, versions in _ordered_groups(registry, core=legacy):
        gv_docs = []
        for v in versions:
            rl = api_resource_list(registry, name, v)
            if rl is not None:
                gv_docs.append(resource_list_to_discovery_version(rl))
        items.append(group_discovery(name, gv_docs))
    if not legacy:
        items.extend(_merge_extra_discovery(items, extra))
    return {"kind": "APIGroupDiscoveryList", "apiVersion": f"{DISCOVERY_GROUP}/{version}",
            "metadata": {}, "items": items}


def discovery_content_type(version: str) -> str:
    return f"application/json;g={DISCOVERY_GROUP};v={version};as=APIGroupDiscoveryList"


def negotiate_discovery(accept: str) -> tuple[str, str] | None:
    """(version, Content-Type) when the Accept header prefers aggregated discovery, else None.

    Follows kube-apiserver's negotiation: media ranges ordered by q (then specific before wildcard,
    otherwise as sent); the first usable one wins. `application/json` (or a wildcard) before any
    aggregated range means the legacy document; a `profile` other than `nopeer` is not served.
    """
    ranges = []
    for i, clause in enumerate(accept.split(",")):
        media, params = _parse_media_range(clause)
        if not media:
            continue
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 1.0
        if q <= 0:
            continue
        main, _, sub = media.partition("/")
        ranges.append(((-q, main == "*", sub == "*", i), media, params))
    for _, media, params in sorted(ranges, key=lambda r: r[0]):
        if media in ("application/json", "application/*", "*/*"):
            if (params.get("g"), params.get("as")) == (DISCOVERY_GROUP, "APIGroupDiscoveryList"):
                v = params.get("v", "")
                if v in DISCOVERY_VERSIONS and params.get("profile", "nopeer") == "nopeer":
                    return v, discovery_content_type(v)
                continue
            if not params.keys() & {"g", "v", "as"}:
                return None
    return None


def _parse_media_range(clause: str) -> tuple[str, dict[str, str]]:
    parts = [p.strip() for p in clause.split(";")]
    params: dict[str, str] = {}
    for p in parts[1:]:
        key, sep, value = p.partition("=")
        if sep:
            params[key.strip().lower()] = value.strip().strip('"')
    return parts[0].lower(), params


def _ordered_groups(registry: resources.Registry, *, core: bool = False) -> list[tuple[str, list[str]]]:
    groups = registry.groups()
    if core:
        return [("", groups[""])] if "" in groups else []
    rank = {name: i for i, name in enumerate(BUILTIN_GROUP_ORDER)}
    names = sorted((g for g in groups if g), key=lambda g: (rank.get(g, len(rank)), g))
    return [(g, groups[g]) for g in names]


def _merge_extra(groups: list[dict], extra_groups: Iterable[dict]) -> list[dict]:
    """Extra APIGroups to append; versions of a group already listed are merged into it instead."""
    by_name = {g["name"]: g for g in groups}
    added: list[dict] = []
    for g in extra_groups:
        existing = by_name.get(g["name"])
        if existing is None:
            g = {"name": g["name"], "versions": list(g["versions"]), "preferredVersion": g["preferredVersion"]}
            by_name[g["name"]] = g
            added.append(g)
            continue
        known = {v["version"] for v in existing["versions"]}
        existing["versions"].extend(v for v in g["versions"] if v["version"] not in known)
    return added


def _merge_extra_discovery(items: list[dict], extra: Iterable[dict]) -> list[dict]:
    by_name = {i["metadata"].get("name", ""): i for i in items}
    added: list[dict] = []
    for g in extra:
        name = g.get("metadata", {}).get("name", "")
        existing = by_name.get(name)
        if existing is None:
            g = group_discovery(name, g.get("versions") or [])
            by_name[name] = g
            added.append(g)
            continue
        known = {v["version"] for v in existing["versions"]}
        existing["versions"].extend(v for v in g.get("versions") or [] if v["version"] not in known)
    return added
