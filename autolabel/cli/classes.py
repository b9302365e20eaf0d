"""``autolabel classes``: find WordNet synsets and check a class vocabulary against a model.

    autolabel classes search cat --model lite
    autolabel classes show vocab.yaml --model convnext_base.fb_in22k
    autolabel classes show cat,dog,cup --model lite

``--model`` takes a timm classifier name, a preset name (its classifier) or a label space
(``imagenet-1k``, ``imagenet-22k``); only the model's class list is needed, no weights.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Sequence

import click

from autolabel.config import PRESETS
from autolabel.names import display_name

if TYPE_CHECKING:  # pragma: no cover
    from autolabel.vocabulary import CompiledVocabulary, LabelSpace
    from autolabel.vocabulary.resolve import SynsetMatch

DEFAULT_MODEL = PRESETS["default"].classifier
MODEL_HELP = (
    "classifier whose classes are counted: a timm model name, a preset name (its classifier) "
    f"or a label space such as imagenet-1k [default: {DEFAULT_MODEL}]"
)


@click.group("classes")
def classes() -> None:
    """Find WordNet synsets and check a class vocabulary (which model classes each user class
    covers)."""


@classes.command("search")
@click.argument("text")
@click.option("--model", "-m", default=DEFAULT_MODEL, show_default=False, help=MODEL_HELP)
@click.option("--limit", "-n", type=click.IntRange(min=1), default=25, show_default=True, help="at most this many synsets")
@click.option("--covering", is_flag=True, help="only synsets with at least one model class at or below them")
@click.option("--json", "as_json", is_flag=True, help="print a JSON list instead of a table")
def search(text: str, model: str, limit: int, covering: bool, as_json: bool) -> None:
    """List WordNet noun synsets whose id is TEXT or one of whose words contains TEXT.

    Each line: synset id, its sense name (usable in a vocabulary, like the id), depth below
    WordNet's root, how many of the model's classes lie at or below it, its words and
    definition. Exact word matches come first, in WordNet's sense order.
    """
    from autolabel.vocabulary import label_space_for_model
    from autolabel.vocabulary.resolve import search_synsets

    space = label_space_for_model(model)
    found = search_synsets(text, space, covering=covering)
    if as_json:
        click.echo(json.dumps([m.to_dict() for m in found[:limit]], indent=1))
    else:
        _echo_lines(format_search(text, space, found, limit))


@classes.command("show")
@click.argument("vocabulary")
@click.option("--model", "-m", default=DEFAULT_MODEL, show_default=False, help=MODEL_HELP)
@click.option("--list", "list_all", is_flag=True, help="list every model class of each user class")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")
def show(vocabulary: str, model: str, list_all: bool, as_json: bool) -> None:
    """Show how a vocabulary (a YAML file, or a comma-separated class list such as
    cat,dog,cup) maps onto the model's classes: the sense each word resolved to, the other
    senses, and how many model classes each user class covers.

    Exits with status 1 when a class covers no model class or a term cannot be resolved (a
    typo guard for scripts).
    """
    from autolabel.vocabulary import compile_vocabulary, label_space_for_model, parse_vocabulary

    space = label_space_for_model(model)
    compiled = compile_vocabulary(parse_vocabulary(vocabulary), space, strict=False)
    if as_json:
        click.echo(json.dumps(compiled.to_dict(), indent=1))
    else:
        _echo_lines(format_vocabulary(compiled, list_all))
        for p in compiled.problems:
            _echo_lines(f"problem: {p}", err=True)
    if compiled.problems:
        raise click.exceptions.Exit(1)


def _echo_lines(text: str, err: bool = False) -> None:
    """Print report lines with control characters from names escaped (a class name holding
    ``\x1b[31m`` shows as text, never drives the terminal)."""
    click.echo("\n".join(display_name(line) for line in text.split("\n")), err=err)


def format_search(text: str, space: LabelSpace, found: Sequence[SynsetMatch], limit: int) -> str:
    """What ``autolabel classes search`` prints: one line per synset (at most ``limit``)."""
    lines = [f"{len(found)} synset(s) match {text!r}; model classes counted in {space.subset} ({len(space)} classes)"]
    if not found:
        lines.append("nothing found: try a shorter word, a singular form, or `autolabel classes search` with a synonym")
        return "\n".join(lines)
    rows = found[:limit]
    w_sense = max(len(r.sense) for r in rows)
    for r in rows:
        lines.append(f"{r.id}  {r.sense:<{w_sense}}  depth {r.depth:>2}  covers {r.covers:>5}  "
                     f"{', '.join(r.names)}: {r.definition}")
    if len(found) > limit:
        lines.append(f"... {len(found) - limit} more (--limit)")
    return "\n".join(lines)


def format_vocabulary(compiled: CompiledVocabulary, list_all: bool) -> str:
    """What ``autolabel classes show`` prints (the problems go to stderr separately)."""
    v, space = compiled.vocabulary, compiled.space
    lines = [
        f"{v.source}: {len(compiled.classes)} class(es) on {space.subset} "
        f"({len(space)} model classes); unmapped: {v.unmapped}, min_score: {v.min_score}",
        f"run class list: {', '.join(compiled.run_classes)}",
    ]
    width = max(len(c.name) for c in compiled.classes)
    for c in compiled.classes:
        names = [space.names[i] for i in c.indices]
        shown = names if list_all else names[:6]
        more = f", ... {len(names) - len(shown)} more" if len(names) > len(shown) else ""
        lines.append(f"{c.name:<{width}}  covers {len(c.indices):>5}  {', '.join(shown)}{more}")
        lines += [f"{'':<{width}}    {r.describe()}" for r in c.resolutions]
        if c.ceded:
            gone = ", ".join(f"{n} to {k!r}" for k, n in c.ceded.items())
            lines.append(f"{'':<{width}}    model classes below it that went to other classes (more specific or nearer): {gone}")
    lines.append(f"model classes in no user class: {compiled.unmapped_count()}")
    not_covered = [c.name for c in compiled.classes if not c.indices]
    if not_covered:
        lines.append(f"classes covering no model class: {', '.join(not_covered)}")
    return "\n".join(lines)
