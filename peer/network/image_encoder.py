"""Mirror of image_encoder.rs: E_I, a one-channel ViT with learned positions and pre-norm blocks."""

import torch
from torch import nn

from network.attention import Attention, LayerNorm, Linear

VIT_LAYER_NORM_EPS = 1e-6


class FeedForward(nn.Module):
    def __init__(self, width, hidden):
        super().__init__()
        self.fc1 = Linear(width, hidden)
        self.fc2 = Linear(hidden, width)

    def forward(self, x):
        return self.fc2(nn.functional.gelu(self.fc1(x)))


class VitBlock(nn.Module):
    def __init__(self, width, heads, hidden):
        super().__init__()
        self.attention_norm = LayerNorm(width, VIT_LAYER_NORM_EPS)
        self.attention = Attention(width, width, heads)
        self.attention_output = Linear(width, width)
        self.ffn_norm = LayerNorm(width, VIT_LAYER_NORM_EPS)
        self.ffn = FeedForward(width, hidden)

    def forward(self, x):
        normed = self.attention_norm(x)
        attended, _ = self.attention(normed, normed)
        x = x + self.attention_output(attended)
        return x + self.ffn(self.ffn_norm(x))


class ImageEncoder(nn.Module):
    def __init__(self, vision):
        super().__init__()
        p, width = vision["patch_size"], vision["width"]
        grid = vision["image_size"] // p
        self.patch_embedding = Linear(p * p, width)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.position_embedding = nn.Parameter(torch.zeros(1, 1 + grid * grid, width))
        hidden = width * vision["mlp_ratio"]
        self.blocks = nn.ModuleList(VitBlock(width, vision["heads"], hidden) for _ in range(vision["depth"]))
        self.final_norm = LayerNorm(width, VIT_LAYER_NORM_EPS)
        self.patch_size = p
        self.pixel_mean = vision["pixel_mean"]
        self.pixel_std = vision["pixel_std"]

    def forward(self, images):
        """[batch, 1, size, size] grey in [0, 1] -> (tokens [batch, 1 + grid², width], grid)."""
        batch, _, height, _ = images.shape
        p = self.patch_size
        grid = height // p
        patches = ((images - self.pixel_mean) / self.pixel_std).reshape(batch, grid, p, grid, p)
        patches = self.patch_embedding(patches.transpose(2, 3).reshape(batch, grid * grid, p * p))
        cls = self.cls_token.expand(batch, 1, patches.shape[2])
        x = torch.cat([cls, patches], dim=1) + self.position_embedding
        for block in self.blocks:
            x = block(x)
        return self.final_norm(x), grid
