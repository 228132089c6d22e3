"""Mirror of knowledge.rs: the grounding mask of the GK module. The knowledge sentences' encodings are
read from the weights folder (knowledge.safetensors), as the Rust pipeline does."""

import torch

from network.region_head import NUM_REGIONS


def grounding_mask(positions):
    """[1, 1, candidates, 1 + 29] bool, True where candidate k may NOT look: it sees [CLS] (key 0) and its
    own region (key 1 + r)."""
    keys = 1 + NUM_REGIONS
    hidden = torch.ones(len(positions), keys, dtype=torch.bool)
    hidden[:, 0] = False
    hidden[torch.arange(len(positions)), 1 + torch.as_tensor(positions)] = False
    return hidden.reshape(1, 1, len(positions), keys)
