"""metricsd.authn on plain data: header and token parsing, front-proxy certificates, review bodies, upstream
messages, and the two stages' caching against a fake API server with real state (kubesim's review logic)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509

from kubescale import pki
from kubesim import errors, reviews
from kubesim.auth import ANONYMOUS, Attributes, Policy, Rule, TokenTable, UserInfo, authenticated_user
from metricsd import authn

USER = UserInfo(username="alice", groups=("dev",))


def creds(*headers: tuple[str, str], cert: bytes | None = None, remote: str = "10.0.0.9") -> authn.Credentials:
    return authn.Credentials(headers=list(headers), peer_cert_der=cert, remote=remote)


class FakeApi:
    """TokenReview and SubjectAccessReview answered by kubesim's review code over a token table and a policy;
    counts calls and can be made to fail."""

    def __init__(self) -> None:
        self.tokens = TokenTable({"good": authenticated_user("alice", uid="u1", groups=["dev"])})
        self.policy = Policy(rules=(Rule(verbs=frozenset({"get", "list"}), users=frozenset({"alice"}),
                                         api_groups=frozenset({"metrics.k8s.io"}), resources=frozenset({"pods"}),
                                         namespaces=frozenset({"default"}), source="test"),))
        self.calls: list[tuple[str, Mapping[str, Any]]] = []
        self.down = False

    async def post(self, path: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        self.calls.append((path, body))
        if self.down:
            raise ConnectionRefusedError("connect: connection refused")
        if path == authn.TOKEN_REVIEWS:
            return reviews.review_token(body, self.tokens, api_audiences=())
        if path == authn.SUBJECT_ACCESS_REVIEWS:
            return reviews.review_access(body, self.policy)
        raise errors.not_found("", "", path)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


# --- parsing ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("header", "token"), [
    pytest.param("Bearer abc", "abc", id="bearer"),
    pytest.param("bearer abc", "abc", id="lower-case-scheme"),
    pytest.param("  Bearer abc  ", "abc", id="trimmed"),
    pytest.param("Bearer abc def", "abc", id="extra-words"),
    pytest.param("Basic abc", None, id="basic"),
    pytest.param("Bearer", None, id="no-token"),
    pytest.param("Bearer  abc", None, id="double-space-empty-token"),
])
def test_bearer_token(header: str, token: str | None) -> None:
    assert authn.bearer_token(creds(("Authorization", header))) == token


def test_no_authorization_header() -> None:
    assert authn.bearer_token(creds()) is None


def test_requestheader_user_reads_all_groups_and_extras() -> None:
    c = creds(("X-Remote-User", "bob"), ("x-remote-user", "eve"),
              ("X-Remote-Group", "a,b"), ("X-Remote-Group", "c"),
              ("X-Remote-Extra-Scopes", "s1"), ("x-remote-extra-scopes", "s2"),
              ("X-Remote-Extra-Example.com%2fteam", "t"))
    user = authn.requestheader_user(c, authn.RequestHeaderOptions(ca_certs=()))
    assert user == UserInfo(username="bob", groups=("a,b", "c"),
                            extra={"scopes": ("s1", "s2"), "example.com/team": ("t",)})


def test_requestheader_without_user_names_nobody() -> None:
    opts = authn.RequestHeaderOptions(ca_certs=())
    assert authn.requestheader_user(creds(("X-Remote-Group", "g")), opts) is None
    # as Go's Header.Get: only the first value of the header counts
    assert authn.requestheader_user(creds(("X-Remote-User", ""), ("X-Remote-User", "bob")), opts) is None


@pytest.mark.parametrize(("path", "allowed"), [
    pytest.param("/healthz", True, id="exact"), pytest.param("/healthz/ping", False, id="not-a-prefix"),
    pytest.param("/readyz", True, id="readyz"), pytest.param("/debug/pprof/heap", True, id="star-prefix"),
    pytest.param("/metrics", True, id="no-leading-slash"), pytest.param("/apis", False, id="other"),
])
def test_always_allowed_paths(path: str, allowed: bool) -> None:
    assert authn.path_always_allowed(path, ["/healthz", "/readyz", "/debug/*", "metrics"]) is allowed


@pytest.mark.parametrize(("remote", "loopback"), [
    pytest.param("127.0.0.1", True, id="v4"), pytest.param("127.3.2.1", True, id="v4-net"),
    pytest.param("::1", True, id="v6"), pytest.param("10.0.0.1", False, id="private"),
    pytest.param("", False, id="empty"), pytest.param("not-an-ip", False, id="garbage"),
])
def test_is_loopback(remote: str, loopback: bool) -> None:
    assert authn.is_loopback(remote) is loopback


def test_loopback_user() -> None:
    trust = authn.LoopbackTrust()
    assert authn.loopback_user(creds(), trust) == UserInfo(
        username="system:admin", groups=("system:masters", "system:authenticated"))
    assert authn.loopback_user(creds(("X-Remote-User", "bob"), ("X-Remote-Group", "g")), trust) == UserInfo(
        username="bob", groups=("g", "system:authenticated"))


# --- front-proxy certificates -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ca() -> pki.KeyPair:
    return pki.generate_ca(common_name="front-proxy-ca")


def der(pair: pki.KeyPair) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding
    return x509.load_pem_x509_certificate(pair.cert_pem).public_bytes(Encoding.DER)


def options(ca: pki.KeyPair, allowed: tuple[str, ...] = ()) -> authn.RequestHeaderOptions:
    return authn.RequestHeaderOptions(ca_certs=(x509.load_pem_x509_certificate(ca.cert_pem),), allowed_names=allowed)


NOW = datetime.now(UTC)


def test_front_proxy_certificate_accepted(ca: pki.KeyPair) -> None:
    cert = pki.issue_cert(ca=ca, common_name="front-proxy-client", client=True, server=False)
    assert authn.verify_front_proxy(der(cert), options(ca), now=NOW) == "front-proxy-client"
    assert authn.verify_front_proxy(der(cert), options(ca, ("front-proxy-client",)), now=NOW) == "front-proxy-client"


@pytest.mark.parametrize(("case", "message"), [
    pytest.param("other-ca", "x509: certificate signed by unknown authority", id="other-ca"),
    pytest.param("cn", "x509: subject with cn=front-proxy-client is not in the allowed list", id="cn-not-allowed"),
    pytest.param("server-only", "x509: certificate specifies an incompatible key usage", id="server-usage"),
    pytest.param("expired", "x509: certificate has expired or is not yet valid", id="expired"),
    pytest.param("garbage", "x509: malformed certificate", id="garbage"),
])
def test_front_proxy_certificate_rejected(ca: pki.KeyPair, case: str, message: str) -> None:
    good = der(pki.issue_cert(ca=ca, common_name="front-proxy-client", client=True, server=False))
    cert, opts, now = good, options(ca), NOW
    if case == "other-ca":
        other = pki.generate_ca(common_name="other")
        cert = der(pki.issue_cert(ca=other, common_name="front-proxy-client", client=True, server=False))
    elif case == "cn":
        opts = options(ca, ("aggregator",))
    elif case == "server-only":
        cert = der(pki.issue_cert(ca=ca, common_name="front-proxy-client", dns_names=["x"]))
    elif case == "expired":
        now = NOW + timedelta(days=400)
    else:
        cert = b"not a certificate"
    with pytest.raises(authn.Unauthorized, match=message.replace(".", r"\.")):
        authn.verify_front_proxy(cert, opts, now=now)


# --- review bodies and answers ----------------------------------------------------------------------------

def test_subject_access_review_for_a_resource() -> None:
    attrs = Attributes(user="alice", groups=("dev",), verb="list", resource_request=True,
                       api_group="metrics.k8s.io", api_version="v1beta1", resource="pods", namespace="default")
    user = UserInfo(username="alice", uid="u1", groups=("dev",), extra={"scopes": ("a",)})
    assert authn.subject_access_review(attrs, user) == {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "metadata": {"creationTimestamp": None},
        "spec": {"resourceAttributes": {"namespace": "default", "verb": "list", "group": "metrics.k8s.io",
                                        "version": "v1beta1", "resource": "pods"},
                 "user": "alice", "groups": ["dev"], "extra": {"scopes": ["a"]}, "uid": "u1"},
        "status": {"allowed": False}}


def test_subject_access_review_for_a_path() -> None:
    attrs = Attributes(user="alice", verb="get", path="/metrics")
    assert authn.subject_access_review(attrs, UserInfo("alice"))["spec"] == {
        "nonResourceAttributes": {"path": "/metrics", "verb": "get"}, "user": "alice"}


@pytest.mark.parametrize(("attrs", "reason", "message"), [
    pytest.param(Attributes(user="x", verb="list", resource_request=True, api_group="metrics.k8s.io",
                            resource="pods", namespace="default"), "",
                 'pods.metrics.k8s.io is forbidden: User "x" cannot list resource "pods" in API group '
                 '"metrics.k8s.io" in the namespace "default"', id="list-pods"),
    pytest.param(Attributes(user="x", verb="get", resource_request=True, api_group="metrics.k8s.io",
                            resource="nodes", name="n1"), "no RBAC policy matched",
                 'nodes.metrics.k8s.io "n1" is forbidden: User "x" cannot get resource "nodes" in API group '
                 '"metrics.k8s.io" at the cluster scope: no RBAC policy matched', id="get-node-with-reason"),
    pytest.param(Attributes(user="system:anonymous", verb="get", path="/metrics"), "",
                 'forbidden: User "system:anonymous" cannot get path "/metrics"', id="path"),
])
def test_forbidden_messages(attrs: Attributes, reason: str, message: str) -> None:
    status = authn.forbidden(attrs, reason).status()
    assert (status["code"], status["reason"], status["message"]) == (403, "Forbidden", message)


def test_review_answers() -> None:
    assert authn.user_from_review({"status": {"authenticated": True, "user": {
        "username": "a", "uid": "1", "groups": ["g"], "extra": {"k": ["v"]}}}}) == UserInfo(
        "a", uid="1", groups=("g",), extra={"k": ("v",)})
    with pytest.raises(authn.Unauthorized, match="token expired"):
        authn.user_from_review({"status": {"authenticated": False, "error": "token expired"}})
    with pytest.raises(authn.Unauthorized):
        authn.user_from_review({"kind": "Status"})
    assert authn.decision_from_review({"status": {"allowed": True}}) == authn.Decision(True)
    assert authn.decision_from_review({"status": {"allowed": False, "reason": "r"}}) == authn.Decision(False, "r")
    with pytest.raises(authn.AuthorizationError):
        authn.decision_from_review({})


# --- the stages against the fake API server ---------------------------------------------------------------

async def test_token_reviews_are_cached_for_ten_seconds() -> None:
    api, clock = FakeApi(), Clock()
    a = authn.Authenticator(post=api.post, clock=clock)
    bearer = ("Authorization", "Bearer good")
    user = await a.authenticate(creds(bearer))
    assert user == UserInfo("alice", uid="u1", groups=("dev", "system:authenticated"))
    await a.authenticate(creds(bearer))
    clock.t += 9.9
    await a.authenticate(creds(bearer))
    assert a.reviews == 1
    clock.t += 0.2
    await a.authenticate(creds(bearer))
    assert a.reviews == 2


async def test_bad_tokens_are_401_and_cached_too() -> None:
    api = FakeApi()
    a = authn.Authenticator(post=api.post, clock=Clock())
    for _ in range(2):
        with pytest.raises(authn.Unauthorized, match="invalid bearer token"):
            await a.authenticate(creds(("Authorization", "Bearer bad")))
    assert a.reviews == 1


async def test_unreachable_api_server_is_401_and_not_cached() -> None:
    api = FakeApi()
    api.down = True
    a = authn.Authenticator(post=api.post, clock=Clock())
    with pytest.raises(authn.Unauthorized, match="TokenReview failed: connect: connection refused"):
        await a.authenticate(creds(("Authorization", "Bearer good")))
    api.down = False
    assert (await a.authenticate(creds(("Authorization", "Bearer good")))).username == "alice"


async def test_no_credentials_is_anonymous_or_401() -> None:
    assert await authn.Authenticator(post=None).authenticate(creds()) == ANONYMOUS
    with pytest.raises(authn.Unauthorized):
        await authn.Authenticator(post=None, anonymous=False).authenticate(creds())


async def test_front_proxy_then_token(ca: pki.KeyPair) -> None:
    api = FakeApi()
    a = authn.Authenticator(post=api.post, requestheader=options(ca, ("front-proxy-client",)))
    proxy = der(pki.issue_cert(ca=ca, common_name="front-proxy-client", client=True, server=False))
    stranger = der(pki.issue_cert(ca=ca, common_name="someone", client=True, server=False))
    remote_user = ("X-Remote-User", "carol")
    assert (await a.authenticate(creds(remote_user, ("X-Remote-Group", "ops"), cert=proxy))) == UserInfo(
        "carol", groups=("ops", "system:authenticated"))
    # an allowed proxy without X-Remote-User falls through to the token, then to anonymous
    assert (await a.authenticate(creds(("Authorization", "Bearer good"), cert=proxy))).username == "alice"
    assert await a.authenticate(creds(cert=proxy)) == ANONYMOUS
    # a certificate that is not an allowed proxy: the headers are ignored; the token may still authenticate
    assert (await a.authenticate(creds(remote_user, ("Authorization", "Bearer good"), cert=stranger))).username \
        == "alice"
    with pytest.raises(authn.Unauthorized, match="not in the allowed list"):
        await a.authenticate(creds(remote_user, cert=stranger))
    assert a.reviews == 1  # the token's review is cached


async def test_authorizer_asks_once_per_ten_seconds() -> None:
    api, clock = FakeApi(), Clock()
    z = authn.Authorizer(post=api.post, clock=clock)
    alice = UserInfo("alice", groups=("dev", "system:authenticated"))
    allowed = Attributes(user="alice", verb="list", resource_request=True, api_group="metrics.k8s.io",
                         api_version="v1beta1", resource="pods", namespace="default")
    denied = Attributes(user="alice", verb="list", resource_request=True, api_group="metrics.k8s.io",
                        api_version="v1beta1", resource="pods", namespace="kube-system")
    assert (await z.authorize(allowed, alice)).allowed
    assert not (await z.authorize(denied, alice)).allowed
    assert (await z.authorize(allowed, alice)).allowed
    assert not (await z.authorize(denied, alice)).allowed
    assert z.reviews == 2
    clock.t += 10.5
    api.policy = Policy()  # revoked: seen once the cached answer expires
    assert not (await z.authorize(allowed, alice)).allowed
    assert z.reviews == 3


async def test_authorizer_shortcuts_and_failures() -> None:
    api = FakeApi()
    z = authn.Authorizer(post=api.post)
    health = Attributes(user="system:anonymous", verb="get", path="/livez")
    assert (await z.authorize(health, ANONYMOUS)).allowed
    admin = UserInfo("root", groups=("system:masters",))
    anything = Attributes(user="root", verb="list", resource_request=True, resource="pods")
    assert (await z.authorize(anything, admin)).allowed
    assert z.reviews == 0
    api.down = True
    with pytest.raises(authn.AuthorizationError, match="SubjectAccessReview failed"):
        await z.authorize(Attributes(user="bob", verb="get", path="/metrics"), UserInfo("bob"))
