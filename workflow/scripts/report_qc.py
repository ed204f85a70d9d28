"""One MultiQC report over the read samples' QC folders and the identity table.

MultiQC is given the listed QC files in a --file-list, not on its command line: the files of
thousands of samples would pass the argument-length limit.
"""
import subprocess
import sys
import tempfile
from pathlib import Path

from oncoweave.cli.glue import run_step
from oncoweave.variants.qc_files import multiqc_inputs


def main():
    files = multiqc_inputs(snakemake.input.qc) + [snakemake.input.identity]
    report = Path(snakemake.output.report)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", prefix="multiqc_files.") as listing:
        listing.write("".join(f"{path}\n" for path in files))
        listing.flush()
        sys.stderr.flush()
        subprocess.run(["multiqc", "--force", "--no-ansi", "-o", str(report.parent),
                        "-n", report.name, "--file-list", listing.name],
                       check=True, stdout=sys.stderr, stderr=subprocess.STDOUT)


run_step(snakemake, main)
