"""Robustness resources: the same stop words and WordNet whatever the network or the machine.

Each test starts from a fresh process's NLTK state (`fresh`): no NLTK data anywhere, corpus
loaders unbound, auditkit's one-time setup not done, and a cache of its own (a new machine).
"""

from __future__ import annotations

import hashlib
import socket
from typing import ClassVar

import pytest

from auditkit.audits.robustness import RobustnessConfig, offline
from auditkit.audits.robustness.recipes import RECIPES
from tests.resources import debian_wordnet


def _unload_corpora() -> None:
    import nltk
    from nltk.corpus.util import LazyCorpusLoader

    for name in ("stopwords", "wordnet"):
        loader = getattr(nltk.corpus, name)
        if not isinstance(loader, LazyCorpusLoader):
            loader._unload()


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A fresh process on a machine with no NLTK data; returns a maker of machine caches."""
    import nltk

    monkeypatch.setattr(offline, "_done", {})
    monkeypatch.setattr(offline, "_active", None, raising=False)
    monkeypatch.setattr(nltk.data, "path", [])
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # a user's shell: no offline hint
    _unload_corpora()

    def machine(name: str):
        monkeypatch.setattr(offline, "_done", {})
        monkeypatch.setattr(offline, "_active", None, raising=False)
        monkeypatch.setattr(nltk.data, "path", [])
        _unload_corpora()
        monkeypatch.setenv("AUDITKIT_CACHE_DIR", str(tmp_path / name))
        return tmp_path / name

    yield machine
    _unload_corpora()  # the next test binds them again


@pytest.fixture
def sockets(monkeypatch):
    """Record every network connection tried; `answer` says whether a host would reply."""

    class Net:
        tried: ClassVar[list] = []
        answer = False

    def attempt(where):
        Net.tried.append(where)
        if not Net.answer:
            raise OSError("network blocked by the test")

    real_connect = socket.socket.connect

    def connect(self, address, *args):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempt(address)
            return None
        return real_connect(self, address, *args)

    class _Conn:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def close(self):
            pass

    def create_connection(address, *args, **kwargs):
        attempt(address)
        return _Conn()

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    return Net


@pytest.fixture
def nltk_server(monkeypatch, sockets):
    """`nltk.download` as if NLTK's server answered when `sockets.answer`: it writes a list."""
    import nltk

    calls = []

    def download(info_or_id=None, download_dir=None, **kwargs):
        calls.append((info_or_id, download_dir))
        if not sockets.answer:
            return False
        target = offline.Path(download_dir) / "corpora" / "stopwords"
        target.mkdir(parents=True, exist_ok=True)
        (target / "english").write_text("i\nme\nmy\nthe\na\n")  # stands in for NLTK's list
        return True

    monkeypatch.setattr(nltk, "download", download)
    return calls


class _Wrapper:  # enough of a TextAttack model wrapper to build a recipe (no query is made)
    def __init__(self):
        from transformers import BertConfig, BertForSequenceClassification

        config = BertConfig(vocab_size=8, hidden_size=4, num_hidden_layers=1,
                            num_attention_heads=1, intermediate_size=4)  # fmt: skip
        self.model = BertForSequenceClassification(config)

    def __call__(self, texts):  # pragma: no cover
        raise AssertionError("no query expected")


def deepwordbug_stopwords(keep: list | None = None) -> set[str]:
    """The stop words TextAttack's DeepWordBug recipe really holds once built."""
    from textattack.constraints.pre_transformation import StopwordModification

    attack = RECIPES["deepwordbug"].build(_Wrapper())
    if keep is not None:
        keep.append(attack)
    (stop,) = [
        c for c in attack.pre_transformation_constraints if isinstance(c, StopwordModification)
    ]
    return set(stop.stopwords)


def _sha(words: set[str]) -> str:
    return hashlib.sha256(("\n".join(sorted(words)) + "\n").encode()).hexdigest()


def test_stop_words_do_not_depend_on_whether_a_host_answers(fresh, sockets, nltk_server):
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    seen, runs = {}, {}
    for answers in (True, False):  # two machines: one online, one air-gapped
        fresh("online" if answers else "offline")
        sockets.answer = answers
        setup = offline.prepare_textattack()
        attacks: list = []
        seen[answers] = deepwordbug_stopwords(attacks)
        runs[answers] = (setup, attacks[0])
    assert seen[True] == seen[False] == set(ENGLISH_STOP_WORDS)
    assert _sha(seen[True]) == _sha(seen[False])
    assert sockets.tried == [] and nltk_server == []  # no probe, no download
    # and the two machines' manifests say so: same resource, same origin, same hash
    from auditkit.audits.robustness.provenance import resources_used

    (online,), (airgapped,) = (
        resources_used(RECIPES["deepwordbug"], a, s) for s, a in runs.values()
    )
    assert online.model_dump(exclude={"location"}) == airgapped.model_dump(exclude={"location"})
    assert online.sha256 == _sha(set(ENGLISH_STOP_WORDS)) and online.location != airgapped.location


@pytest.mark.parametrize("loaded_first", [False, True])
def test_nltk_data_elsewhere_on_the_machine_is_not_used(fresh, tmp_path, loaded_first):
    """A user's ~/nltk_data (here: five words) must not change what the attacks protect."""
    import nltk
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    fresh("machine")
    home = tmp_path / "home_nltk_data"
    (home / "corpora" / "stopwords").mkdir(parents=True)
    (home / "corpora" / "stopwords" / "english").write_text("profit\nrose\nfell\nsales\nthe\n")
    nltk.data.path[:] = [str(home)]
    if loaded_first:  # the user's own code read them before auditkit ran
        assert "profit" in nltk.corpus.stopwords.words("english")
    offline.prepare_textattack()
    assert deepwordbug_stopwords() == set(ENGLISH_STOP_WORDS)


def test_download_flag_fetches_into_its_own_folder_and_the_manifest_says_so(
    fresh, sockets, nltk_server
):
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    from auditkit.audits.robustness.provenance import resources_used

    cache = fresh("machine")
    sockets.answer = True
    setup = offline.prepare_textattack(download=True)
    assert setup.root == cache / "nltk_data" / "downloaded"
    assert nltk_server == [("stopwords", str(setup.root))]  # into auditkit's folder only
    assert deepwordbug_stopwords() == {"i", "me", "my", "the", "a"}
    (use,) = resources_used(RECIPES["deepwordbug"], None, setup)
    assert use.name == "nltk_data/corpora/stopwords/english" and use.used_by == ["deepwordbug"]
    assert "NLTK's data server" in use.source and use.location.startswith(str(setup.root))
    assert use.sha256 == hashlib.sha256(b"i\nme\nmy\nthe\na\n").hexdigest()
    assert not (cache / "nltk_data" / "built").exists()  # the two variants never mix

    fresh("machine")  # the same machine, a later process: found, not downloaded again
    offline.prepare_textattack(download=True)
    assert len(nltk_server) == 1

    fresh("machine")  # and without the flag, the built list, from its own folder
    built = offline.prepare_textattack()
    assert built.root == cache / "nltk_data" / "built"
    assert deepwordbug_stopwords() == set(ENGLISH_STOP_WORDS)
    (use,) = resources_used(RECIPES["deepwordbug"], None, built)
    assert "scikit-learn" in use.source and use.sha256 == _sha(set(ENGLISH_STOP_WORDS))


def test_a_failed_download_is_a_clear_error_not_a_silent_fallback(fresh, sockets, nltk_server):
    from auditkit.errors import AuditkitError

    cache = fresh("machine")
    sockets.answer = False
    with pytest.raises(AuditkitError, match="could not download NLTK's 'stopwords'") as err:
        offline.prepare_textattack(download=True)
    assert "download_resources: false" in err.value.hint
    assert not (cache / "nltk_data" / "built").exists()


def test_download_resources_is_a_suite_key_and_off_by_default(monkeypatch, tmp_path, toy_suite):
    from auditkit.errors import SuiteError
    from auditkit.suite import load_suite

    assert RobustnessConfig().download_resources is False
    on = load_suite(toy_suite(audits="  robustness:\n    download_resources: true\n"))
    assert on.audit_configs()["robustness"].download_resources is True
    with pytest.raises(SuiteError, match="Did you mean: 'download_resources'"):
        load_suite(toy_suite(audits="  robustness:\n    download_resource: true\n"))
    monkeypatch.setattr(offline, "DEBIAN_WORDNET", tmp_path / "none")
    monkeypatch.setenv("AUDITKIT_CACHE_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="download_resources: true"):
        RobustnessConfig(recipes=["pwws"])
    assert RobustnessConfig(recipes=["pwws"], download_resources=True).recipes == ["pwws"]


def test_pwws_reads_wordnet_from_auditkits_copy(fresh, sockets):
    """PWWS's synonym swaps read the WordNet auditkit copied, and the manifest hashes it."""
    debian = debian_wordnet()  # skips naming wordnet-base when absent (fails when CI is set)
    from auditkit.audits.robustness.provenance import content_sha256, resources_used

    fresh("machine")
    sockets.answer = True  # a host would answer: still no connection is tried
    setup = offline.prepare_textattack(needs=["wordnet"], debian_dir=debian)
    attack = RECIPES["pwws"].build(_Wrapper())  # TextAttack calls nltk.download("omw-1.4")
    assert sockets.tried == []
    from textattack.transformations.word_swaps import word_swap_wordnet

    assert str(word_swap_wordnet.wordnet.root).startswith(str(setup.root))
    assert "gain" in {x for s in word_swap_wordnet.wordnet.synsets("profit")
                      for x in s.lemma_names()}  # fmt: skip
    uses = {u.name: u for u in resources_used(RECIPES["pwws"], attack, setup)}
    wn = uses["nltk_data/corpora/wordnet"]
    assert "Debian" in wn.source and wn.sha256 == content_sha256(setup.location("wordnet"))
    assert "nltk_data/corpora/stopwords/english" in uses


def test_a_robustness_run_without_the_flag_opens_no_connection(fresh, sockets, toy_suite, tmp_path):
    """The audit end to end, in a shell with no offline hint, while any host would answer."""
    import json

    from auditkit.runner import run_suite
    from auditkit.suite import load_suite

    cache = fresh("machine")
    sockets.answer = True
    audits = """  robustness:
    recipes: [deepwordbug, pruthi2019]
    sample_size: 6
    bootstrap: 0
    invariance: {enabled: false}
"""
    results, run_dir = run_suite(load_suite(toy_suite(audits=audits)), out_dir=tmp_path / "r")
    assert results.audits["robustness"].status == "ok", results.audits["robustness"].error
    assert sockets.tried == []
    saved = json.loads((run_dir / "results.json").read_text())["manifest"]["resources"]
    (stop,) = saved
    words = cache / "nltk_data" / "built" / "corpora" / "stopwords" / "english"
    assert stop["name"] == "nltk_data/corpora/stopwords/english"
    assert stop["location"] == str(words) and "scikit-learn" in stop["source"]
    assert stop["sha256"] == hashlib.sha256(words.read_bytes()).hexdigest()
    assert stop["used_by"] == ["deepwordbug", "pruthi2019"]
