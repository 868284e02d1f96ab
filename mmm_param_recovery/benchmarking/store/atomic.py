"""The one way this package writes a file: to a unique temporary name, then ``os.replace``.

A reader therefore sees the old file or the new one, never half of one. Temporary names
are ``.{name}.{pid}-{random}.tmp`` in the target's folder (same filesystem, so the rename
is atomic), unique per writer even when two runs write the same file at once. Staging
folders carry their writer's pid too (``<run>.tmp-<pid>``, ``.data_seed1.tmp-<pid>-<random>``),
so ``remove_stale_temporaries`` can delete whatever a killed writer left behind.

Also here: ``sha256_file`` (the content checksums of the manifests) and ``file_lock``
(an ``fcntl.flock`` lock file, for the per-run-key, per-dataset and summary locks).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import psutil

logger = logging.getLogger(__name__)

TEMP_SUFFIX = ".tmp"
LOCKS = ".locks"
"""Folder of lock files; ``file_lock`` removes its file (and the folder once empty) on
release, so a finished run leaves none behind."""
_TEMP_NAMES = (
    re.compile(r"^\..+\.(\d+)-[0-9a-f]+\.tmp$"),   # atomic_write's temporary files
    re.compile(r"^.+\.tmp-(\d+)(?:-[0-9A-Za-z_]+)?$"),  # staging folders (runs, datasets)
)
_HASH_CHUNK = 1 << 20
_digests: dict[tuple, str] = {}


def temporary_path(path: Path) -> Path:
    """A fresh temporary name next to ``path`` (nothing is created)."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{TEMP_SUFFIX}")


def atomic_write(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(temporary)`` to produce the file, then rename it to ``path``.

    The temporary file is removed if ``write`` raises. Returns ``path``.
    """
    path = Path(path)
    temporary = temporary_path(path)
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented, key-sorted JSON to ``path`` atomically."""
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True))


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of the file's bytes. Cached per (path, inode, size, mtime) within this
    process, so verifying a large posterior several times in one run reads it once."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key not in _digests:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
                digest.update(chunk)
        _digests[key] = digest.hexdigest()
    return _digests[key]


def file_checksums(folder: Path, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{name: {"sha256", "bytes"}}`` of the files ``names`` in ``folder``."""
    return {name: {"sha256": sha256_file(folder / name), "bytes": (folder / name).stat().st_size}
            for name in names}


def checksum_problem(folder: Path, name: str, recorded: Any) -> str | None:
    """Why ``folder/name`` does not match its ``recorded`` checksum entry (None if it does).
    ``recorded``: one ``{"sha256", "bytes"}`` entry or a list of acceptable ones."""
    accepted = recorded if isinstance(recorded, list) else [recorded]
    path = folder / name
    if not path.is_file():
        return None if None in accepted else f"{name} is missing"
    try:
        size, digest = path.stat().st_size, None
        for entry in accepted:
            if isinstance(entry, dict) and entry.get("bytes") == size:
                digest = digest or sha256_file(path)
                if entry.get("sha256") == digest:
                    return None
    except OSError as error:
        return f"{name} cannot be read ({error})"
    return f"{name} differs from its recorded sha256 ({size} bytes)"


class LockWaitCancelled(RuntimeError):
    """``file_lock`` stopped waiting because ``should_stop()`` returned True."""


@contextlib.contextmanager
def file_lock(
    path: str | Path,
    *,
    should_stop: Callable[[], bool] | None = None,
    on_wait: Callable[[], None] | None = None,
    poll_seconds: float = 0.1,
) -> Iterator[float | None]:
    """Hold an exclusive ``fcntl.flock`` lock on ``path`` for the block.

    Waits while another process (or another open of the file in this one) holds it,
    calling ``on_wait()`` once when it has to wait and raising LockWaitCancelled as soon
    as ``should_stop()`` is True. Yields the ``time.time()`` at which the wait began, or
    None when the lock was free. The kernel releases the lock when its holder dies,
    however it dies, so a killed run never leaves anything locked. The holder deletes
    the lock file (and its folder, once empty) on release; a waiter that then acquires
    the deleted file notices (the path no longer names its inode) and locks afresh.
    """
    path = Path(path)
    waited_since = None
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # the folder was removed in between: again
            continue
        try:
            while True:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if waited_since is None:
                        waited_since = time.time()
                        if on_wait is not None:
                            on_wait()
                    if should_stop is not None and should_stop():
                        raise LockWaitCancelled(f"{path}: stopped waiting for the lock") from None
                    time.sleep(poll_seconds)
            held = os.fstat(descriptor)
            try:
                current = os.stat(path)
                same = (current.st_ino, current.st_dev) == (held.st_ino, held.st_dev)
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(descriptor)
            raise
        if same:
            break
        os.close(descriptor)  # we locked a file its last holder had deleted
    try:
        yield waited_since
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        if path.parent.name == LOCKS:
            with contextlib.suppress(OSError):
                path.parent.rmdir()  # only when empty
        os.close(descriptor)  # releases the lock


def writer_pid(name: str) -> int | None:
    """The writer's pid in a temporary file's or staging folder's name (else None)."""
    for pattern in _TEMP_NAMES:
        match = pattern.match(name)
        if match:
            return int(match.group(1))
    return None


def writer_gone(pid: int) -> bool:
    """True when no process ``pid`` exists (and it is not this one)."""
    return pid != os.getpid() and not psutil.pid_exists(pid)


def remove_free_locks(folder: Path) -> list[Path]:
    """Delete the lock files in ``folder`` that nobody holds (a SIGKILLed holder leaves
    its file behind; the kernel has released its lock). Each is deleted while locked, as
    a holder does on release, so a waiter that opened it re-locks afresh."""
    removed = []
    for path in folder.glob("*.lock"):
        try:
            descriptor = os.open(path, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            path.unlink()
            removed.append(path)
        except OSError:  # held by a live run, or gone meanwhile
            pass
        finally:
            os.close(descriptor)
    with contextlib.suppress(OSError):
        folder.rmdir()
    return removed


def remove_stale_temporaries(
    roots: Iterable[Path], on_stale_folder: Callable[[Path], bool] | None = None
) -> list[Path]:
    """Delete temporary files and staging folders under ``roots`` whose writer process is
    gone (a kill during a write), and lock files nobody holds; return what was removed.
    The live writers' temporaries (this process's, a concurrent run's) and held locks are
    left alone.

    ``on_stale_folder(folder)`` is asked first for each stale staging folder and may
    dispose of it itself (e.g. promote a complete run), returning True.
    """
    removed = []
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            continue
        for folder, dirs, files in os.walk(root):
            here = Path(folder)
            for name in list(dirs):
                pid = writer_pid(name)
                if name == LOCKS:
                    dirs.remove(name)
                    removed += remove_free_locks(here / name)
                elif pid is not None and writer_gone(pid):
                    dirs.remove(name)
                    if on_stale_folder is not None and on_stale_folder(here / name):
                        continue
                    shutil.rmtree(here / name, ignore_errors=True)
                    removed.append(here / name)
            for name in files:
                pid = writer_pid(name)
                if pid is not None and writer_gone(pid):
                    with contextlib.suppress(FileNotFoundError):
                        (here / name).unlink()
                        removed.append(here / name)
    for path in removed:
        logger.info("removed %s, left behind by an interrupted run", path)
    return removed
