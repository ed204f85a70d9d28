"""Deep image features: each lesion's embedding by a trained image encoder, as a Parquet table.

``load_encoder`` rebuilds the network of a model directory that ``encoder.train_encoder`` wrote;
``embed_cases`` gives one row per lesion with ``deep_000`` .. (``latent_dim`` floats) and
``write_deep_features`` writes it with the model's provenance.

The embedding is ``mu``, not a global average of the encoder's feature map: averaging would throw
away where in the crop the signal lies (i.e. the lesion's extent and shape), whereas ``mu`` is a
learned linear map of the whole feature map. At inference the network is in eval mode and
returns ``mu`` (``use_mean_at_inference``): no sampling, no augmentation, one lesion at a time,
so a lesion's embedding does not depend on the others.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import pandas as pd
import pyarrow as pa

from oncoweave.core.devices import select_device, torch_threads
from oncoweave.core.errors import InputError
from oncoweave.core.io import file_sha256
from oncoweave.core.tables import schema_field, write_parquet
from oncoweave.imaging.encoder import (
    INFERENCE_FILE,
    METADATA_FILE,
    MODEL_FILE,
    NETWORK_CLASS,
    seeded,
)
from oncoweave.imaging.encoder_inputs import (
    CONCAT_SPEC,
    EncoderSettings,
    check_cases,
    compose,
    plain_tensor,
    preprocess_case,
    root_cause,
)

if TYPE_CHECKING:  # torch and MONAI are imported where used: the CLI starts without them
    import torch


def load_encoder(model_dir: str | Path) -> tuple[torch.nn.Module, EncoderSettings, dict]:
    """(network in eval mode on CPU, settings, metadata) of a directory ``train_encoder`` wrote."""
    import torch

    model_dir = Path(model_dir)
    for relative in (MODEL_FILE, METADATA_FILE, INFERENCE_FILE):
        if not (model_dir / relative).is_file():
            raise InputError(f"not an image encoder directory: {relative} is missing",
                             path=model_dir)
    try:
        metadata = json.loads((model_dir / METADATA_FILE).read_text())
        inference = json.loads((model_dir / INFERENCE_FILE).read_text())
        settings = EncoderSettings.from_config(inference["settings"],
                                               source=model_dir / INFERENCE_FILE)
        network_def = dict(inference["network_def"])
    except (OSError, ValueError, KeyError) as err:
        raise InputError(f"cannot read the encoder's configs ({err})", path=model_dir) from None
    if network_def.pop("_target_", None) != NETWORK_CLASS:
        raise InputError(f"network_def must be a {NETWORK_CLASS}", path=model_dir / INFERENCE_FILE)
    from monai.networks.nets import VarAutoEncoder

    try:
        network = VarAutoEncoder(**network_def)
        state = torch.load(model_dir / MODEL_FILE, map_location="cpu", weights_only=True)
        network.load_state_dict(state)
    except (OSError, RuntimeError, ValueError, TypeError) as err:
        raise InputError(f"cannot rebuild the network or load its weights ({root_cause(err)})",
                         path=model_dir / MODEL_FILE) from None
    return network.eval(), settings, metadata


def embed_cases(cases: Iterable[Mapping[str, Any]] | pd.DataFrame, model_dir: str | Path,
                device: str | None = None) -> pd.DataFrame:
    """One row per lesion: patient, lesion, modality, deep_000 .. (float64, ``mu``)."""
    import torch

    network, settings, _ = load_encoder(model_dir)
    cases = check_cases(cases)
    torch_device = select_device(device)
    network = network.to(torch_device)
    to_input = compose([CONCAT_SPEC])
    rows = []
    with (seeded(settings.seed, torch_device), torch_threads(settings.torch_threads),
          torch.inference_mode()):
        for case in cases:
            inputs = to_input(preprocess_case(case, settings))["input"]
            mu, _ = network.encode_forward(plain_tensor(inputs)[None].to(torch_device))
            rows.append([case["patient"], case["lesion"], case["modality"],
                         *mu[0].double().cpu().numpy()])
    return pd.DataFrame(rows, columns=["patient", "lesion", "modality",
                                       *deep_feature_names(settings.latent_dim)])


def deep_feature_names(latent_dim: int) -> list[str]:
    return [f"deep_{index:03d}" for index in range(latent_dim)]


def deep_features_schema(latent_dim: int) -> pa.Schema:
    """The deep features table of an encoder with ``latent_dim`` latent coordinates."""
    return pa.schema([
        schema_field("patient", pa.string(), "Patient id"),
        schema_field("lesion", pa.string(), "Lesion id"),
        schema_field("modality", pa.string(), "CT, MR or PT"),
        *[schema_field(name, pa.float64(), f"Latent coordinate {index} (posterior mean) of the "
                       "cohort-trained image encoder; no meaning across models")
          for index, name in enumerate(deep_feature_names(latent_dim))],
    ])


def embed_cohort(cases: Iterable[Mapping[str, Any]] | pd.DataFrame, model_dir: str | Path,
                 path: str | Path) -> pa.Table:
    """The deep features of ``cases`` at ``path``; from a not-fitted encoder bundle, a table with
    no rows whose Parquet metadata carries the bundle's reason (NOT_FITTED_KEY)."""
    from oncoweave.core.model_status import NOT_FITTED_KEY

    model_dir = Path(model_dir)
    try:
        metadata = json.loads((model_dir / METADATA_FILE).read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"cannot read the encoder's metadata ({err})", path=model_dir) from None
    if metadata.get("fitted", True):
        return write_deep_features(embed_cases(cases, model_dir), path, model_dir)
    settings = EncoderSettings.from_config(metadata["settings"], source=model_dir / METADATA_FILE)
    empty = pd.DataFrame(columns=deep_features_schema(settings.latent_dim).names)
    return write_parquet(empty, path, deep_features_schema(settings.latent_dim),
                         {NOT_FITTED_KEY: metadata[NOT_FITTED_KEY],
                          "deep_model_seed": metadata.get("seed"),
                          "monai_version": metadata.get("monai_version"),
                          "pytorch_version": metadata.get("pytorch_version")})


def write_deep_features(df: pd.DataFrame, path: str | Path, model_dir: str | Path) -> pa.Table:
    """Write ``embed_cases``' table atomically with the model's provenance in the metadata."""
    model_dir = Path(model_dir)
    _, settings, metadata = load_encoder(model_dir)
    provenance = {
        "deep_model_sha256": file_sha256(model_dir / MODEL_FILE),
        "deep_model_seed": metadata.get("seed"),
        "deep_model_n_cases": metadata.get("n_cases"),
        "deep_model_final_loss": metadata.get("final_loss"),
        "deep_model_device": metadata.get("device"),
        "deep_model_network": NETWORK_CLASS,
        "deep_model_settings": json.dumps(settings.to_dict(), sort_keys=True),
        "monai_version": metadata.get("monai_version"),
        "pytorch_version": metadata.get("pytorch_version"),
        "numpy_version": metadata.get("numpy_version"),
    }
    return write_parquet(df, path, deep_features_schema(settings.latent_dim), provenance)


def benchmark_embedding(cases: Iterable[Mapping[str, Any]] | pd.DataFrame, model_dir: str | Path,
                        device: str | None = None) -> dict[str, Any]:
    """Seconds per lesion to embed ``cases`` (preprocessing included) and training seconds per
    epoch: the model's settings trained again on ``cases`` (at least 2) into a temporary
    directory and timed, as a model directory records no timings."""
    import tempfile

    import torch

    from oncoweave.imaging.encoder import train_encoder

    cases = check_cases(cases)
    _, settings, _ = load_encoder(model_dir)
    started = time.perf_counter()
    embed_cases(cases, model_dir, device)
    seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="oncoweave-encoder-benchmark-") as scratch:
        trained = train_encoder(cases, Path(scratch) / "model", settings, device)
    return {
        "n_cases": len(cases),
        "embedding_seconds": seconds,
        "embedding_seconds_per_case": seconds / len(cases) if cases else None,
        "embedding_device": select_device(device).type,
        "training_seconds": trained["training_seconds"],
        "training_seconds_per_epoch": trained["training_seconds"] / settings.epochs,
        "training_device": trained["device"],
        "training_n_cases": trained["n_cases"],
        "crop_size": list(settings.crop_size),
        "torch_threads": settings.torch_threads or torch.get_num_threads(),
    }
