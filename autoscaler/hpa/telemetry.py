"""`kubescale hpa`'s own `/metrics`: kube-controller-manager's HPA series under their upstream names
(pkg/controller/podautoscaler/monitor) plus counters of ours for what can fail around a sync.

Upstream:
- `horizontal_pod_autoscaler_controller_reconciliations_total{action,error}` counter;
- `horizontal_pod_autoscaler_controller_reconciliation_duration_seconds{action,error}` histogram, buckets
  0.001 * 2^i for i < 15; `action` is scale_up, scale_down or none, `error` none, spec or internal.
Ours (`kubescale_hpa_*`): status writes and their failures, metrics API requests and failures, events written
and dropped, informer errors, and whether this replica leads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

BUCKETS = tuple(0.001 * 2 ** i for i in range(15))


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    total: int = 0
    sum_s: float = 0.0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(BUCKETS):
            if value <= bound:
                self.counts[i] += 1
        self.total += 1
        self.sum_s += value


class HPATelemetry(Collector):
    """Counters the controller bumps; `sources` are read at collection time (name → (help, kind, getter))."""

    def __init__(self) -> None:
        self.reconciliations: dict[tuple[str, str], _Histogram] = {}
        self.status_writes = 0
        self.status_write_failures = 0
        self.sources: dict[str, tuple[str, str, Callable[[], float]]] = {}

    def reconciled(self, *, action: str, error: str, duration_s: float) -> None:
        self.reconciliations.setdefault((action, error), _Histogram()).observe(duration_s)

    def add_source(self, name: str, help_text: str, getter: Callable[[], float], *, kind: str = "counter") -> None:
        self.sources[name] = (help_text, kind, getter)

    def collect(self) -> Iterator[Metric]:
        total = CounterMetricFamily("horizontal_pod_autoscaler_controller_reconciliations",
                                    "Number of reconciliations of HPA controller. The label 'action' should be "
                                    "either 'scale_down', 'scale_up', or 'none'. Also, the label 'error' should "
                                    "be either 'spec', 'internal', or 'none'. Note that if both spec and internal "
                                    "errors happen during a reconciliation, the first one to occur is reported in "
                                    "`error` label.", labels=("action", "error"))
        duration = HistogramMetricFamily("horizontal_pod_autoscaler_controller_reconciliation_duration_seconds",
                                         "The time(seconds) that the HPA controller takes to reconcile once.",
                                         labels=("action", "error"))
        for (action, error), h in sorted(self.reconciliations.items()):
            total.add_metric((action, error), h.total)
            buckets = [(str(b), c) for b, c in zip(BUCKETS, h.counts, strict=True)] + [("+Inf", h.total)]
            duration.add_metric((action, error), buckets, h.sum_s)
        yield total
        yield duration
        yield CounterMetricFamily("kubescale_hpa_status_writes", "HPA status updates written.",
                                  value=self.status_writes)
        yield CounterMetricFamily("kubescale_hpa_status_write_failures", "HPA status updates that failed.",
                                  value=self.status_write_failures)
        for name, (help_text, kind, getter) in sorted(self.sources.items()):
            family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            yield family(name, help_text, value=float(getter()))
