from __future__ import annotations

import io
import os
import re
import stat
from datetime import timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from exchange_samples import TEXT, TIMES, header_for, records, reflection, sections
from mirror_cli.exchange.formats.markdown import block, inline, safe_block, write_markdown, write_markdown_folder

UTC = timezone.utc
MD = MarkdownIt()


def _render(recs, tz=UTC) -> str:
    buf = io.StringIO()
    write_markdown(buf, header_for(recs), sections(recs), tz=tz)
    return buf.getvalue()


def _top_headings(text: str) -> list[tuple[str, str]]:
    tokens = MD.parse(text)
    return [(t.tag, tokens[i + 1].content) for i, t in enumerate(tokens) if t.type == "heading_open" and t.level == 0]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in re.split(r"\r\n|\r|\n", text) if line.strip()]


def test_single_document_structure():
    recs = records()
    text = _render(recs)
    heads = _top_headings(text)
    assert heads == [
        ("h1", "mirror journal export"),
        ("h1", "Reflections"),
        ("h2", "Wednesday, 2024-05-01"),
        ("h3", "09:30 · REFLECTION · #work #new-job"),
        ("h3", "21:05 · POST_ACTION · local only"),
        ("h2", "Friday, 2024-05-03"),
        ("h3", "06:00 · REFLECTION · #a;b #c,d"),
        ("h1", "Patterns"),
        ("h2", "Work \\*stress\\*"),
        ("h2", "Calm"),
        ("h1", "Tensions"),
    ]
    assert "3 reflections, 2 patterns, 2 tensions" in text
    assert "*Edited 2024-05-02 08:00.*" in text
    assert "> Noted, with care." in text
    assert "reflection 01HX0000000000000000000001 (confidence 0.70): “new job”" in text
    assert "position 0.30, intensity 0.70" in text
    for r in recs["reflections"]:
        for line in _lines(r["content"]):
            assert line in text


def test_local_time_zone_shifts_days():
    recs = records()
    text = _render(recs, tz=timezone(timedelta(hours=5)))
    heads = [h for h in _top_headings(text) if h[0] in ("h2", "h3")][:4]
    assert heads == [("h2", "Wednesday, 2024-05-01"), ("h3", "14:30 · REFLECTION · #work #new-job"),
                     ("h2", "Thursday, 2024-05-02"), ("h3", "02:05 · POST_ACTION · local only")]
    assert "UTC+05:00" in text


def test_unclosed_fence_and_heading_in_content_do_not_break_the_outline():
    text = _render(records())
    assert "\\# not a heading" in text
    tokens = MD.parse(text)
    fences = [t for t in tokens if t.type == "fence"]
    assert len(fences) == 1 and fences[0].content == "unclosed fence\n"


def test_folder_mode(tmp_path):
    recs = records()
    folder = tmp_path / "md"
    paths = write_markdown_folder(folder, header_for(recs), sections(recs), tz=UTC)
    assert [p.name for p in paths] == ["README.md", "reflections.md", "patterns.md", "tensions.md"]
    assert sorted(os.listdir(folder)) == sorted(p.name for p in paths)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert all(stat.S_IMODE(os.stat(p).st_mode) == 0o600 for p in paths)
    readme = (folder / "README.md").read_text()
    assert "3 reflections, 2 patterns, 2 tensions" in readme
    assert "Exported 2024-05-01 10:00 by mirror 0.1.0" in readme
    assert "Audit events are not part of the Markdown export" in readme
    assert "`reflections.md`: 3 reflections" in readme
    refl = (folder / "reflections.md").read_text()
    assert [h for h in _top_headings(refl) if h[0] == "h3"] == [
        h for h in _top_headings(_render(recs)) if h[0] == "h3"]
    assert _top_headings((folder / "patterns.md").read_text())[0] == ("h1", "Patterns")
    assert "Control ↔ Surrender" in (folder / "tensions.md").read_text()


def test_folder_mode_only_given_kinds_and_counts_written(tmp_path):
    recs = records()
    paths = write_markdown_folder(tmp_path / "r", {"exported_at": "2024-05-01T10:00:00.000Z"},
                                  {"reflections": iter(recs["reflections"][:2])}, tz=UTC)
    assert [p.name for p in paths] == ["README.md", "reflections.md"]
    assert "2 reflections" in paths[0].read_text()


def test_empty_sections_say_so():
    text = _render({"reflections": [], "patterns": [], "tensions": []})
    assert "No reflections." in text and "No patterns." in text and "No tensions." in text


def test_inline_escapes_active_characters():
    assert inline("a *b* _c_ [d](e) <f> `g` #h & i|j ~k\nl") == \
        "a \\*b\\* \\_c\\_ \\[d\\](e) \\<f\\> \\`g\\` \\#h \\& i\\|j \\~k l"
    assert inline("self_care") == "self_care"


def test_block_escapes_and_closes():
    assert block("# h\n  ## h2\n#nohead\n<script>\n<!-- c\n[x]: http://y\nz\n===") == [
        "\\# h", "  \\## h2", "#nohead", "\\<script>", "\\<!-- c", "\\[x]: http://y", "z", "\\==="]
    assert block("~~~~\n# in code\n~~~\n") == ["~~~~", "# in code", "~~~", "~~~~"]
    assert block("```a`b\n# h") == ["```a`b", "\\# h"]  # not a fence: info string has a backtick
    assert block("\n\n  x  \n\n") == ["  x  "]


def test_fence_inside_a_list_item_falls_back_to_indented_code():
    text = "- item\n  ```\n  code"
    lines = safe_block(text)
    doc = "\n".join(lines) + "\n\n### next\n"
    assert [h for h in _top_headings(doc)] == [("h3", "next")]


ADVERSARIAL = st.lists(st.sampled_from([
    "```", "~~~", "````", "  ```", "- ```", "> ```", "1. ```", "<script>", "<pre>", "<!--", "-->", "<?", "<!X",
    "<![CDATA[", "# h", "## h", "### h", "---", "===", "    code", "\t```", "- item", "  - nested", "> quote",
    "[x]: /url", "", "text", "<div>", "</script>", "```js", "~~~ `x`", "* * *", "#", "\\", "<", "`", "|a|b|",
]) | TEXT, max_size=12).map("\n".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(reflection(), max_size=5), st.lists(ADVERSARIAL, min_size=1, max_size=5))
def test_every_reflection_is_one_heading_and_its_text_is_there(refls, contents):
    for i, r in enumerate(refls):
        r["content"] = contents[i % len(contents)]
        if r["response"] is not None:
            r["response"] = contents[(i + 1) % len(contents)]
    refls.sort(key=lambda r: r["created_at"])
    text = _render({"reflections": refls})
    heads = _top_headings(text)
    assert len([h for h in heads if h[0] == "h3"]) == len(refls)
    assert heads[0] == ("h1", "mirror journal export") and heads[1] == ("h1", "Reflections")
    assert all(h[0] in ("h2", "h3") for h in heads[2:])
    for r in refls:
        for line in _lines(r["content"]):
            assert line in text


@settings(max_examples=40, deadline=None)
@given(st.lists(TIMES, min_size=1, max_size=20))
def test_days_are_grouped_when_sorted(times):
    times.sort()
    refls = [{"id": f"r{i}", "created_at": t, "updated_at": t, "content": "x", "response": None,
              "mode": "M", "tags": [], "local_only": False} for i, t in enumerate(times)]
    heads = _top_headings(_render({"reflections": refls}))
    days = [h[1] for h in heads if h[0] == "h2"]
    assert len(days) == len(set(days)) == len({t[:10] for t in times})


def test_odd_times_do_not_crash():
    refls = [{"id": "a", "created_at": "9999-12-31T23:59:59.000Z", "updated_at": "not a time", "content": "x",
              "response": None, "mode": "M", "tags": [], "local_only": False},
             {"id": "b", "created_at": None, "content": "y", "mode": "M"}]
    text = _render({"reflections": refls, "patterns": [{"name": "p", "first_seen": "0001-01-01T00:00:00.000Z",
                                                         "last_seen": None, "occurrences": []}]},
                   tz=timezone(timedelta(hours=5)))
    assert "Unknown date" in text and "*Edited not a time.*" in text
