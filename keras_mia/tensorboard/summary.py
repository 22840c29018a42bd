"""TensorBoard writers for keras-mia evaluations: the summary schema.

The callback writes into one run directory, `<log_dir>/privacy`, next to
the `train` and `validation` runs of Keras' own TensorBoard callback. The
step of every summary is the 0-based epoch index (like Keras' `epoch_*`
scalars); batch-frequency evaluations use the global batch index and the
`mia_batch/` tags only. Schema version 1
(:data:`keras_mia.tensorboard.metadata.SCHEMA_VERSION`):

Scalars (stock Scalars dashboard), at every evaluation:

* `mia/<metric>`: the largest value over the attacks, for `<metric>` in
  `auc`, `advantage`, `accuracy`, `tpr_at_0.1pct_fpr`, `tpr_at_1pct_fpr`
  (higher = more leakage);
* `mia/<attack>/<metric>`: the same metrics per attack, `<attack>` in
  `correctness`, `confidence`, `entropy`, `modified_entropy`, `loss` (the
  attacks that ran);
* `mia/risk/mean_member`, `mia/risk/mean_non_member`: mean risk scores;
* `mia/risk/member_share_at_0.5`, `..._at_0.8`, `..._at_0.9`: fraction of
  members whose risk score is at or above the level;
* `mia/dp/theoretical_epsilon`, `mia/dp/empirical_epsilon_lower_bound`:
  only when the callback has a `dp` configuration (DP-SGD training).

Histograms (stock Histograms dashboard): `mia_risk/members` and
`mia_risk/non_members`, the risk scores in [0, 1].

PR curves (stock PR Curves dashboard): `mia_pr/<attack>`, derived from the
same ROC grid as `mia_roc/<attack>` (recall = TPR; precision with the
evaluated numbers of members and non-members).

Text: `mia_top_risk`, a markdown table of the `top_k` members with the
highest risk score: rank, id, class, score. Never model inputs.

Custom tensors (plugin `keras_mia`, `data_class = DATA_CLASS_TENSOR`,
content JSON `{"version": 1, "kind": ...}`; see
:mod:`keras_mia.tensorboard.metadata`):

* `mia_roc/<attack>`: kind `"roc"`, float32 shape `(2, P)`, row 0 the
  false-positive rates (ascending, from 0 to 1) and row 1 the ROC curve's
  true-positive rate at each (linear between the curve's points); content
  adds `"attack"`. Every evaluation. The AUC of each evaluation is the
  `mia/<attack>/auc` scalar at the same step (TensorBoard keeps only the
  first metadata of a tag, so per-step values cannot live there).
* `mia_records/member_scores`: kind `"member_scores"`, float32 shape
  `(n_members,)`: risk score per evaluated member. Every evaluation.
* `mia_records/member_ids`: kind `"member_ids"`, string shape
  `(n_members,)`, and `mia_records/member_labels`: kind
  `"member_labels"`, int64 shape `(n_members,)`, in the same order as the
  scores. Written at the first successful evaluation of each `fit` (the
  evaluated members are fixed for the callback's lifetime, so the latest
  step at or before a score's step applies).
* `mia_meta/config`: kind `"config"`, string scalar holding JSON:
  `version`, `attacks`, `threshold_source`, `max_samples`,
  `every_n_epochs`, `every_n_batches`, `n_members`, `n_non_members`,
  `n_classes`, `top_k`, and `gate` (null, or the settings of a
  :class:`keras_mia.PrivacyEarlyStopping` in the same `fit`: `monitor`,
  `budget`, `patience`, `utility_monitor`, `utility_mode`,
  `restore_best_weights`). With the ids, once per `fit`.
* `mia_meta/gate`: kind `"gate"`, string scalar holding JSON: the gate's
  settings plus its outcome (`stopped_epoch`, `best_epoch`,
  `restored_epoch`, `exceeded_epochs`, all 0-based or null, and the
  one-line `summary`). Written at the end of a `fit` that had a gate, at
  the step of the last epoch.

Batch-frequency evaluations (`every_n_batches`) write `mia_batch/<metric>`
headline scalars only, with the global batch index as step.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import numpy as np

from keras_mia._backend import require_tensorflow
from keras_mia.attacks import AttackResult, EvaluationResult
from keras_mia.tensorboard import metadata

#: Metric names, in tag and `logs` order, and how each is read from an
#: :class:`~keras_mia.attacks.AttackResult`.
METRICS = (
    "auc",
    "advantage",
    "accuracy",
    "tpr_at_0.1pct_fpr",
    "tpr_at_1pct_fpr",
)

#: The false-positive rates behind the two `tpr_at_*` metrics.
TARGET_FPRS = (0.001, 0.01)

RUN_NAME = metadata.RUN_NAME
TOP_RISK_TAG = "mia_top_risk"
#: Tag prefixes and tags that the Privacy plugin reads back.
SCALAR_PREFIX = "mia/"
ROC_PREFIX = "mia_roc/"
MEMBER_RISK_TAG = "mia_risk/members"
NON_MEMBER_RISK_TAG = "mia_risk/non_members"


def attack_metrics(result: AttackResult) -> dict[str, float]:
    """The metrics of one attack under their schema names.

    Args:
        result: One attack's result, run with `target_fprs=(0.001, 0.01)`.

    Returns:
        A dict from each name of :data:`METRICS` to a Python float.
    """
    return {
        "auc": float(result.auc),
        "advantage": float(result.advantage),
        "accuracy": float(result.accuracy),
        "tpr_at_0.1pct_fpr": float(result.tpr_at_fpr[TARGET_FPRS[0]]),
        "tpr_at_1pct_fpr": float(result.tpr_at_fpr[TARGET_FPRS[1]]),
    }


def headline_metrics(
    result: EvaluationResult,
) -> dict[str, tuple[float, str]]:
    """The largest value of each metric over the attacks, and its attack.

    `nan` values are skipped; a metric that is `nan` for every attack is
    `nan` with the first attack named.

    Args:
        result: An evaluation.

    Returns:
        A dict from each name of :data:`METRICS`, plus `"auc_distance"`
        (`|AUC - 0.5|`, larger = more leakage in either direction), to
        `(value, attack)`.
    """
    per_attack = {
        name: attack_metrics(r) for name, r in result.attacks.items()
    }
    per_attack_distance = {
        name: abs(values["auc"] - 0.5) for name, values in per_attack.items()
    }
    out = {}
    for metric in METRICS:
        out[metric] = _largest(
            {name: values[metric] for name, values in per_attack.items()}
        )
    out["auc_distance"] = _largest(per_attack_distance)
    return out


def _largest(values: Mapping[str, float]) -> tuple[float, str]:
    best_name, best = next(iter(values)), math.nan
    for name, value in values.items():
        if not math.isnan(value) and (math.isnan(best) or value > best):
            best_name, best = name, value
    return best, best_name


def _tf():
    return require_tensorflow("keras-mia TensorBoard summaries")


def _write_tensor(tag: str, tensor, step: int, kind: str, **fields) -> None:
    tf = _tf()
    tf.summary.write(
        tag,
        tensor,
        step=step,
        metadata=metadata.create_summary_metadata(kind, **fields),
    )


def scalars(result: EvaluationResult, step: int, prefix: str = "mia") -> None:
    """Write the headline and per-attack metrics as scalars.

    Args:
        result: An evaluation (run with `target_fprs=(0.001, 0.01)`).
        step: The step (0-based epoch index).
        prefix: Tag prefix. Defaults to `"mia"`; batch-frequency
            evaluations use `"mia_batch"` and write headlines only.
    """
    tf = _tf()
    for metric, (value, _) in headline_metrics(result).items():
        if metric in METRICS:
            tf.summary.scalar(f"{prefix}/{metric}", value, step=step)
    if prefix != "mia":
        return
    for name, attack in result.attacks.items():
        for metric, value in attack_metrics(attack).items():
            tf.summary.scalar(
                f"{SCALAR_PREFIX}{name}/{metric}", value, step=step
            )


def risk(result: EvaluationResult, step: int) -> None:
    """Write the risk-score scalars and histograms.

    Args:
        result: An evaluation with risk scores.
        step: The step (0-based epoch index).
    """
    tf = _tf()
    members = result.member_risk_scores
    non_members = result.non_member_risk_scores
    tf.summary.scalar("mia/risk/mean_member", float(np.mean(members)), step)
    tf.summary.scalar(
        "mia/risk/mean_non_member", float(np.mean(non_members)), step
    )
    summary = result.risk_summary
    for level, share in zip(summary.levels, summary.member_share, strict=True):
        tf.summary.scalar(
            f"mia/risk/member_share_at_{level:g}", float(share), step
        )
    tf.summary.histogram(MEMBER_RISK_TAG, members, step=step)
    tf.summary.histogram(NON_MEMBER_RISK_TAG, non_members, step=step)


def roc(result: AttackResult, step: int) -> None:
    """Write one attack's ROC curve, and the PR curve stock TensorBoard shows.

    Args:
        result: One attack's result.
        step: The step (0-based epoch index).
    """
    fprs = np.asarray(result.roc_false_positive_rates, np.float64)
    tprs = np.asarray(result.roc_true_positive_rates, np.float64)
    _write_tensor(
        f"{ROC_PREFIX}{result.attack}",
        np.stack([fprs, tprs]).astype(np.float32),
        step,
        "roc",
        attack=result.attack,
    )
    _pr_curve(result, fprs, tprs, step)


def _pr_curve(
    result: AttackResult, fprs: np.ndarray, tprs: np.ndarray, step: int
) -> None:
    from tensorboard.plugins.pr_curve import metadata as pr_metadata

    # The ROC grid runs from the strictest threshold to the loosest; the PR
    # plugin wants the loosest first.
    tp = (tprs * result.n_members)[::-1]
    fp = (fprs * result.n_non_members)[::-1]
    precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1e-12), 1.0)
    data = np.stack([
        tp, fp, result.n_non_members - fp, result.n_members - tp,
        precision, tprs[::-1],
    ]).astype(np.float32)
    _tf().summary.write(
        f"mia_pr/{result.attack}",
        data,
        step=step,
        metadata=pr_metadata.create_summary_metadata(
            display_name=f"mia_pr/{result.attack}",
            description=(
                f"Precision and recall (TPR) of the {result.attack} attack "
                "over its ROC grid."
            ),
            num_thresholds=data.shape[1],
        ),
    )


def top_risk_table(
    ids: np.ndarray,
    labels: np.ndarray,
    scores: np.ndarray,
    top_k: int,
) -> str:
    """Markdown table of the members with the highest risk scores.

    Args:
        ids: Record ids, shape `(n,)`.
        labels: True classes, ints of shape `(n,)`.
        scores: Risk scores, shape `(n,)`; higher = more likely a member.
        top_k: Number of rows.

    Returns:
        A markdown table with columns rank, id, class, risk score; ties are
        broken by position, so the table is deterministic.
    """
    order = np.argsort(-np.asarray(scores), kind="stable")[:top_k]
    rows = ["| rank | id | class | risk score |", "|---:|---|---:|---:|"]
    for rank, i in enumerate(order, start=1):
        rows.append(
            f"| {rank} | {ids[i]} | {int(labels[i])} | {scores[i]:.4f} |"
        )
    return "\n".join(rows)


def records(
    scores: np.ndarray,
    step: int,
    ids: np.ndarray | None = None,
    labels: np.ndarray | None = None,
) -> None:
    """Write the per-member risk scores, and optionally their ids and labels.

    Args:
        scores: Risk score per member, shape `(n_members,)`.
        step: The step (0-based epoch index).
        ids: Record ids in the same order, written as strings, or None.
        labels: True classes in the same order, or None.
    """
    _write_tensor(
        "mia_records/member_scores",
        np.asarray(scores, np.float32),
        step,
        "member_scores",
    )
    if ids is not None:
        _write_tensor(
            "mia_records/member_ids",
            np.asarray([str(i) for i in ids], dtype=object).astype(bytes),
            step,
            "member_ids",
        )
    if labels is not None:
        _write_tensor(
            "mia_records/member_labels",
            np.asarray(labels, np.int64),
            step,
            "member_labels",
        )


def json_text(tag: str, kind: str, payload: Mapping, step: int) -> None:
    """Write a JSON document as a string scalar (kinds `config`, `gate`).

    Args:
        tag: `"mia_meta/config"` or `"mia_meta/gate"`.
        kind: `"config"` or `"gate"`.
        payload: JSON-serializable mapping; `version` is added.
        step: The step (0-based epoch index).
    """
    body = {"version": metadata.SCHEMA_VERSION, **payload}
    _write_tensor(
        tag,
        json.dumps(body, allow_nan=False, sort_keys=True),
        step,
        kind,
    )


def evaluation(
    result: EvaluationResult,
    step: int,
    ids: np.ndarray,
    labels: np.ndarray,
    top_k: int,
    include_record_info: bool,
) -> None:
    """Write everything for one epoch evaluation into the default writer.

    Args:
        result: The evaluation.
        step: The 0-based epoch index.
        ids: Member ids, shape `(n_members,)`.
        labels: Member classes, shape `(n_members,)`.
        top_k: Rows of the top-risk table.
        include_record_info: Also write `mia_records/member_ids` and
            `mia_records/member_labels`.
    """
    tf = _tf()
    scalars(result, step)
    risk(result, step)
    for attack in result.attacks.values():
        roc(attack, step)
    tf.summary.text(
        TOP_RISK_TAG,
        top_risk_table(ids, labels, result.member_risk_scores, top_k),
        step=step,
    )
    records(
        result.member_risk_scores,
        step,
        ids if include_record_info else None,
        labels if include_record_info else None,
    )


def dp_scalars(
    theoretical_epsilon: float, empirical_epsilon: float, step: int
) -> None:
    """Write the DP budget next to the measured leakage.

    Args:
        theoretical_epsilon: The DP-SGD guarantee after the epochs so far.
        empirical_epsilon: The epsilon lower bound the attacks imply.
        step: The step (0-based epoch index).
    """
    tf = _tf()
    tf.summary.scalar("mia/dp/theoretical_epsilon", theoretical_epsilon,
                      step=step)
    tf.summary.scalar("mia/dp/empirical_epsilon_lower_bound",
                      empirical_epsilon, step=step)
