"""Mirror of decoder_block.rs: the pre-norm decoder layer of the region head and the GK module."""

from torch import nn

from network.attention import Attention, LayerNorm, Linear
from network.image_encoder import FeedForward


class DecoderBlock(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.self_attention_norm = LayerNorm(width)
        self.self_attention = Attention(width, width, heads)
        self.self_attention_output = Linear(width, width)
        self.cross_attention_norm = LayerNorm(width)
        self.cross_attention = Attention(width, width, heads)
        self.cross_attention_output = Linear(width, width)
        self.ffn_norm = LayerNorm(width)
        self.ffn = FeedForward(width, 2 * width)

    def forward(self, queries, memory, bias=None):
        normed = self.self_attention_norm(queries)
        attended, _ = self.self_attention(normed, normed)
        x = queries + self.self_attention_output(attended)
        cross, weights = self.cross_attention(self.cross_attention_norm(x), memory, bias=bias)
        x = x + self.cross_attention_output(cross)
        return x + self.ffn(self.ffn_norm(x)), weights
