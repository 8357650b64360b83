"""`key enable` and `patterns analyze` count reflections, not kilobytes (issue 15, item 11)."""

from __future__ import annotations

import pytest

from mirror_cli.cli import output

GOOD = "correct horse battery staple"


class _Bar:
    """A progress bar that is on, and records what it was made for and told."""

    made: list[tuple[str, int | None, str | None]] = []
    told: list[int] = []

    def __init__(self, description, total, unit=None):
        self.made.append((description, total, unit))
        self.enabled = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def __call__(self, done, total=None):
        self.told.append(done)


@pytest.fixture
def bars(monkeypatch):
    _Bar.made, _Bar.told = [], []
    monkeypatch.setattr(output.Output, "progress", lambda self, d, t, unit=None: _Bar(d, t, unit))
    return _Bar.made


def _ok(r):
    assert r.exit_code == 0, r.stdout + r.stderr
    return r


def test_key_enable_counts_reflections(cli, bars):
    for i in range(3):
        _ok(cli("reflect", f"entry {i}"))
    _ok(cli("key", "enable", env={"MIRROR_NEW_PASSPHRASE": GOOD}))
    assert bars == [("encrypting", 3, "reflections")] and _Bar.told == [0]  # drawn once the work starts


def test_patterns_analyze_counts_reflections(cli, bars):
    _ok(cli("reflect", "anxious about work again"))
    _ok(cli("patterns", "analyze"))
    assert bars == [("analysing", 1, "reflections")]


def test_a_bar_with_a_unit_shows_counts_and_the_unit_not_bytes():
    from rich.progress import DownloadColumn, MofNCompleteColumn, TextColumn

    with output.Progress("encrypting", 4000, enabled=True, unit="reflections") as bar:
        columns = bar._bar.columns
    assert any(isinstance(c, MofNCompleteColumn) for c in columns)
    assert any(isinstance(c, TextColumn) and c.text_format == "reflections" for c in columns)
    assert not any(isinstance(c, DownloadColumn) for c in columns)
    with output.Progress("backing up", None, enabled=True) as bar:  # bytes stay bytes
        assert any(isinstance(c, DownloadColumn) for c in bar._bar.columns)
