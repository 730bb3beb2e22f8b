"""entrgi: inference-time reward guidance for discrete diffusion language models."""

__version__ = "0.1.0"
