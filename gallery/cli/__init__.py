"""The `gallery` command line: thin shells over the library."""

from __future__ import annotations

import click

from db.version import SCHEMA_HEAD

from gallery.core.version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="gallery",
                      message=f"%(prog)s %(version)s (collection schema {SCHEMA_HEAD})")
def main() -> None:
    """Portrait Gallery: find who is in a painting.

    \b
    Example:
      gallery faces portrait.jpg --json
    """


def _register() -> None:
    from gallery.cli import (backup_commands, collection_commands, context_commands, curation_commands, db_commands, evaluate_commands,
                             explain_commands, export_commands, face_commands, search_commands, serve_commands, sitter_commands,
                             train_commands, weights_commands)

    main.add_command(face_commands.faces)
    main.add_command(face_commands.embed)
    main.add_command(face_commands.compare)
    main.add_command(weights_commands.weights)
    main.add_command(collection_commands.index)
    main.add_command(collection_commands.status)
    main.add_command(sitter_commands.sitters)  # the group, with the change commands added
    main.add_command(search_commands.search)
    main.add_command(search_commands.report)
    main.add_command(explain_commands.explain)
    main.add_command(curation_commands.add)
    main.add_command(curation_commands.curate)
    main.add_command(curation_commands.suggest)
    main.add_command(curation_commands.clusters)
    main.add_command(context_commands.dossier)
    main.add_command(context_commands.replicas)
    main.add_command(serve_commands.serve)
    main.add_command(serve_commands.users)
    main.add_command(evaluate_commands.evaluate)
    main.add_command(evaluate_commands.calibrate)
    main.add_command(train_commands.train)
    main.add_command(backup_commands.backup)
    main.add_command(backup_commands.restore)
    main.add_command(export_commands.export)
    main.add_command(db_commands.db)


_register()


def entry() -> None:
    """`gallery` as a process runs it (the console script and `python -m gallery`): the command,
    then the objects it made frozen (gc.freeze) so that the interpreter's last garbage collections
    at exit skip them. Those collections walk every object the libraries and the run left behind,
    about 0.02 s for `gallery faces` and 0.1 s for a `gallery index` of a few files. Everything
    else at exit happens as usual: atexit handlers, the database's last checkpoint, flushing. Tests
    that run many commands in one process call `main` and never freeze."""
    try:
        main()
    finally:
        import gc

        gc.freeze()
