"""Mirror of ecls_head.rs: is each grounded knowledge token's finding present at its position?"""

import torch
from torch import nn

from network.attention import Linear


class EclsHead(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.classifier = Linear(width, 2)

    def present_probability(self, knowledge):
        return torch.softmax(self.classifier(knowledge), dim=2)[:, :, 1]
