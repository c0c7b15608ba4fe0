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
from pathlib import Path

from auditkit.errors import AuditkitError


@dataclass(frozen=True)
class Resource:
    """Something a recipe reads besides the model, and whether it can be had here.

    `available(download)` answers for a run without (False) or with (True) the suite's
    `download_resources` flag. `nltk` names the NLTK packages auditkit provides for it in its
    own data root; `locate` says, for the others, where they come from and which files hold
    them (hashed into the results' manifest).
    """

    name: str
    how_to_get: str
    available: Callable[[bool], bool]
    nltk: tuple[str, ...] = ()
    locate: Callable[[], tuple[str, Path | None]] | None = None


def _wordnet(download: bool) -> bool:
    from auditkit.audits.robustness import offline

    if download:
        return True
    return offline.debian_wordnet_available() or (
        offline.package_location(offline.resource_root(False), "wordnet") is not None
    )


def _ta_cache(path: str) -> Callable[[bool], bool]:
    def check(download: bool) -> bool:  # TextAttack fetches it itself, from its S3 bucket
        return download or _ta_path(path).exists()

    return check


def _ta_path(path: str) -> Path:
    from auditkit.audits.robustness.offline import ta_cache_dir

    return ta_cache_dir() / path


def _modules(*names: str) -> Callable[[bool], bool]:
    return lambda download: all(importlib.util.find_spec(n) is not None for n in names)


def _hf_snapshot(repo: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, "config.json")
    return Path(found).parent if isinstance(found, str) else None


def _hf_cached(repo: str) -> Callable[[bool], bool]:
    return lambda download: download or _hf_snapshot(repo) is not None


STOPWORDS = Resource(
    "NLTK stopwords",
    "built by auditkit from scikit-learn's list (or NLTK's, with download_resources: true)",
    lambda download: True,
    nltk=("stopwords",),
)
WORDNET = Resource(
    "WordNet",
    "`apt-get install wordnet-base wordnet-sense-index` (Debian; auditkit copies the files "
    "into its cache), or set download_resources: true to fetch NLTK's copy",
    _wordnet,
    nltk=("wordnet",),
)
COUNTER_FITTED = Resource(
    "counter-fitted word embeddings (paragramcf)",
    "set download_resources: true once (TextAttack fetches them into TA_CACHE_DIR, by default "
    "under auditkit's cache: <cache>/textattack/word_embeddings)",
    _ta_cache("word_embeddings/paragramcf"),
    locate=lambda: ("TextAttack's S3 bucket", _ta_path("word_embeddings/paragramcf")),
)
USE = Resource(
    "Universal Sentence Encoder (TF Hub)",
    "`pip install tensorflow tensorflow_hub` and fetch the model once with network",
    _modules("tensorflow", "tensorflow_hub"),
    locate=lambda: ("TF Hub (tensorflow_hub's cache)", None),
)
BERT_MLM = Resource(
    "masked LM bert-base-uncased",
    "download `bert-base-uncased` into the Hugging Face cache once with network",
    _hf_cached("bert-base-uncased"),
    locate=lambda: ("Hugging Face Hub bert-base-uncased", _hf_snapshot("bert-base-uncased")),
)
POS_TAGGER = Resource(
    "NLTK POS tagger (averaged_perceptron_tagger_eng, universal_tagset)",
    "set download_resources: true (auditkit fetches it from NLTK's server into its cache)",
    lambda download: download,
    nltk=("averaged_perceptron_tagger_eng", "universal_tagset"),
)


@dataclass(frozen=True)
class Recipe:
    name: str
    target: str  # "module:Class" of the TextAttack recipe
    level: str  # "char" or "word"
    needs: tuple[Resource, ...]
    description: str

    def missing(self, download: bool = False) -> list[Resource]:
        return [r for r in self.needs if not r.available(download)]

    @property
    def nltk_packages(self) -> tuple[str, ...]:
        return tuple(p for r in self.needs for p in r.nltk)

    def build(self, model_wrapper) -> object:
        """TextAttack's recipe, built where NLTK sees only auditkit's resources."""
        from auditkit.audits.robustness.offline import resource_scope

        module, _, cls = self.target.partition(":")
        with resource_scope():
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
            (COUNTER_FITTED, POS_TAGGER, USE),  # its stop words are built into the recipe
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


def runnable_recipes(download: bool = False) -> list[str]:
    return [name for name, recipe in RECIPES.items() if not recipe.missing(download)]


def check_recipes(
    names: list[str], where: str = "audits.robustness.recipes", *, download: bool = False
) -> list[Recipe]:
    """Resolve recipe names; unknown or unrunnable ones are one clear error, before any work."""
    from auditkit.api.registry import did_you_mean

    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        raise AuditkitError(
            f"{where}: unknown attack recipe {unknown[0]!r}."
            + did_you_mean(unknown[0], list(RECIPES)),
            hint=f"supported recipes: {', '.join(RECIPES)}",
        )
    problems = []
    fixed_by_download = True
    for name in names:
        missing = RECIPES[name].missing(download)
        if missing:
            needs = "; ".join(f"{r.name} (get it: {r.how_to_get})" for r in missing)
            problems.append(f"{name!r} needs {needs}")
            fixed_by_download &= all(r.available(True) for r in missing)
    if problems:
        ok = runnable_recipes(download)
        flag = (
            "; or set audits.robustness.download_resources: true to let auditkit download them"
            if fixed_by_download and not download
            else ""
        )
        raise AuditkitError(
            f"{where}: cannot run " + " | ".join(problems),
            hint=f"recipes that would run here: {', '.join(ok) or 'none'}; "
            f"remove the others from the suite or provide their resources{flag}",
        )
    return [RECIPES[n] for n in names]
