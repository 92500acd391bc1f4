"""Mishra, Rohaninejad, Chen, Abbeel 2018, A Simple Neural Attentive Meta-Learner (SNAIL).

``ENTRY_POINTS`` maps each paper experiment of ``paper.yaml`` to its ``train(config, run) -> metrics`` function as
"module:function"; the registry imports only the module a run needs.
"""
ENTRY_POINTS = {"bandit_snail": "papers.snail.rl_experiment:train_snail_rl",
                "mdp_snail": "papers.snail.rl_experiment:train_snail_rl"}
