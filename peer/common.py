"""Shared by the parity test, the ONNX export and the benchmark: paths, loading, reference inputs."""

import json
import sys
from pathlib import Path

import numpy as np
import torch

PEER = Path(__file__).resolve().parent
REPO = PEER.parent
sys.path.insert(0, str(PEER))

from network import model as network_model  # noqa: E402

WEIGHTS = REPO / "models" / "demo"
REFERENCE = REPO / "target" / "peer" / "reference.json"
ONNX_DIR = REPO / "target" / "peer"


def reference(path=REFERENCE):
    path = Path(path)
    if not path.exists():
        sys.exit(f"{path} is missing: run scripts/peer-bench.sh (it writes it with the Rust example peer_reference)")
    return json.loads(path.read_text())


def load_model(ref):
    """The PyTorch model of models/demo and its knowledge features, candidates ordered as Rust's."""
    _, model, knowledge = network_model.load(WEIGHTS, ref["candidate_regions"])
    return model, knowledge


def image(pixels, size):
    return torch.tensor(np.asarray(pixels, dtype=np.float32).reshape(1, 1, size, size))


def prompt_batch(ref):
    """The zero-shot prompts' ids (from the Rust tokenizer), padded to the longest: ids [n, L], mask [n, L]."""
    seqs = [p["ids"] for p in ref["prompts"]]
    length = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), length, dtype=torch.long)
    mask = torch.zeros(len(seqs), length, dtype=torch.float32)
    for row, s in enumerate(seqs):
        ids[row, : len(s)] = torch.tensor(s)
        mask[row, : len(s)] = 1.0
    return ids, mask


def zero_shot(model, image_embedding, text_embeddings):
    """ITC preference of `there is X` over `no X`, per finding."""
    logits = model.contrastive.logits(image_embedding, text_embeddings)
    return torch.softmax(logits.reshape(-1, 2), dim=1)[:, 0]
