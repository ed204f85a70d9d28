"""The image encoder: a self-supervised MONAI 3D autoencoder trained on the cohort's lesion crops.

No pretrained weights exist for this cohort's crops (and nothing may be downloaded), so the
encoder is trained on the cohort itself, without labels: a variational autoencoder
(``monai.networks.nets.VarAutoEncoder``) learns to reconstruct lesion-centred crops
(``encoder_inputs``), and the embedding of a lesion is the posterior mean ``mu`` of its latent
vector (``latent_dim`` floats; ``deep_features`` computes it). The KL term keeps each latent
coordinate on a unit scale, so distances between embeddings are comparable across coordinates.

Training is seeded (``torch.manual_seed``, ``monai.utils.set_determinism``, the augmentation
``Compose`` and the DataLoader's shuffling generator) and, on CPU, runs with
``torch.use_deterministic_algorithms(True)``: two trainings with the same seed on the same machine
give bit-identical weights. On CUDA some kernels are not bit-reproducible; the metadata records
the device. The model directory is MONAI-bundle-like: ``models/model.pt`` (state_dict),
``configs/metadata.json`` (versions, seed, loss curve, data format, transforms; no timings, so
that two trainings write identical files) and ``configs/inference.json`` (how to rebuild the
network and its preprocessing).

Default settings (crop 32^3, channels (8, 16, 32), 30 epochs, batch 4) train on 8 lesions in about
1 s on 2 CPU cores, after about 1 s loading and resampling them (small 48 x 48 x 40 volumes).
Bit-identical reruns need the same machine and ``torch_threads`` setting (recorded), whatever
threads the job gets.
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

import numpy as np
import pandas as pd

from oncoweave import __version__
from oncoweave.core.devices import select_device, torch_threads
from oncoweave.core.errors import InputError
# The bundle layout (models/model.pt, configs/metadata.json, configs/inference.json): one for all.
from oncoweave.imaging.bundle import INFERENCE_FILE, METADATA_FILE, MODEL_FILE, write_fitted_bundle
from oncoweave.imaging.encoder_inputs import (
    CONCAT_SPEC,
    EncoderSettings,
    augmentation_specs,
    case_name,
    check_cases,
    compose,
    describe_transforms,
    plain_tensor,
    preprocess_case,
)

if TYPE_CHECKING:  # torch and MONAI are imported where used: the CLI starts without them
    import torch

log = logging.getLogger(__name__)

NETWORK_CLASS = "monai.networks.nets.VarAutoEncoder"
# The encoder learns from the cohort's own lesions; with fewer it writes a not-fitted bundle.
MIN_TRAINING_LESIONS = 2
INPUT_CHANNELS = {"0": "image, windowed to 0..1 (modality-dependent window)",
                  "1": "lesion mask (1 inside the lesion, 0 outside)"}


# ---------------------------------------------------------------------------------------------
# Network, device, determinism

def network_args(settings: EncoderSettings) -> dict[str, Any]:
    return dict(spatial_dims=3, in_shape=[2, *settings.crop_size], out_channels=2,
                latent_size=settings.latent_dim, channels=list(settings.channels),
                strides=list(settings.strides), use_sigmoid=True, use_mean_at_inference=True)


def build_network(settings: EncoderSettings) -> torch.nn.Module:
    from monai.networks.nets import VarAutoEncoder

    return VarAutoEncoder(**network_args(settings))


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch, numpy and random; deterministic algorithms on CPU (restored afterwards)."""
    import torch
    from monai.utils import set_determinism

    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(seed)
    set_determinism(seed=seed)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_deterministic)


def vae_loss(reconstruction: torch.Tensor, target: torch.Tensor, mu: torch.Tensor,
             logvar: torch.Tensor, kl_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(total, reconstruction): per-voxel MSE + kl_weight x KL(q(z|x) || N(0, I)) per lesion."""
    import torch

    mse = torch.nn.functional.mse_loss(reconstruction, target)
    kl = -0.5 * torch.mean(torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1))
    return mse + kl_weight * kl, mse


# ---------------------------------------------------------------------------------------------
# Training

def train_encoder(cases: Iterable[Mapping[str, Any]] | pd.DataFrame, out_dir: str | Path,
                  settings: EncoderSettings | None = None, device: str | None = None) -> dict:
    """Train the encoder on ``cases`` and save the model directory; return its metadata and,
    not saved (a run's files carry no timings), ``training_seconds``.

    The directory is written beside ``out_dir`` and renamed onto it at the end, so a failed
    training leaves nothing (and keeps an earlier model there untouched).
    """
    import torch

    settings = settings or EncoderSettings()
    settings.validate()
    cases = check_cases(cases)
    if len(cases) < MIN_TRAINING_LESIONS:
        raise InputError(f"training the image encoder needs at least {MIN_TRAINING_LESIONS} "
                         f"lesions, got {len(cases)}"
                         + (f" ({case_name(cases[0])})" if cases else ""))
    torch_device = select_device(device)
    log.info("preprocessing %d lesions", len(cases))
    crops = [preprocess_case(case, settings) for case in cases]
    with seeded(settings.seed, torch_device), torch_threads(settings.torch_threads):
        threads = torch.get_num_threads()  # recorded: bit-identical reruns need the same count
        network = build_network(settings).to(torch_device)
        losses, reconstruction, seconds = _fit(network, crops, settings, torch_device)
    metadata = _metadata(cases, settings, torch_device, losses, reconstruction, threads)
    write_fitted_bundle(out_dir, network, metadata, _inference_config(settings))
    log.info("saved the image encoder to %s (final loss %.5f, trained in %.1f s)", out_dir,
             metadata["final_loss"], seconds)
    return {**metadata, "training_seconds": seconds}


def encoder_blocker(n_lesions: int) -> str | None:
    """Why the encoder cannot be trained on a cohort of ``n_lesions`` lesions, or None."""
    if n_lesions < MIN_TRAINING_LESIONS:
        return (f"the cohort has {n_lesions} lesion{'s' * (n_lesions != 1)}; the encoder learns "
                f"from at least {MIN_TRAINING_LESIONS}")
    return None


def train_encoder_or_say_why(cases: Iterable[Mapping[str, Any]] | pd.DataFrame,
                             out_dir: str | Path, settings: EncoderSettings | None = None,
                             device: str | None = None) -> dict:
    """:func:`train_encoder`, or, on a cohort it cannot learn from, a not-fitted bundle at
    ``out_dir`` (configs/metadata.json with the reason, versions, seed and settings; no
    weights). Returns the bundle's metadata."""
    import monai
    import torch

    from oncoweave.core.model_status import write_not_fitted_bundle

    settings = settings or EncoderSettings()
    settings.validate()
    cases = check_cases(cases)
    reason = encoder_blocker(len(cases))
    if reason is None:
        return train_encoder(cases, out_dir, settings, device)
    log.warning("image encoder not fitted: %s", reason)
    return write_not_fitted_bundle(out_dir, reason, {
        "schema": "oncoweave image encoder metadata (modelled on a MONAI bundle's metadata.json)",
        "version": __version__, "oncoweave_version": __version__,
        "monai_version": monai.__version__, "pytorch_version": torch.__version__,
        "numpy_version": np.__version__, "network": NETWORK_CLASS, "seed": settings.seed,
        "n_cases": len(cases), "settings": settings.to_dict()})


def _fit(network: torch.nn.Module, crops: list[dict[str, torch.Tensor]],
         settings: EncoderSettings, device: torch.device
         ) -> tuple[list[float], list[float], float]:
    """Adam on the VAE loss; returns per-epoch (loss, reconstruction MSE) and seconds."""
    import torch
    from monai.data import Dataset, list_data_collate

    specs = (augmentation_specs(settings) if settings.augmentation else []) + [CONCAT_SPEC]
    transform = compose(specs).set_random_state(seed=settings.seed)
    loader = torch.utils.data.DataLoader(
        Dataset(crops, transform=transform), batch_size=settings.batch_size, shuffle=True,
        num_workers=0, generator=torch.Generator().manual_seed(settings.seed),
        collate_fn=list_data_collate)
    optimiser = torch.optim.Adam(network.parameters(), lr=settings.learning_rate)
    losses, reconstruction = [], []
    started = time.perf_counter()
    network.train()
    for epoch in range(1, settings.epochs + 1):
        epoch_started = time.perf_counter()
        total = mse_total = 0.0
        for batch in loader:
            inputs = plain_tensor(batch["input"]).to(device)
            optimiser.zero_grad()
            output, mu, logvar, _ = network(inputs)
            loss, mse = vae_loss(output, inputs, mu, logvar, settings.kl_weight)
            loss.backward()
            optimiser.step()
            total += loss.item() * len(inputs)
            mse_total += mse.item() * len(inputs)
        losses.append(total / len(crops))
        reconstruction.append(mse_total / len(crops))
        if not math.isfinite(losses[-1]):
            raise InputError(f"training diverged at epoch {epoch} (loss {losses[-1]}); "
                             "lower learning_rate")
        log.info("epoch %d/%d: loss %.5f (reconstruction MSE %.5f), %.2f s", epoch,
                 settings.epochs, losses[-1], reconstruction[-1],
                 time.perf_counter() - epoch_started)
    return losses, reconstruction, time.perf_counter() - started


def _metadata(cases: list[dict[str, str]], settings: EncoderSettings, device: torch.device,
              losses: list[float], reconstruction: list[float], threads: int) -> dict:
    import monai
    import nibabel
    import torch

    crop = list(settings.crop_size)
    return {
        "schema": "oncoweave image encoder metadata (modelled on a MONAI bundle's metadata.json)",
        "version": __version__,
        "oncoweave_version": __version__,
        "monai_version": monai.__version__,
        "pytorch_version": torch.__version__,
        "numpy_version": np.__version__,
        "optional_packages_version": {"nibabel": nibabel.__version__},
        "task": "Self-supervised embedding of lesion-centred 3D crops (CT, MR, PET)",
        "description": "Variational autoencoder trained to reconstruct its 2-channel input (the "
                       "windowed image and the lesion mask); the embedding is the posterior "
                       "mean of the latent vector.",
        "network_data_format": {
            "inputs": {"image": {
                "type": "image", "format": "magnitude", "modality": "CT, MR or PT",
                "num_channels": 2, "spatial_shape": crop, "dtype": "float32",
                "value_range": [0, 1], "is_patch_data": True, "channel_def": INPUT_CHANNELS,
                "spacing_mm": list(settings.spacing_mm), "orientation": "RAS"}},
            "outputs": {
                "pred": {"type": "image", "format": "magnitude", "num_channels": 2,
                         "spatial_shape": crop, "dtype": "float32", "value_range": [0, 1],
                         "is_patch_data": True, "channel_def": INPUT_CHANNELS,
                         "description": "reconstruction of the input"},
                "embedding": {"type": "vector", "num_channels": settings.latent_dim,
                              "dtype": "float32", "description": "posterior mean mu of the "
                              "latent vector; the deep_* features"}},
        },
        "seed": settings.seed,
        "device": device.type,
        "deterministic": device.type == "cpu",
        "torch_threads": threads,
        "n_cases": len(cases),
        "training_cases": [f"{case['patient']}/{case['lesion']}" for case in cases],
        "modalities": sorted({case["modality"] for case in cases}),
        "loss": "per-voxel MSE + kl_weight x KL divergence",
        "loss_curve": losses,
        "reconstruction_curve": reconstruction,
        "final_loss": losses[-1],
        "settings": settings.to_dict(),
        "network": {"class": NETWORK_CLASS, "args": network_args(settings)},
        "transforms": describe_transforms(settings),
    }


def _inference_config(settings: EncoderSettings) -> dict:
    transforms = describe_transforms(settings)
    return {
        "network_def": {"_target_": NETWORK_CLASS, **network_args(settings)},
        "settings": settings.to_dict(),
        "preprocessing": transforms["preprocessing"],
        "to_network_input": transforms["to_network_input"],
        "embedding": "network.encode_forward(input)[0] (mu), network in eval mode",
    }
