"""The SNAIL blocks (§3.1): shapes and channel counts, the dilation schedule, the gated activation, the attention
read-out, and causality (no output may depend on a later input)."""
from __future__ import annotations

import math

import pytest
import torch

from papers.snail.blocks import AttentionBlock, DenseBlock, TCBlock


def test_dense_block_is_the_gated_causal_convolution_concatenated():
    torch.manual_seed(0)
    block = DenseBlock(3, dilation=2, filters=4)
    x = torch.randn(2, 7, 3)
    out = block(x)
    assert out.shape == (2, 7, 7) and torch.equal(out[..., :3], x)
    # position t = 5 sees x[3] and x[5]; a kernel-2 conv weight w[:, :, 0] multiplies the earlier one
    wf, bf = block.conv_f.conv.weight, block.conv_f.conv.bias
    wg, bg = block.conv_g.conv.weight, block.conv_g.conv.bias
    xf = wf[:, :, 0] @ x[0, 3] + wf[:, :, 1] @ x[0, 5] + bf
    xg = wg[:, :, 0] @ x[0, 3] + wg[:, :, 1] @ x[0, 5] + bg
    assert torch.allclose(out[0, 5, 3:], torch.tanh(xf) * torch.sigmoid(xg), atol=1e-6)
    # before the sequence starts the earlier tap sees zeros
    xf0 = wf[:, :, 1] @ x[0, 1] + bf
    xg0 = wg[:, :, 1] @ x[0, 1] + bg
    assert torch.allclose(out[0, 1, 3:], torch.tanh(xf0) * torch.sigmoid(xg0), atol=1e-6)


@pytest.mark.parametrize("seq_len, blocks", [(2, 1), (10, 4), (16, 4), (17, 5), (500, 9)])
def test_tc_block_dilations_start_at_two_and_number_ceil_log2_T(seq_len, blocks):
    tc = TCBlock(5, seq_len, 8)
    assert [layer.conv_f.dilation for layer in tc.layers] == [2 ** i for i in range(1, blocks + 1)]
    assert tc.out_channels == 5 + 8 * blocks == 5 + 8 * math.ceil(math.log2(seq_len))


def test_attention_block_reads_a_causal_softmax_over_the_keys():
    torch.manual_seed(1)
    block = AttentionBlock(4, key_size=3, value_size=2)
    x = torch.randn(1, 5, 4)
    out = block(x)
    assert out.shape == (1, 5, 6) and torch.equal(out[..., :4], x)
    t = 3
    q = block.query(x[0, t])
    k = block.key(x[0, : t + 1])
    w = torch.softmax(k @ q / math.sqrt(3), dim=0)  # the keys 0..t only, normalised over them
    assert torch.allclose(out[0, t, 4:], w @ block.value(x[0, : t + 1]), atol=1e-6)
    assert torch.allclose(out[0, 0, 4:], block.value(x[0, 0]), atol=1e-6)  # the first step sees itself only


@pytest.mark.parametrize("make", [lambda: DenseBlock(3, 4, 5), lambda: TCBlock(3, 12, 5),
                                  lambda: AttentionBlock(3, 4, 5),
                                  lambda: torch.nn.Sequential(TCBlock(3, 12, 4), AttentionBlock(3 + 16, 4, 4),
                                                              TCBlock(3 + 16 + 4, 12, 4))])
def test_no_output_depends_on_a_future_input(make):
    """The Jacobian of every output at t with respect to every input at s > t is exactly zero, and changing the
    future leaves the past outputs bit-identical."""
    torch.manual_seed(2)
    net = make()
    x = torch.randn(2, 12, 3, requires_grad=True)
    out = net(x)
    for t in range(12):
        grad, = torch.autograd.grad(out[:, t].sum(), x, retain_graph=True)
        assert torch.count_nonzero(grad[:, t + 1:]) == 0
        assert torch.count_nonzero(grad[:, t]) > 0  # and it does see the present
    y = x.detach().clone()
    y[:, 7:] = torch.randn(2, 5, 3) * 100
    assert torch.equal(net(y)[:, :7], out[:, :7].detach())


def test_stepping_position_by_position_equals_the_full_forward():
    """Acting with the per-block caches gives, at every position, the output of the whole sequence's forward."""
    from papers.snail.blocks import StepCache
    from papers.snail.rl_networks import SnailTrialNet

    torch.manual_seed(3)
    net = SnailTrialNet(6, 4, seq_len=20, embedding=8, filters=5, key_size=4, value_size=3)
    x = torch.randn(3, 20, 6)
    full = net(x)
    cache = StepCache(3, 20)
    stepped = torch.stack([net.step(x[:, t], cache) for t in range(20)], dim=1)
    assert torch.allclose(stepped, full, atol=1e-5)


def test_an_unmasked_attention_would_fail_the_causality_check():
    """The causality test above has teeth: attention without the mask leaks the future into the past."""
    torch.manual_seed(4)
    block = AttentionBlock(3, 4, 5)
    x = torch.randn(1, 6, 3, requires_grad=True)
    keys, queries, values = block.key(x), block.query(x), block.value(x)
    leaky = torch.softmax(queries @ keys.transpose(1, 2) / 2.0, dim=-1) @ values
    grad, = torch.autograd.grad(leaky[:, 0].sum(), x)
    assert torch.count_nonzero(grad[:, 1:]) > 0
