"""Paired tests: they find a real difference, stay quiet on noise, and agree with hand maths."""

from __future__ import annotations

import numpy as np
import pytest

from auditkit.gate.significance import mcnemar, paired_bootstrap


def test_mcnemar_matches_the_binomial_by_hand():
    base = np.array([1] * 10 + [0] * 10 + [1] * 80, dtype=bool)
    cur = np.array([0] * 10 + [1] * 2 + [0] * 8 + [1] * 80, dtype=bool)
    res = mcnemar(base, cur)  # 2 gained, 10 lost of 12 discordant
    assert res.delta == pytest.approx((2 - 10) / 100)
    # two-sided exact binomial: 2 * P(X <= 2), X ~ Bin(12, .5) = 2 * 79/4096
    assert res.p_value == pytest.approx(2 * 79 / 4096)
    assert mcnemar(base, base).p_value == 1.0
    with pytest.raises(ValueError, match="shape"):
        mcnemar(base, cur[:5])


def test_paired_bootstrap_separates_a_shift_from_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    shifted = x + 0.3
    noisy = x + rng.normal(scale=0.05, size=300)

    def mean_of(a, b):
        return lambda idx, which: (b if which else a)[idx].mean(axis=1)

    real = paired_bootstrap(mean_of(x, shifted), 300, seed=1)
    assert real.delta == pytest.approx(0.3) and real.p_value < 0.01
    assert real.ci_low == pytest.approx(0.3) and real.ci_high == pytest.approx(0.3)
    noise = paired_bootstrap(mean_of(x, noisy), 300, seed=1)
    assert noise.p_value > 0.05 and noise.ci_low < 0 < noise.ci_high
