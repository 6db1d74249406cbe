"""wifisense: learning from Wi-Fi channel measurements (CSI captioning and multi-band tracking)."""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("wifisense")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

from wifisense.errors import WifisenseError, CaptureError, StoreError, ConfigError  # noqa: E402

__all__ = ["__version__", "WifisenseError", "CaptureError", "StoreError", "ConfigError"]
