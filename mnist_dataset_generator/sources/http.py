"""Fetch one URL into an open file: the default downloader.

A downloader is any callable ``(url, dest, report)`` that writes the body of
``url`` to the binary file object ``dest`` and calls ``report(done, total)``
as bytes arrive (``total`` is ``None`` when unknown). It raises ``OSError``
(``urllib.error.URLError`` and friends) when the transfer fails.
:func:`is_transient` tells the retry loop which failures deserve a second try.

urllib is used so that proxies (``https_proxy``), redirects and ``file://``
URLs behave as users expect; the additions are a read timeout distinct from
the connect timeout, set on the socket once it is connected, redirects
limited to https (or http from a plain-http URL), and reads that hand each
arrival to ``dest`` at once, so whoever owns ``dest`` can judge the rate.
"""

from __future__ import annotations

import functools
import http.client
import logging
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

__all__ = [
    "DowngradeError",
    "HTTPDownloader",
    "RedirectError",
    "TruncatedError",
    "describe",
    "is_transient",
    "refuses_redirect",
]

log = logging.getLogger(__name__)

Report = Callable[[int, int | None], object]
_CHUNK = 1 << 16


class TruncatedError(OSError):
    """The body ended before the length the server announced."""


class _ReadTimeoutMixin:
    """Connect under ``timeout``, then read under ``read_timeout``."""

    def __init__(self, *args, read_timeout: float | None = None, **kwargs) -> None:
        self.read_timeout = read_timeout
        super().__init__(*args, **kwargs)

    def connect(self) -> None:
        super().connect()  # TCP (and TLS handshake) under the connect timeout
        if self.read_timeout is not None:
            self.sock.settimeout(self.read_timeout)


class _HTTPConnection(_ReadTimeoutMixin, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_ReadTimeoutMixin, http.client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, read_timeout: float) -> None:
        super().__init__()
        self._read_timeout = read_timeout

    def http_open(self, req):
        return self.do_open(
            functools.partial(_HTTPConnection, read_timeout=self._read_timeout), req
        )


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, read_timeout: float, context=None) -> None:
        super().__init__(context=context)
        self._read_timeout = read_timeout

    def https_open(self, req):
        return self.do_open(
            functools.partial(_HTTPSConnection, read_timeout=self._read_timeout),
            req,
            context=self._context,
        )


class RedirectError(urllib.error.URLError):
    """A redirect the download may not follow: only https, or http from a plain-http URL."""


class DowngradeError(RedirectError):
    """A redirect from https to plain http, which the user did not ask for."""


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to https, and to http only from plain http; refuse the rest before connecting.

    urllib itself would follow ``ftp://`` targets and refuse ``data:`` and
    ``file:`` ones with a bare HTTP error; every refusal here is a
    :class:`RedirectError` naming the target, and never retried.
    """

    def http_error_302(self, req, fp, code, msg, headers):
        location = headers.get("location") or headers.get("uri")
        if location:
            try:
                _check_redirect(req.full_url, urljoin(req.full_url, location))
            except RedirectError:
                fp.close()  # the redirect's own body is of no use
                raise
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        _check_redirect(req.full_url, newurl)  # the URL urllib settled on, in case it differs
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _check_redirect(old_url: str, new_url: str) -> None:
    """Raise :class:`RedirectError` (or :class:`DowngradeError`) when ``refuses_redirect`` says so."""
    if not refuses_redirect(old_url, new_url):
        return
    old, new = (urlsplit(url).scheme.lower() for url in (old_url, new_url))
    shown = new_url if len(new_url) <= 80 else new_url[:77] + "..."  # a data: URL can be huge
    if old == "https" and new == "http":
        raise DowngradeError(f"refused redirect from https to plain http ({shown})")
    raise RedirectError(
        f"refused redirect from {old} to {new} ({shown}): a mirror may redirect to https, "
        "or to plain http from plain http"
    )


def refuses_redirect(old_url: str, new_url: str) -> bool:
    """Whether a redirect from ``old_url`` to ``new_url`` must be refused.

    Allowed targets are https, and plain http when ``old_url`` is plain http
    (the user named that scheme); anything else (an https to http downgrade,
    ``ftp:``, ``file:``, ``data:``...) is refused. A relative ``new_url``
    keeps the scheme of ``old_url``.

    Examples
    --------
    >>> refuses_redirect("https://a/x.gz", "http://b/x.gz"), refuses_redirect("http://a/x", "http://b/x")
    (True, False)
    >>> refuses_redirect("http://a/x", "https://b/x"), refuses_redirect("https://a/x", "/elsewhere/x")
    (False, False)
    >>> refuses_redirect("http://a/x", "ftp://b/x"), refuses_redirect("https://a/x", "data:,abc")
    (True, True)
    """
    old = urlsplit(old_url).scheme.lower()
    new = urlsplit(urljoin(old_url, new_url)).scheme.lower()
    return not (new == "https" or (new == "http" and old == "http"))


class HTTPDownloader:
    """Download over https, http or file URLs with bounded waits.

    Parameters
    ----------
    connect_timeout : float, in (0, 600]
        Seconds to establish a connection (TCP and TLS).
    read_timeout : float, in (0, 600]
        Seconds to wait for each block of the response once connected; a
        server that accepts and never answers fails after this long.
    user_agent : str, optional
        Sent as ``User-Agent`` (some mirrors refuse Python's default).
    context : ssl.SSLContext, optional
        TLS settings, e.g. to trust a private mirror's certificate authority;
        default: the system's trusted certificates.

    Redirects are followed to https, and to plain http only from a plain-http
    URL (plain http is used only when you name it); any other target
    (https to http, ``ftp:``, ``file:``, ``data:``...) is refused with
    :class:`RedirectError` before it is contacted.

    Each read returns what has arrived (at most 64 KiB), so ``dest.write``
    sees a slow server's bytes as they come; ``report(0, total)`` is called
    with the announced length before the body is read, and may raise to
    refuse it.

    Examples
    --------
    >>> import io, pathlib, tempfile
    >>> src = pathlib.Path(tempfile.mkdtemp()) / "x.bin"
    >>> _ = src.write_bytes(b"abc")
    >>> out = io.BytesIO()
    >>> HTTPDownloader()(src.as_uri(), out, lambda done, total: None)
    >>> out.getvalue()
    b'abc'
    """

    def __init__(
        self,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        user_agent: str | None = None,
        context=None,
    ) -> None:
        for arg, value in (("connect_timeout", connect_timeout), ("read_timeout", read_timeout)):
            if not 0 < value <= 600:
                raise ValueError(f"HTTPDownloader: {arg} must be in (0, 600] seconds, got {value!r}")
        if user_agent is None:
            from .. import __version__

            user_agent = f"mnist_dataset_generator/{__version__}"
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.user_agent = user_agent
        self._opener = urllib.request.build_opener(
            _HTTPHandler(read_timeout), _HTTPSHandler(read_timeout, context), _CheckedRedirects()
        )

    def __repr__(self) -> str:
        return (
            f"HTTPDownloader(connect_timeout={self.connect_timeout!r}, "
            f"read_timeout={self.read_timeout!r})"
        )

    def __call__(self, url: str, dest: BinaryIO, report: Report) -> None:
        request = urllib.request.Request(url, headers={"User-Agent": self.user_agent})
        with self._opener.open(request, timeout=self.connect_timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            report(done, total)
            # read1: one receive per call, so a trickling body reaches dest byte by byte
            # instead of blocking here until 64 KiB have gathered
            read = getattr(response, "read1", response.read)
            while True:
                chunk = read(_CHUNK)
                if not chunk:
                    break
                dest.write(chunk)
                done += len(chunk)
                report(done, total)
        if total is not None and done != total:
            raise TruncatedError(f"body ended after {done} of {total} announced bytes")


def is_transient(exc: BaseException) -> bool:
    """Whether a failed transfer may succeed if tried again shortly.

    Server errors (5xx, 408, 429), timeouts, dropped connections and short
    bodies are transient; other HTTP statuses (403, 404, ...), refused
    redirects (:class:`RedirectError`), host names that do not resolve
    (:class:`socket.gaierror`: a typo, or no network) and missing ``file://``
    paths are not.

    Examples
    --------
    >>> is_transient(urllib.error.URLError(socket.gaierror(socket.EAI_NONAME, "Name or service not known")))
    False
    >>> is_transient(urllib.error.URLError(TimeoutError("timed out")))
    True
    """
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code >= 500 or exc.code in (408, 429)
    if isinstance(exc, (RedirectError, socket.gaierror)):  # DNS: a second try a second later fares no better
        return False
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        if isinstance(reason, BaseException):
            return is_transient(reason)
        return True
    if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)):
        return False
    return isinstance(exc, (OSError, http.client.HTTPException))


def describe(exc: BaseException, downloader: object = None) -> str:
    """One short phrase for a failed transfer, for error messages and logs."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}".rstrip()
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        return describe(reason, downloader) if isinstance(reason, BaseException) else str(reason)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        connect = getattr(downloader, "connect_timeout", None)
        read = getattr(downloader, "read_timeout", None)
        return f"timed out (limits: connect {connect:g} s, read {read:g} s)" if connect and read else "timed out"
    if isinstance(exc, http.client.IncompleteRead):
        return f"connection closed after {len(exc.partial)} bytes"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
