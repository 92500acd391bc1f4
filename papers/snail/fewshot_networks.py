"""SNAIL for N-way K-shot classification (§4.2): an image embedding, then the SNAIL stack over the sequence of the NK
labelled examples followed by the unlabelled query.

Each step's input is the embedding of its image concatenated with the one-hot label (zeros for the query). The
stack is AttentionBlock(64, 32), TCBlock(T, 128), AttentionBlock(256, 128), TCBlock(T, 128), AttentionBlock(512,
256) and a linear layer to the N logits (a 1x1 convolution over time), T = 5N + 1, the longest sequence of a model
trained with K up to 5. Embeddings:
- Omniglot: 4 x {3x3 convolution with 64 filters, batch norm, ReLU, 2x2 max pooling}: 28x28 -> 64 features;
- mini-ImageNet: 4 residual blocks of 64, 96, 128 and 256 channels (each 3 x {3x3 convolution, batch norm, leaky
  ReLU 0.1} with a 1x1 convolution shortcut, then 2x2 max pooling and dropout), a 1x1 convolution to 2048 channels,
  average pooling over the 5x5 map, ReLU, dropout and a 1x1 convolution to 384 features.
The appendix with these architectures was not available to us: every size is the public reimplementations' reading
of it (paper.yaml declares them), with their evident porting slips left out (attention over the query axis, a
dropout keep-probability used as a drop rate, max instead of average pooling).
"""
from __future__ import annotations

import torch
from torch import nn

from papers.snail.blocks import AttentionBlock, TCBlock


class OmniglotEmbedding(nn.Module):
    out_features = 64

    def __init__(self, channels: int = 1) -> None:
        super().__init__()
        layers, c = [], channels
        for _ in range(4):
            layers += [nn.Conv2d(c, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2)]
            c = 64
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)  # 28 -> 14 -> 7 -> 3 -> 1


class ResidualBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, dropout: float) -> None:
        super().__init__()
        layers, c = [], in_channels
        for _ in range(3):
            layers += [nn.Conv2d(c, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels), nn.LeakyReLU(0.1)]
            c = out_channels
        self.body = nn.Sequential(*layers)
        self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels))
        self.after = nn.Sequential(nn.MaxPool2d(2), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.after(self.body(x) + self.shortcut(x))


class MiniImagenetEmbedding(nn.Module):
    out_features = 384

    def __init__(self, dropout: float, channels: int = 3) -> None:
        super().__init__()
        blocks, c = [], channels
        for width in (64, 96, 128, 256):
            blocks.append(ResidualBlock(c, width, dropout))
            c = width
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Conv2d(256, 2048, 1), nn.AdaptiveAvgPool2d(1), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Conv2d(2048, 384, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(x)).flatten(1)  # 84 -> 42 -> 21 -> 10 -> 5, pooled


class SnailClassifier(nn.Module):
    """(episodes, T, C, H, W) images and (episodes, T) labels, the last step unlabelled -> (episodes, N) logits of
    the last step."""

    def __init__(self, embedding: nn.Module, n_way: int, max_shots: int) -> None:
        super().__init__()
        self.embedding, self.n_way = embedding, n_way
        seq_len = n_way * max_shots + 1
        channels = embedding.out_features + n_way
        blocks = []
        for kind, a, b in (("attention", 64, 32), ("tc", seq_len, 128), ("attention", 256, 128),
                           ("tc", seq_len, 128), ("attention", 512, 256)):
            blocks.append(AttentionBlock(channels, a, b) if kind == "attention" else TCBlock(channels, a, b))
            channels = blocks[-1].out_channels
        self.stack = nn.Sequential(*blocks)
        self.out = nn.Linear(channels, n_way)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        episodes, steps = labels.shape
        features = self.embedding(images.flatten(0, 1)).view(episodes, steps, -1)
        onehot = nn.functional.one_hot(labels, self.n_way).to(features.dtype)
        onehot[:, -1] = 0.0  # the query's label is not shown
        return self.out(self.stack(torch.cat([features, onehot], dim=-1)))[:, -1]
