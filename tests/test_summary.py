"""The TensorBoard schema: metadata round trips and the written tags."""

from __future__ import annotations

import json

import numpy as np
import pytest

from keras_mia import compute_signals, run_attacks
from keras_mia.tensorboard import metadata, summary


@pytest.fixture(scope="module")
def evaluation():
    gen = np.random.default_rng(3)
    n, c = 120, 3
    labels_in, labels_out = gen.integers(0, c, n), gen.integers(0, c, n)
    logits_in = gen.normal(0, 1, (n, c))
    logits_in[np.arange(n), labels_in] += 2.0
    logits_out = gen.normal(0, 1, (n, c))
    logits_out[np.arange(n), labels_out] += 1.0
    members = compute_signals(logits_in, labels_in, from_logits=True)
    non_members = compute_signals(logits_out, labels_out, from_logits=True)
    return run_attacks(members, non_members, n_bootstraps=0), labels_in


def test_metadata_round_trip():
    meta = metadata.create_summary_metadata("roc", attack="loss", auc=0.75)
    assert meta.plugin_data.plugin_name == "keras_mia"
    assert meta.data_class == 2  # DATA_CLASS_TENSOR
    parsed = metadata.parse_plugin_metadata(meta.plugin_data.content)
    assert parsed == {"version": 1, "kind": "roc", "attack": "loss",
                      "auc": 0.75}


@pytest.mark.parametrize(
    "content, match",
    [
        (b"not json", "not JSON"),
        (b'{"kind": "roc"}', "'version' and 'kind'"),
        (b'{"version": 2, "kind": "roc"}', "newer"),
        (b"[1, 2]", "JSON object"),
    ],
    ids=["not-json", "no-version", "newer-version", "not-object"],
)
def test_metadata_parse_rejects(content, match):
    with pytest.raises(ValueError, match=match):
        metadata.parse_plugin_metadata(content)


@pytest.mark.parametrize(
    "kind, fields, match",
    [("curve", {}, "`kind` must be one of"),
     ("roc", {"version": 3}, "reserved")],
    ids=["unknown-kind", "reserved-field"],
)
def test_metadata_create_rejects(kind, fields, match):
    with pytest.raises(ValueError, match=match):
        metadata.create_summary_metadata(kind, **fields)


def test_summary_headline_is_max_over_attacks(evaluation):
    result, _ = evaluation
    headline = summary.headline_metrics(result)
    for metric in summary.METRICS:
        values = {
            name: summary.attack_metrics(r)[metric]
            for name, r in result.attacks.items()
        }
        value, attack = headline[metric]
        assert value == max(values.values())
        assert values[attack] == value
    distance, _ = headline["auc_distance"]
    expected = max(abs(r.auc - 0.5) for r in result.attacks.values())
    np.testing.assert_allclose(distance, expected, rtol=0, atol=0)


def test_summary_top_risk_table_exact():
    table = summary.top_risk_table(
        np.array(["a", "b", "c"]), np.array([0, 2, 1]),
        np.array([0.2, 0.9, 0.9]), top_k=2,
    )
    assert table.splitlines() == [
        "| rank | id | class | risk score |",
        "|---:|---|---:|---:|",
        "| 1 | b | 2 | 0.9000 |",
        "| 2 | c | 1 | 0.9000 |",
    ]


def documented_tags(attacks) -> set[str]:
    """The tags one evaluation writes, as the summary schema documents."""
    m = summary.METRICS
    return (
        {f"mia/{x}" for x in m}
        | {f"mia/{a}/{x}" for a in attacks for x in m}
        | {"mia/risk/mean_member", "mia/risk/mean_non_member"}
        | {f"mia/risk/member_share_at_{x}" for x in ("0.5", "0.8", "0.9")}
        | {"mia_risk/members", "mia_risk/non_members", "mia_top_risk"}
        | {f"mia_roc/{a}" for a in attacks}
        | {f"mia_pr/{a}" for a in attacks}
        | {"mia_records/member_scores", "mia_records/member_ids",
           "mia_records/member_labels", "mia_meta/config"}
    )


def read_run(run_dir) -> dict:
    """All tags of a run: {tag: [(step, value, metadata)]}, via tf's reader."""
    import glob

    import tensorflow as tf

    out: dict = {}
    for path in sorted(glob.glob(f"{run_dir}/events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                out.setdefault(value.tag, []).append(
                    (event.step, tf.make_ndarray(value.tensor), value.metadata)
                )
    return out


@pytest.mark.slow
def test_summary_evaluation_writes_documented_tags(evaluation, tmp_path):
    import tensorflow as tf

    result, labels = evaluation
    ids = np.arange(len(labels)) * 10
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        summary.evaluation(result, 4, ids, labels, top_k=3,
                           include_record_info=True)
        summary.json_text("mia_meta/config", "config", {"a": 1}, 4)
    writer.close()
    tags = read_run(tmp_path)
    assert set(tags) == documented_tags(list(result.attacks))
    assert {step for v in tags.values() for step, _, _ in v} == {4}

    (_, roc, meta), = tags["mia_roc/loss"]
    n_points = len(result.attacks["loss"].roc_false_positive_rates)
    assert roc.shape == (2, n_points)
    assert roc.dtype == np.float32
    content = metadata.parse_plugin_metadata(meta.plugin_data.content)
    assert content["kind"] == "roc" and content["attack"] == "loss"
    # Per-step values live in scalars: TensorBoard keeps one metadata.
    assert "auc" not in content
    np.testing.assert_allclose(
        roc[1], result.attacks["loss"].roc_true_positive_rates, atol=1e-7
    )
    (_, scores, meta), = tags["mia_records/member_scores"]
    assert scores.dtype == np.float32 and scores.shape == (len(labels),)
    np.testing.assert_allclose(scores, result.member_risk_scores, atol=1e-7)
    (_, got_ids, _), = tags["mia_records/member_ids"]
    assert [i.decode() for i in got_ids] == [str(i) for i in ids]
    (_, got_labels, _), = tags["mia_records/member_labels"]
    assert got_labels.dtype == np.int64
    np.testing.assert_array_equal(got_labels, labels)
    (_, config, meta), = tags["mia_meta/config"]
    assert json.loads(config.item().decode()) == {"version": 1, "a": 1}
    (_, pr, _), = tags["mia_pr/loss"]
    assert pr.shape == (6, roc.shape[1])
    (_, mean, _), = tags["mia/risk/mean_member"]
    np.testing.assert_allclose(mean, np.mean(result.member_risk_scores),
                               rtol=1e-6)
