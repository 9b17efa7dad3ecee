"""The release: CHANGELOG.md lists each release with its collection schema."""

__version__ = "0.7.0"


def release() -> str:
    """The words every report and export uses to name what produced it."""
    return f"Portrait Gallery {__version__}"
