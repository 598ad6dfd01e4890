"""Kubernetes Events as kube-controller-manager's recorder writes them, for kubesim's in-process controllers:
client-go's EventCorrelator (`kubescale.events`: repeats counted, similar messages combined, a spam filter per
object) with the writes going straight to the ApiServer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from kubescale.events import EventCorrelator, Involved
from kubesim import errors
from kubesim.sim.workloads_decide import Obj

if TYPE_CHECKING:
    from kubesim.apiserver import ApiServer

log = logging.getLogger("kubesim.events")


class EventRecorder:
    def __init__(self, api: ApiServer, *, clock: Callable[[], float]) -> None:
        self.api = api
        self.clock = clock
        self.correlator = EventCorrelator()

    def event(self, obj: Obj, type_: str, reason: str, message: str, *, component: str) -> None:
        """Record an event about `obj`; failures are logged, never raised (as client-go drops them)."""
        write = self.correlator.correlate(Involved.of(obj), type_, reason, message, component=component,
                                          now=self.clock())
        if write is None:
            return
        rt = self.api.registry.get("", "events")
        assert rt is not None
        try:
            if write.patch and self.api.store.get(rt.storage, write.namespace, write.name) is not None:
                self.api.patch(rt, write.namespace, write.name, json.dumps(write.patch_body()).encode(),
                               "application/merge-patch+json")
                return
            self.api.create(rt, write.namespace, write.body())
        except errors.ApiError as e:
            log.debug("event %s on %s/%s dropped: %s", reason, write.namespace, write.involved.name, e)
