"""mirror_cli.patterns.analysis (and the queries that read it): stored, incremental, encrypted."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mirror_cli import audit, crypto
from mirror_cli.journal import reflections as journal
from mirror_cli.crypto import manage as keyops
from mirror_cli.ids import parse_iso
from mirror_cli.patterns import analyze as analyze_text
from mirror_cli.patterns import analysis, queries
from mirror_cli.patterns import evolution as evo
from mirror_cli.patterns.confidence import pattern_confidence
from mirror_cli.patterns.stored import EVIDENCE_LIMIT
from mirror_cli.db.store import Store
from mirror_cli.crypto.fields import codec as field_codec
from helpers import DATA, cheap

CORPUS = json.loads((DATA / "labelled_corpus.json").read_text("utf-8"))
PW = "correct horse battery staple"


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "m.db")
    yield s
    s.close()


@pytest.fixture
def corpus(store):
    """The labelled corpus inserted through journal.add: label id -> reflection id."""
    ids = {}
    for r in CORPUS["reflections"]:
        ids[r["id"]] = journal.add(store, r["text"], tags=r["tags"], at=parse_iso(r["created_at"])).id
    return ids


def occurrences(store, ref):
    _info, occ = queries.show_pattern(store, ref)
    return {o["reflection_id"]: o for o in occ}


def snapshot(store) -> dict:
    """Everything the commands show, ids left out of the comparison of totals."""
    pats = queries.list_patterns(store, include_unreported=True)
    out = {"patterns": sorted((p.pattern_type, p.name, p.confidence, p.support, p.first_seen, p.last_seen)
                              for p in pats),
           "tensions": [{k: v for k, v in t.items() if k != "id"} for t in queries.list_tensions(store)],
           "evidence": {}, "evolution": {}}
    for p in pats:
        key = f"{p.pattern_type}:{p.name}"
        _info, occ = queries.show_pattern(store, p.id, excerpts=False)
        out["evidence"][key] = sorted((o["reflection_id"], o["evidence"], o["confidence"], o["intensity"]) for o in occ)
        out["evolution"][key] = queries.pattern_evolution(store, queries.find_pattern(store, p.id), "week")
    return out


def test_expected_patterns_with_evidence_on_the_right_reflections(store, corpus):
    result = analysis.analyze(store)
    assert result.full and result.analyzed == len(corpus) and result.skipped == 0
    for r in CORPUS["reflections"]:
        rid = corpus[r["id"]]
        for kind, key in (("emotion", "emotions"), ("theme", "themes")):
            for name in r["expected"][key]:
                p = queries.find_pattern(store, f"{kind}:{name}")
                assert p.support <= EVIDENCE_LIMIT  # so every occurrence is kept as evidence
                occ = occurrences(store, p.id)
                assert rid in occ, (r["id"], kind, name)
                assert occ[rid]["evidence"]  # the words
                assert 0 < occ[rid]["confidence"] <= 1
                for word in occ[rid]["evidence"].split(", "):
                    assert word.split()[0] in r["text"].lower().replace("\u2019", "'")
        for tag in r["tags"]:
            assert rid in occurrences(store, f"tag:{tag}")


def test_negated_words_are_not_counted(store, corpus):
    analysis.analyze(store)
    checked = 0
    for r in CORPUS["reflections"]:
        for name in r["expected"]["absent_emotions"]:
            try:
                occ = occurrences(store, f"emotion:{name}")
            except Exception:  # the pattern never appears at all
                occ = {}
            assert corpus[r["id"]] not in occ, (r["id"], name)
            checked += 1
    assert checked >= 3


def test_confidence_in_range_and_filters(store, corpus):
    analysis.analyze(store)
    everything = queries.list_patterns(store)
    assert everything and all(0 <= p.confidence <= 1 for p in everything)
    assert [p.confidence for p in everything] == sorted((p.confidence for p in everything), reverse=True)
    for threshold in (0.2, 0.5, 0.7):
        chosen = queries.list_patterns(store, min_confidence=threshold)
        assert [p.id for p in chosen] == [p.id for p in everything if p.confidence >= threshold]
    emotions = queries.list_patterns(store, pattern_type="emotion")
    assert emotions and {p.pattern_type for p in emotions} == {"emotion"}
    assert len(queries.list_patterns(store, limit=3)) == 3
    with pytest.raises(Exception):
        queries.list_patterns(store, pattern_type="diagnosis")


def test_pattern_confidence_weighs_evidence_and_share(store, corpus):
    analysis.analyze(store)
    n = len(corpus)
    for p in queries.list_patterns(store):
        s = sum(o["confidence"] for o in occurrences(store, p.id).values())
        share = s / n
        assert p.confidence == pytest.approx(s / (s + 2) * share * 1.05 / (share + 0.05), abs=1e-4)


def test_evolution_counts_per_period_exact(store):
    base = datetime(2026, 1, 5, 9, tzinfo=timezone.utc)  # a Monday, 2026-W02
    for days in (0, 1, 2, 14, 15, 40):
        journal.add(store, "I feel anxious about tomorrow.", at=base + timedelta(days=days))
    journal.add(store, "A calm walk, nothing else.", at=base + timedelta(days=7))
    analysis.analyze(store)
    weekly = queries.evolution(store, "anxiety", by="week")["series"]
    assert [(r["period"], r["count"]) for r in weekly] == [
        ("2026-W02", 3), ("2026-W03", 0), ("2026-W04", 2), ("2026-W05", 0), ("2026-W06", 0),
        ("2026-W07", 1)]  # 40 days after Monday 5 January: Saturday 14 February
    monthly = queries.evolution(store, "anxiety", by="month")["series"]
    assert [(r["period"], r["count"]) for r in monthly] == [("2026-01", 5), ("2026-02", 1)]
    # confidence counts the evidence up to each period among the reflections written by then
    assert monthly[0]["confidence"] == pattern_confidence(2.5, 6)
    assert monthly[1]["confidence"] == pattern_confidence(3.0, 7)
    assert monthly[1]["confidence"] == queries.find_pattern(store, "anxiety").confidence
    everything = queries.evolution(store, by="month")["patterns"]
    assert everything["anxiety"]["series"] == monthly


def test_evolution_matches_the_pure_function_on_the_corpus(store, corpus):
    analysis.analyze(store)
    for name in ("anxiety", "work", "sleep"):
        p = queries.find_pattern(store, f"emotion:{name}" if name == "anxiety" else f"theme:{name}")
        dates, confs = [], []
        for r in CORPUS["reflections"]:
            f = analyze_text(r["text"], r["tags"]).findings.get(p.pattern_type, p.name)
            if f:
                dates.append(parse_iso(r["created_at"]))
                confs.append(f.confidence)
        newest = max(parse_iso(r["created_at"]) for r in CORPUS["reflections"])  # periods run to the journal's end
        written = [parse_iso(r["created_at"]) for r in CORPUS["reflections"]]
        for by in ("week", "month"):
            assert queries.evolution(store, p.id, by=by)["series"] == evo.evolution(
                dates, by, confs, until=newest, reflections=written)


def test_tension_positions_move_the_right_way(store):
    journal.add(store, "I tried to let go, accept what happens and trust the flow.", at=datetime(2026, 1, 1, tzinfo=timezone.utc))
    analysis.analyze(store)
    first = {t["name"]: t for t in queries.list_tensions(store)}["Control vs Surrender"]
    assert first["position"] > 0.5
    journal.add(store, "I need control: plan everything, schedule it, keep it organized and perfect.",
                at=datetime(2026, 2, 1, tzinfo=timezone.utc))
    analysis.analyze(store)
    second = {t["name"]: t for t in queries.list_tensions(store)}["Control vs Surrender"]
    assert second["position"] < first["position"] and second["count"] == 2
    series = queries.show_tension(store, "control vs surrender", by="month")["series"]
    assert series[0]["position"] > 0.5 > series[1]["position"]


def test_corpus_tensions_lean_as_labelled(store):
    for r in CORPUS["reflections"]:
        for name, side in r["expected"]["tensions"].items():
            s = Store.open(store.path.parent / f"{r['id']}.db")
            journal.add(s, r["text"], tags=r["tags"])
            analysis.analyze(s)
            t = {t["name"]: t for t in queries.list_tensions(s)}[name]
            assert (t["position"] < 0.5) if side == "a" else (t["position"] > 0.5), (r["id"], name)
            s.close()


def test_incremental_touches_only_the_new_reflection_and_equals_full(store, corpus):
    analysis.analyze(store)
    again = analysis.analyze(store)
    assert (again.analyzed, again.skipped, again.full) == (0, len(corpus), False)
    journal.add(store, "So anxious and worried tonight, the work deadline again.", tags=["late"])
    result = analysis.analyze(store)
    assert (result.analyzed, result.skipped, result.removed, result.full) == (1, len(corpus), 0, False)
    incremental = snapshot(store)
    analysis.analyze(store, full=True)
    assert snapshot(store) == incremental


def test_full_analysis_keeps_only_the_findings_it_wrote(store, corpus):
    """A reflection added, and analysed by another run, while a full analysis reads: the
    full analysis' totals do not hold it, so neither does its cache; the next run adds it."""
    analysis.analyze(store)
    added = []

    def meanwhile(done, total):
        if done == total and not added:
            added.append(journal.add(store, "So anxious and worried tonight.", tags=["late"]).id)
            analysis.analyze(store)

    result = analysis.analyze(store, full=True, progress=meanwhile)
    assert result.analyzed == len(corpus)
    cached = {rid for rid, in store.conn.execute("SELECT reflection_id FROM analysis_state")}
    assert cached == set(corpus.values())
    again = analysis.analyze(store)
    assert (again.analyzed, again.skipped) == (1, len(corpus))
    incremental = snapshot(store)
    analysis.analyze(store, full=True)
    assert snapshot(store) == incremental


def test_edit_and_delete_are_reflected(store, corpus):
    analysis.analyze(store)
    anxious = corpus["r01"]
    assert anxious in occurrences(store, "anxiety")
    before = queries.find_pattern(store, "emotion:anxiety").support
    journal.edit(store, anxious, content="Another meeting ran late. I feel calm about the project.")
    result = analysis.analyze(store)
    assert result.analyzed == 1
    assert anxious not in occurrences(store, "anxiety")
    assert queries.find_pattern(store, "emotion:anxiety").support == before - 1
    after_edit = snapshot(store)
    analysis.analyze(store, full=True)
    assert snapshot(store) == after_edit
    gone = corpus["r03"]
    journal.delete(store, [gone])
    result = analysis.analyze(store)
    assert result.removed == 1 and result.analyzed == 0
    assert all(gone not in occurrences(store, p.id) for p in queries.list_patterns(store))
    after_delete = snapshot(store)
    analysis.analyze(store, full=True)
    assert snapshot(store) == after_delete


def test_pattern_only_in_a_deleted_reflection_disappears(store):
    a = journal.add(store, "Quiet day.", tags=["zanzibar"])
    journal.add(store, "Another quiet day.", tags=["other"])
    analysis.analyze(store)
    assert queries.find_pattern(store, "zanzibar")
    journal.delete(store, [a.id])
    analysis.analyze(store)
    with pytest.raises(Exception):
        queries.find_pattern(store, "zanzibar")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.tuples(st.sampled_from(["add", "edit", "delete", "analyze"]),
                              st.sampled_from(["anxious and tired", "happy, grateful, calm", "not sad at all",
                                               "work deadline stress", "let go and trust", "plan and control"]),
                              st.integers(0, 5)), min_size=1, max_size=12))
# an edit takes a pattern from its only stored reflection (its first_seen) while a new one brings it again
@example(ops=[("add", "anxious and tired", 0), ("analyze", "anxious and tired", 0),
              ("add", "anxious and tired", 0), ("edit", "happy, grateful, calm", 0)])
def test_incremental_equals_full_after_any_changes(tmp_path_factory, ops):
    s = Store.open(tmp_path_factory.mktemp("h") / "m.db")
    try:
        ids = []
        base = datetime(2026, 1, 1, tzinfo=timezone.utc)
        for n, (op, text, k) in enumerate(ops):
            if op == "add" or not ids:
                ids.append(journal.add(s, text, at=base + timedelta(days=3 * n + k), tags=[f"t{k % 2}"]).id)
            elif op == "edit":
                journal.edit(s, ids[k % len(ids)], content=text + " again")
            elif op == "delete":
                journal.delete(s, [ids.pop(k % len(ids))])
            else:
                analysis.analyze(s)
        analysis.analyze(s)
        incremental = snapshot(s)
        analysis.analyze(s, full=True)
        assert snapshot(s) == incremental
    finally:
        s.close()


def test_audit_event_counts_only(store, corpus):
    analysis.analyze(store)
    analysis.analyze(store, event="tensions.analyzed")
    events = store.conn.execute("SELECT event_type, data FROM audit_events ORDER BY seq DESC LIMIT 2").fetchall()
    assert [e[0] for e in events] == ["tensions.analyzed", "patterns.analyzed"]
    for _type, data in events:
        assert "anxiety" not in data and "work" not in data
    assert audit.verify(store.conn).ok


def test_ids_do_not_leak_names(store, corpus):
    analysis.analyze(store)
    first = {p.name: p.id for p in queries.list_patterns(store)}
    s2 = Store.open(store.path.parent / "other.db")
    for r in CORPUS["reflections"]:
        journal.add(s2, r["text"], tags=r["tags"])
    analysis.analyze(s2)
    second = {p.name: p.id for p in queries.list_patterns(s2)}
    assert all(first[name] != second[name] for name in first.keys() & second.keys())
    s2.close()


def test_excerpt_window_and_spans():
    text = "one two three four five six seven eight nine ten I felt anxious and then worried " + "x " * 30
    ex = queries.excerpt(text, ["anxious", "worried"], radius=4)
    assert ex.text.startswith("… ") and ex.text.endswith(" …")
    assert [ex.text[s:e] for s, e in ex.spans] == ["anxious", "worried"]



def test_encrypted_database(store, corpus):
    analysis.analyze(store)  # caches written in clear, then converted by key enable
    plain = snapshot(store)
    keyops.enable(store, {"MIRROR_NEW_PASSPHRASE": PW}, interactive=False, kdf_params=cheap())
    assert store.encrypted and field_codec(store).encrypted
    for table, column in (("patterns", "name"), ("pattern_occurrences", "evidence"), ("tensions", "data"),
                          ("analysis_state", "findings"), ("pattern_stats", "timeline")):
        kinds = {r[0] for r in store.conn.execute(f"SELECT typeof({column}) FROM {table}")}
        assert kinds == {"blob"}, (table, column, kinds)
    assert snapshot(store) == plain
    journal.add(store, "Anxious and worried about the work deadline.")
    result = analysis.analyze(store)
    assert result.analyzed >= 1
    incremental = snapshot(store)
    analysis.analyze(store, full=True)
    assert snapshot(store) == incremental
    for table, column in (("patterns", "name"), ("pattern_occurrences", "evidence"), ("tensions", "data"),
                          ("analysis_state", "findings"), ("pattern_stats", "timeline")):
        kinds = {r[0] for r in store.conn.execute(f"SELECT typeof({column}) FROM {table}")}
        assert kinds == {"blob"}, (table, column, kinds)
    raw = b"".join(p.read_bytes() for p in store.path.parent.glob("m.db*"))
    assert b"anxious" not in raw and b"Control vs Surrender" not in raw


def test_the_cached_findings_keep_their_stored_shape(store):
    """analysis_state rows written by earlier versions are read back: the shape stays."""
    rid = journal.add(store, "So anxious and worried, I need control.", tags=["#Work"]).id
    analysis.analyze(store)
    row = store.conn.execute("SELECT findings FROM analysis_state WHERE reflection_id = ?", (rid,)).fetchone()[0]
    assert json.loads(row) == {
        "p": [["emotion", "anxiety", "anxious, worried", 0.75, 0.85], ["tag", "work", "work", 1.0, 0.5]],
        "t": [["Control vs Surrender", 0.25, 0.4, "control", ""]]}
    assert row == json.dumps(analysis.findings("So anxious and worried, I need control.", ["#Work"]),
                             ensure_ascii=False, separators=(",", ":"))


_WORDS = ["not", "never", "very", "so", "a", "bit", "but", "let", "go", "in", "control", "anxious", "sad",
          "happy", "tired", "work", "family", "alone", "together", "rest", "change", "stay", "calm", "worried",
          "Anxious", "sad's", ",", ".", "!", "the", "i", "felt"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_WORDS), max_size=60).map(" ".join),
       st.lists(st.sampled_from(["work", "#Work", " sleep ", "", "@Family"]), max_size=3))
@example("So anxious and worried, I need control.", ["#Work"])
@example("", [])
@example("tree, rain, river, sea, garden, sun, mountain, wind, storm, forest, tree.", ["a"])
def test_the_cached_findings_are_those_of_analyze(text, tags):
    """analysis.findings builds the cache straight from the scan: the same values as the
    public analyze (evidence: its first eight distinct words)."""
    a = analyze_text(text, tags)
    assert analysis.findings(text, tags) == {
        "p": [[f.pattern_type, f.name, f.evidence, f.confidence, f.intensity] for f in a.findings],
        "t": [[t.name, t.position, t.intensity, ", ".join(t.evidence_a), ", ".join(t.evidence_b)]
              for t in a.tensions]}


def test_full_analysis_refuses_ciphertext_in_a_plaintext_database(store):
    from mirror_cli.errors import VerificationError

    rid = journal.add(store, "anxious about work", tags=["work"]).id
    journal.add(store, "happy with family", tags=["work"])
    assert analysis.analyze(store, full=True).analyzed == 2
    store.conn.execute("UPDATE reflections SET content = ? WHERE id = ?", (b"\x00sealed?", rid))
    with pytest.raises(VerificationError, match=rid):
        analysis.analyze(store, full=True)
