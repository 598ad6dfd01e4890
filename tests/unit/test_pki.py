"""kubescale.pki: certificates verify with cryptography's (webpki-style, strict) verifier and in real TLS
handshakes on 127.0.0.1 with OpenSSL's strict X.509 checks; client certificates yield CN/O identities."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubescale import pki


@pytest.fixture(scope="module")
def ca() -> pki.KeyPair:
    return pki.generate_ca(common_name="kubesim-ca")


def _cert(pair: pki.KeyPair) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pair.cert_pem)


def _store(ca: pki.KeyPair) -> verification.Store:
    return verification.Store([_cert(ca)])


def test_server_cert_verifies_for_its_ip_and_dns_names(ca: pki.KeyPair) -> None:
    leaf = pki.issue_cert(ca=ca, common_name="kubesim", dns_names=["localhost"], ip_addresses=["127.0.0.1"])
    for subject in (verification.IPAddress(ipaddress.ip_address("127.0.0.1")), verification.DNSName("localhost")):
        verifier = verification.PolicyBuilder().store(_store(ca)).build_server_verifier(subject)
        chain = verifier.verify(_cert(leaf), [])
        assert [c.subject for c in chain] == [_cert(leaf).subject, _cert(ca).subject]


def test_server_cert_rejected_for_other_name(ca: pki.KeyPair) -> None:
    leaf = pki.issue_cert(ca=ca, common_name="kubesim", ip_addresses=["127.0.0.1"])
    verifier = (
        verification.PolicyBuilder().store(_store(ca)).build_server_verifier(verification.DNSName("example.com"))
    )
    with pytest.raises(verification.VerificationError):
        verifier.verify(_cert(leaf), [])


def test_cert_from_another_ca_is_rejected(ca: pki.KeyPair) -> None:
    other = pki.generate_ca(common_name="other-ca")
    leaf = pki.issue_cert(ca=other, common_name="kubesim", ip_addresses=["127.0.0.1"])
    verifier = (
        verification.PolicyBuilder()
        .store(_store(ca))
        .build_server_verifier(verification.IPAddress(ipaddress.ip_address("127.0.0.1")))
    )
    with pytest.raises(verification.VerificationError):
        verifier.verify(_cert(leaf), [])


def test_client_cert_verifies_for_client_use(ca: pki.KeyPair) -> None:
    # Kubernetes client certs name the user in the subject, not in a SAN: relax only that webpki rule.
    ee_policy = verification.ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.SubjectAlternativeName, verification.Criticality.AGNOSTIC, None
    )
    verifier = (
        verification.PolicyBuilder()
        .store(_store(ca))
        .extension_policies(ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee_policy)
        .build_client_verifier()
    )
    leaf = pki.issue_cert(ca=ca, common_name="bob", organizations=["dev"], client=True, server=False)
    assert verifier.verify(_cert(leaf), []).chain[0] == _cert(leaf)
    server_only = pki.issue_cert(ca=ca, common_name="eve", ip_addresses=["127.0.0.1"])
    with pytest.raises(verification.VerificationError, match="EKU"):
        verifier.verify(_cert(server_only), [])


@pytest.mark.parametrize(
    ("client", "server", "usages"),
    [
        pytest.param(False, True, [ExtendedKeyUsageOID.SERVER_AUTH], id="server"),
        pytest.param(True, False, [ExtendedKeyUsageOID.CLIENT_AUTH], id="client"),
        pytest.param(
            True, True, [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH], id="both"
        ),
    ],
)
def test_leaf_extensions(ca: pki.KeyPair, client: bool, server: bool, usages: list[x509.ObjectIdentifier]) -> None:
    leaf = _cert(pki.issue_cert(ca=ca, common_name="x", ip_addresses=["127.0.0.1"], client=client, server=server))
    ext = leaf.extensions
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == usages
    basic = ext.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and not basic.value.ca
    key_usage = ext.get_extension_for_class(x509.KeyUsage)
    assert key_usage.critical and key_usage.value.digital_signature and not key_usage.value.key_cert_sign
    ca_ski = _cert(ca).extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == ca_ski
    assert ext.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert leaf.issuer == _cert(ca).subject


def test_ca_extensions(ca: pki.KeyPair) -> None:
    cert = _cert(ca)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert cert.subject == cert.issuer


def test_subject_carries_user_and_groups(ca: pki.KeyPair) -> None:
    leaf = _cert(
        pki.issue_cert(ca=ca, common_name="bob", organizations=["system:masters", "dev"], client=True, server=False)
    )
    assert [a.value for a in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == ["bob"]
    orgs = [a.value for a in leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert orgs == ["system:masters", "dev"]


def test_leaf_validity_is_capped_at_the_ca(ca: pki.KeyPair) -> None:
    leaf = _cert(pki.issue_cert(ca=ca, common_name="x", ip_addresses=["127.0.0.1"], valid_days=10_000))
    assert leaf.not_valid_after_utc == _cert(ca).not_valid_after_utc


def test_shared_key_gives_distinct_certs_with_one_public_key(ca: pki.KeyPair) -> None:
    key = pki.new_key()
    a = pki.issue_cert(ca=ca, common_name="node-a", ip_addresses=["127.0.0.2"], key=key)
    b = pki.issue_cert(ca=ca, common_name="node-b", ip_addresses=["127.0.0.3"], key=key)
    assert a.key_pem == b.key_pem
    assert _cert(a).public_key() == _cert(b).public_key() == key.public_key()
    assert _cert(a).serial_number != _cert(b).serial_number


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"client": False, "server": False}, "server or client", id="no-usage"),
        pytest.param({"server": True}, "at least one DNS name or IP", id="server-without-san"),
        pytest.param({"ip_addresses": ["localhost"]}, "not an IP address: 'localhost'", id="bad-ip"),
        pytest.param({"ip_addresses": ["127.0.0.1"], "valid_days": 0}, "valid_days", id="zero-days"),
    ],
)
def test_issue_cert_rejects(ca: pki.KeyPair, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pki.issue_cert(ca=ca, common_name="x", **kwargs)  # type: ignore[arg-type]


def test_leaf_cannot_act_as_ca(ca: pki.KeyPair) -> None:
    leaf = pki.issue_cert(ca=ca, common_name="x", ip_addresses=["127.0.0.1"])
    with pytest.raises(ValueError, match="not a CA"):
        pki.issue_cert(ca=leaf, common_name="y", ip_addresses=["127.0.0.1"])


@pytest.mark.parametrize(
    ("common_name", "dns", "ips"),
    [
        pytest.param("localhost", ["localhost"], ["127.0.0.1"], id="dns-host"),
        pytest.param("127.0.0.1", [], ["127.0.0.1"], id="ip-host"),
    ],
)
def test_self_signed_like_client_go(common_name: str, dns: list[str], ips: list[str]) -> None:
    pair = pki.self_signed(common_name=common_name, ip_addresses=["127.0.0.1"] if dns else [])
    leaf, issuer = x509.load_pem_x509_certificates(pair.cert_pem)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == dns
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ips
    assert leaf.subject.rfc4514_string().startswith(f"CN={common_name}@")
    assert issuer.subject.rfc4514_string().startswith(f"CN={common_name}-ca@")
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store([issuer]))
        .build_server_verifier(verification.IPAddress(ipaddress.ip_address("127.0.0.1")))
    )
    verifier.verify(leaf, [])


def test_write_pair_modes(tmp_path: Path, ca: pki.KeyPair) -> None:
    pair = pki.issue_cert(ca=ca, common_name="x", ip_addresses=["127.0.0.1"])
    cert_path, key_path = tmp_path / "tls.crt", tmp_path / "tls.key"
    key_path.write_bytes(b"old")
    key_path.chmod(0o644)
    pki.write_pair(pair, cert_path=str(cert_path), key_path=str(key_path))
    assert cert_path.read_bytes() == pair.cert_pem and key_path.read_bytes() == pair.key_pem
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(cert_path).st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tls.crt", "tls.key"]


def test_repr_hides_the_key(ca: pki.KeyPair) -> None:
    assert "PRIVATE" not in repr(ca) and "key_pem" not in repr(ca)


# --- real TLS handshakes on 127.0.0.1 ---------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, ca: pki.KeyPair) -> dict[str, str]:
    d = tmp_path_factory.mktemp("pki")
    other_ca = pki.generate_ca(common_name="other-ca")
    pairs = {
        "server": pki.issue_cert(ca=ca, common_name="kubesim", ip_addresses=["127.0.0.1"]),
        "bob": pki.issue_cert(
            ca=ca, common_name="bob", organizations=["system:masters", "dev"], client=True, server=False
        ),
        "serveronly": pki.issue_cert(ca=ca, common_name="eve", ip_addresses=["127.0.0.1"]),
        "stranger": pki.issue_cert(ca=other_ca, common_name="mallory", client=True, server=False),
    }
    out = {"ca": str(d / "ca.crt")}
    (d / "ca.crt").write_bytes(ca.cert_pem)
    for name, pair in pairs.items():
        pki.write_pair(pair, cert_path=str(d / f"{name}.crt"), key_path=str(d / f"{name}.key"))
        out[name] = str(d / name)
    return out


async def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> str:
    """Connect to a one-shot server that replies with the identity it read from the client cert."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(f"{pki.peer_identity(writer.get_extra_info('ssl_object'))}\n".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx)
        line = await reader.readline()
        writer.close()
        return line.decode().strip()
    finally:
        server.close()


def _strict(ctx: ssl.SSLContext) -> ssl.SSLContext:
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    return ctx


def _server(files: dict[str, str], *, client_ca: bool = True) -> ssl.SSLContext:
    ctx = pki.server_ssl_context(
        cert_file=files["server"] + ".crt",
        key_file=files["server"] + ".key",
        client_ca_file=files["ca"] if client_ca else None,
    )
    return _strict(ctx)


@pytest.mark.parametrize(
    ("client_cert", "expected"),
    [
        pytest.param("bob", "('bob', ['system:masters', 'dev'])", id="client-cert"),
        pytest.param(None, "None", id="no-client-cert"),
    ],
)
async def test_tls_handshake_and_identity(files: dict[str, str], client_cert: str | None, expected: str) -> None:
    client = pki.client_ssl_context(
        ca_file=files["ca"],
        cert_file=files[client_cert] + ".crt" if client_cert else None,
        key_file=files[client_cert] + ".key" if client_cert else None,
    )
    assert await _handshake(_server(files), _strict(client)) == expected


async def test_identity_is_none_when_server_does_not_ask(files: dict[str, str]) -> None:
    bob = files["bob"]
    client = pki.client_ssl_context(ca_file=files["ca"], cert_file=bob + ".crt", key_file=bob + ".key")
    assert await _handshake(_server(files, client_ca=False), client) == "None"


@pytest.mark.parametrize(
    "client_cert",
    [
        pytest.param("stranger", id="client-cert-from-other-ca"),
        pytest.param("serveronly", id="client-cert-without-clientAuth"),
    ],
)
async def test_server_rejects_unverifiable_client_cert(files: dict[str, str], client_cert: str) -> None:
    client = pki.client_ssl_context(
        ca_file=files["ca"], cert_file=files[client_cert] + ".crt", key_file=files[client_cert] + ".key"
    )
    # In TLS 1.3 the client learns of its rejection after its side of the handshake: as an alert on the
    # first read, or as a connection closed before the server wrote the identity line.
    try:
        line = await _handshake(_server(files), client)
    except (ssl.SSLError, ConnectionError):
        return
    assert line == ""


async def test_client_rejects_server_from_unknown_ca(files: dict[str, str]) -> None:
    other = pki.generate_ca(common_name="unrelated")
    ca_file = Path(files["ca"]).with_name("unrelated.crt")
    ca_file.write_bytes(other.cert_pem)
    with pytest.raises(ssl.SSLCertVerificationError):
        await _handshake(_server(files), pki.client_ssl_context(ca_file=str(ca_file)))


async def test_insecure_client_skips_verification(files: dict[str, str]) -> None:
    assert await _handshake(_server(files), pki.client_ssl_context(ca_file=None, insecure=True)) == "None"


def test_client_context_needs_cert_with_key() -> None:
    with pytest.raises(ValueError, match="key_file given without cert_file"):
        pki.client_ssl_context(ca_file=None, key_file="k.pem")
