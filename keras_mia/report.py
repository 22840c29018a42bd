"""Audit reports: strict JSON and a self-contained HTML page.

The JSON report holds every metric with its bootstrap interval, the
per-class thresholds, the shadow models, the privacy budgets (empirical
epsilon lower bound and, for DP-SGD, the theoretical epsilon) and the risk
score of every record by id. Its layout is versioned by `schema_version`.

The HTML report needs nothing outside the file: figures are PNG images
drawn with matplotlib and embedded as `data:` URIs, styles are inline, and
a Content-Security-Policy forbids loading anything else. Every string that
comes from data or settings is HTML-escaped.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from keras_mia.attacks import attack_scores
from keras_mia.metrics import balanced_accuracy

if TYPE_CHECKING:
    from keras_mia.audit import AuditResult

#: How many records the "riskiest records" list holds by default.
N_RISKIEST = 20

#: Lowest axis value of the log-log ROC plot: TPR or FPR of 0 is drawn
#: there, since a log axis cannot show 0.
_LOG_FLOOR = 1e-5

_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'"
)

_COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")


def _clean(value: Any) -> Any:
    """Plain JSON values: numpy scalars and arrays converted, nan as None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_clean(v) for v in value.tolist()]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else value
    if value is None or isinstance(value, int | str):
        return value
    return str(value)


def _record_id(value: Any) -> Any:
    if isinstance(value, np.integer | int):
        return int(value)
    return str(value)


def per_class_table(result: AuditResult) -> list[dict]:
    """Per-class counts, accuracies, thresholds and risk.

    Args:
        result: An audit result.

    Returns:
        One dict per class with `class`, `n_members`, `n_non_members`,
        `n_shadow_members`, `n_shadow_non_members`, `train_accuracy`,
        `test_accuracy`, `mean_member_risk`, `mean_non_member_risk`,
        `thresholds` (by attack; `nan` where the class fell back to the
        global threshold) and `attack_accuracy` (by attack, the balanced
        accuracy on the class's records; `nan` where undefined). The
        reports use the copy cached as `result.per_class`.
    """
    ev = result.evaluation
    # Per attack, the member and non-member values its decisions come
    # from (scores, or correctness flags), computed once for all classes.
    values = {
        name: (
            (result.members.correctness.astype(bool),
             result.non_members.correctness.astype(bool))
            if attack.thresholds is None else
            (attack_scores(result.members, name),
             attack_scores(result.non_members, name))
        )
        for name, attack in ev.attacks.items()
    }
    rows = []
    for c in range(ev.n_classes):
        in_c = result.members.labels == c
        out_c = result.non_members.labels == c
        row: dict[str, Any] = {
            "class": c,
            "n_members": int(in_c.sum()),
            "n_non_members": int(out_c.sum()),
            "n_shadow_members": int(np.sum(result.shadow_members.labels == c)),
            "n_shadow_non_members": int(
                np.sum(result.shadow_non_members.labels == c)
            ),
            "train_accuracy": _mean(result.members.correctness[in_c]),
            "test_accuracy": _mean(result.non_members.correctness[out_c]),
            "mean_member_risk": math.nan,
            "mean_non_member_risk": math.nan,
            "thresholds": {},
            "attack_accuracy": {},
        }
        if ev.member_risk_scores is not None:
            row["mean_member_risk"] = _mean(ev.member_risk_scores[in_c])
            row["mean_non_member_risk"] = _mean(
                ev.non_member_risk_scores[out_c]
            )
        for name, attack in ev.attacks.items():
            flags_in, flags_out = values[name][0][in_c], values[name][1][out_c]
            if attack.thresholds is not None:
                threshold = float(attack.thresholds[c])
                row["thresholds"][name] = threshold
                if math.isnan(threshold):
                    row["attack_accuracy"][name] = math.nan
                    continue
                flags_in, flags_out = (
                    flags_in >= threshold, flags_out >= threshold
                )
            row["attack_accuracy"][name] = (
                balanced_accuracy(flags_in, flags_out)
                if len(flags_in) and len(flags_out) else math.nan
            )
        rows.append(row)
    return rows


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def riskiest_records(
    result: AuditResult, n: int = N_RISKIEST
) -> list[dict]:
    """The members with the highest privacy risk scores.

    Args:
        result: An audit result with risk scores.
        n: How many to list. Defaults to :data:`N_RISKIEST`.

    Returns:
        Up to `n` dicts (`id`, `label`, `correct`, `confidence`, `loss`,
        `risk_score`), highest score first; ties keep record order. Empty if
        risk scores were disabled.
    """
    scores = result.evaluation.member_risk_scores
    if scores is None:
        return []
    order = np.argsort(-scores, kind="stable")[:n]
    m = result.members
    return [
        {
            "id": _record_id(result.member_ids[i]),
            "label": int(m.labels[i]),
            "correct": bool(m.correctness[i]),
            "confidence": float(m.confidence[i]),
            "loss": float(m.loss[i]),
            "risk_score": float(scores[i]),
        }
        for i in order
    ]


def to_dict(
    result: AuditResult,
    include_records: bool = True,
    n_riskiest: int = N_RISKIEST,
) -> dict:
    """The JSON report of an audit.

    Args:
        result: An audit result.
        include_records: Include every record's risk score by id. Defaults
            to True.
        n_riskiest: Length of the riskiest-records list. Defaults to
            :data:`N_RISKIEST`.

    Returns:
        A dict of plain JSON values (`nan` and `inf` as None).
    """
    from keras_mia import __version__
    from keras_mia.audit import SCHEMA_VERSION

    ev = result.evaluation
    budget: dict[str, Any] = {
        "empirical_epsilon_lower_bound": result.empirical_epsilon.to_dict(),
        "rules": [r.to_dict() for r in result.epsilon_rules],
        "multiple_testing": (
            "Thresholds were fixed on shadow models; the reported bound is "
            "the largest over the listed rules, each with its confidence "
            "bounds Bonferroni-corrected for the number of rules."
        ),
        "theoretical_epsilon": None,
    }
    if result.dp_config is not None:
        budget["theoretical_epsilon"] = {
            "epsilon": result.theoretical_epsilon,
            **dataclasses.asdict(result.dp_config),
            "n_train": result.dp_config.n_train or len(result.members),
        }
    out = {
        "schema_version": SCHEMA_VERSION,
        "keras_mia_version": __version__,
        "settings": result.settings,
        "from_logits": result.from_logits,
        "target": {
            "n_members": len(result.members),
            "n_non_members": len(result.non_members),
            "train_accuracy": _mean(result.members.correctness),
            "test_accuracy": _mean(result.non_members.correctness),
        },
        "shadows": [dataclasses.asdict(s) for s in result.shadows],
        "evaluation": ev.to_dict(),
        "per_class": result.per_class,
        "privacy_budget": budget,
        "riskiest_records": riskiest_records(result, n_riskiest),
    }
    if include_records and ev.member_risk_scores is not None:
        out["records"] = {
            "members": [
                {"id": _record_id(i), "label": int(y), "risk_score": float(s)}
                for i, y, s in zip(
                    result.member_ids, result.members.labels,
                    ev.member_risk_scores, strict=True,
                )
            ],
            "non_members": [
                {"id": _record_id(i), "label": int(y), "risk_score": float(s)}
                for i, y, s in zip(
                    result.non_member_ids, result.non_members.labels,
                    ev.non_member_risk_scores, strict=True,
                )
            ],
        }
    return _clean(out)


def write_json(result: AuditResult, path: str | os.PathLike) -> None:
    """Write the JSON report.

    Args:
        result: An audit result.
        path: Output file.
    """
    text = json.dumps(to_dict(result), allow_nan=False, indent=2)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# ---------------------------------------------------------------------------
# Figures.


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _new_figure(width: float = 5.0, height: float = 4.0) -> Any:
    # A bare Figure does not touch pyplot's global state or backend.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def roc_figure(result: AuditResult, log_scale: bool = False) -> str:
    """ROC curves of every attack, as a base64 PNG.

    Args:
        result: An audit result.
        log_scale: Log-log axes, which show the low-FPR region that
            matters for confident attacks (Carlini et al., 2022). Defaults
            to False (linear axes).

    Returns:
        The PNG bytes, base64-encoded.
    """
    fig = _new_figure()
    ax = fig.add_subplot()
    n_out = max(len(result.non_members), 1)
    low = max(_LOG_FLOOR, 0.5 / n_out)
    for k, (name, attack) in enumerate(result.evaluation.attacks.items()):
        fpr = np.asarray(attack.roc_false_positive_rates, dtype=float)
        tpr = np.asarray(attack.roc_true_positive_rates, dtype=float)
        if log_scale:
            keep = fpr >= low
            fpr, tpr = fpr[keep], np.maximum(tpr[keep], low)
        ax.plot(
            fpr, tpr, color=_COLORS[k % len(_COLORS)],
            label=f"{name} (AUC {attack.auc:.3f})",
        )
    ref = np.array([low if log_scale else 0.0, 1.0])
    ax.plot(ref, ref, color="grey", linestyle="--", linewidth=1,
            label="chance")
    if log_scale:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(low, 1.0)
        ax.set_ylim(low, 1.05)
    else:
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate")
    ax.set_title("ROC, log-log" if log_scale else "ROC")
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def risk_figure(result: AuditResult) -> str | None:
    """Histograms of members' and non-members' risk scores, base64 PNG.

    Args:
        result: An audit result.

    Returns:
        The PNG, base64-encoded, or None if risk scores were disabled.
    """
    ev = result.evaluation
    if ev.member_risk_scores is None:
        return None
    fig = _new_figure(6.0, 3.5)
    ax = fig.add_subplot()
    bins = np.linspace(0.0, 1.0, 21)
    for scores, label, color in (
        (ev.member_risk_scores, "members", _COLORS[0]),
        (ev.non_member_risk_scores, "non-members", _COLORS[1]),
    ):
        weights = np.full(len(scores), 1.0 / max(len(scores), 1))
        ax.hist(scores, bins=bins, weights=weights, alpha=0.6, label=label,
                color=color)
    ax.set_xlabel("privacy risk score (posterior membership probability)")
    ax.set_ylabel("share of records")
    ax.set_title("Risk-score distributions")
    ax.legend()
    return _png(fig)


# ---------------------------------------------------------------------------
# HTML.


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "&ndash;"
    value = float(value)
    if math.isnan(value):
        return "&ndash;"
    if math.isinf(value):
        return "&infin;"
    return _e(f"{value:.{digits}f}")


def _table(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    """An HTML table; header strings are escaped, cells are trusted HTML."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return (
        f'<table class="{_e(cls)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def _interval(attack: Any, key: str) -> str:
    pair = attack.intervals.get(key)
    if not pair:
        return ""
    return f" <small>[{_num(pair[0], 3)}, {_num(pair[1], 3)}]</small>"


def _img(data: str | None, alt: str, figure_id: str) -> str:
    if data is None:
        return ""
    return (
        f'<figure><img id="{_e(figure_id)}" class="figure" alt="{_e(alt)}" '
        f'src="data:image/png;base64,{data}"><figcaption>{_e(alt)}'
        "</figcaption></figure>"
    )


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;
margin:2em auto;max-width:1100px;color:#222;line-height:1.4;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ddd;
padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.cards{display:flex;gap:1em;flex-wrap:wrap}
.card{border:1px solid #ccc;border-radius:6px;padding:.6em 1em;min-width:12em}
.card b{display:block;font-size:1.4em}
figure{display:inline-block;margin:.5em}img.figure{max-width:100%}
.note{color:#555;font-size:.9em}small{color:#666}
"""


def render_html(
    result: AuditResult, title: str | None = None, n_riskiest: int = N_RISKIEST
) -> str:
    """The self-contained HTML report of an audit.

    Args:
        result: An audit result.
        title: Page title. Defaults to "keras-mia audit".
        n_riskiest: Rows of the riskiest-records table. Defaults to
            :data:`N_RISKIEST`.

    Returns:
        A complete HTML document as a string; it loads nothing from outside
        itself.
    """
    from keras_mia import __version__

    title = title or "keras-mia audit"
    ev = result.evaluation
    strongest = ev.strongest("auc")
    eps = result.empirical_epsilon
    cards = [
        ("Strongest attack (AUC)", f"{_e(strongest.attack)}: "
         f"{_num(strongest.auc, 3)}"),
        ("Best attack accuracy",
         _num(max(a.accuracy for a in ev.attacks.values()), 3)),
        ("Empirical &epsilon; lower bound", _num(eps.epsilon, 3)),
    ]
    if result.theoretical_epsilon is not None:
        cards.append(("Theoretical DP-SGD &epsilon;",
                      _num(result.theoretical_epsilon, 3)))
    cards_html = "".join(
        f'<div class="card">{label}<b>{value}</b></div>'
        for label, value in cards
    )

    fprs = list(strongest.tpr_at_fpr)
    attack_rows = []
    for name, a in ev.attacks.items():
        attack_rows.append(
            [_e(name), _e(a.threshold_source or "none"),
             _num(a.accuracy) + _interval(a, "accuracy"),
             _num(a.auc) + _interval(a, "auc"),
             _num(a.advantage), _num(a.ppv)]
            + [_num(a.tpr_at_fpr[f]) + _interval(a, f"tpr_at_fpr@{f:g}")
               for f in fprs]
            + [_e(", ".join(map(str, a.fallback_classes)) or "-")]
        )
    attack_table = _table(
        ["attack", "thresholds", "accuracy", "AUC", "advantage", "PPV"]
        + [f"TPR @ FPR {f:g}" for f in fprs] + ["fallback classes"],
        attack_rows, "attacks",
    )
    level = next(iter(ev.attacks.values())).confidence_level

    figures = "".join([
        _img(roc_figure(result), "ROC curves (linear axes)", "roc-linear"),
        _img(roc_figure(result, log_scale=True), "ROC curves (log-log axes)",
             "roc-log"),
        _img(risk_figure(result), "Risk-score distributions of members and "
             "non-members", "risk-hist"),
    ])

    threshold_attacks = [n for n, a in ev.attacks.items() if a.thresholds
                         is not None]
    class_rows = []
    for row in result.per_class:
        class_rows.append(
            [_e(row["class"]), _e(row["n_members"]), _e(row["n_non_members"]),
             _e(f'{row["n_shadow_members"]}/{row["n_shadow_non_members"]}'),
             _num(row["train_accuracy"], 3), _num(row["test_accuracy"], 3)]
            + [f'{_num(row["thresholds"][n], 4)} / '
               f'{_num(row["attack_accuracy"][n], 3)}'
               for n in threshold_attacks]
            + [_num(row["mean_member_risk"], 3),
               _num(row["mean_non_member_risk"], 3)]
        )
    class_table = _table(
        ["class", "members", "non-members", "shadow in/out", "train acc",
         "test acc"]
        + [f"{n}: threshold / accuracy" for n in threshold_attacks]
        + ["mean risk (members)", "mean risk (non-members)"],
        class_rows, "per-class",
    )

    risky_rows = [
        [_e(r["id"]), _e(r["label"]), _e("yes" if r["correct"] else "no"),
         _num(r["confidence"], 4), _num(r["loss"], 4),
         _num(r["risk_score"], 3)]
        for r in riskiest_records(result, n_riskiest)
    ]
    risky_table = _table(
        ["record id", "label", "correct", "confidence", "loss", "risk score"],
        risky_rows, "riskiest",
    )

    budget_rows = [
        [_e(r.rule), _e(f"{r.n_true_positives}/{r.n_members}"),
         _e(f"{r.n_false_positives}/{r.n_non_members}"),
         _num(r.true_positive_rate_low), _num(r.false_positive_rate_high),
         _num(r.epsilon, 3)]
        for r in result.epsilon_rules
    ]
    budget_table = _table(
        ["decision rule", "TP/members", "FP/non-members", "TPR low",
         "FPR high", "epsilon lower bound"],
        budget_rows, "budget",
    )
    if result.dp_config is not None:
        cfg = result.dp_config
        theory = (
            f"<p>Theoretical &epsilon; of DP-SGD: <b>"
            f"{_num(result.theoretical_epsilon, 3)}</b> at &delta; = "
            f"{_e(f'{cfg.delta:g}')} (noise multiplier "
            f"{_e(f'{cfg.noise_multiplier:g}')}, batch size "
            f"{_e(cfg.batch_size)}, {_e(f'{cfg.epochs:g}')} epochs, "
            f"{_e(cfg.n_train or len(result.members))} training records, "
            f"{_e(cfg.accountant.upper())} accountant of dp-accounting, "
            "Poisson sampling assumed). A correct DP-SGD implementation "
            "keeps the empirical bound below it.</p>"
        )
    else:
        theory = (
            "<p>No DP-SGD settings were given, so there is no theoretical "
            "&epsilon; to compare with.</p>"
        )

    settings_rows = [
        [_e(k), _e(v)] for k, v in sorted(result.settings.items())
    ] + [[_e("from_logits"), _e(result.from_logits)],
         [_e("keras-mia"), _e(__version__)]]
    shadow_rows = [
        [_e(s.index), _e(s.n_members), _e(s.n_non_members),
         _num(s.train_accuracy, 3), _num(s.test_accuracy, 3)]
        for s in result.shadows
    ]

    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{_STYLE}</style></head>
<body>
<h1>{_e(title)}</h1>
<p class="note">Membership-inference audit with {_e(len(result.shadows))}
shadow models (Song &amp; Mittal, USENIX Security 2021). Target:
{_e(len(result.members))} members (accuracy
{_num(_mean(result.members.correctness), 3)}) and
{_e(len(result.non_members))} non-members (accuracy
{_num(_mean(result.non_members.correctness), 3)}).</p>
<div class="cards">{cards_html}</div>

<h2>Attacks</h2>
<p class="note">Thresholds fixed on the shadow models. Accuracy is the
balanced accuracy of the attack's decisions (0.5 = chance); AUC, advantage
and TPR at low FPR use the raw score. Brackets: {_num(level * 100, 0)}%
bootstrap intervals over the evaluated records.</p>
{attack_table}

<h2>Figures</h2>
{figures}

<h2>Privacy budget</h2>
<p>Empirical &epsilon; lower bound: <b>{_num(eps.epsilon, 3)}</b> at
&delta; = {_e(f"{eps.delta:g}")}, holding with probability at least
{_num(eps.confidence_level * 100, 0)}% (best rule: {_e(eps.rule)}).</p>
<p class="note">From exact Clopper-Pearson bounds on each rule's TPR and
FPR: &epsilon; &ge; max(log((TPR<sub>low</sub> &minus; &delta;) /
FPR<sub>high</sub>), log((1 &minus; FPR<sub>high</sub> &minus; &delta;) /
(1 &minus; TPR<sub>low</sub>))). Every rule was fixed on shadow data; the
reported value is the best of {_e(eps.n_comparisons)} rules, so each rule's
bounds are Bonferroni-corrected for {_e(eps.n_comparisons)} comparisons.
The records share one trained model, so this estimates the leakage of this
model on these records; it is not a proof about the training
algorithm.</p>
{theory}
{budget_table}

<h2>Per class</h2>
<p class="note">Thresholds are in attack-score space (p<sub>y</sub>,
&minus;entropy, &minus;modified entropy, &minus;loss); &ndash; marks a
class that used the global fallback threshold.</p>
{class_table}

<h2>Riskiest members</h2>
<p class="note">Members with the highest privacy risk score (posterior
probability of membership from the shadow histograms).</p>
{risky_table}

<h2>Shadow models</h2>
{_table(["shadow", "members", "non-members", "train acc", "test acc"],
        shadow_rows, "shadows")}

<h2>Settings</h2>
{_table(["setting", "value"], settings_rows, "settings")}
</body></html>
"""


def write_html(
    result: AuditResult, path: str | os.PathLike, title: str | None = None
) -> None:
    """Write the self-contained HTML report.

    Args:
        result: An audit result.
        path: Output file.
        title: Page title. Defaults to "keras-mia audit".
    """
    text = render_html(result, title=title)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
