"""Settings dataclasses filled from a config mapping: unknown keys and wrongly typed values refused.

The encoder (imaging.encoder_inputs.EncoderSettings) and the fusion network
(fusion.net_settings.FusionNetSettings) take their settings from a YAML section; a typo there must
be one clear error, not a silent default.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping, TypeVar

from oncoweave.core.errors import InputError

Settings = TypeVar("Settings")


def settings_from_config(cls: type[Settings], config: Mapping[str, Any] | None, what: str,
                         source: str | Path | None = None,
                         repeated_scalars: tuple[str, ...] = ()) -> Settings:
    """``cls(**config)`` with each value in the type of the field's default.

    ``what`` names the settings in errors ("encoder"); ``repeated_scalars`` lists tuple fields for
    which a single number stands for all their entries (e.g. an isotropic spacing).
    """
    config = dict(config or {})
    known = [field.name for field in dataclasses.fields(cls)]
    unknown = sorted(str(key) for key in config if key not in known)
    if unknown:
        raise InputError(f"unknown {what} setting(s) {', '.join(unknown)} "
                         f"(known: {', '.join(known)})", path=source)
    values = {}
    for name in (name for name in known if name in config):
        try:
            values[name] = _coerce(config[name], getattr(cls, name), name in repeated_scalars)
        except (TypeError, ValueError) as err:
            raise InputError(f"{what} setting {name}: bad value {config[name]!r} ({err})",
                             path=source) from None
    return cls(**values)


def _coerce(value: Any, default: Any, repeat_scalar: bool) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise TypeError("expected true or false")
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise TypeError("expected text")
        return value
    if isinstance(default, tuple):
        if repeat_scalar and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value] * len(default)
        if not isinstance(value, (list, tuple)):
            raise TypeError("expected a list")
        return tuple(_number(item, type(default[0])) for item in value)
    return _number(value, type(default))


def _number(value: Any, kind: type) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    if kind is int and float(value) != int(value):
        raise ValueError("expected a whole number")
    return kind(value)


def read_settings_file(cls: type[Settings], path: str | Path | None, what: str) -> Settings:
    """``cls`` (a settings dataclass with ``from_config(config, source=...)``) from a YAML or
    JSON file holding a mapping of setting -> value; the defaults without a file."""
    if path is None:
        return cls()
    import json

    import yaml

    path = Path(path)
    try:
        text = path.read_text()
        # JSON through json: YAML 1.1 reads an exponent without a dot (1e-05) as text.
        config = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise InputError(f"cannot read {what} settings ({err})", path=path) from None
    if config is not None and not isinstance(config, dict):
        raise InputError(f"{what} settings must be a mapping of setting: value", path=path)
    return cls.from_config(config, source=path)
