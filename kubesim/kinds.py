"""What particular kinds do around a write: the registry strategies and the few control-plane loops that
kube-apiserver itself (or a controller clients never notice) runs synchronously.

Pods get their initial status and QoS class, Services a cluster IP, Namespaces their lifecycle (deleting a
namespace deletes its content), CRDs register their resources, PodDisruptionBudgets keep their status
current, and the scale, eviction and binding subresources and the review APIs are answered here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubesim import auth, defaults, disruption, errors, patching, reviews, selectors
from kubesim.resources import ResourceType, crd_resource_types
from kubesim.store import Obj, copy_json, dumps

if TYPE_CHECKING:
    from kubesim.apiserver import ApiServer

INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
DS_TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"
_WORKLOADS = {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"}


def install(api: ApiServer) -> None:
    """Create the objects every cluster starts with and hook the synchronous loops into writes."""
    api.tokens = None  # type: ignore[attr-defined]
    api.policy = auth.default_policy()  # type: ignore[attr-defined]
    api.write_hooks.append(lambda rt, ns, old, new: on_write(api, rt, ns, old, new))
    ns_rt = api.registry.get("", "namespaces")
    assert ns_rt is not None
    for name in INITIAL_NAMESPACES:
        api.create(ns_rt, "", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    svc_rt = api.registry.get("", "services")
    assert svc_rt is not None
    api.create(svc_rt, "default", {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "targetPort": 6443}]},
    })
    apisvc = api.registry.get("apiregistration.k8s.io", "apiservices")
    assert apisvc is not None
    for group, versions in api.registry.groups().items():
        for version in versions:
            api.create(apisvc, "", {
                "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                "metadata": {"name": f"{version}.{group}" if group else f"{version}.",
                             "labels": {"kube-aggregator.kubernetes.io/automanaged": "onstart"}},
                "spec": {"group": group, "version": version, "groupPriorityMinimum": 18000,
                         "versionPriority": 15},
            })


# -- create / update strategies --------------------------------------------------------------------------------
def prepare_create(api: ApiServer, rt: ResourceType, obj: Obj) -> None:
    kind = obj["kind"]
    if rt.custom:
        return
    if kind == "Pod":
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj.get("spec") or {})}
    elif kind == "Namespace":
        obj["status"] = {"phase": "Active"}
    elif kind == "Service":
        spec = obj.setdefault("spec", {})
        if spec.get("type") != "ExternalName" and not spec.get("clusterIP"):
            taken = {e.field("spec.clusterIP") for _n, _m, e in api.store.bucket("/services").entries(None)}
            spec["clusterIP"] = defaults.allocate_cluster_ip({ip for ip in taken if ip})
        if spec.get("clusterIP") and spec.get("clusterIP") != "None":
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
        obj["status"] = {"loadBalancer": {}}
    elif kind == "CustomResourceDefinition":
        obj["status"] = _crd_status(obj)
    elif kind == "DaemonSet":
        obj["metadata"].setdefault("annotations", {})[DS_TEMPLATE_GENERATION] = "1"
    elif kind == "APIService":
        obj["status"] = {"conditions": [_apiservice_condition(obj, api.now())]}


def prepare_update(api: ApiServer, rt: ResourceType, new: Obj, old: Obj) -> None:
    if new["kind"] == "DaemonSet":
        # the daemonset strategy counts template changes in this annotation (pods carry it as a label)
        generation = int((old["metadata"].get("annotations") or {}).get(DS_TEMPLATE_GENERATION, "1"))
        if (new.get("spec") or {}).get("template") != (old.get("spec") or {}).get("template"):
            generation += 1
        new["metadata"].setdefault("annotations", {})[DS_TEMPLATE_GENERATION] = str(generation)
    elif new["kind"] == "CustomResourceDefinition":
        new["status"] = _crd_status(new)
    elif new["kind"] == "Service" and (old.get("spec") or {}).get("clusterIP"):
        spec = new.setdefault("spec", {})
        spec.setdefault("clusterIP", old["spec"]["clusterIP"])
        spec.setdefault("clusterIPs", old["spec"].get("clusterIPs", [old["spec"]["clusterIP"]]))


def validate(api: ApiServer, rt: ResourceType, obj: Obj) -> list[tuple[str, str, str]]:
    kind = obj["kind"]
    if rt.custom:
        return []
    causes: list[tuple[str, str, str]] = []
    if kind in _WORKLOADS:
        causes.extend(defaults.validate_workload(obj))
    elif kind == "Pod":
        containers = (obj.get("spec") or {}).get("containers")
        if not containers:
            causes.append(("spec.containers", "FieldValueRequired", "Required value"))
    elif kind == "HorizontalPodAutoscaler":
        causes.extend(_validate_hpa(obj))
    elif kind == "CustomResourceDefinition":
        spec = obj.get("spec") or {}
        want = f"{(spec.get('names') or {}).get('plural', '')}.{spec.get('group', '')}"
        if obj["metadata"]["name"] != want:
            causes.append(("metadata.name", "FieldValueInvalid",
                           f'Invalid value: "{obj["metadata"]["name"]}": must be '
                           'spec.names.plural+"."+spec.group'))
    elif kind == "APIService":
        spec = obj.get("spec") or {}
        want = f"{spec.get('version', '')}.{spec.get('group', '')}"
        if obj["metadata"]["name"] != want:
            causes.append(("metadata.name", "FieldValueInvalid",
                           f'Invalid value: "{obj["metadata"]["name"]}": must be '
                           f'{want}'))
    return causes


def _validate_hpa(obj: Obj) -> list[tuple[str, str, str]]:
    spec = obj.get("spec") or {}
    causes = []
    ref = spec.get("scaleTargetRef") or {}
    for f in ("kind", "name"):
        if not ref.get(f):
            causes.append((f"spec.scaleTargetRef.{f}", "FieldValueRequired",
                           "Required value"))
    min_r, max_r = spec.get("minReplicas", 1), spec.get("maxReplicas")
    if not isinstance(max_r, int):
        causes.append(("spec.maxReplicas", "FieldValueRequired", "Required value"))
    elif isinstance(min_r, int) and max_r < min_r:
        causes.append(("spec.maxReplicas", "FieldValueInvalid",
                       f"Invalid value: {max_r}: must be greater than or equal to `minReplicas`"))
    if isinstance(min_r, int) and min_r < 1:
        causes.append(("spec.minReplicas", "FieldValueInvalid",
                       f"Invalid value: {min_r}: must be greater than or equal to 1"))
    return causes


def qos_class(spec: dict[str, Any]) -> str:
    """The pod QoS class (pkg/apis/core/helper/qos): from the containers' requests and limits."""
    containers = list(spec.get("containers") or ()) + list(spec.get("initContainers") or ())
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req = {k: v for k, v in (res.get("requests") or {}).items() if k in ("cpu", "memory")}
        lim = {k: v for k, v in (res.get("limits") or {}).items() if k in ("cpu", "memory")}
        requests.update(req)
        limits.update(lim)
        if set(lim) != {"cpu", "memory"} or any(str(req.get(k, lim[k])) != str(lim[k]) for k in lim):
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _crd_status(crd: Obj) -> Obj:
    spec = crd.get("spec") or {}
    versions = spec.get("versions") or []
    storage = next((v["name"] for v in versions if v.get("storage")), versions[0]["name"] if versions else "")
    names = dict(spec.get("names") or {})
    names.setdefault("singular", names.get("kind", "").lower())
    names.setdefault("listKind", names.get("kind", "") + "List")
    return {
        "acceptedNames": names,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": crd["metadata"].get("creationTimestamp")},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted",
             "lastTransitionTime": crd["metadata"].get("creationTimestamp")},
        ],
        "storedVersions": [storage] if storage else [],
    }


def _apiservice_condition(obj: Obj, now: str) -> Obj:
    if not (obj.get("spec") or {}).get("service"):
        return {"type": "Available", "status": "True", "lastTransitionTime": now, "reason": "Local",
                "message": "Local APIServices are always available"}
    return {"type": "Available", "status": "Unknown", "lastTransitionTime": now, "reason": "Pending",
            "message": "the availability of the backing service has not been checked yet"}


# -- deletion --------------------------------------------------------------------------------------------------
def deletion_finalizers(api: ApiServer, rt: ResourceType, obj: Obj, options: Obj) -> list[str]:
    """Finalizers a delete adds for the garbage collector: `orphan` (dependents keep living without their
    owner) or `foregroundDeletion` (the owner goes only after its dependents). Added only when there are
    dependents, so an object without any never waits for a collector."""
    policy = options.get("propagationPolicy")
    if policy is None and options.get("orphanDependents") is True:
        policy = "Orphan"
    if policy not in ("Orphan", "Foreground"):
        return []
    if not _has_dependents(api, obj):
        return []
    return ["orphan"] if policy == "Orphan" else ["foregroundDeletion"]


def grace_period(rt: ResourceType, obj: Obj, options: Obj) -> int:
    """Seconds a delete leaves for graceful termination: pods bound to a node get their kubelet's grace
    (DeleteOptions.gracePeriodSeconds, else spec.terminationGracePeriodSeconds); everything else 0."""
    if obj.get("kind") != "Pod" or rt.custom:
        return 0
    spec = obj.get("spec") or {}
    phase = (obj.get("status") or {}).get("phase")
    if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
        return 0
    value = options.get("gracePeriodSeconds")
    if value is None:
        value = spec.get("terminationGracePeriodSeconds", 30)
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        raise errors.bad_request(f'invalid gracePeriodSeconds "{value}"') from None


def _has_dependents(api: ApiServer, obj: Obj) -> bool:
    uid = obj["metadata"].get("uid")
    # a dependent's JSON holds the owner's uid: only those objects are decoded to check
    needle = dumps(uid) if isinstance(uid, str) else b""
    for bucket in api.store.buckets.values():
        for _n, _m, e in bucket.entries(None):
            if needle in e.raw and any(ref.get("uid") == uid for ref in e.obj["metadata"].get("ownerReferences") or ()):
                return True
    return False


def defers_deletion(rt: ResourceType, obj: Obj) -> bool:
    return obj["kind"] == "Namespace" and bool((obj.get("spec") or {}).get("finalizers"))


def begin_deletion(api: ApiServer, rt: ResourceType, obj: Obj) -> None:
    if obj["kind"] == "Namespace":
        obj.setdefault("status", {})["phase"] = "Terminating"


def after_deletion_started(api: ApiServer, rt: ResourceType, obj: Obj) -> None:
    if obj["kind"] == "Namespace":
        ns = obj["metadata"]["name"]
        for t in list(api.registry):
            if not t.namespaced or t.storage != f"{t.group}/{t.resource}":
                continue
            for entry in api.list(t, ns).entries:
                try:
                    api.delete(t, ns, entry.name)
                except errors.ApiError as e:
                    if e.code != 404:
                        raise
        _finish_namespace(api, ns)


def _finish_namespace(api: ApiServer, ns: str) -> None:
    entry = api.store.get("/namespaces", "", ns)
    if entry is None or not entry.obj["metadata"].get("deletionTimestamp"):
        return
    for bucket in api.store.buckets.values():
        if bucket.by_ns.get(ns):
            return
    rt = api.registry.get("", "namespaces")
    assert rt is not None
    api.finalize(rt, entry)


# -- write hooks -----------------------------------------------------------------------------------------------
def on_write(api: ApiServer, rt: ResourceType, ns: str, old: Obj | None, new: Obj | None) -> None:
    kind = (new or old or {}).get("kind")
    if kind == "CustomResourceDefinition":
        _sync_crd(api, old, new)
    elif kind in ("Pod", "PodDisruptionBudget") and api.store.bucket("policy/poddisruptionbudgets").by_ns.get(ns):
        refresh_pdbs(api, ns)
    if new is None and ns:
        _finish_namespace(api, ns)


def _sync_crd(api: ApiServer, old: Obj | None, new: Obj | None) -> None:
    if old is not None:
        for t in crd_resource_types(old):
            if new is None:
                for entry in list(api.store.list(t.storage, None).entries):
                    api.store.remove(t.storage, entry.namespace, entry.name)
            api.registry.remove(t.group, t.resource)
    if new is not None and not new["metadata"].get("deletionTimestamp"):
        for t in crd_resource_types(new):
            api.registry.add(t)


_refreshing: set[str] = set()


def refresh_pdbs(api: ApiServer, ns: str) -> None:
    """Recompute the status of every PDB in `ns`, as the disruption controller does on pod changes."""
    if ns in _refreshing:
        return
    _refreshing.add(ns)
    try:
        pdb_rt = api.registry.get("policy", "poddisruptionbudgets")
        assert pdb_rt is not None
        pods = api.store.list("/pods", ns).entries
        for entry in list(api.store.list(pdb_rt.storage, ns).entries):
            pdb = entry.obj
            sel = selectors.label_selector_from_dict((pdb.get("spec") or {}).get("selector"))
            # only the selected pods are decoded: compute_pdb_status itself looks at no others
            selected = [p.obj for p in pods if sel.matches(p.labels)]
            status = disruption.compute_pdb_status(pdb, selected, expected_scale=expected_scale(api, selected),
                                                   now=api.now())
            if status != pdb.get("status"):
                api._write_update(pdb_rt, entry, {**pdb, "status": status}, subresource="status", dry_run=False)
    finally:
        _refreshing.discard(ns)


def expected_scale(api: ApiServer, pods: list[Obj]) -> int | None:
    """Sum of the desired replicas of the pods' controllers (the disruption controller's finders)."""
    seen: set[str] = set()
    total = 0
    for pod in pods:
        ref = _controller(pod)
        if ref is None:
            return None
        if ref["uid"] in seen:
            continue
        seen.add(ref["uid"])
        ns = pod["metadata"]["namespace"]
        if ref["kind"] == "ReplicaSet":
            rs = api.store.get("apps/replicasets", ns, ref["name"])
            if rs is None:
                return None
            parent = _controller(rs.obj)
            if parent is not None and parent["kind"] == "Deployment":
                dep = api.store.get("apps/deployments", ns, parent["name"])
                if dep is not None:
                    if parent["uid"] not in seen:
                        seen.add(parent["uid"])
                        total += int((dep.obj.get("spec") or {}).get("replicas", 1))
                    continue
            total += int((rs.obj.get("spec") or {}).get("replicas", 1))
        elif ref["kind"] == "StatefulSet":
            sts = api.store.get("apps/statefulsets", ns, ref["name"])
            if sts is None:
                return None
            total += int((sts.obj.get("spec") or {}).get("replicas", 1))
        else:
            return None
    return total


def _controller(obj: Obj) -> dict[str, Any] | None:
    return next((r for r in obj["metadata"].get("ownerReferences") or () if r.get("controller")), None)


# -- subresources: scale, eviction, binding --------------------------------------------------------------------
def _path_get(obj: Obj, path: str) -> Any:
    cur: Any = obj
    for part in path.strip(".").split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _path_set(obj: Obj, path: str, value: Any) -> None:
    parts = path.strip(".").split(".")
    cur = obj
    for part in parts[:-1]:
        cur = cur.setdefault(part, {})
    cur[parts[-1]] = value


def get_scale(api: ApiServer, rt: ResourceType, ns: str, name: str) -> Obj:
    if rt.scale is None:
        raise errors.not_found(rt.group, rt.resource + "/scale", name)
    obj = api.get(rt, ns if rt.namespaced else "", name).obj
    return scale_of(rt, obj)


def scale_of(rt: ResourceType, obj: Obj) -> Obj:
    assert rt.scale is not None
    meta = obj["metadata"]
    status: dict[str, Any] = {"replicas": int(_path_get(obj, rt.scale.status_replicas) or 0)}
    if rt.custom:
        sel = _path_get(obj, rt.scale.label_selector) if rt.scale.label_selector else None
        if sel:
            status["selector"] = str(sel)
    else:
        sel_dict = (obj.get("spec") or {}).get("selector")
        if sel_dict:
            status["selector"] = selectors.selector_dict_to_string(sel_dict)
    scale_meta = {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                  if k in meta}
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": scale_meta,
        "spec": {"replicas": int(_path_get(obj, rt.scale.spec_replicas) or 0)}, "status": status,
    }


def update_scale(api: ApiServer, rt: ResourceType, ns: str, name: str, body: Obj, *, dry_run: bool = False) -> Obj:
    if rt.scale is None:
        raise errors.not_found(rt.group, rt.resource + "/scale", name)
    if not isinstance(body, dict) or body.get("kind", "Scale") != "Scale":
        raise errors.bad_request("the body of the request must be an autoscaling/v1 Scale")
    entry = api.get(rt, ns if rt.namespaced else "", name)
    rv = (body.get("metadata") or {}).get("resourceVersion")
    if rv and rv != entry.obj["metadata"]["resourceVersion"]:
        raise errors.conflict(rt.group, rt.resource, name, errors.STALE)
    replicas = (body.get("spec") or {}).get("replicas", 0)
    if not isinstance(replicas, int) or replicas < 0:
        raise errors.invalid("autoscaling", "Scale", name, [("spec.replicas", "FieldValueInvalid",
                             f"Invalid value: {replicas}: must be greater than or equal to 0")])
    new = copy_json(entry.obj)
    _path_set(new, rt.scale.spec_replicas, replicas)
    written = api._write_update(rt, entry, new, subresource=None, dry_run=dry_run)
    return scale_of(rt, written)


def patch_scale(api: ApiServer, rt: ResourceType, ns: str, name: str, body: bytes, content_type: str, *,
                dry_run: bool = False) -> Obj:
    current = get_scale(api, rt, ns, name)
    if content_type.startswith("application/strategic-merge-patch+json"):
        content_type = "application/merge-patch+json"  # a Scale has no merge-keyed lists
    try:
        patched = patching.apply_patch(current, body, content_type, kind="Scale")
    except patching.PatchError as e:
        raise errors.ApiError(e.status, e.reason, e.message) from None
    return update_scale(api, rt, ns, name, patched, dry_run=dry_run)


def evict(api: ApiServer, ns: str, name: str, body: Obj) -> Obj:
    pod_rt = api.registry.get("", "pods")
    pdb_rt = api.registry.get("policy", "poddisruptionbudgets")
    assert pod_rt is not None and pdb_rt is not None
    if (body.get("metadata") or {}).get("name", name) != name:
        raise errors.bad_request("name in URL does not match name in Eviction object")
    pod = api.get(pod_rt, ns, name).obj
    pdb_entries = [e for e in api.store.list(pdb_rt.storage, ns).entries
                   if selectors.label_selector_from_dict((e.obj.get("spec") or {}).get("selector"))
                   .matches(pod["metadata"].get("labels") or {})]
    decision = disruption.decide_eviction(pod, [e.obj for e in pdb_entries], now=api.now())
    if not decision.allowed:
        status = decision.status()
        raise errors.ApiError(decision.status_code, status.get("reason", ""), status.get("message", ""),
                              status.get("details"))
    if decision.pdb_status is not None and pdb_entries:
        entry = next(e for e in pdb_entries if e.obj["metadata"]["name"] == decision.pdb_name)
        api._write_update(pdb_rt, entry, {**entry.obj, "status": decision.pdb_status}, subresource="status",
                          dry_run=False)
    api.delete(pod_rt, ns, name, body.get("deleteOptions") or {})
    return errors.success(code=201)


def bind(api: ApiServer, ns: str, name: str, body: Obj) -> Obj:
    pod_rt = api.registry.get("", "pods")
    assert pod_rt is not None
    target = (body.get("target") or {}).get("name")
    if not target:
        raise errors.invalid("", "Binding", name, [("target.name", "FieldValueRequired",
                                                   "Required value")])
    entry = api.get(pod_rt, ns, name)
    pod = entry.obj
    if pod["metadata"].get("deletionTimestamp"):
        raise errors.conflict("", "pods/binding", name, f"pod {name} is being deleted, cannot be assigned to a host")
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        raise errors.conflict("", "pods/binding", name, f'pod {name} is already assigned to node "{node}"')
    new = copy_json(pod)
    new["spec"]["nodeName"] = target
    status = new.setdefault("status", {})
    conds = [c for c in status.get("conditions") or () if c.get("type") != "PodScheduled"]
    conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                  "lastTransitionTime": api.now()})
    status["conditions"] = conds
    api.store.put(pod_rt.storage, ns, name, new, old=entry)
    api._after_write(pod_rt, pod, new)
    return errors.success(code=201)


# -- review APIs -----------------------------------------------------------------------------------------------
def review(api: ApiServer, rt: ResourceType, obj: Obj, user: Any) -> Obj | None:
    """TokenReview and (Self)SubjectAccessReview are answered, never stored."""
    kind = obj["kind"]
    if kind == "TokenReview":
        return reviews.review_token(obj, api.tokens)  # type: ignore[attr-defined]
    if kind == "SubjectAccessReview":
        return reviews.review_access(obj, api.policy)  # type: ignore[attr-defined]
    if kind == "SelfSubjectAccessReview":
        return reviews.review_self_access(obj, api.policy, user=user or auth.ANONYMOUS)  # type: ignore[attr-defined]
    return None
