"""Checks of the radiomics extraction: IBSI's digital phantom and pyradiomics called directly.

``ibsi_check`` compares the IBSI chapter 1 digital phantom with the IBSI reference values
through resources/imaging/ibsi_feature_map.tsv (results and the known disagreements in
resources/imaging/IBSI.md); tests/test_radiomics.py reproduces pyradiomics' own baseline values
on the bundled test cases (``bundled_testcases``), and ``benchmark_radiomics`` times our wrapper
against pyradiomics called directly on them.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import pandas as pd

from oncoweave.core.errors import InputError
from oncoweave.core.tables import require_columns
from oncoweave.imaging.defaults import (
    BUNDLED_TESTCASES,
    DEFAULT_PARAMS,
    IBSI_FEATURE_MAP,
    IBSI_PARAMS,
    IBSI_PHANTOM_DIR,
    IBSI_REFERENCE_CSV,
    TESTCASE_DIR,
)
from oncoweave.imaging.radiomics import extract_features, make_extractor


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
