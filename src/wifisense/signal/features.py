"""Real-valued views of complex CSI (amplitude, dB, stacked real/imag/phase/magnitude) and back (polar)."""

from __future__ import annotations

from wifisense.signal._backend import namespace

# Order of the feature axis made by complex_to_real.
COMPLEX_FEATURES = ("real", "imag", "phase", "magnitude")


def amplitude(csi):
    """``|csi|`` (real, same shape)."""
    xp = namespace(csi)
    return xp.abs(xp.asarray(csi))


def amplitude_db(csi, floor: float = 1e-12):
    """``20 * log10(|csi|)`` in dB; amplitudes below ``floor`` are clamped so zeros stay finite."""
    xp = namespace(csi)
    return 20.0 * xp.log10(xp.maximum(amplitude(csi), floor))


def polar(magnitude, phase):
    """Complex ``magnitude * exp(1j * phase)``, e.g. to rebuild CSI from a sanitised phase.

    Built as cos + j sin (NumPy's complex ``exp`` is ~10x slower); float32 in, complex64 out.
    """
    xp = namespace(phase)
    return xp.asarray(magnitude) * xp.phasor(xp.to_float(xp.asarray(phase)))


def complex_to_real(csi, axis: int = -1):
    """Stack ``(real, imag, phase, magnitude)`` of complex ``csi`` along a new ``axis``.

    The new axis has size 4 in the order of ``COMPLEX_FEATURES``; phase is the wrapped
    angle in (-pi, pi] (sanitise or conjugate-multiply first if it should be stable).
    This is the real matrix the NDF CSI autoencoder takes.
    """
    xp = namespace(csi)
    csi = xp.asarray(csi)
    if not xp.is_complex(csi):
        raise ValueError(f"complex_to_real needs complex CSI, got dtype {csi.dtype}")
    return xp.stack([xp.real(csi), xp.imag(csi), xp.angle(csi), xp.abs(csi)], axis)
