"""mirror: a private journal its owner truly owns."""

__version__ = "0.1.0"
