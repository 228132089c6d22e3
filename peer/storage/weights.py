"""Mirror of crates/gkmvlp/src/storage/weights.rs: reads a weights folder (manifest.json,
model.safetensors, knowledge.safetensors), checking each file's sha256 against the manifest."""

import hashlib
import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load as load_safetensors

from storage import int8


def _checked(folder, manifest, name):
    data = (Path(folder) / name).read_bytes()
    entry = manifest["files"][name]
    if len(data) != entry["bytes"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise ValueError(f"{name} does not match manifest.json")
    return data


def load(folder):
    """Returns (manifest, config, name -> float32 numpy tensor, knowledge sentence features [candidates, 384])."""
    manifest = json.loads((Path(folder) / "manifest.json").read_text())
    tensors = load_safetensors(_checked(folder, manifest, "model.safetensors"))
    if manifest["dtype"] == "int8":
        tensors = int8.dequantize(tensors)
    knowledge = load_safetensors(_checked(folder, manifest, "knowledge.safetensors"))["sentence_features"]
    return manifest, manifest["config"], tensors, np.ascontiguousarray(knowledge, dtype=np.float32)
