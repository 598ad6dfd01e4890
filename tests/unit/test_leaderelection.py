"""kubescale.leaderelection: the pure acquire/renew/wait decision (client-go tryAcquireOrRenew), observed-time
bookkeeping, release, the Lease form of the record, config validation with client-go's texts, the
--leader-elect* flags, and the elector loop over a small in-memory Lease API with injected failures."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubescale import leaderelection as le
from kubescale.kubeclient import ApiError
from kubescale.leaderelection import Action, LeaderElectionConfig, LeaderElectionRecord, Observation

T0 = datetime(2026, 11, 22, 13, 44, 44, 123456, tzinfo=UTC)
T1 = T0 + timedelta(seconds=7)
ME, OTHER = "me", "other"


def rec(holder: str = OTHER, *, duration: int = 15, acquired: datetime | None = T0, renewed: datetime | None = T0,
        transitions: int = 3) -> LeaderElectionRecord:
    return LeaderElectionRecord(holder, duration, acquired, renewed, transitions)


# -- decide --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("observation", "now", "action", "expected"), [
    pytest.param(None, 100.0, Action.CREATE, rec(ME, acquired=T1, renewed=T1, transitions=0), id="missing-create"),
    pytest.param(Observation(rec(OTHER), 90.0), 100.0, Action.WAIT, None, id="held-by-other-valid"),
    pytest.param(Observation(rec(OTHER), 85.0), 99.999, Action.WAIT, None, id="held-just-before-expiry"),
    pytest.param(Observation(rec(OTHER), 85.0), 100.0, Action.ACQUIRE,
                 rec(ME, acquired=T1, renewed=T1, transitions=4), id="held-expired-exactly-at-duration"),
    pytest.param(Observation(rec(OTHER), 10.0), 100.0, Action.ACQUIRE,
                 rec(ME, acquired=T1, renewed=T1, transitions=4), id="held-long-expired"),
    pytest.param(Observation(rec(OTHER, duration=60), 50.0), 100.0, Action.WAIT, None,
                 id="other-duration-is-the-records-not-ours"),
    pytest.param(Observation(rec(OTHER, duration=0), 100.0), 100.0, Action.ACQUIRE,
                 rec(ME, acquired=T1, renewed=T1, transitions=4), id="zero-duration-never-valid"),
    pytest.param(Observation(rec(""), 99.0), 100.0, Action.ACQUIRE,
                 rec(ME, acquired=T1, renewed=T1, transitions=4), id="free-valid-still-acquired"),
    pytest.param(Observation(rec("", duration=1, transitions=7), 99.5), 100.0, Action.ACQUIRE,
                 rec(ME, acquired=T1, renewed=T1, transitions=8), id="released-acquired-at-once"),
    pytest.param(Observation(rec(ME), 99.0), 100.0, Action.RENEW,
                 rec(ME, acquired=T0, renewed=T1, transitions=3), id="ours-renew-keeps-acquire-and-transitions"),
    pytest.param(Observation(rec(ME), 10.0), 100.0, Action.RENEW,
                 rec(ME, acquired=T0, renewed=T1, transitions=3), id="ours-even-when-expired"),
    pytest.param(Observation(rec(ME, duration=60, acquired=None, renewed=None), 99.0), 100.0, Action.RENEW,
                 rec(ME, acquired=None, renewed=T1, transitions=3), id="ours-rewrites-our-duration"),
    pytest.param(Observation(rec(OTHER, acquired=None, renewed=None, transitions=0), 0.0), 100.0, Action.ACQUIRE,
                 rec(ME, acquired=T1, renewed=T1, transitions=1), id="foreign-record-without-times"),
])
def test_decide(observation: Observation | None, now: float, action: Action,
                expected: LeaderElectionRecord | None) -> None:
    d = le.decide(observation, identity=ME, lease_duration_s=15.0, now=now, wall_now=T1)
    assert (d.action, d.record) == (action, expected)
    assert d.reason


def test_decide_wait_reason_is_client_gos() -> None:
    d = le.decide(Observation(rec(OTHER), 99.0), identity=ME, lease_duration_s=15, now=100.0, wall_now=T1)
    assert d.reason == "lock is held by other and has not yet expired"


@pytest.mark.parametrize(("duration_s", "seconds"), [
    pytest.param(15.0, 15, id="whole"), pytest.param(1.5, 2, id="fraction-rounds-up"),
    pytest.param(0.2, 1, id="sub-second-is-one"), pytest.param(10.000001, 11, id="just-over"),
])
def test_lease_duration_seconds(duration_s: float, seconds: int) -> None:
    assert le.lease_duration_seconds(duration_s) == seconds
    d = le.decide(None, identity=ME, lease_duration_s=duration_s, now=0, wall_now=T0)
    assert d.record is not None and d.record.lease_duration_seconds == seconds


holders = st.sampled_from(["", ME, OTHER])
records = st.builds(LeaderElectionRecord, holders, st.integers(0, 100), st.none() | st.just(T0),
                    st.none() | st.just(T0), st.integers(0, 1000))


@given(records, st.floats(0, 1000), st.floats(0, 1000))
def test_decide_invariants(record: LeaderElectionRecord, observed_at: float, now: float) -> None:
    d = le.decide(Observation(record, observed_at), identity=ME, lease_duration_s=15, now=now, wall_now=T1)
    if d.action is Action.WAIT:
        assert d.record is None and record.holder_identity == OTHER
        return
    assert d.record is not None
    assert d.record.holder_identity == ME and d.record.renew_time == T1
    if record.holder_identity == ME:
        assert d.action is Action.RENEW
        assert (d.record.acquire_time, d.record.leader_transitions) == (record.acquire_time, record.leader_transitions)
    else:
        assert d.action is Action.ACQUIRE
        assert (d.record.acquire_time, d.record.leader_transitions) == (T1, record.leader_transitions + 1)


# -- observe, fast path, release -------------------------------------------------------------------------------
@pytest.mark.parametrize(("previous", "current", "observed_at"), [
    pytest.param(None, rec(), 50.0, id="first-read"),
    pytest.param(Observation(rec(), 10.0), rec(), 10.0, id="unchanged-keeps-time"),
    pytest.param(Observation(rec(), 10.0), rec(renewed=T1), 50.0, id="renewed-restarts"),
    pytest.param(Observation(rec(), 10.0), rec(renewed=T0 + timedelta(microseconds=1)), 50.0,
                 id="a-microsecond-is-a-change"),
    pytest.param(Observation(rec(), 10.0), rec(ME), 50.0, id="holder-changed"),
    pytest.param(Observation(rec(), 10.0), rec(transitions=4), 50.0, id="transitions-changed"),
    pytest.param(Observation(rec(), 10.0), rec(duration=16), 50.0, id="duration-changed"),
])
def test_observe(previous: Observation | None, current: LeaderElectionRecord, observed_at: float) -> None:
    assert le.observe(previous, current, now=50.0) == Observation(current, observed_at)


@pytest.mark.parametrize(("observation", "now", "expected"), [
    pytest.param(None, 100.0, None, id="nothing-observed"),
    pytest.param(Observation(rec(OTHER), 99.0), 100.0, None, id="not-ours"),
    pytest.param(Observation(rec(ME), 85.0), 100.0, None, id="ours-but-expired"),
    pytest.param(Observation(rec(ME), 99.0), 100.0, rec(ME, acquired=T0, renewed=T1), id="ours-valid"),
    pytest.param(Observation(rec(ME, duration=60), 50.0), 100.0, rec(ME, duration=15, renewed=T1),
                 id="validity-by-the-observed-duration"),
])
def test_optimistic_renewal(observation: Observation | None, now: float,
                            expected: LeaderElectionRecord | None) -> None:
    assert le.optimistic_renewal(observation, identity=ME, lease_duration_s=15, now=now, wall_now=T1) == expected


@pytest.mark.parametrize(("observation", "expected"), [
    pytest.param(None, None, id="nothing-observed"),
    pytest.param(Observation(rec(OTHER), 0.0), None, id="not-ours"),
    pytest.param(Observation(rec(""), 0.0), None, id="already-free"),
    pytest.param(Observation(rec(ME, transitions=5), 0.0), LeaderElectionRecord("", 1, T1, T1, 5), id="ours"),
])
def test_release_record(observation: Observation | None, expected: LeaderElectionRecord | None) -> None:
    assert le.release_record(observation, identity=ME, wall_now=T1) == expected


@given(st.floats(0.001, 100), st.integers(0, 2**32))
def test_jitter_within_client_go_bounds(period: float, seed: int) -> None:
    j = le.jittered(period, random.Random(seed))
    assert period <= j < period * (1 + le.JITTER_FACTOR)


# -- the Lease form ------------------------------------------------------------------------------------------------
def test_lease_spec_and_back() -> None:
    spec = le.lease_spec(rec(ME, acquired=T0, renewed=T1, transitions=2))
    assert spec == {"holderIdentity": "me", "leaseDurationSeconds": 15, "leaseTransitions": 2,
                    "acquireTime": "2026-11-22T13:44:44.123456Z", "renewTime": "2026-11-22T13:44:51.123456Z"}
    assert le.record_from_lease({"spec": spec}) == rec(ME, acquired=T0, renewed=T1, transitions=2)


@pytest.mark.parametrize(("spec", "expected"), [
    pytest.param(None, LeaderElectionRecord(), id="no-spec"),
    pytest.param({}, LeaderElectionRecord(), id="empty-spec"),
    pytest.param({"holderIdentity": None, "leaseDurationSeconds": 40}, LeaderElectionRecord("", 40), id="nulls"),
    pytest.param({"renewTime": "2026-11-22T13:44:44Z"}, LeaderElectionRecord(renew_time=T0.replace(microsecond=0)),
                 id="rfc3339-without-fraction"),
    pytest.param({"acquireTime": "2026-11-22T14:44:44.123456+01:00"}, LeaderElectionRecord(acquire_time=T0),
                 id="offset-normalised-to-utc"),
])
def test_record_from_lease(spec: dict[str, Any] | None, expected: LeaderElectionRecord) -> None:
    assert le.record_from_lease({"spec": spec}) == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-11-22T13:44:44"])
def test_unreadable_times_are_errors(text: str) -> None:
    with pytest.raises(ValueError):
        le.record_from_lease({"spec": {"renewTime": text}})


def test_lease_spec_writes_an_empty_holder() -> None:
    assert le.lease_spec(LeaderElectionRecord("", 1, T0, T0, 5))["holderIdentity"] == ""


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9998, 1, 1), timezones=st.just(UTC)))
def test_micro_time_round_trip(t: datetime) -> None:
    text = le.format_micro_time(t)
    assert len(text) == len("2026-11-22T13:44:44.123456Z") and text.endswith("Z")
    assert le.parse_micro_time(text) == t


# -- config --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("lease", "renew", "retry", "identity", "error"), [
    pytest.param(15, 10, 2, ME, None, id="defaults"),
    pytest.param(1.5, 1, 0.2, ME, None, id="short"),
    pytest.param(10, 10, 2, ME, "leaseDuration must be greater than renewDeadline", id="lease-equals-renew"),
    pytest.param(5, 10, 2, ME, "leaseDuration must be greater than renewDeadline", id="lease-below-renew"),
    pytest.param(15, 2.4, 2, ME, "renewDeadline must be greater than retryPeriod*JitterFactor",
                 id="renew-equals-jittered-retry"),
    pytest.param(15, 2.41, 2, ME, None, id="renew-just-above-jittered-retry"),
    pytest.param(0, -1, -1, ME, "leaseDuration must be greater than zero", id="lease-zero"),
    pytest.param(1, 0, -1, ME, "renewDeadline must be greater than zero", id="renew-zero"),
    pytest.param(1, 0.5, 0, ME, "retryPeriod must be greater than zero", id="retry-zero"),
    pytest.param(15, 10, 2, "", "Lock identity is empty", id="no-identity"),
])
def test_config_validation(lease: float, renew: float, retry: float, identity: str, error: str | None) -> None:
    kwargs = dict(lease_namespace="ns", lease_name="n", identity=identity, lease_duration_s=lease,
                  renew_deadline_s=renew, retry_period_s=retry)
    if error is None:
        assert LeaderElectionConfig(**kwargs).path == "/apis/coordination.k8s.io/v1/namespaces/ns/leases/n"
    else:
        with pytest.raises(ValueError, match=f"^{re.escape(error)}$"):
            LeaderElectionConfig(**kwargs)


# -- flags ---------------------------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(exit_on_error=False)
    le.add_leader_election_flags(p.add_argument_group("leader election"), default_name="kubescale-hpa")
    return p


@pytest.mark.parametrize(("argv", "elect"), [
    pytest.param([], True, id="default-true"), pytest.param(["--leader-elect"], True, id="bare"),
    pytest.param(["--leader-elect=false"], False, id="eq-false"), pytest.param(["--leader-elect=0"], False, id="0"),
    pytest.param(["--leader-elect=F"], False, id="F"), pytest.param(["--leader-elect=True"], True, id="True"),
    pytest.param(["--leader-elect", "false"], False, id="separate-value"),
])
def test_leader_elect_flag(argv: list[str], elect: bool) -> None:
    assert _parser().parse_args(argv).leader_elect is elect


@pytest.mark.parametrize("argv", [
    pytest.param(["--leader-elect=yes"], id="not-a-go-bool"),
    pytest.param(["--leader-elect-lease-duration=15"], id="duration-without-unit"),
    pytest.param(["--leader-elect-resource-lock=endpoints"], id="only-leases"),
])
def test_bad_flags(argv: list[str]) -> None:
    with pytest.raises(argparse.ArgumentError):
        _parser().parse_args(argv)


def test_go_bool_error_is_go_s() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r'^strconv\.ParseBool: parsing "yes": invalid syntax$'):
        le.go_bool("yes")


def test_flag_defaults_make_kcm_s_config() -> None:
    c = le.leader_election_config(_parser().parse_args([]), identity="host_1")
    assert c == LeaderElectionConfig("kube-system", "kubescale-hpa", "host_1", 15.0, 10.0, 2.0, True)


def test_flags_make_a_config() -> None:
    args = _parser().parse_args(["--leader-elect-lease-duration=1500ms", "--leader-elect-renew-deadline=1s",
                                 "--leader-elect-retry-period=200ms", "--leader-elect-resource-name=x",
                                 "--leader-elect-resource-namespace=y", "--leader-elect-resource-lock=leases"])
    c = le.leader_election_config(args, identity="id")
    assert c == LeaderElectionConfig("y", "x", "id", 1.5, 1.0, 0.2)


def test_leader_elect_false_means_no_config() -> None:
    assert le.leader_election_config(_parser().parse_args(["--leader-elect=false"])) is None


def test_inconsistent_durations_name_the_flags() -> None:
    args = _parser().parse_args(["--leader-elect-renew-deadline=20s"])
    with pytest.raises(ValueError, match=r"--leader-elect-renew-deadline.*leaseDuration must be greater than"):
        le.leader_election_config(args)


def test_default_identity_is_hostname_underscore_uuid() -> None:
    a, b = le.default_identity(), le.default_identity()
    host, _, suffix = a.rpartition("_")
    assert host and len(suffix) == 36 and a != b


# -- the loop, over an in-memory Lease API -----------------------------------------------------------------------------
class FakeLeases:
    """One namespace's Leases with resourceVersion conflicts, and failures to inject: `fail` raises the next
    exceptions from any call."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.fail: list[Exception] = []
        self.writes: list[dict[str, Any]] = []

    def _check(self) -> None:
        if self.fail:
            raise self.fail.pop(0)

    def _stored(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self.version)
        self.objects[obj["metadata"]["name"]] = obj
        self.writes.append(copy.deepcopy(obj["spec"]))
        return copy.deepcopy(obj)

    async def get(self, path: str) -> Any:
        self._check()
        name = path.rsplit("/", 1)[1]
        if name not in self.objects:
            raise ApiError(404, "NotFound", f'leases.coordination.k8s.io "{name}" not found')
        return copy.deepcopy(self.objects[name])

    async def create(self, path: str, body: Any) -> Any:
        self._check()
        if body["metadata"]["name"] in self.objects:
            raise ApiError(409, "AlreadyExists", "exists")
        return self._stored(body)

    async def update(self, path: str, body: Any) -> Any:
        self._check()
        current = self.objects[body["metadata"]["name"]]
        if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", "the object has been modified")
        return self._stored(body)


def _fast(identity: str = ME, **kw: Any) -> LeaderElectionConfig:
    return LeaderElectionConfig("ns", "lock", identity, **{"lease_duration_s": 0.5, "renew_deadline_s": 0.2,
                                                          "retry_period_s": 0.01, **kw})


async def _until(check: Any) -> None:
    while not check():
        await asyncio.sleep(0.005)


async def test_errors_are_retried_and_cancel_releases() -> None:
    api = FakeLeases()
    api.fail = [aiohttp.ClientConnectionError("refused"), ApiError(500, "InternalError", "boom"),
                TimeoutError()]
    elector = le.LeaderElector(api, _fast(), wall_clock=lambda: T0)
    started = asyncio.Event()

    async def lead() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(elector.run(lead))
    await started.wait()
    assert elector.is_leader() and elector.leader_identity == ME and not api.fail
    await _until(lambda: len(api.writes) >= 3)  # created, then renewed
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not elector.is_leader()
    assert api.writes[0] == le.lease_spec(LeaderElectionRecord(ME, 1, T0, T0, 0))
    assert api.writes[-1] == le.lease_spec(LeaderElectionRecord("", 1, T0, T0, 0))
    assert elector.leader_identity == ""


async def test_no_release_when_not_asked() -> None:
    api = FakeLeases()
    elector = le.LeaderElector(api, _fast(release_on_cancel=False))
    task = asyncio.create_task(elector.run(asyncio.Event().wait))
    await _until(elector.is_leader)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert api.writes[-1]["holderIdentity"] == ME


async def test_waits_for_another_holder_then_takes_over_when_it_stops_renewing() -> None:
    api = FakeLeases()
    other = le.LeaderElector(api, _fast(OTHER))
    other_task = asyncio.create_task(other.run(asyncio.Event().wait))
    await _until(other.is_leader)
    mine = le.LeaderElector(api, _fast())
    my_task = asyncio.create_task(mine.run(asyncio.Event().wait))
    await _until(lambda: mine.leader_identity == OTHER)
    assert not mine.is_leader()
    api.fail = [ApiError(503, "ServiceUnavailable", "down")] * 1000  # the other cannot renew; nor can we
    await _until(lambda: not other.is_leader())
    assert other_task.done() and other_task.result() is None
    api.fail = []
    await _until(mine.is_leader)
    assert api.objects["lock"]["spec"]["leaseTransitions"] == 1
    my_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await my_task


async def test_a_conflict_on_renewal_is_a_lost_round_not_an_error() -> None:
    api = FakeLeases()
    elector = le.LeaderElector(api, _fast())
    task = asyncio.create_task(elector.run(asyncio.Event().wait))
    await _until(elector.is_leader)
    stolen = copy.deepcopy(api.objects["lock"])
    stolen["spec"]["holderIdentity"] = OTHER
    await api.update("", stolen)
    await task  # returns: leadership lost after the renew deadline
    assert not elector.is_leader() and elector.leader_identity == OTHER
    assert api.objects["lock"]["spec"]["holderIdentity"] == OTHER, "not ours: not released"


async def test_a_failing_callback_stops_leading_releases_and_raises() -> None:
    api = FakeLeases()
    elector = le.LeaderElector(api, _fast())

    async def lead() -> None:
        raise RuntimeError("controller crashed")

    with pytest.raises(RuntimeError, match="controller crashed"):
        await elector.run(lead)
    assert not elector.is_leader()
    assert api.objects["lock"]["spec"]["holderIdentity"] == ""
