"""Mirror of gk_module.rs: knowledge tokens (queries) read [CLS] and the 29 region tokens, each only its
own region (grounding mask), and with region_patches the patches inside its own region's box."""

import torch
from torch import nn

from network.attention import MASKED, Embedding, LayerNorm, Linear
from network.decoder_block import DecoderBlock
from network.knowledge import grounding_mask
from network.region_head import NUM_REGIONS
from network.region_tokens import F32_MIN_POSITIVE, patch_shares


class GkModule(nn.Module):
    def __init__(self, text_width, width, heads, layers, grounded, region_patches, positions):
        super().__init__()
        self.knowledge_proj = Linear(text_width, width)
        self.position_embedding = Embedding(NUM_REGIONS, width)
        self.layers = nn.ModuleList(DecoderBlock(width, heads) for _ in range(layers))
        self.final_norm = LayerNorm(width)
        self.grounded = grounded
        self.region_patches = region_patches
        self.register_buffer("positions", torch.as_tensor(positions, dtype=torch.long), persistent=False)
        self.register_buffer("region_bias", grounding_mask(positions).float() * MASKED, persistent=False)

    def forward(self, sentence_features, cls, region_tokens, patches, grid, boxes):
        """Returns (tokens [b, candidates, width], region attention [b, candidates, 1 + 29])."""
        batch, width = cls.shape
        candidates = self.positions.shape[0]
        queries = self.knowledge_proj(sentence_features.unsqueeze(0)) + self.position_embedding(self.positions)
        x = queries.expand(batch, candidates, width)
        memory = [cls.unsqueeze(1), region_tokens]
        bias = self.region_bias.expand(batch, 1, candidates, 1 + NUM_REGIONS) if self.grounded else None
        if self.region_patches:
            if bias is not None:
                bias = torch.cat([bias, own_patch_bias(boxes, grid, self.positions)], dim=3)
            memory.append(patches)
        memory = torch.cat(memory, dim=1)
        weights = None
        for layer in self.layers:
            x, weights = layer(x, memory, bias)
        keys = 1 + NUM_REGIONS
        region_attention = weights[:, :, :, :keys].mean(dim=1)
        return self.final_norm(x), region_attention


def own_patch_bias(boxes, grid, positions):
    """[b, 1, candidates, grid²]: log of the share of each patch the candidate's own box holds (MASKED
    outside it)."""
    batch = boxes.shape[0]
    shares = patch_shares(boxes.detach(), grid).index_select(1, positions)
    bias = shares.clamp_min(F32_MIN_POSITIVE).log().masked_fill(shares == 0.0, MASKED)
    return bias.reshape(batch, 1, positions.shape[0], grid * grid)
