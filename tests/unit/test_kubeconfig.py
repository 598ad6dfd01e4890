"""kubescale.kubeconfig: kubeconfig files (contexts, merging, relative paths, data vs file), the in-cluster
configuration, the TLS context, and errors that name the file and the field. Plain files in tmp_path."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubescale import kubeconfig, pki
from kubescale.kubeconfig import ClusterConfig, KubeconfigError

CA = pki.generate_ca(common_name="test-ca")
CLIENT = pki.issue_cert(ca=CA, common_name="alice", client=True, server=False)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _doc(*, clusters: dict[str, Any], users: dict[str, Any] | None = None,
         contexts: dict[str, Any] | None = None, current: str | None = "main") -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": n, "cluster": c} for n, c in clusters.items()],
        "users": [{"name": n, "user": u} for n, u in (users or {}).items()],
        "contexts": [{"name": n, "context": c} for n, c in (contexts or {}).items()],
    }
    if current is not None:
        doc["current-context"] = current
    return doc


def _write(path: Path, doc: Any) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return str(path)


def _simple(server: str = "https://127.0.0.1:6443", **user: Any) -> dict[str, Any]:
    return _doc(clusters={"c": {"server": server}}, users={"u": user},
                contexts={"main": {"cluster": "c", "user": "u"}})


# -- contexts ---------------------------------------------------------------------------------------------------------
def test_current_context_and_explicit_context(tmp_path: Path) -> None:
    doc = _doc(
        clusters={"a": {"server": "https://a.example:6443"}, "b": {"server": "https://b.example:443/"}},
        users={"ua": {"token": "token-a"}, "ub": {"token": "token-b"}},
        contexts={"main": {"cluster": "a", "user": "ua", "namespace": "kube-system"},
                  "other": {"cluster": "b", "user": "ub"}},
    )
    path = _write(tmp_path / "kc", doc)
    main = kubeconfig.load(path, environ={})
    assert (main.server, main.token, main.namespace) == ("https://a.example:6443", "token-a", "kube-system")
    other = kubeconfig.load(path, context="other", environ={})
    assert (other.server, other.token, other.namespace) == ("https://b.example:443", "token-b", "default")


def test_context_without_user_means_no_credentials(tmp_path: Path) -> None:
    doc = _doc(clusters={"c": {"server": "http://127.0.0.1:8080"}}, contexts={"main": {"cluster": "c"}})
    cfg = kubeconfig.load(_write(tmp_path / "kc", doc), environ={})
    assert cfg == ClusterConfig(server="http://127.0.0.1:8080", source=str(tmp_path / "kc"))
    assert kubeconfig.ssl_context(cfg) is None


def test_kubeconfig_env_list_merges_first_wins(tmp_path: Path) -> None:
    first = _write(tmp_path / "one" / "kc", _doc(clusters={"c": {"server": "https://first:1"}},
                                                 contexts={"main": {"cluster": "c"}}, current="main"))
    second = _write(tmp_path / "two" / "kc", _doc(
        clusters={"c": {"server": "https://second:2"}, "d": {"server": "https://d:4"}},
        contexts={"main": {"cluster": "d"}, "extra": {"cluster": "d"}}, current="extra"))
    missing = str(tmp_path / "missing")
    environ = {"KUBECONFIG": f"{missing}:{first}:{second}", "HOME": str(tmp_path)}
    assert kubeconfig.load(None, environ=environ).server == "https://first:1"
    assert kubeconfig.load(None, context="extra", environ=environ).server == "https://d:4"


def test_home_kube_config_is_the_last_resort(tmp_path: Path) -> None:
    _write(tmp_path / ".kube" / "config", _simple("https://home:6443"))
    assert kubeconfig.load(None, environ={"HOME": str(tmp_path)}).server == "https://home:6443"
    assert kubeconfig.load("~/.kube/config", environ={"HOME": str(tmp_path)}).server == "https://home:6443"


def test_server_without_scheme_is_https(tmp_path: Path) -> None:
    assert kubeconfig.load(_write(tmp_path / "kc", _simple("10.0.0.1:6443")), environ={}).server == \
        "https://10.0.0.1:6443"


# -- relative paths and data vs file --------------------------------------------------------------------------------
def test_relative_paths_resolve_against_the_kubeconfig_directory(tmp_path: Path) -> None:
    pki_dir = tmp_path / "conf" / "pki"
    pki_dir.mkdir(parents=True)
    (pki_dir / "ca.crt").write_bytes(CA.cert_pem)
    (pki_dir / "alice.crt").write_bytes(CLIENT.cert_pem)
    (pki_dir / "alice.key").write_bytes(CLIENT.key_pem)
    (pki_dir / "token").write_text("file-token\n")
    doc = _doc(clusters={"c": {"server": "https://x:1", "certificate-authority": "pki/ca.crt",
                               "tls-server-name": "kubernetes"}},
               users={"u": {"client-certificate": "pki/alice.crt", "client-key": "./pki/alice.key",
                            "tokenFile": "pki/token"}},
               contexts={"main": {"cluster": "c", "user": "u"}})
    cfg = kubeconfig.load(_write(tmp_path / "conf" / "kc", doc), environ={})
    assert cfg.ca_data == CA.cert_pem
    assert (cfg.client_cert_data, cfg.client_key_data) == (CLIENT.cert_pem, CLIENT.key_pem)
    assert cfg.token == "file-token"
    assert cfg.token_file == str(pki_dir / "token")
    assert cfg.tls_server_name == "kubernetes"
    assert isinstance(kubeconfig.ssl_context(cfg), ssl.SSLContext)


def test_data_wins_over_file(tmp_path: Path) -> None:
    doc = _doc(clusters={"c": {"server": "https://x:1", "certificate-authority-data": _b64(CA.cert_pem),
                               "certificate-authority": "does-not-exist.crt"}},
               users={"u": {"client-certificate-data": _b64(CLIENT.cert_pem),
                            "client-key-data": _b64(CLIENT.key_pem)}},
               contexts={"main": {"cluster": "c", "user": "u"}})
    cfg = kubeconfig.load(_write(tmp_path / "kc", doc), environ={})
    assert cfg.ca_data == CA.cert_pem and cfg.client_key_data == CLIENT.key_pem
    ctx = kubeconfig.ssl_context(cfg)
    assert ctx is not None and ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert [c["subject"] for c in ctx.get_ca_certs()] == [((("commonName", "test-ca"),),)]


def test_insecure_skip_tls_verify_verifies_nothing(tmp_path: Path) -> None:
    doc = _doc(clusters={"c": {"server": "https://x:1", "insecure-skip-tls-verify": True}},
               contexts={"main": {"cluster": "c"}})
    cfg = kubeconfig.load(_write(tmp_path / "kc", doc), environ={})
    ctx = kubeconfig.ssl_context(cfg)
    assert cfg.insecure_skip_tls_verify and ctx is not None
    assert (ctx.verify_mode, ctx.check_hostname) == (ssl.CERT_NONE, False)


def test_basic_auth(tmp_path: Path) -> None:
    cfg = kubeconfig.load(_write(tmp_path / "kc", _simple(username="admin", password="s3cret")), environ={})
    assert (cfg.username, cfg.password, cfg.token) == ("admin", "s3cret", None)
    assert "s3cret" not in repr(cfg)


# -- in-cluster -------------------------------------------------------------------------------------------------------
def _sa_dir(tmp_path: Path, *, namespace: str | None = "monitoring") -> Path:
    d = tmp_path / "sa"
    d.mkdir()
    (d / "token").write_text("sa-token\n")
    (d / "ca.crt").write_bytes(CA.cert_pem)
    if namespace:
        (d / "namespace").write_text(namespace)
    return d


@pytest.mark.parametrize(("host", "server"), [
    pytest.param("10.96.0.1", "https://10.96.0.1:443", id="ipv4"),
    pytest.param("fd00::1", "https://[fd00::1]:443", id="ipv6"),
])
def test_in_cluster(tmp_path: Path, host: str, server: str) -> None:
    d = _sa_dir(tmp_path)
    environ = {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": "443", "KUBECONFIG": "/nonexistent"}
    cfg = kubeconfig.load(None, environ=environ, in_cluster_dir=str(d))
    assert cfg == ClusterConfig(server=server, ca_data=CA.cert_pem, token="sa-token", token_file=str(d / "token"),
                                namespace="monitoring", source="in-cluster")


def test_explicit_kubeconfig_beats_in_cluster(tmp_path: Path) -> None:
    d = _sa_dir(tmp_path, namespace=None)
    path = _write(tmp_path / "kc", _simple("https://outside:6443"))
    environ = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    assert kubeconfig.load(path, environ=environ, in_cluster_dir=str(d)).server == "https://outside:6443"
    assert kubeconfig.load(None, environ=environ, in_cluster_dir=str(d)).namespace == "default"


def test_in_cluster_without_token_says_so(tmp_path: Path) -> None:
    environ = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    with pytest.raises(KubeconfigError, match=r"in-cluster service-account token: cannot read .*/token"):
        kubeconfig.load(None, environ=environ, in_cluster_dir=str(tmp_path / "nothing"))


# -- errors -----------------------------------------------------------------------------------------------------------
ERRORS = [
    pytest.param("apiVersion: v1\nclusters: [\n", r"kc: not valid YAML at line \d+", id="bad-yaml"),
    pytest.param("- a\n- b\n", r"kc: a kubeconfig must be a YAML mapping", id="not-a-mapping"),
    pytest.param({"clusters": {"c": {}}}, r"kc: clusters must be a list", id="clusters-not-a-list"),
    pytest.param({"clusters": [{"cluster": {}}]}, r"kc: clusters\[0\] must be a mapping with a name", id="no-name"),
    pytest.param(_doc(clusters={"c": {"server": "https://x"}}, contexts={"other": {"cluster": "c"}}, current=None),
                 r"kc: no current-context is set; pass --context \(contexts: other\)", id="no-current-context"),
    pytest.param(_doc(clusters={"c": {"server": "https://x"}}, contexts={"other": {"cluster": "c"}}),
                 r'kc: context "main" not found \(contexts: other\)', id="unknown-context"),
    pytest.param(_doc(clusters={"c": {"server": "https://x"}}, contexts={"main": {"cluster": "nope"}}),
                 r'context "main" names cluster "nope", which is not defined \(clusters: c\)', id="unknown-cluster"),
    pytest.param(_doc(clusters={"c": {"server": "https://x"}}, contexts={"main": {"cluster": "c", "user": "bob"}}),
                 r'context "main" names user "bob", which is not defined \(users: none\)', id="unknown-user"),
    pytest.param(_doc(clusters={"c": {}}, contexts={"main": {"cluster": "c"}}), r'cluster "c" has no server',
                 id="no-server"),
    pytest.param(_doc(clusters={"c": {"server": "ftp://x"}}, contexts={"main": {"cluster": "c"}}),
                 r"must be an http:// or https:// URL", id="bad-scheme"),
    pytest.param(_doc(clusters={"c": {"server": "https://x", "certificate-authority-data": "@@@"}},
                      contexts={"main": {"cluster": "c"}}),
                 r'cluster "c": certificate-authority-data is not valid base64', id="bad-base64"),
    pytest.param(_doc(clusters={"c": {"server": "https://x", "certificate-authority": "ca.crt"}},
                      contexts={"main": {"cluster": "c"}}),
                 r'cluster "c": certificate-authority: cannot read .*/ca\.crt', id="missing-ca-file"),
    pytest.param(_doc(clusters={"c": {"server": "https://x", "insecure-skip-tls-verify": True,
                                      "certificate-authority-data": _b64(CA.cert_pem)}},
                      contexts={"main": {"cluster": "c"}}),
                 r"root certificates file with the insecure flag is not allowed", id="insecure-with-ca"),
    pytest.param(_doc(clusters={"c": {"server": "https://x", "insecure-skip-tls-verify": "maybe"}},
                      contexts={"main": {"cluster": "c"}}),
                 r"insecure-skip-tls-verify must be true or false", id="bad-bool"),
    pytest.param(_doc(clusters={"c": {"server": "https://x", "proxy-url": "http://proxy:3128"}},
                      contexts={"main": {"cluster": "c"}}), r"proxy-url is not supported", id="proxy-url"),
    pytest.param(_simple(exec={"command": "aws", "apiVersion": "client.authentication.k8s.io/v1"}),
                 r'user "u" uses an exec credential plugin, which kubescale does not support', id="exec"),
    pytest.param(_simple(**{"auth-provider": {"name": "oidc"}}),
                 r'user "u" uses an auth-provider credential plugin, which kubescale does not support',
                 id="auth-provider"),
    pytest.param(_simple(**{"as": "jane"}), r"impersonation \(as\) is not supported", id="impersonation"),
    pytest.param(_simple(**{"client-certificate-data": _b64(CLIENT.cert_pem)}),
                 r"client-key-data or client-key must be given too", id="cert-without-key"),
    pytest.param(_simple(token="t", username="admin"), r"more than one authentication method", id="token-and-basic"),
    pytest.param(_simple(tokenFile="missing-token"), r'user "u": tokenFile: cannot read .*/missing-token',
                 id="missing-token-file"),
]


@pytest.mark.parametrize(("doc", "message"), ERRORS)
def test_errors_name_the_file_and_what_is_wrong(tmp_path: Path, doc: Any, message: str) -> None:
    path = _write(tmp_path / "kc", doc)
    with pytest.raises(KubeconfigError, match=message) as info:
        kubeconfig.load(path, environ={})
    assert str(tmp_path / "kc") in str(info.value)


@pytest.mark.parametrize(("kubeconfig_arg", "environ", "message"), [
    pytest.param("{tmp}/absent", {}, r"/absent: no such kubeconfig file$", id="explicit-missing"),
    pytest.param(None, {"KUBECONFIG": "{tmp}/a:{tmp}/b"}, r"none of the files in \$KUBECONFIG exist", id="env-missing"),
    pytest.param(None, {"HOME": "{tmp}"}, r"no configuration found: pass --kubeconfig", id="nothing"),
    pytest.param(None, {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, r"no configuration found", id="half-in-cluster"),
])
def test_no_configuration(tmp_path: Path, kubeconfig_arg: str | None, environ: dict[str, str], message: str) -> None:
    env = {k: v.replace("{tmp}", str(tmp_path)) for k, v in environ.items()}
    arg = kubeconfig_arg.replace("{tmp}", str(tmp_path)) if kubeconfig_arg else None
    with pytest.raises(KubeconfigError, match=message):
        kubeconfig.load(arg, environ=env)


def test_mismatched_client_key_is_a_clear_error() -> None:
    other = pki.issue_cert(ca=CA, common_name="bob", client=True, server=False)
    cfg = ClusterConfig(server="https://x:1", ca_data=CA.cert_pem, client_cert_data=CLIENT.cert_pem,
                        client_key_data=other.key_pem, source="kc")
    with pytest.raises(KubeconfigError, match=r"kc: the client certificate and key .* do not match"):
        kubeconfig.ssl_context(cfg)


def test_bad_ca_pem_is_a_clear_error() -> None:
    with pytest.raises(KubeconfigError, match=r"the certificate authority is not valid PEM"):
        kubeconfig.ssl_context(ClusterConfig(server="https://x:1", ca_data=b"not a certificate"))
