"""Mirror of text_transformer.rs in its unimodal mode (E_T): BERT, all-MiniLM-L6-v2 shaped, post-norm.
The image-grounded and causal modes (ITM, the report decoder) are not part of the peer."""

import torch
from torch import nn

from network.attention import Attention, Embedding, LayerNorm, Linear, padding_mask


class TextEmbeddings(nn.Module):
    def __init__(self, text):
        super().__init__()
        self.word_embeddings = Embedding(text["vocab_size"], text["width"])
        self.position_embeddings = Embedding(text["max_positions"], text["width"])
        self.token_type_embeddings = Embedding(2, text["width"])
        self.layer_norm = LayerNorm(text["width"], text["layer_norm_eps"])

    def forward(self, input_ids):
        seq = input_ids.shape[1]
        positions = torch.arange(seq, device=input_ids.device).unsqueeze(0)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions) + self.token_type_embeddings.weight[0]
        return self.layer_norm(x)


class ResidualOutput(nn.Module):
    def __init__(self, d_in, width, eps):
        super().__init__()
        self.dense = Linear(d_in, width)
        self.layer_norm = LayerNorm(width, eps)

    def forward(self, x, residual):
        return self.layer_norm(self.dense(x) + residual)


class AttentionSublayer(nn.Module):
    def __init__(self, text):
        super().__init__()
        self.self_attn = Attention(text["width"], text["width"], text["heads"])
        self.output = ResidualOutput(text["width"], text["width"], text["layer_norm_eps"])

    def forward(self, x, hidden):
        context, _ = self.self_attn(x, x, hidden=hidden)
        return self.output(context, x)


class Intermediate(nn.Module):
    def __init__(self, text):
        super().__init__()
        self.dense = Linear(text["width"], text["intermediate"])


class TextLayer(nn.Module):
    def __init__(self, text):
        super().__init__()
        self.attention = AttentionSublayer(text)
        self.intermediate = Intermediate(text)
        self.output = ResidualOutput(text["intermediate"], text["width"], text["layer_norm_eps"])

    def forward(self, x, hidden):
        x = self.attention(x, hidden)
        return self.output(nn.functional.gelu(self.intermediate.dense(x)), x)


class TextLayerStack(nn.Module):
    def __init__(self, text):
        super().__init__()
        self.layer = nn.ModuleList(TextLayer(text) for _ in range(text["layers"]))


class TextTransformer(nn.Module):
    def __init__(self, text):
        super().__init__()
        self.embeddings = TextEmbeddings(text)
        self.encoder = TextLayerStack(text)

    def forward(self, input_ids, attention_mask):
        """[batch, seq] ids and mask (1 token, 0 padding) -> hidden states [batch, seq, width]."""
        hidden = padding_mask(attention_mask)
        x = self.embeddings(input_ids)
        for layer in self.encoder.layer:
            x = layer(x, hidden)
        return x


def mean_pool(hidden, mask):
    mask = mask.unsqueeze(2)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)
