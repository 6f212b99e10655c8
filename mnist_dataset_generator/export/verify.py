"""Checking a finished dataset folder against its record, like ``sha256sum -c``: :func:`verify_dataset`.

Nothing is locked or written: verifying is reading (several at once, read-only
media, another user's folder).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from .. import __version__
from .._progress import ProgressArg
from .folder import LOCK, MANIFEST, OWNER, SUMS, TOOL, _lstat, _owner, data_folders
from .record import ManifestError, Problem, file_digest, parse_sums, read_manifest

__all__ = ["Problem", "verify_dataset"]


def verify_dataset(folder: str | os.PathLike, expected: Callable[[dict], Iterable[str]] | None = None, *,
                   deep: bool = False, workers: int = 1, progress: ProgressArg = None, data_home=None,
                   mirrors=None, deadline: float | None = None) -> list[Problem]:
    """Check a finished dataset folder against its record, like ``sha256sum -c``.

    Parameters
    ----------
    folder : path
        A folder written by an export.
    expected : callable, optional
        ``expected(manifest)`` yields the paths the dataset must hold
        (default: those of :func:`.prepare.expected_files`).
    deep : bool
        Once every file matches its record, make every sample again from the manifest's
        recipe and seed and compare pixels, labels and boxes (:func:`.deep.deep_problems`):
        this catches an image swapped with another valid one, or labels, seed or count
        edited with the checksums rewritten. Needs the MNIST files it was made from
        (``data_home``, ``mirrors``, ``deadline``: see :func:`.mnistdata.load`); ``workers``
        and ``progress`` as for exports.

    Returns
    -------
    list of Problem
        Empty only when every file was checked against a recorded digest and
        matches: the manifest says the export completed and vouches for
        ``SHA256SUMS`` (its SHA-256 and number of records), each of whose lines
        records one of this tool's files; each recorded file is present (a
        regular file, not a link) with the recorded SHA-256; every file the
        manifest implies is recorded; and the folder holds no other file. A
        folder whose record is missing or not to be trusted gives a problem for
        that, and one for each file that could therefore not be checked.

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
    if not manifest["complete"]:  # its files are recorded in its journal, not yet in SHA256SUMS
        writer = f" (a run may be writing it now: {_owner(folder)})" if _lstat(folder / OWNER) else ""
        problems.append(Problem(MANIFEST, f"the export did not finish{writer}; finish it with --resume"))
        return problems
    records = _recorded(folder, manifest, problems)
    if records is None:  # nothing recorded can be trusted: every file is unchecked, none vouched for
        problems += [Problem(rel, "not checked: no recorded digest") for rel in _every_file(folder)
                     if rel not in (MANIFEST, SUMS)]
        if deep:
            problems.append(Problem(MANIFEST, "not checked deeply: its files do not match their record"))
        return sorted(problems, key=lambda p: p.path)
    if expected is None:
        from .prepare import expected_files

        expected = expected_files
    implied = set(expected(manifest))
    for rel in sorted(implied - set(records)):
        problems.append(Problem(rel, "part of the dataset but not recorded"))
    linked = [name for name in data_folders()
              if (st := _lstat(folder / name)) is not None and stat.S_ISLNK(st.st_mode)]
    for rel, (sha, _) in records.items():
        if rel not in implied:  # recorded, yet beyond the samples its manifest describes
            problems.append(Problem(rel, "recorded, but not part of the dataset its manifest describes"))
            continue
        if (behind := rel.partition("/")[0]) in linked:
            problems.append(Problem(rel, f"behind {behind}/, a symbolic link: not read"))
            continue
        got = file_digest(folder / rel)
        if got is None:
            st = _lstat(folder / rel)
            problems.append(Problem(rel, "missing" if st is None else "not a regular file"
                                    if not stat.S_ISREG(st.st_mode) else "unreadable"))
        elif got[1] != sha:
            problems.append(Problem(rel, f"sha256 {got[1][:12]}..., recorded {sha[:12]}..."))
    problems += [Problem(rel, "not part of this dataset") for rel in _every_file(folder)
                 if rel not in records and rel not in (MANIFEST, SUMS) and not _tolerated(folder, rel, manifest)]
    if read_manifest(folder) != manifest:
        problems.append(Problem(MANIFEST, "changed while it was verified (a run is writing the folder?)"))
    if deep and problems:
        problems.append(Problem(MANIFEST, "not checked deeply: its files do not match their record"))
    elif deep:
        from .deep import deep_problems

        problems += deep_problems(folder, manifest, workers=workers, progress=progress, data_home=data_home,
                                  mirrors=mirrors, deadline=deadline, records=records)
    return sorted(problems, key=lambda p: p.path)


def _recorded(folder: Path, manifest: dict, problems: list[Problem]) -> dict[str, tuple[str, None]] | None:
    """Every record of ``SHA256SUMS`` when the manifest vouches for it and each of its lines is a record
    of one of our files; else ``None``, with the reason in ``problems``."""
    version = manifest.get("version")
    if "checksums" not in manifest:
        why = (f"version {version} of this tool recorded no files" if version in ("0.1.0", "0.2.0")
               else f"{MANIFEST} records no checksums")
        problems.append(Problem(SUMS, f"not recorded: {why}, so no file can be checked"))
        return None
    newer = _newer(version)
    if newer:
        problems.append(Problem(MANIFEST, newer))
        return None
    got = file_digest(folder / SUMS)
    if got is None or got[1] != manifest["checksums"]["sha256"]:
        problems.append(Problem(SUMS, "missing" if got is None else "does not match the manifest"))
        return None
    records, bad = parse_sums(folder)
    if bad is not None:
        problems.append(Problem(SUMS, f"line {bad} is not a record of one of this tool's files"))
        return None
    files = manifest["checksums"].get("files")
    if files is not None and files != len(records):
        problems.append(Problem(SUMS, f"holds {len(records)} records, the manifest says {files!r}"))
        return None
    return records


_TOLERATED_BYTES = 1 << 20  # LMDB's lock file: a header and a slot per reader, far below this


def _tolerated(folder: Path, rel: str, manifest: dict) -> bool:
    """A small regular file the readers of this folder's format leave beside its data (``lock.mdb``):
    not the dataset's, no error; in a folder of any other format it is reported as any other file."""
    from .writers import WRITERS

    writer = WRITERS.get(manifest["dataset"].get("format"))
    return (writer is not None and rel in writer.tolerated and (st := _lstat(folder / rel)) is not None
            and stat.S_ISREG(st.st_mode) and st.st_size <= _TOLERATED_BYTES)


def _newer(version) -> str | None:
    """Why a manifest of another version cannot be vouched for by this one, or ``None``."""
    def parts(text):
        return tuple(int(p) for p in text.split("."))

    try:
        theirs = parts(version)
    except (AttributeError, ValueError):
        return f"version {version!r} is not a version of this tool, so its layout is unknown"
    if theirs > parts(__version__):
        return f"written by version {version}, newer than this one ({__version__}): upgrade to verify it"
    return None


def _every_file(folder: Path) -> list[str]:
    """Every entry under ``folder`` (relative, POSIX; links and other non-folders included, never followed;
    empty folders but the formats' data folders and folders that cannot be read too), but this tool's own lock and owner note."""
    found = []

    def unreadable(error: OSError) -> None:
        found.append(Path(error.filename).relative_to(folder).as_posix())

    for root, dirs, files in os.walk(folder, onerror=unreadable):  # os.walk does not follow links to folders
        rel = Path(root).relative_to(folder)
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            path = (rel / name).as_posix()
            if path not in (LOCK, OWNER):
                found.append(path)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
        if not dirs and not files and rel.parts and rel.as_posix() not in data_folders():
            found.append(rel.as_posix() + "/")  # an empty folder of someone's
    return sorted(found)
