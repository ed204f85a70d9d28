"""The simulated published-cohort MAF: seeded, log-normal mutation counts, rows that pass the MAF
import (REF checks in the bundled regions included), hotspots, and its command."""

from __future__ import annotations

import numpy as np
import pytest

from oncoweave.cli.main import main
from oncoweave.genome.reference import BUNDLED_REFERENCE_DIR, ContigMap
from oncoweave.toy.maf_cohort import simulate_maf_cohort
from oncoweave.variants.maf_import import maf_tmb_counts, read_maf, split_maf

CONTIG_MAP = ContigMap.from_tsv(BUNDLED_REFERENCE_DIR / "regions.tsv")
FASTA = BUNDLED_REFERENCE_DIR / "grch38_gene_regions.fa"


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    path = tmp_path_factory.mktemp("maf") / "cohort.maf.gz"
    summary = simulate_maf_cohort(1500, path, seed=7)
    return path, summary


@pytest.fixture(scope="module")
def rows(cohort):
    return read_maf(cohort[0], FASTA, CONTIG_MAP)


def test_same_seed_same_file_other_seed_other_file(tmp_path, cohort):
    path, _ = cohort
    again = tmp_path / "again.maf.gz"
    simulate_maf_cohort(1500, again, seed=7)
    assert again.read_bytes() == path.read_bytes()
    other = tmp_path / "other.maf.gz"
    simulate_maf_cohort(1500, other, seed=8)
    assert other.read_bytes() != path.read_bytes()


def test_counts_per_patient_are_log_normal_around_the_median(rows, cohort):
    _, summary = cohort
    assert len(rows) == summary.rows
    per_patient = rows.groupby("patient").size()
    assert len(per_patient) == 1500
    assert 65 <= per_patient.median() <= 90  # 75 drawn, plus a few bundled-gene rows
    logs = np.log(per_patient)
    assert 0.6 < logs.std() < 1.0  # sigma 0.8
    assert per_patient.max() > 5 * per_patient.median()  # a hypermutated tail
    # 10,000 patients would make about a million rows.
    assert 0.8e6 < summary.rows / 1500 * 10_000 < 1.3e6


def test_rows_pass_the_import_and_few_lie_in_the_regions(rows, cohort):
    _, summary = cohort
    inside, outside = split_maf(rows)  # read_maf already checked every REF inside
    assert len(inside) == summary.in_regions
    assert 0.002 < len(inside) / len(rows) < 0.02
    assert set(inside["Hugo_Symbol"]) == {"TP53", "BRCA1", "BRCA2", "EGFR"}
    assert not outside["Hugo_Symbol"].isin(["TP53", "BRCA1", "BRCA2", "EGFR"]).any()
    assert set(rows["variant_type"]) == {"SNP", "INS", "DEL"}
    tmb = maf_tmb_counts(rows)
    sizes = rows.groupby("patient").size().reindex(tmb.index)
    assert (tmb["total"] <= sizes).all() and 0.75 < tmb["total"].sum() / sizes.sum() < 0.97


def test_hotspots_at_pan_cancer_rates(rows, cohort):
    _, summary = cohort
    positions = [7675088, 7674220, 7673802, 55191822, 55181378]  # GRCh38, as ClinVar gives them
    hotspots = rows[rows["HGVSp_Short"].isin(["p.R175H", "p.R248Q", "p.R273H", "p.L858R",
                                              "p.T790M"]) & rows["Start_Position"].isin(positions)]
    assert len(hotspots) == summary.hotspots
    carriers = hotspots.groupby("HGVSp_Short")["patient"].nunique()
    assert 10 <= carriers["p.R175H"] <= 55  # 2% of 1500
    assert 8 <= carriers["p.L858R"] <= 55
    r175h = hotspots[hotspots["HGVSp_Short"] == "p.R175H"].iloc[0]
    assert (r175h["chrom"], r175h["Start_Position"], r175h["Reference_Allele"],
            r175h["Tumor_Seq_Allele2"]) == ("chr17", 7675088, "C", "T")
    t790m = set(hotspots.loc[hotspots["HGVSp_Short"] == "p.T790M", "patient"])
    l858r = set(hotspots.loc[hotspots["HGVSp_Short"] == "p.L858R", "patient"])
    assert len(t790m & l858r) >= len(t790m) / 2  # mostly with L858R


def test_command_writes_the_maf(tmp_path, capsys):
    out = tmp_path / "small.maf"
    assert main(["toy-maf-cohort", "--patients", "20", "--seed", "3", "--output", str(out)]) == 0
    assert "rows of 20 patients" in capsys.readouterr().out
    lines = out.read_text().splitlines()
    assert lines[0] == "#version 2.4" and lines[2].startswith("Hugo_Symbol\t")
    assert len({line.split("\t")[13] for line in lines[3:]}) == 20
