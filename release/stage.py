"""The release tree: exactly the files that will be published, with a manifest of every one.

:func:`plan_stage` is pure: from the checksums, the card and the locks it computes a
:class:`StagePlan` (every file's path in the release, size, sha256 and where its bytes come from).
:func:`apply_stages` builds each tree beside its destination (hard links, or copies across file
systems) and renames them into place, so a failed run never leaves a half-built tree.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from release.atomic import replace_dir
from release.checksum import Manifest, ManifestEntry, check_relative_path, dumps_with_files, hash_file
from release.errors import StageError
from release.repo_paths import check_repo_paths
from release.verify import VerifySpec

RELEASE_MANIFEST = "release-manifest.json"
RELEASE_MANIFEST_FORMAT = "model-release.release-manifest/1"
CARD_PATH = "README.md"

#: How a staged tree holds files on disk: hard links (or copies), or symbolic links (a dry run's throwaway tree).
LinkMode = Literal["hard", "symbolic"]


@dataclass(frozen=True)
class SourceInfo:
    """The source tree a release was made from."""

    git_commit: str | None = None
    git_dirty: bool | None = None


@dataclass(frozen=True)
class DatasetRepoRef:
    """A dataset of the release published as a dataset repository of its own, at its tag."""

    repo_id: str
    tag: str
    commit: str | None = None  # the tagged commit: known once the dataset is published

    def to_json(self) -> dict[str, Any]:
        return {"repo_id": self.repo_id, "repo_type": "dataset", "tag": self.tag, "commit": self.commit}


@dataclass(frozen=True)
class DatasetSummary:
    name: str
    file_count: int
    total_size: int
    manifest: str  # release path of its JSON manifest
    checksums: str  # release path of its sha256sum file
    manifest_sha256: str
    included: bool  # the data itself ships in the release
    repo: DatasetRepoRef | None = None  # where it is published as a dataset repository of its own


@dataclass(frozen=True)
class SignatureRef:
    """The signature of a signed release (see ``release.signing``): named here, checked by verifying it.

    It cannot be among the manifest's files: it signs the manifest, so the manifest cannot hold its digest.
    """

    path: str  # model.sig
    method: str  # how it was signed: "key", "certificate" or "sigstore"

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "method": self.method}


@dataclass(frozen=True)
class ReleaseManifest:
    """``release-manifest.json``: what a release holds, for verification after upload and download."""

    repo_id: str
    repo_type: str
    version: str
    files: tuple[ManifestEntry, ...]
    datasets: tuple[DatasetSummary, ...] = ()
    source: SourceInfo = SourceInfo()
    verify: VerifySpec | None = None  # how the release proves itself ([verify]), with its published values
    signature: SignatureRef | None = None  # a signed release: its signature file, not among ``files``

    @property
    def tag(self) -> str:
        return f"v{self.version}"

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    def with_dataset_commits(self, commits: Mapping[str, str]) -> ReleaseManifest:
        """The manifest recording the commit of each published dataset (by dataset repo id) it names."""
        datasets = tuple(
            replace(d, repo=replace(d.repo, commit=commits[d.repo.repo_id]))
            if d.repo is not None and d.repo.repo_id in commits
            else d
            for d in self.datasets
        )
        return replace(self, datasets=datasets)

    def to_json(self) -> str:
        document = {
            "format": RELEASE_MANIFEST_FORMAT,
            "repo_id": self.repo_id,
            "repo_type": self.repo_type,
            "version": self.version,
            "tag": self.tag,
            "source": {"git_commit": self.source.git_commit, "git_dirty": self.source.git_dirty},
            "file_count": len(self.files),
            "total_size": self.total_size,
            "datasets": [
                {
                    "name": d.name,
                    "file_count": d.file_count,
                    "total_size": d.total_size,
                    "manifest": d.manifest,
                    "checksums": d.checksums,
                    "manifest_sha256": d.manifest_sha256,
                    "included": d.included,
                    **({"repo": d.repo.to_json()} if d.repo is not None else {}),
                }
                for d in self.datasets
            ],
        }
        if self.verify is not None:  # absent, not null: a release without [verify] keeps its bytes
            document["verify"] = self.verify.to_json()
        if self.signature is not None:  # absent, not null: an unsigned release keeps its bytes
            document["signature"] = self.signature.to_json()
        return dumps_with_files(document, self.files)

    @classmethod
    def from_json(cls, text: str, source: str) -> ReleaseManifest:
        try:
            document: Any = json.loads(text)
            if document.get("format") != RELEASE_MANIFEST_FORMAT:
                raise StageError(f"{source}: not a model-release release manifest")
            files = tuple(ManifestEntry(f["path"], int(f["size"]), f["sha256"]) for f in document["files"])
            datasets = tuple(_dataset_summary(d) for d in document.get("datasets", []))
            origin = document.get("source") or {}
            verify = document.get("verify")
            signature = document.get("signature")
            return cls(
                repo_id=document["repo_id"],
                repo_type=document["repo_type"],
                version=document["version"],
                files=files,
                datasets=datasets,
                source=SourceInfo(origin.get("git_commit"), origin.get("git_dirty")),
                verify=None if verify is None else VerifySpec.from_json(verify, f"{source}: verify"),
                signature=None if signature is None else SignatureRef(signature["path"], signature["method"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StageError(f"{source}: malformed release manifest ({exc})") from exc


def _dataset_summary(document: dict[str, Any]) -> DatasetSummary:
    repo = document.pop("repo", None)
    ref = DatasetRepoRef(repo["repo_id"], repo["tag"], repo.get("commit")) if repo is not None else None
    return DatasetSummary(**document, repo=ref)


@dataclass(frozen=True)
class StagedFile:
    """One file of the release: its path there, and where its bytes come from."""

    path: str
    size: int
    sha256: str
    origin: Path | bytes  # a file on disk (linked or copied), or generated content
    what: str  # for messages: "model file", "card", "lock", ...


@dataclass(frozen=True)
class StagePlan:
    dest: Path
    files: tuple[StagedFile, ...]
    manifest: ReleaseManifest


@dataclass(frozen=True)
class DatasetInput:
    """A dataset as the stage sees it: its manifest, its root, and whether the data ships."""

    manifest: Manifest
    root: Path
    include_data: bool
    path: str | None = None  # its release folder (manifests: <path>.json, <path>.sha256); None: datasets/<name>
    repo: DatasetRepoRef | None = None  # published as a dataset repository of its own


def generated(path: str, content: str | bytes, what: str) -> StagedFile:
    """A release file made in memory (card, manifests)."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    return StagedFile(path, len(data), hashlib.sha256(data).hexdigest(), data, what)


def from_disk(path: str, source: Path, what: str, entry: ManifestEntry | None = None) -> StagedFile:
    """A release file taken from disk; reuses a known digest instead of hashing again."""
    if entry is None:
        size, digest = hash_file(source)
    else:
        size, digest = entry.size, entry.sha256
    return StagedFile(path, size, digest, source, what)


def plan_stage(
    *,
    dest: Path,
    repo_id: str,
    repo_type: str,
    version: str,
    card: str,
    model: tuple[Manifest, Path] | None,
    datasets: Sequence[DatasetInput],
    locks: Mapping[str, Path],
    source: SourceInfo,
    extra: Mapping[str, str] | None = None,
    verify: VerifySpec | None = None,
    signature: SignatureRef | None = None,
) -> StagePlan:
    """Every file of the release and where it comes from. Pure but for hashing the small lock files.

    ``extra`` holds further generated text files by release path (the card's ``.eval_results/*.yaml``).
    """
    files: list[StagedFile] = [generated(CARD_PATH, card, f"{repo_type} card")]
    files += [generated(path, text, "evaluation results") for path, text in sorted((extra or {}).items())]
    if model is not None:
        manifest, root = model
        files += [from_disk(e.path, root / e.path, f"model file in {root}", e) for e in manifest.entries]
    for release_path, lock_path in sorted(locks.items()):
        files.append(from_disk(release_path, lock_path, "environment lock"))
    summaries = []
    for dataset in datasets:
        name = dataset.manifest.name or "dataset"
        folder = dataset.path or f"datasets/{name}"
        manifest_json = generated(f"{folder}.json", dataset.manifest.to_json(), f"manifest of dataset {name}")
        checksums = generated(f"{folder}.sha256", dataset.manifest.to_sha256sum(), f"checksums of dataset {name}")
        files += [manifest_json, checksums]
        if dataset.include_data:
            files += [
                from_disk(f"{folder}/{e.path}", dataset.root / e.path, f"data of dataset {name}", e)
                for e in dataset.manifest.entries
            ]
        summaries.append(
            DatasetSummary(
                name=name,
                file_count=len(dataset.manifest.entries),
                total_size=dataset.manifest.total_size,
                manifest=manifest_json.path,
                checksums=checksums.path,
                manifest_sha256=manifest_json.sha256,
                included=dataset.include_data,
                repo=dataset.repo,
            )
        )
    _check_paths(files)
    if signature is not None and any(f.path == signature.path for f in files):
        clash = next(f for f in files if f.path == signature.path)
        raise StageError(f"the {clash.what} would overwrite {signature.path}, the release's signature ([sign])")
    release_manifest = ReleaseManifest(
        repo_id=repo_id,
        repo_type=repo_type,
        version=version,
        files=tuple(sorted((ManifestEntry(f.path, f.size, f.sha256) for f in files), key=lambda e: e.path)),
        datasets=tuple(summaries),
        source=source,
        verify=verify,
        signature=signature,
    )
    files.append(generated(RELEASE_MANIFEST, release_manifest.to_json(), "release manifest"))
    return StagePlan(dest, tuple(sorted(files, key=lambda f: f.path)), release_manifest)


def apply_stages(
    plans: Sequence[StagePlan],
    inspect: Callable[[StagePlan, Path], object] | None = None,
    *,
    link: LinkMode = "hard",
) -> None:
    """Build every tree beside its destination and inspect each; only when all pass, rename them into place.

    A failure leaves every previous tree as it was, and no folder this call created. ``link``:
    files on disk are hard-linked (copied across file systems), or, for a dry run's throwaway trees,
    symbolically linked (nothing is copied).
    """
    created = [p for plan in plans for p in _missing_parents(plan.dest.parent)]
    built: list[tuple[StagePlan, Path]] = []
    try:
        for plan in plans:
            plan.dest.parent.mkdir(parents=True, exist_ok=True)
            building = Path(tempfile.mkdtemp(prefix=f".{plan.dest.name}.building-", dir=plan.dest.parent))
            built.append((plan, building))
            for staged in plan.files:
                target = building / staged.path
                target.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(staged.origin, bytes):
                    target.write_bytes(staged.origin)
                else:
                    _link_or_copy(staged, target, link)
            if inspect is not None:
                inspect(plan, building)
    except BaseException:
        for _plan, building in built:
            shutil.rmtree(building, ignore_errors=True)
        for folder in sorted(set(created), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty: never a folder someone else filled meanwhile
        raise
    for plan, building in built:
        replace_dir(building, plan.dest)


def _missing_parents(folder: Path) -> list[Path]:
    missing = []
    while not folder.exists() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    return missing


def read_release_manifest(staged_dir: Path) -> ReleaseManifest:
    path = staged_dir / RELEASE_MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise StageError(f"{staged_dir} has no {RELEASE_MANIFEST}: run the stage step first") from exc
    return ReleaseManifest.from_json(text, str(path))


def _link_or_copy(staged: StagedFile, target: Path, link: LinkMode = "hard") -> None:
    assert isinstance(staged.origin, Path)
    source = staged.origin
    try:
        stat = source.stat()
    except OSError as exc:
        raise StageError(f"{staged.what} {source} is gone: {exc.strerror}") from exc
    if stat.st_size != staged.size:
        raise StageError(
            f"{staged.what} {source} changed since it was hashed ({stat.st_size} bytes, expected {staged.size}); "
            "run the release again"
        )
    if link == "symbolic":
        os.symlink(source.absolute(), target)
        return
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _check_paths(files: Sequence[StagedFile]) -> None:
    check_repo_paths(
        ((f.path, f.what) for f in files),
        "Rename each file to a plain UTF-8 name without control characters, or leave it out of the release.",
    )
    seen: dict[str, StagedFile] = {}
    for staged in files:
        check_relative_path(staged.path)
        if staged.path == RELEASE_MANIFEST:
            raise StageError(f"{staged.what} would overwrite {RELEASE_MANIFEST}, which model-release writes")
        if staged.path in seen:
            other = seen[staged.path]
            raise StageError(
                f"two files would be released as {staged.path}: the {other.what} and the {staged.what}; "
                "exclude one of them (model.exclude in the config)"
            )
        seen[staged.path] = staged
    folders = {"/".join(p.split("/")[:i]) for p in seen for i in range(1, p.count("/") + 1)}
    clashes = sorted(folders & set(seen))
    if clashes:
        raise StageError(f"{clashes[0]} would be both a file and a folder in the release")
