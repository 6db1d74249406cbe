"""The installed wifisense version (its own module, so that modules needing it do not import
the package's public API, which would make an import cycle)."""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("wifisense")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"
