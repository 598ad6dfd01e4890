"""The simulated cloud's node-group decisions, on plain data."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubesim.sim import cloud
from kubesim.sim.cloud import CREATING, DELETING, RUNNING, CloudError, GroupState
from kubesim.sim.scenariotypes import InstanceShape, NodeGroupSpec, Resources

RES = Resources(cpu_millicores=4000, memory_bytes=16 << 30, pods=110, ephemeral_storage_bytes=100 << 30)
SHAPE = InstanceShape(instance_type="sim.large", capacity=RES, allocatable=RES)


def spec(**kw) -> NodeGroupSpec:  # type: ignore[no-untyped-def]
    return NodeGroupSpec(**{"name": "pool", "min_size": 1, "max_size": 10, "size": 1, "instance": SHAPE,
                            "provisioning_delay_s": 30.0, **kw})


def grown(n: int, **kw) -> GroupState:  # type: ignore[no-untyped-def]
    return cloud.set_target(GroupState(spec(**kw), target=0), n, now=100.0, rng=random.Random(1))


def test_growing_creates_instances_ready_after_the_delay() -> None:
    s = grown(3)
    assert s.target == 3 and [i.state for i in s.instances] == [CREATING] * 3
    assert all(i.ready_at == 130.0 and i.name.startswith("pool-") for i in s.instances)
    s2, ready, gone = cloud.advance(s, 129.9)
    assert ready == [] and gone == []
    s3, ready, _ = cloud.advance(s2, 130.0)
    assert len(ready) == 3 and all(i.state == RUNNING for i in s3.instances)


def test_outside_min_max_is_refused() -> None:
    with pytest.raises(CloudError, match=r"outside \[1, 10\]"):
        grown(11)
    with pytest.raises(CloudError):
        cloud.set_target(grown(2), 0, now=0, rng=random.Random())


def test_shrinking_removes_pending_instances_first_then_newest() -> None:
    s, _, _ = cloud.advance(grown(2), 200.0)  # two running
    s = cloud.set_target(s, 4, now=300.0, rng=random.Random(2))  # two more creating
    s = cloud.set_target(s, 3, now=301.0, rng=random.Random(2))
    deleting = [i for i in s.instances if i.state == DELETING]
    assert len(deleting) == 1 and deleting[0].ready_at == 330.0
    s, _, gone = cloud.advance(s, 302.0)
    assert [i.name for i in gone] == [deleting[0].name] and len(s.instances) == 3


def test_delete_nodes_lowers_the_target_and_respects_min() -> None:
    s, _, _ = cloud.advance(grown(3), 500.0)
    victim = s.instances[1].name
    s2 = cloud.delete_nodes(s, [victim])
    assert s2.target == 2 and {i.name: i.state for i in s2.instances}[victim] == DELETING
    with pytest.raises(CloudError, match="below the minimum"):
        cloud.delete_nodes(s2, [i.name for i in s2.instances if i.state == RUNNING])
    with pytest.raises(CloudError, match="no instances ghost"):
        cloud.delete_nodes(s, ["ghost"])


def test_stockout_and_failures_are_reported_not_registered() -> None:
    s = grown(2, stockout=True)
    assert [i.error for i in s.instances] == ["OutOfResources"] * 2
    _, ready, _ = cloud.advance(s, 10_000.0)
    assert ready == []
    failing = grown(5, failure_rate=1.0)
    assert {i.error for i in failing.instances} == {"OtherError"}


@given(st.lists(st.integers(min_value=1, max_value=10), min_size=1, max_size=8))
def test_alive_instances_always_equal_the_target(targets: list[int]) -> None:
    s = GroupState(spec(), target=0)
    rng = random.Random(0)
    now = 0.0
    for t in targets:
        now += 10
        s = cloud.set_target(s, t, now=now, rng=rng)
        assert sum(1 for i in s.instances if i.state != DELETING and not i.error) == t
        s, _, _ = cloud.advance(s, now + 5)
    assert len({i.name for i in s.instances}) == len(s.instances)


class Recorder:
    def __init__(self) -> None:
        self.nodes: dict[str, str] = {}

    def register(self, *, name: str, group: str, shape: InstanceShape, provider_id: str) -> None:
        self.nodes[name] = provider_id

    def unregister(self, name: str) -> None:
        del self.nodes[name]


def test_cloud_registers_and_unregisters_through_the_registrar() -> None:
    now = [0.0]
    rec = Recorder()
    c = cloud.Cloud(rec, clock=lambda: now[0])
    c.add_group(spec(provisioning_delay_s=5.0), initial=2)
    # the initial nodes exist from the start; later growth waits for the provisioning delay
    assert len(rec.nodes) == 2 and all(p.startswith("kubesim://pool/") for p in rec.nodes.values())
    c.increase_size("pool", 1)
    now[0] = 4.9
    c.step()
    assert len(rec.nodes) == 2
    now[0] = 5.0
    c.step()
    assert len(rec.nodes) == 3
    victim = sorted(rec.nodes)[0]
    assert c.group_of(victim) == "pool"
    c.delete_nodes("pool", [victim])
    assert victim not in rec.nodes and c.group("pool").target == 2
    with pytest.raises(CloudError, match="unknown node group 'nope'; known: pool"):
        c.set_target_size("nope", 1)
