"""The merge of two states of one record: pure, deterministic, commutative (docs/formats/sync.md).

A state is ``{"vv": {dev: n}, "f": {field: [value, hlc, dev, n, sources?]}, "del": [vv, hlc, dev, n] | None}``. ``vv`` is the version vector (the join of every dot the state descends from); a
field carries the stamp of the version that set it: its HLC and its dot ``(dev, n)``. ``sources``
(only on a version the merge itself wrote: a conflict's resolution, a field re-stamped on
resurrection) lists the dots of the people's edits it stands for; a deletion that saw all of them
deletes it too, so a version the merge wrote never counts as an edit concurrent with a deletion. ``del`` is a deletion: the
deleter's version vector when it deleted, with its own stamp. A record is alive while some field
carries a dot the deletion did not see (observed-remove: a concurrent edit beats a concurrent delete).

Causality first: a value replaces another only if its state had seen that other; two values that
did not see each other are a conflict, settled by the policy (newest-wins: the larger ``(hlc, dev,
n)``; local-wins: a value not yet published from this device wins and is re-stamped above both),
and the loser is reported so it can be kept as a conflict revision. Clocks order only conflicts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mirror_cli.ids import hlc_after

NEWEST_WINS = "newest-wins"
LOCAL_WINS = "local-wins"
POLICIES = (LOCAL_WINS, NEWEST_WINS)

Stamp = tuple[str, str, int]  # (hlc, dev, n)


def covers(vv: dict[str, int], dev: str, n: int) -> bool:
    return vv.get(dev, 0) >= n


def leq(a: dict[str, int], b: dict[str, int]) -> bool:
    return all(b.get(d, 0) >= n for d, n in a.items())


def join(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    out = dict(a)
    for d, n in b.items():
        if n > out.get(d, 0):
            out[d] = n
    return out


def stamp_of(entry: list[Any]) -> Stamp:
    return entry[1], entry[2], entry[3]


def _dot(entry: list[Any]) -> tuple[str, int]:
    return entry[2], entry[3]


def updated(state: dict[str, Any]) -> str | None:
    """The HLC of the newest value: a record's updated_at, the same on every device."""
    return max((e[1] for e in (state.get("f") or {}).values()), default=None)


def sources(entry: list[Any]) -> list[list[Any]]:
    """The dots of the people's edits a version stands for: its own, or those a merge version lists."""
    return entry[4] if len(entry) > 4 else [[entry[2], entry[3]]]


def _union(*groups: list[list[Any]]) -> list[list[Any]]:
    return [list(x) for x in sorted({(d, n) for g in groups for d, n in g})]


def alive(state: dict[str, Any]) -> bool:
    fields = state.get("f") or {}
    dele = state.get("del")
    if not fields:
        return False
    if dele is None:
        return True
    return any(not covers(dele[0], d, n) for e in fields.values() for d, n in sources(e))


@dataclass
class Conflict:
    field: str
    value: Any            # the value that lost
    value_stamp: Stamp
    kept_stamp: Stamp
    other_device: str     # the device whose value it was


@dataclass
class Merged:
    state: dict[str, Any]
    changed: bool                     # the state differs from the local one
    conflicts: list[Conflict] = field(default_factory=list)
    delete_beaten: bool = False       # a deletion lost to a concurrent edit


class Clock:
    """What the merge may need from this device: its id, which of its dots are unpublished, and new
    stamps (a new dot and an HLC above a given one)."""

    def __init__(self, dev: str, published: int, next_stamp: Callable[[str], tuple[str, int]]) -> None:
        self.dev = dev
        self.published = published
        self._next = next_stamp

    def pending(self, entry: list[Any]) -> bool:
        return entry[2] == self.dev and entry[3] > self.published

    def new_stamp(self, above: str) -> tuple[str, int]:
        """A new dot and an HLC above *above*, even when *above* comes from a clock far ahead."""
        hlc, n = self._next(above)
        return max(hlc, hlc_after(above)), n


def merge(local: dict[str, Any] | None, incoming: dict[str, Any], policy: str, clock: Clock) -> Merged:
    """Merge *incoming* (a peer's state) into *local* (None: the record is new here)."""
    if local is None:
        state = _normal({"vv": dict(incoming["vv"]), "f": dict(incoming.get("f") or {}),
                         "del": incoming.get("del")})
        return _resurrect(Merged(state, True), clock)
    lvv, xvv = local["vv"], incoming["vv"]
    lf, xf = local.get("f") or {}, incoming.get("f") or {}
    if leq(xvv, lvv) and not any(_crossed(lvv, xvv, lf.get(k), e) for k, e in xf.items()):
        return Merged(local, False)
    out: dict[str, list[Any]] = {}
    result = Merged({}, True)
    for name in sorted(set(lf) | set(xf)):
        a, b = lf.get(name), xf.get(name)
        if b is None:
            out[name] = a
        elif a is None:
            out[name] = b
        elif _dot(a) == _dot(b):
            out[name] = a
        elif _crossed(lvv, xvv, a, b):
            # each side had seen the other's version and holds its own (one of them had dropped its
            # values while the record was deleted, then took a value again): the same one everywhere
            out[name] = a if stamp_of(a) > stamp_of(b) else b
            if out[name] is b and a[0] != b[0]:
                result.conflicts.append(Conflict(name, a[0], stamp_of(a), stamp_of(b), a[2]))
        elif covers(lvv, *_dot(b)):
            out[name] = a
        elif covers(xvv, *_dot(a)):
            out[name] = b
            # a resolution that beat this device's value (local-wins elsewhere): keep the loser here too
            if len(b) > 4 and a[0] != b[0] and {tuple(x) for x in sources(a)} <= {tuple(x) for x in b[4]}:
                result.conflicts.append(Conflict(name, a[0], stamp_of(a), stamp_of(b), clock.dev))
        else:
            out[name] = _conflict(name, a, b, policy, clock, result)
    vv = join(lvv, xvv)
    dele = _merge_del(local.get("del"), incoming.get("del"))
    state = {"vv": vv, "f": out, "del": dele}
    for entry in out.values():  # a re-stamped value's dot joins the vector
        vv[entry[2]] = max(vv.get(entry[2], 0), entry[3])
    result.state = _normal(state)
    if dele is not None and alive(result.state) and (
            (local.get("del") is None and alive(local)) or not alive(local)):
        result.delete_beaten = True  # a deletion here or there lost to an edit it had not seen
    return _resurrect(result, clock)


def _crossed(lvv: dict[str, int], xvv: dict[str, int], a: list[Any] | None, b: list[Any]) -> bool:
    """Two different versions of a field, each held by a state that covers the other's dot."""
    return a is not None and _dot(a) != _dot(b) and covers(lvv, *_dot(b)) and covers(xvv, *_dot(a))


def _conflict(name: str, a: list[Any], b: list[Any], policy: str, clock: Clock, result: Merged) -> list[Any]:
    """Two versions that did not see each other. The winner (local-wins: a value not yet published
    from this device; otherwise the larger stamp) is written again as a new version that has seen
    both, so every device's state again descends from everything it holds: a later deletion that saw
    only one of the two cannot leave the entry alive on one device and gone on another."""
    if policy == LOCAL_WINS and clock.pending(a):
        winner, loser = a, b
    else:
        winner, loser = (a, b) if stamp_of(a) > stamp_of(b) else (b, a)
    hlc, n = clock.new_stamp(max(a[1], b[1]))
    resolved = [winner[0], hlc, clock.dev, n, _union(sources(a), sources(b))]
    if a[0] != b[0]:
        result.conflicts.append(Conflict(name, loser[0], stamp_of(loser), stamp_of(resolved), loser[2]))
    return resolved


def _merge_del(a: list[Any] | None, b: list[Any] | None) -> list[Any] | None:
    """Deletions join: each removes what its device had seen (observed-remove), so together they
    remove the union; the stamp kept is the newest (for reports only)."""
    if a is None or b is None:
        return a if b is None else b
    top = max(a[1:], b[1:])
    return [join(a[0], b[0]), *top]


def _normal(state: dict[str, Any]) -> dict[str, Any]:
    """A dead record keeps no values (a tombstone carries no content)."""
    if not alive(state):
        state["f"] = {}
    return state


def _resurrect(result: Merged, clock: Clock) -> Merged:
    """An alive record whose deletion saw some of its values: those values are re-stamped by this
    device, so every device's state again descends from what it claims to have seen (without it a
    device that dropped them on delete and one that kept them would disagree for ever)."""
    state = result.state
    dele = state.get("del")
    if dele is None or not state["f"]:
        return result
    covered = [name for name, e in state["f"].items() if covers(dele[0], e[2], e[3])]
    if not covered:
        return result
    top = max(e[1] for e in state["f"].values())
    for name in covered:
        hlc, n = clock.new_stamp(top)
        old = state["f"][name]
        state["f"][name] = [old[0], hlc, clock.dev, n, sources(old)]
        state["vv"][clock.dev] = max(state["vv"].get(clock.dev, 0), n)
    result.changed = True
    return result
