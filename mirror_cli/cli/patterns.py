"""`mirror patterns` and `mirror tensions`: observations with evidence, never diagnoses."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from mirror_cli.cli.options import JsonOpt, LimitOpt, SinceOpt, group, state
from mirror_cli.cli.output import plural

NOTE = "Patterns are observations from your own words, with their evidence; they are not diagnoses."

patterns_app = group("Recurring emotions, themes and tags in your reflections (observations, never diagnoses).",
                     no_args_is_help=False, invoke_without_command=True)
tensions_app = group("Tensions between two poles, such as Control vs Surrender: position and intensity over time.",
                     no_args_is_help=False, invoke_without_command=True)

def _a_number(value: float) -> float:
    if value != value:  # NaN passes the 0..1 range check (every comparison with it is false)
        raise typer.BadParameter("nan is not a number between 0 and 1.")
    return value


MinConfOpt = Annotated[float, typer.Option("--min-confidence", min=0.0, max=1.0, callback=_a_number,
                                           help="Only patterns with at least this confidence (0..1).")]
TypeOpt = Annotated[Optional[str], typer.Option("--type", help="Only this type: emotion, theme or tag.")]
ByOpt = Annotated[str, typer.Option("--by", help="Period: week or month.")]
FullOpt = Annotated[bool, typer.Option("--full", help="Analyse every reflection again, not only new or edited ones.")]


def _check_by(by: str) -> str:
    from mirror_cli.errors import UsageError

    value = by.strip().lower()
    if value not in ("week", "month"):
        raise UsageError(f"--by must be week or month, not {by!r}.")
    return value


def _unicode(st) -> bool:
    return st.out.rich


def _print_chart(st, text: str, colour_marks: bool = False) -> None:
    """Charts are plain strings; on a terminal they go through rich (colour unless NO_COLOR)."""
    if st.out.rich:
        import os

        from rich.console import Console
        from rich.text import Text

        console = Console(no_color="NO_COLOR" in os.environ, highlight=False)
        console.print(Text(text.rstrip("\n")))
    else:
        st.out.data(text)


def _local(stamp: str | None, width: int = 16) -> str:
    """A stored UTC time as the person's local ``YYYY-MM-DD HH:MM`` (``width`` 10: the date)."""
    if not stamp:
        return ""
    from mirror_cli.ids import parse_iso

    try:
        return parse_iso(stamp).astimezone().strftime("%Y-%m-%d %H:%M")[:width]
    except (OverflowError, ValueError):  # not a time, or out of datetime's range once local
        return stamp[:width].replace("T", " ")


def _stale_note(st, store) -> None:
    from mirror_cli.patterns import queries

    s = queries.status(store)
    if s["analyzed_at"] is None and s["pending"]:
        st.out.note("No analysis yet: run `mirror patterns analyze`.")
    elif s["pending"]:
        st.out.note(f"{plural(s['pending'], 'reflection')} changed since the last analysis: "
                    "run `mirror patterns analyze`.")


def _analyze(ctx, full: bool, as_json: bool, event: str, what: str) -> None:
    from mirror_cli.patterns import analysis

    st = state(ctx)
    with st.open_store() as store:
        total = store.count("reflections")
        with st.out.progress("analysing", total, unit="reflections") as progress:
            result = analysis.analyze(store, full=full, event=event, progress=progress)
    if as_json:
        st.out.json(result.to_dict())
        return
    st.out.result(f"analysed {plural(result.analyzed, 'reflection')}, {result.skipped} unchanged"
                  + (f", {result.removed} removed" if result.removed else "")
                  + f"; {plural(result.patterns, 'pattern')}, {plural(result.tensions, 'tension')} "
                    f"({result.seconds:.2f} s).")
    if what == "patterns":
        st.out.note(NOTE)


# --------------------------------------------------------------------------- patterns

@patterns_app.callback()
def patterns_main(ctx: typer.Context, min_confidence: MinConfOpt = 0.0, type_: TypeOpt = None,
                  limit: LimitOpt = None, as_json: JsonOpt = False) -> None:
    """List patterns (the default), or run a patterns subcommand."""
    if ctx.invoked_subcommand is None:
        list_patterns(ctx, min_confidence, type_, limit, as_json)
    elif _any_given(ctx, "min_confidence", "type_", "limit", "as_json"):
        _options_after(ctx, "patterns")


def _any_given(ctx: typer.Context, *names: str) -> bool:
    """Whether any of these options came from the command line or the environment, even
    with its default value (``--min-confidence 0`` is given, not left out)."""
    for name in names:
        source = ctx.get_parameter_source(name)
        if source is not None and source.name != "DEFAULT":
            return True
    return False


def _options_after(ctx: typer.Context, group: str) -> None:
    """Options given before a subcommand belong to the default listing: refuse them rather
    than drop them silently (``mirror patterns --type tag list``)."""
    from mirror_cli.errors import UsageError

    sub = ctx.invoked_subcommand
    raise UsageError(f"options before `{sub}` are for `mirror {group}` alone.",
                     f"Put them after it, e.g. `mirror {group} {sub} --json`.")


@patterns_app.command("list")
def list_patterns(ctx: typer.Context, min_confidence: MinConfOpt = 0.0, type_: TypeOpt = None,
                  limit: LimitOpt = None, as_json: JsonOpt = False) -> None:
    """Patterns found so far, highest confidence first."""
    from mirror_cli.patterns import queries

    st = state(ctx)
    with st.open_store() as store:
        items = queries.list_patterns(store, min_confidence=min_confidence,
                                      pattern_type=type_.strip().lower() if type_ else None, limit=limit)
        if not as_json:
            _stale_note(st, store)
    if as_json:
        st.out.json([p.to_dict() for p in items])
        return
    if not items:
        st.out.note("No patterns yet.")
        return
    st.out.table(("id", "type", "name", "confidence", "reflections", "first seen", "last seen"),
                 [(p.id, p.pattern_type, p.name, f"{p.confidence:.2f}", p.support,
                   _local(p.first_seen, 10), _local(p.last_seen, 10)) for p in items])
    if st.out.rich:
        st.out.note(NOTE)


@patterns_app.command("show")
def show_pattern(
    ctx: typer.Context,
    name_or_id: Annotated[str, typer.Argument(metavar="NAME_OR_ID", help="A pattern's name (or type:name, e.g. tag:work) or id.")],
    as_json: JsonOpt = False,
) -> None:
    """One pattern with its evidence: the reflections and the words that support it."""
    from mirror_cli.patterns import queries

    st = state(ctx)
    with st.open_store() as store:
        info, occurrences = queries.show_pattern(store, name_or_id)
    if as_json:
        out = info.to_dict()
        out["occurrences"] = [{k: v for k, v in o.items() if k != "spans"} for o in occurrences]
        st.out.json(out)
        return
    head = (f"{info.name} ({info.pattern_type})  confidence {info.confidence:.2f}  in {plural(info.support, 'reflection')}"
            f"  {_local(info.first_seen, 10)} .. {_local(info.last_seen, 10)}  id {info.id}")
    if not st.out.rich:
        st.out.data(head)
        for o in occurrences:
            st.out.data(f"{_local(o['created_at'])}  {o['reflection_id']}  {o['confidence']:.2f}  [{o['evidence']}]")
            st.out.data(f"    {o['excerpt']}")
        return
    import os

    from rich.console import Console
    from rich.text import Text

    console = Console(no_color="NO_COLOR" in os.environ, highlight=False)
    console.print(Text(head, style="bold"))
    shown = min(len(occurrences), info.support)
    evidence = (f"the {shown} strongest of {plural(info.support, 'reflection')}, newest first" if info.support != 1
                else "1 reflection")
    console.print(Text(f"Evidence: {evidence}. {NOTE}", style="dim"))
    for o in occurrences:
        console.print(Text(f"{_local(o['created_at'])}  {o['reflection_id']}  "
                           f"confidence {o['confidence']:.2f}  words: {o['evidence']}", style="cyan"))
        text = Text("    " + o["excerpt"])
        for start, end in o["spans"]:
            text.stylize("bold reverse" if "NO_COLOR" in os.environ else "bold yellow", start + 4, end + 4)
        console.print(text)


@patterns_app.command("analyze")
def analyze_patterns(ctx: typer.Context, full: FullOpt = False, as_json: JsonOpt = False) -> None:
    """Bring patterns and tensions up to date (only new or edited reflections are read again)."""
    _analyze(ctx, full, as_json, "patterns.analyzed", "patterns")


@patterns_app.command("evolution")
def evolution_cmd(
    ctx: typer.Context,
    name: Annotated[Optional[str], typer.Argument(metavar="[NAME]", help="One pattern (name, type:name or id); all when absent.")] = None,
    by: ByOpt = "week",
    min_confidence: MinConfOpt = 0.0,
    type_: TypeOpt = None,
    limit: LimitOpt = None,
    since: SinceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Counts per week or month, drawn as bars (one pattern) or sparklines, with the trend.

    --since D starts at D's week or month and counts from D on (a period's confidence still
    counts everything before it)."""
    from mirror_cli.patterns import charts, queries

    st = state(ctx)
    by = _check_by(by)
    day = None
    if since:
        from mirror_cli.journal.timeparse import parse_when

        day = parse_when(since, option="--since").at.astimezone().date()
    with st.open_store() as store:
        result = queries.evolution(store, name, by=by, min_confidence=min_confidence,
                                   pattern_type=type_.strip().lower() if type_ else None, limit=limit, since=day)
    unicode = _unicode(st)
    if name is not None:
        if as_json:
            st.out.json(result["series"])
            return
        if day is not None and not result["series"]:
            st.out.note(f"No {result['name']} ({result['pattern_type']}) since {day}.")
            return
        st.out.data(f"{result['name']} ({result['pattern_type']}) per {by}: {result['trend']}")
        _print_chart(st, charts.bar_chart(result["series"], unicode=unicode))
        return
    series = result["patterns"]
    if as_json:
        st.out.json({key: value["series"] for key, value in series.items()})
        return
    if not series:
        st.out.note(f"No patterns since {day}." if day is not None else "No patterns yet: run `mirror patterns analyze`.")
        return
    width = max(len(k) for k in series)
    lines = [charts.evolution_line(f"{key:<{width}}", value["series"], value["trend"], unicode=unicode)
             for key, value in series.items()]
    _print_chart(st, "\n".join(lines) + "\n")


# --------------------------------------------------------------------------- tensions

@tensions_app.callback()
def tensions_main(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List tensions (the default), or run a tensions subcommand."""
    if ctx.invoked_subcommand is None:
        list_tensions(ctx, as_json)
    elif as_json:
        _options_after(ctx, "tensions")


@tensions_app.command("list")
def list_tensions(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Each tension that appears: average position between its poles, intensity, count."""
    from mirror_cli.patterns import queries

    st = state(ctx)
    with st.open_store() as store:
        items = queries.list_tensions(store)
        if not as_json:
            _stale_note(st, store)
    if as_json:
        st.out.json([{k: t[k] for k in ("id", "name", "axis_a", "axis_b", "position", "intensity", "count",
                                        "first_seen", "last_seen")} for t in items])
        return
    if not items:
        st.out.note("No tensions yet.")
        return
    st.out.table(("name", "position", "intensity", "reflections", "leaning"),
                 [(t["name"], f"{t['position']:.2f}", f"{t['intensity']:.2f}", t["count"], _leaning(t))
                  for t in items])


def _leaning(t: dict) -> str:
    p = t["position"]
    if p < 0.45:
        return f"toward {t['axis_a']}"
    if p > 0.55:
        return f"toward {t['axis_b']}"
    return "balanced"


@tensions_app.command("show")
def show_tension(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help='A tension, e.g. "Control vs Surrender" (or one of its poles).')],
    by: Annotated[str, typer.Option("--by", help="Period: week or month.")] = "month",
    as_json: JsonOpt = False,
) -> None:
    """One tension over time: position and intensity per period."""
    from mirror_cli.patterns import queries

    st = state(ctx)
    by = _check_by(by)
    with st.open_store() as store:
        t = queries.show_tension(store, name, by=by)
    if as_json:
        st.out.json(t)
        return
    st.out.data(f"{t['name']}: position {t['position']:.2f} ({_leaning(t)}), intensity {t['intensity']:.2f}, "
                f"in {plural(t['count'], 'reflection')}")
    rows = [r for r in t["series"] if r["count"]]
    st.out.table(("period", "reflections", "position", "intensity"),
                 [(r["period"], r["count"], f"{r['position']:.2f}", f"{r['intensity']:.2f}") for r in rows])


@tensions_app.command("map")
def map_tensions(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Draw the tensions on a chart: x = position between the poles, y = intensity."""
    import shutil

    from mirror_cli.patterns import charts, queries

    st = state(ctx)
    with st.open_store() as store:
        items = queries.list_tensions(store)
    if as_json:
        st.out.json([{k: t[k] for k in ("name", "axis_a", "axis_b", "position", "intensity", "count")}
                     for t in items])
        return
    if not items:
        st.out.note("No tensions yet: run `mirror tensions analyze`.")
        return
    columns = shutil.get_terminal_size((80, 24)).columns if st.out.rich else 80
    _print_chart(st, charts.tension_map(items, width=max(21, min(61, columns - 14)), unicode=_unicode(st)))


@tensions_app.command("analyze")
def analyze_tensions(ctx: typer.Context, full: FullOpt = False, as_json: JsonOpt = False) -> None:
    """Bring tensions (and patterns) up to date with your reflections."""
    _analyze(ctx, full, as_json, "tensions.analyzed", "tensions")
