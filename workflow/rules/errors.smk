# When jobs fail on bad input, their one-line errors (oncoweave.core.job_errors) are what the user
# sees last: printed once each at exit, after Snakemake's own error blocks and log hint.
import atexit
import sys
import time

from oncoweave.core import job_errors

_RUN_STARTED = time.time()


def _print_job_errors(lines):
    for line in lines:
        print(line, file=sys.stderr, flush=True)


onerror:
    atexit.register(_print_job_errors, job_errors.failed_job_errors("logs", _RUN_STARTED))
