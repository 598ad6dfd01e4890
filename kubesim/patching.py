"""Patches as kube-apiserver applies them: JSON merge patch (RFC 7386), JSON patch (RFC 6902) with the
semantics and messages of gopkg.in/evanphx/json-patch.v4, and the server side of Kubernetes strategic
merge patch (apimachinery pkg/util/strategicpatch, v0.36) driven by the struct tags in `mergekeys`.

Pure; no I/O. Inputs are plain JSON values and are never mutated. Failures raise PatchError carrying the
HTTP status, Status reason and message the apiserver answers with.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from kubesim import mergekeys
from kubesim.store import copy_json

__all__ = ["JSON_PATCH", "MAX_JSON_PATCH_OPERATIONS", "MERGE_PATCH", "REJECTED", "STRATEGIC_MERGE_PATCH",
           "PatchError", "accepted_patch_types", "apply_patch", "json_merge_patch", "json_patch",
           "strategic_merge_patch"]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
MAX_JSON_PATCH_OPERATIONS = 10000
# What the apiserver answers for every 422 it builds with NewGenericServerResponse (the cause is dropped).
REJECTED = "the server rejected our request due to an error in our request"

_REASONS = {400: "BadRequest", 413: "RequestEntityTooLarge", 415: "UnsupportedMediaType", 422: "Invalid"}


class PatchError(ValueError):
    """A patch the apiserver would refuse. `status` is the HTTP code (400, 413, 415, 422, or 500 for the
    strategic-merge failures upstream does not classify), `reason` the Status reason ("" is upstream's
    StatusReasonUnknown), `str(err)` the Status message and `detail` the underlying library error."""

    def __init__(self, message: str, *, status: int, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = _REASONS.get(status, "")
        self.detail = detail or message


def _bad_request(message: str) -> PatchError:
    return PatchError(message, status=400)


def _unprocessable(detail: str) -> PatchError:
    return PatchError(REJECTED, status=422, detail=detail)


# --- request bodies -----------------------------------------------------------------------------------


def _json_kind(value: Any) -> str:
    """The JSON kind word Go's decoder names in "cannot unmarshal X into ..." errors."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "bool"
    return "string" if isinstance(value, str) else "number"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


_GO_JSON_ERRORS = {
    "Expecting value": "looking for beginning of value",
    "Extra data": "after top-level value",
    "Expecting property name enclosed in double quotes": "looking for beginning of object key string",
}


def _decode(body: bytes) -> Any:
    """The JSON document of a request body; errors read like Go's encoding/json."""
    text = body.decode("utf-8", errors="replace")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()):
            message = "unexpected end of JSON input"
        elif exc.msg in _GO_JSON_ERRORS:
            message = f"invalid character '{text[exc.pos]}' {_GO_JSON_ERRORS[exc.msg]}"
        else:
            message = f"{exc.msg} (offset {exc.pos})"
    except ValueError as exc:
        message = str(exc)
    raise _bad_request(f"error decoding patch: {message}")


def _cannot_unmarshal(value: Any, into: str) -> PatchError:
    return _bad_request(f"error decoding patch: json: cannot unmarshal {_json_kind(value)} into Go {into}")


# --- JSON merge patch ---------------------------------------------------------------------------------


def _prune_nulls(value: Any) -> Any:
    """A copy without null object members; nulls inside arrays stay (json-patch v4 pruneNulls)."""
    if isinstance(value, dict):
        return {k: _prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune_nulls(v) for v in value]
    return value


def _merge_docs(doc: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            doc.pop(key, None)
            continue
        current = doc.get(key)
        if not isinstance(current, dict):
            doc[key] = _prune_nulls(value)
        elif isinstance(value, dict):
            _merge_docs(current, value)
        else:
            doc[key] = copy_json(value)


def json_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 merge patch. Like upstream, nulls are also dropped from objects nested in arrays."""
    if not isinstance(patch, dict):
        return _prune_nulls(patch)
    doc = copy_json(target) if isinstance(target, dict) else {}
    _merge_docs(doc, patch)
    return doc


# --- JSON patch (evanphx/json-patch v4) ---------------------------------------------------------------


class _Fail(Exception):
    """A json-patch error; its text is the library's message."""


_MISSING = "missing value"
_POINTER_ESCAPES = re.compile("~[01]")
_ATOI = re.compile("[+-]?[0-9]+")


def _atoi(text: str) -> int:
    if not _ATOI.fullmatch(text):
        raise _Fail(f'strconv.Atoi: parsing "{text}": invalid syntax')
    number = int(text)
    if not -(2**63) <= number < 2**63:
        raise _Fail(f'strconv.Atoi: parsing "{text}": value out of range')
    return number


def _invalid_index(index: int) -> _Fail:
    return _Fail(f"Unable to access invalid index: {index}: invalid index referenced")


def _array_index(array: list[Any], key: str) -> int:
    index = _atoi(key)
    if index < 0:
        if index < -len(array):
            raise _invalid_index(index)
        index += len(array)
    if index >= len(array):
        raise _invalid_index(index)
    return index


def _get(container: dict[str, Any] | list[Any], key: str) -> Any:
    if isinstance(container, dict):
        return container.get(key)
    return container[_array_index(container, key)]


def _add(container: dict[str, Any] | list[Any], key: str, value: Any) -> None:
    if isinstance(container, dict):
        container[key] = value
    elif key == "-":
        container.append(value)
    else:
        try:
            index = _atoi(key)
        except _Fail as exc:
            raise _Fail(f"value was not a proper array index: '{key}': {exc}") from None
        size = len(container) + 1
        if index >= size or index < -size:
            raise _invalid_index(index)
        container.insert(index + size if index < 0 else index, value)


def _remove(container: dict[str, Any] | list[Any], key: str) -> None:
    if isinstance(container, dict):
        if key not in container:
            raise _Fail(f"Unable to remove nonexistent key: {key}: {_MISSING}")
        del container[key]
    else:
        del container[_array_index(container, key)]


def _find(root: Any, path: str) -> tuple[dict[str, Any] | list[Any], str] | None:
    """findObject: the container holding the last token of `path`, and that token (decoded)."""
    parts = [_POINTER_ESCAPES.sub(lambda m: "/" if m.group() == "~1" else "~", p) for p in path.split("/")]
    if len(parts) < 2:
        return None
    doc = root
    for part in parts[1:-1]:
        try:
            doc = _get(doc, part)
        except _Fail:
            return None
        if not isinstance(doc, dict | list):
            return None
    return doc, parts[-1]


def _string_field(op: dict[str, Any], name: str) -> str:
    value = op.get(name)
    if value is None:
        raise _Fail(f"operation missing path field: {_MISSING}" if name == "path"
                    else f"operation, missing from field: {_MISSING}")
    if not isinstance(value, str):
        raise _Fail(f"json: cannot unmarshal {_json_kind(value)} into Go value of type string")
    return value


def _field_or(op: dict[str, Any], name: str, context: str, *, keep_cause: bool = True) -> str:
    try:
        return _string_field(op, name)
    except _Fail as exc:
        raise _Fail(f"{context}: {exc if keep_cause else _MISSING}") from None


def _test_equal(doc: Any, expected: Any) -> bool:
    """lazyNode.equal, including v4's leniency: the expected object may carry extra members."""
    if isinstance(doc, dict):
        return isinstance(expected, dict) and all(
            k in expected and ((v is None and expected[k] is None) or (v is not None and expected[k] is not None
                               and _test_equal(v, expected[k]))) for k, v in doc.items())
    if isinstance(doc, list):
        return isinstance(expected, list) and len(doc) == len(expected) and all(
            (a is None and b is None) or (a is not None and b is not None and _test_equal(a, b))
            for a, b in zip(doc, expected, strict=True))
    return type(doc) is type(expected) and doc == expected


def _apply_operation(root: list[Any], op: Any) -> None:
    kind = op.get("op") if isinstance(op, dict) else None
    if not isinstance(op, dict) or not isinstance(kind, str) or kind not in _OPERATIONS:
        raise _Fail(f"Unexpected kind: {kind if isinstance(kind, str) else 'unknown'}")
    _OPERATIONS[kind](root, op)


def _op_add(root: list[Any], op: dict[str, Any]) -> None:
    path = _field_or(op, "path", "add operation failed to decode path", keep_cause=False)
    found = _find(root[0], path)
    if found is None:
        raise _Fail(f'add operation does not apply: doc is missing path: "{path}": {_MISSING}')
    try:
        _add(*found, copy_json(op.get("value")))
    except _Fail as exc:
        raise _Fail(f"error in add for path: '{path}': {exc}") from None


def _op_remove(root: list[Any], op: dict[str, Any]) -> None:
    path = _field_or(op, "path", "remove operation failed to decode path", keep_cause=False)
    found = _find(root[0], path)
    if found is None:
        raise _Fail(f'remove operation does not apply: doc is missing path: "{path}": {_MISSING}')
    try:
        _remove(*found)
    except _Fail as exc:
        raise _Fail(f"error in remove for path: '{path}': {exc}") from None


def _op_replace(root: list[Any], op: dict[str, Any]) -> None:
    path = _field_or(op, "path", "replace operation failed to decode path")
    value = copy_json(op.get("value"))
    if path == "":
        if isinstance(value, dict | list):  # v4 silently ignores anything else
            root[0] = value
        return
    found = _find(root[0], path)
    if found is None:
        raise _Fail(f"replace operation does not apply: doc is missing path: {path}: {_MISSING}")
    container, key = found
    try:
        _get(container, key)
    except _Fail:
        raise _Fail(f"replace operation does not apply: doc is missing key: {path}: {_MISSING}") from None
    if isinstance(container, dict):
        container[key] = value
    else:
        container[_array_index(container, key)] = value


def _op_move(root: list[Any], op: dict[str, Any]) -> None:
    source = _field_or(op, "from", "move operation failed to decode from")
    found = _find(root[0], source)
    if found is None:
        raise _Fail(f"move operation does not apply: doc is missing from path: {source}: {_MISSING}")
    container, key = found
    try:
        value = _get(container, key)
        _remove(container, key)
    except _Fail as exc:
        raise _Fail(f"error in move for path: '{key}': {exc}") from None
    path = _field_or(op, "path", "move operation failed to decode path")
    target = _find(root[0], path)
    if target is None:
        raise _Fail(f"move operation does not apply: doc is missing destination path: {path}: {_MISSING}")
    try:
        _add(*target, value)
    except _Fail as exc:
        raise _Fail(f"error in move for path: '{path}': {exc}") from None


def _op_copy(root: list[Any], op: dict[str, Any]) -> None:
    source = _field_or(op, "from", "copy operation failed to decode from")
    found = _find(root[0], source)
    if found is None:
        raise _Fail(f"copy operation does not apply: doc is missing from path: {source}: {_MISSING}")
    try:
        value = _get(*found)
    except _Fail as exc:
        raise _Fail(f"error in copy for from: '{source}': {exc}") from None
    path = _field_or(op, "path", "copy operation failed to decode path", keep_cause=False)
    target = _find(root[0], path)
    if target is None:
        raise _Fail(f"copy operation does not apply: doc is missing destination path: {path}: {_MISSING}")
    try:
        _add(*target, copy_json(value))
    except _Fail as exc:
        raise _Fail(f"error while adding value during copy: {exc}") from None


def _op_test(root: list[Any], op: dict[str, Any]) -> None:
    path = _field_or(op, "path", "test operation failed to decode path")
    failed = _Fail(f"testing value {path} failed: test failed")
    if path == "":
        if "value" not in op or not _test_equal(root[0], op["value"]):
            raise failed
        return
    found = _find(root[0], path)
    if found is None:
        raise _Fail(f"test operation does not apply: is missing path: {path}: {_MISSING}")
    try:
        value = _get(*found)
    except _Fail as exc:
        raise _Fail(f"error in test for path: '{path}': {exc}") from None
    expected = op.get("value")
    if value is None:
        if "value" not in op or expected is not None:
            raise failed
    elif expected is None or not _test_equal(value, expected):
        raise failed


_OPERATIONS: dict[str, Callable[[list[Any], dict[str, Any]], None]] = {
    "add": _op_add, "remove": _op_remove, "replace": _op_replace, "move": _op_move, "copy": _op_copy,
    "test": _op_test,
}


def json_patch(target: Any, ops: list[Any]) -> Any:
    """RFC 6902 as json-patch v4 applies it (negative array indices allowed, "replace" of a missing
    object member adds it, "copy" from a missing member copies null). A failing operation raises
    PatchError 422 with the library's message in `detail`."""
    if not isinstance(ops, list):
        raise _cannot_unmarshal(ops, "value of type []handlers.jsonPatchOp")
    root = [copy_json(target)]
    try:
        if not isinstance(root[0], dict | list):
            raise _Fail(f"json: cannot unmarshal {_json_kind(root[0])} into Go value of type jsonpatch.partialDoc")
        for op in ops:
            _apply_operation(root, op)
    except _Fail as exc:
        raise _unprocessable(str(exc)) from None
    return root[0]


# --- strategic merge patch ------------------------------------------------------------------------------


def strategic_merge_patch(target: dict[str, Any], patch: dict[str, Any] | None, *, kind: str) -> dict[str, Any]:
    """Kubernetes strategic merge patch for a built-in `kind`. Custom resources and unknown kinds raise
    PatchError 415, as upstream refuses the content type for them."""
    type_name = mergekeys.root_type(kind)
    if type_name is None:
        raise _unsupported(accepted_patch_types(kind))
    if patch is None:
        return copy_json(target)
    if not isinstance(patch, dict):
        raise _cannot_unmarshal(patch, "value of type map[string]interface {}")
    try:
        return mergekeys.strategic_merge(target if isinstance(target, dict) else {}, patch, type_name)
    except mergekeys.MergeError as exc:
        if exc.status == 422:
            raise _unprocessable(exc.message) from None
        raise PatchError(exc.message, status=exc.status) from None


# --- dispatch by content type -------------------------------------------------------------------------


def accepted_patch_types(kind: str) -> tuple[str, ...]:
    """The patch content types the apiserver accepts for `kind` (server-side apply is not offered)."""
    if mergekeys.root_type(kind) is None:
        return JSON_PATCH, MERGE_PATCH
    return JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH


def _unsupported(accepted: tuple[str, ...]) -> PatchError:
    return PatchError("the body of the request was in an unknown format - accepted media types include: "
                      + ", ".join(accepted), status=415)


def _check_operations(ops: Any) -> None:
    """What decoding into []jsonPatchOp rejects before the patch is applied."""
    if ops is None:
        return
    if not isinstance(ops, list):
        raise _cannot_unmarshal(ops, "value of type []handlers.jsonPatchOp")
    for op in ops:
        if op is None:
            continue
        if not isinstance(op, dict):
            raise _cannot_unmarshal(op, "value of type handlers.jsonPatchOp")
        for name in ("op", "path", "from"):
            if op.get(name) is not None and not isinstance(op[name], str):
                raise _cannot_unmarshal(op[name], f"struct field jsonPatchOp.{name} of type string")
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise PatchError(f"Request entity too large: The allowed maximum operations in a JSON patch is "
                         f"{MAX_JSON_PATCH_OPERATIONS}, got {len(ops)}", status=413)


def apply_patch(target: dict[str, Any], body: bytes, content_type: str, *, kind: str) -> dict[str, Any]:
    """Applies a PATCH request body to `target` (the object in the request's version) as the apiserver
    does for `content_type`; `kind` is the object's kind ("" or unknown for custom resources)."""
    cut = content_type.find(";")
    media = (content_type[:cut] if cut > 0 else content_type).strip()
    accepted = accepted_patch_types(kind)
    if media not in accepted:
        raise _unsupported(accepted)
    doc = _decode(body)
    if media == MERGE_PATCH:
        if doc is None:
            raise _bad_request("Invalid JSON Patch")
        if not isinstance(doc, dict):
            raise _cannot_unmarshal(doc, "value of type map[string]interface {}")
        result = json_merge_patch(target, doc)
    elif media == JSON_PATCH:
        _check_operations(doc)
        result = json_patch(target, doc or [])
    else:
        result = strategic_merge_patch(target, doc, kind=kind)
    if not isinstance(result, dict):
        raise PatchError(f'"" is invalid: patch: Invalid value: "{json.dumps(result)}": the patched document '
                         "is not a JSON object", status=422)
    return result
