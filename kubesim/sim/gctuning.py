"""CPython's cyclic garbage collector while simulation layers run.

The layers keep every object of the cluster decoded in their informer caches (at 150,000 pods, some six
million long-lived containers) and make no reference cycles doing so. With the default thresholds the
collector still rescans all of them on each full collection, which comes every time the heap has grown by a
quarter: a third of a 30,000-pod start-up went to it. While held, young collections run every 50,000 net
allocations and full ones practically never (cycles that die young are still collected).

Process-wide state, reference-counted: the last `release()` puts back the thresholds the first `hold()`
found. No I/O.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 100)


class _Holds:
    def __init__(self) -> None:
        self.count = 0
        self.saved: tuple[int, int, int] = gc.get_threshold()


_HOLDS = _Holds()


def hold() -> None:
    """Raise the thresholds (until the matching `release`)."""
    if _HOLDS.count == 0:
        _HOLDS.saved = gc.get_threshold()
        gc.set_threshold(*THRESHOLDS)
    _HOLDS.count += 1


def release() -> None:
    """Let go of one `hold`; the last one restores the thresholds found."""
    if _HOLDS.count == 0:
        return
    _HOLDS.count -= 1
    if _HOLDS.count == 0:
        gc.set_threshold(*_HOLDS.saved)
