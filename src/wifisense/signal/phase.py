"""CSI phase calibration: unwrapping, linear-trend sanitisation, SpotFi STO removal, conjugate multiplication.

Every function is vectorised over all axes other than the ones named by its axis
arguments, and takes and returns NumPy arrays or torch Tensors alike (torch results
stay differentiable). Defaults follow the recording layout ``[T, S, Nrx, Ntx]``
(subcarrier axis -3, receive-antenna axis -2); pass axis arguments for other layouts,
e.g. ``sc_axis=-1, antenna_axes=(-2,)`` for the caption layout ``[..., A, S]``.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from wifisense.signal._backend import along, host_array, namespace, sliced


# Size of the packet blocks NumPy calibrates at a time (measured best of 0.5 to 4 MiB).
_BLOCK_BYTES = 1 << 21


def _wrapped_phase_steps(x, axis: int):
    """Phase increments between neighbours along ``axis``, wrapped to [-pi, pi].

    For complex input the step is ``angle(z[k+1] * conj(z[k]))``: one ``atan2`` per step
    and no separate wrap, which equals ``diff(angle(z))`` wrapped to [-pi, pi] (what
    ``np.unwrap`` does) up to rounding. Real input is taken as phase in radians.
    """
    xp = namespace(x)
    head, tail = sliced(x, axis, None, -1), sliced(x, axis, 1, None)
    if xp.is_complex(x):
        return xp.angle(tail * xp.conj(head))
    steps = tail - head
    two_pi = 2.0 * math.pi
    return steps - two_pi * xp.round(steps / two_pi)


def unwrap_phase(csi, axis: int = -3):
    """Unwrapped phase along ``axis`` (subcarriers by default).

    ``csi`` may be complex (its angle is unwrapped) or real phase in radians. Steps
    larger than pi between neighbours are taken as wraps, as in ``np.unwrap``; the first
    sample keeps its value (for complex input its angle in (-pi, pi]). torch has no
    ``unwrap``, so it is written here once for both backends: wrapped neighbour steps,
    then a cumulative sum.
    """
    xp = namespace(csi)
    csi = xp.to_float(xp.asarray(csi))
    first = sliced(csi, axis, 0, 1)
    first_phase = xp.angle(first) if xp.is_complex(csi) else first
    if csi.shape[axis] < 2:
        return first_phase
    steps = _wrapped_phase_steps(csi, axis)
    return xp.concat([first_phase, first_phase + xp.cumsum(steps, axis)], axis)


def _centred_ls_weights(subcarriers) -> tuple[np.ndarray, np.ndarray]:
    """Centred subcarrier indices ``k - mean(k)`` and LS slope weights ``kc / sum(kc**2)``.

    The least-squares slope of ``y`` over ``k`` (with an offset) is ``sum(w * y)``; this is
    the closed form of the pseudo-inverse's slope row, precomputed once per call.
    """
    k = host_array(subcarriers, np.float64).reshape(-1)
    if k.size < 2:
        raise ValueError(f"need at least 2 subcarriers for a phase slope, got {k.size}")
    k_centred = k - k.mean()
    spread = float(np.sum(k_centred ** 2))
    if spread == 0.0:
        raise ValueError("subcarrier indices are all equal; the phase slope is undefined")
    return k_centred, k_centred / spread


def _check_subcarriers(x, subcarriers, axis: int) -> None:
    count = host_array(subcarriers).size
    if x.shape[axis] != count:
        raise ValueError(
            f"subcarriers has {count} entries but axis {axis} of the CSI has {x.shape[axis]}")


def _sanitize_matrix(subcarriers) -> np.ndarray:
    """``M [S, S-1]`` with ``sanitised phase = M @ wrapped steps`` along subcarriers.

    The unwrapped phase is ``phi_0 + L @ d`` (``L`` the strictly lower-triangular ones,
    ``d`` the wrapped steps); subtracting its mean and its LS slope times the centred
    index is linear in ``d`` and cancels ``phi_0``. So unwrap + LS fit + removal fold into
    one precomputed matrix, applied as a single matrix product for all packets.
    """
    k_centred, weights = _centred_ls_weights(subcarriers)
    count = k_centred.size
    cumulative = np.tril(np.ones((count, count - 1)), -1)
    return cumulative - cumulative.mean(axis=0) - np.outer(k_centred, weights @ cumulative)


def sanitize_phase(csi_or_phase, subcarriers, axis: int = -3):
    """Unwrapped phase minus its least-squares line over subcarrier index.

    For each packet and antenna (every position of the other axes) the phase along
    ``axis`` is unwrapped, then the best line ``a * k + b`` over the subcarrier indices
    ``k`` is subtracted (slope and offset removed), removing the linear phase errors of
    STO/SFO and the constant ones of CFO. Closed-form least squares, no loops: the whole
    operation is one precomputed matrix applied to the wrapped phase steps.

    Args:
        csi_or_phase: complex CSI, or real phase in radians (wrapped or not).
        subcarriers: subcarrier indices ``[S]`` (e.g. -28..28); need not be evenly spaced.
        axis: the subcarrier axis.

    Returns:
        Real phase in radians, same shape as the input.
    """
    xp = namespace(csi_or_phase)
    csi_or_phase = xp.to_float(xp.asarray(csi_or_phase))
    _check_subcarriers(csi_or_phase, subcarriers, axis)
    steps = xp.moveaxis(_wrapped_phase_steps(csi_or_phase, axis), axis, -1)
    matrix = _sanitize_matrix(host_array(subcarriers, np.float64).reshape(-1))
    sanitized = steps.reshape(-1, matrix.shape[1]) @ xp.constant(matrix.T, steps)
    return xp.moveaxis(sanitized.reshape(*steps.shape[:-1], matrix.shape[0]), -1, axis)


def _normalise_axes(axes: Sequence[int] | int, ndim: int) -> tuple[int, ...]:
    axes = (axes,) if isinstance(axes, int) else tuple(axes)
    return tuple(sorted(a % ndim for a in axes))


def remove_sto(csi, subcarriers, sc_axis: int = -3, antenna_axes: Sequence[int] | int = (-2, -1),
               return_slope: bool = False):
    """SpotFi sampling-time-offset removal: one phase slope per packet, shared by its antennas.

    The STO adds the same linear phase ``-2*pi*f_delta*k*tau`` to every antenna of a
    packet, so one least-squares slope is fit to the unwrapped phases of all antennas of
    the packet jointly (SpotFi, Kotaru et al. 2015, Algorithm 1), and
    ``exp(-1j * slope * k)`` is applied to the complex CSI: magnitudes and the phase
    differences between antennas are kept exactly. Only the slope is removed; a common
    offset stays (conjugate multiplication removes it).

    The joint fit's slope equals the mean over antennas of each antenna's LS slope, and
    an LS slope of an unwrapped phase ``phi_0 + cumsum(d)`` is a fixed weighted sum of
    the wrapped steps ``d``. So the fit is one ``atan2`` per neighbour pair and one
    matrix-vector product with precomputed weights (the pseudo-inverse's slope row
    folded with the cumulative sum and the antenna mean); the absolute phase and its
    cumulative sum are never formed.

    Args:
        csi: complex CSI; every axis other than ``sc_axis`` and ``antenna_axes`` indexes
            packets (e.g. ``[T, S, Nrx, Ntx]`` or ``[B, T, S, Nrx, Ntx]``).
        subcarriers: subcarrier indices ``[S]`` relative to the carrier.
        sc_axis: the subcarrier axis.
        antenna_axes: the axes whose entries share one slope (receive and transmit
            antennas by default; ``(-2,)`` for the caption layout ``[..., A, S]``).
        return_slope: also return the fitted slope (radians per subcarrier index), shaped
            like ``csi`` with size 1 on ``sc_axis`` and ``antenna_axes``.

    Returns:
        Calibrated complex CSI with the input's shape and dtype (and the slope, if asked).
    """
    xp = namespace(csi)
    csi = xp.asarray(csi)
    if not xp.is_complex(csi):
        raise ValueError(f"remove_sto needs complex CSI, got dtype {csi.dtype}")
    _check_subcarriers(csi, subcarriers, sc_axis)
    ndim = csi.ndim
    sc_axis = sc_axis % ndim
    antenna_axes = _normalise_axes(antenna_axes, ndim)
    if sc_axis in antenna_axes:
        raise ValueError(f"sc_axis {sc_axis} cannot also be an antenna axis {antenna_axes}")

    k = host_array(subcarriers, np.float64).reshape(-1)
    _, weights = _centred_ls_weights(k)
    # Weight of step j (between k_j and k_j+1) = sum of the LS weights after it.
    step_weights = np.cumsum(weights[::-1])[::-1][1:]
    antenna_count = int(np.prod([csi.shape[a] for a in antenna_axes]))
    joint_weights = np.repeat(step_weights / antenna_count, antenna_count)
    packet_axes = [a for a in range(ndim) if a != sc_axis and a not in antenna_axes]

    def ramp_and_slope(block):
        slope = _joint_phase_slope(block, joint_weights, sc_axis, antenna_axes, packet_axes)
        return xp.phasor(-slope * along(xp.constant(k, slope), ndim, sc_axis)), slope

    if xp.name != "numpy" or not packet_axes or csi.nbytes <= _BLOCK_BYTES:
        ramp, slope = ramp_and_slope(csi)
        calibrated = csi * ramp
        return (calibrated, slope) if return_slope else calibrated

    # Long NumPy recordings go through in blocks of packets so that the half-dozen
    # temporaries stay in cache (about 1.5x faster from ~10^4 packets on).
    block_axis = packet_axes[0]
    length = csi.shape[block_axis]
    step = max(1, (_BLOCK_BYTES * length) // csi.nbytes)
    calibrated = np.empty_like(csi)
    slope = np.empty([1 if a not in packet_axes else csi.shape[a] for a in range(ndim)],
                     dtype=xp.real_dtype(csi))
    for begin in range(0, length, step):
        block = sliced(csi, block_axis, begin, begin + step)
        ramp, block_slope = ramp_and_slope(block)
        sliced(slope, block_axis, begin, begin + step)[...] = block_slope
        np.multiply(block, ramp, out=sliced(calibrated, block_axis, begin, begin + step))
    return (calibrated, slope) if return_slope else calibrated


def _joint_phase_slope(csi, joint_weights: np.ndarray, sc_axis: int, antenna_axes, packet_axes):
    """Per-packet LS phase slope of all antennas jointly (size 1 on sc and antenna axes).

    The steps are laid out as ``[packets, steps * antennas]`` (a free view for the
    default layout) and contracted with the step weights, repeated per antenna and
    divided by the antenna count, in one matrix-vector product.
    """
    xp = namespace(csi)
    steps = _wrapped_phase_steps(csi, sc_axis)
    per_packet = xp.permute(steps, [*packet_axes, sc_axis, *antenna_axes])
    per_packet = per_packet.reshape(-1, joint_weights.size)
    slope_shape = [csi.shape[a] if a in packet_axes else 1 for a in range(csi.ndim)]
    return (per_packet @ xp.constant(joint_weights, steps)).reshape(slope_shape)


def conjugate_multiply(csi, ref: int = 0, axis: int = -2, keep_ref: bool = True):
    """``csi * conj(csi[ref])`` along the receive-antenna ``axis``.

    Any phase common to all antennas of a packet (CFO, STO ramp, random initial phase)
    cancels exactly; what is left is the phase difference to the reference antenna.

    Args:
        csi: complex CSI.
        ref: index of the reference antenna on ``axis``.
        axis: the receive-antenna axis.
        keep_ref: keep the reference antenna's own product ``|csi[ref]|**2`` (real,
            zero phase); ``False`` drops it, leaving ``N - 1`` entries on ``axis``.
    """
    xp = namespace(csi)
    csi = xp.asarray(csi)
    if not xp.is_complex(csi):
        raise ValueError(f"conjugate_multiply needs complex CSI, got dtype {csi.dtype}")
    count = csi.shape[axis]
    if not -count <= ref < count:
        raise ValueError(f"ref {ref} is out of range for {count} antennas on axis {axis}")
    ref = ref % count
    reference = xp.conj(sliced(csi, axis, ref, ref + 1))
    if not keep_ref:
        csi = xp.take(csi, [i for i in range(count) if i != ref], axis)
    return csi * xp.expand_along(reference, csi.shape[axis], axis)
