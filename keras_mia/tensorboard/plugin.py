"""The "Privacy" dashboard: a dynamic TensorBoard plugin.

TensorBoard finds the plugin through the `tensorboard_plugins` entry point
that keras-mia declares, shows a "Privacy" tab, and loads the bundled ES
module `static/index.js` into that tab's iframe. The module asks the routes
below for JSON and draws SVG charts; it needs no network access beyond the
TensorBoard server.

Every route answers only from TensorBoard's data provider
(`context.data_provider`), so the plugin works with the default fast loader
and with `--load_fast=false`. Query parameters name a run and an epoch; both
are checked against what the provider lists before anything is read, and no
route takes a file path.

Note: TensorBoard's Python loader (`--load_fast=false`) keeps only 10
samples per tag of a third-party plugin, so the ROC curves and per-record
scores of a run with more evaluations are subsampled (the leakage and loss
charts, which are scalars, are not). Start TensorBoard with
`--samples_per_plugin=keras_mia=0` to keep every evaluation; the default
fast loader of TensorBoard 2.21 keeps them all anyway, and accepts the flag.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping

import numpy as np
from tensorboard import context as tb_context
from tensorboard import errors, plugin_util
from tensorboard.backend import http_util
from tensorboard.data import provider
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from keras_mia.tensorboard import metadata
from keras_mia.tensorboard import summary as tb_summary

logger = logging.getLogger(__name__)

PLUGIN_NAME = metadata.PLUGIN_NAME

# Data written through TensorBoard's own summary plugins.
_SCALARS_PLUGIN = "scalars"
_HISTOGRAMS_PLUGIN = "histograms"

# Tags and tag prefixes of the callback's summaries.
SCALAR_PREFIX = tb_summary.SCALAR_PREFIX
ROC_PREFIX = tb_summary.ROC_PREFIX
MEMBER_RISK_TAG = tb_summary.MEMBER_RISK_TAG
NON_MEMBER_RISK_TAG = tb_summary.NON_MEMBER_RISK_TAG
# Kinds of this plugin's tensors (`metadata.KINDS`).
KIND_ROC = "roc"
KIND_MEMBER_SCORES = "member_scores"
KIND_MEMBER_IDS = "member_ids"
KIND_MEMBER_LABELS = "member_labels"
KIND_CONFIG = "config"
KIND_GATE = "gate"
METRICS = tb_summary.METRICS

# Keras' TensorBoard callback writes the loss into these sibling runs.
LOSS_TAG = "epoch_loss"
LOSS_RUNS = ("train", "validation")

DEFAULT_TOP_K = 10
MAX_TOP_K = 100
# Upper bound on the points read per time series; the provider keeps what
# `--samples_per_plugin` allows, and this only guards the response size.
_MAX_POINTS = 100_000
_STEP_PATTERN = re.compile(r"^[0-9]{1,12}$")
_STATIC_DIR = os.path.join(os.path.dirname(__file__), "static")
_STATIC_FILES = {
    "/index.js": ("index.js", "text/javascript"),
    "/style.css": ("style.css", "text/css"),
}


class PrivacyPlugin(base_plugin.TBPlugin):
    """Serves the Privacy dashboard from the callback's summaries.

    Args:
        context: The `base_plugin.TBContext` TensorBoard passes to every
            plugin; only its `data_provider` is used.
    """

    plugin_name = PLUGIN_NAME

    def __init__(self, context: base_plugin.TBContext):
        self._data_provider = context.data_provider
        self._warned_versions: set[tuple[str, str]] = set()

    def get_plugin_apps(self) -> dict:
        """The routes, relative to `/data/plugin/keras_mia`.

        Returns:
            A dict from route to WSGI application.
        """
        apps = {route: self._serve_static for route in _STATIC_FILES}
        apps.update(
            {
                "/runs": self._serve_runs,
                "/leakage": self._serve_leakage,
                "/roc": self._serve_roc,
                "/distributions": self._serve_distributions,
                "/records": self._serve_records,
            }
        )
        return apps

    def is_active(self) -> bool:
        """Whether to list the tab as active.

        Returns:
            False: TensorBoard marks the tab active by itself when the
            provider lists `keras_mia` data (`data_plugin_names`).
        """
        return False

    def data_plugin_names(self) -> tuple[str, ...]:
        """Plugin names whose data makes the tab active.

        Returns:
            `("keras_mia",)`.
        """
        return (PLUGIN_NAME,)

    def frontend_metadata(self) -> base_plugin.FrontendMetadata:
        """Tells TensorBoard to load `index.js` into a "Privacy" tab.

        Returns:
            The frontend metadata.
        """
        return base_plugin.FrontendMetadata(
            es_module_path="/index.js", tab_name="Privacy"
        )

    # Routes ---------------------------------------------------------------

    @wrappers.Request.application
    def _serve_static(self, request: wrappers.Request) -> wrappers.Response:
        route = request.path[request.path.rindex("/") :]
        name, content_type = _STATIC_FILES[route]
        with open(os.path.join(_STATIC_DIR, name), "rb") as handle:
            contents = handle.read()
        return http_util.Respond(request, contents, content_type)

    @wrappers.Request.application
    def _serve_runs(self, request: wrappers.Request) -> wrappers.Response:
        ctx, experiment = _request_context(request)
        return _json(request, {"runs": self.runs_impl(ctx, experiment)})

    @wrappers.Request.application
    def _serve_leakage(self, request: wrappers.Request) -> wrappers.Response:
        ctx, experiment = _request_context(request)
        run = self._checked_run(ctx, experiment, request.args.get("run"))
        return _json(request, self.leakage_impl(ctx, experiment, run))

    @wrappers.Request.application
    def _serve_roc(self, request: wrappers.Request) -> wrappers.Response:
        ctx, experiment = _request_context(request)
        run = self._checked_run(ctx, experiment, request.args.get("run"))
        step = _parse_step(request.args.get("step"))
        return _json(request, self.roc_impl(ctx, experiment, run, step))

    @wrappers.Request.application
    def _serve_distributions(
        self, request: wrappers.Request
    ) -> wrappers.Response:
        ctx, experiment = _request_context(request)
        run = self._checked_run(ctx, experiment, request.args.get("run"))
        step = _parse_step(request.args.get("step"))
        return _json(
            request, self.distributions_impl(ctx, experiment, run, step)
        )

    @wrappers.Request.application
    def _serve_records(self, request: wrappers.Request) -> wrappers.Response:
        ctx, experiment = _request_context(request)
        run = self._checked_run(ctx, experiment, request.args.get("run"))
        step = _parse_step(request.args.get("step"))
        top_k = _parse_top_k(request.args.get("k"))
        return _json(
            request, self.records_impl(ctx, experiment, run, step, top_k)
        )

    # Implementations (plain dicts, tested without HTTP) ---------------------

    def runs_impl(
        self, ctx: tb_context.RequestContext, experiment: str
    ) -> list[dict]:
        """Describes every run that holds keras-mia data.

        Args:
            ctx: The request context (`plugin_util.context(environ)`).
            experiment: The experiment id.

        Returns:
            A list, sorted by run name, of dicts with the run name, its
            experiment (the parent directory, `"."` at the top level), the
            evaluated epochs (0-based steps), the attacks and metrics
            found, the sibling loss runs present, and the callback's
            `config` and `gate` (or `None`).
        """
        tensors = self._list_own_tensors(ctx, experiment)
        scalars = self._list_scalars(ctx, experiment)
        privacy_runs = set(tensors) | {
            run
            for run, tags in scalars.items()
            if any(tag.startswith(SCALAR_PREFIX) for tag in tags)
        }
        loss_runs = {run for run, tags in scalars.items() if LOSS_TAG in tags}
        described = []
        for run in sorted(privacy_runs):
            contents = tensors.get(run, {})
            attacks, metrics = _split_scalar_tags(scalars.get(run, {}))
            for tag in contents:
                if tag.startswith(ROC_PREFIX):
                    attacks.add(tag[len(ROC_PREFIX) :])
            siblings = _sibling_runs(run)
            described.append(
                {
                    "run": run,
                    "experiment": _experiment_name(run),
                    "steps": self._evaluation_steps(
                        ctx, experiment, run, contents, scalars.get(run, {})
                    ),
                    "attacks": sorted(attacks),
                    "metrics": [m for m in METRICS if m in metrics],
                    "loss_runs": {
                        name: sibling
                        for name, sibling in siblings.items()
                        if sibling in loss_runs
                    },
                    "has_records": bool(
                        _tags_of_kind(contents, KIND_MEMBER_SCORES)
                    ),
                    "config": self._read_json_tensor(
                        ctx, experiment, run, contents, KIND_CONFIG
                    ),
                    "gate": self._gate(ctx, experiment, run, contents),
                }
            )
        return described

    def leakage_impl(
        self, ctx: tb_context.RequestContext, experiment: str, run: str
    ) -> dict:
        """Leakage metrics and the sibling runs' loss over epochs.

        Args:
            ctx: The request context.
            experiment: The experiment id.
            run: A run listed by `runs_impl`.

        Returns:
            A dict with `headline` (`{metric: [[step, value], ...]}`, the
            maximum over attacks), `attacks` (`{attack: {metric: points}}`),
            `other` (remaining `mia/` scalars), `loss` (`{"train": points,
            "validation": points}` for the runs present) and `gate`.
            Non-finite values are `None`.
        """
        scalars = self._list_scalars(ctx, experiment)
        tags = [t for t in scalars.get(run, {}) if t.startswith(SCALAR_PREFIX)]
        read = self._read_scalars(ctx, experiment, [run], tags)
        headline: dict[str, list] = {}
        attacks: dict[str, dict[str, list]] = {}
        other: dict[str, list] = {}
        for tag, data in read.get(run, {}).items():
            points = [[d.step, _finite(d.value)] for d in data]
            parts = tag[len(SCALAR_PREFIX) :].split("/")
            if len(parts) == 1 and parts[0] in METRICS:
                headline[parts[0]] = points
            elif len(parts) == 2 and parts[1] in METRICS and parts[0] != "risk":
                attacks.setdefault(parts[0], {})[parts[1]] = points
            else:
                other[tag] = points

        siblings = {
            name: sibling
            for name, sibling in _sibling_runs(run).items()
            if LOSS_TAG in scalars.get(sibling, {})
        }
        loss_read = self._read_scalars(
            ctx, experiment, list(siblings.values()), [LOSS_TAG]
        )
        loss = {
            name: [
                [d.step, _finite(d.value)]
                for d in loss_read.get(sibling, {}).get(LOSS_TAG, [])
            ]
            for name, sibling in siblings.items()
        }
        contents = self._list_own_tensors(ctx, experiment).get(run, {})
        return {
            "run": run,
            "headline": headline,
            "attacks": attacks,
            "other": other,
            "loss": loss,
            "gate": self._gate(ctx, experiment, run, contents),
        }

    def roc_impl(
        self,
        ctx: tb_context.RequestContext,
        experiment: str,
        run: str,
        step: int,
    ) -> dict:
        """Every attack's ROC curve at one evaluation.

        Args:
            ctx: The request context.
            experiment: The experiment id.
            run: A run listed by `runs_impl`.
            step: The epoch (0-based step) of an evaluation of `run`.

        Returns:
            A dict with `curves`: a list of `{"attack", "auc", "fpr",
            "tpr"}` sorted by attack, `fpr` and `tpr` lists of equal length.
            `auc` is the `mia/<attack>/auc` scalar of the same step, or
            the trapezoidal area under the stored curve when that scalar is
            missing.

        Raises:
            tensorboard.errors.InvalidArgumentError: If `run` holds no ROC
                curve at `step`.
        """
        contents = self._list_own_tensors(ctx, experiment).get(run, {})
        tags = _tags_of_kind(contents, KIND_ROC)
        read = self._read_tensors(ctx, experiment, run, tags)
        auc_tags = [
            f"{SCALAR_PREFIX}{tag[len(ROC_PREFIX) :]}/auc" for tag in tags
        ]
        aucs = self._read_scalars(ctx, experiment, [run], auc_tags).get(run, {})
        curves = []
        for tag, auc_tag in zip(tags, auc_tags, strict=True):
            datum = _at_step(read.get(tag, []), step)
            if datum is None:
                continue
            array = np.asarray(datum.numpy, dtype=np.float64)
            if array.ndim != 2 or array.shape[0] != 2:
                logger.warning(
                    "Skipping %s in run %r: expected shape (2, P), got %s.",
                    tag,
                    run,
                    array.shape,
                )
                continue
            auc = _at_step(aucs.get(auc_tag, []), step)
            area = float(np.trapezoid(array[1], array[0]))
            curves.append(
                {
                    "attack": tag[len(ROC_PREFIX) :],
                    "auc": _finite(area if auc is None else auc.value),
                    "fpr": [_finite(v) for v in array[0]],
                    "tpr": [_finite(v) for v in array[1]],
                }
            )
        if tags and not curves:
            _unknown_step(run, step, _steps_of(read))
        return {"run": run, "step": step, "curves": curves}

    def distributions_impl(
        self,
        ctx: tb_context.RequestContext,
        experiment: str,
        run: str,
        step: int,
    ) -> dict:
        """Histograms of members' and non-members' risk scores.

        Args:
            ctx: The request context.
            experiment: The experiment id.
            run: A run listed by `runs_impl`.
            step: The epoch (0-based step) of an evaluation of `run`.

        Returns:
            A dict with `members` and `non_members`, each a list of
            `[left, right, count]` buckets (empty if not written).

        Raises:
            tensorboard.errors.InvalidArgumentError: If the histograms exist
                but not at `step`.
        """
        listed = self._data_provider.list_tensors(
            ctx, experiment_id=experiment, plugin_name=_HISTOGRAMS_PLUGIN
        ).get(run, {})
        tags = [
            t for t in (MEMBER_RISK_TAG, NON_MEMBER_RISK_TAG) if t in listed
        ]
        read = self._read_tensors(
            ctx, experiment, run, tags, plugin_name=_HISTOGRAMS_PLUGIN
        )
        out = {"run": run, "step": step, "members": [], "non_members": []}
        for key, tag in (
            ("members", MEMBER_RISK_TAG),
            ("non_members", NON_MEMBER_RISK_TAG),
        ):
            datum = _at_step(read.get(tag, []), step)
            if datum is None:
                continue
            array = np.asarray(datum.numpy, dtype=np.float64).reshape(-1, 3)
            out[key] = [[_finite(v) for v in row] for row in array]
        if tags and not out["members"] and not out["non_members"]:
            _unknown_step(run, step, _steps_of(read))
        return out

    def records_impl(
        self,
        ctx: tb_context.RequestContext,
        experiment: str,
        run: str,
        step: int,
        top_k: int = DEFAULT_TOP_K,
    ) -> dict:
        """The members with the highest risk scores at one evaluation.

        Args:
            ctx: The request context.
            experiment: The experiment id.
            run: A run listed by `runs_impl`.
            step: The epoch (0-based step) of an evaluation of `run`.
            top_k: How many records to return, in `[1, MAX_TOP_K]`.
                Defaults to `DEFAULT_TOP_K`.

        Returns:
            A dict with `n_records` (members scored at `step`), `steps` (the
            evaluations with per-record scores) and `records`: a list, by
            decreasing score (higher = more at risk), of `{"rank", "id",
            "label", "class_name", "score", "history"}`, `history` being
            `[[step, score], ...]` over all evaluations that scored the
            record. Ids are matched across evaluations by value when ids
            were written, by position otherwise.

        Raises:
            tensorboard.errors.InvalidArgumentError: If `run` has per-record
                scores but not at `step`.
        """
        contents = self._list_own_tensors(ctx, experiment).get(run, {})
        by_kind = {c.get("kind"): t for t, c in sorted(contents.items())}
        tags = [
            by_kind[k]
            for k in (
                KIND_MEMBER_SCORES,
                KIND_MEMBER_IDS,
                KIND_MEMBER_LABELS,
            )
            if k in by_kind
        ]
        if KIND_MEMBER_SCORES not in by_kind:
            return {
                "run": run,
                "step": step,
                "n_records": 0,
                "steps": [],
                "records": [],
            }
        read = self._read_tensors(ctx, experiment, run, tags)
        scores_data = read.get(by_kind[KIND_MEMBER_SCORES], [])
        ids_data = read.get(by_kind.get(KIND_MEMBER_IDS), [])
        labels_data = read.get(by_kind.get(KIND_MEMBER_LABELS), [])
        current = _at_step(scores_data, step)
        if current is None:
            _unknown_step(run, step, [d.step for d in scores_data])

        scores = np.asarray(current.numpy, dtype=np.float64).reshape(-1)
        ids = _ids_at(ids_data, step, len(scores))
        labels = _values_at(labels_data, step, len(scores))
        order = np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable")
        top = order[:top_k]

        # Each evaluation's score of the chosen records, matched by id. The
        # ids are usually written once, so their lookup is built once.
        history: dict[int, list] = {int(i): [] for i in top}
        lookups: dict[tuple, dict[str, int]] = {}
        for datum in sorted(scores_data, key=lambda d: d.step):
            values = np.asarray(datum.numpy, dtype=np.float64).reshape(-1)
            source = _latest_at_or_before(ids_data, datum.step)
            key = (None if source is None else source.step, len(values))
            if key not in lookups:
                step_ids = _ids_at(ids_data, datum.step, len(values))
                lookups[key] = {v: p for p, v in enumerate(step_ids)}
            for index in top:
                position = lookups[key].get(ids[index])
                if position is not None:
                    history[int(index)].append(
                        [datum.step, _finite(values[position])]
                    )

        class_names = _class_names(
            self._read_json_tensor(ctx, experiment, run, contents, KIND_CONFIG)
        )
        records = []
        for rank, index in enumerate(top, start=1):
            label = None if labels is None else int(labels[index])
            records.append(
                {
                    "rank": rank,
                    "id": ids[index],
                    "label": label,
                    "class_name": _class_name(class_names, label),
                    "score": _finite(scores[index]),
                    "history": history[int(index)],
                }
            )
        return {
            "run": run,
            "step": step,
            "n_records": int(len(scores)),
            "steps": sorted(d.step for d in scores_data),
            "records": records,
        }

    # Data provider helpers ----------------------------------------------------

    def _checked_run(
        self, ctx: tb_context.RequestContext, experiment: str, run: str | None
    ) -> str:
        """Returns `run` if the provider lists it with keras-mia data."""
        if not run:
            raise errors.InvalidArgumentError("Missing query parameter `run`.")
        known = set(self._list_own_tensors(ctx, experiment))
        known.update(
            name
            for name, tags in self._list_scalars(ctx, experiment).items()
            if any(tag.startswith(SCALAR_PREFIX) for tag in tags)
        )
        if run not in known:
            raise errors.NotFoundError("No keras-mia data for this run.")
        return run

    def _list_own_tensors(
        self, ctx: tb_context.RequestContext, experiment: str
    ) -> dict:
        """`{run: {tag: content}}` for this plugin's known-version tensors.

        `content` is the parsed metadata dict (`"version"`, `"kind"`, ...).
        """
        listed = self._data_provider.list_tensors(
            ctx, experiment_id=experiment, plugin_name=PLUGIN_NAME
        )
        out: dict[str, dict[str, dict]] = {}
        for run, tags in listed.items():
            for tag, series in tags.items():
                content = self._parse(run, tag, series.plugin_content)
                if content is not None:
                    out.setdefault(run, {})[tag] = content
        return out

    def _parse(self, run: str, tag: str, content: bytes) -> dict | None:
        """Parses metadata content; `None` (warned once) if unusable."""
        try:
            return metadata.parse_plugin_metadata(content)
        except ValueError as err:
            self._warn_once(run, tag, str(err))
            return None

    def _warn_once(self, run: str, tag: str, reason: str) -> None:
        if (run, tag) not in self._warned_versions:
            self._warned_versions.add((run, tag))
            logger.warning("Ignoring %s in run %r: %s.", tag, run, reason)

    def _list_scalars(
        self, ctx: tb_context.RequestContext, experiment: str
    ) -> dict:
        return self._data_provider.list_scalars(
            ctx, experiment_id=experiment, plugin_name=_SCALARS_PLUGIN
        )

    def _read_scalars(
        self, ctx, experiment: str, runs: list[str], tags: list[str]
    ) -> dict:
        if not runs or not tags:
            return {}
        return self._data_provider.read_scalars(
            ctx,
            experiment_id=experiment,
            plugin_name=_SCALARS_PLUGIN,
            downsample=_MAX_POINTS,
            run_tag_filter=provider.RunTagFilter(runs=runs, tags=tags),
        )

    def _read_tensors(
        self,
        ctx: tb_context.RequestContext,
        experiment: str,
        run: str,
        tags: Iterable[str],
        plugin_name: str = PLUGIN_NAME,
    ) -> dict:
        tags = [t for t in tags if t is not None]
        if not tags:
            return {}
        return self._data_provider.read_tensors(
            ctx,
            experiment_id=experiment,
            plugin_name=plugin_name,
            downsample=_MAX_POINTS,
            run_tag_filter=provider.RunTagFilter(runs=[run], tags=tags),
        ).get(run, {})

    def _read_json_tensor(
        self, ctx, experiment: str, run: str, contents: Mapping, kind: str
    ) -> dict | None:
        """The latest value of a JSON string tensor of one kind, or None."""
        tags = _tags_of_kind(contents, kind)
        if not tags:
            return None
        data = self._read_tensors(ctx, experiment, run, tags[:1]).get(
            tags[0], []
        )
        if not data:
            return None
        latest = max(data, key=lambda d: d.step)
        try:
            value = json.loads(_as_text(np.asarray(latest.numpy).item()))
        except (ValueError, TypeError) as err:
            self._warn_once(run, tags[0], f"not a JSON object ({err})")
            return None
        return _json_safe(value) if isinstance(value, dict) else None

    def _gate(
        self, ctx, experiment: str, run: str, contents: Mapping
    ) -> dict | None:
        """The gate's outcome, else its settings from the config, or None.

        The callback writes `mia_meta/gate` when a `fit` with a gate ends;
        during training only the config's `gate` entry is there.
        """
        gate = self._read_json_tensor(ctx, experiment, run, contents, KIND_GATE)
        if gate is not None:
            return gate
        config = self._read_json_tensor(
            ctx, experiment, run, contents, KIND_CONFIG
        )
        gate = (config or {}).get("gate")
        return gate if isinstance(gate, dict) else None

    def _evaluation_steps(
        self,
        ctx: tb_context.RequestContext,
        experiment: str,
        run: str,
        contents: Mapping,
        scalars: Mapping,
    ) -> list[int]:
        """The epochs with an evaluation: ROC steps, else headline steps."""
        roc_tags = _tags_of_kind(contents, KIND_ROC)
        if roc_tags:
            read = self._read_tensors(ctx, experiment, run, roc_tags[:1])
            return sorted(d.step for d in read.get(roc_tags[0], []))
        tag = SCALAR_PREFIX + "auc"
        if tag not in scalars:
            return []
        read = self._read_scalars(ctx, experiment, [run], [tag])
        return sorted(d.step for d in read.get(run, {}).get(tag, []))


# Module helpers ---------------------------------------------------------------


def _request_context(request: wrappers.Request) -> tuple:
    return (
        plugin_util.context(request.environ),
        plugin_util.experiment_id(request.environ),
    )


def _json(request: wrappers.Request, payload) -> wrappers.Response:
    return http_util.Respond(request, payload, "application/json")


def _parse_step(value: str | None) -> int:
    if value is None or not _STEP_PATTERN.match(value):
        raise errors.InvalidArgumentError(
            "Query parameter `step` must be a non-negative integer epoch "
            f"index; received step={value!r}."
        )
    return int(value)


def _parse_top_k(value: str | None) -> int:
    if value is None:
        return DEFAULT_TOP_K
    if not _STEP_PATTERN.match(value) or not 1 <= int(value) <= MAX_TOP_K:
        raise errors.InvalidArgumentError(
            f"Query parameter `k` must be an integer in [1, {MAX_TOP_K}]; "
            f"received k={value!r}."
        )
    return int(value)


def _unknown_step(run: str, step: int, steps: Iterable[int]):
    raise errors.InvalidArgumentError(
        f"Run {run!r} has no evaluation at step {step}; evaluated steps: "
        f"{sorted(set(steps))}."
    )


def _steps_of(read: Mapping) -> list[int]:
    return [d.step for data in read.values() for d in data]


def _at_step(data: Iterable, step: int):
    for datum in data:
        if datum.step == step:
            return datum
    return None


def _latest_at_or_before(data: Iterable, step: int):
    """The datum at `step`, else the latest one before it, else the first."""
    data = sorted(data, key=lambda d: d.step)
    if not data:
        return None
    before = [d for d in data if d.step <= step]
    return before[-1] if before else data[0]


def _ids_at(ids_data: Iterable, step: int, n_records: int) -> list[str]:
    """Record ids valid at `step`; positions (`"#0"`, ...) if none fit."""
    datum = _latest_at_or_before(ids_data, step)
    if datum is not None:
        ids = np.asarray(datum.numpy).reshape(-1)
        if len(ids) == n_records:
            return [_as_text(v) for v in ids]
    return [f"#{i}" for i in range(n_records)]


def _values_at(data: Iterable, step: int, n_records: int):
    datum = _latest_at_or_before(data, step)
    if datum is None:
        return None
    values = np.asarray(datum.numpy).reshape(-1)
    return values if len(values) == n_records else None


def _class_names(config: dict | None) -> list | dict | None:
    if not config:
        return None
    names = config.get("class_names")
    return names if isinstance(names, (list, dict)) else None


def _class_name(class_names, label: int | None) -> str | None:
    if class_names is None or label is None:
        return None
    if isinstance(class_names, list):
        if 0 <= label < len(class_names):
            return str(class_names[label])
        return None
    name = class_names.get(str(label))
    return None if name is None else str(name)


def _as_text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _finite(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _json_safe(value):
    """Replaces non-finite floats by None, recursively."""
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _split_scalar_tags(tags: Iterable[str]) -> tuple[set, set]:
    """Attacks and metrics named by `mia/<attack>/<metric>` tags."""
    attacks, metrics = set(), set()
    for tag in tags:
        if not tag.startswith(SCALAR_PREFIX):
            continue
        parts = tag[len(SCALAR_PREFIX) :].split("/")
        if parts[-1] in METRICS:
            metrics.add(parts[-1])
            if len(parts) == 2 and parts[0] != "risk":
                attacks.add(parts[0])
    return attacks, metrics


def _tags_of_kind(contents: Mapping, kind: str) -> list[str]:
    return sorted(t for t, c in contents.items() if c.get("kind") == kind)


def _parent(run: str) -> str:
    return run.rsplit("/", 1)[0] if "/" in run else ""


def _experiment_name(run: str) -> str:
    return _parent(run) or "."


def _sibling_runs(run: str) -> dict[str, str]:
    """Keras' `train` and `validation` runs next to a privacy run."""
    parent = _parent(run)
    return {name: f"{parent}/{name}" if parent else name for name in LOSS_RUNS}
