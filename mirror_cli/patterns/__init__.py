"""Patterns and tensions: local, explainable observations (never diagnoses).

Pure functions and small in-memory aggregates; no database, no network, stdlib only.
See :mod:`.detect` (emotions, themes, tags and their aggregation), :mod:`.tensions`
and :mod:`.evolution`.
"""

from __future__ import annotations

from dataclasses import dataclass

from mirror_cli.patterns.detect import (
    EMOTION, TAG, THEME, Finding, Occurrence, PatternIndex, PatternStats, PatternSummary,
    ReflectionFindings, aggregate, analyze_reflection, findings_from_scan, scan,
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
