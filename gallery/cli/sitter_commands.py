"""gallery sitters rename | edit | merge | delete | history (the curated record of sitters)."""

from __future__ import annotations

import click

from gallery.cli.collection_commands import sitters
from gallery.cli.common import domain_errors, echo_json, settings_options

_WHO = click.option("--curator", "who", default=None, help="Who makes the change (recorded with it).")


def _change(settings, change):
    from db.engine import open_database

    with domain_errors():
        database = open_database(settings.database_url)
        with database.session() as session:
            return change(session)


@sitters.command("rename")
@click.argument("name")
@click.argument("new_name")
@_WHO
@settings_options
def sitters_rename(name, new_name, who, settings):
    """Rename sitter NAME to NEW_NAME; the old name is kept as an alternative name.

    \b
    Example:
      gallery sitters rename "Rembrandt" "Rembrandt van Rijn" --curator anna
    """
    from db.sitter_changes import rename_sitter

    _change(settings, lambda session: rename_sitter(session, name, new_name, who))
    click.echo(f"renamed {name!r} to {new_name!r}")


@sitters.command("edit")
@click.argument("name")
@click.option("--alias", "aliases", multiple=True, help="An alternative name (repeat; replaces the list).")
@click.option("--clear-aliases", is_flag=True, help="Remove every alternative name.")
@click.option("--born", type=int, default=None, help="Birth year.")
@click.option("--died", type=int, default=None, help="Death year.")
@click.option("--clear-dates", is_flag=True, help="Forget both years before applying --born/--died.")
@click.option("--notes", default=None, help="Free-text notes (an empty string clears them).")
@click.option("--portrait", default=None, metavar="FACE_ID|auto",
              help="The likeness shown for the sitter in lists, the dossier and reports: one of its identified "
                   "faces, or 'auto' (the best confirmed one).")
@click.option("--hide/--show", "hidden", default=None,
              help="Keep the sitter out of sitter lists and pickers (a bystander the museum does not name), or "
                   "show it again; no record changes.")
@_WHO
@settings_options
def sitters_edit(name, aliases, clear_aliases, born, died, clear_dates, notes, portrait, hidden, who, settings):
    """Set the alternative names, life dates, notes, shown likeness or visibility of sitter NAME.

    \b
    Examples:
      gallery sitters edit "Rembrandt van Rijn" --alias Rembrandt --alias "Rembrandt Harmenszoon" --born 1606 --died 1669
      gallery sitters edit "Rembrandt van Rijn" --portrait 412
      gallery sitters edit "Man at the window" --hide
    """
    from db.sitter_changes import AUTO, edit_sitter

    if portrait is not None and portrait != AUTO and not portrait.isdigit():
        raise click.BadParameter(f"give a face id or '{AUTO}', got {portrait!r}", param_hint="--portrait")
    new_aliases = [] if clear_aliases else (list(aliases) if aliases else None)
    sitter = _change(settings, lambda session: edit_sitter(session, name, who, new_aliases, born, died, notes,
                                                           clear_dates, portrait, hidden))
    click.echo(f"{sitter.name}: aliases {', '.join(sitter.alternative_names) or '-'}; "
               f"born {sitter.birth_year or '?'}, died {sitter.death_year or '?'}; "
               f"portrait {sitter.portrait_face_id or 'auto'}" + ("; hidden from lists" if sitter.hidden else ""))


@sitters.command("merge")
@click.argument("source")
@click.argument("target")
@click.option("--note", default=None, help="Why (recorded with the merge and on each moved identification).")
@_WHO
@settings_options
def sitters_merge(source, target, note, who, settings):
    """Merge sitter SOURCE into TARGET: SOURCE's identifications are recorded for TARGET (a face
    TARGET already has keeps TARGET's record), SOURCE's name becomes an alternative name of TARGET,
    and the merge itself is recorded. Nothing is erased: SOURCE's old records stay in each face's
    history.

    \b
    Example:
      gallery sitters merge "Unknown woman (Delft)" "Maria de Knuijt" --curator anna --note "same sitter, see file 12"
    """
    from db.sitter_changes import merge_sitters, merge_words

    moved = _change(settings, lambda session: merge_sitters(session, source, target, who, note))
    click.echo(merge_words(moved))


@sitters.command("delete")
@click.argument("name")
@_WHO
@settings_options
def sitters_delete(name, who, settings):
    """Delete sitter NAME, only if no identification record names it (use merge otherwise).

    \b
    Example:
      gallery sitters delete "Typo Sitter"
    """
    from db.sitter_changes import delete_sitter

    _change(settings, lambda session: delete_sitter(session, name, who))
    click.echo(f"deleted {name!r}")


@sitters.command("history")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
@settings_options
def sitters_history(name, as_json, settings):
    """The recorded changes to sitters (renames, edits, merges, deletions), newest first; of NAME only
    when given.

    \b
    Example:
      gallery sitters history "Maria de Knuijt"
    """
    from db.sitter_changes import sitter_events

    events = _change(settings, lambda session: [
        {"kind": e.kind, "sitter": e.sitter_name, "who": e.who, "at": e.at.isoformat(), "detail": e.detail}
        for e in sitter_events(session, name)])
    if as_json:
        echo_json(events)
        return
    for e in events:
        click.echo(f"{e['at'][:19]}  {e['kind']:<7} {e['sitter']:<32} by {e['who'] or '-'}  {e['detail']}")
