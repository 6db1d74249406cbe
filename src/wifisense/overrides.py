"""Config overrides from the command line: ``--set field=value`` for flat dataclasses
(the simulators) and ``--set section.key=value`` for nested JSON model configs."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from pathlib import Path
from typing import Any, TypeVar

from wifisense.errors import ConfigError

C = TypeVar("C")

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _as_tuple(value: Any) -> Any:
    return tuple(_as_tuple(v) for v in value) if isinstance(value, list) else value


def parse_field_value(text: str, current: Any) -> Any:
    """Read ``text`` as a value of the same type as ``current`` (JSON or plain text).

    Booleans accept true/false/yes/no/on/off/1/0; numbers keep int-ness; tuples take a
    JSON list (nested lists become nested tuples) or comma-separated items, converted to
    the type of the current items when those are scalars. Raises ValueError otherwise.
    """
    if isinstance(current, bool):
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError("expected true or false")
    if isinstance(current, (int, float)):
        value = _json_or_text(text)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("expected a number")
        if isinstance(current, int) and not float(value).is_integer():
            raise ValueError("expected an integer")
        return type(current)(value)
    if isinstance(current, tuple):
        items = _json_or_text(text) if text.startswith("[") else \
            [_json_or_text(x.strip()) for x in text.split(",") if x.strip()]
        if not isinstance(items, list):
            raise ValueError("expected a JSON list or comma-separated values")
        if current and isinstance(current[0], (int, float, str)) and not isinstance(current[0], bool):
            items = [type(current[0])(x) for x in items]
        return _as_tuple(items)
    if isinstance(current, str):
        # the help says "value as JSON": a quoted JSON string ('"symmetric"') is the plain text
        value = _json_or_text(text) if text.startswith('"') else text
        if not isinstance(value, str):
            raise ValueError("expected text")
        return value
    return _json_or_text(text) if current is None else type(current)(text)


def apply_overrides(cfg: C, assignments: list[str] | None) -> C:
    """``cfg`` (a dataclass) with ``field=value`` strings applied.

    Raises :class:`ConfigError` naming the assignment for unknown fields or bad values.
    """
    fields = {f.name for f in dataclasses.fields(cfg)}
    changes = {}
    for item in assignments or []:
        name, sep, raw = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected field=value")
        if name not in fields:
            raise ConfigError(f"--set {item!r}: unknown field {name!r} for "
                              f"{type(cfg).__name__}; fields: {', '.join(sorted(fields))}")
        current = getattr(cfg, name)
        try:
            changes[name] = parse_field_value(raw.strip(), current)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"--set {item!r}: cannot read {raw.strip()!r} as "
                              f"{type(current).__name__}: {exc}") from None
    return dataclasses.replace(cfg, **changes)


def parse_assignments(items: list[str] | tuple[str, ...], example: str = "section.key=value") -> dict[str, Any]:
    """``["student.resnet_width=8", "teacher.text_model=minilm"]`` -> ``{key: value}`` (JSON, else text)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = str(item).partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. {example}")
        out[key.strip()] = _json_or_text(raw)
    return out


def merge_dotted(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of the nested dict ``data`` with ``{"a.b": v}`` (or nested-dict) overrides merged in.

    Nested dict values are merged into existing sections rather than replacing them;
    unknown keys are left for the config's own loader to reject with its field names.
    """
    merged = copy.deepcopy(data)
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        node = merged
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {key!r}: {part!r} is not a config section")
        if isinstance(value, dict) and isinstance(node.get(leaf), dict):
            node[leaf] = merge_dotted(node[leaf], value)
        else:
            node[leaf] = value
    return merged


def fields_help(cfg: Any, width: int = 100) -> str:
    """Every field of dataclass ``cfg`` as ``name=value`` (its current value), wrapped into
    lines for an ``--help`` epilog, so each knob ``--set`` accepts is listed with its default."""
    import textwrap

    items = [f"{f.name}={_show(getattr(cfg, f.name))}" for f in dataclasses.fields(cfg)]
    return "\n".join(textwrap.wrap("  ".join(items), width, break_long_words=False,
                                    break_on_hyphens=False))


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(_show(v) for v in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def is_config_file(value: str | os.PathLike, presets: list[str] | tuple[str, ...]) -> bool:
    """Whether a ``--preset`` value names a JSON file rather than a shipped preset.

    A shipped preset's bare name always means the preset, even when a file or folder of
    that name happens to sit in the working directory; a value with a folder part or a
    ``.json`` suffix is a path, and so is any other name of an existing file.
    """
    text = os.fspath(value)
    if text in presets:
        return False
    path = Path(text)
    return path.suffix == ".json" or len(path.parts) > 1 or path.exists()
