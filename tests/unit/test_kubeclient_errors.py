"""kubescale.kubeclient.ApiError from response bodies: Kubernetes Status objects, other JSON, plain text."""

from __future__ import annotations

import json

import pytest

from kubescale.kubeclient import ApiError

STATUS_404 = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": 'pods "x" not found', "reason": "NotFound", "details": {"name": "x", "kind": "pods"},
              "code": 404}


@pytest.mark.parametrize(("status", "body", "expected"), [
    pytest.param(404, json.dumps(STATUS_404).encode(), (404, "NotFound", 'pods "x" not found'), id="status"),
    pytest.param(500, json.dumps({**STATUS_404, "code": 410, "reason": "Expired", "message": "too old"}).encode(),
                 (410, "Expired", "too old"), id="status-code-wins"),
    pytest.param(422, json.dumps({"kind": "Status", "message": "bad"}).encode(), (422, "Invalid", "bad"),
                 id="status-without-reason"),
    pytest.param(404, b"404 page not found\n", (404, "NotFound", "404 page not found"), id="text"),
    pytest.param(503, b"", (503, "ServiceUnavailable", "the server responded with status 503"), id="empty"),
    pytest.param(403, b'{"error": "nope"}', (403, "Forbidden", "the server responded with status 403"),
                 id="json-not-status"),
    pytest.param(418, b"[1]", (418, "Unknown", "the server responded with status 418"), id="unknown-code"),
])
def test_from_response(status: int, body: bytes, expected: tuple[int, str, str]) -> None:
    err = ApiError.from_response(status, body)
    assert (err.status, err.reason, err.message) == expected
    assert str(err) == f"{expected[0]} {expected[1]}: {expected[2]}"


def test_status_body_is_kept() -> None:
    assert ApiError.from_response(404, json.dumps(STATUS_404).encode()).body == STATUS_404
