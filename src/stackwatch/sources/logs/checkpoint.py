"""Checkpoints written atomically: temporary file, fsync, rename, fsync of the directory.

A reader killed at any instant leaves either the previous checkpoint or the new
one, never a torn file; offsets and the counters they produced are in the same
file, so they can never disagree.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from stackwatch.errors import SourceError

log = logging.getLogger(__name__)


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    """The checkpoint at ``path``; ``None`` when there is none. A corrupt one is an error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read checkpoint: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{path}: corrupt checkpoint: {exc}") from None
    if not isinstance(data, dict):
        raise SourceError(f"{path}: corrupt checkpoint: not an object")
    return data


def save_checkpoint(path: Path, data: dict[str, Any]) -> None:
    """Replace the checkpoint at ``path`` atomically and durably."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    payload = json.dumps(data, separators=(",", ":")).encode("utf-8")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as exc:
        raise SourceError(f"{path}: cannot write checkpoint: {exc.strerror}") from None
