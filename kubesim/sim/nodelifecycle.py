"""The health part of kube-controller-manager's node lifecycle controller: a node whose kubelet stopped
renewing its Lease and posting status for `--node-monitor-grace-period` (50 s since v1.32) gets its
conditions set Unknown and the `node.kubernetes.io/unreachable` NoSchedule/NoExecute taints; the taints go
once the kubelet posts Ready again. The decision is `kubeletstatus.node_health`; this is the loop around it.

Unlike upstream it watches only nodes that have a Lease in kube-node-lease (nodes with a kubelet, simulated
or not): a Node a test creates without any kubelet stays as the test wrote it. Nodes and Leases are read from
informers (a pass over 5,000 nodes decodes nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kubesim import errors
from kubesim.sim import kubeletstatus
from kubesim.sim.informer import Informer

if TYPE_CHECKING:
    from kubesim.apiserver import ApiServer

log = logging.getLogger("kubesim.nodelifecycle")


@dataclass(slots=True)
class _Probe:
    seen: tuple[str, str]  # (lease renewTime, Ready lastHeartbeatTime) last observed
    at: float  # when that changed, on our clock (upstream's probeTimestamp: no trust in the kubelet's clock)


class NodeLifecycle:
    """Marks nodes whose kubelet went silent Unknown and unreachable-tainted; clears the taints on return."""

    def __init__(self, api: ApiServer, *, grace_period_s: float = 50.0, monitor_period_s: float = 5.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.api = api
        self.grace_period_s = grace_period_s
        self.monitor_period_s = monitor_period_s
        self.clock = clock
        nodes = api.registry.get("", "nodes")
        assert nodes is not None
        self._nodes_rt = nodes
        self._probes: dict[str, _Probe] = {}
        self._task: asyncio.Task[None] | None = None
        self._nodes = Informer(api, "", "nodes")
        self._leases = Informer(api, "coordination.k8s.io", "leases", namespace=kubeletstatus.LEASE_NAMESPACE)
        self._watching = False

    async def start(self) -> None:
        self._watch()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._watching:
            await self._nodes.stop()
            await self._leases.stop()
            self._watching = False

    def _watch(self) -> None:
        """Start the informers (on the running loop) unless they run already."""
        if not self._watching:
            self._nodes.start()
            self._leases.start()
            self._watching = True

    async def _run(self) -> None:
        while True:
            try:
                self.monitor(self.clock())
            except Exception:  # a bad node must not stop the controller
                log.exception("node health pass failed")
            await asyncio.sleep(self.monitor_period_s)

    def monitor(self, now: float) -> list[tuple[str, str]]:
        """One pass over the nodes with a Lease; returns (node, reason) for each node it wrote. Needs the
        running loop (its informers start on the first pass)."""
        self._watch()
        self._nodes.drain()
        self._leases.drain()
        written = []
        leases = {name: lease for (_ns, name), lease in self._leases.cache.items()}
        for name in list(self._probes):
            if name not in leases:
                del self._probes[name]
        for name, lease in leases.items():
            node = self._nodes.get("", name)
            if node is None:
                continue
            ready = next((c for c in (node.get("status") or {}).get("conditions") or ()
                          if c.get("type") == "Ready"), {})
            seen = ((lease.get("spec") or {}).get("renewTime") or "", ready.get("lastHeartbeatTime") or "")
            probe = self._probes.get(name)
            if probe is None or probe.seen != seen:
                probe = self._probes[name] = _Probe(seen, now)
            decision = kubeletstatus.node_health(node, stale=now - probe.at > self.grace_period_s, now=now)
            if decision.conditions is None and decision.taints is None:
                continue
            try:
                self._write(name, decision)
            except errors.ApiError as e:
                log.info("node %s: %s", name, e)
                continue
            written.append((name, decision.reason))
        return written

    def _write(self, name: str, decision: kubeletstatus.NodeHealth) -> None:
        rt = self._nodes_rt
        if decision.conditions is not None:
            entry = self.api.get(rt, "", name)
            status = {**entry.obj.get("status", {}), "conditions": decision.conditions}
            self.api._write_update(rt, entry, {**entry.obj, "status": status}, subresource="status", dry_run=False)
        if decision.taints is not None:
            entry = self.api.get(rt, "", name)
            spec = {**entry.obj.get("spec", {}), "taints": decision.taints}
            if not decision.taints:
                spec.pop("taints")
            self.api._write_update(rt, entry, {**entry.obj, "spec": spec}, subresource=None, dry_run=False)
