"""A fixed-capacity FIFO replay buffer of named fields (numpy), sampled uniformly."""
from __future__ import annotations

import numpy as np


class ReplayBuffer:
    """Stores transitions field by field; the oldest are overwritten once ``capacity`` is reached."""

    def __init__(self, capacity: int, fields: dict[str, tuple[tuple[int, ...], np.dtype]]) -> None:
        self.capacity = int(capacity)
        self.data = {name: np.zeros((self.capacity, *shape), dtype=dtype) for name, (shape, dtype) in fields.items()}
        self.next = 0
        self.size = 0

    def add(self, **batch: np.ndarray) -> None:
        """Append a batch (every field with the same leading length), in order."""
        count = len(next(iter(batch.values())))
        if count > self.capacity:  # only the last `capacity` transitions would survive
            batch = {k: v[-self.capacity:] for k, v in batch.items()}
            count = self.capacity
        idx = (self.next + np.arange(count)) % self.capacity
        for name, values in batch.items():
            self.data[name][idx] = values
        self.next = int((self.next + count) % self.capacity)
        self.size = int(min(self.size + count, self.capacity))

    def sample_indices(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        return rng.integers(0, self.size, size=batch_size)

    def state_dict(self) -> dict:
        return {"next": self.next, "size": self.size, "data": {k: v[:self.size].copy() for k, v in self.data.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.next, self.size = int(state["next"]), int(state["size"])
        for k, v in state["data"].items():
            self.data[k][:self.size] = v
