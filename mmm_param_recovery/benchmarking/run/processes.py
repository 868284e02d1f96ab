"""The fit child's process tree, seen from its parent: memory, kills, deaths, stops.

Linux/POSIX helpers that ``isolation`` uses to supervise a fit: the summed RSS of a
process tree, SIGKILL of a whole tree, a ``preexec_fn`` that makes the child die with its
parent (``prctl(PR_SET_PDEATHSIG)``), the kernel's OOM-kill counters and the sentence that
says who killed a child, and the process-wide stop flag the runner sets on SIGINT/SIGTERM.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import psutil

_PR_SET_PDEATHSIG = 1
_STOP = threading.Event()


def request_stop() -> None:
    """Make every running fit of this process kill its child, and every queued one give
    up (the runner calls this on SIGINT/SIGTERM)."""
    _STOP.set()


def clear_stop() -> None:
    """Undo ``request_stop`` (the runner calls this when a run starts)."""
    _STOP.clear()


def stop_requested() -> bool:
    """Whether ``request_stop`` was called since the last ``clear_stop``."""
    return _STOP.is_set()


def tree_rss(process: psutil.Process) -> int:
    """Summed RSS (bytes) of ``process`` and all its descendants; 0 once it is gone."""
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for member in members:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += member.memory_info().rss
    return total


def kill_tree(child: subprocess.Popen) -> None:
    """SIGKILL the child's process group and any descendant that left it."""
    try:
        descendants = psutil.Process(child.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
    for process in descendants:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    child.wait()


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive SIGKILL when this process dies
    (Linux ``prctl(PR_SET_PDEATHSIG)``), or None where that is not available. The libc
    function is looked up here, before the fork, so the child only makes one call."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                      ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _cgroup_memory_events() -> Path | None:
    """memory.events of this process's cgroup (cgroup v2), or None."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("0::"):
            return Path("/sys/fs/cgroup") / line[3:].lstrip("/") / "memory.events"
    return None


def oom_kill_counts() -> tuple[int | None, ...]:
    """The kernel's OOM-kill counters: ``oom_kill`` of this cgroup's memory.events and of
    /proc/vmstat (None for one that cannot be read)."""
    counts: list[int | None] = []
    for path in (_cgroup_memory_events(), Path("/proc/vmstat")):
        value = None
        try:
            for line in path.read_text().splitlines() if path is not None else []:
                name, _, number = line.partition(" ")
                if name == "oom_kill":
                    value = int(number)
        except (OSError, ValueError):
            value = None
        counts.append(value)
    return tuple(counts)


def oom_killed(before: tuple[int | None, ...], after: tuple[int | None, ...]) -> bool | None:
    """True when an OOM-kill counter rose during the fit, False when at least one could
    be read both times and none rose, None when the system did not say."""
    pairs = [(b, a) for b, a in zip(before, after, strict=False)
             if b is not None and a is not None]
    if not pairs:
        return None
    return any(a > b for b, a in pairs)


def killed_by(number: int, oom_kills_before: tuple[int | None, ...],
              oom_kills_after: tuple[int | None, ...]) -> str:
    """Who killed the child, as far as the system says (never this benchmark: a timeout
    or an interrupt is reported before this is asked)."""
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    if number != signal.SIGKILL:
        return f"fit process killed by {name}"
    oom = oom_killed(oom_kills_before, oom_kills_after)
    if oom:
        return ("fit process killed by the out-of-memory killer (SIGKILL; the kernel's "
                "oom_kill count rose during the fit)")
    if oom is False:
        return ("fit process killed by SIGKILL from another process (not by this "
                "benchmark's timeout, and the kernel's oom_kill count did not change, so not "
                "the out-of-memory killer)")
    return ("fit process killed by SIGKILL (not by this benchmark's timeout; the OOM killer "
            "or another process)")
