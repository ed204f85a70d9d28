"""Masks the fitted lesion segmenter proposes for lesion rows of the image sheet that give none.

Rule segment_lesions runs ``propose_masks`` per image shard: it loads the segmenter bundle rule
train_segmenter wrote (trained on the given masks only, so no cycle: the proposals feed
radiomics, never the segmenter) and writes ``<folder>/<patient>/<lesion>/mask.nii.gz`` on the
working copy's grid (``segmenter.propose_mask``: whole image in sliding windows, largest
connected component) for each lesion ingested without a mask, and ``<folder>/proposals.parquet``,
one PROPOSALS_SCHEMA row per such lesion. A lesion gets no mask, with the reason in its row and
the log, when the segmenter was not fitted (the reason its bundle's metadata gives) or found
nothing in the image; it then has no radiomics. Neither is a failure of the run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from oncoweave.core.errors import InputError
from oncoweave.core.io import directory_replaced_on_success
from oncoweave.core.model_status import BUNDLE_METADATA, NOT_FITTED_KEY
from oncoweave.core.tables import read_parquet, schema_field, write_parquet

log = logging.getLogger(__name__)

MASK_PROPOSED = "proposed"  # radiomics' mask_source of a lesion measured on a proposed mask
NO_MASK = "none"
PROPOSALS_FILE = "proposals.parquet"
MASK_FILE = "mask.nii.gz"

PROPOSALS_SCHEMA = pa.schema([
    schema_field("patient", pa.string(), "Patient id from the image sheet"),
    schema_field("lesion", pa.string(), "Lesion id from the image sheet"),
    schema_field("modality", pa.string(), "CT, MR or PT"),
    schema_field("mask_source", pa.string(), f"'{MASK_PROPOSED}' (a mask was written) or "
                 f"'{NO_MASK}' (none: see reason)"),
    schema_field("mask", pa.string(), "The proposed mask: uint8 NIfTI on the working copy's "
                 "grid, 1 = the lesion; null without one", True),
    schema_field("voxels", pa.int64(), "Voxels of the proposed mask; null without one", True),
    schema_field("volume_ml", pa.float64(), "Volume of the proposed mask, ml; null without one",
                 True),
    schema_field("components", pa.int64(), "Connected components above 0.5 before the largest "
                 "was kept; null when the segmenter was not fitted", True),
    schema_field("reason", pa.string(), "Why no mask was proposed; null when one was", True),
])


def load_segmenter(bundle_dir: str | Path, device: str | None = None):
    """(LesionSegmenter ready to predict, None) from a train_segmenter bundle, or (None, the
    reason its metadata gives) for a not-fitted bundle. A broken bundle is an InputError."""
    import torch

    from oncoweave.core.devices import select_device
    from oncoweave.imaging.segmenter import LesionSegmenter, SegmenterSettings, build_network
    from oncoweave.imaging.segmenter_cv import INFERENCE_FILE, MODEL_FILE

    bundle_dir = Path(bundle_dir)
    try:
        metadata = json.loads((bundle_dir / BUNDLE_METADATA).read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read the segmenter's {BUNDLE_METADATA} ({err})",
                         path=bundle_dir) from None
    if metadata.get("fitted") is False:
        return None, str(metadata.get(NOT_FITTED_KEY) or "the segmenter was not fitted")
    try:
        inference = json.loads((bundle_dir / INFERENCE_FILE).read_text())
        settings = SegmenterSettings.from_config(inference["settings"],
                                                 source=bundle_dir / INFERENCE_FILE)
        model = LesionSegmenter(settings)
        model.device_ = select_device(device)
        network = build_network(settings)
        network.load_state_dict(torch.load(bundle_dir / MODEL_FILE, map_location="cpu",
                                           weights_only=True))
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise InputError(f"cannot load the segmenter bundle ({' '.join(str(err).split())})",
                         path=bundle_dir) from None
    model.network_ = network.to(model.device_).eval()
    return model, None


def propose_masks(cases: Iterable[Mapping[str, Any]], bundle_dir: str | Path,
                  out_dir: str | Path, device: str | None = None) -> pd.DataFrame:
    """Propose a mask for each case (patient, lesion, modality, image: a working copy) into
    ``out_dir`` (replaced, all or nothing); returns the PROPOSALS_SCHEMA table it wrote there."""
    from oncoweave.imaging.segmenter import propose_mask

    cases = list(cases)
    model, reason = load_segmenter(bundle_dir, device) if cases else (None, None)
    if reason is not None:
        log.warning("lesion segmenter not fitted (%s): %d lesion(s) without a given mask get no "
                    "mask and no radiomics", reason, len(cases))
    rows = []
    with directory_replaced_on_success(out_dir) as folder:
        for number, case in enumerate(cases, start=1):
            name = f"{case['patient']}/{case['lesion']}"
            row = {"patient": case["patient"], "lesion": case["lesion"],
                   "modality": case["modality"], "mask_source": NO_MASK, "mask": None,
                   "voxels": None, "volume_ml": None, "components": None,
                   "reason": f"segmenter not fitted: {reason}" if reason else None}
            if model is not None:
                out = Path(out_dir) / name / MASK_FILE  # the final path, recorded in the table
                found = propose_mask(model, case["image"], folder / name / MASK_FILE,
                                     case["modality"])
                row["components"] = found["components"]
                if found["found"]:
                    row.update(mask_source=MASK_PROPOSED, mask=str(out), voxels=found["voxels"],
                               volume_ml=found["volume_ml"])
                    log.info("%d/%d %s: proposed mask of %d voxels (%.3f ml), largest of %d "
                             "component(s)", number, len(cases), name, found["voxels"],
                             found["volume_ml"], found["components"])
                else:
                    row["reason"] = "the segmenter found no lesion voxel (probability > 0.5)"
            if row["reason"]:
                log.warning("%d/%d %s: no mask proposed: %s", number, len(cases), name,
                            row["reason"])
            rows.append(row)
        table = pd.DataFrame(rows, columns=PROPOSALS_SCHEMA.names)
        write_parquet(table, folder / PROPOSALS_FILE, PROPOSALS_SCHEMA,
                      {"not_fitted": reason or "", "bundle": str(bundle_dir)})
    return table


def with_proposed_masks(cases: Iterable[Mapping[str, Any]], folder: str | Path | None
                        ) -> list[dict]:
    """The cases in their order, each lesion ingested without a mask given its proposed mask and
    mask_source 'proposed' from a segment_lesions ``folder``, or left out (with a warning saying
    why) when it has none. Cases with a given mask pass unchanged."""
    from oncoweave.imaging.ingest import MASK_GIVEN

    cases = [dict(case) for case in cases]
    maskless = [case for case in cases if case.get("mask_source") != MASK_GIVEN]
    if not maskless:
        return cases
    if folder is None:
        raise InputError(f"{len(maskless)} lesion(s) have no given mask (e.g. patient "
                         f"{maskless[0]['patient']} lesion {maskless[0]['lesion']}) but no "
                         "segment_lesions folder was given")
    path = Path(folder) / PROPOSALS_FILE
    table, _ = read_parquet(path, PROPOSALS_SCHEMA)
    by_lesion = {(row["patient"], row["lesion"]): row for row in table.to_dict("records")}
    kept = []
    for case in cases:
        if case.get("mask_source") == MASK_GIVEN:
            kept.append(case)
            continue
        row = by_lesion.get((case["patient"], case["lesion"]))
        if row is None:
            raise InputError(f"patient {case['patient']} lesion {case['lesion']} has no row "
                             "(rerun segment_lesions)", path=path)
        if row["mask_source"] == MASK_PROPOSED:
            kept.append({**case, "mask": row["mask"], "mask_source": MASK_PROPOSED})
        else:
            log.warning("patient %s lesion %s: no mask given or proposed, so no radiomics: %s",
                        case["patient"], case["lesion"], row["reason"])
    return kept
