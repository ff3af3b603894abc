"""A real conda channel and a real PEP 503 pip index, built by the tests and served on 127.0.0.1.

The channel holds tiny but valid conda packages, written by hand with ``tarfile``, ``zipfile`` and
``zstandard`` (no conda, no conda-build), indexed with ``rattler.index.index_fs``:

- ``linux-64``: ``python 3.11.9`` and ``3.12.3`` (both need ``__glibc >=2.17,<3.0.a0``),
  ``numpy 1.26.4`` (py311) and ``numpy 2.0.0`` (py312), ``libzlib``, and ``cuda-only``, which needs
  ``__cuda >=12``;
- ``osx-arm64``: ``python 3.11.9`` (needs ``__osx >=11.0``), ``numpy 1.26.4``, ``libzlib``;
- ``win-64``: ``python 3.11.9``, ``numpy 1.26.4``;
- ``noarch``: ``pip 24.0`` (``noarch: python``) and ``tzdata`` (``noarch: generic``).

python and numpy are ``.conda`` files, the others ``.tar.bz2``, so both formats are exercised. Every
archive member has a fixed timestamp and owner, so the same call writes the same bytes.

The channel lives at ``<served root>/conda-forge/``, served over HTTP (so rattler checks each
package's sha256 when it downloads it): with ``channel_alias=<alias>`` an environment.yml that says
``conda-forge`` resolves to it. The pip index serves the wheels of :mod:`wheelhouse` at
``<url>/simple/<name>/``, each link with its ``#sha256=`` fragment, and comes with a local pip<->conda
name mapping (conda-lock's ``mapping_url`` format), so conda-lock's pip solver needs no network.

Session fixtures: :func:`conda_channel` and :func:`conda_pip_index`. Import this module as
``conda_channel`` (``tests/`` is on ``sys.path``).
"""

from __future__ import annotations

import asyncio
import bz2
import functools
import hashlib
import html
import io
import json
import shutil
import sys
import tarfile
import threading
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import zstandard
from rattler.index import index_fs
from wheelhouse import build_wheelhouse

#: Archive member times and package ``timestamp`` (milliseconds): 2024-01-01T00:00:00Z.
_EPOCH = 1_704_067_200
_ZIP_EPOCH = (2024, 1, 1, 0, 0, 0)

#: The channel's name under the served root: ``channel_alias`` + this is the channel URL.
CHANNEL_NAME = "conda-forge"

_GLIBC = "__glibc >=2.17,<3.0.a0"
_ZLIB = "libzlib >=1.3.1,<2.0a0"


@dataclass(frozen=True)
class CondaPackage:
    """One package of the test channel."""

    name: str
    version: str
    build: str
    subdir: str
    depends: tuple[str, ...] = ()
    fmt: str = ".tar.bz2"  # or ".conda"
    noarch: str | None = None  # "python" or "generic"
    files: Mapping[str, bytes] = field(default_factory=dict)  # payload: prefix-relative path -> content

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}-{self.build}{self.fmt}"

    @property
    def stem(self) -> str:
        return f"{self.name}-{self.version}-{self.build}"


def _python(version: str, subdir: str, build: str) -> CondaPackage:
    short = ".".join(version.split(".")[:2])
    if subdir.startswith("win"):
        depends: tuple[str, ...] = ("tzdata",)
        files = {"python.exe": f"python {version} for {subdir}\n".encode()}
    else:
        system = _GLIBC if subdir.startswith("linux") else "__osx >=11.0"
        depends = (system, _ZLIB, "tzdata")
        files = {f"bin/python{short}": f"#!/bin/sh\necho 'Python {version}'\n".encode()}
    return CondaPackage("python", version, build, subdir, depends, ".conda", files=files)


def _numpy(version: str, python: str, subdir: str, build: str) -> CondaPackage:
    major, minor = python.split(".")
    depends = [f"python >={python},<{major}.{int(minor) + 1}.0a0"]
    if not subdir.startswith("win"):
        depends.append(_ZLIB)
    site = "Lib/site-packages" if subdir.startswith("win") else f"lib/python{python}/site-packages"
    files = {f"{site}/numpy/__init__.py": f'__version__ = "{version}"\n'.encode()}
    return CondaPackage("numpy", version, build, subdir, tuple(depends), ".conda", files=files)


def _libzlib(subdir: str) -> CondaPackage:
    library = "lib/libz.dylib" if subdir.startswith("osx") else "lib/libz.so.1.3.1"
    return CondaPackage("libzlib", "1.3.1", "h4ab18f5_1", subdir, files={library: b"not really zlib\n"})


#: Every package of the test channel.
PACKAGES: tuple[CondaPackage, ...] = (
    _python("3.11.9", "linux-64", "hb806964_0_cpython"),
    _python("3.12.3", "linux-64", "hab00c5b_0_cpython"),
    _numpy("1.26.4", "3.11", "linux-64", "py311h64a7726_0"),
    _numpy("2.0.0", "3.12", "linux-64", "py312h22e1c76_0"),
    _libzlib("linux-64"),
    CondaPackage(
        "cuda-only",
        "1.0",
        "h0_0",
        "linux-64",
        ("__cuda >=12",),
        files={"share/cuda-only/README": b"needs CUDA 12\n"},
    ),
    _python("3.11.9", "osx-arm64", "h932a869_0_cpython"),
    _numpy("1.26.4", "3.11", "osx-arm64", "py311h7125741_0"),
    _libzlib("osx-arm64"),
    _python("3.11.9", "win-64", "h631f459_0_cpython"),
    _numpy("1.26.4", "3.11", "win-64", "py311h0b4df5a_0"),
    CondaPackage(
        "pip",
        "24.0",
        "pyhd8ed1ab_0",
        "noarch",
        ("python >=3.7",),
        noarch="python",
        files={"site-packages/pip/__init__.py": b'__version__ = "24.0"\n'},
    ),
    CondaPackage(
        "tzdata",
        "2024a",
        "h0c530f3_0",
        "noarch",
        noarch="generic",
        files={"share/zoneinfo/UTC": b"TZif2 UTC\n"},
    ),
)


def _index_json(package: CondaPackage) -> dict[str, Any]:
    index: dict[str, Any] = {
        "name": package.name,
        "version": package.version,
        "build": package.build,
        "build_number": int(package.build.rsplit("_", 1)[-1]) if package.build[-1].isdigit() else 0,
        "depends": list(package.depends),
        "license": "BSD-3-Clause",
        "subdir": package.subdir,
        "timestamp": _EPOCH * 1000,
    }
    if package.noarch is not None:
        index["noarch"] = package.noarch
    else:
        os_name, _, arch = package.subdir.partition("-")
        index["platform"] = {"osx": "osx", "linux": "linux", "win": "win"}[os_name]
        index["arch"] = {"64": "x86_64", "arm64": "arm64"}[arch]
    return index


def _info_files(package: CondaPackage) -> dict[str, bytes]:
    paths = [
        {
            "_path": path,
            "path_type": "hardlink",
            "sha256": hashlib.sha256(data).hexdigest(),
            "size_in_bytes": len(data),
        }
        for path, data in sorted(package.files.items())
    ]
    info = {
        "info/index.json": _json_bytes(_index_json(package)),
        "info/paths.json": _json_bytes({"paths": paths, "paths_version": 1}),
        "info/files": "".join(f"{path}\n" for path in sorted(package.files)).encode(),
    }
    if package.noarch == "python":
        info["info/link.json"] = _json_bytes(
            {"noarch": {"type": "python", "entry_points": []}, "package_metadata_version": 1}
        )
    return info


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()


def _tar_bytes(members: Mapping[str, bytes]) -> bytes:
    """An uncompressed tar of ``members`` (sorted, fixed owner and time)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in sorted(members.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = _EPOCH
            info.mode = 0o755 if name.startswith("bin/") else 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def build_package(package: CondaPackage, subdir_dir: Path) -> Path:
    """Write ``package`` into ``subdir_dir`` as a ``.tar.bz2`` or ``.conda`` file; return its path."""
    info = _info_files(package)
    payload = {f"{path}": data for path, data in package.files.items()}
    path = subdir_dir / package.filename
    if package.fmt == ".tar.bz2":
        path.write_bytes(bz2.compress(_tar_bytes({**info, **payload}), compresslevel=9))
        return path
    compressor = zstandard.ZstdCompressor(level=3)
    members = {
        "metadata.json": _json_bytes({"conda_pkg_format_version": 2}),
        f"pkg-{package.stem}.tar.zst": compressor.compress(_tar_bytes(payload)),
        f"info-{package.stem}.tar.zst": compressor.compress(_tar_bytes(info)),
    }
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members.items():  # metadata.json first, as conda writes it
            entry = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, data)
    return path


def build_channel(channel_dir: Path, packages: tuple[CondaPackage, ...] = PACKAGES) -> dict[str, Path]:
    """Write every package into ``channel_dir/<subdir>/`` and index the channel with rattler.

    Returns ``{"<subdir>/<filename>": path}``. ``noarch/`` always exists (a channel needs it).
    """
    (channel_dir / "noarch").mkdir(parents=True, exist_ok=True)
    built: dict[str, Path] = {}
    for package in packages:
        subdir_dir = channel_dir / package.subdir
        subdir_dir.mkdir(exist_ok=True)
        built[f"{package.subdir}/{package.filename}"] = build_package(package, subdir_dir)
    asyncio.run(index_fs(channel_dir, write_zst=False, write_shards=False))
    return built


class _QuietHandler(SimpleHTTPRequestHandler):
    # Keep-alive: with HTTP/1.0 the server closes every connection, and rattler's client, which
    # pools connections, sometimes retries on a closed one after a one-second back-off.
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-response (rattler cancelling a request it no longer needs)
        # is not an error of the server; anything else still is.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def serve_directory(root: Path) -> Iterator[str]:
    """Serve ``root`` over HTTP on 127.0.0.1 (a free port) in a daemon thread; yield its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"serve {root.name}", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass(frozen=True)
class CondaChannel:
    """The served test channel."""

    url: str  # "http://127.0.0.1:PORT/conda-forge" (no trailing slash)
    alias: str  # "http://127.0.0.1:PORT/": channel_alias that makes "conda-forge" resolve to ``url``
    root: Path  # the channel folder on disk (holds linux-64/, noarch/, ...)
    files: Mapping[str, Path]  # "linux-64/numpy-1.26.4-py311h64a7726_0.conda" -> path on disk

    def file(self, url: str) -> Path:
        """The file on disk that a package URL of this channel serves."""
        prefix = f"{self.url}/"
        if not url.startswith(prefix):
            raise ValueError(f"{url} is not a package of the test channel {self.url}")
        return self.files[url.removeprefix(prefix)]


@dataclass(frozen=True)
class CondaPipIndex:
    """The served PEP 503 index of the tiny wheels, and a pip<->conda name mapping for it."""

    url: str  # "http://127.0.0.1:PORT/simple" (for pip-repositories:)
    mapping: Path  # conda-lock mapping JSON (give it as CondaLockOptions.pypi_mapping)
    wheels: Mapping[str, Path]  # "tinydep==1.1" -> wheel file

    def sha256(self, key: str) -> str:
        return hashlib.sha256(self.wheels[key].read_bytes()).hexdigest()


#: pip name -> conda name, for the packages the tests use (conda-lock's mapping format).
_MAPPING = {
    name: {"conda_name": name, "conda_forge": name, "pypi_name": name}
    for name in ("pip", "numpy", "tzdata", "tinypkg", "tinydep", "otherpkg")
}


def build_pip_index(root: Path) -> tuple[Path, dict[str, Path]]:
    """A PEP 503 index under ``root/simple`` of :mod:`wheelhouse`'s wheels (in ``root/files``)."""
    wheels = build_wheelhouse(root / "files")
    by_project: dict[str, list[Path]] = {}
    for key, wheel in wheels.items():
        by_project.setdefault(key.partition("==")[0], []).append(wheel)
    simple = root / "simple"
    simple.mkdir(parents=True)
    links = "".join(f'<a href="{name}/">{name}</a>\n' for name in sorted(by_project))
    (simple / "index.html").write_text(f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n", encoding="utf-8")
    for name, files in by_project.items():
        (simple / name).mkdir()
        anchors = "".join(
            f'<a href="../../files/{html.escape(wheel.name)}#sha256={hashlib.sha256(wheel.read_bytes()).hexdigest()}">'
            f"{html.escape(wheel.name)}</a>\n"
            for wheel in sorted(files)
        )
        page = f"<!DOCTYPE html>\n<html><body>\n{anchors}</body></html>\n"
        (simple / name / "index.html").write_text(page, encoding="utf-8")
    return simple, wheels


@pytest.fixture(scope="session")
def conda_channel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CondaChannel]:
    """The test conda channel, served on 127.0.0.1 for the whole session (read it, never write)."""
    served = tmp_path_factory.mktemp("conda-channel")
    channel_dir = served / CHANNEL_NAME
    files = build_channel(channel_dir)
    with serve_directory(served) as base:
        yield CondaChannel(f"{base}/{CHANNEL_NAME}", f"{base}/", channel_dir, files)
    shutil.rmtree(served, ignore_errors=True)


@pytest.fixture(scope="session")
def conda_pip_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CondaPipIndex]:
    """A PEP 503 index of the tiny wheels on 127.0.0.1, with a local pip<->conda name mapping."""
    served = tmp_path_factory.mktemp("pip-index")
    _, wheels = build_pip_index(served)
    mapping = served / "pypi-mapping.json"
    mapping.write_bytes(_json_bytes(_MAPPING))
    with serve_directory(served) as base:
        yield CondaPipIndex(f"{base}/simple", mapping, wheels)
