"""Trajectories of live CSI: each hop, the newest window through a Tracker, new points only."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from wifisense.errors import ConfigError


class LiveTracker:
    """A ``wifisense.live.monitor.Predictor`` for a CSI-only track model (one CSI source).

    Each prediction takes the last ``window_s`` seconds of packets (the trained window),
    predicts them as ``Tracker.track`` predicts a capture (one window at the trained query
    rate, up to the newest packet) and returns the query points newer than those of the
    previous hop: ``{"track": [[t, x, y], ...]}`` in seconds (the source's clock) and metres.
    """

    def __init__(self, tracker, num_sources: int = 1):
        if "snr" in tracker.bands:
            raise ConfigError(f"this model uses the bands {', '.join(tracker.bands)}; live tracking takes CSI only "
                              "so far (a live beam-SNR source is not there yet): use a model trained with --bands csi")
        if num_sources != 1:
            raise ConfigError(f"live tracking takes one CSI source, got {num_sources}")
        self.tracker = tracker
        self.window_s = float(tracker.task["window_s"])
        self._last = -np.inf

    def predict(self, windows: Sequence) -> dict:
        from wifisense.io.recording import CSIRecording

        window = windows[0]
        if len(window.t) < 2:
            return {"track": []}
        recording = CSIRecording(csi=window.csi, timestamps=np.asarray(window.t), subcarriers=window.subcarriers,
                                 source={"format": "live", "path": window.name})
        t, xy = self.tracker.track(csi=recording, csi_path=window.name)
        new = t > self._last
        if new.any():
            self._last = float(t[new].max())
        return {"track": [[round(float(a), 4), round(float(x), 4), round(float(y), 4)]
                          for a, (x, y) in zip(t[new], xy[new])]}
