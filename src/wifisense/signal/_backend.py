"""A tiny NumPy/Torch namespace dispatch so each preprocessing function is written once.

Why hand-written and not ``array_api_compat``: the functions here need operations the
array API standard does not have (``angle``, ``median``, building a complex phasor),
and this is the whole surface, a few lines per backend. Torch is never imported here:
a tensor can only exist if the caller already imported torch.
"""

from __future__ import annotations

import sys
from typing import Any, Sequence

import numpy as np


def _is_tensor(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


class NumpyOps:
    """The operations the signal functions use, for NumPy arrays."""

    name = "numpy"

    @staticmethod
    def asarray(x):
        return np.asarray(x)

    @staticmethod
    def is_complex(x) -> bool:
        return np.iscomplexobj(x)

    @staticmethod
    def real_dtype(x):
        """The real floating dtype matching ``x`` (float64 for integer input)."""
        dtype = np.asarray(x).dtype
        if np.issubdtype(dtype, np.complexfloating):
            return np.finfo(dtype).dtype
        if np.issubdtype(dtype, np.floating):
            return dtype
        return np.dtype(np.float64)

    @staticmethod
    def to_float(x):
        """``x`` as floating point (integers become float64; floats and complex stay)."""
        x = np.asarray(x)
        return x if np.issubdtype(x.dtype, np.inexact) else x.astype(np.float64)

    @staticmethod
    def constant(values, like, real: bool = True):
        """``values`` as an array usable with ``like`` (its real dtype, or int64 indices)."""
        if real:
            return np.asarray(values, dtype=NumpyOps.real_dtype(like))
        return np.asarray(values, dtype=np.int64)

    abs = staticmethod(np.abs)
    angle = staticmethod(np.angle)
    real = staticmethod(np.real)
    imag = staticmethod(np.imag)
    conj = staticmethod(np.conj)
    cos = staticmethod(np.cos)
    sin = staticmethod(np.sin)
    log10 = staticmethod(np.log10)
    round = staticmethod(np.round)
    where = staticmethod(np.where)
    moveaxis = staticmethod(np.moveaxis)
    permute = staticmethod(np.transpose)

    @staticmethod
    def phasor(theta):
        """``exp(1j * theta)`` written as cos + j sin straight into a complex buffer.

        Avoids NumPy's complex ``exp`` of a complex argument (slower, and it promotes
        float32 to complex128 if ``1j * theta`` is formed first).
        """
        theta = np.asarray(theta)
        out = np.empty(theta.shape, dtype=np.result_type(theta.dtype, np.complex64))
        np.cos(theta, out=out.real)
        np.sin(theta, out=out.imag)
        return out

    @staticmethod
    def complex(re, im):
        out = np.empty(np.broadcast_shapes(re.shape, im.shape),
                       dtype=np.result_type(re.dtype, im.dtype, np.complex64))
        out.real[...] = re
        out.imag[...] = im
        return out

    @staticmethod
    def expand_along(x, count: int, axis: int):
        """``x`` (size 1 on ``axis``) made ``count`` long on ``axis``, for an elementwise op.

        Materialised: NumPy's broadcasting over a short inner axis (3 antennas) runs its
        inner loop 3 elements at a time, and copying first makes the product ~1.5x faster.
        """
        return np.repeat(x, count, axis=axis)

    @staticmethod
    def maximum(x, floor: float):
        return np.maximum(x, np.asarray(floor, dtype=x.dtype))

    @staticmethod
    def sum(x, axis, keepdims: bool = False):
        return np.sum(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def mean(x, axis, keepdims: bool = False):
        return np.mean(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def std(x, axis, keepdims: bool = False):
        return np.std(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def amin(x, axis, keepdims: bool = False):
        return np.amin(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def amax(x, axis, keepdims: bool = False):
        return np.amax(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def median_last(x):
        return np.median(x, axis=-1)

    @staticmethod
    def cumsum(x, axis: int):
        return np.cumsum(x, axis=axis)

    @staticmethod
    def concat(xs: Sequence, axis: int):
        return np.concatenate(xs, axis=axis)

    @staticmethod
    def stack(xs: Sequence, axis: int):
        return np.stack(xs, axis=axis)

    @staticmethod
    def take(x, indices, axis: int):
        return np.take(x, np.asarray(indices, dtype=np.int64), axis=axis)

    @staticmethod
    def from_numpy(a: np.ndarray, like):
        """A NumPy result (indices, masks, grids) in the caller's array kind."""
        return a


class TorchOps:
    """The same operations for torch Tensors (device and dtype follow the input)."""

    name = "torch"

    def __init__(self):
        import torch  # already imported by the caller, or no tensor would exist

        self.torch = torch

    def asarray(self, x):
        return x if isinstance(x, self.torch.Tensor) else self.torch.as_tensor(x)

    def is_complex(self, x) -> bool:
        return x.is_complex()

    def real_dtype(self, x):
        if x.is_complex():
            return x.real.dtype
        return x.dtype if x.is_floating_point() else self.torch.float64

    def to_float(self, x):
        return x if (x.is_floating_point() or x.is_complex()) else x.to(self.torch.float64)

    def constant(self, values, like, real: bool = True):
        if isinstance(values, self.torch.Tensor):
            values = values.detach().cpu().numpy()
        if real:
            return self.torch.as_tensor(np.ascontiguousarray(values, dtype=np.float64),
                                        dtype=self.real_dtype(like), device=like.device)
        return self.torch.as_tensor(np.ascontiguousarray(values, dtype=np.int64), device=like.device)

    def abs(self, x):
        return self.torch.abs(x)

    def angle(self, x):
        return self.torch.angle(x)

    def real(self, x):
        return self.torch.real(x) if x.is_complex() else x

    def imag(self, x):
        return self.torch.imag(x) if x.is_complex() else self.torch.zeros_like(x)

    def conj(self, x):
        return self.torch.conj(x)

    def cos(self, x):
        return self.torch.cos(x)

    def sin(self, x):
        return self.torch.sin(x)

    def log10(self, x):
        return self.torch.log10(x)

    def round(self, x):
        return self.torch.round(x)

    def where(self, cond, a, b):
        return self.torch.where(cond, a, b)

    def moveaxis(self, x, source, destination):
        return self.torch.movedim(x, source, destination)

    def permute(self, x, order):
        return x.permute(tuple(order))

    def phasor(self, theta):
        # torch.polar is differentiable in its angle argument.
        return self.torch.polar(self.torch.ones_like(theta), theta)

    def complex(self, re, im):
        return self.torch.complex(re, im)

    def expand_along(self, x, count: int, axis: int):
        shape = list(x.shape)
        shape[axis] = count
        return x.expand(shape)  # a view; torch broadcasts efficiently

    def maximum(self, x, floor: float):
        return self.torch.clamp_min(x, floor)

    def sum(self, x, axis, keepdims: bool = False):
        return self.torch.sum(x, dim=axis, keepdim=keepdims)

    def mean(self, x, axis, keepdims: bool = False):
        return self.torch.mean(x, dim=axis, keepdim=keepdims)

    def std(self, x, axis, keepdims: bool = False):
        return self.torch.std(x, dim=axis, keepdim=keepdims, correction=0)

    def amin(self, x, axis, keepdims: bool = False):
        return self.torch.amin(x, dim=() if axis is None else axis, keepdim=keepdims)

    def amax(self, x, axis, keepdims: bool = False):
        return self.torch.amax(x, dim=() if axis is None else axis, keepdim=keepdims)

    def median_last(self, x):
        # Windows here always have an odd length, so torch's "lower median" is the median.
        return self.torch.median(x, dim=-1).values

    def cumsum(self, x, axis: int):
        return self.torch.cumsum(x, dim=axis)

    def concat(self, xs, axis: int):
        return self.torch.cat(list(xs), dim=axis)

    def stack(self, xs, axis: int):
        return self.torch.stack(list(xs), dim=axis)

    def take(self, x, indices, axis: int):
        index = self.torch.as_tensor(np.asarray(indices, dtype=np.int64), device=x.device)
        return self.torch.index_select(x, axis % x.ndim, index)

    def from_numpy(self, a: np.ndarray, like):
        return self.torch.as_tensor(a, device=like.device)


_NUMPY = NumpyOps()
_TORCH: TorchOps | None = None


def namespace(x) -> Any:
    """The ops object for ``x``: torch ops for a Tensor, NumPy ops for anything else."""
    global _TORCH
    if _is_tensor(x):
        if _TORCH is None:
            _TORCH = TorchOps()
        return _TORCH
    return _NUMPY


def host_array(values, dtype=None) -> np.ndarray:
    """Small metadata (subcarrier indices, timestamps) as a NumPy array, from any kind."""
    if _is_tensor(values):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=dtype)


def sliced(x, axis: int, start: int | None, stop: int | None):
    """``x[..., start:stop, ...]`` on ``axis`` (basic indexing works for both kinds)."""
    index = [slice(None)] * x.ndim
    index[axis] = slice(start, stop)
    return x[tuple(index)]


def along(values, ndim: int, axis: int):
    """Reshape a 1-D ``values`` so it broadcasts along ``axis`` of an ``ndim`` array."""
    shape = [1] * ndim
    shape[axis] = -1
    return values.reshape(shape)
