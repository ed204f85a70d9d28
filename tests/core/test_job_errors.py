"""The failed jobs' one-line errors, found in the logs this run wrote."""

import os

from oncoweave.core.job_errors import failed_job_errors

RULE_LINE = ("2026-12-07 01:18:27,101 ERROR oncoweave: error in rule check_bam: config/samples.tsv, "
             "row 1 (sample P1-T): reads/fake.bam: not a BAM/CRAM file\n")


def write_log(path, text, mtime):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, (mtime, mtime))
    return path


def test_error_lines_of_this_runs_logs_oldest_first_each_once(tmp_path):
    logs = tmp_path / "logs"
    write_log(logs / "check_bam/P1-T.log", "2026-12-07 INFO oncoweave: reading\n" + RULE_LINE, 200)
    # The same message from a second job (e.g. a retry) is said once.
    write_log(logs / "check_bam/P1-T.retry.log", RULE_LINE, 201)
    write_log(logs / "tmb/s0.log", "oncoweave therapy: error: calls/P2.vcf.gz: no records\n", 150)
    write_log(logs / "old/P9.log", RULE_LINE.replace("P1-T", "P9-T"), 50)  # an earlier run
    write_log(logs / "ok/P3.log", "2026-12-07 ERROR oncoweave.fusion: not ours\nall done\n", 300)
    assert failed_job_errors(logs, since=100) == [
        f"oncoweave: error: calls/P2.vcf.gz: no records (log {logs}/tmb/s0.log)",
        "oncoweave: error: config/samples.tsv, row 1 (sample P1-T): reads/fake.bam: not a BAM/CRAM "
        f"file (rule check_bam; log {logs}/check_bam/P1-T.log)",
    ]


def test_no_logs_folder_or_no_error_gives_nothing(tmp_path):
    assert failed_job_errors(tmp_path / "logs", since=0) == []
    write_log(tmp_path / "logs/a.log", "fine\n", 10)
    assert failed_job_errors(tmp_path / "logs", since=0) == []


def test_a_long_log_is_read_from_its_tail(tmp_path):
    log = write_log(tmp_path / "logs/big.log", "x" * 200_000 + "\n" + RULE_LINE, 10)
    assert failed_job_errors(tmp_path / "logs", since=0) == [
        "oncoweave: error: config/samples.tsv, row 1 (sample P1-T): reads/fake.bam: not a BAM/CRAM "
        f"file (rule check_bam; log {log})"]
