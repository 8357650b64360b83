"""Text charts for patterns and tensions: pure functions that return strings.

``unicode=False`` draws with ASCII only (pipes, old terminals); colour is the CLI's job.
"""

from __future__ import annotations

from collections.abc import Sequence

from mirror_cli.patterns.evolution import sparkline

__all__ = ["tension_map", "bar_chart", "evolution_line", "MARKERS"]

MARKERS = "123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def tension_map(points: Sequence[dict], *, width: int = 50, height: int = 12, unicode: bool = True) -> str:
    """Tensions on a 2-D chart: x = position between the poles (0 = axis_a, 1 = axis_b),
    y = intensity (0 at the bottom, 1 at the top); each tension a numbered point, with a
    legend underneath. ``points``: dicts with name, axis_a, axis_b, position, intensity."""
    width, height = max(width, 11), max(height, 3)
    grid = [[" "] * width for _ in range(height)]
    mid = (width - 1) // 2
    for row in grid:
        row[mid] = "\u2502" if unicode else "|"
    placed: dict[tuple[int, int], str] = {}
    for n, p in enumerate(points):
        mark = MARKERS[n % len(MARKERS)]
        x = round(min(1.0, max(0.0, float(p["position"]))) * (width - 1))
        y = height - 1 - round(min(1.0, max(0.0, float(p["intensity"]))) * (height - 1))
        while (x, y) in placed and x < width - 1:  # two tensions on one cell: shift right
            x += 1
        placed[(x, y)] = mark
        grid[y][x] = mark
    v, h, corner = ("\u2502", "\u2500", "\u2514") if unicode else ("|", "-", "+")
    lines = []
    for i, row in enumerate(grid):
        label = "1.0" if i == 0 else "0.0" if i == height - 1 else "0.5" if i == (height - 1) // 2 else ""
        lines.append(f"{label:>9} {v}" + "".join(row))
    lines.append(" " * 10 + corner + h * width)
    scale = "0" + " " * (mid - 1) + "0.5"
    scale += " " * (width - len(scale) - 1) + "1"
    lines.append(" " * 11 + scale)
    lines.append(" " * 11 + "position between the poles \u2192" if unicode else
                 " " * 11 + "position between the poles ->")
    lines.append("intensity \u2191" if unicode else "intensity ^ (up)")
    lines.append("")
    arrow = "\u2190\u2192" if unicode else "<->"
    for n, p in enumerate(points):
        mark = MARKERS[n % len(MARKERS)]
        count = f", {p['count']} reflections" if "count" in p else ""
        lines.append(f"  {mark}  {p['axis_a']} {arrow} {p['axis_b']}: position {float(p['position']):.2f}, "
                     f"intensity {float(p['intensity']):.2f}{count}")
    return "\n".join(lines) + "\n"


def bar_chart(rows: Sequence[dict], *, width: int = 40, unicode: bool = True, key: str = "count") -> str:
    """One line per period: label, a bar proportional to ``row[key]``, the value."""
    if not rows:
        return ""
    top = max((r[key] for r in rows), default=0) or 1
    label_width = max(len(str(r["period"])) for r in rows)
    full, part = ("\u2588", "\u258c") if unicode else ("#", "+")
    lines = []
    for r in rows:
        value = r[key]
        exact = value / top * width
        bar = full * int(exact) + (part if exact - int(exact) >= 0.5 else "")
        if value and not bar:
            bar = part
        lines.append(f"{str(r['period']):<{label_width}}  {bar:<{width + 1}} {value}")
    return "\n".join(lines) + "\n"


def evolution_line(name: str, rows: Sequence[dict], trend: str, *, unicode: bool = True) -> str:
    """``name  sparkline  first..last period  total  trend`` on one line."""
    counts = [r["count"] for r in rows]
    if unicode:
        spark = sparkline(counts)
    else:
        levels = " .:-=+*#"
        top = max(counts, default=0) or 1
        spark = "".join(levels[0] if c <= 0 else levels[1 + round(c / top * 6)] for c in counts)
    span = f"{rows[0]['period']}..{rows[-1]['period']}" if rows else ""
    return f"{name}  {spark}  {span}  total {sum(counts)}  {trend}"
