"""Make TextAttack importable and its word resources available with no network.

`import textattack` needs NLTK's `stopwords` corpus, and on its first import it calls
`nltk.download` six times; offline each call takes about 11 s to fail here. So before the
first import, auditkit provides what it can: from NLTK's server when that is reachable, else
built from local data into auditkit's cache (`<cache>/nltk_data`):

- `stopwords`: scikit-learn's English stop-word list (318 words; NLTK's own list has 179, so
  a few more words are protected from perturbation; logged).
- `wordnet`: Debian's `wordnet-base` files (WordNet 3.0, `/usr/share/wordnet`), copied in,
  plus the `lexnames` table those files leave out (45 fixed lexicographer-file names).

Then it marks TextAttack's one-time post-install step as done, so the import does not spend
a minute retrying downloads. Everything it did is logged and returned.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

NLTK_HOST = ("raw.githubusercontent.com", 443)  # where nltk.download fetches its index
DEBIAN_WORDNET = Path("/usr/share/wordnet")
_WORDNET_FILES = (
    *(f"{kind}.{pos}" for kind in ("data", "index") for pos in ("adj", "adv", "noun", "verb")),
    *(f"{pos}.exc" for pos in ("adj", "adv", "noun", "verb")),
    "index.sense",  # Debian ships it apart, in wordnet-sense-index
    "cntlist.rev",
)

# WordNet 3.0's lexicographer files (lexnames(5WN)): number, name, syntactic category.
_LEXNAMES = [
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
]
_POS_NUMBER = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}

_done: dict[str, str] = {}


def nltk_dir() -> Path:
    from auditkit.training import cache_root

    return cache_root() / "nltk_data"


def network_reachable(host: tuple[str, int] = NLTK_HOST, timeout: float = 3.0) -> bool:
    """One quick TCP probe, so that offline machines skip nltk.download's slow failures."""
    if os.environ.get("HF_HUB_OFFLINE") == "1" and os.environ.get("AUDITKIT_TRY_DOWNLOADS") != "1":
        return False
    try:
        with socket.create_connection(host, timeout=timeout):
            return True
    except OSError:
        return False


def _on_path(folder: Path) -> None:
    import nltk

    if str(folder) not in nltk.data.path:
        nltk.data.path.insert(0, str(folder))


def _have(resource: str) -> bool:
    import nltk

    try:
        nltk.data.find(resource)
        return True
    except LookupError:
        return False


def ensure_stopwords(online: bool) -> str:
    """Provide NLTK's `stopwords` corpus; returns how."""
    folder = nltk_dir()
    _on_path(folder)
    if _have("corpora/stopwords"):
        return "found"
    if online:
        import nltk

        if nltk.download("stopwords", download_dir=str(folder), quiet=True):
            return "downloaded"
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    target = folder / "corpora" / "stopwords"
    target.mkdir(parents=True, exist_ok=True)
    (target / "english").write_text("\n".join(sorted(ENGLISH_STOP_WORDS)) + "\n")
    (target / "README").write_text(
        "Built by auditkit from scikit-learn's English stop-word list (no network).\n"
    )
    return f"built from scikit-learn's list ({len(ENGLISH_STOP_WORDS)} words) in {target}"


def wordnet_source(debian_dir: Path | None = None) -> str | None:
    """Where WordNet data can come from, or None."""
    debian_dir = debian_dir or DEBIAN_WORDNET
    _on_path(nltk_dir())
    if _have("corpora/wordnet") or _have("corpora/wordnet.zip"):
        return "nltk"
    if (debian_dir / "data.noun").is_file() and (debian_dir / "index.noun").is_file():
        return str(debian_dir)
    return None


def ensure_wordnet(online: bool, debian_dir: Path | None = None) -> str | None:
    """Provide NLTK's `wordnet` corpus; returns how, or None when there is no source."""
    debian_dir = debian_dir or DEBIAN_WORDNET
    folder = nltk_dir()
    _on_path(folder)
    if _have("corpora/wordnet") or _have("corpora/wordnet.zip"):
        return "found"
    if online:
        import nltk

        if nltk.download("wordnet", download_dir=str(folder), quiet=True):
            return "downloaded"
    if not (debian_dir / "data.noun").is_file():
        return None
    target = folder / "corpora" / "wordnet"
    target.mkdir(parents=True, exist_ok=True)
    for name in _WORDNET_FILES:  # copied: NLTK refuses symlinks that leave its root
        src = debian_dir / name
        if not (target / name).exists():
            if src.is_file():
                shutil.copyfile(src, target / name)
            else:  # only sense-key lookups need these; synonym swaps do not
                (target / name).touch()
    lexnames = [
        f"{i:02d}\t{name}\t{_POS_NUMBER[name.split('.')[0]]}" for i, name in enumerate(_LEXNAMES)
    ]
    (target / "lexnames").write_text("\n".join(lexnames) + "\n")
    return f"copied from {debian_dir} into {target}"


@contextlib.contextmanager
def no_downloads(online: bool) -> Iterator[None]:
    """Offline, turn `nltk.download` into a no-op while TextAttack builds a recipe.

    TextAttack's WordNet swap calls `nltk.download("omw-1.4")` in its constructor; offline
    that only costs ~11 s and fails. auditkit has already provided the resources it needs.
    """
    if online:
        yield
        return
    import nltk

    original = nltk.download
    nltk.download = lambda *args, **kwargs: False
    try:
        yield
    finally:
        nltk.download = original


def textattack_marker() -> Path:
    """TextAttack's record that its one-time post-install download step ran."""
    root = os.environ.get("TA_CACHE_DIR", os.path.expanduser("~/.cache/textattack"))
    return Path(root) / "post_install_check_3"


def prepare_textattack() -> dict[str, str]:
    """Provide NLTK resources, then import TextAttack; returns what was done (also logged)."""
    if _done:
        return dict(_done)
    online = network_reachable()
    _done["network"] = "reachable" if online else "unreachable: using local data"
    _done["stopwords"] = ensure_stopwords(online)
    _done["wordnet"] = ensure_wordnet(online) or "unavailable (no NLTK data, no wordnet-base)"
    marker = textattack_marker()
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        _done["textattack_post_install"] = f"skipped: resources provided by auditkit ({marker})"
    saved = {k: os.environ.get(k) for k in ("HF_HOME", "XDG_CACHE_HOME", "TFHUB_CACHE_DIR")}
    import textattack  # noqa: F401  (TA_CACHE_DIR would repoint HF_HOME: restored below)

    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    for key, value in _done.items():
        log.info("textattack setup: %s: %s", key, value)
    return dict(_done)
