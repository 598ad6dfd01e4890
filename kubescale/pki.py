"""X.509 for kubescale: a small CA, server and client leaf certificates, and the ssl contexts that use them.

Certificates are ECDSA P-256 / SHA-256 with the RFC 5280 extensions that Go's crypto/x509 (kubectl,
Prometheus) and OpenSSL in strict mode expect. Identity follows Kubernetes: CN is the user, O the groups.
Not a general PKI: no CRLs, OCSP, intermediates or rotation. Writes files only in `write_pair`.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import logging
import os
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger(__name__)

PrivateKey = ec.EllipticCurvePrivateKey

# Like client-go's cert helpers: backdate so that a peer whose clock is slightly behind accepts the cert.
_BACKDATE = datetime.timedelta(hours=1)
SERVER_AUTH, CLIENT_AUTH = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH


@dataclass(frozen=True)
class KeyPair:
    """A PEM certificate (possibly followed by its issuer) and its PEM private key (PKCS#8)."""

    cert_pem: bytes
    key_pem: bytes = field(repr=False)


def new_key() -> PrivateKey:
    """A fresh P-256 key; pass it as `key=` to issue many certificates for one key cheaply."""
    return ec.generate_private_key(ec.SECP256R1())


def generate_ca(*, common_name: str, valid_days: int = 365, key: PrivateKey | None = None) -> KeyPair:
    """A self-signed CA certificate that may sign leaf certificates (no intermediates)."""
    key = key or new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    not_before, not_after = _validity(valid_days)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert_pem=cert.public_bytes(serialization.Encoding.PEM), key_pem=_key_pem(key))


def issue_cert(
    *,
    ca: KeyPair,
    common_name: str,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    client: bool = False,
    server: bool = True,
    organizations: Sequence[str] = (),
    valid_days: int = 365,
    key: PrivateKey | None = None,
) -> KeyPair:
    """A leaf certificate signed by `ca`, for TLS serving (`server`) and/or client authentication.

    A client certificate names a Kubernetes user (CN) and its groups (O). A server certificate must
    carry at least one SAN: Go ignores the CN when checking host names. The validity is capped at the
    CA's. Pass one `key` to many calls to skip key generation (simulated kubelets share one key).
    """
    if not (client or server):
        raise ValueError("a certificate must be for server or client use (or both)")
    sans = _sans(dns_names, ip_addresses)
    if server and not sans:
        raise ValueError(f"server certificate {common_name!r} needs at least one DNS name or IP address")
    ca_cert, ca_key, aki = _load_ca(ca)
    key = key or new_key()
    not_before, not_after = _validity(valid_days)
    not_after = min(not_after, ca_cert.not_valid_after_utc)
    usages = [oid for oid, wanted in ((SERVER_AUTH, server), (CLIENT_AUTH, client)) if wanted]
    subject = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
    subject.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(subject))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(aki, critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return KeyPair(cert_pem=cert.public_bytes(serialization.Encoding.PEM), key_pem=_key_pem(key))


def self_signed(
    *, common_name: str, dns_names: Sequence[str] = (), ip_addresses: Sequence[str] = ()
) -> KeyPair:
    """A serving certificate followed by its throw-away CA, as client-go's GenerateSelfSignedCertKey
    makes for metrics-server's --cert-dir fallback: CA "HOST-ca@UNIX", leaf "HOST@UNIX", SANs = HOST
    (as an IP or a DNS name) plus the given names, valid one year. The key is the leaf's."""
    now = int(datetime.datetime.now(datetime.UTC).timestamp())
    ca = generate_ca(common_name=f"{common_name}-ca@{now}")
    try:
        ipaddress.ip_address(common_name)
        ips, dns = [common_name, *ip_addresses], list(dns_names)
    except ValueError:
        ips, dns = list(ip_addresses), [common_name, *dns_names]
    leaf = issue_cert(ca=ca, common_name=f"{common_name}@{now}", dns_names=dns, ip_addresses=ips)
    return KeyPair(cert_pem=leaf.cert_pem + ca.cert_pem, key_pem=leaf.key_pem)


def write_pair(pair: KeyPair, *, cert_path: str, key_path: str) -> None:
    """Write the certificate (0644) and key (0600), each atomically, so a reader never sees half a file."""
    _write_atomic(key_path, pair.key_pem, mode=0o600)
    _write_atomic(cert_path, pair.cert_pem, mode=0o644)


def ensure_self_signed(cert_dir: str, *, host: str = "localhost", alternate_ips: Sequence[str] = ("127.0.0.1",),
                       alternate_dns: Sequence[str] = ()) -> tuple[str, str]:
    """`<cert_dir>/apiserver.crt` and `.key`, made self-signed (as client-go's GenerateSelfSignedCertKey for
    metrics-server's --cert-dir) when not there yet; returns their paths."""
    cert_file, key_file = os.path.join(cert_dir, "apiserver.crt"), os.path.join(cert_dir, "apiserver.key")
    if os.path.exists(cert_file) and os.path.exists(key_file):
        return cert_file, key_file
    os.makedirs(cert_dir, mode=0o755, exist_ok=True)
    pair = self_signed(common_name=host, dns_names=alternate_dns, ip_addresses=alternate_ips)
    write_pair(pair, cert_path=cert_file, key_path=key_file)
    log.info("generated a self-signed serving certificate in %s", cert_dir)
    return cert_file, key_file


def server_ssl_context(*, cert_file: str, key_file: str, client_ca_file: str | None = None) -> ssl.SSLContext:
    """TLS ≥ 1.2 serving context. With `client_ca_file`, a client certificate is optional but, when one
    is sent, it must verify against that CA for client use (as kube-apiserver's --client-ca-file)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    # Go clients offer h2 first; answering http/1.1 keeps them on the protocol aiohttp speaks.
    ctx.set_alpn_protocols(["http/1.1"])
    if client_ca_file is not None:
        ctx.load_verify_locations(cafile=client_ca_file)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def client_ssl_context(
    *,
    ca_file: str | None,
    cert_file: str | None = None,
    key_file: str | None = None,
    insecure: bool = False,
) -> ssl.SSLContext:
    """TLS client context: trust `ca_file` only (the system store when None) and check the host name,
    or verify nothing when `insecure` (like --kubelet-insecure-tls). `cert_file`/`key_file` add a
    client certificate; `key_file` defaults to `cert_file` holding both."""
    if key_file is not None and cert_file is None:
        raise ValueError("key_file given without cert_file")
    if insecure:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx = ssl.create_default_context(cafile=ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file is not None:
        ctx.load_cert_chain(cert_file, key_file)
    return ctx


def peer_identity(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> tuple[str, list[str]] | None:
    """(user, groups) from the peer's verified certificate: the CN and the O values, as kube-apiserver's
    x509 authenticator reads them (the last CN wins). None without a verified certificate or CN."""
    if ssl_object is None:
        return None
    cert = ssl_object.getpeercert()
    if not cert:
        return None
    common_name = ""
    organizations: list[str] = []
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                common_name = value
            elif key == "organizationName":
                organizations.append(value)
    return (common_name, organizations) if common_name else None


@functools.lru_cache(maxsize=32)
def _load_ca(ca: KeyPair) -> tuple[x509.Certificate, PrivateKey, x509.AuthorityKeyIdentifier]:
    """Parse a CA once; issuing thousands of leaves from one CA must not re-parse it each time."""
    cert = x509.load_pem_x509_certificate(ca.cert_pem)
    key = serialization.load_pem_private_key(ca.key_pem, password=None)
    if not isinstance(key, PrivateKey):
        raise ValueError(f"CA key must be an EC key, not {type(key).__name__}")
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise ValueError(f"{cert.subject.rfc4514_string()} is not a CA certificate")
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return cert, key, x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _validity(valid_days: int) -> tuple[datetime.datetime, datetime.datetime]:
    if valid_days <= 0:
        raise ValueError(f"valid_days must be positive, got {valid_days}")
    now = datetime.datetime.now(datetime.UTC)
    return now - _BACKDATE, now + datetime.timedelta(days=valid_days)


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,  # ECDSA keys sign; they never encipher a session key
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _sans(dns_names: Sequence[str], ip_addresses: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    for address in ip_addresses:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError:
            raise ValueError(f"not an IP address: {address!r}") from None
    return names


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_atomic(path: str, data: bytes, *, mode: int) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
