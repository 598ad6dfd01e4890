"""Runs kubesim's simulation layers around one API server: controllers, scheduler, node lifecycle, kubelets
fed by the load model, the cloud of node groups, node logs, and a scenario's objects and timed events.

Only wiring lives here; every decision is in the layer modules. `kubesim.sim.control` serves this object's
operations over HTTP under `/kubesim/v1/`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubesim import errors
from kubesim.sim import cloud as cloudmod
from kubesim.sim import gctuning
from kubesim.sim.controllers import Controllers
from kubesim.sim.kubelets import KubeletConfig, Kubelets
from kubesim.sim.loadcurves import Constant
from kubesim.sim.loadmodel import LoadModel, LoadModelLayer, WorkloadLoad
from kubesim.sim.nodelifecycle import NodeLifecycle
from kubesim.sim.nodelogs import NodeLogs
from kubesim.sim.scenariotypes import (
    API_FAULTS,
    ContainerSpec,
    FaultEvent,
    InstanceShape,
    LoadEvent,
    NodeGroupSpec,
    NodeProblemEvent,
    NodeTarget,
    Resources,
    ScaleEvent,
    Scenario,
    Settings,
    WorkloadSpec,
)
from kubesim.sim.scheduler import Scheduler

if TYPE_CHECKING:
    from kubesim.apiserver import ApiServer
    from kubesim.server import Server

log = logging.getLogger("kubesim.sim")

# scenario fault names -> the kubelets' fault kinds
KUBELET_FAULT_KINDS = {"slow": "slow", "timeout": "timeout", "reset": "reset", "http500": "http500",
                       "garbage": "garbage", "truncated": "truncated", "counterBackwards": "counter_backwards",
                       "notReady": "notready"}
UNIFORM_SHAPE = InstanceShape(
    instance_type="kubesim.standard-4",
    capacity=Resources(cpu_millicores=4000, memory_bytes=16 << 30, pods=110, ephemeral_storage_bytes=100 << 30),
    allocatable=Resources(cpu_millicores=3900, memory_bytes=15 << 30, pods=110, ephemeral_storage_bytes=95 << 30),
)


@dataclass(frozen=True)
class SimulationOptions:
    scenario: Scenario | None = None
    nodes: int = 0  # a uniform cluster when no scenario: this many nodes ...
    pods_per_node: int = 0  # ... and about this many pods on each
    kubelet_http: bool = False
    kubelet_port: int = 10250  # 0: an ephemeral port per kubelet, advertised in its Node
    data_dir: str = ".kubesim"  # kubelet CA, node logs
    seed: int = 0


def uniform_scenario(nodes: int, pods_per_node: int) -> Scenario:
    """`--nodes N --pods-per-node P`: one node group and Deployments of at most 50 replicas filling it."""
    groups = (NodeGroupSpec(name="pool", min_size=0, max_size=max(nodes * 2, 1), size=nodes,
                            instance=UNIFORM_SHAPE, provisioning_delay_s=0.0, ready_delay_s=0.0),)
    total = nodes * pods_per_node
    workloads = []
    for i in range(math.ceil(total / 50)):
        replicas = min(50, total - 50 * i)
        workloads.append(WorkloadSpec(
            namespace="default", kind="Deployment", name=f"app-{i}", template="app", replicas=replicas,
            labels={"app": f"app-{i}"},
            containers=(ContainerSpec("app", {"cpu": "50m", "memory": "64Mi"}, {"cpu": "500m", "memory": "256Mi"}),),
            load=WorkloadLoad(demand=Constant(0.02 * replicas), base_cpu=0.005)))
    return Scenario(name=f"uniform-{nodes}x{pods_per_node}", source="<flags>", description="a uniform cluster",
                    seed=0, duration_s=None, settings=Settings(), node_groups=groups, workloads=tuple(workloads),
                    manifests=(), events=())


class _Registrar:
    """Turns the cloud's running instances into simulated nodes (and back)."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim

    def register(self, *, name: str, group: str, shape: InstanceShape, provider_id: str) -> None:
        labels = {**shape.labels, "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                  "kubernetes.io/arch": "amd64", "node.kubernetes.io/instance-type": shape.instance_type,
                  "kubesim.io/node-group": group}
        self.sim.spawn(self.sim.kubelets.register_node(
            name, capacity=shape.capacity.quantities(), allocatable=shape.allocatable.quantities(), labels=labels,
            taints=[t.as_dict() for t in shape.taints], provider_id=provider_id))

    def unregister(self, name: str) -> None:
        self.sim.spawn(self.sim.kubelets.remove_node(name))


class Simulation:
    """All layers over `api`, started and stopped together."""

    def __init__(self, api: ApiServer, server: Server, options: SimulationOptions, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.api, self.server, self.options, self.clock = api, server, options, clock
        self.scenario = options.scenario or (uniform_scenario(options.nodes, options.pods_per_node)
                                             if options.nodes else None)
        settings = self.scenario.settings if self.scenario else Settings()
        self.settings = settings
        self.rng = random.Random(options.seed if options.scenario is None else self.scenario.seed)  # type: ignore[union-attr]
        data = Path(options.data_dir)
        self.start_time = clock()
        self.model = LoadModel(start=self.start_time, seed=options.seed, tick_s=settings.usage_tick_s)
        self.node_logs = NodeLogs(data / "nodes")
        self.kubelets = Kubelets(api, self.model, KubeletConfig(
            http=options.kubelet_http or settings.kubelet_http,
            port=options.kubelet_port if options.kubelet_port != 10250 else settings.kubelet_port,
            pki_dir=str(data / "pki"), start_delay_s=settings.kubelet_start_delay_s,
            heartbeat_s=settings.node_status_update_frequency_s), clock=clock, node_logs=self.node_logs)
        self.cloud = cloudmod.Cloud(_Registrar(self), clock=clock, seed=options.seed)
        self.layers: list[Any] = [
            LoadModelLayer(api, self.model, clock=clock),
            Controllers(api, clock=clock, seed=options.seed + 1),
            Scheduler(api, clock=clock),
            NodeLifecycle(api, grace_period_s=settings.node_monitor_grace_period_s, clock=clock),
            self.kubelets,
            self.cloud,
        ]
        self._tasks: set[asyncio.Task[Any]] = set()
        self.collector = gctuning.StartupCollector()

    def spawn(self, coro: Awaitable[Any]) -> None:
        """Run a layer operation in the background; a failure is logged, never lost silently."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("simulation task failed: %s", t.exception())

        task.add_done_callback(done)

    async def start(self) -> None:
        self.collector.start()
        for layer in self.layers:
            await layer.start()
        if self.scenario is not None:
            self.apply_scenario(self.scenario)
            self.spawn(self._run_events(self.scenario))

    async def stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        for layer in reversed(self.layers):
            await layer.stop()
        await self.collector.stop()

    # -- scenario --------------------------------------------------------------------------------------------
    def apply_scenario(self, scenario: Scenario) -> None:
        for group in scenario.node_groups:
            self.cloud.add_group(group)
        for w in scenario.workloads:
            self._ensure_namespace(w.namespace)
            if w.load is not None:
                self.model.set_workload_load(*w.key, w.load)
            self.create(w.manifest())
        for manifest in scenario.manifests:
            self.create(manifest)

    def _ensure_namespace(self, ns: str) -> None:
        rt = self.api.registry.get("", "namespaces")
        assert rt is not None
        if self.api.store.get(rt.storage, "", ns) is None:
            self.api.create(rt, "", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create any manifest in-process (what `kubectl create -f` would do)."""
        api_version = obj.get("apiVersion", "")
        group = api_version.rpartition("/")[0]
        rt = self.api.registry.by_kind(group, obj.get("kind", ""))
        if rt is None:
            raise ValueError(f"no resource serves {obj.get('kind')} in {api_version or 'v1'}")
        ns = (obj.get("metadata") or {}).get("namespace") or "default" if rt.namespaced else ""
        if ns:
            self._ensure_namespace(ns)
        try:
            return self.api.create(rt, ns, obj)
        except errors.ApiError as e:
            if e.code != 409:
                raise
            return self.api.get(rt, ns, obj["metadata"]["name"]).obj

    async def _run_events(self, scenario: Scenario) -> None:
        for ev in scenario.events:
            delay = self.start_time + ev.at_s - self.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                self.apply_event(ev)
            except (ValueError, KeyError, errors.ApiError, cloudmod.CloudError) as e:
                log.error("scenario event at %ss (%s) failed: %s", ev.at_s, type(ev).__name__, e)

    def apply_event(self, ev: Any) -> None:
        now = self.clock()
        if isinstance(ev, LoadEvent):
            for key in ev.workloads:
                self.model.set_workload_load(*key, ev.apply(self.model.workload_load(*key)))
        elif isinstance(ev, ScaleEvent):
            self.cloud.set_target_size(ev.node_group, ev.size)
        elif isinstance(ev, NodeProblemEvent):
            for node in self.targets(ev.target):
                for _ in range(ev.count):
                    if ev.problem is not None:
                        self.node_logs.problem(node, ev.problem, now=now, **ev.params)
                    elif ev.message is not None:
                        self.node_logs.append(node, ev.message, now=now)
        elif isinstance(ev, FaultEvent):
            self.apply_fault(ev)

    def apply_fault(self, ev: FaultEvent) -> None:
        undo: Callable[[], None]
        if ev.fault in KUBELET_FAULT_KINDS:
            kind = KUBELET_FAULT_KINDS[ev.fault]
            params = {"delay_s": ev.delay_s} if ev.fault == "slow" and ev.delay_s is not None else {}
            nodes = self.targets(ev.target)
            for node in nodes:
                self.kubelets.set_fault(node, kind, **params)

            def undo() -> None:
                for node in nodes:
                    with contextlib.suppress(KeyError, ValueError):
                        self.kubelets.clear_fault(node, kind)
        elif ev.fault in API_FAULTS:
            field = "write_conflict_rate" if ev.fault == "apiConflict" else (
                "request_error_rate" if set(ev.verbs) - {"create", "update", "patch", "delete"} else
                "write_error_rate")
            self.server.faults.set(**{field: ev.rate})

            def undo() -> None:
                self.server.faults.set(**{field: 0.0})
        elif ev.fault == "watchDrop":
            self.server.drop_watches()
            return
        elif ev.fault == "provisioningFailure":
            group = ev.node_group or ""
            self.cloud.update_spec(group, stockout=True)

            def undo() -> None:
                self.cloud.update_spec(group, stockout=False)
        else:
            raise ValueError(f"unknown fault {ev.fault!r}")
        if ev.duration_s is not None:
            self.spawn(_later(ev.duration_s, undo))

    def targets(self, target: NodeTarget | None) -> list[str]:
        """The nodes an event hits: by name, else a deterministic fraction (at least one) of a group or all."""
        if target is None:
            return []
        if target.node is not None:
            return [target.node]
        if target.node_group is not None:
            names = sorted(i.name for i in self.cloud.group(target.node_group).instances
                           if i.name in self.kubelets.kubelets)
        else:
            names = sorted(self.kubelets.kubelets)
        if not names:
            return []
        k = max(1, round(len(names) * target.fraction))
        return sorted(self.rng.sample(names, min(k, len(names))))


async def _later(delay_s: float, action: Callable[[], None]) -> None:
    await asyncio.sleep(delay_s)
    action()
