"""config/README.md describes every key a core can set: each key of the config schema and of the
sheet schemas is named there (in backticks), so a new setting cannot land undocumented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "workflow" / "schemas"


def _named_words() -> set[str]:
    text = (REPO / "config" / "README.md").read_text(encoding="utf-8")
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)  # examples do not count
    return {word for line in prose.splitlines() for span in re.findall(r"`([^`]+)`", line)
            for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", span)}


def _key_paths(schema: dict, prefix: str = "") -> list[str]:
    paths = []
    for key, value in (schema.get("properties") or {}).items():
        paths += [f"{prefix}{key}", *_key_paths(value, f"{prefix}{key}.")]
    # The settings mappings list their keys as an enum of property names.
    for key in ((schema.get("propertyNames") or {}).get("enum") or []):
        paths.append(f"{prefix}{key}")
    return paths


@pytest.mark.parametrize("schema", ["config", "samples", "images", "clinical"])
def test_every_key_is_described_in_config_readme(schema):
    paths = _key_paths(yaml.safe_load((SCHEMAS / f"{schema}.schema.yaml").read_text()))
    assert len(paths) > 5
    named = _named_words()
    undocumented = [path for path in paths if path.rsplit(".", 1)[-1] not in named]
    assert not undocumented, f"config/README.md does not name: {undocumented}"
