"""Summary metadata of keras-mia's TensorBoard output: name, version, kinds.

Every custom summary keras-mia writes carries a `SummaryMetadata` with

* `plugin_data.plugin_name = "keras_mia"` (:data:`PLUGIN_NAME`);
* `plugin_data.content` = UTF-8 JSON bytes of an object with at least
  `{"version": 1, "kind": <kind>}` (:data:`SCHEMA_VERSION`, :data:`KINDS`)
  and, for some kinds, more fields (a ROC curve adds `"attack"`);
* `data_class = DATA_CLASS_TENSOR`, so TensorBoard's data provider lists
  the tags for the plugin.

Scalars, histograms, text and PR curves use TensorBoard's own plugins and
metadata; only the tags in :data:`KINDS` use this module. The full tag
schema is in :mod:`keras_mia.tensorboard.summary`.

A reader should accept every `version` up to the one it knows and refuse
newer ones: :func:`parse_plugin_metadata` does that. Fields are only ever
added within a version; a change in meaning bumps :data:`SCHEMA_VERSION`.

This module imports TensorBoard's protocol buffers only, not TensorFlow.
"""

from __future__ import annotations

import json
from typing import Any

from tensorboard.compat.proto import summary_pb2

#: `plugin_data.plugin_name` of every keras-mia custom summary.
PLUGIN_NAME = "keras_mia"

#: Version of the summary schema; stored in every metadata content.
SCHEMA_VERSION = 1

#: Name of the run directory under the user's `log_dir`.
RUN_NAME = "privacy"

#: The kinds of custom summaries, with the tensor each one holds.
KINDS = {
    "roc": "float32, shape (2, P): row 0 false-positive rates, row 1 "
    "true-positive rates of one attack",
    "member_scores": "float32, shape (n_members,): risk score per member",
    "member_ids": "string, shape (n_members,): record id per member",
    "member_labels": "int64, shape (n_members,): true class per member",
    "config": "string, shape (): JSON text of the run configuration",
    "gate": "string, shape (): JSON text of the privacy gate's settings "
    "and outcome",
}


def create_summary_metadata(
    kind: str,
    display_name: str = "",
    description: str = "",
    **fields: Any,
) -> summary_pb2.SummaryMetadata:
    """Build the metadata of one keras-mia custom summary.

    Args:
        kind: One of :data:`KINDS`.
        display_name: Name TensorBoard shows. Defaults to `""` (the tag).
        description: Markdown description. Defaults to `""`.
        **fields: Extra JSON-serializable fields of the content (for
            `"roc"`: `attack`). They may not be named `version`
            or `kind`.

    Returns:
        A `SummaryMetadata` with `plugin_name="keras_mia"`, JSON content and
        `data_class=DATA_CLASS_TENSOR`.

    Raises:
        ValueError: If `kind` is unknown or a field is named `version` or
            `kind`.
    """
    if kind not in KINDS:
        raise ValueError(
            f"`kind` must be one of {sorted(KINDS)}; received kind={kind!r}."
        )
    clash = sorted({"version", "kind"} & set(fields))
    if clash:
        raise ValueError(
            f"Metadata fields may not be named {clash}; they are reserved."
        )
    content = {"version": SCHEMA_VERSION, "kind": kind, **fields}
    return summary_pb2.SummaryMetadata(
        display_name=display_name,
        summary_description=description,
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME,
            content=json.dumps(content, allow_nan=False).encode("utf-8"),
        ),
        data_class=summary_pb2.DATA_CLASS_TENSOR,
    )


def parse_plugin_metadata(content: bytes) -> dict[str, Any]:
    """Read the content of a keras-mia `SummaryMetadata.plugin_data`.

    Args:
        content: The `plugin_data.content` bytes (or text) of a summary
            whose `plugin_name` is :data:`PLUGIN_NAME`.

    Returns:
        The decoded dict, with at least `version` (an int no newer than
        :data:`SCHEMA_VERSION`) and `kind`.

    Raises:
        ValueError: If the content is not a JSON object, lacks `version` or
            `kind`, or has a `version` newer than this reader knows.
    """
    if isinstance(content, bytes):
        content = content.decode("utf-8")
    try:
        parsed = json.loads(content)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"keras_mia summary metadata is not JSON: {content[:80]!r}."
        ) from err
    if not isinstance(parsed, dict) or not {"version", "kind"} <= set(parsed):
        raise ValueError(
            "keras_mia summary metadata must be a JSON object with "
            f"'version' and 'kind'; received {content[:80]!r}."
        )
    version = parsed["version"]
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ValueError(
            f"keras_mia summary schema version {version!r} is newer than "
            f"this reader's ({SCHEMA_VERSION}); upgrade keras-mia."
        )
    return parsed
