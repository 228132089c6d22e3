"""Mirror of attention.rs: multi-head scaled dot-product attention (BERT names query/key/value; the
output projection belongs to the caller)."""

import math

import torch
from torch import nn

MASKED = -1.0e9


class Linear(nn.Module):
    """burn's Linear: weight stored [in, out] (not PyTorch's [out, in]), y = x @ W + b."""

    def __init__(self, d_in, d_out):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(d_in, d_out))
        self.bias = nn.Parameter(torch.zeros(d_out))

    def forward(self, x):
        return torch.matmul(x, self.weight) + self.bias


class LayerNorm(nn.Module):
    """burn's LayerNorm (gamma, beta; biased variance)."""

    def __init__(self, width, eps=1e-5):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(width))
        self.beta = nn.Parameter(torch.zeros(width))
        self.eps = eps

    def forward(self, x):
        return nn.functional.layer_norm(x, (x.shape[-1],), self.gamma, self.beta, self.eps)


class Embedding(nn.Module):
    def __init__(self, count, width):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(count, width))

    def forward(self, ids):
        return nn.functional.embedding(ids, self.weight)


class Attention(nn.Module):
    def __init__(self, width, memory_width, heads):
        super().__init__()
        self.query = Linear(width, width)
        self.key = Linear(memory_width, width)
        self.value = Linear(memory_width, width)
        self.heads = heads

    def split_heads(self, t):
        batch, length, width = t.shape
        return t.reshape(batch, length, self.heads, width // self.heads).transpose(1, 2)

    def forward(self, x, memory, hidden=None, bias=None):
        """`hidden`: bool, True where a query may NOT see a key; `bias`: added to the scores.
        Returns (context [b, q, width], weights [b, heads, q, keys])."""
        batch, queries, width = x.shape
        q = self.split_heads(self.query(x))
        k = self.split_heads(self.key(memory))
        v = self.split_heads(self.value(memory))
        scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(k.shape[-1])
        if hidden is not None:
            scores = scores.masked_fill(hidden, MASKED)
        if bias is not None:
            scores = scores + bias
        weights = torch.softmax(scores, dim=3)
        context = torch.matmul(weights, v).transpose(1, 2).reshape(batch, queries, width)
        return context, weights


def padding_mask(attention_mask):
    """[batch, keys] with 1 for tokens -> bool [batch, 1, 1, keys], True on padding."""
    batch, keys = attention_mask.shape
    return (attention_mask <= 0.5).reshape(batch, 1, 1, keys)
