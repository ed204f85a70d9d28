# Paths: the workflow's own files, the reference (the user's or the bundled GRCh38 gene regions),
# the driver model, and the validated config with its hash. Included first; every rules file uses these.
import hashlib
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate


def workflow_checkout(rules_folder):
    """The folder that holds this workflow's own files (resources/, src/, workflow/schemas).

    Found from this rules file, not from workflow.basedir: used as a `module:`, basedir is the
    user's project. A module from a git host (`github(...)`, `gitlab(...)`, what snakedeploy
    writes) is read by Snakemake file by file, but the rules read resources/ and src/ as folders:
    its commit is unpacked once under .snakemake/workflow-sources/ in the working directory.
    """
    if rules_folder.is_local:
        return Path(rules_folder.get_path_or_uri(secret_free=True)).resolve().parents[1]
    location = rules_folder.get_path_or_uri(secret_free=True)
    hosted = getattr(rules_folder, "hosted_repo", None)
    if hosted is None:
        raise WorkflowError(
            f"oncoweave cannot run from {location}: use a local copy or a git host "
            "(github(...)/gitlab(...) in `module:`); see README, 'Deploy as a module'"
        )
    commit = hosted.repo.commit(rules_folder.ref).hexsha
    checkout = Path(".snakemake", "workflow-sources", rules_folder.repo, commit).resolve()
    if checkout.is_dir():
        return checkout
    checkout.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=checkout.parent, prefix=f".{commit}."))
    try:
        with open(scratch / "tree.tar", "wb") as archive:
            hosted.repo.archive(archive, treeish=commit)
        with tarfile.open(scratch / "tree.tar") as archive:
            archive.extractall(scratch / "tree", filter="data")
        try:
            # A rename, so that no job ever sees half a tree; another process may have won.
            os.rename(scratch / "tree", checkout)
        except OSError:
            if not checkout.is_dir():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return checkout


WORKFLOW_ROOT = workflow_checkout(workflow.current_basedir)
# Rules run package code through workflow/scripts; make the checkout's package importable there too
# (for --sdm conda envs and cluster jobs that did not `pip install -e .`).
# Tools installed beside snakemake (multiqc in .venv/bin) are found even when the venv is not activated.
os.environ.update(
    PYTHONPATH=os.pathsep.join(filter(None, [str(WORKFLOW_ROOT / "src"), os.getenv("PYTHONPATH")])),
    PATH=os.pathsep.join([os.path.dirname(sys.executable), os.getenv("PATH", "")]),
)
# The Snakefile's own imports come from this checkout too, not from another installed copy.
sys.path.insert(0, str(WORKFLOW_ROOT / "src"))

from oncoweave.core import config_check, shards, sheets  # noqa: E402  (after the path set-up above)
from oncoweave.core.errors import InputError  # noqa: E402
from oncoweave.drivers.defaults import DRIVER_GENES  # noqa: E402
from oncoweave.toy import layout as toy  # noqa: E402
from oncoweave.variants import alignment, maf_import, qc_files  # noqa: E402

try:
    validate(config, "../schemas/config.schema.yaml")
except WorkflowError as _err:
    # One line naming the key (e.g. a typo in calling.thresholds), not jsonschema's dump.
    if _err.__context__ is None or not hasattr(_err.__context__, "absolute_path"):
        raise
    sys.exit(f"oncoweave: error: {config_check.config_error_line(_err.__context__)}")

# A hash of the effective configuration, written into every Parquet file's metadata.
CONFIG_HASH = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Reference: user paths, or the GRCh38 gene-region mini-reference bundled with the workflow.
BUNDLED_REFERENCE = WORKFLOW_ROOT / "resources" / "reference"
_reference = config["reference"]
USING_BUNDLED_REFERENCE = not _reference["fasta"]


def _reference_path(key, bundled_name):
    if _reference[key]:
        return os.path.abspath(_reference[key])
    if USING_BUNDLED_REFERENCE or key == "canonical_transcripts":
        return str(BUNDLED_REFERENCE / bundled_name)
    raise ValueError(
        f"config reference.{key} must be set when reference.fasta points at your own FASTA"
    )


REFERENCE = {
    "fasta_source": _reference_path("fasta", "grch38_gene_regions.fa"),
    "gff3": _reference_path("gff3", "gene_models.regions.gff3"),
    "targets": _reference_path("targets", "targets.bed"),
    "canonical_transcripts": _reference_path("canonical_transcripts", "canonical_transcripts.tsv"),
    # Contigs of a full GRCh38 FASTA are chromosomes already: no map needed.
    "contig_map": (
        os.path.abspath(_reference["contig_map"])
        if _reference["contig_map"]
        else (str(BUNDLED_REFERENCE / "regions.tsv") if USING_BUNDLED_REFERENCE else "")
    ),
    "fasta": "results/reference/genome.fa",
}
# The bwa index: one folder (rule index_reference_bwa), its files named after BWA_INDEX_PREFIX.
BWA_INDEX = "results/reference/bwa"
BWA_INDEX_PREFIX = f"{BWA_INDEX}/{alignment.BWA_INDEX_NAME}"


RADIOMICS_PARAMS = (
    os.path.abspath(config["imaging"]["radiomics_params"])
    if config["imaging"]["radiomics_params"]
    else str(WORKFLOW_ROOT / "config" / "radiomics.yaml")
)


# ---------------------------------------------------------------------------------------------
# Driver model: the shipped one, or (drivers.retrain) the one this run trains from the labels.
DRIVER_MODEL_DIR = (
    "results/drivers/model"
    if config["drivers"]["retrain"]
    else str(WORKFLOW_ROOT / "resources/models/driver")
)
DRIVER_MODEL_FILES = [
    f"{DRIVER_MODEL_DIR}/driver_model.json",
    f"{DRIVER_MODEL_DIR}/calibration.json",
]
DRIVER_LABEL_FILES = sorted(
    str(p) for p in (WORKFLOW_ROOT / "resources/drivers").iterdir() if p.suffix != ".md"
)
