"""The workload controllers of kube-controller-manager, simulated in-process: Deployments, ReplicaSets,
StatefulSets and DaemonSets (and, optionally, the garbage collector).

Thin loops: informers keep caches and indexes current and enqueue the objects a change concerns; each sync
gathers plain objects, calls the pure decision of `kubesim.sim.*_decide`, and writes the result through the
ApiServer (pods, owned objects, status, Events). `Controllers` is the entry point KubeSim plugs in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from kubesim.sim import workloads_decide as wd
from kubesim.sim.ctrlqueue import WorkQueue
from kubesim.sim.eventrecorder import EventRecorder
from kubesim.sim.gc import GarbageCollector
from kubesim.sim.informer import DELETED, Informer
from kubesim.sim.workloads_decide import Obj
from kubesim.sim.workloads_syncing import Syncs

if TYPE_CHECKING:
    from kubesim.apiserver import ApiServer

Key = tuple[str, str]
_OWNED_KINDS = ("ReplicaSet", "StatefulSet", "DaemonSet")


class Controllers:
    """Deployment, ReplicaSet, StatefulSet and DaemonSet controllers plus the garbage collector.

    `clock` gives unix seconds (read once per sync), `resync_s` how often every object is synced again
    regardless of events, `seed` makes generated pod names reproducible."""

    def __init__(self, api: ApiServer, *, clock: Callable[[], float] = time.time, resync_s: float = 30.0,
                 seed: int | None = None, garbage_collector: bool = True) -> None:
        self.api = api
        self.clock = clock
        self.resync_s = resync_s
        self.rng = random.Random(seed)
        self.recorder = EventRecorder(api, clock=clock)
        self.gc = GarbageCollector(api) if garbage_collector else None
        self.informers = {name: Informer(api, group, name) for group, name in (
            ("apps", "deployments"), ("apps", "replicasets"), ("apps", "statefulsets"), ("apps", "daemonsets"),
            ("", "pods"), ("", "nodes"))}
        # indexes the informer handlers keep: owner uid -> owned keys, (kind, namespace) -> orphans
        self.owned: dict[str, set[Key]] = {}
        self.owner_of: dict[tuple[str, Key], tuple[str, str, str]] = {}
        self.orphans: dict[tuple[str, str], set[str]] = {}
        self._node_fingerprints: dict[str, str] = {}
        self._rs_names: dict[str, tuple[tuple[object, object], str]] = {}  # see _new_replicaset_name
        self.syncs = Syncs(self)
        self.queues: dict[str, WorkQueue[Key]] = {
            "deployments": WorkQueue(self.syncs.deployment, name="deployment", before=self.drain),
            "replicasets": WorkQueue(self.syncs.replicaset, name="replicaset", before=self.drain),
            "statefulsets": WorkQueue(self.syncs.statefulset, name="statefulset", before=self.drain),
            "daemonsets": WorkQueue(self.syncs.daemonset, name="daemonset", before=self.drain),
        }
        self.informers["deployments"].handlers.append(self._on_deployment)
        self.informers["statefulsets"].handlers.append(lambda typ, obj: self._enqueue("statefulsets", typ, obj))
        self.informers["daemonsets"].handlers.append(lambda typ, obj: self._enqueue("daemonsets", typ, obj))
        self.informers["replicasets"].handlers.append(self._on_replicaset)
        self.informers["pods"].handlers.append(self._on_pod)
        self.informers["nodes"].handlers.append(self._on_node)
        self._resync_task: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------
    async def start(self) -> None:
        for inf in self.informers.values():
            inf.start()
        for q in self.queues.values():
            q.start()
        if self.gc is not None:
            await self.gc.start()
        self._resync_task = asyncio.get_running_loop().create_task(self._resync_forever())

    async def stop(self) -> None:
        if self._resync_task is not None:
            self._resync_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resync_task
            self._resync_task = None
        for q in self.queues.values():
            await q.stop()
        if self.gc is not None:
            await self.gc.stop()
        for inf in self.informers.values():
            await inf.stop()

    async def _resync_forever(self) -> None:
        while True:
            await asyncio.sleep(self.resync_s)
            self.resync()

    def resync(self) -> None:
        """Enqueue every workload (the informers' periodic resync)."""
        for name in self.queues:
            for obj in self.informers[name].values():
                self.queues[name].add(_key(obj))
        if self.gc is not None:
            self.gc.refresh_resources()

    def drain(self) -> None:
        """Bring every cache up to date with the store (writes are synchronous, watch delivery is not)."""
        for inf in self.informers.values():
            inf.drain()
        if self.gc is not None:
            self.gc.drain()

    def run_until_idle(self, *, max_syncs: int = 100_000) -> int:
        """Sync until no key waits in any queue (delayed re-syncs stay armed); returns the syncs done.
        Tests and virtual-clock runs step the controllers with this instead of waiting on the loop."""
        done = 0
        queues = [*self.queues.values(), *([self.gc.queue] if self.gc else [])]
        while True:
            self.drain()
            progressed = False
            for q in queues:
                while q.process_one():
                    done += 1
                    progressed = True
                    if done > max_syncs:
                        raise RuntimeError(f"controllers did not settle within {max_syncs} syncs")
            if not progressed:
                return done

    # -- informer handlers -----------------------------------------------------------------------------------
    def _enqueue(self, queue: str, typ: str, obj: Obj) -> None:
        if typ != DELETED:
            self.queues[queue].add(_key(obj))

    def _on_deployment(self, typ: str, d: Obj) -> None:
        if typ == DELETED:
            self._rs_names.pop(wd.meta(d).get("uid", ""), None)
        self._enqueue("deployments", typ, d)

    def _index(self, kind: str, typ: str, obj: Obj) -> tuple[tuple[str, str, str] | None, tuple[str, str, str] | None]:
        """Track who controls `obj` (a pod or ReplicaSet); returns (previous controller, current controller)
        as (kind, name, uid)."""
        key = _key(obj)
        ns = key[0]
        ref = wd.controller_of(obj) if typ != DELETED else None
        new = (ref.get("kind", ""), ref.get("name", ""), ref.get("uid", "")) if ref else None
        old = self.owner_of.get((kind, key))
        if old != new:
            if old is not None:
                owned = self.owned.get(old[2])
                if owned is not None:
                    owned.discard(key)
                    if not owned:
                        del self.owned[old[2]]
            if new is not None:
                self.owned.setdefault(new[2], set()).add(key)
                self.owner_of[(kind, key)] = new
            else:
                self.owner_of.pop((kind, key), None)
        orphans = self.orphans.setdefault((kind, ns), set())
        if typ != DELETED and new is None:
            orphans.add(key[1])
        else:
            orphans.discard(key[1])
        return old, new

    def _on_pod(self, typ: str, pod: Obj) -> None:
        old, new = self._index("Pod", typ, pod)
        ns = _key(pod)[0]
        for owner in {old, new}:
            if owner is not None and owner[0] in _OWNED_KINDS:
                self.queues[_QUEUE_OF[owner[0]]].add((ns, owner[1]))
        if new is None and typ != DELETED:
            # an orphan: every controller whose selector matches may adopt it
            for name in ("replicasets", "statefulsets", "daemonsets"):
                for obj in self.informers[name].values():
                    if wd.meta(obj).get("namespace") == ns and wd.selector_matcher(obj)(pod):
                        self.queues[name].add(_key(obj))

    def _on_replicaset(self, typ: str, rs: Obj) -> None:
        old, new = self._index("ReplicaSet", typ, rs)
        ns, name = _key(rs)
        if typ != DELETED:
            self.queues["replicasets"].add((ns, name))
        for owner in {old, new}:
            if owner is not None and owner[0] == "Deployment":
                self.queues["deployments"].add((ns, owner[1]))
        if new is None and typ != DELETED:
            for d in self.informers["deployments"].values():
                if wd.meta(d).get("namespace") == ns and wd.selector_matcher(d)(rs):
                    self.queues["deployments"].add(_key(d))

    def _on_node(self, typ: str, node: Obj) -> None:
        """Node additions, removals and changes of what eligibility reads (labels, taints) concern every
        DaemonSet; heartbeats and other status updates do not (shouldIgnoreNodeUpdate)."""
        name = wd.meta(node)["name"]
        if typ == DELETED:
            self._node_fingerprints.pop(name, None)
        else:
            fingerprint = json.dumps([wd.meta(node).get("labels"), (node.get("spec") or {}).get("taints")],
                                     sort_keys=True)
            if self._node_fingerprints.get(name) == fingerprint:
                return
            self._node_fingerprints[name] = fingerprint
        for ds in self.informers["daemonsets"].values():
            self.queues["daemonsets"].add(_key(ds))

    # -- gathering (used by the syncs) -----------------------------------------------------------------------
    def pods_for(self, owner: Obj) -> list[Obj]:
        """The pods `owner` controls plus the namespace's orphans (candidates for adoption)."""
        ns = wd.meta(owner).get("namespace", "")
        cache = self.informers["pods"].cache
        keys = set(self.owned.get(wd.meta(owner).get("uid", ""), ()))
        keys |= {(ns, n) for n in self.orphans.get(("Pod", ns), ())}
        return [cache[k] for k in sorted(keys) if k in cache]

    def replicasets_for(self, d: Obj) -> list[Obj]:
        """What a Deployment's sync reads of its namespace's ReplicaSets: those it controls, the orphans it may
        adopt and whichever holds the name its new ReplicaSet would get (a hash collision). Claiming leaves
        the others, controlled by someone else, alone; so this is the whole namespace as far as the sync can
        tell, without visiting 1,000 ReplicaSets per sync in a namespace of 1,000 Deployments."""
        m = wd.meta(d)
        ns, uid = m.get("namespace", ""), m.get("uid", "")
        cache = self.informers["replicasets"].cache
        keys = set(self.owned.get(uid, ()))
        keys |= {(ns, n) for n in self.orphans.get(("ReplicaSet", ns), ())}
        keys.add((ns, self._new_replicaset_name(d)))
        return [cache[k] for k in sorted(keys) if k in cache]

    def _new_replicaset_name(self, d: Obj) -> str:
        """`<deployment>-<pod-template-hash>`, remembered per template generation and collision count."""
        m = wd.meta(d)
        collisions = (d.get("status") or {}).get("collisionCount")
        version = (m.get("generation"), collisions)
        known = self._rs_names.get(m.get("uid", ""))
        if known is not None and known[0] == version:
            return known[1]
        template = (d.get("spec") or {}).get("template") or {}
        name = f"{m['name']}-{wd.pod_template_hash(template, collisions)}"
        self._rs_names[m.get("uid", "")] = (version, name)
        return name

    def sibling_pods(self, rs: Obj) -> list[Obj] | None:
        """Pods of every ReplicaSet sharing `rs`'s controller (getIndirectlyRelatedPods)."""
        ref = wd.controller_of(rs)
        if ref is None:
            return None
        ns = wd.meta(rs).get("namespace", "")
        rs_cache = self.informers["replicasets"].cache
        pod_cache = self.informers["pods"].cache
        out = []
        for key in self.owned.get(ref.get("uid", ""), ()):
            sibling = rs_cache.get(key)
            if sibling is None or key[0] != ns:
                continue
            out += [pod_cache[k] for k in self.owned.get(wd.meta(sibling).get("uid", ""), ()) if k in pod_cache]
        return out

    def deployment_pods(self, rss: list[Obj]) -> list[Obj]:
        cache = self.informers["pods"].cache
        return [cache[k] for rs in rss for k in self.owned.get(wd.meta(rs).get("uid", ""), ()) if k in cache]


_QUEUE_OF = {"ReplicaSet": "replicasets", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}


def _key(obj: Obj) -> Key:
    m = wd.meta(obj)
    return m.get("namespace", ""), m["name"]


__all__ = ["Controllers"]
