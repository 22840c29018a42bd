"""Tests of keras_mia.report on audits of synthetic outputs (no training)."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest

from keras_mia import cli, report
from keras_mia.attacks import attack_scores
from keras_mia.audit import audit_from_outputs
from keras_mia.dp import DpSgdConfig

N_CLASSES = 4
HOSTILE_ID = '<script>alert("x")</script>&'


def _outputs(rng, n, boost):
    """Probabilities with the true class boosted (more = more confident)."""
    labels = rng.integers(0, N_CLASSES, n)
    alpha = np.ones((n, N_CLASSES))
    alpha[np.arange(n), labels] += boost
    draws = rng.gamma(alpha)
    return draws / draws.sum(axis=1, keepdims=True), labels


def _make_result(n_bootstraps=20):
    rng = np.random.default_rng(7)
    members, member_labels = _outputs(rng, 120, 8.0)
    non_members, non_member_labels = _outputs(rng, 100, 3.0)
    shadows = [
        _outputs(rng, 90, 8.0) + _outputs(rng, 90, 3.0) for _ in range(2)
    ]
    ids = [f"m{i}" for i in range(120)]
    ids[5] = HOSTILE_ID
    return audit_from_outputs(
        members, member_labels, non_members, non_member_labels, shadows,
        from_logits=False, member_ids=ids, dp=DpSgdConfig(1.0, 32, 5, 1e-5),
        n_bootstraps=n_bootstraps, settings={"model": "<i>synthetic</i>"},
    )


@pytest.fixture(scope="module")
def result():
    return _make_result()


@pytest.fixture(scope="module")
def page(result):
    # Every member in the riskiest table, so the hostile id is on the page.
    return report.render_html(result, title="<b>Audit</b> & co",
                              n_riskiest=120)


def test_report_json_is_strict_and_has_intervals_and_thresholds(result):
    data = json.loads(result.to_json())
    assert data["schema_version"] == 1
    attacks = data["evaluation"]["attacks"]
    for name, attack in attacks.items():
        assert set(attack["intervals"]) >= {"accuracy", "auc"}, name
        if name != "correctness":
            assert len(attack["thresholds"]) == N_CLASSES
    assert len(data["per_class"]) == N_CLASSES
    assert data["privacy_budget"]["theoretical_epsilon"]["n_train"] == 120
    assert len(data["privacy_budget"]["rules"]) == 9


def test_report_json_lists_risk_scores_by_record_id(result):
    data = json.loads(result.to_json())
    members = data["records"]["members"]
    assert [r["id"] for r in members] == list(result.member_ids)
    np.testing.assert_allclose(
        [r["risk_score"] for r in members],
        result.evaluation.member_risk_scores, rtol=0, atol=0,
    )
    assert [r["id"] for r in data["records"]["non_members"]] == list(
        range(100)
    )


def test_report_json_without_records_omits_them(result):
    assert "records" not in result.to_dict(include_records=False)


def test_per_class_table_matches_hand_count(result):
    rows = report.per_class_table(result)
    attack = result.evaluation.attacks["confidence"]
    for c, row in enumerate(rows):
        threshold = attack.thresholds[c]
        members = result.members.labels == c
        non_members = result.non_members.labels == c
        tpr = np.mean(
            attack_scores(result.members, "confidence")[members] >= threshold
        )
        fpr = np.mean(
            attack_scores(result.non_members, "confidence")[non_members]
            >= threshold
        )
        np.testing.assert_allclose(
            row["attack_accuracy"]["confidence"], 0.5 * (tpr + 1 - fpr),
            rtol=1e-12,
        )
        assert row["n_members"] == int(members.sum())


def test_per_class_table_correctness_attack_matches_hand_count(result):
    rows = report.per_class_table(result)
    for c, row in enumerate(rows):
        tpr = np.mean(result.members.correctness[result.members.labels == c])
        fpr = np.mean(
            result.non_members.correctness[result.non_members.labels == c]
        )
        np.testing.assert_allclose(
            row["attack_accuracy"]["correctness"], 0.5 * (tpr + 1 - fpr),
            rtol=1e-12,
        )


def test_per_class_table_scores_each_attack_once(result, monkeypatch):
    calls = []

    def counting_scores(signals, name):
        calls.append(name)
        return attack_scores(signals, name)

    monkeypatch.setattr(report, "attack_scores", counting_scores)
    report.per_class_table(result)
    scored = [n for n, a in result.evaluation.attacks.items()
              if a.thresholds is not None]
    assert sorted(calls) == sorted(scored * 2)


def test_json_and_html_reports_build_per_class_table_once(
    tmp_path, monkeypatch
):
    fresh = _make_result(n_bootstraps=0)
    build_table = report.per_class_table
    calls = []

    def counting_table(res):
        calls.append(res)
        return build_table(res)

    monkeypatch.setattr(report, "per_class_table", counting_table)
    fresh.save_json(tmp_path / "r.json")
    fresh.save_html(tmp_path / "r.html")
    assert len(calls) == 1
    saved = json.loads((tmp_path / "r.json").read_text())["per_class"]
    assert saved == report._clean(fresh.per_class)


def test_riskiest_records_are_sorted_members(result):
    rows = report.riskiest_records(result, n=10)
    scores = [r["risk_score"] for r in rows]
    assert len(rows) == 10
    assert scores == sorted(scores, reverse=True)
    np.testing.assert_allclose(
        scores[0], result.evaluation.member_risk_scores.max(), rtol=0
    )


def test_report_html_escapes_every_string(page):
    assert "<b>Audit</b>" not in page
    assert "&lt;b&gt;Audit&lt;/b&gt; &amp; co" in page
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in page
    assert "<i>synthetic</i>" not in page


def test_report_html_is_self_contained(page):
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:|//)", page)
    assert "<link" not in page and "@import" not in page
    sources = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert len(sources) == 3
    for source in sources:
        prefix = "data:image/png;base64,"
        assert source.startswith(prefix)
        png = base64.b64decode(source[len(prefix):])
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Content-Security-Policy" in page


def test_report_html_puts_dp_budgets_side_by_side(result, page):
    assert f"{result.theoretical_epsilon:.3f}" in page
    assert f"{result.empirical_epsilon.epsilon:.3f}" in page


def test_write_html_and_json_create_files(result, tmp_path):
    result.save_html(tmp_path / "r.html")
    result.save_json(tmp_path / "r.json")
    assert (tmp_path / "r.html").read_text(encoding="utf-8").startswith(
        "<!DOCTYPE html>"
    )
    assert json.loads((tmp_path / "r.json").read_text())["target"][
        "n_members"
    ] == 120


def test_save_predictions_reproduces_accuracies_in_evaluate(
    result, tmp_path, capsys
):
    path = tmp_path / "predictions.npz"
    result.save_predictions(path)
    status = cli.main(["evaluate", str(path), "--json", "--n-bootstraps", "0"])
    assert status == 0
    data = json.loads(capsys.readouterr().out)
    assert data["threshold_source"] == "shadow"
    for name, attack in result.evaluation.attacks.items():
        np.testing.assert_allclose(
            data["attacks"][name]["accuracy"], attack.accuracy, rtol=1e-12
        )
