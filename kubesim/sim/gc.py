"""The garbage collector (pkg/controller/garbagecollector): dependents whose owners are all gone are deleted
(background propagation), owners deleted with the `orphan` finalizer first unlink their dependents, and
owners deleted with `foregroundDeletion` first delete their blocking dependents.

The decisions (`owner_state`, `decide_dependent`, `blocking`) are pure functions over plain objects; the
`GarbageCollector` keeps an owner→dependents graph from in-process informers over every resource and acts
through the API server.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from kubesim import errors
from kubesim.resources import ResourceType
from kubesim.sim.ctrlqueue import WorkQueue
from kubesim.sim.informer import DELETED, Informer
from kubesim.sim.workloads_decide import Obj, meta

if TYPE_CHECKING:
    from kubesim.apiserver import ApiServer

ORPHAN, FOREGROUND = "orphan", "foregroundDeletion"
# graph_builder.go's ignoredResources: nothing owns Events, and watching them would hold every one in the graph
IGNORED_RESOURCES = frozenset({("", "events"), ("events.k8s.io", "events")})
SOLID, DANGLING, WAITING, UNRESOLVED = "solid", "dangling", "waitingForDependentsDeletion", "unresolved"
MERGE_PATCH = "application/merge-patch+json"


# -- decisions -------------------------------------------------------------------------------------------------
def owner_state(ref: Obj, owner: Obj | None) -> str:
    """classifyReferences for one reference: the owner is gone (or another object took its name), is
    deleting in the foreground, or is there."""
    if owner is None or meta(owner).get("uid") != ref.get("uid"):
        return DANGLING
    m = meta(owner)
    if m.get("deletionTimestamp") and FOREGROUND in (m.get("finalizers") or ()):
        return WAITING
    return SOLID


@dataclass(frozen=True)
class DependentAction:
    """What attemptToDeleteItem does: keep the object, delete it with `policy`, or drop its references to
    `owner_uids` (owners gone or deleting while another owner stays)."""

    kind: Literal["keep", "delete", "unlink"]
    policy: str | None = None
    owner_uids: tuple[str, ...] = ()


def decide_dependent(obj: Obj, states: Sequence[tuple[Obj, str]], *, has_dependents: bool) -> DependentAction:
    """attemptToDeleteItem over the owner states (`(ref, state)` pairs) of `obj`."""
    m = meta(obj)
    if m.get("deletionTimestamp") or not states:
        return DependentAction("keep")
    solid = [r for r, s in states if s in (SOLID, UNRESOLVED)]
    dangling = [r for r, s in states if s == DANGLING]
    waiting = [r for r, s in states if s == WAITING]
    if solid:
        if not dangling and not waiting:
            return DependentAction("keep")
        return DependentAction("unlink", owner_uids=tuple(r["uid"] for r in (*dangling, *waiting)))
    if waiting and has_dependents:
        return DependentAction("delete", "Foreground")
    finalizers = m.get("finalizers") or ()
    policy = "Orphan" if ORPHAN in finalizers else "Foreground" if FOREGROUND in finalizers else "Background"
    return DependentAction("delete", policy)


def blocking(owner_uid: str, dependents: Sequence[Obj]) -> list[Obj]:
    """node.blockingDependents: dependents whose reference to the owner has blockOwnerDeletion."""
    return [d for d in dependents if any(r.get("uid") == owner_uid and r.get("blockOwnerDeletion")
                                         for r in meta(d).get("ownerReferences") or ())]


def without_owner(refs: Sequence[Obj], uids: Sequence[str]) -> list[Obj]:
    return [r for r in refs if r.get("uid") not in uids]


# -- the collector ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Node:
    rt: ResourceType
    namespace: str
    name: str
    owners: tuple[str, ...]


class GarbageCollector:
    """Watches every resource the registry serves (but Events) and collects dependents through ownerReferences."""

    def __init__(self, api: ApiServer) -> None:
        self.api = api
        self.nodes: dict[str, _Node] = {}
        self.dependents: dict[str, set[str]] = {}
        self.informers: dict[str, Informer] = {}
        self.queue: WorkQueue[tuple[str, str]] = WorkQueue(self._sync, name="garbage-collector", before=self.drain)

    # -- lifecycle -------------------------------------------------------------------------------------------
    async def start(self) -> None:
        self.refresh_resources()
        self.queue.start()

    async def stop(self) -> None:
        await self.queue.stop()
        for inf in self.informers.values():
            await inf.stop()
        self.informers.clear()

    def refresh_resources(self) -> None:
        """Watch resources the registry gained since (CRDs); upstream's monitors resync the same way."""
        for rt in list(self.api.registry.types):
            if (rt.storage in self.informers or (rt.group, rt.resource) in IGNORED_RESOURCES
                    or not {"list", "watch", "delete"} <= set(rt.verbs)):
                continue
            inf = Informer(self.api, rt.group, rt.resource)
            inf.handlers.append(lambda typ, obj, rt=rt: self._observe(rt, typ, obj))
            self.informers[rt.storage] = inf
            inf.start()

    def drain(self) -> None:
        for inf in self.informers.values():
            inf.drain()

    # -- graph -----------------------------------------------------------------------------------------------
    def _observe(self, rt: ResourceType, typ: str, obj: Obj) -> None:
        m = meta(obj)
        uid = m.get("uid")
        if not uid:
            return
        if typ == DELETED:
            node = self.nodes.pop(uid, None)
            for owner in node.owners if node else ():
                self._unindex(owner, uid)
                owner_node = self.nodes.get(owner)
                if owner_node is not None:
                    self.queue.add(("owner", owner))
            for dep in self.dependents.get(uid, ()):
                self.queue.add(("attempt", dep))
            return
        owners = tuple(r.get("uid", "") for r in m.get("ownerReferences") or ())
        old = self.nodes.get(uid)
        if (old is not None and old.owners == owners and not m.get("deletionTimestamp")
                and all(o in self.nodes for o in owners)):
            return  # a status write or the like: nothing the graph holds changed
        for owner in old.owners if old else ():
            if owner not in owners:
                self._unindex(owner, uid)
        for owner in owners:
            self.dependents.setdefault(owner, set()).add(uid)
        self.nodes[uid] = _Node(rt, m.get("namespace", ""), m["name"], owners)
        if owners and ((old is not None and old.owners != owners) or any(o not in self.nodes for o in owners)):
            self.queue.add(("attempt", uid))
        if m.get("deletionTimestamp") and {ORPHAN, FOREGROUND} & set(m.get("finalizers") or ()):
            self.queue.add(("owner", uid))

    def _unindex(self, owner: str, dependent: str) -> None:
        deps = self.dependents.get(owner)
        if deps is not None:
            deps.discard(dependent)
            if not deps and owner not in self.nodes:
                del self.dependents[owner]

    def _current(self, uid: str) -> Obj | None:
        node = self.nodes.get(uid)
        if node is None:
            return None
        entry = self.api.store.get(node.rt.storage, node.namespace if node.rt.namespaced else "", node.name)
        if entry is None or meta(entry.obj).get("uid") != uid:
            return None
        return entry.obj

    def _state(self, ref: Obj, namespace: str) -> str:
        group = ref.get("apiVersion", "").rpartition("/")[0]
        rt = next((t for t in self.api.registry.types if t.group == group and t.kind == ref.get("kind")
                   and t.storage == f"{t.group}/{t.resource}"), None)
        if rt is None:
            return UNRESOLVED  # a kind nobody serves: upstream keeps retrying and never deletes
        entry = self.api.store.get(rt.storage, namespace if rt.namespaced else "", ref.get("name", ""))
        return owner_state(ref, entry.obj if entry else None)

    # -- work ------------------------------------------------------------------------------------------------
    def _sync(self, key: tuple[str, str]) -> float | None:
        what, uid = key
        obj = self._current(uid)
        if obj is None:
            return None
        if what == "attempt":
            self._attempt(uid, obj)
        else:
            self._process_owner(uid, obj)
        return None

    def _attempt(self, uid: str, obj: Obj) -> None:
        m = meta(obj)
        refs = list(m.get("ownerReferences") or ())
        states = [(r, self._state(r, m.get("namespace", ""))) for r in refs]
        action = decide_dependent(obj, states, has_dependents=bool(self.dependents.get(uid)))
        node = self.nodes[uid]
        if action.kind == "delete":
            try:
                self.api.delete(node.rt, node.namespace, node.name,
                                {"propagationPolicy": action.policy, "preconditions": {"uid": uid}})
            except errors.ApiError as e:
                if e.code not in (404, 409):
                    raise
        elif action.kind == "unlink":
            self._patch(node, {"metadata": {"ownerReferences": without_owner(refs, action.owner_uids) or None,
                                            "resourceVersion": m["resourceVersion"]}})

    def _process_owner(self, uid: str, obj: Obj) -> None:
        m = meta(obj)
        finalizers = list(m.get("finalizers") or ())
        if not m.get("deletionTimestamp"):
            return
        deps = [d for d in (self._current(u) for u in sorted(self.dependents.get(uid, ()))) if d is not None]
        if ORPHAN in finalizers:
            for dep in deps:
                refs = meta(dep).get("ownerReferences") or ()
                if any(r.get("uid") == uid for r in refs):
                    self._patch(self.nodes[meta(dep)["uid"]], {"metadata": {
                        "ownerReferences": without_owner(refs, [uid]) or None,
                        "resourceVersion": meta(dep)["resourceVersion"]}})
            self._remove_finalizer(uid, obj, ORPHAN)
        elif FOREGROUND in finalizers:
            waiting_on = blocking(uid, deps)
            if not waiting_on:
                self._remove_finalizer(uid, obj, FOREGROUND)
                return
            for dep in waiting_on:
                dm = meta(dep)
                if not (dm.get("deletionTimestamp") and FOREGROUND in (dm.get("finalizers") or ())):
                    self.queue.add(("attempt", dm["uid"]))

    def _remove_finalizer(self, uid: str, obj: Obj, finalizer: str) -> None:
        m = meta(obj)
        rest = [f for f in m.get("finalizers") or () if f != finalizer]
        self._patch(self.nodes[uid], {"metadata": {"finalizers": rest or None,
                                                   "resourceVersion": m["resourceVersion"]}})

    def _patch(self, node: _Node, patch: Obj) -> None:
        try:
            self.api.patch(node.rt, node.namespace, node.name, json.dumps(patch).encode(), MERGE_PATCH)
        except errors.ApiError as e:
            if e.code != 404:
                raise
