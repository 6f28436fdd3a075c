"""Training: typed configs, the GAN loop of the paper's Figure 3, checkpoints, distributed helpers.

The public API, which code outside training/ uses (the CLI, compare, the benchmark): load_config and
TrainConfig, train for a whole run, and build_state + gan_step to time single steps without data.
"""

from .config import TrainConfig, load_config
from .loop import TrainState, build_state, gan_step, train

__all__ = ["TrainConfig", "TrainState", "build_state", "gan_step", "load_config", "train"]
