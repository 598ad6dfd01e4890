"""Server-side field validation through the real kubectl (which always sends `fieldValidation`) and raw HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.integration.conftest import Sim

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  {replicas}: 2
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        {image}: nginx:1.27
        resources:
          requests: {{cpu: 100m, example.com/widgets: 1}}
"""

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.fv.example.com"},
    "spec": {
        "group": "fv.example.com", "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
            "type": "object", "properties": {"spec": {"type": "object", "properties": {
                "size": {"type": "integer"},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}}}],
    },
}


def deployment(name: str, *, replicas: str = "replicas", image: str = "image") -> str:
    return DEPLOYMENT.format(name=name, replicas=replicas, image=image)


def call(sim: Sim, method: str, path: str, body: bytes, *,
         ctype: str = "application/json") -> tuple[int, dict[str, Any], list[str]]:
    req = urllib.request.Request(sim.url + path, data=body, method=method,
                                 headers={"Content-Type": ctype, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read()), r.headers.get_all("Warning") or []
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), e.headers.get_all("Warning") or []


def test_apply_with_a_typo_fails_with_upstreams_error(sim: Sim) -> None:
    out = sim.kubectl("apply", "-f", "-", input=deployment("strict", replicas="replicaz"), check=False)
    assert out.returncode != 0
    assert out.stderr.strip() == (
        'Error from server (BadRequest): error when creating "STDIN": Deployment in version "v1" cannot be '
        'handled as a Deployment: strict decoding error: unknown field "spec.replicaz"')
    assert sim.kubectl("get", "deployment", "strict", check=False).returncode != 0


def test_validate_warn_creates_and_warns_and_drops_the_field(sim: Sim) -> None:
    out = sim.kubectl("apply", "--validate=warn", "-f", "-", input=deployment("warned", replicas="replicaz"))
    assert "deployment.apps/warned created" in out.stdout
    assert 'Warning: unknown field "spec.replicaz"' in out.stderr.splitlines()
    spec = sim.kubectl_json("get", "deployment", "warned")["spec"]
    assert "replicaz" not in spec and spec["replicas"] == 1


def test_validate_false_creates_silently(sim: Sim) -> None:
    out = sim.kubectl("apply", "--validate=false", "-f", "-", input=deployment("quiet", replicas="replicaz"))
    assert "deployment.apps/quiet created" in out.stdout
    assert "Warning" not in out.stderr
    assert "replicaz" not in sim.kubectl_json("get", "deployment", "quiet")["spec"]


def test_apply_to_an_existing_object_checks_the_patched_object(sim: Sim) -> None:
    sim.kubectl("apply", "-f", "-", input=deployment("patched"))
    out = sim.kubectl("apply", "-f", "-", input=deployment("patched", image="imagez"), check=False)
    assert out.returncode != 0
    assert 'strict decoding error: unknown field "spec.template.spec.containers[0].imagez"' in out.stderr
    assert "The request is invalid: patch: Invalid value:" in out.stderr
    out = sim.kubectl("apply", "--validate=warn", "-f", "-", input=deployment("patched", image="imagez"))
    assert 'Warning: unknown field "spec.template.spec.containers[0].imagez"' in out.stderr.splitlines()
    # the unchanged manifest applies cleanly again: kubesim stored no unknown field
    assert sim.kubectl("apply", "-f", "-", input=deployment("patched")).stderr == ""


def test_replace_fails_and_patch_warns(sim: Sim) -> None:
    sim.kubectl("apply", "-f", "-", input=deployment("replaced"))
    out = sim.kubectl("replace", "-f", "-", input=deployment("replaced", replicas="replicaz"), check=False)
    assert out.stderr.strip() == (
        'Error from server (BadRequest): error when replacing "STDIN": Deployment in version "v1" cannot be '
        'handled as a Deployment: strict decoding error: unknown field "spec.replicaz"')
    # kubectl patch sends no fieldValidation: the server's default, Warn
    out = sim.kubectl("patch", "deployment", "replaced", "--type=merge", "-p", '{"spec":{"paused":true,"pausd":1}}')
    assert out.stderr.splitlines() == ['Warning: unknown field "spec.pausd"']
    spec = sim.kubectl_json("get", "deployment", "replaced")["spec"]
    assert spec["paused"] is True and "pausd" not in spec


def test_custom_resources_follow_their_schema(sim: Sim) -> None:
    sim.kubectl("apply", "-f", "-", input=json.dumps(CRD))
    sim.kubectl("wait", "--for=condition=Established", "crd/widgets.fv.example.com")
    cr = {"apiVersion": "fv.example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
          "spec": {"size": 1, "extra": {"anything": {"goes": True}}}}
    sim.kubectl("apply", "-f", "-", input=json.dumps(cr))
    bad = {**cr, "metadata": {"name": "w2", "labelz": {}}, "spec": {"size": 1, "sise": 2}}
    out = sim.kubectl("apply", "-f", "-", input=json.dumps(bad), check=False)
    assert out.stderr.strip() == (
        'Error from server (BadRequest): error when creating "STDIN": Widget in version "v1" cannot be handled as '
        'a Widget: strict decoding error: unknown field "metadata.labelz", unknown field "spec.sise"')


def test_raw_http_default_warns_and_bad_directive_is_invalid(sim: Sim) -> None:
    base = "/api/v1/namespaces/default/configmaps"
    body = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm1"},"data":{"a":"1","a":"2"},"dta":{}}'
    code, created, warnings = call(sim, "POST", base, body)
    assert code == 201 and created["data"] == {"a": "2"} and "dta" not in created
    assert warnings == ['299 - "duplicate field \\"data.a\\""', '299 - "unknown field \\"dta\\""']
    code, status, _ = call(sim, "POST", base + "?fieldValidation=Strict", body.replace(b"cm1", b"cm2"))
    assert (code, status["reason"]) == (400, "BadRequest")
    assert status["message"] == ('ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: '
                                 'duplicate field "data.a", unknown field "dta"')
    code, status, _ = call(sim, "POST", base + "?fieldValidation=Loud", body.replace(b"cm1", b"cm3"))
    assert (code, status["reason"]) == (422, "Invalid")
    assert status["message"] == ('CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: '
                                 '"Loud": supported values: "", "Ignore", "Strict", "Warn"')


@pytest.mark.parametrize(("ctype", "patch", "warning"), [
    pytest.param("application/merge-patch+json", b'{"data":{"b":"1","b":"2"}}', 'duplicate field \\"data.b\\"',
                 id="merge-duplicate"),
    pytest.param("application/json-patch+json", b'[{"op":"add","path":"/data/c","value":"1","valu":2}]',
                 'json patch unknown field \\"[0].valu\\"', id="json-patch-op"),
    pytest.param("application/strategic-merge-patch+json", b'{"metadata":{"labelz":{"a":"b"}}}',
                 'unknown field \\"metadata.labelz\\"', id="strategic"),
])
def test_raw_http_patch_warnings(sim: Sim, ctype: str, patch: bytes, warning: str) -> None:
    base = "/api/v1/namespaces/default/configmaps"
    name = f"p-{ctype.split('/')[1].split('+')[0]}"
    call(sim, "POST", base, json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                                        "data": {"a": "1"}}).encode())
    code, patched, warnings = call(sim, "PATCH", f"{base}/{name}", patch, ctype=ctype)
    assert code == 200 and warnings == [f'299 - "{warning}"']
    assert "labelz" not in patched["metadata"]
