"""The `gallery` command run in this process (click's CliRunner), for tests that run many commands."""

from __future__ import annotations

from click.testing import CliRunner

from gallery.cli import main


def run_cli(*args, ok: bool = True):
    """Run `gallery ARGS`; assert that it succeeded (`ok`) or failed (not `ok`)."""
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert (result.exit_code == 0) == ok, result.output
    return result
