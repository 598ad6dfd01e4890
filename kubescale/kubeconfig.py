"""Where kubescale's components find their API server: kubeconfig files (as client-go's clientcmd reads them)
and the in-cluster service-account configuration, reduced to one frozen `ClusterConfig`, plus its TLS context.

Reads the files it is pointed at and nothing else; never reads `os.environ` (the caller passes `environ`).
Exec and auth-provider credential plugins, proxy-url and impersonation are not supported and say so.
"""

from __future__ import annotations

import base64
import binascii
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

IN_CLUSTER_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class KubeconfigError(ValueError):
    """A kubeconfig or in-cluster configuration that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class ClusterConfig:
    """How to reach and authenticate to one API server. PEM material is held as bytes, never as paths, except
    `token_file`, which the client re-reads so that a rotated service-account token is picked up."""

    server: str
    ca_data: bytes | None = None
    insecure_skip_tls_verify: bool = False
    client_cert_data: bytes | None = None
    client_key_data: bytes | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    token_file: str | None = None
    tls_server_name: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    namespace: str = "default"
    source: str = ""  # where this came from, for messages: a kubeconfig path or "in-cluster"


def load(
    kubeconfig: str | None,
    *,
    context: str | None = None,
    environ: Mapping[str, str],
    in_cluster_dir: str = IN_CLUSTER_DIR,
) -> ClusterConfig:
    """The configuration to use: the `kubeconfig` file when given; else the in-cluster configuration when
    KUBERNETES_SERVICE_HOST/PORT are set (and no `context` was asked for); else $KUBECONFIG (a path list,
    merged as client-go does: the first file to define a name or current-context wins); else ~/.kube/config."""
    if kubeconfig:
        return _from_files([_expand(kubeconfig, environ)], context=context, explicit=True)
    if context is None and environ.get("KUBERNETES_SERVICE_HOST") and environ.get("KUBERNETES_SERVICE_PORT"):
        return in_cluster(environ=environ, directory=in_cluster_dir)
    listed = [_expand(p, environ) for p in environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    if listed:
        existing = [p for p in dict.fromkeys(listed) if os.path.exists(p)]
        if not existing:
            raise KubeconfigError(f"none of the files in $KUBECONFIG exist: {', '.join(listed)}")
        return _from_files(existing, context=context, explicit=False)
    home = environ.get("HOME")
    default = os.path.join(home, ".kube", "config") if home else None
    if default is None or not os.path.exists(default):
        raise KubeconfigError(
            "no configuration found: pass --kubeconfig, set $KUBECONFIG, create ~/.kube/config, or run in a pod "
            "(KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT)")
    return _from_files([default], context=context, explicit=False)


def in_cluster(*, environ: Mapping[str, str], directory: str = IN_CLUSTER_DIR) -> ClusterConfig:
    """A pod's configuration, as client-go's rest.InClusterConfig: https://HOST:PORT, the service-account token
    (re-read by the client as it rotates) and CA; the namespace file when present."""
    host, port = environ.get("KUBERNETES_SERVICE_HOST", ""), environ.get("KUBERNETES_SERVICE_PORT", "")
    if not host or not port:
        raise KubeconfigError("unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and "
                              "KUBERNETES_SERVICE_PORT must be defined")
    token_file = os.path.join(directory, "token")
    token = _read_text(token_file, what="in-cluster service-account token").strip()
    ca_path = os.path.join(directory, "ca.crt")
    ca = _read_bytes(ca_path, what="in-cluster CA certificate") if os.path.exists(ca_path) else None
    ns_path = os.path.join(directory, "namespace")
    namespace = _read_text(ns_path, what="in-cluster namespace").strip() if os.path.exists(ns_path) else ""
    shown = f"[{host}]" if ":" in host else host
    return ClusterConfig(server=f"https://{shown}:{port}", ca_data=ca, token=token, token_file=token_file,
                         namespace=namespace or "default", source="in-cluster")


def ssl_context(config: ClusterConfig) -> ssl.SSLContext | None:
    """The client TLS context for `config` (TLS ≥ 1.2), or None for an http:// server. Trusts `ca_data` only
    when set (else the system store); verifies nothing with `insecure_skip_tls_verify`. Client key material
    is loaded through a private temporary directory that is removed at once."""
    if config.server.startswith("http://"):
        return None
    where = config.source or config.server
    if config.insecure_skip_tls_verify:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif config.ca_data is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # the given CA only, as client-go does
        try:
            ctx.load_verify_locations(cadata=config.ca_data.decode("ascii", "replace"))
        except (ssl.SSLError, ValueError) as e:
            raise KubeconfigError(f"{where}: the certificate authority is not valid PEM: {e}") from None
    else:
        ctx = ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if config.client_cert_data is not None and config.client_key_data is not None:
        with tempfile.TemporaryDirectory(prefix="kubescale-tls-") as d:  # mode 0700
            cert, key = os.path.join(d, "client.crt"), os.path.join(d, "client.key")
            for path, data in ((cert, config.client_cert_data), (key, config.client_key_data)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
            try:
                ctx.load_cert_chain(cert, key)
            except ssl.SSLError as e:
                raise KubeconfigError(
                    f"{where}: the client certificate and key are not valid PEM or do not match: {e}") from None
    return ctx


# -- kubeconfig files ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Entry:
    """A named cluster, user or context and the file that defined it (relative paths resolve against it)."""

    body: Mapping[str, Any]
    path: str


def _from_files(paths: list[str], *, context: str | None, explicit: bool) -> ClusterConfig:
    sections: dict[str, dict[str, _Entry]] = {"clusters": {}, "users": {}, "contexts": {}}
    current = ""
    for path in paths:
        doc = _parse(path, explicit=explicit)
        current = current or str(doc.get("current-context") or "")
        for section, inner in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
            for name, body in _named(doc, section, inner, path):
                sections[section].setdefault(name, _Entry(body, path))
    shown = paths[0] if len(paths) == 1 else f"$KUBECONFIG ({', '.join(paths)})"
    name = context or current
    if not name:
        raise KubeconfigError(f"{shown}: no current-context is set; pass --context "
                              f"(contexts: {_names(sections['contexts'])})")
    ctx = sections["contexts"].get(name)
    if ctx is None:
        raise KubeconfigError(f'{shown}: context "{name}" not found (contexts: {_names(sections["contexts"])})')
    cluster_name = str(ctx.body.get("cluster") or "")
    cluster = sections["clusters"].get(cluster_name)
    if cluster is None:
        raise KubeconfigError(f'{ctx.path}: context "{name}" names cluster "{cluster_name}", which is not defined '
                              f'(clusters: {_names(sections["clusters"])})')
    user_name = str(ctx.body.get("user") or "")
    user: _Entry | None = None
    if user_name:
        user = sections["users"].get(user_name)
        if user is None:
            raise KubeconfigError(f'{ctx.path}: context "{name}" names user "{user_name}", which is not defined '
                                  f'(users: {_names(sections["users"])})')
    server, ca, insecure, server_name = _cluster(cluster, cluster_name)
    auth = _user(user, user_name) if user is not None else _Auth()
    return ClusterConfig(
        server=server, ca_data=ca, insecure_skip_tls_verify=insecure, client_cert_data=auth.cert,
        client_key_data=auth.key, token=auth.token, token_file=auth.token_file, tls_server_name=server_name,
        username=auth.username, password=auth.password, namespace=str(ctx.body.get("namespace") or "default"),
        source=shown)


def _parse(path: str, *, explicit: bool) -> Mapping[str, Any]:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        hint = "" if explicit else " (named by $KUBECONFIG or the default ~/.kube/config)"
        raise KubeconfigError(f"{path}: no such kubeconfig file{hint}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise KubeconfigError(f"{path}: cannot read the kubeconfig: {e}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise KubeconfigError(f"{path}: not valid YAML{where}: {problem}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise KubeconfigError(f"{path}: a kubeconfig must be a YAML mapping, not {type(doc).__name__}")
    return doc


def _named(doc: Mapping[str, Any], section: str, inner: str, path: str) -> list[tuple[str, Mapping[str, Any]]]:
    entries = doc.get(section) or []
    if not isinstance(entries, list):
        raise KubeconfigError(f"{path}: {section} must be a list of {{name, {inner}}} entries")
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not entry.get("name"):
            raise KubeconfigError(f"{path}: {section}[{i}] must be a mapping with a name and a {inner}")
        body = entry.get(inner) or {}
        if not isinstance(body, dict):
            raise KubeconfigError(f'{path}: {section}[{i}] ("{entry["name"]}"): {inner} must be a mapping')
        out.append((str(entry["name"]), body))
    return out


def _names(entries: Mapping[str, _Entry]) -> str:
    return ", ".join(sorted(entries)) or "none"


def _cluster(entry: _Entry, name: str) -> tuple[str, bytes | None, bool, str | None]:
    c, where = entry.body, f'{entry.path}: cluster "{name}"'
    if c.get("proxy-url"):
        raise KubeconfigError(f"{where}: proxy-url is not supported by kubescale")
    server = str(c.get("server") or "").rstrip("/")
    if not server:
        raise KubeconfigError(f"{where} has no server")
    if "://" not in server:
        server = f"https://{server}"
    if not server.startswith(("https://", "http://")):
        raise KubeconfigError(f"{where}: server {server!r} must be an http:// or https:// URL")
    ca = _data_or_file(entry, where, "certificate-authority-data", "certificate-authority")
    insecure = _bool(c.get("insecure-skip-tls-verify", False), where, "insecure-skip-tls-verify")
    if insecure and ca is not None:
        raise KubeconfigError(f"{where}: specifying a root certificates file with the insecure flag is not allowed "
                              "(remove certificate-authority(-data) or insecure-skip-tls-verify)")
    server_name = c.get("tls-server-name")
    return server, ca, insecure, str(server_name) if server_name else None


@dataclass(frozen=True)
class _Auth:
    cert: bytes | None = None
    key: bytes | None = None
    token: str | None = None
    token_file: str | None = None
    username: str | None = None
    password: str | None = None


def _user(entry: _Entry, name: str) -> _Auth:
    u, where = entry.body, f'{entry.path}: user "{name}"'
    for plugin in ("exec", "auth-provider"):
        if u.get(plugin):
            raise KubeconfigError(f"{where} uses an {plugin} credential plugin, which kubescale does not support; "
                                  "use a token, tokenFile or client certificate")
    for field_name in ("as", "as-uid", "as-groups", "as-user-extra"):
        if u.get(field_name):
            raise KubeconfigError(f"{where}: impersonation ({field_name}) is not supported by kubescale")
    cert = _data_or_file(entry, where, "client-certificate-data", "client-certificate")
    key = _data_or_file(entry, where, "client-key-data", "client-key")
    if (cert is None) != (key is None):
        missing = "client-key-data or client-key" if key is None else "client-certificate-data or client-certificate"
        raise KubeconfigError(f"{where}: {missing} must be given too, to use a client certificate")
    token = str(u["token"]) if u.get("token") else None
    token_file = _path(entry, str(u["tokenFile"])) if u.get("tokenFile") else None
    if token_file is not None and token is None:
        token = _read_text(token_file, what=f"{where}: tokenFile").strip()
    username = str(u["username"]) if u.get("username") else None
    password = str(u["password"]) if u.get("password") else None
    if token is not None and (username or password):
        raise KubeconfigError(f"{where}: more than one authentication method found (token and basic auth); "
                              "only one is allowed")
    return _Auth(cert, key, token, token_file, username, password)


def _data_or_file(entry: _Entry, where: str, data_key: str, file_key: str) -> bytes | None:
    """`data_key` (base64, wins when both are set, as in client-go) or the file named by `file_key`."""
    data = entry.body.get(data_key)
    if data:
        try:
            return base64.b64decode(str(data), validate=True)
        except (binascii.Error, ValueError):
            raise KubeconfigError(f"{where}: {data_key} is not valid base64") from None
    name = entry.body.get(file_key)
    if name:
        return _read_bytes(_path(entry, str(name)), what=f"{where}: {file_key}")
    return None


def _path(entry: _Entry, name: str) -> str:
    """A path from a kubeconfig: relative ones are relative to that file's directory (client-go's
    ResolveLocalPaths)."""
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(entry.path)), name))


def _bool(value: Any, where: str, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise KubeconfigError(f"{where}: {key} must be true or false, not {value!r}")


def _read_bytes(path: str, *, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise KubeconfigError(f"{what}: cannot read {path}: {e.strerror or e}") from None


def _read_text(path: str, *, what: str) -> str:
    data = _read_bytes(path, what=what)
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise KubeconfigError(f"{what}: {path} is not UTF-8 text") from None


def _expand(path: str, environ: Mapping[str, str]) -> str:
    if path == "~" or path.startswith("~/"):
        home = environ.get("HOME")
        if home:
            return home + path[1:]
    return path
