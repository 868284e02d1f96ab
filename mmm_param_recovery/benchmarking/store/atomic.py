"""The one way this package writes a file: to a unique temporary name, then ``os.replace``.

A reader therefore sees the old file or the new one, never half of one. Temporary names
are ``.{name}.{pid}-{random}.tmp`` in the target's folder (same filesystem, so the rename
is atomic), unique per writer even when two runs write the same file at once.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

TEMP_SUFFIX = ".tmp"


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
