"""A 60 GHz beam sector missing from a sweep is a missing value (NaN in ``/snr/x``): the beam-SNR
CSV reader, the store round trip, the validator and ``wifisense inspect``."""

import h5py
import numpy as np
import pytest

from wifisense.errors import CaptureError
from wifisense.io.logs import read_beam_snr_csv, write_beam_snr_csv
from wifisense.io.schema import MultiBandDataset
from wifisense.io.store import read_multiband_store, write_multiband_store
from wifisense.io.validate import validate_store

# line 5 has every beam missing (dropped); empty cells, nan and NaN are missing sectors
SNR_CSV = """# sweep log with missing sectors
t,b0,b1,b2
0.0,10.5,,3.0
0.1,nan,7.25,2.5
0.2,,NaN,
0.3,11.0,8.0,NaN
0.4,12.0,9.0,4.0
"""
EXPECTED_SNR = np.array([[10.5, np.nan, 3.0], [np.nan, 7.25, 2.5], [11.0, 8.0, np.nan],
                         [12.0, 9.0, 4.0]], np.float32)


def multiband_with_snr(t: np.ndarray, snr: np.ndarray) -> MultiBandDataset:
    rng = np.random.default_rng(0)
    return MultiBandDataset(
        csi_t=np.arange(6) * 0.1, csi_x=np.ones((6, 2, 2, 1), np.complex64),
        snr_t=t, snr_x=snr, pose_t=np.arange(5) * 0.1,
        pose_xy=rng.uniform(0, 2, (5, 2)).astype(np.float32), subcarriers=np.arange(2, dtype=np.int32),
        ap_position=np.zeros(3, np.float32), room=np.array([0, 0, 2, 2], np.float32))


def test_csv_with_missing_sectors_to_store_and_validator(tmp_path):
    path = tmp_path / "snr.csv"
    path.write_text(SNR_CSV)
    log = read_beam_snr_csv(path)
    np.testing.assert_array_equal(log.t, [0.0, 0.1, 0.3, 0.4])     # the all-missing sweep is gone
    np.testing.assert_array_equal(log.snr, EXPECTED_SNR)            # NaN where a sector was missing
    assert (log.dropped_rows, log.missing_cells) == (1, 3)
    assert log.missing_fraction == pytest.approx(3 / 12)
    store = write_multiband_store(tmp_path / "m.h5", multiband_with_snr(log.t, log.snr))
    assert validate_store(store) == []
    np.testing.assert_array_equal(read_multiband_store(store).snr_x, EXPECTED_SNR)
    # the writer's "nan" cells read back as the same missing sectors
    write_beam_snr_csv(tmp_path / "again.csv", log.t, log.snr)
    np.testing.assert_array_equal(read_beam_snr_csv(tmp_path / "again.csv").snr, EXPECTED_SNR)


def test_inf_sector_is_rejected_naming_line_and_column(tmp_path):
    path = tmp_path / "snr.csv"
    path.write_text(SNR_CSV.replace("0.3,11.0,8.0,NaN", "0.3,11.0,-inf,NaN"))
    with pytest.raises(CaptureError, match=r"line 6, column 'b1': non-finite value '-inf'") as exc:
        read_beam_snr_csv(path)
    assert str(path) in str(exc.value)


def _snr_problems(tmp_path, snr: np.ndarray) -> dict[str, list[str]]:
    # written valid, then edited: the writer itself refuses a store validate rejects
    store = write_multiband_store(tmp_path / "m.h5", multiband_with_snr(np.arange(len(snr)) * 0.1,
                                                                         np.zeros_like(snr)), overwrite=True)
    with h5py.File(store, "a") as f:
        f["snr/x"][...] = snr
    problems: dict[str, list[str]] = {}
    for p in validate_store(store):
        problems.setdefault(p.field, []).append(p.reason)
    return problems


def test_validator_allows_missing_sectors_but_not_inf_or_empty_beams_and_sweeps(tmp_path):
    snr = EXPECTED_SNR.copy()
    assert _snr_problems(tmp_path, snr) == {}
    snr[2, 0] = np.inf
    assert _snr_problems(tmp_path, snr) == {"/snr/x": ["1 infinite values, first at index [2, 0]"]}
    snr = EXPECTED_SNR.copy()
    snr[:, 1] = np.nan                      # a beam never measured
    snr[1:3, :] = np.nan                    # two sweeps without any beam
    (beam, sweeps), = _snr_problems(tmp_path, snr).values()
    assert "beam column 1 is missing (NaN) in every one of the 4 sweeps" in beam
    assert "2 sweeps have every beam missing (all NaN), first at index 1" in sweeps


def test_nan_stays_an_error_in_csi_and_pose(tmp_path):
    store = write_multiband_store(tmp_path / "m.h5", multiband_with_snr(np.arange(4) * 0.1, EXPECTED_SNR))
    with h5py.File(store, "a") as f:
        f["csi/x"][3, 1, 0, 0] = complex(np.nan, 0)
        f["pose/xy"][2, 1] = np.nan
    fields = [p.field for p in validate_store(store)]
    assert fields == ["/csi/x", "/pose/xy"]
