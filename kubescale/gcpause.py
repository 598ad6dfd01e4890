"""`gc_paused()`: the cyclic garbage collector off around an allocation burst (building 150,000 small objects
would otherwise rescan the whole heap several times meanwhile), restored afterwards."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


__all__ = ["gc_paused"]
