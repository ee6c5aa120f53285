"""Train/valid/test splits that never put two frames of one sequence on different sides."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit

log = logging.getLogger(__name__)


def split_stratified(records: pd.DataFrame, valid: float = 0.2, test: float = 0.0, seed: int = 0,
                     group: str = "sequence_id") -> pd.Series:
    """Label-stratified split with whole groups (sequences by default) on one side.

    Returns a Series of 'train'/'valid'/'test' aligned with `records`; unlabelled rows get ''.
    """
    if not 0 < valid < 1 or not 0 <= test < 1 or valid + test >= 1:
        raise ValueError(f"need 0 < valid, 0 <= test and valid + test < 1; got valid={valid}, test={test}")
    split = pd.Series("", index=records.index, dtype=object)
    labelled = records[records["label"].astype("string").fillna("") != ""]
    remaining = labelled
    if test > 0:
        test_idx = _take_fold(remaining, test, seed, group)
        split[test_idx] = "test"
        remaining = remaining.drop(index=test_idx)
    valid_idx = _take_fold(remaining, valid / (1 - test), seed + 1, group)
    split[valid_idx] = "valid"
    split[remaining.index.difference(valid_idx)] = "train"
    return split


def _take_fold(df: pd.DataFrame, fraction: float, seed: int, group: str) -> pd.Index:
    """Hold out about `fraction` of each label's photos, taking whole groups.

    Groups are stratified by their most common label and shuffled; within a stratum a group is held
    out while the running total of held-out photos stays closest to the target. Linear in rows
    (scikit-learn's StratifiedGroupKFold needs minutes on 50k bursts).
    """
    if df[group].nunique() < 2:
        raise ValueError(f"only {df[group].nunique()} {group} group(s): too few to split")
    counts = df.groupby([group, "label"]).size().rename("n").reset_index()
    majority = counts.sort_values([group, "n"], ascending=[True, False]).drop_duplicates(group).set_index(group)
    groups = pd.DataFrame({"size": counts.groupby(group)["n"].sum(), "label": majority["label"]})
    rng = np.random.default_rng(seed)
    groups = groups.iloc[rng.permutation(len(groups))]
    running = groups.groupby("label", sort=False)["size"].cumsum()
    stratum_total = groups.groupby("label", sort=False)["size"].transform("sum")
    # a group is held out if its midpoint falls below the target share of its stratum
    held_groups = groups.index[(running - groups["size"] / 2) < fraction * stratum_total]
    return df.index[df[group].isin(held_groups)]


def file_blocks(records: pd.DataFrame, block_files: int = 20) -> pd.Series:
    """Block id of every record: runs of consecutive file names in one folder with one label.

    Without capture times bursts are unknown, but cameras name their shots in order, so frames of one burst
    are neighbours by name and share a label. A block ends at a new folder, a label change or after
    `block_files` files (a burst longer than that, or cut there, can still straddle two sides).
    """
    if block_files < 1:
        raise ValueError(f"block_files must be >= 1, got {block_files}")
    paths = records["path"].astype(str).where(records["path"].astype(str) != "", records["media_id"].astype(str))
    folder = paths.map(lambda p: Path(p).parent.as_posix())
    order = pd.DataFrame({"folder": folder, "name": paths.map(lambda p: Path(p).name),
                          "label": records["label"].astype(str)}).sort_values(["folder", "name"], kind="stable")
    new_run = (order["folder"] != order["folder"].shift()) | (order["label"] != order["label"].shift())
    run = new_run.cumsum()
    position = order.groupby(run).cumcount()
    block = run.astype(str) + "." + (position // block_files).astype(str)
    return block.reindex(records.index)


def split_file_blocks(records: pd.DataFrame, valid: float = 0.2, test: float = 0.0, seed: int = 0,
                      block_files: int = 20) -> pd.Series:
    """The stratified split with whole file blocks (see `file_blocks`) on one side instead of sequences."""
    blocks = records.assign(_file_block=file_blocks(records, block_files))
    return split_stratified(blocks, valid, test, seed, group="_file_block")


def split_by_group(records: pd.DataFrame, column: str, train: Sequence[str] | None = None,
                   test: Sequence[str] | None = None, valid: float = 0.2, seed: int = 0) -> pd.Series:
    """Transferability split: whole values of `column` (area or site) go to train or test.

    With `test` given, those values are the test set and the rest train (valid is drawn from the
    train side by sequence). Without, a random `valid` share of the values is held out.
    """
    values = records[column].astype("string").fillna("")
    split = pd.Series("train", index=records.index, dtype=object)
    if test is not None:
        unknown = set(map(str, test)) - set(values)
        if unknown:
            raise ValueError(f"split by {column}: test values {sorted(unknown)} not in the data")
        split[values.isin(list(map(str, test)))] = "test"
        if train is not None:
            split[~values.isin(list(map(str, train))) & (split != "test")] = ""
        train_side = records[split == "train"]
        inner = split_stratified(train_side, valid=valid, seed=seed)
        split[inner.index] = inner.replace("", "train")
    else:
        holdout = GroupShuffleSplit(n_splits=1, test_size=valid, random_state=seed)
        _, held = next(holdout.split(records, groups=values))
        split.iloc[held] = "valid"
    split[records["label"].astype("string").fillna("") == ""] = ""
    return split


def split_from_file(records: pd.DataFrame, path: str | Path, key: str = "file", column: str = "split") -> pd.Series:
    """A published split (e.g. the authors' `split,label,file` CSV), matched on file name.

    `column="label"` reads the file's labels instead, for like-for-like comparisons.
    """
    table = pd.read_csv(path, dtype=str)
    missing_cols = {column, key} - set(table.columns)
    if missing_cols:
        raise ValueError(f"split file {path} lacks column(s) {sorted(missing_cols)}")
    by_name = dict(zip(table[key].str.lower(), table[column]))
    names = records["path"].astype("string").map(lambda p: Path(p).name.lower() if isinstance(p, str) else "")
    split = names.map(by_name).fillna("").astype(object)
    if column != "split":
        return split
    unmatched = set(by_name) - set(names)
    if unmatched:
        log.warning("%d files of split file %s are not among the records (e.g. %s)",
                    len(unmatched), path, sorted(unmatched)[:3])
    not_listed = int((split == "").sum())
    if not_listed:
        log.info("%d records are not in split file %s: left unassigned", not_listed, path)
    return split


def leaking_sequences(records: pd.DataFrame, split: pd.Series | None = None) -> int:
    """How many sequences have frames on more than one side of a split."""
    split = records["split"] if split is None else split
    assigned = split.astype("string").fillna("") != ""
    sides = split[assigned].groupby(records.loc[assigned, "sequence_id"]).nunique()
    return int(np.sum(sides > 1))
