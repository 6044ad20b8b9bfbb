"""hwnas: hardware-aware neural architecture search for weight-entangled Vision Transformers."""

__version__ = "0.1.0"
