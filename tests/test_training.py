"""Fine-tuning learns a separable task, the cache is hit on the second run, grouping pads less."""

from __future__ import annotations

import numpy as np
import pytest

from auditkit.data import load_data
from auditkit.models import load_handle, resolve_model
from auditkit.suite import load_suite
from auditkit.training import (
    augmented_bundle,
    cache_key,
    fine_tune,
    fine_tune_augmented,
    padded_tokens,
)


def setup(suite_path):
    suite = load_suite(suite_path)
    bundle = load_data(suite)
    handle = load_handle(
        resolve_model(suite.model.id), bundle.label_names, device="cpu", max_length=32
    )
    return suite, bundle, handle


def test_fine_tune_beats_chance_then_hits_the_cache(toy_suite, tmp_path):
    suite, bundle, handle = setup(toy_suite())
    test_texts, y = bundle.test["text"], np.asarray(bundle.test["label"])
    before = (handle.predict(test_texts) == y).mean()
    outcome = fine_tune(handle, bundle, suite.training, seed=0, cache_dir=tmp_path, progress=False)
    after = (outcome.handle.predict(test_texts) == y).mean()
    assert after >= 0.85, f"accuracy {after:.3f} after fine-tuning (chance is 0.33)"
    assert after > before + 0.3
    summary = outcome.summary
    assert not summary.cache_hit and summary.steps > 0 and summary.train_time_s > 0
    assert len(summary.eval_curve.rows) == 6  # one eval pass per epoch
    assert summary.loss_curve.rows[-1][2] < summary.loss_curve.rows[0][2]  # loss went down
    assert summary.best_metric == "macro_f1" and summary.best_epoch is not None
    assert summary.padded_tokens_per_epoch <= summary.padded_tokens_per_epoch_random

    # second run: same inputs -> cache hit, identical predictions, no training
    _, bundle2, handle2 = setup(toy_suite())
    again = fine_tune(handle2, bundle2, suite.training, seed=0, cache_dir=tmp_path, progress=False)
    assert again.summary.cache_hit and again.summary.cache_key == summary.cache_key
    np.testing.assert_allclose(
        again.handle.predict_proba(test_texts), outcome.handle.predict_proba(test_texts), atol=1e-5
    )
    # --retrain ignores the cache
    _, bundle3, handle3 = setup(toy_suite())
    forced = fine_tune(
        handle3, bundle3, suite.training, seed=0, cache_dir=tmp_path, retrain=True, progress=False
    )
    assert not forced.summary.cache_hit


def test_cache_key_depends_on_seed_config_and_data(toy_suite):
    suite, bundle, _ = setup(toy_suite())
    key = cache_key("m", bundle, suite.training, seed=0, max_length=32)
    assert key == cache_key("m", bundle, suite.training, seed=0, max_length=32)
    assert key != cache_key("m", bundle, suite.training, seed=1, max_length=32)
    assert key != cache_key("other", bundle, suite.training, seed=0, max_length=32)
    assert key != cache_key("m", bundle, suite.training, seed=0, max_length=32, pooling="mean")
    changed = suite.training.model_copy(update={"learning_rate": 1e-5})
    assert key != cache_key("m", bundle, changed, seed=0, max_length=32)


def test_cache_key_separates_data_parallel_fine_tunes(toy_suite, monkeypatch, tmp_path):
    """Two ranks train with twice the effective batch: a different model, a different key."""
    suite, bundle, _ = setup(toy_suite())
    one = cache_key("m", bundle, suite.training, seed=0, max_length=32)
    assert one == cache_key("m", bundle, suite.training, seed=0, max_length=32, processes=1)
    two = cache_key("m", bundle, suite.training, seed=0, max_length=32, processes=2)
    assert two != one
    assert two != cache_key("m", bundle, suite.training, seed=0, max_length=32, processes=4)
    # fine_tune reads the launch's world size into the key
    from auditkit import launch, training

    monkeypatch.setenv("WORLD_SIZE", "2")
    assert launch.world_size() == 2
    spec = suite.training
    assert training.effective_batch_size(spec, 2) == 2 * spec.batch_size


def test_length_grouping_halves_padding_on_skewed_lengths():
    rng = np.random.default_rng(0)
    lengths = np.clip(rng.lognormal(3.3, 0.45, 4000), 8, 150).astype(int).tolist()
    grouped, shuffled = padded_tokens(lengths, 32, seed=0)
    assert shuffled / grouped > 1.5
    assert grouped >= sum(lengths)


def test_early_stopping_stops_when_validation_stops_improving(toy_suite, tmp_path):
    suite, bundle, handle = setup(toy_suite("  early_stopping_patience: 2"))
    suite = suite.model_copy(update={"training": suite.training.model_copy(update={"epochs": 40})})
    outcome = fine_tune(handle, bundle, suite.training, seed=0, cache_dir=tmp_path, progress=False)
    rows = outcome.summary.eval_curve.rows
    assert 3 <= len(rows) < 40
    f1 = [row[3] for row in rows]
    best = f1.index(max(f1))  # ties are not gains, so the first maximum is the best
    assert len(rows) - 1 - best == 2  # stopped after exactly `patience` epochs without a gain
    assert outcome.summary.best_epoch == rows[best][0]


def test_early_stopping_without_validation_is_a_clear_error(toy_suite, tmp_path):
    from auditkit.errors import AuditkitError

    path = toy_suite("  early_stopping_patience: 2")
    path.write_text(
        path.read_text().replace("  path: toy.csv", "  path: toy.csv\n  validation_size: 0")
    )
    suite, bundle, handle = setup(path)
    with pytest.raises(AuditkitError, match="needs a validation split"):
        fine_tune(handle, bundle, suite.training, seed=0, cache_dir=tmp_path, progress=False)


def test_half_precision_on_cpu_is_a_clear_error(toy_suite, tmp_path):
    from auditkit.errors import AuditkitError

    suite, bundle, handle = setup(toy_suite("  precision: bf16"))
    with pytest.raises(AuditkitError, match="needs a CUDA device"):
        fine_tune(handle, bundle, suite.training, seed=0, cache_dir=tmp_path, progress=False)


@pytest.mark.gpu
def test_fine_tune_on_cuda_uses_half_precision(toy_suite, tmp_path):
    suite = load_suite(toy_suite())
    bundle = load_data(suite)
    handle = load_handle(
        resolve_model(suite.model.id), bundle.label_names, device="cuda", max_length=32
    )
    outcome = fine_tune(handle, bundle, suite.training, seed=0, cache_dir=tmp_path, progress=False)
    assert outcome.summary.precision in ("bf16", "fp16") and outcome.summary.device.startswith(
        "cuda"
    )
    y = np.asarray(bundle.test["label"])
    assert (outcome.handle.predict(bundle.test["text"]) == y).mean() >= 0.85


def test_augmented_bundle_adds_rows_and_changes_only_the_train_fingerprint(toy_suite):
    suite, bundle, _ = setup(toy_suite())
    aug = augmented_bundle(bundle, ["alpha beta", "gamma"], [0, 2])
    assert len(aug.train) == len(bundle.train) + 2
    assert aug.train["text"][-2:] == ["alpha beta", "gamma"] and aug.train["label"][-2:] == [0, 2]
    assert aug.split_fingerprints["train"] != bundle.split_fingerprints["train"]
    assert aug.split_fingerprints["test"] == bundle.split_fingerprints["test"]
    assert aug.test is bundle.test
    key = cache_key("m", bundle, suite.training, seed=0, max_length=32)
    assert cache_key("m", aug, suite.training, seed=0, max_length=32) != key
    with pytest.raises(ValueError, match="out of range"):
        augmented_bundle(bundle, ["x"], [7])


def test_fine_tune_augmented_starts_from_the_base_model(toy_suite, tmp_path, monkeypatch):
    monkeypatch.setenv("AUDITKIT_CACHE_DIR", str(tmp_path / "cache"))
    suite, bundle, handle = setup(toy_suite())
    plain = fine_tune(handle, bundle, suite.training, seed=0, progress=False)
    extra = bundle.train.select(range(20))
    outcome = fine_tune_augmented(
        resolve_model(suite.model.id), bundle, extra["text"], extra["label"], suite.training,
        seed=0, device="cpu", max_length=32, batch_size=64, progress=False,
    )  # fmt: skip
    assert outcome.summary.cache_key != plain.summary.cache_key
    assert outcome.summary.steps > plain.summary.steps  # 20 more rows per epoch
    y = np.asarray(bundle.test["label"])
    assert (outcome.handle.predict(bundle.test["text"]) == y).mean() >= 0.85
