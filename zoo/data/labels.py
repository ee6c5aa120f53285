"""Turn the tags people typed into clean class labels, and say what was changed.

Rules, applied to each tag in order:
1. canonical form: trimmed, lower case, accents removed ('Véhicule' -> 'vehicule');
2. `drop`: exact tags that are not classes (group tags, 'non identifie');
3. `drop_patterns`: regular expressions for non-class tags (site ids '59.1', camera sides 'D'/'G');
4. `synonyms`: spelling variants, plurals and sub-labels mapped onto one class ('chat forestier' -> 'chat').
Every mapping and every drop is counted so the user can check the table, nothing disappears silently.
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field


def canonical(tag: str) -> str:
    """Lower case, no accents, single spaces: the form all rules are written in."""
    text = unicodedata.normalize("NFKD", str(tag)).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"\s+", " ", text).strip().lower()


@dataclass
class LabelNormalizer:
    """Map raw tags to labels; keeps counts of what it mapped, dropped and did not know."""

    synonyms: Mapping[str, str] = field(default_factory=dict)
    drop: Sequence[str] = ()
    drop_patterns: Sequence[str] = ()
    known_labels: Iterable[str] | None = None
    priority: Sequence[str] = ()

    def __post_init__(self) -> None:
        self._synonyms = {canonical(k): canonical(v) for k, v in dict(self.synonyms).items()}
        self._drop = {canonical(t) for t in self.drop}
        self._patterns = [re.compile(p, re.IGNORECASE) for p in self.drop_patterns]
        self._known = {canonical(k) for k in self.known_labels} if self.known_labels is not None else None
        self._rank = {canonical(label): i for i, label in enumerate(self.priority)}
        self.mapped: Counter[str] = Counter()  # 'raw -> label' -> count
        self.dropped: Counter[str] = Counter()  # raw tag -> count
        self.unknown: Counter[str] = Counter()  # label not in the taxonomy -> count
        self._cache: dict[str, tuple[str | None, bool]] = {}  # raw tag -> (label, was mapped)

    def normalize_tag(self, tag: str) -> str | None:
        """The label a tag stands for, or None when the tag is not a class."""
        raw = str(tag).strip()
        if not raw:
            return None
        if raw not in self._cache:
            self._cache[raw] = self._decide(raw)
        label, mapped = self._cache[raw]
        if label is None:
            self.dropped[raw] += 1
            return None
        if mapped:
            self.mapped[f"{raw} -> {label}"] += 1
        if self._known is not None and label not in self._known:
            self.unknown[label] += 1
        return label

    def _decide(self, raw: str) -> tuple[str | None, bool]:
        key = canonical(raw)
        if key in self._drop or any(p.fullmatch(key) for p in self._patterns):
            return None, False
        label = self._synonyms.get(key, key)
        return label, label != raw

    def normalize_tags(self, tags: Iterable[str]) -> list[str]:
        """Distinct labels of one photo, most important first (see `priority`)."""
        labels = [lab for lab in (self.normalize_tag(t) for t in tags) if lab]
        unique = list(dict.fromkeys(labels))
        return sorted(unique, key=lambda lab: self._rank.get(lab, len(self._rank)))

    def report(self) -> dict[str, dict[str, int]]:
        return {
            "mapped_tags": dict(self.mapped.most_common()),
            "dropped_tags": dict(self.dropped.most_common()),
            "unknown_labels": dict(self.unknown.most_common()),
        }


def split_tags(value, separator: str = ";") -> list[str]:
    """Tags from a ';'-joined cell (NaN and empty cells give no tags)."""
    if value is None or value != value:  # NaN check without importing pandas
        return []
    return [t.strip() for t in str(value).split(separator) if t.strip()]
