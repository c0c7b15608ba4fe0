"""Attack recipes auditkit supports, and the resources each one needs before it can run.

A recipe is checked before any work starts (`check_recipes`), so a suite that names one whose
resources are missing fails at once, naming what is missing and which recipes would run.
Recipes are TextAttack's own `AttackRecipe` classes; auditkit only routes their model queries.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

from auditkit.errors import AuditkitError


@dataclass(frozen=True)
class Resource:
    name: str
    how_to_get: str
    available: Callable[[], bool]


def _stopwords() -> bool:
    return True  # auditkit builds it offline (see offline.py)


def _wordnet() -> bool:
    from auditkit.audits.robustness.offline import wordnet_source

    return wordnet_source() is not None


def _ta_cache(path: str) -> Callable[[], bool]:
    def check() -> bool:
        from auditkit.audits.robustness.offline import textattack_marker

        return (textattack_marker().parent / path).exists()

    return check


def _modules(*names: str) -> Callable[[], bool]:
    return lambda: all(importlib.util.find_spec(n) is not None for n in names)


def _hf_cached(repo: str) -> Callable[[], bool]:
    def check() -> bool:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(repo, "config.json"), str)

    return check


def _nltk(resource: str) -> Callable[[], bool]:
    def check() -> bool:
        import nltk

        from auditkit.audits.robustness.offline import nltk_dir

        if str(nltk_dir()) not in nltk.data.path:
            nltk.data.path.insert(0, str(nltk_dir()))
        try:
            nltk.data.find(resource)
            return True
        except LookupError:
            return False

    return check


STOPWORDS = Resource("NLTK stopwords", "built by auditkit from scikit-learn's list", _stopwords)
WORDNET = Resource(
    "WordNet",
    "`python -m nltk.downloader wordnet` with network, or `apt-get install wordnet-base "
    "wordnet-sense-index` (Debian)",
    _wordnet,
)
COUNTER_FITTED = Resource(
    "counter-fitted word embeddings (paragramcf)",
    "let TextAttack download them once with network (~/.cache/textattack/word_embeddings)",
    _ta_cache("word_embeddings/paragramcf"),
)
USE = Resource(
    "Universal Sentence Encoder (TF Hub)",
    "`pip install tensorflow tensorflow_hub` and fetch the model once with network",
    _modules("tensorflow", "tensorflow_hub"),
)
BERT_MLM = Resource(
    "masked LM bert-base-uncased",
    "download `bert-base-uncased` into the Hugging Face cache once with network",
    _hf_cached("bert-base-uncased"),
)
POS_TAGGER = Resource(
    "NLTK POS tagger (averaged_perceptron_tagger, universal_tagset)",
    "`python -m nltk.downloader averaged_perceptron_tagger universal_tagset` with network",
    _nltk("taggers/averaged_perceptron_tagger"),
)


@dataclass(frozen=True)
class Recipe:
    name: str
    target: str  # "module:Class" of the TextAttack recipe
    level: str  # "char" or "word"
    needs: tuple[Resource, ...]
    description: str

    def missing(self) -> list[Resource]:
        return [r for r in self.needs if not r.available()]

    def build(self, model_wrapper) -> object:
        module, _, cls = self.target.partition(":")
        return getattr(importlib.import_module(module), cls).build(model_wrapper)


_TA = "textattack.attack_recipes"
RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            "deepwordbug",
            f"{_TA}:DeepWordBugGao2018",
            "char",
            (STOPWORDS,),
            "character edits on the most important words (Gao et al. 2018)",
        ),
        Recipe(
            "pruthi2019",
            f"{_TA}:Pruthi2019",
            "char",
            (STOPWORDS,),
            "one keyboard typo, greedy over all candidates (Pruthi et al. 2019)",
        ),
        Recipe(
            "pwws",
            f"{_TA}:PWWSRen2019",
            "word",
            (STOPWORDS, WORDNET),
            "WordNet synonym swaps ranked by saliency (Ren et al. 2019)",
        ),
        Recipe(
            "textfooler",
            f"{_TA}:TextFoolerJin2019",
            "word",
            (STOPWORDS, COUNTER_FITTED, POS_TAGGER, USE),
            "embedding-neighbour swaps with POS and USE checks (Jin et al. 2019)",
        ),
        Recipe(
            "bae",
            f"{_TA}:BAEGarg2019",
            "word",
            (STOPWORDS, BERT_MLM, POS_TAGGER, USE),
            "BERT masked-LM replacements (Garg & Ramakrishnan 2019)",
        ),
        Recipe(
            "bert_attack",
            f"{_TA}:BERTAttackLi2020",
            "word",
            (STOPWORDS, BERT_MLM, USE),
            "BERT masked-LM substitutions (Li et al. 2020)",
        ),
        Recipe(
            "textbugger",
            f"{_TA}:TextBuggerLi2018",
            "char",
            (STOPWORDS, USE),
            "character and embedding bugs with a USE check (Li et al. 2018)",
        ),
    )
}


def runnable_recipes() -> list[str]:
    return [name for name, recipe in RECIPES.items() if not recipe.missing()]


def check_recipes(names: list[str], where: str = "audits.robustness.recipes") -> list[Recipe]:
    """Resolve recipe names; unknown or unrunnable ones are one clear error, before any work."""
    from auditkit.registry import did_you_mean

    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        raise AuditkitError(
            f"{where}: unknown attack recipe {unknown[0]!r}."
            + did_you_mean(unknown[0], list(RECIPES)),
            hint=f"supported recipes: {', '.join(RECIPES)}",
        )
    problems = []
    for name in names:
        missing = RECIPES[name].missing()
        if missing:
            needs = "; ".join(f"{r.name} (get it: {r.how_to_get})" for r in missing)
            problems.append(f"{name!r} needs {needs}")
    if problems:
        ok = runnable_recipes()
        raise AuditkitError(
            f"{where}: cannot run " + " | ".join(problems),
            hint=f"recipes that would run here: {', '.join(ok) or 'none'}; "
            "remove the others from the suite or provide their resources",
        )
    return [RECIPES[n] for n in names]
