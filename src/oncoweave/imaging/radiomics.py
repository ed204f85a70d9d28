"""Radiomics: pyradiomics features per lesion, checked against pyradiomics' and IBSI's references.

``extract_features`` runs ``radiomics.featureextractor.RadiomicsFeatureExtractor`` with a
pyradiomics parameter file (config/radiomics.yaml by default) on one image + mask and keeps the
feature values under pyradiomics' own names (``original_firstorder_Mean``,
``log-sigma-1-0-mm-3D_glcm_Contrast`` ...). ``radiomics_table`` does it for a list of cases (dicts
with patient, lesion, modality, image, mask[, label]); ``write_radiomics`` writes the table with
the parameter file's text and sha256 and the library versions in its metadata, and
``merge_radiomics`` refuses to put tables made with different parameters into one cohort table.

Checks: tests/test_radiomics.py reproduces pyradiomics' own baseline values; ``ibsi_check``
compares the IBSI chapter 1 digital phantom with the IBSI reference values through
resources/imaging/ibsi_feature_map.tsv (results and the known disagreements in
resources/imaging/IBSI.md). ``cross_validated_auroc`` is the radiomics outcome model (repeated
stratified CV, out-of-fold AUROC with a bootstrap CI, against a one-feature baseline) and
``benchmark_radiomics`` times our wrapper against pyradiomics called directly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import statistics
import time
import warnings
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import radiomics
import SimpleITK as sitk
import yaml
from pykwalify.errors import PyKwalifyException
from radiomics.featureextractor import RadiomicsFeatureExtractor

from oncoweave.core.errors import InputError
from oncoweave.core.paths import REPO_ROOT
from oncoweave.core.sheets import read_sheet, sheet_error
from oncoweave.core.tables import read_parquet, require_columns, schema_field, write_parquet

log = logging.getLogger(__name__)

DEFAULT_PARAMS = REPO_ROOT / "config" / "radiomics.yaml"
IBSI_PARAMS = REPO_ROOT / "config" / "radiomics_ibsi.yaml"
IMAGING_RESOURCES = REPO_ROOT / "resources" / "imaging"
IBSI_PHANTOM_DIR = IMAGING_RESOURCES / "ibsi1_digital_phantom"
IBSI_REFERENCE_CSV = IBSI_PHANTOM_DIR / "ibsi_1_reference_values_digital_phantom.csv"
IBSI_FEATURE_MAP = IMAGING_RESOURCES / "ibsi_feature_map.tsv"
TESTCASE_DIR = IMAGING_RESOURCES / "pyradiomics_testcases"
BUNDLED_TESTCASES = {"brain1": "MR", "breast1": "MR", "lung1": "CT"}  # case -> modality
DEFAULT_BASELINE_FEATURE = "original_firstorder_Maximum"  # SUVmax on a PET image

RADIOMICS_ID_FIELDS = (
    schema_field("patient", pa.string(), "Patient id from the image sheet"),
    schema_field("lesion", pa.string(), "Lesion id (image sheet; default L<label>)"),
    schema_field("modality", pa.string(), "Imaging modality: CT, MR or PT"),
)
ID_COLUMNS = tuple(field.name for field in RADIOMICS_ID_FIELDS)

FEATURE_CLASS_DESCRIPTIONS = {
    "shape": "3D shape of the lesion mask",
    "shape2D": "2D shape of the lesion mask",
    "firstorder": "first-order statistic of the lesion's voxel intensities",
    "glcm": "grey-level co-occurrence matrix (GLCM) texture",
    "glrlm": "grey-level run-length matrix (GLRLM) texture",
    "glszm": "grey-level size-zone matrix (GLSZM) texture",
    "gldm": "grey-level dependence matrix (GLDM; IBSI NGLDM) texture",
    "ngtdm": "neighbouring grey-tone difference matrix (NGTDM) texture",
}


def _route_pyradiomics_logging() -> None:
    """pyradiomics prints INFO+ to stderr through its own handler: silence that handler, keep
    WARNING+ and let the records propagate to the root logger (the rule's log, when there is one).

    The handler itself stays attached: pyradiomics hands it to pykwalify when a params file
    fails validation.
    """
    radiomics.setVerbosity(logging.CRITICAL + 10)
    logging.getLogger("radiomics").setLevel(logging.WARNING)


_route_pyradiomics_logging()


# ---------------------------------------------------------------------------------------------
# Extraction.

def read_params(params_path: str | Path) -> tuple[str, dict]:
    """(text, parsed mapping) of a pyradiomics params file; InputError naming it if unreadable."""
    path = Path(params_path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InputError("pyradiomics params file not found", path=path) from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read pyradiomics params file ({err})", path=path) from None
    try:
        params = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InputError(f"not valid YAML ({' '.join(str(err).split())})", path=path) from None
    if not isinstance(params, dict):
        raise InputError("a pyradiomics params file is a mapping with setting / imageType / "
                         "featureClass sections", path=path)
    return text, params


def make_extractor(params_path: str | Path) -> RadiomicsFeatureExtractor:
    """A RadiomicsFeatureExtractor configured by ``params_path`` (validated by pyradiomics)."""
    _, params = read_params(params_path)
    try:
        with warnings.catch_warnings():
            # pykwalify loads pyradiomics' schema extension through a deprecated importlib call.
            warnings.filterwarnings("ignore", "the load_module", DeprecationWarning)
            return RadiomicsFeatureExtractor(params)
    except (PyKwalifyException, ValueError, TypeError, KeyError) as err:
        raise InputError(f"not a valid pyradiomics params file ({_validation_message(err)})",
                         path=params_path) from None


def _validation_message(err: Exception) -> str:
    # pykwalify lists each failure on a " - ..." line inside a wrapper text.
    problems = [line.strip()[2:] for line in str(err).splitlines()
                if line.strip().startswith("- ")]
    return "; ".join(problems) or str(err).splitlines()[0]


def read_image(path: str | Path, what: str = "image") -> sitk.Image:
    """A NIfTI/NRRD (any SimpleITK-readable file) as a SimpleITK image; InputError naming it."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"the {what} is a folder (a DICOM series?); radiomics reads NIfTI/NRRD "
                         "files, which the workflow's ingest_images step writes", path=path)
    if not path.exists():
        raise InputError(f"{what} file not found", path=path)
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as err:
        reason = str(err).strip().splitlines()[-1].replace("sitk::ERROR: ", "")
        raise InputError(f"cannot read the {what} ({reason})", path=path) from None


def check_mask_label(mask: sitk.Image, mask_path: str | Path, label: int) -> None:
    """InputError unless ``label`` marks at least one voxel of ``mask``."""
    array = sitk.GetArrayViewFromImage(mask)
    if (array == label).any():
        return
    values = np.unique(array)  # only on failure: a full sort of a CT-sized mask takes ~0.5 s
    labels = values[values != 0]
    if labels.size == 0:
        raise InputError("the mask is empty (no voxel is labelled)", path=mask_path)
    present = ", ".join(f"{value:g}" for value in labels[:10])
    raise InputError(f"label {label} is absent from the mask (labels present: {present})",
                     path=mask_path)


def extract_features(image_path: str | Path, mask_path: str | Path, params_path: str | Path,
                     label: int = 1) -> dict[str, float]:
    """pyradiomics feature values of the ``label`` region, by pyradiomics' feature names.

    Diagnostics (``diagnostics_*``) are left out. An unreadable file, an empty mask, a label the
    mask lacks or an image/mask pair pyradiomics refuses (e.g. geometry mismatch) raise
    InputError naming the files.
    """
    extractor = make_extractor(params_path)
    image = read_image(image_path, "image")
    mask = read_image(mask_path, "mask")
    check_mask_label(mask, mask_path, label)
    return _features(extractor, image, mask, label, image_path, mask_path)


def _features(extractor: RadiomicsFeatureExtractor, image: sitk.Image, mask: sitk.Image,
              label: int, image_path: str | Path, mask_path: str | Path) -> dict[str, float]:
    try:
        result = extractor.execute(image, mask, label=label)
    except (ValueError, RuntimeError) as err:
        # pyradiomics' checkMask: geometry mismatch, ROI outside the image, single voxel, ...
        reason = " ".join(str(err).split())
        raise InputError(f"pyradiomics refused image {image_path} with mask {mask_path}: "
                         f"{reason}") from None
    return {name: float(value) for name, value in result.items()
            if not name.startswith("diagnostics_")}


# ---------------------------------------------------------------------------------------------
# The radiomics table.

def radiomics_schema(feature_names: Sequence[str]) -> pa.Schema:
    """patient, lesion, modality, then one float64 column per feature in extraction order."""
    fields = list(RADIOMICS_ID_FIELDS)
    fields += [schema_field(name, pa.float64(), feature_description(name), nullable=True)
               for name in feature_names]
    return pa.schema(fields)


def feature_description(name: str) -> str:
    """'glcm Contrast: grey-level co-occurrence matrix (GLCM) texture, on the unfiltered image'."""
    parts = name.split("_", 2)
    if len(parts) != 3:
        return f"pyradiomics feature {name}"
    image_type, feature_class, feature = parts
    what = FEATURE_CLASS_DESCRIPTIONS.get(feature_class, f"pyradiomics {feature_class} feature")
    return f"{feature_class} {feature}: {what}, on the {_image_type_description(image_type)}"


def _image_type_description(image_type: str) -> str:
    if image_type == "original":
        return "unfiltered image"
    sigma = re.fullmatch(r"log-sigma-(\d+)-(\d+)-mm-3D", image_type)
    if sigma:
        return f"Laplacian-of-Gaussian filtered image (sigma {sigma[1]}.{sigma[2]} mm)"
    if image_type.startswith("wavelet-"):
        return f"wavelet decomposition {image_type.split('-', 1)[1]}"
    return f"{image_type} filtered image"


def feature_columns(df: pd.DataFrame) -> list[str]:
    """The feature columns of a radiomics table (everything but the id columns), in order."""
    return [str(column) for column in df.columns if column not in ID_COLUMNS]


def radiomics_table(cases: Iterable[Mapping], params_path: str | Path) -> pd.DataFrame:
    """One row per case (patient, lesion, modality, image, mask[, label]): ids, then features."""
    cases = list(cases)
    rows: list[dict] = []
    names: list[str] | None = None
    for number, case in enumerate(cases, start=1):
        missing = [key for key in ("patient", "modality", "image", "mask") if not case.get(key)]
        if missing:
            raise InputError(f"radiomics case {number} lacks {', '.join(missing)}")
        label = int(case.get("label") or 1)
        lesion = str(case.get("lesion") or f"L{label}")
        log.info("radiomics %d/%d: patient %s lesion %s", number, len(cases), case["patient"],
                 lesion)
        features = extract_features(case["image"], case["mask"], params_path, label=label)
        if names is None:
            names = list(features)
        elif list(features) != names:
            raise InputError(f"pyradiomics gave other features than for the first case "
                             f"({len(features)} vs {len(names)})", path=case["image"])
        rows.append({"patient": str(case["patient"]), "lesion": lesion,
                     "modality": str(case["modality"]), **features})
    return pd.DataFrame(rows, columns=[*ID_COLUMNS, *(names or [])])


def radiomics_metadata(params_path: str | Path) -> dict[str, str]:
    """Provenance stored in a radiomics Parquet: the params file and the library versions."""
    text, _ = read_params(params_path)
    return {
        "radiomics_params_file": Path(params_path).name,
        "radiomics_params_yaml": text,
        "radiomics_params_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "pyradiomics_version": radiomics.__version__,
        "simpleitk_version": sitk.Version.VersionString(),
        "numpy_version": np.__version__,
    }


def write_radiomics(df: pd.DataFrame, path: str | Path, params_path: str | Path) -> pa.Table:
    """Write a radiomics table (schema from its feature columns) atomically, with provenance."""
    return write_parquet(df, path, radiomics_schema(feature_columns(df)),
                         radiomics_metadata(params_path))


def read_radiomics(path: str | Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """(table, metadata) of a radiomics Parquet, checking it has the id and float columns."""
    df, metadata = read_parquet(path)
    require_columns(df, ID_COLUMNS, path)
    not_float = [name for name in feature_columns(df)
                 if not pd.api.types.is_float_dtype(df[name])]
    if not_float or "radiomics_params_sha256" not in metadata:
        raise InputError("not a radiomics table written by oncoweave (" + (
            f"non-float column(s) {', '.join(not_float[:3])}" if not_float
            else "no radiomics_params_sha256 in its metadata") + ")", path=path)
    return df, metadata


def merge_radiomics(paths: Sequence[str | Path], out: str | Path) -> pd.DataFrame:
    """Concatenate per-patient radiomics tables into ``out``; all must come from one params file.

    A table whose feature columns or params sha256 differ from the first table's is refused with
    an InputError naming it (its features are not comparable). (patient, lesion) must be unique.
    """
    if not paths:
        raise InputError("no radiomics tables to merge")
    first, first_metadata = read_radiomics(paths[0])
    names = feature_columns(first)
    tables = [first]
    for path in paths[1:]:
        df, metadata = read_radiomics(path)
        _check_same_features(feature_columns(df), names, path, paths[0])
        if metadata["radiomics_params_sha256"] != first_metadata["radiomics_params_sha256"]:
            raise InputError(f"extracted with other pyradiomics params than {paths[0]} (params "
                             f"sha256 {metadata['radiomics_params_sha256'][:12]} vs "
                             f"{first_metadata['radiomics_params_sha256'][:12]}); re-extract "
                             "the cohort with one params file", path=path)
        tables.append(df)
    merged = pd.concat(tables, ignore_index=True)
    duplicated = merged.duplicated(list(ID_COLUMNS[:2]))
    if duplicated.any():
        patient, lesion = merged.loc[duplicated.idxmax(), ["patient", "lesion"]]
        raise InputError(f"patient {patient} lesion {lesion} is in more than one table")
    metadata = {key: value for key, value in first_metadata.items()
                if key.startswith(("radiomics_", "pyradiomics_", "simpleitk_", "numpy_"))}
    write_parquet(merged, out, radiomics_schema(names), metadata)
    return merged


def _check_same_features(found: list[str], expected: list[str], path, first_path) -> None:
    if found == expected:
        return
    missing = [name for name in expected if name not in found]
    extra = [name for name in found if name not in expected]
    detail = "; ".join(part for part in (
        f"lacks {len(missing)} (e.g. {missing[0]})" if missing else "",
        f"has {len(extra)} others (e.g. {extra[0]})" if extra else "",
        "same features in another order" if not missing and not extra else "") if part)
    raise InputError(f"feature columns differ from {first_path}'s ({detail}): extracted with "
                     "different pyradiomics params; re-extract the cohort with one params file",
                     path=path)


def read_case_sheet(path: str | Path) -> list[dict]:
    """Cases of a radiomics batch sheet (TSV: patient, image, mask, modality[, lesion, label]).

    Relative image/mask paths are read from the working directory, as in the workflow's sheets.
    """
    df = read_sheet(path)
    require_columns(df, ("patient", "image", "mask", "modality"), path)
    cases = []
    for row, record in enumerate(df.to_dict("records"), start=1):
        for column in ("patient", "image", "mask", "modality"):
            if not record[column]:
                raise sheet_error(path, row, "empty", column=column)
        label = record.get("label") or "1"
        if not label.isdigit() or int(label) < 1:
            raise sheet_error(path, row, f"label '{label}' is not a positive integer",
                              column="label")
        for column in ("image", "mask"):
            if not Path(record[column]).exists():
                raise sheet_error(path, row, f"file not found: {record[column]}", column=column)
        cases.append({"patient": record["patient"], "lesion": record.get("lesion") or f"L{label}",
                      "modality": record["modality"], "image": record["image"],
                      "mask": record["mask"], "label": int(label)})
    return cases


# ---------------------------------------------------------------------------------------------
# IBSI digital phantom.

def read_feature_map(path: str | Path = IBSI_FEATURE_MAP) -> pd.DataFrame:
    """The IBSI tag -> pyradiomics feature map (ibsi_tag, pyradiomics_feature, note)."""
    try:
        df = pd.read_csv(path, sep="\t", comment="#", dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot read the IBSI feature map ({err})", path=path) from None
    require_columns(df, ("ibsi_tag", "pyradiomics_feature"), path)
    return df


def read_ibsi_reference(path: str | Path = IBSI_REFERENCE_CSV) -> pd.DataFrame:
    """IBSI reference values (tag -> family, feature, reference value, tolerance)."""
    try:
        # The IBSI compliance template starts with a UTF-8 byte-order mark.
        df = pd.read_csv(path, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot read the IBSI reference values ({err})", path=path) from None
    require_columns(df, ("tag", "reference value", "tolerance"), path)
    return df.drop_duplicates("tag").set_index("tag")


def ibsi_agrees(value: float, reference: float, tolerance: float) -> bool:
    """IBSI agreement: within the tolerance, or equal at 3 significant digits when it is 0 (the
    reference is then given rounded to 3 significant digits)."""
    if not math.isfinite(value):
        return False
    if tolerance > 0:
        # A hair of slack so that e.g. 556 + 4 is not lost to binary rounding.
        return abs(value - reference) <= tolerance * (1 + 1e-9)
    return float(f"{value:.3g}") == float(f"{reference:.3g}")


def ibsi_check(image: str | Path = IBSI_PHANTOM_DIR / "phantom.nii.gz",
               mask: str | Path = IBSI_PHANTOM_DIR / "mask.nii.gz",
               params: str | Path = IBSI_PARAMS,
               reference_csv: str | Path = IBSI_REFERENCE_CSV,
               feature_map: str | Path = IBSI_FEATURE_MAP) -> pd.DataFrame:
    """Each mapped IBSI feature: tag, pyradiomics_feature, value, reference, tolerance, agrees."""
    mapping = read_feature_map(feature_map)
    reference = read_ibsi_reference(reference_csv)
    unknown = sorted(set(mapping["ibsi_tag"]) - set(reference.index))
    if unknown:
        raise InputError(f"IBSI tag(s) not in {reference_csv}: {', '.join(unknown[:5])}",
                         path=feature_map)
    features = extract_features(image, mask, params)
    not_extracted = sorted(set(mapping["pyradiomics_feature"]) - set(features))
    if not_extracted:
        raise InputError(f"mapped feature(s) that {params} does not extract: "
                         f"{', '.join(not_extracted[:5])}", path=feature_map)
    rows = []
    for tag, name in zip(mapping["ibsi_tag"], mapping["pyradiomics_feature"]):
        expected, tolerance = (float(reference.at[tag, column])
                               for column in ("reference value", "tolerance"))
        if math.isnan(expected):
            continue  # IBSI gives no consensus value for this tag
        value = features[name]
        rows.append({"tag": tag, "pyradiomics_feature": name, "value": value,
                     "reference": expected, "tolerance": tolerance,
                     "agrees": ibsi_agrees(value, expected, tolerance)})
    return pd.DataFrame(rows, columns=["tag", "pyradiomics_feature", "value", "reference",
                                       "tolerance", "agrees"])


# ---------------------------------------------------------------------------------------------
# Outcome model.

def radiomics_model(k_best: int = 10, seed: int = 0):
    """Impute -> drop constant -> scale -> SelectKBest(ANOVA F) -> L2 logistic regression.

    Every step is fitted inside the CV folds, the feature selection included.
    """
    from sklearn.feature_selection import SelectKBest, VarianceThreshold, f_classif
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([
        ("impute", SimpleImputer(strategy="median")),
        ("drop_constant", VarianceThreshold(0.0)),
        ("scale", StandardScaler()),
        ("select", SelectKBest(f_classif, k=k_best)),
        ("classify", LogisticRegression(class_weight="balanced", solver="liblinear",
                                        random_state=seed)),
    ])


def _baseline_model(seed: int):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler()),
                     ("classify", LogisticRegression(class_weight="balanced", solver="liblinear",
                                                     random_state=seed))])


def cross_validated_auroc(features: pd.DataFrame, labels: pd.Series, *,
                          baseline_feature: str = DEFAULT_BASELINE_FEATURE, folds: int = 5,
                          repeats: int = 10, k_best: int = 10, n_bootstrap: int = 1000,
                          seed: int = 0) -> dict:
    """Out-of-fold AUROC of the radiomics model and of a one-feature baseline.

    ``features``: one row per patient (index = patient id), numeric feature columns;
    ``labels``: 0/1 per patient id. Only patients in both are used. Repeated stratified
    ``folds``-fold CV with seed ``seed``; the AUROC is the mean over repeats of the out-of-fold
    AUROC, its 95% CI the percentile interval over ``n_bootstrap`` resamples of the patients (the
    same resamples for the model, the baseline and their difference). The baseline is also
    given without fitting ("apparent": the feature itself as the score).
    """
    X, y = _aligned_xy(features, labels)
    if baseline_feature not in X.columns:
        raise InputError(f"baseline feature {baseline_feature} is not a feature column")
    splits = _splits(y, folds, repeats, seed)
    model_scores, selected = _out_of_fold_scores(radiomics_model(min(k_best, X.shape[1]), seed),
                                                 X, y, splits, repeats)
    baseline_scores, _ = _out_of_fold_scores(_baseline_model(seed), X[[baseline_feature]], y,
                                             splits, repeats)
    samples = _bootstrap_samples(y, n_bootstrap, np.random.default_rng(seed))
    model = _auroc_summary(y, model_scores, samples)
    baseline = _auroc_summary(y, baseline_scores, samples)
    difference = model.pop("bootstrap") - baseline.pop("bootstrap")
    raw = X[baseline_feature].fillna(X[baseline_feature].median()).to_numpy()
    apparent = _auroc_summary(y, raw[None, :], samples)
    apparent.pop("bootstrap")
    counts = pd.Series(selected).value_counts()
    return {
        "n_patients": int(len(y)), "n_positive": int(y.sum()), "n_features": int(X.shape[1]),
        "folds": folds, "repeats": repeats, "seed": seed, "n_bootstrap": len(samples),
        "model": {"description": f"median impute, drop constant, standardise, SelectKBest "
                                 f"(ANOVA F, k={min(k_best, X.shape[1])}), L2 logistic "
                                 "regression (balanced classes)", **model,
                  "most_selected_features": {name: int(n) for name, n in counts.head(10).items()}},
        "baseline": {"feature": baseline_feature, **baseline,
                     "apparent_auroc": apparent["auroc"],
                     "apparent_auroc_ci95": apparent["auroc_ci95"]},
        "model_minus_baseline": {"auroc": model["auroc"] - baseline["auroc"],
                                 "auroc_ci95": _percentile_ci(difference)},
    }


def _aligned_xy(features: pd.DataFrame, labels: pd.Series) -> tuple[pd.DataFrame, np.ndarray]:
    numeric = features.select_dtypes("number").replace([np.inf, -np.inf], np.nan)
    common = [patient for patient in numeric.index if patient in labels.index]
    unlabelled = len(numeric) - len(common)
    if unlabelled:
        log.warning("%d patient(s) with features but no label left out", unlabelled)
    y = labels.loc[common].astype(int).to_numpy()
    if len(common) < 10 or min(y.sum(), len(y) - y.sum()) < 2:
        raise InputError(f"too few labelled patients for cross-validation ({len(common)}, "
                         f"{int(y.sum())} positive)")
    return numeric.loc[common], y


def _splits(y: np.ndarray, folds: int, repeats: int, seed: int) -> list:
    from sklearn.model_selection import RepeatedStratifiedKFold

    if min(y.sum(), len(y) - y.sum()) < folds:
        raise InputError(f"fewer patients in a class than folds ({folds})")
    cv = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    return list(cv.split(np.zeros(len(y)), y))


def _out_of_fold_scores(model, X: pd.DataFrame, y: np.ndarray, splits: list,
                        repeats: int) -> tuple[np.ndarray, list[str]]:
    from sklearn.base import clone

    scores = np.full((repeats, len(y)), np.nan)
    folds = len(splits) // repeats
    selected: list[str] = []
    for number, (train, test) in enumerate(splits):
        fitted = clone(model).fit(X.iloc[train], y[train])
        scores[number // folds, test] = fitted.predict_proba(X.iloc[test])[:, 1]
        if "select" in fitted.named_steps:
            selected += list(fitted[:-1].get_feature_names_out())
    return scores, selected


def _bootstrap_samples(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` x len(y) resampled patient indices, each resample holding both classes."""
    samples = []
    while len(samples) < n:
        sample = rng.integers(0, len(y), len(y))
        if 0 < y[sample].sum() < len(sample):  # an AUROC needs both classes
            samples.append(sample)
    return np.array(samples).reshape(n, len(y))


def bootstrap_aurocs(y: np.ndarray, scores: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """AUROC of ``scores`` on each resample (rows of ``samples``), all resamples at once.

    The Mann-Whitney form of roc_auc_score (ties count half), vectorised with scipy's rankdata:
    1000 resamples x 10 repeats one by one through roc_auc_score take ~10 s.
    """
    from scipy.stats import rankdata

    labels = y[samples].astype(bool)
    ranks = rankdata(scores[samples], axis=1)
    positives = labels.sum(axis=1)
    negatives = labels.shape[1] - positives
    rank_sum = np.where(labels, ranks, 0.0).sum(axis=1)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def _auroc_summary(y: np.ndarray, scores: np.ndarray, samples: np.ndarray) -> dict:
    from sklearn.metrics import roc_auc_score

    per_repeat = [roc_auc_score(y, repeat) for repeat in scores]
    bootstrap = np.mean([bootstrap_aurocs(y, repeat, samples) for repeat in scores], axis=0)
    return {"auroc": float(np.mean(per_repeat)), "auroc_ci95": _percentile_ci(bootstrap),
            "auroc_sd_over_repeats": float(np.std(per_repeat)), "bootstrap": bootstrap}


def _percentile_ci(values) -> list[float]:
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]


def read_outcome_labels(path: str | Path, id_column: str, label_column: str) -> pd.Series:
    """0/1 labels by patient id from a CSV; InputError naming the row of a bad value."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"cannot read labels ({err})", path=path) from None
    require_columns(df, (id_column, label_column), path)
    for row, value in enumerate(df[label_column], start=1):
        if value.strip() not in ("0", "1"):
            raise InputError(f"label '{value}' is not 0 or 1", path=path, row=row,
                             column=label_column)
    if df[id_column].duplicated().any():
        repeated = df[id_column][df[id_column].duplicated()].iloc[0]
        raise InputError(f"patient {repeated} has more than one label", path=path,
                         column=id_column)
    return pd.Series(df[label_column].astype(int).to_numpy(), index=df[id_column].str.strip(),
                     name=label_column)


def patient_features(df: pd.DataFrame, path: str | Path | None = None) -> pd.DataFrame:
    """A radiomics table as one row per patient (index = patient); several lesions refused."""
    repeated = df["patient"][df["patient"].duplicated()]
    if len(repeated):
        raise InputError(f"patient {repeated.iloc[0]} has more than one lesion; the outcome model "
                         "needs one row per patient (select one lesion per patient)", path=path)
    return df.set_index("patient")[feature_columns(df)]


# ---------------------------------------------------------------------------------------------
# Benchmark.

def bundled_testcases(names: Iterable[str] = BUNDLED_TESTCASES) -> list[dict]:
    """The pyradiomics test cases shipped in resources/imaging/pyradiomics_testcases as cases."""
    return [{"patient": name, "lesion": "L1", "modality": BUNDLED_TESTCASES[name],
             "image": str(TESTCASE_DIR / f"{name}_image.nrrd"),
             "mask": str(TESTCASE_DIR / f"{name}_label.nrrd"), "label": 1} for name in names]


def benchmark_radiomics(cases: Sequence[Mapping], params: str | Path = DEFAULT_PARAMS,
                        repeats: int = 3) -> dict:
    """Seconds per case (median of ``repeats``) of ``extract_features`` and of pyradiomics'
    ``RadiomicsFeatureExtractor.execute`` called directly on the same files with an extractor
    built once (so our overhead: params parsing, reading and checking the files, is visible)."""
    direct_extractor = make_extractor(params)
    if cases:  # warm caches (imports, file system) once so the first timing is not penalised
        extract_features(cases[0]["image"], cases[0]["mask"], params,
                         label=int(cases[0].get("label") or 1))
    rows = []
    for case in cases:
        label = int(case.get("label") or 1)
        ours, direct = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            features = extract_features(case["image"], case["mask"], params, label=label)
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            direct_extractor.execute(str(case["image"]), str(case["mask"]), label=label)
            direct.append(time.perf_counter() - start)
        rows.append({"case": str(case.get("patient", case["image"])),
                     "n_features": len(features), "ours_s": statistics.median(ours),
                     "direct_s": statistics.median(direct)})
    for row in rows:
        row["overhead_s"] = row["ours_s"] - row["direct_s"]
    return {"params": str(params), "repeats": repeats, "cases": rows,
            "ours_s_per_case": statistics.mean(row["ours_s"] for row in rows),
            "direct_s_per_case": statistics.mean(row["direct_s"] for row in rows)}


# ---------------------------------------------------------------------------------------------
# Command line.

def register(subparsers) -> None:
    one = subparsers.add_parser("radiomics", help="pyradiomics features of one lesion -> Parquet")
    one.add_argument("--image", required=True, help="image file (NIfTI/NRRD)")
    one.add_argument("--mask", required=True, help="mask file on the image's grid")
    one.add_argument("--output", required=True, help="Parquet file to write (one row)")
    _params_argument(one)
    one.add_argument("--label", type=int, default=1, help="mask value of the lesion (default 1)")
    one.add_argument("--patient", help="patient id (default: the image file name)")
    one.add_argument("--lesion", help="lesion id (default L<label>)")
    one.add_argument("--modality", default="CT", help="CT, MR or PT (default %(default)s)")
    one.set_defaults(func=_cmd_radiomics)

    batch = subparsers.add_parser("radiomics-batch",
                                  help="pyradiomics features of a cohort sheet -> Parquet")
    batch.add_argument("--sheet", required=True, help="TSV: patient, image, mask, modality"
                       "[, lesion, label]; relative paths from the working directory")
    batch.add_argument("--output", required=True, help="Parquet file to write")
    _params_argument(batch)
    batch.set_defaults(func=_cmd_radiomics_batch)

    merge = subparsers.add_parser("radiomics-merge",
                                  help="merge per-patient radiomics Parquets (same params only)")
    merge.add_argument("--inputs", nargs="+", required=True, help="radiomics Parquet files")
    merge.add_argument("--output", required=True, help="cohort Parquet to write")
    merge.set_defaults(func=_cmd_radiomics_merge)

    cv = subparsers.add_parser("radiomics-cv", help="cross-validated AUROC of a radiomics model "
                               "vs one feature (default SUVmax)")
    cv.add_argument("--features", required=True, help="radiomics Parquet, one lesion per patient")
    cv.add_argument("--labels", required=True, help="CSV with patient ids and 0/1 outcome")
    cv.add_argument("--id-column", default="patient_id", help="default %(default)s")
    cv.add_argument("--label-column", required=True, help="0/1 outcome column")
    cv.add_argument("--baseline-feature", default=DEFAULT_BASELINE_FEATURE,
                    help="single-feature baseline (default %(default)s)")
    cv.add_argument("--folds", type=int, default=5)
    cv.add_argument("--repeats", type=int, default=10)
    cv.add_argument("--k-best", type=int, default=10, help="features kept inside each fold")
    cv.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for CIs")
    cv.add_argument("--seed", type=int, default=0)
    cv.add_argument("--output", help="JSON file for the full result")
    cv.set_defaults(func=_cmd_radiomics_cv)

    bench = subparsers.add_parser("radiomics-benchmark", help="seconds per case: oncoweave's "
                                  "extract_features vs pyradiomics directly, bundled test cases")
    _params_argument(bench)
    bench.add_argument("--repeats", type=int, default=3)
    bench.set_defaults(func=_cmd_radiomics_benchmark)

    ibsi = subparsers.add_parser("ibsi-check", help="pyradiomics on the IBSI digital phantom vs "
                                 "the IBSI reference values")
    ibsi.add_argument("--image", default=str(IBSI_PHANTOM_DIR / "phantom.nii.gz"))
    ibsi.add_argument("--mask", default=str(IBSI_PHANTOM_DIR / "mask.nii.gz"))
    ibsi.add_argument("--params", default=str(IBSI_PARAMS))
    ibsi.add_argument("--reference", default=str(IBSI_REFERENCE_CSV))
    ibsi.add_argument("--feature-map", default=str(IBSI_FEATURE_MAP))
    ibsi.set_defaults(func=_cmd_ibsi_check)


def _params_argument(parser) -> None:
    parser.add_argument("--params", default=str(DEFAULT_PARAMS),
                        help="pyradiomics params YAML (default: the bundled config/radiomics.yaml)")


def _cmd_radiomics(args) -> int:
    patient = args.patient or Path(args.image).name.split(".")[0]
    case = {"patient": patient, "lesion": args.lesion or f"L{args.label}",
            "modality": args.modality, "image": args.image, "mask": args.mask,
            "label": args.label}
    df = radiomics_table([case], args.params)
    write_radiomics(df, args.output, args.params)
    print(f"{args.output}: {len(feature_columns(df))} features of patient {patient} "
          f"lesion {case['lesion']}")
    return 0


def _cmd_radiomics_batch(args) -> int:
    cases = read_case_sheet(args.sheet)
    start = time.perf_counter()
    df = radiomics_table(cases, args.params)
    write_radiomics(df, args.output, args.params)
    print(f"{args.output}: {len(df)} lesion(s) x {len(feature_columns(df))} features "
          f"({time.perf_counter() - start:.1f} s)")
    return 0


def _cmd_radiomics_merge(args) -> int:
    merged = merge_radiomics(args.inputs, args.output)
    print(f"{args.output}: {len(merged)} lesion(s) from {len(args.inputs)} table(s)")
    return 0


def _cmd_radiomics_cv(args) -> int:
    df, _ = read_radiomics(args.features)
    labels = read_outcome_labels(args.labels, args.id_column, args.label_column)
    start = time.perf_counter()
    result = cross_validated_auroc(patient_features(df, args.features), labels,
                                   baseline_feature=args.baseline_feature, folds=args.folds,
                                   repeats=args.repeats, k_best=args.k_best,
                                   n_bootstrap=args.bootstrap, seed=args.seed)
    result["seconds"] = round(time.perf_counter() - start, 2)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")

    def line(name, summary, key="auroc"):
        low, high = summary[f"{key}_ci95"]
        return f"{name}: AUROC {summary[key]:.3f} (95% CI {low:.3f}-{high:.3f})"

    print(f"{result['n_patients']} patients ({result['n_positive']} positive), "
          f"{result['n_features']} features, {args.repeats}x{args.folds}-fold CV")
    print(line("radiomics model", result["model"]))
    print(line(f"{args.baseline_feature} (CV)", result["baseline"]))
    print(line(f"{args.baseline_feature} (apparent)", result["baseline"], "apparent_auroc"))
    print(line("model - baseline", result["model_minus_baseline"]))
    return 0


def _cmd_radiomics_benchmark(args) -> int:
    result = benchmark_radiomics(bundled_testcases(), args.params, args.repeats)
    print(f"params {result['params']}, median of {args.repeats} run(s)")
    print(f"{'case':10s} {'features':>8s} {'ours_s':>8s} {'direct_s':>8s} {'overhead_s':>10s}")
    for row in result["cases"]:
        print(f"{row['case']:10s} {row['n_features']:8d} {row['ours_s']:8.3f} "
              f"{row['direct_s']:8.3f} {row['overhead_s']:10.3f}")
    print(f"mean per case: ours {result['ours_s_per_case']:.3f} s, "
          f"direct {result['direct_s_per_case']:.3f} s")
    return 0


def _cmd_ibsi_check(args) -> int:
    table = ibsi_check(args.image, args.mask, args.params, args.reference, args.feature_map)
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(table.to_string(index=False, float_format=lambda value: f"{value:.4g}"))
    print(f"{int(table['agrees'].sum())} of {len(table)} mapped IBSI features agree")
    return 0
