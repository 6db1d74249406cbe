"""Reading real captures (CSI, beam SNR, positions) and the on-disk HDF5 dataset store."""

from wifisense.io.readers import read_csi
from wifisense.io.recording import CSIRecording

__all__ = ["CSIRecording", "read_csi"]
