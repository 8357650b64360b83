"""``kind``: a fresh, empty remote of each backend (folder, S3, PostgreSQL) for the conformance suite.

A backend whose test server is missing skips its third of the suite (fails under CI), as its own
tests do: the S3 and PostgreSQL fixtures are requested only for their parameter.
"""

from __future__ import annotations

import os

import pytest

import s3_server
from pg_helpers import fresh_table, pg_url  # noqa: F401 (fixtures)
from remote_kinds import FolderKind, PostgresKind, S3Kind


@pytest.fixture(params=["folder", "s3", "postgres"])
def kind(request, tmp_path):
    if request.param == "folder":
        made = FolderKind(tmp_path / "remote")
    elif request.param == "s3":
        made = S3Kind(request.getfixturevalue("s3_endpoint"), request.getfixturevalue("s3_bucket"),
                      measure_memory=bool(os.environ.get(s3_server.ENDPOINT_VAR)))
    else:
        made = PostgresKind(request.getfixturevalue("pg_url"), request.getfixturevalue("fresh_table"))
    try:
        yield made
    finally:
        made.close()
