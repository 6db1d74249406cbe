"""wifisense: learning from Wi-Fi channel measurements (CSI captioning and multi-band tracking)."""

from wifisense.version import __version__

from wifisense.errors import WifisenseError, CaptureError, StoreError, ConfigError  # noqa: E402

__all__ = ["__version__", "WifisenseError", "CaptureError", "StoreError", "ConfigError", "Tracker", "Captioner", "read_csi"]


def __getattr__(name: str):
    # The public API, imported on first use so that `import wifisense` stays light (no torch).
    if name == "Tracker":
        from wifisense.track.pretrained import Tracker
        return Tracker
    if name == "Captioner":
        from wifisense.caption.captioner import Captioner
        return Captioner
    if name == "read_csi":
        from wifisense.io import read_csi
        return read_csi
    raise AttributeError(f"module 'wifisense' has no attribute {name!r}")
