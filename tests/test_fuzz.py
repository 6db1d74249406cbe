"""The fuzz suite (tests/fuzz_cases.py) in CI: a few hundred bad variants of the real captures,
stores and logs must each end in a clear one-line error naming the file or in a correct read;
never a traceback, hang, crash or silent accept. The slow run covers thousands of cases."""

import pytest

import fuzz_cases


def _run(per_source: int, tmp_path):
    cases, results = fuzz_cases.run_suite(per_source, seed=0, folder=tmp_path)
    assert len(results) == len(cases)
    print("\n" + fuzz_cases.format_table(fuzz_cases.table(cases, results)))
    failures = [(c.category, c.source, c.detail, results[c.index]["outcome"], results[c.index]["message"])
                for c in cases if results[c.index]["outcome"] in fuzz_cases.FAILURES]
    assert failures == []
    return cases, results


def test_fuzz_few_hundred_cases(tmp_path):
    cases, results = _run(5, tmp_path)
    assert len(cases) >= 300
    outcomes = {r["outcome"] for r in results.values()}
    assert {"clear_error", "correct_read"} <= outcomes  # both kinds of good ending are exercised


@pytest.mark.slow
def test_fuzz_thousands_of_cases(tmp_path):
    cases, _ = _run(60, tmp_path)
    assert len(cases) >= 3000
