"""Portrait Gallery core: face pipeline, ArtFace fusion encoders, weights.

Importing this package loads no model, opens no file and touches no network.
"""

__version__ = "0.1.0"
