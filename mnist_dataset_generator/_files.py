"""Write files so that a crash never leaves a half-written one under its final name.

Every file the package writes goes to a hidden temporary name in the target
folder (``.NAME.<random>.part``), is flushed to disk, then renamed into place
in one atomic step.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write", "new_temp", "remove_partials"]

log = logging.getLogger(__name__)


def new_temp(folder: Path, name: str) -> tuple[Path, BinaryIO]:
    """Create and open ``folder/.NAME.<random>.part`` for writing.

    Created with mode 0o666 minus the umask, like any new file, so that a
    shared cache stays readable by the group after the rename.
    """
    path = folder / f".{name}.{secrets.token_hex(6)}.part"
    return path, open(path, "xb")


def commit(tmp: Path, out: BinaryIO, final: Path, *, overwrite: bool = True, durable: bool = True) -> None:
    """Flush ``out`` (to disk when ``durable``), close it and rename ``tmp`` to ``final`` atomically.

    With ``overwrite=False`` an existing ``final`` is never replaced
    (:class:`FileExistsError`), even by a concurrent writer. Without
    ``durable`` a killed process still leaves no partial file (the rename
    comes last); only a power cut could, which bulk outputs may accept.
    """
    out.flush()
    if durable:
        os.fsync(out.fileno())
    out.close()
    if overwrite:
        os.replace(tmp, final)
        return
    try:
        os.link(tmp, final)  # atomic: fails if final exists
    except FileExistsError:
        raise
    except OSError:  # filesystems without hard links: best effort
        if final.exists():
            raise FileExistsError(f"{final} already exists") from None
        os.replace(tmp, final)
    else:
        tmp.unlink()


@contextlib.contextmanager
def atomic_write(final: str | os.PathLike, *, overwrite: bool = True, durable: bool = True) -> Iterator[BinaryIO]:
    """Context manager yielding a binary file that appears as ``final`` only on success.

    An exception inside the block discards the temporary file and leaves any
    existing ``final`` untouched.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.bin"
    >>> with atomic_write(target) as out:
    ...     _ = out.write(b"done")
    >>> target.read_bytes()
    b'done'
    """
    final = Path(final)
    tmp, out = new_temp(final.parent, final.name)
    try:
        with out:
            yield out
            commit(tmp, out, final, overwrite=overwrite, durable=durable)
    finally:
        tmp.unlink(missing_ok=True)


def remove_partials(folder: Path) -> None:
    """Delete temporary files left by a killed writer (call only under the folder's lock)."""
    for tmp in folder.glob(".*.part"):
        log.info("removing %s left by an interrupted run", tmp)
        tmp.unlink(missing_ok=True)
