"""The ViZDoom random-maze task family (RL^2 Table 3, SNAIL Table 5): the maze generator, the UDMF map, the
hand-assembled ACS, the WAD, and the rewards and episode ends in the running engine."""
from __future__ import annotations

import struct
from collections import deque

import numpy as np
import pytest

from shared.tasks import doom_maze as dm


def rooms_reachable(grid: np.ndarray, start: tuple[int, int]) -> set[tuple[int, int]]:
    seen, todo = {start}, deque([start])
    while todo:
        r, c = todo.popleft()
        for a, b in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            if grid[a, b] == 0 and (a, b) not in seen:
                seen.add((a, b))
                todo.append((a, b))
    return seen


@pytest.mark.parametrize("size", [3, 5])
def test_prims_builds_a_perfect_maze_walled_in(size):
    for seed in range(5):
        grid = dm.prims_grid(size, np.random.default_rng(seed))
        n = 2 * size + 1
        assert grid.shape == (n, n)
        assert grid[0].all() and grid[-1].all() and grid[:, 0].all() and grid[:, -1].all()
        assert (grid[1::2, 1::2] == 0).all() and (grid[::2, ::2] == 1).all()  # rooms open, wall corners closed
        opened_walls = int((grid == 0).sum()) - size * size
        assert opened_walls == size * size - 1  # a spanning tree of the rooms: no loops
        assert len(rooms_reachable(grid, (1, 1))) == int((grid == 0).sum())  # and everything connected
    grids = [dm.prims_grid(size, np.random.default_rng(seed)) for seed in (0, 1, 3, 3)]
    assert not np.array_equal(grids[0], grids[1]) and np.array_equal(grids[2], grids[3])


def test_start_and_goal_are_distinct_rooms():
    rng = np.random.default_rng(0)
    for _ in range(50):
        maze = dm.sample_maze(3, rng)
        assert maze.start != maze.goal
        assert all(v % 2 == 1 for v in maze.start + maze.goal)


def test_textmap_walls_every_free_wall_boundary_once_and_places_player_and_pillar():
    maze = dm.sample_maze(3, np.random.default_rng(0))
    text = dm.textmap(maze)
    free = maze.grid == 0
    boundary = sum(int(free[i, j] and not free[a, b]) for i in range(7) for j in range(7)
                   for a, b in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)) if 0 <= a < 7 and 0 <= b < 7)
    assert text.count("arg0 = 4;") == boundary  # one wall line per free/wall edge
    assert text.count("arg0 = 2;") == 4  # the pillar
    x, y = 96 * maze.start[0] + 48, 96 * maze.start[1] + 48
    assert f"thing {{ x = {x}.0; y = {y}.0; type = 1;" in text


def test_behavior_and_wad_have_the_documented_layouts():
    acs = dm.behavior()
    assert acs[:4] == b"ACS\0"
    directory = struct.unpack("<i", acs[4:8])[0]
    count = struct.unpack("<i", acs[directory:directory + 4])[0]
    entries = [struct.unpack("<iii", acs[directory + 4 + 12 * k:directory + 16 + 12 * k]) for k in range(count)]
    assert [e[0] for e in entries] == [1001, 2, 4]  # OPEN script 1, closed scripts 2 (goal) and 4 (wall)
    assert struct.unpack("<2i", acs[entries[2][1]:entries[2][1] + 8]) == (3, 66)  # push 0.001 in 16.16: 66


def test_wad_directory_names_every_map(tmp_path):
    mazes = dm.maze_set(3, 3, 0)
    dm.write_wad(tmp_path / "m.wad", mazes)
    blob = (tmp_path / "m.wad").read_bytes()
    assert blob[:4] == b"PWAD"
    count, offset = struct.unpack("<ii", blob[4:12])
    names = [struct.unpack("<ii8s", blob[offset + 16 * k:offset + 16 * (k + 1)])[2].rstrip(b"\0").decode()
             for k in range(count)]
    assert names == [n for k in range(3) for n in (dm.map_name(k), "TEXTMAP", "BEHAVIOR", "ENDMAP")]


def test_downsample_is_bilinear_quarter_and_scaled():
    frame = np.random.default_rng(0).integers(0, 256, size=(120, 160, 3), dtype=np.uint8)
    out = dm.downsample(frame)
    assert out.shape == dm.IMAGE_SHAPE and out.min() >= -1 and out.max() <= 1
    block = frame[4 * 7 + 1:4 * 7 + 3, 4 * 9 + 1:4 * 9 + 3, 2].astype(float)
    assert out[2, 7, 9] == pytest.approx((block.mean() / 255 - 0.5) * 2, abs=1e-6)


def corridor() -> dm.Maze:
    """Start (1, 1) facing east (+x = rows) with the goal two rooms on: the player walks straight into the pillar."""
    grid = np.ones((7, 7), dtype=np.int8)
    grid[1:6, 1] = 0
    grid[1, 1:6] = 0
    return dm.Maze(grid, (1, 1), (5, 1))


def test_engine_rewards_living_wall_pushes_and_the_goal(tmp_path):
    pytest.importorskip("vizdoom")
    wall = dm.Maze(corridor().grid, (1, 5), (5, 1))  # facing east from (1, 5): a wall right ahead
    dm.write_wad(tmp_path / "m.wad", [corridor(), wall])
    env = dm.DoomMazeTrials(tmp_path / "m.wad", 2, 2, n_episodes=2, horizon=40, seed=0)
    try:

        class Fixed:
            def integers(self, n, size):
                return np.array([0, 1])

        images = env.reset(Fixed())
        assert images.shape == (2, *dm.IMAGE_SHAPE)
        rewards, goal_steps = [], []
        for t in range(80):
            _, r, ended, reached = env.step(np.array([2, 2]))  # both walk forward
            rewards.append(r)
            if reached[0]:
                goal_steps.append(t)
            assert not reached[1]
        rewards = np.array(rewards)
        assert rewards[0, 0] == pytest.approx(-0.04)  # 4 tics of living reward
        assert rewards[-1, 1] == pytest.approx(-0.04 - 4 * 66 / 65536, abs=1e-5)  # pushing the wall every tic
        assert len(goal_steps) == 2 and rewards[goal_steps[0], 0] > 0.9  # +1 (minus the step's living reward)
        assert goal_steps[1] - goal_steps[0] == goal_steps[0] + 1  # episode 2 restarts the same map
        assert env.trial_done.all()  # env 0 after its two goals, env 1 after two 40-step episodes
    finally:
        env.close()


def test_episode_table_counts_lengths_successes_and_improvement():
    def trial(ends, reached):
        n = ends[-1] + 1
        ended = np.zeros(n, dtype=bool)
        ended[ends] = True
        hit = np.zeros(n, dtype=bool)
        hit[[e for e, r in zip(ends, reached) if r]] = True
        return {"ended": ended, "reached": hit}

    trials = [trial([9, 14], [True, True]),     # lengths 10, 5: improved
              trial([19, 39], [False, True]),   # 20 (failed), 20: improved (tie at the horizon)
              trial([3, 23], [True, False])]    # 4, 20 (failed): not improved
    out = dm.episode_table(trials, 2, 20)
    assert out["episode1_success_rate"] == pytest.approx(2 / 3) and out["episode1_length"] == pytest.approx(7)
    assert out["episode2_success_rate"] == pytest.approx(2 / 3) and out["episode2_length"] == pytest.approx(12.5)
    assert out["improved_fraction"] == pytest.approx(2 / 3)
