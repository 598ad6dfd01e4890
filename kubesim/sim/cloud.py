"""The simulated cloud: node groups with min/max/target size, an instance shape, a provisioning delay and
optional failures, which the cluster autoscaler's `sim` provider drives.

The decisions (what a resize does to a group's instances, what becomes ready when) are pure functions over
`GroupState`; `Cloud` applies them on a clock and registers or removes nodes through a `NodeRegistrar`
(the kubelets layer). The operations mirror what cluster-autoscaler asks of a NodeGroup: target size,
increase, delete given nodes, decrease the target of not-yet-registered instances, list instances.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from kubesim.sim.scenariotypes import InstanceShape, NodeGroupSpec

log = logging.getLogger("kubesim.cloud")

CREATING, RUNNING, DELETING = "Creating", "Running", "Deleting"
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


@dataclass(frozen=True)
class Instance:
    name: str
    state: str
    ready_at: float
    error: str = ""  # "" | "OutOfResources" | "OtherError": why provisioning failed


@dataclass(frozen=True)
class GroupState:
    spec: NodeGroupSpec
    target: int
    instances: tuple[Instance, ...] = ()


class CloudError(ValueError):
    """A request the cloud refuses (outside min/max, unknown group or node); the message says why."""


def provider_id(group: str, name: str) -> str:
    return f"kubesim://{group}/{name}"


# -- pure decisions --------------------------------------------------------------------------------------------
def set_target(state: GroupState, target: int, *, now: float, rng: random.Random) -> GroupState:
    """Resize to `target`: new instances start Creating (or fail), surplus ones not yet running go first."""
    spec = state.spec
    if not spec.min_size <= target <= spec.max_size:
        raise CloudError(f"node group {spec.name}: size {target} is outside [{spec.min_size}, {spec.max_size}]")
    alive = [i for i in state.instances if i.state != DELETING and not i.error]
    instances = list(state.instances)
    if target > len(alive):
        taken = {i.name for i in instances}
        for _ in range(target - len(alive)):
            name = _new_name(spec.name, taken, rng)
            taken.add(name)
            error = ""
            if spec.stockout:
                error = "OutOfResources"
            elif spec.failure_rate and rng.random() < spec.failure_rate:
                error = "OtherError"
            instances.append(Instance(name, CREATING, now + spec.provisioning_delay_s, error))
    elif target < len(alive):
        # like a cloud's scale-in of the target size: not-yet-running instances go first, then the newest
        order = sorted(alive, key=lambda i: (i.state == RUNNING, -i.ready_at))
        doomed = {i.name for i in order[: len(alive) - target]}
        instances = [replace(i, state=DELETING) if i.name in doomed else i for i in instances]
    return replace(state, target=target, instances=tuple(instances))


def delete_nodes(state: GroupState, names: list[str]) -> GroupState:
    """Delete given instances and lower the target by as many (cluster-autoscaler's DeleteNodes)."""
    known = {i.name: i for i in state.instances if i.state != DELETING}
    missing = [n for n in names if n not in known]
    if missing:
        raise CloudError(f"node group {state.spec.name}: no instances {', '.join(missing)}")
    target = state.target - len(names)
    if target < state.spec.min_size:
        raise CloudError(f"node group {state.spec.name}: deleting {len(names)} nodes would go below the minimum "
                         f"size {state.spec.min_size}")
    doomed = set(names)
    return replace(state, target=target, instances=tuple(
        replace(i, state=DELETING) if i.name in doomed else i for i in state.instances))


def advance(state: GroupState, now: float) -> tuple[GroupState, list[Instance], list[Instance]]:
    """Instances that became ready and ones whose deletion completed at `now`; failed instances stay listed
    (with their error) so an autoscaler can see them, as cloud providers report them."""
    ready: list[Instance] = []
    gone: list[Instance] = []
    kept: list[Instance] = []
    for i in state.instances:
        if i.state == DELETING:
            gone.append(i)
        elif i.state == CREATING and not i.error and i.ready_at <= now:
            running = replace(i, state=RUNNING)
            ready.append(running)
            kept.append(running)
        else:
            kept.append(i)
    return replace(state, instances=tuple(kept)), ready, gone


def _new_name(group: str, taken: set[str], rng: random.Random) -> str:
    while True:
        name = f"{group}-{''.join(rng.choice(_NAME_CHARS) for _ in range(5))}"
        if name not in taken:
            return name


# -- runtime ---------------------------------------------------------------------------------------------------
class NodeRegistrar(Protocol):
    """Who turns a running instance into a Node (the kubelets layer)."""

    def register(self, *, name: str, group: str, shape: InstanceShape, provider_id: str) -> None: ...

    def unregister(self, name: str) -> None: ...


class Cloud:
    """Node groups on a clock. Every method is safe to call from the control API, tests or scenarios."""

    def __init__(self, registrar: NodeRegistrar, *, clock: Callable[[], float], seed: int = 0,
                 tick_s: float = 0.2) -> None:
        self.registrar = registrar
        self.clock = clock
        self.rng = random.Random(seed)
        self.tick_s = tick_s
        self.groups: dict[str, GroupState] = {}
        self._task: asyncio.Task[None] | None = None

    def add_group(self, spec: NodeGroupSpec, *, initial: int | None = None) -> None:
        if spec.name in self.groups:
            raise CloudError(f"node group {spec.name} already exists")
        if not 0 <= spec.min_size <= spec.max_size:
            raise CloudError(f"node group {spec.name}: need 0 <= min ({spec.min_size}) <= max ({spec.max_size})")
        size = spec.size if initial is None else initial
        # the initial nodes exist when the cluster starts: provisioning delays apply to later resizes
        self.groups[spec.name] = set_target(GroupState(spec, target=0), size,
                                            now=self.clock() - spec.provisioning_delay_s, rng=self.rng)
        self.step()

    def group(self, name: str) -> GroupState:
        try:
            return self.groups[name]
        except KeyError:
            raise CloudError(f"unknown node group {name!r}; known: {', '.join(sorted(self.groups)) or 'none'}") \
                from None

    def set_target_size(self, name: str, target: int) -> GroupState:
        self.groups[name] = set_target(self.group(name), target, now=self.clock(), rng=self.rng)
        self.step()
        return self.groups[name]

    def increase_size(self, name: str, delta: int) -> GroupState:
        if delta <= 0:
            raise CloudError(f"size increase must be positive, got {delta}")
        return self.set_target_size(name, self.group(name).target + delta)

    def delete_nodes(self, name: str, nodes: list[str]) -> GroupState:
        self.groups[name] = delete_nodes(self.group(name), nodes)
        self.step()
        return self.groups[name]

    def update_spec(self, name: str, **changes: Any) -> GroupState:
        """Change failure behaviour at run time (stockout, failure_rate, provisioning_delay_s)."""
        state = self.group(name)
        self.groups[name] = replace(state, spec=replace(state.spec, **changes))
        return self.groups[name]

    def group_of(self, node: str) -> str | None:
        for name, state in self.groups.items():
            if any(i.name == node for i in state.instances):
                return name
        return None

    def step(self) -> None:
        now = self.clock()
        for name, state in list(self.groups.items()):
            new, ready, gone = advance(state, now)
            self.groups[name] = new
            for inst in ready:
                self.registrar.register(name=inst.name, group=name, shape=state.spec.instance,
                                        provider_id=provider_id(name, inst.name))
            for inst in gone:
                self.registrar.unregister(inst.name)

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                self.step()
            except Exception:  # one bad registration must not stop the cloud
                log.exception("cloud step failed")
            await asyncio.sleep(self.tick_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def describe(self) -> list[dict[str, Any]]:
        """The groups as the control API shows them."""
        return [{
            "name": s.spec.name, "minSize": s.spec.min_size, "maxSize": s.spec.max_size, "targetSize": s.target,
            "provisioningDelaySeconds": s.spec.provisioning_delay_s, "failureRate": s.spec.failure_rate,
            "stockout": s.spec.stockout,
            "instances": [{"name": i.name, "state": i.state, "error": i.error,
                           "providerID": provider_id(s.spec.name, i.name)} for i in s.instances],
        } for s in self.groups.values()]
