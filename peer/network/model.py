"""Mirror of model.rs: GK-MVLP's image side (E_I -> region head -> RoIAlign -> GK module -> ECLS, and the
ITC image embedding) and the ITC text embedding, loaded from the shipped weights folder."""

import torch
from torch import nn

from network.contrastive import Contrastive
from network.ecls_head import EclsHead
from network.gk_module import GkModule
from network.image_encoder import ImageEncoder
from network.region_head import RegionHead
from network.region_tokens import RegionTokens
from network.text_transformer import TextTransformer, mean_pool
from storage import weights

# Parts of the checkpoint the peer does not run: ITM and the report decoder, and the text encoder's
# cross-attention (used only in its image-grounded mode).
NOT_IN_PEER = ("text_decoder.", "itm_head.")


class GkMvlp(nn.Module):
    def __init__(self, config, positions):
        super().__init__()
        v, t = config["vision"], config["text"]
        self.vision_model = ImageEncoder(v)
        self.region_head = RegionHead(v["width"], v["heads"], config["region_head_layers"])
        self.region_tokens = RegionTokens(v["width"], config["roi_samples"])
        self.text_encoder = TextTransformer(t)
        self.gk_module = GkModule(
            t["width"],
            v["width"],
            v["heads"],
            config["gk_layers"],
            config["grounding"] == "Grounded",
            config.get("region_patches", False),
            positions,
        )
        self.ecls_head = EclsHead(v["width"])
        self.contrastive = Contrastive(v["width"], t["width"], config["embed_dim"])

    def encode_image(self, images, sentence_features):
        """images [b, 1, S, S] -> (boxes [b, 29, 4], present [b, candidates], region attention
        [b, candidates, 30], image embedding [b, embed])."""
        tokens, grid = self.vision_model(images)
        patches = tokens[:, 1:]
        cls = tokens[:, 0]
        boxes = self.region_head(patches)
        pooling = boxes.detach()
        regions = self.region_tokens(patches, grid, pooling)
        grounded, region_attention = self.gk_module(sentence_features, cls, regions, patches, grid, pooling)
        present = self.ecls_head.present_probability(grounded)
        return boxes, present, region_attention, self.contrastive.image_embedding(cls)

    def text_embedding(self, ids, mask):
        return self.contrastive.text_embedding(mean_pool(self.text_encoder(ids, mask), mask))


def load(folder, positions):
    """The model of the weights folder, every parameter filled from it; with the knowledge sentence
    features [candidates, text width]."""
    manifest, config, tensors, knowledge = weights.load(folder)
    model = GkMvlp(config, positions)
    own = dict(model.named_parameters())
    unused = [
        n
        for n in tensors
        if n not in own and not n.startswith(NOT_IN_PEER) and ".crossattention." not in n
    ]
    missing = [n for n in own if n not in tensors]
    if unused or missing:
        raise ValueError(f"weights do not fit the peer: missing {missing[:5]}, unused {unused[:5]}")
    with torch.no_grad():
        for name, param in own.items():
            value = torch.from_numpy(tensors[name].copy())
            if tuple(value.shape) != tuple(param.shape):
                raise ValueError(f"{name}: {tuple(value.shape)} in the file, {tuple(param.shape)} in the peer")
            param.copy_(value)
    model.eval()
    return manifest, model, torch.from_numpy(knowledge)


class ImageSide(nn.Module):
    """The image side as one graph with the knowledge features as a constant: what ONNX exports."""

    def __init__(self, model, sentence_features):
        super().__init__()
        self.model = model
        self.register_buffer("sentence_features", sentence_features, persistent=False)

    def forward(self, images):
        return self.model.encode_image(images, self.sentence_features)


class TextSide(nn.Module):
    """ids [b, seq] (int64), mask [b, seq] (float) -> unit ITC text embeddings [b, embed]."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids, mask):
        return self.model.text_embedding(ids, mask)
