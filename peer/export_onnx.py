"""Exports the image side (images [1, 1, S, S] -> boxes, present probabilities, region attention, image
embedding) and the text encoder (ids, mask -> ITC text embeddings) to ONNX under target/peer/, then
checks onnxruntime's outputs against PyTorch's within 1e-4 on the reference inputs."""

import sys

import numpy as np
import onnxruntime as ort
import torch

from common import ONNX_DIR, image, load_model, prompt_batch, reference
from network.model import ImageSide, TextSide

TOLERANCE = 1e-4
IMAGE_OUTPUTS = ["boxes", "present", "region_attention", "image_embedding"]
IMAGE_ONNX = ONNX_DIR / "image_side.onnx"
TEXT_ONNX = ONNX_DIR / "text_encoder.onnx"


def export(module, args, path, input_names, output_names, dynamic_axes, torchscript=True):
    """The TorchScript exporter where asked and this torch can (one self-contained file); else dynamo (the
    text encoder: the TorchScript exporter cannot trace its position ids over a dynamic length)."""
    try:
        if not torchscript:
            raise NotImplementedError("dynamo asked for")
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            opset_version=17,
            dynamo=False,
        )
        return "torchscript"
    except Exception as error:  # noqa: BLE001 - fall back to the other exporter and say so
        if torchscript:
            print(f"TorchScript exporter failed ({type(error).__name__}: {str(error)[:120]}); using dynamo")
    shapes = {name: {axis: torch.export.Dim.AUTO for axis in axes} for name, axes in dynamic_axes.items()}
    program = torch.onnx.export(
        module,
        args,
        input_names=input_names,
        output_names=output_names,
        dynamic_shapes=shapes if shapes else None,
        dynamo=True,
        external_data=False,
    )
    program.save(str(path), external_data=False)
    return "dynamo"


def main():
    ONNX_DIR.mkdir(parents=True, exist_ok=True)
    ref = reference()
    model, knowledge = load_model(ref)
    size = ref["image_size"]
    image_side = ImageSide(model, knowledge).eval()
    text_side = TextSide(model).eval()
    ids, mask = prompt_batch(ref)
    how = export(image_side, (image(ref["inputs"][0]["pixels"], size),), IMAGE_ONNX, ["images"], IMAGE_OUTPUTS, {})
    print(f"exported {IMAGE_ONNX} ({how})")
    how = export(
        text_side,
        (ids, mask),
        TEXT_ONNX,
        ["ids", "mask"],
        ["text_embedding"],
        {"ids": {0: "batch", 1: "seq"}, "mask": {0: "batch", 1: "seq"}},
        torchscript=False,
    )
    print(f"exported {TEXT_ONNX} ({how})")

    worst = {}
    session = ort.InferenceSession(str(IMAGE_ONNX), providers=["CPUExecutionProvider"])
    for case in ref["inputs"]:
        x = image(case["pixels"], size)
        with torch.inference_mode():
            ours = [t.numpy() for t in image_side(x)]
        theirs = session.run(IMAGE_OUTPUTS, {"images": x.numpy()})
        for name, a, b in zip(IMAGE_OUTPUTS, ours, theirs):
            worst[name] = max(worst.get(name, 0.0), float(np.abs(a - b).max()))
    session = ort.InferenceSession(str(TEXT_ONNX), providers=["CPUExecutionProvider"])
    with torch.inference_mode():
        ours = text_side(ids, mask).numpy()
    (theirs,) = session.run(["text_embedding"], {"ids": ids.numpy(), "mask": mask.numpy()})
    worst["text_embedding"] = float(np.abs(ours - theirs).max())
    for name, diff in worst.items():
        print(f"onnxruntime vs torch  {name:<16} max abs diff {diff:.2e}")
    bad = {k: v for k, v in worst.items() if not v <= TOLERANCE}
    if bad:
        sys.exit(f"onnxruntime differs from PyTorch beyond {TOLERANCE}: {bad}")
    print("onnx: 1 passed, 0 failed")
    return worst


if __name__ == "__main__":
    main()
