"""The imaging stage's defaults and bundled files, from the standard library only.

The command line's parsers show these (``oncoweave --help`` imports no imaging library): the
modalities the stage reads, the pyradiomics parameter files, the IBSI digital phantom with its
reference values, the bundled pyradiomics test cases and the radiomics model's baseline feature.
"""

from __future__ import annotations

from oncoweave.core.paths import REPO_ROOT

MODALITIES = ("CT", "MR", "PT")

DEFAULT_PARAMS = REPO_ROOT / "config" / "radiomics.yaml"
IBSI_PARAMS = REPO_ROOT / "config" / "radiomics_ibsi.yaml"
IMAGING_RESOURCES = REPO_ROOT / "resources" / "imaging"
IBSI_PHANTOM_DIR = IMAGING_RESOURCES / "ibsi1_digital_phantom"
IBSI_REFERENCE_CSV = IBSI_PHANTOM_DIR / "ibsi_1_reference_values_digital_phantom.csv"
IBSI_FEATURE_MAP = IMAGING_RESOURCES / "ibsi_feature_map.tsv"
TESTCASE_DIR = IMAGING_RESOURCES / "pyradiomics_testcases"
BUNDLED_TESTCASES = {"brain1": "MR", "breast1": "MR", "lung1": "CT"}  # case -> modality

DEFAULT_BASELINE_FEATURE = "original_firstorder_Maximum"  # SUVmax on a PET image
