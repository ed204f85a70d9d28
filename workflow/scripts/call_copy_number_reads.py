"""Copy number of a shard's read tumours with CNVkit: per tumour, its per-gene table, segments and
CNVkit's files under <output>/<patient>/ (side by side in processes when the job has threads)."""
import tempfile
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing import get_context
from pathlib import Path

from oncoweave.cli.glue import each_patient, log, run_step
from oncoweave.core.io import directory_replaced_on_success
from oncoweave.variants.cnvkit_calls import CNVKIT_OUTPUT_FILES, call_patient


def call_one(sample, folder, pooled, inputs, params):
    patient_dir = Path(folder) / sample["patient"]
    patient_dir.mkdir()
    outputs = {key: patient_dir / name for key, name in CNVKIT_OUTPUT_FILES.items()}
    with tempfile.TemporaryDirectory(prefix="cnvkit-", dir=folder) as work:
        return call_patient(
            patient=sample["patient"], tumour=sample["tumour"], tumour_bam=sample["tumour_bam"],
            normal=sample["normal"], normal_bam=sample["normal_bam"], pooled_reference=pooled,
            vcf=sample["vcf"], purity=sample["purity"], targets=inputs["targets"],
            fasta=inputs["fasta"], settings=params["settings"],
            min_mapping_quality=params["min_mq"], workdir=work, outputs=outputs)


def main():
    samples = snakemake.params.samples
    inputs = {"targets": snakemake.input.targets, "fasta": snakemake.input.fasta}
    params = {"settings": dict(snakemake.params.settings), "min_mq": snakemake.params.min_mq}
    pooled = snakemake.input.get("pooled_reference") or None
    workers = min(snakemake.threads, len(samples))
    with directory_replaced_on_success(snakemake.output[0]) as folder:
        call = partial(call_one, folder=folder, pooled=pooled, inputs=inputs, params=params)
        if workers > 1:
            import cnvlib  # noqa: F401  (imported once, before the fork)

            log.info("%d tumours in %d processes", len(samples), workers)
            with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
                tables = list(pool.map(call, samples))
        else:
            tables = [call(sample) for sample in each_patient(samples)]
        for genes in tables:
            for row in genes.itertuples():
                print(f"{row.patient} {row.gene}: {row.call} (log2 {row.log2_ratio:.3f}, "
                      f"copies {row.total_copy_number}, minor {row.minor_copy_number})")


run_step(snakemake, main)
