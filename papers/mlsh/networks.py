"""The MLSH policies (§6.1: "2 layer MLPs"), batched over parameter sets so that every group's master (one set per
group) or every sub-policy (one set per sub-policy) runs in one call.

As the authors' code builds them (openai/mlsh mlsh_code/policy_network.py, subpolicy_network.py):
- the observation is normalised by the policy's own running mean / std and clipped to [-5, 5];
- a policy MLP and a separate value MLP, each ``layers`` tanh layers of ``hidden`` units;
- weights "normc" initialised (each unit's incoming weights a Gaussian vector scaled to norm 1.0; 0.01 for the
  policy's output layer), biases 0;
- the master's output is a softmax over the K sub-policies; a sub-policy's is a softmax over discrete actions or a
  Gaussian with a state-independent log-std initialised at 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

Params = dict[str, torch.Tensor]


def normc(sets: int, fan_in: int, fan_out: int, std: float, generator: torch.Generator | None = None
          ) -> torch.Tensor:
    """(sets, fan_in, fan_out) weights whose every column has norm ``std`` (rl_algs tf_util.normc_initializer)."""
    w = torch.randn(sets, fan_in, fan_out, generator=generator)
    return w * (std / w.pow(2).sum(dim=1, keepdim=True).sqrt())


@dataclass(frozen=True)
class PolicyShape:
    obs_dim: int
    outputs: int          # number of logits (discrete) or action dimensions (Gaussian)
    hidden: int
    layers: int
    gaussian: bool = False


def init_params(shape: PolicyShape, sets: int, generator: torch.Generator | None = None) -> Params:
    """Fresh parameters for ``sets`` independent policies (policy MLP ``pi*``, value MLP ``vf*``)."""
    p: Params = {}
    for head, out, out_std in (("pi", shape.outputs, 0.01), ("vf", 1, 1.0)):
        fan_in = shape.obs_dim
        for i in range(shape.layers):
            p[f"{head}{i}.w"] = normc(sets, fan_in, shape.hidden, 1.0, generator)
            p[f"{head}{i}.b"] = torch.zeros(sets, shape.hidden)
            fan_in = shape.hidden
        p[f"{head}_out.w"] = normc(sets, fan_in, out, out_std, generator)
        p[f"{head}_out.b"] = torch.zeros(sets, out)
    if shape.gaussian:
        p["logstd"] = torch.zeros(sets, shape.outputs)
    return p


def _mlp(p: Params, head: str, layers: int, x: torch.Tensor) -> torch.Tensor:
    for i in range(layers):
        x = torch.tanh(torch.baddbmm(p[f"{head}{i}.b"][:, None, :], x, p[f"{head}{i}.w"]))
    return torch.baddbmm(p[f"{head}_out.b"][:, None, :], x, p[f"{head}_out.w"])


def forward(p: Params, shape: PolicyShape, obs_z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(policy output, value) for normalised observations ``obs_z`` of shape (sets, batch, obs_dim): logits or
    Gaussian means (sets, batch, outputs) and values (sets, batch)."""
    return _mlp(p, "pi", shape.layers, obs_z), _mlp(p, "vf", shape.layers, obs_z)[..., 0]


def log_prob(p: Params, shape: PolicyShape, out: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """log pi(a|s) per sample, (sets, batch)."""
    if shape.gaussian:
        logstd = p["logstd"][:, None, :]
        z = (actions - out) / logstd.exp()
        return (-0.5 * z.pow(2) - logstd - 0.5 * torch.log(torch.tensor(2 * torch.pi))).sum(-1)
    return torch.log_softmax(out, dim=-1).gather(-1, actions[..., None].long())[..., 0]


def sample(p: Params, shape: PolicyShape, out: torch.Tensor, generator: torch.Generator | None = None
           ) -> torch.Tensor:
    """A stochastic action per sample: categorical (Gumbel-max, as rl_algs' CategoricalPd.sample) or Gaussian."""
    if shape.gaussian:
        noise = torch.randn(out.shape, generator=generator)
        return out + p["logstd"][:, None, :].exp() * noise
    u = torch.rand(out.shape, generator=generator)
    return torch.argmax(out - torch.log(-torch.log(u)), dim=-1)


class RunningMeanStd:
    """rl_algs' MPI RunningMeanStd, one per parameter set: sums of x and x^2 and a count (both starting at 1e-2);
    mean = sum / count, std = sqrt(max(sumsq / count - mean^2, 1e-2)). Every worker's data is summed in."""

    def __init__(self, sets: int, dim: int, epsilon: float = 1e-2) -> None:
        self.sum = torch.zeros(sets, dim, dtype=torch.float64)
        self.sumsq = torch.full((sets, dim), epsilon, dtype=torch.float64)
        self.count = torch.full((sets,), epsilon, dtype=torch.float64)

    def update(self, index: int, x: torch.Tensor) -> None:
        x = x.double()
        self.sum[index] += x.sum(dim=0)
        self.sumsq[index] += x.pow(2).sum(dim=0)
        self.count[index] += len(x)

    def stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, std) as float32, each (sets, dim)."""
        mean = (self.sum / self.count[:, None]).float()
        var = (self.sumsq / self.count[:, None]).float() - mean.pow(2)
        return mean, var.clamp(min=1e-2).sqrt()

    def normalise(self, x: torch.Tensor, mean: torch.Tensor | None = None, std: torch.Tensor | None = None
                  ) -> torch.Tensor:
        """clip((x - mean) / std, -5, 5) for x of shape (sets, batch, dim)."""
        if mean is None:
            mean, std = self.stats()
        return ((x - mean[:, None, :]) / std[:, None, :]).clamp(-5.0, 5.0)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"sum": self.sum, "sumsq": self.sumsq, "count": self.count}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.sum, self.sumsq, self.count = state["sum"].clone(), state["sumsq"].clone(), state["count"].clone()


class SetAdam:
    """Adam over batched parameter sets, each set with its own step count, exactly as rl_algs' ``MpiAdam.update``:
    a = lr sqrt(1 - b2^t) / (1 - b1^t); m, v the usual moments; theta += -a m / (sqrt(v) + eps). A set takes a step
    only when ``active`` says so (MpiAdam takes none when no worker contributes a gradient)."""

    def __init__(self, params: Params, lr: float, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8
                 ) -> None:
        self.lr, self.beta1, self.beta2, self.epsilon = lr, beta1, beta2, epsilon
        self.m = {k: torch.zeros_like(v) for k, v in params.items()}
        self.v = {k: torch.zeros_like(v) for k, v in params.items()}
        sets = next(iter(params.values())).shape[0]
        self.t = torch.zeros(sets, dtype=torch.float64)

    def step(self, params: Params, grads: Params, active: torch.Tensor) -> None:
        """Update ``params`` in place from ``grads`` (already averaged over the contributing workers)."""
        self.t += active.double()
        t = self.t.clamp(min=1)
        a = (self.lr * torch.sqrt(1 - self.beta2 ** t) / (1 - self.beta1 ** t)).float()
        for k, theta in params.items():
            g = grads[k]
            mask = active.view(-1, *([1] * (g.dim() - 1)))
            m = torch.where(mask, self.beta1 * self.m[k] + (1 - self.beta1) * g, self.m[k])
            v = torch.where(mask, self.beta2 * self.v[k] + (1 - self.beta2) * g * g, self.v[k])
            self.m[k], self.v[k] = m, v
            step = -a.view(-1, *([1] * (g.dim() - 1))) * m / (v.sqrt() + self.epsilon)
            theta.data.add_(torch.where(mask, step, torch.zeros_like(step)))

    def state_dict(self) -> dict:
        return {"m": self.m, "v": self.v, "t": self.t}

    def load_state_dict(self, state: dict) -> None:
        self.m = {k: v.clone() for k, v in state["m"].items()}
        self.v = {k: v.clone() for k, v in state["v"].items()}
        self.t = state["t"].clone()
