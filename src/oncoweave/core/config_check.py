"""One line for a config that fails its schema, instead of jsonschema's dump of schema and value.

workflow/rules/paths.smk validates the config at parse time and prints this line; standard library
only (it reads the attributes of the jsonschema.ValidationError it is given).
"""

from __future__ import annotations

from typing import Any


def config_error_line(error: Any) -> str:
    """'config key calling.thresholds: unknown key 'min_vaff' (allowed: ...)' and the like.

    ``error``: the jsonschema.ValidationError that snakemake.utils.validate raised (its
    WorkflowError's ``__context__``).
    """
    where = ".".join(str(part) for part in error.absolute_path)
    prefix = f"config key {where}" if where else "config"
    schema_path = list(error.absolute_schema_path)
    if error.validator == "enum" and "propertyNames" in schema_path:
        return (f"{prefix}: unknown key {error.instance!r} "
                f"(allowed: {', '.join(map(str, error.validator_value))})")
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        unknown = [str(key) for key in error.instance if key not in allowed]
        keys = ", ".join(repr(key) for key in unknown)
        return (f"{prefix}: unknown key{'s' if len(unknown) > 1 else ''} {keys} "
                f"(allowed: {', '.join(allowed)})")
    return f"{prefix}: {error.message}"
