"""`kubescale metrics-server` flags: metrics-server's names and defaults, loaded once into frozen config
dataclasses and validated with every error collected (cmd/metrics-server/app/options).

Pure; no I/O (files named by flags are read later, by the parts that use them).
Differences from upstream, all for local runs: `--bind-address` defaults to 127.0.0.1 (upstream 0.0.0.0);
`--secure-port 0` picks a free port; `--register-apiservice` and `--local-trust-loopback` are ours.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

from kubescale.durations import go_duration_s
from metricsd.formatting import format_duration
from metricsd.targets import DEFAULT_ADDRESS_TYPES

DEFAULT_ALWAYS_ALLOW_PATHS = ("/healthz", "/readyz", "/livez")


class OptionsError(ValueError):
    """Every problem with the flags, one per line."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True)
class KubeletOptions:
    port: int = 10250
    use_node_status_port: bool = False
    address_types: tuple[str, ...] = DEFAULT_ADDRESS_TYPES
    insecure_tls: bool = False
    completely_insecure: bool = False
    ca_file: str | None = None
    ca_text: str | None = None
    client_cert_file: str | None = None
    client_key_file: str | None = None
    request_timeout_s: float = 10.0
    node_selector: str = ""


@dataclass(frozen=True)
class ServingOptions:
    bind_address: str = "127.0.0.1"
    secure_port: int = 443
    cert_dir: str = "apiserver.local.config/certificates"
    tls_cert_file: str | None = None
    tls_private_key_file: str | None = None


@dataclass(frozen=True)
class AuthOptions:
    authentication_kubeconfig: str | None = None
    authorization_kubeconfig: str | None = None
    client_ca_file: str | None = None
    requestheader_client_ca_file: str | None = None
    requestheader_allowed_names: tuple[str, ...] = ()
    requestheader_username_headers: tuple[str, ...] = ("X-Remote-User",)
    requestheader_group_headers: tuple[str, ...] = ("X-Remote-Group",)
    requestheader_extra_headers_prefix: tuple[str, ...] = ("X-Remote-Extra-",)
    authentication_skip_lookup: bool = False
    authentication_tolerate_lookup_failure: bool = False
    token_cache_ttl_s: float = 10.0
    authorized_cache_ttl_s: float = 10.0
    unauthorized_cache_ttl_s: float = 10.0
    always_allow_paths: tuple[str, ...] = DEFAULT_ALWAYS_ALLOW_PATHS
    trust_loopback: bool = False


@dataclass(frozen=True)
class RegistrationOptions:
    enabled: bool = False
    namespace: str = "kube-system"
    service: str = "metrics-server"


@dataclass(frozen=True)
class MetricsServerConfig:
    kubeconfig: str | None = None
    context: str | None = None
    metric_resolution_s: float = 60.0
    kubelet: KubeletOptions = KubeletOptions()
    serving: ServingOptions = ServingOptions()
    auth: AuthOptions = AuthOptions()
    registration: RegistrationOptions = RegistrationOptions()

    @property
    def scrape_timeout_s(self) -> float:
        """Upstream's ScrapeTimeout: a tick that has not finished by then is abandoned."""
        return self.metric_resolution_s * 0.9


def _list(text: str) -> tuple[str, ...]:
    """A pflag string slice: comma-separated, blanks kept out."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def add_arguments(p: argparse.ArgumentParser) -> None:
    ms = p.add_argument_group("metrics server")
    ms.add_argument("--kubeconfig", help="kubeconfig for the API server (default: in-cluster, then $KUBECONFIG, "
                    "then ~/.kube/config)")
    ms.add_argument("--context", help="kubeconfig context to use (default: the current one)")
    ms.add_argument("--metric-resolution", type=go_duration_s, default=60.0, metavar="DURATION",
                    help="the resolution at which metrics are retained, at least 10s (default 60s)")
    kc = p.add_argument_group("kubelet client")
    kc.add_argument("--kubelet-port", type=int, default=10250, help="the port to use to connect to kubelets")
    kc.add_argument("--kubelet-use-node-status-port", action="store_true",
                    help="use the port in the node status; takes precedence over --kubelet-port")
    kc.add_argument("--kubelet-preferred-address-types", type=_list, default=DEFAULT_ADDRESS_TYPES,
                    metavar="TYPES", help="the priority of node address types used to reach a kubelet "
                    f"(default {','.join(DEFAULT_ADDRESS_TYPES)})")
    kc.add_argument("--kubelet-insecure-tls", action="store_true",
                    help="do not verify the CA of kubelets' serving certificates; for testing only")
    kc.add_argument("--kubelet-certificate-authority", metavar="FILE",
                    help="CA to validate kubelets' serving certificates")
    kc.add_argument("--kubelet-certificate-authority-text", metavar="PEM",
                    help="CA text to validate kubelets' serving certificates")
    kc.add_argument("--kubelet-client-certificate", metavar="FILE", help="client certificate file for TLS")
    kc.add_argument("--kubelet-client-key", metavar="FILE", help="client key file for TLS")
    kc.add_argument("--kubelet-request-timeout", type=go_duration_s, default=10.0, metavar="DURATION",
                    help="how long to wait before giving up on a single request to a kubelet (default 10s)")
    kc.add_argument("--node-selector", "-l", default="", metavar="SELECTOR",
                    help="label selector of the nodes to scrape ('=', '==', '!=')")
    kc.add_argument("--deprecated-kubelet-completely-insecure", action="store_true",
                    help="DEPRECATED: plain HTTP to kubelets, without authentication")
    ss = p.add_argument_group("secure serving")
    ss.add_argument("--bind-address", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    ss.add_argument("--secure-port", type=int, default=443, help="HTTPS port (default 443; 0 picks a free one)")
    ss.add_argument("--cert-dir", default="apiserver.local.config/certificates",
                    help="where a self-signed certificate is written when --tls-cert-file is not given")
    ss.add_argument("--tls-cert-file", metavar="FILE", help="serving certificate (PEM, with intermediates)")
    ss.add_argument("--tls-private-key-file", metavar="FILE", help="the serving certificate's private key")
    au = p.add_argument_group("authentication and authorization (delegated to the API server)")
    au.add_argument("--authentication-kubeconfig", metavar="FILE",
                    help="kubeconfig for TokenReviews (default: --kubeconfig)")
    au.add_argument("--authorization-kubeconfig", metavar="FILE",
                    help="kubeconfig for SubjectAccessReviews (default: --kubeconfig)")
    au.add_argument("--client-ca-file", metavar="FILE", help="CA of client certificates accepted as identities")
    au.add_argument("--requestheader-client-ca-file", metavar="FILE",
                    help="CA of the front proxy's client certificate (default: looked up in "
                    "kube-system/extension-apiserver-authentication)")
    au.add_argument("--requestheader-allowed-names", type=_list, default=(), metavar="NAMES",
                    help="common names accepted for the front proxy's certificate (empty: any)")
    au.add_argument("--requestheader-username-headers", type=_list, default=("X-Remote-User",), metavar="HEADERS")
    au.add_argument("--requestheader-group-headers", type=_list, default=("X-Remote-Group",), metavar="HEADERS")
    au.add_argument("--requestheader-extra-headers-prefix", type=_list, default=("X-Remote-Extra-",),
                    metavar="PREFIXES")
    au.add_argument("--authentication-skip-lookup", action="store_true",
                    help="do not read kube-system/extension-apiserver-authentication")
    au.add_argument("--authentication-tolerate-lookup-failure", action="store_true",
                    help="start even if that ConfigMap cannot be read")
    au.add_argument("--authentication-token-webhook-cache-ttl", type=go_duration_s, default=10.0,
                    metavar="DURATION", help="how long TokenReview answers are cached (default 10s)")
    au.add_argument("--authorization-webhook-cache-authorized-ttl", type=go_duration_s, default=10.0,
                    metavar="DURATION")
    au.add_argument("--authorization-webhook-cache-unauthorized-ttl", type=go_duration_s, default=10.0,
                    metavar="DURATION")
    au.add_argument("--authorization-always-allow-paths", type=_list, default=DEFAULT_ALWAYS_ALLOW_PATHS,
                    metavar="PATHS", help="paths served without authentication or authorization "
                    f"(default {','.join(DEFAULT_ALWAYS_ALLOW_PATHS)})")
    au.add_argument("--local-trust-loopback", action="store_true",
                    help="ours, for kubesim without --tls: take X-Remote-User/X-Remote-Group from loopback "
                    "callers without a client certificate, and allow them; never for a real cluster")
    rg = p.add_argument_group("registration")
    rg.add_argument("--register-apiservice", action="store_true",
                    help="create the Service, Endpoints and the v1beta1.metrics.k8s.io APIService pointing here")
    rg.add_argument("--apiservice-namespace", default="kube-system", help="namespace of that Service")
    rg.add_argument("--apiservice-service", default="metrics-server", help="name of that Service")


def from_args(args: argparse.Namespace) -> MetricsServerConfig:
    """The config the flags describe; OptionsError listing every problem (upstream's messages) otherwise."""
    kubelet = KubeletOptions(
        port=args.kubelet_port, use_node_status_port=args.kubelet_use_node_status_port,
        address_types=tuple(args.kubelet_preferred_address_types), insecure_tls=args.kubelet_insecure_tls,
        completely_insecure=args.deprecated_kubelet_completely_insecure,
        ca_file=args.kubelet_certificate_authority, ca_text=args.kubelet_certificate_authority_text,
        client_cert_file=args.kubelet_client_certificate, client_key_file=args.kubelet_client_key,
        request_timeout_s=args.kubelet_request_timeout, node_selector=args.node_selector)
    config = MetricsServerConfig(
        kubeconfig=args.kubeconfig, context=args.context, metric_resolution_s=args.metric_resolution,
        kubelet=kubelet,
        serving=ServingOptions(bind_address=args.bind_address, secure_port=args.secure_port, cert_dir=args.cert_dir,
                               tls_cert_file=args.tls_cert_file, tls_private_key_file=args.tls_private_key_file),
        auth=AuthOptions(
            authentication_kubeconfig=args.authentication_kubeconfig,
            authorization_kubeconfig=args.authorization_kubeconfig, client_ca_file=args.client_ca_file,
            requestheader_client_ca_file=args.requestheader_client_ca_file,
            requestheader_allowed_names=tuple(args.requestheader_allowed_names),
            requestheader_username_headers=tuple(args.requestheader_username_headers),
            requestheader_group_headers=tuple(args.requestheader_group_headers),
            requestheader_extra_headers_prefix=tuple(args.requestheader_extra_headers_prefix),
            authentication_skip_lookup=args.authentication_skip_lookup,
            authentication_tolerate_lookup_failure=args.authentication_tolerate_lookup_failure,
            token_cache_ttl_s=args.authentication_token_webhook_cache_ttl,
            authorized_cache_ttl_s=args.authorization_webhook_cache_authorized_ttl,
            unauthorized_cache_ttl_s=args.authorization_webhook_cache_unauthorized_ttl,
            always_allow_paths=tuple(args.authorization_always_allow_paths), trust_loopback=args.local_trust_loopback),
        registration=RegistrationOptions(enabled=args.register_apiservice, namespace=args.apiservice_namespace,
                                         service=args.apiservice_service),
    )
    problems = validate(config)
    if problems:
        raise OptionsError(problems)
    return config


def _go(seconds: float) -> str:
    """A duration as Go's %v prints it, for upstream's messages."""
    return format_duration(round(seconds * 1e9))


def validate(c: MetricsServerConfig) -> list[str]:
    """Upstream's checks (Options.validate and KubeletClientOptions.Validate), in upstream's order and words."""
    k = c.kubelet
    both = "cannot use both --{} and --{}".format
    problems: list[str] = []
    if k.ca_file and k.ca_text:
        problems.append(both("kubelet-certificate-authority", "kubelet-certificate-authority-text"))
    if k.ca_text and k.insecure_tls:
        problems.append(both("kubelet-certificate-authority-text", "kubelet-insecure-tls"))
    if k.ca_file and k.insecure_tls:
        problems.append(both("kubelet-certificate-authority", "kubelet-insecure-tls"))
    if bool(k.client_key_file) != bool(k.client_cert_file):
        problems.append("need both --kubelet-client-key and --kubelet-client-certificate")
    if k.client_key_file and k.completely_insecure:
        problems.append(both("kubelet-client-key", "deprecated-kubelet-completely-insecure"))
    if k.client_cert_file and k.completely_insecure:
        problems.append(both("kubelet-client-certificate", "deprecated-kubelet-completely-insecure"))
    if k.insecure_tls and k.completely_insecure:
        problems.append(both("kubelet-insecure-tls", "deprecated-kubelet-completely-insecure"))
    if k.ca_text and k.completely_insecure:
        problems.append(both("kubelet-certificate-authority-text", "deprecated-kubelet-completely-insecure"))
    if k.ca_file and k.completely_insecure:
        problems.append(both("kubelet-certificate-authority", "deprecated-kubelet-completely-insecure"))
    if k.request_timeout_s <= 0:
        problems.append("kubelet-request-timeout should be positive")
    if c.metric_resolution_s < 10:
        problems.append(f"metric-resolution should be a time duration at least 10s, but value "
                        f"{_go(c.metric_resolution_s)} provided")
    if c.metric_resolution_s * 9 / 10 < k.request_timeout_s:
        problems.append(f"metric-resolution should be larger than kubelet-request-timeout, but metric-resolution "
                        f"value {_go(c.metric_resolution_s)} kubelet-request-timeout value "
                        f"{_go(k.request_timeout_s)} provided")
    if not 0 <= k.port <= 65535:
        problems.append(f"--kubelet-port {k.port} must be between 0 and 65535")
    if not 0 <= c.serving.secure_port <= 65535:
        problems.append(f"--secure-port {c.serving.secure_port} must be between 0 and 65535 "
                        "(0 picks a free port)")
    if bool(c.serving.tls_cert_file) != bool(c.serving.tls_private_key_file):
        problems.append("--tls-cert-file and --tls-private-key-file must be given together")
    if not k.address_types:
        problems.append("--kubelet-preferred-address-types must name at least one address type")
    for path in c.auth.always_allow_paths:
        if not path.startswith("/"):
            problems.append(f'--authorization-always-allow-paths: "{path}" must start with "/"')
    return problems


__all__ = ["AuthOptions", "KubeletOptions", "MetricsServerConfig", "OptionsError", "RegistrationOptions",
           "ServingOptions", "add_arguments", "from_args", "validate"]
