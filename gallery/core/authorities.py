"""A sitter's authority records (Wikidata, ULAN, VIAF) as URIs, from the ids a catalogue keeps."""

from __future__ import annotations

AUTHORITIES = {"wikidata": "http://www.wikidata.org/entity/{}", "ulan": "http://vocab.getty.edu/page/ulan/{}",
               "viaf": "http://viaf.org/viaf/{}"}


def authority_links(external_ids: dict | None) -> dict[str, str]:
    """The sitter's external ids as URIs (Wikidata, ULAN, VIAF; an id that is a URI already stays)."""
    links = {}
    for key, value in (external_ids or {}).items():
        value = str(value).strip()
        if value.startswith(("http://", "https://")):
            links[key] = value
        elif key.lower() in AUTHORITIES and value:
            links[key] = AUTHORITIES[key.lower()].format(value)
    return links
