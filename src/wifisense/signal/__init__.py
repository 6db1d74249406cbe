"""CSI preprocessing: pure, vectorised NumPy/Torch functions over any leading axes.

Every function takes a NumPy array or a torch Tensor and returns the same kind (torch
results are differentiable where that makes sense). Default axes follow the recording
layout complex ``[T, S, Nrx, Ntx]``; pass axis arguments for other layouts such as the
caption sample ``[R, T, A, S]``.
"""

from wifisense.signal.features import (
    COMPLEX_FEATURES,
    amplitude,
    amplitude_db,
    complex_to_real,
    polar,
)
from wifisense.signal.filters import hampel, normalize
from wifisense.signal.phase import conjugate_multiply, remove_sto, sanitize_phase, unwrap_phase
from wifisense.signal.resample import resample_uniform, uniform_grid
from wifisense.signal.subcarriers import (
    HT20_NULL_SUBCARRIERS,
    HT20_PILOT_SUBCARRIERS,
    HT40_NULL_SUBCARRIERS,
    HT40_PILOT_SUBCARRIERS,
    INTEL5300_SUBCARRIERS_20MHZ,
    INTEL5300_SUBCARRIERS_40MHZ,
    drop_subcarriers,
    pilot_and_null_subcarriers,
    select_subcarriers,
)

__all__ = [
    "COMPLEX_FEATURES",
    "HT20_NULL_SUBCARRIERS",
    "HT20_PILOT_SUBCARRIERS",
    "HT40_NULL_SUBCARRIERS",
    "HT40_PILOT_SUBCARRIERS",
    "INTEL5300_SUBCARRIERS_20MHZ",
    "INTEL5300_SUBCARRIERS_40MHZ",
    "amplitude",
    "amplitude_db",
    "complex_to_real",
    "conjugate_multiply",
    "drop_subcarriers",
    "hampel",
    "normalize",
    "pilot_and_null_subcarriers",
    "polar",
    "remove_sto",
    "resample_uniform",
    "sanitize_phase",
    "select_subcarriers",
    "uniform_grid",
    "unwrap_phase",
]
