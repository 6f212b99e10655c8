"""A dataset folder's record: its manifest, the journal and ``SHA256SUMS`` of the files written, and
which files are therefore this tool's.

* **A record of what was written.** Before a file is renamed into place, its
  path, size and SHA-256 are appended to ``.mnist-export.journal`` (intent
  first, so no file of ours is ever unrecorded, even if the run is killed
  between the two steps). A finished export turns the journal into
  ``SHA256SUMS`` (the ``sha256sum`` format: ``sha256sum -c SHA256SUMS`` works in
  the folder), whose own SHA-256 the manifest records.
* **Ownership.** Only files named in that record (and a manifest of ours) are
  this tool's: ``resume`` and ``force`` replace or delete those and refuse any
  other file at one of our names (:func:`refuse_foreign`); every recorded path
  must be one of our names (:func:`.folder.is_ours`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .._files import atomic_write
from .folder import (
    JOURNAL,
    MANIFEST,
    SUMS,
    TOOL,
    _lstat,
    _open_regular,
    existing_names,
    is_ours,
)

__all__ = ["HashingFile", "Journal", "ManifestError", "Problem", "Streamed", "file_digest", "foreign_files",
           "owned_records", "parse_sums", "read_manifest", "refuse_foreign", "unverified", "write_manifest"]

log = logging.getLogger(__name__)


_RECORD = re.compile(r"([0-9a-f]{64}) (\d+) (\S+)")  # journal: sha256 size path
_SUM = re.compile(r"([0-9a-f]{64}) [ *](\S+)")  # SHA256SUMS: sha256, two spaces (or " *"), path
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Problem:
    """One file (or sample) of a dataset that does not match its record (``path`` relative to the folder)."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: FAILED ({self.reason})"


class ManifestError(ValueError):
    """A ``manifest.json`` that is not a manifest of this tool, or is damaged."""


# ---------------------------------------------------------------- manifest


def read_manifest(folder: Path) -> dict | None:
    """The folder's manifest, checked to be one of ours; ``None`` when there is none.

    Raises :class:`ManifestError` (one line) for anything else: unreadable,
    not JSON, not a JSON object, written by another tool, or missing the keys
    every manifest of ours has.
    """
    path = folder / MANIFEST
    st = _lstat(path)
    if st is None:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise ManifestError(f"{path} is not a regular file, so not a manifest written by {TOOL}; use another folder")
    try:
        with _open_regular(path) as f:
            text = f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path} is unreadable ({exc}); use another folder") from None
    try:
        manifest = json.loads(text)
    except ValueError as exc:
        raise ManifestError(f"{path} is not valid JSON ({exc}); use another folder") from None
    except RecursionError:  # json's decoder recurses per bracket: 200,000 of them are no manifest of ours
        raise ManifestError(f"{path} is not valid JSON (nested too deeply); use another folder") from None
    if not isinstance(manifest, dict) or manifest.get("tool") != TOOL:
        raise ManifestError(
            f"{path} is not a manifest of {TOOL} (expected a JSON object with \"tool\": \"{TOOL}\"); "
            "this tool never replaces files it did not write: move it, or use another folder"
        )
    if not isinstance(manifest.get("dataset"), dict) or not isinstance(manifest.get("complete"), bool):
        raise ManifestError(f"{path} is damaged (no \"dataset\" object or \"complete\" flag); use another folder")
    checksums = manifest.get("checksums")
    if "checksums" in manifest and not (isinstance(checksums, dict) and isinstance(checksums.get("sha256"), str)):
        raise ManifestError(f"{path} is damaged (\"checksums\" is not an object with a \"sha256\" string); "
                            "use another folder")
    return manifest


def write_manifest(folder: Path, manifest: dict) -> None:
    with atomic_write(folder / MANIFEST) as out:
        out.write((json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())


# ----------------------------------------------------------------- records


def file_digest(path: Path) -> tuple[int, str] | None:
    """``(size, sha256)`` of a regular file, never through a symbolic link; ``None`` if absent or unreadable."""
    try:
        f = _open_regular(path)
    except OSError:
        return None
    sha, size = hashlib.sha256(), 0
    with f:
        try:
            while block := f.read(_CHUNK):
                sha.update(block)
                size += len(block)
        except OSError:
            return None
    return size, sha.hexdigest()


def _read_journal(folder: Path) -> dict[str, tuple[str, int | None]]:
    """Records of the journal; a line cut short by a kill, or naming anything but our files, is skipped."""
    records = {}
    if _lstat(folder / JOURNAL) is None:
        return records
    try:
        with _open_regular(folder / JOURNAL) as journal:
            for raw in journal:  # streamed: a journal can hold millions of lines
                line = raw.decode("utf-8", "replace")
                m = _RECORD.fullmatch(line[:-1]) if line.endswith("\n") else None
                if m and is_ours(m[3]):
                    records[m[3]] = (m[1], int(m[2]))
    except OSError as exc:
        log.warning("%s is unreadable (%s); its records are not used", folder / JOURNAL, exc)
    return records


def _read_sums(folder: Path, manifest: dict | None) -> dict[str, tuple[str, int | None]]:
    """Records of ``SHA256SUMS`` when the manifest vouches for its bytes; else none."""
    want = (manifest or {}).get("checksums", {}).get("sha256") if isinstance(manifest, dict) else None
    got = file_digest(folder / SUMS)
    if not isinstance(want, str) or got is None or got[1] != want:
        if got is not None:
            log.warning("%s does not match its manifest; its entries are not trusted", folder / SUMS)
        return {}
    records = {}
    with _open_regular(folder / SUMS) as sums:  # vouched for just now, so a regular file
        for raw in sums:
            m = _SUM.fullmatch(raw.decode("utf-8", "replace").rstrip("\n"))
            if m and is_ours(m[2]):
                records[m[2]] = (m[1], None)
    return records


def parse_sums(folder: Path) -> tuple[dict[str, tuple[str, None]], int | None]:
    """``(records, bad)``: every record of ``SHA256SUMS`` (read as it is: compare its digest with the
    manifest first), and the number of its first line that is not the record of one of this tool's
    data files (a malformed line, another name, a repeat), or ``None`` when all are."""
    records: dict[str, tuple[str, None]] = {}
    with _open_regular(folder / SUMS) as sums:
        for number, raw in enumerate(sums, start=1):
            m = _SUM.fullmatch(raw.decode("utf-8", "replace").rstrip("\n"))
            if not m or not is_ours(m[2]) or m[2] in records or m[2] in (MANIFEST, SUMS):
                return records, number
            records[m[2]] = (m[1], None)
    return records, None


def _listing(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


class Journal:
    """The record of files written in this run (and kept from before), appended before each rename."""

    def __init__(self, folder: Path, kept: dict[str, tuple[str, int | None]],
                 carried: dict[str, tuple[str, int | None]] | None = None) -> None:
        """``kept``: verified records that stay; ``carried``: every older record, kept in the file (not in
        ``SHA256SUMS``) until this run replaces it, so a file of ours is never unrecorded, even if killed again."""
        self.folder = folder
        self.records = dict(kept)
        for rel, (sha, size) in kept.items():  # SHA256SUMS holds no sizes: take them from the verified files
            if size is None:
                self.records[rel] = (sha, os.lstat(folder / rel).st_size)
        lines = dict(self.records)
        for rel, (sha, size) in (carried or {}).items():
            if rel not in lines and (st := _lstat(folder / rel)) is not None:
                lines[rel] = (sha, st.st_size if size is None else size)
        with atomic_write(folder / JOURNAL) as out:  # a clean, whole file to append to
            out.write("".join(f"{sha} {size} {rel}\n" for rel, (sha, size) in sorted(lines.items())).encode())
        self._out = open(folder / JOURNAL, "ab", buffering=0)  # noqa: SIM115 - open for the run, closed by close()

    def add(self, rel: str, sha256: str, size: int) -> None:
        """Record ``rel`` (call before renaming it into place)."""
        if not is_ours(rel):
            raise ValueError(f"not a name of this tool's dataset files: {rel!r}")
        line = f"{sha256} {size} {rel}\n".encode()
        if self._out.write(line) != len(line):  # unbuffered: in the file before the rename, or an error
            raise OSError(f"{self.folder / JOURNAL}: short write (disk full?)")
        self.records[rel] = (sha256, size)

    def add_bytes(self, rel: str, data: bytes) -> None:
        self.add(rel, hashlib.sha256(data).hexdigest(), len(data))

    def close(self) -> None:
        self._out.close()  # idempotent

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()  # on failure too: an open file could not be removed on some systems

    def write_sums(self) -> str:
        """Write ``SHA256SUMS`` (sorted by path) from the records; return its SHA-256."""
        data = "".join(f"{sha}  {rel}\n" for rel, (sha, _) in sorted(self.records.items())).encode()
        with atomic_write(self.folder / SUMS) as out:
            out.write(data)
        return hashlib.sha256(data).hexdigest()


class Streamed:
    """A file written in pieces to a temporary name (``out``), recorded in ``journal``, then renamed into place."""

    def __init__(self, folder: Path, rel: str, journal: Journal) -> None:
        self.rel, self.journal = rel, journal
        self._context = atomic_write(folder / rel, durable=False)
        self.out = HashingFile(self._context.__enter__())
        self._open = True

    def commit(self) -> None:
        self.out.flush()
        self.journal.add(self.rel, self.out.hexdigest(), self.out.size)
        self._open = False  # the rename below closes the file either way
        self._context.__exit__(None, None, None)

    def abort(self) -> None:
        """Drop the temporary file (nothing once committed, or aborted before)."""
        if self._open:
            self._open = False
            self._context.__exit__(RuntimeError, RuntimeError("aborted"), None)


class HashingFile:
    """A write-only file wrapper that counts and hashes what passes through (``tell`` for tarfile)."""

    def __init__(self, out) -> None:
        self._out = out
        self.size = 0
        self._sha = hashlib.sha256()

    def write(self, data) -> int:
        self._out.write(data)
        self._sha.update(data)
        self.size += len(data)
        return len(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._out.flush()

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


# --------------------------------------------------------------- ownership


def owned_records(folder: Path, manifest: dict | None) -> dict[str, tuple[str, int | None]]:
    """What the folder's record says this tool wrote: ``SHA256SUMS`` (if vouched for) then the journal."""
    if manifest is None:
        return {}
    return {**_read_sums(folder, manifest), **_read_journal(folder)}


def foreign_files(folder: Path, records: dict, manifest: dict | None) -> list[str]:
    """Files at our names that the record does not list (a manifest of ours, and the sums it names, are ours)."""
    ours = set(records) | ({MANIFEST, SUMS} if manifest is not None else set())
    return [rel for rel in existing_names(folder)
            if rel not in ours or not stat.S_ISREG(os.lstat(folder / rel).st_mode)]


def refuse_foreign(folder: Path, records: dict, manifest: dict | None) -> None:
    foreign = foreign_files(folder, records, manifest)
    if foreign and manifest is not None and "checksums" in manifest and not _read_sums(folder, manifest):
        raise ValueError(
            f"{folder / SUMS}, the record of which files this tool wrote there, is missing or does not "
            f"match its {MANIFEST}, so its files cannot be told from yours ({_listing(foreign)}); "
            "restore it, remove the files yourself, or use another folder"
        )
    if foreign:
        older = (f" (version {manifest.get('version')} of this tool recorded no files)"
                 if manifest is not None and manifest.get("version") in ("0.1.0", "0.2.0") else "")
        raise ValueError(
            f"{folder} holds files this tool did not write{older}: {_listing(foreign)}; "
            "they are never replaced: move them, or use another folder"
        )


def unverified(folder: Path, records: dict, rels: Iterable[str]) -> list[str]:
    """The paths in ``rels`` that are not recorded or whose bytes do not match the record, in
    order; each is logged (INFO), since each is made again."""
    bad = []
    for rel in rels:
        record = records.get(rel)
        got = file_digest(folder / rel) if record is not None else None
        if record is None or got is None or got[1] != record[0] or (record[1] is not None and got[0] != record[1]):
            why = ("missing" if _lstat(folder / rel) is None else "not recorded" if record is None
                   else "unreadable" if got is None else "truncated or changed")
            log.info("%s: %s; it is made again", rel, why)
            bad.append(rel)
    return bad
