"""`--register-apiservice`: the Service (no selector), Endpoints and `v1beta1.metrics.k8s.io` APIService that
metrics-server's manifests create, pointed at this process, so the API server's aggregator proxies
`kubectl top` here. Create or update, retried on conflicts; nothing is removed on exit (as with the manifests).
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from kubescale.kubeclient import ApiError, KubeClient

log = logging.getLogger("metricsd.registration")
GROUP, VERSION = "metrics.k8s.io", "v1beta1"
APISERVICE = f"{VERSION}.{GROUP}"
_LABELS = {"k8s-app": "metrics-server", "app.kubernetes.io/managed-by": "kubescale"}


def objects(*, namespace: str, service: str, address: str, port: int,
            ca_bundle: bytes | None) -> list[tuple[str, dict[str, Any]]]:
    """(collection path, object) for the three objects, in the order they must exist."""
    meta = {"name": service, "namespace": namespace, "labels": _LABELS}
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": meta,
           "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"}]}}
    eps = {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta,
           "subsets": [{"addresses": [{"ip": address}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]}
    spec: dict[str, Any] = {"service": {"name": service, "namespace": namespace, "port": 443}, "group": GROUP,
                            "version": VERSION, "groupPriorityMinimum": 100, "versionPriority": 100}
    if ca_bundle:
        spec["caBundle"] = base64.b64encode(ca_bundle).decode()
    else:
        spec["insecureSkipTLSVerify"] = True  # as metrics-server's own manifests
    api = {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
           "metadata": {"name": APISERVICE, "labels": _LABELS}, "spec": spec}
    return [(f"/api/v1/namespaces/{namespace}/services", svc),
            (f"/api/v1/namespaces/{namespace}/endpoints", eps),
            ("/apis/apiregistration.k8s.io/v1/apiservices", api)]


async def _apply(client: KubeClient, collection: str, obj: dict[str, Any], *, attempts: int = 5) -> None:
    path = f"{collection}/{obj['metadata']['name']}"
    for attempt in range(attempts):
        try:
            current = await client.get(path)
        except ApiError as e:
            if e.status != 404:
                raise
            try:
                await client.create(collection, obj)
                return
            except ApiError as e2:
                if e2.status != 409 or attempt == attempts - 1:
                    raise
                continue
        body = dict(obj, metadata=dict(obj["metadata"], resourceVersion=current["metadata"]["resourceVersion"]))
        if current.get("kind") == "Service":  # the API server owns clusterIP; an update must keep it
            body["spec"] = dict(obj["spec"], **{k: v for k, v in (current.get("spec") or {}).items()
                                                 if k in ("clusterIP", "clusterIPs")})
        try:
            await client.update(path, body)
            return
        except ApiError as e:
            if e.status != 409 or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


async def register(client: KubeClient, *, namespace: str, service: str, address: str, port: int,
                   ca_bundle: bytes | None) -> None:
    """Create or update the Service, Endpoints and APIService; raises ApiError when the API server refuses."""
    for collection, obj in objects(namespace=namespace, service=service, address=address, port=port,
                                   ca_bundle=ca_bundle):
        await _apply(client, collection, obj)
    log.info("registered APIService %s -> service %s/%s -> %s:%d", APISERVICE, namespace, service, address, port)


__all__ = ["APISERVICE", "objects", "register"]
