"""What a simulated kubelet reports about its pods: the plain data between the workload load model (which
decides usage) and the kubelet (which serves it in the kubelet's formats). Pure; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class ContainerUsage:
    name: str
    cpu_seconds_total: float  # cumulative since the container (re)started; restarts from 0
    memory_working_set_bytes: int
    start_time: float  # unix seconds of the current container's start
    restarts: int = 0


@dataclass(frozen=True, slots=True)
class PodUsage:
    containers: tuple[ContainerUsage, ...]
    # the application metrics the pod serves for Prometheus at /metrics/app (name -> cumulative value)
    app_counters: tuple[tuple[str, float], ...] = ()


class UsageSource(Protocol):
    """Where kubelets read usage from. `now` is unix seconds; None means the pod has no usage (yet)."""

    def pod_usage(self, pod: dict[str, Any], now: float) -> PodUsage | None: ...
