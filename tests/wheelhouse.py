"""A local wheelhouse of tiny, real, valid wheels for offline pip-compile and pip install tests.

The wheels are built by hand (a zip file with ``METADATA``, ``WHEEL``, ``RECORD`` and one small
module), with fixed timestamps and permissions, so the same call always writes the same bytes:

- ``tinypkg 1.0`` requires ``tinydep>=1.0``;
- ``tinydep 1.0`` and ``tinydep 1.1`` (the highest one is what a fresh lock picks);
- ``otherpkg 2.0`` has no dependencies.

Use :func:`build_wheelhouse` directly, or the session-scoped :func:`wheelhouse` fixture. Import this
module as ``wheelhouse`` (``tests/`` has no ``__init__.py``; pytest puts ``tests/`` on ``sys.path``).
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

#: Every file in a wheel gets this timestamp (the earliest a zip file can hold).
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class TinyDistribution:
    """One wheel of the wheelhouse: a distribution name, a version and what it requires."""

    name: str
    version: str
    requires: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """``name==version``: how :func:`build_wheelhouse` names this wheel in its result."""
        return f"{self.name}=={self.version}"

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}-py3-none-any.whl"


DISTRIBUTIONS: tuple[TinyDistribution, ...] = (
    TinyDistribution("tinypkg", "1.0", requires=("tinydep>=1.0",)),
    TinyDistribution("tinydep", "1.0"),
    TinyDistribution("tinydep", "1.1"),
    TinyDistribution("otherpkg", "2.0"),
)


@dataclass(frozen=True)
class Wheelhouse:
    """A directory of wheels (give it to pip as ``--find-links``) and each wheel's path."""

    directory: Path
    wheels: Mapping[str, Path]  # "tinydep==1.1" -> .../tinydep-1.1-py3-none-any.whl

    def sha256(self, key: str) -> str:
        """The hex sha256 of one wheel file, as ``--hash=sha256:`` lines carry it."""
        return hashlib.sha256(self.wheels[key].read_bytes()).hexdigest()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return f"sha256={digest}"


def _wheel_files(dist: TinyDistribution) -> dict[str, bytes]:
    """The files of one wheel, ``RECORD`` last, as archive path -> content."""
    dist_info = f"{dist.name}-{dist.version}.dist-info"
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: {dist.name}",
        f"Version: {dist.version}",
        f"Summary: A tiny test distribution ({dist.key}).",
        *(f"Requires-Dist: {requirement}" for requirement in dist.requires),
    ]
    wheel = [
        "Wheel-Version: 1.0",
        "Generator: model-release-tests",
        "Root-Is-Purelib: true",
        "Tag: py3-none-any",
    ]
    module = f'"""{dist.name}: a tiny test module."""\n\n__version__ = "{dist.version}"\n'
    files = {
        f"{dist.name}/__init__.py": module.encode(),
        f"{dist_info}/METADATA": ("\n".join(metadata) + "\n").encode(),
        f"{dist_info}/WHEEL": ("\n".join(wheel) + "\n").encode(),
    }
    record_path = f"{dist_info}/RECORD"
    record = [f"{path},{_record_hash(data)},{len(data)}" for path, data in files.items()]
    record.append(f"{record_path},,")
    files[record_path] = ("\n".join(record) + "\n").encode()
    return files


def build_wheel(dist: TinyDistribution, dest: Path) -> Path:
    """Write one wheel into ``dest`` (same bytes on every call) and return its path."""
    path = dest / dist.filename
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in _wheel_files(dist).items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return path


def build_wheelhouse(dest: Path) -> dict[str, Path]:
    """Write every wheel of :data:`DISTRIBUTIONS` into ``dest``; return ``{"name==version": path}``."""
    dest.mkdir(parents=True, exist_ok=True)
    return {dist.key: build_wheel(dist, dest) for dist in DISTRIBUTIONS}


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Wheelhouse:
    """The tiny wheelhouse, built once per test session (read it, never write into it)."""
    directory = tmp_path_factory.mktemp("wheelhouse")
    return Wheelhouse(directory, build_wheelhouse(directory))
