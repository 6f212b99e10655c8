"""Limits on what a run may take: the memory budget requests are checked against, and worker
processes that end with their parent.

A request whose output would not fit in memory is refused with one line naming its size,
before anything is allocated: :func:`check_bytes` against :func:`memory_budget` (half of
physical memory, or ``GENERATOR_NUMBERS_SEQ_MEMORY_BUDGET`` bytes). :func:`end_with_parent`,
called from a worker process's initializer, makes the worker exit when its parent dies, even
by SIGKILL, so no orphan keeps computing.
"""

from __future__ import annotations

import functools
import logging
import os
import sys

__all__ = ["ENV_MEMORY_BUDGET", "bounded_cache", "check_bytes", "end_with_parent", "format_bytes", "memory_budget"]

log = logging.getLogger(__name__)

ENV_MEMORY_BUDGET = "GENERATOR_NUMBERS_SEQ_MEMORY_BUDGET"
# Where physical memory cannot be read (no os.sysconf, as on Windows): a budget most
# machines that run this can hold; the variable above raises it.
FALLBACK_BUDGET = 4 * 10**9
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def memory_budget() -> tuple[int, str]:
    """``(bytes, why)``: the most memory one request may take, and where that figure comes from.

    ``GENERATOR_NUMBERS_SEQ_MEMORY_BUDGET`` (a whole number of bytes) when it is set, else half
    of this machine's physical memory, else :data:`FALLBACK_BUDGET`.

    Raises
    ------
    ValueError
        The variable is set to anything but a positive whole number.

    Examples
    --------
    >>> budget, why = memory_budget()
    >>> budget > 0, why in ("half of this machine's memory", "set by GENERATOR_NUMBERS_SEQ_MEMORY_BUDGET")
    (True, True)
    """
    text = os.environ.get(ENV_MEMORY_BUDGET, "")
    if text.strip():
        return _parse_budget(text)
    physical = _physical_memory()
    if physical > 0:
        return physical // 2, "half of this machine's memory"
    return FALLBACK_BUDGET, "the default where this machine's memory cannot be read"


@functools.lru_cache(maxsize=4)
def _parse_budget(text: str) -> tuple[int, str]:
    # Cached per value of the variable: single strips check the budget thousands of times a second.
    text = text.strip()
    value = int(text) if text.isascii() and text.isdigit() else 0
    if value < 1:
        raise ValueError(f"{ENV_MEMORY_BUDGET} must be a whole number of bytes of at least 1 "
                         f"(e.g. 8000000000), got {text!r}")
    return value, f"set by {ENV_MEMORY_BUDGET}"


@functools.lru_cache(maxsize=1)
def _physical_memory() -> int:
    """Bytes of physical memory, or -1 where they cannot be read."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # no sysconf, or these names unknown here
        return -1


def format_bytes(nbytes: int) -> str:
    """A size in decimal units, one decimal.

    Examples
    --------
    >>> format_bytes(45_158_400_000), format_bytes(602_112), format_bytes(12)
    ('45.2 GB', '602.1 kB', '12 bytes')
    """
    for unit, size in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if nbytes >= size:
            return f"{nbytes / size:.1f} {unit}"
    return f"{nbytes} bytes"


def check_bytes(door: str, what: str, nbytes: int, detail: str, advice: str) -> None:
    """Raise ``ValueError`` when ``nbytes`` is beyond :func:`memory_budget`; one line:

    ``{door}: {what} would take {size} ({detail}), more than the memory budget of {budget}
    ({why}); {advice}``.

    Examples
    --------
    >>> check_bytes("f", "it", 10**15, "1000 x 10**12 bytes", "ask for less")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: f: it would take 1000.0 TB (1000 x 10**12 bytes), more than the memory budget of ...; ask for less
    """
    budget, why = memory_budget()
    if nbytes <= budget:
        return
    if not why.startswith("set by"):
        why += f"; set {ENV_MEMORY_BUDGET} to change it"
    raise ValueError(f"{door}: {what} would take {format_bytes(nbytes)} ({detail}), more than the memory budget "
                     f"of {format_bytes(budget)} ({why}); {advice}")


def bounded_cache(max_bytes: int, maxsize: int = 4096):
    """Like ``functools.lru_cache(maxsize)``, but the arrays held (``nbytes`` of the result, or of
    each array in a tuple result) also stay within ``max_bytes``: least recently used first out.

    For tables keyed by sizes (``src``, ``dst``): an entry grows with the sizes, so a count alone
    bounds nothing (4,096 resampling tables of 280,000-column strips hold 27 GB). A result larger
    than a sixteenth of ``max_bytes`` is returned without being kept: such sizes rarely come again.

    Examples
    --------
    >>> import numpy as np
    >>> @bounded_cache(max_bytes=1000)
    ... def zeros(n):
    ...     return np.zeros(n, np.uint8)
    >>> zeros(50) is zeros(50), zeros(100) is zeros(100)
    (True, False)
    """
    import collections
    import threading

    def decorate(function):
        held: collections.OrderedDict = collections.OrderedDict()
        sizes = {"bytes": 0}
        lock = threading.Lock()

        @functools.wraps(function)
        def cached(*args):
            with lock:
                if args in held:
                    held.move_to_end(args)
                    return held[args][0]
            result = function(*args)
            parts = result if isinstance(result, tuple) else (result,)
            nbytes = sum(getattr(part, "nbytes", 0) for part in parts)
            if nbytes * 16 > max_bytes:
                return result
            with lock:
                if args not in held:
                    held[args] = (result, nbytes)
                    sizes["bytes"] += nbytes
                while sizes["bytes"] > max_bytes or len(held) > maxsize:
                    sizes["bytes"] -= held.popitem(last=False)[1][1]
            return result

        def cache_clear():
            with lock:
                held.clear()
                sizes["bytes"] = 0

        cached.cache_clear = cache_clear
        cached.cache_bytes = lambda: sizes["bytes"]
        return cached

    return decorate


def end_with_parent(parent_pid: int, *, pdeathsig: bool = True, interval: float = 0.5) -> None:
    """Make this process exit when ``parent_pid``, the process that started it, ends.

    For the initializer of worker processes: without it, workers whose parent
    was killed (SIGKILL, or SIGTERM, which runs no clean-up) wait for tasks
    forever, each holding its memory.

    Parameters
    ----------
    parent_pid : int
        ``os.getpid()`` of the parent, taken there before the worker started
        (not ``os.getppid()`` here: the parent may already be gone).
    pdeathsig : bool
        On Linux, also ask the kernel to SIGKILL this process when its parent
        ends (``prctl(PR_SET_PDEATHSIG)``). The kernel sends it when the
        *thread* that started this process ends, so pass True only when that
        thread is the parent's main thread, which lives as long as the parent.
    interval : float
        Seconds between checks of ``os.getppid()`` by a daemon thread, which
        works everywhere: an orphan is adopted by another process, so its
        parent id changes.

    Exits at once (``os._exit``) when the parent is already gone.
    """
    if pdeathsig:
        _arm_pdeathsig()
    # Checked after arming: a parent that died before prctl would never send the signal.
    if os.getppid() != parent_pid:
        log.debug("process %d: parent %d ended before this one started; exiting", os.getpid(), parent_pid)
        os._exit(1)
    import threading

    threading.Thread(target=_watch_parent, args=(parent_pid, interval), name="end-with-parent",
                     daemon=True).start()


def _watch_parent(parent_pid: int, interval: float) -> None:
    import time

    while True:
        time.sleep(interval)
        if os.getppid() != parent_pid:
            os._exit(1)  # no clean-up: what a worker holds is its parent's, and the parent is gone


def _arm_pdeathsig() -> bool:
    """``prctl(PR_SET_PDEATHSIG, SIGKILL)`` through libc on Linux; whether it took."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes
    import signal

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError) as exc:
        log.debug("prctl not available (%s); the parent watcher alone ends orphans", exc)
        return False
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    if prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
        log.debug("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))
        return False
    return True
