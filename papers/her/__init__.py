"""Andrychowicz et al. 2017, Hindsight Experience Replay. Entry points by paper experiment (``paper.yaml``)."""
from papers.her.bitflip_experiment import train_bitflip

ENTRY_POINTS = {"bitflip": train_bitflip}
