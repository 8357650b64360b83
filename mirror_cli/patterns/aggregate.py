"""Patterns across reflections, in memory: occurrences, S and confidence, updatable one
reflection at a time (confidence: :mod:`.confidence`, from S and the number of reflections in
the index; reported from two reflections or one strong one, as :mod:`.detect` says).

Each pattern keeps its occurrences and the running sum S of their confidences, so adding
or removing one reflection costs O(number of its findings). For a journal in a database,
:mod:`.analysis` keeps the same totals in its tables.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import NamedTuple

from mirror_cli.patterns.confidence import pattern_confidence
from mirror_cli.patterns.detect import EVIDENCE_WORDS, MIN_SUPPORT, STRONG_CONFIDENCE, ReflectionFindings

__all__ = ["Occurrence", "PatternSummary", "PatternStats", "PatternIndex", "aggregate", "confidence_from_sum"]

_SCALE = 10_000  # running sums are kept in integer units of 1e-4: add/remove is exact

def _units(value: float) -> int:
    return int(round(value * _SCALE))


def _iso(dt: datetime) -> str:
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt.isoformat(timespec="milliseconds") + "Z"


def confidence_from_sum(evidence: float, reflections: int | None = None) -> float:
    """Pattern confidence from S, the sum of its per-reflection confidences, among ``reflections``
    (None: the share is unknown and taken as whole, so only the amount of evidence counts)."""
    if evidence <= 0:
        return 0.0
    return pattern_confidence(evidence, evidence if reflections is None else reflections)


class Occurrence(NamedTuple):
    """One reflection's support for a pattern (immutable)."""

    reflection_id: str
    created_at: datetime
    evidence_words: tuple[str, ...]  # the supporting words of that reflection
    confidence: float
    intensity: float

    @property
    def evidence(self) -> str:
        """The supporting words as one short string: "anxious, stressed"."""
        return ", ".join(self.evidence_words[:EVIDENCE_WORDS])

    def to_dict(self) -> dict:
        return {"reflection_id": self.reflection_id, "evidence": self.evidence,
                "confidence": self.confidence, "intensity": self.intensity,
                "created_at": _iso(self.created_at)}


@dataclass(frozen=True, slots=True)
class PatternSummary:
    pattern_type: str
    name: str
    confidence: float  # see :mod:`.confidence`
    support: int  # number of reflections that show it
    first_seen: datetime
    last_seen: datetime
    occurrences: tuple[Occurrence, ...]  # newest first

    def to_dict(self, occurrences: bool = True) -> dict:
        """The export shape of a pattern (without "id", which the store assigns)."""
        out = {"pattern_type": self.pattern_type, "name": self.name,
               "confidence": self.confidence, "support": self.support,
               "first_seen": _iso(self.first_seen), "last_seen": _iso(self.last_seen)}
        if occurrences:
            out["occurrences"] = [o.to_dict() for o in self.occurrences]
        return out


class PatternStats:
    """Running statistics of one pattern: add/remove one occurrence in O(1)
    (first/last seen are recomputed only when the oldest/newest is removed). Inside a
    :class:`PatternIndex` its confidence counts the index's reflections; alone, only its evidence."""

    __slots__ = ("pattern_type", "name", "_occ", "_units", "_strong", "_first", "_last", "_index")

    def __init__(self, pattern_type: str, name: str, index: PatternIndex | None = None) -> None:
        self.pattern_type = pattern_type
        self.name = name
        self._index = index
        self._occ: dict[str, Occurrence] = {}
        self._units = 0
        self._strong = 0
        self._first: Occurrence | None = None
        self._last: Occurrence | None = None

    def add(self, occurrence: Occurrence) -> None:
        if occurrence.reflection_id in self._occ:
            self.remove(occurrence.reflection_id)
        self._add_new(occurrence)

    def _add_new(self, occurrence: Occurrence) -> None:
        self._occ[occurrence.reflection_id] = occurrence
        self._units += _units(occurrence.confidence)
        self._strong += occurrence.confidence >= STRONG_CONFIDENCE
        at = occurrence.created_at
        if self._first is not None and at < self._first.created_at:
            self._first = occurrence
        if self._last is not None and at >= self._last.created_at:
            self._last = occurrence
        if len(self._occ) == 1:
            self._first = self._last = occurrence

    def remove(self, reflection_id: str) -> bool:
        occurrence = self._occ.pop(reflection_id, None)
        if occurrence is None:
            return False
        self._units -= _units(occurrence.confidence)
        self._strong -= occurrence.confidence >= STRONG_CONFIDENCE
        if occurrence is self._first:
            self._first = None
        if occurrence is self._last:
            self._last = None
        return True

    def __len__(self) -> int:
        return len(self._occ)

    @property
    def support(self) -> int:
        return len(self._occ)

    @property
    def evidence_sum(self) -> float:
        """S: the sum of the per-reflection confidences."""
        return self._units / _SCALE

    @property
    def confidence(self) -> float:
        index = self._index
        return confidence_from_sum(self._units / _SCALE, index.reflection_count if index is not None else None)

    @property
    def reportable(self) -> bool:
        return len(self._occ) >= MIN_SUPPORT or self._strong > 0

    def _ends(self) -> None:
        if self._first is None and self._occ:
            self._first = min(self._occ.values(),
                              key=lambda o: (o.created_at, o.reflection_id))
        if self._last is None and self._occ:
            self._last = max(self._occ.values(),
                             key=lambda o: (o.created_at, o.reflection_id))

    @property
    def first_seen(self) -> datetime | None:
        self._ends()
        return self._first.created_at if self._first else None

    @property
    def last_seen(self) -> datetime | None:
        self._ends()
        return self._last.created_at if self._last else None

    def occurrences(self) -> list[Occurrence]:
        """Newest first, as ``patterns show`` lists evidence."""
        return sorted(self._occ.values(), key=lambda o: (o.created_at, o.reflection_id), reverse=True)

    def summary(self) -> PatternSummary:
        occ = self.occurrences()
        return PatternSummary(self.pattern_type, self.name, self.confidence, len(occ),
                              occ[-1].created_at, occ[0].created_at, tuple(occ))


class PatternIndex:
    """All patterns over a set of reflections, updatable one reflection at a time.

    ``created_at`` values must be all timezone-aware or all naive (they are compared).

    ``add`` (which replaces an earlier version of the same reflection) and ``remove``
    cost O(number of that reflection's findings).
    """

    def __init__(self) -> None:
        self._stats: dict[tuple[str, str], PatternStats] = {}
        self._by_reflection: dict[str, tuple[tuple[str, str], ...]] = {}

    def add(self, reflection_id: str, created_at: datetime, findings: ReflectionFindings) -> None:
        if reflection_id in self._by_reflection:
            self.remove(reflection_id)
        keys = []
        new = tuple.__new__
        for f in findings.findings:
            key = (f.pattern_type, f.name)
            stats = self._stats.get(key)
            if stats is None:
                stats = self._stats[key] = PatternStats(f.pattern_type, f.name, self)
            stats._add_new(new(Occurrence, (reflection_id, created_at, f.evidence_words,
                                            f.confidence, f.intensity)))
            keys.append(key)
        self._by_reflection[reflection_id] = tuple(keys)

    def remove(self, reflection_id: str) -> bool:
        keys = self._by_reflection.pop(reflection_id, None)
        if keys is None:
            return False
        for key in keys:
            stats = self._stats[key]
            stats.remove(reflection_id)
            if not len(stats):
                del self._stats[key]
        return True

    def __contains__(self, reflection_id: object) -> bool:
        return reflection_id in self._by_reflection

    @property
    def reflection_count(self) -> int:
        return len(self._by_reflection)

    def stats(self, pattern_type: str, name: str) -> PatternStats | None:
        return self._stats.get((pattern_type, name))

    def __iter__(self) -> Iterator[PatternStats]:
        return iter(self._stats.values())

    def summaries(self, min_confidence: float = 0.0, pattern_type: str | None = None,
                  include_unreported: bool = False) -> list[PatternSummary]:
        """Reported patterns, highest confidence first (then more support, then name)."""
        chosen = [s for s in self._stats.values()
                  if (include_unreported or s.reportable)
                  and (pattern_type is None or s.pattern_type == pattern_type)
                  and s.confidence >= min_confidence]
        chosen.sort(key=lambda s: (-s.confidence, -s.support, s.pattern_type, s.name))
        return [s.summary() for s in chosen]


def aggregate(findings_by_reflection: Mapping[str, tuple[datetime, ReflectionFindings]],
              min_confidence: float = 0.0, pattern_type: str | None = None,
              include_unreported: bool = False) -> list[PatternSummary]:
    """Batch form of :class:`PatternIndex`: reflection id -> (created_at, findings)."""
    index = PatternIndex()
    for reflection_id, (created_at, findings) in findings_by_reflection.items():
        index.add(reflection_id, created_at, findings)
    return index.summaries(min_confidence, pattern_type, include_unreported)
