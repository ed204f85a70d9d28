"""The toy cohort's VCFs: the read patients' truth set and the VCF patients' tumour-only calls.

``write_truth`` writes truth.vcf.gz, one record per planted variant with each read patient's
genotype and expected VAFs; ``write_patient_vcf`` the VCF a caller would hand over for a
tumour-only VCF patient, with read counts drawn around VCF_DEPTH at the expected VAF.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pysam

from oncoweave import __version__
from oncoweave.core.io import indexed_vcf_on_success
from oncoweave.toy.planting import TUMOUR_COMPONENTS, Patient, Variant
from oncoweave.toy.reads import SimulationSettings

VCF_DEPTH = 200  # mean tumour depth of the VCF's FORMAT/DP


def truth_header(fasta: pysam.FastaFile, patients: list[Patient], settings: SimulationSettings,
                 reference: Path) -> pysam.VariantHeader:
    header = pysam.VariantHeader()
    header.add_line(f"##source=oncoweave toy-cohort {__version__}")
    header.add_line(f"##reference={reference.name}")
    header.add_line(
        f"##oncoweave_toy=<patients={len(patients)},seed={settings.seed},"
        f"tumour_depth={settings.tumour_depth:g},normal_depth={settings.normal_depth:g},"
        f"read_length={settings.read_length},tumour_components={TUMOUR_COMPONENTS}>")
    header.add_line("##oncoweave_toy_note=Coordinates are reference-contig positions; alleles "
                    "left-aligned and trimmed as bcftools norm -f writes them. One record per "
                    "planted variant; a patient carries it when its GT is not 0/0.")
    for patient in patients:
        for event in patient.copy_number.values():
            header.add_line(
                f"##oncoweave_toy_copy_number=<patient={patient.name},gene={event.gene},"
                f"kind={event.kind},copies={event.copies},call={event.call}>")
    for contig, length in zip(fasta.references, fasta.lengths):
        header.contigs.add(contig, length=length)
    header.add_meta("INFO", items=[
        ("ID", "STATUS"), ("Number", 1), ("Type", "String"),
        ("Description", "How it was planted: somatic (tumour only), germline (normal and "
                        "tumour), loh (germline het whose reference allele the tumour cells "
                        "lost)")])
    header.add_meta("INFO", items=[("ID", "GENE"), ("Number", 1), ("Type", "String"),
                                   ("Description", "Gene of the target interval holding it")])
    header.add_meta("INFO", items=[
        ("ID", "HGVSC"), ("Number", 1), ("Type", "String"),
        ("Description", "HGVS c. on the canonical transcript (planted drivers and the germline "
                        "pathogenic variant)")])
    header.add_meta("INFO", items=[
        ("ID", "HGVSP"), ("Number", 1), ("Type", "String"),
        ("Description", "HGVS p. with one-letter residues (planted drivers and the germline "
                        "pathogenic variant)")])
    header.add_meta("FORMAT", items=[
        ("ID", "GT"), ("Number", 1), ("Type", "String"),
        ("Description", "The patient's genotype: 0/1 somatic or germline het (loh included), "
                        "1/1 germline hom, 0/0 not carried")])
    header.add_meta("FORMAT", items=[
        ("ID", "VAF"), ("Number", 1), ("Type", "Float"),
        ("Description", f"Expected tumour VAF: the fraction of the {TUMOUR_COMPONENTS} simulated "
                        "tumour components carrying ALT")])
    header.add_meta("FORMAT", items=[
        ("ID", "STATUS"), ("Number", 1), ("Type", "String"),
        ("Description", "The variant's status in this patient where it differs from INFO/STATUS: "
                        "loh for a germline het of a gene whose tumour cells lost the other "
                        "allele by a planted copy-number event (##oncoweave_toy_copy_number)")])
    header.add_meta("FORMAT", items=[
        ("ID", "NVAF"), ("Number", 1), ("Type", "Float"),
        ("Description", "Expected normal VAF (0.5 germline het, 1 hom, 0 somatic); missing when "
                        "the patient has no normal")])
    for patient in patients:
        header.add_sample(patient.name)
    return header


def in_reference_order(variants, fasta: pysam.FastaFile) -> list[Variant]:
    """``variants`` sorted as a VCF must be: by the FASTA's contig order, position, alleles."""
    order = {contig: i for i, contig in enumerate(fasta.references)}
    return sorted(variants, key=lambda v: (order[v.contig], v.pos, v.ref, v.alt))


def write_truth(path: Path, fasta: pysam.FastaFile, patients: list[Patient],
                settings: SimulationSettings, reference: Path) -> None:
    header = truth_header(fasta, patients, settings, reference)
    variants = in_reference_order({v for p in patients for v in p.tumour_components}, fasta)
    with indexed_vcf_on_success(path) as temporary:
        with pysam.VariantFile(str(temporary), "wz", header=header) as vcf:
            for variant in variants:
                vcf.write(_truth_record(vcf, variant, patients))


def _truth_record(vcf: pysam.VariantFile, variant: Variant, patients: list[Patient]):
    record = vcf.new_record(contig=variant.contig, start=variant.pos - 1,
                            alleles=(variant.ref, variant.alt))
    record.info["STATUS"] = variant.status
    record.info["GENE"] = variant.gene
    if variant.hgvs_p:
        record.info["HGVSC"] = variant.hgvs_c
        record.info["HGVSP"] = variant.hgvs_p
    for patient in patients:
        _fill_sample(record.samples[patient.name], patient, variant)
    return record


def _fill_sample(call, patient: Patient, variant: Variant) -> None:
    components = patient.tumour_components.get(variant, 0)
    haplotypes = patient.normal_haplotypes.get(variant, 0)
    if variant.status == "somatic":
        call["GT"] = (0, 1) if components else (0, 0)
    else:
        call["GT"] = ((0, 0), (0, 1), (1, 1))[haplotypes]
    call["VAF"] = patient.expected_vaf(variant) if components else 0.0
    if components and patient.status_of(variant) != variant.status:
        call["STATUS"] = patient.status_of(variant)
    if patient.has_normal:
        call["NVAF"] = haplotypes / 2


def vcf_sample(patient: Patient) -> str:
    return f"{patient.name}-T"


def write_patient_vcf(path: Path, fasta: pysam.FastaFile, patient: Patient,
                      rng: np.random.Generator) -> None:
    """The tumour-only VCF a caller would hand over for ``patient``: its planted variants with
    GT and read counts (AD, ADF, ADR, DP) drawn around VCF_DEPTH at their expected VAF."""
    header = pysam.VariantHeader()
    header.add_line(f"##source=oncoweave toy-cohort {__version__} (tumour-only VCF patient)")
    for contig, length in zip(fasta.references, fasta.lengths):
        header.contigs.add(contig, length=length)
    header.add_meta("FORMAT", items=[("ID", "GT"), ("Number", 1), ("Type", "String"),
                                     ("Description", "Genotype")])
    header.add_meta("FORMAT", items=[("ID", "DP"), ("Number", 1), ("Type", "Integer"),
                                     ("Description", "Read depth")])
    for key, what in (("AD", "Allelic depths"), ("ADF", "Allelic depths, forward strand"),
                      ("ADR", "Allelic depths, reverse strand")):
        header.add_meta("FORMAT", items=[("ID", key), ("Number", "R"), ("Type", "Integer"),
                                         ("Description", f"{what} (REF, ALT)")])
    header.add_sample(vcf_sample(patient))
    variants = in_reference_order(patient.tumour_components, fasta)
    with indexed_vcf_on_success(path) as temporary:
        with pysam.VariantFile(str(temporary), "wz", header=header) as vcf:
            for variant in variants:
                vaf = patient.tumour_components[variant] / TUMOUR_COMPONENTS
                depth = int(rng.poisson(VCF_DEPTH))
                alt = int(rng.binomial(depth, vaf))
                forward = (int(rng.binomial(depth - alt, 0.5)), int(rng.binomial(alt, 0.5)))
                record = vcf.new_record(contig=variant.contig, start=variant.pos - 1,
                                        alleles=(variant.ref, variant.alt), filter="PASS")
                call = record.samples[vcf_sample(patient)]
                call["GT"] = (1, 1) if vaf >= 1 else (0, 1)
                call["DP"], call["AD"] = depth, (depth - alt, alt)
                call["ADF"] = forward
                call["ADR"] = (depth - alt - forward[0], alt - forward[1])
                vcf.write(record)
