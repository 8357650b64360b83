"""Patterns and tensions: local, explainable observations (never diagnoses).

Two layers, no network, stdlib only:

* pure, no database: :mod:`.lexicon` (the word lists), :mod:`.detect` (emotions, themes
  and tags of one reflection, whose feeling a word is, and the rules across reflections),
  :mod:`.confidence` (how sure a pattern is: evidence and share of the journal), :mod:`.aggregate`
  (patterns across reflections, in memory), :mod:`.tensions`, :mod:`.evolution` (counts
  per period, trend) and :mod:`.charts` (text charts); this module's :func:`analyze` is
  one reflection's patterns and tensions from a single pass over its words;
* over the database (a ``Store``): :mod:`.analysis` (the incremental ``mirror patterns
  analyze``, which also writes its audit event), :mod:`.queries` (what ``patterns
  list|show|evolution`` and ``tensions list|show|map`` read) and :mod:`.stored` (the
  tables and running totals the two share).
"""

from __future__ import annotations

from dataclasses import dataclass

from mirror_cli.patterns.aggregate import Occurrence, PatternIndex, PatternStats, PatternSummary, aggregate
from mirror_cli.patterns.detect import (
    EMOTION, TAG, THEME, Finding, ReflectionFindings, analyze_reflection, findings_from_scan, scan,
)
from mirror_cli.patterns.tensions import (
    SEED_TENSIONS, TensionFinding, TensionStats, aggregate_tensions, tensions_for,
    tensions_from_scan,
)

__all__ = [
    "EMOTION", "THEME", "TAG", "Finding", "ReflectionFindings", "Occurrence", "PatternSummary",
    "PatternStats", "PatternIndex", "analyze_reflection", "aggregate", "SEED_TENSIONS",
    "TensionFinding", "TensionStats", "tensions_for", "aggregate_tensions", "Analysis", "analyze",
]


@dataclass(frozen=True, slots=True)
class Analysis:
    findings: ReflectionFindings
    tensions: tuple[TensionFinding, ...]


def analyze(text: str, tags=()) -> Analysis:
    """Patterns and tensions of one reflection from a single pass over its words."""
    result = scan(text or "")
    return Analysis(findings_from_scan(result, tags or ()), tuple(tensions_from_scan(result)))
