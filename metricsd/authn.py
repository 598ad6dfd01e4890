"""Who is calling and may they: metrics-server's delegated authentication and authorization (k8s.io/apiserver
DelegatingAuthenticationOptions / DelegatingAuthorizationOptions), in front of the metrics API.

Authentication, in upstream's order: a front-proxy client certificate (verified against the
--requestheader-client-ca-file, its CN in --requestheader-allowed-names when that is set) names the user in
`X-Remote-User`, the groups in `X-Remote-Group`, extras in `X-Remote-Extra-*`; else a bearer token is checked by
a TokenReview (answers cached 10 s); else the request is anonymous. A token the API server rejects, a front-proxy
certificate with a CN not allowed, or an API server that cannot be reached is a 401. Authenticated users get
`system:authenticated`.

Authorization: --authorization-always-allow-paths (default /healthz, /readyz, /livez; `*` suffix for a prefix)
and the group system:masters are allowed without asking; anything else is a SubjectAccessReview (allowed and
denied answers each cached 10 s). A denial is a 403 with upstream's message; an API server that cannot be
reached is a 500.

`LoopbackTrust` is an explicit local mode for kubesim: a request from 127.0.0.0/8 or ::1 is taken as the user of
its X-Remote-* headers (or a fixed local user) and allowed without a review. It is never a default.

The API calls go through an injected `post(path, body) -> dict` (KubeClient.request in the server), so this
module does no I/O of its own.
"""

from __future__ import annotations

import ipaddress
import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID

from kubesim import errors
from kubesim.auth import ANONYMOUS, AUTHENTICATED, MASTERS, Attributes, UserInfo, forbidden_message

log = logging.getLogger("metricsd.authn")

Post = Callable[[str, Mapping[str, Any]], Awaitable[Mapping[str, Any]]]
TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
SUBJECT_ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
DEFAULT_ALWAYS_ALLOW_PATHS = ("/healthz", "/readyz", "/livez")
DEFAULT_ALWAYS_ALLOW_GROUPS = (MASTERS,)
CACHE_TTL_S = 10.0
_CACHE_MAX = 10_000


class Unauthorized(Exception):
    """The request's credentials were rejected or could not be checked (answered 401, logged with this)."""


class AuthorizationError(Exception):
    """The authorizer could not decide (the API server unreachable or answering garbage): a 500."""


@dataclass(frozen=True)
class Credentials:
    """What a request presents: its headers (repeated ones repeated, original case), the DER of the client
    certificate the TLS handshake verified (None without one) and the peer address."""

    headers: Sequence[tuple[str, str]]
    peer_cert_der: bytes | None
    remote: str

    def values(self, name: str) -> list[str]:
        lower = name.lower()
        return [v for k, v in self.headers if k.lower() == lower]


@dataclass(frozen=True)
class RequestHeaderOptions:
    """--requestheader-* flags: the CAs a front proxy's certificate must chain to, the CNs allowed (any when
    empty) and the headers read."""

    ca_certs: tuple[x509.Certificate, ...]
    allowed_names: tuple[str, ...] = ()
    username_headers: tuple[str, ...] = ("X-Remote-User",)
    group_headers: tuple[str, ...] = ("X-Remote-Group",)
    extra_headers_prefixes: tuple[str, ...] = ("X-Remote-Extra-",)

    @classmethod
    def from_file(cls, ca_file: str, *, allowed_names: Iterable[str] = ()) -> RequestHeaderOptions:
        with open(ca_file, "rb") as f:
            certs = tuple(x509.load_pem_x509_certificates(f.read()))
        return cls(ca_certs=certs, allowed_names=tuple(allowed_names))


@dataclass(frozen=True)
class LoopbackTrust:
    """The explicit local mode: loopback callers are trusted; without X-Remote-User they are `user`."""

    user: str = "system:admin"
    groups: tuple[str, ...] = (MASTERS,)


# --- pure parts -------------------------------------------------------------------------------------------

def is_loopback(remote: str) -> bool:
    try:
        return ipaddress.ip_address(remote.split("%")[0]).is_loopback
    except ValueError:
        return False


def bearer_token(creds: Credentials) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, as upstream's bearertoken authenticator reads
    it (case-insensitive scheme, one space-free token); None when absent or of another scheme."""
    values = creds.values("Authorization")
    if not values:
        return None
    parts = values[0].strip().split(" ")
    if len(parts) < 2 or parts[0].lower() != "bearer":
        return None
    token = parts[1]
    return token or None


def verify_front_proxy(cert_der: bytes, options: RequestHeaderOptions, *, now: datetime) -> str:
    """The CN of a front proxy's client certificate; Unauthorized when it is not issued by one of the
    requestheader CAs for client use, not valid at `now`, or its CN is not allowed. (Certificates are checked
    against the CAs directly: intermediates are not followed.)"""
    try:
        cert = x509.load_der_x509_certificate(cert_der)
    except ValueError as e:
        raise Unauthorized(f"x509: malformed certificate: {e}") from None
    if not any(_issued_by(cert, ca) for ca in options.ca_certs):
        raise Unauthorized("x509: certificate signed by unknown authority")
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise Unauthorized("x509: certificate has expired or is not yet valid")
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = None
    if usages is not None and ExtendedKeyUsageOID.CLIENT_AUTH not in usages \
            and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in usages:
        raise Unauthorized("x509: certificate specifies an incompatible key usage")
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    common_name = str(names[-1].value) if names else ""
    if options.allowed_names and common_name not in options.allowed_names:
        raise Unauthorized(f"x509: subject with cn={common_name} is not in the allowed list")
    return common_name


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def requestheader_user(creds: Credentials, options: RequestHeaderOptions) -> UserInfo | None:
    """The user the X-Remote-* headers name (None without a user name), as headerrequest reads them: the first
    non-empty user header, every value of every group header, extras keyed by the lower-cased, unescaped rest
    of their header name."""
    name = next((v for h in options.username_headers for v in creds.values(h)[:1] if v), None)
    if name is None:
        return None
    groups = tuple(v for h in options.group_headers for v in creds.values(h))
    extra: dict[str, list[str]] = {}
    for header, value in creds.headers:
        for prefix in options.extra_headers_prefixes:
            if header.lower().startswith(prefix.lower()):
                key = urllib.parse.unquote(header[len(prefix):].lower())
                extra.setdefault(key, []).append(value)
    return UserInfo(username=name, groups=groups, extra={k: tuple(v) for k, v in extra.items()})


def with_authenticated_group(user: UserInfo) -> UserInfo:
    """AuthenticatedGroupAdder: every authenticated user is in system:authenticated."""
    if AUTHENTICATED in user.groups:
        return user
    return UserInfo(username=user.username, uid=user.uid, groups=(*user.groups, AUTHENTICATED), extra=user.extra)


def token_review(token: str, audiences: Sequence[str] = ()) -> dict[str, Any]:
    spec: dict[str, Any] = {"token": token}
    if audiences:
        spec["audiences"] = list(audiences)
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "metadata": {"creationTimestamp": None},
            "spec": spec, "status": {"user": {}}}


def user_from_review(review: Mapping[str, Any]) -> UserInfo:
    """The user a TokenReview answer authenticates; Unauthorized with its error otherwise."""
    status = review.get("status") if isinstance(review, Mapping) else None
    if not isinstance(status, Mapping):
        raise Unauthorized("the TokenReview answer has no status")
    if not status.get("authenticated"):
        raise Unauthorized(str(status.get("error") or "invalid bearer token"))
    user = status.get("user") or {}
    extra = {str(k): tuple(str(x) for x in v or ()) for k, v in (user.get("extra") or {}).items()}
    return UserInfo(username=str(user.get("username", "")), uid=str(user.get("uid", "")),
                    groups=tuple(str(g) for g in user.get("groups") or ()), extra=extra)


def subject_access_review(attrs: Attributes, user: UserInfo) -> dict[str, Any]:
    """The SubjectAccessReview the webhook authorizer sends for `attrs` (empty attributes left out)."""
    spec: dict[str, Any]
    if attrs.resource_request:
        resource = {"namespace": attrs.namespace, "verb": attrs.verb, "group": attrs.api_group,
                    "version": attrs.api_version, "resource": attrs.resource, "subresource": attrs.subresource,
                    "name": attrs.name}
        spec = {"resourceAttributes": {k: v for k, v in resource.items() if v}}
    else:
        spec = {"nonResourceAttributes": {"path": attrs.path, "verb": attrs.verb}}
    spec["user"] = user.username
    if user.groups:
        spec["groups"] = list(user.groups)
    if user.extra:
        spec["extra"] = {k: list(v) for k, v in user.extra.items()}
    if user.uid:
        spec["uid"] = user.uid
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "metadata": {"creationTimestamp": None}, "spec": spec, "status": {"allowed": False}}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""


def decision_from_review(review: Mapping[str, Any]) -> Decision:
    status = review.get("status") if isinstance(review, Mapping) else None
    if not isinstance(status, Mapping):
        raise AuthorizationError("the SubjectAccessReview answer has no status")
    allowed = bool(status.get("allowed")) and not status.get("denied")
    if not allowed and status.get("evaluationError"):
        log.info("SubjectAccessReview evaluation error: %s", status["evaluationError"])
    return Decision(allowed, str(status.get("reason") or ""))


def path_always_allowed(path: str, patterns: Iterable[str]) -> bool:
    """authorizer/path: exact paths, or prefixes written with a trailing `*`; a leading `/` is optional."""
    for pattern in patterns:
        pattern = pattern if pattern.startswith("/") else "/" + pattern
        if (pattern.endswith("*") and path.startswith(pattern[:-1])) or path == pattern:
            return True
    return False


def forbidden(attrs: Attributes, reason: str = "") -> errors.ApiError:
    """responsewriters.Forbidden: 403 with `… is forbidden: User "x" cannot list resource "pods" …`."""
    details = {"name": attrs.name, "group": attrs.api_group, "kind": attrs.resource} if attrs.resource else None
    if details is not None:
        details = {k: v for k, v in details.items() if v}
    return errors.ApiError(403, "Forbidden", forbidden_message(attrs, reason=reason), details)


def loopback_user(creds: Credentials, trust: LoopbackTrust) -> UserInfo:
    """The user of a trusted loopback request: its X-Remote-User/-Group, else the configured local user."""
    options = RequestHeaderOptions(ca_certs=())
    user = requestheader_user(creds, options)
    if user is None:
        user = UserInfo(username=trust.user, groups=trust.groups)
    return with_authenticated_group(user)


# --- the two stages ---------------------------------------------------------------------------------------

@dataclass
class _Ttl:
    """A small TTL cache (insertion-ordered; the oldest entries go first when full)."""

    clock: Callable[[], float]
    entries: dict[Any, tuple[float, Any]] = field(default_factory=dict)

    def get(self, key: Any) -> Any:
        hit = self.entries.get(key)
        if hit is None:
            return None
        if hit[0] <= self.clock():
            del self.entries[key]
            return None
        return hit[1]

    def put(self, key: Any, value: Any, ttl_s: float) -> None:
        if len(self.entries) >= _CACHE_MAX:
            now = self.clock()
            self.entries = {k: v for k, v in self.entries.items() if v[0] > now}
            while len(self.entries) >= _CACHE_MAX:
                del self.entries[next(iter(self.entries))]
        self.entries[key] = (self.clock() + ttl_s, value)


class Authenticator:
    """Front-proxy certificate, then bearer token (TokenReview, cached), then anonymous."""

    def __init__(self, *, post: Post | None, requestheader: RequestHeaderOptions | None = None,
                 audiences: Sequence[str] = (), cache_ttl_s: float = CACHE_TTL_S, anonymous: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._post = post
        self._requestheader = requestheader
        self._audiences = tuple(audiences)
        self._ttl = cache_ttl_s
        self._anonymous = anonymous
        self._cache = _Ttl(clock)
        self.reviews = 0  # TokenReviews sent (for tests and telemetry)

    async def authenticate(self, creds: Credentials) -> UserInfo:
        """The caller; Unauthorized (401) when credentials are presented and rejected or cannot be checked."""
        problems: list[str] = []
        if self._requestheader is not None and creds.peer_cert_der is not None:
            try:
                verify_front_proxy(creds.peer_cert_der, self._requestheader, now=datetime.now(UTC))
            except Unauthorized as e:  # as upstream's union: the next authenticator may still succeed
                problems.append(str(e))
            else:
                user = requestheader_user(creds, self._requestheader)
                if user is not None:
                    return with_authenticated_group(user)
        token = bearer_token(creds)
        if token is not None:
            try:
                return with_authenticated_group(await self._review(token))
            except Unauthorized as e:
                problems.append(str(e))
        if problems:
            raise Unauthorized("; ".join(problems))
        if self._anonymous:
            return ANONYMOUS
        raise Unauthorized("no credentials")

    async def _review(self, token: str) -> UserInfo:
        if self._post is None:
            raise Unauthorized("bearer tokens are not accepted: no API server to review them")
        cached = self._cache.get(token)
        if cached is not None:
            if isinstance(cached, Unauthorized):
                raise cached
            return cached
        self.reviews += 1
        try:
            answer = await self._post(TOKEN_REVIEWS, token_review(token, self._audiences))
        except Exception as e:  # any failure to reach the API server is a 401, never a crash
            raise Unauthorized(f"TokenReview failed: {e}") from None
        try:
            user = user_from_review(answer)
        except Unauthorized as e:
            self._cache.put(token, e, self._ttl)
            raise
        self._cache.put(token, user, self._ttl)
        return user


class Authorizer:
    """Always-allowed paths and groups, then SubjectAccessReview (allowed and denied answers cached)."""

    def __init__(self, *, post: Post, always_allow_paths: Sequence[str] = DEFAULT_ALWAYS_ALLOW_PATHS,
                 always_allow_groups: Sequence[str] = DEFAULT_ALWAYS_ALLOW_GROUPS, allow_ttl_s: float = CACHE_TTL_S,
                 deny_ttl_s: float = CACHE_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._post = post
        self.always_allow_paths = tuple(always_allow_paths)
        self._groups = frozenset(always_allow_groups)
        self._allow_ttl, self._deny_ttl = allow_ttl_s, deny_ttl_s
        self._cache = _Ttl(clock)
        self.reviews = 0  # SubjectAccessReviews sent

    async def authorize(self, attrs: Attributes, user: UserInfo) -> Decision:
        """Allowed or not (with the reason); AuthorizationError when the API server cannot say."""
        if not attrs.resource_request and path_always_allowed(attrs.path, self.always_allow_paths):
            return Decision(True)
        if self._groups.intersection(user.groups):
            return Decision(True)
        body = subject_access_review(attrs, user)
        key = repr(body["spec"])
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        self.reviews += 1
        try:
            answer = await self._post(SUBJECT_ACCESS_REVIEWS, body)
        except Exception as e:  # a failed review is a 500, never a crash
            raise AuthorizationError(f"SubjectAccessReview failed: {e}") from None
        decision = decision_from_review(answer)
        self._cache.put(key, decision, self._allow_ttl if decision.allowed else self._deny_ttl)
        return decision


__all__ = ["CACHE_TTL_S", "DEFAULT_ALWAYS_ALLOW_GROUPS", "DEFAULT_ALWAYS_ALLOW_PATHS", "SUBJECT_ACCESS_REVIEWS",
           "TOKEN_REVIEWS", "Authenticator", "AuthorizationError", "Authorizer", "Credentials", "Decision",
           "LoopbackTrust", "Post", "RequestHeaderOptions", "Unauthorized", "bearer_token", "decision_from_review",
           "forbidden", "is_loopback", "loopback_user", "path_always_allowed", "requestheader_user",
           "subject_access_review", "token_review", "user_from_review", "verify_front_proxy",
           "with_authenticated_group"]
