"""Tests of the Privacy dashboard's backend (`keras_mia.tensorboard.plugin`).

The plugin reads logs written by the demo (`keras_mia.demo.run_demo`, the
callback's real code path) through TensorBoard's multiplexer-backed data
provider, the one `--load_fast=false` uses; the browser test covers the
default fast loader. The demo's callback keeps every evaluation in memory,
which gives an oracle independent of the event files.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import re
from pathlib import Path

import numpy as np
import pytest
from tensorboard import context as tb_context
from tensorboard.backend import application
from tensorboard.backend.event_processing import (
    data_ingester,
    plugin_event_multiplexer,
)
from tensorboard.backend.event_processing import (
    data_provider as tb_data_provider,
)
from tensorboard.plugins import base_plugin
from werkzeug import test as werkzeug_test

from keras_mia.attacks import ATTACKS
from keras_mia.tensorboard import metadata, plugin

PREFIX = "/data/plugin/keras_mia"
EXPERIMENT = ""  # the multiplexer provider ignores the id, but needs a str
DEMO_EPOCHS = 3
DEMO_BUDGET = 0.5
STATIC_DIR = Path(plugin.__file__).parent / "static"


def _provider(logdir: Path) -> tb_data_provider.MultiplexerDataProvider:
    """The data provider TensorBoard builds with `--load_fast=false`."""
    sizes = dict(data_ingester.DEFAULT_TENSOR_SIZE_GUIDANCE)
    sizes[metadata.PLUGIN_NAME] = 0  # --samples_per_plugin=keras_mia=0
    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        size_guidance=data_ingester.DEFAULT_SIZE_GUIDANCE,
        tensor_size_guidance=sizes,
    )
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    return tb_data_provider.MultiplexerDataProvider(multiplexer, str(logdir))


def _plugin(logdir: Path) -> plugin.PrivacyPlugin:
    provider = _provider(logdir)
    return plugin.PrivacyPlugin(
        base_plugin.TBContext(logdir=str(logdir), data_provider=provider)
    )


def _client(privacy_plugin: plugin.PrivacyPlugin) -> werkzeug_test.Client:
    """A test client on TensorBoard's WSGI app (routing, error handling)."""
    app = application.TensorBoardWSGI(
        [privacy_plugin], data_provider=privacy_plugin._data_provider
    )
    return werkzeug_test.Client(app)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Three demo epochs with a gate, logged to `<logdir>/digits`."""
    from keras_mia.demo import run_demo

    logdir = tmp_path_factory.mktemp("logs")
    result = run_demo(
        log_dir=logdir / "digits", epochs=DEMO_EPOCHS, budget=DEMO_BUDGET
    )
    return logdir, result


@pytest.fixture(scope="module")
def demo_plugin(demo):
    return _plugin(demo[0])


@pytest.fixture
def ctx():
    return tb_context.RequestContext()


# Without logs ---------------------------------------------------------------


def test_plugin_frontend_metadata_names_privacy_tab():
    privacy_plugin = plugin.PrivacyPlugin(base_plugin.TBContext())
    frontend = privacy_plugin.frontend_metadata()
    assert privacy_plugin.plugin_name == metadata.PLUGIN_NAME == "keras_mia"
    assert frontend.tab_name == "Privacy"
    assert frontend.es_module_path == "/index.js"
    assert frontend.element_name is None
    assert privacy_plugin.data_plugin_names() == ("keras_mia",)
    assert set(privacy_plugin.get_plugin_apps()) == {
        "/index.js",
        "/style.css",
        "/runs",
        "/leakage",
        "/roc",
        "/distributions",
        "/records",
    }


def test_plugin_kinds_are_those_of_the_schema():
    kinds = {
        plugin.KIND_ROC,
        plugin.KIND_MEMBER_SCORES,
        plugin.KIND_MEMBER_IDS,
        plugin.KIND_MEMBER_LABELS,
        plugin.KIND_CONFIG,
        plugin.KIND_GATE,
    }
    assert kinds == set(metadata.KINDS)


def test_plugin_entry_point_registered():
    found = {
        ep.name: ep.value
        for ep in importlib.metadata.entry_points(group="tensorboard_plugins")
    }
    assert found.get("keras_mia") == (
        "keras_mia.tensorboard.plugin:PrivacyPlugin"
    ), (
        "keras-mia must declare its TensorBoard plugin in setup.cfg "
        "([options.entry_points] tensorboard_plugins) and be installed "
        f"(pip install -e .); entry points found: {found}"
    )


@pytest.mark.parametrize(
    "pattern",
    [r"\.innerHTML", r"\.outerHTML", r"insertAdjacentHTML", r"document\.write",
     r"\beval\(", r"new Function"],
    ids=["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
         "eval", "Function"],
)
def test_plugin_frontend_never_parses_strings_as_html(pattern):
    source = (STATIC_DIR / "index.js").read_text(encoding="utf-8")
    code = "\n".join(
        line for line in source.splitlines()
        if not line.lstrip().startswith("//")
    )
    assert re.search(pattern, code) is None


def test_plugin_frontend_loads_nothing_from_outside():
    source = (STATIC_DIR / "index.js").read_text(encoding="utf-8")
    css = (STATIC_DIR / "style.css").read_text(encoding="utf-8")
    assert re.search(r"https?://", css) is None
    urls = set(re.findall(r"https?://[^'\"\s]+", source))
    assert urls == {"http://www.w3.org/2000/svg"}  # a namespace, not fetched
    assert re.search(r"\bimport\b.+\bfrom\b", source) is None


@pytest.mark.parametrize(
    "route, content_type",
    [("/index.js", "text/javascript"), ("/style.css", "text/css")],
    ids=["js", "css"],
)
def test_plugin_serves_static_files_with_content_type(
    route, content_type, tmp_path
):
    client = _client(_plugin(tmp_path))
    response = client.get(PREFIX + route)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(content_type)
    name = route.lstrip("/")
    assert response.get_data() == (STATIC_DIR / name).read_bytes()


def test_plugin_empty_logdir_lists_no_runs(tmp_path, ctx):
    privacy_plugin = _plugin(tmp_path)
    assert privacy_plugin.runs_impl(ctx, EXPERIMENT) == []
    client = _client(privacy_plugin)
    response = client.get(PREFIX + "/runs")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert json.loads(response.get_data()) == {"runs": []}
    assert client.get(PREFIX + "/leakage?run=privacy").status_code == 404


def test_plugin_entry_page_loads_the_module(tmp_path):
    client = _client(_plugin(tmp_path))
    response = client.get("/data/plugin_entry.html?name=keras_mia")
    assert response.status_code == 200
    assert b'import("./index.js")' in response.get_data()
    listing = json.loads(client.get("/data/plugins_listing").get_data())
    assert listing["keras_mia"]["tab_name"] == "Privacy"
    assert listing["keras_mia"]["loading_mechanism"] == {
        "type": "IFRAME",
        "module_path": "/data/plugin/keras_mia/index.js",
    }


@pytest.mark.slow
def test_plugin_ignores_newer_schema_version(tmp_path, ctx, caplog):
    import tensorflow as tf
    from tensorboard.compat.proto import summary_pb2

    newer = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=metadata.PLUGIN_NAME,
            content=json.dumps({"version": 99, "kind": "roc"}).encode(),
        ),
        data_class=summary_pb2.DATA_CLASS_TENSOR,
    )
    writer = tf.summary.create_file_writer(str(tmp_path / "future"))
    with writer.as_default():
        tf.summary.write("mia_roc/loss", tf.zeros((2, 3)), 0, metadata=newer)
    writer.close()
    privacy_plugin = _plugin(tmp_path)
    with caplog.at_level(logging.WARNING, logger=plugin.__name__):
        assert privacy_plugin.runs_impl(ctx, EXPERIMENT) == []
        assert privacy_plugin.runs_impl(ctx, EXPERIMENT) == []
    warnings = [r for r in caplog.records if "version 99" in r.getMessage()]
    assert len(warnings) == 1  # warned once, not per request


# On the demo's logs -------------------------------------------------------


@pytest.mark.slow
def test_plugin_runs_describes_demo_run(demo, demo_plugin, ctx):
    _, result = demo
    runs = demo_plugin.runs_impl(ctx, EXPERIMENT)
    assert [r["run"] for r in runs] == ["digits/privacy"]
    run = runs[0]
    assert run["experiment"] == "digits"
    assert run["steps"] == list(range(DEMO_EPOCHS))
    assert run["attacks"] == sorted(ATTACKS)
    assert run["metrics"] == list(plugin.METRICS)
    assert run["loss_runs"] == {
        "train": "digits/train",
        "validation": "digits/validation",
    }
    assert run["has_records"] is True
    assert run["config"]["n_members"] == len(result.data.y_members)
    assert run["config"]["threshold_source"] == "cross_fit"
    assert run["gate"]["monitor"] == "mia_advantage"
    assert run["gate"]["budget"] == DEMO_BUDGET


@pytest.mark.slow
def test_plugin_leakage_matches_callback_and_keras_history(
    demo, demo_plugin, ctx
):
    _, result = demo
    leakage = demo_plugin.leakage_impl(ctx, EXPERIMENT, "digits/privacy")
    epochs = sorted(result.callback.history)
    for metric in plugin.METRICS:
        expected = [result.callback.history[e][f"mia_{metric}"] for e in epochs]
        steps, values = zip(*leakage["headline"][metric], strict=True)
        assert list(steps) == epochs
        # Scalars are stored as float32.
        np.testing.assert_allclose(values, expected, rtol=1e-6, atol=1e-7)
    assert sorted(leakage["attacks"]) == sorted(ATTACKS)
    last = result.callback.results[epochs[-1]]
    for name, attack in last.attacks.items():
        np.testing.assert_allclose(
            leakage["attacks"][name]["auc"][-1][1], attack.auc, rtol=1e-6
        )
    for run, key in (("train", "loss"), ("validation", "val_loss")):
        values = [v for _, v in leakage["loss"][run]]
        np.testing.assert_allclose(values, result.history[key], rtol=1e-6)
    assert leakage["gate"]["budget"] == DEMO_BUDGET
    assert "mia/risk/mean_member" in leakage["other"]


@pytest.mark.slow
@pytest.mark.parametrize("step", [0, DEMO_EPOCHS - 1], ids=["first", "last"])
def test_plugin_roc_matches_evaluation(demo, demo_plugin, ctx, step):
    _, result = demo
    roc = demo_plugin.roc_impl(ctx, EXPERIMENT, "digits/privacy", step)
    evaluation = result.callback.results[step]
    assert [c["attack"] for c in roc["curves"]] == sorted(evaluation.attacks)
    for curve in roc["curves"]:
        attack = evaluation.attacks[curve["attack"]]
        # The curves are stored as float32.
        np.testing.assert_allclose(
            curve["fpr"], attack.roc_false_positive_rates, atol=1e-7
        )
        np.testing.assert_allclose(
            curve["tpr"], attack.roc_true_positive_rates, atol=1e-7
        )
        np.testing.assert_allclose(curve["auc"], attack.auc, rtol=1e-6)


@pytest.mark.slow
def test_plugin_distributions_hold_every_record(demo, demo_plugin, ctx):
    _, result = demo
    step = DEMO_EPOCHS - 1
    out = demo_plugin.distributions_impl(
        ctx, EXPERIMENT, "digits/privacy", step
    )
    evaluation = result.callback.results[step]
    for key, scores in (
        ("members", evaluation.member_risk_scores),
        ("non_members", evaluation.non_member_risk_scores),
    ):
        buckets = np.asarray(out[key])
        assert buckets.shape[1] == 3
        np.testing.assert_allclose(buckets[:, 2].sum(), len(scores), rtol=0)
        assert buckets[0, 0] <= scores.min() + 1e-6
        assert buckets[-1, 1] >= scores.max() - 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("top_k", [1, 10, 100], ids=["k1", "k10", "k100"])
def test_plugin_records_are_the_riskiest_members(
    demo, demo_plugin, ctx, top_k
):
    _, result = demo
    callback = result.callback
    step = DEMO_EPOCHS - 1
    out = demo_plugin.records_impl(
        ctx, EXPERIMENT, "digits/privacy", step, top_k
    )
    scores = callback.results[step].member_risk_scores.astype(np.float32)
    ids = [str(i) for i in callback.member_ids]
    labels = dict(zip(ids, result.data.y_members.tolist(), strict=True))
    assert out["n_records"] == len(scores)
    assert out["steps"] == list(range(DEMO_EPOCHS))
    got = [r["score"] for r in out["records"]]
    assert len(got) == top_k
    np.testing.assert_allclose(got, np.sort(scores)[::-1][:top_k], rtol=0)
    for rank, record in enumerate(out["records"], start=1):
        assert record["rank"] == rank
        position = ids.index(record["id"])
        assert scores[position] == np.float32(record["score"])
        assert record["label"] == labels[record["id"]]
        assert [s for s, _ in record["history"]] == list(range(DEMO_EPOCHS))
        expected = [
            callback.results[e].member_risk_scores[position]
            for e in range(DEMO_EPOCHS)
        ]
        np.testing.assert_allclose(
            [v for _, v in record["history"]], expected, rtol=1e-6
        )


@pytest.mark.slow
def test_plugin_routes_answer_json(demo, demo_plugin):
    client = _client(demo_plugin)
    for query in (
        "/runs",
        "/leakage?run=digits/privacy",
        "/roc?run=digits/privacy&step=1",
        "/distributions?run=digits/privacy&step=1",
        "/records?run=digits/privacy&step=1&k=5",
    ):
        response = client.get(PREFIX + query)
        assert response.status_code == 200, query
        assert response.headers["Content-Type"] == "application/json"
        json.loads(response.get_data())
    records = json.loads(
        client.get(PREFIX + "/records?run=digits/privacy&step=1&k=5").get_data()
    )
    assert len(records["records"]) == 5


@pytest.mark.slow
@pytest.mark.parametrize(
    "query, status",
    [
        ("/leakage", 400),
        ("/leakage?run=", 400),
        ("/leakage?run=nope/privacy", 404),
        ("/leakage?run=digits/train", 404),
        ("/leakage?run=../../../etc/passwd", 404),
        ("/roc?run=digits/privacy", 400),
        ("/roc?run=digits/privacy&step=abc", 400),
        ("/roc?run=digits/privacy&step=-1", 400),
        ("/roc?run=digits/privacy&step=1e3", 400),
        ("/roc?run=digits/privacy&step=99", 400),
        ("/distributions?run=digits/privacy&step=99", 400),
        ("/records?run=digits/privacy&step=99", 400),
        ("/records?run=digits/privacy&step=0&k=0", 400),
        ("/records?run=digits/privacy&step=0&k=101", 400),
        ("/records?run=digits/privacy&step=0&k=2.5", 400),
    ],
    ids=[
        "no-run", "empty-run", "unknown-run", "loss-run", "path-run",
        "no-step", "text-step", "negative-step", "float-step",
        "unevaluated-step", "unevaluated-histogram", "unevaluated-records",
        "k-zero", "k-too-large", "k-float",
    ],
)
def test_plugin_rejects_bad_query(demo_plugin, query, status):
    response = _client(demo_plugin).get(PREFIX + query)
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("text/plain")


@pytest.mark.slow
def test_plugin_reads_sibling_loss_of_nested_run(demo, tmp_path, ctx):
    """Runs deeper in the log dir find their own train/validation runs."""
    import shutil

    logdir, _ = demo
    shutil.copytree(logdir / "digits", tmp_path / "a" / "b")
    os.makedirs(tmp_path / "c")
    privacy_plugin = _plugin(tmp_path)
    (run,) = privacy_plugin.runs_impl(ctx, EXPERIMENT)
    assert run["run"] == "a/b/privacy"
    assert run["experiment"] == "a/b"
    assert run["loss_runs"] == {
        "train": "a/b/train",
        "validation": "a/b/validation",
    }
