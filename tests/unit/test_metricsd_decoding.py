"""metricsd.decoding against metrics-server's resource decoder (pkg/scraper/client/resource/decode_test.go) and
the Prometheus text format's lexing; metricsd.formatting against apimachinery's Quantity.String() and Go's
time.Duration.String()."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubescale.quantity import format_quantity
from metricsd import formatting
from metricsd.decoding import ContainerSample, DecodeError, NodeSample, NodeScrape, decode

# The kubelet sample published in metrics-server's decode_test.go ("Normal").
KUBELET_SAMPLE = """
# HELP container_cpu_usage_seconds_total [ALPHA] Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="coredns",namespace="kube-system",pod="coredns-558bd4d5db-4dpjz"} 4.710169 1633253812125
# HELP container_memory_working_set_bytes [ALPHA] Current working set of the container in bytes
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container="coredns",namespace="kube-system",pod="coredns-558bd4d5db-4dpjz"} 1.253376e+07 1633253812125
# TYPE container_start_time_seconds gauge
container_start_time_seconds{container="coredns",namespace="kube-system",pod="coredns-558bd4d5db-4dpjz"} 1.633252712e+9 1633253812125
# HELP node_cpu_usage_seconds_total [ALPHA] Cumulative cpu time consumed by the node in core-seconds
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total 357.35491 1633253809720
# HELP node_memory_working_set_bytes [ALPHA] Current working set of the node in bytes
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 1.616273408e+09 1633253809720
# HELP pod_cpu_usage_seconds_total [ALPHA] Cumulative cpu time consumed by the pod in core-seconds
# TYPE pod_cpu_usage_seconds_total counter
pod_cpu_usage_seconds_total{namespace="kube-system",pod="coredns-558bd4d5db-4dpjz"} 4.67812 1633253803935
# HELP pod_memory_working_set_bytes [ALPHA] Current working set of the pod in bytes
# TYPE pod_memory_working_set_bytes gauge
pod_memory_working_set_bytes{namespace="kube-system",pod="coredns-558bd4d5db-4dpjz"} 1.2627968e+07 1633253803935
# HELP scrape_error [ALPHA] 1 if there was an error while getting container metrics, 0 otherwise
# TYPE scrape_error gauge
scrape_error 0
"""  # noqa: E501 (the upstream sample, verbatim)
LABELS = 'container="coredns",namespace="kube-system",pod="coredns-558bd4d5db-4dpjz"'
NODE = NodeSample(cpu_ns=357354910000, memory_bytes=1616273408, timestamp_ms=1633253809720)
COREDNS = ContainerSample(namespace="kube-system", pod="coredns-558bd4d5db-4dpjz", container="coredns",
                          cpu_ns=4710169000, memory_bytes=12533760, start_time_ns=1633252712000000000,
                          timestamp_ms=1633253812125)
DEFAULT_MS = 3392860027000  # 2077-07-07T07:07:07Z, as upstream's "Without timestamp uses defaultTime"
EMPTY = NodeScrape(node=None, containers=())


def _lines(*lines: str) -> str:
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(KUBELET_SAMPLE, NodeScrape(NODE, (COREDNS,)), id="upstream-normal"),
        pytest.param(_lines(f"container_cpu_usage_seconds_total{{{LABELS}}} 4.710169",
                            f"container_memory_working_set_bytes{{{LABELS}}} 1.253376e+07",
                            f"container_start_time_seconds{{{LABELS}}} 1.633252712e+9",
                            "node_cpu_usage_seconds_total 357.35491",
                            "node_memory_working_set_bytes 1.616273408e+09"),
                     NodeScrape(NodeSample(357354910000, 1616273408, DEFAULT_MS),
                                (ContainerSample("kube-system", "coredns-558bd4d5db-4dpjz", "coredns", 4710169000,
                                                 12533760, 1633252712000000000, DEFAULT_MS),)),
                     id="upstream-without-timestamp-uses-default-time"),
        pytest.param(_lines(f"container_cpu_usage_seconds_total{{{LABELS}}} 4.710169 1633253812125",
                            f"container_memory_working_set_bytes{{{LABELS}}} 1.253376e+07 1633253812125",
                            f"container_start_time_seconds{{{LABELS}}} 1.633252712e+9 1633253812125"),
                     NodeScrape(None, (COREDNS,)), id="upstream-containers-only"),
        pytest.param(_lines(f"container_memory_working_set_bytes{{{LABELS}}} 1.253376e+07 1633253812125"),
                     EMPTY, id="upstream-no-container-cpu-drops-container"),
        pytest.param(_lines(f"container_cpu_usage_seconds_total{{{LABELS}}} 0 1633253812125",
                            f"container_memory_working_set_bytes{{{LABELS}}} 1.253376e+07 1633253812125"),
                     EMPTY, id="upstream-zero-container-cpu-drops-container"),
        pytest.param(_lines(f"container_cpu_usage_seconds_total{{{LABELS}}} 4.710169 1633253812125"),
                     EMPTY, id="upstream-no-container-memory-drops-container"),
        pytest.param(_lines(f"container_cpu_usage_seconds_total{{{LABELS}}} 4.710169 1633253812125",
                            f"container_memory_working_set_bytes{{{LABELS}}} 0 1633253812125"),
                     EMPTY, id="upstream-zero-container-memory-drops-container"),
        pytest.param(_lines("node_cpu_usage_seconds_total 357.35491 1633253809720",
                            "node_memory_working_set_bytes 1.616273408e+09 1633253809720"),
                     NodeScrape(NODE, ()), id="upstream-single-node"),
        pytest.param(_lines("node_memory_working_set_bytes 1.616273408e+09 1633253809720"), EMPTY,
                     id="upstream-no-node-cpu-drops-node"),
        pytest.param(_lines("node_cpu_usage_seconds_total 0 1633253809720",
                            "node_memory_working_set_bytes 1.616273408e+09 1633253809720"), EMPTY,
                     id="upstream-zero-node-cpu-drops-node"),
        pytest.param(_lines("node_cpu_usage_seconds_total 357.35491 1633253809720"), EMPTY,
                     id="upstream-no-node-memory-drops-node"),
        pytest.param(_lines("node_cpu_usage_seconds_total 357.35491 1633253809720",
                            "node_memory_working_set_bytes 0 1633253809720"), EMPTY,
                     id="upstream-zero-node-memory-drops-node"),
        pytest.param("", EMPTY, id="empty"),
    ],
)
def test_decode_upstream_cases(text: str, expected: NodeScrape) -> None:
    assert decode(text, default_timestamp_ms=DEFAULT_MS) == expected


def test_incorrect_timestamp_rejects_the_scrape() -> None:
    """Upstream's "Containing an incorrect timestamp": a negative timestamp is a parse error."""
    text = _lines(
        "# HELP container_start_time_seconds [ALPHA] Start time of the container since unix epoch in seconds",
        "# TYPE container_start_time_seconds gauge",
        'container_start_time_seconds{container="metrics-server",namespace="kubernetes-dashboard",'
        'pod="kubernetes-dashboard-metrics-server-77db45cdf4-fppzx"} -6.7953645788713455e+09 -62135596800000',
    )
    with pytest.raises(DecodeError, match="line 3") as err:
        decode(text, default_timestamp_ms=0)
    assert err.value.line == 3


def _one(labels: str, *, cpu: str = "1.5", memory: str = "2048", start: str | None = None) -> str:
    lines = [f"container_cpu_usage_seconds_total{{{labels}}} {cpu} 1000",
             f"container_memory_working_set_bytes{{{labels}}} {memory} 1000"]
    if start is not None:
        lines.append(f"container_start_time_seconds{{{labels}}} {start}")
    return _lines(*lines)


@pytest.mark.parametrize(
    ("text", "ident"),
    [
        pytest.param(_one('pod="p",container="c",namespace="n"'), ("n", "p", "c"), id="any-label-order"),
        pytest.param(_one('namespace="n",pod="p",container="c",'), ("n", "p", "c"), id="trailing-comma"),
        pytest.param(_one('namespace="n" pod="p" container="c"'), ("n", "p", "c"), id="blank-separated"),
        pytest.param(_one(' namespace = "n" , pod="p",container="c" '), ("n", "p", "c"), id="blanks-around"),
        pytest.param(_one('id="/x",namespace="n",pod="p",container="c",image="i"'), ("n", "p", "c"),
                     id="extra-labels"),
        pytest.param(_one(r'namespace="n",pod="a\"b\\c\nd",container="c"'), ("n", 'a"b\\c\nd', "c"),
                     id="escaped-values"),
        pytest.param(_one(r'namespace="n",pod="a\tb",container="c"'), ("n", "a\\tb", "c"),
                     id="unknown-escape-kept-as-is"),
        pytest.param(_one('namespace="n",pod="p",container="c",pod="other"'), ("n", "p", "c"),
                     id="first-of-a-repeated-label"),
        pytest.param(_one('namespace="n",pod="pöd",container="c"'), ("n", "pöd", "c"), id="utf8-value"),
        pytest.param(_one('xpod="x",namespace="n",pod="p",container="c"'), ("n", "p", "c"),
                     id="label-name-suffix-is-not-the-label"),
    ],
)
def test_decode_labels(text: str, ident: tuple[str, str, str]) -> None:
    (c,) = decode(text, default_timestamp_ms=0).containers
    assert (c.namespace, c.pod, c.container) == ident


@pytest.mark.parametrize(
    ("cpu", "memory", "kept"),
    [
        pytest.param("1.5e0", "2.048E+03", (1_500_000_000, 2048), id="exponents"),
        pytest.param("+1.5", "2048.9", (1_500_000_000, 2048), id="plus-sign-and-truncation"),
        pytest.param(".5", "4096.", (500_000_000, 4096), id="bare-dots"),
        pytest.param("4.710169", "1", (4710169000, 1), id="float-arithmetic-as-go"),
        pytest.param("1e-10", "2048", None, id="below-a-nanosecond-is-zero"),
        pytest.param("NaN", "2048", None, id="nan-counts-as-zero"),
        pytest.param("-1", "2048", None, id="negative-counts-as-zero"),
        pytest.param("+Inf", "2048", None, id="infinity-counts-as-zero"),
        pytest.param("1", "1e19", None, id="memory-beyond-int64-counts-as-zero"),
    ],
)
def test_decode_values(cpu: str, memory: str, kept: tuple[int, int] | None) -> None:
    containers = decode(_one('namespace="n",pod="p",container="c"', cpu=cpu, memory=memory),
                        default_timestamp_ms=0).containers
    assert ((containers[0].cpu_ns, containers[0].memory_bytes) if containers else None) == kept


@pytest.mark.parametrize(
    ("start", "start_ns"),
    [
        pytest.param(None, 0, id="absent"),
        pytest.param("1.633252712e+9", 1633252712000000000, id="exponent"),
        pytest.param("-6.7953645788713455e+09", int(-6.7953645788713455e09 * 1e9), id="before-epoch"),
        pytest.param("NaN", 0, id="nan-is-absent"),
        pytest.param("1e200", 2**63 - 1, id="saturates"),
    ],
)
def test_decode_start_time(start: str | None, start_ns: int) -> None:
    (c,) = decode(_one('namespace="n",pod="p",container="c"', start=start), default_timestamp_ms=0).containers
    assert c.start_time_ns == start_ns


def test_a_container_without_cpu_drops_its_whole_pod_only() -> None:
    text = _lines(
        'container_cpu_usage_seconds_total{namespace="n",pod="p",container="a"} 1 1000',
        'container_memory_working_set_bytes{namespace="n",pod="p",container="a"} 1 1000',
        'container_memory_working_set_bytes{namespace="n",pod="p",container="b"} 1 1000',
        'container_cpu_usage_seconds_total{namespace="n",pod="q",container="a"} 1 1000',
        'container_memory_working_set_bytes{namespace="n",pod="q",container="a"} 1 1000',
    )
    assert [(c.pod, c.container) for c in decode(text, default_timestamp_ms=0).containers] == [("q", "a")]


def test_timestamp_is_the_last_cpu_or_memory_line() -> None:
    text = _lines(
        'container_cpu_usage_seconds_total{namespace="n",pod="p",container="a"} 1 1000',
        'container_memory_working_set_bytes{namespace="n",pod="p",container="a"} 1 2000',
        'container_start_time_seconds{namespace="n",pod="p",container="a"} 1 3000',
        "node_memory_working_set_bytes 1 5000",
        "node_cpu_usage_seconds_total 1 4000",
    )
    scrape = decode(text, default_timestamp_ms=0)
    assert scrape.containers[0].timestamp_ms == 2000
    assert scrape.node is not None and scrape.node.timestamp_ms == 4000


def test_containers_of_a_pod_stay_together() -> None:
    text = "".join(_one(f'namespace="n",pod="{p}",container="{c}"') for c in "ab" for p in "xyz")
    assert [(c.pod, c.container) for c in decode(text, default_timestamp_ms=0).containers] == [
        (p, c) for p in "xyz" for c in "ab"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(_lines("# a comment", "#no space", "# HELP", "# TYPE x bogus", "",
                            "  node_cpu_usage_seconds_total 1", "node_memory_working_set_bytes\t2 \t"),
                     id="comments-blank-lines-and-blanks"),
        pytest.param(_lines("node_cpu_usage_seconds_total{} 1", 'node_memory_working_set_bytes{a="b"} 2'),
                     id="node-labels-ignored"),
        pytest.param(_lines("node_cpu_usage_seconds_total 1", "node_memory_working_set_bytes 2",
                            "node_cpu_usage_seconds_total_extra garbage {{{", "pod_cpu_usage_seconds_total{ 1",
                            "xnode_cpu_usage_seconds_total nope"),
                     id="other-families-not-parsed"),
    ],
)
def test_tolerated(text: str) -> None:
    assert decode(text, default_timestamp_ms=7).node == NodeSample(1_000_000_000, 2, 7)


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        pytest.param("node_cpu_usage_seconds_total\n", 1, "malformed", id="no-value"),
        pytest.param("\n\nnode_cpu_usage_seconds_total 1 2 3\n", 3, "malformed", id="extra-token"),
        pytest.param("node_cpu_usage_seconds_total 1 -5\n", 1, "malformed", id="negative-timestamp"),
        pytest.param("node_cpu_usage_seconds_total 1 1.5\n", 1, "malformed", id="fractional-timestamp"),
        pytest.param("node_cpu_usage_seconds_total 1 99999999999999999999\n", 1, "out of range",
                     id="timestamp-overflow"),
        pytest.param("node_cpu_usage_seconds_total 1_000\n", 1, "invalid value", id="underscore"),
        pytest.param("node_cpu_usage_seconds_total 0x1p3\n", 1, "invalid value", id="hex-float"),
        pytest.param("node_cpu_usage_seconds_total -NaN\n", 1, "invalid value", id="signed-nan"),
        pytest.param("node_cpu_usage_seconds_total 1e400\n", 1, "invalid value", id="overflow-is-go-err-range"),
        pytest.param("node_cpu_usage_seconds_total 1\r\n", 1, "invalid value", id="carriage-return"),
        pytest.param("node_cpu_usage_seconds_total \u0661\n", 1, "invalid value", id="non-ascii-digit"),
        pytest.param("node_cpu_usage_seconds_total{a=b} 1\n", 1, "malformed", id="unquoted-label"),
        pytest.param('node_cpu_usage_seconds_total{a="b} 1\n', 1, "malformed", id="unterminated-quote"),
        pytest.param('container_cpu_usage_seconds_total{namespace="n",pod="p"} 1\n', 1, "without label container",
                     id="missing-container-label"),
        pytest.param("container_start_time_seconds 1\n", 1, "without label", id="no-labels"),
        pytest.param(b'container_cpu_usage_seconds_total{namespace="n",pod="\xff",container="c"} 1\n', 1,
                     "invalid UTF-8", id="invalid-utf8-label"),
    ],
)
def test_rejected(text: str | bytes, line: int, problem: str) -> None:
    with pytest.raises(DecodeError, match=problem) as err:
        decode(text, default_timestamp_ms=0)
    assert err.value.line == line


def test_invalid_utf8_outside_needed_labels_is_fine() -> None:
    data = b"# HELP x \xff\xfe\nnode_cpu_usage_seconds_total 1 5\nnode_memory_working_set_bytes 2 5\n"
    assert decode(data, default_timestamp_ms=0).node == NodeSample(1_000_000_000, 2, 5)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('node_cpu_usagescotalmrykib{}="\\,. \t\n#0123456789e+-NaInf')))
       | st.binary())
def test_random_text_raises_only_decode_error(data: str | bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode(data, default_timestamp_ms=0)


@settings(max_examples=500, deadline=None)
@given(st.integers(0, len(KUBELET_SAMPLE)), st.integers(0, 40), st.text(max_size=6))
def test_mutated_kubelet_sample_raises_only_decode_error(at: int, cut: int, insert: str) -> None:
    mutated = KUBELET_SAMPLE[:at] + insert + KUBELET_SAMPLE[at + cut:]
    try:
        scrape = decode(mutated, default_timestamp_ms=0)
    except DecodeError:
        return
    assert scrape.node is None or scrape.node.cpu_ns > 0


# -- formatting ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("nanocores", "text"),
    [
        pytest.param(487558164, "487558164n", id="nanocores"),
        pytest.param(0, "0", id="zero"),
        pytest.param(1_000_000_000, "1", id="one-core"),
        pytest.param(1_500_000_000, "1500m", id="millicores"),
        pytest.param(12_000, "12u", id="microcores"),
        pytest.param(120_000, "120u", id="trailing-zeros-to-the-suffix"),
        pytest.param(1_200_000, "1200u", id="exponent-aligned-to-three"),
        pytest.param(5, "5n", id="five-nanocores"),
        pytest.param(2_000_000_000_000, "2k", id="kilocores"),
    ],
)
def test_format_cpu(nanocores: int, text: str) -> None:
    assert formatting.format_cpu(nanocores) == text


@pytest.mark.parametrize(
    ("memory", "text"),
    [
        pytest.param(749785088, "732212Ki", id="kibibytes"),
        pytest.param(1536, "1536", id="not-a-multiple-of-1024"),
        pytest.param(12533761, "12533761", id="odd-bytes"),
        pytest.param(1024, "1Ki", id="one-kibibyte"),
        pytest.param(1 << 20, "1Mi", id="mebibyte"),
        pytest.param(1 << 30, "1Gi", id="gibibyte"),
        pytest.param(3 << 30, "3Gi", id="gibibytes"),
        pytest.param(1_616_273_408, "1578392Ki", id="upstream-node-working-set"),
        pytest.param(0, "0", id="zero"),
        pytest.param(512, "512", id="under-1024"),
        pytest.param(1000, "1k", id="under-1024-is-decimal-si"),
        pytest.param(2000, "2000", id="over-1024-stays-plain"),
    ],
)
def test_format_memory(memory: int, text: str) -> None:
    assert formatting.format_memory(memory) == text


@given(st.integers(0, 2**63 - 1))
def test_format_cpu_agrees_with_quantity_string(nanocores: int) -> None:
    assert formatting.format_cpu(nanocores) == format_quantity(f"{nanocores}n")


@given(st.integers(0, 2**62))
def test_format_memory_agrees_with_quantity_string(memory: int) -> None:
    if memory < 1024:
        assert formatting.format_memory(memory) == format_quantity(str(memory))
    elif memory % 1024:
        assert formatting.format_memory(memory) == str(memory)
    else:
        assert formatting.format_memory(memory) == format_quantity(f"{memory // 1024}Ki")


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        pytest.param(15_005_000_000, "15.005s", id="seconds"),
        pytest.param(60_000_000_000, "1m0s", id="one-minute"),
        pytest.param(0, "0s", id="zero"),
        pytest.param(7_200_000_000_000, "2h0m0s", id="hours"),
        pytest.param(3_723_500_000_000, "1h2m3.5s", id="mixed"),
        pytest.param(1_500_000, "1.5ms", id="milliseconds"),
        pytest.param(500_000, "500\u00b5s", id="microseconds-with-micro-sign"),
        pytest.param(999, "999ns", id="nanoseconds"),
        pytest.param(1_000_000_001, "1.000000001s", id="nanosecond-fraction"),
        pytest.param(-1_500_000_000, "-1.5s", id="negative"),
    ],
)
def test_format_duration(ns: int, text: str) -> None:
    assert formatting.format_duration(ns) == text


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        pytest.param(1633253812125000000, "2021-10-03T09:36:52Z", id="truncated-to-seconds"),
        pytest.param(0, "1970-01-01T00:00:00Z", id="epoch"),
    ],
)
def test_format_timestamp(ns: int, text: str) -> None:
    assert formatting.format_timestamp(ns) == text


def test_decodes_kubesims_kubelet_text() -> None:
    """kubesim's `/metrics/resource` (HELP/TYPE, [STABLE]/[ALPHA], swap and pod families, escaped values)."""
    from kubesim.sim import kubeletmetrics as km

    node = km.NodeSeries(name="n", cores=8, memory_capacity_bytes=32 << 30, start_time=1.7e9,
                         machine_id="m", system_uuid="u", boot_id="b", t=1_700_000_123.456, cpu_s=1234.5678,
                         memory_ws=3 << 30)
    containers = [km.ContainerSeries(name=name, namespace="team", pod=pod, image="i", container_id="0" * 64,
                                     cgroup="/c", start_time=1_700_000_000.25, t=1_700_000_120.5 + i,
                                     cpu_s=0.1 + i * 17.123456789, memory_ws=(i + 1) * 12_345_678)
                  for i, (pod, name) in enumerate([("web-1", "app"), ("web-1", "sidecar"), ('we"b\\2', "app")])]
    text = km.render_resource(node, [], sorted(containers, key=lambda c: c.sort_key))
    scrape = decode(text.encode(), default_timestamp_ms=0)
    assert scrape.node == NodeSample(int(1234.5678 * 1e9), 3 << 30, 1_700_000_123_456)
    assert sorted(scrape.containers, key=lambda c: (c.pod, c.container)) == [
        ContainerSample("team", c.pod, c.name, int(c.cpu_s * 1e9), c.memory_ws, int(c.start_time * 1e9),
                        int(c.t * 1000)) for c in sorted(containers, key=lambda c: (c.pod, c.name))]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


_label_text = st.text(alphabet=st.sampled_from(list('ab-.\\"\n{}=, \tü')), max_size=8)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_label_text, _label_text, _label_text, st.integers(1, 10**12), st.integers(1, 2**40),
                          st.permutations(["container", "namespace", "pod"]), st.booleans()),
                min_size=1, max_size=8, unique_by=lambda x: x[:3]))
def test_rendered_containers_decode_back(rows: list[tuple[str, str, str, int, int, list[str], bool]]) -> None:
    """Any label values (escaped), any label order, with or without timestamps, in family order."""
    lines: list[str] = []
    for family in ("container_cpu_usage_seconds_total", "container_memory_working_set_bytes"):
        lines.append(f"# TYPE {family} gauge")
        for ns, pod, name, cpu_ns, memory, order, stamped in rows:
            values = {"container": name, "namespace": ns, "pod": pod}
            labels = ",".join(f'{k}="{_escape(values[k])}"' for k in order)
            value = repr(cpu_ns / 1e9) if family.endswith("total") else f"{memory:e}"
            lines.append(f"{family}{{{labels}}} {value}" + (" 1234" if stamped else ""))
    scrape = decode("\n".join(lines), default_timestamp_ms=99)
    expected = {(ns, pod, name): (int(cpu_ns / 1e9 * 1e9), int(float(f"{memory:e}")), 1234 if stamped else 99)
                for ns, pod, name, cpu_ns, memory, _, stamped in rows}
    expected = {k: v for k, v in expected.items() if v[0] and v[1]}
    dropped_pods = {(k[0], k[1]) for k in {(r[0], r[1], r[2]) for r in rows} - set(expected)}
    expected = {k: v for k, v in expected.items() if (k[0], k[1]) not in dropped_pods}
    assert {(c.namespace, c.pod, c.container): (c.cpu_ns, c.memory_bytes, c.timestamp_ms)
            for c in scrape.containers} == expected
