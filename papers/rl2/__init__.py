"""Duan et al. 2016, RL^2: Fast Reinforcement Learning via Slow Reinforcement Learning.

``ENTRY_POINTS`` maps each paper experiment of ``paper.yaml`` to its ``train(config, run) -> metrics`` function as
"module:function"; the registry imports only the module a run needs.
"""
ENTRY_POINTS = {"bandit_rl2": "papers.rl2.rl2_experiment:train_rl2",
                "mdp_rl2": "papers.rl2.rl2_experiment:train_rl2",
                "navigation_rl2": "papers.rl2.navigation_experiment:train_navigation",
                "bandit_baselines": "papers.rl2.bandit_baselines_experiment:evaluate_bandit_baselines",
                "mdp_baselines": "papers.rl2.mdp_baselines_experiment:evaluate_mdp_baselines"}
