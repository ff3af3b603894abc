"""The safety gate: what must not reach the Hub, found before anything is uploaded.

:func:`run_gate` checks the files of a planned release and returns every :class:`Finding`;
:func:`check_gate` raises :class:`~release.errors.UnsafeArtifactError` when any is an error.

Codes are stable; ``where`` says the line, tensor, shard or pickle global:

===============================  =======  =====================================================
code                             level    found when
===============================  =======  =====================================================
MR001 unreadable-file            error    a file cannot be read
MR101 safetensors-header         error    no 8-byte length, length past the end, not UTF-8 JSON
MR102 safetensors-entry          error    a tensor entry lacks dtype/shape/data_offsets, or repeats
MR103 safetensors-dtype          error    a dtype safetensors does not know
MR104 safetensors-shape          error    shape x dtype size differs from the byte length, or a
                                          dimension or product overflows 64 bits
MR105 safetensors-offsets        error    gaps, overlaps, data past the end or after the last tensor
MR106 safetensors-metadata       error    ``__metadata__`` is not strings to strings
MR201 shard-index                error    an index that is not JSON with a str->str weight_map
MR202 shard-missing              error    the index names a shard that is not in the release
MR203 shard-path                 error    a shard name that is absolute or leaves the index's folder
MR204 shard-tensor-unlisted      error    a shard's tensor is missing from weight_map
MR205 shard-tensor-duplicate     error    a tensor in two shards, or twice in weight_map
MR206 shard-tensor-misplaced     error    weight_map points at a shard that does not hold the tensor
MR207 shard-total-size           error    metadata.total_size differs from the tensors' bytes (warning
                                          when it is missing)
MR301 pickle-dangerous-global    error    a pickle would call os.system, eval, subprocess, ... on load
MR302 pickle-unknown-global      warning  a pickle imports something picklescan does not know is safe
MR303 pickle-allowed             warning  MR301, but the configuration allows that file, with a reason
MR304 pickle-unscannable         error    picklescan cannot read the file (broken zip, evasion, ...)
MR305 pickle-allow-unused        warning  an allow_pickles entry that covers nothing (no dangerous
                                          global, no Lambda layer)
MR401 secret                     error    a token, key, password or private key in a text file
                                          (UTF-8 or UTF-16) or in a safetensors ``__metadata__``
MR501 file-too-large             error    above the Hub's per-file limit (``max_file_size``)
MR502 file-large                 warning  above ``warn_size``: shard it
MR503 repo-many-files            warning  a repository of more than 100,000 files (the Hub's advice)
MR504 folder-many-entries        warning  a folder of more than 10,000 entries, files and folders
                                          (the Hub's advice; it rejects such a commit)
MR601 gguf-header                error    no GGUF magic, a version llama.cpp does not read, a
                                          header or tensor table cut short or malformed
MR602 gguf-tensor                error    a tensor of unknown type, misaligned, named twice, or
                                          whose data runs past the end of the file
MR701 onnx-model                 error    a .onnx file that is not protobuf an ONNX loader reads
MR702 onnx-external-path         error    a tensor's external data location is absolute or
                                          leaves the release tree (``..``), or is missing
MR703 onnx-external-missing      error    the file a tensor's external data names is not in the
                                          release
MR704 onnx-external-range        error    offset + length run past the end of that file
MR801 keras-lambda               error    a Keras model (.keras zip, .h5) holds a Lambda layer or
                                          Python lambda: bytecode run on load (a warning when
                                          allow_pickles allows that file, with a reason)
MR802 keras-config               error    a Keras zip without a readable config.json
MR803 keras-uninspected          warning  an HDF5 file, and no h5py to look for a Keras model in it
===============================  =======  =====================================================

Weights are checked by :mod:`release.checkpoint`: a safetensors file costs one header read.
Pickles are found by name or by content (:mod:`release.formats.sniff`); other formats are
checked by :mod:`release.formats`.

Secrets: every text file is scanned with detect-secrets' detectors (all but the entropy-only ones
and the public-IP one) plus three of ours: Hugging Face tokens, credentials in URLs, and
credential-named variables being assigned (``HF_TOKEN="..."``; unquoted too in ``.env`` files,
shell scripts and Dockerfiles). A hit names the file, the line and the kind of secret, never the
secret. A file is *text* unless its name or its first bytes mark it as weights (safetensors by
name; pickles, GGUF, Keras and ONNX models by name or content, see :mod:`release.formats.sniff`)
or its first 8,000 bytes are binary: they hold a NUL byte and are neither UTF-16 text nor UTF-8
text with a stray NUL (:mod:`release.formats.text`; NULs and other control characters then read
as spaces). A 10 GB safetensors file is never secret-scanned as text; its header's ``__metadata__``
values are.

Text is read in chunks of 4 MiB. Fast triggers (each detector's own expressions, or words its
expressions require) pick the lines a detector could match; only those lines go through that
detector and detect-secrets' false-positive filters. That finds what running every detector on
every line would, except that lines over 4,096 characters are only read within 1,024 characters of
a trigger.
"""

from __future__ import annotations

import bisect
import codecs
import fnmatch
import importlib.metadata
import logging
import os
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.core.potential_secret import PotentialSecret
from detect_secrets.filters.allowlist import is_line_allowlisted
from detect_secrets.filters.heuristic import (
    is_indirect_reference,
    is_likely_id_string,
    is_not_alphanumeric_string,
    is_potential_uuid,
    is_prefixed_with_dollar_sign,
    is_sequential_string,
    is_templated_secret,
)
from detect_secrets.plugins.base import BasePlugin, RegexBasedDetector
from detect_secrets.plugins.keyword import DENYLIST as KEYWORDS
from detect_secrets.plugins.keyword import KeywordDetector
from detect_secrets.util.code_snippet import CodeSnippet

from release.checkpoint import (
    SafetensorsHeader,
    check_pickle,
    check_safetensors,
    check_shard_index,
    is_safetensors,
    is_shard_index,
    unreadable,
)
from release.checksum import collect_files
from release.errors import ConfigError, Finding, Severity, UnsafeArtifactError, UsageError
from release.formats.gguf import check_gguf
from release.formats.keras import check_keras_h5, check_keras_zip
from release.formats.onnx import check_onnx
from release.formats.sniff import FileKind, sniff, sniff_bytes
from release.formats.text import blank_controls, text_encoding
from release.sizes import format_size

log = logging.getLogger(__name__)

#: The Hub's hard per-file limit for LFS files: "In all cases no single LFS file will be able to be
#: >50GB. I.e. 50GB is the hard limit for single file size." (Hub docs, "Repository limitations and
#: recommendations", huggingface.co/docs/hub/repositories-recommendations, "File size").
#: huggingface_hub 2.4 agrees: upload_file takes files "up to 50 GB", and files over
#: MAX_HTTP_DOWNLOAD_SIZE (50 GB) cannot be downloaded without Xet. Repositories on Xet storage
#: may hold more (the current storage-limits page says 500GB): raise ``max_file_size`` there.
HUB_MAX_FILE_SIZE = 50 * 10**9
#: The same page recommends "splitting them into chunks of around 5GB each".
DEFAULT_WARN_SIZE = 5 * 10**9
#: The same page's table: "Files per repo <100k: merge data into fewer files" and "Entries per folder
#: <10k: use subdirectories in repo". The Hub rejects a commit that leaves more than 10,000 files in a
#: directory ("Your push was rejected because it contains too many files per directory").
HUB_MAX_REPO_FILES = 100_000
HUB_MAX_FOLDER_ENTRIES = 10_000

__all__ = [
    "DEFAULT_WARN_SIZE",
    "HUB_MAX_FILE_SIZE",
    "HUB_MAX_FOLDER_ENTRIES",
    "HUB_MAX_REPO_FILES",
    "Finding",
    "GateConfig",
    "Severity",
    "check_gate",
    "collect_gate_files",
    "format_finding",
    "run_gate",
]


@dataclass(frozen=True)
class GateConfig:
    """What the gate accepts beyond its defaults."""

    allow_pickles: Mapping[str, str] = field(default_factory=dict)  # release path -> stated reason
    warn_size: int = DEFAULT_WARN_SIZE  # above this, a warning recommends sharding
    max_file_size: int = HUB_MAX_FILE_SIZE  # above this, the file is refused
    # Release paths not secret-scanned: fnmatch patterns, where "*" also crosses folders ("data/*").
    secret_exclude: tuple[str, ...] = ()
    max_repo_files: int = HUB_MAX_REPO_FILES  # above this, a warning recommends fewer, larger files
    max_folder_entries: int = HUB_MAX_FOLDER_ENTRIES  # above this, a warning recommends subfolders

    def __post_init__(self) -> None:
        for path, reason in self.allow_pickles.items():
            if not isinstance(reason, str) or not reason.strip():
                raise ConfigError(f"allow_pickles[{path!r}] needs a stated reason: why is this pickle safe to ship?")
        if self.warn_size <= 0 or self.max_file_size <= 0:
            raise ConfigError("warn_size and max_file_size must be positive byte counts")
        object.__setattr__(self, "allow_pickles", MappingProxyType(dict(sorted(self.allow_pickles.items()))))
        object.__setattr__(self, "secret_exclude", tuple(self.secret_exclude))


def run_gate(files: Sequence[tuple[str, Path]], config: GateConfig) -> list[Finding]:
    """Every finding for the files of a planned release, as (release path, file on disk) pairs.

    Sorted by path, code and place. Reads safetensors headers, pickles' opcodes and text files;
    never loads a tensor or unpickles anything. Unreadable files become MR001 findings.
    """
    ordered = sorted(files, key=lambda item: item[0])
    scan = _Scan(config, _SecretScanner.create())
    for release_path, path in ordered:
        scan.check_file(release_path, path)
    scan.flush_texts()
    scan.check_indexes()
    scan.check_onnx(dict(ordered))
    present = {release_path for release_path, _ in ordered}
    findings = scan.findings + _unused_allowances(config, scan.allowed_used, present)
    findings += check_hub_layout(present, config.max_repo_files, config.max_folder_entries)
    result = _limit(sorted(findings, key=_sort_key))
    errors = sum(1 for f in result if f.severity == "error")
    log.info(
        "safety gate: %d file(s), %d text file(s) secret-scanned: %d error(s), %d warning(s)",
        len(ordered),
        scan.scanned_text,
        errors,
        len(result) - errors,
    )
    return result


class _Scan:
    """One run of the gate: what it has found so far, file by file."""

    def __init__(self, config: GateConfig, scanner: _SecretScanner) -> None:
        self.config = config
        self.scanner = scanner
        self.findings: list[Finding] = []
        self.headers: dict[str, SafetensorsHeader | None] = {}  # of the safetensors files, for shard indexes
        self.indexes: list[tuple[str, Path]] = []  # shard indexes, checked once every header is known
        self.onnx: list[tuple[str, Path]] = []  # ONNX models, checked against the release's files
        self.allowed_used: set[str] = set()  # allow_pickles entries that covered a dangerous pickle or Lambda
        self.scanned_text = 0
        self.texts: list[tuple[str, str]] = []  # small text files read whole, scanned together (flush_texts)
        self.text_chars = 0

    def check_file(self, release_path: str, path: Path) -> None:
        """Size, then by kind: safetensors header, pickle opcodes, or secrets in text."""
        try:
            size = path.stat().st_size
        except OSError as exc:
            self.findings.append(unreadable(release_path, exc))
            return
        self.findings += _check_size(release_path, size, self.config)
        if is_safetensors(release_path):
            header, problems = check_safetensors(release_path, path)
            self.headers[release_path] = header
            self.findings += problems
            if header is not None and header.metadata:
                self._scan_metadata(release_path, header.metadata)
            return
        try:
            data = path.read_bytes() if size <= _SMALL_FILE_BYTES else None  # one read serves sniff and scan
            known = sniff_bytes(release_path, data) if data is not None else None
            kind = known or sniff(release_path, path)
        except OSError as exc:
            self.findings.append(unreadable(release_path, exc))
            return
        if data is not None and kind == "other":
            if is_shard_index(release_path):
                self.indexes.append((release_path, path))
            self._add_text(release_path, data)
            return
        if kind == "onnx":
            self.onnx.append((release_path, path))  # checked once every file of the release is known
        elif kind == "other":
            if is_shard_index(release_path):
                self.indexes.append((release_path, path))
            self._scan_text(release_path, path)
        else:
            self._check_weights(kind, release_path, path)

    def _check_weights(self, kind: FileKind, release_path: str, path: Path) -> None:
        """Pickles, GGUF and Keras models; a file allowed in allow_pickles turns its code findings into warnings."""
        allowed = self.config.allow_pickles.get(release_path)
        if kind == "pickle":
            problems = check_pickle(release_path, path, allowed)
        elif kind == "gguf":
            problems = check_gguf(release_path, path)
        elif kind == "keras":
            problems = check_keras_zip(release_path, path, allowed)
        else:
            problems = check_keras_h5(release_path, path, allowed)
        if any(f.code.startswith(("MR303", "MR801")) and f.severity == "warning" for f in problems):
            self.allowed_used.add(release_path)
        self.findings += problems

    def _scan_text(self, release_path: str, path: Path) -> None:
        if any(fnmatch.fnmatchcase(release_path, pattern) for pattern in self.config.secret_exclude):
            return
        try:
            hits = self.scanner.scan_file(release_path, path)
        except OSError as exc:
            self.findings.append(unreadable(release_path, exc))
            return
        if hits is not None:
            self.scanned_text += 1
            self.findings += [_secret_finding(release_path, line, kinds) for line, kinds in sorted(hits.items())]

    def _add_text(self, release_path: str, data: bytes) -> None:
        """A small file read whole: decoded as :meth:`_SecretScanner.scan_file` would, and kept for one scan of many."""
        if any(fnmatch.fnmatchcase(release_path, pattern) for pattern in self.config.secret_exclude):
            return
        encoding = text_encoding(data[:_SNIFF_BYTES])
        if encoding is None:
            return  # binary: not text to scan
        text = blank_controls(codecs.getincrementaldecoder(encoding)(errors="replace").decode(data, final=True))
        self.scanned_text += 1
        self.texts.append((release_path, text))
        self.text_chars += len(text)
        if self.text_chars >= _BATCH_CHARS:
            self.flush_texts()

    def flush_texts(self) -> None:
        """Scan the small text files kept so far, together (:meth:`_SecretScanner.scan_texts`)."""
        for release_path, hits in self.scanner.scan_texts(self.texts).items():
            self.findings += [_secret_finding(release_path, line, kinds) for line, kinds in sorted(hits.items())]
        self.texts, self.text_chars = [], 0

    def _scan_metadata(self, release_path: str, metadata: Mapping[str, str]) -> None:
        """The text of a safetensors file: its ``__metadata__``, each entry read as ``key = "value"``."""
        if any(fnmatch.fnmatchcase(release_path, pattern) for pattern in self.config.secret_exclude):
            return
        for key, value in sorted(metadata.items()):
            kinds = set().union(*self.scanner.scan_text(release_path, f'{key} = "{value}"\n').values())
            if kinds:
                message = f"holds what looks like a secret ({', '.join(sorted(kinds))}) in its metadata; not shown"
                self.findings.append(
                    Finding("MR401 secret", "error", release_path, f"__metadata__ {key!r}", message, _LEAK_FIX)
                )

    def check_indexes(self) -> None:
        """Each shard index against the headers of the safetensors files it names."""
        for release_path, path in self.indexes:
            try:
                raw = _read_index(path)
            except OSError as exc:
                self.findings.append(unreadable(release_path, exc))
                continue
            self.findings += check_shard_index(release_path, raw, self.headers)

    def check_onnx(self, release: Mapping[str, Path]) -> None:
        """Each ONNX model's external data against the files of the release."""
        for release_path, path in self.onnx:
            self.findings += check_onnx(release_path, path, release)


def _unused_allowances(config: GateConfig, used: set[str], present: set[str]) -> list[Finding]:
    """An MR305 warning for each allow_pickles entry that covered nothing."""
    return [
        Finding(
            code="MR305 pickle-allow-unused",
            severity="warning",
            path=release_path,
            where="allow_pickles",
            message=f"is allowed as a pickle ({reason}) but "
            + ("is not in the release" if release_path not in present else "has no dangerous global or Lambda layer"),
            fix="Remove the entry from allow_pickles so it cannot cover a different file later.",
        )
        for release_path, reason in config.allow_pickles.items()
        if release_path not in used
    ]


def check_hub_layout(
    paths: Iterable[str], max_files: int = HUB_MAX_REPO_FILES, max_entries: int = HUB_MAX_FOLDER_ENTRIES
) -> list[Finding]:
    """Warnings for a repository tree (its release paths) past the Hub's advice on file and folder counts. Pure.

    One MR503 for the tree when it holds more than ``max_files`` files; one MR504 for each folder
    holding more than ``max_entries`` entries (its files and subfolders; the root is ``/``).
    """
    entries: dict[str, set[str]] = {}
    count = 0
    for path in paths:
        count += 1
        folder, _, name = path.rpartition("/")
        while True:
            known = folder in entries
            entries.setdefault(folder, set()).add(name)
            if known or not folder:
                break
            folder, _, name = folder.rpartition("/")
    findings = []
    if count > max_files:
        findings.append(
            Finding(
                "MR503 repo-many-files",
                "warning",
                "/",
                f"{count:,} files",
                f"the release holds {count:,} files; the Hub recommends fewer than {max_files:,} per repository "
                "(listings, downloads and the web view slow down with every file)",
                "merge the data into fewer, larger files: Parquet files, or WebDataset .tar shards of many samples",
            )
        )
    for folder, names in sorted(entries.items()):
        if len(names) > max_entries:
            where = f"{folder}/" if folder else "/"
            findings.append(
                Finding(
                    "MR504 folder-many-entries",
                    "warning",
                    where,
                    f"{len(names):,} entries",
                    f"the folder {where} holds {len(names):,} entries; the Hub rejects a commit that leaves "
                    f"more than {max_entries:,} in one folder",
                    "spread its files over subfolders of fewer entries each (e.g. data/0000/ ... data/0099/), "
                    "or shard them into fewer files (Parquet, WebDataset .tar)",
                )
            )
    return findings


def check_gate(findings: Iterable[Finding]) -> None:
    """Raise :class:`UnsafeArtifactError` listing every error finding (code, file, place, message, fix)."""
    collected = list(findings)
    errors = [f for f in collected if f.severity == "error"]
    if not errors:
        return
    warnings = len(collected) - len(errors)
    lines = [
        f"the safety gate blocks this release: {len(errors)} error(s)"
        + (f", {warnings} warning(s)" if warnings else "")
    ]
    lines += [format_finding(finding, indent="  ") for finding in errors]
    raise UnsafeArtifactError("\n".join(lines), errors)


def format_finding(finding: Finding, *, severity: bool = False, indent: str = "") -> str:
    """A finding as people read it: ``CODE  PATH (WHERE): MESSAGE``, then its fix on a line of its own.

    The one way a finding is shown: in the gate's error, in ``check``'s report and in the stage's
    warnings. ``severity`` puts ``ERROR``/``WARNING`` in front; ``indent`` goes before both lines,
    and the fix is indented four more than the code.
    """
    where = f" ({finding.where})" if finding.where else ""
    level = f"{finding.severity.upper():<7} " if severity else ""
    fix_indent = indent + " " * (len(level) + 4)
    return f"{indent}{level}{finding.code}  {finding.path}{where}: {finding.message}\n{fix_indent}fix: {finding.fix}"


def collect_gate_files(paths: Sequence[Path], base: Path) -> list[tuple[str, Path]]:
    """(release path, file) pairs for ``check PATH...``: folders contribute every file below them.

    Release paths are POSIX paths relative to ``base`` (absolute when outside it), so a shard
    index and its shards keep their relative layout. Symlinks leading out of a folder are refused
    as in :func:`release.checksum.collect_files`.
    """
    found: dict[str, Path] = {}
    resolved_base = base.resolve()
    for given in paths:
        absolute = given if given.is_absolute() else base / given
        if absolute.is_dir():
            # The folder is resolved once: below it, only a symlinked file resolves elsewhere (folders
            # are not followed), so each other file's release path is the folder's joined with its own.
            folder = _gate_path(absolute, resolved_base)
            folder = "" if folder == "." else f"{folder}/"
            for relative, path in collect_files(absolute):
                found[_gate_path(path, resolved_base) if os.path.islink(path) else folder + relative] = path
        elif absolute.is_file():
            found[_gate_path(absolute, resolved_base)] = absolute
        else:
            raise UsageError(f"{given}: no such file or folder")
    return sorted(found.items())


# --- size --------------------------------------------------------------------------------------


def _check_size(release_path: str, size: int, config: GateConfig) -> list[Finding]:
    shard_fix = (
        "Split it into shards below the warning size: save_pretrained(max_shard_size=...) or "
        "huggingface_hub.split_torch_state_dict_into_shards for weights; several files for data."
    )
    where = format_size(size)
    if size > config.max_file_size:
        message = f"is {size:,} bytes, above the Hub's per-file limit of {config.max_file_size:,} bytes"
        return [Finding("MR501 file-too-large", "error", release_path, where, message, shard_fix)]
    if size > config.warn_size:
        message = f"is {size:,} bytes, above {config.warn_size:,}: large files upload and download less reliably"
        return [Finding("MR502 file-large", "warning", release_path, where, message, shard_fix)]
    return []


# --- secrets -----------------------------------------------------------------------------------


class HuggingFaceTokenDetector(RegexBasedDetector):
    """Hugging Face user access tokens (``hf_`` + 34 characters) and old organisation tokens."""

    secret_type = "Hugging Face Token"  # noqa: S105 (a label, not a password)
    # The literal comes first (then a look-behind for what precedes it): Python's regex engine
    # scans for a leading literal quickly.
    denylist: ClassVar[tuple[re.Pattern[str], ...]] = (
        re.compile(r"hf_(?<![A-Za-z0-9]hf_)[A-Za-z0-9]{30,}"),
        re.compile(r"api_org_(?<![A-Za-z0-9]api_org_)[A-Za-z0-9]{30,}"),
    )


class UrlCredentialDetector(RegexBasedDetector):
    """A password in a URL, ``scheme://user:password@host``, also with an empty user name.

    detect-secrets' BasicAuthDetector requires a user name; git remotes often carry
    ``https://:TOKEN@host``. Quantifiers are bounded so that a long line costs linear time.
    """

    secret_type = "Credentials in URL"  # noqa: S105 (a label, not a password)
    denylist: ClassVar[tuple[re.Pattern[str], ...]] = (
        re.compile(r"[A-Za-z][A-Za-z0-9+.\-]{0,31}://[^\s/?#@:'\"<>]{0,256}:([^\s/?#@'\"<>]{1,256})@"),
    )
    # the same from "://" on: led by a literal, so it scans fast; it matches wherever the above does
    prefilter: ClassVar[tuple[re.Pattern[str], ...]] = (
        re.compile(r"://[^\s/?#@:'\"<>]{0,256}:[^\s/?#@'\"<>]{1,256}@"),
    )


# An upper-case variable whose name ends like a credential, being assigned: `export HF_TOKEN=`.
_CREDENTIAL_NAME = (
    r"^\s*(?:export\s+|ENV\s+|ARG\s+)?[A-Z][A-Z0-9_]*"
    r"(?:PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|APIKEY|ACCESS_KEY|PRIVATE_KEY|AUTH_KEY|CREDENTIALS)\s*=\s*"
)


class CredentialAssignmentDetector(RegexBasedDetector):
    """A quoted value given to a credential-named variable, in any file: ``API_TOKEN = "..."``."""

    secret_type = "Credential assignment"  # noqa: S105 (a label, not a password)
    denylist: ClassVar[tuple[re.Pattern[str], ...]] = (
        re.compile(_CREDENTIAL_NAME + r"[\"']([A-Za-z0-9][^\s\"']{5,})[\"']"),
    )


class EnvFileCredentialDetector(RegexBasedDetector):
    """An unquoted value given to a credential-named variable in ``.env`` files, shell scripts and
    Dockerfiles: ``HF_TOKEN=hf_...``, ``AWS_SECRET_ACCESS_KEY=...``.

    detect-secrets' keyword detector takes unquoted values only in YAML and config files. In code,
    an unquoted value (``TOKEN = tokenizer.eos_token``) is a reference, not a secret.
    """

    secret_type = "Credential assignment"  # noqa: S105 (a label, not a password)
    denylist: ClassVar[tuple[re.Pattern[str], ...]] = (re.compile(_CREDENTIAL_NAME + r"([A-Za-z0-9][^\s\"'#]{5,})"),)

    def analyze_line(
        self,
        filename: str,
        line: str,
        line_number: int = 0,
        context: CodeSnippet | None = None,
        **kwargs: Any,
    ) -> set[PotentialSecret]:
        if not _is_env_like(filename):
            return set()
        snippet = context if context is not None else CodeSnippet(snippet=[line], start_line=0, target_index=0)
        return super().analyze_line(filename, line, line_number, snippet, **kwargs)


def _is_env_like(filename: str) -> bool:
    name = posixpath.basename(filename)
    return (
        name in (".env", ".envrc", "Dockerfile", "Containerfile")
        or name.startswith((".env.", "Dockerfile."))
        or name.endswith((".env", ".sh", ".bash", ".zsh"))
    )


#: detect-secrets detectors left out: entropy-only ones flag hashes, vocabularies and tokenizer
#: merges by the thousand; a public IP address is not a secret.
_EXCLUDED_DETECTORS = frozenset({"Base64HighEntropyString", "HexHighEntropyString", "IPPublicDetector"})
_OWN_DETECTORS: tuple[type[BasePlugin], ...] = (
    HuggingFaceTokenDetector,
    UrlCredentialDetector,
    CredentialAssignmentDetector,
    EnvFileCredentialDetector,
)
_ASSIGNMENT_DETECTORS = (CredentialAssignmentDetector, EnvFileCredentialDetector)
# Fast triggers for detect-secrets 1.5.0 detectors whose own expressions scan slowly (case-
# insensitive alternatives, or led by a look-behind). Each matches wherever one of the detector's
# expressions does (read from that version's source; (True, ...): on case-folded text). The IBM,
# Cloudant and SoftLayer expressions are `<name><keyword>["']?]? *<assignment>...`, where the
# assignment starts with "=", ":" or a space. Another version falls back to their own expressions.
_ANCHORED_VERSION = "1.5.0"
_ASSIGNED = r"""["']?\]? *[=: ]"""
_ANCHORS: Mapping[str, tuple[bool, str]] = {
    "IbmCloudIamDetector": (True, rf"(?:key|pwd|password|pass|token){_ASSIGNED}"),
    "IbmCosHmacDetector": (True, rf"key{_ASSIGNED}"),
    "CloudantDetector": (True, rf"(?:key|pwd|pw|password|pass|token){_ASSIGNED}|cloudant"),
    "SoftlayerDetector": (True, rf"(?:key|pwd|password|pass|token){_ASSIGNED}|softlayer"),
    "ArtifactoryDetector": (False, "AKC|AP"),
    "MailchimpDetector": (False, "-us"),
}
_SNIFF_BYTES = 8000
_CHUNK_BYTES = 4 << 20
#: Files up to this size are read once, whole, and secret-scanned together, about this many characters at a time.
_SMALL_FILE_BYTES = 64 << 10
_BATCH_CHARS = 1 << 20
_LONG_LINE_OVERLAP = 4096
_LONG_LINE = 4096  # longer lines are analysed in windows around their trigger matches
_WINDOW = 1024
_LEAK_FIX = (
    "Remove the credential from the file and revoke it now (treat it as leaked: it may be in git "
    "history or caches); read it from the environment at run time instead. A false positive can be "
    "marked on its line with a '# pragma: allowlist secret' comment or excluded with secret_exclude."
)


@dataclass(frozen=True)
class _Detector:
    plugin: BasePlugin
    triggers: tuple[re.Pattern[str], ...]  # a line can only match if one of these matches in it
    folded: bool  # the triggers apply to case-folded text
    keyword_style: bool  # the secret is whatever is assigned to a name: filter indirect references
    # Per trigger, strings one of which every match contains (None: not known). A chunk holding none
    # of them cannot match, and `in` runs at GB/s where each regex crawls at ~40 MB/s.
    literals: tuple[tuple[str, ...] | None, ...] = field(init=False)
    ignore_case: tuple[bool, ...] = field(init=False)  # per trigger (flags are an enum: slow to test per file)

    def __post_init__(self) -> None:
        object.__setattr__(self, "literals", tuple(_required_literals(t) for t in self.triggers))
        object.__setattr__(self, "ignore_case", tuple(bool(t.flags & re.IGNORECASE) for t in self.triggers))


def _required_literals(pattern: re.Pattern[str]) -> tuple[str, ...] | None:
    """Strings one of which is in every text ``pattern`` matches, read from its parse tree; None if unknown.

    Lower-cased when the pattern ignores case. Only what must match counts: a run of literal
    characters, a group (not one that changes flags), a branch whose every alternative has one, a
    repeat of at least one. A literal that contains another is dropped (the shorter one implies it).
    Any doubt, including a Python whose ``re`` parser differs, gives None: the regex then always runs.
    """
    try:
        from re import _constants as sre  # type: ignore[attr-defined]
        from re import _parser as parser  # type: ignore[attr-defined]

        found = _required_in(list(parser.parse(pattern.pattern, pattern.flags)), sre)
    except Exception:  # a private module's API: never let it break the scan
        return None
    if not found:
        return None
    if pattern.flags & re.IGNORECASE:
        found = tuple(literal.lower() for literal in found)
    return tuple(sorted({a for a in found if not any(b != a and b in a for b in found)}))


def _required_in(sequence: list[tuple[Any, Any]], sre: Any) -> tuple[str, ...] | None:
    candidates: list[tuple[str, ...]] = []
    run: list[str] = []
    for op, value in [*sequence, (None, None)]:
        if op is sre.LITERAL:
            run.append(chr(value))
            continue
        if run:
            candidates.append(("".join(run),))
            run = []
        required: tuple[str, ...] | None = None
        if op is sre.SUBPATTERN and not value[1] and not value[2]:  # (group, add_flags, del_flags, pattern)
            required = _required_in(list(value[3]), sre)
        elif op is sre.BRANCH:
            alternatives = [_required_in(list(branch), sre) for branch in value[1]]
            if all(alternatives):
                required = tuple(literal for alternative in alternatives if alternative for literal in alternative)
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT) and value[0] >= 1:
            required = _required_in(list(value[2]), sre)
        elif op is sre.ATOMIC_GROUP:
            required = _required_in(list(value), sre)
        if required:
            candidates.append(required)
    return max(candidates, key=lambda literals: min(map(len, literals)), default=None)


@dataclass(frozen=True)
class _SecretScanner:
    detectors: tuple[_Detector, ...]

    @classmethod
    def create(cls) -> _SecretScanner:
        mapping: Mapping[str, type[BasePlugin]] = get_mapping_from_secret_type_to_class()
        classes = sorted(
            (plugin for plugin in mapping.values() if plugin.__name__ not in _EXCLUDED_DETECTORS),
            key=lambda plugin: plugin.__name__,
        )
        anchors = _ANCHORS if importlib.metadata.version("detect-secrets") == _ANCHORED_VERSION else {}
        detectors = []
        for plugin_class in (*classes, *_OWN_DETECTORS):
            plugin = plugin_class()
            keyword_style = plugin_class in _ASSIGNMENT_DETECTORS
            if isinstance(plugin, KeywordDetector):
                keywords = "|".join(KEYWORDS)  # lower-case words ("api_?key"): exact on case-folded text
                detectors.append(_Detector(plugin, (re.compile(keywords),), folded=True, keyword_style=True))
            elif plugin_class.__name__ in anchors:
                folded, anchor = anchors[plugin_class.__name__]
                detectors.append(_Detector(plugin, (re.compile(anchor),), folded=folded, keyword_style=keyword_style))
            elif isinstance(plugin, RegexBasedDetector):
                patterns = getattr(plugin, "prefilter", plugin.denylist)
                triggers = tuple(re.compile(p.pattern, p.flags | re.MULTILINE) for p in patterns)
                detectors.append(_Detector(plugin, triggers, folded=False, keyword_style=keyword_style))
            else:  # no known prefilter: every line goes through it
                detectors.append(_Detector(plugin, (), folded=False, keyword_style=True))
        return cls(tuple(detectors))

    def scan_file(self, release_path: str, path: Path) -> dict[int, set[str]] | None:
        """{line number: kinds of secret} for a text file; None when the file is binary."""
        found: dict[int, set[str]] = {}
        with path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
            encoding = text_encoding(head)
            if encoding is None:
                return None
            decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
            pending, line_number, previous = "", 1, ""
            while True:
                block, head = head + handle.read(_CHUNK_BYTES - len(head)), b""
                text = pending + blank_controls(decoder.decode(block, final=not block))
                if not block:
                    chunk, pending = text, ""
                elif (cut := text.rfind("\n") + 1) > 0:
                    chunk, pending = text[:cut], text[cut:]
                elif len(text) < _CHUNK_BYTES:
                    pending = text
                    continue
                else:  # one line longer than a chunk: scan it in overlapping pieces
                    chunk, pending = text, text[-_LONG_LINE_OVERLAP:]
                if chunk:
                    for number, kinds in self._scan_chunk(release_path, chunk, line_number, previous).items():
                        found.setdefault(number, set()).update(kinds)
                line_number += chunk.count("\n")
                previous = _last_line(chunk, previous)
                if not block:
                    return found

    def scan_texts(self, texts: Sequence[tuple[str, str]]) -> dict[str, dict[int, set[str]]]:
        """{release path: what :meth:`scan_file` finds} for many small decoded texts, scanned together.

        The detectors' triggers run once over the texts joined by newlines; only a text with a line a
        trigger touches is then scanned alone, exactly as :meth:`scan_file` scans it. A trigger that
        matches in a text alone matches in the joined texts too (a newline stands where each text
        begins and ends), so nothing is missed; most files of a dataset hold no trigger at all and
        cost no work of their own.
        """
        if not texts:
            return {}
        starts, offset = [], 0
        for _, text in texts:
            starts.append(offset)
            offset += len(text) + 1
        joined = "\n".join(text for _, text in texts)
        touched = sorted({bisect.bisect_right(starts, line) - 1 for line in self._candidate_lines(joined)})
        found = {}
        for index in touched:
            release_path, text = texts[index]
            if hits := self._scan_chunk(release_path, text, 1, ""):
                found[release_path] = hits
        return found

    def scan_text(self, release_path: str, text: str) -> dict[int, set[str]]:
        """{line number: kinds of secret} for text held in memory (a header's metadata)."""
        return self._scan_chunk(release_path, blank_controls(text), 1, "")

    def _scan_chunk(self, filename: str, chunk: str, first_line: int, previous: str) -> dict[int, set[str]]:
        found: dict[int, set[str]] = {}
        counted, number = 0, first_line
        for start, hits in sorted(self._candidate_lines(chunk).items()):
            number += chunk.count("\n", counted, start)
            counted = start
            end = chunk.find("\n", start)
            end = len(chunk) if end < 0 else end
            before = chunk[chunk.rfind("\n", 0, start - 1) + 1 : start - 1] if start > 0 else previous
            if end - start <= _LONG_LINE:
                pieces = [chunk[start:end]]
            else:  # detectors cost time in the length of what they read: look near the triggers only
                pieces = [chunk[a:b] for a, b in _windows([(b, e) for b, e, _ in hits], start, end)]
            detectors = [self.detectors[i] for i in sorted({i for _, _, i in hits})]
            kinds: set[str] = set()
            for piece in pieces:
                kinds |= _analyze_line(detectors, filename, piece.rstrip(), before.rstrip(), number)
            if kinds:
                found[number] = kinds
        return found

    def _candidate_lines(self, chunk: str) -> dict[int, list[tuple[int, int, int]]]:
        """{offset of a line: (begin, end, detector) of each trigger match on it}.

        A detector whose triggers do not match on a line cannot find anything on it.
        """
        spans: list[tuple[int, int, int]] = []
        folded: str | None = None
        holds = _LiteralTest(chunk)
        for index, detector in enumerate(self.detectors):
            if not detector.triggers:
                spans.append((0, len(chunk), index))
                continue
            text = chunk
            if detector.folded:
                folded = chunk.casefold() if folded is None else folded
                text = folded
            triggers = tuple(
                trigger
                for trigger, literals, ignore_case in zip(
                    detector.triggers, detector.literals, detector.ignore_case, strict=True
                )
                if holds.any_of(literals, folded=detector.folded, ignore_case=ignore_case)
            )
            if detector.folded and len(text) != len(chunk):  # "ß" became "ss": offsets differ, go line by line
                spans += [(b, e, index) for b, e in _folded_line_spans(chunk, triggers)] if triggers else []
                continue
            for trigger in triggers:
                spans += [(*match.span(), index) for match in trigger.finditer(text)]
        lines: dict[int, list[tuple[int, int, int]]] = {}
        for span in spans:
            begin, end, _ = span
            start = chunk.rfind("\n", 0, begin) + 1
            stop = chunk.find("\n", max(begin, end - 1))
            stop = len(chunk) if stop < 0 else stop
            while start < len(chunk):  # every line the match touches
                lines.setdefault(start, []).append(span)
                newline = chunk.find("\n", start, stop)
                if newline < 0:
                    break
                start = newline + 1
        return lines


class _LiteralTest:
    """Whether a chunk (or its case-folded form) holds any of some strings, each search done once."""

    def __init__(self, chunk: str) -> None:
        self.chunk = chunk
        self.ascii = chunk.isascii()
        self._texts: dict[str, str] = {}
        self._seen: dict[tuple[str, str], bool] = {}

    def any_of(self, literals: tuple[str, ...] | None, *, folded: bool, ignore_case: bool) -> bool:
        if literals is None:
            return True
        if ignore_case and not self.ascii:  # beyond ASCII, re's case rules are not str.lower()'s: no shortcut
            return True
        kind = "lower" if ignore_case else "folded" if folded else "chunk"
        text = self._texts.get(kind)
        if text is None:
            text = self.chunk.lower() if ignore_case else self.chunk.casefold() if folded else self.chunk
            self._texts[kind] = text
        for literal in literals:
            key = (kind, literal)
            if key not in self._seen:
                self._seen[key] = literal in text
            if self._seen[key]:
                return True
        return False


def _analyze_line(detectors: Sequence[_Detector], filename: str, line: str, previous: str, number: int) -> set[str]:
    """The kinds of secret the detectors find on one line, after detect-secrets' filters."""
    context = CodeSnippet(snippet=[previous, line], start_line=max(0, number - 2), target_index=1)
    if is_line_allowlisted(filename, line, context):
        return set()
    kinds: set[str] = set()
    for detector in detectors:
        plugin = detector.plugin
        for secret in plugin.analyze_line(filename=filename, line=line, line_number=number, context=context):
            value = secret.secret_value or ""
            if _looks_like_placeholder(value):
                continue
            if detector.keyword_style and (is_indirect_reference(line) or is_likely_id_string(value, line, plugin)):
                continue
            kinds.add(str(secret.type))
    return kinds


def _looks_like_placeholder(value: str) -> bool:
    """detect-secrets' filters for values that are references, templates or sequences, not secrets."""
    checks: tuple[Callable[[str], bool], ...] = (
        is_sequential_string,
        is_potential_uuid,
        is_templated_secret,
        is_prefixed_with_dollar_sign,
        is_not_alphanumeric_string,
    )
    return any(check(value) for check in checks)


def _folded_line_spans(chunk: str, triggers: tuple[re.Pattern[str], ...]) -> list[tuple[int, int]]:
    spans = []
    offset = 0
    for line in chunk.split("\n"):
        folded = line.casefold()
        if any(trigger.search(folded) for trigger in triggers):
            spans.append((offset, offset + len(line)))
        offset += len(line) + 1
    return spans


def _windows(spans: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """Merged stretches of a long line (``start``..``end``) within ``_WINDOW`` characters of a match."""
    windows: list[tuple[int, int]] = []
    for begin, stop in sorted((max(start, b - _WINDOW), min(end, e + _WINDOW)) for b, e in spans):
        if windows and begin <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], stop))
        else:
            windows.append((begin, stop))
    return windows


def _last_line(chunk: str, previous: str) -> str:
    body = chunk[:-1] if chunk.endswith("\n") else chunk
    if not body:
        return previous
    return body[body.rfind("\n") + 1 :]


def _secret_finding(release_path: str, line: int, kinds: set[str]) -> Finding:
    what = ", ".join(sorted(kinds))
    message = f"holds what looks like a secret ({what}); the value is not shown"
    return Finding("MR401 secret", "error", release_path, f"line {line}", message, _LEAK_FIX)


# --- helpers -----------------------------------------------------------------------------------


def _read_index(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(100_000_001)


def _gate_path(path: Path, resolved_base: Path) -> str:
    resolved = path.resolve()
    try:
        return resolved.relative_to(resolved_base).as_posix()
    except ValueError:
        return resolved.as_posix()


_MAX_PER_KIND = 50


def _limit(findings: list[Finding]) -> list[Finding]:
    """At most ``_MAX_PER_KIND`` findings per file and code, then one that counts the rest."""
    kept: list[Finding] = []
    counts: dict[tuple[str, str], int] = {}
    for finding in findings:
        key = (finding.path, finding.code)
        counts[key] = counts.get(key, 0) + 1
        if counts[key] <= _MAX_PER_KIND:
            kept.append(finding)
    for (path, code), count in counts.items():
        if count > _MAX_PER_KIND:
            last = next(f for f in reversed(kept) if (f.path, f.code) == (path, code))
            message = f"and {count - _MAX_PER_KIND} more like this in the file"
            kept.append(Finding(code, last.severity, path, None, message, last.fix))
    return sorted(kept, key=_sort_key)


def _sort_key(finding: Finding) -> tuple[str, str, tuple[tuple[int, str], ...]]:
    where = finding.where or ""
    # natural order: "line 9" before "line 10"; the "and N more" summary (where None) sorts last
    parts = tuple((int(p), "") if p.isdigit() else (0, p) for p in re.split(r"(\d+)", where) if p)
    return finding.path, finding.code, parts if finding.where is not None else ((1 << 62, ""),)
