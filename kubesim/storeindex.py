"""What the store keeps of each object: its JSON bytes plus a small index (labels, the kind's selectable
field values, apiVersion), with the decoded object built only on demand.

150,000 stored pods as decoded dicts cost ~12 KB each; as JSON bytes and this index ~4.5 KB. Label and field
selectors read the index, so a selected list never decodes what it does not return. Pure; no I/O. The
store itself (ordering, resourceVersions, watches) is `kubesim.store`.
"""

from __future__ import annotations

import contextlib
import gc
import json
import sys
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from kubesim import resources, selectors

Obj = dict[str, Any]

_intern = sys.intern
_NO_LABELS: Mapping[str, str] = MappingProxyType({})
# every object answers these two field selectors (upstream's DefaultClusterScopedAttr/DefaultNamespaceScopedAttr)
BASE_FIELDS = ("metadata.name", "metadata.namespace")
DECODED_KEPT = 1024  # how many decoded objects stay cached (most recently decoded or written first)


@dataclass(frozen=True, eq=False)
class Layout:
    """Which field values an entry's `fields` tuple holds, in order: the kind's selectable fields."""

    paths: tuple[str, ...]
    position: Mapping[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "position", {p: i for i, p in enumerate(self.paths)})


def _layouts() -> dict[str, Layout]:
    paths: dict[str, list[str]] = {}
    for rt in resources.BUILTIN:
        kind_paths = paths.setdefault(rt.kind, list(BASE_FIELDS))
        kind_paths.extend(p for p in rt.selectable_fields if p not in kind_paths)
    return {kind: Layout(tuple(p)) for kind, p in paths.items()}


_BASE_LAYOUT = Layout(BASE_FIELDS)
_LAYOUTS = _layouts()


def layout_for(kind: str) -> Layout:
    """The field layout of a kind's entries (custom kinds: name and namespace only)."""
    return _LAYOUTS.get(kind, _BASE_LAYOUT)


def _short(value: Any) -> Any:
    """Short strings interned: 150,000 pods' index then shares one copy of each label and field value."""
    return _intern(value) if type(value) is str and len(value) <= 64 else value


class Entry:
    """One stored object: its JSON bytes (served as they are), its labels, its selectable field values and
    apiVersion. `obj` decodes the bytes; the last `DECODED_KEPT` decoded or written objects stay decoded, so
    a read-modify-write decodes once. Treat what `obj` returns as read-only: it may be shared."""

    __slots__ = ("_obj", "api_version", "fields", "labels", "layout", "raw")

    def __init__(self, obj: Obj, raw: bytes) -> None:
        """`raw` must be `obj` as JSON."""
        meta = obj.get("metadata")
        labels = meta.get("labels") if isinstance(meta, dict) else None
        self.raw = raw
        self.labels: Mapping[str, str] = (
            {_short(k): _short(v) for k, v in labels.items()} if isinstance(labels, dict) and labels else _NO_LABELS)
        self.layout = layout_for(obj.get("kind") or "")
        self.fields = tuple(_short(selectors.field_value(obj, p)) for p in self.layout.paths)
        self.api_version = _intern(obj.get("apiVersion") or "")
        self._obj: Obj | None = obj
        _DECODED.keep(self)

    @property
    def obj(self) -> Obj:
        obj = self._obj
        if obj is None:
            obj = self._obj = json.loads(self.raw)
            _DECODED.keep(self)
        return obj

    def load(self) -> Obj:
        """The object without keeping it decoded, for reads of many entries at once (Tables): a kept object
        lives long enough to be scanned by the garbage collector, a loaded one dies young."""
        obj = self._obj
        return obj if obj is not None else json.loads(self.raw)

    @property
    def name(self) -> str:
        return self.fields[0]

    @property
    def namespace(self) -> str:
        return self.fields[1]

    def field(self, path: str) -> str:
        """The value a field selector compares for `path` (see `selectors.field_value`)."""
        i = self.layout.position.get(path)
        return self.fields[i] if i is not None else selectors.field_value(self.obj, path)


class _Decoded:
    """The entries whose decoded object is kept, oldest first; keeping one more forgets the oldest's."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: deque[Entry] = deque()

    def keep(self, entry: Entry) -> None:
        # an entry is here at most once: it is added only when its object was just set, and leaves when cleared
        if len(self.entries) >= self.size:
            self.entries.popleft()._obj = None
        self.entries.append(entry)


_DECODED = _Decoded(DECODED_KEPT)


@contextlib.contextmanager
def decoding_many() -> Iterator[None]:
    """Pause the cyclic garbage collector while many entries are decoded at once (a Table of every pod).
    Decoded objects hold no cycles, but their sheer number keeps triggering full collections that scan
    them again and again: 150,000 pods decode three times slower with the collector running."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()

Predicate = Callable[[Entry], bool]


def selector_filter(labels: selectors.LabelSelector, fields: selectors.FieldSelector) -> Predicate | None:
    """A test of entries against label and field selectors on their index, or None when neither restricts."""
    checks: list[Predicate] = []
    if not labels.is_empty():
        match_labels = labels.matches
        checks.append(lambda e: match_labels(e.labels))
    if not fields.is_empty():
        match_fields = fields.matches
        checks.append(lambda e: match_fields(e.field))
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]
    first, second = checks
    return lambda e: first(e) and second(e)
