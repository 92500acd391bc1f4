"""Four Rooms (§6.3; Sutton, Precup & Singh 1999), vectorised over workers, as the authors' ``Fourrooms-v0``
(openai/mlsh test_envs/test_envs/envs/fourrooms.py, time limit 100 in test_envs/__init__.py):

- the 13 x 13 layout with 104 free cells, numbered row by row; every episode starts in cell 62;
- 4 actions (up, down, left, right); a move into a wall leaves the agent in place; after a successful move, with
  probability 1/3 the agent moves on to a uniformly chosen free neighbour of its new cell (the code's dynamics; its
  docstring quotes Sutton et al.'s 2/3 vs 1/9 rule, which the code does not implement);
- reward 1 on every step that ends in the goal cell; episodes do not terminate there;
- observation: the one-hot cell (the code's commented-out ``statevec``: the integer cell it returns cannot feed its
  MLP), 104-d;
- a task is the goal cell. Training goals are every free cell but the start and the held-out goals; evaluation
  ("fine-tuning on an unseen goal", Fig. 4) draws from the held-out goals.
"""
from __future__ import annotations

from collections import deque

import numpy as np

LAYOUT = """\
wwwwwwwwwwwww
w     w     w
w     w     w
w           w
w     w     w
w     w     w
ww wwww     w
w     www www
w     w     w
w     w     w
w           w
w     w     w
wwwwwwwwwwwww"""
DIRECTIONS = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]])
START = 62


def _grid() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(cells (104, 2), move table (104, 4): the cell an action leads to or itself at a wall, neighbour table
    (104, 4) padded with -1, neighbour counts)."""
    wall = np.array([[c == "w" for c in line] for line in LAYOUT.splitlines()])
    cells = np.argwhere(~wall)
    index = {tuple(c): i for i, c in enumerate(cells)}
    moves = np.zeros((len(cells), 4), dtype=np.int64)
    neighbours = np.full((len(cells), 4), -1, dtype=np.int64)
    counts = np.zeros(len(cells), dtype=np.int64)
    for i, c in enumerate(cells):
        for a, d in enumerate(DIRECTIONS):
            target = index.get(tuple(c + d))
            moves[i, a] = i if target is None else target
            if target is not None:
                neighbours[i, counts[i]] = target
                counts[i] += 1
    return cells, moves, neighbours, counts


CELLS, MOVES, NEIGHBOURS, NEIGHBOUR_COUNTS = _grid()


class FourRooms:
    """``workers`` independent copies of the environment, stepped together."""

    n_actions = 4
    gaussian = False

    def __init__(self, workers: int, horizon: int = 100, held_out_goals: tuple[int, ...] = (68, 80, 90, 103),
                 slip: float = 1 / 3) -> None:
        self.workers, self.horizon, self.slip = workers, horizon, slip
        self.obs_dim = len(CELLS)
        self.held_out_goals = np.array(held_out_goals, dtype=np.int64)
        self.train_goals = np.setdiff1d(np.arange(len(CELLS)), np.append(self.held_out_goals, START))
        self.task = np.full(workers, self.train_goals[0])
        self.state = np.full(workers, START)

    def sample_tasks(self, workers: np.ndarray, rng: np.random.Generator, held_out: bool = False) -> np.ndarray:
        goals = self.held_out_goals if held_out else self.train_goals
        return goals[rng.integers(0, len(goals), size=len(workers))]

    def set_tasks(self, workers: np.ndarray, tasks: np.ndarray) -> None:
        self.task[workers] = tasks

    def reset(self, rng: np.random.Generator) -> np.ndarray:
        self.state = np.full(self.workers, START)
        return self.observe()

    def observe(self) -> np.ndarray:
        obs = np.zeros((self.workers, self.obs_dim), dtype=np.float32)
        obs[np.arange(self.workers), self.state] = 1.0
        return obs

    def step(self, actions: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        moved_to = MOVES[self.state, np.asarray(actions, dtype=np.int64)]
        moved = moved_to != self.state
        slip = moved & (rng.uniform(size=self.workers) < self.slip)
        pick = (rng.uniform(size=self.workers) * NEIGHBOUR_COUNTS[moved_to]).astype(np.int64)
        self.state = np.where(slip, NEIGHBOURS[moved_to, pick], moved_to)
        return self.observe(), (self.state == self.task).astype(np.float64)

    def oracle_actions(self) -> np.ndarray:
        """A scripted policy that knows the goal: step to a neighbour nearer the goal (breadth-first distances); at
        the goal, push into a wall when there is one (no slip), else step away and back (our reference, not from
        the paper)."""
        actions = np.zeros(self.workers, dtype=np.int64)
        for goal in np.unique(self.task):
            dist = _distances(int(goal))
            rows = np.nonzero(self.task == goal)[0]
            nxt = dist[MOVES[self.state[rows]]]  # (rows, 4)
            at_wall = MOVES[self.state[rows]] == self.state[rows, None]
            best = np.where(at_wall, np.inf, nxt).argmin(axis=1)
            at_goal = self.state[rows] == goal
            actions[rows] = np.where(at_goal & at_wall.any(axis=1), at_wall.argmax(axis=1), best)
        return actions

    def state_dict(self) -> dict:
        return {"task": self.task.copy()}

    def load_state_dict(self, state: dict) -> None:
        self.task = state["task"].copy()


def _distances(goal: int) -> np.ndarray:
    """Breadth-first distances (in moves) from every cell to ``goal``."""
    dist = np.full(len(CELLS), np.inf)
    dist[goal] = 0
    queue = deque([goal])
    while queue:
        c = queue.popleft()
        for n in NEIGHBOURS[c, :NEIGHBOUR_COUNTS[c]]:
            if dist[n] == np.inf:
                dist[n] = dist[c] + 1
                queue.append(n)
    return dist
