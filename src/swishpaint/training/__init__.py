"""Training: typed configs, the GAN loop of the paper's Figure 3, its objective, checkpoints, distributed helpers.

The public API, which code outside training/ uses (the CLI, compare, the benchmark): load_config and
TrainConfig, train for a whole run, build_state + gan_step to time single steps without data, and
GanObjective, the loss terms of a step (training/objective.py) apart from its plumbing (training/loop.py).
"""

from .config import TrainConfig, load_config
from .loop import TrainState, build_state, gan_step, train
from .objective import GanObjective

__all__ = ["GanObjective", "TrainConfig", "TrainState", "build_state", "gan_step", "load_config", "train"]
