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
                "ant_twowalk_mlsh": "papers.mlsh.physics_experiment:train_physics",
                "ant_twowalk_shared_policy": "papers.mlsh.physics_experiment:train_physics",
                "ant_obstacle_mlsh_transfer": "papers.mlsh.finetune_experiment:train_finetune",
                "ant_obstacle_single_policy": "papers.mlsh.finetune_experiment:train_finetune",
                "humanoid_walk_crawl_mlsh": "papers.mlsh.physics_experiment:train_physics",
                "humanoid_walk_crawl_shared_policy": "papers.mlsh.physics_experiment:train_physics",
                "humanoid_combination_mlsh_transfer": "papers.mlsh.finetune_experiment:train_finetune",
                "humanoid_combination_shared_transfer": "papers.mlsh.finetune_experiment:train_finetune",
                "humanoid_combination_single_policy": "papers.mlsh.finetune_experiment:train_finetune"}
