"""The I/O half of each workload controller's sync: gather plain objects from the informer caches, call the
pure decision (`kubesim.sim.*_decide`), write its result through the ApiServer in-process and record the
Events upstream records (pod creations and deletions, ReplicaSet scaling).
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING

from kubesim import errors
from kubesim.resources import ResourceType
from kubesim.sim import daemonsets_decide as dsd
from kubesim.sim import deployments_decide as dd
from kubesim.sim import deployments_status
from kubesim.sim import replicasets_decide as rsd
from kubesim.sim import statefulsets_decide as ssd
from kubesim.sim import workloads_decide as wd
from kubesim.sim.workloads_decide import Obj

if TYPE_CHECKING:
    from kubesim.sim.controllers import Controllers

Key = tuple[str, str]
MERGE_PATCH = "application/merge-patch+json"
_NAME_ATTEMPTS = 8


def _terminating_namespace(e: errors.ApiError) -> bool:
    return e.code == 403 and "being terminated" in e.message


class Syncs:
    """One sync function per controller; each returns seconds until it wants to look again, or None."""

    def __init__(self, ctl: Controllers) -> None:
        self.ctl = ctl
        self.api = ctl.api

        def rt(group: str, resource: str) -> ResourceType:
            t = ctl.api.registry.get(group, resource)
            assert t is not None
            return t

        self.pods_rt = rt("", "pods")
        self.rs_rt = rt("apps", "replicasets")
        self.deploy_rt = rt("apps", "deployments")
        self.sts_rt = rt("apps", "statefulsets")
        self.ds_rt = rt("apps", "daemonsets")

    # -- ReplicaSets -----------------------------------------------------------------------------------------
    def replicaset(self, key: Key) -> float | None:
        rs = self.ctl.informers["replicasets"].get(*key)
        if rs is None:
            return None
        pods = self.ctl.pods_for(rs)
        now = self.ctl.clock()
        related = self.ctl.sibling_pods(rs)
        acts = rsd.replicaset_diff(rs, pods, now, related=related)
        self._claim(rs, "ReplicaSet", acts.adopt, acts.release, pods)
        ns = key[0]
        component = "replicaset-controller"
        failure: errors.ApiError | None = None
        template = (rs.get("spec") or {}).get("template") or {}
        ref = wd.controller_ref(rs, kind="ReplicaSet")
        for _ in range(acts.create):
            pod = wd.pod_from_template(template, namespace=ns, owner_ref=ref, generate_name=wd.pod_prefix(key[1]))
            try:
                created = self._create_generated(pod)
            except errors.ApiError as e:
                if not _terminating_namespace(e):
                    self.ctl.recorder.event(rs, "Warning", "FailedCreate", f"Error creating: {e.message}",
                                            component=component)
                failure = e
                break
            self.ctl.recorder.event(rs, "Normal", "SuccessfulCreate", f"Created pod: {wd.meta(created)['name']}",
                                    component=component)
        for name in acts.delete:
            try:
                self.api.delete(self.pods_rt, ns, name)
            except errors.ApiError as e:
                if e.code == 404:
                    continue
                self.ctl.recorder.event(rs, "Warning", "FailedDelete", f"Error deleting: {e.message}",
                                        component=component)
                failure = e
                break
            self.ctl.recorder.event(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {name}", component=component)
        status = acts.status
        if failure is not None:
            status = rsd.replicaset_diff(rs, pods, now, related=related, manage_error=failure.message).status
        self._write_status(self.rs_rt, rs, status)
        if failure is not None:
            raise failure
        return acts.requeue_after_s

    # -- Deployments -----------------------------------------------------------------------------------------
    def deployment(self, key: Key) -> float | None:
        d = self.ctl.informers["deployments"].get(*key)
        if d is None:
            return None
        rss = self.ctl.replicasets_for(d)
        uid = wd.meta(d).get("uid")
        owned = [rs for rs in rss if (wd.controller_of(rs) or {}).get("uid") == uid]
        pods = [] if deployments_status.is_rolling(d) else self.ctl.deployment_pods(owned)
        plan = dd.deployment_plan(d, rss, self.ctl.clock(), pods=pods)
        self._apply_deployment(d, plan)
        return plan.requeue_after_s

    def _apply_deployment(self, d: Obj, plan: dd.DeploymentPlan) -> None:
        ns, name = wd.meta(d).get("namespace", ""), wd.meta(d)["name"]
        versions: dict[str, str] = {}  # ReplicaSet name -> resourceVersion of our last write to it
        for op in plan.ops:
            if isinstance(op, dd.CreateReplicaSet):
                created = self.api.create(self.rs_rt, ns, op.obj)
                versions[wd.meta(created)["name"]] = wd.meta(created)["resourceVersion"]
            elif isinstance(op, dd.UpdateReplicaSet):
                obj = copy.deepcopy(op.obj)
                rs_name = obj["metadata"]["name"]
                if rs_name in versions:
                    obj["metadata"]["resourceVersion"] = versions[rs_name]
                obj.pop("status", None)
                written = self.api.update(self.rs_rt, ns, rs_name, obj)
                versions[rs_name] = wd.meta(written)["resourceVersion"]
            elif isinstance(op, dd.DeleteReplicaSet):
                try:
                    self.api.delete(self.rs_rt, ns, op.name)
                except errors.ApiError as e:
                    if e.code != 404:
                        raise
            elif isinstance(op, dd.SetOwnerReferences):
                refs = list(op.owner_references) or None
                self._patch(self.rs_rt, ns, op.name, {"metadata": {"ownerReferences": refs}})
            elif isinstance(op, dd.SetAnnotations):
                self._patch(self.deploy_rt, ns, name, {"metadata": {"annotations": op.annotations}})
            elif isinstance(op, dd.WriteStatus):
                self._write_status(self.deploy_rt, d, op.status, force=True)
            else:
                self.ctl.recorder.event(d, op.type, op.reason, op.message, component="deployment-controller")

    # -- StatefulSets ----------------------------------------------------------------------------------------
    def statefulset(self, key: Key) -> float | None:
        sts = self.ctl.informers["statefulsets"].get(*key)
        if sts is None:
            return None
        pods = self.ctl.pods_for(sts)
        acts = ssd.statefulset_plan(sts, pods, self.ctl.clock())
        self._claim(sts, "StatefulSet", acts.adopt, acts.release, pods)
        ns, set_name = key
        component = "statefulset-controller"
        for pod in acts.create:
            pod_name = pod["metadata"]["name"]
            try:
                self.api.create(self.pods_rt, ns, pod)
            except errors.ApiError as e:
                if not _terminating_namespace(e):
                    self.ctl.recorder.event(sts, "Warning", "FailedCreate", f"create Pod {pod_name} in StatefulSet "
                                            f"{set_name} failed error: {e.message}", component=component)
                raise
            self.ctl.recorder.event(sts, "Normal", "SuccessfulCreate",
                                    f"create Pod {pod_name} in StatefulSet {set_name} successful", component=component)
        for pod_name in acts.delete:
            try:
                self.api.delete(self.pods_rt, ns, pod_name)
            except errors.ApiError as e:
                if e.code == 404:
                    continue
                self.ctl.recorder.event(sts, "Warning", "FailedDelete", f"delete Pod {pod_name} in StatefulSet "
                                        f"{set_name} failed error: {e.message}", component=component)
                raise
            self.ctl.recorder.event(sts, "Normal", "SuccessfulDelete",
                                    f"delete Pod {pod_name} in StatefulSet {set_name} successful", component=component)
        self._write_status(self.sts_rt, sts, acts.status)
        return acts.requeue_after_s

    # -- DaemonSets ------------------------------------------------------------------------------------------
    def daemonset(self, key: Key) -> float | None:
        ds = self.ctl.informers["daemonsets"].get(*key)
        if ds is None:
            return None
        pods = self.ctl.pods_for(ds)
        acts = dsd.daemonset_plan(ds, self.ctl.informers["nodes"].values(), pods, self.ctl.clock())
        self._claim(ds, "DaemonSet", acts.adopt, acts.release, pods)
        component = "daemonset-controller"
        for type_, reason, message in acts.events:
            self.ctl.recorder.event(ds, type_, reason, message, component=component)
        pod_hash = dsd.current_hash(ds)
        failure: errors.ApiError | None = None
        for node in acts.create_on:
            try:
                created = self._create_generated(dsd.daemon_pod(ds, node, pod_hash))
            except errors.ApiError as e:
                if not _terminating_namespace(e):
                    self.ctl.recorder.event(ds, "Warning", "FailedCreate", f"Error creating: {e.message}",
                                            component=component)
                failure = e
                break
            self.ctl.recorder.event(ds, "Normal", "SuccessfulCreate", f"Created pod: {wd.meta(created)['name']}",
                                    component=component)
        for pod_name in acts.delete:
            try:
                self.api.delete(self.pods_rt, key[0], pod_name)
            except errors.ApiError as e:
                if e.code == 404:
                    continue
                self.ctl.recorder.event(ds, "Warning", "FailedDelete", f"Error deleting: {e.message}",
                                        component=component)
                failure = e
                break
            self.ctl.recorder.event(ds, "Normal", "SuccessfulDelete", f"Deleted pod: {pod_name}", component=component)
        self._write_status(self.ds_rt, ds, acts.status)
        if failure is not None:
            raise failure
        return acts.requeue_after_s

    # -- writes ----------------------------------------------------------------------------------------------
    def _create_generated(self, pod: Obj) -> Obj:
        """Create a pod named `generateName` + 5 characters from the controllers' seeded generator."""
        meta = pod["metadata"]
        for attempt in range(_NAME_ATTEMPTS):
            meta["name"] = meta["generateName"] + wd.random_suffix(self.ctl.rng.choice)
            try:
                return self.api.create(self.pods_rt, meta.get("namespace", ""), pod)
            except errors.ApiError as e:
                if e.reason != "AlreadyExists" or attempt == _NAME_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _claim(self, owner: Obj, kind: str, adopt: tuple[str, ...], release: tuple[str, ...],
               pods: list[Obj]) -> None:
        """Adopt orphans and release pods that stopped matching (ownerReferences patches)."""
        if not adopt and not release:
            return
        by_name = {wd.meta(p)["name"]: p for p in pods}
        uid = wd.meta(owner).get("uid")
        ns = wd.meta(owner).get("namespace", "")
        for name in adopt:
            refs = [*(wd.meta(by_name[name]).get("ownerReferences") or ()), wd.controller_ref(owner, kind=kind)]
            self._patch(self.pods_rt, ns, name, {"metadata": {
                "ownerReferences": refs, "resourceVersion": wd.meta(by_name[name])["resourceVersion"]}})
        for name in release:
            refs = [r for r in wd.meta(by_name[name]).get("ownerReferences") or () if r.get("uid") != uid]
            self._patch(self.pods_rt, ns, name, {"metadata": {
                "ownerReferences": refs or None, "resourceVersion": wd.meta(by_name[name])["resourceVersion"]}})

    def _patch(self, rt: ResourceType, ns: str, name: str, patch: Obj) -> None:
        try:
            self.api.patch(rt, ns, name, json.dumps(patch).encode(), MERGE_PATCH)
        except errors.ApiError as e:
            if e.code != 404:
                raise

    def _write_status(self, rt: ResourceType, obj: Obj, status: Obj, *, force: bool = False) -> None:
        """UpdateStatus on the current object (skipped when the cached status already says the same)."""
        if not force and status == (obj.get("status") or {}):
            return
        m = wd.meta(obj)
        try:
            current = self.api.get(rt, m.get("namespace", ""), m["name"]).obj
        except errors.ApiError as e:
            if e.code == 404:
                return
            raise
        if wd.meta(current).get("uid") != m.get("uid"):
            return
        self.api.update(rt, m.get("namespace", ""), m["name"], {**current, "status": status}, subresource="status")

