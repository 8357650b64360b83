"""mirror_cli.sync.derived: the shape check of a received pattern or tension, and convergence of
patterns and tensions synced by natural key among devices that analyse at random times."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from mirror_cli.errors import VerificationError
from mirror_cli.patterns import analysis
from mirror_cli.sync import derived
from sync_helpers import Device, cheap_sync_kdf, folder  # noqa: F401 - a fixture

KINDS = frozenset({"pattern", "tension"})
DEV = "0123456789abcdef0123456789abcdef"
GOOD_P = {"k": "p", "n": ["emotion", "anxiety"], "h": "018c8f0a1b2c0001", "d": DEV,
          "v": {"confidence": 0.5, "first_seen": "2024-01-01T00:00:00.000Z", "last_seen": None,
                "support": 2, "units": 10, "strong": 0}}
GOOD_T = {"k": "t", "n": ["", "Stability vs Change"], "h": "018c8f0a1b2c0001", "d": DEV,
          "v": {"detected_at": "2024-01-01T00:00:00.000Z", "data": {"name": "Stability vs Change", "days": {}}}}


def test_good_records_pass_and_deletions_too():
    assert derived.check(GOOD_P, "segment 1")[0] == "pattern"
    assert derived.check(GOOD_T, "segment 1")[0] == "tension"
    assert derived.check({**GOOD_P, "v": None}, "segment 1")[0] == "pattern"


@pytest.mark.parametrize("change", [
    {"k": "x"}, {"n": ["emotion"]}, {"n": ["emotion", ""]}, {"n": ["", "anxiety"]}, {"n": "emotion/anxiety"},
    {"n": ["emotion", "a" * 600]}, {"h": "yesterday"}, {"d": "me"}, {"v": []},
    {"v": {**GOOD_P["v"], "confidence": 1.5}}, {"v": {**GOOD_P["v"], "confidence": float("nan")}},
    {"v": {**GOOD_P["v"], "first_seen": "soon"}}, {"v": {**GOOD_P["v"], "support": -1}},
    {"v": {**GOOD_P["v"], "strong": True}}, {"v": {**GOOD_P["v"], "extra": 1}},
])
def test_malformed_patterns_are_exit_3(change):
    with pytest.raises(VerificationError) as e:
        derived.check({**GOOD_P, **change}, "segment 7 of device 'phone'")
    assert "segment 7 of device 'phone'" in str(e.value)


@pytest.mark.parametrize("change", [
    {"v": {"detected_at": "2024-01-01T00:00:00.000Z", "data": {"name": "Another"}}},
    {"v": {"detected_at": "2024-01-01T00:00:00.000Z", "data": {"name": "Stability vs Change", "x": "y" * 70000}}},
    {"v": {"detected_at": None, "data": {"name": "Stability vs Change"}}},
    {"n": ["not an id!", "Stability vs Change"]},
])
def test_malformed_tensions_are_exit_3(change):
    with pytest.raises(VerificationError):
        derived.check({**GOOD_T, **change}, "segment 1")


def test_only_parses_kinds():
    assert derived.parse_kinds(None) == frozenset()
    assert derived.parse_kinds("reflections") == frozenset()
    assert derived.parse_kinds("Patterns, tensions") == KINDS


WORDS = ["anxious", "calm", "grateful", "work", "family", "freedom but security", "tired", "alone but connected"]


def _table(d: Device) -> dict:
    with d.store() as store:
        return {nat: value for nat, (_id, value) in
                [*derived._current(store, "pattern").items(), *derived._current(store, "tension").items()]}


def _count_rows(d: Device) -> tuple[int, int]:
    with d.store() as store:
        return store.count("patterns"), store.count("tensions")


def _analyse(d: Device) -> None:
    with d.store() as store:
        analysis.analyze(store)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 3))
def test_devices_that_analyse_at_random_converge_without_duplicates(cheap_sync_kdf, tmp_path_factory, seed, n):
    rng = random.Random(seed)
    root = tmp_path_factory.mktemp("derived")
    remote = folder(root)
    devices = [Device(root / f"d{i}.db", f"dev{i}", skew_ms=rng.randint(-3_600_000, 3_600_000)) for i in range(n)]
    for d in devices:
        d.add_remote("home", remote)
    ids: list[str] = []
    for _round in range(8):
        for d in rng.sample(devices, rng.randint(1, n)):
            op = rng.random()
            if op < 0.5 or not ids:
                text = " and ".join(rng.sample(WORDS, rng.randint(1, 3)))
                ids.append(d.reflect(f"I feel {text} today"))
            elif op < 0.7:
                rid = rng.choice(ids)
                if rid in d.rows():
                    d.delete(rid)
            if rng.random() < 0.6:
                _analyse(d)
            d.sync(kinds=KINDS if rng.random() < 0.7 else frozenset(),
                   push=rng.random() < 0.9, pull=rng.random() < 0.9)
            pats, tens = _count_rows(d)
            table = _table(d)
            assert pats + tens == len(table), "one row per natural key, never two"
    for d in devices * 3:  # settle without analysing: analyses of different ages meet, the newest wins
        d.sync(kinds=KINDS)
    tables = [_table(d) for d in devices]
    assert all(t == tables[0] for t in tables), "every device holds the same patterns and tensions"
    for d in devices:  # everyone analyses the same reflections: equal values, nothing new to send
        _analyse(d)
    for d in devices * 2:
        d.sync(kinds=KINDS)
    tables = [_table(d) for d in devices]
    assert all(t == tables[0] for t in tables)
    quiet = [d.sync(kinds=KINDS) for d in devices]
    assert all(sum(r.pushed.values()) == 0 for r in quiet), "settled: nothing is sent again"
    assert all(d.verify_audit() for d in devices)
