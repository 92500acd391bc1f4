"""Random-maze goal finding in ViZDoom: the visual-navigation task family of RL^2 (Duan et al. 2016, §3.3, Table 3)
that SNAIL (Mishra et al. 2018, Table 5) reuses.

Rebuilt from the authors' environment behind Table 3 (florensacc/rllab-curriculum@6e0bbae9,
sandbox/rocky/neural_learner/envs/doom_fixed_goal_finding_maze_env.py, doom_utils/wad.py and textmap.py, run by
launchers/102016/1030/doom_maze_77.py):

- a maze is randomized Prim's algorithm on a (2 size + 1)^2 grid of 96-unit cells (walls are whole cells): size 3
  is the paper's "5 x 5" maze (its interior), size 5 the "9 x 9" one. Start and goal are two distinct random room
  cells (odd, odd); the player starts at the start cell's centre facing east; the goal is a 94 x 94 blocking
  pillar filling the goal cell, touched from a neighbouring cell;
- the maps go into one PWAD (UDMF ``TEXTMAP`` per map, walls ``BRICK9``, pillar ``FLOOR1_7``, floor ``FLAT3``,
  ceiling ``FLAT2`` at height 104, light 210), a fixed set per seed (the authors: 1000 training maps with seed 0,
  1000 test maps per size with seed 1);
- rewards come from the map's ACS scripts, which this module assembles itself (no ACS compiler ships with
  ViZDoom): touching the pillar adds 1 and ends the map; pushing into a wall subtracts 0.001 on every tic of
  pushing; ViZDoom adds a living reward of -0.01 per tic, so -0.04 per step at frame skip 4 (the paper's "-0.04");
- actions {turn left, turn right, move forward}, frame skip 4; the 160 x 120 RGB frame resized to 40 x 30 (bilinear,
  as the authors' cv2.resize) and scaled to [-1, 1].

A trial plays ``n_episodes`` episodes of at most ``horizon`` steps in one map with the same start and goal; the
next trial draws a map uniformly with replacement. The authors' maze generator iterates a Python set, so their
exact maps cannot be regenerated; ours follow the same distribution with a NumPy generator.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CELL = 96  # Doom units per grid cell
PILLAR_MARGIN = 1
LIVING_REWARD = -0.01  # per tic
WALL_PENALTY = 0.001  # per tic of pushing into a wall
GOAL_REWARD = 1.0
FRAME_SKIP = 4
N_ACTIONS = 3  # turn left, turn right, move forward
IMAGE_SHAPE = (3, 30, 40)  # channels, height, width


@dataclass(frozen=True)
class Maze:
    grid: np.ndarray  # (2 size + 1, 2 size + 1), 1 = wall
    start: tuple[int, int]
    goal: tuple[int, int]


def prims_grid(size: int, rng: np.random.Generator) -> np.ndarray:
    """Randomized Prim's algorithm on ``size`` x ``size`` rooms: start at a random room, then repeatedly open a
    random frontier room and the wall between it and a random open neighbour."""
    n = 2 * size + 1
    grid = np.ones((n, n), dtype=np.int8)

    def rooms_next_to(r: int, c: int, wall: int) -> list[tuple[int, int]]:
        around = [(r + dr, c + dc) for dr, dc in ((-2, 0), (2, 0), (0, -2), (0, 2))]
        return [(a, b) for a, b in around if 0 < a < n - 1 and 0 < b < n - 1 and grid[a, b] == wall]

    r, c = 2 * rng.integers(size) + 1, 2 * rng.integers(size) + 1
    grid[r, c] = 0
    frontier = set(rooms_next_to(r, c, 1))
    while frontier:
        r, c = sorted(frontier)[rng.integers(len(frontier))]
        frontier.discard((r, c))
        grid[r, c] = 0
        opened = rooms_next_to(r, c, 0)
        a, b = opened[rng.integers(len(opened))]
        grid[(r + a) // 2, (c + b) // 2] = 0
        frontier.update(rooms_next_to(r, c, 1))
    return grid


def sample_maze(size: int, rng: np.random.Generator) -> Maze:
    grid = prims_grid(size, rng)
    rooms = [(2 * i + 1, 2 * j + 1) for i in range(size) for j in range(size)]
    start, goal = rng.choice(len(rooms), size=2, replace=False)
    return Maze(grid, rooms[start], rooms[goal])


def textmap(maze: Maze) -> str:
    """The UDMF map: one sector; a one-sided blocking wall line (ACS script 4 on push) on every edge between a free
    and a wall cell, each cell's edges clockwise so the front faces the free side; the pillar's four lines (script 2
    on push) counter-clockwise so the front faces outwards; the player start at the start cell's centre."""
    vertices: dict[tuple[int, int], int] = {}

    def vertex(x: int, y: int) -> int:
        return vertices.setdefault((x, y), len(vertices))

    edges = []
    for i, j in zip(*np.nonzero(maze.grid == 0)):
        x0, x1, y0, y1 = CELL * i, CELL * (i + 1), CELL * j, CELL * (j + 1)
        corners = [vertex(x0, y1), vertex(x1, y1), vertex(x1, y0), vertex(x0, y0)]
        edges += [(corners[k], corners[(k + 1) % 4]) for k in range(4)]
    edge_set = set(edges)
    walls = [e for e in edges if (e[1], e[0]) not in edge_set]  # an edge both free cells share is no wall
    gi, gj = maze.goal
    m = PILLAR_MARGIN
    pillar = [vertex(CELL * gi + m, CELL * (gj + 1) - m), vertex(CELL * (gi + 1) - m, CELL * (gj + 1) - m),
              vertex(CELL * (gi + 1) - m, CELL * gj + m), vertex(CELL * gi + m, CELL * gj + m)]
    px, py = CELL * maze.start[0] + CELL // 2, CELL * maze.start[1] + CELL // 2
    lines = ['namespace = "zdoom";', f"thing {{ x = {px}.0; y = {py}.0; type = 1; id = 1; angle = 0; "
             "skill1 = true; skill2 = true; skill3 = true; skill4 = true; skill5 = true; single = true; }"]
    lines += [f"vertex {{ x = {x}.0; y = {y}.0; }}" for (x, y) in vertices]
    lines += [f"linedef {{ v1 = {a}; v2 = {b}; sidefront = 0; blocking = true; special = 80; arg0 = 4; "
              "playerpush = true; repeatspecial = true; firstsideonly = true; }" for a, b in walls]
    lines += [f"linedef {{ v1 = {pillar[(k + 1) % 4]}; v2 = {pillar[k]}; sidefront = 1; sideback = 0; "
              "twosided = true; blocking = true; special = 80; arg0 = 2; playerpush = true; firstsideonly = true; }"
              for k in range(4)]
    lines += ['sidedef { sector = 0; texturemiddle = "BRICK9"; }',
              'sidedef { sector = 0; texturemiddle = "FLOOR1_7"; clipmidtex = true; scalex_mid = 3.0; '
              'scaley_mid = 0.3; }',
              'sector { texturefloor = "FLAT3"; textureceiling = "FLAT2"; heightfloor = 0; heightceiling = 104; '
              'lightlevel = 210; }']
    return "\n".join(lines) + "\n"


# ACS0 bytecode (Hexen's format, which ZDoom and ViZDoom still load): every opcode and operand a little-endian int32
_PUSHNUMBER, _TERMINATE, _LSPEC1DIRECT = 3, 1, 9
_ASSIGNGLOBALVAR, _ADDGLOBALVAR, _SUBGLOBALVAR = 181, 183, 184
_EXIT_NORMAL = 243  # the Exit_Normal line special
_CLOSED, _OPEN = 0, 1  # script types


def _fixed(value: float) -> int:
    """ACS fixed point (16.16), rounded as acc rounds a literal."""
    return int(round(value * 65536))


def behavior(goal_reward: float = GOAL_REWARD, wall_penalty: float = WALL_PENALTY) -> bytes:
    """The maps' ACS, assembled: script 1 (OPEN) sets the reward (global 0, which ViZDoom reads) to 0; script 2 adds
    the goal reward and exits the map; script 4 subtracts the wall penalty."""
    scripts = [(1, _OPEN, [_PUSHNUMBER, 0, _ASSIGNGLOBALVAR, 0, _TERMINATE]),
               (2, _CLOSED, [_PUSHNUMBER, _fixed(goal_reward), _ADDGLOBALVAR, 0,
                             _LSPEC1DIRECT, _EXIT_NORMAL, 0, _TERMINATE]),
               (4, _CLOSED, [_PUSHNUMBER, _fixed(wall_penalty), _SUBGLOBALVAR, 0, _TERMINATE])]
    code, entries = b"", []
    for number, kind, words in scripts:
        entries.append((kind * 1000 + number, 8 + len(code), 0))
        code += struct.pack(f"<{len(words)}i", *words)
    directory = struct.pack("<i", len(entries)) + b"".join(struct.pack("<iii", *e) for e in entries)
    return b"ACS\0" + struct.pack("<i", 8 + len(code)) + code + directory + struct.pack("<i", 0)


def map_name(index: int) -> str:
    return f"MAP{index:02d}"


def write_wad(path: Path, mazes: list[Maze], goal_reward: float = GOAL_REWARD,
              wall_penalty: float = WALL_PENALTY) -> None:
    """A PWAD holding ``mazes`` as MAP00, MAP01, ... (12-byte header, the lumps, a 16-byte entry per lump)."""
    acs = behavior(goal_reward, wall_penalty)
    lumps: list[tuple[str, bytes]] = []
    for k, maze in enumerate(mazes):
        lumps += [(map_name(k), b""), ("TEXTMAP", textmap(maze).encode()), ("BEHAVIOR", acs), ("ENDMAP", b"")]
    data = b"".join(body for _, body in lumps)
    directory, offset = b"", 12
    for name, body in lumps:
        directory += struct.pack("<ii8s", offset, len(body), name.encode())
        offset += len(body)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(b"PWAD" + struct.pack("<ii", len(lumps), 12 + len(data)) + data + directory)
    os.replace(tmp, path)


def maze_set(size: int, count: int, seed: int) -> list[Maze]:
    """The fixed set of ``count`` mazes of ``size`` drawn with ``seed`` (the authors: training seed 0, test seed 1)."""
    rng = np.random.default_rng(seed)
    return [sample_maze(size, rng) for _ in range(count)]


def downsample(frame: np.ndarray) -> np.ndarray:
    """(120, 160, 3) uint8 -> (3, 30, 40) float32 in [-1, 1]: bilinear resizing by exactly 1/4 (cv2.resize's
    default) averages, in each axis, the two middle pixels of every group of four."""
    f = frame.astype(np.float32)
    f = (f[1::4] + f[2::4]) / 2
    f = (f[:, 1::4] + f[:, 2::4]) / 2
    return (f.transpose(2, 0, 1) / 255.0 - 0.5) * 2.0


def make_game(wad: Path, seed: int, living_reward: float = LIVING_REWARD):
    """A headless ViZDoom game on ``wad`` with the authors' settings (160 x 120 RGB, no HUD, crosshair, weapon,
    decals, particles or sound; buttons turn left, turn right, forward; a living reward per tic)."""
    import vizdoom as vzd

    game = vzd.DoomGame()
    game.set_doom_game_path(str(Path(vzd.__file__).parent / "freedoom2.wad"))
    game.set_doom_scenario_path(str(wad))
    game.set_doom_map(map_name(0))
    game.set_screen_resolution(vzd.ScreenResolution.RES_160X120)
    game.set_screen_format(vzd.ScreenFormat.RGB24)
    game.set_window_visible(False)
    game.set_sound_enabled(False)
    for setter in (game.set_render_hud, game.set_render_crosshair, game.set_render_weapon, game.set_render_decals,
                   game.set_render_particles):
        setter(False)
    game.set_available_buttons([vzd.Button.TURN_LEFT, vzd.Button.TURN_RIGHT, vzd.Button.MOVE_FORWARD])
    game.set_living_reward(living_reward)
    game.set_episode_timeout(0)
    game.set_mode(vzd.Mode.PLAYER)
    game.set_seed(seed)
    game.init()
    return game


class DoomMazeTrials:
    """``num_envs`` games stepped in lockstep, each playing trials of ``n_episodes`` episodes (at most ``horizon``
    steps each) in a map drawn uniformly from the WAD's ``n_maps`` at every ``reset``. A trial that has finished
    waits, with zero images and rewards, until the next ``reset``."""

    def __init__(self, wad: Path, n_maps: int, num_envs: int, n_episodes: int, horizon: int, seed: int,
                 living_reward: float = LIVING_REWARD, frame_skip: int = FRAME_SKIP,
                 goal_reward: float = GOAL_REWARD) -> None:
        self.games = [make_game(wad, seed + i, living_reward) for i in range(num_envs)]
        self.frame_skip, self.goal_reward = frame_skip, goal_reward  # the WAD's goal reward (``write_wad``)
        self.n_maps, self.num_envs, self.n_episodes, self.horizon = n_maps, num_envs, n_episodes, horizon
        self.episode = np.zeros(num_envs, dtype=np.int64)  # episodes finished in the current trial
        self.steps = np.zeros(num_envs, dtype=np.int64)  # steps into the current episode
        self.trial_done = np.ones(num_envs, dtype=bool)

    def _frame(self, i: int) -> np.ndarray:
        return downsample(self.games[i].get_state().screen_buffer)

    def reset(self, rng: np.random.Generator) -> np.ndarray:
        """New trials in every game; returns the first images (num_envs, 3, 30, 40)."""
        maps = rng.integers(self.n_maps, size=self.num_envs)
        return np.stack([self.start_trial(i, int(m)) for i, m in enumerate(maps)])

    def start_trial(self, i: int, map_index: int) -> np.ndarray:
        """Game ``i`` starts a trial in map ``map_index``; returns its first image."""
        self.games[i].set_doom_map(map_name(map_index))
        self.games[i].new_episode()
        self.episode[i], self.steps[i], self.trial_done[i] = 0, 0, False
        return self._frame(i)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Images after the step, rewards, whether an episode ended (at the goal or the horizon) and whether it
        reached the goal; the next image of a game whose episode ended is the first of its next episode."""
        images = np.zeros((self.num_envs, *IMAGE_SHAPE), dtype=np.float32)
        rewards = np.zeros(self.num_envs)
        ended, reached = np.zeros(self.num_envs, dtype=bool), np.zeros(self.num_envs, dtype=bool)
        for i, game in enumerate(self.games):
            if self.trial_done[i]:
                continue
            buttons = [0.0] * N_ACTIONS
            buttons[int(actions[i])] = 1.0
            rewards[i] = game.make_action(buttons, self.frame_skip)
            self.steps[i] += 1
            # the goal's +1 can come a tic before the engine reports the map finished: a step that earns it ends
            reached[i] = rewards[i] > self.goal_reward / 2 or game.is_episode_finished()
            ended[i] = reached[i] or self.steps[i] == self.horizon
            if ended[i]:
                self.episode[i] += 1
                self.steps[i] = 0
                self.trial_done[i] = self.episode[i] == self.n_episodes
                if self.trial_done[i]:
                    continue
                game.new_episode()  # the same map: the same start and goal
            images[i] = self._frame(i)
        return images, rewards, ended, reached

    def close(self) -> None:
        for game in self.games:
            game.close()


def episode_table(trials: list[dict[str, np.ndarray]], n_episodes: int, horizon: int) -> dict[str, float]:
    """RL^2 Table 3's (and SNAIL Table 5's) measures over ``trials``, each with boolean arrays ``ended`` and
    ``reached`` over its steps: per episode k the success rate and the mean (and its standard error over
    the trials, as the authors' script) length of the successful episodes, and the share of trials whose second
    episode is no longer than the first (failures counted at the horizon)."""
    lengths = np.zeros((len(trials), n_episodes))
    success = np.zeros((len(trials), n_episodes), dtype=bool)
    for b, trial in enumerate(trials):
        ends = np.nonzero(trial["ended"])[0]
        starts = np.concatenate([[-1], ends[:-1]])
        lengths[b] = ends - starts
        success[b] = trial["reached"][ends]
    out: dict[str, float] = {}
    for k in range(n_episodes):
        ok = lengths[success[:, k], k]
        out[f"episode{k + 1}_success_rate"] = float(success[:, k].mean())
        out[f"episode{k + 1}_length"] = float(ok.mean()) if len(ok) else float("nan")
        out[f"episode{k + 1}_length_se"] = float(ok.std() / np.sqrt(len(trials))) if len(ok) else float("nan")
    counted = np.where(success, lengths, horizon)
    out["improved_fraction"] = float((counted[:, 0] - counted[:, 1] >= 0).mean())
    return out
