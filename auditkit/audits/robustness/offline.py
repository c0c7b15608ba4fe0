"""TextAttack's word resources, from auditkit's own cache, the same on every machine.

TextAttack reads its stop words through NLTK: every recipe's `StopwordModification()` calls
`nltk.corpus.stopwords.words("english")` (TextFooler alone brings its own list), and
`import textattack` already builds one (`textattack/augmentation/recipes.py`). PWWS reads
`nltk.corpus.wordnet`. NLTK finds those on `nltk.data.path`, so left alone the words an attack
protects would depend on what happens to lie in `~/nltk_data` and on whether a download
worked, and one suite with one seed would give different numbers on different machines.

So auditkit keeps its own NLTK data root under its cache, which only it writes, in one of two
variants that never mix:

- `<cache>/nltk_data/built` (the default, no network): `stopwords` written from
  scikit-learn's English stop-word list, `wordnet` copied from Debian's `wordnet-base` files
  (plus the `lexnames` table those leave out). Nothing is downloaded, no socket is opened.
- `<cache>/nltk_data/downloaded` (`audits.robustness.download_resources: true`): NLTK's own
  packages, fetched with `nltk.download` into that folder the first time they are needed.

NLTK's corpus loaders (`nltk.corpus.stopwords`, `nltk.corpus.wordnet`) are bound to that root
before TextAttack is imported, the root is kept first on `nltk.data.path` (NLTK 3.9+ reads
corpus files only under a root listed there), and attacks run with `nltk.data.path` holding
that root alone (`resource_scope`), where `nltk.download` is a no-op (or, with the flag,
writes into that root). TextAttack's own cache (`TA_CACHE_DIR`) is put under auditkit's cache
too, unless the user set it, and its one-time post-install download step is marked done.
TextAttack's console logger is re-routed to auditkit's logger at DEBUG (shown with `-v`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from auditkit.errors import AuditkitError
from auditkit.files import write_atomic

log = logging.getLogger(__name__)

DEBIAN_WORDNET = Path("/usr/share/wordnet")
DOWNLOAD_KEY = "audits.robustness.download_resources"

# NLTK package id -> where it lies under an NLTK data root (the path `nltk.data.find` takes)
NLTK_PACKAGES: dict[str, str] = {
    "stopwords": "corpora/stopwords",
    "wordnet": "corpora/wordnet",
    "averaged_perceptron_tagger_eng": "taggers/averaged_perceptron_tagger_eng",
    "universal_tagset": "taggers/universal_tagset",
}
BUILDABLE = ("stopwords", "wordnet")  # what auditkit can provide with no network
_CONTENT = {"stopwords": "english", "wordnet": "data.noun"}  # a file that must be there

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

# the environment `import textattack` rewrites when TA_CACHE_DIR is set (restored after it)
_TA_ENV = ("TA_CACHE_DIR", "HF_HOME", "XDG_CACHE_HOME", "TFHUB_CACHE_DIR",
           "PYTORCH_TRANSFORMERS_CACHE")  # fmt: skip
TEXTATTACK_LOGGER = "textattack.shared.utils.install"  # every textattack module logs here
FORWARD_LOGGER = "auditkit.textattack"


@dataclass
class Setup:
    """Which NLTK data root the attacks read, where each package in it came from, what was done."""

    download: bool
    root: Path
    sources: dict[str, str] = field(default_factory=dict)  # NLTK package -> its origin
    steps: dict[str, str] = field(default_factory=dict)  # for the log and the `setup` table

    @property
    def mode(self) -> str:
        return "downloaded" if self.download else "built"

    def location(self, package: str) -> Path | None:
        return package_location(self.root, package)


_done: dict[str, Setup] = {}  # NLTK data root -> its setup, once per process
_active: Setup | None = None  # the setup `resource_scope` applies by default


def resource_root(download: bool = False) -> Path:
    """auditkit's NLTK data root: built offline, or downloaded on request (never mixed)."""
    from auditkit.training import cache_root

    return cache_root() / "nltk_data" / ("downloaded" if download else "built")


def package_location(root: Path, package: str) -> Path | None:
    """The content of an NLTK package under `root` (folder or zip), or None when absent."""
    rel = NLTK_PACKAGES[package]
    folder = root / rel
    needed = _CONTENT.get(package)
    if folder.is_dir() and (needed is None or (folder / needed).is_file()):
        return folder / "english" if package == "stopwords" else folder
    zipped = root / f"{rel}.zip"
    return zipped if zipped.is_file() and package != "stopwords" else None


def debian_wordnet_available(debian_dir: Path | None = None) -> bool:
    debian_dir = debian_dir or DEBIAN_WORDNET
    return (debian_dir / "data.noun").is_file() and (debian_dir / "index.noun").is_file()


def ta_cache_dir() -> Path:
    """TextAttack's cache: the one it was imported with, else TA_CACHE_DIR, else auditkit's."""
    installed = sys.modules.get(TEXTATTACK_LOGGER)
    if installed is not None:
        return Path(installed.TEXTATTACK_CACHE_DIR)
    user = os.environ.get("TA_CACHE_DIR")
    if user:
        return Path(user).expanduser()
    from auditkit.training import cache_root

    return cache_root() / "textattack"


def textattack_marker() -> Path:
    """TextAttack's record that its one-time post-install download step ran."""
    return ta_cache_dir() / "post_install_check_3"


def _write_if_changed(path: Path, text: str) -> bool:
    """Atomically (re)write a small file; False when it already held `text`."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    write_atomic(path, text)
    return True


def build_stopwords(root: Path) -> str:
    """Write `stopwords/english` from scikit-learn's list; returns where the words came from."""
    import sklearn
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    target = root / "corpora" / "stopwords"
    words = sorted(ENGLISH_STOP_WORDS)
    source = (
        f"built by auditkit from scikit-learn {sklearn.__version__}'s ENGLISH_STOP_WORDS "
        f"({len(words)} words)"
    )
    if _write_if_changed(target / "english", "\n".join(words) + "\n"):
        log.debug("robustness: wrote %d stop words to %s (%s)", len(words), target, source)
    _write_if_changed(target / "README", f"{source}; no network used.\n")
    return source


def build_wordnet(root: Path, debian_dir: Path | None = None) -> str | None:
    """Copy Debian's WordNet 3.0 files into `root`; returns their origin, or None if absent."""
    debian_dir = debian_dir or DEBIAN_WORDNET
    if not debian_wordnet_available(debian_dir):
        return None
    target = root / "corpora" / "wordnet"
    target.mkdir(parents=True, exist_ok=True)
    copied = 0
    for name in _WORDNET_FILES:  # copied: NLTK refuses symlinks that leave its root
        src, dst = debian_dir / name, target / name
        if src.is_file():
            if not dst.is_file() or dst.stat().st_size != src.stat().st_size:
                write_atomic(dst, src.read_bytes())
                copied += 1
        elif not dst.exists():  # only sense-key lookups need these; synonym swaps do not
            dst.touch()
    lexnames = [
        f"{i:02d}\t{name}\t{_POS_NUMBER[name.split('.')[0]]}" for i, name in enumerate(_LEXNAMES)
    ]
    _write_if_changed(target / "lexnames", "\n".join(lexnames) + "\n")
    if copied:
        log.debug("robustness: copied %d WordNet files from %s to %s", copied, debian_dir, target)
    return f"copied by auditkit from Debian's wordnet-base files in {debian_dir} (WordNet 3.0)"


def download_package(root: Path, package: str) -> str:
    """Fetch one NLTK package into `root` with `nltk.download` (only with the download flag)."""
    import nltk

    log.info("robustness: downloading NLTK's %r into %s (%s: true)", package, root, DOWNLOAD_KEY)
    root.mkdir(parents=True, exist_ok=True)
    why = "nltk.download returned False"
    try:
        ok = nltk.download(package, download_dir=str(root), quiet=True, raise_on_error=True)
    except Exception as exc:  # nltk raises whatever urllib raised, or ValueError
        ok, why = False, f"{type(exc).__name__}: {exc}"
    if not ok or package_location(root, package) is None:
        raise AuditkitError(
            f"robustness: could not download NLTK's {package!r} into {root} ({why})",
            hint=f"check the network, or set {DOWNLOAD_KEY}: false to use the resources auditkit "
            "builds offline (scikit-learn's stop words, Debian's WordNet)",
        )
    return "downloaded by auditkit from NLTK's data server (nltk.download)"


def _provide(setup: Setup, package: str, debian_dir: Path | None) -> str:
    """Make one NLTK package present in the setup's root; returns its origin."""
    if setup.download:
        if setup.location(package) is not None:
            return "downloaded by auditkit from NLTK's data server (nltk.download)"
        return download_package(setup.root, package)
    if package == "stopwords":
        return build_stopwords(setup.root)
    if package == "wordnet":
        source = build_wordnet(setup.root, debian_dir)
        if source is not None:
            return source
        raise AuditkitError(
            "robustness: WordNet is needed but Debian's wordnet-base files are not installed "
            f"({debian_dir or DEBIAN_WORDNET})",
            hint=f"apt-get install wordnet-base wordnet-sense-index, or set {DOWNLOAD_KEY}: true",
        )
    raise AuditkitError(
        f"robustness: NLTK's {package!r} cannot be built without a download",
        hint=f"set {DOWNLOAD_KEY}: true to fetch it from NLTK's server into auditkit's cache",
    )


def under_root(pointer: object, root: Path) -> bool:
    """Whether an NLTK path pointer (or path) lies inside `root` (symlinks resolved)."""
    return os.path.realpath(str(pointer)).startswith(os.path.realpath(root) + os.sep)


def bind_corpus(name: str, root: Path) -> None:
    """Make NLTK's shared corpus loader `nltk.corpus.<name>` read from `root` and nowhere else.

    The loaders are module-level singletons that TextAttack also holds (`from nltk.corpus
    import wordnet`); each binds itself to a root on first use. One bound elsewhere (e.g. to
    `~/nltk_data` by earlier code) is unloaded (NLTK's `_unload`) and loaded again from `root`.
    """
    import nltk
    from nltk.corpus.util import LazyCorpusLoader

    loader = getattr(nltk.corpus, name)
    if not isinstance(loader, LazyCorpusLoader):
        if under_root(loader.root, root):
            return
        log.info("robustness: NLTK's %s was read from %s; re-reading it from %s",
                 name, loader.root, root)  # fmt: skip
        loader._unload()
    saved = list(nltk.data.path)
    nltk.data.path[:] = [str(root)]
    try:
        loader.ensure_loaded()
    finally:
        nltk.data.path[:] = saved
    if not under_root(loader.root, root):  # pragma: no cover - NLTK found it elsewhere
        raise AuditkitError(f"robustness: NLTK's {name} was read from {loader.root}, not {root}")


def _first_on_path(root: Path) -> None:
    """Keep auditkit's root first on `nltk.data.path` (other auditkit roots off it).

    NLTK 3.9+ reads a corpus file only from under a root on `nltk.data.path` at read time
    (`nltk.pathsec`), so the root the corpora are bound to must stay there.
    """
    import nltk

    ours = {str(Path(r)) for r in _done} | {str(root)}
    nltk.data.path[:] = [str(root), *(p for p in nltk.data.path if str(p) not in ours)]


@contextlib.contextmanager
def resource_scope(setup: Setup | None = None) -> Iterator[None]:
    """While attacks run: NLTK looks only in auditkit's root, and downloads only with the flag.

    TextAttack's WordNet swap calls `nltk.download("omw-1.4")` in its constructor, and the POS
    constraint looks up its tagger on `nltk.data.path` at attack time.
    """
    setup = setup or _active
    if setup is None:
        yield
        return
    import nltk

    saved_path, saved_download = list(nltk.data.path), nltk.download

    def download(info_or_id=None, download_dir=None, **kwargs):  # download_dir: ours, always
        if not setup.download:
            log.debug("robustness: skipped nltk.download(%r): %s is false", info_or_id,
                      DOWNLOAD_KEY)  # fmt: skip
            return False
        kwargs.setdefault("quiet", True)
        return saved_download(info_or_id, download_dir=str(setup.root), **kwargs)

    nltk.data.path[:] = [str(setup.root)]
    nltk.download = download
    try:
        yield
    finally:
        nltk.data.path[:] = saved_path
        nltk.download = saved_download


class _ToAuditkit(logging.Handler):
    """TextAttack's records, re-issued through `auditkit.textattack` at DEBUG.

    TextAttack logs "Goal function ... compatible with model ..." once per Attack built, i.e.
    once per concurrent worker; that is detail, not news. Errors keep their level.
    """

    def emit(self, record: logging.LogRecord) -> None:
        target = logging.getLogger(FORWARD_LOGGER)
        level = record.levelno if record.levelno >= logging.ERROR else logging.DEBUG
        if target.isEnabledFor(level):
            target.log(level, "textattack: %s", record.getMessage(), exc_info=record.exc_info)


def route_textattack_logging() -> None:
    """Replace TextAttack's own stderr handler with a forwarder into auditkit's logging."""
    ta = logging.getLogger(TEXTATTACK_LOGGER)
    ta.handlers[:] = [h for h in ta.handlers if isinstance(h, _ToAuditkit)] or [_ToAuditkit()]
    ta.propagate = False


def _import_textattack(setup: Setup) -> None:
    """Import TextAttack once, with its cache under auditkit's and its post-install step done."""
    if "textattack" in sys.modules:
        route_textattack_logging()
        setup.steps.setdefault("textattack_cache", f"{ta_cache_dir()} (imported earlier)")
        return
    for module in ("huggingface_hub", "transformers", "datasets"):
        # imported first: `import textattack` repoints HF_HOME while it runs, and these read
        # it once, at import (textattack imports them anyway)
        with contextlib.suppress(ImportError):
            __import__(module)
    saved = {k: os.environ.get(k) for k in _TA_ENV}
    ta_dir = ta_cache_dir()
    marker = ta_dir / "post_install_check_3"
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        setup.steps["textattack_post_install"] = (
            f"skipped: resources provided by auditkit ({marker})"
        )
    os.environ["TA_CACHE_DIR"] = str(ta_dir)
    try:
        with resource_scope(setup):
            import textattack  # noqa: F401
    finally:
        for key, value in saved.items():  # textattack points HF_HOME etc. at TA_CACHE_DIR
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    route_textattack_logging()
    user = "set by the user" if saved["TA_CACHE_DIR"] else "under auditkit's cache"
    setup.steps["textattack_cache"] = f"{ta_dir} ({user})"


def prepare_textattack(
    download: bool = False,
    needs: Iterable[str] = ("stopwords",),
    debian_dir: Path | None = None,
) -> Setup:
    """Provide the NLTK packages `needs` in auditkit's root, bind NLTK to it, import TextAttack.

    With `download` false (the default) nothing touches the network; with it, missing packages
    are fetched into a separate root. Returns the setup (what was done is also logged).
    """
    global _active
    root = resource_root(download)
    setup = _done.get(str(root))
    fresh = setup is None
    if setup is None:
        setup = Setup(download=download, root=root)
        setup.steps["resources"] = f"{setup.mode}: {root}"
        setup.steps["network"] = (
            f"allowed for missing NLTK packages ({DOWNLOAD_KEY}: true)"
            if download
            else f"not used ({DOWNLOAD_KEY}: false)"
        )
    wanted = ["stopwords", *(p for p in needs if p != "stopwords")]
    added = [p for p in dict.fromkeys(wanted) if p not in setup.sources]
    for package in added:
        if package not in NLTK_PACKAGES:
            raise AuditkitError(f"robustness: unknown NLTK package {package!r}")
        setup.sources[package] = _provide(setup, package, debian_dir)
        setup.steps[package] = f"{setup.sources[package]}: {setup.location(package)}"
    _first_on_path(root)
    bind_corpus("stopwords", root)  # before the import, which reads them already
    _import_textattack(setup)
    if "wordnet" in setup.sources:
        bind_corpus("wordnet", root)
    _done[str(root)] = setup
    _active = setup
    for key in list(setup.steps) if fresh else added:
        log.info("robustness setup: %s: %s", key, setup.steps[key])
    return setup
