"""Faults kubesim's API server can inject into client traffic: write conflicts and server errors at a rate,
and dropped watch streams. Tests and scenarios use them to prove that clients retry and recover.

Pure decisions over a seeded random source; the HTTP front applies them. In-process simulation layers are
never subjected to them (they model the control plane, not its clients).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from kubesim import errors

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class ApiFaults:
    """Current fault rates (0..1) for client requests; all zero means a healthy API server."""

    write_conflict_rate: float = 0.0
    write_error_rate: float = 0.0
    request_error_rate: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    injected: dict[str, int] = field(default_factory=dict)

    def set(self, *, write_conflict_rate: float | None = None, write_error_rate: float | None = None,
            request_error_rate: float | None = None) -> None:
        for name, value in (("write_conflict_rate", write_conflict_rate), ("write_error_rate", write_error_rate),
                            ("request_error_rate", request_error_rate)):
            if value is None:
                continue
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: must be between 0 and 1, got {value}")
            setattr(self, name, value)

    def clear(self) -> None:
        self.set(write_conflict_rate=0.0, write_error_rate=0.0, request_error_rate=0.0)

    def decide(self, *, method: str, resource: str, name: str) -> errors.ApiError | None:
        """The injected failure for one resource request, or None to serve it normally."""
        if method in WRITE_METHODS:
            if self.write_conflict_rate and self.rng.random() < self.write_conflict_rate:
                self._count("conflict")
                return errors.conflict("", resource, name or resource, errors.STALE)
            if self.write_error_rate and self.rng.random() < self.write_error_rate:
                self._count("error")
                return errors.internal("injected fault: etcdserver: request timed out")
        if self.request_error_rate and self.rng.random() < self.request_error_rate:
            self._count("error")
            return errors.internal("injected fault: etcdserver: request timed out")
        return None

    def _count(self, kind: str) -> None:
        self.injected[kind] = self.injected.get(kind, 0) + 1
