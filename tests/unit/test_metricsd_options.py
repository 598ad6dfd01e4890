"""`kubescale metrics-server` flags: upstream defaults, Go durations, and upstream's validation messages."""

from __future__ import annotations

import argparse

import pytest

from metricsd import options


def parse(*argv: str) -> options.MetricsServerConfig:
    p = argparse.ArgumentParser()
    options.add_arguments(p)
    return options.from_args(p.parse_args(list(argv)))


def problems(*argv: str) -> tuple[str, ...]:
    with pytest.raises(options.OptionsError) as e:
        parse(*argv)
    return e.value.problems


def test_defaults_are_upstreams() -> None:
    c = parse()
    assert c.metric_resolution_s == 60.0
    assert c.kubelet.port == 10250 and c.kubelet.request_timeout_s == 10.0 and not c.kubelet.use_node_status_port
    assert c.kubelet.address_types == ("Hostname", "InternalDNS", "InternalIP", "ExternalDNS", "ExternalIP")
    assert c.auth.always_allow_paths == ("/healthz", "/readyz", "/livez")
    assert c.auth.requestheader_username_headers == ("X-Remote-User",)
    assert c.serving.secure_port == 443 and c.serving.cert_dir == "apiserver.local.config/certificates"
    assert c.scrape_timeout_s == pytest.approx(54.0)


def test_flags_as_the_shipped_manifests_pass_them() -> None:
    c = parse("--metric-resolution=15s", "--kubelet-use-node-status-port", "--kubelet-insecure-tls",
              "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname", "--secure-port=10250",
              "--cert-dir=/tmp", "-l", "role=worker")
    assert c.metric_resolution_s == 15.0 and c.kubelet.use_node_status_port and c.kubelet.insecure_tls
    assert c.kubelet.address_types == ("InternalIP", "ExternalIP", "Hostname")
    assert c.serving.secure_port == 10250 and c.kubelet.node_selector == "role=worker"


@pytest.mark.parametrize(("argv", "expected"), [
    pytest.param(("--metric-resolution=5s", "--kubelet-request-timeout=1s"),
                 ["metric-resolution should be a time duration at least 10s, but value 5s provided"], id="too-fine"),
    pytest.param(("--metric-resolution=10s",),
                 ["metric-resolution should be larger than kubelet-request-timeout, but metric-resolution value 10s "
                  "kubelet-request-timeout value 10s provided"], id="timeout-over-90-percent"),
    pytest.param(("--kubelet-certificate-authority=ca.crt", "--kubelet-insecure-tls"),
                 ["cannot use both --kubelet-certificate-authority and --kubelet-insecure-tls"], id="ca-and-insecure"),
    pytest.param(("--kubelet-client-key=k.pem",),
                 ["need both --kubelet-client-key and --kubelet-client-certificate"], id="key-without-cert"),
    pytest.param(("--kubelet-insecure-tls", "--deprecated-kubelet-completely-insecure"),
                 ["cannot use both --kubelet-insecure-tls and --deprecated-kubelet-completely-insecure"],
                 id="insecure-twice"),
    pytest.param(("--kubelet-request-timeout=0s", "--metric-resolution=15s"),
                 ["kubelet-request-timeout should be positive"], id="zero-timeout"),
    pytest.param(("--tls-cert-file=a.crt",),
                 ["--tls-cert-file and --tls-private-key-file must be given together"], id="cert-without-key"),
])
def test_upstream_validation(argv: tuple[str, ...], expected: list[str]) -> None:
    assert list(problems(*argv)) == expected


def test_every_problem_is_reported_at_once() -> None:
    found = problems("--metric-resolution=5s", "--kubelet-client-certificate=c.pem", "--secure-port=70000")
    assert len(found) == 4  # too fine, timeout over 90 %, cert without key, port


def test_a_go_duration_is_required() -> None:
    p = argparse.ArgumentParser()
    options.add_arguments(p)
    with pytest.raises(SystemExit):
        p.parse_args(["--metric-resolution=15"])  # Go: missing unit in duration "15"
