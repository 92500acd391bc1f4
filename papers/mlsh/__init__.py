"""Frans, Ho, Chen, Abbeel, Schulman 2018, Meta Learning Shared Hierarchies (MLSH).

``ENTRY_POINTS`` maps each paper experiment of ``paper.yaml`` to its ``train(config, run) -> metrics`` function as
"module:function"; the registry imports only the module a run needs.
"""
ENTRY_POINTS = {"moving_bandits_mlsh": "papers.mlsh.experiment:train_mlsh",
                "moving_bandits_shared_policy": "papers.mlsh.experiment:train_mlsh",
                "moving_bandits_no_warmup": "papers.mlsh.experiment:train_mlsh",
                "moving_bandits_same_timescale": "papers.mlsh.experiment:train_mlsh",
                "four_rooms_mlsh": "papers.mlsh.experiment:train_mlsh",
                "four_rooms_ppo_scratch": "papers.mlsh.experiment:train_mlsh",
                "ant_twowalk_mlsh": "papers.mlsh.ant_experiment:train_ant_twowalk",
                "ant_twowalk_shared_policy": "papers.mlsh.ant_experiment:train_ant_twowalk",
                "ant_obstacle_mlsh_transfer": "papers.mlsh.obstacle_experiment:train_ant_obstacle",
                "ant_obstacle_single_policy": "papers.mlsh.obstacle_experiment:train_ant_obstacle"}
