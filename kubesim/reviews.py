"""TokenReview, SubjectAccessReview and SelfSubjectAccessReview answers, as kube-apiserver gives them with a
token file and an authorizer. Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kubesim import errors
from kubesim.auth import DEFAULT_API_AUDIENCES, Attributes, Policy, TokenTable, UserInfo, go_value


def review_token(
    body: Mapping[str, Any], tokens: TokenTable | None, *, api_audiences: Sequence[str] = DEFAULT_API_AUDIENCES
) -> dict[str, Any]:
    """Answer an authentication.k8s.io TokenReview as kube-apiserver does with only a token file: the
    file is audience-agnostic, so it authenticates for the intersection of `api_audiences` and the
    requested audiences (all of `api_audiences` when none are requested). Raises errors.ApiError."""
    spec = dict(body.get("spec") or {})
    token = spec.get("token")
    if not isinstance(token, str) or not token:
        raise errors.bad_request("token is required for TokenReview in authentication")
    review = _review_shell(body, kind="TokenReview", api_version="authentication.k8s.io/v1", spec=spec)
    status: dict[str, Any] = {"authenticated": False, "user": {}}
    review["status"] = status
    if tokens is None:
        return review
    requested = [str(a) for a in spec.get("audiences") or ()]
    audiences = [a for a in api_audiences if a in requested] if requested else list(api_audiences)
    user = tokens.authenticate(token) if audiences or not (requested or api_audiences) else None
    if user is None:
        status["error"] = "invalid bearer token"
        return review
    status["authenticated"] = True
    status["user"] = _user_json(user)
    if audiences:
        status["audiences"] = audiences
    return review


def review_access(body: Mapping[str, Any], policy: Policy) -> dict[str, Any]:
    """Answer an authorization.k8s.io SubjectAccessReview against `policy`. Raises errors.ApiError
    (422 Invalid) for a review the apiserver rejects, with upstream's field errors."""
    spec = _checked_spec(body, kind="SubjectAccessReview", needs_subject=True)
    user = UserInfo(username=str(spec.get("user") or ""), groups=tuple(str(g) for g in spec.get("groups") or ()))
    return _decide(body, "SubjectAccessReview", spec, user, policy)


def review_self_access(body: Mapping[str, Any], policy: Policy, *, user: UserInfo) -> dict[str, Any]:
    """A SelfSubjectAccessReview (`kubectl auth can-i`): the same question about the requesting user."""
    spec = _checked_spec(body, kind="SelfSubjectAccessReview", needs_subject=False)
    return _decide(body, "SelfSubjectAccessReview", spec, user, policy)


def _checked_spec(body: Mapping[str, Any], *, kind: str, needs_subject: bool) -> dict[str, Any]:
    """The spec, after pkg/apis/authorization/validation's checks, in its order."""
    spec = dict(body.get("spec") or {})
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    for name, value in (("resourceAttributes", resource), ("nonResourceAttributes", non_resource)):
        if value is not None and not isinstance(value, Mapping):
            raise errors.bad_request(f"{kind}.spec.{name}: expected an object, got {go_value(value)}")
    causes: list[tuple[str, str, str]] = []
    invalid = "FieldValueInvalid"
    if resource is not None and non_resource is not None:
        causes.append(("spec.nonResourceAttributes", invalid, f"Invalid value: {go_value(non_resource)}: "
                       "cannot be specified in combination with resourceAttributes"))
    if resource is None and non_resource is None:
        causes.append(("spec.resourceAttributes", invalid, 'Invalid value: "null": '
                       "exactly one of nonResourceAttributes or resourceAttributes must be specified"))
    if needs_subject and not spec.get("user") and not spec.get("groups"):
        causes.append(("spec.user", invalid, f"Invalid value: {go_value(spec.get('user', ''))}: "
                       "at least one of user or group must be specified"))
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if v is not None and k != "managedFields"}
    if meta:
        causes.append(("metadata", invalid, f"Invalid value: {go_value(meta)}: must be empty"))
    if causes:
        raise errors.invalid("authorization.k8s.io", kind, "", causes)
    return spec


def _decide(
    body: Mapping[str, Any], kind: str, spec: dict[str, Any], user: UserInfo, policy: Policy
) -> dict[str, Any]:
    resource = spec.get("resourceAttributes")
    if resource is not None:
        attrs = Attributes(
            user=user.username,
            groups=user.groups,
            verb=str(resource.get("verb") or ""),
            resource_request=True,
            api_group=str(resource.get("group") or ""),
            api_version=str(resource.get("version") or "*"),  # upstream: empty matches all versions
            resource=str(resource.get("resource") or ""),
            subresource=str(resource.get("subresource") or ""),
            namespace=str(resource.get("namespace") or ""),
            name=str(resource.get("name") or ""),
        )
    else:
        non_resource = spec["nonResourceAttributes"]
        attrs = Attributes(
            user=user.username,
            groups=user.groups,
            verb=str(non_resource.get("verb") or ""),
            path=str(non_resource.get("path") or ""),
        )
    decision = policy.authorize(attrs)
    review = _review_shell(body, kind=kind, api_version="authorization.k8s.io/v1", spec=spec)
    review["status"] = {"allowed": decision.allowed, "denied": False}
    if decision.reason:
        review["status"]["reason"] = decision.reason
    return review


def _review_shell(body: Mapping[str, Any], *, kind: str, api_version: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": kind,
        "apiVersion": body.get("apiVersion") or api_version,
        "metadata": {"creationTimestamp": None, **(body.get("metadata") or {})},
        "spec": spec,
    }


def _user_json(user: UserInfo) -> dict[str, Any]:
    out: dict[str, Any] = {"username": user.username}
    if user.uid:
        out["uid"] = user.uid
    if user.groups:
        out["groups"] = list(user.groups)
    if user.extra:
        out["extra"] = {k: list(v) for k, v in user.extra.items()}
    return out
