"""The start-up collector policy: off while the heap grows, frozen and back on once growth is quiet (or after the
longest hold), everything as it was after stop(). Drives the real process-wide collector and restores it."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterator

import pytest

from kubesim.sim import gctuning


@pytest.fixture(autouse=True)
def _restore_gc() -> Iterator[None]:
    thresholds, enabled = gc.get_threshold(), gc.isenabled()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    (gc.enable if enabled else gc.disable)()


async def _until(cond: Callable[[], bool], *, steps: int = 500) -> None:
    for _ in range(steps):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_quiet_heap_is_frozen_and_collected_again() -> None:
    collector = gctuning.StartupCollector(period_s=0.01, quiet_periods=2)
    collector.start()
    assert not gc.isenabled() and collector.holding
    await _until(lambda: not collector.holding)
    assert gc.isenabled() and 0 < gc.get_freeze_count() <= collector.frozen  # frozen objects may still die
    assert gc.get_threshold() == gctuning.THRESHOLDS
    await collector.stop()
    assert gc.get_freeze_count() == 0 and gc.isenabled() and gc.get_threshold() != gctuning.THRESHOLDS


async def test_stays_off_while_the_heap_grows() -> None:
    collector = gctuning.StartupCollector(period_s=0.02, quiet_growth=1_000, quiet_periods=2)
    kept: list[list[int]] = []
    collector.start()
    for _ in range(10):  # ~ 5 periods of growth well above 1,000 objects per second
        kept.extend([i] for i in range(2_000))
        await asyncio.sleep(0.01)
        assert collector.holding and not gc.isenabled()
    await _until(lambda: not collector.holding)
    assert gc.isenabled()
    await collector.stop()


async def test_longest_hold_ends_start_up_even_while_growing() -> None:
    collector = gctuning.StartupCollector(period_s=0.01, quiet_growth=0, max_hold_s=0.05)
    collector.start()
    await _until(lambda: not collector.holding)
    assert gc.isenabled()
    await collector.stop()


@pytest.mark.parametrize("enabled", [pytest.param(True, id="collector on"), pytest.param(False, id="collector off")])
async def test_stop_during_start_up_puts_back_what_it_found(enabled: bool) -> None:
    (gc.enable if enabled else gc.disable)()
    gc.set_threshold(700, 10, 10)
    collector = gctuning.StartupCollector(period_s=10.0)
    collector.start()
    collector.start()  # a second start changes nothing
    await collector.stop()
    assert gc.isenabled() is enabled and gc.get_threshold() == (700, 10, 10) and gc.get_freeze_count() == 0
    await collector.stop()  # and a second stop neither


async def test_a_collector_left_off_stays_off_after_start_up() -> None:
    gc.disable()
    collector = gctuning.StartupCollector(period_s=0.01, quiet_periods=1)
    collector.start()
    await _until(lambda: not collector.holding)
    assert not gc.isenabled()
    await collector.stop()
    assert not gc.isenabled()
