"""mirror patterns / mirror tensions on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mirror_cli import crypto
from mirror_cli.journal import reflections as journal
from mirror_cli.crypto import manage as keyops
from mirror_cli.ids import parse_iso
from mirror_cli.patterns import charts
from mirror_cli.db.store import Store
from helpers import DATA

CORPUS = json.loads((DATA / "labelled_corpus.json").read_text("utf-8"))
PW = "lighthouse keeper 42"


@pytest.fixture
def ids(mirror_home):
    out = {}
    with Store.open(mirror_home / "mirror.db") as store:
        for r in CORPUS["reflections"]:
            out[r["id"]] = journal.add(store, r["text"], tags=r["tags"], at=parse_iso(r["created_at"])).id
    return out


def run_json(cli, *args, env=None):
    r = cli(*args, "--json", env=env)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def test_analyze_then_list_and_default_list(cli, ids):
    result = run_json(cli, "patterns", "analyze")
    assert result["analyzed"] == len(ids) and result["skipped"] == 0 and result["full"] is True
    listed = run_json(cli, "patterns", "list")
    assert listed and {"id", "pattern_type", "name", "confidence", "first_seen", "last_seen"} <= set(listed[0])
    assert run_json(cli, "patterns") == listed
    confs = [p["confidence"] for p in listed]
    assert confs == sorted(confs, reverse=True) and all(0 <= c <= 1 for c in confs)
    high = run_json(cli, "patterns", "list", "--min-confidence", "0.6")
    assert high == [p for p in listed if p["confidence"] >= 0.6]
    emotions = run_json(cli, "patterns", "--type", "emotion")
    assert emotions and {p["pattern_type"] for p in emotions} == {"emotion"}
    assert len(run_json(cli, "patterns", "list", "--limit", "2")) == 2
    plain = cli("patterns")
    assert plain.exit_code == 0 and "anxiety" in plain.stdout


def test_incremental_from_the_cli(cli, ids):
    run_json(cli, "patterns", "analyze")
    cli("reflect", "Anxious and worried about the work deadline tonight.")
    result = run_json(cli, "patterns", "analyze")
    assert (result["analyzed"], result["skipped"]) == (1, len(ids))
    assert run_json(cli, "tensions", "analyze")["analyzed"] == 0


def test_stale_listing_says_so(cli, ids):
    r = cli("patterns")
    assert "patterns analyze" in r.stderr and r.stdout == ""
    run_json(cli, "patterns", "analyze")
    cli("reflect", "one more")
    assert "changed since the last analysis" in cli("patterns").stderr
    assert cli("patterns", "--json").stderr == ""


def test_show_prints_evidence_and_excerpts(cli, ids):
    cli("patterns", "analyze")
    shown = run_json(cli, "patterns", "show", "anxiety")
    assert shown["name"] == "anxiety" and shown["pattern_type"] == "emotion"
    rids = {o["reflection_id"] for o in shown["occurrences"]}
    assert ids["r01"] in rids and ids["r04"] not in rids  # r04: "not anxious"
    for o in shown["occurrences"]:
        assert {"reflection_id", "evidence", "confidence", "excerpt"} <= set(o)
        assert any(w.lower() in o["excerpt"].lower() for w in o["evidence"].split(", "))
    by_id = run_json(cli, "patterns", "show", shown["id"])
    assert by_id["id"] == shown["id"]
    text = cli("patterns", "show", "anxiety").stdout
    assert "anxious" in text.lower() and ids["r01"] in text
    ambiguous = cli("patterns", "show", "work")  # a theme and a tag
    assert ambiguous.exit_code == 2 and "tag:work" in ambiguous.stderr
    assert run_json(cli, "patterns", "show", "tag:work")["pattern_type"] == "tag"
    assert cli("patterns", "show", "nothing-like-this").exit_code == 2


def test_evolution_json_shapes(cli, ids):
    cli("patterns", "analyze")
    one = run_json(cli, "patterns", "evolution", "anxiety", "--by", "month")
    assert isinstance(one, list) and set(one[0]) == {"period", "count", "confidence"}
    assert [r["period"] for r in one] == sorted(r["period"] for r in one)
    expected = {}
    for r in CORPUS["reflections"]:
        if "anxiety" in r["expected"]["emotions"]:
            expected[r["created_at"][:7]] = expected.get(r["created_at"][:7], 0) + 1
    counts = {r["period"]: r["count"] for r in one}
    assert all(counts[m] >= n for m, n in expected.items())
    every = run_json(cli, "patterns", "evolution", "--by", "week")
    assert "anxiety" in every and all(set(row) == {"period", "count", "confidence"}
                                      for series in every.values() for row in series)
    text = cli("patterns", "evolution", "anxiety").stdout
    assert any(t in text for t in ("rising", "falling", "steady"))
    assert cli("patterns", "evolution", "--by", "year").exit_code == 2


def test_tensions_commands(cli, ids):
    assert cli("tensions").exit_code == 0
    cli("tensions", "analyze")
    listed = run_json(cli, "tensions")
    assert listed == run_json(cli, "tensions", "list")
    for t in listed:
        assert {"name", "axis_a", "axis_b", "position", "intensity", "count"} <= set(t)
        assert 0 <= t["position"] <= 1 and 0 <= t["intensity"] <= 1 and t["count"] >= 1
    shown = run_json(cli, "tensions", "show", "Control vs Surrender")
    assert shown["name"] == "Control vs Surrender" and shown["series"]
    chart = cli("tensions", "map")
    assert chart.exit_code == 0 and "Control" in chart.stdout and "position" in chart.stdout
    assert chart.stdout.isascii()  # piped: plain text
    assert run_json(cli, "tensions", "map")[0]["name"]
    assert cli("tensions", "show", "Order vs Chaos").exit_code == 2


def test_audit_events_and_verify(cli, ids):
    cli("patterns", "analyze")
    cli("tensions", "analyze")
    log = run_json(cli, "audit", "log", "--limit", "2")
    types = {e["event_type"] for e in log}
    assert types == {"patterns.analyzed", "tensions.analyzed"}
    assert "anxiety" not in json.dumps(log)
    assert run_json(cli, "audit", "verify")["ok"] is True


def test_encrypted_database(cli, ids, mirror_home):
    with Store.open(mirror_home / "mirror.db") as s:
        keyops.enable(s, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False,
                      kdf_params=crypto.new_kdf_params(iterations=1, lanes=1, memory_cost=8))
    env = {"MIRROR_PASSPHRASE": PW}
    assert run_json(cli, "patterns", "analyze", env=env)["analyzed"] == len(ids)
    assert any(p["name"] == "anxiety" for p in run_json(cli, "patterns", env=env))
    assert run_json(cli, "patterns", "show", "anxiety", env=env)["occurrences"]
    assert run_json(cli, "tensions", env=env)
    locked = cli("patterns")
    assert locked.exit_code == 4


def test_charts_are_pure_strings():
    points = [{"name": "Control vs Surrender", "axis_a": "Control", "axis_b": "Surrender",
               "position": 0.0, "intensity": 1.0, "count": 3},
              {"name": "Self vs Others", "axis_a": "Self", "axis_b": "Others",
               "position": 1.0, "intensity": 0.0, "count": 1}]
    text = charts.tension_map(points, width=21, height=5, unicode=False)
    lines = text.splitlines()
    assert lines[0].endswith("|1" + " " * 9 + "|" + " " * 10)  # top-left: position 0, intensity 1
    assert lines[4].rstrip().endswith("2")  # bottom-right: position 1, intensity 0
    assert "1  Control <-> Surrender" in text and text.isascii()
    bars = charts.bar_chart([{"period": "2026-01", "count": 4}, {"period": "2026-02", "count": 2}], width=8,
                            unicode=False)
    assert bars.splitlines()[0].startswith("2026-01  ########") and "####" in bars.splitlines()[1]
    assert "rising" in charts.evolution_line("x", [{"period": "a", "count": 0}, {"period": "b", "count": 3}],
                                             "rising", unicode=False)


def test_evolution_keys_do_not_depend_on_the_filters(cli, ids):
    cli("patterns", "analyze")
    every = run_json(cli, "patterns", "evolution", "--by", "month")
    assert {"tag:work", "theme:work"} <= set(every) and "work" not in every
    only_tags = run_json(cli, "patterns", "evolution", "--by", "month", "--type", "tag")
    assert "tag:work" in only_tags and "work" not in only_tags
    assert only_tags["tag:work"] == every["tag:work"]
    top = run_json(cli, "patterns", "evolution", "--by", "month", "--limit", "1")
    assert len(top) == 1 and set(top) <= set(every)


@pytest.mark.parametrize("args", [("patterns", "--type", "tag", "list"), ("patterns", "--json", "show", "anxiety"),
                                  ("patterns", "--limit", "2", "evolution"), ("tensions", "--json", "map"),
                                  ("patterns", "--min-confidence", "0", "list")])  # given, though the default
def test_group_options_before_a_subcommand_are_refused_not_dropped(cli, ids, args):
    result = cli(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "after" in result.stderr


@pytest.mark.parametrize("args", [("patterns", "--min-confidence", "nan"), ("patterns", "list", "--min-confidence", "NaN"),
                                  ("patterns", "evolution", "--min-confidence", "nan"),
                                  ("patterns", "list", "--min-confidence", "1.5")])
def test_min_confidence_outside_0_to_1_is_a_usage_error(cli, ids, args):
    result = cli(*args)
    assert result.exit_code == 2 and result.stdout == "" and "--min-confidence" in result.stderr


def test_group_options_without_a_subcommand_list(cli, ids):
    cli("patterns", "analyze")
    assert [p["pattern_type"] for p in run_json(cli, "patterns", "--type", "tag")] == \
        [p["pattern_type"] for p in run_json(cli, "patterns", "list", "--type", "tag")]
    assert cli("patterns", "--type", "tag").exit_code == 0 and cli("tensions", "--json").exit_code == 0
