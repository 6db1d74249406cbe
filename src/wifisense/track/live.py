"""Trajectories of live CSI and beam SNR: each hop, the newest window through a Tracker, new points only."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from wifisense.errors import ConfigError

BAND_WORDS = {"csi": "5 GHz CSI (udp://, -, serial:, an ESP32 .csv, an Intel or Atheros .dat or a PicoScenes .csi)",
              "snr": "60 GHz beam SNR (snr:PATH or snr:-)"}


class LiveTracker:
    """A ``wifisense.live.monitor.Predictor`` for a track model: one live source per band the
    model uses (a CSI source, a beam-SNR source, or both), in any order.

    Each prediction takes the last ``window_s`` seconds of every source (the trained window),
    predicts them as ``Tracker.track`` predicts a capture and an SNR log (the bands' common
    span, at the trained query rate) and returns the query points newer than those of the
    previous hop: ``{"track": [[t, x, y], ...]}`` in seconds (the sources' clock, which
    must be one clock for two bands, as for ``track predict``) and metres.
    """

    one_clock = True        # the bands are fused in time: both windows end where both have arrived

    def __init__(self, tracker, source_bands: Sequence[str] = ("csi",)):
        bands = tuple(tracker.bands)
        given = list(source_bands)
        for band in bands:
            if given.count(band) != 1:
                raise ConfigError(f"this model uses {' and '.join(BAND_WORDS[b].split(' (')[0] for b in bands)}: "
                                  f"give one --source for each; got {given.count(band)} for {BAND_WORDS[band]}")
        extra = [band for band in given if band not in bands]
        if extra:
            raise ConfigError(f"this model does not use {BAND_WORDS[extra[0]].split(' (')[0]} "
                              f"(its bands: {', '.join(bands)}); leave that --source out")
        self.tracker, self.bands = tracker, bands
        self.window_s = float(tracker.task["window_s"])
        self._last = -np.inf

    def predict(self, windows: Sequence) -> dict:
        from wifisense.io.logs import BeamSNRLog
        from wifisense.io.recording import CSIRecording

        by_band = {getattr(w, "band", "csi"): w for w in windows}
        if any(band not in by_band or len(by_band[band].t) < 2 for band in self.bands):
            return {"track": []}          # a band has not sent enough yet
        csi = snr = None
        names = {band: w.name for band, w in by_band.items()}
        if "csi" in self.bands:
            w = by_band["csi"]
            csi = CSIRecording(csi=w.x, timestamps=np.asarray(w.t), subcarriers=w.subcarriers,
                               source={"format": "live", "path": w.name})
        if "snr" in self.bands:
            w = by_band["snr"]
            snr = BeamSNRLog(t=np.asarray(w.t, np.float64), snr=np.asarray(w.x, np.float32))
        t, xy = self.tracker.track(csi=csi, snr=snr, csi_path=names.get("csi", "CSI source"),
                                   snr_path=names.get("snr", "SNR source"))
        new = t > self._last
        if new.any():
            self._last = float(t[new].max())
        return {"track": [[round(float(a), 4), round(float(x), 4), round(float(y), 4)]
                          for a, (x, y) in zip(t[new], xy[new])]}
