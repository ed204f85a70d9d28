"""Per-rule benchmark summary on synthetic Snakemake benchmark files; toy-run on a tiny workflow."""

from __future__ import annotations

from pathlib import Path

import pytest

from oncoweave.cli import benchmark
from oncoweave.core import benchmark_files
from oncoweave.core.benchmark_files import orchestration_overhead, summarize_benchmarks
from oncoweave.cli.main import main
from oncoweave.core.errors import InputError

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def write_benchmark(path: Path, *rows: tuple) -> None:
    """rows: (wall_s, max_rss_mb, cpu_time_s); NA where Snakemake could not sample."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{s}\t0:00:01\t{rss}\t900.1\t{rss}\t{rss}\t0.1\t0.2\t50.0\t{cpu}\n"
             for s, rss, cpu in rows]
    path.write_text(HEADER + "".join(lines))


@pytest.fixture
def benchmarks(tmp_path) -> Path:
    root = tmp_path / "benchmarks"
    write_benchmark(root / "map_reads" / "P1_T.tsv", (10.0, 300.5, 18.0))
    write_benchmark(root / "map_reads" / "P1_N.tsv", (6.0, 250.0, 11.0))
    write_benchmark(root / "map_reads" / "P2_T.tsv", (2.0, 120.0, 3.0))
    # Two repeats of one job: averaged, so one job of 3 s wall and 2 s CPU.
    write_benchmark(root / "call_somatic" / "P1.tsv", (4.0, 80.0, 3.0), (2.0, 90.0, 1.0))
    # Nested wildcards still belong to the first folder's rule; a too-fast job has NA stats.
    write_benchmark(root / "mosdepth" / "P1" / "T.tsv", (0.3, "NA", "NA"))
    write_benchmark(root / "mosdepth" / "P1" / "N.tsv", (0.7, 40.0, 0.5))
    return root


def test_per_rule_totals_means_and_maxima(benchmarks):
    summary = summarize_benchmarks(benchmarks).set_index("rule")
    assert list(summary.index) == ["call_somatic", "map_reads", "mosdepth"]
    assert summary.loc["map_reads"].tolist() == pytest.approx([3, 18.0, 6.0, 10.0, 32.0, 300.5])
    assert summary.loc["call_somatic"].tolist() == pytest.approx([1, 3.0, 3.0, 3.0, 2.0, 90.0])
    assert summary.loc["mosdepth"].tolist() == pytest.approx([2, 1.0, 0.5, 0.7, 0.5, 40.0])


def test_job_table_has_one_row_per_benchmark_file_and_a_plot(benchmarks, tmp_path):
    from oncoweave.core.tables import read_parquet, write_parquet

    jobs = benchmark_files.benchmark_jobs(benchmarks)
    assert list(zip(jobs.rule, jobs.job)) == [
        ("call_somatic", "P1"), ("map_reads", "P1_N"), ("map_reads", "P1_T"), ("map_reads", "P2_T"),
        ("mosdepth", "P1/N"), ("mosdepth", "P1/T")]
    assert jobs.cpu_s.isna().tolist() == [False] * 5 + [True]  # unsampled stays missing
    write_parquet(jobs, tmp_path / "benchmarks.parquet", benchmark_files.BENCHMARKS_SCHEMA)
    assert read_parquet(tmp_path / "benchmarks.parquet", benchmark_files.BENCHMARKS_SCHEMA)[0].shape == (6, 5)
    benchmark_files.plot_benchmarks(summarize_benchmarks(benchmarks), tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"


def test_overhead_is_wall_over_ideal_parallel_wall():
    # 60 s of rule CPU on 2 cores could take 30 s; 45 s of wall is 1.5x that.
    assert orchestration_overhead(45.0, 60.0, 2) == pytest.approx(1.5)


def test_cli_prints_the_table(benchmarks, capsys):
    assert main(["benchmark", "summarize", "--benchmarks", str(benchmarks)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["rule", "jobs", "total_wall_s", "mean_wall_s", "max_wall_s",
                                "total_cpu_s", "max_rss_mb"]
    assert lines[2].split() == ["map_reads", "3", "18.00", "6.00", "10.00", "32.00", "300.50"]


def test_empty_folder_and_bad_files_are_named(tmp_path):
    with pytest.raises(InputError, match="no benchmark files"):
        summarize_benchmarks(tmp_path)
    bad = tmp_path / "rule_a" / "x.tsv"
    bad.parent.mkdir()
    bad.write_text("seconds\tmemory\n1\t2\n")
    with pytest.raises(InputError, match=r"x\.tsv.*missing columns \['s', 'max_rss', 'cpu_time'\]"):
        summarize_benchmarks(tmp_path)
    write_benchmark(bad, (1.0, 10.0, "oops"))
    with pytest.raises(InputError, match=r"x\.tsv, row 2, column 'cpu_time': not a number"):
        summarize_benchmarks(tmp_path)


def test_toy_run_times_a_fresh_workflow_run(tmp_path, monkeypatch, capsys):
    """The wrapper copies config/, runs snakemake there and summarises its benchmarks."""
    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    (repo / "config" / "samples.tsv").write_text("sample\nA\nB\n")
    (repo / "Snakefile").write_text(
        'import csv\n'
        'SHEET = csv.DictReader(open("config/samples.tsv"), delimiter="\\t")\n'
        'SAMPLES = [row["sample"] for row in SHEET]\n'
        'rule all:\n'
        '    input: expand("results/{s}.txt", s=SAMPLES)\n'
        'rule touch_sample:\n'
        '    output: "results/{s}.txt"\n'
        '    benchmark: "benchmarks/touch_sample/{s}.tsv"\n'
        '    shell: "echo {wildcards.s} > {output}"\n')
    monkeypatch.setattr(benchmark, "REPO_ROOT", repo)
    workdir = tmp_path / "run"
    assert main(["benchmark", "toy-run", "--cores", "1", "--workdir", str(workdir)]) == 0
    assert (workdir / "results" / "B.txt").read_text() == "B\n"
    out = capsys.readouterr().out
    assert "touch_sample     2" in out
    assert "end-to-end wall:" in out and "orchestration overhead" in out

    # A second run into the same (now full) folder is refused: timings need a fresh run.
    assert main(["benchmark", "toy-run", "--workdir", str(workdir)]) == 2
    assert "must be new or empty" in capsys.readouterr().err

