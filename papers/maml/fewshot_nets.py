"""The few-shot classifiers of §5.2 as pure functions of a parameter dict, exactly as the authors' code builds them
(cbfinn/maml maml.py construct_conv_weights / forward_conv / construct_fc_weights / forward_fc, utils.py conv_block /
normalize / xent), so that ``inner_loop.adapt`` can differentiate them and ``torch.func.vmap`` can batch tasks.

* Conv4: 4 x {3x3 conv with TensorFlow 'SAME' padding, batch norm, ReLU}. Omniglot: stride-2 convolutions, 64
  filters, the last feature map averaged over space (64 features). MiniImagenet: stride-1 convolutions each
  followed by a 2x2 'VALID' max-pool, 32 filters, the 5x5x32 map flattened (in TensorFlow's height, width, channel
  order). Then a linear layer to the N logits.
* Non-conv: 784-256-128-64-64 with batch norm and ReLU on each hidden layer, then a linear layer.

Batch norm is tf.contrib.layers.batch_norm with its defaults as the authors call it: always the statistics of the
current batch (training mode also at test time, so evaluation is transductive over the query set), the biased
variance, epsilon 0.001, no scale and a learned offset beta. The offsets are variables outside the authors'
``weights`` dict, so the inner update (eq. 1) leaves them alone and only the meta-update (eq. 2) learns them:
``inner_names`` lists the parameters the inner loop adapts.

Initialisation: convolutions Glorot-uniform (xavier_initializer_conv2d: fan = 3*3*channels), conv biases 0; the
Omniglot output weight N(0, 1) (tf.random_normal); the MiniImagenet output weight Glorot-uniform; fully connected
weights truncated N(0, 0.01^2) (construct_fc_weights); every bias and offset 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from papers.maml.inner_loop import Params
from papers.maml.sinusoid import init_mlp

BN_EPSILON = 1e-3  # tf.contrib.layers.batch_norm default
FC_INIT_STD = 0.01  # construct_fc_weights: tf.truncated_normal(stddev=0.01)
CONV_LAYERS = 4


def offset_name(layer: int) -> str:
    return f"bn{layer}_offset"


def inner_names(params: Params) -> list[str]:
    """The parameters eq. (1) adapts: all but the batch-norm offsets (the authors' ``weights`` dict)."""
    return [k for k in params if not (k.startswith("bn") and k.endswith("_offset"))]


def batch_norm_relu(h: torch.Tensor, offset: torch.Tensor, epsilon: float = BN_EPSILON) -> torch.Tensor:
    """relu((h - mean) / sqrt(var + eps) + beta) with the mean and biased variance of this batch, per channel of a
    (B, C, H, W) map or per unit of a (B, D) layer."""
    dims = (0, 2, 3) if h.dim() == 4 else (0,)
    mean = h.mean(dim=dims, keepdim=True)
    var = h.var(dim=dims, unbiased=False, keepdim=True)
    shape = (1, -1, 1, 1) if h.dim() == 4 else (1, -1)
    return torch.relu((h - mean) * torch.rsqrt(var + epsilon) + offset.view(shape))


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'SAME' padding (before, after) of one axis: output ceil(size / stride), the odd pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


@dataclass(frozen=True)
class Conv4:
    """The authors' conv network; ``max_pool`` selects the MiniImagenet variant (else strided, Omniglot)."""

    in_channels: int
    image_size: int
    num_filters: int
    n_way: int
    max_pool: bool
    bn_epsilon: float = BN_EPSILON

    @property
    def features(self) -> int:
        if not self.max_pool:
            return self.num_filters  # spatial mean of the last map
        size = self.image_size
        for _ in range(CONV_LAYERS):
            size //= 2  # 2x2 'VALID' max-pool with stride 2
        return self.num_filters * size * size

    def init(self, generator: torch.Generator | None = None) -> Params:
        params: Params = {}
        channels = self.in_channels
        for i in range(1, CONV_LAYERS + 1):
            w = torch.empty(self.num_filters, channels, 3, 3)
            params[f"conv{i}"] = torch.nn.init.xavier_uniform_(w, generator=generator)
            params[f"b{i}"] = torch.zeros(self.num_filters)
            params[offset_name(i)] = torch.zeros(self.num_filters)
            channels = self.num_filters
        w5 = torch.empty(self.features, self.n_way)
        if self.max_pool:
            torch.nn.init.xavier_uniform_(w5, generator=generator)
        else:
            torch.nn.init.normal_(w5, 0.0, 1.0, generator=generator)
        params["w5"], params["b5"] = w5, torch.zeros(self.n_way)
        return params

    def __call__(self, params: Params, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, N) of images x (B, C, H, W)."""
        h = x
        stride = 1 if self.max_pool else 2
        for i in range(1, CONV_LAYERS + 1):
            top, bottom = same_padding(h.shape[-2], 3, stride)
            left, right = same_padding(h.shape[-1], 3, stride)
            h = F.conv2d(F.pad(h, (left, right, top, bottom)), params[f"conv{i}"], params[f"b{i}"], stride=stride)
            h = batch_norm_relu(h, params[offset_name(i)], self.bn_epsilon)
            if self.max_pool:
                h = F.max_pool2d(h, 2, 2)
        if self.max_pool:
            h = h.permute(0, 2, 3, 1).flatten(1)  # TensorFlow's (height, width, channel) order
        else:
            h = h.mean(dim=(2, 3))
        return h @ params["w5"] + params["b5"]


@dataclass(frozen=True)
class FullyConnected:
    """The authors' non-convolutional network: input -> hidden layers (batch norm, ReLU) -> N logits."""

    input_dim: int
    hidden: tuple[int, ...]
    n_way: int
    bn_epsilon: float = BN_EPSILON

    def init(self, generator: torch.Generator | None = None) -> Params:
        params = init_mlp([self.input_dim, *self.hidden, self.n_way], FC_INIT_STD, generator)
        for i in range(1, len(self.hidden) + 1):
            params[offset_name(i)] = torch.zeros(self.hidden[i - 1])
        return params

    def __call__(self, params: Params, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, N) of inputs x (B, ...), flattened row-major (28x28 Omniglot images -> 784)."""
        h = x.flatten(1)
        for i in range(1, len(self.hidden) + 1):
            h = batch_norm_relu(h @ params[f"w{i}"] + params[f"b{i}"], params[offset_name(i)], self.bn_epsilon)
        out = len(self.hidden) + 1
        return h @ params[f"w{out}"] + params[f"b{out}"]


def xent(logits: torch.Tensor, labels: torch.Tensor, k_shot: int) -> torch.Tensor:
    """A task's loss as the authors compute it: softmax cross-entropy of each example divided by K (utils.xent
    divides by update_batch_size), then summed over the task's examples (tf.gradients of the per-example vector
    differentiates its sum; the meta-objective reduce_sum's it). The same K divides the query loss, whatever the
    number of query examples."""
    return F.cross_entropy(logits, labels, reduction="sum") / k_shot


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(dim=-1) == labels).float().mean()


def make_network(kind: str, in_channels: int, image_size: int, n_way: int, num_filters: int | None = None,
                 max_pool: bool = False, hidden: Sequence[int] = (), bn_epsilon: float = BN_EPSILON
                 ) -> Conv4 | FullyConnected:
    """``conv4`` or ``fc`` (the non-convolutional network on flattened images)."""
    if kind == "conv4":
        if num_filters is None:
            raise ValueError("conv4 needs num_filters")
        return Conv4(in_channels, image_size, num_filters, n_way, max_pool, bn_epsilon)
    if kind == "fc":
        if not hidden:
            raise ValueError("fc needs hidden layer sizes")
        return FullyConnected(in_channels * image_size * image_size, tuple(hidden), n_way, bn_epsilon)
    raise ValueError(f"unknown network {kind!r} (known: conv4, fc)")
