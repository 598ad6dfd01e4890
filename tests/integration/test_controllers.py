"""kubesim's workload controllers behind a running kubesim, driven by the machine's real kubectl: a Deployment
scaled through the scale subresource converges to Running, Ready pods with the status kubectl reads
(`kubectl rollout status` agrees), a rolling update replaces every pod, and deleting the Deployment removes
its ReplicaSets and Pods. Readiness is what a kubelet would report, patched in-process by the test."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from kubesim.app import KubeSim
from kubesim.sim import workloads_decide as wd
from kubesim.sim.controllers import Controllers
from tests.integration.conftest import until

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")]

Obj = dict[str, Any]
MERGE = "application/merge-patch+json"


class Harness:
    def __init__(self, sim: KubeSim, workdir: Path) -> None:
        self.sim = sim
        self.workdir = workdir
        self.kubeconfig = str(workdir / "kc")

    async def kubectl(self, *args: str, timeout_s: float = 60) -> str:
        """Run kubectl without blocking the loop kubesim serves on."""
        proc = await asyncio.create_subprocess_exec(
            "kubectl", "--kubeconfig", self.kubeconfig, *args, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "HOME": str(self.workdir), "KUBECACHEDIR": str(self.workdir / "cache")})
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
        except TimeoutError:
            proc.kill()
            raise
        if proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{out.decode()}{err.decode()}")
        return out.decode()

    async def json(self, *args: str) -> Obj:
        return json.loads(await self.kubectl(*args, "-o", "json"))

    def objects(self, group: str, resource: str) -> list[Obj]:
        rt = self.sim.api.registry.get(group, resource)
        assert rt is not None
        return [e.obj for e in self.sim.api.list(rt, "default").entries]

    def mark_ready(self) -> int:
        """What a kubelet reports once a pod's container runs: phase Running, Ready, a ready container."""
        rt = self.sim.api.registry.get("", "pods")
        assert rt is not None
        done = 0
        for pod in self.objects("", "pods"):
            if wd.is_ready(pod) or pod["metadata"].get("deletionTimestamp"):
                continue
            now = wd.rfc3339(self.sim.api.clock())
            containers = [{"name": c["name"], "image": c["image"], "ready": True, "restartCount": 0, "started": True,
                           "state": {"running": {"startedAt": now}}} for c in pod["spec"]["containers"]]
            status = {"phase": "Running", "startTime": now, "containerStatuses": containers, "conditions": [
                {"type": t, "status": "True", "lastTransitionTime": now}
                for t in ("Initialized", "ContainersReady", "Ready")]}
            self.sim.api.patch(rt, "default", pod["metadata"]["name"], json.dumps({"status": status}).encode(),
                               MERGE, subresource="status")
            done += 1
        return done


@pytest.fixture
async def harness(inproc_sim: KubeSim, tmp_path: Path) -> AsyncIterator[Harness]:
    controllers = Controllers(inproc_sim.api, clock=inproc_sim.api.clock, seed=42)
    await controllers.start()
    try:
        yield Harness(inproc_sim, tmp_path)
    finally:
        await controllers.stop()


@contextlib.asynccontextmanager
async def kubelet(h: Harness) -> AsyncIterator[None]:
    """Pods become Running and Ready shortly after they appear, as a fast kubelet would make them."""
    async def run() -> None:
        while True:
            h.mark_ready()
            await asyncio.sleep(0.1)

    task = asyncio.get_running_loop().create_task(run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_deployment_scale_rollout_and_deletion_through_kubectl(harness: Harness) -> None:
    h = harness
    await h.kubectl("create", "deployment", "web", "--image=nginx:1.27", "--replicas=3")

    async def pods() -> list[Obj]:
        return [p for p in (await h.json("get", "pods", "-l", "app=web"))["items"]
                if not p["metadata"].get("deletionTimestamp")]

    created = await until("3 pods", lambda: _len_is(pods, 3))
    (rs,) = h.objects("apps", "replicasets")
    pod_hash = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{pod_hash}"
    for p in created:
        assert p["metadata"]["name"].startswith(f"web-{pod_hash}-") and len(p["metadata"]["name"]) == len(
            f"web-{pod_hash}-") + 5
        assert p["metadata"]["labels"] == {"app": "web", "pod-template-hash": pod_hash}
        (ref,) = p["metadata"]["ownerReferences"]
        assert ref == {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs["metadata"]["name"],
                       "uid": rs["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}

    # scale through the scale subresource, then let a "kubelet" make the pods Ready
    await h.kubectl("scale", "deployment", "web", "--replicas=5")
    await until("5 pods", lambda: _len_is(pods, 5))
    h.mark_ready()

    async def converged() -> Obj | None:
        d = await h.json("get", "deployment", "web")
        s = d["status"]
        want = (5, 5, 5, 5, d["metadata"]["generation"])
        got = (s.get("replicas"), s.get("readyReplicas"), s.get("availableReplicas"), s.get("updatedReplicas"),
               s.get("observedGeneration"))
        return d if got == want and "unavailableReplicas" not in s else None

    d = await until("deployment status 5/5", converged)
    conditions = {c["type"]: (c["status"], c["reason"]) for c in d["status"]["conditions"]}
    assert conditions == {"Available": ("True", "MinimumReplicasAvailable"),
                          "Progressing": ("True", "NewReplicaSetAvailable")}
    scale = json.loads(await h.kubectl("get", "--raw", "/apis/apps/v1/namespaces/default/deployments/web/scale"))
    assert scale["spec"]["replicas"] == 5 and scale["status"] == {"replicas": 5, "selector": "app=web"}
    assert "successfully rolled out" in await h.kubectl("rollout", "status", "deployment/web", "--timeout=20s")

    table = await h.kubectl("get", "deploy,rs,pods", "-l", "app=web")
    lines = [line.split() for line in table.splitlines() if line.strip()]
    assert ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"] in lines
    assert next(r for r in lines if r[0] == "deployment.apps/web")[:4] == ["deployment.apps/web", "5/5", "5", "5"]
    assert ["NAME", "DESIRED", "CURRENT", "READY", "AGE"] in lines
    rs_row = next(r for r in lines if r[0] == f"replicaset.apps/web-{pod_hash}")
    assert rs_row[1:4] == ["5", "5", "5"]
    pod_rows = [r for r in lines if r[0].startswith("pod/")]
    assert len(pod_rows) == 5 and all(r[1:4] == ["1/1", "Running", "0"] for r in pod_rows)

    described = await h.kubectl("describe", "deployment", "web")
    assert f"NewReplicaSet:   web-{pod_hash} (5/5 replicas created)" in described
    assert f"Scaled up replica set web-{pod_hash} from 0 to 3" in described
    assert f"Scaled up replica set web-{pod_hash} from 3 to 5" in described

    # a rolling update replaces every pod
    old_names = {p["metadata"]["name"] for p in await pods()}
    async with kubelet(h):
        await h.kubectl("set", "image", "deployment/web", "nginx=nginx:1.28")
        assert "successfully rolled out" in await h.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    new_pods = await pods()
    assert len(new_pods) == 5 and not {p["metadata"]["name"] for p in new_pods} & old_names
    assert {c["image"] for p in new_pods for c in p["spec"]["containers"]} == {"nginx:1.28"}
    revision = "deployment.kubernetes.io/revision"
    rss = {r["metadata"]["annotations"][revision]: r for r in h.objects("apps", "replicasets")}
    assert (rss["1"]["spec"]["replicas"], rss["2"]["spec"]["replicas"]) == (0, 5)
    history = await h.kubectl("rollout", "history", "deployment/web")
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
    events = await h.kubectl("get", "events", "--field-selector", "involvedObject.kind=Deployment")
    assert f"Scaled down replica set web-{pod_hash} from" in events

    # kubectl rollout undo brings the first template back: the first ReplicaSet becomes revision 3
    async with kubelet(h):
        await h.kubectl("rollout", "undo", "deployment/web")
        assert "successfully rolled out" in await h.kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    first = next(r for r in h.objects("apps", "replicasets") if r["metadata"]["name"] == f"web-{pod_hash}")
    assert first["spec"]["replicas"] == 5
    assert first["metadata"]["annotations"][revision] == "3"
    assert first["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    assert {c["image"] for p in await pods() for c in p["spec"]["containers"]} == {"nginx:1.27"}

    # deleting the Deployment (background propagation) takes its ReplicaSets and Pods with it
    await h.kubectl("delete", "deployment", "web")

    async def gone() -> bool:
        return not h.objects("apps", "replicasets") and not h.objects("", "pods")

    await until("replica sets and pods collected", gone)
    assert not (await h.kubectl("get", "rs,pods", "-l", "app=web")).strip()  # "No resources found" is on stderr


async def _len_is(fetch: Callable[[], Awaitable[list[Obj]]], n: int) -> list[Obj] | None:
    items = await fetch()
    return items if len(items) == n else None
