"""The folder a trained imaging network is saved as, in the manner of a MONAI bundle:
models/model.pt (the state dict), configs/metadata.json (versions, seed, settings, metrics, loss
curve) and configs/inference.json (how to rebuild and apply the network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from oncoweave.core.io import directory_replaced_on_success, file_sha256
from oncoweave.core.model_status import BUNDLE_METADATA as METADATA_FILE

MODEL_FILE = Path("models") / "model.pt"
INFERENCE_FILE = Path("configs") / "inference.json"


def write_fitted_bundle(directory: str | Path, network: Any, metadata: dict[str, Any],
                        inference: Mapping[str, Any]) -> None:
    """Replace ``directory`` with a MONAI-bundle-like folder: models/model.pt (``network``'s state
    dict, on the CPU), configs/metadata.json (``metadata``, which gains ``model_sha256``) and
    configs/inference.json; all of it or, on failure, nothing."""
    import torch

    with directory_replaced_on_success(directory) as temporary:
        (temporary / MODEL_FILE).parent.mkdir(parents=True)
        (temporary / METADATA_FILE).parent.mkdir(parents=True)
        state = {key: value.detach().cpu() for key, value in network.state_dict().items()}
        torch.save(state, temporary / MODEL_FILE)
        metadata["model_sha256"] = file_sha256(temporary / MODEL_FILE)
        for path, content in ((METADATA_FILE, metadata), (INFERENCE_FILE, inference)):
            (temporary / path).write_text(json.dumps(content, indent=2) + "\n")
