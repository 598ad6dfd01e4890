"""kubesim's control API (`/kubesim/v1/...`): the simulated cloud, faults, node logs and workload load over
HTTP, for tests, scenarios run from outside, and the cluster autoscaler's `sim` provider.

    GET    /kubesim/v1/nodegroups                      the node groups and their instances
    GET    /kubesim/v1/nodegroups/{group}
    PATCH  /kubesim/v1/nodegroups/{group}              {"targetSize": N} and/or {"stockout": bool,
                                                        "failureRate": f, "provisioningDelaySeconds": s}
    POST   /kubesim/v1/nodegroups/{group}/increase     {"delta": N}
    POST   /kubesim/v1/nodegroups/{group}/delete-nodes {"nodes": ["name", ...]}
    POST   /kubesim/v1/nodes/{node}/faults             {"kind": "timeout", ...params}  (kubelet faults)
    DELETE /kubesim/v1/nodes/{node}/faults[/{kind}]
    POST   /kubesim/v1/nodes/{node}/log                {"problem": "oom_kill", ...params} or {"line": "..."}
    PUT    /kubesim/v1/apifaults                       {"writeConflictRate": f, "writeErrorRate": f,
                                                        "requestErrorRate": f}
    POST   /kubesim/v1/watches/drop                    end every open watch
    PATCH  /kubesim/v1/workloads/{ns}/{kind}/{name}/load  {"scale": f} and/or {"cores": c} (constant demand)

Answers are JSON; errors are Kubernetes Status bodies. Access needs the `system:masters` group (or a policy
rule for the nonResourceURL `/kubesim/*`).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aiohttp import web

from kubesim import errors
from kubesim.sim.cloud import CloudError
from kubesim.sim.loadcurves import Constant
from kubesim.sim.loadmodel import WorkloadLoad
from kubesim.store import dumps

if TYPE_CHECKING:
    from kubesim.sim.simulation import Simulation


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=dumps(body), status=status, content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError as e:
        raise errors.bad_request(f"the body must be a JSON object: {e}") from None
    if not isinstance(body, dict):
        raise errors.bad_request("the body must be a JSON object")
    return body


def _number(body: dict[str, Any], key: str, kind: type = float) -> Any:
    value = body[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and int(value) != value):
        raise errors.bad_request(f"{key}: expected a{'n integer' if kind is int else ' number'}, got {value!r}")
    return kind(value)


class Control:
    """The request handler the API server routes `/kubesim/` to."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p][2:]  # after /kubesim/v1
        method = request.method
        try:
            return await self._route(request, method, parts)
        except CloudError as e:
            raise errors.ApiError(422, "Invalid", str(e)) from None
        except (ValueError, TypeError) as e:
            raise errors.bad_request(str(e)) from None
        except KeyError as e:
            raise errors.ApiError(404, "NotFound", f"not found: {e}", {}) from None

    async def _route(self, request: web.Request, method: str, parts: list[str]) -> web.StreamResponse:
        sim = self.sim
        if parts == ["nodegroups"] and method == "GET":
            return _json({"items": sim.cloud.describe()})
        if len(parts) >= 2 and parts[0] == "nodegroups":
            group = parts[1]
            sim.cloud.group(group)
            if len(parts) == 2 and method == "GET":
                return _json(next(g for g in sim.cloud.describe() if g["name"] == group))
            if len(parts) == 2 and method == "PATCH":
                body = await _body(request)
                changes = {}
                if "stockout" in body:
                    changes["stockout"] = bool(body["stockout"])
                if "failureRate" in body:
                    changes["failure_rate"] = _number(body, "failureRate")
                if "provisioningDelaySeconds" in body:
                    changes["provisioning_delay_s"] = _number(body, "provisioningDelaySeconds")
                if changes:
                    sim.cloud.update_spec(group, **changes)
                if "targetSize" in body:
                    sim.cloud.set_target_size(group, _number(body, "targetSize", int))
                return _json(next(g for g in sim.cloud.describe() if g["name"] == group))
            if parts[2:] == ["increase"] and method == "POST":
                sim.cloud.increase_size(group, _number(await _body(request), "delta", int))
                return _json(next(g for g in sim.cloud.describe() if g["name"] == group))
            if parts[2:] == ["delete-nodes"] and method == "POST":
                nodes = (await _body(request)).get("nodes")
                if not isinstance(nodes, list) or not all(isinstance(n, str) for n in nodes):
                    raise errors.bad_request("nodes: expected a list of node names")
                sim.cloud.delete_nodes(group, nodes)
                return _json(next(g for g in sim.cloud.describe() if g["name"] == group))
        if len(parts) >= 3 and parts[0] == "nodes":
            node = parts[1]
            if node not in sim.kubelets.kubelets:
                raise errors.ApiError(404, "NotFound", f"node {node!r} has no simulated kubelet", {})
            if parts[2] == "faults" and method == "POST":
                body = await _body(request)
                kind = body.pop("kind", None)
                if not isinstance(kind, str):
                    raise errors.bad_request("kind: required (the kubelet fault to inject)")
                fault = sim.kubelets.set_fault(node, kind, **body)
                return _json({"node": node, "kind": fault.kind, "params": dict(fault.params)}, 201)
            if parts[2] == "faults" and method == "DELETE":
                sim.kubelets.clear_fault(node, parts[3] if len(parts) > 3 else None)
                return _json({"node": node, "cleared": parts[3] if len(parts) > 3 else "all"})
            if parts[2] == "log" and method == "POST":
                body = await _body(request)
                now = sim.clock()
                if "problem" in body:
                    kind = body.pop("problem")
                    lines = sim.node_logs.problem(node, kind, now=now, **body)
                elif isinstance(body.get("line"), str):
                    sim.node_logs.append(node, body["line"], now=now)
                    lines = [body["line"]]
                else:
                    raise errors.bad_request("give a 'problem' kind or a 'line' of kernel log")
                return _json({"node": node, "lines": lines, "file": str(sim.node_logs.kern_log(node))}, 201)
        if parts == ["apifaults"] and method == "PUT":
            body = await _body(request)
            rates = {k: _number(body, key) for k, key in (("write_conflict_rate", "writeConflictRate"),
                                                          ("write_error_rate", "writeErrorRate"),
                                                          ("request_error_rate", "requestErrorRate")) if key in body}
            sim.server.faults.set(**rates)
            f = sim.server.faults
            return _json({"writeConflictRate": f.write_conflict_rate, "writeErrorRate": f.write_error_rate,
                          "requestErrorRate": f.request_error_rate, "injected": f.injected})
        if parts == ["watches", "drop"] and method == "POST":
            return _json({"dropped": sim.server.drop_watches()})
        if len(parts) == 5 and parts[0] == "workloads" and parts[4] == "load" and method == "PATCH":
            ns, kind, name = parts[1:4]
            body = await _body(request)
            model = sim.model.workload_load(ns, kind, name) or WorkloadLoad(demand=Constant(0.0))
            if "cores" in body:
                model = replace(model, demand=Constant(_number(body, "cores")), unit="cores")
            if "scale" in body:
                model = replace(model, scale=_number(body, "scale"))
            sim.model.set_workload_load(ns, kind, name, model)
            return _json({"workload": f"{ns}/{kind}/{name}", "scale": model.scale})
        raise errors.ApiError(404, "NotFound", "the server could not find the requested resource", {})
