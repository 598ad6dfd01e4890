"""kubesim.auth: token files, the allow-list policy, request-info resolution, review bodies and Forbidden
messages, table-driven against the upstream behaviour they mirror."""

from __future__ import annotations

import csv
import io
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubesim import auth, errors, requestinfo, reviews

AUTH = auth.AUTHENTICATED


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return str(path)


# --- token file ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "token", "expected"),
    [
        pytest.param("t1,alice,u1\n", "t1", auth.UserInfo("alice", "u1", (AUTH,)), id="three-columns"),
        pytest.param(
            't2,bob,u2,"dev,ops"\n', "t2", auth.UserInfo("bob", "u2", ("dev", "ops", AUTH)), id="quoted-groups"
        ),
        pytest.param("t3,carol,u3,dev\n", "t3", auth.UserInfo("carol", "u3", ("dev", AUTH)), id="one-group"),
        pytest.param(
            f't4,dan,u4,"{AUTH},x"\n', "t4", auth.UserInfo("dan", "u4", (AUTH, "x")), id="no-duplicate-group"
        ),
        pytest.param("t5,erin,u5,g,extra,cols\n", "t5", auth.UserInfo("erin", "u5", ("g", AUTH)), id="extra-columns"),
        pytest.param('"a,b",frank,u6\n', "a,b", auth.UserInfo("frank", "u6", (AUTH,)), id="quoted-token"),
        pytest.param('t7,"say ""hi""",u7\n', "t7", auth.UserInfo('say "hi"', "u7", (AUTH,)), id="escaped-quote"),
        pytest.param("t8,gina,,\n", "t8", auth.UserInfo("gina", "", (AUTH,)), id="empty-uid-and-groups"),
        pytest.param("\n\nt9,hal,u9\r\n\n", "t9", auth.UserInfo("hal", "u9", (AUTH,)), id="blank-lines-crlf"),
        pytest.param("t,old,1\nt,new,2\n", "t", auth.UserInfo("new", "2", (AUTH,)), id="duplicate-last-wins"),
        pytest.param(",nobody,0\nt,x,1\n", "", None, id="empty-token-skipped"),
        pytest.param("t1,alice,u1\n", "t1x", None, id="unknown-token"),
        pytest.param("t1,alice,u1\n", "t", None, id="token-prefix"),
    ],
)
def test_token_file(tmp_path: Path, text: str, token: str, expected: auth.UserInfo | None) -> None:
    table = auth.load_token_file(_write(tmp_path, "tokens.csv", text))
    assert table.authenticate(token) == expected


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        pytest.param("t,alice\n", 1, "uid", "at least 3 columns (token, user name, user uid), found 2", id="2-cols"),
        pytest.param("ok,a,1\n\nt\n", 3, "user", "found 1", id="1-col"),
        pytest.param('t,al"ice,1\n', 1, "user", 'column 5: bare " in non-quoted-field', id="bare-quote"),
        pytest.param('"t,alice,1\n', 1, "token", 'extraneous or missing " in quoted-field', id="unterminated"),
        pytest.param('"t"x,alice,1\n', 1, "token", 'column 4: extraneous or missing "', id="text-after-quote"),
        pytest.param("t,,1\n", 1, "user", "user name must not be empty", id="empty-user"),
    ],
)
def test_token_file_errors(tmp_path: Path, text: str, line: int, field: str, message: str) -> None:
    path = _write(tmp_path, "tokens.csv", text)
    with pytest.raises(auth.ConfigError) as info:
        auth.load_token_file(path)
    err = info.value
    assert (err.path, err.line, err.field) == (path, line, field)
    assert message in str(err) and f"{path}:{line}: {field}: " in str(err)


def test_token_file_reports_every_bad_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "tokens.csv", "a,b\ngood,u,1\nc\n")
    with pytest.raises(auth.ConfigError) as info:
        auth.load_token_file(path)
    assert [(p.line, p.field) for p in info.value.problems] == [(1, "uid"), (3, "user")]


def test_tokens_never_shown(tmp_path: Path) -> None:
    table = auth.load_token_file(_write(tmp_path, "tokens.csv", "s3cr3t-token,alice,1\n"))
    assert "s3cr3t" not in repr(table) and len(table) == 1


def test_merged_tables() -> None:
    a = auth.TokenTable({"x": auth.authenticated_user("a"), "y": auth.authenticated_user("old")})
    b = auth.TokenTable({"y": auth.authenticated_user("new")})
    merged = a.merged(b)
    assert (merged.authenticate("x").username, merged.authenticate("y").username) == ("a", "new")  # type: ignore[union-attr]


@given(st.lists(st.text(st.characters(blacklist_characters="\r\n\x00", blacklist_categories=("Cs",))), min_size=1))
def test_csv_split_inverts_a_csv_writer(fields: list[str]) -> None:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    assert auth._split_csv(out.getvalue()) == fields


# --- policy file ---------------------------------------------------------------------------------------

POLICY = """
- users: [alice]
  verbs: [get, list, watch]
  apiGroups: [""]
  resources: [pods, pods/log]
  namespaces: [default]
- groups: [scalers]
  verbs: [update, patch]
  apiGroups: ["*"]
  resources: ["*/scale"]
- users: ["*"]
  verbs: [get]
  apiGroups: [""]
  resources: [configmaps]
  resourceNames: [cluster-info]
- groups: [ops]
  verbs: ["*"]
  apiGroups: [apps]
  resources: ["*"]
  namespaces: ["*"]
- users: [prom]
  verbs: [get]
  nonResourceURLs: [/metrics, /debug/*]
"""


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> auth.Policy:
    return auth.load_policy(_write(tmp_path_factory.mktemp("p"), "policy.yaml", POLICY))


def _res(user: str, verb: str, resource: str, *, groups: tuple[str, ...] = (), **kw: str) -> auth.Attributes:
    return auth.Attributes(user=user, groups=groups, verb=verb, resource_request=True, resource=resource, **kw)


def _url(user: str, verb: str, path: str, *, groups: tuple[str, ...] = ()) -> auth.Attributes:
    return auth.Attributes(user=user, groups=groups, verb=verb, path=path)


@pytest.mark.parametrize(
    ("attrs", "allowed"),
    [
        pytest.param(_res("root", "delete", "nodes", groups=(auth.MASTERS,)), True, id="masters-anything"),
        pytest.param(_url("root", "post", "/anything", groups=(auth.MASTERS,)), True, id="masters-any-path"),
        pytest.param(_res("alice", "list", "pods", namespace="default"), True, id="user-verb-resource-ns"),
        pytest.param(_res("alice", "delete", "pods", namespace="default"), False, id="verb-not-listed"),
        pytest.param(_res("alice", "get", "pods", namespace="kube-system"), False, id="other-namespace"),
        pytest.param(_res("alice", "list", "pods"), False, id="namespaced-rule-not-cluster-scope"),
        pytest.param(_res("alice", "get", "pods", namespace="default", subresource="log"), True, id="listed-sub"),
        pytest.param(_res("alice", "get", "pods", namespace="default", subresource="exec"), False, id="other-sub"),
        pytest.param(_res("alice", "get", "pods", namespace="default", api_group="apps"), False, id="other-group"),
        pytest.param(_res("bob", "get", "pods", namespace="default"), False, id="other-user"),
        pytest.param(_res("x", "patch", "deployments", groups=("scalers",), api_group="apps", subresource="scale",
                          namespace="ns"), True, id="star-slash-subresource"),
        pytest.param(_res("x", "patch", "deployments", groups=("scalers",), api_group="apps", namespace="ns"),
                     False, id="star-slash-sub-not-parent"),
        pytest.param(_res("x", "get", "configmaps", namespace="kube-public", name="cluster-info"), True,
                     id="any-user-resource-name"),
        pytest.param(_res("x", "get", "configmaps", namespace="kube-public", name="other"), False,
                     id="other-resource-name"),
        pytest.param(_res("x", "list", "configmaps", namespace="kube-public"), False, id="list-has-no-name"),
        pytest.param(_res("o", "delete", "deployments", groups=("ops",), api_group="apps", subresource="status",
                          namespace="a"), True, id="star-resource-includes-subresources"),
        pytest.param(_res("o", "list", "deployments", groups=("ops",), api_group="apps"), True,
                     id="star-namespace-includes-cluster-scope"),
        pytest.param(_url("prom", "get", "/metrics"), True, id="url-exact"),
        pytest.param(_url("prom", "get", "/metrics/cadvisor"), False, id="url-exact-not-prefix"),
        pytest.param(_url("prom", "get", "/debug/pprof/heap"), True, id="url-prefix"),
        pytest.param(_url("prom", "post", "/metrics"), False, id="url-verb"),
        pytest.param(_res("prom", "get", "metrics"), False, id="url-rule-not-resource"),
        pytest.param(_url("alice", "get", "/api", groups=(AUTH,)), True, id="defaults-included"),
    ],
)
def test_policy(policy: auth.Policy, attrs: auth.Attributes, allowed: bool) -> None:
    decision = policy.authorize(attrs)
    assert decision.allowed is allowed
    assert bool(decision.reason) is allowed


def test_allow_reason_names_the_rule(policy: auth.Policy) -> None:
    reason = policy.authorize(_url("prom", "get", "/metrics")).reason
    assert reason.startswith("allowed by policy rule at ") and reason.endswith("policy.yaml:20")


@pytest.mark.parametrize(
    ("attrs", "allowed"),
    [
        pytest.param(_url("system:anonymous", "get", "/healthz", groups=(auth.UNAUTHENTICATED,)), True,
                     id="anonymous-health"),
        pytest.param(_url("system:anonymous", "get", "/version", groups=(auth.UNAUTHENTICATED,)), True,
                     id="anonymous-version"),
        pytest.param(_url("system:anonymous", "get", "/api", groups=(auth.UNAUTHENTICATED,)), False,
                     id="anonymous-no-discovery"),
        pytest.param(_url("u", "get", "/apis/apps/v1", groups=(AUTH,)), True, id="discovery"),
        pytest.param(_url("u", "get", "/openapi/v3", groups=(AUTH,)), True, id="openapi"),
        pytest.param(_url("u", "get", "/apix", groups=(AUTH,)), False, id="not-a-discovery-path"),
        pytest.param(_url("u", "get", "/metrics", groups=(AUTH,)), False, id="metrics"),
        pytest.param(_url("u", "post", "/api", groups=(AUTH,)), False, id="post"),
        pytest.param(_res("u", "create", "selfsubjectaccessreviews", groups=(AUTH,),
                          api_group="authorization.k8s.io"), True, id="can-i"),
        pytest.param(_res("u", "list", "pods", groups=(AUTH,), namespace="default"), False, id="no-resources"),
        pytest.param(_res("u", "list", "pods", groups=(AUTH, auth.MASTERS)), True, id="masters"),
    ],
)
def test_default_policy(attrs: auth.Attributes, allowed: bool) -> None:
    assert auth.default_policy().authorize(attrs).allowed is allowed


def test_policy_without_defaults(tmp_path: Path) -> None:
    policy = auth.load_policy(_write(tmp_path, "p.yaml", POLICY), include_defaults=False)
    assert not policy.authorize(_url("alice", "get", "/api", groups=(AUTH,))).allowed


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        pytest.param("- users: [a]\n  verb: [get]\n", 2, "[0].verb", "unknown field; accepted: users, groups",
                     id="unknown-field"),
        pytest.param("- users: [a]\n  nonResourceURLs: [/x]\n", 1, "[0].verbs", "required", id="no-verbs"),
        pytest.param("- verbs: [get]\n  nonResourceURLs: [/x]\n", 1, "[0].users", "at least one of users or groups",
                     id="no-subject"),
        pytest.param("- users: [a]\n  verbs: [get]\n  resources: [pods]\n", 1, "[0].apiGroups",
                     "at least one api group", id="no-api-groups"),
        pytest.param("- users: [a]\n  verbs: [get]\n  apiGroups: ['']\n", 1, "[0].resources",
                     "at least one resource", id="no-resources"),
        pytest.param("- users: [a]\n  verbs: [get]\n  nonResourceURLs: [/x]\n  resources: [pods]\n", 1,
                     "[0].resources", "both regular resources and non-resource URLs", id="mixed"),
        pytest.param("- users: [a]\n  verbs: [get]\n  nonResourceURLs: [x*y]\n", 1, "[0].nonResourceURLs",
                     "must start with /", id="bad-url"),
        pytest.param("- users: [a]\n  verbs: [lsit]\n  apiGroups: ['']\n  resources: [pods]\n", 1, "[0].verbs",
                     "unknown verb 'lsit'", id="bad-verb"),
        pytest.param("- users: a\n", 1, "[0].users", "must be a list of strings", id="scalar-not-list"),
        pytest.param("- users: [a]\n  verbs: [get]\n  nonResourceURLs: [/x]\n- groups:\n  - ~\n", 5, "[1].groups[0]",
                     "must be a string",
                     id="null-item"),
        pytest.param("- users: [a]\n  users: [b]\n", 2, "[0].users", "duplicate field", id="duplicate-field"),
        pytest.param("users: [a]\n", 1, "", "must be a YAML list of rules", id="mapping-root"),
        pytest.param("- just-a-string\n", 1, "[0]", "a rule must be a mapping", id="scalar-rule"),
        pytest.param("- users: [a\n", 2, "", "invalid YAML", id="yaml-syntax"),
    ],
)
def test_policy_errors(tmp_path: Path, text: str, line: int, field: str, message: str) -> None:
    path = _write(tmp_path, "policy.yaml", text)
    with pytest.raises(auth.ConfigError) as info:
        auth.load_policy(path)
    assert (info.value.path, info.value.line, info.value.field) == (path, line, field)
    assert message in str(info.value)


def test_empty_policy_file_is_just_the_defaults(tmp_path: Path) -> None:
    assert auth.load_policy(_write(tmp_path, "p.yaml", "")) == auth.default_policy()


@given(
    user=st.text(max_size=8),
    verb=st.sampled_from(["get", "list", "delete", "escalate"]),
    resource=st.text(max_size=8),
    namespace=st.text(max_size=8),
    resource_request=st.booleans(),
)
def test_masters_always_allowed_and_nobody_else_without_rules(
    user: str, verb: str, resource: str, namespace: str, resource_request: bool
) -> None:
    attrs = auth.Attributes(user=user, verb=verb, resource=resource, namespace=namespace,
                            resource_request=resource_request, path="/x")
    assert not auth.Policy().authorize(attrs).allowed
    assert auth.Policy().authorize(auth.Attributes(**{**attrs.__dict__, "groups": (auth.MASTERS,)})).allowed


# --- request attributes --------------------------------------------------------------------------------

ALICE = auth.authenticated_user("alice", groups=["dev"])

R = dict[str, Any]


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        pytest.param("GET", "/api/v1/namespaces/default/pods", {}, {"verb": "list", "resource": "pods",
                     "namespace": "default", "api_version": "v1"}, id="list-namespaced"),
        pytest.param("GET", "/api/v1/pods", {}, {"verb": "list", "resource": "pods"}, id="list-all-namespaces"),
        pytest.param("GET", "/api/v1/namespaces/default/pods/p1", {}, {"verb": "get", "resource": "pods",
                     "namespace": "default", "name": "p1"}, id="get"),
        pytest.param("GET", "/api/v1/namespaces/default/pods", {"watch": "1"}, {"verb": "watch"}, id="watch-1"),
        pytest.param("GET", "/api/v1/pods", {"watch": "true"}, {"verb": "watch"}, id="watch-true"),
        pytest.param("GET", "/api/v1/pods", {"watch": "False"}, {"verb": "list"}, id="watch-false"),
        pytest.param("GET", "/api/v1/pods", {"watch": "0"}, {"verb": "list"}, id="watch-0"),
        pytest.param("GET", "/api/v1/watch/namespaces/ns/pods", {}, {"verb": "watch", "resource": "pods",
                     "namespace": "ns"}, id="legacy-watch-path"),
        pytest.param("GET", "/api/v1/watch/pods/p1", {}, {"verb": "watch", "name": "p1"}, id="legacy-watch-name"),
        pytest.param("POST", "/api/v1/namespaces/ns/pods", {}, {"verb": "create", "namespace": "ns"}, id="create"),
        pytest.param("PUT", "/api/v1/namespaces/ns/pods/p1", {}, {"verb": "update", "name": "p1"}, id="update"),
        pytest.param("PATCH", "/api/v1/nodes/n1", {}, {"verb": "patch", "resource": "nodes", "name": "n1",
                     "namespace": ""}, id="patch-cluster-scoped"),
        pytest.param("DELETE", "/api/v1/namespaces/ns/pods/p1", {}, {"verb": "delete"}, id="delete"),
        pytest.param("DELETE", "/api/v1/namespaces/ns/pods", {}, {"verb": "deletecollection"}, id="deletecollection"),
        pytest.param("HEAD", "/api/v1/namespaces/ns/pods/p1", {}, {"verb": "get"}, id="head"),
        pytest.param("PUT", "/api/v1/namespaces/ns/pods/p1/status", {}, {"verb": "update", "name": "p1",
                     "subresource": "status"}, id="subresource"),
        pytest.param("POST", "/api/v1/namespaces/ns/pods/p1/eviction", {}, {"verb": "create",
                     "subresource": "eviction"}, id="eviction"),
        pytest.param("GET", "/apis/apps/v1/namespaces/ns/deployments/d/scale", {}, {"verb": "get",
                     "api_group": "apps", "api_version": "v1", "resource": "deployments", "name": "d",
                     "subresource": "scale"}, id="group-scale"),
        pytest.param("GET", "/apis/metrics.k8s.io/v1beta1/nodes", {}, {"verb": "list", "api_group": "metrics.k8s.io",
                     "resource": "nodes"}, id="aggregated-group"),
        pytest.param("GET", "/api/v1/namespaces", {}, {"verb": "list", "resource": "namespaces", "namespace": ""},
                     id="namespaces-list"),
        pytest.param("GET", "/api/v1/namespaces/ns", {}, {"verb": "get", "resource": "namespaces", "name": "ns",
                     "namespace": "ns"}, id="namespace-get"),
        pytest.param("PUT", "/api/v1/namespaces/ns/finalize", {}, {"verb": "update", "resource": "namespaces",
                     "name": "ns", "subresource": "finalize", "namespace": "ns"}, id="namespace-finalize"),
        pytest.param("GET", "/api/v1/namespaces/ns/pods/p1/proxy/some/path", {}, {"verb": "get",
                     "subresource": "proxy", "name": "p1"}, id="pod-proxy-subresource"),
        pytest.param("GET", "/api/v1/proxy/namespaces/ns/pods/p1/x", {}, {"verb": "proxy", "name": "p1",
                     "subresource": ""}, id="proxy-verb-no-subresource"),
        pytest.param("GET", "/api/v1/pods", {"fieldSelector": "metadata.name=p1"}, {"verb": "list", "name": "p1"},
                     id="field-selector-name"),
        pytest.param("GET", "/api/v1/pods", {"watch": "1", "fieldSelector": "spec.nodeName=n,metadata.name==p2"},
                     {"verb": "watch", "name": "p2"}, id="field-selector-and"),
        pytest.param("GET", "/api/v1/pods", {"fieldSelector": "metadata.name!=p1"}, {"name": ""},
                     id="field-selector-not-equal"),
        pytest.param("GET", "/api/v1/pods", {"fieldSelector": "metadata.name=a/b"}, {"name": ""},
                     id="field-selector-invalid-name"),
        pytest.param("GET", "/api/v1/pods", {"fieldSelector": "metadata.name=p1,bogus"}, {"name": ""},
                     id="field-selector-unparseable"),
        pytest.param("GET", "/api/v1/pods", {"fieldSelector": r"metadata.name=a\,b"}, {"name": "a,b"},
                     id="field-selector-escaped"),
        pytest.param("GET", "/healthz", {}, {"verb": "get", "resource_request": False, "path": "/healthz"},
                     id="healthz"),
        pytest.param("GET", "/api", {}, {"verb": "get", "resource_request": False}, id="api-root"),
        pytest.param("GET", "/api/v1", {}, {"verb": "get", "resource_request": False}, id="core-discovery"),
        pytest.param("GET", "/apis/apps/v1", {}, {"verb": "get", "resource_request": False}, id="group-discovery"),
        pytest.param("POST", "/logs/x/y", {}, {"verb": "post", "resource_request": False}, id="non-resource-post"),
        pytest.param("GET", "/", {}, {"verb": "get", "resource_request": False, "path": "/"}, id="root"),
    ],
)
def test_request_attributes(method: str, path: str, query: dict[str, str], expected: R) -> None:
    attrs = requestinfo.request_attributes(method=method, path=path, query=query, user=ALICE)
    assert (attrs.user, attrs.groups, attrs.path) == ("alice", ("dev", AUTH), path)
    expected = {"resource_request": True, **expected}
    assert {k: getattr(attrs, k) for k in expected} == expected


# --- TokenReview ----------------------------------------------------------------------------------------

TOKENS = auth.TokenTable({"good": auth.authenticated_user("alice", uid="42", groups=["dev"])})
AUD = auth.DEFAULT_API_AUDIENCES[0]


def _token_review(token: str, audiences: list[str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"token": token}
    if audiences is not None:
        spec["audiences"] = audiences
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}


@pytest.mark.parametrize(
    ("body", "kwargs", "status"),
    [
        pytest.param(_token_review("good"), {}, {"authenticated": True, "audiences": [AUD],
                     "user": {"username": "alice", "uid": "42", "groups": ["dev", AUTH]}}, id="authenticated"),
        pytest.param(_token_review("bad"), {}, {"authenticated": False, "user": {}, "error": "invalid bearer token"},
                     id="unknown-token"),
        pytest.param(_token_review("good", ["other", AUD]), {}, {"authenticated": True, "audiences": [AUD],
                     "user": {"username": "alice", "uid": "42", "groups": ["dev", AUTH]}}, id="audience-intersection"),
        pytest.param(_token_review("good", ["other"]), {}, {"authenticated": False, "user": {},
                     "error": "invalid bearer token"}, id="wrong-audience"),
        pytest.param(_token_review("good"), {"api_audiences": ()}, {"authenticated": True,
                     "user": {"username": "alice", "uid": "42", "groups": ["dev", AUTH]}}, id="no-api-audiences"),
    ],
)
def test_review_token(body: dict[str, Any], kwargs: dict[str, Any], status: dict[str, Any]) -> None:
    review = reviews.review_token(body, TOKENS, **kwargs)
    assert review["kind"] == "TokenReview" and review["apiVersion"] == "authentication.k8s.io/v1"
    assert review["spec"] == body["spec"]
    assert review["status"] == status


def test_review_token_without_authenticator() -> None:
    assert reviews.review_token(_token_review("good"), None)["status"] == {"authenticated": False, "user": {}}


@pytest.mark.parametrize("spec", [pytest.param({}, id="no-token"), pytest.param({"token": ""}, id="empty")])
def test_review_token_requires_a_token(spec: dict[str, Any]) -> None:
    with pytest.raises(errors.ApiError) as info:
        reviews.review_token({"spec": spec}, TOKENS)
    assert (info.value.code, info.value.reason) == (400, "BadRequest")
    assert info.value.message == "token is required for TokenReview in authentication"


# --- SubjectAccessReview --------------------------------------------------------------------------------


def _sar(spec: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec, **top}


@pytest.mark.parametrize(
    ("spec", "status"),
    [
        pytest.param({"user": "alice", "resourceAttributes": {"verb": "list", "resource": "pods",
                      "namespace": "default"}}, {"allowed": True, "denied": False}, id="allowed"),
        pytest.param({"user": "alice", "resourceAttributes": {"verb": "list", "resource": "pods",
                      "namespace": "prod"}}, {"allowed": False, "denied": False}, id="denied"),
        pytest.param({"user": "x", "groups": [auth.MASTERS], "resourceAttributes": {"verb": "delete",
                      "resource": "nodes"}}, {"allowed": True, "denied": False}, id="masters"),
        pytest.param({"groups": [AUTH], "nonResourceAttributes": {"path": "/version", "verb": "get"}},
                     {"allowed": True, "denied": False}, id="non-resource-groups-only"),
        pytest.param({"user": "prom", "nonResourceAttributes": {"path": "/metrics", "verb": "get"}},
                     {"allowed": True, "denied": False}, id="non-resource-user"),
        pytest.param({"user": "alice", "nonResourceAttributes": {"path": "/metrics", "verb": "get"}},
                     {"allowed": False, "denied": False}, id="non-resource-denied"),
    ],
)
def test_review_access(policy: auth.Policy, spec: dict[str, Any], status: dict[str, Any]) -> None:
    review = reviews.review_access(_sar(spec), policy)
    assert review["kind"] == "SubjectAccessReview" and review["spec"] == spec
    reason = review["status"].pop("reason", "")
    assert review["status"] == status
    assert bool(reason) is status["allowed"]


@pytest.mark.parametrize(
    ("body", "fields", "message"),
    [
        pytest.param(_sar({"user": "a"}), ["spec.resourceAttributes"],
                     'Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes',
                     id="neither"),
        pytest.param(_sar({"user": "a", "resourceAttributes": {}, "nonResourceAttributes": {"path": "/"}}),
                     ["spec.nonResourceAttributes"], "cannot be specified in combination with resourceAttributes",
                     id="both"),
        pytest.param(_sar({"resourceAttributes": {"verb": "get"}}), ["spec.user"],
                     'Invalid value: "": at least one of user or group must be specified', id="no-subject"),
        pytest.param(_sar({"user": "a", "resourceAttributes": {}}, metadata={"name": "x"}), ["metadata"],
                     "must be empty", id="metadata"),
        pytest.param(_sar({}), ["spec.resourceAttributes", "spec.user"], "exactly one of", id="all-errors"),
    ],
)
def test_review_access_invalid(policy: auth.Policy, body: dict[str, Any], fields: list[str], message: str) -> None:
    with pytest.raises(errors.ApiError) as info:
        reviews.review_access(body, policy)
    err = info.value
    assert (err.code, err.reason) == (422, "Invalid")
    assert err.message.startswith('SubjectAccessReview.authorization.k8s.io "" is invalid: ')
    assert [c["field"] for c in err.details["causes"]] == fields  # type: ignore[index]
    assert message in err.message


@pytest.mark.parametrize("field", ["resourceAttributes", "nonResourceAttributes"])
def test_review_access_rejects_non_object_attributes(policy: auth.Policy, field: str) -> None:
    with pytest.raises(errors.ApiError) as info:
        reviews.review_access(_sar({"user": "a", field: "pods"}), policy)
    assert (info.value.code, info.value.reason) == (400, "BadRequest") and field in info.value.message


def test_review_access_accepts_empty_metadata(policy: auth.Policy) -> None:
    body = _sar({"user": "alice", "nonResourceAttributes": {"path": "/", "verb": "get"}},
                metadata={"creationTimestamp": None})
    assert reviews.review_access(body, policy)["status"]["allowed"] is False


def test_review_self_access_uses_the_requester(policy: auth.Policy) -> None:
    body = {"spec": {"resourceAttributes": {"verb": "get", "resource": "pods", "namespace": "default"}}}
    alice = auth.authenticated_user("alice")
    bob = auth.authenticated_user("bob")
    assert reviews.review_self_access(body, policy, user=alice)["status"]["allowed"] is True
    review = reviews.review_self_access(body, policy, user=bob)
    assert review["kind"] == "SelfSubjectAccessReview" and review["status"]["allowed"] is False


# --- Forbidden messages ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attrs", "reason", "message"),
    [
        pytest.param(_res("bob", "list", "pods", namespace="default"), "",
                     'pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace '
                     '"default"', id="namespaced-list"),
        pytest.param(_res("bob", "get", "pods", namespace="default", name="p1"), "",
                     'pods "p1" is forbidden: User "bob" cannot get resource "pods" in API group "" in the '
                     'namespace "default"', id="named"),
        pytest.param(_res("bob", "list", "nodes"), "",
                     'nodes is forbidden: User "bob" cannot list resource "nodes" in API group "" at the cluster '
                     "scope", id="cluster-scope"),
        pytest.param(_res("bob", "update", "deployments", api_group="apps", namespace="ns", name="d",
                          subresource="scale"), "",
                     'deployments.apps "d" is forbidden: User "bob" cannot update resource "deployments/scale" in '
                     'API group "apps" in the namespace "ns"', id="group-subresource"),
        pytest.param(_url("bob", "get", "/foo"), "", 'forbidden: User "bob" cannot get path "/foo"', id="path"),
        pytest.param(_url("system:anonymous", "get", "/metrics"), "no rule",
                     'forbidden: User "system:anonymous" cannot get path "/metrics": no rule', id="reason"),
        pytest.param(_url("<b>", "get", "/a&b"), "",
                     'forbidden: User "&lt;b&gt;" cannot get path "/a&amp;b"', id="html-escaped"),
    ],
)
def test_forbidden_message(attrs: auth.Attributes, reason: str, message: str) -> None:
    assert auth.forbidden_message(attrs, reason=reason) == message
