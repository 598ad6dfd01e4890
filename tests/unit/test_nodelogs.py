"""kubesim.sim.nodelogs: kern.log lines parse with node-problem-detector's filelog settings, kmsg records
with the /dev/kmsg layout, and every problem triggers the reason NPD's default kernel-monitor rules give
it, matched as NPD matches (pattern anchored at the end of the buffered log, checked after each line)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest

from kubesim.sim import nodelogs
from kubesim.sim.nodelogs import NodeLogs

NOW = 1_700_000_000.0

# node-problem-detector config/kernel-monitor.json and kernel-monitor-filelog.json (rules: reason, pattern)
KERNEL_MONITOR = [
    ("OOMKilling", r"Killed process \d+ (.+) total-vm:\d+kB, anon-rss:\d+kB, file-rss:\d+kB.*"),
    ("TaskHung", r"task [\S ]+:\w+ blocked for more than \w+ seconds\."),
    ("UnregisterNetDevice", r"unregister_netdevice: waiting for \w+ to become free. Usage count = \d+"),
    ("KernelOops", r"BUG: unable to handle kernel NULL pointer dereference at .*"),
    ("KernelOops", r"divide error: 0000 \[#\d+\] SMP"),
    ("Ext4Error", r"EXT4-fs error .*"),
    ("Ext4Warning", r"EXT4-fs warning .*"),
    ("IOError", r"Buffer I/O error .*"),
    ("XfsHasShutdown", r"XFS .* Shutting down filesystem.?"),
    ("MemoryReadError", r"CE memory read error .*"),
    ("DockerHung", r"task docker:\w+ blocked for more than \w+ seconds\."),
    ("FilesystemIsReadOnly", r"Remounting filesystem read-only"),
    # kernel-monitor-filelog.json only
    ("TaskHung", r"task \S+:\w+ blocked for more than \w+ seconds\."),
    ("TCPMemOverFlow", r"TCP: out of memory -- consider tuning tcp_mem"),
]
# what a problem triggers besides its own reason, as on a real node
ALSO = {"docker_hung": {"TaskHung"}, "readonly_remount": {"Ext4Error"}}
FILELOG_TIMESTAMP, FILELOG_MESSAGE = re.compile(r"^.{15}"), re.compile(r"kernel: \[.*\] (.*)")


def npd_reasons(messages: list[str], buffer_size: int = 10) -> set[str]:
    """The reasons NPD's log monitor reports while the messages arrive one by one (logBuffer.Match)."""
    found: set[str] = set()
    buffer: list[str] = []
    for msg in messages:
        buffer = [*buffer, msg][-buffer_size:]
        joined = "\n".join(buffer)
        found |= {reason for reason, pattern in KERNEL_MONITOR if re.search(pattern + r"\Z", joined)}
    return found


@pytest.mark.parametrize("kind", sorted(nodelogs.PROBLEMS))
def test_each_problem_triggers_its_npd_reason(tmp_path: Path, kind: str) -> None:
    logs = NodeLogs(tmp_path)
    logs.register("n1", now=NOW)
    messages = logs.problem("n1", kind, now=NOW + 10)
    # as the kmsg plugin reads the records: "priority,sequence,microseconds,flags;message"
    records = logs.kmsg_path("n1").read_text().splitlines()[-len(messages):]
    assert [r.split(";", 1)[1] for r in records] == messages
    want = nodelogs.PROBLEMS[kind].reason
    assert npd_reasons(messages) == ({want} - {None}) | ALSO.get(kind, set())
    # as the filelog plugin reads kern.log; its greedy `kernel: \[.*\] (.*)` keeps only what follows the last
    # "]" of a line, so a message with a "]" of its own (divide error, kernel BUG) reaches NPD cut (upstream's)
    lines = logs.kern_log("n1").read_text().splitlines()[-len(messages):]
    seen = [FILELOG_MESSAGE.search(line).group(1) for line in lines]  # type: ignore[union-attr]
    assert seen == [m if "]" not in m else m.rsplit("]", 1)[1].lstrip() for m in messages]


@pytest.mark.parametrize(("kind", "params", "fragment"), [
    pytest.param("oom_kill", {"process": "java", "pid": 77}, "Killed process 77 (java) total-vm:", id="oom"),
    pytest.param("task_hung", {"task": "kworker/0:1", "pid": 9, "seconds": 240},
                 "INFO: task kworker/0:1:9 blocked for more than 240 seconds.", id="hung"),
    pytest.param("readonly_remount", {"device": "nvme0n1p1"}, "EXT4-fs (nvme0n1p1): Remounting filesystem read-only",
                 id="remount"),
])
def test_problem_parameters(tmp_path: Path, kind: str, params: dict[str, object], fragment: str) -> None:
    logs = NodeLogs(tmp_path)
    logs.register("n1", now=NOW)
    assert any(fragment in m for m in logs.problem("n1", kind, now=NOW, **params))


def test_kern_log_line_format(tmp_path: Path) -> None:
    logs = NodeLogs(tmp_path, kmsg=False)
    logs.register("node-a", now=NOW, uptime_s=100.0)
    logs.append("node-a", "hello kernel", now=NOW + 0.25)
    last = logs.kern_log("node-a").read_text().splitlines()[-1]
    local = datetime.fromtimestamp(NOW + 0.25)
    assert last == f"{local:%b} {local.day:2d} {local:%H:%M:%S} node-a kernel: [  100.250000] hello kernel"
    stamp = FILELOG_TIMESTAMP.match(last).group(0)  # type: ignore[union-attr]
    parsed = datetime.strptime(f"{local.year} {stamp}", "%Y %b %d %H:%M:%S")  # Go layout "Jan _2 15:04:05"
    assert parsed == local.replace(microsecond=0)
    assert not logs.kmsg_path("node-a").exists()


def test_kmsg_records(tmp_path: Path) -> None:
    logs = NodeLogs(tmp_path)
    logs.register("n1", now=NOW, uptime_s=10.0)
    logs.problem("n1", "oom_kill", now=NOW + 1.5)
    records = logs.kmsg_path("n1").read_text().splitlines()
    prio, seq, usec, rest = records[-1].split(",", 3)
    assert (prio, seq, usec) == ("3", str(len(records) - 1), "11500000")
    assert rest.startswith("-;Memory cgroup out of memory: Killed process")
    assert [int(r.split(",")[1]) for r in records] == list(range(len(records)))


def test_unknown_problem_and_unregistered_node(tmp_path: Path) -> None:
    logs = NodeLogs(tmp_path)
    with pytest.raises(KeyError, match="register it first"):
        logs.append("ghost", "x", now=NOW)
    logs.register("n1", now=NOW)
    with pytest.raises(ValueError, match=r"known: .*oom_kill"):
        logs.problem("n1", "meltdown", now=NOW)
