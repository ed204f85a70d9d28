"""Simulated reads of the toy cohort: each sample a mixture of component genomes run through dwgsim.

Reads come from the real reference, cut down to "target windows" (targets +- 350 bp, merged).
Each sample is a mixture of haploid component genomes simulated separately with dwgsim:

* normal: parental haplotypes A and B, depth/2 each;
* tumour: 20 components of depth/20 each, components 0-9 from haplotype A and 10-19 from B
  (which variants each component carries: ``toy.planting``); a gene with a copy-number event
  (``planting.CopyNumberEvent``) has its windows dropped (a lost copy), given another
  component's variants (copy-neutral LOH) or simulated again at extra depth (amplification) in
  the tumour-cell components.

dwgsim runs with seeds derived from the cohort's seed, so the same seed gives byte-identical
FASTQ.
"""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from oncoweave.core.io import replaced_on_success
from oncoweave.toy.planting import TUMOUR_COMPONENTS, Patient, Variant

if TYPE_CHECKING:  # pysam is imported by the module that opens the FASTA
    import pysam

WINDOW_FLANK = 350  # read pairs are ~300 bp: full depth reaches this far into the window
INSERT_SIZE, INSERT_SD = 300, 30
BASE_ERROR_RATE = 0.002


@dataclass(frozen=True)
class Window:
    contig: str
    start: int  # 1-based inclusive
    end: int

    @property
    def name(self) -> str:
        return f"{self.contig}_{self.start}_{self.end}"


@dataclass(frozen=True)
class SimulationSettings:
    tumour_depth: float
    normal_depth: float
    read_length: int
    threads: int
    seed: int


def target_windows(targets: list[tuple[str, int, int, str]],
                   contig_lengths: dict[str, int]) -> list[Window]:
    """Targets +- WINDOW_FLANK, clipped to the contig and merged."""
    windows: list[Window] = []
    for contig, start, end, _ in sorted(targets):
        first = max(1, start + 1 - WINDOW_FLANK)
        last = min(contig_lengths[contig], end + WINDOW_FLANK)
        if windows and windows[-1].contig == contig and first <= windows[-1].end + 1:
            windows[-1] = Window(contig, windows[-1].start, max(windows[-1].end, last))
        else:
            windows.append(Window(contig, first, last))
    return windows


def window_genes(windows: list[Window], targets: list[tuple[str, int, int, str]]
                 ) -> dict[Window, str]:
    """The gene of each window: that of the first target inside it."""
    genes = {}
    for window in windows:
        for contig, start, end, gene in sorted(targets):
            if contig == window.contig and window.start <= start + 1 and end <= window.end:
                genes[window] = gene
                break
    return genes


def component_sequences(windows: list[Window], fasta: pysam.FastaFile,
                        variants: set[Variant]) -> list[tuple[str, str]]:
    """(window name, sequence) with `variants` applied, for one haploid component genome."""
    records = []
    for window in windows:
        sequence = fasta.fetch(window.contig, window.start - 1, window.end).upper()
        inside = sorted((v for v in variants if v.contig == window.contig
                         and window.start <= v.pos and v.end <= window.end),
                        key=lambda v: v.pos, reverse=True)  # right to left keeps offsets valid
        for variant in inside:
            offset = variant.pos - window.start
            sequence = sequence[:offset] + variant.alt + sequence[offset + len(variant.ref):]
        records.append((window.name, sequence))
    return records


def write_fasta(records: list[tuple[str, str]], path: Path) -> None:
    with path.open("w") as handle:
        for name, sequence in records:
            handle.write(f">{name}\n")
            handle.writelines(sequence[i:i + 60] + "\n" for i in range(0, len(sequence), 60))


@dataclass(frozen=True)
class ComponentJob:
    sample: str
    index: int
    fasta: Path
    depth: float
    seed: int

    @property
    def prefix(self) -> str:
        return f"{self.sample}-c{self.index:02d}"


def sample_jobs(patient: Patient, patient_number: int, windows: list[Window],
                fasta: pysam.FastaFile, settings: SimulationSettings,
                workdir: Path, window_gene: dict[Window, str] | None = None
                ) -> dict[str, list[ComponentJob]]:
    """The dwgsim runs of a patient's samples, each with its component FASTA written (a tumour
    with copy-number events: :func:`_copy_number_jobs`; ``window_gene``: each window's gene)."""
    layouts = {f"{patient.name}-T": (patient.tumour_components, TUMOUR_COMPONENTS,
                                     settings.tumour_depth / TUMOUR_COMPONENTS)}
    if patient.has_normal:
        layouts[f"{patient.name}-N"] = (patient.normal_haplotypes, 2, settings.normal_depth / 2)
    jobs = {}
    for sample_index, (sample, (carriers, n_components, depth)) in enumerate(layouts.items()):
        jobs[sample] = []
        for index in range(n_components):
            component_fasta = workdir / f"{sample}-c{index:02d}.fa"
            seed = int(np.random.SeedSequence(
                [settings.seed, patient_number, sample_index, index]).generate_state(1)[0] >> 1)
            if sample_index > 0 or not patient.copy_number:
                present = {v for v, count in carriers.items() if count > index}
                write_fasta(component_sequences(windows, fasta, present), component_fasta)
                jobs[sample].append(ComponentJob(sample, index, component_fasta, depth, seed))
                continue
            jobs[sample] += _copy_number_jobs(patient, patient_number, index, windows,
                                              window_gene or {}, fasta, settings, workdir,
                                              sample, depth, seed)
    return jobs


EXTRA_COPIES_INDEX = 100  # the extra copies of component i are simulated as component 100 + i


def _copy_number_jobs(patient: Patient, patient_number: int, index: int, windows: list[Window],
                      window_gene: dict[Window, str], fasta: pysam.FastaFile,
                      settings: SimulationSettings, workdir: Path, sample: str, depth: float,
                      seed: int) -> list[ComponentJob]:
    """The dwgsim runs of one tumour component of a patient with copy-number events: its windows
    at one copy with the variants of the component each window's layout names (none for a lost
    copy), and the extra copies of amplified windows as a second run at depth x (copies - 1)."""
    one_copy, extra = [], {}
    for window in windows:
        source, copies = patient.component_layout(window_gene.get(window, ""))[index]
        present = {v for v, count in patient.tumour_components.items() if count > source}
        if copies >= 1:
            one_copy += component_sequences([window], fasta, present)
        if copies > 1:
            extra.setdefault(copies - 1, []).extend(component_sequences([window], fasta, present))
    component_fasta = workdir / f"{sample}-c{index:02d}.fa"
    write_fasta(one_copy, component_fasta)
    jobs = [ComponentJob(sample, index, component_fasta, depth, seed)]
    for copies, records in sorted(extra.items()):
        extra_index = EXTRA_COPIES_INDEX + index
        extra_fasta = workdir / f"{sample}-c{extra_index:02d}.fa"
        write_fasta(records, extra_fasta)
        extra_seed = int(np.random.SeedSequence(
            [settings.seed, patient_number, 0, index, copies]).generate_state(1)[0] >> 1)
        jobs.append(ComponentJob(sample, extra_index, extra_fasta, depth * copies, extra_seed))
    return jobs


def run_dwgsim(job: ComponentJob, read_length: int) -> tuple[Path, Path]:
    out_prefix = job.fasta.with_suffix("")
    command = ["dwgsim", "-e", str(BASE_ERROR_RATE), "-E", str(BASE_ERROR_RATE), "-r", "0",
               "-y", "0", "-d", str(INSERT_SIZE), "-s", str(INSERT_SD),
               "-1", str(read_length), "-2", str(read_length), "-C", f"{job.depth:g}",
               "-z", str(job.seed), "-o", "1", "-P", job.prefix, str(job.fasta), str(out_prefix)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"dwgsim failed for {job.prefix}: {result.stderr[-2000:]}")
    return (Path(f"{out_prefix}.bwa.read1.fastq.gz"), Path(f"{out_prefix}.bwa.read2.fastq.gz"))


def concatenate_gzip(parts: list[Path], output: Path) -> None:
    """Join gzip files member by member (valid gzip; dwgsim writes mtime 0, so bytes are stable)."""
    with replaced_on_success(output) as temporary, temporary.open("wb") as handle:
        for part in parts:
            with part.open("rb") as source:
                shutil.copyfileobj(source, handle)


def simulate_reads(jobs: dict[str, list[ComponentJob]], settings: SimulationSettings,
                   reads_dir: Path) -> None:
    all_jobs = [job for sample_jobs_ in jobs.values() for job in sample_jobs_]
    with ThreadPoolExecutor(max_workers=settings.threads) as pool:
        outputs = dict(zip(all_jobs, pool.map(
            lambda job: run_dwgsim(job, settings.read_length), all_jobs)))
    for sample, sample_components in jobs.items():
        for mate in (0, 1):
            concatenate_gzip([outputs[job][mate] for job in sample_components],
                             reads_dir / f"{sample}_R{mate + 1}.fastq.gz")


def check_inside_windows(patients: list[Patient], windows: list[Window]) -> None:
    for variant in {v for p in patients for v in p.tumour_components}:
        if not any(w.contig == variant.contig and w.start <= variant.pos and variant.end <= w.end
                   for w in windows):
            raise ValueError(f"planted {variant} lies outside the simulated windows")
