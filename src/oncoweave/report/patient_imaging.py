"""The patient report's imaging section: each lesion's widest slice with its mask, the lesion
CNN's occlusion map over its crop's centre slice (when the classifier was fitted), and its key
radiomic features against the cohort's (table and strip plot), as embedded PNGs."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from oncoweave.core.errors import InputError
from oncoweave.core.model_status import NOT_FITTED_KEY
from oncoweave.core.tables import read_parquet, require_columns
from oncoweave.fusion.survival_metrics import percentile_among
from oncoweave.imaging.lesion_map_files import READING_GUIDE, read_map_arrays
from oncoweave.report.patient_sections import Section, Table, as_number, is_missing

# Radiomic features shown against the cohort, in words; intensity and texture ones are compared
# only with lesions of the same modality (CT HU and MR signal are not on one scale).
KEY_RADIOMICS = (
    ("original_shape_VoxelVolume", "lesion volume (mm³)", False),
    ("original_shape_Maximum3DDiameter", "largest 3-D diameter (mm)", False),
    ("original_shape_Sphericity", "sphericity (1 = a perfect sphere)", False),
    ("original_firstorder_Mean", "mean intensity", True),
    ("original_firstorder_Entropy", "intensity entropy (heterogeneity)", True),
    ("original_glcm_Contrast", "texture contrast (GLCM)", True),
)


def _png(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _window(pixels: np.ndarray, modality: str) -> tuple[float, float]:
    if modality == "CT":
        return -160.0, 240.0  # soft-tissue window (level 40, width 400 HU)
    low, high = np.percentile(pixels, [0.5, 99.5])
    return float(low), float(high if high > low else low + 1)


def _acquisition_plane(pixels: np.ndarray, lesion: np.ndarray, spacing: Sequence[float]
                       ) -> tuple[str, np.ndarray, np.ndarray, float]:
    """(plane, image, mask, aspect) re-sliced so axis 0 is the thickest-spaced axis (the plane
    the series was acquired in); arrays come in LPS order (z, y, x), superior up."""
    sx, sy, sz = spacing
    if sz >= max(sx, sy):
        return "axial", pixels, lesion, sy / sx
    if sy >= sx:  # coronal slices: rows are z (flipped so superior is up), columns x
        order, aspect, plane = (1, 0, 2), sz / sx, "coronal"
    else:  # sagittal slices: rows are z, columns y (anterior on the left)
        order, aspect, plane = (2, 0, 1), sz / sy, "sagittal"
    return (plane, np.flip(pixels.transpose(order), axis=1),
            np.flip(lesion.transpose(order), axis=1), aspect)


def lesion_figure(image_path: str | Path, mask_path: str | Path, modality: str) -> tuple[str, int]:
    """(PNG data URI, slice index) of the slice with the most lesion voxels in the acquisition
    plane, mask outlined, beside a close-up; radiological convention (patient's right on the
    left of an axial or coronal slice)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import SimpleITK as sitk

    try:
        image = sitk.DICOMOrient(sitk.ReadImage(str(image_path)), "LPS")
        mask = sitk.DICOMOrient(sitk.ReadImage(str(mask_path)), "LPS")
    except RuntimeError as err:
        raise InputError(f"cannot read image ({str(err).strip().splitlines()[-1]})",
                         path=image_path) from None
    pixels = sitk.GetArrayFromImage(image).astype(np.float64)  # z, y, x
    lesion = sitk.GetArrayFromImage(mask) > 0
    if pixels.shape != lesion.shape:
        raise InputError(f"mask grid {lesion.shape} differs from the image's {pixels.shape}",
                         path=mask_path)
    if not lesion.any():
        raise InputError("the mask is empty", path=mask_path)
    low, high = _window(pixels, modality)
    plane, pixels, lesion, aspect = _acquisition_plane(pixels, lesion, image.GetSpacing())
    k = int(lesion.sum(axis=(1, 2)).argmax())
    ys, xs = np.nonzero(lesion[k])
    margin = max(8, int(0.6 * max(np.ptp(ys), np.ptp(xs))))
    y0, y1 = max(ys.min() - margin, 0), min(ys.max() + margin + 1, lesion.shape[1])
    x0, x1 = max(xs.min() - margin, 0), min(xs.max() + margin + 1, lesion.shape[2])
    figure, axes = plt.subplots(1, 2, figsize=(8, 4))
    for axis, (rows, cols), title in (
            (axes[0], (slice(None), slice(None)), f"{plane} slice {k + 1} of {lesion.shape[0]}"),
            (axes[1], (slice(y0, y1), slice(x0, x1)), "close-up")):
        axis.imshow(pixels[k][rows, cols], cmap="gray", vmin=low, vmax=high, aspect=aspect,
                    interpolation="nearest")
        inside = lesion[k][rows, cols]
        axis.imshow(np.ma.masked_where(~inside, inside), cmap="autumn", alpha=0.35,
                    aspect=aspect, interpolation="nearest")
        axis.contour(inside.astype(float), levels=[0.5], colors="red", linewidths=1.0)
        axis.set_title(title, fontsize=9)
        axis.set_axis_off()
    figure.suptitle(f"{modality}: lesion mask in red (window {low:.0f} to {high:.0f})",
                    fontsize=10)
    return _png(figure), k


def radiomics_figure(rows: list[tuple[str, np.ndarray, float]]) -> str:
    """Strip plots: each feature's cohort values (grey) and this lesion's (red)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(rows), 1, figsize=(6, 0.7 * len(rows) + 0.4), squeeze=False)
    for axis, (label, cohort, value) in zip(axes[:, 0], rows):
        axis.scatter(cohort, np.zeros_like(cohort), s=25, color="0.6", zorder=2)
        axis.scatter([value], [0], s=60, color="red", zorder=3)
        axis.set_yticks([])
        axis.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
        axis.tick_params(axis="x", labelsize=7)
        for side in ("left", "right", "top"):
            axis.spines[side].set_visible(False)
    figure.tight_layout()
    return _png(figure)


@dataclass
class Lesion:
    image: Path
    mask: Path
    record: Path
    # "given" (the image sheet's mask) or "proposed" (rule segment_lesions, for a row with none).
    mask_source: str = "given"


PROPOSED_MASK_NOTE = "mask proposed by the segmenter"


# ---------------------------------------------------------------------------------------------
# The lesion CNN's occlusion maps (rule train_lesion_classifier, imaging.lesion_maps): drawn from
# the arrays it saved; no torch or MONAI here.

@dataclass
class CnnMaps:
    """The cohort's lesion CNN maps: the folder, its index and the index's metadata."""
    directory: Path
    index: pd.DataFrame
    metadata: dict[str, str]


def cnn_map_figure(arrays: dict[str, np.ndarray], modality: str) -> str:
    """PNG data URI: the crop's slice in grey with the lesion outlined, beside the same slice with
    the map overlaid (diverging colours centred on 0: warm = occlusion lowers the probability)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    image, mask, values = arrays["image"], arrays["mask"] > 0, arrays["map"]
    # CT/PET crops are windowed to 0..1 already; an MR crop is z-scored: its own percentiles.
    low, high = (0.0, 1.0) if modality in ("CT", "PT") else _window(image, modality)
    reach = float(np.abs(values).max()) or 1e-6
    figure, axes = plt.subplots(1, 2, figsize=(6.4, 3.0))
    for axis, overlay in ((axes[0], False), (axes[1], True)):
        axis.imshow(image, cmap="gray", vmin=low, vmax=high, interpolation="nearest")
        if overlay:
            shown = axis.imshow(values, cmap="coolwarm", vmin=-reach, vmax=reach, alpha=0.55,
                                interpolation="bilinear")
            bar = figure.colorbar(shown, ax=axis, fraction=0.046, pad=0.04)
            bar.set_label("drop in probability", fontsize=7)
            bar.ax.tick_params(labelsize=6)
        if mask.any():
            axis.contour(mask.astype(float), levels=[0.5], colors="lime", linewidths=0.8)
        axis.set_title("occlusion map" if overlay else "CNN input (crop slice)", fontsize=8)
        axis.set_axis_off()
    return _png(figure)


def cnn_map_image(patient: str, lesion: str, modality: str, maps: CnnMaps | None
                  ) -> dict[str, str] | None:
    """The section image of the lesion's map, or None (no map: not fitted, not classified)."""
    if maps is None or maps.index.empty:
        return None
    rows = maps.index[(maps.index["patient"].astype(str) == patient)
                      & (maps.index["lesion"].astype(str) == lesion)]
    if rows.empty:
        return None
    row = rows.iloc[0]
    arrays = read_map_arrays(maps.directory, str(row["file"]))
    label = maps.metadata.get("label", "")
    positive = maps.metadata.get("positive", "")
    of_what = f" of {label} in {{{positive}}}" if label and positive else ""
    return {"src": cnn_map_figure(arrays, modality),
            "alt": f"lesion {lesion}: CNN occlusion map over the crop slice",
            "caption": f"Lesion {lesion}: {row['method']}, from "
                       f"{maps.metadata.get('model', 'the lesion CNN')}; axial slice "
                       f"{int(row['slice']) + 1} of the crop through the lesion centre, outline "
                       f"in green. CNN out-of-fold probability{of_what}: "
                       f"{float(row['probability']):.2f}. Reading: {READING_GUIDE}."}


def cnn_map_notes(patient: str, lesions: Sequence[str], maps: CnnMaps | None) -> list[str]:
    """Why a lesion has no map: the classifier not fitted (its reason), or the lesion not
    classified (no label)."""
    if maps is None:
        return []
    reason = maps.metadata.get(NOT_FITTED_KEY)
    if reason:
        return [f"Lesion CNN maps: the lesion classifier is not fitted ({reason})."]
    mapped = set(maps.index.loc[maps.index["patient"].astype(str) == patient, "lesion"]
                 .astype(str))
    return [f"Lesion {lesion}: no CNN map (the lesion classifier did not classify it: its "
            "patient has no label)." for lesion in lesions if lesion not in mapped]


def imaging_section(patient: str, lesions: Sequence[Lesion], radiomics: pd.DataFrame | None,
                    imaging_run: bool, cnn_maps: CnnMaps | None = None) -> Section:
    section = Section("imaging", "Imaging")
    if not imaging_run:
        section.empty = "Stage not run: the cohort has no images (the image sheet is empty)."
        return section
    if not lesions:
        section.empty = "No image: this patient has no lesion in the image sheet."
        return section
    shown: list[str] = []
    for lesion in lesions:
        record, _ = read_parquet(lesion.record)
        require_columns(record, ["lesion", "modality", "lesion_volume_ml", "source_format"],
                        lesion.record)
        info = record.iloc[0]
        modality = str(info["modality"])
        proposed = lesion.mask_source == "proposed"
        if proposed and not Path(lesion.mask).is_file():
            # No mask given and none proposed (segmenter not fitted, or it found nothing).
            section.notes.append(f"Lesion {info['lesion']}: no mask was given and the segmenter "
                                 "proposed none (see logs/segment_lesions), so it has no figure "
                                 "or radiomics.")
            continue
        uri, z = lesion_figure(lesion.image, lesion.mask, modality)
        volume = "" if proposed else f"{as_number(info['lesion_volume_ml'])} mL, "
        section.images.append({
            "src": uri, "alt": f"lesion {info['lesion']} with its mask",
            "caption": f"Lesion {info['lesion']} ({modality}, {volume}{info['source_format']} "
                       "input, de-identified working copy"
                       + (f"; {PROPOSED_MASK_NOTE})" if proposed else ")")})
        cnn_map = cnn_map_image(patient, str(info["lesion"]), modality, cnn_maps)
        if cnn_map is not None:
            section.images.append(cnn_map)
        elif proposed:
            # The CNN is trained and applied on given masks only (no cycle with the segmenter).
            section.notes.append(f"Lesion {info['lesion']}: no CNN map (the lesion classifier "
                                 "uses given masks only; this one was proposed).")
        else:
            shown.append(str(info["lesion"]))
        if radiomics is None:
            section.notes.append("Radiomics not available for the cohort.")
            continue
        this = radiomics[(radiomics["patient"] == patient)
                         & (radiomics["lesion"] == info["lesion"])]
        if this.empty:
            section.notes.append(f"Lesion {info['lesion']} has no radiomics row.")
            continue
        table_rows, plot_rows = [], []
        for name, label, same_modality in KEY_RADIOMICS:
            if name not in radiomics.columns:
                continue
            pool = radiomics[radiomics["modality"] == modality] if same_modality else radiomics
            cohort = pd.to_numeric(pool[name], errors="coerce").dropna().to_numpy(dtype=float)
            value = pd.to_numeric(pd.Series([this.iloc[0][name]]), errors="coerce").iloc[0]
            if not len(cohort) or is_missing(value):
                continue
            value = float(value)
            scope = f"{len(cohort)} {modality} lesions" if same_modality else \
                f"{len(cohort)} lesions"
            table_rows.append([label, f"{value:.4g}", f"{np.median(cohort):.4g}",
                               f"{cohort.min():.4g} – {cohort.max():.4g}",
                               f"{percentile_among(cohort, [value])[0]:.0f}", scope])
            plot_rows.append((label, cohort, value))
        if table_rows:
            on_proposed = f" on the {PROPOSED_MASK_NOTE}" if proposed else ""
            section.tables.append(Table(
                ["feature", "this lesion", "cohort median", "cohort range", "percentile",
                 "compared with"], table_rows, f"Lesion {info['lesion']}: key radiomic features "
                                               f"(pyradiomics){on_proposed} against the cohort"))
            section.images.append({"src": radiomics_figure(plot_rows),
                                   "alt": "radiomic features against the cohort",
                                   "caption": "Each row: the cohort's lesions (grey) and this "
                                              "lesion (red)."})
    section.notes.extend(cnn_map_notes(patient, shown, cnn_maps))
    return section
