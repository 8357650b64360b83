"""An S3 bucket as a remote: AWS S3 or any S3-compatible store (MinIO, Backblaze B2, Cloudflare R2).

``s3://BUCKET/PREFIX``: an object ``a/b`` is the key ``PREFIX/a/b``. Plain boto3
(SYNC.md section 12), imported only when an ``s3://`` remote is opened.
Credentials come from the standard AWS chain (environment, ``AWS_PROFILE`` or
*profile*, SSO, instance roles); *endpoint_url*, *region* and *profile* are the
``mirror remote add`` options, never secrets.

* ``put_new`` is ``PutObject`` with ``If-None-Match: *``: a 412 is
  :class:`~.base.Exists`, so exactly one of two racing writers wins on a store
  that honours it (AWS, MinIO, moto). Correctness above never rests on it.
* Streams and files above :data:`PART_SIZE` go up as a multipart upload (the
  condition then rides on ``CompleteMultipartUpload``); an upload left without
  a commit is aborted, so nobody ever sees half an object.
* ``list`` is the ``ListObjectsV2`` paginator; tag = the ETag. ``delete`` sends
  ``DeleteObjects`` in batches of 1,000.
* S3 is strongly consistent: ``may_lag`` is False, so an object a head names
  and the bucket lacks is tampering (exit 3), not "still in transit".

Every botocore failure becomes a :class:`~.base.RemoteError` (exit 1) naming
the object and the bucket; a missing key is :class:`~.base.NotFound`.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from mirror_cli.localfs import atomic_write, io_error
from mirror_cli.remotes.base import (CloudExtraMissing, Exists, InvalidName, NotFound, ObjectInfo, RemoteError,
                                     check_name, check_prefix, chunks)

PART_SIZE = 8 << 20  # multipart above this; S3 takes parts of 5 MiB and up
DELETE_BATCH = 1000  # DeleteObjects' limit
CHUNK = 1 << 20
_CREDENTIALS_HINT = ("Give credentials the AWS way: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE "
                     "or --profile, or `aws sso login`.")
_MISSING_KEYS = frozenset({"NoSuchKey", "404", "NotFound"})
_DENIED = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
                     "InvalidToken", "AllAccessDisabled"})


class S3Remote:
    """The Remote protocol over ``s3://bucket/prefix``; no request is made until the first call."""

    may_lag = False  # S3 is strongly consistent: what a head names is there, or was taken away

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None,
                 region: str | None = None, profile: str | None = None) -> None:
        try:  # boto3 costs ~0.2 s to import: only s3:// remotes pay it
            import boto3
            import botocore.config
            import botocore.exceptions
        except ImportError:
            raise CloudExtraMissing.of("S3", "boto3") from None
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            check_name(self.prefix)
        self._key_prefix = f"{self.prefix}/" if self.prefix else ""
        self.endpoint_url = endpoint_url
        self._exc = botocore.exceptions
        self._client: Any = None
        config = botocore.config.Config(
            connect_timeout=10, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"},
            # many S3-compatible stores refuse the checksums boto3 adds by default since 1.36
            request_checksum_calculation="when_required", response_checksum_validation="when_required")
        with self._errors("open", ""):
            session = boto3.session.Session(profile_name=profile, region_name=region)
            self._client = session.client("s3", endpoint_url=endpoint_url, config=config)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def describe(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"bucket {self.url}{where}"

    def __repr__(self) -> str:
        return f"S3Remote({self.url!r})"

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    def __enter__(self) -> S3Remote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------

    def get(self, name: str) -> bytes:
        with self._errors("read", name):
            body = self._get_body(name)
            with contextlib.closing(body):
                return body.read()

    def open(self, name: str) -> BinaryIO:
        out = tempfile.TemporaryFile()  # noqa: SIM115 - returned to the caller, who closes it
        try:
            with self._errors("read", name):
                body = self._get_body(name)
                with contextlib.closing(body):
                    for chunk in body.iter_chunks(CHUNK):
                        out.write(chunk)
            out.seek(0)
        except BaseException:
            out.close()
            raise
        return out  # type: ignore[return-value] - a binary file, as the protocol says

    def get_file(self, name: str, path: Path) -> None:
        with self._errors("read", name):
            body = self._get_body(name)  # before the file: NotFound leaves *path* alone
            with contextlib.closing(body), atomic_write(path) as out:
                for chunk in body.iter_chunks(CHUNK):
                    out.write(chunk)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        check_prefix(prefix)
        found = []
        with self._errors("list", prefix):
            pages = self._check_open().get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key_prefix + prefix)
            for page in pages:
                for obj in page.get("Contents", ()):
                    name = obj["Key"][len(self._key_prefix):]
                    if _is_name(name):
                        found.append(ObjectInfo(name, _tag(obj["ETag"]), obj["Size"]))
        found.sort(key=lambda info: info.name)
        return iter(found)

    # -- writing -------------------------------------------------------------------------

    def put_new(self, name: str, data: bytes) -> str:
        return self._put_object(name, data, exclusive=True)

    def put(self, name: str, data: bytes) -> str:
        return self._put_object(name, data, exclusive=False)

    def put_file(self, name: str, path: Path, *, exclusive: bool = False) -> str:
        check_name(name)
        try:
            src = open(path, "rb")  # noqa: SIM115 - closed by the with below
        except OSError as exc:
            raise io_error("read", path, exc) from None
        with src, self.put_stream(name, exclusive=exclusive) as out:
            for chunk in chunks(src, lambda exc: io_error("read", path, exc), CHUNK):
                out.write(chunk)
            return out.commit()

    def put_stream(self, name: str, *, exclusive: bool = False) -> S3Writer:
        return S3Writer(self, check_name(name), exclusive=exclusive)

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """Each write stands alone here (no transactions): nothing to group."""
        return contextlib.nullcontext()

    def delete(self, names: Iterable[str]) -> None:
        keys = [self._key(name) for name in names]
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start:start + DELETE_BATCH]
            with self._errors("delete", batch[0][len(self._key_prefix):]):
                answer = self._check_open().delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
            failed = [e for e in answer.get("Errors", ()) if e.get("Code") not in _MISSING_KEYS]
            if failed:
                first = failed[0]
                raise RemoteError(f"cannot delete {first.get('Key', '?')[len(self._key_prefix):]} in "
                                  f"{self.describe()}: {first.get('Message') or first.get('Code')} "
                                  f"({len(failed)} object(s) not deleted).")

    def purge_history(self, owned: Callable[[str], bool]) -> list[str]:
        """After a wipe: delete every older version and delete marker of the *owned* names under the
        prefix (bucket versioning keeps them); say what stays (versions not deletable, Object Lock)."""
        client = self._check_open()
        left: list[str] = []
        versions: list[dict[str, str]] = []
        try:
            pages = client.get_paginator("list_object_versions").paginate(Bucket=self.bucket,
                                                                          Prefix=self._key_prefix)
            for page in pages:
                for v in [*page.get("Versions", ()), *page.get("DeleteMarkers", ())]:
                    if owned(v["Key"][len(self._key_prefix):]):
                        versions.append({"Key": v["Key"], "VersionId": v["VersionId"]})
        except (self._exc.ClientError, self._exc.BotoCoreError) as exc:
            return [f"{self.describe()}: the object versions could not be listed ({_code(exc)}); if bucket "
                    "versioning is or was on, older versions of the objects may remain; delete them with your "
                    "provider's tools."]
        failed: list[str] = []
        for start in range(0, len(versions), DELETE_BATCH):
            batch = versions[start:start + DELETE_BATCH]
            try:
                answer = client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
                failed += [e.get("Key", "?") for e in answer.get("Errors", ())]
            except (self._exc.ClientError, self._exc.BotoCoreError):
                failed += [v["Key"] for v in batch]
        if failed:
            names = ", ".join(sorted({k[len(self._key_prefix):] for k in failed})[:10])
            left.append(f"{self.describe()}: {len(failed)} older object version(s) could not be deleted (not "
                        f"allowed, or under Object Lock retention): {names}{' …' if len(failed) > 10 else ''}.")
        elif versions:
            left.append(f"{self.describe()}: {len(versions)} older object version(s) and delete marker(s) were "
                        "deleted too.")
        try:
            lock = client.get_object_lock_configuration(Bucket=self.bucket)
            if lock.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled":
                left.append(f"the bucket {self.bucket} has Object Lock enabled: versions under retention or legal "
                            "hold stay until it ends.")
        except (self._exc.ClientError, self._exc.BotoCoreError):
            pass  # no Object Lock configuration (the usual case), or not allowed to read it
        left.append("the provider may still keep copies of its own (replication, backups, the storage of a "
                    "self-hosted S3 server).")
        return left

    # -- helpers -------------------------------------------------------------------------

    def _key(self, name: str) -> str:
        return self._key_prefix + check_name(name)

    def _check_open(self) -> Any:
        if self._client is None:
            raise RemoteError(f"the remote {self.describe()} is closed.")
        return self._client

    def _get_body(self, name: str) -> Any:
        return self._check_open().get_object(Bucket=self.bucket, Key=self._key(name))["Body"]

    def _put_object(self, name: str, data: bytes, *, exclusive: bool) -> str:
        extra = {"IfNoneMatch": "*"} if exclusive else {}
        with self._errors("write", name, exclusive=exclusive):
            answer = self._check_open().put_object(Bucket=self.bucket, Key=self._key(name), Body=data, **extra)
        return _tag(answer["ETag"])

    @contextlib.contextmanager
    def _errors(self, action: str, name: str, *, exclusive: bool = False) -> Iterator[None]:
        """Turn what botocore raises inside into mirror's errors (NotFound, Exists, RemoteError)."""
        try:
            yield
        except self._exc.ClientError as exc:
            raise self._client_error(action, name, exc, exclusive) from None
        except self._exc.NoCredentialsError:
            raise RemoteError(f"cannot {action} {self._where(name)}: no AWS credentials were found.",
                              _CREDENTIALS_HINT) from None
        except self._exc.ProfileNotFound as exc:
            raise RemoteError(f"cannot {action} {self._where(name)}: {exc}.",
                              "Check --profile against ~/.aws/config.") from None
        except self._exc.BotoCoreError as exc:  # unreachable endpoint, timeouts, bad credentials files
            raise RemoteError(f"cannot {action} {self._where(name)}: {exc}.",
                              "Check the network and the endpoint (`remote add --endpoint-url`, or AWS_ENDPOINT_URL "
                              "for backups and shards), then try again.") from None
        except OSError as exc:  # a body cut off mid-read
            raise RemoteError(f"cannot {action} {self._where(name)}: {exc.strerror or exc}.") from None

    def _client_error(self, action: str, name: str, exc: Any, exclusive: bool) -> RemoteError:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        where = self._where(name)
        if code in _MISSING_KEYS and action == "read":
            return NotFound(f"no object {name} in {self.describe()}.")
        if exclusive and (code == "PreconditionFailed" or status == 412):
            return Exists(f"{name} already exists in {self.describe()}; nothing was written.")
        if code == "NoSuchBucket":
            return RemoteError(f"cannot {action} {where}: the bucket {self.bucket} does not exist.",
                               "Create it with your provider's tools, or check the name and the endpoint "
                               "(--endpoint-url or AWS_ENDPOINT_URL).")
        if code in _DENIED or status == 403:
            return RemoteError(f"cannot {action} {where}: access denied ({code}).", _CREDENTIALS_HINT)
        reason = error.get("Message") or code or f"HTTP {status}"
        return RemoteError(f"cannot {action} {where}: {reason}.")

    def _where(self, name: str) -> str:
        return f"{name} in {self.describe()}" if name else self.describe()


class S3Writer:
    """:meth:`S3Remote.put_stream`: bytes gathered in memory up to :data:`PART_SIZE`, then a multipart
    upload; :meth:`commit` publishes the object (``PutObject`` or ``CompleteMultipartUpload``, each
    with ``If-None-Match: *`` when exclusive); :meth:`close` without a commit aborts the upload."""

    def __init__(self, remote: S3Remote, name: str, *, exclusive: bool) -> None:
        remote._check_open()
        self._remote, self._name, self._exclusive = remote, name, exclusive
        self._key = remote._key(name)
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._done = False

    def write(self, data: bytes | memoryview) -> int:
        if self._done:
            raise RemoteError(f"{self._name} in {self._remote.describe()} was already committed or discarded.")
        self._buffer += data
        while len(self._buffer) >= PART_SIZE:
            part = bytes(self._buffer[:PART_SIZE])
            del self._buffer[:PART_SIZE]
            self._upload_part(part)
        return len(data)

    def commit(self) -> str:
        if self._done:
            raise RemoteError(f"{self._name} in {self._remote.describe()} was already committed or discarded.")
        remote = self._remote
        try:
            if self._upload_id is None:
                tag = remote._put_object(self._name, bytes(self._buffer), exclusive=self._exclusive)
            else:
                if self._buffer:
                    self._upload_part(bytes(self._buffer))
                extra = {"IfNoneMatch": "*"} if self._exclusive else {}
                with remote._errors("write", self._name, exclusive=self._exclusive):
                    answer = remote._check_open().complete_multipart_upload(
                        Bucket=remote.bucket, Key=self._key, UploadId=self._upload_id,
                        MultipartUpload={"Parts": self._parts}, **extra)
                self._upload_id = None
                tag = _tag(answer["ETag"])
        finally:
            self.close()
        return tag

    def close(self) -> None:
        if self._done:
            return
        self._done = True
        self._buffer = bytearray()
        upload_id, self._upload_id = self._upload_id, None
        if upload_id is not None and self._remote._client is not None:
            with contextlib.suppress(Exception):  # best effort: a lifecycle rule sweeps what is left
                self._remote._client.abort_multipart_upload(Bucket=self._remote.bucket, Key=self._key,
                                                            UploadId=upload_id)

    def __enter__(self) -> S3Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def _upload_part(self, data: bytes) -> None:
        remote = self._remote
        with remote._errors("write", self._name):
            client = remote._check_open()
            if self._upload_id is None:
                self._upload_id = client.create_multipart_upload(Bucket=remote.bucket, Key=self._key)["UploadId"]
            number = len(self._parts) + 1
            answer = client.upload_part(Bucket=remote.bucket, Key=self._key, UploadId=self._upload_id,
                                        PartNumber=number, Body=data)
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})


def _code(exc: Any) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", "")) or type(exc).__name__


def _tag(etag: str) -> str:
    return etag.strip('"')


def _is_name(name: str) -> bool:
    try:
        check_name(name)
    except InvalidName:  # a key mirror never writes (another tool's, or a console's "folder/" marker)
        return False
    return True
