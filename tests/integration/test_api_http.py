"""kubesim over raw HTTP: bad input answered with the right Status, CRDs, subresources, watch details."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.integration.conftest import Sim


def call(sim: Sim, method: str, path: str, body: Any = None, *, ctype: str = "application/json",
         accept: str = "application/json", raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(sim.url + path, data=data, method=method,
                                 headers={"Content-Type": ctype, "Accept": accept})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read()
            return r.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def cm(name: str, **extra: Any) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **extra}, "data": {"a": "1"}}


@pytest.mark.parametrize(
    ("method", "path", "raw", "ctype", "code", "reason", "text"),
    [
        pytest.param("POST", "/api/v1/namespaces/default/configmaps", b"{not json", "application/json", 400,
                     "BadRequest", "could not be decoded", id="malformed-json"),
        pytest.param("POST", "/api/v1/namespaces/default/configmaps", b"a: [b", "application/yaml", 400,
                     "BadRequest", "YAML", id="malformed-yaml"),
        pytest.param("POST", "/api/v1/namespaces/default/configmaps", b"[1,2]", "application/json", 400,
                     "BadRequest", "must be a JSON object", id="not-an-object"),
        pytest.param("GET", "/apis/nope.example.com/v1/widgets", None, "application/json", 404, "NotFound",
                     "the server could not find the requested resource", id="unknown-group"),
        pytest.param("GET", "/api/v1/widgets", None, "application/json", 404, "NotFound",
                     "the server could not find the requested resource", id="unknown-resource"),
        pytest.param("POST", "/api/v1/namespaces/default/configmaps",
                     json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}).encode(),
                     "application/json", 400, "BadRequest", "does not match the expected kind", id="kind-mismatch"),
        pytest.param("POST", "/api/v1/namespaces/default/configmaps", json.dumps(cm("Bad_Name")).encode(),
                     "application/json", 422, "Invalid", 'metadata.name: Invalid value: "Bad_Name"', id="bad-name"),
        pytest.param("POST", "/api/v1/namespaces/default/configmaps",
                     json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}).encode(),
                     "application/json", 422, "Invalid", "name or generateName is required", id="no-name"),
        pytest.param("POST", "/api/v1/namespaces/ghost/configmaps", json.dumps(cm("x")).encode(),
                     "application/json", 404, "NotFound", 'namespaces "ghost" not found', id="missing-namespace"),
        pytest.param("GET", "/api/v1/pods?labelSelector=a%20in%20(", None, "application/json", 400, "BadRequest",
                     "", id="bad-label-selector"),
        pytest.param("GET", "/api/v1/pods?fieldSelector=spec.bogus%3Dx", None, "application/json", 400,
                     "BadRequest", "field label not supported: spec.bogus", id="unsupported-field"),
        pytest.param("GET", "/api/v1/pods?limit=abc", None, "application/json", 400, "BadRequest", "", id="bad-limit"),
        pytest.param("GET", "/api/v1/pods?limit=5&continue=garbage", None, "application/json", 400, "BadRequest",
                     "continue", id="bad-continue"),
        pytest.param("PATCH", "/api/v1/namespaces/default/configmaps/kube-root", b"{}",
                     "application/merge-patch+json", 404, "NotFound", 'configmaps "kube-root" not found',
                     id="patch-missing"),
    ],
)
def test_bad_input_gets_status(sim: Sim, method: str, path: str, raw: bytes | None, ctype: str, code: int,
                               reason: str, text: str) -> None:
    status, body = call(sim, method, path, raw=raw, ctype=ctype)
    assert status == code, body
    assert body["kind"] == "Status" and body["status"] == "Failure" and body["code"] == code
    assert body["reason"] == reason and text in body["message"]
    # and kubesim keeps serving
    assert call(sim, "GET", "/api/v1/namespaces/default")[0] == 200


def test_conflicts_and_preconditions(sim: Sim) -> None:
    status, created = call(sim, "POST", "/api/v1/namespaces/default/configmaps", cm("occ"))
    assert status == 201
    stale = created["metadata"]["resourceVersion"]
    assert call(sim, "PUT", "/api/v1/namespaces/default/configmaps/occ", {**created, "data": {"a": "2"}})[0] == 200
    status, body = call(sim, "PUT", "/api/v1/namespaces/default/configmaps/occ", {**created, "data": {"a": "3"}})
    assert status == 409 and body["reason"] == "Conflict"
    assert body["message"] == ('Operation cannot be fulfilled on configmaps "occ": the object has been modified; '
                               "please apply your changes to the latest version and try again")
    status, body = call(sim, "POST", "/api/v1/namespaces/default/configmaps", cm("occ"))
    assert status == 409 and body["reason"] == "AlreadyExists"
    assert body["details"] == {"name": "occ", "kind": "configmaps"}
    status, body = call(sim, "DELETE", "/api/v1/namespaces/default/configmaps/occ",
                        {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"resourceVersion": stale}})
    assert status == 409
    assert call(sim, "DELETE", "/api/v1/namespaces/default/configmaps/occ")[0] == 200


def test_dry_run_does_not_persist(sim: Sim) -> None:
    status, body = call(sim, "POST", "/api/v1/namespaces/default/configmaps?dryRun=All", cm("dry"))
    assert status == 201 and body["metadata"]["name"] == "dry"
    assert call(sim, "GET", "/api/v1/namespaces/default/configmaps/dry")[0] == 404


def test_deletecollection_by_label(sim: Sim) -> None:
    for i in range(3):
        call(sim, "POST", "/api/v1/namespaces/default/configmaps", cm(f"col{i}", labels={"batch": "b" if i else "a"}))
    status, body = call(sim, "DELETE", "/api/v1/namespaces/default/configmaps?labelSelector=batch%3Db")
    assert status == 200 and sorted(o["metadata"]["name"] for o in body["items"]) == ["col1", "col2"]
    left = call(sim, "GET", "/api/v1/namespaces/default/configmaps?labelSelector=batch")[1]
    assert [o["metadata"]["name"] for o in left["items"]] == ["col0"]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param("tier=web", ["a"], id="eq"),
        pytest.param("tier==web", ["a"], id="double-eq"),
        pytest.param("tier!=web", ["b", "c"], id="neq-includes-missing"),
        pytest.param("tier in (web,db)", ["a", "b"], id="in"),
        pytest.param("tier notin (web)", ["b", "c"], id="notin"),
        pytest.param("tier", ["a", "b"], id="exists"),
        pytest.param("!tier", ["c"], id="not-exists"),
        pytest.param("tier,env=prod", ["b"], id="and"),
    ],
)
def test_label_selector_operators(sim: Sim, selector: str, expected: list[str]) -> None:
    ns = "selectors"
    call(sim, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    for name, labels in (("a", {"tier": "web"}), ("b", {"tier": "db", "env": "prod"}), ("c", {})):
        call(sim, "POST", f"/api/v1/namespaces/{ns}/configmaps", cm(name, labels=labels))
    q = urllib.request.quote(selector)
    body = call(sim, "GET", f"/api/v1/namespaces/{ns}/configmaps?labelSelector={q}")[1]
    assert [o["metadata"]["name"] for o in body["items"]] == expected


def test_field_selectors(sim: Sim) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "fs", "namespace": "default"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    assert call(sim, "POST", "/api/v1/namespaces/default/pods", pod)[0] == 201
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "fs"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "n-7"}}
    assert call(sim, "POST", "/api/v1/namespaces/default/pods/fs/binding", binding)[0] == 201
    status, again = call(sim, "POST", "/api/v1/namespaces/default/pods/fs/binding", binding)
    assert status == 409 and 'is already assigned to node "n-7"' in again["message"]
    by_node = call(sim, "GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dn-7")[1]
    assert [p["metadata"]["name"] for p in by_node["items"]] == ["fs"]
    pending = call(sim, "GET", "/api/v1/pods?fieldSelector=status.phase%3DPending,metadata.name%3Dfs")[1]
    assert [p["metadata"]["name"] for p in pending["items"]] == ["fs"]
    assert call(sim, "GET", "/api/v1/pods?fieldSelector=status.phase%3DRunning,metadata.name%3Dfs")[1]["items"] == []
    got = call(sim, "GET", "/api/v1/namespaces/default/pods/fs")[1]
    assert any(c["type"] == "PodScheduled" and c["status"] == "True" for c in got["status"]["conditions"])


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "crontabs.stable.example.com"},
    "spec": {
        "group": "stable.example.com", "scope": "Namespaced",
        "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "spec": {"type": "object", "properties": {"replicas": {"type": "integer"},
                                                          "cronSpec": {"type": "string"}}},
                "status": {"type": "object", "properties": {"replicas": {"type": "integer"},
                                                            "labelSelector": {"type": "string"}}}}}},
            "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                     "statusReplicasPath": ".status.replicas",
                                                     "labelSelectorPath": ".status.labelSelector"}},
            "additionalPrinterColumns": [{"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"}],
        }],
    },
}


def test_crd_makes_resource_servable_with_status_and_scale(sim: Sim) -> None:
    assert call(sim, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD)[0] == 201
    crd = call(sim, "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/crontabs.stable.example.com")[1]
    assert {c["type"]: c["status"] for c in crd["status"]["conditions"]}["Established"] == "True"
    base = "/apis/stable.example.com/v1/namespaces/default/crontabs"
    ct = {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "c1"},
          "spec": {"replicas": 2, "cronSpec": "* * * * */5"}, "status": {"replicas": 7}}
    status, created = call(sim, "POST", base, ct)
    assert status == 201 and "status" not in created and created["metadata"]["generation"] == 1
    status, _ = call(sim, "PATCH", f"{base}/c1/status", {"status": {"replicas": 2, "labelSelector": "app=cron"}},
                     ctype="application/merge-patch+json")
    assert status == 200
    scale = call(sim, "GET", f"{base}/c1/scale")[1]
    assert scale["spec"]["replicas"] == 2 and scale["status"] == {"replicas": 2, "selector": "app=cron"}
    patched = call(sim, "PATCH", f"{base}/c1/scale", {"spec": {"replicas": 5}}, ctype="application/merge-patch+json")
    assert patched[0] == 200
    assert call(sim, "GET", f"{base}/c1")[1]["spec"]["replicas"] == 5
    status, body = call(sim, "PATCH", f"{base}/c1", {"spec": {"replicas": 1}},
                        ctype="application/strategic-merge-patch+json")
    assert status == 415 and body["reason"] == "UnsupportedMediaType"
    out = sim.kubectl("get", "ct").stdout
    assert out.split("\n")[0].split() == ["NAME", "SPEC"] and "* * * * */5" in out
    assert "crontabs" in sim.kubectl("api-resources", "--api-group=stable.example.com").stdout
    assert call(sim, "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                               "crontabs.stable.example.com")[0] == 200
    assert call(sim, "GET", base)[0] == 404


def test_watch_bookmarks_and_timeout(sim: Sim) -> None:
    rv = call(sim, "GET", "/api/v1/namespaces/default/configmaps")[1]["metadata"]["resourceVersion"]
    start = time.monotonic()
    req = urllib.request.Request(f"{sim.url}/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}"
                                 "&timeoutSeconds=1&allowWatchBookmarks=true")
    with urllib.request.urlopen(req, timeout=10) as r:
        lines = [json.loads(line) for line in r.read().splitlines() if line.strip()]
    assert 0.9 <= time.monotonic() - start < 5
    assert all(ev["type"] == "BOOKMARK" for ev in lines)


def test_namespace_deletion_removes_content(sim: Sim) -> None:
    call(sim, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}})
    call(sim, "POST", "/api/v1/namespaces/doomed/configmaps", cm("inside"))
    assert call(sim, "DELETE", "/api/v1/namespaces/doomed")[0] == 200
    assert call(sim, "GET", "/api/v1/namespaces/doomed")[0] == 404
    assert call(sim, "GET", "/api/v1/namespaces/doomed/configmaps/inside")[0] == 404


def test_events_served_in_both_groups(sim: Sim) -> None:
    ev = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "ev1"},
          "involvedObject": {"kind": "Pod", "name": "fs", "namespace": "default"},
          "reason": "Tested", "message": "hello", "type": "Normal", "source": {"component": "tests"}}
    assert call(sim, "POST", "/api/v1/namespaces/default/events", ev)[0] == 201
    new = call(sim, "GET", "/apis/events.k8s.io/v1/namespaces/default/events/ev1")[1]
    assert new["apiVersion"] == "events.k8s.io/v1" and new["note"] == "hello" and new["regarding"]["name"] == "fs"
    sel = call(sim, "GET", "/api/v1/events?fieldSelector=involvedObject.name%3Dfs,involvedObject.kind%3DPod")[1]
    assert [e["metadata"]["name"] for e in sel["items"]] == ["ev1"]


def test_bound_pod_deletion_is_graceful_until_forced(sim: Sim) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "graceful"},
           "spec": {"nodeName": "n-1", "terminationGracePeriodSeconds": 20,
                    "containers": [{"name": "c", "image": "busybox"}]}}
    assert call(sim, "POST", "/api/v1/namespaces/default/pods", pod)[0] == 201
    status, deleting = call(sim, "DELETE", "/api/v1/namespaces/default/pods/graceful")
    assert status == 200 and deleting["metadata"]["deletionGracePeriodSeconds"] == 20
    assert deleting["metadata"]["deletionTimestamp"]
    # still there (a kubelet finishes the termination); a forced delete removes it at once
    assert call(sim, "GET", "/api/v1/namespaces/default/pods/graceful")[0] == 200
    status, _ = call(sim, "DELETE", "/api/v1/namespaces/default/pods/graceful",
                     {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0})
    assert status == 200
    assert call(sim, "GET", "/api/v1/namespaces/default/pods/graceful")[0] == 404


def test_orphan_propagation_adds_the_finalizer_when_there_are_dependents(sim: Sim) -> None:
    owner = call(sim, "POST", "/api/v1/namespaces/default/configmaps", cm("owner"))[1]
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    call(sim, "POST", "/api/v1/namespaces/default/configmaps", cm("dependent", ownerReferences=[ref]))
    status, deleting = call(sim, "DELETE", "/api/v1/namespaces/default/configmaps/owner",
                            {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Orphan"})
    assert status == 200 and deleting["metadata"]["finalizers"] == ["orphan"]
    assert call(sim, "POST", "/api/v1/namespaces/default/configmaps", cm("lonely"))[0] == 201
    call(sim, "DELETE", "/api/v1/namespaces/default/configmaps/lonely",
         {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Orphan"})
    assert call(sim, "GET", "/api/v1/namespaces/default/configmaps/lonely")[0] == 404
