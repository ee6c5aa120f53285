"""Emulated classifier labels: what a classifier's mistakes would do to a study it never labelled.

A model trained elsewhere (the zoo's models know the Jura photos, not the 18,044 Ain ones) is judged by
its ecological consequence: the study's human-labelled records are passed through the model's confusion
matrix (measured on its validation split), one draw per sequence so that a burst shares its error, and
the emulated labels are then fitted like real classifier labels (labels=naive or labels=confusion with
`labels.emulate_from=...`). The confusion rows are themselves drawn from Dirichlet(counts + 0.5) for
each seed, so the small validation counts' uncertainty is part of the emulation.

Human labels the model has no class for (e.g. riders, cows for a model trained on Jura) keep their label:
the emulation then assumes the model would not call them a study species, which understates errors
such as "people on a busy trail read as chamois". Multi-label photos use their first modelled label.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from zoo.data.sequences import most_common_labels

log = logging.getLogger(__name__)
DIRICHLET_PRIOR = 0.5  # pseudo-count per cell: a class seen 3 times in validation is not known exactly


def read_confusion(source: str | Path) -> pd.DataFrame:
    """Counts, true classes as rows, predicted as columns: from a zoo.train run (metrics.json, validation
    images) or a CSV with columns true, predicted, count."""
    source = Path(source)
    if source.is_dir():
        metrics_path = source / "metrics.json"
        if not metrics_path.is_file():
            raise FileNotFoundError(f"labels.emulate_from={source}: no metrics.json (is it a zoo.train run directory?)")
        metrics = json.loads(metrics_path.read_text())
        block = metrics["valid"]["image"]
        classes = metrics.get("classes") or list(block["per_class"])
        return pd.DataFrame(block["confusion_matrix"], index=classes, columns=classes, dtype=float)
    if not source.is_file():
        raise FileNotFoundError(f"labels.emulate_from={source} does not exist")
    table = pd.read_csv(source)
    missing = {"true", "predicted", "count"} - set(table.columns)
    if missing:
        raise ValueError(f"confusion table {source} needs columns true, predicted, count; missing {sorted(missing)}")
    return table.pivot_table(index="true", columns="predicted", values="count", aggfunc="sum", fill_value=0).astype(float)


def confusion_counts(true: pd.Series, predicted: pd.Series) -> pd.DataFrame:
    """Long table (true, predicted, count), the CSV form `read_confusion` reads."""
    pairs = pd.DataFrame({"true": true.astype(str), "predicted": predicted.astype(str)})
    return pairs.value_counts().rename("count").reset_index().sort_values(["true", "predicted"], ignore_index=True)


def _modelled(label, classes: set[str], sep: str = ";"):
    if not isinstance(label, str):
        return np.nan
    tags = [t for t in label.split(sep) if t]
    known = [t for t in tags if t in classes]
    return known[0] if known else np.nan


def emulate_labels(truth: pd.Series, sequence_id: pd.Series, confusion: pd.DataFrame, seed: int) -> pd.Series:
    """One emulated classifier label per record (index of `truth`), drawn once per sequence.

    A sequence's true class is its photos' most common modelled human label; its emulated label is drawn
    from that class's row of Dirichlet(confusion + 0.5). Sequences without a modelled label keep theirs.
    """
    rng = np.random.default_rng(seed)
    classes = [c for c in confusion.index if c in confusion.columns]
    counts = confusion.loc[classes, classes].to_numpy(dtype=float)
    rows = np.stack([rng.dirichlet(row + DIRICHLET_PRIOR) for row in counts])  # this seed's confusion rows
    modelled = truth.map(lambda v: _modelled(v, set(classes)))
    seq_class = most_common_labels(modelled, sequence_id.reindex(truth.index))
    index = {c: i for i, c in enumerate(classes)}
    drawn = {}
    for seq, cls in seq_class.items():  # sorted by sequence id: the same seed gives the same labels
        if isinstance(cls, str):
            drawn[seq] = classes[rng.choice(len(classes), p=rows[index[cls]])]
    emulated = sequence_id.map(drawn)
    kept = emulated.isna()
    log.info("emulated labels for %d of %d records (%d sequences); %d records keep their human label (no model "
             "class)", int((~kept).sum()), len(truth), len(drawn), int(kept.sum()))
    return emulated.where(~kept, truth)
