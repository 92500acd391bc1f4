"""The RL^2 visual-navigation network (§3.3, Table 3), as the authors' run behind the table built it
(florensacc/rllab-curriculum@6e0bbae9 launchers/102016/1030/doom_maze_77.py with sandbox/rocky/tf/core/network.py
``ConvMergeNetwork`` and policies/categorical_rnn_actor_critic.py):

- the 30 x 40 RGB frame: two convolutions of 16 filters, 5 x 5, stride 2, no padding, ReLU (-> 16 x 5 x 7 = 560);
- the previous action (one-hot), reward and termination flag: a dense layer of 256, ReLU;
- both concatenated, then two dense layers of 256, ReLU; then the GRU of 256 units (``gru.WeightNormGRU``);
- one linear output of 3 + 1: the softmax policy's logits and a shared value head (``use_ac=True``), whose output
  is the return normalised by running moments.
Every convolution and dense layer of the feature network is weight-normalised (g = 1, v Xavier-uniform, b = 0).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from papers.rl2.gru import WeightNormGRU, _xavier_uniform

EXTRAS = 5  # previous action one-hot (3), previous reward, termination flag


class WeightNormDense(nn.Module):
    def __init__(self, fan_in: int, fan_out: int) -> None:
        super().__init__()
        self.v = nn.Parameter(_xavier_uniform(fan_in, fan_out))
        self.g = nn.Parameter(torch.ones(fan_out))
        self.b = nn.Parameter(torch.zeros(fan_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ (self.v * (self.g / self.v.norm(dim=0))) + self.b


class WeightNormConv(nn.Module):
    """A VALID convolution with one weight norm per output filter; Xavier-uniform over the filter's fans."""

    def __init__(self, channels: int, filters: int, size: int, stride: int) -> None:
        super().__init__()
        bound = math.sqrt(6.0 / (channels * size * size + filters * size * size))
        self.v = nn.Parameter((torch.rand(filters, channels, size, size) * 2 - 1) * bound)
        self.g = nn.Parameter(torch.ones(filters))
        self.b = nn.Parameter(torch.zeros(filters))
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.v * (self.g / self.v.flatten(1).norm(dim=1))[:, None, None, None]
        return F.conv2d(x, w, self.b, stride=self.stride)


class NavigationNet(nn.Module):
    def __init__(self, image_shape: tuple[int, int, int], n_actions: int, filters: int = 16, kernel: int = 5,
                 stride: int = 2, hidden: int = 256) -> None:
        super().__init__()
        c, h, w = image_shape
        self.conv1 = WeightNormConv(c, filters, kernel, stride)
        self.conv2 = WeightNormConv(filters, filters, kernel, stride)
        for _ in range(2):
            h, w = (h - kernel) // stride + 1, (w - kernel) // stride + 1
        self.extras = WeightNormDense(EXTRAS, hidden)
        self.merge1 = WeightNormDense(filters * h * w + hidden, hidden)
        self.merge2 = WeightNormDense(hidden, hidden)
        self.gru = WeightNormGRU(hidden, hidden)
        self.out = nn.Linear(hidden, n_actions + 1)
        with torch.no_grad():
            self.out.weight.copy_(_xavier_uniform(hidden, n_actions + 1).T)
            self.out.bias.zero_()
        self.n_actions = n_actions

    def features(self, images: torch.Tensor, extras: torch.Tensor) -> torch.Tensor:
        """(..., C, H, W) and (..., 5) -> (..., hidden)."""
        lead = images.shape[:-3]
        x = F.relu(self.conv2(F.relu(self.conv1(images.reshape(-1, *images.shape[-3:])))))
        x = torch.cat([x.flatten(1), F.relu(self.extras(extras.reshape(-1, EXTRAS)))], dim=1)
        x = F.relu(self.merge2(F.relu(self.merge1(x))))
        return x.reshape(*lead, -1)

    def forward(self, images: torch.Tensor, extras: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Whole trials (B, T, ...) from h_0 = 0: logits (B, T, A) and normalised values (B, T)."""
        out = self.out(self.gru(self.features(images, extras)))
        return out[..., :self.n_actions], out[..., self.n_actions]

    def step(self, images: torch.Tensor, extras: torch.Tensor, h: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step of a batch of trials: logits (B, A), normalised values (B), the next hidden state."""
        w_x, w_h = self.gru.weights()
        h = self.gru.step(self.features(images, extras) @ w_x + self.gru.b, h, w_h)
        out = self.out(h)
        return out[:, :self.n_actions], out[:, self.n_actions], h
