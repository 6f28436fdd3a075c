"""Training: typed configs, the GAN loop of the paper's Figure 3, checkpoints, distributed helpers."""
