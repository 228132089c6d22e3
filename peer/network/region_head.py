"""Mirror of region_head.rs: 29 learned queries read the patch tokens and each predicts its box."""

import torch
from torch import nn

from network.attention import LayerNorm, Linear
from network.decoder_block import DecoderBlock

NUM_REGIONS = 29


class RegionHead(nn.Module):
    def __init__(self, width, heads, layers):
        super().__init__()
        self.queries = nn.Parameter(torch.zeros(1, NUM_REGIONS, width))
        self.layers = nn.ModuleList(DecoderBlock(width, heads) for _ in range(layers))
        self.box_norm = LayerNorm(width)
        self.box_hidden = Linear(width, width)
        self.box_output = Linear(width, 4)

    def forward(self, patches):
        """[batch, grid², width] -> boxes [batch, 29, 4] as (x0, y0, x1, y1) in [0, 1]."""
        batch, _, width = patches.shape
        x = self.queries.expand(batch, NUM_REGIONS, width)
        for layer in self.layers:
            x, _ = layer(x, patches)
        raw = self.box_output(torch.relu(self.box_hidden(self.box_norm(x))))
        return center_size_to_corners(torch.sigmoid(raw))


def center_size_to_corners(boxes):
    center = boxes[:, :, 0:2]
    half = boxes[:, :, 2:4] / 2.0
    return torch.cat([center - half, center + half], dim=2).clamp(0.0, 1.0)
