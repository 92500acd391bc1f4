"""Task families that more than one paper runs: the RL^2 bandits, tabular MDPs and ViZDoom mazes (reused by SNAIL)
and the MAML locomotion tasks (reused by SNAIL).

Each family is exactly what the papers describe; the trial structure (n episodes on one sampled task) lives in
``trials``. Modules here are part of the code fingerprint of every run that imports them.
"""
