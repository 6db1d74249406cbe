"""Reading real captures (CSI, beam SNR, positions) and the on-disk HDF5 dataset store."""

from wifisense.io.recording import CSIRecording

__all__ = ["CSIRecording"]
