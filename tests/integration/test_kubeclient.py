"""kubescale.kubeclient and kubescale.informing against kubesim: requests and Status errors, paged lists,
watches, informers that follow changes and survive dropped watches and 410 Gone, TLS with token and client
certificate authentication."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from kubescale import kubeconfig, pki
from kubescale.informing import Informer
from kubescale.kubeclient import ApiError, KubeClient
from kubesim.app import KubeSim, SimConfig
from tests.integration.conftest import Sim, start_sim, stop_sim, until

CM = "/api/v1/namespaces/default/configmaps"


def _cm(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"app": "t"}},
            "data": data}


@pytest.fixture
async def client(inproc_sim: KubeSim) -> AsyncIterator[KubeClient]:
    c = KubeClient(kubeconfig.load(inproc_sim.config.kubeconfig_out, environ={}))
    yield c
    await c.close()


@pytest.fixture
async def short_history(tmp_path: Path) -> AsyncIterator[KubeSim]:
    """A kubesim whose watch cache keeps 5 events per resource: older versions are 410 Gone."""
    sim = KubeSim(SimConfig(listen="127.0.0.1:0", kubeconfig_out=str(tmp_path / "kc"), watch_cache_size=5))
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


async def test_create_get_update_conflict_and_not_found(client: KubeClient) -> None:
    created = await client.create(CM, _cm("one", a="1"))
    assert created["metadata"]["name"] == "one" and created["data"] == {"a": "1"}
    got = await client.get(f"{CM}/one")
    assert got["metadata"]["uid"] == created["metadata"]["uid"]

    with pytest.raises(ApiError) as exists:
        await client.create(CM, _cm("one"))
    assert (exists.value.status, exists.value.reason) == (409, "AlreadyExists")

    got["data"] = {"a": "2"}
    updated = await client.update(f"{CM}/one", got)
    assert updated["data"] == {"a": "2"}
    with pytest.raises(ApiError) as conflict:  # the stale resourceVersion of `got`
        await client.update(f"{CM}/one", {**got, "data": {"a": "3"}})
    assert (conflict.value.status, conflict.value.reason) == (409, "Conflict")
    assert "the object has been modified" in conflict.value.message

    patched = await client.patch(f"{CM}/one", {"data": {"b": "x"}})
    assert patched["data"] == {"a": "2", "b": "x"}
    await client.delete(f"{CM}/one")
    with pytest.raises(ApiError) as missing:
        await client.get(f"{CM}/one")
    assert (missing.value.status, missing.value.reason) == (404, "NotFound")
    assert missing.value.message == 'configmaps "one" not found'
    assert missing.value.body is not None and missing.value.body["kind"] == "Status"


async def test_unknown_path_is_a_generic_not_found(client: KubeClient) -> None:
    with pytest.raises(ApiError) as info:
        await client.get("/apis/nothing.example.com/v1/widgets")
    assert (info.value.status, info.value.reason) == (404, "NotFound")


async def test_list_follows_continue_tokens(client: KubeClient) -> None:
    names = [f"cm-{i:02d}" for i in range(23)]
    for name in names:
        await client.create(CM, _cm(name))
    await client.create(CM, {**_cm("other"), "metadata": {"name": "other", "labels": {"app": "u"}}})
    for page_size in (5, 23, 500, 0):
        items, version = await client.list(CM, params={"labelSelector": "app=t"}, page_size=page_size)
        assert sorted(i["metadata"]["name"] for i in items) == names, page_size
        assert int(version) > 0


async def test_watch_streams_events_and_gone_is_410(client: KubeClient) -> None:
    _, version = await client.list(CM)
    events: list[tuple[str, str]] = []

    async def consume() -> None:
        stream = client.watch(CM, resource_version=version, timeout_s=30)
        async with contextlib.aclosing(stream) as watch:  # type: ignore[type-var]
            async for event in watch:
                events.append((event["type"], event["object"]["metadata"]["name"]))
                if event["type"] == "DELETED":
                    return

    task = asyncio.create_task(consume())
    await client.create(CM, _cm("w", a="1"))
    await client.patch(f"{CM}/w", {"data": {"a": "2"}})
    await client.delete(f"{CM}/w")
    await asyncio.wait_for(task, 10)
    assert events == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]




async def test_watch_reassembles_large_events(client: KubeClient) -> None:
    _, version = await client.list(CM)
    big = "x" * 600_000  # many TCP reads for one event line
    await client.create(CM, _cm("big", a=big))
    await client.create(CM, _cm("small", a="1"))
    seen: list[tuple[str, int]] = []
    async with contextlib.aclosing(client.watch(CM, resource_version=version, timeout_s=5)) as watch:  # type: ignore[type-var]
        async for event in watch:
            seen.append((event["object"]["metadata"]["name"], len(event["object"]["data"]["a"])))
            if len(seen) == 2:
                break
    assert seen == [("big", 600_000), ("small", 1)]


async def test_expired_continue_token_falls_back_to_one_full_list(short_history: KubeSim) -> None:
    class WritesBetweenPages(KubeClient):
        """Enough writes after the first page that its continue token is too old for the second."""

        wrote = False

        async def get(self, path: str, *, params: Mapping[str, str] | None = None) -> Any:
            page = await super().get(path, params=params)
            if params and params.get("limit") and "continue" not in params and not self.wrote:
                self.wrote = True
                for i in range(10):
                    await self.create(CM, _cm(f"during-{i}"))
            return page

    async with WritesBetweenPages(kubeconfig.load(short_history.config.kubeconfig_out, environ={})) as client:
        for i in range(6):
            await client.create(CM, _cm(f"before-{i}"))
        items, _ = await client.list(CM, page_size=2)
        names = sorted(i["metadata"]["name"] for i in items)
        assert names == sorted([f"before-{i}" for i in range(6)] + [f"during-{i}" for i in range(10)])


async def test_watch_from_a_version_gone_raises_410(short_history: KubeSim) -> None:
    client = KubeClient(kubeconfig.load(short_history.config.kubeconfig_out, environ={}))
    try:
        _, version = await client.list(CM)
        for i in range(10):
            await client.create(CM, _cm(f"c{i}"))
        with pytest.raises(ApiError) as gone:
            async for _ in client.watch(CM, resource_version=version, timeout_s=5):
                pass
        assert (gone.value.status, gone.value.reason) == (410, "Expired")
        assert "too old resource version" in gone.value.message
    finally:
        await client.close()


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str | None, str | None]] = []

    def __call__(self, event: str, old: dict[str, str] | None, new: dict[str, str] | None) -> None:
        self.events.append((event, old and old["a"], new and new["a"]))


def _data(obj: dict[str, Any]) -> dict[str, str]:
    return {"a": (obj.get("data") or {}).get("a", "")}


async def test_informer_syncs_and_follows_changes(client: KubeClient) -> None:
    await client.create(CM, _cm("before", a="0"))
    informer: Informer[dict[str, str]] = Informer(client, CM, _data, name="cms", page_size=2)
    seen = Recorder()
    informer.add_handler(seen)
    await informer.start()
    try:
        assert await informer.wait_synced(10)
        assert informer.synced() and informer.items == {("default", "before"): {"a": "0"}}
        await client.create(CM, _cm("x", a="1"))
        await client.patch(f"{CM}/x", {"data": {"a": "2"}})
        await client.delete(f"{CM}/before")
        await until("the informer catches up", lambda: _is(informer.items, {("default", "x"): {"a": "2"}}))
        assert seen.events == [("ADDED", None, "0"), ("ADDED", None, "1"), ("MODIFIED", "1", "2"),
                               ("DELETED", "0", None)]
        assert informer.errors == 0
    finally:
        await informer.stop()


async def _is(actual: Any, expected: Any) -> bool:
    return bool(actual == expected)


async def test_informer_resumes_after_dropped_watches(client: KubeClient, inproc_sim: KubeSim) -> None:
    informer: Informer[dict[str, str]] = Informer(client, CM, _data)
    await informer.start()
    try:
        assert await informer.wait_synced(10)
        for i in range(3):
            await until("a watch is open", lambda: _true(len(inproc_sim.server.watchers) > 0))
            assert inproc_sim.server.drop_watches() >= 1
            await client.create(CM, _cm(f"after-drop-{i}", a=str(i)))
            await until("the informer sees the object", lambda i=i: _true(("default", f"after-drop-{i}")
                                                                         in informer.items))
        assert informer.relists == 0 and informer.errors == 0  # resumed from its version, no relist
    finally:
        await informer.stop()


async def _true(value: bool) -> bool:
    return value


async def test_informer_relists_on_gone(short_history: KubeSim) -> None:
    client = KubeClient(kubeconfig.load(short_history.config.kubeconfig_out, environ={}))
    await client.create(CM, _cm("stays", a="s"))
    informer: Informer[dict[str, str]] = Informer(client, CM, _data)
    seen = Recorder()
    informer.add_handler(seen)
    await informer.start()
    try:
        assert await informer.wait_synced(10)
        await until("a watch is open", lambda: _true(len(short_history.server.watchers) > 0))
        old = informer.resource_version
        for i in range(10):
            await client.create(CM, _cm(f"filler-{i}", a="f"))
        await until("the fillers", lambda: _true(len(informer.items) == 11))
        informer.resource_version = old  # as if it had been away while the watch cache moved on
        short_history.server.drop_watches()
        await until("a relist", lambda: _true(informer.relists == 1))
        await client.create(CM, _cm("later", a="l"))
        await until("the informer sees the object", lambda: _true(("default", "later") in informer.items))
        assert seen.events == [("ADDED", None, "s")] + [("ADDED", None, "f")] * 10 + [("ADDED", None, "l")]
        assert informer.errors == 0
    finally:
        await informer.stop()
        await client.close()


async def test_informer_backs_off_on_errors_and_recovers(client: KubeClient, inproc_sim: KubeSim) -> None:
    informer: Informer[dict[str, str]] = Informer(client, CM, _data, backoff_initial_s=0.05, backoff_max_s=0.2)
    await informer.start()
    try:
        assert await informer.wait_synced(10)
        await until("a watch is open", lambda: _true(len(inproc_sim.server.watchers) > 0))
        inproc_sim.server.faults.set(request_error_rate=1.0)
        inproc_sim.server.drop_watches()
        await until("failures", lambda: _true(informer.errors >= 3))
        inproc_sim.server.faults.clear()
        await client.create(CM, _cm("recovered", a="r"))
        await until("the informer sees the object", lambda: _true(("default", "recovered") in informer.items))
    finally:
        await informer.stop()


# -- TLS and authentication against `kubescale sim --tls --token-auth-file` -------------------------------------------
@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    d = tmp_path_factory.mktemp("secure")
    (d / "tokens.csv").write_text('reader-token-0123456789,reader,1001,"readers"\n')
    s = start_sim(d, ["--tls", "--token-auth-file", str(d / "tokens.csv")])
    yield s
    stop_sim(s)


async def _namespaces(config: kubeconfig.ClusterConfig) -> list[str]:
    client = KubeClient(config)
    try:
        items, _ = await client.list("/api/v1/namespaces")
        return sorted(i["metadata"]["name"] for i in items)
    finally:
        await client.close()


async def test_tls_and_token_from_the_written_kubeconfig(secure: Sim) -> None:
    config = kubeconfig.load(secure.kubeconfig, environ={})
    assert config.server.startswith("https://127.0.0.1:") and config.ca_data and config.token
    assert "kube-system" in await _namespaces(config)
    client = KubeClient(config)
    try:  # a watch over TLS
        _, version = await client.list(CM)
        created = await client.create(CM, _cm("tls"))
        async for event in client.watch(CM, resource_version=version, timeout_s=5):
            assert (event["type"], event["object"]["metadata"]["uid"]) == ("ADDED", created["metadata"]["uid"])
            break
    finally:
        await client.close()


def _kubeconfig(sim: Sim, path: Path, *, cluster: dict[str, Any], user: dict[str, Any]) -> str:
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "t",
           "clusters": [{"name": "c", "cluster": {"server": sim.url, **cluster}}],
           "users": [{"name": "u", "user": user}],
           "contexts": [{"name": "t", "context": {"cluster": "c", "user": "u"}}]}
    path.write_text(yaml.safe_dump(doc))
    return str(path)


async def test_token_file_is_reread_and_wrong_token(secure: Sim, tmp_path: Path) -> None:
    (tmp_path / "token").write_text("stale-token\n")
    good = _kubeconfig(secure, tmp_path / "good", cluster={"certificate-authority": str(secure.workdir / "pki/ca.crt")},
                       user={"tokenFile": "token"})
    config = kubeconfig.load(good, environ={})
    async with KubeClient(config, token_refresh_s=0) as client:
        with pytest.raises(ApiError) as stale:
            await client.list("/api/v1/namespaces")
        assert stale.value.status == 401
        (tmp_path / "token").write_text("reader-token-0123456789\n")  # rotated
        with pytest.raises(ApiError) as forbidden:  # authenticated as "reader", who may not list namespaces
            await client.list("/api/v1/namespaces")
        assert (forbidden.value.status, forbidden.value.reason) == (403, "Forbidden")
        assert 'User "reader" cannot list resource "namespaces"' in forbidden.value.message
    bad = _kubeconfig(secure, tmp_path / "bad", cluster={"certificate-authority": str(secure.workdir / "pki/ca.crt")},
                      user={"token": "wrong"})
    with pytest.raises(ApiError) as unauthorized:
        await _namespaces(kubeconfig.load(bad, environ={}))
    assert (unauthorized.value.status, unauthorized.value.reason) == (401, "Unauthorized")


async def test_client_certificate_and_tls_server_name(secure: Sim, tmp_path: Path) -> None:
    ca = pki.KeyPair(cert_pem=(secure.workdir / "pki/ca.crt").read_bytes(),
                     key_pem=(secure.workdir / "pki/ca.key").read_bytes())
    admin = pki.issue_cert(ca=ca, common_name="cert-admin", organizations=["system:masters"], client=True, server=False)
    b64 = {k: base64.b64encode(v).decode() for k, v in (("ca", ca.cert_pem), ("crt", admin.cert_pem),
                                                        ("key", admin.key_pem))}
    path = _kubeconfig(secure, tmp_path / "kc",
                       cluster={"certificate-authority-data": b64["ca"], "tls-server-name": "kubernetes.default"},
                       user={"client-certificate-data": b64["crt"], "client-key-data": b64["key"]})
    assert "kube-system" in await _namespaces(kubeconfig.load(path, environ={}))
    wrong_name = _kubeconfig(secure, tmp_path / "wrong",
                             cluster={"certificate-authority-data": b64["ca"], "tls-server-name": "example.com"},
                             user={"client-certificate-data": b64["crt"], "client-key-data": b64["key"]})
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await _namespaces(kubeconfig.load(wrong_name, environ={}))
    insecure = _kubeconfig(secure, tmp_path / "insecure", cluster={"insecure-skip-tls-verify": True},
                           user={"client-certificate-data": b64["crt"], "client-key-data": b64["key"]})
    assert "kube-system" in await _namespaces(kubeconfig.load(insecure, environ={}))
