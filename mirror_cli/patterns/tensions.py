"""Tensions: where a reflection sits between two poles, e.g. Control vs Surrender.

Five seed tensions, each with a word list per pole (:data:`lexicon.TENSIONS`). The
words are found in the same single pass as emotions and themes
(:func:`mirror_cli.patterns.detect.scan`), with the same negation rules: "I could
not let go" does not count for Surrender.

For one reflection with pole weights a and b (1 per clear word, 0.5 per ambiguous
one), a tension is reported only when a + b > 0, and

* ``position = (b + 0.5) / (a + b + 1)``: 0 is fully ``axis_a``, 1 fully ``axis_b``,
  0.5 balanced. The 0.5/1 smoothing keeps a single word from pinning the position
  to an end: one Control word gives 0.25, three give 0.125.
* ``intensity = 1 - 0.6 ** m``, where m is the weight of all pole words of this
  tension, each multiplied by 1.5 after an intensifier (2 after two) and by 0.5
  after a softener: one word gives 0.4, two 0.64, four 0.87.

Across reflections, position and intensity are averaged over the reflections where
the tension appears (:class:`TensionStats`, :func:`aggregate_tensions`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from mirror_cli.patterns import lexicon
from mirror_cli.patterns.detect import Scan, scan

__all__ = ["Tension", "SEED_TENSIONS", "TensionFinding", "tensions_for", "tensions_from_scan", "tension_position",
           "tension_intensity",
           "TensionStats", "aggregate_tensions", "seed_tension"]

_SCALE = 10_000


@dataclass(frozen=True, slots=True)
class Tension:
    name: str  # "Control vs Surrender"
    axis_a: str  # "Control" (position 0)
    axis_b: str  # "Surrender" (position 1)


SEED_TENSIONS: tuple[Tension, ...] = tuple(Tension(name, a, b) for name, a, b, _wa, _wb in lexicon.TENSIONS)
_BY_NAME = {t.name.lower(): t for t in SEED_TENSIONS}


def seed_tension(name: str) -> Tension | None:
    """A seed tension by name, case-insensitive ("control vs surrender")."""
    return _BY_NAME.get(name.strip().lower())


class TensionFinding(NamedTuple):
    """One seed tension in one reflection (immutable)."""

    name: str
    axis_a: str
    axis_b: str
    position: float  # 0..1: 0 = fully axis_a, 1 = fully axis_b
    intensity: float  # 0..1
    evidence_a: tuple[str, ...] = ()  # words for axis_a, as in the text
    evidence_b: tuple[str, ...] = ()

    def to_dict(self, evidence: bool = False) -> dict:
        """The tension record's data: {"name","axis_a","axis_b","position","intensity"}."""
        out = {"name": self.name, "axis_a": self.axis_a, "axis_b": self.axis_b,
               "position": self.position, "intensity": self.intensity}
        if evidence:
            out["evidence_a"] = list(self.evidence_a)
            out["evidence_b"] = list(self.evidence_b)
        return out


def tension_position(a: float, b: float) -> float:
    """Where pole weights a and b put a reflection: (b + 0.5) / (a + b + 1)."""
    return round((b + 0.5) / (a + b + 1.0), 4)


def tension_intensity(strength: float) -> float:
    """1 - 0.6 ** m, m the weight of all pole words, each times its intensifier's multiplier."""
    return round(1.0 - 0.6 ** strength, 4)


def tensions_from_scan(result: Scan) -> list[TensionFinding]:
    out = []
    for index in sorted(result.poles):
        a, b, words_a, words_b, strength = result.poles[index]
        if a + b <= 0:
            continue
        tension = SEED_TENSIONS[index]
        out.append(TensionFinding(
            tension.name, tension.axis_a, tension.axis_b, tension_position(a, b), tension_intensity(strength),
            tuple(dict.fromkeys(words_a)), tuple(dict.fromkeys(words_b))))
    return out


def tensions_for(text: str) -> list[TensionFinding]:
    """The seed tensions that ``text`` gives evidence for, in seed order."""
    return tensions_from_scan(scan(text or ""))


class TensionStats:
    """Per-tension running sums (exact, in 1e-4 units) of position and intensity;
    add/remove one reflection's findings in O(its findings)."""

    def __init__(self) -> None:
        self._sums: dict[str, list[int]] = {}  # name -> [count, position units, intensity units]
        self._by_reflection: dict[str, tuple[tuple[str, int, int], ...]] = {}

    def add(self, reflection_id: str, findings: Iterable[TensionFinding]) -> None:
        if reflection_id in self._by_reflection:
            self.remove(reflection_id)
        rows = []
        for f in findings:
            p, i = int(round(f.position * _SCALE)), int(round(f.intensity * _SCALE))
            sums = self._sums.setdefault(f.name, [0, 0, 0])
            sums[0] += 1
            sums[1] += p
            sums[2] += i
            rows.append((f.name, p, i))
        self._by_reflection[reflection_id] = tuple(rows)

    def remove(self, reflection_id: str) -> bool:
        rows = self._by_reflection.pop(reflection_id, None)
        if rows is None:
            return False
        for name, p, i in rows:
            sums = self._sums[name]
            sums[0] -= 1
            sums[1] -= p
            sums[2] -= i
            if not sums[0]:
                del self._sums[name]
        return True

    def summaries(self) -> list[dict]:
        """``{"name","axis_a","axis_b","position","intensity","count"}`` per tension
        that appears, in seed order; position and intensity are averages."""
        out = []
        for tension in SEED_TENSIONS:
            sums = self._sums.get(tension.name)
            if not sums:
                continue
            count, p, i = sums
            out.append({"name": tension.name, "axis_a": tension.axis_a, "axis_b": tension.axis_b,
                        "position": round(p / count / _SCALE, 4),
                        "intensity": round(i / count / _SCALE, 4), "count": count})
        return out


def aggregate_tensions(findings: Iterable[TensionFinding]) -> list[dict]:
    """Average position and intensity per tension over a flat list of findings
    (one per reflection and tension)."""
    stats = TensionStats()
    for n, finding in enumerate(findings):
        stats.add(str(n), (finding,))
    return stats.summaries()
