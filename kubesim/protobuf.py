"""Kubernetes protobuf request bodies decoded into the JSON-shaped dicts the rest of kubesim works on.

Pure; no I/O beyond reading the packaged schema at import. client-go's typed clients (and so kubectl
create/run/expose/autoscale/drain) send `application/vnd.kubernetes.protobuf`: the `k8s\\x00` magic, then
a `runtime.Unknown` envelope whose `raw` bytes are the object's message. `decode` turns that into the dict
the same Go object would have produced as JSON. kubesim only ever answers in JSON; there is no encoder.

The wire facts live in `protoschema.json` (made by scripts/gen_protoschema.py from upstream
`generated.proto` files): per message, field number -> [json name, type, flags]. Types are protobuf
scalars, fully qualified message names, or `@` markers for types with their own JSON form (Quantity,
IntOrString, Time, MicroTime, Duration, RawExtension, FieldsV1, and named []string wrappers such as
Verbs and ExtraValue). Flags: `r` repeated, `m` map (the type is the value's), `i` a Go embedded struct
whose fields JSON inlines, `k` keep zero values. gogo-generated marshalling always writes non-pointer
scalars, so a zero string/number/bool is dropped (as `omitempty` drops it in JSON) unless the field is
a Go pointer (an explicit zero is meaningful, e.g. `replicas: 0`) or has no `omitempty` (`k`).
"""

from __future__ import annotations

import base64
import json
import struct
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
MAX_DEPTH = 64

_UNKNOWN_ENVELOPE = "k8s.io.apimachinery.pkg.runtime.Unknown"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ZEROS = ("", 0, False, 0.0)
_INT_TYPES = frozenset({"int32", "int64", "uint32", "uint64", "sint32", "sint64", "bool"})
_FIXED64 = frozenset({"fixed64", "sfixed64", "double"})
_FIXED32 = frozenset({"fixed32", "sfixed32", "float"})
_SCALAR_TYPES = _INT_TYPES | _FIXED32 | _FIXED64 | {"string"}


class ProtobufError(ValueError):
    """A body that is not a well-formed Kubernetes protobuf message kubesim can read."""


class UnknownKindError(ProtobufError):
    """A well-formed envelope naming an (apiVersion, kind) with no known protobuf schema."""

    def __init__(self, api_version: str, kind: str) -> None:
        super().__init__(f"no protobuf schema is known for {kind} in {api_version or '(no apiVersion)'}")
        self.api_version = api_version
        self.kind = kind


def _load_schema() -> tuple[dict[str, dict[int, tuple[str, str, str]]], dict[tuple[str, str], str]]:
    raw = json.loads(resources.files("kubesim").joinpath("protoschema.json").read_text())
    messages = {
        name: {int(num): (spec[0], spec[1], spec[2] if len(spec) > 2 else "") for num, spec in fields.items()}
        for name, fields in raw["messages"].items()
    }
    kinds = {(version, kind): message for version, table in raw["kinds"].items() for kind, message in table.items()}
    return messages, kinds


_MESSAGES, _KINDS = _load_schema()
KNOWN: frozenset[tuple[str, str]] = frozenset(_KINDS)


def decode(body: bytes) -> dict[str, Any]:
    """The JSON-shaped object of a protobuf request body, `kind` and `apiVersion` set from its envelope.

    Raises UnknownKindError for an (apiVersion, kind) kubesim has no schema for, ProtobufError for
    anything malformed.
    """
    if not body.startswith(MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf magic number (k8s\\x00)")
    envelope = _envelope(bytes(body[len(MAGIC):]))
    return _object(envelope, depth=0)


def _envelope(data: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {"apiVersion": "", "kind": "", "raw": b"", "contentEncoding": "", "contentType": ""}
    for num, wire, value in _fields(data):
        if num == 1:
            for sub, sub_wire, sub_value in _fields(_len(wire, value)):
                if sub in (1, 2):
                    out["apiVersion" if sub == 1 else "kind"] = _text(_len(sub_wire, sub_value))
        elif num == 2:
            out["raw"] = _len(wire, value)
        elif num in (3, 4):
            out["contentEncoding" if num == 3 else "contentType"] = _text(_len(wire, value))
    return out


def _object(envelope: dict[str, Any], depth: int) -> dict[str, Any]:
    api_version, kind = envelope["apiVersion"], envelope["kind"]
    if envelope["contentEncoding"]:
        raise ProtobufError(f"unsupported contentEncoding {envelope['contentEncoding']!r} in the protobuf envelope")
    content_type = envelope["contentType"].split(";")[0].strip().lower()
    if content_type == "application/json":
        obj = _json(envelope["raw"])
        if not isinstance(obj, dict):
            raise ProtobufError("the embedded JSON object is not a JSON object")
        return {"kind": kind, "apiVersion": api_version, **obj}
    if content_type not in ("", CONTENT_TYPE):
        raise ProtobufError(f"unsupported contentType {envelope['contentType']!r} in the protobuf envelope")
    message = _KINDS.get((api_version, kind))
    if message is None:
        raise UnknownKindError(api_version, kind)
    return {"kind": kind, "apiVersion": api_version, **_message(envelope["raw"], message, depth)}


# --- wire format -------------------------------------------------------------------------------------


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, pos
        shift += 7
        if shift >= 70:
            raise ProtobufError("varint longer than 10 bytes")


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) in wire order; value is an int, or bytes for wire type 2."""
    out = []
    pos, end = 0, len(data)
    while pos < end:
        key, pos = _varint(data, pos)
        num, wire = key >> 3, key & 7
        if num == 0:
            raise ProtobufError("field number 0")
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            size, pos = _varint(data, pos)
            if size > end - pos:
                raise ProtobufError(f"field {num}: length {size} runs past the end of the message")
            value, pos = data[pos:pos + size], pos + size
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if pos + width > end:
                raise ProtobufError(f"field {num}: truncated fixed-width value")
            value, pos = int.from_bytes(data[pos:pos + width], "little"), pos + width
        else:
            raise ProtobufError(f"field {num}: unsupported wire type {wire}")
        out.append((num, wire, value))
    return out


def _len(wire: int, value: Any) -> bytes:
    if wire != 2:
        raise ProtobufError(f"expected a length-delimited field, got wire type {wire}")
    return value


def _text(data: bytes) -> str:
    # Go's proto2 strings carry any bytes; encoding/json writes invalid UTF-8 as U+FFFD.
    return data.decode("utf-8", errors="replace")


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as e:
        raise ProtobufError(f"embedded raw bytes are not JSON: {e}") from None


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _scalar(typ: str, wire: int, value: Any) -> Any:
    if typ == "string":
        return _text(_len(wire, value))
    if typ == "bytes":
        return base64.b64encode(_len(wire, value)).decode("ascii")
    if typ in _INT_TYPES:
        if wire != 0:
            raise ProtobufError(f"expected a varint for {typ}, got wire type {wire}")
        if typ == "bool":
            return value != 0
        if typ in ("sint32", "sint64"):
            return (value >> 1) ^ -(value & 1)
        if typ == "int32":
            return _signed(value, 32)
        if typ == "uint32":
            return value & 0xFFFFFFFF
        return _signed(value, 64) if typ == "int64" else value
    width = 1 if typ in _FIXED64 else 5 if typ in _FIXED32 else None
    if width is None:
        raise ProtobufError(f"unknown scalar type {typ}")
    if wire != width:
        raise ProtobufError(f"expected wire type {width} for {typ}, got {wire}")
    raw = value.to_bytes(8 if wire == 1 else 4, "little")
    if typ in ("double", "float"):
        return struct.unpack("<d" if wire == 1 else "<f", raw)[0]
    return _signed(value, 8 * len(raw)) if typ.startswith("s") else value


def _packed(typ: str, data: bytes) -> list[Any]:
    out: list[Any] = []
    pos = 0
    if typ in _INT_TYPES:
        while pos < len(data):
            value, pos = _varint(data, pos)
            out.append(_scalar(typ, 0, value))
        return out
    width = 8 if typ in _FIXED64 else 4 if typ in _FIXED32 else 0
    if not width or len(data) % width:
        raise ProtobufError(f"bad packed encoding for repeated {typ}")
    for pos in range(0, len(data), width):
        out.append(_scalar(typ, 1 if width == 8 else 5, int.from_bytes(data[pos:pos + width], "little")))
    return out


# --- messages ----------------------------------------------------------------------------------------


def _message(data: bytes, name: str, depth: int) -> dict[str, Any]:
    if depth > MAX_DEPTH:
        raise ProtobufError(f"messages nested deeper than {MAX_DEPTH}")
    spec = _MESSAGES[name]
    out: dict[str, Any] = {}
    for num, wire, value in _fields(data):
        field = spec.get(num)
        if field is None:
            continue  # a field newer than the schema: skipped, as proto decoders do
        key, typ, flags = field
        if "r" in flags:
            items = out.setdefault(key, [])
            if wire == 2 and typ in _INT_TYPES | _FIXED32 | _FIXED64:
                items.extend(_packed(typ, value))
            else:
                items.append(_value(typ, wire, value, depth))
        elif "m" in flags:
            entry_key, entry_value = _map_entry(typ, _len(wire, value), depth)
            out.setdefault(key, {})[entry_key] = entry_value
        elif "i" in flags:
            out.update(_message(_len(wire, value), typ, depth + 1))
        else:
            decoded = _value(typ, wire, value, depth)
            if typ in _SCALAR_TYPES and "k" not in flags and decoded in _ZEROS:
                out.pop(key, None)
            else:
                out[key] = decoded
    return out


def _map_entry(typ: str, data: bytes, depth: int) -> tuple[str, Any]:
    key, value = "", None
    for num, wire, raw in _fields(data):
        if num == 1:
            key = _text(_len(wire, raw))
        elif num == 2:
            value = _value(typ, wire, raw, depth)
    if value is None:
        value = _zero(typ, depth)
    return key, value


def _zero(typ: str, depth: int) -> Any:
    """The JSON of a map value the wire left out: its type's zero value."""
    if typ in _MESSAGES or typ.startswith("@"):
        return _value(typ, 2, b"", depth)
    return {"string": "", "bytes": "", "bool": False, "double": 0.0, "float": 0.0}.get(typ, 0)


def _value(typ: str, wire: int, value: Any, depth: int) -> Any:
    if typ in _MESSAGES:
        return _message(_len(wire, value), typ, depth + 1)
    if typ.startswith("@"):
        return _special(typ, _len(wire, value), depth)
    return _scalar(typ, wire, value)


def _special(typ: str, data: bytes, depth: int) -> Any:
    fields = {num: (wire, value) for num, wire, value in _fields(data)}

    def get(num: int, kind: str, default: Any) -> Any:
        return _scalar(kind, *fields[num]) if num in fields else default

    if typ == "@quantity":
        return get(1, "string", "0")
    if typ == "@intorstring":
        return get(3, "string", "") if get(1, "int64", 0) == 1 else get(2, "int32", 0)
    if typ in ("@time", "@microtime"):
        if not data:
            return None  # metav1.Time marshals the zero time as empty bytes; JSON writes null
        micro = typ == "@microtime"
        return _rfc3339(get(1, "int64", 0), get(2, "int32", 0) if micro else 0, micro=micro)
    if typ == "@duration":
        return _go_duration(get(1, "int64", 0))
    if typ == "@strings":
        return [_text(_len(wire, value)) for num, wire, value in _fields(data) if num == 1]
    if typ in ("@json", "@raw"):
        if 1 not in fields:
            return None  # RawExtension and FieldsV1 write a nil Raw as JSON null
        raw = _len(*fields[1])
        if typ == "@raw" and raw.startswith(MAGIC):
            return _object(_envelope(raw[len(MAGIC):]), depth + 1)
        return _json(raw)
    raise ProtobufError(f"unknown special type {typ}")


def _rfc3339(seconds: int, nanos: int, *, micro: bool) -> str:
    try:
        t = _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)
    except OverflowError:
        raise ProtobufError(f"timestamp {seconds}s is out of range") from None
    text = f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    return f"{text}.{t.microsecond:06d}Z" if micro else f"{text}Z"


def _go_duration(nanos: int) -> str:
    """time.Duration.String(): `1h2m3.5s`, `150ms`, `0s`."""
    if nanos == 0:
        return "0s"
    sign, u = ("-" if nanos < 0 else ""), abs(nanos)
    if u < 1_000:
        return f"{sign}{u}ns"
    if u < 1_000_000:
        return f"{sign}{_decimal(u, 3)}µs"
    if u < 1_000_000_000:
        return f"{sign}{_decimal(u, 6)}ms"
    minutes, rest = divmod(u, 60_000_000_000)
    text = f"{_decimal(rest, 9)}s"
    if minutes:
        hours, minutes = divmod(minutes, 60)
        text = f"{minutes}m{text}"
        if hours:
            text = f"{hours}h{text}"
    return sign + text


def _decimal(value: int, places: int) -> str:
    whole, frac = divmod(value, 10**places)
    digits = f"{frac:0{places}d}".rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)
