"""Content negotiation and body decoding for the API server.

Pure; no I/O. kubectl asks for `as=Table`, informers for plain JSON, some clients for
`PartialObjectMetadata`; protobuf is not offered, and clients that list JSON as an alternative fall back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from kubesim import errors, protobuf


@dataclass(frozen=True)
class Wanted:
    """What representation the client asked for."""

    as_kind: str = ""  # "", "Table", "PartialObjectMetadata", "PartialObjectMetadataList"
    meta_version: str = "v1"


def parse_accept(accept: str | None) -> Wanted:
    """The first acceptable representation in the Accept header, honouring `as=`, `g=` and `v=` params."""
    if not accept:
        return Wanted()
    for clause in accept.split(","):
        fields = [f.strip() for f in clause.split(";")]
        media = fields[0].lower()
        params = dict(f.split("=", 1) for f in fields[1:] if "=" in f)
        if media not in ("application/json", "*/*", "application/*", "application/yaml"):
            continue
        as_kind = params.get("as", "")
        if not as_kind:
            return Wanted()
        if params.get("g") == "meta.k8s.io" and as_kind in ("Table", "PartialObjectMetadata",
                                                            "PartialObjectMetadataList"):
            return Wanted(as_kind, params.get("v", "v1"))
    return Wanted()


def decode_body(raw: bytes, content_type: str | None) -> Any:
    """A request body as JSON data; YAML is accepted as upstream does."""
    ctype = (content_type or "application/json").split(";")[0].strip().lower()
    if not raw:
        raise errors.bad_request("the request body is empty: an object is required")
    try:
        if ctype in ("application/yaml", "application/x-yaml", "text/yaml"):
            return yaml.safe_load(raw)
        if ctype.startswith(protobuf.CONTENT_TYPE):
            return protobuf.decode(raw)
        if ctype not in ("application/json", "*/*", ""):
            raise errors.unsupported_media_type(ctype, errors.BODY_TYPES)
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise errors.bad_request(f"the body of the request could not be decoded as JSON: {e}") from None
    except protobuf.UnknownKindError as e:
        raise errors.unsupported_media_type(ctype, ("application/json", "application/yaml")) from e
    except protobuf.ProtobufError as e:
        raise errors.bad_request(f"the body of the request could not be decoded as protobuf: {e}") from None
    except yaml.YAMLError as e:
        raise errors.bad_request(f"the body of the request could not be decoded as YAML: {e}") from None


def partial_metadata(obj: dict[str, Any], version: str = "v1") -> dict[str, Any]:
    return {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{version}", "metadata": obj["metadata"]}
