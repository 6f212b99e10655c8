"""Geometry over a stack of digits: every geometric filter in a row, one sampling map, one interpolation.

Each geometric filter (:class:`Elastic`, :class:`Rotate`, :class:`Slant`, :class:`Scale`,
:class:`Distort`) says where each pixel of its output frame reads its input frame
(``backward``), where it can move a box of ink (``forward``) and how wide its output frame
is (``frame``). :func:`warp` chains the maps of consecutive filters from the last to the
first, so a digit is interpolated once, bilinearly, however many of them run: applied one
after another, each filter would interpolate (and so soften) the strokes again and cut or
re-frame the digit in between.

A frame is the digit's own columns, 28 rows high; coordinates are ``(row, column)`` in it,
pixel centres at integers. The output is cut back to the last frame, widened only where ink
moved beyond it (:func:`.stacks.frames`), as each filter alone does.
"""

from __future__ import annotations

import functools

import numpy as np

from .stacks import ROWS, Glyphs, frames

__all__ = ["GEOMETRIC", "Distort", "Elastic", "Rotate", "Scale", "Slant", "warp"]

_CENTRE = np.float32((ROWS - 1) / 2)


class Elastic:
    """Simard et al. (2003): a random displacement field smoothed by a Gaussian of width sigma, times alpha.

    Simard draws uniform noise in [-1, 1] per pixel and smooths it, ``G U G^T`` with ``G`` the
    28 x 28 matrix of ``gaussian_filter(..., mode="constant")``. ``G`` is symmetric, ``V L V^T``:
    the field is ``(V L)(V^T U V)(V L)^T``, and ``V^T U V`` has independent entries of variance
    1/3 (``V`` is orthonormal). So this draws those ``k x k`` entries directly, normal with
    variance 1/3, for the ``k`` modes of ``G`` that carry all but a millionth of the field's
    variance (9 of 28 at sigma 4): the same covariance as Simard's field, from 162 draws a digit
    instead of 1,568 and a fifth of the arithmetic.

    The field is centred on the digit's last frame (zero beyond it). Each output pixel is
    displaced by the field at that pixel, wherever elastic stands in the chain: for a chain
    this is elastic under a field rotated and sheared with the digit, as random and as
    smooth, and it needs no second interpolation.
    """

    on_output = True  # displaces by its field at the output pixel: see warp()

    def __init__(self, alpha: float, sigma: float) -> None:
        self.alpha, self.sigma = alpha, sigma

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        k = _modes(self.sigma).shape[1]
        return rng.standard_normal((n, 2, k, k), dtype=np.float32)

    @staticmethod
    def neutral(params: np.ndarray, off: np.ndarray) -> None:
        params[off] = 0.0

    def prepare(self, params: np.ndarray) -> np.ndarray:
        """The fields ``(n, 2, 28, 28)`` (rows, then columns displacement), in pixels."""
        w = _modes(self.sigma)  # (28, k)
        n, _, k, _ = params.shape
        scale = np.float32(self.alpha / np.sqrt(3.0))
        # One small product per field, never one large product for the batch: BLAS may round a
        # row of a large product differently by where it falls, and a digit must not depend on its batch.
        half = np.matmul(params.reshape(n * 2, k, k), np.ascontiguousarray(w.T * scale))  # B W^T
        # (B W^T)^T W^T = (W B W^T)^T = W B^T W^T: B^T is as random as B, and no transposing copy is needed
        return np.matmul(np.ascontiguousarray(half.transpose(0, 2, 1)), np.ascontiguousarray(w.T)).reshape(
            n, 2, ROWS, ROWS)

    @staticmethod
    def forward(box: np.ndarray, fields: np.ndarray, w_in: np.ndarray, w_out: np.ndarray) -> np.ndarray:
        reach = np.abs(fields).max(axis=(2, 3))  # (n, 2): rows, columns
        return box + np.stack([-reach[:, 0], reach[:, 0], -reach[:, 1], reach[:, 1]], axis=1)

    @staticmethod
    def frame(fields: np.ndarray, width: np.ndarray) -> np.ndarray:
        return width

    @staticmethod
    def on_canvas(fields: np.ndarray, pad: int, canvas: int, final: np.ndarray) -> np.ndarray:
        """The fields laid on the output canvas ``(m, 2, 28, canvas)``, centred on each final frame;
        a frame wider than 28 columns gets its field stretched across it, so no column is left out."""
        out = np.zeros((len(fields), 2, ROWS, canvas + 2 * ROWS), np.float32)  # room for any offset
        offset = pad + ROWS + np.floor((final - ROWS) / 2).astype(np.int64)
        narrow = final <= ROWS
        for at in np.unique(offset[narrow]).tolist():
            rows = narrow & (offset == at)
            lo = min(max(at, 0), out.shape[3] - ROWS)
            out[rows, :, :, lo : lo + ROWS] = fields[rows]
        for i in np.flatnonzero(~narrow).tolist():  # rare: widened by resize, scale or a filter of yours
            w = float(final[i])
            u = (np.arange(canvas) - pad - (w - 1) / 2) * ((ROWS - 1) / (w - 1)) + _CENTRE
            inside = (u >= 0) & (u <= ROWS - 1)
            low = np.minimum(np.floor(np.clip(u, 0, ROWS - 1)).astype(np.intp), ROWS - 2)
            frac = (np.clip(u, 0, ROWS - 1) - low).astype(np.float32)
            row = fields[i][:, :, low] * (1 - frac) + fields[i][:, :, low + 1] * frac
            out[i, :, :, ROWS : ROWS + canvas] = row * inside
        return out[:, :, :, ROWS : ROWS + canvas]

    @staticmethod
    def backward(y: np.ndarray, x: np.ndarray, field: np.ndarray, w_out: np.ndarray, w_in: np.ndarray):
        return y + field[:, 0], x + field[:, 1]


class Rotate:
    """A rotation about the frame's centre by an angle uniform in [-max, max] degrees."""

    def __init__(self, max_degrees: float) -> None:
        self.max_degrees = max_degrees

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.radians(rng.uniform(-self.max_degrees, self.max_degrees, n)).astype(np.float32)

    @staticmethod
    def neutral(params: np.ndarray, off: np.ndarray) -> None:
        params[off] = 0.0

    def prepare(self, params):
        return params

    @staticmethod
    def forward(box, theta, w_in, w_out):
        c, s = np.cos(theta), np.sin(theta)
        return _affine_box(box, c, s, -s, c, w_in, w_out)  # the inverse of backward's matrix

    @staticmethod
    def frame(theta, width):
        return width

    @staticmethod
    def backward(y, x, theta, w_out, w_in):
        c, s = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]  # float32, as theta
        cx = ((w_out - 1) / 2)[:, None, None]
        dy, dx = y - _CENTRE, x - cx
        return c * dy - s * dx + _CENTRE, s * dy + c * dx + cx  # scipy's affine_transform matrix [[c, -s], [s, c]]


class Slant:
    """A horizontal shear about the centre row, uniform in [-max, max] (0.3 leans the top ~4 px)."""

    def __init__(self, max_shear: float) -> None:
        self.max_shear = max_shear

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(-self.max_shear, self.max_shear, n).astype(np.float32)

    neutral = staticmethod(Rotate.neutral)

    def prepare(self, params):
        return params

    @staticmethod
    def forward(box, shear, w_in, w_out):
        one, zero = np.ones_like(shear), np.zeros_like(shear)
        return _affine_box(box, one, zero, -shear, one, w_in, w_out)

    @staticmethod
    def frame(shear, width):
        return width

    @staticmethod
    def backward(y, x, shear, w_out, w_in):
        return y, x + shear[:, None, None] * (y - _CENTRE)


class Scale:
    """Both axes scaled by a factor uniform in [min, max] about the centre; the width follows, 28 rows kept."""

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, n).astype(np.float32)

    @staticmethod
    def neutral(params, off):
        params[off] = 1.0

    def prepare(self, params):
        return params

    @staticmethod
    def forward(box, factor, w_in, w_out):
        zero = np.zeros_like(factor)
        return _affine_box(box, factor, zero, zero, factor, w_in, w_out)

    @staticmethod
    def frame(factor, width):
        return np.maximum(1, np.rint(width * factor))

    @staticmethod
    def backward(y, x, factor, w_out, w_in):
        f = factor[:, None, None]
        return (y - _CENTRE) / f + _CENTRE, (x - ((w_out - 1) / 2)[:, None, None]) / f + ((w_in - 1) / 2)[:, None, None]


# distort's smoothing of the random walk down the rows: a Gaussian of 3 rows, 13 taps
_SMOOTH = np.exp(-0.5 * (np.arange(-6, 7) / 3.0) ** 2)
_SMOOTH /= _SMOOTH.sum()


class Distort:
    """Each row shifted sideways by a smoothed random walk down the rows, the largest shift
    ``alpha`` percent of the frame's width times a factor uniform in [0.5, 1]."""

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        out = np.empty((n, ROWS + 13))
        out[:, : ROWS + 12] = rng.standard_normal((n, ROWS + 12))
        out[:, -1] = rng.uniform(0.5, 1.0, n)
        return out

    @staticmethod
    def neutral(params, off):
        params[off, -1] = 0.0

    def prepare(self, params: np.ndarray) -> np.ndarray:
        """Per digit the shift of each row, in units of the frame's width (``(n, 28)``)."""
        walks = np.cumsum(params[:, :-1], axis=1)
        # One convolution along all walks end to end: the windows that stay inside a walk are its own.
        smooth = np.convolve(walks.ravel(), _SMOOTH, mode="full")[12 : 12 + walks.size].reshape(walks.shape)
        smooth = smooth[:, :ROWS].copy()
        smooth -= smooth.mean(axis=1, keepdims=True)
        peak = np.abs(smooth).max(axis=1, keepdims=True)
        np.divide(smooth, peak, out=smooth, where=peak > 0)
        return (smooth * (self.alpha / 100 * params[:, -1])[:, None]).astype(np.float32)

    @staticmethod
    def forward(box, shifts, w_in, w_out):
        reach = np.abs(shifts).max(axis=1) * w_in
        return box + np.stack([0 * reach, 0 * reach, -reach, reach], axis=1)

    @staticmethod
    def frame(shifts, width):
        return width

    @staticmethod
    def backward(y, x, shifts, w_out, w_in):
        if y.strides[0] == 0 and y.strides[2] == 0:  # the output's own rows: each row its shift
            shift = shifts[:, :, None]
        else:  # rows moved by a later filter: the shifts interpolated between rows
            row = np.clip(y, np.float32(0), np.float32(ROWS - 1))
            low = np.minimum(np.floor(row), np.float32(ROWS - 2))
            frac = row - low
            at = (low + (np.arange(len(shifts), dtype=np.float32) * ROWS)[:, None, None]).astype(np.int32)
            flat = shifts.ravel()
            shift = flat.take(at)
            shift += (flat.take(at + 1) - shift) * frac
        return y, x - shift * w_in[:, None, None]


def _affine_box(box: np.ndarray, ayy, ayx, axy, axx, w_in: np.ndarray, w_out: np.ndarray) -> np.ndarray:
    """The bounding box ``(y0, y1, x0, x1)`` of ``box`` mapped by ``p' = A (p - c_in) + c_out``, ``A``
    = ``[[ayy, ayx], [axy, axx]]`` per digit, about the centres of the frames ``w_in`` and ``w_out``."""
    dy = box[:, 0:2] - _CENTRE
    dx = box[:, 2:4] - ((w_in - 1) / 2)[:, None]

    def span(a, b):  # the least and greatest of a * dy + b * dx over the box's corners
        u, v = a[:, None] * dy, b[:, None] * dx
        return u.min(axis=1) + v.min(axis=1), u.max(axis=1) + v.max(axis=1)

    (y0, y1), (x0, x1) = span(ayy, ayx), span(axy, axx)
    cx = (w_out - 1) / 2
    return np.stack([y0 + _CENTRE, y1 + _CENTRE, x0 + cx, x1 + cx], axis=1)


GEOMETRIC = (Elastic, Rotate, Slant, Scale, Distort)


@functools.lru_cache(maxsize=32)
def _modes(sigma: float) -> np.ndarray:
    """``V L`` (28 x k, float32): the leading modes of ``G`` (``G @ v`` is ``gaussian_filter1d(v,
    sigma, mode="constant")``), as many as carry all but 1e-6 of a field's variance per axis."""
    from scipy.ndimage import gaussian_filter1d

    g = gaussian_filter1d(np.eye(ROWS), sigma, axis=0, mode="constant", cval=0.0)
    values, vectors = np.linalg.eigh((g + g.T) / 2)  # symmetric up to rounding
    order = np.argsort(-np.abs(values))
    values, vectors = values[order], vectors[:, order]
    share = np.cumsum(values**2) / np.sum(values**2)
    k = int(np.searchsorted(share, 1 - 1e-6)) + 1
    modes = (vectors[:, :k] * values[:k]).astype(np.float32)
    modes.flags.writeable = False
    return modes


_QUAD = np.dtype((np.void, 16))  # a pixel and its right, lower and lower-right neighbours, gathered as one


def _bilinear(images: np.ndarray, y: np.ndarray, x: np.ndarray, offset: np.ndarray | None = None) -> list[np.ndarray]:
    """``images`` (m, channels, rows, cols) sampled at ``(y, x)`` (m, ...) bilinearly, zero outside:
    one array per channel, the taps and weights computed once for all channels. ``offset``: whole
    columns added to each image's ``x`` (its frame's start), exactly.

    Each pixel is stored beside its three neighbours, so a point's four taps are one gather."""
    m, channels, rows, cols = images.shape
    tall, wide = rows + 3, cols + 3  # one zero row/column before, two after
    quad = np.zeros((m, channels, tall, wide, 4), np.float32)
    quad[:, :, 1 : rows + 1, 1 : cols + 1, 0] = images
    quad[:, :, 1 : rows + 1, : cols, 1] = images
    quad[:, :, : rows, 1 : cols + 1, 2] = images
    quad[:, :, : rows, : cols, 3] = images
    yy = np.add(y, np.float32(1), dtype=np.float32)
    xx = np.add(x, np.float32(1), dtype=np.float32)
    np.clip(yy, np.float32(0), np.float32(rows + 1), out=yy)  # beyond the zero border: zero all the same
    if offset is None:
        np.clip(xx, np.float32(0), np.float32(cols + 1), out=xx)
    else:  # x is in each frame's own columns: the padded image's edges lie offset columns further left
        shape = (m,) + (1,) * (y.ndim - 1)
        start = offset.astype(np.float32).reshape(shape)
        np.clip(xx, -start, np.float32(cols + 1) - start, out=xx)
    y0, x0 = np.floor(yy), np.floor(xx)
    fy, fx = np.subtract(yy, y0, out=yy), np.subtract(xx, x0, out=xx)
    # Tap positions in integers (exact at any size); each image's column offset added as an integer.
    kind = np.int32 if m * channels * tall * wide < 2**31 else np.int64
    at = y0.astype(kind)
    at *= wide
    at += x0.astype(kind)
    shift = np.arange(m, dtype=kind) * (channels * tall * wide)
    if offset is not None:
        shift = shift + offset.astype(kind)
    at += shift.reshape((m,) + (1,) * (y.ndim - 1))
    flat = quad.reshape(-1, 4).view(_QUAD)[:, 0]
    out = []
    for c in range(channels):
        taps = flat.take(at + c * tall * wide if c else at).view(np.float32).reshape(at.shape + (4,))
        top = taps[..., 0] + (taps[..., 1] - taps[..., 0]) * fx
        bottom = taps[..., 2] + (taps[..., 3] - taps[..., 2]) * fx
        bottom -= top
        bottom *= fy
        top += bottom
        out.append(top)
    return out


_BLOCK = 64  # digits warped together: their coordinate arrays stay in the CPU's cache


def _ink_box(glyphs: Glyphs) -> np.ndarray:
    """``(n, 4)`` float32 ``y0, y1, x0, x1``: each digit's ink columns (frame coordinates) and all its
    rows, one pixel wider all round (what bilinear sampling can spread them to); a blank digit's
    columns are its frame's centre."""
    cols = glyphs.pixels.max(axis=1) > 0
    found = cols.any(axis=1)
    x0 = cols.argmax(axis=1) - glyphs.start - 1
    x1 = cols.shape[1] - 1 - cols[:, ::-1].argmax(axis=1) - glyphs.start + 1
    centre = (glyphs.width() - 1) / 2
    n = len(glyphs)
    box = np.stack([np.full(n, -1.0), np.full(n, float(ROWS)),
                    np.where(found, x0, centre), np.where(found, x1, centre)], axis=1)
    return box.astype(np.float32)


def warp(glyphs: Glyphs, chain: list) -> Glyphs:
    """Each digit of ``glyphs`` through the geometric ``chain`` (``[(op, prepared params), ...]``,
    first applied first), interpolated once.

    Examples
    --------
    >>> from mnist_dataset_generator.compose.stacks import Glyphs
    >>> img = np.zeros((1, 28, 28), np.float32); img[0, 10:18, 12:16] = 1
    >>> out = warp(Glyphs.full(img), [(Rotate(0), np.zeros(1))])
    >>> bool(np.array_equal(out.digit(0), img[0]))
    True
    """
    n = len(glyphs)
    widths = [glyphs.width().astype(np.float32)]
    box = _ink_box(glyphs)
    for op, params in chain:  # forwards: each frame's width, and where the ink can have gone
        w = op.frame(params, widths[-1]).astype(np.float32)
        box = op.forward(box, params, widths[-1], w)
        widths.append(w)
    final = widths[-1]
    # The canvas holds every final frame and all the ink beyond it (one pixel more: interpolation).
    beyond = np.maximum(-box[:, 2], box[:, 3] - (final - 1)) if n else np.zeros(1)
    pad = max(0, int(np.ceil(beyond.max()))) + 1
    canvas = int(final.max()) + 2 * pad if n else 1
    out = np.empty((n, ROWS, canvas), np.float32)
    rows = np.arange(ROWS, dtype=np.float32)[None, :, None]
    columns = np.arange(-pad, canvas - pad, dtype=np.float32)[None, None, :]
    for a in range(0, n, _BLOCK):
        part = slice(a, a + _BLOCK)
        m = len(range(n)[part])
        y, x = np.broadcast_to(rows, (m, ROWS, canvas)), np.broadcast_to(columns, (m, ROWS, canvas))
        for k in range(len(chain) - 1, -1, -1):  # backwards: from the output frame to the first input
            op, params = chain[k]
            params = params[part]
            if getattr(op, "on_output", False):
                params = op.on_canvas(params, pad, canvas, final[part])
            y, x = op.backward(y, x, params, widths[k + 1][part], widths[k][part])
        out[part], = _bilinear(glyphs.pixels[part, None], np.broadcast_to(y, x.shape), x, glyphs.start[part])
    np.clip(out, 0.0, 1.0, out=out)
    start, stop = frames(out, pad, final.astype(np.int64))
    lo, hi = (int(start.min()), int(stop.max())) if n else (0, canvas)
    return Glyphs(out[:, :, lo:hi], start - lo, stop - lo)  # the columns no frame holds are left out
