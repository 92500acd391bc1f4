"""Andrychowicz et al. 2017, Hindsight Experience Replay.

``ENTRY_POINTS`` maps each paper experiment of ``paper.yaml`` to its ``train(config, run) -> metrics`` function as
"module:function"; the registry imports only the module a run needs, so the code fingerprint of a run (and so its
staleness) covers exactly the modules that run executed.
"""
ENTRY_POINTS = {"bitflip": "papers.her.bitflip_experiment:train_bitflip",
                "fetch": "papers.her.fetch_experiment:train_fetch",
                "fetch_reach": "papers.her.fetch_experiment:train_fetch"}
