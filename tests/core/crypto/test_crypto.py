"""mirror_cli.crypto: KDF parameters, key wrapping, field envelopes, the streaming container."""

from __future__ import annotations

import base64
import io
import json
import struct
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirror_cli import crypto
from mirror_cli.errors import (
    ExitCode,
    InvalidInputError,
    LockedError,
    MirrorError,
    OperationError,
    UsageError,
    VerificationError,
)
from helpers import cheap_params

PASSPHRASE = "correct horse battery staple"
DB_ID = "01HZZZTESTDATABASE00000000"


@pytest.fixture(scope="module")
def record() -> crypto.KeyRecord:
    return crypto.new_key_record(PASSPHRASE, DB_ID, kdf_params=cheap_params())


def secrets_of(rec: crypto.KeyRecord, *extra: str) -> list[str]:
    return [PASSPHRASE, rec.dek.hex(), base64.b64encode(rec.dek).decode(), rec.kek.hex(),
            base64.b64encode(rec.kek).decode(), *extra]


def assert_no_secret(exc: BaseException, secrets: list[str]) -> None:
    """Neither the error, its hint, its repr nor any chained exception shows a secret."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        texts = [str(exc), repr(exc), str(getattr(exc, "hint", "") or "")]
        for secret in secrets:
            for text in texts:
                assert secret not in text
        exc = exc.__cause__ or exc.__context__


# ---------------------------------------------------------------------------
# KDF parameters
# ---------------------------------------------------------------------------


def test_default_kdf_params_follow_rfc9106():
    params = crypto.new_kdf_params()
    assert params.algorithm == "argon2id"
    assert params.memory_cost >= 64 * 1024
    assert params.iterations >= 3 and params.lanes >= 1
    assert len(params.salt) == 16
    assert crypto.new_kdf_params().salt != params.salt
    assert crypto.KdfParams.from_dict(params.to_dict()) == params


@given(salt=st.binary(min_size=16, max_size=64), iterations=st.integers(1, 64), lanes=st.integers(1, 16),
       memory=st.integers(128, 1024 * 1024))
def test_kdf_params_round_trip_through_json(salt, iterations, lanes, memory):
    if memory * iterations > crypto.MAX_WORK_KIB_PASSES:
        iterations = 1
    params = crypto.KdfParams("argon2id", salt, iterations, lanes, memory)
    data = json.loads(json.dumps(params.to_dict()))
    assert crypto.KdfParams.from_dict(data) == params


@pytest.mark.parametrize("change", [
    {"memory_cost": 100 * 1024 * 1024},  # 100 GiB
    {"memory_cost": 1024 * 1024 + 1},
    {"iterations": 10**9},
    {"iterations": 0},
    {"iterations": -1},
    {"iterations": True},
    {"iterations": 3.0},
    {"iterations": "3"},
    {"lanes": 0},
    {"lanes": 1000},
    {"lanes": 4, "memory_cost": 16},  # below 8 KiB per lane
    {"memory_cost": 1024 * 1024, "iterations": 64},  # too much total work
    {"algorithm": "pbkdf2"},
    {"algorithm": None},
    {"salt": base64.b64encode(b"short").decode()},
    {"salt": base64.b64encode(b"x" * 65).decode()},
    {"salt": "not base64!"},
    {"salt": 12},
])
def test_hostile_kdf_params_are_rejected(change):
    data = cheap_params().to_dict() | change
    with pytest.raises(InvalidInputError) as info:
        crypto.KdfParams.from_dict(data)
    assert info.value.exit_code == ExitCode.INVALID_INPUT


@pytest.mark.parametrize("data", [None, [], "argon2id", {"algorithm": "argon2id"}])
def test_malformed_kdf_params_are_rejected(data):
    with pytest.raises(InvalidInputError):
        crypto.KdfParams.from_dict(data)


# ---------------------------------------------------------------------------
# KEK derivation and wrapping
# ---------------------------------------------------------------------------


def test_derive_kek_is_deterministic_and_salted():
    params = cheap_params()
    kek = crypto.derive_kek(PASSPHRASE, params)
    assert len(kek) == 32
    assert crypto.derive_kek(PASSPHRASE, params) == kek
    assert crypto.derive_kek(PASSPHRASE, cheap_params()) != kek
    assert crypto.derive_kek(PASSPHRASE + "!", params) != kek


def test_derive_kek_matches_argon2id_reference():
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

    params = cheap_params()
    expected = Argon2id(salt=params.salt, length=32, iterations=1, lanes=1, memory_cost=8).derive(
        PASSPHRASE.encode())
    assert crypto.derive_kek(PASSPHRASE, params) == expected


def test_passphrase_is_nfc_normalised():
    params = cheap_params()
    composed = "caf\u00e9 au lait"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert crypto.derive_kek(composed, params) == crypto.derive_kek(decomposed, params)


@pytest.mark.parametrize("bad", ["", "abc\udcff secret"])
def test_unusable_passphrase_is_a_usage_error_without_the_text(bad):
    with pytest.raises(UsageError) as info:
        crypto.derive_kek(bad, cheap_params())
    if bad:
        assert_no_secret(info.value, ["abc", "secret"])
        assert info.value.__context__ is None


def test_wrap_round_trip_and_wrong_passphrase(record):
    meta = crypto.CryptoMeta.from_dict(record.meta)
    kek = crypto.derive_kek(PASSPHRASE, meta.kdf)
    assert crypto.unwrap_data_key(kek, meta.wrapped_key, DB_ID) == record.dek
    wrong = crypto.derive_kek("Correct horse battery staple", meta.kdf)
    with pytest.raises(LockedError) as info:
        crypto.unwrap_data_key(wrong, meta.wrapped_key, DB_ID, source="MIRROR_PASSPHRASE")
    assert info.value.exit_code == ExitCode.LOCKED
    assert "wrong passphrase" in str(info.value)
    assert "MIRROR_PASSPHRASE" in str(info.value) and "mirror key unlock" in str(info.value)
    assert_no_secret(info.value, secrets_of(record, wrong.hex()))


def test_wrapped_key_is_bound_to_the_database_id(record):
    meta = crypto.CryptoMeta.from_dict(record.meta)
    with pytest.raises(LockedError):
        crypto.unwrap_data_key(record.kek, meta.wrapped_key, DB_ID + "X")


def test_wrapping_uses_a_fresh_nonce(record):
    assert crypto.wrap_data_key(record.kek, record.dek, DB_ID) != crypto.wrap_data_key(record.kek, record.dek, DB_ID)


@given(position=st.integers(0, 60), bit=st.integers(0, 7))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_damaged_wrapped_key_is_refused(record, position, bit):
    blob = bytearray(base64.b64decode(record.meta["wrapped_key"]))
    blob[position] ^= 1 << bit
    with pytest.raises((LockedError, VerificationError)):
        crypto.unwrap_data_key(record.kek, base64.b64encode(bytes(blob)).decode(), DB_ID)


@pytest.mark.parametrize("wrapped", ["", "!!!", base64.b64encode(b"\x01" * 20).decode(), 5])
def test_malformed_wrapped_key_is_a_verification_error(record, wrapped):
    with pytest.raises(VerificationError):
        crypto.unwrap_data_key(record.kek, wrapped, DB_ID)


def test_changing_the_passphrase_rewraps_the_same_data_key(record):
    changed = crypto.new_key_record("a new passphrase", DB_ID, dek=record.dek, kdf_params=cheap_params())
    assert changed.dek == record.dek
    meta = crypto.CryptoMeta.from_dict(changed.meta)
    new_kek = crypto.derive_kek("a new passphrase", meta.kdf)
    assert crypto.unwrap_data_key(new_kek, meta.wrapped_key, DB_ID) == record.dek
    old_kek = crypto.derive_kek(PASSPHRASE, meta.kdf)
    with pytest.raises(LockedError):
        crypto.unwrap_data_key(old_kek, meta.wrapped_key, DB_ID)
    with pytest.raises(LockedError):  # the old cached KEK does not open the new record either
        crypto.unwrap_data_key(record.kek, meta.wrapped_key, DB_ID)
    assert changed.meta["key_id"] == record.meta["key_id"]


def test_key_record_reprs_hide_keys(record):
    assert record.dek.hex() not in repr(record) and record.kek.hex() not in repr(record)
    assert "hidden" in repr(crypto.FieldCipher(record.dek))


def test_crypto_meta_round_trip_and_damage(record):
    meta = crypto.CryptoMeta.from_dict(json.loads(json.dumps(record.meta)))
    assert meta.to_dict() == record.meta
    with pytest.raises(VerificationError):
        crypto.CryptoMeta.from_dict({"version": 1})
    with pytest.raises(VerificationError):
        crypto.CryptoMeta.from_dict(record.meta | {"kdf": record.meta["kdf"] | {"memory_cost": 10**9}})
    with pytest.raises(OperationError):
        crypto.CryptoMeta.from_dict(record.meta | {"version": 2})


# ---------------------------------------------------------------------------
# sub-keys
# ---------------------------------------------------------------------------


def test_subkeys_are_purpose_separated(record):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    audit = crypto.audit_mac_key(record.dek)
    expected = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                    info=b"mirror audit chain v1").derive(record.dek)
    assert audit == expected and len(audit) == 32
    keys = {audit, crypto.subkey(record.dek, crypto.FIELD_INFO), crypto.subkey(record.dek, "mirror sync v1"),
            record.dek}
    assert len(keys) == 4
    assert crypto.subkey(record.dek, "mirror sync v1") == crypto.subkey(record.dek, "mirror sync v1")
    assert crypto.audit_mac_key(crypto.new_data_key()) != audit


def test_data_keys_are_random():
    assert len(crypto.new_data_key()) == 32
    assert crypto.new_data_key() != crypto.new_data_key()


# ---------------------------------------------------------------------------
# field envelopes
# ---------------------------------------------------------------------------

names = st.text(st.characters(codec="utf-8"), min_size=0, max_size=20)


@pytest.fixture(scope="module")
def cipher(record) -> crypto.FieldCipher:
    return crypto.FieldCipher(record.dek)


@given(table=names, record_id=names, field=names, value=st.text())
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_field_round_trip(cipher, table, record_id, field, value):
    blob = cipher.seal(table, record_id, field, value)
    assert isinstance(blob, bytes) and blob[0] == 1
    assert cipher.open(table, record_id, field, blob) == value


def test_field_seal_is_randomised_and_hides_the_text(cipher):
    a = cipher.seal("reflections", "R1", "content", "my secret thought")
    b = cipher.seal("reflections", "R1", "content", "my secret thought")
    assert a != b
    assert b"secret" not in a


@given(value=st.text(min_size=0, max_size=50), data=st.data())
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_flipped_bit_is_refused(cipher, value, data):
    blob = bytearray(cipher.seal("reflections", "01HREC", "content", value))
    position = data.draw(st.integers(0, len(blob) - 1))
    blob[position] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(VerificationError) as info:
        cipher.open("reflections", "01HREC", "content", bytes(blob))
    message = str(info.value)
    assert "reflections" in message and "01HREC" in message and "content" in message
    # The message names the record and field and nothing of the text: it is the same
    # message a blob that never held any text gets. (A plain "value not in message"
    # fails for texts such as "mirr", which the hint's `mirror audit verify` contains.)
    with pytest.raises(VerificationError) as empty:
        cipher.open("reflections", "01HREC", "content", b"")
    assert message == str(empty.value)


def test_every_bit_flip_of_one_envelope_is_refused(cipher):
    blob = cipher.seal("patterns", "P1", "name", "a pattern")
    for position in range(len(blob)):
        for bit in range(8):
            damaged = bytearray(blob)
            damaged[position] ^= 1 << bit
            with pytest.raises(VerificationError):
                cipher.open("patterns", "P1", "name", bytes(damaged))


@pytest.mark.parametrize("target", [
    ("reflections", "R2", "content"),  # another record
    ("reflections", "R1", "response"),  # another field
    ("patterns", "R1", "content"),  # another table
    ("reflections", "R", "1content"),  # same concatenation, other split
    ("reflection", "sR1", "content"),
])
def test_moved_ciphertext_is_refused(cipher, target):
    blob = cipher.seal("reflections", "R1", "content", "private words")
    with pytest.raises(VerificationError) as info:
        cipher.open(*target, blob)
    assert info.value.exit_code == ExitCode.VERIFY
    assert target[1] in str(info.value) and target[2] in str(info.value)
    assert "private words" not in str(info.value)


@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x01" + b"\0" * 27, b"\x02" + b"\0" * 40, "text", None])
def test_malformed_envelopes_are_refused(cipher, blob):
    with pytest.raises(VerificationError):
        cipher.open("reflections", "R1", "content", blob)


def test_envelope_from_another_key_is_refused(cipher):
    other = crypto.FieldCipher(crypto.new_data_key())
    with pytest.raises(VerificationError):
        cipher.open("reflections", "R1", "content", other.seal("reflections", "R1", "content", "x"))


def test_field_cipher_rejects_a_bad_key():
    with pytest.raises(UsageError):
        crypto.FieldCipher(b"short")


ROW_FIELDS = ("content", "response", "tags")


@given(record_id=names, values=st.tuples(st.text(), st.none() | st.text(), st.text()))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_open_row_round_trip_matches_open(cipher, record_id, values):
    blobs = tuple(None if v is None else cipher.seal("reflections", record_id, f, v)
                  for f, v in zip(ROW_FIELDS, values))
    assert cipher.open_row("reflections", record_id, ROW_FIELDS, blobs) == list(values)
    assert [None if b is None else cipher.open("reflections", record_id, f, b)
            for f, b in zip(ROW_FIELDS, blobs)] == list(values)


def _row(cipher, record_id="R1"):
    return tuple(cipher.seal("reflections", record_id, f, f"private {f}") for f in ROW_FIELDS)


@pytest.mark.parametrize("swap", ["fields", "records"])
def test_open_row_refuses_moved_ciphertext_naming_record_and_field(cipher, swap):
    row = _row(cipher)
    if swap == "fields":  # content and response exchanged inside the record
        moved, bad_field = (row[1], row[0], row[2]), "content"
    else:  # tags taken from another record
        moved, bad_field = (row[0], row[1], _row(cipher, "R2")[2]), "tags"
    with pytest.raises(VerificationError) as info:
        cipher.open_row("reflections", "R1", ROW_FIELDS, moved)
    message = str(info.value)
    assert info.value.exit_code == ExitCode.VERIFY
    assert "reflections R1" in message and f"field {bad_field}" in message and "private" not in message


@given(data=st.data())
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
def test_open_row_refuses_any_flipped_bit(cipher, data):
    row = list(_row(cipher))
    which = data.draw(st.integers(0, 2))
    blob = bytearray(row[which])
    blob[data.draw(st.integers(0, len(blob) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    row[which] = bytes(blob)
    with pytest.raises(VerificationError, match=f"field {ROW_FIELDS[which]} cannot be decrypted"):
        cipher.open_row("reflections", "R1", ROW_FIELDS, tuple(row))


@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x01" + b"\0" * 27, b"\x02" + b"\0" * 40, "text", 7])
def test_open_row_refuses_malformed_envelopes(cipher, blob):
    row = _row(cipher)
    with pytest.raises(VerificationError, match="field response"):
        cipher.open_row("reflections", "R1", ROW_FIELDS, (row[0], blob, row[2]))


# ---------------------------------------------------------------------------
# streaming container
# ---------------------------------------------------------------------------

SMALL_CHUNK = 32


def make_container(rec: crypto.KeyRecord, data: bytes, *, chunk_size: int = SMALL_CHUNK,
                   purpose: str = "backup", **kw) -> bytes:
    meta = crypto.CryptoMeta.from_dict(rec.meta)
    out = io.BytesIO()
    result = crypto.encrypt_stream(io.BytesIO(data), out, dek=rec.dek, kdf_params=meta.kdf,
                                   wrapped_key=meta.wrapped_key, db_id=DB_ID, purpose=purpose,
                                   chunk_size=chunk_size, **kw)
    blob = out.getvalue()
    assert result.plaintext_bytes == len(data) and result.container_bytes == len(blob)
    return blob


def open_container(blob: bytes, **kw) -> bytes:
    out = io.BytesIO()
    crypto.decrypt_stream(io.BytesIO(blob), out, **kw)
    return out.getvalue()


def header_size(blob: bytes) -> int:
    (length,) = struct.unpack(">I", blob[8:12])
    return 12 + length + 32


def rebuild_header(blob: bytes, edit) -> bytes:
    """Edit the JSON header and recompute its digest (as a deliberate attacker would)."""
    (length,) = struct.unpack(">I", blob[8:12])
    obj = json.loads(blob[12:12 + length])
    edit(obj)
    body = json.dumps(obj).encode()
    head = blob[:8] + struct.pack(">I", len(body)) + body
    import hashlib

    return head + hashlib.sha256(head).digest() + blob[header_size(blob):]


@st.composite
def payloads(draw):
    chunks = draw(st.integers(0, 5))
    tail = draw(st.sampled_from([0, 0, 1, SMALL_CHUNK - 1]) | st.integers(0, SMALL_CHUNK - 1))
    return draw(st.binary(min_size=chunks * SMALL_CHUNK + tail, max_size=chunks * SMALL_CHUNK + tail))


@given(data=payloads())
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
def test_container_round_trip(record, data):
    blob = make_container(record, data)
    assert crypto.is_container(blob)
    assert open_container(blob, dek=record.dek) == data
    body = len(blob) - header_size(blob)
    full, rest = divmod(len(data), SMALL_CHUNK)
    expected_chunks = full + (1 if rest or not data else 0)
    assert body == len(data) + 16 * expected_chunks


def test_container_opens_from_the_passphrase_alone(record):
    data = bytes(range(256)) * 3
    blob = make_container(record, data)
    asked = []
    assert open_container(blob, passphrase=PASSPHRASE) == data
    assert open_container(blob, passphrase=lambda: asked.append(1) or PASSPHRASE) == data
    assert asked == [1]
    # the data key is tried first; the passphrase callable is not asked when it fits
    assert open_container(blob, dek=record.dek, passphrase=lambda: pytest.fail("asked")) == data
    # a data key of another database falls back to the passphrase
    assert open_container(blob, dek=crypto.new_data_key(), passphrase=PASSPHRASE) == data


def test_container_with_default_chunk_size(record):
    data = b"\x00\xff" * (crypto.CHUNK_SIZE // 2) + b"tail"
    blob = make_container(record, data, chunk_size=crypto.CHUNK_SIZE)
    assert open_container(blob, dek=record.dek) == data
    assert crypto.read_container_header(io.BytesIO(blob)).chunk_size == crypto.CHUNK_SIZE


def test_container_header_fields(record):
    blob = make_container(record, b"hello", purpose="export")
    header = crypto.read_container_header(io.BytesIO(blob))
    assert header.purpose == "export" and header.db_id == DB_ID and header.chunk_size == SMALL_CHUNK
    assert header.wrapped_key == record.meta["wrapped_key"]
    assert header.kdf == crypto.CryptoMeta.from_dict(record.meta).kdf
    assert header.key_id == record.meta["key_id"] == crypto.key_id(record.dek)
    assert header.size == header_size(blob)
    assert len(header.salt) == 32 and len(header.nonce_prefix) == 7
    assert b"hello" not in blob
    other = crypto.read_container_header(io.BytesIO(make_container(record, b"hello")))
    assert other.salt != header.salt and other.nonce_prefix != header.nonce_prefix


def test_wrong_or_missing_key(record):
    blob = make_container(record, b"secret backup data")
    with pytest.raises(LockedError) as info:
        open_container(blob, passphrase="not the passphrase")
    assert "wrong passphrase" in str(info.value) and "encrypted file" in str(info.value)
    assert "key unlock" not in str(info.value)  # about the file: unlocking the database would not help
    assert_no_secret(info.value, secrets_of(record, "not the passphrase"))
    with pytest.raises(LockedError) as info:
        open_container(blob)
    assert "MIRROR_PASSPHRASE_FILE" in str(info.value)
    with pytest.raises(LockedError) as info:
        open_container(blob, dek=crypto.new_data_key())
    assert "passphrase" in str(info.value)


def test_every_truncation_is_detected(record):
    data = bytes(range(SMALL_CHUNK)) * 3 + b"end"  # 3 full chunks and a short one
    blob = make_container(record, data)
    start = header_size(blob)
    boundaries = {start + i * (SMALL_CHUNK + 16) for i in range(4)}
    seen_boundary = 0
    for cut in range(len(blob)):
        with pytest.raises((VerificationError, InvalidInputError)) as info:
            open_container(blob[:cut], dek=record.dek)
        if cut >= len(crypto.MAGIC_PREFIX):
            assert isinstance(info.value, VerificationError), cut
        if cut in boundaries:
            seen_boundary += 1
            assert "truncated" in str(info.value)
    assert seen_boundary == 4


def test_truncation_of_exact_multiple_at_chunk_boundary(record):
    data = b"x" * (SMALL_CHUNK * 3)
    blob = make_container(record, data)
    step = SMALL_CHUNK + 16
    for chunks in range(3):
        with pytest.raises(VerificationError, match="truncated"):
            open_container(blob[:header_size(blob) + chunks * step], dek=record.dek)


def chunks_of(blob: bytes) -> tuple[bytes, list[bytes]]:
    start = header_size(blob)
    step = SMALL_CHUNK + 16
    body = blob[start:]
    return blob[:start], [body[i:i + step] for i in range(0, len(body), step)]


def test_chunk_reordering_dropping_and_duplication_are_detected(record):
    data = b"".join(bytes([i]) * SMALL_CHUNK for i in range(4))
    head, chunks = chunks_of(make_container(record, data))
    assert len(chunks) == 4
    variants = [
        [chunks[1], chunks[0], chunks[2], chunks[3]],
        [chunks[0], chunks[2], chunks[1], chunks[3]],
        [chunks[0], chunks[1], chunks[3], chunks[2]],
        [chunks[0], chunks[2], chunks[3]],
        [chunks[0], chunks[0], chunks[1], chunks[2], chunks[3]],
        [chunks[0], chunks[1], chunks[2], chunks[3], chunks[3]],
    ]
    for variant in variants:
        with pytest.raises(VerificationError):
            open_container(head + b"".join(variant), dek=record.dek)


def test_chunks_from_another_container_are_refused(record):
    data = b"a" * (SMALL_CHUNK * 2)
    head_a, chunks_a = chunks_of(make_container(record, data))
    _, chunks_b = chunks_of(make_container(record, data))
    with pytest.raises(VerificationError):
        open_container(head_a + chunks_a[0] + chunks_b[1], dek=record.dek)


def test_every_bit_flip_is_detected(record):
    blob = make_container(record, b"0123456789" * 5)
    for position in range(len(blob)):
        damaged = bytearray(blob)
        damaged[position] ^= 1 << (position % 8)
        with pytest.raises((VerificationError, InvalidInputError)) as info:
            open_container(bytes(damaged), dek=record.dek)
        if position >= len(crypto.MAGIC):
            assert isinstance(info.value, VerificationError), position


@pytest.mark.parametrize("size", [0, 5, SMALL_CHUNK, SMALL_CHUNK * 2 + 3])
@pytest.mark.parametrize("garbage", [b"\0", b"x" * 15, b"y" * 16, b"z" * (SMALL_CHUNK + 16), b"w" * 100])
def test_appended_data_is_detected(record, size, garbage):
    blob = make_container(record, b"q" * size)
    with pytest.raises(VerificationError):
        open_container(blob + garbage, dek=record.dek)


def test_appending_a_valid_looking_chunk_is_reported_as_extra_data(record):
    blob = make_container(record, b"q" * SMALL_CHUNK)
    _, chunks = chunks_of(blob)
    with pytest.raises(VerificationError, match="follows the end"):
        open_container(blob + chunks[-1][:10], dek=record.dek)


@pytest.mark.parametrize("edit", [
    lambda h: h.update(purpose="export"),
    lambda h: h.update(chunk_size=SMALL_CHUNK + 1),
    lambda h: h.update(salt=base64.b64encode(b"s" * 32).decode()),
    lambda h: h.update(nonce_prefix=base64.b64encode(b"n" * 7).decode()),
    lambda h: h.update(extra="field"),
])
def test_header_edits_with_a_recomputed_digest_are_detected(record, edit):
    blob = rebuild_header(make_container(record, b"p" * 100), edit)
    with pytest.raises(VerificationError):
        open_container(blob, dek=record.dek)


def test_header_edit_without_a_new_digest_is_damage(record):
    blob = make_container(record, b"p" * 100)
    damaged = blob.replace(b'"purpose":"backup"', b'"purpose":"export"')
    assert damaged != blob
    with pytest.raises(VerificationError, match="header"):
        crypto.read_container_header(io.BytesIO(damaged))


def test_hostile_kdf_in_header_is_rejected_before_any_work(record):
    def edit(h):
        h["kdf"]["memory_cost"] = 100 * 1024 * 1024

    blob = rebuild_header(make_container(record, b"p"), edit)
    with pytest.raises(InvalidInputError):
        crypto.read_container_header(io.BytesIO(blob))
    with pytest.raises(InvalidInputError):
        open_container(blob, passphrase=PASSPHRASE)


@pytest.mark.parametrize("edit", [
    lambda h: h.update(format="other"),
    lambda h: h.update(version=2),
    lambda h: h.update(cipher="ROT13"),
    lambda h: h.update(purpose="sync"),
    lambda h: h.update(chunk_size=1 << 40),
    lambda h: h.update(chunk_size=0),
    lambda h: h.update(db_id=""),
    lambda h: h.pop("wrapped_key"),
    lambda h: h.update(key_id="AAAA"),
    lambda h: h.update(salt="short"),
    lambda h: h.pop("kdf"),
])
def test_unusable_intact_headers_are_invalid_input(record, edit):
    blob = rebuild_header(make_container(record, b"p"), edit)
    with pytest.raises(InvalidInputError):
        crypto.read_container_header(io.BytesIO(blob))


@pytest.mark.parametrize("data", [b"", b"MIR", b'{"format": "mirror-export", "version": 1}', b"SQLite format 3\0",
                                  b"\x00" * 100, b"MIRRENX\x01" + b"\0" * 50])
def test_non_container_input(record, data):
    assert not crypto.is_container(data)
    with pytest.raises(InvalidInputError) as info:
        open_container(data, dek=record.dek)
    assert info.value.exit_code == ExitCode.INVALID_INPUT


def test_newer_container_version_asks_for_an_upgrade(record):
    blob = make_container(record, b"p")
    newer = crypto.MAGIC_PREFIX + b"\x02" + blob[8:]
    assert crypto.is_container(newer)
    with pytest.raises(InvalidInputError, match="[Uu]pgrade"):
        crypto.read_container_header(io.BytesIO(newer))


@pytest.mark.parametrize("header", [b"MIRRENC\x01", b"MIRRENC\x01\0\0", b"MIRRENC\x01\xff\xff\xff\xff" + b"{}" * 10,
                                    b"MIRRENC\x01\0\0\0\x05{}"])
def test_damaged_header_framing(header):
    with pytest.raises(VerificationError):
        crypto.read_container_header(io.BytesIO(header))


def test_expected_purpose(record):
    blob = make_container(record, b"p", purpose="export")
    with pytest.raises(InvalidInputError, match="export"):
        open_container(blob, dek=record.dek, expected_purpose="backup")
    assert open_container(blob, dek=record.dek, expected_purpose="export") == b"p"


def test_verify_only_progress_and_bounded_reads(record):
    data = bytes(range(256)) * 5  # 1280 bytes, 40 chunks of 32

    class Recorder(io.BytesIO):
        def __init__(self, *a):
            super().__init__(*a)
            self.largest = 0

        def read(self, n=-1):
            assert n is not None and n >= 0, "unbounded read"
            self.largest = max(self.largest, n)
            return super().read(min(n, 7))  # short reads, like a pipe

    src = Recorder(data)
    meta = crypto.CryptoMeta.from_dict(record.meta)
    out = io.BytesIO()
    seen = []
    crypto.encrypt_stream(src, out, dek=record.dek, kdf_params=meta.kdf, wrapped_key=meta.wrapped_key,
                          db_id=DB_ID, purpose="backup", chunk_size=SMALL_CHUNK, progress=seen.append)
    assert src.largest <= SMALL_CHUNK
    assert seen == sorted(seen) and seen[-1] == len(data)
    blob = Recorder(out.getvalue())
    result = crypto.decrypt_stream(blob, None, dek=record.dek)
    assert result.plaintext_bytes == len(data)
    assert blob.largest <= max(SMALL_CHUNK + 16, crypto.MAX_HEADER_SIZE)


def test_encrypt_stream_rejects_bad_arguments(record):
    meta = crypto.CryptoMeta.from_dict(record.meta)
    common = dict(dek=record.dek, kdf_params=meta.kdf, wrapped_key=meta.wrapped_key, db_id=DB_ID)
    with pytest.raises(UsageError):
        crypto.encrypt_stream(io.BytesIO(), io.BytesIO(), purpose="sync", **common)
    with pytest.raises(UsageError):
        crypto.encrypt_stream(io.BytesIO(), io.BytesIO(), purpose="backup", chunk_size=0, **common)
    with pytest.raises(UsageError):
        crypto.encrypt_stream(io.BytesIO(), io.BytesIO(), purpose="backup", chunk_size=1 << 30, **common)


def test_no_error_leaks_a_secret(record):
    """Every failure path above, collected once more, checked for key material."""
    blob = make_container(record, b"very private text")
    cipher = crypto.FieldCipher(record.dek)
    sealed = cipher.seal("reflections", "R1", "content", "very private text")
    attempts = [
        lambda: open_container(blob, passphrase="wrong guess"),
        lambda: open_container(blob[:-1], dek=record.dek),
        lambda: open_container(blob + b"x", dek=record.dek),
        lambda: open_container(blob, dek=crypto.new_data_key()),
        lambda: cipher.open("reflections", "R2", "content", sealed),
        lambda: crypto.unwrap_data_key(record.kek[::-1], record.meta["wrapped_key"], DB_ID),
        lambda: crypto.derive_kek("very private \udc80", cheap_params()),
    ]
    for attempt in attempts:
        with pytest.raises(MirrorError) as info:
            attempt()
        assert_no_secret(info.value, secrets_of(record, "very private", "wrong guess"))
