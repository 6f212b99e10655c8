"""Checking a finished dataset folder against its record, like ``sha256sum -c``: :func:`verify_dataset`.

Nothing is locked or written: verifying is reading (several at once, read-only
media, another user's folder).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .folder import MANIFEST, OWNER, SUMS, TOOL, _lstat, _owner
from .record import ManifestError, _read_sums, file_digest, foreign_files, read_manifest

__all__ = ["Problem", "verify_dataset"]


@dataclass(frozen=True)
class Problem:
    """One file of a dataset that does not match its record (``path`` relative to the folder)."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: FAILED ({self.reason})"


def verify_dataset(folder: str | os.PathLike, expected: Callable[[dict], Iterable[str]] | None = None
                   ) -> list[Problem]:
    """Check a finished dataset folder against its record, like ``sha256sum -c``.

    Parameters
    ----------
    folder : path
        A folder written by an export.
    expected : callable, optional
        ``expected(manifest)`` yields the paths the dataset must hold
        (default: those of :func:`.prepare.expected_files`).

    Returns
    -------
    list of Problem
        Empty when every file matches: each recorded file is present (a
        regular file, not a link) with the recorded SHA-256, every file the
        manifest implies is recorded, no other file sits at one of this tool's
        names, and the manifest says the export completed.

    Raises
    ------
    ManifestError
        No manifest of this tool in ``folder`` (one line).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    manifest = read_manifest(folder)
    if manifest is None:
        raise ManifestError(f"{folder} has no {MANIFEST}: not a dataset folder written by {TOOL}")
    # No lock is taken and nothing is written: verifying is reading (several at once, read-only
    # media, another user's folder). A run writing here keeps its manifest incomplete, and a
    # manifest that changes while we read is reported.
    problems = []
    if not manifest["complete"]:
        writer = f" (a run may be writing it now: {_owner(folder)})" if _lstat(folder / OWNER) else ""
        problems.append(Problem(MANIFEST, f"the export did not finish{writer}; finish it with --resume"))
    if "checksums" not in manifest:
        if manifest.get("version") in ("0.1.0", "0.2.0"):
            problems.append(Problem(SUMS, f"not recorded: version {manifest['version']} recorded no files, "
                                          "so nothing can be verified"))
        return problems
    got = file_digest(folder / SUMS)
    if got is None or got[1] != manifest["checksums"]["sha256"]:
        problems.append(Problem(SUMS, "missing" if got is None else "does not match the manifest"))
        return problems
    records = _read_sums(folder, manifest)
    if expected is None:
        from .prepare import expected_files

        expected = expected_files
    for rel in expected(manifest):
        if rel not in records:
            problems.append(Problem(rel, "part of the dataset but not recorded"))
    for rel, (sha, _) in records.items():
        got = file_digest(folder / rel)
        if got is None:
            st = _lstat(folder / rel)
            problems.append(Problem(rel, "missing" if st is None else "not a regular file"
                                    if not stat.S_ISREG(st.st_mode) else "unreadable"))
        elif got[1] != sha:
            problems.append(Problem(rel, f"sha256 {got[1][:12]}..., recorded {sha[:12]}..."))
    problems += [Problem(rel, "not part of this dataset") for rel in foreign_files(folder, records, manifest)]
    if read_manifest(folder) != manifest:
        problems.append(Problem(MANIFEST, "changed while it was verified (a run is writing the folder?)"))
    return sorted(problems, key=lambda p: p.path)
