"""Leader election on a coordination.k8s.io/v1 Lease, with client-go's tools/leaderelection semantics, so that of
several replicas of a controller only one acts at a time; plus kube-controller-manager's --leader-elect* flags.

The decision (create, acquire, renew or wait, and the record to write) is pure and takes local times as
parameters; `LeaderElector` is the thin loop around it that reads and writes the Lease through the API client.
As in client-go this is not fencing: it only trusts times read from the local monotonic clock, never the
timestamps in the Lease, and a leader that cannot renew within the renew deadline stops leading.
"""

from __future__ import annotations

import argparse
import asyncio
import enum
import logging
import math
import random
import socket
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from kubescale.durations import go_duration_s
from kubescale.kubeclient import ApiError

log = logging.getLogger(__name__)

JITTER_FACTOR = 1.2  # client-go leaderelection.JitterFactor
RESOURCE_LOCKS = ("leases",)
RELEASED_LEASE_DURATION_SECONDS = 1  # what client-go's release() writes


# -- configuration ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LeaderElectionConfig:
    """One elector's lease and timing; validated like client-go's NewLeaderElector (ValueError, same texts)."""

    lease_namespace: str
    lease_name: str
    identity: str
    lease_duration_s: float = 15.0
    renew_deadline_s: float = 10.0
    retry_period_s: float = 2.0
    release_on_cancel: bool = True

    def __post_init__(self) -> None:
        error = config_error(self)
        if error:
            raise ValueError(error)

    @property
    def path(self) -> str:
        return f"/apis/coordination.k8s.io/v1/namespaces/{self.lease_namespace}/leases/{self.lease_name}"

    def describe(self) -> str:
        return f"{self.lease_namespace}/{self.lease_name}"


def config_error(c: LeaderElectionConfig) -> str | None:
    """client-go NewLeaderElector's first complaint about `c`, in its order and words; None when valid."""
    if c.lease_duration_s <= c.renew_deadline_s:
        return "leaseDuration must be greater than renewDeadline"
    if c.renew_deadline_s <= JITTER_FACTOR * c.retry_period_s:
        return "renewDeadline must be greater than retryPeriod*JitterFactor"
    if c.lease_duration_s <= 0:
        return "leaseDuration must be greater than zero"
    if c.renew_deadline_s <= 0:
        return "renewDeadline must be greater than zero"
    if c.retry_period_s <= 0:
        return "retryPeriod must be greater than zero"
    if not c.identity:
        return "Lock identity is empty"
    if not c.lease_name or not c.lease_namespace:
        return "the lease needs a name and a namespace"
    return None


# -- the record and its Lease form -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LeaderElectionRecord:
    """client-go's resourcelock.LeaderElectionRecord, as read from and written to a LeaseSpec."""

    holder_identity: str = ""
    lease_duration_seconds: int = 0
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    leader_transitions: int = 0


def format_micro_time(t: datetime) -> str:
    """metav1.MicroTime's JSON form: RFC 3339 in UTC with exactly six fractional digits."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(text: str) -> datetime:
    """A MicroTime (or a plain RFC 3339 Time, as MicroTime's decoder also accepts); ValueError otherwise."""
    t = datetime.fromisoformat(text)
    if t.tzinfo is None:
        raise ValueError(f"time {text!r} has no time zone")
    return t.astimezone(UTC)


def record_from_lease(lease: Mapping[str, Any]) -> LeaderElectionRecord:
    """LeaseSpecToLeaderElectionRecord: absent fields read as zero values. ValueError on an unreadable time."""
    spec = lease.get("spec") or {}
    acquire, renew = spec.get("acquireTime"), spec.get("renewTime")
    return LeaderElectionRecord(
        holder_identity=str(spec.get("holderIdentity") or ""),
        lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
        acquire_time=parse_micro_time(acquire) if acquire else None,
        renew_time=parse_micro_time(renew) if renew else None,
        leader_transitions=int(spec.get("leaseTransitions") or 0),
    )


def lease_spec(record: LeaderElectionRecord) -> dict[str, Any]:
    """LeaderElectionRecordToLeaseSpec: every field written, holderIdentity "" included."""
    spec: dict[str, Any] = {"holderIdentity": record.holder_identity,
                            "leaseDurationSeconds": record.lease_duration_seconds,
                            "leaseTransitions": record.leader_transitions}
    if record.acquire_time is not None:
        spec["acquireTime"] = format_micro_time(record.acquire_time)
    if record.renew_time is not None:
        spec["renewTime"] = format_micro_time(record.renew_time)
    return spec


def lease_duration_seconds(lease_duration_s: float) -> int:
    """The whole seconds a record advertises. client-go truncates; we round up, so that a fractional duration
    (1500ms) never advertises a shorter lease than the leader honours."""
    return math.ceil(lease_duration_s)


# -- the pure decision -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Observation:
    """The last record seen and the local monotonic time at which it was first seen in this form."""

    record: LeaderElectionRecord
    observed_at: float

    def valid_at(self, now: float) -> bool:
        """client-go isLeaseValid: the record's own duration, counted from when we saw it change."""
        return self.observed_at + self.record.lease_duration_seconds > now


def observe(previous: Observation | None, record: LeaderElectionRecord, *, now: float) -> Observation:
    """The observation after reading `record` at `now`: the clock restarts only when the record changed."""
    if previous is not None and previous.record == record:
        return previous
    return Observation(record, now)


class Action(enum.Enum):
    CREATE = "create"  # no Lease yet: create it, holding it
    ACQUIRE = "acquire"  # free, released or expired: take it over (transitions + 1)
    RENEW = "renew"  # ours: renew it
    WAIT = "wait"  # someone else holds it and it has not expired


@dataclass(frozen=True)
class Decision:
    action: Action
    record: LeaderElectionRecord | None  # what to write; None for WAIT
    reason: str


def decide(observation: Observation | None, *, identity: str, lease_duration_s: float, now: float,
           wall_now: datetime) -> Decision:
    """tryAcquireOrRenew's slow path, after the Lease was read (`observation` already updated by `observe`) or
    found missing (`observation` None). `now` is the local monotonic time; `wall_now` stamps the record."""
    fresh = LeaderElectionRecord(holder_identity=identity, lease_duration_seconds=lease_duration_seconds(
        lease_duration_s), acquire_time=wall_now, renew_time=wall_now)
    if observation is None:
        return Decision(Action.CREATE, fresh, "the lease does not exist")
    old = observation.record
    if old.holder_identity == identity:
        renewed = LeaderElectionRecord(identity, fresh.lease_duration_seconds, old.acquire_time, wall_now,
                                       old.leader_transitions)
        return Decision(Action.RENEW, renewed, "the lease is ours")
    if old.holder_identity and observation.valid_at(now):
        return Decision(Action.WAIT, None, f"lock is held by {old.holder_identity} and has not yet expired")
    taken = LeaderElectionRecord(identity, fresh.lease_duration_seconds, wall_now, wall_now,
                                 old.leader_transitions + 1)
    reason = f"the lease held by {old.holder_identity} has expired" if old.holder_identity else "the lease is free"
    return Decision(Action.ACQUIRE, taken, reason)


def optimistic_renewal(observation: Observation | None, *, identity: str, lease_duration_s: float, now: float,
                       wall_now: datetime) -> LeaderElectionRecord | None:
    """tryAcquireOrRenew's fast path: when we were the holder last time and that is still valid, the renewal to
    write over the Lease we last saw, without reading it first. None: take the slow path."""
    if observation is None or observation.record.holder_identity != identity or not observation.valid_at(now):
        return None
    old = observation.record
    return LeaderElectionRecord(identity, lease_duration_seconds(lease_duration_s), old.acquire_time, wall_now,
                                old.leader_transitions)


def release_record(observation: Observation | None, *, identity: str,
                   wall_now: datetime) -> LeaderElectionRecord | None:
    """client-go release(): no holder, a 1 s duration, times now, transitions kept; None when not ours."""
    if observation is None or observation.record.holder_identity != identity:
        return None
    return LeaderElectionRecord("", RELEASED_LEASE_DURATION_SECONDS, wall_now, wall_now,
                                observation.record.leader_transitions)


def jittered(period_s: float, rng: random.Random) -> float:
    """wait.Jitter(period, JitterFactor): somewhere in [period, period * (1 + JitterFactor))."""
    return period_s + rng.random() * JITTER_FACTOR * period_s


# -- the loop ----------------------------------------------------------------------------------------------------------
class LeaseApi(Protocol):
    """What the elector needs of kubescale.kubeclient.KubeClient."""

    async def get(self, path: str) -> Any: ...
    async def create(self, path: str, body: Any) -> Any: ...
    async def update(self, path: str, body: Any) -> Any: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LeaderElector:
    """Runs a callback while this process holds the lease (client-go LeaderElector.Run)."""

    def __init__(self, client: LeaseApi, config: LeaderElectionConfig, *,
                 clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], datetime] = _utc_now,
                 rng: random.Random | None = None) -> None:
        self.client = client
        self.config = config
        self._clock = clock
        self._wall_clock = wall_clock
        self._rng = rng or random.Random()
        self._observation: Observation | None = None
        self._lease: dict[str, Any] | None = None  # the Lease last read or written: its resourceVersion guards updates
        self._leading = False
        self._reported_leader = ""

    @property
    def leader_identity(self) -> str:
        """The holder last observed ("" before the first read, or when the lease is free)."""
        return self._observation.record.holder_identity if self._observation else ""

    def is_leader(self) -> bool:
        """True from acquiring the lease until leading stops (lost, cancelled or the callback ended)."""
        return self._leading

    async def run(self, on_started_leading: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Acquire the lease, run `on_started_leading()` as a task and renew until renewal fails for a whole renew
        deadline; then cancel the task (awaiting its end), release the lease when `release_on_cancel`, and
        return: the caller should exit, as kube-controller-manager does. When the callback ends by itself, stop
        leading the same way and return (re-raising its exception). Cancelling `run` does the same cleanup and
        propagates the cancellation. API and connection errors are logged and retried, never raised."""
        await self._acquire()
        self._leading = True
        leading = asyncio.create_task(on_started_leading(), name=f"leading {self.config.describe()}")
        renewing = asyncio.create_task(self._renew(), name=f"renewing {self.config.describe()}")
        try:
            await asyncio.wait({leading, renewing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._leading = False
            for task in (renewing, leading):
                task.cancel()
            await asyncio.wait({leading, renewing})
            if self.config.release_on_cancel:
                await self._release()
        error = None if leading.cancelled() else leading.exception()
        if error is not None:
            raise error

    async def _acquire(self) -> None:
        desc = self.config.describe()
        log.info("attempting to acquire leader lease %s...", desc)
        while True:
            try:  # one try may take no longer than a renewal round may
                async with asyncio.timeout(self.config.renew_deadline_s):
                    acquired = await self._try_acquire_or_renew()
            except TimeoutError:
                log.error("acquiring lease %s: no answer within %ss", desc, self.config.renew_deadline_s)
                acquired = False
            self._maybe_report_transition()
            if acquired:
                log.info("successfully acquired lease %s", desc)
                return
            log.debug("failed to acquire lease %s", desc)
            await asyncio.sleep(jittered(self.config.retry_period_s, self._rng))

    async def _renew(self) -> None:
        """Renew every retry period; return once a round has not succeeded within the renew deadline."""
        desc = self.config.describe()
        while True:
            try:
                async with asyncio.timeout(self.config.renew_deadline_s):
                    while not await self._try_acquire_or_renew():
                        await asyncio.sleep(self.config.retry_period_s)
            except TimeoutError:
                self._maybe_report_transition()
                log.info("failed to renew lease %s: timed out waiting for the condition", desc)
                return
            self._maybe_report_transition()
            log.debug("successfully renewed lease %s", desc)
            await asyncio.sleep(self.config.retry_period_s)

    async def _try_acquire_or_renew(self) -> bool:
        c = self.config
        fast = optimistic_renewal(self._observation, identity=c.identity, lease_duration_s=c.lease_duration_s,
                                  now=self._clock(), wall_now=self._wall_clock())
        if fast is not None and self._lease is not None:
            try:
                await self._update(fast)
                return True
            except Exception as e:  # anything: the slow path reads the lease again
                log.error("Failed to update lock optimistically: %s, falling back to slow path", e)
        try:
            lease = await self.client.get(c.path)
            record = record_from_lease(lease)
        except ApiError as e:
            if e.status != 404:
                log.error("error retrieving resource lock %s: %s", c.describe(), e)
                return False
            lease, record = None, None
        except Exception as e:  # connection errors, unreadable leases: retried like any failed try
            log.error("error retrieving resource lock %s: %s", c.describe(), e)
            return False
        if record is not None:
            self._lease = lease
            self._observation = observe(self._observation, record, now=self._clock())
        decision = decide(self._observation if record is not None else None, identity=c.identity,
                          lease_duration_s=c.lease_duration_s, now=self._clock(), wall_now=self._wall_clock())
        if decision.record is None:
            log.debug("lease %s: %s", c.describe(), decision.reason)
            return False
        try:
            if decision.action is Action.CREATE:
                await self._create(decision.record)
            else:
                await self._update(decision.record)
        except Exception as e:  # 409 Conflict: someone else wrote first; not leader this round
            log.error("%s lease %s (%s): %s", decision.action.value, c.describe(), decision.reason, e)
            return False
        return True

    async def _create(self, record: LeaderElectionRecord) -> None:
        c = self.config
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": c.lease_name, "namespace": c.lease_namespace}, "spec": lease_spec(record)}
        collection = c.path.rsplit("/", 1)[0]
        self._lease = await self.client.create(collection, body)
        self._observation = Observation(record, self._clock())

    async def _update(self, record: LeaderElectionRecord) -> None:
        """Write `record` over the Lease last seen, keeping its other spec fields; its resourceVersion makes a
        concurrent write a 409 Conflict."""
        assert self._lease is not None
        body = {**self._lease, "spec": {**(self._lease.get("spec") or {}), **lease_spec(record)}}
        self._lease = await self.client.update(self.config.path, body)
        self._observation = Observation(record, self._clock())

    async def _release(self) -> None:
        record = release_record(self._observation, identity=self.config.identity, wall_now=self._wall_clock())
        if record is None or self._lease is None:
            return
        try:
            async with asyncio.timeout(self.config.renew_deadline_s):
                await self._update(record)
            log.info("released lease %s", self.config.describe())
        except Exception as e:
            log.error("Failed to release lock: %s", e)

    def _maybe_report_transition(self) -> None:
        holder = self.leader_identity
        if holder != self._reported_leader:
            self._reported_leader = holder
            log.info("new leader observed on lease %s: %s", self.config.describe(), holder or "(none)")


# -- flags -------------------------------------------------------------------------------------------------------------
class _FlagSet(Protocol):
    def add_argument(self, *args: Any, **kwargs: Any) -> Any: ...


def go_bool(text: str) -> bool:
    """Go's strconv.ParseBool, as an argparse `type=`."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise argparse.ArgumentTypeError(f'strconv.ParseBool: parsing "{text}": invalid syntax')


def add_leader_election_flags(flags: _FlagSet, *, default_name: str, default_namespace: str = "kube-system") -> None:
    """kube-controller-manager's leader election flags (component-base BindLeaderElectionFlags) and defaults."""
    flags.add_argument("--leader-elect", type=go_bool, nargs="?", const=True, default=True, metavar="BOOL",
                       help="Start a leader election client and gain leadership before executing the main loop. "
                            "Enable this when running replicated components for high availability. (default true)")
    flags.add_argument("--leader-elect-lease-duration", type=go_duration_s, default=15.0, metavar="DURATION",
                       help="The duration that non-leader candidates will wait after observing a leadership renewal "
                            "until attempting to acquire leadership of a led but unrenewed leader slot. This is "
                            "effectively the maximum duration that a leader can be stopped before it is replaced by "
                            "another candidate. This is only applicable if leader election is enabled. "
                            "(default 15s)")
    flags.add_argument("--leader-elect-renew-deadline", type=go_duration_s, default=10.0, metavar="DURATION",
                       help="The interval between attempts by the acting master to renew a leadership slot before "
                            "it stops leading. This must be less than the lease duration. This is only applicable "
                            "if leader election is enabled. (default 10s)")
    flags.add_argument("--leader-elect-retry-period", type=go_duration_s, default=2.0, metavar="DURATION",
                       help="The duration the clients should wait between attempting acquisition and renewal of a "
                            "leadership. This is only applicable if leader election is enabled. (default 2s)")
    flags.add_argument("--leader-elect-resource-lock", choices=RESOURCE_LOCKS, default="leases",
                       help="The type of resource object that is used for locking during leader election. "
                            "Supported options are 'leases'. (default \"leases\")")
    flags.add_argument("--leader-elect-resource-name", default=default_name, metavar="NAME",
                       help="The name of resource object that is used for locking during leader election. "
                            f'(default "{default_name}")')
    flags.add_argument("--leader-elect-resource-namespace", default=default_namespace, metavar="NAMESPACE",
                       help="The namespace of resource object that is used for locking during leader election. "
                            f'(default "{default_namespace}")')


def default_identity() -> str:
    """kube-controller-manager's: the hostname, "_", a random UUID."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


def leader_election_config(args: argparse.Namespace, identity: str | None = None) -> LeaderElectionConfig | None:
    """The config the --leader-elect* flags describe; None with --leader-elect=false. ValueError (naming the
    flags) when the durations are inconsistent."""
    if not args.leader_elect:
        return None
    try:
        return LeaderElectionConfig(
            lease_namespace=args.leader_elect_resource_namespace, lease_name=args.leader_elect_resource_name,
            identity=identity or default_identity(), lease_duration_s=args.leader_elect_lease_duration,
            renew_deadline_s=args.leader_elect_renew_deadline, retry_period_s=args.leader_elect_retry_period)
    except ValueError as e:
        raise ValueError(f"--leader-elect-lease-duration, --leader-elect-renew-deadline, "
                         f"--leader-elect-retry-period, --leader-elect-resource-name, "
                         f"--leader-elect-resource-namespace: {e}") from None


__all__ = [
    "JITTER_FACTOR", "Action", "Decision", "LeaderElectionConfig", "LeaderElectionRecord", "LeaderElector",
    "LeaseApi", "Observation", "add_leader_election_flags", "decide", "default_identity", "format_micro_time",
    "go_bool", "jittered", "leader_election_config", "lease_spec", "observe", "optimistic_renewal",
    "parse_micro_time", "record_from_lease", "release_record",
]
