"""kubesim.selectors: label and field selectors against upstream's grammar, semantics and messages."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubesim.selectors import (
    FieldRequirement,
    LabelSelector,
    Requirement,
    SelectorError,
    field_value,
    format_label_selector,
    label_selector_from_dict,
    parse_field_selector,
    parse_label_selector,
    selector_dict_to_string,
)

KEY_REGEX_ERROR = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
VALUE_REGEX_ERROR = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


# --- label selector strings ----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "canonical"), [
    pytest.param("", "", id="empty-selects-everything"),
    pytest.param("   ", "", id="only-whitespace"),
    pytest.param("x=a", "x=a", id="equals"),
    pytest.param("x==a", "x==a", id="double-equals-kept"),
    pytest.param("x!=a", "x!=a", id="not-equals"),
    pytest.param("x", "x", id="exists"),
    pytest.param("!x", "!x", id="does-not-exist"),
    pytest.param("x in (b,a)", "x in (a,b)", id="in-values-sorted"),
    pytest.param("x notin (a,a,b)", "x notin (a,b)", id="notin-values-deduplicated"),
    pytest.param("z=c,y=b,x=a", "x=a,y=b,z=c", id="requirements-sorted-by-key"),
    pytest.param(" x = a , y in ( b , c ) ", "x=a,y in (b,c)", id="whitespace-tolerated"),
    pytest.param("x=,y= ", "x=,y=", id="empty-values"),
    pytest.param("x in ()", "x in ()", id="empty-value-set-is-empty-string"),
    pytest.param("x in (,a)", "x in (,a)", id="leading-empty-value"),
    pytest.param("x in (a,)", "x in (,a)", id="trailing-empty-value"),
    pytest.param("x>1,y<10", "x>1,y<10", id="gt-lt"),
    pytest.param("in in (in,notin)", "in in (in,notin)", id="keywords-as-key-and-values"),
    pytest.param("example.com/app=web,app.kubernetes.io/name in (x)",
                 "app.kubernetes.io/name in (x),example.com/app=web", id="prefixed-keys"),
    pytest.param("x=A_b.c-D", "x=A_b.c-D", id="value-charset"),
])
def test_parse_label_selector_canonical_string(text: str, canonical: str) -> None:
    assert str(parse_label_selector(text)) == canonical


@pytest.mark.parametrize(("text", "message"), [
    pytest.param(",", "found ',', expected: !, identifier, or 'end of string'", id="leading-comma"),
    pytest.param("x=a,", "found '', expected: identifier after ','", id="trailing-comma"),
    pytest.param("x=a,,y", "found ',', expected: identifier after ','", id="double-comma"),
    pytest.param("x y", "unable to parse requirement: found 'y', expected: in, notin, =, ==, !=, gt, lt",
                 id="missing-operator"),
    pytest.param("x!y", "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt",
                 id="bang-as-operator"),
    pytest.param("!x=a", "found '=', expected: ',' or 'end of string'", id="does-not-exist-takes-no-value"),
    pytest.param("!", "unable to parse requirement: found '', expected: identifier", id="bare-bang"),
    pytest.param("x in a", "unable to parse requirement: found 'a' expected: '('", id="in-without-parens"),
    pytest.param("x in (a b)", "unable to parse requirement: found 'b', expected: ',' or ')'", id="in-missing-comma"),
    pytest.param("x in (a", "unable to parse requirement: found '', expected: ',' or ')'", id="in-unclosed"),
    pytest.param("x in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier",
                 id="in-operator-inside"),
    pytest.param("x===a", "unable to parse requirement: found '=', expected: identifier", id="triple-equals"),
    pytest.param("x=(a)", "unable to parse requirement: found '(', expected: identifier", id="paren-as-value"),
    pytest.param("x=a b", "found 'b', expected: ',' or 'end of string'", id="two-values"),
    pytest.param("-x=a", f'unable to parse requirement: <nil>: Invalid value: "-x": {KEY_REGEX_ERROR}',
                 id="bad-key"),
    pytest.param("x=-a", f'unable to parse requirement: values[0][x]: Invalid value: "-a": {VALUE_REGEX_ERROR}',
                 id="bad-value"),
    pytest.param("x in (ok,-a,-b)", "unable to parse requirement: ["
                 f'values[0][x]: Invalid value: "-a": {VALUE_REGEX_ERROR}, '
                 f'values[1][x]: Invalid value: "-b": {VALUE_REGEX_ERROR}]', id="several-bad-values-aggregated"),
    pytest.param("x=" + "a" * 64, "unable to parse requirement: values[0][x]: Invalid value: "
                 f'"{"a" * 64}": must be no more than 63 bytes', id="value-too-long"),
    pytest.param("x>a", 'unable to parse requirement: values[0]: Invalid value: "a": for \'Gt\', \'Lt\' operators, '
                 "the value must be an integer", id="gt-not-integer"),
    pytest.param("/x", 'unable to parse requirement: <nil>: Invalid value: "/x": prefix part must be non-empty',
                 id="empty-prefix"),
    pytest.param("a/b/c", 'unable to parse requirement: <nil>: Invalid value: "a/b/c": a valid label key must '
                 "consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                 "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                 "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain "
                 "prefix and '/' (e.g. 'example.com/MyName')", id="two-slashes"),
    pytest.param("Example.com/x", 'unable to parse requirement: <nil>: Invalid value: "Example.com/x": prefix part '
                 "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 r"validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
                 id="uppercase-prefix"),
    pytest.param("x" * 64, f'unable to parse requirement: <nil>: Invalid value: "{"x" * 64}": name part must be no '
                 "more than 63 bytes", id="key-too-long"),
    pytest.param("x/", 'unable to parse requirement: <nil>: Invalid value: "x/": name part must be non-empty; '
                 + KEY_REGEX_ERROR, id="empty-name-two-errors"),
])
def test_parse_label_selector_errors_read_like_upstream(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_label_selector(text)
    assert str(info.value) == message


@pytest.mark.parametrize(("text", "labels", "expected"), [
    pytest.param("x=a", {"x": "a"}, True, id="equals-match"),
    pytest.param("x=a", {"x": "b"}, False, id="equals-other-value"),
    pytest.param("x=a", {}, False, id="equals-missing"),
    pytest.param("x=", {"x": ""}, True, id="equals-empty-value"),
    pytest.param("x!=a", {}, True, id="not-equals-missing-matches"),
    pytest.param("x!=a", {"x": "a"}, False, id="not-equals-same"),
    pytest.param("x in (a,b)", {"x": "b"}, True, id="in-match"),
    pytest.param("x in (a,b)", {"x": "c"}, False, id="in-other"),
    pytest.param("x in (a,b)", {}, False, id="in-missing"),
    pytest.param("x notin (a,b)", {}, True, id="notin-missing-matches"),
    pytest.param("x notin (a,b)", {"x": "a"}, False, id="notin-listed"),
    pytest.param("x", {"x": ""}, True, id="exists"),
    pytest.param("x", {"y": "a"}, False, id="exists-missing"),
    pytest.param("!x", {"y": "a"}, True, id="not-exists"),
    pytest.param("!x", {"x": "a"}, False, id="not-exists-present"),
    pytest.param("x>1", {"x": "2"}, True, id="gt-greater"),
    pytest.param("x>1", {"x": "1"}, False, id="gt-equal"),
    pytest.param("x>1", {"x": "two"}, False, id="gt-not-a-number"),
    pytest.param("x<1", {"x": "-5"}, True, id="lt-negative"),
    pytest.param("x>1", {}, False, id="gt-missing"),
    pytest.param("x=a,y", {"x": "a", "y": "b"}, True, id="conjunction"),
    pytest.param("x=a,y", {"x": "a"}, False, id="conjunction-one-fails"),
    pytest.param("", {"any": "thing"}, True, id="everything"),
])
def test_label_selector_matches(text: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_label_selector(text).matches(labels) is expected


def test_label_selector_matches_none_labels_as_empty() -> None:
    assert parse_label_selector("!x").matches(None)
    assert not parse_label_selector("x").matches(None)


def test_label_selector_structure_and_exact_matches() -> None:
    sel = parse_label_selector("b in (2),a=1,c!=3,d==4,e in (5,6)")
    assert sel.requirements == (
        Requirement("a", "=", ("1",)), Requirement("b", "in", ("2",)), Requirement("c", "!=", ("3",)),
        Requirement("d", "==", ("4",)), Requirement("e", "in", ("5", "6")),
    )
    assert sel.exact_matches() == {"a": "1", "b": "2", "d": "4"}
    assert not sel.is_empty()


# --- metav1.LabelSelector --------------------------------------------------------------------------------


@pytest.mark.parametrize(("sel", "canonical"), [
    pytest.param({"matchLabels": {"app": "nginx"}}, "app=nginx", id="match-labels"),
    pytest.param({"matchLabels": {"tier": "web", "app": "shop"}}, "app=shop,tier=web", id="sorted-by-key"),
    pytest.param({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]},
                 "env in (dev,prod)", id="in-values-sorted"),
    pytest.param({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["a"]}]},
                 "env notin (a)", id="notin"),
    pytest.param({"matchExpressions": [{"key": "gpu", "operator": "Exists"},
                                       {"key": "arm", "operator": "DoesNotExist"}]}, "!arm,gpu", id="exists"),
    pytest.param({"matchLabels": {"app": "db"}, "matchExpressions": [{"key": "role", "operator": "In",
                                                                       "values": ["primary"]}]},
                 "app=db,role in (primary)", id="both"),
    pytest.param({}, "", id="empty"),
    pytest.param({"matchLabels": {}, "matchExpressions": []}, "", id="empty-parts"),
    pytest.param(None, "", id="nil"),
])
def test_selector_dict_to_string(sel: dict | None, canonical: str) -> None:
    assert selector_dict_to_string(sel) == canonical


def test_nil_selector_matches_nothing_and_empty_selector_everything() -> None:
    nothing = label_selector_from_dict(None)
    assert nothing == LabelSelector.nothing()
    assert not nothing.matches({}) and not nothing.matches({"a": "b"})
    assert not nothing.is_empty()
    everything = label_selector_from_dict({})
    assert everything == LabelSelector.everything()
    assert everything.matches({}) and everything.is_empty()


@pytest.mark.parametrize(("sel", "message"), [
    pytest.param({"matchExpressions": [{"key": "a", "operator": "Foo"}]}, '"Foo" is not a valid pod selector operator',
                 id="bad-operator"),
    pytest.param({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
                 "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty",
                 id="in-without-values"),
    pytest.param({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
                 'values: Invalid value: ["x"]: values set must be empty for exists and does not exist',
                 id="exists-with-values"),
    pytest.param({"matchLabels": {"-a": "b"}}, f'key: Invalid value: "-a": {KEY_REGEX_ERROR}', id="bad-key"),
    pytest.param({"matchLabels": {"a": "b c"}}, f'values[0][a]: Invalid value: "b c": {VALUE_REGEX_ERROR}',
                 id="bad-value"),
    pytest.param({"matchLabels": {"a": 1}},
                 "json: cannot unmarshal number into Go struct field LabelSelector.matchLabels of type string",
                 id="non-string-label"),
    pytest.param({"matchExpressions": [{"key": "a", "operator": "In", "values": [True]}]},
                 "json: cannot unmarshal bool into Go struct field LabelSelectorRequirement.values of type string",
                 id="non-string-value"),
])
def test_label_selector_from_dict_errors(sel: dict, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        label_selector_from_dict(sel)
    assert str(info.value) == message
    assert format_label_selector(sel) == "<error>"


def test_format_label_selector_like_kubectl() -> None:
    assert format_label_selector({}) == "<none>"
    assert format_label_selector({"matchLabels": {"app": "web"}}) == "app=web"


# --- field selectors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "requirements", "canonical"), [
    pytest.param("", (), "", id="empty"),
    pytest.param(",,", (), "", id="only-commas"),
    pytest.param("metadata.name=foo", (FieldRequirement("metadata.name", "=", "foo"),), "metadata.name=foo",
                 id="equals"),
    pytest.param("metadata.name==foo", (FieldRequirement("metadata.name", "=", "foo"),), "metadata.name=foo",
                 id="double-equals"),
    pytest.param("status.phase!=Running,spec.nodeName=n1",
                 (FieldRequirement("spec.nodeName", "=", "n1"), FieldRequirement("status.phase", "!=", "Running")),
                 "spec.nodeName=n1,status.phase!=Running", id="terms-sorted"),
    pytest.param("spec.nodeName=", (FieldRequirement("spec.nodeName", "=", ""),), "spec.nodeName=", id="empty-value"),
    pytest.param(r"metadata.name=a\,b\=c\\d", (FieldRequirement("metadata.name", "=", "a,b=c\\d"),),
                 r"metadata.name=a\,b\=c\\d", id="escapes"),
    pytest.param("a=!b", (FieldRequirement("a", "=", "!b"),), "a=!b", id="first-operator-splits"),
    pytest.param("a b=c", (FieldRequirement("a b", "=", "c"),), "a b=c", id="no-trimming"),
])
def test_parse_field_selector(text: str, requirements: tuple[FieldRequirement, ...], canonical: str) -> None:
    sel = parse_field_selector(text)
    assert sel.requirements == requirements
    assert str(sel) == canonical
    assert sel.is_empty() is (not requirements)


@pytest.mark.parametrize(("text", "message"), [
    pytest.param("foo", "invalid selector: 'foo'; can't understand 'foo'", id="no-operator"),
    pytest.param("a=b,foo", "invalid selector: 'a=b,foo'; can't understand 'foo'", id="second-term"),
    pytest.param("a=b=c", "invalid field selector: unescaped character in value: 61", id="unescaped-equals"),
    pytest.param(r"a=b\x", r"invalid field selector: invalid escape sequence: \x", id="bad-escape"),
    pytest.param("a=b\\", "invalid field selector: invalid escape sequence: \\", id="trailing-backslash"),
])
def test_parse_field_selector_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_field_selector(text)
    assert str(info.value) == message


def test_field_selector_matching_and_index_helpers() -> None:
    sel = parse_field_selector("spec.nodeName=n1,status.phase!=Failed")
    pod = {"spec": {"nodeName": "n1"}, "status": {"phase": "Running"}}
    assert sel.matches(lambda path: field_value(pod, path))
    assert not sel.matches(lambda path: field_value({"spec": {"nodeName": "n2"}}, path))
    assert sel.fields() == frozenset({"spec.nodeName", "status.phase"})
    assert sel.exact("spec.nodeName") == "n1"
    assert sel.exact("status.phase") is None
    assert parse_field_selector("spec.nodeName=").matches(lambda path: None)


@pytest.mark.parametrize(("obj", "path", "expected"), [
    pytest.param({"metadata": {"name": "a"}}, "metadata.name", "a", id="string"),
    pytest.param({"spec": {"unschedulable": True}}, "spec.unschedulable", "true", id="bool-true"),
    pytest.param({"spec": {"hostNetwork": False}}, "spec.hostNetwork", "false", id="bool-false"),
    pytest.param({"spec": {"replicas": 3}}, "spec.replicas", "3", id="int"),
    pytest.param({"spec": {}}, "spec.nodeName", "", id="missing"),
    pytest.param({"spec": None}, "spec.nodeName", "", id="null-parent"),
    pytest.param({"spec": {"nodeName": None}}, "spec.nodeName", "", id="null"),
    pytest.param({"spec": "x"}, "spec.nodeName", "", id="scalar-parent"),
    pytest.param({"spec": {"a": {"b": 1}}}, "spec.a", "", id="object-value"),
])
def test_field_value(obj: dict, path: str, expected: str) -> None:
    assert field_value(obj, path) == expected


# --- invariants -----------------------------------------------------------------------------------------------

_names = st.from_regex(re.compile(r"[a-z0-9]([a-z0-9._-]{0,10}[a-z0-9])?"), fullmatch=True)
_keys = st.one_of(_names, st.builds(lambda p, n: f"{p}/{n}", st.from_regex(r"[a-z]{1,5}\.io", fullmatch=True), _names))
_values = st.one_of(st.just(""), _names)


@st.composite
def _requirements(draw: st.DrawFn) -> Requirement:
    op = draw(st.sampled_from(["=", "==", "!=", "in", "notin", "exists", "!", "gt", "lt"]))
    key = draw(_keys)
    if op in ("exists", "!"):
        return Requirement(key, op)
    if op in ("gt", "lt"):  # a negative bound is not a valid label value upstream either
        return Requirement(key, op, (str(draw(st.integers(0, 100))),))
    if op in ("in", "notin"):
        return Requirement(key, op, tuple(sorted(draw(st.sets(_values, min_size=1, max_size=3)))))
    return Requirement(key, op, (draw(_values),))


def _reference_match(req: Requirement, labels: dict[str, str]) -> bool:
    present, value = req.key in labels, labels.get(req.key)
    if req.operator in ("=", "==", "in"):
        return present and value in req.values
    if req.operator in ("!=", "notin"):
        return not present or value not in req.values
    if req.operator == "exists":
        return present
    if req.operator == "!":
        return not present
    try:
        number = int(value or "")
    except ValueError:
        return False
    return number > int(req.values[0]) if req.operator == "gt" else number < int(req.values[0])


@given(st.lists(_requirements(), min_size=1, max_size=4),
       st.dictionaries(_keys, st.one_of(_values, st.integers(-200, 200).map(str)), max_size=4))
def test_label_selector_string_round_trips_and_matches_like_reference(reqs: list[Requirement],
                                                                      labels: dict[str, str]) -> None:
    text = ",".join(str(r) for r in reqs)
    sel = parse_label_selector(text)
    assert parse_label_selector(str(sel)) == sel
    assert sel.matches(labels) == all(_reference_match(r, labels) for r in reqs)


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20))
def test_field_selector_escaping_round_trips(value: str) -> None:
    sel = parse_field_selector(str(FieldRequirement("metadata.name", "=", value)))
    assert sel.exact("metadata.name") == value
    assert sel.matches(lambda path: value)


@given(st.text(max_size=30))
def test_label_selector_parser_raises_only_selector_errors(text: str) -> None:
    try:
        sel = parse_label_selector(text)
    except SelectorError:
        return
    assert parse_label_selector(str(sel)) == sel
