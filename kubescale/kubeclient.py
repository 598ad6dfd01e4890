"""The asyncio Kubernetes API client every kubescale component uses: JSON requests over one keep-alive aiohttp
session, Status bodies turned into `ApiError`, paged lists and streamed watches.

Raw JSON in and out: no typed models, no retries (callers and `informing.Informer` decide), no caching.
Connection failures surface as aiohttp.ClientError or TimeoutError.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp

from kubescale import kubeconfig
from kubescale.kubeconfig import ClusterConfig

log = logging.getLogger(__name__)

# The reason client-go gives a response that carries no Status body (apimachinery NewGenericServerResponse).
_GENERIC_REASONS = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
    406: "NotAcceptable", 409: "Conflict", 410: "Gone", 413: "RequestEntityTooLarge", 415: "UnsupportedMediaType",
    422: "Invalid", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
}
TOKEN_FILE_REFRESH_S = 60.0  # client-go's cachingTokenSource re-reads a token file once a minute
PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}


class ApiError(Exception):
    """A response with status ≥ 400 (or a watch ERROR event): the Status's code, reason and message."""

    def __init__(self, status: int, reason: str, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body

    @classmethod
    def from_status(cls, status: int, body: dict[str, Any] | None) -> ApiError:
        """From a decoded body: a metav1.Status when it is one, else the generic reason for `status`."""
        if isinstance(body, dict) and body.get("kind") == "Status":
            code = body.get("code")
            return cls(int(code) if isinstance(code, int) and code else status,
                       str(body.get("reason") or _GENERIC_REASONS.get(status, "Unknown")),
                       str(body.get("message") or ""), body)
        return cls(status, _GENERIC_REASONS.get(status, "Unknown"), _generic_message(status), body)

    @classmethod
    def from_response(cls, status: int, data: bytes) -> ApiError:
        try:
            body = json.loads(data) if data else None
        except (ValueError, UnicodeDecodeError):
            text = data[:200].decode("utf-8", "replace").strip()
            return cls(status, _GENERIC_REASONS.get(status, "Unknown"), text or _generic_message(status))
        return cls.from_status(status, body if isinstance(body, dict) else None)


def _generic_message(status: int) -> str:
    if status == 404:
        return "the server could not find the requested resource"
    return f"the server responded with status {status}"


class KubeClient:
    """One API server, one aiohttp session (created on first use, in the running loop)."""

    def __init__(self, config: ClusterConfig, *, user_agent: str = "kubescale", connection_limit: int = 100,
                 token_refresh_s: float = TOKEN_FILE_REFRESH_S) -> None:
        self.config = config
        self.user_agent = user_agent
        self._ssl = kubeconfig.ssl_context(config)  # fails here, at start, on bad TLS material
        self._connection_limit = connection_limit
        self._session: aiohttp.ClientSession | None = None
        self._token = config.token
        self._token_refresh_s = token_refresh_s
        self._token_read_at = time.monotonic() if config.token is not None else float("-inf")

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- plumbing --------------------------------------------------------------------------------------------------
    def _session_for_loop(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connection_limit, ssl=self._ssl if self._ssl else True,
                                             keepalive_timeout=60)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True)
        return self._session

    def _headers(self, *, accept: str = "application/json") -> dict[str, str]:
        headers = {"Accept": accept, "User-Agent": self.user_agent}
        token = self._bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif self.config.username is not None:
            pair = f"{self.config.username}:{self.config.password or ''}".encode()
            headers["Authorization"] = f"Basic {base64.b64encode(pair).decode()}"
        return headers

    def _bearer_token(self) -> str | None:
        """The token, re-read from `token_file` every `token_refresh_s`; the last good one if a read fails."""
        path = self.config.token_file
        if path and time.monotonic() - self._token_read_at >= self._token_refresh_s:
            try:
                with open(path) as f:
                    self._token = f.read().strip() or self._token
            except OSError as e:
                log.warning("cannot re-read the token file %s (keeping the last token): %s", path, e)
            self._token_read_at = time.monotonic()
        return self._token

    def url(self, path: str) -> str:
        return self.config.server + (path if path.startswith("/") else "/" + path)

    def _request_kwargs(self) -> dict[str, Any]:
        """tls-server-name: the name sent in SNI and checked against the serving certificate."""
        if self._ssl is None or not self.config.tls_server_name:
            return {}
        return {"server_hostname": self.config.tls_server_name}

    # -- requests --------------------------------------------------------------------------------------------------
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout_s: float = 30,
    ) -> Any:
        """One request; the decoded JSON response (None when empty). `body` is sent as is when bytes or str,
        else as JSON. Raises ApiError for status ≥ 400."""
        headers = self._headers()
        data = _encode(body)
        if data is not None:
            headers["Content-Type"] = content_type
        session = self._session_for_loop()
        async with session.request(method, self.url(path), params=dict(params or {}), data=data, headers=headers,
                                   timeout=aiohttp.ClientTimeout(total=timeout_s), **self._request_kwargs()) as resp:
            raw = await resp.read()
            if resp.status >= 400:
                raise ApiError.from_response(resp.status, raw)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(resp.status, "InternalError",
                           f"{method} {path}: the response is not JSON: {raw[:100]!r}") from None

    async def get(self, path: str, *, params: Mapping[str, str] | None = None) -> Any:
        return await self.request("GET", path, params=params)

    async def create(self, path: str, body: Any, *, params: Mapping[str, str] | None = None) -> Any:
        return await self.request("POST", path, params=params, body=body)

    async def update(self, path: str, body: Any, *, params: Mapping[str, str] | None = None) -> Any:
        return await self.request("PUT", path, params=params, body=body)

    async def patch(self, path: str, body: Any, *, patch_type: str = "merge",
                    params: Mapping[str, str] | None = None) -> Any:
        """PATCH with `patch_type` one of merge, json, strategic, apply."""
        if patch_type not in PATCH_TYPES:
            raise ValueError(f"unknown patch type {patch_type!r}; valid: {', '.join(PATCH_TYPES)}")
        return await self.request("PATCH", path, params=params, body=body, content_type=PATCH_TYPES[patch_type])

    async def delete(self, path: str, *, body: Any = None, params: Mapping[str, str] | None = None) -> Any:
        return await self.request("DELETE", path, params=params, body=body)

    async def list(
        self, path: str, *, params: Mapping[str, str] | None = None, page_size: int = 500,
        item: Callable[[dict[str, Any]], Any] | None = None,
    ) -> tuple[list[Any], str]:
        """Every item of a collection, following `continue` tokens in pages of `page_size` (0: one request),
        and the list's resourceVersion. When a continue token has expired (410) the list restarts unpaged,
        as client-go's pager does. `item`, when given, turns each object into what is kept as its page
        arrives, so that 150,000 full Pods are never held at once."""
        items: list[Any] = []
        query = dict(params or {})
        if page_size > 0:
            query["limit"] = str(page_size)
        while True:
            try:
                page = await self.get(path, params=query)
            except ApiError as e:
                if e.status != 410 or "continue" not in query:
                    raise
                log.info("list %s: continue token expired, listing again in one request", path)
                items, query = [], {k: v for k, v in query.items() if k not in ("continue", "limit")}
                continue
            if not isinstance(page, dict):
                raise ApiError(500, "InternalError", f"list {path}: the response is not a list object")
            page_items = page.get("items") or []
            items.extend(map(item, page_items) if item is not None else page_items)
            meta = page.get("metadata") or {}
            token = meta.get("continue")
            if not token:
                return items, str(meta.get("resourceVersion") or "")
            query["continue"] = str(token)

    async def watch(
        self,
        path: str,
        *,
        resource_version: str,
        params: Mapping[str, str] | None = None,
        timeout_s: int = 300,
    ) -> AsyncIterator[dict[str, Any]]:
        """The watch events ({"type", "object"}) of a collection from `resource_version`, bookmarks included,
        until the server ends the stream (about `timeout_s`). An ERROR event raises ApiError (410 when the
        version is too old: relist). Use with contextlib.aclosing to release the connection when leaving early."""
        query = {**dict(params or {}), "watch": "1", "resourceVersion": resource_version,
                 "allowWatchBookmarks": "true", "timeoutSeconds": str(int(timeout_s))}
        session = self._session_for_loop()
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=timeout_s + 60)
        async with session.get(self.url(path), params=query, headers=self._headers(), timeout=timeout,
                               **self._request_kwargs()) as resp:
            if resp.status >= 400:
                raise ApiError.from_response(resp.status, await resp.read())
            buffer = b""
            async for chunk in resp.content.iter_any():
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield _event(line, path)
            if buffer.strip():
                yield _event(buffer, path)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _encode(body: Any) -> bytes | None:
    if body is None or isinstance(body, bytes):
        return body
    return body.encode() if isinstance(body, str) else json.dumps(body).encode()


def _event(line: bytes, path: str) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(500, "InternalError", f"watch {path}: an event is not JSON: {line[:100]!r}") from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise ApiError(500, "InternalError", f"watch {path}: an event has no type: {line[:100]!r}")
    if event["type"] == "ERROR":
        obj = event.get("object")
        code = obj.get("code") if isinstance(obj, dict) else None
        raise ApiError.from_status(code if isinstance(code, int) and code else 500,
                                   obj if isinstance(obj, dict) else None)
    return event
