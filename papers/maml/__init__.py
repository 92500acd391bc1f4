"""Finn, Abbeel, Levine 2017, Model-Agnostic Meta-Learning for Fast Adaptation of Deep Networks (MAML).

``ENTRY_POINTS`` maps each paper experiment of ``paper.yaml`` to its ``train(config, run) -> metrics`` function as
"module:function"; the registry imports only the module a run needs.
"""
ENTRY_POINTS = {"sinusoid_maml": "papers.maml.sinusoid_experiment:train_sinusoid",
                "sinusoid_pretrain": "papers.maml.sinusoid_experiment:train_sinusoid",
                "nav2d_maml": "papers.maml.rl_experiment:train_point_navigation",
                "nav2d_maml_launcher": "papers.maml.rl_experiment:train_point_navigation",
                "locomotion_maml": "papers.maml.locomotion_experiment:train_locomotion",
                "omniglot_maml": "papers.maml.fewshot_experiment:train_fewshot",
                "omniglot_maml_nonconv": "papers.maml.fewshot_experiment:train_fewshot",
                "miniimagenet_maml": "papers.maml.fewshot_experiment:train_fewshot"}

# stages that need a data set we cannot ship -> the file it provides; `replica smoke` leaves them out while absent
DATA_STAGES = {"fetch_omniglot": "data/omniglot/omniglot28.npz", "train_omniglot": "data/omniglot/omniglot28.npz",
               "fetch_miniimagenet": "data/miniimagenet/classes.json",
               "train_miniimagenet": "data/miniimagenet/classes.json"}
