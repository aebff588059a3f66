"""edgeship: take Keras models from training to verified, measured edge artifacts.

Importing ``edgeship`` is cheap: it imports nothing heavy. TensorFlow is only imported by
``edgeship.train`` and ``edgeship.convert`` when they do work; ``edgeship.runtime``,
``edgeship.bench`` and ``edgeship.serve`` never import it.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
