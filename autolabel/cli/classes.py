"""``autolabel classes``: find WordNet synsets and check a class vocabulary against a model.

    autolabel classes search cat --model lite
    autolabel classes show vocab.yaml --model convnext_base.fb_in22k
    autolabel classes show cat,dog,cup --model lite

``--model`` takes a timm classifier name, a preset name (its classifier) or a label space
(``imagenet-1k``, ``imagenet-22k``); only the model's class list is needed, no weights.
"""

from __future__ import annotations

import json
from typing import Any

import click

from autolabel.config import PRESETS
from autolabel.names import display_name

DEFAULT_MODEL = PRESETS["default"].classifier
MODEL_HELP = (
    "classifier whose classes are counted: a timm model name, a preset name (its classifier) "
    f"or a label space such as imagenet-1k [default: {DEFAULT_MODEL}]"
)


@click.group("classes")
def classes() -> None:
    """Find WordNet synsets and check a class vocabulary (which model classes each user class
    covers)."""


def _matched_lemma(lemmas: tuple[str, ...], text: str) -> int:
    t = " ".join(text.replace("_", " ").split()).lower()
    for i, w in enumerate(lemmas):
        if w.lower() == t:
            return i
    for i, w in enumerate(lemmas):
        if t in w.lower():
            return i
    return 0


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
    from autolabel.vocabulary import label_space_for_model, space_coverage
    from autolabel.wordnet import get_wordnet

    space = label_space_for_model(model)
    wn = get_wordnet()
    cov = space_coverage(space)
    rows: list[dict[str, Any]] = []
    for wnid in wn.search(text):
        n = len(cov.get(wnid, ()))
        if covering and n == 0:
            continue
        s = wn.synset(wnid)
        rows.append(
            {
                "id": wnid,
                "sense": s.sense_name(_matched_lemma(s.lemmas, text)),
                "depth": wn.depth(wnid),
                "covers": n,
                "names": list(s.lemmas),
                "definition": s.definition,
            }
        )
    total = len(rows)
    rows = rows[:limit]
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    click.echo(f"{total} synset(s) match {text!r}; model classes counted in {space.subset} ({len(space)} classes)")
    if not rows:
        click.echo("nothing found: try a shorter word, a singular form, or `autolabel classes search` with a synonym")
        return
    w_sense = max(len(r["sense"]) for r in rows)
    for r in rows:
        click.echo(
            f"{r['id']}  {r['sense']:<{w_sense}}  depth {r['depth']:>2}  covers {r['covers']:>5}  "
            f"{', '.join(r['names'])}: {r['definition']}"
        )
    if total > limit:
        click.echo(f"... {total - limit} more (--limit)")


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
    v = compiled.vocabulary
    report = {
        "source": v.source,
        "label_space": space.subset,
        "model_classes": len(space),
        "unmapped": v.unmapped,
        "min_score": v.min_score,
        "run_classes": list(compiled.run_classes),
        "classes": [
            {
                "name": c.name,
                "synsets": list(c.synsets),
                "covers": len(c.indices),
                "model_classes": [space.names[i] for i in c.indices],
                "ceded": dict(c.ceded),
                "terms": [
                    {
                        "term": r.term,
                        "synset": r.chosen.synset if r.chosen else None,
                        "sense": r.chosen.sense if r.chosen else None,
                        "other_senses": [
                            {"synset": o.synset, "sense": o.sense, "covers": o.covers} for o in r.others
                        ],
                        "error": r.error,
                        "text": r.describe(),
                    }
                    for r in c.resolutions
                ],
            }
            for c in compiled.classes
        ],
        "not_covered": [c.name for c in compiled.classes if not c.indices],
        "unmapped_model_classes": compiled.unmapped_count(),
        "problems": list(compiled.problems),
    }
    if as_json:
        click.echo(json.dumps(report, indent=1))
    else:
        _print_report(report, list_all)
    if compiled.problems:
        raise click.exceptions.Exit(1)


def _echo(line: str, err: bool = False) -> None:
    """Print a report line with control characters from names escaped (a class name holding
    ``\x1b[31m`` shows as text, never drives the terminal)."""
    click.echo(display_name(line), err=err)


def _print_report(report: dict[str, Any], list_all: bool) -> None:
    _echo(
        f"{report['source']}: {len(report['classes'])} class(es) on {report['label_space']} "
        f"({report['model_classes']} model classes); unmapped: {report['unmapped']}, min_score: {report['min_score']}"
    )
    _echo(f"run class list: {', '.join(report['run_classes'])}")
    width = max(len(c["name"]) for c in report["classes"])
    for c in report["classes"]:
        names = c["model_classes"]
        shown = names if list_all else names[:6]
        more = f", ... {len(names) - len(shown)} more" if len(names) > len(shown) else ""
        _echo(f"{c['name']:<{width}}  covers {c['covers']:>5}  {', '.join(shown)}{more}")
        for t in c["terms"]:
            _echo(f"{'':<{width}}    {t['text']}")
        if c["ceded"]:
            gone = ", ".join(f"{n} to {k!r}" for k, n in c["ceded"].items())
            _echo(f"{'':<{width}}    model classes below it that went to other classes (more specific or nearer): {gone}")
    _echo(f"model classes in no user class: {report['unmapped_model_classes']}")
    if report["not_covered"]:
        _echo(f"classes covering no model class: {', '.join(report['not_covered'])}")
    for p in report["problems"]:
        _echo(f"problem: {p}", err=True)
