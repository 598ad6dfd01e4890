"""The text and JSON a simulated kubelet serves, byte for byte as a v1.35 kubelet on Linux prints them:
`/metrics/resource` (the resource metrics collector, STABLE/ALPHA annotated), `/metrics/cadvisor` (cAdvisor's
collector with the kubelet's `container, id, image, name, namespace, pod` labels), `/metrics/app` (the pods'
application counters) and `/stats/summary` (stats/v1alpha1 JSON).

Pure: renders series the caller keeps current (`kubesim.sim.kubeletstats`); no I/O, no clock. The series
classes are mutable on purpose: a scrape must not allocate one object per sample, so each container keeps
its label strings rendered once and its latest sample in place.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

CADVISOR_ROOT = "/"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
CFS_PERIOD_US = 100_000
# synthesized from CPU time: what a pod moves on the network and how its memory splits (documented, not measured)
RX_BYTES_PER_CPU_S, TX_BYTES_PER_CPU_S, BYTES_PER_PACKET = 2_000_000, 1_500_000, 1_000
CACHE_FRACTION, RSS_FRACTION = 0.2, 0.85


def go_float(v: float | int) -> str:
    """A float as Go's `strconv.FormatFloat(v, 'g', -1, 64)` writes it (Prometheus' expfmt): the shortest
    digits that round-trip, in %e form when the exponent is < -4 or >= 6 (`1.253376e+07`, `1e-05`)."""
    if -1e6 < v < 1e6:  # Python's repr agrees here (it switches to %e below 1e-4 too), but for a trailing ".0"
        if v == 0:
            return "0"
        if type(v) is int:
            return str(v)
        r = repr(v)
        return r[:-2] if r.endswith(".0") else r
    return _go_float_large(v)


@functools.lru_cache(maxsize=1 << 16)  # memory sizes and start times repeat from scrape to scrape
def _go_float_large(v: float) -> str:
    v = float(v)
    if v != v:
        return "NaN"
    if v in (math.inf, -math.inf):
        return "+Inf" if v > 0 else "-Inf"
    s = repr(v)
    neg = s[0] == "-"
    if neg:
        s = s[1:]
    mant, _, e = s.partition("e")
    ip, _, fp = mant.partition(".")
    digits = (ip + fp).rstrip("0")  # |v| >= 1e6: no leading zeros
    x = len(ip) - 1 + (int(e) if e else 0)  # the decimal exponent of the leading digit, >= 6
    m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{'-' if neg else ''}{m}e+{x:02d}"


def escape(value: str) -> str:
    """A label value escaped for the text format."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def labels(**values: str) -> str:
    """`a="x",b="y"` with names sorted, as client_golang orders a metric's label pairs."""
    return ",".join(f'{k}="{escape(values[k])}"' for k in sorted(values))


def rfc3339(ts: float) -> str:
    """metav1.Time's JSON form: second precision, UTC."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@functools.lru_cache(maxsize=1024)  # the pods of one refresh share their sample time
def _ms(ts: float) -> str:
    return str(int(ts * 1000))


# -- the series a kubelet keeps --------------------------------------------------------------------------------
@dataclass(slots=True, eq=False)
class ContainerSeries:
    """One running container: identity, limits, its latest sample, and its label strings rendered once."""

    name: str
    namespace: str
    pod: str
    image: str  # as the runtime reports it, e.g. docker.io/library/nginx:latest
    container_id: str  # 64 hex digits
    cgroup: str  # the cAdvisor id, e.g. /kubepods.slice/.../cri-containerd-<id>.scope
    start_time: float
    cpu_request_cores: float = 0.0
    cpu_limit_cores: float | None = None
    memory_limit_bytes: int | None = None
    t: float = 0.0  # when the sample below was taken; 0 = none yet
    cpu_s: float = 0.0
    memory_ws: int = 0
    cpu_rate: float = 0.0  # cores, between the last two samples
    res_labels: str = field(init=False)

    def __post_init__(self) -> None:
        self.res_labels = labels(container=self.name, namespace=self.namespace, pod=self.pod)

    def cadvisor_labels(self) -> str:  # rendered per cadvisor scrape: not worth its memory at 150,000 pods
        return labels(container=self.name, id=self.cgroup, image=self.image, name=self.container_id,
                      namespace=self.namespace, pod=self.pod)

    @property
    def sort_key(self) -> tuple[str, str, str]:
        return (self.name, self.namespace, self.pod)


@dataclass(slots=True, eq=False)
class PodSeries:
    """One pod's cgroup (all its containers, surviving their restarts) and its sandbox."""

    namespace: str
    name: str
    uid: str
    cgroup: str
    sandbox_id: str
    start_time: float
    containers: list[ContainerSeries] = field(default_factory=list)
    t: float = 0.0
    cpu_s: float = 0.0  # cumulative over container restarts, like the pod cgroup's counter
    memory_ws: int = 0
    cpu_rate: float = 0.0
    app_counters: tuple[tuple[str, float], ...] = ()
    res_labels: str = field(init=False)

    def __post_init__(self) -> None:
        self.res_labels = labels(namespace=self.namespace, pod=self.name)

    def cadvisor_labels(self) -> str:
        return labels(container="", id=self.cgroup, image="", name="", namespace=self.namespace, pod=self.name)

    def sandbox_labels(self) -> str:
        return labels(container="", id=f"{self.cgroup}/cri-containerd-{self.sandbox_id}.scope", image=PAUSE_IMAGE,
                      name=self.sandbox_id, namespace=self.namespace, pod=self.name)

    @property
    def memory_limit_bytes(self) -> int | None:
        limits = [c.memory_limit_bytes for c in self.containers]
        return None if not limits or None in limits else sum(x for x in limits if x is not None)


@dataclass(slots=True, eq=False)
class NodeSeries:
    """The node (the root cgroup) and the machine facts cAdvisor reports."""

    name: str
    cores: int
    memory_capacity_bytes: int
    start_time: float
    machine_id: str
    system_uuid: str
    boot_id: str
    kernel_version: str = "6.1.0-kubesim-amd64"
    os_image: str = "Debian GNU/Linux 12 (bookworm)"
    t: float = 0.0
    cpu_s: float = 0.0
    memory_ws: int = 0
    cpu_rate: float = 0.0
    root_labels: str = field(init=False)

    def __post_init__(self) -> None:
        self.root_labels = labels(container="", id=CADVISOR_ROOT, image="", name="", namespace="", pod="")


# -- /metrics/resource -----------------------------------------------------------------------------------------
def _family(name: str, typ: str, help_text: str) -> str:
    return f"# HELP {name} {help_text}\n# TYPE {name} {typ}\n"


_STABLE, _ALPHA = "[STABLE] ", "[ALPHA] "
_NO_WINDOWS = ". Reported only on non-windows systems"
_RES_HEAD = {key: _family(name, typ, help_text) for key, name, typ, help_text in (
    ("ccpu", "container_cpu_usage_seconds_total", "counter",
     _STABLE + "Cumulative cpu time consumed by the container in core-seconds"),
    ("cmem", "container_memory_working_set_bytes", "gauge", _STABLE + "Current working set of the container in bytes"),
    ("cstart", "container_start_time_seconds", "gauge",
     _STABLE + "Start time of the container since unix epoch in seconds"),
    ("cswap", "container_swap_usage_bytes", "gauge",
     _ALPHA + "Current amount of the container swap usage in bytes" + _NO_WINDOWS),
    ("ncpu", "node_cpu_usage_seconds_total", "counter",
     _STABLE + "Cumulative cpu time consumed by the node in core-seconds"),
    ("nmem", "node_memory_working_set_bytes", "gauge", _STABLE + "Current working set of the node in bytes"),
    ("nswap", "node_swap_usage_bytes", "gauge", _ALPHA + "Current swap usage of the node in bytes" + _NO_WINDOWS),
    ("pcpu", "pod_cpu_usage_seconds_total", "counter",
     _STABLE + "Cumulative cpu time consumed by the pod in core-seconds"),
    ("pmem", "pod_memory_working_set_bytes", "gauge", _STABLE + "Current working set of the pod in bytes"),
    ("pswap", "pod_swap_usage_bytes", "gauge", _ALPHA + "Current amount of the pod swap usage in bytes" + _NO_WINDOWS),
    ("err", "resource_scrape_error", "gauge",
     _STABLE + "1 if there was an error while getting container metrics, 0 otherwise"),
)}


def render_resource(node: NodeSeries | None, pods: Sequence[PodSeries], containers: Sequence[ContainerSeries], *,
                    cpu_factor: float = 1.0, swap: bool = True) -> str:
    """`/metrics/resource`: families in name order, samples in label order (client_golang's Gather), each
    CPU/memory sample with its own millisecond timestamp; `container_start_time_seconds` carries none.

    `containers` sorted by (container, namespace, pod) and `pods` by (namespace, pod), samples taken (t > 0);
    `node` None when the node has no sample yet. `cpu_factor` scales the counters (a fault: counters going
    backwards). Hidden since v1.30: the deprecated `scrape_error`.
    """
    out: list[str] = []
    add = out.append
    if containers:
        add(_RES_HEAD["ccpu"])
        for c in containers:
            add(f"container_cpu_usage_seconds_total{{{c.res_labels}}} {go_float(c.cpu_s * cpu_factor)} {_ms(c.t)}\n")
        add(_RES_HEAD["cmem"])
        for c in containers:
            add(f"container_memory_working_set_bytes{{{c.res_labels}}} {go_float(c.memory_ws)} {_ms(c.t)}\n")
        add(_RES_HEAD["cstart"])
        for c in containers:
            add(f"container_start_time_seconds{{{c.res_labels}}} {go_float(c.start_time)}\n")
        if swap:
            add(_RES_HEAD["cswap"])
            for c in containers:
                add(f"container_swap_usage_bytes{{{c.res_labels}}} 0 {_ms(c.t)}\n")
    if node is not None and node.t:
        ts = _ms(node.t)
        add(f"{_RES_HEAD['ncpu']}node_cpu_usage_seconds_total {go_float(node.cpu_s * cpu_factor)} {ts}\n")
        add(f"{_RES_HEAD['nmem']}node_memory_working_set_bytes {go_float(node.memory_ws)} {ts}\n")
        if swap:
            add(f"{_RES_HEAD['nswap']}node_swap_usage_bytes 0 {ts}\n")
    if pods:
        add(_RES_HEAD["pcpu"])
        for p in pods:
            add(f"pod_cpu_usage_seconds_total{{{p.res_labels}}} {go_float(p.cpu_s * cpu_factor)} {_ms(p.t)}\n")
        add(_RES_HEAD["pmem"])
        for p in pods:
            add(f"pod_memory_working_set_bytes{{{p.res_labels}}} {go_float(p.memory_ws)} {_ms(p.t)}\n")
        if swap:
            add(_RES_HEAD["pswap"])
            for p in pods:
                add(f"pod_swap_usage_bytes{{{p.res_labels}}} 0 {_ms(p.t)}\n")
    add(_RES_HEAD["err"])
    add("resource_scrape_error 0\n")
    return "".join(out)


# -- /metrics/cadvisor -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Row:
    """One cgroup as cAdvisor reports it, with the values of the families it carries (None = absent)."""

    key: tuple[str, ...]
    labels: str
    t_ms: str
    values: dict[str, float]
    spec: dict[str, float]
    start_time: float


# name, type, help, extra labels (rendered), timestamped
_CADVISOR_FAMILIES: tuple[tuple[str, str, str, str], ...] = (
    ("container_cpu_cfs_periods_total", "counter", "Number of elapsed enforcement period intervals.", ""),
    ("container_cpu_cfs_throttled_periods_total", "counter", "Number of throttled period intervals.", ""),
    ("container_cpu_cfs_throttled_seconds_total", "counter", "Total time duration the container has been throttled.",
     ""),
    ("container_cpu_system_seconds_total", "counter", "Cumulative system cpu time consumed in seconds.", ""),
    ("container_cpu_usage_seconds_total", "counter", "Cumulative cpu time consumed in seconds.", 'cpu="total"'),
    ("container_cpu_user_seconds_total", "counter", "Cumulative user cpu time consumed in seconds.", ""),
    ("container_last_seen", "gauge", "Last time a container was seen by the exporter", ""),
    ("container_memory_cache", "gauge", "Number of bytes of page cache memory.", ""),
    ("container_memory_rss", "gauge", "Size of RSS in bytes.", ""),
    ("container_memory_swap", "gauge", "Container swap usage in bytes.", ""),
    ("container_memory_usage_bytes", "gauge",
     "Current memory usage in bytes, including all memory regardless of when it was accessed", ""),
    ("container_memory_working_set_bytes", "gauge", "Current working set in bytes.", ""),
    ("container_network_receive_bytes_total", "counter", "Cumulative count of bytes received", 'interface="eth0"'),
    ("container_network_receive_errors_total", "counter", "Cumulative count of errors encountered while receiving",
     'interface="eth0"'),
    ("container_network_receive_packets_dropped_total", "counter",
     "Cumulative count of packets dropped while receiving", 'interface="eth0"'),
    ("container_network_receive_packets_total", "counter", "Cumulative count of packets received", 'interface="eth0"'),
    ("container_network_transmit_bytes_total", "counter", "Cumulative count of bytes transmitted", 'interface="eth0"'),
    ("container_network_transmit_errors_total", "counter",
     "Cumulative count of errors encountered while transmitting", 'interface="eth0"'),
    ("container_network_transmit_packets_dropped_total", "counter",
     "Cumulative count of packets dropped while transmitting", 'interface="eth0"'),
    ("container_network_transmit_packets_total", "counter", "Cumulative count of packets transmitted",
     'interface="eth0"'),
)
_SPEC_FAMILIES: tuple[tuple[str, str], ...] = (
    ("container_spec_cpu_period", "CPU period of the container."),
    ("container_spec_cpu_quota", "CPU quota of the container."),
    ("container_spec_cpu_shares", "CPU share of the container."),
    ("container_spec_memory_limit_bytes", "Memory limit for the container."),
    ("container_spec_memory_reservation_limit_bytes", "Memory reservation limit for the container."),
    ("container_spec_memory_swap_limit_bytes", "Memory swap limit for the container."),
)


@functools.lru_cache(maxsize=1 << 14)
def _with_extra(row_labels: str, extra: str) -> str:
    """Insert a family's extra label in name order into a row's sorted label string."""
    if not extra:
        return row_labels
    name = extra.split("=", 1)[0]
    parts = row_labels.split(",")
    at = next((i for i, p in enumerate(parts) if p.split("=", 1)[0] > name), len(parts))
    return ",".join([*parts[:at], extra, *parts[at:]])


def _usage_values(cpu_s: float, memory_ws: int, *, network_cpu_s: float | None, quota_cores: float | None,
                  uptime_s: float) -> dict[str, float]:
    v: dict[str, float] = {
        "container_cpu_system_seconds_total": cpu_s * 0.1,
        "container_cpu_usage_seconds_total": cpu_s,
        "container_cpu_user_seconds_total": cpu_s * 0.9,
        "container_memory_cache": int(memory_ws * CACHE_FRACTION),
        "container_memory_rss": int(memory_ws * RSS_FRACTION),
        "container_memory_swap": 0,
        "container_memory_usage_bytes": memory_ws + int(memory_ws * CACHE_FRACTION),
        "container_memory_working_set_bytes": memory_ws,
    }
    if quota_cores is not None:
        v["container_cpu_cfs_periods_total"] = int(max(uptime_s, 0.0) * 10)
        v["container_cpu_cfs_throttled_periods_total"] = 0
        v["container_cpu_cfs_throttled_seconds_total"] = 0
    if network_cpu_s is not None:
        v.update(_network_values(network_cpu_s))
    return v


def _network_values(cpu_s: float) -> dict[str, float]:
    rx, tx = int(cpu_s * RX_BYTES_PER_CPU_S), int(cpu_s * TX_BYTES_PER_CPU_S)
    return {
        "container_network_receive_bytes_total": rx,
        "container_network_receive_errors_total": 0,
        "container_network_receive_packets_dropped_total": 0,
        "container_network_receive_packets_total": rx // BYTES_PER_PACKET,
        "container_network_transmit_bytes_total": tx,
        "container_network_transmit_errors_total": 0,
        "container_network_transmit_packets_dropped_total": 0,
        "container_network_transmit_packets_total": tx // BYTES_PER_PACKET,
    }


def _spec(cpu_request: float, cpu_limit: float | None, memory_limit: int | None) -> dict[str, float]:
    spec = {"container_spec_cpu_period": CFS_PERIOD_US,
            "container_spec_cpu_shares": max(2, int(cpu_request * 1024)),
            "container_spec_memory_limit_bytes": memory_limit or 0,
            "container_spec_memory_reservation_limit_bytes": 0,
            "container_spec_memory_swap_limit_bytes": 0}
    if cpu_limit is not None:
        spec["container_spec_cpu_quota"] = int(cpu_limit * CFS_PERIOD_US)
    return spec


def cadvisor_rows(node: NodeSeries, pods: Iterable[PodSeries], *, cpu_factor: float = 1.0) -> list[_Row]:
    """Every cgroup the kubelet's cAdvisor reports (root, pod, sandbox, container) in label order."""
    rows = [_Row(("", CADVISOR_ROOT), node.root_labels, _ms(node.t),
                 _usage_values(node.cpu_s * cpu_factor, node.memory_ws, network_cpu_s=node.cpu_s, quota_cores=None,
                               uptime_s=0),
                 _spec(node.cores, None, None), node.start_time)]
    for p in pods:
        if not p.t:
            continue
        ts = _ms(p.t)
        req = sum(c.cpu_request_cores for c in p.containers)
        rows.append(_Row(("", p.cgroup), p.cadvisor_labels(), ts,
                         _usage_values(p.cpu_s * cpu_factor, p.memory_ws, network_cpu_s=None, quota_cores=None,
                                       uptime_s=0),
                         _spec(req, None, p.memory_limit_bytes), p.start_time))
        rows.append(_Row(("", f"{p.cgroup}/cri-containerd-{p.sandbox_id}.scope"), p.sandbox_labels(), ts,
                         _network_values(p.cpu_s), _spec(0.002, None, None), p.start_time))
        for c in p.containers:
            if not c.t:
                continue
            rows.append(_Row((c.name, c.cgroup), c.cadvisor_labels(), _ms(c.t),
                             _usage_values(c.cpu_s * cpu_factor, c.memory_ws, network_cpu_s=None,
                                           quota_cores=c.cpu_limit_cores, uptime_s=c.t - c.start_time),
                             _spec(c.cpu_request_cores, c.cpu_limit_cores, c.memory_limit_bytes), c.start_time))
    rows.sort(key=lambda r: r.key)
    return rows


def render_cadvisor(node: NodeSeries, pods: Iterable[PodSeries], *, now: float, cpu_factor: float = 1.0) -> str:
    """`/metrics/cadvisor`: cAdvisor's families (plain help, no stability marker: registered raw), samples
    timestamped with their cgroup's sample time except spec, start time and machine facts."""
    rows = cadvisor_rows(node, pods, cpu_factor=cpu_factor)
    out: list[str] = []
    add = out.append
    add("# HELP cadvisor_version_info A metric with a constant '1' value labeled by kernel version, OS version, "
        "docker version, cadvisor version & cadvisor revision.\n# TYPE cadvisor_version_info gauge\n")
    add(f'cadvisor_version_info{{cadvisorRevision="",cadvisorVersion="",dockerVersion="",'
        f'kernelVersion="{escape(node.kernel_version)}",osVersion="{escape(node.os_image)}"}} 1\n')
    now_ms, now_s = _ms(now), go_float(float(int(now)))
    for name, typ, help_text, extra in _CADVISOR_FAMILIES[:6]:
        _emit_family(add, rows, name, typ, help_text, extra)
    add(_family("container_last_seen", "gauge", "Last time a container was seen by the exporter"))
    for r in rows:
        add(f"container_last_seen{{{r.labels}}} {now_s} {now_ms}\n")
    for name, typ, help_text, extra in _CADVISOR_FAMILIES[7:]:
        _emit_family(add, rows, name, typ, help_text, extra)
    add("# HELP container_scrape_error 1 if there was an error while getting container metrics, 0 otherwise\n"
        "# TYPE container_scrape_error gauge\ncontainer_scrape_error 0\n")
    for name, help_text in _SPEC_FAMILIES:
        present = [r for r in rows if name in r.spec]
        if present:
            add(_family(name, "gauge", help_text))
            out.extend(f"{name}{{{r.labels}}} {go_float(r.spec[name])}\n" for r in present)
    add(_family("container_start_time_seconds", "gauge", "Start time of the container since unix epoch in seconds."))
    out.extend(f"container_start_time_seconds{{{r.labels}}} {go_float(float(int(r.start_time)))}\n" for r in rows)
    machine = labels(boot_id=node.boot_id, machine_id=node.machine_id, system_uuid=node.system_uuid)
    for name, help_text, value in (
        ("machine_cpu_cores", "Number of logical CPU cores.", node.cores),
        ("machine_cpu_physical_cores", "Number of physical CPU cores.", max(1, node.cores // 2)),
        ("machine_cpu_sockets", "Number of CPU sockets.", 1),
        ("machine_memory_bytes", "Amount of memory installed on the machine.", node.memory_capacity_bytes),
    ):
        add(f"{_family(name, 'gauge', help_text)}{name}{{{machine}}} {go_float(value)}\n")
    add("# HELP machine_scrape_error 1 if there was an error while getting machine metrics, 0 otherwise.\n"
        "# TYPE machine_scrape_error gauge\nmachine_scrape_error 0\n")
    return "".join(out)


def _emit_family(add: Any, rows: Sequence[_Row], name: str, typ: str, help_text: str, extra: str) -> None:
    present = [r for r in rows if name in r.values]
    if not present:
        return
    add(_family(name, typ, help_text))
    for r in present:
        add(f"{name}{{{_with_extra(r.labels, extra)}}} {go_float(r.values[name])} {r.t_ms}\n")


# -- /metrics/app ----------------------------------------------------------------------------------------------
def render_app(pods: Iterable[PodSeries]) -> str:
    """Each pod's application counters, one counter family per name, `{namespace, pod}` labelled and without
    timestamps (as an application's own client library serves them)."""
    families: dict[str, list[tuple[tuple[str, str], str]]] = {}
    for p in pods:
        for name, value in p.app_counters:
            line = f"{name}{{{p.res_labels}}} {go_float(value)}\n"
            families.setdefault(name, []).append(((p.namespace, p.name), line))
    out: list[str] = []
    for name in sorted(families):
        out.append(f"# TYPE {name} counter\n")
        out.extend(line for _key, line in sorted(families[name]))
    return "".join(out)


# -- /stats/summary --------------------------------------------------------------------------------------------
def _cpu(t: float, rate: float, cpu_s: float) -> dict[str, Any]:
    return {"time": rfc3339(t), "usageNanoCores": int(rate * 1e9), "usageCoreNanoSeconds": int(cpu_s * 1e9)}


def _memory(t: float, ws: int, limit: int | None) -> dict[str, Any]:
    mem: dict[str, Any] = {"time": rfc3339(t)}
    if limit is not None:
        mem["availableBytes"] = max(0, limit - ws)
    mem.update(usageBytes=ws + int(ws * CACHE_FRACTION), workingSetBytes=ws, rssBytes=int(ws * RSS_FRACTION),
               pageFaults=0, majorPageFaults=0)
    return mem


def _network(t: float, cpu_s: float) -> dict[str, Any]:
    iface = {"name": "eth0", "rxBytes": int(cpu_s * RX_BYTES_PER_CPU_S), "rxErrors": 0,
             "txBytes": int(cpu_s * TX_BYTES_PER_CPU_S), "txErrors": 0}
    return {"time": rfc3339(t), **iface, "interfaces": [iface]}


def summary(node: NodeSeries, pods: Iterable[PodSeries], *, only_cpu_and_memory: bool = False,
            cpu_factor: float = 1.0) -> dict[str, Any]:
    """The stats/v1alpha1 Summary (`?only_cpu_and_memory=true` leaves out network and filesystems)."""
    full = not only_cpu_and_memory
    n: dict[str, Any] = {"nodeName": node.name, "startTime": rfc3339(node.start_time)}
    if full:
        n["systemContainers"] = [
            {"name": "kubelet", "startTime": rfc3339(node.start_time), "cpu": _cpu(node.t, 0.02, node.cpu_s * 0.01),
             "memory": _memory(node.t, 64 << 20, None)},
            {"name": "runtime", "startTime": rfc3339(node.start_time), "cpu": _cpu(node.t, 0.01, node.cpu_s * 0.005),
             "memory": _memory(node.t, 48 << 20, None)},
        ]
    n["cpu"] = _cpu(node.t, node.cpu_rate, node.cpu_s * cpu_factor)
    n["memory"] = _memory(node.t, node.memory_ws, node.memory_capacity_bytes)
    if full:
        n["network"] = _network(node.t, node.cpu_s)
        n["fs"] = {"time": rfc3339(node.t), "availableBytes": 80 << 30, "capacityBytes": 100 << 30,
                   "usedBytes": 20 << 30, "inodesFree": 6_000_000, "inodes": 6_553_600, "inodesUsed": 553_600}
        n["runtime"] = {"imageFs": {"time": rfc3339(node.t), "availableBytes": 80 << 30,
                                    "capacityBytes": 100 << 30, "usedBytes": 5 << 30}}
        n["rlimit"] = {"time": rfc3339(node.t), "maxpid": 4_194_304, "curproc": 300}
        n["swap"] = {"time": rfc3339(node.t), "swapUsageBytes": 0}
    out_pods = []
    for p in pods:
        if not p.t:
            continue
        containers = []
        for c in p.containers:
            if not c.t:
                continue
            cs: dict[str, Any] = {"name": c.name, "startTime": rfc3339(c.start_time),
                                  "cpu": _cpu(c.t, c.cpu_rate, c.cpu_s * cpu_factor),
                                  "memory": _memory(c.t, c.memory_ws, c.memory_limit_bytes)}
            if full:
                cs["rootfs"] = {"time": rfc3339(c.t), "availableBytes": 80 << 30, "capacityBytes": 100 << 30,
                                "usedBytes": 40_960, "inodesFree": 6_000_000, "inodes": 6_553_600, "inodesUsed": 12}
                cs["logs"] = {"time": rfc3339(c.t), "availableBytes": 80 << 30, "capacityBytes": 100 << 30,
                              "usedBytes": 16_384, "inodesFree": 6_000_000, "inodes": 6_553_600, "inodesUsed": 2}
                cs["swap"] = {"time": rfc3339(c.t), "swapUsageBytes": 0}
            containers.append(cs)
        ps: dict[str, Any] = {"podRef": {"name": p.name, "namespace": p.namespace, "uid": p.uid},
                              "startTime": rfc3339(p.start_time), "containers": containers,
                              "cpu": _cpu(p.t, p.cpu_rate, p.cpu_s * cpu_factor),
                              "memory": _memory(p.t, p.memory_ws, p.memory_limit_bytes)}
        if full:
            ps["network"] = _network(p.t, p.cpu_s)
            ps["ephemeral-storage"] = {"time": rfc3339(p.t), "availableBytes": 80 << 30, "capacityBytes": 100 << 30,
                                       "usedBytes": 57_344 * max(1, len(containers)), "inodesFree": 6_000_000,
                                       "inodes": 6_553_600, "inodesUsed": 14 * max(1, len(containers))}
            ps["process_stats"] = {"process_count": len(containers)}
            ps["swap"] = {"time": rfc3339(p.t), "swapUsageBytes": 0}
        out_pods.append(ps)
    return {"node": n, "pods": out_pods}
