"""kubesim.storeindex: selectors evaluated on a stored entry's index agree with the same selectors evaluated on
the decoded object; decoded objects are rebuilt from the JSON bytes once forgotten."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kubesim import selectors
from kubesim.store import dumps
from kubesim.storeindex import DECODED_KEPT, Entry, layout_for, selector_filter

KINDS = ("Pod", "Node", "Service", "Event", "Secret", "Namespace", "Widget")
WORDS = ("a", "b", "web", "db", "1", "7", "")
KEYS = ("app", "tier", "example.com/role", "n")
# fields no kind indexes: the filter must still answer them (by decoding)
UNINDEXED = ("spec.other", "status.extra.deep")

words = st.sampled_from(WORDS)
leaf_values = st.one_of(words, st.booleans(), st.integers(-3, 12), st.sampled_from([1.0, 2.5]), st.none(),
                        st.just({"nested": "x"}), st.just(["x"]))


def _set_path(obj: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    cur = obj
    for part in parents:
        nxt = cur.get(part)
        if not isinstance(nxt, dict):
            nxt = cur[part] = {}
        cur = nxt
    cur[last] = value


@st.composite
def stored_objects(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(KINDS))
    meta: dict[str, Any] = {"name": draw(st.sampled_from(("x", "web-1", "a.b")))}
    if draw(st.booleans()):
        meta["namespace"] = draw(st.sampled_from(("default", "team-a")))
    labels = draw(st.one_of(st.none(), st.dictionaries(st.sampled_from(KEYS), words, max_size=4)))
    if labels is not None:
        meta["labels"] = labels
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "metadata": meta}
    for path in (*layout_for(kind).paths[2:], *UNINDEXED):
        if draw(st.booleans()):
            _set_path(obj, path, draw(leaf_values))
    return obj


@st.composite
def label_selector_texts(draw: st.DrawFn, labels: dict[str, str]) -> str:
    """Terms mostly about keys the object has, with values it has or nearly has."""
    keys = (*labels, *labels, *KEYS)

    def term() -> str:
        key = draw(st.sampled_from(keys))
        op = draw(st.sampled_from(("exists", "!", "=", "==", "!=", "in", "notin", ">", "<")))
        if op == "exists":
            return key
        if op == "!":
            return "!" + key
        if op in ("in", "notin"):
            values = draw(st.lists(st.sampled_from(WORDS[:-1]), min_size=1, max_size=3))
            if labels.get(key) and draw(st.booleans()):
                values.append(labels[key])
            return f"{key} {op} ({','.join(values)})"
        if op in (">", "<"):
            return f"{key}{op}{draw(st.integers(0, 9))}"
        return f"{key}{op}{draw(st.sampled_from((labels.get(key, ''), *WORDS)))}"
    return ",".join(term() for _ in range(draw(st.integers(0, 3))))


@st.composite
def field_selector_texts(draw: st.DrawFn, obj: dict[str, Any]) -> str:
    """Terms about the kind's fields (and unindexed ones), with the object's value or another."""
    def term() -> str:
        path = draw(st.sampled_from((*layout_for(obj["kind"]).paths, *UNINDEXED)))
        value = draw(st.sampled_from((selectors.field_value(obj, path), *WORDS)))
        return f"{path}{draw(st.sampled_from(('=', '==', '!=')))}{value}"
    return ",".join(term() for _ in range(draw(st.integers(0, 3))))


def on_decoded(ls: selectors.LabelSelector, fs: selectors.FieldSelector, obj: dict[str, Any]) -> bool:
    """The selectors as the API server evaluated them on whole objects before the index existed."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return ls.matches(labels) and fs.matches(lambda path: selectors.field_value(obj, path))


@settings(max_examples=500)
@given(obj=stored_objects(), data=st.data())
def test_selectors_on_the_index_agree_with_the_decoded_object(obj: dict[str, Any], data: st.DataObject) -> None:
    label_text = data.draw(label_selector_texts(obj["metadata"].get("labels") or {}))
    field_text = data.draw(field_selector_texts(obj))
    try:
        ls = selectors.parse_label_selector(label_text)
        fs = selectors.parse_field_selector(field_text)
    except selectors.SelectorError:
        assume(False)
        raise
    entry = Entry(obj, dumps(obj))
    check = selector_filter(ls, fs)
    got = True if check is None else check(entry)
    assert got == on_decoded(ls, fs, obj)


@given(obj=stored_objects())
def test_index_fields_are_the_field_values_of_the_object(obj: dict[str, Any]) -> None:
    entry = Entry(obj, dumps(obj))
    for path in (*layout_for(obj["kind"]).paths, *UNINDEXED):
        assert entry.field(path) == selectors.field_value(obj, path)
    assert (entry.name, entry.namespace) == (obj["metadata"]["name"], obj["metadata"].get("namespace", ""))


@pytest.mark.parametrize(("path", "value", "expected"), [
    pytest.param("spec.hostNetwork", True, "true", id="bool"),
    pytest.param("spec.nodeName", "node-1", "node-1", id="string"),
    pytest.param("status.phase", None, "", id="null"),
    pytest.param("spec.restartPolicy", {"x": 1}, "", id="object"),
])
def test_pod_field_values_render_as_field_selectors_see_them(path: str, value: Any, expected: str) -> None:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "d"}}
    _set_path(obj, path, value)
    assert Entry(obj, dumps(obj)).field(path) == expected


def test_a_forgotten_object_is_decoded_again_from_its_bytes() -> None:
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "d", "labels": {"app": "x"}},
           "spec": {"nodeName": "n1"}}
    entry = Entry(obj, dumps(obj))
    assert entry.obj is obj  # the writer's object is kept while recent
    for i in range(DECODED_KEPT):
        Entry({"kind": "Pod", "metadata": {"name": f"q{i}"}}, b"{}")
    again = entry.obj
    assert again == obj and again is not obj
    assert entry.obj is again  # and kept again once decoded
