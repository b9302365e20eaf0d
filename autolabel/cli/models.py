"""``autolabel models``: the presets and the models they use."""

from __future__ import annotations

import click

from autolabel.config import PRESET_HELP, PRESETS


@click.command()
def models() -> None:
    """List the presets: extractor, classifier and weight source of each."""
    for name, cfg in PRESETS.items():
        click.echo(f"{name}: {PRESET_HELP[name]}")
        click.echo(f"    extractor:  {cfg.extractor} (weights: {cfg.extractor_weights or 'hub'})")
        click.echo(f"    classifier: {cfg.classifier} (weights: {cfg.classifier_weights or 'hub'})")
    click.echo("Any timm model name can be passed with --extractor / --classifier; local weight files with "
               "--extractor-weights / --classifier-weights.")
