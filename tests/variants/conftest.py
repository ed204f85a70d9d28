"""Fixtures the variant-input tests share: the bundled reference, indexed once per module."""

from __future__ import annotations

from pathlib import Path

import pysam
import pytest

from helpers import indexed_bundled_reference


@pytest.fixture(scope="module")
def reference_fasta(tmp_path_factory) -> Path:
    """The bundled reference, indexed in a tmp copy (indexes are not committed)."""
    return indexed_bundled_reference(tmp_path_factory.mktemp("reference"))


@pytest.fixture(scope="module")
def reference_contigs(reference_fasta) -> dict[str, int]:
    with pysam.FastaFile(str(reference_fasta)) as fasta:
        return dict(zip(fasta.references, fasta.lengths, strict=True))
