"""How sure mirror is that a pattern is one of *your* recurring patterns: one number in (0, 1).

Two things must both hold for a pattern to be a pattern of a journal, so the confidence is their
product, each with diminishing returns:

* **enough evidence**: ``A = S / (S + 2)``, where S is the sum of the per-reflection confidences
  of the reflections that show it (:mod:`.detect`: 0.5 for one clear cue word, 0.75 for two, 1
  for a tag). One clear mention gives 0.2, three clear reflections 0.6; it approaches 1 as the
  evidence recurs, and on its own it would reach 1.00 in any large journal (the old rule);
* **a real share of the writing**: ``w = S / N``, N being the reflections analysed, is the
  weighted share of the journal that shows the pattern (a reflection with two clear words counts
  more than one with a single ambiguous word). ``P = w (1 + Q) / (w + Q)`` with ``Q = 0.05``:
  a weighted share of 5 % (about one reflection in ten with one clear word) gives 0.525, 15 %
  0.79, 50 % 0.95, every reflection 1.

**confidence = A x P**, rounded to 4 places and kept inside [0.0001, 0.9999] when there is any
evidence (0 without). In a young journal, where a pattern is a large share of a few reflections,
P is close to 1 and the confidence is about the amount of evidence, as before (one clear word in
a one-reflection journal: 0.19). In a journal of 50,000 reflections the amount no longer
separates anything (A is 1.00 for all) and the share does: a tag on a third of the reflections
reads 0.91, two clear anxiety words in 12 % of them 0.67, one clear word in one reflection out of
twenty 0.35, one clear word in 100 of the 50,000 reflections 0.02.

Properties (tested): for a journal of a given size, more support (one more reflection showing the
pattern, or a stronger one) never lowers the confidence; a reflection that does not show it lowers
it a little, since the pattern is then a smaller share of the writing. It is an observation about
how often and how clearly your words show something, never a diagnosis.
"""

from __future__ import annotations

__all__ = ["SUPPORT_K", "SHARE_HALF", "SCALE", "pattern_confidence", "confidence_of_units"]

SUPPORT_K = 2.0  # A = S / (S + SUPPORT_K)
SHARE_HALF = 0.05  # Q: the weighted share at which P is about one half
SCALE = 10_000  # stored sums are integers in units of 1e-4
_LOW, _HIGH = 0.0001, 0.9999


def pattern_confidence(evidence: float, reflections: int) -> float:
    """A pattern's confidence from S (``evidence``) and N (``reflections`` analysed; at least the
    number that show it: a smaller N is taken as S, i.e. every reflection shows it)."""
    if evidence <= 0:
        return 0.0
    amount = evidence / (evidence + SUPPORT_K)
    share = min(1.0, evidence / reflections) if reflections > 0 else 1.0
    prevalence = share * (1 + SHARE_HALF) / (share + SHARE_HALF)
    return min(_HIGH, max(_LOW, round(amount * prevalence, 4)))


def confidence_of_units(units: int, reflections: int) -> float:
    """:func:`pattern_confidence` with S in 1e-4 units, as the database keeps it."""
    return pattern_confidence(units / SCALE, reflections)
