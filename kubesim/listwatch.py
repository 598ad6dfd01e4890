"""How lists and watches go out over HTTP: a list as its stored JSON bytes, streamed in chunks; a Table or a
metadata-only list decoded a chunk of objects at a time; a watch as event lines with bookmarks until its
timeout. What is selected is `ApiServer.list`/`ApiServer.watch`; routing and the other verbs are in
`kubesim.server`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import TYPE_CHECKING, Any

from aiohttp import web

from kubesim import errors, negotiation, paths, storeindex
from kubesim.apiserver import ListQuery
from kubesim.resources import ResourceType
from kubesim.store import Entry, QueueItem, dumps, queued_object

if TYPE_CHECKING:
    from kubesim.server import Server

JSON = "application/json"
LIST_CHUNK = 1000  # items per write when a list is streamed
TABLE_CHUNK = 500  # objects decoded at a time for a Table: only their rows outlive the chunk


def _json(body: Any) -> web.Response:
    return web.Response(body=dumps(body), headers={"Content-Type": JSON})


async def list_response(server: Server, request: web.Request, rt: ResourceType, ns: str | None, lq: ListQuery,
                        version: str, wanted: negotiation.Wanted, include_object: str | None) -> web.StreamResponse:
    result = server.api.list(rt, ns, lq)
    meta: dict[str, Any] = {"resourceVersion": str(result.resource_version)}
    if result.continue_token:
        meta["continue"] = result.continue_token
        meta["remainingItemCount"] = result.remaining
    if wanted.as_kind == "Table":
        with storeindex.decoding_many():
            return _json(list_table(server, rt, result.entries, version, include_object or "Metadata", meta))
    if wanted.as_kind.startswith("PartialObjectMetadata"):
        with storeindex.decoding_many():
            items = [negotiation.partial_metadata(e.load(), wanted.meta_version) for e in result.entries]
            return _json({"kind": "PartialObjectMetadataList", "apiVersion": f"meta.k8s.io/{wanted.meta_version}",
                          "metadata": meta, "items": items})
    head = b'{"kind":%s,"apiVersion":%s,"metadata":%s,"items":[' % (
        dumps(rt.list_kind), dumps(rt.api_version(version)), dumps(meta))
    serve = server.api.serve_bytes
    parts = [serve(rt, e, version) for e in result.entries]
    if len(parts) <= LIST_CHUNK:
        return web.Response(body=b"".join((head, b",".join(parts), b"]}")), content_type=JSON)
    # a big list goes out in chunks of stored JSON: no copy of the whole body is ever built
    resp = web.StreamResponse(headers={"Content-Type": JSON})
    resp.content_length = len(head) + sum(map(len, parts)) + len(parts) - 1 + 2
    await resp.prepare(request)
    await resp.write(head)
    for i in range(0, len(parts), LIST_CHUNK):
        chunk = b",".join(parts[i:i + LIST_CHUNK])
        await resp.write(chunk if i == 0 else b"," + chunk)
    await resp.write(b"]}")
    await resp.write_eof()
    return resp


def list_table(server: Server, rt: ResourceType, entries: list[Entry], version: str, include_object: str,
               meta: dict[str, Any]) -> dict[str, Any]:
    """A list's Table, from a chunk of decoded objects at a time (never all of them at once)."""
    table = server.table(rt, [e.load() for e in entries[:TABLE_CHUNK]], version, include_object=include_object,
                         list_meta=meta)
    for i in range(TABLE_CHUNK, len(entries), TABLE_CHUNK):
        part = server.table(rt, [e.load() for e in entries[i:i + TABLE_CHUNK]], version,
                            include_object=include_object, list_meta=meta, no_headers=True)
        table["rows"].extend(part["rows"])
    return table


async def watch(server: Server, request: web.Request, rt: ResourceType, ns: str | None, lq: ListQuery,
                wanted: negotiation.Wanted) -> web.StreamResponse:
    q = request.query
    api, options = server.api, server.options
    version = paths.parse(request.path, api.registry).version  # type: ignore[union-attr]
    timeout = _float(q.get("timeoutSeconds")) or options.min_request_timeout_s * (1 + random.random())
    bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
    resp = web.StreamResponse(headers={"Content-Type": JSON, "Transfer-Encoding": "chunked"})
    try:
        watcher = api.watch(rt, ns, lq, q.get("resourceVersion"))
    except errors.ApiError as e:
        if e.code != 410:
            raise
        await resp.prepare(request)
        await resp.write(dumps({"type": "ERROR", "object": e.status()}) + b"\n")
        await resp.write_eof()
        return resp
    server.watchers.add(watcher)
    await resp.prepare(request)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    next_bookmark = loop.time() + options.bookmark_interval_s
    table = wanted.as_kind == "Table"
    first = True
    try:
        while True:
            while watcher.queue:
                chunk = []
                for _ in range(min(len(watcher.queue), 500)):
                    chunk.append(watch_line(server, rt, watcher.queue.popleft(), version, table, first))
                    first = False
                await resp.write(b"".join(chunk))
            if watcher.closed:
                break
            now = loop.time()
            if now >= deadline:
                break
            wait = deadline - now
            if bookmarks:
                if now >= next_bookmark:
                    bm = {"kind": rt.kind, "apiVersion": rt.api_version(version),
                          "metadata": {"resourceVersion": str(api.store.rv)}}
                    await resp.write(dumps({"type": "BOOKMARK", "object": bm}) + b"\n")
                    next_bookmark = now + options.bookmark_interval_s
                wait = min(wait, next_bookmark - now)
            watcher.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watcher.wakeup.wait(), timeout=max(wait, 0.01))
        await resp.write_eof()
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        api.store.unwatch(rt.storage, watcher)
        server.watchers.discard(watcher)
    return resp


def watch_line(server: Server, rt: ResourceType, item: QueueItem, version: str, table: bool, first: bool) -> bytes:
    """One watch event as a JSON line: the stored bytes unless the client wants another version or a Table."""
    typ, entry, _obj = item
    if table:
        t = server.table(rt, [queued_object(item)], version, no_headers=not first)
        return dumps({"type": typ, "object": t}) + b"\n"
    raw = entry.raw
    if entry.api_version != rt.api_version(version):
        raw = dumps(server.api.to_version(rt, queued_object(item), version))
    return b'{"type":"' + typ.encode() + b'","object":' + raw + b"}\n"


def _float(v: str | None) -> float:
    try:
        return float(v or 0)
    except ValueError:
        raise errors.bad_request(f'invalid number "{v}"') from None
