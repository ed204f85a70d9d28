"""Scores somatic calls against a planted truth, and compares candidate callers on it.

The tables here are generic: calls are DataFrames with the variants-table columns ``patient,
contig, contig_pos, ref, alt, status, filter, t_vaf`` (results/cohort/variants.parquet, or
:func:`classified_calls` of a classified VCF); the truth is :func:`truth_table` of the toy
cohort's truth VCF. A call matches a planted variant when patient, contig, position, REF and
ALT are equal (toy variants lie >= 15 bp apart, so the match is unambiguous).

``oncoweave compare-callers`` answers "bcftools mpileup | call, or freebayes?": both callers'
candidates of the same tumour/normal BAMs go through the same classification
(:func:`oncoweave.variants.classify.classify_vcf`) and are scored per VAF band.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from oncoweave.core.errors import InputError
from oncoweave.core.io import open_vcf
from oncoweave.core.sheets import read_sheet
from oncoweave.genome.reference import BUNDLED_REFERENCE_DIR
from oncoweave.variants.classify import CallingThresholds, allele_fraction, classify_vcf
from oncoweave.variants.statuses import SOMATIC, TUMOUR_ONLY

# Tumour-VAF bands of the recall/precision table; the bar applies from 10 % up.
VAF_BANDS = [(0.0, 0.10), (0.10, 0.20), (0.20, 0.40), (0.40, 1.01)]
#: Columns identifying one variant of one patient.
KEY = ["patient", "contig", "contig_pos", "ref", "alt"]
TRUTH_COLUMNS = [*KEY, "truth_status", "truth_vaf", "hgvs_p_truth"]
#: Lowest VAF of the issue's recall/precision bar.
TARGET_MIN_VAF = 0.10
#: Distance (bp) from an indel within which a call counts as next to it.
NEXT_TO_INDEL_WINDOW = 10


def variant_kind(ref: str, alt: str) -> str:
    """'SNV' for a single-base substitution, 'indel' for anything else (MNVs included)."""
    return "SNV" if len(ref) == len(alt) == 1 else "indel"


def _with_kind(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    table["kind"] = [variant_kind(r, a) for r, a in zip(table.ref, table.alt)]
    return table


def truth_table(truth_vcf: str | Path) -> pd.DataFrame:
    """One row per planted variant per patient (the truth VCF holds a sample column per patient).

    Columns: KEY, truth_status (the patient's FORMAT/STATUS, else INFO/STATUS), truth_vaf
    (FORMAT/VAF), hgvs_p_truth (INFO/HGVSP)
    and kind.
    """
    rows = []
    with open_vcf(truth_vcf) as vcf:
        has_hgvsp = "HGVSP" in vcf.header.info  # pysam raises on an undeclared key
        has_status = "STATUS" in vcf.header.formats  # per patient, where it differs
        for record in vcf:
            for patient, call in record.samples.items():
                if not any(allele for allele in (call.get("GT") or ()) if allele):
                    continue
                status = (call.get("STATUS") if has_status else None) or record.info["STATUS"]
                rows.append({
                    "patient": patient, "contig": record.chrom, "contig_pos": record.pos,
                    "ref": record.ref, "alt": record.alts[0], "truth_status": status,
                    "truth_vaf": float(call["VAF"]),
                    "hgvs_p_truth": record.info.get("HGVSP") if has_hgvsp else None,
                })
    return _with_kind(pd.DataFrame(rows, columns=TRUTH_COLUMNS))


def copy_number_truth(truth_vcf: str | Path) -> pd.DataFrame:
    """The copy-number events planted in the toy cohort (its ``##oncoweave_toy_copy_number``
    header lines): patient, gene, kind, copies and the per-gene call they should get."""
    import re

    rows = []
    with open_vcf(truth_vcf) as vcf:
        for line in str(vcf.header).splitlines():
            if line.startswith("##oncoweave_toy_copy_number=<"):
                body = line.split("=<", 1)[1].rstrip(">")
                rows.append(dict(re.findall(r"(\w+)=([^,]+)", body)))
    table = pd.DataFrame(rows, columns=["patient", "gene", "kind", "copies", "call"])
    return table.astype({"copies": int})


def somatic_calls(variants: pd.DataFrame, paired: Collection[str]) -> pd.DataFrame:
    """PASS calls that the workflow says are somatic (tumour_only for a patient without normal)."""
    expected = variants.patient.map(lambda p: SOMATIC if p in paired else TUMOUR_ONLY)
    calls = variants[(variants["filter"] == "PASS") & (variants.status == expected)]
    return _with_kind(calls)


def _keys(table: pd.DataFrame) -> set[tuple]:
    return set(map(tuple, table[KEY].values))


def _count_in(table: pd.DataFrame, keys: set[tuple]) -> int:
    return sum(key in keys for key in map(tuple, table[KEY].values))


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else float("nan")


def _in_band(table: pd.DataFrame, kind: str, vaf: pd.Series, low: float,
             high: float) -> pd.DataFrame:
    return table[(table.kind == kind) & (vaf >= low) & (vaf < high)]


def band_label(low: float, high: float) -> str:
    return f"{low:.2f}-{min(high, 1):.2f}"


def recall_precision_table(variants: pd.DataFrame, truth: pd.DataFrame,
                           paired: Collection[str]) -> pd.DataFrame:
    """Somatic recall (by truth VAF) and precision (by called tumour VAF) per kind and VAF band.

    Columns: kind, vaf_band, truth, found, recall, calls, true_calls, precision. A planted
    somatic variant is found when any somatic PASS call has its key (whatever the called VAF);
    a call is true when its key is planted as somatic.
    """
    somatic_truth = truth[truth.truth_status == SOMATIC]
    calls = somatic_calls(variants, paired)
    truth_keys, called_keys = _keys(somatic_truth), _keys(calls)
    # In a tumour-only patient a germline SNP cannot be told from a clonal somatic one: only paired
    # patients count for precision (the tumour-only caveat).
    paired_calls = calls[calls.patient.isin(paired)]
    rows = []
    for kind in ("SNV", "indel"):
        for low, high in VAF_BANDS:
            band_truth = _in_band(somatic_truth, kind, somatic_truth.truth_vaf, low, high)
            band_calls = _in_band(paired_calls, kind, paired_calls.t_vaf, low, high)
            found = _count_in(band_truth, called_keys)
            true_calls = _count_in(band_calls, truth_keys)
            rows.append({"kind": kind, "vaf_band": band_label(low, high),
                         "truth": len(band_truth), "found": found,
                         "recall": _ratio(found, len(band_truth)),
                         "calls": len(band_calls), "true_calls": true_calls,
                         "precision": _ratio(true_calls, len(band_calls))})
    return pd.DataFrame(rows)


def totals_from(table: pd.DataFrame, min_vaf: float = TARGET_MIN_VAF,
                by: Iterable[str] = ("kind",)) -> pd.DataFrame:
    """Recall and precision summed over the bands from ``min_vaf`` up, per ``by`` group."""
    low_ends = table.vaf_band.str.split("-").str[0].astype(float)
    counts = (table[low_ends >= min_vaf]
              .groupby(list(by), sort=False)[["truth", "found", "calls", "true_calls"]].sum()
              .reset_index())
    counts["recall"] = [_ratio(f, t) for f, t in zip(counts.found, counts.truth)]
    counts["precision"] = [_ratio(t, c) for t, c in zip(counts.true_calls, counts.calls)]
    return counts


# ---------------------------------------------------------------------------------------------
# Classified VCF -> calls table.

def classified_calls(classified_vcf: str | Path, patient: str) -> pd.DataFrame:
    """The calls of a classify_vcf output as a table with the variants-table columns used here."""
    rows = []
    with open_vcf(classified_vcf) as vcf:
        for record in vcf:
            info = record.info
            rows.append({"patient": patient, "contig": record.chrom, "contig_pos": record.pos,
                         "ref": record.ref, "alt": record.alts[0], "status": info["STATUS"],
                         "filter": ";".join(record.filter.keys()) or "PASS",
                         # VAF from the counts: INFO/T_VAF is a rounded float32.
                         "t_vaf": allele_fraction(info["T_DP"], info["T_ALT"])})
    return pd.DataFrame(rows, columns=KEY + ["status", "filter", "t_vaf"])


def next_to_indel(calls: pd.DataFrame, window: int) -> pd.Series:
    """True for calls within ``window`` bp of another indel call of the same patient.

    Alignment artefacts cluster beside real indels (freebayes' SNVs next to indels, a second
    indel beside a true one): this flags them so a table can show what a filter would remove.
    An indel spans contig_pos .. contig_pos + len(ref) - 1 (its padding base included).
    """
    calls = _with_kind(calls)
    indels: dict[tuple[str, str], list[tuple[int, str, str]]] = {}
    for row in calls[calls.kind == "indel"].itertuples():
        indels.setdefault((row.patient, row.contig), []).append((row.contig_pos, row.ref, row.alt))

    def near(row) -> bool:
        return any(start - window <= row.contig_pos <= start + len(ref) - 1 + window
                   and (start, ref, alt) != (row.contig_pos, row.ref, row.alt)  # not itself
                   for start, ref, alt in indels.get((row.patient, row.contig), ()))

    return pd.Series([near(row) for row in calls.itertuples()], index=calls.index, dtype=bool)


def caller_scores(calls: pd.DataFrame, truth: pd.DataFrame, paired: Collection[str],
                  window: int = NEXT_TO_INDEL_WINDOW) -> pd.DataFrame:
    """recall_precision_table plus, per band, the somatic calls within ``window`` bp of an indel
    call (``next_to_indel``) and how many of those are not planted (``false_next_to_indel``):
    what a filter of such calls would remove, and at what cost."""
    table = recall_precision_table(calls, truth, paired)
    near = recall_precision_table(calls[next_to_indel(calls, window)], truth, paired)
    table["next_to_indel"] = near.calls
    table["false_next_to_indel"] = near.calls - near.true_calls
    return table


# ---------------------------------------------------------------------------------------------
# Caller comparison on a workflow run directory.

CALLERS = ("bcftools", "freebayes")
#: Besides the workflow's read-quality floors: frequency-based calling with no ploidy (tumour
#: alleles lie far below a diploid 50 %) of every allele seen twice at 2 % in one sample, as the
#: workflow's mpileup -m 2 -F 0.02 -p does; the classification decides later.
FREEBAYES_OPTIONS = ("--pooled-continuous", "--min-alternate-fraction", "0.02",
                     "--min-alternate-count", "2")
#: A bound per freebayes run: it can be slow at high depth.
FREEBAYES_TIMEOUT_S = 900


@dataclass(frozen=True)
class Pair:
    patient: str
    tumour: str
    normal: str


@dataclass(frozen=True)
class RunInputs:
    """What the comparison reads from a workflow run directory (after the workflow ran)."""

    run_dir: Path
    pairs: list[Pair]
    fasta: Path
    targets: Path
    truth: Path
    min_mapping_quality: int
    min_base_quality: int
    thresholds: CallingThresholds

    def bam(self, sample: str) -> Path:
        return self.run_dir / "results" / "mapped" / f"{sample}.bam"

    def candidates(self, patient: str) -> Path:
        """The patient's pileup candidates, in its shard's folder (results/shards/<shard>/called)."""
        found = sorted((self.run_dir / "results" / "shards").glob(f"*/called/{patient}.vcf.gz"))
        # Not there yet: the pattern, which the caller's missing-file check then names.
        return found[0] if found else (self.run_dir / "results" / "shards" / "<shard>" / "called"
                                       / f"{patient}.vcf.gz")


def paired_patients(sheet: str | Path, patients: Collection[str] | None = None) -> list[Pair]:
    """Patients of a sample sheet with a tumour and a normal (only ``patients`` when given)."""
    samples = read_sheet(sheet)
    missing = {"patient", "sample", "type"} - set(samples.columns)
    if missing:
        raise InputError(f"missing columns {sorted(missing)}", path=str(sheet))
    of_type = {kind: samples[samples.type == kind].set_index("patient")["sample"].to_dict()
               for kind in ("tumour", "normal")}
    paired = sorted(set(of_type["tumour"]) & set(of_type["normal"]))
    if patients:
        unpaired = sorted(set(patients) - set(paired))
        if unpaired:
            raise InputError(f"not a patient with tumour and normal: {', '.join(unpaired)}",
                             path=str(sheet))
        paired = [patient for patient in paired if patient in patients]
    if not paired:
        raise InputError("no patient with both a tumour and a normal", path=str(sheet))
    return [Pair(p, of_type["tumour"][p], of_type["normal"][p]) for p in paired]


def run_inputs(run_dir: str | Path, patients: Collection[str] | None = None) -> RunInputs:
    """Sheet, reference, targets, truth and calling settings of a run, checked to exist."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config" / "config.yaml"
    if not config_path.exists():
        raise InputError("config not found (is this a workflow run directory?)", path=config_path)
    config = yaml.safe_load(config_path.read_text()) or {}
    calling = config.get("calling", {})
    targets = config.get("reference", {}).get("targets")
    inputs = RunInputs(
        run_dir=run_dir,
        pairs=paired_patients(run_dir / config.get("samples", "config/samples.tsv"), patients),
        fasta=run_dir / "results" / "reference" / "genome.fa",
        # Paths in the config are relative to the run directory; "" = the bundled targets.
        targets=run_dir / targets if targets else BUNDLED_REFERENCE_DIR / "targets.bed",
        truth=run_dir / "results" / "toy_cohort" / "truth.vcf.gz",
        min_mapping_quality=int(calling.get("min_mapping_quality", 20)),
        min_base_quality=int(calling.get("min_base_quality", 20)),
        thresholds=CallingThresholds.from_mapping(calling.get("thresholds")),
    )
    needed = [inputs.fasta, inputs.targets, inputs.truth]
    for pair in inputs.pairs:
        needed += [inputs.bam(pair.tumour), inputs.bam(pair.normal),
                   inputs.candidates(pair.patient)]
    for path in needed:
        if not path.exists():
            raise InputError("not found (run the workflow on this directory first)", path=path)
    return inputs


def _run(command: list[str | Path], timeout: float | None = None) -> None:
    """Run a tool; a failure raises RuntimeError with the end of its stderr."""
    command = [str(part) for part in command]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise RuntimeError(f"{command[0]} not found on PATH") from None
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{command[0]} ran past {timeout:.0f} s") from None
    except subprocess.CalledProcessError as err:
        raise RuntimeError(f"{command[0]} failed (exit {err.returncode}): "
                           f"{err.stderr.strip()[-1000:]}") from None


def bam_sample_tag(bam: str | Path) -> str:
    """The one SM tag of a BAM's read groups: the sample name freebayes gives its reads."""
    import pysam

    with pysam.AlignmentFile(str(bam), check_sq=False) as handle:
        tags = {group.get("SM") for group in handle.header.to_dict().get("RG", [])}
    if len(tags) != 1 or None in tags:
        raise InputError("freebayes needs one read-group SM tag per BAM, found "
                         f"{sorted(map(str, tags))}", path=str(bam))
    return tags.pop()


def freebayes_candidates(bams: list[Path], samples: list[str], fasta: Path, targets: Path,
                         output_vcf: Path, options: Iterable[str]) -> None:
    """freebayes over ``targets``, samples renamed to ``samples``, split like the workflow's
    candidates (bgzipped + .tbi). FORMAT AD and DP come from freebayes; ADF/ADR do not exist
    there, so the classification's strand-bias filter cannot act on these calls."""
    tags = [bam_sample_tag(bam) for bam in bams]
    if len(set(tags)) < len(tags):
        raise InputError(f"BAMs {', '.join(map(str, bams))} share an SM tag: freebayes would "
                         "pool them as one sample")
    stem = output_vcf.parent / output_vcf.name.removesuffix(".vcf.gz")
    raw, names, renamed = (Path(f"{stem}.{suffix}")
                           for suffix in ("raw.vcf", "names.txt", "renamed.vcf"))
    _run(["freebayes", "-f", fasta, "-t", targets, *options, "-v", raw, *bams],
         timeout=FREEBAYES_TIMEOUT_S)
    names.write_text("".join(f"{tag}\t{sample}\n" for tag, sample in zip(tags, samples)))
    _run(["bcftools", "reheader", "-s", names, "-o", renamed, raw])
    # -a splits freebayes' haplotype (MNP/complex) alleles into SNVs and indels, which the truth
    # and mpileup use; '*' marks an allele overlapping another one's deletion.
    _run(["bcftools", "norm", "-f", fasta, "-a", "-m", "-any", "-Ou", "-o", f"{stem}.norm.bcf",
          renamed])
    _run(["bcftools", "view", "-e", 'ALT="*" || ALT="."', "-Oz", "-o", output_vcf,
          f"{stem}.norm.bcf"])
    _run(["bcftools", "index", "-t", output_vcf])


def workflow_call_seconds(run_dir: Path, patient: str) -> float:
    """Wall seconds of the workflow's bcftools candidates per patient (mpileup | call | norm |
    view): the benchmark of the patient's shard job divided by the patients it called; NaN when
    it is missing."""
    for called in sorted((run_dir / "results" / "shards").glob(f"*/called/{patient}.vcf.gz")):
        shard = called.parent.parent.name
        path = run_dir / "benchmarks" / "call_variants" / f"{shard}.tsv"
        if path.exists():
            patients = len(list(called.parent.glob("*.vcf.gz")))
            return float(pd.read_csv(path, sep="\t")["s"].mean()) / patients
    return float("nan")


def _classified(candidates: Path, pair: Pair, thresholds: CallingThresholds,
                work_dir: Path) -> pd.DataFrame:
    output = work_dir / f"{pair.patient}.classified.vcf.gz"
    classify_vcf(candidates, output, pair.tumour, pair.normal, thresholds)
    return classified_calls(output, pair.patient)


def _freebayes_options(inputs: RunInputs) -> list[str]:
    # The workflow's mpileup read floors, so both callers see the same reads.
    return [*FREEBAYES_OPTIONS, "--min-mapping-quality", str(inputs.min_mapping_quality),
            "--min-base-quality", str(inputs.min_base_quality)]


def _timed_freebayes(inputs: RunInputs, pair: Pair, work_dir: Path) -> tuple[Path, float]:
    """freebayes candidates of one pair, and the wall seconds they took."""
    work_dir.mkdir(parents=True, exist_ok=True)
    output = work_dir / f"{pair.patient}.candidates.vcf.gz"
    start = time.perf_counter()
    freebayes_candidates([inputs.bam(pair.tumour), inputs.bam(pair.normal)],
                         [pair.tumour, pair.normal], inputs.fasta, inputs.targets, output,
                         _freebayes_options(inputs))
    return output, time.perf_counter() - start


def compare_callers(inputs: RunInputs, work_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score the workflow's bcftools candidates and freebayes' on the same pairs.

    Both go through classify_vcf with the run's thresholds. Returns the scores (caller x kind x
    VAF band, :func:`caller_scores` columns) and wall seconds per caller and patient: freebayes
    timed here (freebayes + bcftools norm), bcftools from the workflow's benchmark files.
    """
    calls: dict[str, list[pd.DataFrame]] = {caller: [] for caller in CALLERS}
    timings = []
    for pair in inputs.pairs:
        runs = {"bcftools": (inputs.candidates(pair.patient),
                             workflow_call_seconds(inputs.run_dir, pair.patient)),
                "freebayes": _timed_freebayes(inputs, pair, work_dir / "freebayes")}
        for caller, (candidates, wall_s) in runs.items():
            calls[caller].append(_classified(candidates, pair, inputs.thresholds,
                                             work_dir / caller))
            timings.append({"caller": caller, "patient": pair.patient, "wall_s": wall_s})
    patients = [pair.patient for pair in inputs.pairs]
    truth = truth_table(inputs.truth)
    truth = truth[truth.patient.isin(patients)]
    scores = pd.concat([caller_scores(pd.concat(calls[caller]), truth, patients)
                        .assign(caller=caller)
                        for caller in CALLERS], ignore_index=True)
    return scores[["caller", *scores.columns.drop("caller")]], pd.DataFrame(timings)


def format_comparison(scores: pd.DataFrame, timings: pd.DataFrame) -> str:
    """The scores table, the totals from 10 % VAF up, and wall seconds per caller."""
    totals = totals_from(scores, by=("caller", "kind"))
    wall = (timings.pivot(index="patient", columns="caller", values="wall_s")
            .reindex(columns=list(CALLERS)))
    wall.loc["total"] = wall.sum(min_count=1)

    def text(table: pd.DataFrame, index: bool = False) -> str:
        return table.to_string(index=index, float_format=lambda value: f"{value:.3f}")

    return "\n\n".join([
        "somatic calls against the truth, per caller, kind and tumour-VAF band\n" + text(scores),
        f"totals at VAF >= {TARGET_MIN_VAF:.0%}\n" + text(totals),
        "wall seconds to candidates (bcftools: the workflow's benchmarks; freebayes: timed now)\n"
        + wall.to_string(float_format=lambda value: f"{value:.1f}"),
    ])
