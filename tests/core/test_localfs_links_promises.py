"""Issue 12, item 19: `-o` into a folder others can write must not follow a symlink planted there."""

from __future__ import annotations

import os

import pytest

from mirror_cli import localfs
from mirror_cli.errors import UsageError


@pytest.fixture
def victim(tmp_path):
    path = tmp_path / "theirs" / ".bashrc"
    path.parent.mkdir()
    path.write_text("precious\n")
    return path


@pytest.fixture
def shared(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o777)  # others can write here, and it is not sticky
    return folder


@pytest.mark.parametrize("write", [localfs.open_output, localfs.atomic_write])
def test_a_link_in_a_folder_others_can_write_is_refused(victim, shared, write):
    link = shared / "export.json"
    link.symlink_to(victim)
    with pytest.raises(UsageError) as info, write(link, "w") as fh:
        fh.write("overwritten")
    assert info.value.exit_code == 2 and "symbolic link" in str(info.value)
    assert victim.read_text() == "precious\n" and link.is_symlink()


def test_a_chain_through_a_shared_folder_is_refused(victim, shared, tmp_path):
    (shared / "hop").symlink_to(victim)
    mine = tmp_path / "mine.json"
    mine.symlink_to(shared / "hop")  # one's own link, leading to a planted one
    with pytest.raises(UsageError), localfs.open_output(mine, "w") as fh:
        fh.write("overwritten")
    assert victim.read_text() == "precious\n"


def test_a_link_of_ones_own_in_a_sticky_folder_is_followed(victim, shared):
    shared.chmod(0o1777)  # like /tmp: only a link's owner can replace it
    link = shared / "export.json"
    link.symlink_to(victim)
    with localfs.open_output(link, "w") as fh:
        fh.write("new")
    assert victim.read_text() == "new"


@pytest.mark.skipif(os.getuid() != 0, reason="making a link owned by another user needs root")
def test_a_link_another_user_made_is_refused(victim, tmp_path):
    link = tmp_path / "export.json"
    link.symlink_to(victim)
    os.lchown(link, 12345, 12345)
    with pytest.raises(UsageError) as info, localfs.open_output(link, "w") as fh:
        fh.write("overwritten")
    assert "another user" in str(info.value) and victim.read_text() == "precious\n"


def test_a_fifo_replaced_by_a_link_is_not_followed(victim, tmp_path, monkeypatch):
    """The FIFO branch opens without following a link put there after the check."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    real_stat = os.stat

    def swap_after_stat(p, *a, **k):
        result = real_stat(p, *a, **k)
        if str(p) == str(fifo) and k.get("follow_symlinks", True) and not fifo.is_symlink():
            os.unlink(fifo)
            fifo.symlink_to(victim)
        return result

    monkeypatch.setattr(localfs.os, "stat", swap_after_stat)
    with pytest.raises(Exception), localfs.open_output(fifo, "w") as fh:  # noqa: B017 - any refusal
        fh.write("overwritten")
    assert victim.read_text() == "precious\n"
