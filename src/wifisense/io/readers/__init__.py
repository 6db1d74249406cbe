"""Reading real CSI captures (Intel 5300, Atheros, Nexmon, ESP32, PicoScenes) into CSIRecording.

Parsing is done by csiread 1.4.1. Its C parsers trust the file completely: an Atheros
file read as Intel crashes the interpreter, a wrong Nexmon chip silently yields zeros or
noise, and a truncated or random file often parses "successfully" into fewer or empty
packets. So every file is first walked record by record here (cheap: headers only) to
detect the format by content, check the hints against what the records say, and find
truncation; only a file that passes is handed to csiread. The result is checked again
(no packets, non-finite, all-zero or implausible CSI) before it is returned: this package
never returns silent zeros, it raises :class:`wifisense.errors.CaptureError`.

One module per capture format (its record walk, header constants and reader) sits
behind the registry in ``registry.py``; ``common.py`` holds what they share. A further
format is a :class:`CaptureFormat` given to :func:`register_format` (or, for a while,
to the :func:`registered_format` context manager).

Axis order of the result is ``[T, S, Nrx, Ntx]``; timestamps are float64 seconds.
"""

from wifisense.io.readers import atheros, esp32, intel5300, nexmon, picoscenes
from wifisense.io.readers.nexmon import NEXMON_CHIPS
from wifisense.io.readers.registry import (KNOWN_HINTS, CaptureFormat, NotThisFormat,
                                           detect_format, formats, get_format, known_hints,
                                           read_csi, register_format, registered_format,
                                           unregister_format)

# Registration order is the order formats are listed in (--format choices, errors).
for _module in (intel5300, atheros, nexmon, esp32, picoscenes):
    register_format(_module.FORMAT)
del _module

__all__ = ["KNOWN_HINTS", "NEXMON_CHIPS",
           "CaptureFormat", "NotThisFormat", "detect_format", "formats", "get_format",
           "known_hints", "read_csi", "register_format", "registered_format",
           "unregister_format"]
