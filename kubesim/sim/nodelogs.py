"""Each simulated node's kernel log, written where a node-problem-detector agent can read it:
`<dir>/<node>/kern.log` in syslog's kern.log format (what NPD's `filelog` plugin parses with
kernel-monitor-filelog.json) and, optionally, `<dir>/<node>/kmsg` with /dev/kmsg records
(`priority,sequence,microseconds,flags;message`).

Problem lines (OOM kill, hung task, read-only remount, oops, ...) are written as the kernel prints them,
so that NPD's default kernel-monitor rules match them (each rule is anchored at the end of the buffered
log: the matching line is the last one a problem writes, or is followed only by lines NPD ignores).
Only file appends here; the caller passes `now`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

# /dev/kmsg levels (facility 0, kernel)
CRIT, ERR, WARNING, INFO = 2, 3, 4, 6
Lines = list[tuple[int, str]]


@dataclass(frozen=True, slots=True)
class Problem:
    """A kernel problem: the lines it logs and the NPD default rule reason they trigger (None: no default
    rule matches; useful for custom rules)."""

    lines: Callable[..., Lines]
    reason: str | None


def _oom_kill(*, process: str = "python3", pid: int = 4242, total_vm_kb: int = 1_048_576,
              anon_rss_kb: int = 524_288, file_rss_kb: int = 0, cgroup: str = "/kubepods.slice") -> Lines:
    return [
        (WARNING, f"{process} invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=999"),
        (INFO, f"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg={cgroup},"
               f"task_memcg={cgroup},task={process},pid={pid},uid=0"),
        (ERR, f"Memory cgroup out of memory: Killed process {pid} ({process}) total-vm:{total_vm_kb}kB, "
              f"anon-rss:{anon_rss_kb}kB, file-rss:{file_rss_kb}kB, shmem-rss:0kB, UID:0 "
              f"pgtables:{max(4, total_vm_kb // 512)}kB oom_score_adj:999"),
    ]


def _task_hung(*, task: str = "jbd2/sda1-8", pid: int = 311, seconds: int = 120) -> Lines:
    return [(ERR, f"INFO: task {task}:{pid} blocked for more than {seconds} seconds."),
            (ERR, "      Not tainted 6.1.0-kubesim-amd64 #1 Debian 6.1.0"),
            (ERR, '"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.')]


def _readonly_remount(*, device: str = "sda1") -> Lines:
    return [(CRIT, f"EXT4-fs error (device {device}): ext4_journal_check_start:83: comm kworker/u8:2: "
                   "Detected aborted journal"),
            (CRIT, f"EXT4-fs ({device}): Remounting filesystem read-only")]


PROBLEMS: dict[str, Problem] = {
    "oom_kill": Problem(_oom_kill, "OOMKilling"),
    "task_hung": Problem(_task_hung, "TaskHung"),
    "docker_hung": Problem(lambda *, pid=1877, seconds=120: _task_hung(task="docker", pid=pid, seconds=seconds),
                           "DockerHung"),
    "readonly_remount": Problem(_readonly_remount, "FilesystemIsReadOnly"),
    "kernel_oops": Problem(lambda *, address="0000000000000010": [
        (CRIT, f"BUG: unable to handle kernel NULL pointer dereference at {address}")], "KernelOops"),
    "divide_error": Problem(lambda: [(WARNING, "divide error: 0000 [#1] SMP")], "KernelOops"),
    "kernel_bug": Problem(lambda *, where="mm/slub.c:4023": [
        (CRIT, f"kernel BUG at {where}!"), (WARNING, "invalid opcode: 0000 [#1] PREEMPT SMP NOPTI")], None),
    "unregister_netdevice": Problem(lambda *, device="eth0", count=1: [
        (ERR, f"unregister_netdevice: waiting for {device} to become free. Usage count = {count}")],
        "UnregisterNetDevice"),
    "ext4_error": Problem(lambda *, device="sda1": [
        (CRIT, f"EXT4-fs error (device {device}): ext4_find_entry:1455: inode #2: comm ls: "
               "reading directory lblock 0")], "Ext4Error"),
    "ext4_warning": Problem(lambda *, device="sda1": [
        (WARNING, f"EXT4-fs warning (device {device}): ext4_dx_add_entry:2461: Directory index full!")],
        "Ext4Warning"),
    "io_error": Problem(lambda *, device="sda1", block=0: [
        (ERR, f"Buffer I/O error on dev {device}, logical block {block}, async page read")], "IOError"),
    "xfs_shutdown": Problem(lambda *, device="sdb1": [
        (CRIT, f"XFS ({device}): Corruption of in-memory data detected.  Shutting down filesystem")],
        "XfsHasShutdown"),
    "memory_read_error": Problem(lambda: [
        (ERR, "CE memory read error on CPU_SrcID#0_Ha#0_Chan#1_DIMM#0 (channel:1 slot:0 page:0x2f8e3 "
              "offset:0x0 grain:32 syndrome:0x0 - area:DRAM err_code:0001:0091 socket:0 ha:0 "
              "channel_mask:2 rank:0)")], "MemoryReadError"),
    "tcp_mem_overflow": Problem(lambda: [(WARNING, "TCP: out of memory -- consider tuning tcp_mem")],
                                "TCPMemOverFlow"),
}


def _boot_lines(node: str) -> Lines:
    return [(INFO, "Linux version 6.1.0-kubesim-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian "
                   "12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.0"),
            (INFO, "Command line: BOOT_IMAGE=/boot/vmlinuz-6.1.0-kubesim-amd64 root=/dev/sda1 ro"),
            (INFO, f"systemd[1]: Set hostname to <{node}>.")]


@dataclass(slots=True)
class _Node:
    directory: Path
    boot_time: float
    sequence: int = 0


class NodeLogs:
    """Kernel logs of the simulated nodes under one directory."""

    def __init__(self, directory: str | Path, *, kmsg: bool = True) -> None:
        self.directory = Path(directory)
        self.kmsg = kmsg
        self._nodes: dict[str, _Node] = {}

    def register(self, node: str, *, now: float, uptime_s: float = 5.0) -> Path:
        """Start a node's log (its kernel booted `uptime_s` ago) with the boot lines; returns its directory."""
        d = self.directory / node
        d.mkdir(parents=True, exist_ok=True)
        self._nodes[node] = _Node(d, now - uptime_s)
        self._write(node, _boot_lines(node), now=now - uptime_s + 0.5)
        return d

    def forget(self, node: str) -> None:
        """Stop writing for a node (its files stay, as a terminated VM's disk would for a while)."""
        self._nodes.pop(node, None)

    def kern_log(self, node: str) -> Path:
        return self.directory / node / "kern.log"

    def kmsg_path(self, node: str) -> Path:
        return self.directory / node / "kmsg"

    def append(self, node: str, line: str, *, now: float, priority: int = INFO) -> None:
        """One kernel message, stamped `now`."""
        self._write(node, [(priority, line)], now=now)

    def problem(self, node: str, kind: str, *, now: float, **params: object) -> list[str]:
        """Log a kernel problem (see PROBLEMS); returns the messages written."""
        p = PROBLEMS.get(kind)
        if p is None:
            raise ValueError(f"unknown kernel problem {kind!r}; known: {', '.join(sorted(PROBLEMS))}")
        lines = p.lines(**params)
        self._write(node, lines, now=now)
        return [msg for _prio, msg in lines]

    def _write(self, node: str, lines: Lines, *, now: float) -> None:
        n = self._nodes.get(node)
        if n is None:
            raise KeyError(f"node {node!r} has no kernel log; register it first")
        uptime = max(0.0, now - n.boot_time)
        secs, usecs = divmod(round(uptime * 1e6), 1_000_000)
        stamp = datetime.fromtimestamp(now)  # syslog writes local time
        prefix = f"{stamp:%b} {stamp.day:2d} {stamp:%H:%M:%S} {node} kernel: [{secs:5d}.{usecs:06d}] "
        with open(n.directory / "kern.log", "a", encoding="utf-8") as f:
            f.write("".join(f"{prefix}{msg}\n" for _prio, msg in lines))
        if self.kmsg:
            records = []
            for prio, msg in lines:
                records.append(f"{prio},{n.sequence},{secs * 1_000_000 + usecs},-;{msg}\n")
                n.sequence += 1
            with open(n.directory / "kmsg", "a", encoding="utf-8") as f:
                f.write("".join(records))
