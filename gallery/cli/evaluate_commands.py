"""gallery evaluate | calibrate."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gallery.cli.common import domain_errors, echo_json, progress, settings_options


def _labelled(settings, folder):
    from gallery.evaluation.evaluate import labelled_from_database, labelled_from_folder
    from gallery.faces.pipeline import FacePipeline

    pipeline = FacePipeline(settings)
    if folder:
        pipeline.layout
        files = sum(1 for p in Path(folder).rglob("*") if p.is_file())
        bar = progress(files, "embedding")
        labelled = labelled_from_folder(pipeline, Path(folder), lambda _p, _n: bar.update(1))
        bar.close()
        return labelled
    from db.engine import open_database

    return labelled_from_database(open_database(settings.database_url), pipeline.info().key, pipeline.layout,
                                  settings.quality_floor)


@click.command()
@click.argument("folder", required=False, type=click.Path(file_okay=False))
@click.option("--split", type=click.Choice(["all", "sitter-disjoint"]), default="all", show_default=True,
              help="sitter-disjoint: only the held-out half of the sitters (as after training on the other).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sitter-disjoint split.")
@click.option("--roc", "roc_png", type=click.Path(dir_okay=False), default=None, help="Write the ROC plot (PNG).")
@click.option("--tippett", "tippett_png", type=click.Path(dir_okay=False), default=None,
              help="Write the Tippett plot of the likelihood ratios (PNG).")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None, help="Write the figures as JSON.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@settings_options
def evaluate(folder, split, seed, roc_png, tippett_png, out, as_json, settings):
    """Verification (EER, TAR at 0.1 % and 1 % FAR) and identification (rank-1, rank-5, mAP) of
    every component and the fusion, on FOLDER (one subfolder per sitter) or, without FOLDER, on
    the database's confirmed faces; open-set FNIR at FPIR 1 % and 0.1 %; and the likelihood
    ratios' Cllr and Cllr-min for the best single face and several likenesses (calibrated on
    half of the sitters, measured on the other half).

    \b
    Example:
      gallery evaluate labelled/ --config profile.toml --roc roc.png --tippett tippett.png --json
    """
    from gallery.evaluation.evaluate import evaluate as run_evaluation
    from gallery.evaluation.evaluate import forensic_table, plot_roc, plot_tippett, sitter_disjoint, table

    with domain_errors():
        labelled = _labelled(settings, folder)
        if split == "sitter-disjoint":
            labelled = labelled.subset(sitter_disjoint(labelled.labels, seed=seed))
        result = run_evaluation(labelled)
        if roc_png:
            plot_roc(result, Path(roc_png), f"{settings.profile.name}: {result.sitters} sitters")
        if tippett_png:
            plot_tippett(result, Path(tippett_png), settings.profile.name)
    data = result.to_json()
    if out:
        Path(out).write_text(json.dumps(data, indent=2) + "\n")
    if as_json:
        echo_json(data)
    else:
        click.echo(table(result))
        click.echo(forensic_table(result))
        if result.error_versus_reject:
            click.echo("error versus reject (the fusion, lowest-quality faces dropped first):")
            for row in result.error_versus_reject:
                click.echo(f"  {row['rejected']:>5.0%} dropped  {row['faces']:>6} faces  EER {row['eer']:.2%}  "
                           f"FNMR at 1% FMR {row['fnmr_at_fmr_1e-2']:.2%}")


@click.command()
@settings_options
def calibrate(settings):
    """Estimate, from the database's confirmed faces, the false-match rate of every score of the
    profile's embedding set; search, the page and reports then show it beside each candidate.

    \b
    Example:
      gallery calibrate --config profile.toml
    """
    from db.collection import save_calibration
    from db.engine import open_database

    from gallery.evaluation.calibration import calibrate as run_calibration
    from gallery.evaluation.evaluate import labelled_from_database
    from gallery.faces.pipeline import FacePipeline

    with domain_errors():
        pipeline = FacePipeline(settings)
        database = open_database(settings.database_url)
        key = pipeline.info().key
        calibration = run_calibration(labelled_from_database(database, key, pipeline.layout, settings.quality_floor))
        with database.session() as session:
            save_calibration(session, key, calibration.to_json())
    click.echo(f"calibrated embedding set {key} on {calibration.sitters} sitters, "
               f"{calibration.impostor_pairs:,} impostor and {calibration.genuine_pairs:,} genuine pairs")
    if calibration.search_rates:
        searches = calibration.searches
        click.echo(f"search rates from {searches['non_mated']:,} searches of a sitter left out "
                   f"({searches['gallery_faces']:.0f} faces each) and {searches['mated']:,} searches of a sitter held")
    else:
        click.echo(f"no search rates: {calibration.why_no_search_rates()}")
    if calibration.likelihood is not None:
        from gallery.evaluation.likelihood import LikelihoodCalibration

        click.echo(f"likelihood ratios calibrated on {LikelihoodCalibration.from_json(calibration.likelihood).population()}")
    else:
        click.echo(f"no likelihood ratios: {calibration.why_no_likelihood()}")
    faces = calibration.faces or 0
    for score in (0.2, 0.3, 0.4, 0.5):
        click.echo(f"  score {score:.2f}: {calibration.describe(score)}")
        if calibration.search_rates:
            click.echo(f"              {calibration.describe_search(score, faces)}; "
                       f"{calibration.observed_fnir(score):.0%} of a held sitter's searches miss it")
