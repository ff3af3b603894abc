"""Large files on the emulator: multipart LFS uploads and LFS downloads through signed, expiring redirects.

The protocol is driven twice: with raw HTTP, to see each answer as huggingface_hub's ``lfs.py`` reads it,
and with the real client (``upload_file``, ``hf_hub_download``), which must take the multipart path
and the redirect on its own. A small multipart threshold keeps the files small.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import math
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError

from release.hub.faults import FaultRule
from release.hub.lfs import Multipart, parse_size, sign, storage_base_url
from release.hub.server import HubServer, Token
from release.hub.storage import HubStorage

TOKEN = "hf_lfs_tests_alice"
REPO = "alice/large"
THRESHOLD, CHUNK = 1000, 700  # a 2500-byte object goes in 4 parts: 700, 700, 700, 400
SMALL_PARTS = Multipart(THRESHOLD, CHUNK)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(method: str, url: str, body: bytes = b"", headers: Mapping[str, str] | None = None) -> Answer:
    """One HTTP request, sent exactly as given (no redirects, no retries)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


@dataclass(frozen=True)
class Hub:
    server: HubServer
    storage: Path
    api: HfApi

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def make_hub(tmp_path: Path) -> Iterator[Any]:
    servers: list[HubServer] = []

    def make(*faults: str, multipart: Multipart | None = SMALL_PARTS) -> Hub:
        storage = tmp_path / "hub"
        rules = [FaultRule.from_spec(spec) for spec in faults]
        server = HubServer(storage, [Token("alice", TOKEN)], faults=rules, multipart=multipart).start()
        servers.append(server)
        api = HfApi(endpoint=server.url, token=TOKEN)
        if not api.repo_exists(REPO):
            api.create_repo(REPO)
        return Hub(server, storage, api)

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def hub(make_hub: Any) -> Hub:
    return make_hub()  # type: ignore[no-any-return]


def batch(hub: Hub, content: bytes, transfers: list[str] | None = None) -> dict[str, Any]:
    """The LFS batch answer for uploading ``content`` to REPO."""
    body: dict[str, Any] = {
        "operation": "upload",
        "objects": [{"oid": hashlib.sha256(content).hexdigest(), "size": len(content)}],
        "hash_algo": "sha256",
    }
    if transfers is not None:
        body["transfers"] = transfers
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/vnd.git-lfs+json"}
    answer = request("POST", f"{hub.url}/{REPO}.git/info/lfs/objects/batch", json.dumps(body).encode(), headers)
    assert answer.status == 200, answer.body
    result: dict[str, Any] = answer.json()
    return result


def part_urls(upload: Mapping[str, Any]) -> list[str]:
    """The part links of an upload action, in order, as huggingface_hub's _get_sorted_parts_urls reads them."""
    header = upload["header"]
    return [url for number, url in sorted((int(k), v) for k, v in header.items() if k.isdigit())]


def send_parts(upload: Mapping[str, Any], content: bytes) -> list[dict[str, Any]]:
    """PUT every part as the client does; the completion's list of parts."""
    chunk = int(upload["header"]["chunk_size"])
    parts = []
    for index, url in enumerate(part_urls(upload)):
        answer = request("PUT", url, content[index * chunk : (index + 1) * chunk])
        assert answer.status == 200, answer.body
        parts.append({"partNumber": index + 1, "etag": answer.headers["etag"]})
    return parts


def complete(upload: Mapping[str, Any], oid: str, parts: list[dict[str, Any]]) -> Answer:
    body = json.dumps({"oid": oid, "parts": parts}).encode()
    return request("POST", upload["href"], body, {"Content-Type": "application/vnd.git-lfs+json"})


def stored_object(storage: Path, content: bytes) -> Path:
    digest = hashlib.sha256(content).hexdigest()
    return storage / "objects" / digest[:2] / digest[2:]


def with_query(url: str, **changes: object) -> str:
    parts = urlsplit(url)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()} | {k: str(v) for k, v in changes.items()}
    return parts._replace(query=urlencode(query)).geturl()


def lfs_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "release.hub.lfs"]


# --------------------------------------------------------------------------------------------------
# Multipart uploads


def test_a_large_object_is_asked_for_in_parts_as_the_client_reads_them(hub: Hub) -> None:
    content = os.urandom(2500)
    oid = hashlib.sha256(content).hexdigest()
    answer = batch(hub, content, ["basic", "multipart"])
    assert answer["transfer"] == "multipart"
    (obj,) = answer["objects"]
    upload = obj["actions"]["upload"]
    assert set(upload["header"]) == {"chunk_size", "00001", "00002", "00003", "00004"}
    assert upload["header"]["chunk_size"] == str(CHUNK)
    assert len(part_urls(upload)) == math.ceil(len(content) / CHUNK)  # the client's own check
    assert upload["href"].startswith(f"{hub.url}/api/complete_multipart?")
    assert obj["actions"]["verify"]["href"] == f"{hub.url}/{REPO}.git/info/lfs/objects/verify"

    parts = send_parts(upload, content)
    assert [part["etag"] for part in parts] == [
        f'"{hashlib.sha256(content[i : i + CHUNK]).hexdigest()}"' for i in range(0, 2500, CHUNK)
    ]
    assert not stored_object(hub.storage, content).exists()  # nothing is kept before the completion
    done = complete(upload, oid, parts)
    assert (done.status, done.json()) == (200, {})
    assert stored_object(hub.storage, content).read_bytes() == content
    assert list((hub.storage / "tmp" / "parts").iterdir()) == []  # the parts are gone
    assert batch(hub, content, ["basic", "multipart"])["objects"] == [{"oid": oid, "size": 2500}]  # now stored


def test_small_objects_and_clients_without_multipart_get_one_put(hub: Hub) -> None:
    small = batch(hub, os.urandom(THRESHOLD), ["basic", "multipart"])  # at the threshold: not over it
    assert small["transfer"] == "basic"
    assert "header" not in small["objects"][0]["actions"]["upload"]
    for transfers in (["basic"], None):  # None: no 'transfers' field, which means basic
        large = batch(hub, os.urandom(5000), transfers)
        assert large["transfer"] == "basic"
        assert "header" not in large["objects"][0]["actions"]["upload"]


def test_huge_objects_get_larger_parts_to_stay_within_ten_thousand() -> None:
    multipart = Multipart(threshold=0, chunk_size=1)
    assert multipart.chunk_for(25_000) == 3 and math.ceil(25_000 / multipart.chunk_for(25_000)) <= 10_000
    assert Multipart().threshold == Multipart().chunk_size == 5 * 1024**3
    assert parse_size("8MiB") == 8 * 1024**2 and parse_size("1234") == 1234
    with pytest.raises(ValueError, match="is not a size"):
        parse_size("8MB")
    with pytest.raises(ValueError, match="chunk size"):
        Multipart(chunk_size=0)


def test_the_real_client_uploads_in_parts_and_the_file_comes_back(
    hub: Hub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="release.hub.lfs")
    content = os.urandom(2500)
    (tmp_path / "w.bin").write_bytes(content)
    hub.api.upload_file(path_or_fileobj=str(tmp_path / "w.bin"), path_in_repo="w.bin", repo_id=REPO)
    received = [line for line in lfs_log(caplog) if "received part" in line]
    assert [line.split("received part ")[1].split(" ")[0] for line in received] == ["1", "2", "3", "4"]
    assert any("(2500 bytes, 4 parts)" in line for line in lfs_log(caplog))
    path = hf_hub_download(REPO, "w.bin", endpoint=hub.url, token=TOKEN, cache_dir=tmp_path / "cache")
    assert Path(path).read_bytes() == content


def test_a_part_link_is_bound_to_its_part_and_expires(hub: Hub) -> None:
    content = os.urandom(2500)
    upload = batch(hub, content, ["basic", "multipart"])["objects"][0]["actions"]["upload"]
    first = part_urls(upload)[0]
    piece = content[:CHUNK]
    assert request("PUT", with_query(first, size=CHUNK + 1), piece).status == 403  # altered size
    assert request("PUT", with_query(first, upload="0" * 32), piece).status == 403  # another upload
    assert request("PUT", first.replace("/1?", "/2?"), piece).status == 403  # another part number
    assert request("PUT", with_query(first, signature="0" * 64), piece).status == 403
    query = {key: values[-1] for key, values in parse_qs(urlsplit(first).query).items()}
    expired = int(time.time()) - 1
    secret = HubStorage.open(hub.storage).secret
    fields = (query["repo"], hashlib.sha256(content).hexdigest(), query["upload"], 1, CHUNK, expired)
    stale = with_query(first, expires=expired, signature=sign(secret, "lfs-part", *fields))
    answer = request("PUT", stale, piece)
    assert answer.status == 403 and "expired" in answer.json()["error"]
    assert request("PUT", first, piece + b"x").status == 400  # Content-Length other than the part's size
    assert request("PUT", first, piece).status == 200  # the genuine link still works


def test_the_completion_checks_every_part_and_the_assembled_file(hub: Hub) -> None:
    content = os.urandom(2500)
    oid = hashlib.sha256(content).hexdigest()
    upload = batch(hub, content, ["basic", "multipart"])["objects"][0]["actions"]["upload"]
    parts = send_parts(upload, content)

    missing = complete(upload, oid, parts[:-1])
    assert missing.status == 400 and "parts 1 to 4" in missing.json()["error"]
    wrong_etag = complete(upload, oid, [*parts[:-1], {"partNumber": 4, "etag": '"0000"'}])
    assert wrong_etag.status == 400 and "Part 4: ETag" in wrong_etag.json()["error"]
    other_oid = complete(upload, "0" * 64, parts)
    assert other_oid.status == 400 and "this link is for" in other_oid.json()["error"]
    assert complete({"href": with_query(upload["href"], size=2499)}, oid, parts).status == 403
    assert not stored_object(hub.storage, content).exists()
    assert complete(upload, oid, parts).status == 200  # the failed attempts changed nothing


def test_parts_that_make_another_file_are_refused_and_nothing_is_kept(hub: Hub) -> None:
    content = os.urandom(2500)
    oid = hashlib.sha256(content).hexdigest()
    upload = batch(hub, content, ["basic", "multipart"])["objects"][0]["actions"]["upload"]
    forged = bytes([content[0] ^ 1]) + content[1:]  # same size, one bit off
    answer = complete(upload, oid, send_parts(upload, forged))
    assert answer.status == 400 and f"not the announced {oid}" in answer.json()["error"]
    assert not stored_object(hub.storage, content).exists() and not stored_object(hub.storage, forged).exists()
    assert list((hub.storage / "tmp" / "parts").iterdir()) == []
    verify = request(
        "POST",
        f"{hub.url}/{REPO}.git/info/lfs/objects/verify",
        json.dumps({"oid": oid, "size": 2500}).encode(),
        {"Authorization": f"Bearer {TOKEN}"},
    )
    assert verify.status == 404  # and the commit could not use it


def test_a_part_sent_again_replaces_the_earlier_copy(hub: Hub) -> None:
    content = os.urandom(2500)
    oid = hashlib.sha256(content).hexdigest()
    upload = batch(hub, content, ["basic", "multipart"])["objects"][0]["actions"]["upload"]
    first = part_urls(upload)[0]
    assert request("PUT", first, bytes(CHUNK)).status == 200  # wrong bytes, then the right ones (a resume)
    parts = send_parts(upload, content)
    assert complete(upload, oid, parts).status == 200
    assert stored_object(hub.storage, content).read_bytes() == content


def test_a_cut_part_upload_is_retried_and_a_failed_upload_restarts_cleanly(
    make_hub: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hub = make_hub("drop=100,count=1,route=PUT /api/lfs-upload/*/2")
    content = os.urandom(2500)
    operation = CommitOperationAdd(path_in_repo="w.bin", path_or_fileobj=content)
    commit = hub.api.create_commit(REPO, [operation], commit_message="after a cut")
    assert hub.api.repo_info(REPO).sha == commit.oid
    assert any("dropping the connection after 100" in r.getMessage() for r in caplog.records)
    assert stored_object(hub.storage, content).read_bytes() == content
    assert list((hub.storage / "tmp" / "parts").iterdir()) == []
    hub.server.stop()

    # A completion that fails (here: answered 400) keeps nothing; the next commit starts again from new links.
    hub = make_hub("status=400,count=1,route=POST /api/complete_multipart")
    again = os.urandom(2500)
    with pytest.raises(RuntimeError, match=r"Error while uploading 'again\.bin'") as caught:
        hub.api.create_commit(REPO, [CommitOperationAdd("again.bin", again)], commit_message="refused")
    assert isinstance(caught.value.__cause__, HfHubHTTPError)
    assert not stored_object(hub.storage, again).exists()
    hub.api.create_commit(REPO, [CommitOperationAdd("again.bin", again)], commit_message="restarted")
    assert stored_object(hub.storage, again).read_bytes() == again
    assert hub.api.list_repo_files(REPO) == [".gitattributes", "again.bin", "w.bin"]


# --------------------------------------------------------------------------------------------------
# Downloads through a signed redirect


def test_resolve_redirects_an_lfs_file_with_its_metadata_to_a_signed_link(hub: Hub) -> None:
    content = os.urandom(5000)
    commit = hub.api.create_commit(REPO, [CommitOperationAdd("w.bin", content)], commit_message="add")
    sha256 = hashlib.sha256(content).hexdigest()
    for method in ("HEAD", "GET"):
        answer = request(method, f"{hub.url}/{REPO}/resolve/main/w.bin")
        assert answer.status == 302
        assert answer.headers["x-repo-commit"] == commit.oid
        assert answer.headers["x-linked-etag"] == f'"{sha256}"' and answer.headers["x-linked-size"] == "5000"
        assert answer.headers["etag"].startswith('"') and answer.headers["etag"] != f'"{sha256}"'  # the pointer's
        location = answer.headers["location"]
        assert location.startswith(f"{hub.server.storage_url}/lfs-storage/{sha256}?")
    got = request("GET", location)  # no token: the link is the authority
    assert (got.status, got.headers["etag"], got.body) == (200, f'"{sha256}"', content)
    assert got.headers["x-content-type-options"] == "nosniff"
    ranged = request("GET", location, headers={"Range": "bytes=100-199"})
    assert (ranged.status, ranged.headers["content-range"]) == (206, "bytes 100-199/5000")
    assert ranged.body == content[100:200]
    assert request("HEAD", location).headers["content-length"] == "5000"
    assert request("GET", f"{hub.url}/{REPO}/resolve/main/.gitattributes").status == 200  # regular files in place


def test_an_altered_or_expired_download_link_is_refused(hub: Hub) -> None:
    content = os.urandom(3000)
    other = os.urandom(3000)
    hub.api.create_commit(
        REPO, [CommitOperationAdd("a.bin", content), CommitOperationAdd("b.bin", other)], commit_message="add"
    )
    location = request("HEAD", f"{hub.url}/{REPO}/resolve/main/a.bin").headers["location"]
    other_sha = hashlib.sha256(other).hexdigest()
    assert request("GET", location.replace(hashlib.sha256(content).hexdigest(), other_sha)).status == 403
    assert request("GET", with_query(location, expires=int(time.time()) + 10**6)).status == 403
    secret = HubStorage.open(hub.storage).secret
    expired = int(time.time()) - 1
    stale = with_query(location, expires=expired, signature=sign(secret, "lfs-download", other_sha, expired))
    stale = stale.replace(hashlib.sha256(content).hexdigest(), other_sha)
    answer = request("GET", stale)
    assert answer.status == 403 and "expired" in answer.json()["error"]
    assert request("GET", location).body == content


def test_a_private_file_is_redirected_only_for_its_readers(hub: Hub, tmp_path: Path) -> None:
    hub.api.create_repo("alice/secret", private=True)
    content = os.urandom(3000)
    hub.api.create_commit("alice/secret", [CommitOperationAdd("w.bin", content)], commit_message="add")
    anonymous = request("HEAD", f"{hub.url}/alice/secret/resolve/main/w.bin")
    assert anonymous.status == 404 and "location" not in anonymous.headers
    path = hf_hub_download("alice/secret", "w.bin", endpoint=hub.url, token=TOKEN, cache_dir=tmp_path / "c")
    assert Path(path).read_bytes() == content


def test_the_storage_origin_keeps_the_host_the_client_used() -> None:
    assert storage_base_url("http://127.0.0.1:8000", 9000) == "http://127.0.0.1:9000"
    assert storage_base_url("http://localhost:8000", 9000) == "http://localhost:9000"
    assert storage_base_url("http://[::1]:8000", 9000) == "http://[::1]:9000"


def test_hub_serve_names_a_bad_multipart_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from release.cli import main

    storage = tmp_path / "never"
    assert main(["hub", "serve", "--port", "0", "--storage", str(storage), "--multipart-threshold", "8MB"]) != 0
    assert "--multipart-threshold: '8MB' is not a size" in capsys.readouterr().err
    assert not storage.exists()
