"""The SNAIL meta-RL networks for bandits and tabular MDPs (§4.1; Appendix architecture not available to us).

The per-step input is the RL² trial input (o_t, a_{t-1}, r_{t-1}, done_{t-1}) of ``shared.tasks.trials``; a
sequence is one whole trial of T = n x episode length steps. Policy: a linear embedding to 32 channels, TCBlock(T,
32), TCBlock(T, 32), AttentionBlock(32, 32), a linear layer to the action logits. Value function: the same with 16
filters and AttentionBlock(16, 16), a linear layer to one value. These sizes are the reimplementations' reading of
the appendix (see paper.yaml: every size is marked unknown with the value chosen and why).
"""
from __future__ import annotations

import torch
from torch import nn

from papers.snail.blocks import AttentionBlock, StepCache, TCBlock


class SnailTrialNet(nn.Module):
    """embedding -> TC(T, filters) -> TC(T, filters) -> Attention(key, value) -> linear(outputs)."""

    def __init__(self, input_dim: int, outputs: int, seq_len: int, embedding: int, filters: int, key_size: int,
                 value_size: int) -> None:
        super().__init__()
        self.embed = nn.Linear(input_dim, embedding)
        tc1 = TCBlock(embedding, seq_len, filters)
        tc2 = TCBlock(tc1.out_channels, seq_len, filters)
        attention = AttentionBlock(tc2.out_channels, key_size, value_size)
        self.body = nn.Sequential(tc1, tc2, attention)
        self.out = nn.Linear(attention.out_channels, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, t, input_dim) -> (batch, t, outputs); position t depends on positions <= t only."""
        return self.out(self.body(self.embed(x)))

    def step(self, x: torch.Tensor, cache: StepCache) -> torch.Tensor:
        """The output at position cache.t from that position's input (batch, input_dim); advances the cache."""
        h = self.embed(x)
        for block in self.body:
            h = block.step(h, cache)
        cache.t += 1
        return self.out(h)
