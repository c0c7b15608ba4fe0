"""Before/after comparisons: which metrics got worse, whether the interval excludes no change,
and the report's one-line finding read from the declared table."""

from __future__ import annotations

import numpy as np
import pytest

from auditkit import comparison
from auditkit.api.results import load_results, save_results
from auditkit.comparison import Change
from auditkit.report import render_report
from tests.fixtures import write_run_dir as write_run


def test_worse_follows_each_metrics_direction():
    assert Change("all", "accuracy", 0.955, 0.924, True).worse
    assert not Change("all", "accuracy", 0.9, 0.95, True).worse
    assert Change("gender", "equalized_odds_difference", 0.0, 0.077, False).worse
    assert not Change("gender", "counterfactual_flip_rate", 0.02, 0.0, False).worse
    assert not Change("all", "accuracy", None, 0.9, True).worse


def test_the_interval_decides_whether_the_change_is_clear():
    paired_clear = Change("all", "accuracy", 0.95, 0.90, True, -0.08, -0.02, "paired")
    paired_noise = Change("all", "accuracy", 0.95, 0.94, True, -0.04, 0.02, "paired")
    after_only = Change("g", "counterfactual_flip_rate", 0.0, 0.025, False, 0.005, 0.05, "after")
    after_holds = Change("g", "counterfactual_flip_rate", 0.0, 0.025, False, 0.0, 0.05, "after")
    assert paired_clear.excludes_no_change() is True
    assert paired_noise.excludes_no_change() is False
    assert after_only.excludes_no_change() is True  # 0 is below the after interval
    assert after_holds.excludes_no_change() is False
    assert Change("all", "macro_f1", 0.9, 0.8, True).excludes_no_change() is None


def test_summary_names_what_got_worse_and_says_so_when_nothing_did():
    changes = [
        Change("gender", "counterfactual_flip_rate", 0.0, 0.025, False, 0.0, 0.05, "after"),
        Change("gender", "equalized_odds_difference", 0.0, 0.077, False),
        Change("all", "clean_accuracy", 0.955, 0.924, True, -0.06, -0.008, "paired"),
        Change("region", "counterfactual_flip_rate", 0.03, 0.01, False),
    ]
    line = comparison.summary(changes, "the mitigation")
    assert line.startswith("the mitigation made 3 of 4 compared metrics worse (1 beyond")
    assert "clean_accuracy 0.955 → 0.924 (change 95% CI [-0.06, -0.008] excludes no change)" in line
    assert "equalized_odds_difference (gender) 0 → 0.077 (no interval" in line
    assert "after's 95% CI [0, 0.05] includes the before value" in line
    assert "region" not in line  # it improved
    better = comparison.summary(changes[3:], "the mitigation")
    assert better == "the mitigation: no compared metric got worse (1 compared)."


def test_paired_accuracy_interval_excludes_zero_only_for_a_real_change():
    rng = np.random.default_rng(0)
    before = rng.random(400) < 0.9
    broken = before.copy()
    broken[np.flatnonzero(before)[:40]] = False  # 40 of 400 examples newly wrong: -0.10
    low, high = comparison.paired_accuracy(before, broken, n_resamples=1000, seed=0)
    assert high < 0 and low == pytest.approx(-0.1, abs=0.03)
    swapped = before.copy()  # one fixed, one broken: no net change
    swapped[np.flatnonzero(before)[0]] = False
    swapped[np.flatnonzero(~before)[0]] = True
    low, high = comparison.paired_accuracy(before, swapped, n_resamples=1000, seed=0)
    assert low <= 0 <= high
    assert comparison.paired_accuracy(before[:0], before[:0], n_resamples=10, seed=0) == (
        None,
        None,
    )


def test_table_round_trips_and_other_tables_are_not_comparisons():
    changes = [Change("int8", "accuracy", 0.95, 0.94, True, -0.03, 0.01, "paired")]
    t = comparison.table(changes, "the variants against fp32")
    assert comparison.from_table(t) == changes
    assert comparison.from_table(t.model_copy(update={"columns": ["a"] * 9})) is None


def test_report_says_in_one_line_that_the_mitigation_hurt(tmp_path):
    run_dir = write_run(tmp_path / "run")
    results = load_results(run_dir)
    results.audits["fairness"].tables["mitigation_changes"] = comparison.table(
        [
            Change("gender", "counterfactual_flip_rate", 0.0, 0.025, False, 0.0, 0.05, "after"),
            Change("gender", "equalized_odds_difference", 0.0, 0.077, False, 0.02, 0.12, "after"),
            Change("all", "clean_accuracy", 0.955, 0.924, True, -0.06, -0.008, "paired"),
        ],
        "counterfactual augmentation against the plain model",
    )
    save_results(results, run_dir)
    html = render_report(run_dir).read_text()
    section = html.split('id="fairness"')[1].split("</section>")[0]
    assert (
        '<div class="warn">counterfactual augmentation against the plain model made 3 of 3 '
        "compared metrics worse (2 beyond their interval)"
    ) in section
    assert "clean_accuracy 0.955 → 0.924" in section
