"""kubesim with --tls, a token file and an allow-list policy: kubectl over HTTPS, 401/403, review APIs."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.conftest import Sim, start_sim, stop_sim

BOB = "bob-token-0123456789"


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    d = tmp_path_factory.mktemp("secure")
    (d / "tokens.csv").write_text(f'{BOB},bob,1001,"dev,readers"\n')
    (d / "policy.yaml").write_text(yaml.safe_dump([
        {"users": ["bob"], "verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["pods"],
         "namespaces": ["default"]},
    ]))
    s = start_sim(d, ["--tls", "--token-auth-file", str(d / "tokens.csv"),
                      "--authorization-policy-file", str(d / "policy.yaml")])
    yield s
    stop_sim(s)


def request(sim: Sim, method: str, path: str, *, token: str | None, body: Any = None) -> tuple[int, dict]:
    ctx = ssl.create_default_context(cafile=str(sim.workdir / "pki" / "ca.crt"))
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(sim.url + path, method=method, headers=headers,
                                 data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            text = r.read()
            return r.status, json.loads(text) if r.headers.get_content_type() == "application/json" else {"text": text}
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def admin_token(sim: Sim) -> str:
    doc = yaml.safe_load(Path(sim.kubeconfig).read_text())
    return doc["users"][0]["user"]["token"]


def test_kubectl_over_https_with_token(secure: Sim) -> None:
    assert secure.url.startswith("https://127.0.0.1:")
    out = secure.kubectl("get", "namespaces").stdout
    assert "kube-system" in out
    assert secure.kubectl("auth", "can-i", "delete", "nodes").stdout.strip() == "yes"


def test_unknown_token_is_401_and_anonymous_is_403(secure: Sim) -> None:
    status, body = request(secure, "GET", "/api/v1/pods", token="wrong")
    assert status == 401 and body["reason"] == "Unauthorized"
    status, body = request(secure, "GET", "/api/v1/pods", token=None)
    assert status == 403 and body["reason"] == "Forbidden"
    assert 'User "system:anonymous" cannot list resource "pods"' in body["message"]
    assert request(secure, "GET", "/healthz", token=None)[0] == 200


def test_policy_allows_and_denies(secure: Sim) -> None:
    assert request(secure, "GET", "/api/v1/namespaces/default/pods", token=BOB)[0] == 200
    status, body = request(secure, "GET", "/api/v1/namespaces/default/secrets", token=BOB)
    assert status == 403
    assert body["message"] == ('secrets is forbidden: User "bob" cannot list resource "secrets" in API group "" '
                               'in the namespace "default"')
    assert request(secure, "GET", "/api/v1/namespaces/kube-system/pods", token=BOB)[0] == 403


def test_token_and_access_reviews(secure: Sim) -> None:
    admin = admin_token(secure)
    status, review = request(secure, "POST", "/apis/authentication.k8s.io/v1/tokenreviews", token=admin,
                             body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                                   "spec": {"token": BOB}})
    assert status == 201 and review["status"]["authenticated"] is True
    assert review["status"]["user"]["username"] == "bob"
    assert {"dev", "readers", "system:authenticated"} <= set(review["status"]["user"]["groups"])
    status, bad = request(secure, "POST", "/apis/authentication.k8s.io/v1/tokenreviews", token=admin,
                          body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                                "spec": {"token": "nope"}})
    assert status == 201 and not bad["status"].get("authenticated")
    for verb, allowed in (("list", True), ("delete", False)):
        status, sar = request(secure, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", token=admin,
                              body={"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                                    "spec": {"user": "bob", "resourceAttributes": {
                                        "namespace": "default", "verb": verb, "resource": "pods"}}})
        assert status == 201 and sar["status"]["allowed"] is allowed
