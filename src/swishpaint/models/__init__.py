"""Generators (SwishU-net, U-net baseline), the ResNet discriminator, and the model registry."""

from .discriminator import DiscriminatorConfig, ResNetDiscriminator
from .registry import (MODELS, ModelCard, ModelLoadError, build_model, count_flops, count_parameters,
                       create_model, generator_input, load_model, model_spec, read_model_card, save_model)
from .swish_unet import SwishUNet, SwishUNetConfig
from .unet import UNet, UNetConfig

__all__ = [
    "DiscriminatorConfig", "ResNetDiscriminator", "SwishUNet", "SwishUNetConfig", "UNet", "UNetConfig",
    "MODELS", "ModelCard", "ModelLoadError", "build_model", "count_flops", "count_parameters", "create_model",
    "generator_input", "load_model", "model_spec", "read_model_card", "save_model",
]
