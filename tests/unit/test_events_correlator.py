"""EventCorrelator (client-go's events_cache.go): repeats, combining similar messages, the spam filter, the LRU."""

from __future__ import annotations

import pytest

from kubescale import events
from kubescale.events import COMBINED, EventCorrelator, Involved

HPA = Involved("HorizontalPodAutoscaler", "default", "web", "u1", "autoscaling/v2")
T0 = 1_800_000_000.0


def _record(c: EventCorrelator, message: str, *, at: float, reason: str = "SuccessfulRescale",
            involved: Involved = HPA) -> events.Write | None:
    return c.correlate(involved, "Normal", reason, message, component="horizontal-pod-autoscaler", now=at)


def test_a_repeat_patches_the_same_event_with_a_higher_count() -> None:
    c = EventCorrelator()
    first = _record(c, "New size: 3", at=T0)
    again = _record(c, "New size: 3", at=T0 + 15)
    assert first is not None and again is not None
    assert (first.patch, first.count, again.patch, again.count) == (False, 1, True, 2)
    assert again.name == first.name and again.first_timestamp == first.first_timestamp
    assert again.last_timestamp == events.rfc3339(T0 + 15) != first.last_timestamp
    assert first.name.startswith("web.") and int(first.name.split(".")[1], 16) == int(T0 * 1e9)


def test_the_body_is_a_core_v1_event() -> None:
    w = _record(EventCorrelator(), "New size: 3", at=T0)
    assert w is not None
    body = w.body(host="node-1")
    assert body["involvedObject"] == {"kind": "HorizontalPodAutoscaler", "namespace": "default", "name": "web",
                                      "uid": "u1", "apiVersion": "autoscaling/v2"}
    assert body["source"] == {"component": "horizontal-pod-autoscaler", "host": "node-1"}
    assert (body["type"], body["reason"], body["message"], body["count"]) == ("Normal", "SuccessfulRescale",
                                                                               "New size: 3", 1)
    assert body["reportingComponent"] == "horizontal-pod-autoscaler" and body["eventTime"] is None
    assert w.patch_body() == {"count": 1, "lastTimestamp": events.rfc3339(T0), "message": "New size: 3"}


def test_the_tenth_distinct_message_is_combined() -> None:
    c = EventCorrelator()
    writes = [_record(c, f"New size: {i}", at=T0 + i) for i in range(12)]
    assert all(w is not None for w in writes)
    assert [w.message for w in writes[:9] if w] == [f"New size: {i}" for i in range(9)]
    assert [w.message for w in writes[9:] if w] == [COMBINED + f"New size: {i}" for i in (9, 10, 11)]
    combined = [w for w in writes[9:] if w]
    assert len({w.name for w in combined}) == 1 and [w.count for w in combined] == [1, 2, 3]


def test_similar_messages_are_forgotten_after_ten_minutes() -> None:
    c = EventCorrelator()
    for i in range(9):
        _record(c, f"New size: {i}", at=T0)
    late = _record(c, "New size: 99", at=T0 + events.AGGREGATE_INTERVAL_S + 1)
    assert late is not None and late.message == "New size: 99"


@pytest.mark.parametrize(("gap_s", "allowed_after_burst"), [
    pytest.param(0.0, 0, id="no-time-no-token"),
    pytest.param(events.SPAM_REFILL_S, 1, id="one-token-per-5-minutes"),
    pytest.param(events.SPAM_REFILL_S * 100, 25, id="refill-capped-at-the-burst"),
])
def test_spam_filter(gap_s: float, allowed_after_burst: int) -> None:
    c = EventCorrelator()
    burst = [_record(c, "same", at=T0) for _ in range(30)]
    assert sum(w is not None for w in burst) == events.SPAM_BURST
    later = [_record(c, "same", at=T0 + gap_s) for _ in range(30)]
    assert sum(w is not None for w in later) == allowed_after_burst


def test_the_spam_filter_is_per_object() -> None:
    c = EventCorrelator()
    for _ in range(events.SPAM_BURST):
        _record(c, "same", at=T0)
    assert _record(c, "same", at=T0) is None
    other = Involved("HorizontalPodAutoscaler", "default", "api", "u2", "autoscaling/v2")
    assert _record(c, "same", at=T0, involved=other) is not None


def test_names_stay_unique_on_a_frozen_clock() -> None:
    c = EventCorrelator()
    names = {w.name for i in range(5) if (w := _record(c, f"m{i}", at=T0, reason=f"R{i}"))}
    assert len(names) == 5


def test_forgotten_repeats_start_over_when_the_cache_evicts_them() -> None:
    c = EventCorrelator()
    c._observed.size = 2  # a tiny LRU shows eviction without 4,096 entries
    _record(c, "a", at=T0, reason="A")
    _record(c, "b", at=T0, reason="B")
    _record(c, "c", at=T0, reason="C")
    again = _record(c, "a", at=T0 + 1, reason="A")
    assert again is not None and (again.patch, again.count) == (False, 1)
