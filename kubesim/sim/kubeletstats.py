"""One simulated node's cAdvisor: the series of its running containers, pods and of the node itself, sampled
from a `UsageSource` at most once per housekeeping interval (lazily, when a scrape asks), with the
counters the kernel would keep: a pod's and the node's CPU time only ever grow (they add what their
containers used, across container restarts and pod removals), a container's restarts from zero.

No I/O: the caller passes `now` and the pod objects; rendering is `kubesim.sim.kubeletmetrics`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubescale.quantity import bytes_of, cpu_millicores
from kubesim.sim import kubeletstatus
from kubesim.sim.kubeletmetrics import ContainerSeries, NodeSeries, PodSeries
from kubesim.sim.usage import UsageSource

Obj = dict[str, Any]


@dataclass(slots=True, eq=False)
class _Container:
    series: ContainerSeries
    usage_restarts: int | None = None  # the usage source's restart count when we last looked
    pod_seen: float = 0.0  # this container's CPU time already added to the pod's counter


@dataclass(slots=True, eq=False)
class _Pod:
    series: PodSeries
    obj: Obj
    containers: dict[str, _Container] = field(default_factory=dict)
    due: float = 0.0
    node_seen: float = 0.0  # the pod's CPU time already added to the node's counter


def _resources(container: Obj) -> tuple[float, float | None, int | None]:
    res = container.get("resources") or {}
    req, lim = res.get("requests") or {}, res.get("limits") or {}
    cpu_req = cpu_millicores(req["cpu"]) / 1000 if "cpu" in req else 0.0
    cpu_lim = cpu_millicores(lim["cpu"]) / 1000 if "cpu" in lim else None
    mem_lim = bytes_of(lim["memory"]) if "memory" in lim else None
    return cpu_req, cpu_lim, mem_lim


class NodeStats:
    """The sampled series of one node; `refresh(now, usage)` before rendering."""

    def __init__(self, node: NodeSeries, *, housekeeping_s: float, system_cpu_cores: float,
                 system_memory_bytes: int) -> None:
        self.node = node
        self.housekeeping_s = housekeeping_s
        self.system_cpu_cores = system_cpu_cores
        self.system_memory_bytes = system_memory_bytes
        self._pods: dict[str, _Pod] = {}
        self._node_due = 0.0
        self._orphaned_cpu = 0.0  # CPU time of removed pods not yet added to the node
        self._sorted: tuple[list[PodSeries], list[ContainerSeries]] | None = None

    # -- membership ------------------------------------------------------------------------------------------
    def add_pod(self, pod: Obj, *, sandbox_id: str, container_ids: Mapping[str, str],
                started: Mapping[str, float], start_time: float) -> None:
        """A pod whose containers are running (the ids and start times the kubelet gave them)."""
        meta = pod["metadata"]
        cgroup = kubeletstatus.pod_cgroup(pod)
        ps = PodSeries(namespace=meta["namespace"], name=meta["name"], uid=meta["uid"], cgroup=cgroup,
                       sandbox_id=sandbox_id, start_time=start_time)
        rec = _Pod(ps, pod)
        for c in (pod.get("spec") or {}).get("containers") or ():
            rec.containers[c["name"]] = _Container(self._series(pod, c, cgroup, container_ids[c["name"]],
                                                                started[c["name"]]))
        ps.containers = [c.series for c in rec.containers.values()]
        self._pods[meta["uid"]] = rec
        self._sorted = None

    def _series(self, pod: Obj, container: Obj, cgroup: str, container_id: str, started: float) -> ContainerSeries:
        cpu_req, cpu_lim, mem_lim = _resources(container)
        meta = pod["metadata"]
        return ContainerSeries(name=container["name"], namespace=meta["namespace"], pod=meta["name"],
                               image=kubeletstatus.normalized_image(container.get("image", "")),
                               container_id=container_id, cgroup=f"{cgroup}/cri-containerd-{container_id}.scope",
                               start_time=started, cpu_request_cores=cpu_req, cpu_limit_cores=cpu_lim,
                               memory_limit_bytes=mem_lim)

    def update_pod(self, pod: Obj) -> None:
        """The pod's latest object (what the usage source is asked about)."""
        rec = self._pods.get(pod["metadata"]["uid"])
        if rec is not None:
            rec.obj = pod

    def remove_pod(self, uid: str) -> None:
        rec = self._pods.pop(uid, None)
        if rec is not None:
            self._orphaned_cpu += max(0.0, rec.series.cpu_s - rec.node_seen)
            self._sorted = None

    def restart_container(self, uid: str, name: str, *, container_id: str, started: float, pod: Obj) -> None:
        """The kubelet started a new instance of the container: new id and start time, counter from zero."""
        rec = self._pods[uid]
        rec.obj = pod
        spec = next(c for c in pod["spec"]["containers"] if c["name"] == name)
        rec.containers[name] = _Container(self._series(pod, spec, rec.series.cgroup, container_id, started))
        rec.series.containers = [c.series for c in rec.containers.values()]
        rec.due = 0.0
        self._sorted = None

    def has_pod(self, uid: str) -> bool:
        return uid in self._pods

    # -- sampling --------------------------------------------------------------------------------------------
    def refresh(self, now: float, usage: UsageSource) -> None:
        """Sample every pod (and the node) whose last sample is older than the housekeeping interval."""
        for rec in self._pods.values():
            if now >= rec.due:
                self._sample_pod(rec, now, usage)
        if now >= self._node_due:
            self._sample_node(now)

    def _sample_pod(self, rec: _Pod, now: float, usage: UsageSource) -> None:
        rec.due = now + self.housekeeping_s
        pu = usage.pod_usage(rec.obj, now)
        if pu is None:
            return
        found = {cu.name: cu for cu in pu.containers}
        added, memory = 0.0, 0
        for name, c in rec.containers.items():
            cu = found.get(name)
            if cu is None:
                continue
            s = c.series
            if c.usage_restarts is not None and cu.restarts > c.usage_restarts:
                s.start_time = max(s.start_time, cu.start_time)  # the usage source restarted it: a new container
                s.t = 0.0
            c.usage_restarts = cu.restarts
            cpu = max(0.0, cu.cpu_seconds_total)
            since, before = (s.t, s.cpu_s) if s.t and cpu >= s.cpu_s else (s.start_time, 0.0)
            s.cpu_rate = (cpu - before) / (now - since) if now > since else 0.0
            s.cpu_s, s.memory_ws, s.t = cpu, cu.memory_working_set_bytes, now
            added += cpu - c.pod_seen if cpu >= c.pod_seen else cpu
            c.pod_seen = cpu
            memory += cu.memory_working_set_bytes
        ps = rec.series
        ps.cpu_rate = added / (now - ps.t) if ps.t and now > ps.t else sum(c.cpu_rate for c in ps.containers)
        ps.cpu_s += added
        ps.memory_ws, ps.t, ps.app_counters = memory, now, pu.app_counters

    def _sample_node(self, now: float) -> None:
        node = self.node
        self._node_due = now + self.housekeeping_s
        added, self._orphaned_cpu = self._orphaned_cpu, 0.0
        memory = self.system_memory_bytes
        for rec in self._pods.values():
            added += max(0.0, rec.series.cpu_s - rec.node_seen)
            rec.node_seen = rec.series.cpu_s
            memory += rec.series.memory_ws
        if node.t:
            dt = max(0.0, now - node.t)
            added += self.system_cpu_cores * dt
            node.cpu_rate = added / dt if dt else node.cpu_rate
        else:  # the kernel counted since boot
            added += self.system_cpu_cores * max(1.0, now - node.start_time)
            node.cpu_rate = self.system_cpu_cores
        node.cpu_s += added
        node.memory_ws, node.t = memory, now

    # -- views -----------------------------------------------------------------------------------------------
    def sorted_series(self) -> tuple[list[PodSeries], list[ContainerSeries]]:
        """Pods by (namespace, pod), containers by (container, namespace, pod): the order client_golang's
        Gather sorts samples in. Cached until membership changes."""
        if self._sorted is None:
            pods = sorted((r.series for r in self._pods.values()), key=lambda p: (p.namespace, p.name))
            containers = sorted((c.series for r in self._pods.values() for c in r.containers.values()),
                                key=lambda c: c.sort_key)
            self._sorted = (pods, containers)
        return self._sorted

    def app_series(self, now: float, usage: UsageSource) -> list[PodSeries]:
        """The pods with their application counters read now: an application serves its own live counters,
        not cAdvisor's housekeeping samples."""
        out = []
        for rec in self._pods.values():
            pu = usage.pod_usage(rec.obj, now)
            if pu is not None and pu.app_counters:
                rec.series.app_counters = pu.app_counters
                out.append(rec.series)
        return out

    def sampled(self) -> tuple[list[PodSeries], list[ContainerSeries]]:
        """The sorted series that have a sample."""
        pods, containers = self.sorted_series()
        return [p for p in pods if p.t], [c for c in containers if c.t]
