"""The huggingface_hub sdist the project pins: found in uv.lock, downloaded, checked against its hash, extracted.

Nothing of the client's code is kept in this repository: the sdist is fetched at run time from the URL
uv.lock records and refused unless its SHA-256 is the one uv.lock records.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import tomllib
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from release.errors import ReleaseError

PACKAGE: Final = "huggingface-hub"
_CHUNK: Final = 1 << 20


class ConformanceError(ReleaseError):
    """The conformance harness cannot run: the lock, the sdist or the suite is not as expected."""


@dataclass(frozen=True)
class LockedSdist:
    """The sdist of one locked package, as uv.lock records it."""

    name: str
    version: str
    url: str
    sha256: str

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


def locked_sdist(lock_text: str, package: str = PACKAGE, *, lock_name: str = "uv.lock") -> LockedSdist:
    """The sdist of ``package`` that ``lock_text`` (a uv.lock) pins. Raises :class:`ConformanceError`."""
    try:
        packages: list[dict[str, Any]] = tomllib.loads(lock_text).get("package", [])
    except tomllib.TOMLDecodeError as exc:
        raise ConformanceError(f"{lock_name} is not valid TOML ({exc}): run `uv lock`") from exc
    found = [entry for entry in packages if entry.get("name") == package]
    if len(found) != 1:
        raise ConformanceError(
            f"{lock_name} locks {len(found)} versions of {package} (expected exactly one): "
            "pin it in pyproject.toml and run `uv lock`"
        )
    entry = found[0]
    sdist = entry.get("sdist")
    if not isinstance(sdist, dict) or "url" not in sdist or "hash" not in sdist:
        raise ConformanceError(
            f"{lock_name} records no sdist url and hash for {package} {entry.get('version')}: "
            "the conformance run needs the sdist (the wheel has no tests)"
        )
    algorithm, _, digest = str(sdist["hash"]).partition(":")
    if algorithm != "sha256" or len(digest) != 64:
        raise ConformanceError(f"{lock_name} records the {package} sdist's hash as {sdist['hash']!r}, not sha256:HEX")
    return LockedSdist(name=package, version=str(entry["version"]), url=str(sdist["url"]), sha256=digest.lower())


def check_sha256(path: Path, expected: str) -> None:
    """Raise :class:`ConformanceError` unless the file's SHA-256 is ``expected``."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        raise ConformanceError(
            f"{path.name} has SHA-256 {digest.hexdigest()}, but uv.lock records {expected}: refusing to run it "
            "(a tampered or different file; delete it and run again, or re-lock if the index changed)"
        )


def download(sdist: LockedSdist, directory: Path) -> Path:
    """Download ``sdist`` into ``directory`` (kept there if already present and intact) and check its hash."""
    target = directory / sdist.filename
    if target.exists():
        try:
            check_sha256(target, sdist.sha256)
            return target
        except ConformanceError:
            target.unlink()
    partial = target.with_name(target.name + ".part")
    if not sdist.url.startswith("https://"):
        raise ConformanceError(f"uv.lock records the {sdist.name} sdist at {sdist.url}: only https is fetched")
    try:
        with urllib.request.urlopen(sdist.url, timeout=60) as response, partial.open("wb") as out:  # noqa: S310 (https checked)
            shutil.copyfileobj(response, out, _CHUNK)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ConformanceError(f"Cannot download {sdist.url}: {exc}") from exc
    try:
        check_sha256(partial, sdist.sha256)
    except ConformanceError:
        partial.unlink()
        raise
    partial.replace(target)
    return target


def extract(archive: Path, directory: Path) -> Path:
    """Extract the sdist into ``directory``; return the suite's root (the folder holding ``tests/``)."""
    directory.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(directory, filter="data")
    roots = [path for path in directory.iterdir() if (path / "tests").is_dir()]
    if len(roots) != 1:
        raise ConformanceError(f"{archive.name} holds no single folder with tests/: is it huggingface_hub's sdist?")
    root = roots[0]
    # The sdist leaves out tests/__init__.py (the tests import their helpers relatively, `.testing_utils`)
    # and tests/conftest.py: our stand-in takes its place (see conformance/suite_conftest.py).
    (root / "tests" / "__init__.py").touch()
    if (root / "tests" / "conftest.py").exists():
        raise ConformanceError(f"{archive.name} ships tests/conftest.py: the stand-in would replace it; remove it")
    shutil.copyfile(Path(__file__).with_name("suite_conftest.py"), root / "tests" / "conftest.py")
    return root
