"""SelectorIndex (which HPAs select a set of pods: AmbiguousSelector) and PodIndex (which pods a selector
selects), each checked against a brute-force scan."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.hpa import model
from autoscaler.hpa.gathering import PodEntry, PodIndex
from autoscaler.hpa.selectorindex import SelectorIndex
from kubesim.selectors import LabelSelector, parse_label_selector


def _index(selectors: dict[tuple[str, str], str]) -> SelectorIndex:
    idx = SelectorIndex()
    for key, text in selectors.items():
        idx.put(key, parse_label_selector(text))
    return idx


@pytest.mark.parametrize(("selectors", "pods", "expected"), [
    pytest.param({("ns", "a"): "app=web"}, [{"app": "web"}], ["ns/a"], id="one-hpa"),
    pytest.param({("ns", "a"): "app=web", ("ns", "b"): "app=web"}, [{"app": "web"}], ["ns/a", "ns/b"],
                 id="same-selector-twice"),
    pytest.param({("ns", "a"): "app=web", ("ns", "b"): "app=web,tier=fe"}, [{"app": "web"}], ["ns/a"],
                 id="narrower-selector-misses"),
    pytest.param({("ns", "a"): "app=web", ("ns", "b"): "tier in (fe,be)"}, [{"app": "web", "tier": "fe"}],
                 ["ns/a", "ns/b"], id="set-based-selector-unindexed"),
    pytest.param({("ns", "a"): "app=web", ("other", "b"): "app=web"}, [{"app": "web"}], ["ns/a"],
                 id="other-namespace-ignored"),
    pytest.param({("ns", "a"): "app=web"}, [], [], id="no-pods"),
    pytest.param({("ns", "a"): "app!=web"}, [{"app": "api"}, {"app": "web"}], ["ns/a"], id="negative-selector"),
])
def test_selecting(selectors: dict[tuple[str, str], str], pods: list[dict[str, str]], expected: list[str]) -> None:
    assert _index(selectors).selecting("ns", pods) == expected


def test_nothing_selects_no_pod_and_replacing_and_removing_update_the_index() -> None:
    idx = SelectorIndex()
    idx.put(("ns", "a"), LabelSelector.nothing())
    assert ("ns", "a") in idx
    assert idx.selecting("ns", [{"app": "web"}]) == []
    idx.put(("ns", "a"), parse_label_selector("app=web"))
    assert idx.selecting("ns", [{"app": "web"}]) == ["ns/a"]
    idx.put(("ns", "a"), parse_label_selector("app=api"))
    assert idx.selecting("ns", [{"app": "web"}]) == []
    idx.remove(("ns", "a"))
    assert ("ns", "a") not in idx
    assert idx.selecting("ns", [{"app": "api"}]) == []


_labels = st.dictionaries(st.sampled_from(["app", "tier", "env"]), st.sampled_from(["a", "b", "c"]), max_size=3)
_selector = st.sampled_from(["app=a", "app=b", "app=a,tier=b", "tier in (a,b)", "env", "!env", "app!=a", "",
                             "env=c,app in (a,c)"])


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.tuples(st.sampled_from(["ns", "x"]), st.sampled_from("abcdef")), _selector, max_size=6),
       st.lists(_labels, max_size=5))
def test_agrees_with_a_scan(selectors: dict[tuple[str, str], str], pods: list[dict[str, str]]) -> None:
    idx = _index(selectors)
    expected = sorted(f"{ns}/{name}" for (ns, name), text in selectors.items()
                      if ns == "ns" and any(parse_label_selector(text).matches(p) for p in pods))
    assert idx.selecting("ns", pods) == expected


_pods = st.lists(st.tuples(st.sampled_from(["ns", "x"]), st.sampled_from("abcdefgh"), _labels), max_size=12)


@settings(max_examples=200, deadline=None)
@given(_pods, st.lists(st.tuples(st.sampled_from(["ns", "x"]), st.sampled_from("abcdefgh")), max_size=4), _selector)
def test_pod_index_selects_what_a_scan_selects(pods: list[tuple[str, str, dict[str, str]]],
                                               removed: list[tuple[str, str]], text: str) -> None:
    index, live = PodIndex(), {}
    for ns, name, labels in pods:  # later puts replace earlier ones of the same pod
        entry = PodEntry(ns, labels, model.PodInfo(name))
        index.put(entry)
        live[(ns, name)] = entry
    for ns, name in removed:
        index.remove(ns, name)
        live.pop((ns, name), None)
    selector = parse_label_selector(text)
    expected = sorted(e.info.name for (ns, _), e in live.items() if ns == "ns" and selector.matches(e.labels))
    assert sorted(e.info.name for e in index.select("ns", selector)) == expected
    assert index.select("ns", LabelSelector.nothing()) == []
