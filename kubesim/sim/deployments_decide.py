"""The Deployment controller's decision (pkg/controller/deployment: deployment_controller.go syncDeployment,
sync.go, rolling.go, recreate.go): one sync of a Deployment over its ReplicaSets, as an ordered list of writes
and events. It replays upstream's sequence on private copies, so a later step sees what an earlier one wrote,
exactly where upstream does. Pure; no I/O.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from dataclasses import dataclass

from kubesim.sim import deployments_status as ds
from kubesim.sim import workloads_decide as wd
from kubesim.sim.workloads_decide import Obj


@dataclass(frozen=True)
class CreateReplicaSet:
    obj: Obj


@dataclass(frozen=True)
class UpdateReplicaSet:
    """Replace the ReplicaSet (spec.replicas, annotations, minReadySeconds) with `obj`."""

    obj: Obj


@dataclass(frozen=True)
class DeleteReplicaSet:
    name: str


@dataclass(frozen=True)
class SetOwnerReferences:
    """Adopt or release a ReplicaSet: its new metadata.ownerReferences."""

    name: str
    owner_references: tuple[Obj, ...]


@dataclass(frozen=True)
class SetAnnotations:
    """Annotations to set on the Deployment (the revision), written with its status upstream."""

    annotations: Obj


@dataclass(frozen=True)
class WriteStatus:
    status: Obj


@dataclass(frozen=True)
class Event:
    type: str
    reason: str
    message: str


Op = CreateReplicaSet | UpdateReplicaSet | DeleteReplicaSet | SetOwnerReferences | SetAnnotations | WriteStatus | Event


@dataclass(frozen=True)
class DeploymentPlan:
    """The writes of one sync in order (stop at the first failure), the path taken, and when to look again."""

    ops: tuple[Op, ...]
    path: str
    requeue_after_s: float | None = None


class _Abort(Exception):
    """Upstream returns an error here: stop and retry the sync."""


def deployment_plan(deploy: Obj, replicasets: Iterable[Obj], now: float, *,
                    pods: Iterable[Obj] = ()) -> DeploymentPlan:
    """syncDeployment. `replicasets` are the namespace's ReplicaSets (the Deployment claims its own and
    matching orphans); `pods` the pods of those ReplicaSets (the Recreate strategy waits for old ones)."""
    planner = _Planner(deploy, list(replicasets), list(pods), now)
    try:
        path = planner.run()
    except _Abort:
        return DeploymentPlan(tuple(planner.ops), "retry", 0.0)
    return DeploymentPlan(tuple(planner.ops), path, planner.requeue)


def _round(x: float) -> int:
    """integer.RoundToInt32: half away from zero."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


class _Planner:
    def __init__(self, d: Obj, replicasets: list[Obj], pods: list[Obj], now: float) -> None:
        self.d = copy.deepcopy(d)
        if not isinstance(self.d.get("status"), dict):
            self.d["status"] = {}
        self.all_in_namespace = {wd.meta(rs)["name"]: rs for rs in replicasets}
        self.candidates = replicasets
        self.pods = pods
        self.now = now
        self.ops: list[Op] = []
        self.requeue: float | None = None
        self.sent_annotations = dict(wd.meta(self.d).get("annotations") or {})
        self.rs_list: list[Obj] = []

    # -- writes ----------------------------------------------------------------------------------------------
    def write_status(self) -> None:
        annotations = dict(wd.meta(self.d).get("annotations") or {})
        changed = {k: v for k, v in annotations.items() if self.sent_annotations.get(k) != v}
        if changed:
            self.ops.append(SetAnnotations(changed))
            self.sent_annotations = annotations
        self.ops.append(WriteStatus(copy.deepcopy(self.d["status"])))

    def event(self, reason: str, message: str, type_: str = "Normal") -> None:
        self.ops.append(Event(type_, reason, message))

    def scale_rs(self, rs: Obj, new_scale: int, operation: str) -> tuple[bool, Obj]:
        """scaleReplicaSet: write the size and replica annotations; returns (scaled, the written copy)."""
        d = self.d
        size_changes = ds.replicas(rs) != new_scale
        want_max = ds.replicas(d) + ds.max_surge(d)
        if not size_changes and not ds.replicas_annotations_need_update(rs, ds.replicas(d), want_max):
            return False, rs
        old = ds.replicas(rs)
        updated = copy.deepcopy(rs)
        updated.setdefault("spec", {})["replicas"] = new_scale
        ds.set_replicas_annotations(updated, ds.replicas(d), want_max)
        self.ops.append(UpdateReplicaSet(copy.deepcopy(updated)))
        if size_changes:
            self.event("ScalingReplicaSet",
                       f"Scaled {operation} replica set {wd.meta(rs)['name']} from {old} to {new_scale}")
        return size_changes, updated

    def scale_and_record(self, rs: Obj, new_scale: int) -> tuple[bool, Obj]:
        if ds.replicas(rs) == new_scale:
            return False, rs
        return self.scale_rs(rs, new_scale, "up" if ds.replicas(rs) < new_scale else "down")

    # -- syncDeployment ------------------------------------------------------------------------------------
    def run(self) -> str:
        d = self.d
        self.rs_list = self.claim()
        if wd.meta(d).get("deletionTimestamp"):
            new, olds = self.all_rss_and_sync_revision(create=False)
            self.sync_deployment_status([*olds, new], new)
            return "deleting"
        self.check_paused_conditions()
        if ds.spec(d).get("paused"):
            self.sync()
            return "paused"
        if self.is_scaling_event():
            self.sync()
            return "scale"
        if ds.is_rolling(d):
            self.rollout_rolling()
            return "rolling"
        self.rollout_recreate()
        return "recreate"

    def claim(self) -> list[Obj]:
        """getReplicaSetsForDeployment: owned ReplicaSets, adopting matching orphans, releasing mismatches."""
        d = self.d
        claimed = wd.claim(d, self.candidates, match=wd.selector_matcher(d))
        uid = wd.meta(d).get("uid")
        for rs in claimed.release:
            refs = tuple(r for r in wd.meta(rs).get("ownerReferences") or () if r.get("uid") != uid)
            self.ops.append(SetOwnerReferences(wd.meta(rs)["name"], refs))
        owned = [copy.deepcopy(rs) for rs in claimed.owned]
        for rs in claimed.adopt:
            rs = copy.deepcopy(rs)
            refs = (*(rs["metadata"].get("ownerReferences") or ()), wd.controller_ref(d, kind="Deployment"))
            rs["metadata"]["ownerReferences"] = list(refs)
            self.ops.append(SetOwnerReferences(rs["metadata"]["name"], refs))
            owned.append(rs)
        return owned

    def check_paused_conditions(self) -> None:
        d = self.d
        if not ds.has_progress_deadline(d):
            return
        cond = wd.get_condition(d["status"], ds.PROGRESSING)
        if cond is not None and cond.get("reason") == ds.TIMED_OUT:
            return
        paused_recorded = cond is not None and cond.get("reason") == ds.PAUSED
        paused = bool(ds.spec(d).get("paused"))
        if paused and not paused_recorded:
            ds.set_condition(d["status"], ds.new_condition(ds.PROGRESSING, "Unknown", ds.PAUSED,
                                                           "Deployment is paused", self.now))
        elif not paused and paused_recorded:
            ds.set_condition(d["status"], ds.new_condition(ds.PROGRESSING, "Unknown", ds.RESUMED,
                                                           "Deployment is resumed", self.now))
        else:
            return
        self.write_status()

    def is_scaling_event(self) -> bool:
        new, olds = self.all_rss_and_sync_revision(create=False)
        for rs in ds.active([*olds, new]):
            try:
                desired = int((wd.meta(rs).get("annotations") or {})[ds.DESIRED_REPLICAS])
            except (KeyError, ValueError):
                continue
            if desired != ds.replicas(self.d):
                return True
        return False

    # -- new and old ReplicaSets ---------------------------------------------------------------------------
    def find_new(self) -> Obj | None:
        template = ds.spec(self.d).get("template")
        for rs in sorted(self.rs_list, key=ds.by_creation):
            if wd.templates_equal_ignoring_hash(ds.spec(rs).get("template"), template):
                return rs
        return None

    def all_rss_and_sync_revision(self, *, create: bool) -> tuple[Obj | None, list[Obj]]:
        existing = self.find_new()
        olds = [rs for rs in self.rs_list if rs is not existing]
        return self.get_new_rs(existing, olds, create=create), olds

    def get_new_rs(self, existing: Obj | None, olds: list[Obj], *, create: bool) -> Obj | None:
        d = self.d
        new_revision = str(max((ds.revision_of(rs) for rs in olds), default=0) + 1)
        min_ready = int(ds.spec(d).get("minReadySeconds") or 0)
        if existing is not None:
            rs = copy.deepcopy(existing)
            annotated = ds.set_new_rs_annotations(d, rs, new_revision, exists=True)
            if annotated or int(ds.spec(rs).get("minReadySeconds") or 0) != min_ready:
                rs["spec"]["minReadySeconds"] = min_ready
                self.ops.append(UpdateReplicaSet(copy.deepcopy(rs)))
                self._replace(existing, rs)
                return rs
            needs_update = ds.set_deployment_revision(d, (wd.meta(rs).get("annotations") or {}).get(ds.REVISION))
            if ds.has_progress_deadline(d) and wd.get_condition(d["status"], ds.PROGRESSING) is None:
                ds.set_condition(d["status"], ds.new_condition(
                    ds.PROGRESSING, "True", ds.FOUND_NEW_RS, f'Found new replica set "{wd.meta(rs)["name"]}"',
                    self.now))
                needs_update = True
            if needs_update:
                self.write_status()
            return rs
        if not create:
            return None
        return self.create_new_rs(olds, new_revision, min_ready)

    def create_new_rs(self, olds: list[Obj], new_revision: str, min_ready: int) -> Obj:
        d = self.d
        template = copy.deepcopy(ds.spec(d).get("template") or {})
        collisions = d["status"].get("collisionCount")
        pod_hash = wd.pod_template_hash(template, collisions)
        tmeta = template.setdefault("metadata", {})
        tmeta["labels"] = {**(tmeta.get("labels") or {}), wd.POD_TEMPLATE_HASH: pod_hash}
        selector = copy.deepcopy(ds.spec(d).get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), wd.POD_TEMPLATE_HASH: pod_hash}
        name = f"{wd.meta(d)['name']}-{pod_hash}"
        new_rs: Obj = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": wd.meta(d).get("namespace"),
                         "labels": dict(tmeta["labels"]),
                         "ownerReferences": [wd.controller_ref(d, kind="Deployment")]},
            "spec": {"replicas": 0, "selector": selector, "template": template},
        }
        if min_ready:
            new_rs["spec"]["minReadySeconds"] = min_ready
        count = ds.new_rs_new_replicas(d, [*olds, new_rs], new_rs)
        new_rs["spec"]["replicas"] = count
        ds.set_new_rs_annotations(d, new_rs, new_revision, exists=False)
        taken = self.all_in_namespace.get(name)
        already = False
        if taken is not None:
            ref = wd.controller_of(taken)
            if ref is None or ref.get("uid") != wd.meta(d).get("uid") or not wd.templates_equal_ignoring_hash(
                    ds.spec(d).get("template"), ds.spec(taken).get("template")):
                # a hash collision: bump collisionCount so the next sync computes another name
                d["status"]["collisionCount"] = int(collisions or 0) + 1
                self.write_status()
                raise _Abort
            new_rs, already = copy.deepcopy(taken), True
        else:
            self.ops.append(CreateReplicaSet(copy.deepcopy(new_rs)))
            new_rs["metadata"]["creationTimestamp"] = wd.rfc3339(self.now)
        if not already and count > 0:
            self.event("ScalingReplicaSet", f"Scaled up replica set {name} from 0 to {count}")
        needs_update = ds.set_deployment_revision(d, new_revision)
        if not already and ds.has_progress_deadline(d):
            ds.set_condition(d["status"], ds.new_condition(ds.PROGRESSING, "True", ds.NEW_RS_CREATED,
                                                           f'Created new replica set "{name}"', self.now))
            needs_update = True
        if needs_update:
            self.write_status()
        self.rs_list.append(new_rs)
        return new_rs

    def _replace(self, old: Obj, new: Obj) -> None:
        self.rs_list = [new if rs is old else rs for rs in self.rs_list]

    # -- status --------------------------------------------------------------------------------------------
    def sync_deployment_status(self, all_rss: list[Obj | None], new: Obj | None) -> None:
        status = ds.calculate_status(all_rss, new, self.d, self.now)
        if status != self.d["status"]:
            self.d["status"] = status
            self.write_status()

    def sync_rollout_status(self, all_rss: list[Obj | None], new: Obj | None) -> None:
        status = ds.rollout_status(all_rss, new, self.d, self.now)
        if status == self.d["status"]:
            self.requeue = ds.stuck_requeue_after(self.d, status, self.now)
            return
        self.d["status"] = status
        self.write_status()

    def cleanup(self, olds: list[Obj]) -> None:
        """cleanupDeployment: delete the oldest empty ReplicaSets beyond revisionHistoryLimit."""
        limit = ds.spec(self.d).get("revisionHistoryLimit")
        if limit is None or int(limit) == ds.MAX_INT32:
            return
        alive = [rs for rs in olds if not wd.meta(rs).get("deletionTimestamp")]
        diff = len(alive) - int(limit)
        if diff <= 0:
            return
        alive.sort(key=lambda rs: (ds.revision_of(rs), *ds.by_creation(rs)))
        for rs in alive[:diff]:
            status = rs.get("status") or {}
            if (int(status.get("replicas") or 0) != 0 or ds.replicas(rs) != 0
                    or int(wd.meta(rs).get("generation") or 0) > int(status.get("observedGeneration") or 0)):
                continue
            self.ops.append(DeleteReplicaSet(wd.meta(rs)["name"]))

    # -- scaling (paused or a replicas change) ---------------------------------------------------------------
    def sync(self) -> None:
        new, olds = self.all_rss_and_sync_revision(create=False)
        self.scale(new, olds)
        if ds.spec(self.d).get("paused"):
            self.cleanup(olds)
        self.sync_deployment_status([*olds, new], new)

    def scale(self, new: Obj | None, olds: list[Obj]) -> None:
        d = self.d
        latest = _active_or_latest(new, olds)
        if latest is not None:
            if ds.replicas(latest) != ds.replicas(d):
                self.scale_and_record(latest, ds.replicas(d))
            return
        if ds.is_saturated(d, new):
            for old in ds.active(olds):
                self.scale_and_record(old, 0)
            return
        if not ds.is_rolling(d):
            return
        all_rss = ds.active([*olds, new])
        allowed = ds.replicas(d) + ds.max_surge(d) if ds.replicas(d) > 0 else 0
        to_add = allowed - ds.replica_count(all_rss)
        operation = ""
        if to_add != 0:
            # larger first; among equals, newer first when growing and older first when shrinking
            all_rss.sort(key=ds.by_creation, reverse=to_add > 0)
            all_rss.sort(key=lambda rs: -ds.replicas(rs))
            operation = "up" if to_add > 0 else "down"
        added = 0
        sizes: list[int] = []
        for rs in all_rss:
            share = self.proportion(rs, to_add, added) if to_add != 0 else 0
            sizes.append(ds.replicas(rs) + share)
            added += share
        for i, rs in enumerate(all_rss):
            if i == 0 and to_add != 0:
                sizes[0] = max(sizes[0] + to_add - added, 0)
            self.scale_rs(rs, sizes[i], operation)

    def proportion(self, rs: Obj, to_add: int, added: int) -> int:
        """GetReplicaSetProportion."""
        if ds.replicas(rs) == 0 or to_add == 0 or to_add == added:
            return 0
        fraction = self.fraction(rs)
        allowed = to_add - added
        return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)

    def fraction(self, rs: Obj) -> int:
        d = self.d
        if ds.replicas(d) == 0:
            return -ds.replicas(rs)
        d_max = ds.replicas(d) + ds.max_surge(d)
        try:
            before = int((wd.meta(rs).get("annotations") or {})[ds.MAX_REPLICAS])
        except (KeyError, ValueError):
            before = 0
        if before == 0:
            before = int(d["status"].get("replicas") or 0)
            if before == 0:
                return 0
        return _round(ds.replicas(rs) * d_max / before) - ds.replicas(rs)

    # -- rolling update ------------------------------------------------------------------------------------
    def rollout_rolling(self) -> None:
        new, olds = self.all_rss_and_sync_revision(create=True)
        assert new is not None
        all_rss: list[Obj | None] = [*olds, new]
        if self.reconcile_new(all_rss, new) or self.reconcile_olds(all_rss, ds.active(olds), new):
            self.sync_rollout_status(all_rss, new)
            return
        if ds.deployment_complete(self.d, self.d["status"]):
            self.cleanup(olds)
        self.sync_rollout_status(all_rss, new)

    def reconcile_new(self, all_rss: list[Obj | None], new: Obj) -> bool:
        want = ds.replicas(self.d)
        if ds.replicas(new) == want:
            return False
        target = want if ds.replicas(new) > want else ds.new_rs_new_replicas(self.d, all_rss, new)
        return self.scale_and_record(new, target)[0]

    def reconcile_olds(self, all_rss: list[Obj | None], olds: list[Obj], new: Obj) -> bool:
        if ds.replica_count(olds) == 0:
            return False
        min_available = ds.replicas(self.d) - ds.max_unavailable(self.d)
        new_unavailable = ds.replicas(new) - int((new.get("status") or {}).get("availableReplicas") or 0)
        max_down = ds.replica_count(all_rss) - min_available - new_unavailable
        if max_down <= 0:
            return False
        olds, cleaned = self.cleanup_unhealthy(olds, max_down)
        return cleaned + self.scale_down_olds([*olds, new], olds) > 0

    def cleanup_unhealthy(self, olds: list[Obj], max_cleanup: int) -> tuple[list[Obj], int]:
        olds = sorted(olds, key=ds.by_creation)
        total = 0
        for i, rs in enumerate(olds):
            if total >= max_cleanup:
                break
            available = int((rs.get("status") or {}).get("availableReplicas") or 0)
            if ds.replicas(rs) == 0 or ds.replicas(rs) == available:
                continue
            down = min(max_cleanup - total, ds.replicas(rs) - available)
            olds[i] = self.scale_and_record(rs, ds.replicas(rs) - down)[1]
            total += down
        return olds, total

    def scale_down_olds(self, all_rss: list[Obj], olds: list[Obj]) -> int:
        min_available = ds.replicas(self.d) - ds.max_unavailable(self.d)
        available = sum(int((rs.get("status") or {}).get("availableReplicas") or 0) for rs in all_rss)
        if available <= min_available:
            return 0
        target = available - min_available
        total = 0
        for rs in sorted(olds, key=ds.by_creation):
            if total >= target:
                break
            if ds.replicas(rs) == 0:
                continue
            down = min(ds.replicas(rs), target - total)
            self.scale_and_record(rs, ds.replicas(rs) - down)
            total += down
        return total

    # -- recreate ------------------------------------------------------------------------------------------
    def rollout_recreate(self) -> None:
        new, olds = self.all_rss_and_sync_revision(create=False)
        all_rss: list[Obj | None] = [*olds, new]
        scaled_down = False
        for rs in ds.active(olds):
            scaled_down = self.scale_and_record(rs, 0)[0] or scaled_down
        if scaled_down or self.old_pods_running(new, olds):
            self.sync_rollout_status(all_rss, new)
            return
        if new is None:
            new, olds = self.all_rss_and_sync_revision(create=True)
            assert new is not None
            all_rss = [*olds, new]
        self.scale_and_record(new, ds.replicas(self.d))
        if ds.deployment_complete(self.d, self.d["status"]):
            self.cleanup(olds)
        self.sync_rollout_status(all_rss, new)

    def old_pods_running(self, new: Obj | None, olds: list[Obj]) -> bool:
        if ds.actual_count(olds) > 0:
            return True
        old_uids = {wd.meta(rs).get("uid") for rs in olds}
        return any((wd.controller_of(p) or {}).get("uid") in old_uids and wd.phase(p) not in ("Failed", "Succeeded")
                   for p in self.pods)


def _active_or_latest(new: Obj | None, olds: list[Obj]) -> Obj | None:
    """FindActiveOrLatest: the only active ReplicaSet, else the newest when none is active."""
    if new is None and not olds:
        return None
    newest_first = sorted(olds, key=ds.by_creation, reverse=True)
    alive = ds.active([*newest_first, new])
    if not alive:
        return new if new is not None else newest_first[0]
    return alive[0] if len(alive) == 1 else None
