"""The identifications as Linked Art (`gallery export linked-art`), for collection systems that
speak it: one HumanMadeObject per identified artwork, which `shows` a VisualItem that `represents`
the sitters it is identified with (confirmed and probable), and, for every identification of its
faces, an AttributeAssignment (`attributed_by`) saying who assigned `represents` to which person,
when, with what status and on what evidence. Disputed and rejected identifications are kept as
assignments only, never in `represents`; a probable one is classified as "possibly" (AAT
300435722), as Linked Art marks uncertain attributions.

Ids are made under `base` (where the museum will publish the records): `BASE/object/N`,
`BASE/visual/N`, `BASE/person/N`, `BASE/assignment/N`. A sitter's Wikidata, ULAN and VIAF
entries are its `equivalent`s.

The document names the published context (`https://linked.art/ns/v1/linked-art.json`). The
terms it uses are vendored (data/linked-art-context.json, with the IRIs the published context
gives them), so `expand` checks it offline with a JSON-LD processor (pyld).
"""

from __future__ import annotations

import json
from datetime import timezone
from pathlib import Path

from db.engine import Database
from gallery.core.authorities import authority_links
from gallery.core.errors import GalleryError
from gallery.core.files import write_atomically
from gallery.core.version import release

from gallery.reports.stated import Stated, stated_identifications

CONTEXT_URL = "https://linked.art/ns/v1/linked-art.json"
CONTEXT_FILE = Path(__file__).with_name("data") / "linked-art-context.json"
POSSIBLY = {"id": "http://vocab.getty.edu/aat/300435722", "type": "Type", "_label": "possibly"}
DESCRIPTION = {"id": "http://vocab.getty.edu/aat/300435416", "type": "Type", "_label": "Description"}
ACCESSION = {"id": "http://vocab.getty.edu/aat/300312355", "type": "Type", "_label": "accession number"}
REPRESENTED = ("confirmed", "probable")


class LinkedArtError(GalleryError):
    """Linked Art that cannot be exported as asked; nothing was written."""


def linked_art(database: Database, base: str) -> list[dict]:
    """One Linked Art record per artwork with any identification (rejected ones included)."""
    base = _checked(base)
    by_artwork: dict[int, list[Stated]] = {}
    for item in stated_identifications(database, include_rejected=True):
        by_artwork.setdefault(item.artwork.id, []).append(item)
    return [_record(items, base) for items in by_artwork.values()]


def _checked(base: str | None) -> str:
    base = (base or "").strip().rstrip("/")
    if ":" not in base or base.startswith(":") or " " in base:
        raise LinkedArtError(f"--base must be an absolute URI the records are published under, such as "
                             f"https://museum.example/linked-art; got {base!r}")
    return base


def _record(items: list[Stated], base: str) -> dict:
    artwork = items[0].artwork
    title = artwork.title or Path(artwork.path).name
    names = [{"type": "Name", "content": title}]
    if artwork.accession_number:
        names.append({"type": "Identifier", "content": artwork.accession_number, "classified_as": [ACCESSION]})
    people = {i.sitter.id: _person(i.sitter, base) for i in items}
    represented = sorted({i.sitter.id for i in items if i.current.status in REPRESENTED})
    visual = {"id": f"{base}/visual/{artwork.id}", "type": "VisualItem", "_label": f"Visual content of {title}",
              "attributed_by": [_assignment(i, people[i.sitter.id], base) for i in items]}
    if represented:
        visual["represents"] = [people[s] for s in represented]
    return {"@context": CONTEXT_URL, "id": f"{base}/object/{artwork.id}", "type": "HumanMadeObject",
            "_label": title, "identified_by": names, "shows": [visual]}


def _person(sitter, base: str) -> dict:
    person = {"id": f"{base}/person/{sitter.id}", "type": "Person", "_label": sitter.name,
              "identified_by": [{"type": "Name", "content": sitter.name}]}
    same = [{"id": uri, "type": "Person", "_label": sitter.name}
            for _, uri in sorted(authority_links(sitter.external_ids).items())]
    if same:
        person["equivalent"] = same
    return person


def _assignment(item: Stated, person: dict, base: str) -> dict:
    c, face = item.current, item.face
    at = (c.at if c.at.tzinfo else c.at.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    when = at.isoformat(timespec="seconds").replace("+00:00", "Z")
    x1, y1, x2, y2 = face.box
    evidence = (f"Status: {c.status}. Source: {c.source}" + (f" ({c.who})" if c.who else "")
                + f". Face {face.face_index} of the picture, at x {round(x1)}, y {round(y1)}, "
                  f"{round(x2 - x1)} x {round(y2 - y1)} pixels" + (f". Note: {c.note}" if c.note else "") + ".")
    assignment = {"id": f"{base}/assignment/{face.id}-{item.sitter.id}", "type": "AttributeAssignment",
                  "_label": f"{c.status.capitalize()} identification of {item.sitter.name}",
                  "assigned_property": "represents", "assigned": [{"id": person["id"], "type": "Person",
                                                                   "_label": item.sitter.name}],
                  "timespan": {"type": "TimeSpan", "begin_of_the_begin": when, "end_of_the_end": when},
                  "referred_to_by": [{"type": "LinguisticObject", "classified_as": [DESCRIPTION],
                                      "content": evidence}]}
    if c.status == "probable":
        assignment["classified_as"] = [POSSIBLY]
    if c.source == "curator" and c.who:
        assignment["carried_out_by"] = [{"type": "Person", "_label": c.who}]
    return assignment


def write_linked_art(database: Database, path: Path, base: str) -> tuple[Path, int]:
    records = linked_art(database, base)
    if not records:
        raise LinkedArtError("the collection has no identification to state as Linked Art; nothing was written")
    document = {"@context": CONTEXT_URL, "@graph": [{k: v for k, v in r.items() if k != "@context"} for r in records],
                "_label": f"Identifications, exported by {release()}"}
    return write_atomically(Path(path), (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()), \
        len(records)


def load_context(url: str, options=None) -> dict:
    """A pyld document loader that answers the Linked Art context from the vendored copy, offline."""
    if url.rstrip("/") != CONTEXT_URL:
        raise LinkedArtError(f"only the Linked Art context is known offline, not {url}")
    return {"contentType": "application/ld+json", "contextUrl": None, "documentUrl": url,
            "document": json.loads(CONTEXT_FILE.read_text(encoding="utf-8"))}


def expand(document: dict) -> list:
    """The document expanded by a JSON-LD processor (pyld), with the vendored context."""
    from pyld import jsonld

    return jsonld.expand(document, {"documentLoader": load_context})


def lost_in_expansion(document: dict) -> list[str]:
    """The keys of `document` that expanding it drops (terms the context does not define): the
    document compacted back from its expansion lacks them."""
    from pyld import jsonld

    again = jsonld.compact(expand(document), CONTEXT_URL, {"documentLoader": load_context})
    return sorted(_keys(document) - _keys(again))


def _keys(node, path: str = "") -> set[str]:
    out: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "@context":
                continue
            out.add(f"{path}/{key}")
            out |= _keys(value, f"{path}/{key}")
    elif isinstance(node, list):
        for item in node:
            out |= _keys(item, path)
    return out
