"""mirror_cli.crypto.passphrase: passphrase sources in the contract's order and the OS keyring cache."""

from __future__ import annotations

import base64
import os
import sys

import keyring
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from keyring.backends import null
from keyring_backends import FailingKeyring, MemoryKeyring, keyring_backend

from mirror_cli import crypto
from mirror_cli.crypto import passphrase as keys
from mirror_cli.errors import ExitCode, LockedError, OperationError, UsageError
from helpers import cheap_params

PASSPHRASE = "tea at five, 11 ravens"
DB_ID = "01HZZZKEYSTESTDATABASE0000"



@pytest.fixture(scope="module")
def record() -> crypto.KeyRecord:
    return crypto.new_key_record(PASSPHRASE, DB_ID, kdf_params=cheap_params())


@pytest.fixture
def memory_keyring():
    with keyring_backend(MemoryKeyring()) as backend:
        yield backend


@pytest.fixture
def failing_keyring():
    with keyring_backend(FailingKeyring()) as backend:
        yield backend


@pytest.fixture
def no_keyring():
    """What conftest sets up: the `fail` backend (NoKeyringError on every call)."""
    from keyring.backends import fail

    with keyring_backend(fail.Keyring()) as backend:
        yield backend


def write(tmp_path, text: str | bytes, name: str = "pass.txt", mode: int = 0o600) -> str:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    os.chmod(path, mode)
    return str(path)


def no_prompt(text: str) -> str:
    pytest.fail(f"prompted although a source came first: {text}")


def prompts(*answers: str):
    queue = list(answers)
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        if not queue:
            raise EOFError
        return queue.pop(0)

    prompt.asked = asked  # type: ignore[attr-defined]
    return prompt


def assert_no_secret(exc: BaseException, *secrets: str) -> None:
    while exc is not None:
        for secret in secrets:
            assert secret not in str(exc) and secret not in repr(exc)
        exc = exc.__cause__ or exc.__context__


# ---------------------------------------------------------------------------
# sources, in order
# ---------------------------------------------------------------------------


def test_file_beats_env_keyring_and_prompt(tmp_path, record, memory_keyring):
    memory_keyring.set_password("mirror", DB_ID, base64.b64encode(b"k" * 32).decode())
    env = {"MIRROR_PASSPHRASE_FILE": write(tmp_path, PASSPHRASE + "\nsecond line\n"),
           "MIRROR_PASSPHRASE": "wrong"}
    result = keys.unlock(record.meta, DB_ID, env, interactive=True, prompt=no_prompt)
    assert result.source == "MIRROR_PASSPHRASE_FILE"
    assert result.dek == record.dek and result.kek == record.kek
    assert result.warnings == ()


def test_env_beats_keyring_and_prompt(record, memory_keyring):
    memory_keyring.set_password("mirror", DB_ID, base64.b64encode(b"k" * 32).decode())
    result = keys.unlock(record.meta, DB_ID, {"MIRROR_PASSPHRASE": PASSPHRASE}, interactive=True, prompt=no_prompt)
    assert result.source == "MIRROR_PASSPHRASE" and result.dek == record.dek


def test_keyring_beats_prompt(record, memory_keyring):
    assert keys.KeyCache().store(DB_ID, record.kek)
    result = keys.unlock(record.meta, DB_ID, {}, interactive=True, prompt=no_prompt)
    assert result.source == "keyring" and result.dek == record.dek and result.kek == record.kek


def test_prompt_comes_last(record, memory_keyring):
    prompt = prompts(PASSPHRASE)
    result = keys.unlock(record.meta, DB_ID, {}, interactive=True, prompt=prompt)
    assert result.source == "prompt" and result.dek == record.dek
    assert len(prompt.asked) == 1


def test_a_present_but_wrong_source_does_not_fall_through(tmp_path, record, memory_keyring):
    keys.KeyCache().store(DB_ID, record.kek)
    env = {"MIRROR_PASSPHRASE_FILE": write(tmp_path, "nope\n"), "MIRROR_PASSPHRASE": PASSPHRASE}
    with pytest.raises(LockedError) as info:
        keys.unlock(record.meta, DB_ID, env, interactive=True, prompt=no_prompt)
    assert "wrong passphrase" in str(info.value) and "MIRROR_PASSPHRASE_FILE" in str(info.value)
    assert info.value.exit_code == ExitCode.LOCKED
    assert_no_secret(info.value, "nope", PASSPHRASE, record.kek.hex())
    with pytest.raises(LockedError, match="from MIRROR_PASSPHRASE"):
        keys.unlock(record.meta, DB_ID, {"MIRROR_PASSPHRASE": "nope"}, interactive=False)


def test_no_source_and_no_terminal_names_the_options(record):
    with pytest.raises(LockedError) as info:
        keys.unlock(record.meta, DB_ID, {}, interactive=False, prompt=no_prompt)
    message = str(info.value)
    for option in ("MIRROR_PASSPHRASE_FILE", "MIRROR_PASSPHRASE", "no OS keyring here"):
        assert option in message
    assert "mirror key unlock" not in message  # it would only fail without a keyring
    assert "keyring failed" not in message  # no keyring is not a problem worth reporting


def test_no_source_with_a_keyring_suggests_key_unlock(record, memory_keyring):
    with pytest.raises(LockedError) as info:
        keys.unlock(record.meta, DB_ID, {}, interactive=False, prompt=no_prompt)
    message = str(info.value)
    for option in ("MIRROR_PASSPHRASE_FILE", "MIRROR_PASSPHRASE", "mirror key unlock"):
        assert option in message


def test_empty_variables_count_as_unset(record):
    with pytest.raises(LockedError):
        keys.unlock(record.meta, DB_ID, {"MIRROR_PASSPHRASE_FILE": "", "MIRROR_PASSPHRASE": ""},
                    interactive=False)


def test_prompt_allows_three_attempts(record):
    prompt = prompts("wrong 1", "wrong 2", PASSPHRASE)
    assert keys.unlock(record.meta, DB_ID, {}, interactive=True, prompt=prompt).source == "prompt"
    assert len(prompt.asked) == 3
    prompt = prompts("wrong 1", "wrong 2", "wrong 3", PASSPHRASE)
    with pytest.raises(LockedError, match="wrong passphrase") as info:
        keys.unlock(record.meta, DB_ID, {}, interactive=True, prompt=prompt)
    assert len(prompt.asked) == 3
    assert_no_secret(info.value, "wrong 1", "wrong 2", "wrong 3")


@pytest.mark.parametrize("answers", [(), ("",)])
def test_prompt_without_an_answer_is_locked(record, answers):
    with pytest.raises(LockedError, match="MIRROR_PASSPHRASE_FILE"):
        keys.unlock(record.meta, DB_ID, {}, interactive=True, prompt=prompts(*answers))


def test_stale_keyring_key_is_skipped_with_a_warning(record, memory_keyring):
    keys.KeyCache().store(DB_ID, crypto.new_data_key())  # e.g. the passphrase changed on another machine
    result = keys.unlock(record.meta, DB_ID, {}, interactive=True, prompt=prompts(PASSPHRASE))
    assert result.source == "prompt"
    assert any("no longer opens" in w for w in result.warnings)
    with pytest.raises(LockedError, match="no longer opens"):
        keys.unlock(record.meta, DB_ID, {}, interactive=False)


def test_unlock_after_passphrase_change(record, memory_keyring):
    keys.KeyCache().store(DB_ID, record.kek)
    changed = crypto.new_key_record("brand new words", DB_ID, dek=record.dek, kdf_params=cheap_params())
    with pytest.raises(LockedError):
        keys.unlock(changed.meta, DB_ID, {"MIRROR_PASSPHRASE": PASSPHRASE}, interactive=False)
    result = keys.unlock(changed.meta, DB_ID, {"MIRROR_PASSPHRASE": "brand new words"}, interactive=False)
    assert result.dek == record.dek and result.kek == changed.kek


def test_unlock_result_repr_hides_keys(record):
    result = keys.unlock(record.meta, DB_ID, {"MIRROR_PASSPHRASE": PASSPHRASE}, interactive=False)
    assert record.dek.hex() not in repr(result) and str(record.dek) not in repr(result)
    assert str(record.kek) not in repr(result)
    assert PASSPHRASE not in repr(keys.Passphrase(PASSPHRASE, "x"))


# ---------------------------------------------------------------------------
# MIRROR_PASSPHRASE_FILE
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("content, expected", [
    (b"pass phrase\n", "pass phrase"),
    (b"pass phrase", "pass phrase"),
    (b"pass phrase\r\nmore\r\n", "pass phrase"),
    (b"  spaced  \n", "  spaced  "),
    (b"\xef\xbb\xbfbom first\n", "bom first"),
    ("caf\u00e9 \u2603\n".encode(), "caf\u00e9 \u2603"),
])
def test_passphrase_file_first_line(tmp_path, content, expected):
    found = keys.passphrase_from_env({"MIRROR_PASSPHRASE_FILE": write(tmp_path, content)})
    assert found.value == expected and found.source == "MIRROR_PASSPHRASE_FILE"


@given(text=st.text(st.characters(codec="utf-8", exclude_characters="\n\r\ufeff"), min_size=1))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=50)
def test_passphrase_file_round_trip(tmp_path, text):
    path = write(tmp_path, text + "\n")
    assert keys.passphrase_from_env({"MIRROR_PASSPHRASE_FILE": path}).value == text


@pytest.mark.parametrize("content", [b"\n", b"", b"\nsecond line\n", b"\xff\xfe bad\n"])
def test_unusable_passphrase_file_is_a_usage_error(tmp_path, content):
    path = write(tmp_path, content)
    with pytest.raises(UsageError) as info:
        keys.passphrase_from_env({"MIRROR_PASSPHRASE_FILE": path})
    assert path in str(info.value) and info.value.exit_code == ExitCode.USAGE
    assert info.value.__context__ is None


def test_unreadable_passphrase_file_names_the_file(tmp_path, record):
    missing = str(tmp_path / "missing.txt")
    with pytest.raises(UsageError) as info:
        keys.unlock(record.meta, DB_ID, {"MIRROR_PASSPHRASE_FILE": missing, "MIRROR_PASSPHRASE": PASSPHRASE},
                    interactive=False)
    assert missing in str(info.value) and "MIRROR_PASSPHRASE_FILE" in str(info.value)
    with pytest.raises(UsageError, match="MIRROR_PASSPHRASE_FILE"):
        keys.passphrase_from_env({"MIRROR_PASSPHRASE_FILE": str(tmp_path)})  # a folder


def test_loose_passphrase_file_mode_is_a_warning(tmp_path, record):
    path = write(tmp_path, PASSPHRASE + "\n", mode=0o644)
    result = keys.unlock(record.meta, DB_ID, {"MIRROR_PASSPHRASE_FILE": path}, interactive=False)
    assert result.dek == record.dek
    assert any("chmod 600" in w for w in result.warnings)
    assert all(PASSPHRASE not in w for w in result.warnings)


# ---------------------------------------------------------------------------
# current and new passphrases
# ---------------------------------------------------------------------------


def test_current_passphrase_sources(tmp_path):
    env = {"MIRROR_PASSPHRASE_FILE": write(tmp_path, "from file\n"), "MIRROR_PASSPHRASE": "from env"}
    assert keys.current_passphrase(env, True, prompt=no_prompt).value == "from file"
    assert keys.current_passphrase({"MIRROR_PASSPHRASE": "from env"}, True, prompt=no_prompt).value == "from env"
    got = keys.current_passphrase({}, True, prompt=prompts("typed"))
    assert (got.value, got.source) == ("typed", "prompt")
    with pytest.raises(LockedError, match="MIRROR_PASSPHRASE_FILE"):
        keys.current_passphrase({}, False, prompt=no_prompt)


def test_new_passphrase_sources_in_order(tmp_path):
    env = {"MIRROR_NEW_PASSPHRASE_FILE": write(tmp_path, "new from file\n"),
           "MIRROR_NEW_PASSPHRASE": "new from env", "MIRROR_PASSPHRASE": "current"}
    assert keys.new_passphrase(env, True, prompt=no_prompt).value == "new from file"
    env.pop("MIRROR_NEW_PASSPHRASE_FILE")
    got = keys.new_passphrase(env, True, prompt=no_prompt)
    assert (got.value, got.source) == ("new from env", "MIRROR_NEW_PASSPHRASE")
    env.pop("MIRROR_NEW_PASSPHRASE")
    # `key enable` also accepts the current-passphrase variables; `key change` does not
    assert keys.new_passphrase(env, False, allow_current=True).value == "current"
    with pytest.raises(LockedError) as info:
        keys.new_passphrase(env, False)
    assert "MIRROR_NEW_PASSPHRASE_FILE" in str(info.value) and "MIRROR_NEW_PASSPHRASE" in str(info.value)


@pytest.mark.parametrize("value", ["two\nlines", "carriage\rreturn"])
def test_a_new_passphrase_with_a_line_break_is_refused(value):
    """It could never be typed at the prompt or kept in a passphrase file (one line)."""
    for env in ({"MIRROR_NEW_PASSPHRASE": value}, {"MIRROR_PASSPHRASE": value}):
        with pytest.raises(UsageError) as info:
            keys.new_passphrase(env, False, allow_current=True)
        assert "line break" in str(info.value) and value not in str(info.value)


def test_a_wrong_passphrase_in_the_environment_says_to_correct_that_variable(tmp_path, record):
    """The variable comes before the keyring, so `mirror key unlock` would not help: say which to fix."""
    for env, source in (({"MIRROR_PASSPHRASE": "not it"}, "MIRROR_PASSPHRASE"),
                        ({"MIRROR_PASSPHRASE_FILE": write(tmp_path, "not it\n")}, "MIRROR_PASSPHRASE_FILE")):
        with pytest.raises(LockedError) as info:
            keys.unlock(record.meta, DB_ID, env, interactive=False)
        assert source in info.value.hint and "key unlock" not in str(info.value) and "not it" not in str(info.value)


def test_new_passphrase_prompt_is_asked_twice():
    prompt = prompts("same words", "same words")
    got = keys.new_passphrase({}, True, prompt=prompt)
    assert (got.value, got.source) == ("same words", "prompt") and len(prompt.asked) == 2
    with pytest.raises(UsageError, match="do not match") as info:
        keys.new_passphrase({}, True, prompt=prompts("one thing", "another"))
    assert_no_secret(info.value, "one thing", "another")
    with pytest.raises(UsageError):
        keys.new_passphrase({}, True, prompt=prompts(""))


def test_unreadable_new_passphrase_file(tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(UsageError, match="MIRROR_NEW_PASSPHRASE_FILE"):
        keys.new_passphrase({"MIRROR_NEW_PASSPHRASE_FILE": missing}, False)


# ---------------------------------------------------------------------------
# the keyring cache
# ---------------------------------------------------------------------------


def test_cache_holds_the_derived_key_not_the_passphrase(record, memory_keyring):
    cache = keys.KeyCache()
    assert cache.available()
    assert cache.load(DB_ID) is None
    assert cache.store(DB_ID, record.kek) is True
    (service, user), value = next(iter(memory_keyring.entries.items()))
    assert (service, user) == ("mirror", DB_ID)
    assert PASSPHRASE not in value and base64.b64decode(value) == record.kek
    assert cache.load(DB_ID) == record.kek
    assert cache.load("another database") is None
    assert cache.forget(DB_ID) is True
    assert cache.forget(DB_ID) is False
    assert cache.load(DB_ID) is None


def test_malformed_cache_entry_is_ignored(record, memory_keyring):
    memory_keyring.set_password("mirror", DB_ID, "not a key")
    assert keys.KeyCache().load(DB_ID) is None
    memory_keyring.set_password("mirror", DB_ID, base64.b64encode(b"short").decode())
    assert keys.KeyCache().load(DB_ID) is None


@pytest.mark.parametrize("backend", ["conftest", "fail", "null"])
def test_no_keyring_falls_back_quietly(record, backend):
    def check():
        cache = keys.KeyCache()
        assert cache.available() is False
        assert cache.load(DB_ID) is None
        assert cache.store(DB_ID, record.kek) is False
        assert cache.forget(DB_ID) is False
        result = keys.unlock(record.meta, DB_ID, {"MIRROR_PASSPHRASE": PASSPHRASE}, interactive=False)
        assert result.warnings == ()
        result = keys.unlock(record.meta, DB_ID, {}, interactive=True, prompt=prompts(PASSPHRASE))
        assert result.source == "prompt" and result.warnings == ()
        with pytest.raises(LockedError) as info:
            cache.store(DB_ID, record.kek, required=True)
        assert "no OS keyring" in str(info.value) and "MIRROR_PASSPHRASE_FILE" in str(info.value)
        assert info.value.exit_code == ExitCode.LOCKED
        with pytest.raises(LockedError, match="MIRROR_PASSPHRASE_FILE"):
            cache.require()

    if backend == "conftest":
        check()  # PYTHON_KEYRING_BACKEND=keyring.backends.fail.Keyring, as every test gets
    elif backend == "fail":
        from keyring.backends import fail

        with keyring_backend(fail.Keyring()):
            check()
    else:
        with keyring_backend(null.Keyring()):
            check()


@pytest.mark.skipif(sys.platform == "darwin", reason="on macOS the macOS backend is the one to load")
def test_the_macos_backend_api_is_not_loaded_off_macos(monkeypatch):
    """Its import runs find_library (ldconfig, gcc) for a backend never viable here; marked
    absent, keyring still imports the backend module and finds it unavailable."""
    import importlib

    monkeypatch.delitem(sys.modules, "keyring.backends.macOS.api", raising=False)
    monkeypatch.delitem(sys.modules, "keyring.backends.macOS", raising=False)
    assert keys.KeyCache().available() is False  # PYTHON_KEYRING_BACKEND=fail, as every test gets
    assert "keyring.backends.macOS.api" in sys.modules and sys.modules["keyring.backends.macOS.api"] is None
    macos = importlib.import_module("keyring.backends.macOS")
    assert "api" not in vars(macos)
    with pytest.raises(RuntimeError):
        macos.Keyring.priority  # noqa: B018 - the property raises: not viable, as before


def test_explicit_backend(record):
    backend = MemoryKeyring()
    cache = keys.KeyCache(backend)
    assert cache.store(DB_ID, record.kek)
    assert backend.entries and keys.KeyCache(backend).load(DB_ID) == record.kek
    assert keys.KeyCache(null.Keyring()).available() is False


def test_failing_keyring_is_reported(record, failing_keyring):
    cache = keys.KeyCache()
    assert cache.available() is True  # configured, but broken
    with pytest.raises(keys.KeyringFailure) as info:
        cache.load(DB_ID)
    assert isinstance(info.value, OperationError) and info.value.exit_code == ExitCode.FAILED
    assert "keyring" in str(info.value) and "MIRROR_PASSPHRASE_FILE" in str(info.value)
    with pytest.raises(keys.KeyringFailure) as info:
        cache.store(DB_ID, record.kek)
    secret = base64.b64encode(record.kek).decode()
    assert secret not in str(info.value) and "<hidden>" in str(info.value)
    assert_no_secret(info.value, secret, record.kek.hex())
    with pytest.raises(keys.KeyringFailure):
        cache.forget(DB_ID)


def test_failing_keyring_is_named_when_no_key_is_found(record, failing_keyring):
    with pytest.raises(LockedError) as info:
        keys.unlock(record.meta, DB_ID, {}, interactive=False, prompt=no_prompt)
    assert "MIRROR_PASSPHRASE_FILE" in info.value.hint
    assert ". The OS keyring failed to read the key" in info.value.hint  # a sentence of its own


def test_failing_keyring_becomes_a_warning_during_unlock(record, failing_keyring):
    result = keys.unlock(record.meta, DB_ID, {}, interactive=True, prompt=prompts(PASSPHRASE))
    assert result.source == "prompt"
    assert any("keyring failed" in w for w in result.warnings)
    with pytest.raises(LockedError) as info:
        keys.unlock(record.meta, DB_ID, {}, interactive=False)
    assert "keyring failed" in str(info.value) and "MIRROR_PASSPHRASE_FILE" in str(info.value)
    # a passphrase source never touches the keyring
    calls = failing_keyring.calls
    keys.unlock(record.meta, DB_ID, {"MIRROR_PASSPHRASE": PASSPHRASE}, interactive=False)
    assert failing_keyring.calls == calls


def test_backends_are_restored_after_each_fixture():
    from keyring.backends import fail

    assert isinstance(keyring.get_keyring(), fail.Keyring)
