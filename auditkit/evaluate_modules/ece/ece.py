"""Expected calibration error, as auditkit's performance audit computes it, as an `evaluate`
module: equal-width confidence bins, the top-class probability against the accuracy in each
bin, weighted by the bin's share of examples (Guo et al., 2017)."""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = """
Expected calibration error (ECE) of class probabilities: the examples are binned by the
probability of their predicted class into `n_bins` equal-width bins on [0, 1]; ECE is the sum
over bins of (bin share) x |mean confidence - accuracy|. 0 is perfectly calibrated.
"""

_KWARGS_DESCRIPTION = """
Args:
    prediction_scores (list of list of float): per example, the probability of each class.
    references (list of int): per example, the gold class id.
    n_bins (int): the number of equal-width confidence bins (default 15).
Returns:
    ece (float): expected calibration error, in [0, 1].
Examples:
    >>> ece = evaluate.load(auditkit.evaluate_modules.path("ece"))
    >>> ece.compute(prediction_scores=[[0.9, 0.1], [0.2, 0.8]], references=[0, 0])
    {'ece': 0.45}
"""

_CITATION = """
@inproceedings{guo2017calibration,
  title={On Calibration of Modern Neural Networks},
  author={Guo, Chuan and Pleiss, Geoff and Sun, Yu and Weinberger, Kilian Q.},
  booktitle={ICML},
  year={2017}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Ece(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "prediction_scores": datasets.Sequence(datasets.Value("float64")),
                    "references": datasets.Value("int64"),
                }
            ),
        )

    def _compute(self, prediction_scores, references, n_bins=15):
        probs = np.asarray(prediction_scores, dtype=np.float64)
        y = np.asarray(references, dtype=np.int64)
        conf = probs.max(axis=1)
        correct = (probs.argmax(axis=1) == y).astype(np.float64)
        # bin b holds confidences in [b / n_bins, (b + 1) / n_bins); 1.0 goes in the last bin,
        # as auditkit.metrics.calibration_bins does (the module stands alone, so it is
        # written out here; a test checks the two agree)
        which = np.minimum((conf * n_bins).astype(np.int64), n_bins - 1)
        gap = np.bincount(which, weights=correct - conf, minlength=n_bins)
        return {"ece": float(np.abs(gap).sum() / len(y))}
