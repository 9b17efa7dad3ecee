"""Portrait Gallery core: face pipeline, ArtFace fusion encoders, weights.

Importing this package loads no model, opens no file and touches no network.
"""

__version__ = "0.6.0"  # the release; CHANGELOG.md lists each release with its schema


def release() -> str:
    """The words every report and export uses to name what produced it."""
    return f"Portrait Gallery {__version__}"
