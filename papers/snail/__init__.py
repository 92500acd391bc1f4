"""Mishra, Rohaninejad, Chen, Abbeel 2018, A Simple Neural Attentive Meta-Learner (SNAIL).

``ENTRY_POINTS`` maps each paper experiment of ``paper.yaml`` to its ``train(config, run) -> metrics`` function as
"module:function"; the registry imports only the module a run needs.
"""
ENTRY_POINTS = {"bandit_snail": "papers.snail.rl_experiment:train_snail_rl",
                "mdp_snail": "papers.snail.rl_experiment:train_snail_rl",
                "navigation_snail": "papers.snail.navigation_experiment:train_snail_navigation",
                "control_snail": "papers.snail.continuous_experiment:train_snail_control",
                "omniglot_snail": "papers.snail.fewshot_experiment:train_fewshot_snail",
                "miniimagenet_snail": "papers.snail.fewshot_experiment:train_fewshot_snail"}

# stages that need a data set we cannot ship -> the file it provides; `replica smoke` leaves them out while absent
DATA_STAGES = {"train_omniglot": "data/omniglot/omniglot28.npz", "train_miniimagenet": "data/miniimagenet/classes.json"}
# the data sets are fetched by MAML's stages into the shared data/ folder (or `python -m shared.fewshot.fetch`)
FETCH_COMMANDS = {"train_omniglot": "dvc repro papers/maml/dvc.yaml:fetch_omniglot",
                  "train_miniimagenet": "dvc repro papers/maml/dvc.yaml:fetch_miniimagenet"}
