"""kubescale.leaderelection against kubesim over HTTP: two electors on one Lease never lead at once, a cancelled
leader releases and the other takes over at once, a leader that is cut off from the API or whose lease is
stolen stops leading within the renew deadline, and the Lease's fields read as kubectl shows them."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from kubescale import kubeconfig
from kubescale.kubeclient import KubeClient
from kubescale.leaderelection import LeaderElectionConfig, LeaderElector
from kubesim.app import KubeSim
from tests.integration.conftest import until

NS, NAME = "kube-system", "le-test"
PATH = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/{NAME}"
LEASE_S, RENEW_S, RETRY_S = 1.5, 1.0, 0.2  # the Lease advertises 2 s (whole seconds, rounded up)
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def _config(identity: str) -> LeaderElectionConfig:
    return LeaderElectionConfig(lease_namespace=NS, lease_name=NAME, identity=identity, lease_duration_s=LEASE_S,
                                renew_deadline_s=RENEW_S, retry_period_s=RETRY_S)


class Candidate:
    """One elector and its run task; `acting` is True while its leading callback runs."""

    def __init__(self, client: KubeClient, identity: str) -> None:
        self.elector = LeaderElector(client, _config(identity))
        self.identity = identity
        self.acting = False
        self.task = asyncio.create_task(self.elector.run(self._lead))

    async def _lead(self) -> None:
        self.acting = True
        try:
            await asyncio.Event().wait()
        finally:
            self.acting = False

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


class Proxy:
    """A TCP proxy to kubesim that can be cut: then it forwards nothing and answers nothing (a black hole)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.cut = False
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                while self.cut:
                    await asyncio.sleep(3600)
                dst.write(data)
                await dst.drain()

        pumps = [asyncio.create_task(pump(reader, up_writer)), asyncio.create_task(pump(up_reader, writer))]
        self.tasks.update(pumps)
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for t in pumps:
            t.cancel()
        writer.close()
        up_writer.close()

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        if self.server is not None:
            self.server.close()


@pytest.fixture
def cluster(inproc_sim: KubeSim) -> kubeconfig.ClusterConfig:
    return kubeconfig.load(inproc_sim.config.kubeconfig_out, environ={})


@pytest.fixture
async def clients(cluster: kubeconfig.ClusterConfig) -> AsyncIterator[list[KubeClient]]:
    made = [KubeClient(cluster) for _ in range(3)]  # one per candidate, one for the test's own reads
    yield made
    for c in made:
        await c.close()


async def _lease(client: KubeClient) -> dict[str, Any]:
    return await client.get(PATH)


async def _sample(candidates: list[Candidate], seconds: float) -> list[int]:
    """How many candidates lead (is_leader or acting) at each sample; fails at once if ever more than one."""
    counts = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        leading = [c.identity for c in candidates if c.elector.is_leader() or c.acting]
        assert len(leading) <= 1, f"two leaders at once: {leading}"
        counts.append(len(leading))
        await asyncio.sleep(0.01)
    return counts


async def test_one_leader_then_release_and_handover(clients: list[KubeClient]) -> None:
    a, b = Candidate(clients[0], "a"), Candidate(clients[1], "b")
    try:
        first = await until("a leader", _leader_of(a, b), timeout_s=5)
        assert (await _sample([a, b], 2.5)).count(1) > 0
        counts = await _sample([a, b], 0.5)
        assert set(counts) == {1}, "the leader kept leading"
        lease = await _lease(clients[2])
        spec = lease["spec"]
        assert spec["holderIdentity"] == first.identity
        assert spec["leaseDurationSeconds"] == 2
        assert spec["leaseTransitions"] == 0
        assert MICRO_TIME.match(spec["acquireTime"]) and MICRO_TIME.match(spec["renewTime"])
        assert spec["renewTime"] > spec["acquireTime"], "renewed during the sampling"
        other = b if first is a else a

        loop = asyncio.get_running_loop()
        stopped_at = loop.time()
        await first.stop()
        assert not first.elector.is_leader() and not first.acting
        released = (await _lease(clients[2]))["spec"]
        if released["holderIdentity"] == "":  # the other may already have taken it over
            assert released["leaseDurationSeconds"] == 1 and released["leaseTransitions"] == 0
        await until("the other to lead", _leader_of(other), timeout_s=3)
        assert loop.time() - stopped_at < 2.2 * RETRY_S + 0.5, "took over the released lease without waiting"
        spec = (await _lease(clients[2]))["spec"]
        assert (spec["holderIdentity"], spec["leaseTransitions"]) == (other.identity, 1)
        await _sample([a, b], 0.3)
    finally:
        await a.stop()
        await b.stop()


def _leader_of(*candidates: Candidate) -> Any:
    async def check() -> Candidate | None:
        leading = [c for c in candidates if c.elector.is_leader() and c.acting]
        return leading[0] if leading else None
    return check


async def test_stolen_lease_stops_the_leader(clients: list[KubeClient]) -> None:
    a = Candidate(clients[0], "a")
    try:
        await until("a to lead", _leader_of(a), timeout_s=5)
        lease = await _lease(clients[2])
        lease["spec"] = {**lease["spec"], "holderIdentity": "intruder", "leaseDurationSeconds": 60}
        await clients[2].update(PATH, lease)
        loop = asyncio.get_running_loop()
        stolen_at = loop.time()
        await until("a to stop leading", lambda: _not_leading(a), timeout_s=5)
        assert loop.time() - stolen_at < RETRY_S + RENEW_S + 0.5
        await asyncio.wait_for(a.task, 2)
        assert a.task.result() is None, "run returns when leadership is lost"
        spec = (await _lease(clients[2]))["spec"]
        assert spec["holderIdentity"] == "intruder", "a lease that is not ours is not released"
    finally:
        await a.stop()


async def _not_leading(c: Candidate) -> bool:
    return not c.elector.is_leader() and not c.acting


async def test_leader_cut_off_from_the_api_stops_before_the_other_takes_over(
        cluster: kubeconfig.ClusterConfig, clients: list[KubeClient]) -> None:
    url = urlsplit(cluster.server)
    proxy = Proxy(url.hostname or "127.0.0.1", url.port or 80)
    port = await proxy.start()
    proxied = KubeClient(dataclasses.replace(cluster, server=f"{url.scheme}://127.0.0.1:{port}"))
    a = Candidate(proxied, "a")
    b: Candidate | None = None
    try:
        await until("a to lead", _leader_of(a), timeout_s=5)
        b = Candidate(clients[1], "b")
        await _sample([a, b], 0.5)
        loop = asyncio.get_running_loop()
        proxy.cut = True
        cut_at = loop.time()
        sampling = asyncio.create_task(_sample([a, b], 4.0))
        await until("a to stop leading", lambda: _not_leading(a), timeout_s=5)
        assert loop.time() - cut_at < RETRY_S + RENEW_S + 0.5
        await until("b to lead", _leader_of(b), timeout_s=5)
        await sampling  # never both
        spec = (await _lease(clients[2]))["spec"]
        assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("b", 1)
    finally:
        await a.stop()
        if b is not None:
            await b.stop()
        await proxy.stop()
        await proxied.close()
