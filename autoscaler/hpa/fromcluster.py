"""`kubescale hpa explain --from-cluster NAMESPACE/NAME`: gather one HPA's inputs from a live API exactly as the
controller does (gathering.py) and explain the decision a sync would make now, as JSON or as a report.

The controller's recommendation and scale-event history lives in its memory, not in the API, so the HPA is
explained as one the controller has just started watching: a scale-down that the stabilization window would
hold back shows as happening, and the report says so.
"""

from __future__ import annotations

import time
from typing import Any

from autoscaler.hpa import decide, defaulting, explain, gathering
from autoscaler.hpa.metricsclient import MetricsClient
from kubescale.kubeclient import ApiError, KubeClient
from kubescale.restmapper import RESTMapper

HISTORY_NOTE = ("the controller's recommendation and scale-event history is not visible from the cluster; this is "
                "the decision for an HPA the controller has just started watching")


class FromClusterError(Exception):
    """The HPA cannot be read."""


def split_key(key: str) -> tuple[str, str]:
    namespace, sep, name = key.partition("/")
    if not sep:
        namespace, name = "default", key
    if not namespace or not name or "/" in name:
        raise FromClusterError(f"expected NAMESPACE/NAME, got {key!r}")
    return namespace, name


async def decide_from_cluster(client: KubeClient, key: str, *, settings: decide.Settings | None = None,
                              now: float | None = None) -> tuple[dict[str, Any], decide.Decision]:
    """The stored HPA and the decision one sync would make for it now."""
    namespace, name = split_key(key)
    try:
        hpa = await client.get(f"/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers/{name}")
    except ApiError as e:
        raise FromClusterError(e.message or str(e)) from None
    stored = defaulting.stored_v2(hpa)
    now = time.time() if now is None else now
    mapper = RESTMapper(client)
    try:
        target = await gathering.get_scale(client, mapper, namespace,
                                           (stored.get("spec") or {}).get("scaleTargetRef") or {})
    except gathering.ScaleError as e:
        return stored, decide.failed_get_scale(stored, str(e), now=now, history=decide.History())
    pods: list[gathering.PodEntry] = []
    if target.scale.selector and target.selector_error is None:
        listed, _ = await client.list(f"/api/v1/namespaces/{namespace}/pods",
                                      params={"labelSelector": str(target.selector)}, item=gathering.pod_entry)
        pods = listed
    inp = await gathering.sync_input(MetricsClient(client, mapper), stored, target, pods, now=now,
                                     history=decide.History(), settings=settings or decide.Settings())
    return stored, decide.decide(inp)


def report(hpa: dict[str, Any], decision: decide.Decision) -> str:
    """The decision as a short human-readable report."""
    meta, ref = hpa.get("metadata") or {}, (hpa.get("spec") or {}).get("scaleTargetRef") or {}
    lines = [f"HorizontalPodAutoscaler {meta.get('namespace')}/{meta.get('name')} -> "
             f"{ref.get('kind')}/{ref.get('name')}",
             f"  replicas: {decision.current_replicas} now, {decision.desired_replicas} after this sync"
             + (f" (rescale: {decision.reason})" if decision.rescale else " (no rescale)")]
    if decision.metrics:
        lines.append("  metrics:")
        for m in decision.metrics:
            if m.error:
                lines.append(f"    {m.type} {m.name}: error: {m.error}")
            else:
                current = ((m.current or {}).get(m.type[0].lower() + m.type[1:]) or {}).get("current") or {}
                shown = ", ".join(f"{k}={v}" for k, v in current.items())
                lines.append(f"    {m.type} {m.name}: current {shown or '-'}; proposes {m.replicas} replicas")
    lines.append("  conditions:")
    for c in decision.status.get("conditions", []):
        lines.append(f"    {c['type']}={c['status']} {c['reason']}: {c['message']}")
    if decision.events:
        lines.append("  events:")
        lines.extend(f"    {e.type} {e.reason}: {e.message}" for e in decision.events)
    lines.append(f"  note: {HISTORY_NOTE}")
    return "\n".join(lines)


def render(decision: decide.Decision) -> dict[str, Any]:
    return {**explain.render(decision), "note": HISTORY_NOTE}
