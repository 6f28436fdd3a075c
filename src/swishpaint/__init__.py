"""swishpaint: colour anime line art with a Swish-gated residual U-net GAN."""

__version__ = "0.1.0"


def __getattr__(name):
    if name == "Colorizer":  # lazy: `import swishpaint` stays cheap
        from .inference.colorizer import Colorizer

        return Colorizer
    raise AttributeError(name)
