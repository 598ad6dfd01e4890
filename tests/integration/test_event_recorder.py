"""kubescale.events.EventRecorder writing to kubesim over HTTP: Events with client-go's fields, a repeat as a
count on the same Event, a rejected write not retried, and an unreachable server retried without blocking."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from kubescale import kubeconfig
from kubescale.events import EventRecorder
from kubescale.kubeclient import KubeClient
from kubesim.app import KubeSim
from tests.integration.conftest import until

HPA = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
       "metadata": {"name": "web", "namespace": "default", "uid": "u-1", "resourceVersion": "7"}}


async def _events(client: KubeClient) -> list[dict]:
    listed, _ = await client.list("/api/v1/namespaces/default/events")
    return listed


async def test_events_are_written_and_repeats_counted(inproc_sim: KubeSim, tmp_path: Path) -> None:
    client = KubeClient(kubeconfig.load(str(tmp_path / "kc"), environ={}))
    recorder = EventRecorder(client, component="horizontal-pod-autoscaler")
    await recorder.start()
    try:
        recorder.event(HPA, "Normal", "SuccessfulRescale", "New size: 3; reason: cpu above target")
        recorder.event(HPA, "Normal", "SuccessfulRescale", "New size: 3; reason: cpu above target")
        recorder.event(HPA, "Warning", "FailedGetScale", 'deployments.apps "web" not found')
        await recorder.flush()
        evs = {e["reason"]: e for e in await _events(client)}
        assert set(evs) == {"SuccessfulRescale", "FailedGetScale"}
        rescale = evs["SuccessfulRescale"]
        assert rescale["count"] == 2 and rescale["type"] == "Normal"
        assert rescale["involvedObject"] == {"kind": "HorizontalPodAutoscaler", "namespace": "default",
                                             "name": "web", "uid": "u-1", "apiVersion": "autoscaling/v2",
                                             "resourceVersion": "7"}
        assert rescale["source"] == {"component": "horizontal-pod-autoscaler"}
        assert rescale["metadata"]["name"].startswith("web.")
        assert evs["FailedGetScale"]["count"] == 1
        assert recorder.written == 3 and recorder.failed == 0
        # a rejected write is not retried and does not stop the writer
        inproc_sim.server.faults.set(write_error_rate=1.0)
        recorder.event(HPA, "Normal", "Other", "rejected")
        await recorder.flush()
        inproc_sim.server.faults.clear()
        assert recorder.failed == 1
        recorder.event(HPA, "Normal", "Later", "written")
        await recorder.flush()
        assert "Later" in {e["reason"] for e in await _events(client)}
    finally:
        await recorder.stop()
        await client.close()


async def test_an_unreachable_server_is_retried_without_blocking(inproc_sim: KubeSim, tmp_path: Path) -> None:
    cluster = kubeconfig.load(str(tmp_path / "kc"), environ={})
    dead = KubeClient(dataclasses.replace(cluster, server="http://127.0.0.1:9"))
    sleeps: list[float] = []

    async def no_wait(s: float) -> None:
        sleeps.append(s)

    recorder = EventRecorder(dead, component="test", sleep=no_wait, retry_sleep_s=0.0)
    await recorder.start()
    try:
        recorder.event(HPA, "Normal", "SuccessfulRescale", "New size: 3")  # returns at once
        await until("the retries given up", lambda: _failed(recorder))
        assert len(sleeps) == 11  # 12 tries
    finally:
        await recorder.stop()
        await dead.close()


async def _failed(recorder: EventRecorder) -> bool:
    return recorder.failed == 1
