"""Markdown export: readable with no tools, rendered nicely by any Markdown viewer.

Folder mode writes ``README.md`` (what this is, counts, export time, how to
read it; written last, with the counts actually written), ``reflections.md``,
``patterns.md`` and ``tensions.md`` (only the kinds asked for). Single-document
mode writes the same parts to one stream, the overview first. Audit events
are not rendered (the README says to use the JSON export for them).

Reflections are grouped by local day (``## Wednesday, 2024-05-01``), each
under a ``### 09:30 · MODE · #tag`` heading, then its text, then the
response as a quote. Input is streamed and consecutive records of the same
day share a heading, so feed reflections sorted (oldest first reads best).
Times are shown in the exporting process's local time zone (``tz=None``) or
the given ``tz``.

The reflection text is kept as written (it may itself be Markdown), with
just enough escaping that one entry can never swallow the rest of the
document or break its outline: top-level ATX heading lines, lines that
would open an HTML block that only ends at a closing tag (``<script``,
``<pre``, ``<style``, ``<textarea``, ``<!--``, ``<?``, ``<!X``,
``<![CDATA[``) and link reference definitions get a backslash; an unclosed
code fence is closed. Text that still holds a fence or HTML is checked
with markdown-it (a dependency of rich); if it would run past its entry
or add a heading to the outline, it is written as an indented code block.
Headings and one-line fields escape the characters Markdown would act on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, TextIO

from mirror_cli.localfs import atomic_write, ensure_private_dir

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_NEWLINES = re.compile(r"\r\n|\r|\n")
_SPACES = re.compile(r"\s+")
_INLINE_ACTIVE = re.compile(r"([\\`*\[\]<>#&|~])|(?<!\w)_|_(?!\w)")
_FENCE_OPEN = re.compile(r"( {0,3})(`{3,}|~{3,})(.*)")
_ATX = re.compile(r" {0,3}#{1,6}(?:[ \t]|$)")
_HTML_LONG = re.compile(r" {0,3}<(?:(?:script|pre|style|textarea)(?:[\s>]|$)|!|\?)", re.IGNORECASE)
_LINK_DEF = re.compile(r" {0,3}\[")
_SETEXT = re.compile(r" {0,3}(?:=+|-+)[ \t]*$")
_RISKY = ("```", "~~~", "<")
_SENTINEL = "###### mirror-end-of-entry"
# A line can need care only if its first non-space character is one of these (or it is blank).
_MARKERS = frozenset("`~#<[=-")

Write = Callable[[str], Any]


def inline(text: Any) -> str:
    """One line of text, safe inside a heading or list item: whitespace collapsed, active characters escaped."""
    text = _SPACES.sub(" ", str(text)).strip()
    return _INLINE_ACTIVE.sub(lambda m: "\\" + m.group(0), text)


def _lines(text: str) -> list[str]:
    """*text* split at CommonMark line endings (\\n, \\r\\n, \\r; not str.splitlines' others)."""
    return _NEWLINES.split(text) if "\r" in text else text.split("\n")


def block(text: str) -> list[str]:
    """The lines of a free text as a self-contained Markdown block (see the module docstring)."""
    lines = _trim(_lines(text))
    out: list[str] = []
    fence: tuple[str, int] | None = None  # (char, length) of the open fence
    for line in lines:
        if fence is None and line.lstrip(" ")[:1] not in _MARKERS:
            out.append(line)  # plain text: none of the rules below can apply
            continue
        if fence is not None:
            out.append(line)
            stripped = line.lstrip(" ")
            if (len(line) - len(stripped) <= 3 and stripped.startswith(fence[0] * fence[1])
                    and not stripped.rstrip(" \t").strip(fence[0])):
                fence = None
            continue
        m = _FENCE_OPEN.match(line)
        if m and not (m.group(2)[0] == "`" and "`" in m.group(3)):
            fence = (m.group(2)[0], len(m.group(2)))
            out.append(line)
        elif (_ATX.match(line) or _HTML_LONG.match(line) or (_LINK_DEF.match(line) and "]:" in line)
              or (_SETEXT.match(line) and out and out[-1].strip())):
            indent = len(line) - len(line.lstrip(" "))
            out.append(line[:indent] + "\\" + line[indent:])
        else:
            out.append(line)
    if fence is not None:
        out.append(fence[0] * fence[1])
    return out


def _trim(lines: list[str]) -> list[str]:
    """Without leading and trailing blank lines."""
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def safe_block(text: str) -> list[str]:
    """:func:`block`, verified: text that could still open a block running past its end
    (fences, HTML) is parsed with markdown-it, and if it would swallow what follows or add
    a top-level heading, it is written as an indented code block instead (always safe)."""
    lines = block(text)
    if lines and any(r in text for r in _RISKY) and not _self_contained(lines):
        raw = _trim(_lines(text))
        return ["    " + line if line.strip() else "" for line in raw]
    return lines


def _self_contained(lines: list[str]) -> bool:
    try:
        from markdown_it import MarkdownIt
    except ImportError:  # pragma: no cover - markdown-it-py comes with rich
        return False
    global _MD
    if _MD is None:
        _MD = MarkdownIt("commonmark")
    tokens = _MD.parse("\n".join(lines) + "\n\n" + _SENTINEL + "\n")
    heads = [i for i, t in enumerate(tokens) if t.type == "heading_open" and t.level == 0]
    return (len(heads) == 1 and tokens[heads[0]].tag == "h6"
            and tokens[heads[0] + 1].content == _SENTINEL.lstrip("# "))


_MD = None


def _parse(value: Any, tz: tzinfo | None) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value)
        return dt.astimezone(tz) if dt.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


def _when(value: Any, tz: tzinfo | None) -> str:
    dt = _parse(value, tz)
    return dt.strftime("%Y-%m-%d %H:%M") if dt else inline(value if value is not None else "unknown time")


def _zone_label(tz: tzinfo | None) -> str:
    now = datetime.now().astimezone(tz)
    off = now.strftime("%z")
    off = f"UTC{off[:3]}:{off[3:]}" if off else "UTC"
    name = now.tzname()
    return f"{name}, {off}" if name and name not in (off, "UTC") else off


def _count_line(counts: Mapping[str, int]) -> str:
    parts = []
    for kind, one in (("reflections", "reflection"), ("patterns", "pattern"), ("tensions", "tension")):
        if kind in counts:
            n = counts[kind]
            parts.append(f"{n} {one if n == 1 else kind}")
    return ", ".join(parts) if parts else "nothing"


# --------------------------------------------------------------------------- sections


def _reflections(write: Write, records: Iterable[Mapping[str, Any]], tz: tzinfo | None, level: int) -> int:
    h_day, h_entry = "#" * level, "#" * (level + 1)
    current_day = None
    n = 0
    escaped: dict[Any, str] = {}  # modes and tags repeat: each is escaped once

    def once(value: Any) -> str:
        try:
            return escaped[value]
        except KeyError:
            out = escaped[value] = inline(value)
            return out
        except TypeError:  # not hashable
            return inline(value)

    for r in records:
        n += 1
        created = _parse(r.get("created_at"), tz)
        day = created.date() if created else None
        if day != current_day or n == 1:
            current_day = day
            title = f"{_DAYS[day.weekday()]}, {day.isoformat()}" if day else "Unknown date"
            write(f"{h_day} {title}\n\n")
        parts = [f"{created.hour:02d}:{created.minute:02d}" if created else inline(r.get("created_at") or "")]
        if r.get("mode"):
            parts.append(once(r["mode"]))
        tags = [t for t in (r.get("tags") or []) if str(t).strip()]
        if tags:
            parts.append(" ".join("#" + once(t) for t in tags))
        if r.get("local_only"):
            parts.append("local only")
        chunks = [f"{h_entry} {' · '.join(parts)}\n\n"]
        updated = r.get("updated_at")
        if updated and updated != r.get("created_at"):
            chunks.append(f"*Edited {_when(updated, tz)}.*\n\n")
        body = safe_block(r.get("content") or "")
        if body:
            chunks.append("\n".join(body) + "\n\n")
        response = r.get("response")
        if response:
            quoted = block(response)
            if quoted:
                chunks.append("\n".join(("> " + q) if q.strip() else ">" for q in quoted) + "\n\n")
        write("".join(chunks))
    if n == 0:
        write("No reflections.\n\n")
    return n


def _patterns(write: Write, records: Iterable[Mapping[str, Any]], tz: tzinfo | None, level: int) -> int:
    h = "#" * level
    n = 0
    for p in records:
        n += 1
        occ = list(p.get("occurrences") or [])
        lines = [f"{h} {inline(p.get('name') or 'Unnamed pattern')}", "",
                 f"- Type: {inline(p.get('pattern_type') or 'unknown')}",
                 f"- Confidence: {_num(p.get('confidence'))}"]
        if p.get("first_seen") or p.get("last_seen"):
            lines.append(f"- Seen from {_when(p.get('first_seen'), tz)} to {_when(p.get('last_seen'), tz)}")
        lines.append(f"- Found in {len(occ)} reflection{'' if len(occ) == 1 else 's'}" + (":" if occ else ""))
        for o in occ:
            item = f"  - reflection {inline(o.get('reflection_id'))} (confidence {_num(o.get('confidence'))})"
            if o.get("evidence"):
                item += f": “{inline(o['evidence'])}”"
            lines.append(item)
        write("\n".join(lines) + "\n\n")
    if n == 0:
        write("No patterns.\n\n")
    return n


def _tensions(write: Write, records: Iterable[Mapping[str, Any]], tz: tzinfo | None) -> int:
    n = 0
    batch = []
    for t in records:
        n += 1
        item = (f"- {_when(t.get('detected_at'), tz)} — **{inline(t.get('name') or 'tension')}** "
                f"({inline(t.get('axis_a') or '?')} ↔ {inline(t.get('axis_b') or '?')}): "
                f"position {_num(t.get('position'))}, intensity {_num(t.get('intensity'))}")
        if t.get("reflection_id"):
            item += f", reflection {inline(t['reflection_id'])}"
        batch.append(item + "\n")
    if n:
        write("".join(batch) + "\n")
    else:
        write("No tensions.\n\n")
    return n


def _num(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.2f}"
    return "unknown"


_PATTERN_INTRO = "Patterns are observations with evidence, never diagnoses.\n\n"
_TENSION_INTRO = ("Each line: when the tension was seen, its two poles, where the reflection stood between them "
                  "(position 0 = the first pole, 1 = the second) and how strongly (intensity, 0 to 1).\n\n")


def _exported(header: Mapping[str, Any], tz: tzinfo | None) -> str:
    when = header.get("exported_at")
    version = header.get("tool_version")
    text = f"Exported {_when(when, tz)}" if when else "Exported"
    return text + (f" by mirror {inline(version)}" if version else "")


# --------------------------------------------------------------------------- public API


def write_markdown(out: TextIO, header: Mapping[str, Any], sections: Mapping[str, Iterable[dict]],
                   *, tz: tzinfo | None = None) -> dict[str, int]:
    """Single-document mode: the overview, then reflections, patterns and tensions (those given)."""
    write = out.write
    counts = header.get("counts") if isinstance(header.get("counts"), Mapping) else {}
    shown = {k: counts.get(k, "?") for k in ("reflections", "patterns", "tensions") if k in sections}
    write("# mirror journal export\n\n")
    write(f"{_exported(header, tz)}: {_count_line(shown)}. Times are local time ({_zone_label(tz)}). "
          "This is a readable copy of private writing; keep it somewhere safe. "
          "For a complete copy that mirror can import again, use `mirror export --format json`.\n\n")
    written: dict[str, int] = {}
    if "reflections" in sections:
        write("# Reflections\n\n")
        written["reflections"] = _reflections(write, sections["reflections"], tz, 2)
    if "patterns" in sections:
        write("# Patterns\n\n" + _PATTERN_INTRO)
        written["patterns"] = _patterns(write, sections["patterns"], tz, 2)
    if "tensions" in sections:
        write("# Tensions\n\n" + _TENSION_INTRO)
        written["tensions"] = _tensions(write, sections["tensions"], tz)
    return written


def write_markdown_folder(folder: Path | str, header: Mapping[str, Any], sections: Mapping[str, Iterable[dict]],
                          *, tz: tzinfo | None = None) -> list[Path]:
    """Folder mode: reflections.md, patterns.md, tensions.md (those given), then README.md.

    Each file goes through :func:`mirror_cli.localfs.atomic_write`. Returns the paths written.
    """
    folder = ensure_private_dir(Path(folder))
    paths: list[Path] = []
    written: dict[str, int] = {}
    for kind, title, intro in (("reflections", "Reflections", ""), ("patterns", "Patterns", _PATTERN_INTRO),
                               ("tensions", "Tensions", _TENSION_INTRO)):
        if kind not in sections:
            continue
        path = folder / f"{kind}.md"
        with atomic_write(path, "w") as fh:
            fh.write(f"# {title}\n\n{intro}")
            if kind == "reflections":
                written[kind] = _reflections(fh.write, sections[kind], tz, 2)
            elif kind == "patterns":
                written[kind] = _patterns(fh.write, sections[kind], tz, 2)
            else:
                written[kind] = _tensions(fh.write, sections[kind], tz)
        paths.append(path)
    readme = folder / "README.md"
    with atomic_write(readme, "w") as fh:
        fh.write(_readme(header, written, "audit_events" in sections, tz))
    return [readme, *paths]


def _readme(header: Mapping[str, Any], written: Mapping[str, int], had_audit: bool, tz: tzinfo | None) -> str:
    lines = ["# mirror journal export", "",
             f"{_exported(header, tz)}: {_count_line(written)}.", "",
             "This folder is a plain-text copy of a private journal kept with mirror. "
             "Keep it somewhere safe, and share only what you mean to share.", "",
             "## What is here", ""]
    if "reflections" in written:
        lines.append(f"- `reflections.md`: {written['reflections']} reflections, grouped by day. Each starts "
                     "with a heading that gives its time, mode and tags, then the text as written, then "
                     "mirror's response (when there is one) as a quote.")
    if "patterns" in written:
        lines.append(f"- `patterns.md`: {written['patterns']} patterns: recurring themes found in the "
                     "reflections, each with its confidence and the reflections and words that support it. "
                     "They are observations, never diagnoses.")
    if "tensions" in written:
        lines.append(f"- `tensions.md`: {written['tensions']} tensions: pulls between two poles "
                     "(e.g. control and surrender), where a reflection stood between them and how strongly.")
    if had_audit:
        lines.append("- Audit events are not part of the Markdown export; `mirror export --format json` "
                     "includes them.")
    lines += ["", "## How to read it", "",
              "Any text editor shows these files as they are. A Markdown viewer (a code forge, an editor's "
              "preview, pandoc, Obsidian) also renders the headings and quotes.",
              f"Times are local time ({_zone_label(tz)}) of the machine that made the export.",
              "Reflections are referred to by their id, the same id that `mirror show` takes.", "",
              "For a complete copy that mirror (or a script) can read back, use "
              "`mirror export --format json` or `--format jsonl`.", ""]
    return "\n".join(lines)
