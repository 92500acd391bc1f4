"""The SNAIL visual-navigation networks (§4.2, Table 5). The appendix is not available to us; the sizes are the
appendix as quoted by a third party (ruke1ire/mobile-robot-hl etc/design/neural_network.md, UNVERIFIED): the frame
goes through convolutions "{kernel size 5 x 5, 16 filters, stride 2, ReLU nonlinearity}" and "a fully-connected
layer to produce a feature vector of size 256"; "For the policy, we used: TCBlock(T, 32), AttentionBlock(16, 16),
TCBlock(T, 32), AttentionBlock(16, 16). For the value function we used: TCBlock(T, 16), TCBlock(T, 16)", with
T = 500. The quote starts mid-sentence, so the number of convolutions is ours (2, as RL²'s network; paper.yaml).
The step input is the RL² trial input: the frame's features concatenated with the previous action (one-hot), reward
and termination flag.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from papers.snail.blocks import AttentionBlock, StepCache, TCBlock

EXTRAS = 5  # previous action one-hot (3), previous reward, termination flag


class SnailNavNet(nn.Module):
    """conv x ``conv_layers`` -> dense(``features``) -> [+ extras] -> SNAIL blocks -> linear(``outputs``); the
    blocks are ``[("tc", filters) | ("attention", key, value), ...]``."""

    def __init__(self, image_shape: tuple[int, int, int], outputs: int, seq_len: int, conv_layers: int,
                 conv_filters: int, conv_kernel: int, conv_stride: int, features: int,
                 blocks: list[list]) -> None:
        super().__init__()
        c, h, w = image_shape
        convs = []
        for _ in range(conv_layers):
            convs.append(nn.Conv2d(c, conv_filters, conv_kernel, stride=conv_stride))
            c, h, w = conv_filters, (h - conv_kernel) // conv_stride + 1, (w - conv_kernel) // conv_stride + 1
        self.convs = nn.ModuleList(convs)
        self.dense = nn.Linear(c * h * w, features)
        channels, body = features + EXTRAS, []
        for kind, *sizes in blocks:
            block = TCBlock(channels, seq_len, sizes[0]) if kind == "tc" else AttentionBlock(channels, *sizes)
            body.append(block)
            channels = block.out_channels
        self.body = nn.ModuleList(body)
        self.out = nn.Linear(channels, outputs)

    def embed(self, images: torch.Tensor, extras: torch.Tensor) -> torch.Tensor:
        """(..., C, H, W) and (..., 5) -> (..., features + 5)."""
        lead = images.shape[:-3]
        x = images.reshape(-1, *images.shape[-3:])
        for conv in self.convs:
            x = F.relu(conv(x))
        x = F.relu(self.dense(x.flatten(1))).reshape(*lead, -1)
        return torch.cat([x, extras], dim=-1)

    def forward(self, images: torch.Tensor, extras: torch.Tensor) -> torch.Tensor:
        """Whole trials (B, T, ...) -> (B, T, outputs); position t depends on positions <= t only."""
        h = self.embed(images, extras)
        for block in self.body:
            h = block(h)
        return self.out(h)

    def step(self, images: torch.Tensor, extras: torch.Tensor, cache: StepCache) -> torch.Tensor:
        """The output at position cache.t of a batch of trials; advances the cache."""
        h = self.embed(images, extras)
        for block in self.body:
            h = block.step(h, cache)
        cache.t += 1
        return self.out(h)
