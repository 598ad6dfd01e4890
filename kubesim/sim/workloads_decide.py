"""What the workload controllers share (pkg/api/v1/pod, pkg/controller/controller_utils.go,
controller_ref_manager.go, history): pod predicates, the order a ReplicaSet deletes pods in, template and
revision hashes, controller references, claiming (adopt/release) and pods made from templates.

Pure; no I/O. Objects are the plain JSON dicts the API server stores; times are unix seconds.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubesim import selectors

Obj = dict[str, Any]

POD_TEMPLATE_HASH = "pod-template-hash"  # apps.DefaultDeploymentUniqueLabelKey
REVISION_HASH = "controller-revision-hash"  # apps.ControllerRevisionHashLabelKey
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand
_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


# -- times -----------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=65536)
def parse_time(ts: str) -> float:
    """An RFC 3339 timestamp as unix seconds."""
    t = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


def rfc3339(now: float) -> str:
    """`now` as metav1.Time serializes it: UTC, whole seconds."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time_of(value: Any) -> float | None:
    return parse_time(value) if isinstance(value, str) and value else None


def meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def created_at(obj: Obj) -> float | None:
    return _time_of(meta(obj).get("creationTimestamp"))


# -- pods ------------------------------------------------------------------------------------------------------
def phase(pod: Obj) -> str:
    return (pod.get("status") or {}).get("phase") or ""


def is_active(pod: Obj) -> bool:
    """controller.IsPodActive: not Succeeded, not Failed, not being deleted."""
    return phase(pod) not in ("Succeeded", "Failed") and not meta(pod).get("deletionTimestamp")


def is_terminating(pod: Obj) -> bool:
    """controller.FilterTerminatingPods: being deleted and not yet in a terminal phase."""
    return bool(meta(pod).get("deletionTimestamp")) and phase(pod) not in ("Succeeded", "Failed")


def ready_condition(pod: Obj) -> Obj | None:
    for c in (pod.get("status") or {}).get("conditions") or ():
        if c.get("type") == "Ready":
            return c
    return None


def is_ready(pod: Obj) -> bool:
    """podutil.IsPodReady: the Ready condition is True."""
    c = ready_condition(pod)
    return c is not None and c.get("status") == "True"


def available_since(pod: Obj, min_ready_s: int) -> float | None:
    """When a Ready pod counts as available (its Ready transition plus minReadySeconds); None if not Ready.
    With minReadySeconds 0 a Ready pod is available at once (-inf)."""
    c = ready_condition(pod)
    if c is None or c.get("status") != "True":
        return None
    if min_ready_s <= 0:
        return -math.inf
    since = _time_of(c.get("lastTransitionTime"))
    return None if since is None else since + min_ready_s


def is_available(pod: Obj, min_ready_s: int, now: float) -> bool:
    """podutil.IsPodAvailable: Ready for more than minReadySeconds."""
    at = available_since(pod, min_ready_s)
    return at is not None and (at == -math.inf or at < now)


def is_running_and_ready(pod: Obj) -> bool:
    return phase(pod) == "Running" and is_ready(pod)


def next_availability(pods: Iterable[Obj], min_ready_s: int, now: float) -> float | None:
    """Seconds until the next Ready-but-not-yet-available pod becomes available (for a delayed resync)."""
    waits = [at - now for p in pods if (at := available_since(p, min_ready_s)) is not None
             and at != -math.inf and at >= now]
    return min(waits) + 1.0 if waits else None


def _restarts(pod: Obj) -> tuple[int, int]:
    """(max restarts of regular containers, max restarts of restartable init containers)."""
    status = pod.get("status") or {}
    regular = max((int(c.get("restartCount") or 0) for c in status.get("containerStatuses") or ()), default=0)
    sidecar_names = {c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or ()
                     if c.get("restartPolicy") == "Always"}
    sidecar = max((int(c.get("restartCount") or 0) for c in status.get("initContainerStatuses") or ()
                   if c.get("name") in sidecar_names), default=0)
    return regular, sidecar


def _deletion_cost(pod: Obj) -> int:
    try:
        return int((meta(pod).get("annotations") or {}).get(DELETION_COST, 0))
    except ValueError:
        return 0


def _log_rank(t: float, now: float) -> int:
    d_ns = (now - t) * 1e9
    return int(math.log2(d_ns)) if d_ns > 0 else -1


def _later_or_zero(a: float | None, b: float | None) -> bool:
    """afterOrZero: a missing time sorts first, otherwise the later one."""
    if a is None or b is None:
        return a is None
    return a > b


def _before_logarithmic(a: float | None, b: float | None, ua: str, ub: str, now: float) -> bool:
    if a is None or b is None:
        return _later_or_zero(a, b)
    diff = _log_rank(a, now) - _log_rank(b, now)
    return ua < ub if diff == 0 else diff < 0


def _ready_time(pod: Obj) -> float | None:
    c = ready_condition(pod)
    return _time_of(c.get("lastTransitionTime")) if c is not None and c.get("status") == "True" else None


def deletion_order(pods: list[Obj], related: Iterable[Obj], now: float) -> list[Obj]:
    """`pods` sorted as controller.ActivePodsWithRanks (LogarithmicScaleDown): the first ones go first.

    Unscheduled < scheduled; Pending < Unknown < Running; not ready < ready; lower deletion cost; more
    related active pods on the same node; ready more recently (log2 buckets); more restarts; newer (log2)."""
    on_node: dict[str, int] = {}
    for p in related:
        if is_active(p):
            node = (p.get("spec") or {}).get("nodeName") or ""
            on_node[node] = on_node.get(node, 0) + 1

    def node(p: Obj) -> str:
        return (p.get("spec") or {}).get("nodeName") or ""

    def less(a: Obj, b: Obj) -> bool:
        na, nb = node(a), node(b)
        if na != nb and (not na or not nb):
            return not na
        pa, pb = _PHASE_ORDINAL.get(phase(a), 0), _PHASE_ORDINAL.get(phase(b), 0)
        if pa != pb:
            return pa < pb
        ra, rb = is_ready(a), is_ready(b)
        if ra != rb:
            return not ra
        ca, cb = _deletion_cost(a), _deletion_cost(b)
        if ca != cb:
            return ca < cb
        ka, kb = on_node.get(na, 0), on_node.get(nb, 0)
        if ka != kb:
            return ka > kb
        ua, ub = meta(a).get("uid", ""), meta(b).get("uid", "")
        if ra and rb:
            ta, tb = _ready_time(a), _ready_time(b)
            if ta != tb:
                return _before_logarithmic(ta, tb, ua, ub, now)
        xa, xb = _restarts(a), _restarts(b)
        if xa != xb:
            return xa > xb
        ta, tb = created_at(a), created_at(b)
        if ta != tb:
            return _before_logarithmic(ta, tb, ua, ub, now)
        return False

    return sorted(pods, key=functools.cmp_to_key(lambda a, b: -1 if less(a, b) else (1 if less(b, a) else 0)))


def pods_to_delete(pods: list[Obj], related: Iterable[Obj], count: int, now: float) -> list[Obj]:
    """getPodsToDelete: the first `count` pods of the deletion order (no sorting when all go)."""
    if count >= len(pods):
        return list(pods)
    return deletion_order(pods, related, now)[:count]


# -- hashes ----------------------------------------------------------------------------------------------------
def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def fnv32(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h * 0x01000193) & 0xFFFFFFFF) ^ b
    return h


def safe_encode(s: str) -> str:
    """rand.SafeEncodeString: no vowels, no confusable characters, so a hash never spells a word."""
    return "".join(_ALPHANUMS[ord(ch) % len(_ALPHANUMS)] for ch in s)


def go_json(obj: Any) -> bytes:
    """encoding/json of a map: sorted keys, no spaces, HTML characters escaped."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                    ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text.encode()


def _prune(value: Any) -> Any:
    """Drop nulls and empty maps/lists: Go's semantic equality treats nil and empty alike."""
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def pod_template_hash(template: Obj, collision_count: int | None) -> str:
    """controller.ComputeHash: FNV-32a of the pod template plus the collision count, safe-encoded.

    Upstream feeds the hasher spew's dump of the Go struct; we feed canonical JSON of the same template, so
    the value is stable and changes with the template but is not byte-for-byte a real cluster's."""
    data = go_json(_prune(template))
    if collision_count is not None:
        data += (collision_count & 0xFFFFFFFF).to_bytes(4, "little") + b"\x00" * 4
    return safe_encode(str(fnv32a(data)))


def template_patch(obj: Obj) -> bytes:
    """The ControllerRevision data StatefulSets and DaemonSets keep: `{"spec":{"template":{..,"$patch":"replace"}}}`."""
    template = dict((obj.get("spec") or {}).get("template") or {})
    template_meta = dict(template.get("metadata") or {})
    template_meta.setdefault("creationTimestamp", None)  # metav1.Time zero value, never omitted by Go
    template["metadata"] = template_meta
    template["$patch"] = "replace"
    return go_json({"spec": {"template": template}})


def revision_hash(obj: Obj, collision_count: int | None) -> str:
    """history.HashControllerRevision: FNV-32 (not 32a) of the revision data and the probe, safe-encoded."""
    data = template_patch(obj)
    if collision_count is not None:
        data += str(collision_count).encode()
    return safe_encode(str(fnv32(data)))


def templates_equal_ignoring_hash(a: Obj | None, b: Obj | None) -> bool:
    """deploymentutil.EqualIgnoreHash: templates equal once the pod-template-hash label is dropped."""
    def strip(t: Obj | None) -> Any:
        t = dict(t or {})
        m = dict(t.get("metadata") or {})
        m["labels"] = {k: v for k, v in (m.get("labels") or {}).items() if k != POD_TEMPLATE_HASH}
        t["metadata"] = m
        return _prune(t)
    return bool(strip(a) == strip(b))


# -- int-or-percent --------------------------------------------------------------------------------------------
def scaled_value(value: int | str | None, total: int, *, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent (a missing value is 0)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):
        return int(text)  # a numeric string: validation would have refused it upstream
    scaled = int(text[:-1]) * total / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


# -- ownership -------------------------------------------------------------------------------------------------
def controller_of(obj: Obj) -> Obj | None:
    """metav1.GetControllerOf: the owner reference with controller: true."""
    for ref in meta(obj).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref  # type: ignore[no-any-return]
    return None


def controller_ref(owner: Obj, *, kind: str, api_version: str = "apps/v1") -> Obj:
    """metav1.NewControllerRef."""
    m = meta(owner)
    return {"apiVersion": api_version, "kind": kind, "name": m.get("name"), "uid": m.get("uid"),
            "controller": True, "blockOwnerDeletion": True}


@dataclass(frozen=True)
class Claim:
    """ControllerRefManager.Claim*: what an owner keeps, adopts (orphans its selector matches) and releases
    (objects it controls whose labels no longer match)."""

    owned: tuple[Obj, ...]
    adopt: tuple[Obj, ...]
    release: tuple[Obj, ...]


def claim(owner: Obj, candidates: Iterable[Obj], *, match: Callable[[Obj], bool]) -> Claim:
    uid = meta(owner).get("uid")
    deleting = bool(meta(owner).get("deletionTimestamp"))
    owned: list[Obj] = []
    adopt: list[Obj] = []
    release: list[Obj] = []
    for obj in candidates:
        ref = controller_of(obj)
        if ref is not None:
            if ref.get("uid") != uid:
                continue
            if match(obj):
                owned.append(obj)
            elif not deleting:
                release.append(obj)
        elif not deleting and match(obj) and not meta(obj).get("deletionTimestamp"):
            adopt.append(obj)
    return Claim(tuple(owned), tuple(adopt), tuple(release))


def selector_matcher(owner: Obj) -> Callable[[Obj], bool]:
    """A predicate for the owner's spec.selector over objects' labels (an invalid selector matches nothing)."""
    try:
        sel = selectors.label_selector_from_dict((owner.get("spec") or {}).get("selector"))
    except selectors.SelectorError:
        return lambda _obj: False
    if sel.is_empty():
        return lambda _obj: False  # upstream refuses to select everything
    return lambda obj: sel.matches(meta(obj).get("labels") or {})


def labels_match(labels: Mapping[str, str], required: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in required.items())


# -- pods from templates ---------------------------------------------------------------------------------------
def pod_prefix(owner_name: str) -> str:
    """getPodsPrefix: `<owner>-` when that is a valid generateName, else the owner's name."""
    prefix = f"{owner_name}-"
    return prefix if len(prefix) <= 253 else owner_name


def pod_from_template(template: Obj, *, namespace: str, owner_ref: Obj, generate_name: str | None = None,
                      name: str | None = None) -> Obj:
    """controller.GetPodFromTemplate: labels, annotations, finalizers and spec of the template, owned by
    `owner_ref`; `name` when the controller names pods itself (StatefulSets), else `generate_name`."""
    tmeta = template.get("metadata") or {}
    pod_meta: Obj = {"namespace": namespace}
    if name:
        pod_meta["name"] = name
    if generate_name:
        pod_meta["generateName"] = generate_name
    for key in ("labels", "annotations"):
        if tmeta.get(key):
            pod_meta[key] = dict(tmeta[key])
    if tmeta.get("finalizers"):
        pod_meta["finalizers"] = list(tmeta["finalizers"])
    pod_meta["ownerReferences"] = [dict(owner_ref)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta,
            "spec": json.loads(json.dumps(template.get("spec") or {}))}


def random_suffix(choice: Callable[[str], str], n: int = 5) -> str:
    """Characters of names.SimpleNameGenerator (the API server's generateName alphabet)."""
    return "".join(choice(_ALPHANUMS) for _ in range(n))


# -- conditions ------------------------------------------------------------------------------------------------
def get_condition(status: Obj, ctype: str) -> Obj | None:
    for c in status.get("conditions") or ():
        if c.get("type") == ctype:
            return c  # type: ignore[no-any-return]
    return None


def remove_condition(status: Obj, ctype: str) -> None:
    conds = [c for c in status.get("conditions") or () if c.get("type") != ctype]
    if conds:
        status["conditions"] = conds
    else:
        status.pop("conditions", None)
