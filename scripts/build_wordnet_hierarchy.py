"""Regenerate ``autolabel/data/wordnet_imagenet.json.gz`` from a WordNet 3.0 database.

The shipped file holds, for every noun synset that is an ImageNet class (the union of every
label space in timm's bundled ``ImageNetInfo``: 1k, 12k, 21k/22k variants) or a WordNet
hypernym ancestor of one: its direct hypernyms (``@`` and instance ``@i`` pointers), its
lemmas with each lemma's sense number, and its definition (the gloss without examples). Plus the noun exception list (irregular
plurals such as "mice") restricted to those lemmas. Synsets outside that set can never cover a
model class, so they are left out; that keeps the file small.

Source: the WordNet 3.0 database files (``data.noun``, ``index.noun``, ``noun.exc``, format
described in WordNet's ``wndb(5)``), e.g. from Debian's ``wordnet-base`` package::

    apt-get update && apt-get install wordnet-base        # files in /usr/share/wordnet
    python scripts/build_wordnet_hierarchy.py              # writes the package data file
    python scripts/build_wordnet_hierarchy.py --check      # exit 1 if the shipped file differs

The reader below is a small parser of those documented text files (no nltk needed).
WordNet's licence is in ``autolabel/data/WORDNET_LICENSE``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_WORDNET_DIR = Path("/usr/share/wordnet")
OUTPUT = Path(__file__).resolve().parent.parent / "autolabel" / "data" / "wordnet_imagenet.json.gz"
FORMAT_VERSION = 1
HYPERNYM_POINTERS = ("@", "@i")  # hypernym, instance hypernym


def _offset_to_wnid(offset: str) -> str:
    return "n" + offset


def _definition(gloss: str) -> str:
    """The definition part of a gloss, without its quoted usage examples."""
    return gloss.split('; "')[0].strip().rstrip(";").strip()


def read_data_noun(path: Path) -> dict[str, dict[str, Any]]:
    """Every noun synset of ``data.noun``: wnid -> {words, parents, gloss}.

    Line layout (wndb(5)): ``offset lex_filenum ss_type w_cnt(hex) [word lex_id]... p_cnt
    [pointer_symbol offset pos source/target]... | gloss``.
    """
    synsets: dict[str, dict[str, Any]] = {}
    with path.open("r", encoding="utf-8") as f:
        for line in f:
            if line.startswith("  "):  # licence header
                continue
            body, _, gloss = line.partition(" | ")
            fields = body.split()
            offset, _lexfile, ss_type = fields[0], fields[1], fields[2]
            if ss_type != "n":
                raise ValueError(f"{path}: synset {offset} has type {ss_type!r}, expected 'n'")
            w_cnt = int(fields[3], 16)
            words = [fields[4 + 2 * i] for i in range(w_cnt)]
            pos = 4 + 2 * w_cnt
            p_cnt = int(fields[pos])
            parents = []
            for i in range(p_cnt):
                symbol, target, target_pos = fields[pos + 1 + 4 * i : pos + 4 + 4 * i]
                if symbol in HYPERNYM_POINTERS and target_pos == "n":
                    parents.append(_offset_to_wnid(target))
            synsets[_offset_to_wnid(offset)] = {
                "words": [w.replace("_", " ") for w in words],
                "parents": parents,
                "gloss": _definition(gloss),
            }
    return synsets


def read_index_noun(path: Path) -> dict[str, list[str]]:
    """``index.noun``: lemma (lowercase, spaces) -> its synsets in WordNet's sense order.

    Line layout: ``lemma pos synset_cnt p_cnt [ptr_symbol]... sense_cnt tagsense_cnt
    synset_offset...`` (offsets listed by sense number).
    """
    index: dict[str, list[str]] = {}
    with path.open("r", encoding="utf-8") as f:
        for line in f:
            if line.startswith("  "):
                continue
            fields = line.split()
            lemma, synset_cnt, p_cnt = fields[0], int(fields[2]), int(fields[3])
            offsets = fields[4 + p_cnt + 2 :]
            if len(offsets) != synset_cnt:
                raise ValueError(f"{path}: {lemma!r} lists {len(offsets)} synsets, header says {synset_cnt}")
            index[lemma.replace("_", " ")] = [_offset_to_wnid(o) for o in offsets]
    return index


def read_exceptions(path: Path) -> dict[str, list[str]]:
    """``noun.exc``: inflected form -> base forms (``mice -> [mouse]``)."""
    exc: dict[str, list[str]] = {}
    with path.open("r", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 2:
                exc[fields[0].replace("_", " ")] = [b.replace("_", " ") for b in fields[1:]]
    return exc


def imagenet_synsets() -> list[str]:
    """The union of every ImageNet label space timm ships, sorted."""
    from timm.data.imagenet_info import _SUBSETS, ImageNetInfo

    out: set[str] = set()
    for subset in sorted(set(_SUBSETS)):
        out.update(ImageNetInfo(subset).label_names())
    return sorted(out)


def build(wordnet_dir: Path) -> dict[str, Any]:
    """The data file's content (a JSON-able dict) from the WordNet files in ``wordnet_dir``."""
    data = read_data_noun(wordnet_dir / "data.noun")
    index = read_index_noun(wordnet_dir / "index.noun")
    exceptions = read_exceptions(wordnet_dir / "noun.exc")

    classes = imagenet_synsets()
    missing = [s for s in classes if s not in data]
    keep: set[str] = set()
    stack = [s for s in classes if s in data]
    while stack:
        s = stack.pop()
        if s in keep:
            continue
        keep.add(s)
        stack.extend(data[s]["parents"])
    ids = sorted(keep)

    # sense number of (lemma, synset): 1-based position in index.noun's list for the lemma
    synsets: dict[str, list[Any]] = {}
    for s in ids:
        lemmas = []
        for word in data[s]["words"]:
            senses = index.get(word.lower(), [])
            if s not in senses:
                raise ValueError(f"index.noun lacks {word!r} -> {s}")
            lemmas.append([word, senses.index(s) + 1])
        synsets[s] = [data[s]["parents"], lemmas, data[s]["gloss"]]

    known = {w.lower() for s in ids for w in data[s]["words"]}
    exc = {form: [b for b in bases if b in known] for form, bases in sorted(exceptions.items())}
    exc = {form: bases for form, bases in exc.items() if bases}

    def sha256(name: str) -> str:
        return hashlib.sha256((wordnet_dir / name).read_bytes()).hexdigest()

    return {
        "format": FORMAT_VERSION,
        "source": {
            "name": "WordNet 3.0",
            "license": "WordNet 3.0 license (see WORDNET_LICENSE)",
            "files_sha256": {n: sha256(n) for n in ("data.noun", "index.noun", "noun.exc")},
        },
        "not_in_wordnet": missing,
        "fields": ["parents", "lemmas [word, sense number]", "gloss"],
        "synsets": synsets,
        "noun_exceptions": exc,
    }


def encode(content: dict[str, Any]) -> bytes:
    """Deterministic gzip'd JSON (sorted keys, no timestamp in the gzip header)."""
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--wordnet-dir", type=Path, default=DEFAULT_WORDNET_DIR, help="folder with data.noun, index.noun, noun.exc")
    p.add_argument("-o", "--output", type=Path, default=OUTPUT)
    p.add_argument("--check", action="store_true", help="compare with --output instead of writing it")
    args = p.parse_args(argv)
    for name in ("data.noun", "index.noun", "noun.exc"):
        if not (args.wordnet_dir / name).is_file():
            p.error(f"{args.wordnet_dir / name} not found (apt-get install wordnet-base, or pass --wordnet-dir)")
    content = build(args.wordnet_dir)
    if args.check:
        with gzip.open(args.output, "rt", encoding="utf-8") as f:
            same = json.load(f) == json.loads(json.dumps(content))
        print(f"{args.output}: {'up to date' if same else 'DIFFERS from the regenerated data'}")
        return 0 if same else 1
    blob = encode(content)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_name(args.output.name + ".tmp")
    tmp.write_bytes(blob)
    tmp.replace(args.output)
    print(f"wrote {args.output}: {len(content['synsets'])} synsets, {len(blob) / 1e6:.2f} MB; "
          f"not in WordNet 3.0: {content['not_in_wordnet'] or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
