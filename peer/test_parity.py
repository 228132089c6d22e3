"""Parity of the PyTorch peer with burn (Flex): every box coordinate, ECLS present probability, image
embedding value and zero-shot probability within 1e-3 of the Rust reference (target/peer/reference.json,
written by `cargo run --release -p gkmvlp-cli --example peer_reference`). Runs under pytest or as
`python peer/test_parity.py`; prints the largest difference per output."""

import sys

import numpy as np
import torch

from common import image, load_model, prompt_batch, reference, zero_shot

TOLERANCE = 1e-3


def max_diffs():
    ref = reference()
    model, knowledge = load_model(ref)
    size = ref["image_size"]
    ids, mask = prompt_batch(ref)
    rows = []
    with torch.inference_mode():
        texts = model.text_embedding(ids, mask)
        for case in ref["inputs"]:
            boxes, present, _, embedding = model.encode_image(image(case["pixels"], size), knowledge)
            scores = zero_shot(model, embedding, texts)
            for output, ours in [
                ("boxes", boxes),
                ("present", present),
                ("image_embedding", embedding),
                ("zero_shot", scores),
            ]:
                theirs = np.asarray(case[output], dtype=np.float32).reshape(-1)
                ours = ours.numpy().reshape(-1)
                assert ours.shape == theirs.shape, (case["name"], output, ours.shape, theirs.shape)
                rows.append((case["name"], output, ours.size, float(np.abs(ours - theirs).max())))
    return rows


def test_peer_equals_burn():
    rows = max_diffs()
    for name, output, count, diff in rows:
        print(f"{name:<10} {output:<16} {count:>5} values  max |torch - burn| = {diff:.2e}")
    worst = [r for r in rows if not r[3] <= TOLERANCE]
    assert not worst, f"outputs beyond {TOLERANCE}: {worst}"


if __name__ == "__main__":
    test_peer_equals_burn()
    print("parity: 1 passed, 0 failed")
    sys.exit(0)
