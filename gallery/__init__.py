"""Portrait Gallery: find who is in a painting.

The public API for scripts and notebooks is what this package exports; it stays put when modules
move inside the package. Importing it loads no model, opens no file and touches no network: each
name is imported on first use.

    import gallery

    settings = gallery.load_settings("profiles/shared-onnx.toml")
    pipeline = gallery.FacePipeline(settings)            # image -> faces -> fused vectors
    faces = pipeline.detect(gallery.load_image("portrait.jpg", settings.max_pixels))
    service = gallery.open_search(settings)              # the collection's search service
    result = service.search(Path("portrait.jpg"))        # ranked candidate sitters
    database = gallery.open_collection(settings)         # the collection database (SQLAlchemy)

Layers, bottom to top (docs/architecture.md): core, weights, config, faces, index, db,
evaluation, curation, search, reports | training | admin, indexer, ui, cli.
"""

from __future__ import annotations

from importlib import import_module

from gallery.core.version import __version__

# public name -> the module that defines it
_EXPORTS = {
    "GalleryError": "gallery.core.errors",
    "Settings": "gallery.config.settings",
    "load_settings": "gallery.config.settings",
    "load_image": "gallery.faces.images",
    "FacePipeline": "gallery.faces.pipeline",
    "SearchRequest": "gallery.search.service",
    "SearchResult": "gallery.search.service",
    "SearchService": "gallery.search.service",
    "open_search": "gallery.search.service",
    "open_collection": "db.engine",
}
_ALIASES = {"open_search": "search_service", "open_collection": "open_database"}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'gallery' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), _ALIASES.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
