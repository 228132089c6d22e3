"""Mirror of contrastive.rs: ITC projections, cosine similarity over a temperature."""

import torch
from torch import nn

from network.attention import Linear


class Contrastive(nn.Module):
    def __init__(self, vision_width, text_width, embed_dim):
        super().__init__()
        self.vision_proj = Linear(vision_width, embed_dim)
        self.text_proj = Linear(text_width, embed_dim)
        self.temperature = nn.Parameter(torch.full((1,), 0.07))

    def image_embedding(self, cls):
        return l2_normalize(self.vision_proj(cls))

    def text_embedding(self, pooled):
        return l2_normalize(self.text_proj(pooled))

    def logits(self, images, texts):
        return torch.matmul(images, texts.t()) / self.temperature.clamp(0.001, 0.5).unsqueeze(0)


def l2_normalize(x):
    return x / x.pow(2).sum(dim=1, keepdim=True).sqrt().clamp_min(1e-12)
