"""Finn, Abbeel, Levine 2017, Model-Agnostic Meta-Learning for Fast Adaptation of Deep Networks (MAML).

``ENTRY_POINTS`` maps each paper experiment of ``paper.yaml`` to its ``train(config, run) -> metrics`` function as
"module:function"; the registry imports only the module a run needs.
"""
ENTRY_POINTS = {"sinusoid_maml": "papers.maml.sinusoid_experiment:train_sinusoid",
                "sinusoid_pretrain": "papers.maml.sinusoid_experiment:train_sinusoid",
                "nav2d_maml": "papers.maml.rl_experiment:train_point_navigation",
                "nav2d_maml_launcher": "papers.maml.rl_experiment:train_point_navigation",
                "locomotion_maml": "papers.maml.locomotion_experiment:train_locomotion"}
