"""Mirror of region_tokens.rs: RoIAlign (bilinear sampling written as a matmul) of the patch grid in each
box, plus box and region-identity embeddings; and the share of each patch each box holds."""

import numpy as np
import torch
from torch import nn

from network.attention import Embedding, LayerNorm, Linear
from network.region_head import NUM_REGIONS

FULL_OVERLAP = np.float32(0.25)
F32_MIN_POSITIVE = float(np.finfo(np.float32).tiny)


class RegionTokens(nn.Module):
    def __init__(self, width, samples):
        super().__init__()
        self.box_embedding = Linear(4, width)
        self.region_embedding = Embedding(NUM_REGIONS, width)
        self.norm = LayerNorm(width)
        self.samples = samples
        self.register_buffer("region_ids", torch.arange(NUM_REGIONS).reshape(1, NUM_REGIONS), persistent=False)

    def forward(self, patches, grid, boxes):
        pooled = torch.matmul(roi_align_weights(boxes, grid, self.samples), patches)
        x = pooled + self.box_embedding(boxes) + self.region_embedding(self.region_ids)
        return self.norm(x)


def roi_align_weights(boxes, grid, samples):
    """[batch, regions, 4] -> [batch, regions, grid²], rows summing to 1."""
    batch, regions, _ = boxes.shape
    fractions = ((torch.arange(samples, dtype=torch.float32) + 0.5) / float(samples)).reshape(1, 1, samples)
    cells = torch.arange(grid, dtype=torch.float32).reshape(1, 1, 1, grid)

    def axis_weights(start, end):
        position = start + (end - start) * fractions  # [b, r, s]
        u = (position * float(grid) - 0.5).clamp(0.0, float(grid - 1))
        return torch.relu(1.0 - (u.unsqueeze(3) - cells).abs())  # [b, r, s, g]

    wx = axis_weights(boxes[:, :, 0:1], boxes[:, :, 2:3]).mean(dim=2, keepdim=True)  # [b, r, 1, g]
    wy = axis_weights(boxes[:, :, 1:2], boxes[:, :, 3:4]).mean(dim=2, keepdim=True).transpose(2, 3)
    return (wy * wx).reshape(batch, regions, grid * grid)


def patch_shares(boxes, grid):
    """How much of each patch each box holds, in [0, 1]: [batch, regions, grid²]."""
    batch, regions, _ = boxes.shape
    patch = np.float32(1.0) / np.float32(grid)
    starts = (torch.arange(grid, dtype=torch.float32) * float(patch)).reshape(1, 1, grid)
    ends = starts + float(patch)
    full_overlap = float(FULL_OVERLAP * patch)

    def shares(start, end):
        overlap = (torch.minimum(end, ends) - torch.maximum(start, starts)).clamp_min(0.0)
        full = (end - start).clamp(F32_MIN_POSITIVE, full_overlap)
        return (overlap / full).clamp_max(1.0)

    along_x = shares(boxes[:, :, 0:1], boxes[:, :, 2:3]).unsqueeze(2)  # [b, r, 1, g]
    along_y = shares(boxes[:, :, 1:2], boxes[:, :, 3:4]).unsqueeze(3)  # [b, r, g, 1]
    return (along_y * along_x).reshape(batch, regions, grid * grid)
