"""The one command line over the package, benchmarks, and the workflow scripts' glue."""
