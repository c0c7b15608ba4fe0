"""A tiny BERT fine-tuned on the toy keyword task, shared by the robustness tests."""

from __future__ import annotations

import pytest

from tests.conftest import build_tiny_bert, toy_rows, write_csv, write_suite


@pytest.fixture(scope="module")
def trained_toy_handle(tmp_path_factory):
    from auditkit.data import load_data
    from auditkit.models import load_handle, resolve_model
    from auditkit.suite import load_suite
    from auditkit.training import fine_tune

    folder = tmp_path_factory.mktemp("robust")
    model_dir = build_tiny_bert(folder / "tiny")
    write_csv(folder / "toy.csv", toy_rows(600))
    suite_path = write_suite(
        folder,
        f"""
name: toy
model:
  id: {model_dir}
  max_length: 32
data:
  source: csv
  path: toy.csv
  labels: [negative, positive, neutral]
training:
  epochs: 6
  batch_size: 16
  learning_rate: 2.0e-3
  warmup_ratio: 0.0
audits:
  performance: {{}}
""",
    )
    suite = load_suite(suite_path)
    bundle = load_data(suite)
    handle = load_handle(resolve_model(suite.model.id), bundle.label_names, device="cpu",
                         max_length=32)  # fmt: skip
    outcome = fine_tune(
        handle, bundle, suite.training, seed=0, cache_dir=folder / "cache", progress=False
    )
    return outcome.handle, bundle
