"""Kubernetes Events as kube-controller-manager's recorder writes them (core/v1, `source.component` and
`reportingComponent` set to the controller's name), with client-go's correlation: a repeat of the same
event on the same object raises `count` and `lastTimestamp` instead of creating another Event.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from kubesim import errors
from kubesim.sim.workloads_decide import Obj, meta, rfc3339

if TYPE_CHECKING:
    from kubesim.apiserver import ApiServer

log = logging.getLogger("kubesim.events")
_CACHE_SIZE = 4096  # client-go's maxLruCacheEntries


class EventRecorder:
    def __init__(self, api: ApiServer, *, clock: Callable[[], float]) -> None:
        self.api = api
        self.clock = clock
        self._seen: OrderedDict[tuple[str, ...], str] = OrderedDict()

    def event(self, obj: Obj, type_: str, reason: str, message: str, *, component: str) -> None:
        """Record an event about `obj`; failures are logged, never raised (as client-go drops them)."""
        rt = self.api.registry.get("", "events")
        assert rt is not None
        m = meta(obj)
        ns = m.get("namespace") or "default"
        involved = {"kind": obj.get("kind", ""), "namespace": m.get("namespace", ""), "name": m.get("name", ""),
                    "uid": m.get("uid", ""), "apiVersion": obj.get("apiVersion", ""),
                    "resourceVersion": m.get("resourceVersion", "")}
        key = (component, involved["kind"], ns, involved["name"], involved["uid"], type_, reason, message)
        now = self.clock()
        ts = rfc3339(now)
        try:
            name = self._seen.get(key)
            if name is not None:
                entry = self.api.store.get(rt.storage, ns, name)
                if entry is not None:
                    count = int(entry.obj.get("count") or 1) + 1
                    patch = {"count": count, "lastTimestamp": ts}
                    self.api.patch(rt, ns, name, json.dumps(patch).encode(), "application/merge-patch+json")
                    self._seen.move_to_end(key)
                    return
            stamp = int(now * 1e9)
            name = f"{involved['name']}.{stamp:x}"
            while self.api.store.get(rt.storage, ns, name) is not None:
                stamp += 1
                name = f"{involved['name']}.{stamp:x}"
            self.api.create(rt, ns, {
                "apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": ns},
                "involvedObject": {k: v for k, v in involved.items() if v},
                "reason": reason, "message": message, "source": {"component": component},
                "firstTimestamp": ts, "lastTimestamp": ts, "count": 1, "type": type_, "eventTime": None,
                "reportingComponent": component, "reportingInstance": "",
            })
            self._seen[key] = name
            if len(self._seen) > _CACHE_SIZE:
                self._seen.popitem(last=False)
        except errors.ApiError as e:
            log.debug("event %s on %s/%s dropped: %s", reason, ns, involved["name"], e)
