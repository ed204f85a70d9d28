"""Where each patient's report is: results/report/index.html (links) and index.tsv."""
from oncoweave.cli.glue import run_step
from oncoweave.report.report_index import write_report_index


def main():
    write_report_index(snakemake.params.shards, snakemake.output.html, snakemake.output.tsv)


run_step(snakemake, main)
