"""Worker processes that make calls in order, a bounded number in flight, and end at once when told.

:func:`ordered_calls` is what :mod:`.workers` runs its chunks on. It replaces
``concurrent.futures.ProcessPoolExecutor``, whose way out of an early stop (Ctrl-C, an
error, a consumer that stops reading) is ``shutdown(wait=True)``: that waits for every call
already submitted, so a worker blocked in a user's filter held the run forever, and a second
Ctrl-C only moved the wait to the interpreter's exit. It has no public way to end its workers
before Python 3.14. Here:

- workers ignore SIGINT. A terminal sends Ctrl-C to the whole process group; the parent alone
  decides what it means. (Under the executor a worker turned it into the result of its task
  and went on with the next one, or died mid-message with a traceback.)
- the parent terminates its workers (SIGTERM, then SIGKILL) whenever it stops early; it never
  waits for a call to finish. What workers hold is the parent's (the output folder, the shared
  output array), so nothing of theirs needs cleaning up.
- each worker has a pipe of its own: no lock shared between workers, so one that dies
  mid-message cannot stall the others, and its death is seen at once as
  :class:`concurrent.futures.process.BrokenProcessPool`.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool

__all__ = ["ordered_calls"]

log = logging.getLogger(__name__)

TERMINATE_GRACE = 2.0  # seconds a worker has to end on SIGTERM before it is killed


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker, as text: the ``__cause__`` of the re-raised one."""

    def __str__(self) -> str:
        return f'\n"""\n{self.args[0]}"""'


def ordered_calls(fn: Callable, tasks: Iterable[tuple], *, processes: int, window: int, context,
                  initializer: Callable | None = None, initargs: tuple = ()) -> Iterator:
    """``fn(*task)`` for each of ``tasks``, made in ``processes`` worker processes, yielded in order.

    Parameters
    ----------
    fn, initializer : callable
        Module-level functions (sent by pickle under ``spawn``). ``initializer(*initargs)`` runs
        once in each worker before its first call.
    tasks : iterable of tuple
        Arguments of each call; read only as calls are sent.
    processes : int, at least 1
    window : int, at least 1
        Calls sent but not yet yielded, at most: this bounds the results held at once.
    context : multiprocessing context
        ``fork`` or ``spawn``.

    Yields
    ------
    object
        Each call's result, in the order of ``tasks``. An exception raised by a call is
        raised here (its ``__cause__`` holds the worker's traceback); a worker that dies
        raises :class:`~concurrent.futures.process.BrokenProcessPool`.

    Notes
    -----
    The workers start on the first ``next``. However the generator ends (exhausted, an
    exception, ``close()``, garbage collection), its workers are gone when it has ended:
    those still running are terminated, never waited for.

    Examples
    --------
    >>> import multiprocessing
    >>> list(ordered_calls(pow, [(2, 3), (3, 2), (5, 2)], processes=2, window=2,
    ...                    context=multiprocessing.get_context()))
    [8, 9, 25]
    """
    if processes < 1 or window < 1:
        raise ValueError(f"ordered_calls: processes and window must be at least 1, got {processes} and {window}")
    workers: list[_Worker] = []
    try:
        _start(workers, context, processes, fn, initializer, initargs)
        results: dict[int, object] = {}  # received, not yet yielded
        sent = yielded = 0
        todo = iter(tasks)
        while True:
            while sent - yielded < window:
                task = next(todo, None)
                if task is None:
                    break
                worker = min(workers, key=lambda w: len(w.tickets))
                try:
                    worker.conn.send(task)
                except OSError:  # it has ended: its pipe is closed
                    raise _broken(worker) from None
                worker.tickets.append(sent)
                sent += 1
            if yielded == sent:
                break
            while yielded not in results:
                _receive(workers, results)
            result = results.pop(yielded)
            yielded += 1
            yield result
            del result
        _stop(workers)
    finally:
        _end(workers)


class _Worker:
    __slots__ = ("conn", "process", "tickets")

    def __init__(self, conn, process) -> None:
        self.conn, self.process = conn, process
        self.tickets: deque[int] = deque()  # calls sent to it, in order, awaiting their result


def _start(workers: list[_Worker], context, processes: int, fn, initializer, initargs) -> None:
    """Start the workers into ``workers`` (the caller ends those started, should one fail to start)."""
    # SIGINT is held back while the workers fork, until each has set it aside: a Ctrl-C at
    # that moment would otherwise raise in a worker not yet ignoring it. The parent gets it
    # as soon as the mask is restored.
    masked = hasattr(signal, "pthread_sigmask")
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if masked else None
    try:
        for _ in range(processes):
            ours, theirs = context.Pipe()
            process = context.Process(target=_serve, args=(theirs, fn, initializer, initargs, masked),
                                      name="mnist-worker", daemon=True)
            try:
                process.start()
            finally:
                theirs.close()  # only the worker holds its end: when it dies, reading ours ends at once
            workers.append(_Worker(ours, process))
    finally:
        if masked:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _receive(workers: list[_Worker], results: dict) -> None:
    """Wait for the next message of any busy worker; store its result or raise its error."""
    from multiprocessing.connection import wait

    busy = [w for w in workers if w.tickets]
    ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
    for w in busy:
        if w.process.sentinel in ready and not w.conn.poll():
            raise _broken(w)
        if w.conn in ready:
            try:
                ok, value, remote = w.conn.recv()
            except (EOFError, OSError):  # it died mid-message
                raise _broken(w) from None
            ticket = w.tickets.popleft()
            if not ok:
                raise value from RemoteTraceback(remote)
            results[ticket] = value


def _broken(w: _Worker) -> BrokenProcessPool:
    w.process.join(TERMINATE_GRACE)  # its exit code, for the message
    return BrokenProcessPool(f"worker process {w.process.pid} ended (exit code {w.process.exitcode}) "
                             f"with {len(w.tickets)} call(s) unfinished")


def _stop(workers: list[_Worker]) -> None:
    """Every call answered: tell the workers to exit, and give them a moment to."""
    for w in workers:
        with contextlib.suppress(OSError):  # one that already ended
            w.conn.send(None)
    for w in workers:
        w.process.join(TERMINATE_GRACE)


def _end(workers: list[_Worker]) -> None:
    """Terminate the workers still running, all before waiting for any; then release them."""
    for w in workers:
        if w.process.exitcode is None:
            w.process.terminate()
    deadline = time.monotonic() + TERMINATE_GRACE  # one grace for all, not one each
    for w in workers:
        w.process.join(max(0.0, deadline - time.monotonic()))
    for w in workers:
        if w.process.exitcode is None:  # it set SIGTERM aside (a user's filter may)
            log.debug("worker %d did not end on SIGTERM; killing it", w.process.pid)
            w.process.kill()
            w.process.join()
        w.conn.close()
        w.process.close()


def _serve(conn, fn, initializer, initargs, masked: bool) -> None:
    """A worker's life: set SIGINT aside, initialize, then answer calls until told to stop."""
    import queue
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if masked:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # held back by the parent while forking
    failed = None
    if initializer is not None:
        try:
            initializer(*initargs)
        except BaseException as exc:  # noqa: BLE001 - every call then answers with it
            failed = exc
    # Answers go out from a thread: a large one waits in the pipe until the parent reads it,
    # which it does only when it wants that result, and meanwhile this worker makes the next.
    outbox: queue.SimpleQueue = queue.SimpleQueue()
    sender = threading.Thread(target=_send_answers, args=(conn, outbox), name="answers", daemon=True)
    sender.start()
    while True:
        try:
            task = conn.recv()
        except EOFError:  # the parent closed its end
            task = None
        if task is None:
            outbox.put(None)
            sender.join()
            return
        try:
            if failed is not None:
                raise failed
            answer = (True, fn(*task), None)
        except BaseException as exc:  # noqa: BLE001 - sent back to be raised in the parent
            answer = (False, exc, "".join(traceback.format_exception(exc)))
        outbox.put(answer)
        del answer


def _send_answers(conn, outbox) -> None:
    while (answer := outbox.get()) is not None:
        try:
            conn.send(answer)
        except OSError:  # the parent has gone or closed its end: nobody is left to answer
            return
        except Exception as exc:  # noqa: BLE001 - the result or the error did not pickle
            conn.send((False, RuntimeError(f"a worker's answer could not be sent back: {exc!r}"),
                       "".join(traceback.format_exception(exc))))
        del answer
