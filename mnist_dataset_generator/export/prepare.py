"""Making a folder ready for an export, and refusing one that is not: :func:`check_folder` (early,
before any data is loaded), :func:`prepare_folder` (under the folder's lock), and the clean-up of a
failed run (:func:`_roll_back`, :func:`_remove_empty`).

A non-empty folder is refused unless ``resume`` (the same dataset only: never
mixes two manifests) or ``force`` (deletes the files its record lists); a file
at one of this tool's names that the record does not list is refused either
way. :func:`expected_files` says what a finished export of a manifest holds.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from ..dataset import MAX_COUNT
from .folder import (
    JOURNAL,
    LOCK,
    MANIFEST,
    PREVIEW,
    SUMS,
    FolderLock,
    check_no_links,
    data_folders,
    remove_leftovers,
    remove_recorded,
)
from .record import (
    ManifestError,
    owned_records,
    read_manifest,
    refuse_foreign,
    write_manifest,
)
from .writers import FOLDER_LAYOUT, WRITERS, Options

__all__ = ["check_folder", "expected_files", "prepare_folder"]

log = logging.getLogger(__name__)


def _dataset_key(manifest: dict) -> dict:
    return manifest.get("dataset", {})


def expected_files(manifest: dict) -> list[str]:
    """Every file a finished export of ``manifest`` holds besides the manifest and ``SHA256SUMS``."""
    dataset = manifest["dataset"]
    try:
        start, stop = dataset["indices"]
        count, fmt = dataset["count"], dataset["format"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, stop, count)):
            raise TypeError
    except (KeyError, TypeError, ValueError):
        raise ManifestError("manifest.json is damaged: no \"indices\" [start, stop], \"count\" and "
                            "\"format\"") from None
    if not 0 <= start <= stop <= count <= MAX_COUNT:
        raise ManifestError(f"manifest.json is damaged: indices {[start, stop]} do not lie in 0..count {count} "
                            f"(at most {MAX_COUNT})")
    writer = WRITERS.get(fmt) if isinstance(fmt, str) else None
    if writer is None:
        raise ManifestError(f"manifest.json is damaged: unknown format {fmt!r}")
    try:
        options = Options.from_key(dataset)
    except ValueError as exc:
        raise ManifestError(f"manifest.json is damaged: {exc}") from None
    indices = range(start, stop)
    return [*writer.expected(indices, options), *([PREVIEW] if len(indices) else [])]


def check_folder(folder: str | os.PathLike, *, resume: bool, force: bool, dataset: dict | None = None) -> None:
    """Refuse early (before any data is loaded) what :func:`prepare_folder` would refuse.

    ``dataset`` (from :func:`.exporter.dataset_key`) lets a resume of a different dataset be refused now
    too; only the digit source cannot be compared before it is loaded.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"output folder {folder} exists and is not a folder")
    if not folder.exists():
        parent = next((p for p in folder.absolute().parents if p.exists()), None)
        if parent is not None and not os.access(parent, os.W_OK | os.X_OK):
            raise ValueError(f"cannot create output folder {folder}: {parent} is not writable")
        return
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"output folder {folder} is not writable")
    if (folder / LOCK).exists():
        with FolderLock(folder, record_owner=False):  # a run writing here now is named, whatever else is wrong
            pass
    _refusals(folder, dataset, resume=resume, force=force)


def _busy(folder: Path) -> bool:
    return any(not p.name.startswith(".") for p in folder.iterdir())


def _check_recipe(recipe) -> None:
    """A manifest's recipe must parse (filters recorded as Python callables cannot, and are not tried).

    Its filters are checked as text and never built: a folder someone else wrote must not make
    this tool import a module (it is compared with this run's recipe as text).
    """
    if recipe is None or (isinstance(recipe, dict) and isinstance(recipe.get("filters"), dict)):
        return
    from ..compose.filterspec import check_spec
    from ..recipe import Recipe

    try:
        if isinstance(recipe, dict) and isinstance(recipe.get("filters"), str):
            check_spec(recipe["filters"])
            recipe = {**recipe, "filters": None}
        Recipe.from_json(recipe)
    except ValueError as exc:
        raise ManifestError(f"{MANIFEST}'s recipe does not parse ({exc}); use --force or another folder") from None


def _refusals(folder: Path, dataset: dict | None, *, resume: bool, force: bool) -> tuple[dict | None, dict]:
    """``(old manifest, records of what this tool wrote)``, or the one-line refusal of this folder.

    ``dataset=None`` skips the comparison with a resumed run's dataset; a key missing from
    ``dataset`` (the digit source, before it is loaded) is not compared.
    """
    check_no_links(folder)
    old = read_manifest(folder)  # a manifest that is not ours is an error now, not a traceback later
    busy = _busy(folder)
    if resume and old is not None and dataset is not None:
        theirs = _dataset_key(old)
        _check_recipe(theirs.get("recipe"))
        if theirs.get("folder_layout") != dataset.get("folder_layout"):
            made = (f"by an older version of this tool ({old.get('version')}, before boxes)"
                    if "folder_layout" not in theirs else f"with folder layout {theirs['folder_layout']!r}")
            raise ValueError(  # its kept files would lack what this version writes beside them: never mixed
                f"{folder} was made {made}; this version writes folder layout {FOLDER_LAYOUT!r} (per-digit "
                "boxes tight to the visible ink in every format), so it is not resumed: use --force or another folder"
            )
        diff = sorted(k for k in set(theirs) | set(dataset)
                      if (k in dataset or k != "digits") and theirs.get(k) != dataset.get(k))
        if diff:
            raise ValueError(
                f"{folder} holds a different dataset (differs in: {', '.join(diff)}); "
                "resume with the same arguments and digits, or use another folder"
            )
    if busy and not resume and not force:
        raise ValueError(
            f"output folder {folder} is not empty; use --resume to continue the run recorded in its "
            f"{MANIFEST}, --force to replace its dataset files, or another folder"
        )
    if busy and old is None and resume:
        raise ValueError(f"{folder} is not empty and has no {MANIFEST} to resume; use another folder")
    records = owned_records(folder, old)
    refuse_foreign(folder, records, old)
    return old, records


def prepare_folder(folder: Path, manifest: dict, *, resume: bool, force: bool) -> dict | None:
    """Make ``folder`` ready (call under its lock); return the records to keep when resuming, else ``None``.

    Refuses a non-empty folder unless ``resume`` (same dataset only: never
    mixes two manifests) or ``force`` (deletes the files its record lists).
    Either way a file at one of this tool's names that the record does not
    list is refused, never replaced.
    """
    old, records = _refusals(folder, manifest["dataset"], resume=resume, force=force)
    remove_leftovers(folder)
    if resume and old is not None:
        return records
    if force:
        remove_recorded(folder, [*records, SUMS])
    write_manifest(folder, manifest)
    return None


def _remove_empty(created: list[Path]) -> None:
    """Remove the folders this run created (deepest first) while they hold nothing but our lock file."""
    for path in created:
        try:
            if {p.name for p in path.iterdir()} <= {LOCK}:
                (path / LOCK).unlink(missing_ok=True)
                path.rmdir()
        except OSError:
            return


def _create(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return those created, as absolute paths, deepest first."""
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"output folder {folder} exists and is not a folder")
    absolute = folder.absolute()
    missing = [p for p in [absolute, *absolute.parents] if not p.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def _roll_back(folder: Path) -> None:
    """Remove what a failed fresh run wrote: its recorded files, manifest and journal."""
    records = owned_records(folder, read_manifest(folder))  # the manifest this run wrote: its journal is ours
    remove_recorded(folder, [*records, SUMS, MANIFEST])
    (folder / JOURNAL).unlink(missing_ok=True)
    for name in data_folders():
        with contextlib.suppress(OSError):
            (folder / name).rmdir()  # only when empty
    log.info("removed the files of the failed run from %s", folder)
