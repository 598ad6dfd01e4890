"""Server-side field validation (`?fieldValidation=Ignore|Warn|Strict`, KEP-2885) as kube-apiserver does it.

Pure; no I/O. Finds the unknown and duplicate fields of a write and answers like upstream: Strict refuses
the write (400 for create/update, 422 for patches), Warn lets it through with one `Warning: 299` header
per finding, Ignore says nothing; no parameter means Warn. In every mode unknown fields are dropped, as
upstream's decoder never keeps them. Built-in kinds are checked the way Go's strict JSON decoder fills the
typed object (document order; repeats only of known fields and map keys), custom resources the way their
CRD's structural schema prunes (every repeated key, then root metadata, the pruned paths sorted, then
embedded metadata). Only the HTTP layer (`kubesim.server`) checks; in-process writes never are.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kubesim import errors, negotiation
from kubesim import openapi_schemas as schemas
from kubesim.resources import ResourceType

IGNORE, WARN, STRICT = "Ignore", "Warn", "Strict"
SUPPORTED = '"", "Ignore", "Strict", "Warn"'
PRESERVE = "x-kubernetes-preserve-unknown-fields"
INT_OR_STRING = "x-kubernetes-int-or-string"
EMBEDDED = "x-kubernetes-embedded-resource"
OBJECT_META = f"{schemas.META_PACKAGE}.ObjectMeta"
MAX_ERRORS = 100  # sigs.k8s.io/json stops collecting strict errors here
_META_FIELDS = frozenset({"apiVersion", "kind", "metadata"})
_JSON_PATCH_OP_FIELDS = frozenset({"op", "path", "from", "value"})
_YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml"})
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# id() of each decoded JSON object that repeats a key -> its keys in document order, repeats included
KeyOrder = Mapping[int, list[str]]


@dataclass(frozen=True)
class Decoded:
    """A request body and, for JSON, the key order of its objects that repeat a key."""

    obj: Any
    repeats: KeyOrder
    sorted_keys: bool = False  # YAML reaches upstream's decoder as JSON with sorted keys


def directive(value: str | None, *, options_kind: str) -> str:
    """The effective directive of a `fieldValidation` query value; absent or empty means Warn.

    An unsupported value is refused like upstream's `ValidateCreateOptions` (and Update/Patch): 422 Invalid
    for `<options_kind>.meta.k8s.io`.
    """
    if not value:
        return WARN
    if value in (IGNORE, WARN, STRICT):
        return value
    raise errors.invalid("meta.k8s.io", options_kind, "", [
        ("fieldValidation", "FieldValueNotSupported", f"Unsupported value: {go_quote(value)}: supported values: "
                                                      f"{SUPPORTED}")])


def decode_body(raw: bytes, content_type: str | None) -> Decoded:
    """Decode a request body like `negotiation.decode_body`, keeping what duplicate detection needs."""
    ctype = _media_type(content_type or "application/json")
    if ctype in _YAML_TYPES:
        return Decoded(negotiation.decode_body(raw, content_type), {}, sorted_keys=True)
    if ctype.startswith("application/vnd.kubernetes.protobuf"):
        return Decoded(negotiation.decode_body(raw, content_type), {})
    repeats: dict[int, list[str]] = {}
    try:
        obj = json.loads(raw, object_pairs_hook=functools.partial(_object_pairs, repeats))
    except (json.JSONDecodeError, UnicodeDecodeError):
        obj = negotiation.decode_body(raw, content_type)  # raises the usual 400
    return Decoded(obj, repeats)


def _object_pairs(repeats: dict[int, list[str]], pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        repeats[id(obj)] = [k for k, _ in pairs]
    return obj


# -- schemas --------------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=512)
def builtin_schema(group: str, version: str, kind: str) -> tuple[dict, dict[str, dict]] | None:
    """(root schema, component schemas) of a built-in kind, from the client models; None without a model.

    Cached for the life of the process: the models never change. Callers must not modify the result.
    """
    roots = schemas.kind_roots(group, version, kind)[:1]
    if not roots:
        return None
    components = schemas.build_schemas(roots)
    gvk = {"group": group, "kind": kind, "version": version}
    for name, schema in components.items():
        if gvk in schema.get("x-kubernetes-group-version-kind", ()):
            return schemas.ref(name), components
    return None


@functools.lru_cache(maxsize=1)
def _object_meta_components() -> dict[str, dict]:
    return schemas.build_schemas([schemas.Root("V1ObjectMeta", schemas.META_PACKAGE)])


def crd_schema(crd: Mapping[str, Any] | None, version: str) -> dict | None:
    """The openAPIV3Schema a CustomResourceDefinition declares for `version`, or None."""
    for v in ((crd or {}).get("spec") or {}).get("versions") or ():
        if v.get("name") == version:
            return (v.get("schema") or {}).get("openAPIV3Schema")
    return None


def _resolve(schema: Any, components: Mapping[str, dict]) -> dict | None:
    """Follow `$ref` and single-element `allOf` wrappers to the schema that describes the value."""
    while isinstance(schema, dict):
        if "$ref" in schema:
            schema = components.get(schema["$ref"].removeprefix(schemas.REF_PREFIX))
        elif "allOf" in schema and "properties" not in schema and len(schema["allOf"]) == 1:
            schema = schema["allOf"][0]
        else:
            return schema
    return None


# -- findings -------------------------------------------------------------------------------------------------------
class _Findings:
    """Strict-decoding errors in the order found, without repeats and at most MAX_ERRORS."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self._seen: set[str] = set()

    def add(self, message: str) -> None:
        if len(self.messages) < MAX_ERRORS and message not in self._seen:
            self._seen.add(message)
            self.messages.append(message)

    def unknown_paths(self) -> list[str]:
        return [m[len(_UNKNOWN):-1] for m in self.messages if m.startswith(_UNKNOWN)]


_UNKNOWN = 'unknown field "'


def _key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class _Typed:
    """Go's strict decoding of JSON into the type a schema describes: unknown fields (and where they are,
    in `dropped`), and repeats of known fields and of map keys, in document order (or key order)."""

    def __init__(self, components: Mapping[str, dict], *, repeats: KeyOrder | None = None,
                 sorted_keys: bool = False) -> None:
        self.components = components
        self.repeats = repeats or {}
        self.sorted_keys = sorted_keys
        self.found = _Findings()
        self.dropped: list[Steps] = []

    def walk(self, value: Any, schema: Any, path: str, steps: Steps = ()) -> None:
        s = _resolve(schema, self.components)
        if s is None or s.get(PRESERVE) or s.get(INT_OR_STRING):
            return  # raw JSON (RawExtension, FieldsV1, JSON) or a scalar with its own decoder
        if isinstance(value, dict):
            props = s.get("properties")
            items = s.get("additionalProperties")
            if props is None and not isinstance(items, dict):
                return
            order = self.repeats.get(id(value))
            keys = order if order is not None else sorted(value) if self.sorted_keys else value
            seen: set[str] = set()
            for key in keys:
                sub = _key_path(path, key)
                if props is not None and key not in props:
                    self.found.add(f'unknown field "{sub}"')
                    if key not in seen:
                        self.dropped.append((*steps, key))
                elif key in seen:
                    self.found.add(f'duplicate field "{sub}"')
                else:
                    self.walk(value[key], props[key] if props is not None else items, sub, (*steps, key))
                seen.add(key)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self.walk(item, s.get("items"), f"{path}[{i}]", (*steps, i))


Steps = tuple[str | int, ...]


def drop_fields(obj: Any, where: Iterable[Steps]) -> None:
    """Remove the fields at `where` (keys and indices from the root), copying each container on the way
    down instead of changing it: below the root, a patched object may share parts with the stored one."""
    for steps in where:
        node = obj
        for step in steps[:-1]:
            child = node[step]
            child = dict(child) if isinstance(child, dict) else list(child)
            node[step] = child
            node = child
        node.pop(steps[-1], None)


def unknown_fields(obj: Any, schema: Any, components: Mapping[str, dict], *, sorted_keys: bool = False) -> list[str]:
    """Paths of the fields of `obj` that the OpenAPI schema (`$ref`s into `components`) does not declare.

    Paths are upstream's (`spec.template.spec.containers[0].imagez`), in document order (key order when
    `sorted_keys`). Maps (`additionalProperties`) take any key; `x-kubernetes-preserve-unknown-fields` and
    `x-kubernetes-int-or-string` schemas are not looked into.
    """
    walk = _Typed(components, sorted_keys=sorted_keys)
    walk.walk(obj, schema, "")
    return walk.found.unknown_paths()


def duplicate_fields(obj: Any, repeats: KeyOrder, path: str = "") -> Iterator[str]:
    """Paths of every repeated key in document order, as decoding into untyped maps reports them."""
    if isinstance(obj, dict):
        order = repeats.get(id(obj))
        seen: set[str] = set()
        for key in order if order is not None else obj:
            if key in seen:
                yield _key_path(path, key)
                continue
            seen.add(key)
            yield from duplicate_fields(obj[key], repeats, _key_path(path, key))
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            yield from duplicate_fields(item, repeats, f"{path}[{i}]")


def pruned_fields(obj: Any, schema: dict | None) -> list[str]:
    """Paths a custom resource loses to pruning by its structural schema, in upstream's order.

    Unknown fields of the root `metadata` come first, then the pruned paths sorted, then unknown fields
    of the metadata of embedded resources (`x-kubernetes-embedded-resource`). Under
    `x-kubernetes-preserve-unknown-fields: true` unknown keys stay, but declared properties below are
    still pruned. Without a schema nothing is checked.
    """
    return _pruning(obj, schema)[0]


def _pruning(obj: Any, schema: dict | None) -> tuple[list[str], list[Steps]]:
    """`pruned_fields` and where those fields are."""
    if not isinstance(obj, dict) or schema is None:
        return [], []
    pruned: list[tuple[str, Steps]] = []
    embedded: list[tuple[str, Steps, Any]] = []
    _prune(obj, {**schema, EMBEDDED: True}, "", (), pruned, embedded, preserve=False)
    metas = []
    for path, steps, metadata in [("", (), obj.get("metadata")), *embedded]:
        walk = _Typed(_object_meta_components())
        walk.walk(metadata, schemas.ref(OBJECT_META), _key_path(path, "metadata"), (*steps, "metadata"))
        metas.append((walk.found.unknown_paths(), walk.dropped))
    pruned.sort()
    paths = [*metas[0][0], *(p for p, _ in pruned), *(p for paths, _ in metas[1:] for p in paths)]
    return paths, [*(w for _, w in pruned), *(w for _, where in metas for w in where)]


def _prune(value: Any, s: dict | None, path: str, steps: Steps, pruned: list[tuple[str, Steps]],
           embedded: list[tuple[str, Steps, Any]], *, preserve: bool) -> None:
    """apiextensions' prune (`preserve`: its skipPrune, which keeps unknown keys, items included)."""
    preserve = preserve or (s is not None and bool(s.get(PRESERVE)))
    if s is None and preserve:
        return
    if isinstance(value, dict):
        is_embedded = s is not None and bool(s.get(EMBEDDED))
        if is_embedded and path:
            embedded.append((path, steps, value.get("metadata")))
        props = (s or {}).get("properties") or {}
        items = (s or {}).get("additionalProperties")
        for key, sub in value.items():
            if is_embedded and key in _META_FIELDS:
                continue
            if s is not None and (key in props or isinstance(items, dict)):
                _prune(sub, props.get(key, items), _key_path(path, key), (*steps, key), pruned, embedded,
                       preserve=False)
            elif not preserve and items is not True:
                pruned.append((_key_path(path, key), (*steps, key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _prune(item, s.get("items") if s else None, f"{path}[{i}]", (*steps, i), pruned, embedded,
                   preserve=preserve)


# -- checks ---------------------------------------------------------------------------------------------------------
def body_errors(decoded: Decoded, *, rt: ResourceType, version: str, crd: Mapping[str, Any] | None = None,
                drop: bool = False) -> list[str]:
    """Upstream's strict-decoding errors for a create or update body of `rt` sent to `version` (`drop`: and
    remove the unknown fields, as decoding does). The body is checked against the schema of the version
    it names, when `rt` serves that one."""
    obj = decoded.obj
    named = obj.get("apiVersion") if isinstance(obj, dict) else None
    version = next((v for v in rt.versions if rt.api_version(v) == named), version)
    if rt.custom:
        dups = [f'duplicate field "{p}"' for p in duplicate_fields(obj, decoded.repeats)] if decoded.repeats else []
        paths, where = _pruning(obj, crd_schema(crd, version))
        found = _capped([*dups, *(f'unknown field "{p}"' for p in paths)])
    else:
        schema = builtin_schema(rt.group, version, rt.kind)
        if schema is None:
            return []
        walk = _Typed(schema[1], repeats=decoded.repeats, sorted_keys=decoded.sorted_keys)
        walk.walk(obj, schema[0], "")
        found, where = walk.found.messages, walk.dropped
    if drop:
        drop_fields(obj, where)
    return found


def check_body(mode: str, decoded: Decoded, *, rt: ResourceType, version: str,
               crd: Mapping[str, Any] | None = None) -> list[str]:
    """Run `mode` (a `directive`) on a create/update body: the warnings to send, or 400 BadRequest for Strict.

    Unknown fields are removed from `decoded.obj` whatever the mode, as upstream's decoder never keeps
    them. The 400 reads like upstream's decode failure: `Deployment in version "v1" cannot be handled as a
    Deployment: strict decoding error: unknown field "spec.replicaz"`.
    """
    found = body_errors(decoded, rt=rt, version=version, crd=crd, drop=True)
    if mode != STRICT or not found:
        return found if mode == WARN else []
    obj = decoded.obj if isinstance(decoded.obj, dict) else {}
    kind = obj.get("kind") or rt.kind
    api_version = obj.get("apiVersion") or rt.api_version(version)
    raise errors.bad_request(f'{kind} in version "{api_version.rpartition("/")[2]}" cannot be handled as a '
                             f"{rt.kind}: {strict_decoding_error(found)}")


def patch_errors(patched: dict[str, Any], *, current: Mapping[str, Any], patch: bytes, content_type: str,
                 rt: ResourceType, version: str, crd: Mapping[str, Any] | None = None,
                 drop: bool = False) -> list[str]:
    """Upstream's strict-decoding errors for a patch (`drop`: and remove the patched object's unknown fields).

    First the patch document's own (repeated keys; for JSON patch, unknown and repeated fields of its
    operations), then the unknown fields of the patched object that the current object does not have
    already (an object stored in-process is never blamed on the patch).
    """
    found: list[str] = []
    decoded = decode_body(patch, "application/json")
    if _media_type(content_type) == JSON_PATCH:
        found.extend(f"json patch {m}" for m in _json_patch_op_errors(decoded))
    elif decoded.repeats:
        found.extend(f'duplicate field "{p}"' for p in duplicate_fields(decoded.obj, decoded.repeats))
    unknown, where = _unknown_in(patched, rt=rt, version=version, crd=crd)
    if unknown:
        before = set(_unknown_in(current, rt=rt, version=version, crd=crd)[0])
        found.extend(f'unknown field "{p}"' for p in unknown if p not in before)
    if drop:
        drop_fields(patched, where)
    return _capped(found)


def check_patch(mode: str, patched: dict[str, Any], *, current: Mapping[str, Any], patch: bytes,
                content_type: str, rt: ResourceType, version: str, crd: Mapping[str, Any] | None = None) -> list[str]:
    """Run `mode` on a patched object: the warnings to send, or upstream's 422 for Strict,
    ` "" is invalid: patch: Invalid value: "<patch or patched object>": strict decoding error: ...`.

    Unknown fields are removed from `patched` whatever the mode. Server-side apply patches are left to
    apply, which refuses unknown fields itself.
    """
    if _media_type(content_type) == APPLY_PATCH:
        return []
    if mode == IGNORE:
        drop_fields(patched, _unknown_in(patched, rt=rt, version=version, crd=crd)[1])
        return []
    # upstream prints a strategic merge patch's decoded map with %+v, and the patched JSON for the others
    smp = _media_type(content_type) == STRATEGIC_MERGE_PATCH
    value = (go_format(json.loads(patch)) if smp else go_json(patched)) if mode == STRICT else ""
    found = patch_errors(patched, current=current, patch=patch, content_type=content_type, rt=rt, version=version,
                         crd=crd, drop=True)
    if not found or mode == WARN:
        return found
    raise errors.invalid("", "", "", [("patch", "FieldValueInvalid",
                                       f"Invalid value: {go_quote(value)}: {strict_decoding_error(found)}")])


def _unknown_in(obj: Mapping[str, Any], *, rt: ResourceType, version: str,
                crd: Mapping[str, Any] | None) -> tuple[list[str], list[Steps]]:
    """Unknown fields of a whole object (a patch's result or base) and where they are."""
    if rt.custom:
        return _pruning(obj, crd_schema(crd, version))
    schema = builtin_schema(rt.group, version, rt.kind)
    if schema is None:
        return [], []
    # a patched document reaches upstream's decoder re-encoded from a map, so its keys come sorted
    walk = _Typed(schema[1], sorted_keys=True)
    walk.walk(obj, schema[0], "")
    return walk.found.unknown_paths(), walk.dropped


def _json_patch_op_errors(decoded: Decoded) -> Iterator[str]:
    """Decoding a JSON patch into `[]jsonPatchOp{op, path, from, value}`: unknown and repeated fields."""
    if not isinstance(decoded.obj, list):
        return
    for i, op in enumerate(decoded.obj):
        if not isinstance(op, dict):
            continue
        order = decoded.repeats.get(id(op))
        seen: set[str] = set()
        for key in order if order is not None else op:
            if key not in _JSON_PATCH_OP_FIELDS:
                yield f'unknown field "[{i}].{key}"'
            elif key in seen:
                yield f'duplicate field "[{i}].{key}"'
            elif key == "value":
                yield from (f'duplicate field "{p}"' for p in duplicate_fields(op[key], decoded.repeats,
                                                                               f"[{i}].value"))
            seen.add(key)


def _capped(messages: Iterable[str]) -> list[str]:
    out = _Findings()
    for m in messages:
        out.add(m)
    return out.messages


def _media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def strict_decoding_error(found: list[str]) -> str:
    """runtime.NewStrictDecodingError(...).Error()."""
    return "strict decoding error: " + ", ".join(found)


def warning_header(text: str) -> str:
    """A `Warning` header value as kube-apiserver writes it: `299 - "<text with \\ and " escaped>"`."""
    return '299 - "' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- Go formatting (for upstream's exact messages) ------------------------------------------------------------------
def go_quote(s: str) -> str:
    """Go's `%q` (strconv.Quote)."""
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def go_format(value: Any) -> str:
    """Go's `%+v` of decoded JSON (`map[a:1 b:[x y]]`, keys sorted, `<nil>` for null)."""
    if value is None:
        return "<nil>"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_format(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_format(v) for v in value) + "]"
    if isinstance(value, float):
        return _go_float(value)
    return str(value)


def _go_float(f: float) -> str:
    """strconv.FormatFloat(f, 'g', -1, 64), which `%v` uses."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    sign, digits, exponent = Decimal(repr(f)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    exp = len(digits) + exponent - 1
    if exp < -4 or exp >= 6:  # shortest 'g' switches to %e outside [1e-4, 1e6)
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        body = f"{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    elif exp < 0:
        body = "0." + "0" * (-exp - 1) + text
    elif len(text) <= exp + 1:
        body = text + "0" * (exp + 1 - len(text))
    else:
        body = text[:exp + 1] + "." + text[exp + 1:]
    return ("-" if sign else "") + body


def go_json(value: Any) -> str:
    """encoding/json's compact output of a map-based document: keys sorted, `<`, `>`, `&` escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
