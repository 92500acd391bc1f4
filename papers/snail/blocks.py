"""The SNAIL building blocks of §3.1 (Algorithms 1-3), on sequences of shape (batch, T, channels).

- DenseBlock(R, D): two causal 1-D convolutions with dilation R, D filters each and kernel size 2 ("kernel size 2 in
  all experiments"), xf and xg; the activations tanh(xf) * sigmoid(xg) are concatenated to the input (Alg. 1).
- TCBlock(T, D): dense blocks with dilations 2^i for i = 1 .. ceil(log2 T), each adding D channels (Alg. 2).
- AttentionBlock(K, V): key and query affine maps to K dimensions, a value map to V; the logits q k^T / sqrt(K)
  go through a causally masked softmax over the keys (position t sees 1..t, itself included) and the read-out is
  concatenated to the input (Alg. 3).
Nothing at position t depends on a later position: the convolutions are padded on the left only.

Each block also has ``step``: the output at the next position from that position's input and a cache of the past
(a dense block keeps its inputs, an attention block its keys and values), equal to the full ``forward`` at that
position; acting with it costs O(T) per step instead of re-running the whole prefix.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class CausalConv1d(nn.Module):
    """Kernel-2 convolution whose output at t sees x[t - dilation] and x[t] (zeros before the sequence starts)."""

    def __init__(self, in_channels: int, out_channels: int, dilation: int) -> None:
        super().__init__()
        self.dilation = dilation
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size=2, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, channels, T) -> (batch, out_channels, T)."""
        return self.conv(nn.functional.pad(x, (self.dilation, 0)))


class StepCache:
    """Per-block buffers of the positions seen so far, for ``step`` (batch rows, room for ``length`` positions)."""

    def __init__(self, batch: int, length: int, device: torch.device | str = "cpu") -> None:
        self.batch, self.length, self.device = batch, length, device
        self.t = 0  # the position the next ``step`` computes
        self.buffers: dict[tuple[int, str], torch.Tensor] = {}

    def buffer(self, module: nn.Module, name: str, channels: int) -> torch.Tensor:
        key = (id(module), name)
        if key not in self.buffers:
            self.buffers[key] = torch.zeros(self.batch, self.length, channels, device=self.device)
        return self.buffers[key]


class DenseBlock(nn.Module):
    def __init__(self, in_channels: int, dilation: int, filters: int) -> None:
        super().__init__()
        self.conv_f = CausalConv1d(in_channels, filters, dilation)
        self.conv_g = CausalConv1d(in_channels, filters, dilation)
        self.out_channels = in_channels + filters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.transpose(1, 2)
        activations = torch.tanh(self.conv_f(h)) * torch.sigmoid(self.conv_g(h))
        return torch.cat([x, activations.transpose(1, 2)], dim=-1)

    def step(self, x: torch.Tensor, cache: StepCache) -> torch.Tensor:
        """(batch, in_channels) at position cache.t -> (batch, out_channels)."""
        inputs = self.conv_f.conv.in_channels
        past = cache.buffer(self, "inputs", inputs)
        past[:, cache.t] = x
        d = self.conv_f.dilation
        earlier = past[:, cache.t - d] if cache.t >= d else torch.zeros_like(x)

        def conv(c: CausalConv1d) -> torch.Tensor:
            w = c.conv.weight  # (out, in, 2): tap 0 multiplies x[t - d], tap 1 x[t]
            return earlier @ w[:, :, 0].T + x @ w[:, :, 1].T + c.conv.bias

        return torch.cat([x, torch.tanh(conv(self.conv_f)) * torch.sigmoid(conv(self.conv_g))], dim=-1)


class TCBlock(nn.Module):
    def __init__(self, in_channels: int, seq_len: int, filters: int) -> None:
        super().__init__()
        layers, channels = [], in_channels
        for i in range(1, math.ceil(math.log2(seq_len)) + 1):
            layers.append(DenseBlock(channels, 2 ** i, filters))
            channels = layers[-1].out_channels
        self.layers = nn.Sequential(*layers)
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    def step(self, x: torch.Tensor, cache: StepCache) -> torch.Tensor:
        for layer in self.layers:
            x = layer.step(x, cache)
        return x


class AttentionBlock(nn.Module):
    def __init__(self, in_channels: int, key_size: int, value_size: int) -> None:
        super().__init__()
        self.key = nn.Linear(in_channels, key_size)
        self.query = nn.Linear(in_channels, key_size)
        self.value = nn.Linear(in_channels, value_size)
        self.key_size = key_size
        self.out_channels = in_channels + value_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keys, queries, values = self.key(x), self.query(x), self.value(x)
        logits = queries @ keys.transpose(1, 2) / math.sqrt(self.key_size)  # (batch, T query, T key)
        t = x.shape[1]
        future = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(diagonal=1)
        probs = torch.softmax(logits.masked_fill(future, float("-inf")), dim=-1)  # over the keys
        return torch.cat([x, probs @ values], dim=-1)

    def step(self, x: torch.Tensor, cache: StepCache) -> torch.Tensor:
        keys = cache.buffer(self, "keys", self.key_size)
        values = cache.buffer(self, "values", self.value.out_features)
        keys[:, cache.t], values[:, cache.t] = self.key(x), self.value(x)
        seen = slice(0, cache.t + 1)
        logits = (keys[:, seen] @ self.query(x)[:, :, None])[..., 0] / math.sqrt(self.key_size)
        probs = torch.softmax(logits, dim=-1)
        return torch.cat([x, (probs[:, None, :] @ values[:, seen])[:, 0]], dim=-1)
