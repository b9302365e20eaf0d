"""Class names: classifier index -> WordNet synset -> readable name, and the run's class list.

The classifier outputs probabilities over a *label space* (ImageNet-22k: 21,841 synsets;
ImageNet-1k: 1,000). A :class:`Labeler` turns one probability row per box into the box's
``label``, ``label_id``, ``score`` and ``topk``, or ``None`` to drop the box.

Without a vocabulary the labels are the classifier's own. With one (a YAML file or a
``cat,dog`` list, see :func:`parse_vocabulary`) every box is named with one of the user's
classes through WordNet's hierarchy (:mod:`autolabel.vocabulary.wordnet`):

* each user class is a set of synsets, each meaning "this synset and every hyponym below it";
  words resolve to the first of their WordNet noun senses that has a model class below it;
* a box's probability of a user class is the *sum* of the classifier's probabilities over the
  model classes below that class's synsets ("tabby" + "tiger cat" + "Egyptian cat" -> "cat"),
  out of all the classifier's classes (never renormalised over the user's classes); the sum
  picks the box's class, and the box's score is that sum capped at the classifier's own top-1
  probability (:func:`~autolabel.vocabulary.labeler.capped_score`), so a class list never scores
  a box above what it scored without one: a flat row (a crop of sky spread over a hundred dog
  breeds) is not lifted over a real object;
* a model class below synsets of two user classes belongs to the more specific one ("beagle"
  goes to "dog", not to "animal", since dog is a hyponym of animal); where neither synset is
  below the other (WordNet is a DAG: a greyhound is a "dog" and a "racer") the nearer synset
  (fewest hypernym edges) wins, then the class listed first, with a warning; one synset listed
  under two classes is an error;
* the box takes its best user class when that class's summed probability is at least the
  vocabulary's ``min_score`` and the classifier points at the user's classes: one of its top-k
  classes (the alternatives stored with the box) belongs to a user class, or the class's sum
  is at least the probability of every single classifier class outside the user's classes
  (each of those is a competing answer: a photo of a horse is "sorrel", not a 0.5 % "dog");
  otherwise it is *unmapped* and the ``unmapped`` policy applies:
  ``drop`` it, ``keep`` that best classifier class outside the user's classes (with its own
  probability), or name it ``other`` (score: the summed probability of every classifier class
  outside the user's classes, i.e. that it is none of them).

Names and synsets come from timm's bundled :class:`timm.data.ImageNetInfo`; nothing is
downloaded.

Modules: :mod:`~autolabel.vocabulary.space` (the classifier's label space),
:mod:`~autolabel.vocabulary.wordnet` (the WordNet noun hierarchy),
:mod:`~autolabel.vocabulary.spec` (vocabulary files and ``--classes`` lists),
:mod:`~autolabel.vocabulary.resolve` (a term -> a WordNet sense),
:mod:`~autolabel.vocabulary.compile` (user classes -> model classes) and
:mod:`~autolabel.vocabulary.labeler` (probabilities -> a box's label).
"""

from autolabel.vocabulary.compile import ClassMapping, CompiledVocabulary, compile_vocabulary
from autolabel.vocabulary.labeler import Labeler, LabelResult, VocabularyLabeler, build_labeler
from autolabel.vocabulary.resolve import Resolution, Sense, resolve_term
from autolabel.vocabulary.space import LabelSpace, get_label_space, label_space_for_model, space_coverage
from autolabel.vocabulary.spec import (
    UNMAPPED_POLICIES,
    ClassSpec,
    Vocabulary,
    load_vocabulary,
    parse_vocabulary,
    vocabulary_from_dict,
    vocabulary_from_names,
)

__all__ = [
    "UNMAPPED_POLICIES",
    "ClassMapping",
    "ClassSpec",
    "CompiledVocabulary",
    "LabelResult",
    "LabelSpace",
    "Labeler",
    "Resolution",
    "Sense",
    "Vocabulary",
    "VocabularyLabeler",
    "build_labeler",
    "compile_vocabulary",
    "get_label_space",
    "label_space_for_model",
    "load_vocabulary",
    "parse_vocabulary",
    "resolve_term",
    "space_coverage",
    "vocabulary_from_dict",
    "vocabulary_from_names",
]
