"""Shared config overrides: typed flat ``--set`` and dotted merges into nested configs."""

import dataclasses

import pytest

from wifisense.errors import ConfigError
from wifisense.overrides import apply_overrides, merge_dotted, parse_assignments


def test_merge_dotted_merges_nested_and_copies():
    base = {"model": {"latent": 8, "solver": {"rtol": 1e-3, "atol": 1e-4}}, "lr": 0.1}
    out = merge_dotted(base, {"model.solver.rtol": 1e-5, "model": {"latent": 16}, "lr": 0.2})
    assert out == {"model": {"latent": 16, "solver": {"rtol": 1e-5, "atol": 1e-4}}, "lr": 0.2}
    assert base["model"]["solver"]["rtol"] == 1e-3        # the input is untouched
    with pytest.raises(ConfigError, match="'lr' is not a config section"):
        merge_dotted(base, {"lr.value": 1})


def test_parse_assignments_json_or_text():
    assert parse_assignments(["a.b=8", "c=[1, 2]", "d=minilm", "e=true"]) == \
        {"a.b": 8, "c": [1, 2], "d": "minilm", "e": True}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_assignments(["novalue"])


@dataclasses.dataclass
class _Cfg:
    rate: float = 1.0
    n: int = 2
    flag: bool = False
    pair: tuple[float, float] = (0.5, 1.5)
    name: str = "asymmetric"


def test_apply_overrides_types_values():
    cfg = apply_overrides(_Cfg(), ["rate=3", "n=4", "flag=yes", "pair=0.1,0.2"])
    assert cfg == _Cfg(rate=3.0, n=4, flag=True, pair=(0.1, 0.2))
    with pytest.raises(ConfigError, match="expected an integer"):
        apply_overrides(_Cfg(), ["n=2.5"])
    with pytest.raises(ConfigError, match="unknown field 'x'"):
        apply_overrides(_Cfg(), ["x=1"])


def test_text_fields_take_plain_or_quoted_json_text():
    # the --set help says "value as JSON": '"symmetric"' and symmetric are the same text
    assert apply_overrides(_Cfg(), ['name="symmetric"']).name == "symmetric"
    assert apply_overrides(_Cfg(), ["name=symmetric"]).name == "symmetric"
    assert apply_overrides(_Cfg(), ["name=12"]).name == "12"
