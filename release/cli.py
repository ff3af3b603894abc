"""The command line: ``model-release`` / ``python -m release``.

This module parses the command line, runs the command's function in :mod:`release.workflow`, and
renders the report it returns: its text, or one JSON object with ``--json`` (``ok`` added). It alone
prints and configures logging, and :func:`main` alone turns outcomes into exit codes: the report's
(0, or 1 for a failed check), a :class:`~release.errors.ReleaseError`'s (1 a stage failed, 2 bad usage
or configuration), 130 when interrupted, 1 with a traceback for anything unexpected. Everything it
prints, logs or appends to the job summary passes through :func:`release.redaction.redact` first.

Each command imports its workflow module when it runs: ``checksum PATH...`` then loads the hashing
code alone (~8 ms), not the stages with the gate's, the card's and the Hub's dependencies (~0.25 s),
which would make a re-run over unchanged files several times slower (benchmarks/bench_checksum.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from release import __version__
from release.errors import ReleaseError, UsageError
from release.progress import Bars, LogLines, in_github_actions, progress_for
from release.redaction import RedactingFilter, redact, secrets_of
from release.workflow.report import Report

if TYPE_CHECKING:
    from release.config import Config
    from release.signing import TrustPolicy


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose - args.quiet, json_mode=args.json, serving=args.command == "hub")
    if args.json or args.quiet or not sys.stderr.isatty() or in_github_actions(os.environ):
        # huggingface_hub reads this when first imported, which happens after this point.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        report: Report = args.run(args)
    except ReleaseError as exc:
        _summarise_for_ci(args, None, (type(exc).__name__, str(exc)))
        return _report_error(args, type(exc).__name__, str(exc), exc.exit_code)
    except KeyboardInterrupt:
        return _report_error(args, "Interrupted", f"{args.command} stopped by the user before it finished", 130)
    except Exception:  # a bug: its traceback, without the secrets it may quote (a URL's password, a token)
        sys.stderr.write(redact(traceback.format_exc()))
        return 1
    if args.json:
        document = {**report.to_json(), "ok": report.exit_code == 0}
        sys.stdout.write(redact(json.dumps(document, indent=2, sort_keys=True)) + "\n")
    elif not args.quiet:
        sys.stdout.write(redact(report.text()))
    _summarise_for_ci(args, report, None)
    return report.exit_code


# --- the commands: options from the parsed arguments, then the workflow --------------------------


def _lock(args: argparse.Namespace) -> Report:
    from release.workflow.lock import LockOptions, lock

    return lock(_config(args), LockOptions(check=args.check, python=args.python))


def _checksum(args: argparse.Namespace) -> Report:
    if args.verify:
        from release.workflow.checksum_files import VerifyOptions, verify

        return verify(VerifyOptions(args.verify, args.root), _progress(args))
    if args.paths:
        from release.workflow.checksum_files import PathsOptions, hash_paths

        hashed = hash_paths(PathsOptions(tuple(args.paths), args.manifest, not args.no_cache), _progress(args))
        if hashed.listing is not None and not args.json:
            sys.stdout.write(hashed.listing)  # the command's output, not a summary: printed even with -q
        return hashed
    from release.workflow.checksum import checksum

    return checksum(_config(args), _progress(args))


def _card(args: argparse.Namespace) -> Report:
    from release.workflow import card

    if args.card_action == "validate":
        return card.validate([Path(p) for p in args.files], args.repo_type)
    config = _config(args)
    return card.check(config) if args.check else card.render(config)


def _check(args: argparse.Namespace) -> Report:
    from release.workflow.check import check

    return check([Path(p) for p in args.paths], _project_config(args))


def _stage(args: argparse.Namespace) -> Report:
    from release.workflow.stage import stage

    return stage(_config(args), _progress(args))


def _publish(args: argparse.Namespace) -> Report:
    from release.workflow.publish import PublishOptions, publish

    return publish(_config(args), PublishOptions(dry_run=args.dry_run, create_pr=args.create_pr))


def _release(args: argparse.Namespace) -> Report:
    from release.workflow.publish import PublishOptions, release

    options = PublishOptions(dry_run=args.dry_run, create_pr=args.create_pr)
    return release(_config(args), options, _progress(args))


def _reproduce(args: argparse.Namespace) -> Report:
    from release.reproduce import ReproduceOptions
    from release.workflow.reproduce import ReproduceRequest, reproduce

    endpoint = args.endpoint or os.environ.get("HF_ENDPOINT")
    options = ReproduceOptions(
        dest=Path(args.dest) if args.dest else None,
        python=args.python,
        with_weights=args.with_weights,
        conda=args.conda,
        unverified=args.unverified,
        run=args.run_verify,
        retrain=args.retrain,
        timeout=args.timeout,
        find_links=tuple(args.find_links),
        index_url=args.index_url,
        no_index=args.no_index,
        installer=args.installer,
    )
    config = _project_config(args) if endpoint in (None, "local") else None  # the default endpoint, or its .hub
    options = replace(options, trust=_trust(args, config))
    return reproduce(ReproduceRequest(args.target, args.repo_type, endpoint, options), config)


def _verify(args: argparse.Namespace) -> Report:
    from release.workflow.verify import VerifyRequest, verify

    endpoint = args.endpoint or os.environ.get("HF_ENDPOINT")
    config = _project_config(args)
    trust = _trust(args, config)
    if not trust.required:
        raise UsageError(
            "verify: say what to trust: --trust-key PUBLIC.pem, --trust-identity with --trust-issuer, "
            "--trust-certificate, or a [trust] table in release.toml"
        )
    return verify(VerifyRequest(args.target, trust, args.repo_type, endpoint), config)


def _trust(args: argparse.Namespace, config: Config | None) -> TrustPolicy:
    """--trust-* when given, else the configuration's [trust] (none: nothing is required)."""
    from release.signing import TrustPolicy

    given = TrustPolicy(
        key=Path(args.trust_key) if args.trust_key else None,
        certificate_chain=tuple(Path(c) for c in args.trust_certificate),
        identity=args.trust_identity,
        issuer=args.trust_issuer,
        trust_config=Path(args.trust_config) if args.trust_config else None,
    )
    if (given.identity is None) != (given.issuer is None):
        raise UsageError("--trust-identity and --trust-issuer go together: Sigstore checks both")
    if given.required or config is None:
        return given
    return config.trust


def _init(args: argparse.Namespace) -> Report:
    from release.workflow.init import InitOptions, init

    return init(InitOptions(Path(args.dir), args.repo_id), _progress(args))


def _hub_serve(args: argparse.Namespace) -> Report:
    from release.hub.repo import CommitLimits
    from release.workflow.serve import ServeOptions, serve_hub

    tokens, faults = tuple(args.token), tuple(args.fault)
    options = ServeOptions(args.host, args.port, Path(args.storage), tokens, faults, args.admin_token, args.fault_admin)
    if args.max_connections is not None:  # the defaults live in release.hub.limits, imported only to serve
        options = replace(options, max_connections=args.max_connections)
    if args.backlog is not None:
        options = replace(options, backlog=args.backlog)
    parts = {"multipart_threshold": args.multipart_threshold, "multipart_chunk_size": args.multipart_chunk_size}
    limits = CommitLimits(args.max_commit_operations, args.max_folder_entries)
    return serve_hub(replace(options, storage_port=args.storage_port, limits=limits, **parts))


def _config(args: argparse.Namespace) -> Config:
    """The configuration, with ``--endpoint`` (publish, release, reproduce) in place of its endpoint:
    the card's links and everything else then name the Hub the release goes to."""
    from release.config import load_config  # not for `checksum PATH`: tomllib, packaging, the schema

    config = load_config(Path(args.config) if args.config else None)
    endpoint = getattr(args, "endpoint", None)
    config = replace(config, endpoint=endpoint.rstrip("/")) if endpoint else config
    return _with_signing(args, config)


def _with_signing(args: argparse.Namespace, config: Config) -> Config:
    """``--sign-key``/``--sign-sigstore`` (stage, publish, release) over the configuration's ``[sign]``.

    ``--sign-key`` gives the private key: of a ``[sign]`` table with a certificate, the key it goes with;
    otherwise the release is signed with the key alone. ``--sign-sigstore`` signs keyless, with the CI's
    OIDC identity (and ``[sign] oidc_issuer`` when the table names one).
    """
    from release.signing import SignSpec

    key, sigstore = getattr(args, "sign_key", None), getattr(args, "sign_sigstore", False)
    configured = config.sign
    if key is not None:
        path = Path(key).absolute()
        if not path.is_file():
            raise UsageError(f"--sign-key: {key} is not a file: give the private key (PEM) to sign with")
        if configured is not None and configured.method == "certificate":
            return replace(config, sign=replace(configured, key=path, key_env=None))
        return replace(config, sign=SignSpec("key", key=path))
    if sigstore:
        issuer = configured.oidc_issuer if configured is not None and configured.method == "sigstore" else None
        return replace(config, sign=SignSpec("sigstore", oidc_issuer=issuer))
    return config


def _project_config(args: argparse.Namespace) -> Config | None:
    """The configuration when there is one (``--config``, or release.toml here): ``check`` and ``reproduce``
    run without one."""
    return _config(args) if args.config or Path("release.toml").is_file() else None


def _progress(args: argparse.Namespace) -> Bars | LogLines | None:
    return progress_for(shown=not (args.json or args.quiet), github_actions=in_github_actions(os.environ))


# --- output ---------------------------------------------------------------------------------------


def _report_error(args: argparse.Namespace, kind: str, message: str, code: int) -> int:
    message = redact(message)
    sys.stderr.write(f"ERROR: {kind}: {message}\n")
    if args.json:
        sys.stdout.write(json.dumps({"ok": False, "error": {"type": kind, "message": message}}, indent=2) + "\n")
    return code


def _summarise_for_ci(args: argparse.Namespace, report: Report | None, error: tuple[str, str] | None) -> None:
    """Under GitHub Actions, append what the command did to $GITHUB_STEP_SUMMARY (never a token)."""
    if not in_github_actions(os.environ):
        return
    from release.ci import ActionsRun, append_summary, render_summary  # only under GitHub Actions

    run = ActionsRun.from_env(os.environ)
    if run is None or run.summary_path is None or args.command == "hub":
        return
    flags = (("--dry-run", "dry_run"), ("--check", "check"), ("--create-pr", "create_pr"))
    label = " ".join(
        [report.command if report else args.command, *(f for f, name in flags if getattr(args, name, False))]
    )
    text = render_summary(label, report, run, error=error, secrets=secrets_of(os.environ))
    try:
        append_summary(run.summary_path, text)
    except OSError as exc:
        print(
            f"WARNING: could not append to the job summary {run.summary_path}: {exc.strerror or exc}", file=sys.stderr
        )


def _configure_logging(level: int, *, json_mode: bool, serving: bool) -> None:
    levels = {-2: logging.ERROR, -1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}
    chosen = levels[max(-2, min(1, level))]
    handler: logging.Handler
    if sys.stderr.isatty() and not json_mode and not in_github_actions(os.environ):
        from rich.logging import RichHandler  # rich costs ~50 ms to import: only on a terminal

        handler = RichHandler(show_time=False, show_path=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler.addFilter(RedactingFilter())  # every record our handler shows: no token, password or signature
    root = logging.getLogger("release")
    root.handlers[:] = [handler]
    root.setLevel(chosen)
    root.propagate = False
    # The gate reports its scanners' findings itself; their own loggers only repeat them.
    for scanner in ("picklescan", "detect-secrets"):
        logging.getLogger(scanner).setLevel(logging.ERROR)
    # conda-lock warns once per platform for every selector line it filters: expected, not news.
    logging.getLogger("conda_lock").setLevel(logging.ERROR)
    # The embedded Hub's request log is noise during a release; `hub serve` shows it.
    logging.getLogger("release.hub").setLevel(logging.NOTSET if serving or level > 0 else logging.WARNING)


# --- the parser -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(common, suppress=True)
    parser = argparse.ArgumentParser(
        prog="model-release",
        description="Turn a training project into a reproducible, verified, versioned release on the Hugging Face Hub.",
        epilog="Exit codes: 0 success, 1 a check or stage failed, 2 bad usage or configuration.",
    )
    parser.add_argument("--version", action="version", version=f"model-release {__version__}")
    _add_global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (run, help_text, add_options) in _COMMANDS.items():
        sub = commands.add_parser(name, parents=[common], help=help_text, description=help_text)
        sub.set_defaults(run=run)
        add_options(sub, common)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """``--config``, ``--json``, ``-v`` and ``-q``, before or after the command (``suppress``: no default
    in the command's parser, which would hide a value given before the command)."""
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS if suppress else None,
        help="release.toml or pyproject.toml",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="print one JSON object summarising the result",
    )
    parser.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS if suppress else 0)
    parser.add_argument("-q", "--quiet", action="count", default=argparse.SUPPRESS if suppress else 0)


def _lock_options(lock: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    lock.add_argument("--check", action="store_true", help="exit 1 when a lock no longer matches its input")
    lock.add_argument(
        "--python", metavar="PATH", help="the training interpreter to snapshot into environment.json (lock.python)"
    )


def _checksum_options(checksum: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    checksum.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (no config needed)")
    checksum.add_argument("--manifest", metavar="OUT", help="write the manifest here (.json: JSON, else sha256sum)")
    checksum.add_argument("--verify", metavar="MANIFEST", help="re-hash every file and compare with MANIFEST")
    checksum.add_argument("--root", metavar="DIR", help="with --verify: the manifest's root (also reports extra files)")
    checksum.add_argument(
        "--no-cache",
        action="store_true",
        help="hash every file even if unchanged since the last run (--verify always does)",
    )


def _card_options(card: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    card.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1, with a diff, when the card on disk (card.output) differs from what would render",
    )
    card_actions = card.add_subparsers(dest="card_action", metavar="ACTION")
    validate = card_actions.add_parser("validate", parents=[common], help="validate the metadata of card files")
    validate.add_argument("files", nargs="+", metavar="README.md")
    validate.add_argument(
        "--repo-type",
        choices=("model", "dataset"),
        default="model",
        help="check against the model-card (default) or the dataset-card schema",
    )


def _check_options(check: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    check.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to check (no config needed)")


def _sign_options(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """``--sign-key`` or ``--sign-sigstore``: sign the release without editing [sign] (README: Signed releases)."""
    sign = parser.add_mutually_exclusive_group()
    sign.add_argument(
        "--sign-key",
        metavar="PRIVATE.pem",
        help="sign the release with this private key (overrides [sign]; with a [sign] certificate, its key)",
    )
    sign.add_argument(
        "--sign-sigstore",
        action="store_true",
        help="sign keyless with Sigstore and the CI job's OIDC identity (GitHub Actions: id-token: write)",
    )


def _publish_options(publish: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    _sign_options(publish, common)
    publish.add_argument("--endpoint", help='the Hub URL, or "local" (overrides the config)')
    publish.add_argument(
        "--dry-run", action="store_true", help="print the plan (files to add, change, delete, keep) and change nothing"
    )
    publish.add_argument(
        "--create-pr",
        action="store_true",
        help="open a pull request with the verified release instead of committing to the branch; "
        "publish again after the merge to tag it (config: [publish] create_pr)",
    )


def _release_options(release: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    _sign_options(release, common)
    release.add_argument("--endpoint", help='the Hub URL, or "local" (overrides the config)')
    release.add_argument(
        "--dry-run",
        action="store_true",
        help="check, checksum, card and stage, then print the publish plan; nothing is sent to the Hub",
    )
    release.add_argument("--create-pr", action="store_true", help="publish to a pull request (see publish --create-pr)")


def _reproduce_options(reproduce: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    reproduce.add_argument(
        "target", metavar="REPO[@REV]", help="REV: a tag, branch or commit (default: the latest v* tag)"
    )
    reproduce.add_argument("--dest", metavar="DIR", help="where to build (default .reproduce/REPO@REV); must not exist")
    reproduce.add_argument("--with-weights", action="store_true", help="also download the model files, verified")
    reproduce.add_argument("--conda", action="store_true", help="also create a conda prefix from conda-lock.yml")
    reproduce.add_argument(
        "--run",
        dest="run_verify",  # args.run is the command's function
        action="store_true",
        help="run the release's verify command on its weights, Hub offline, and compare each published metric",
    )
    reproduce.add_argument(
        "--retrain",
        action="store_true",
        help="run its training command and compare the weights with the published ones (else the metrics)",
    )
    reproduce.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="how long each --run/--retrain command may take (default: no limit)",
    )
    reproduce.add_argument("--repo-type", choices=("model", "dataset"), default="model")
    reproduce.add_argument("--endpoint", help='the Hub URL, or "local" (default: HF_ENDPOINT, else the config\'s)')
    reproduce.add_argument("--python", metavar="PATH", help="build the venv with this interpreter (default: this one)")
    reproduce.add_argument(
        "--unverified",
        action="store_true",
        help="a release without release-manifest.json: install its requirements.txt unverified",
    )
    reproduce.add_argument(
        "--installer",
        choices=("auto", "uv", "pip"),
        default="auto",
        help="what builds the venv (default auto: uv when it is on PATH, else pip); hashes are required either way",
    )
    reproduce.add_argument("--find-links", action="append", default=[], metavar="URL", help="passed to the installer")
    reproduce.add_argument("--index-url", metavar="URL", help="passed to the installer")
    reproduce.add_argument("--no-index", action="store_true", help="passed to the installer")
    _trust_options(reproduce)


def _trust_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trust-key", metavar="PUBLIC.pem", help="require a signature by this public key")
    parser.add_argument(
        "--trust-certificate",
        action="append",
        default=[],
        metavar="CERT.pem",
        help="require a certificate signature chaining to these certificates (repeatable)",
    )
    parser.add_argument("--trust-identity", metavar="IDENTITY", help="Sigstore: require a signature by this identity")
    parser.add_argument("--trust-issuer", metavar="URL", help="Sigstore: the OIDC issuer of --trust-identity")
    parser.add_argument(
        "--trust-config", metavar="FILE", help="Sigstore: a trust root (ClientTrustConfig JSON), to verify offline"
    )


def _verify_options(verify: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    verify.add_argument("target", metavar="DIR|REPO[@REV]", help="a release folder, or a release on the Hub")
    verify.add_argument("--repo-type", choices=("model", "dataset"), default="model")
    verify.add_argument("--endpoint", help='the Hub URL, or "local" (default: HF_ENDPOINT, else the config\'s)')
    _trust_options(verify)


def _init_options(init: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    init.add_argument("dir", nargs="?", default=".", metavar="DIR", help="the project's folder (default: here)")
    init.add_argument(
        "--repo-id", metavar="NAMESPACE/NAME", help="the Hub repository (default: your-username/<the project's name>)"
    )


def _hub_options(hub: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    hub_actions = hub.add_subparsers(dest="hub_action", required=True, metavar="ACTION")
    serve = hub_actions.add_parser("serve", parents=[common], help="serve the Hub API on loopback")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--storage", default=".hub", help="where repos and files are kept (default .hub/)")
    serve.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="NAME:TOKEN",
        help="grant TOKEN write access to namespace NAME (repeatable); none: the documented dev token",
    )
    serve.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="inject a fault (repeatable), e.g. 'status=503,count=2,route=POST /api/models/*/preupload/*', "
        "'drop=1MiB,route=PUT /api/lfs-upload/*' or 'latency=200ms' (README: Fault injection)",
    )
    serve.add_argument(
        "--fault-admin",
        action="store_true",
        help="let loopback clients add, list and clear faults at /admin/faults with the admin token "
        "(generated and shown at start unless --admin-token is given)",
    )
    serve.add_argument("--admin-token", metavar="TOKEN", help="the token of /admin/faults (implies --fault-admin)")
    serve.add_argument(
        "--max-connections",
        type=int,
        metavar="N",
        help="serve at most N client connections at once, idle ones included; a request on one more is "
        "answered 503 (default 256)",
    )
    serve.add_argument(
        "--backlog",
        type=int,
        metavar="N",
        help="connections the kernel queues before they are accepted (default 128)",
    )
    serve.add_argument(
        "--storage-port",
        type=int,
        default=0,
        metavar="PORT",
        help="the port of the storage origin LFS downloads are redirected to (default: any free port)",
    )
    serve.add_argument(
        "--multipart-threshold",
        metavar="BYTES",
        help="ask for LFS uploads larger than this in parts, e.g. 8MiB (default: as the Hub, 5GiB)",
    )
    serve.add_argument(
        "--multipart-chunk-size", metavar="BYTES", help="the size of those parts, e.g. 4MiB (default: as the Hub, 5GiB)"
    )
    serve.add_argument(
        "--max-commit-operations",
        type=_at_least_one,
        default=100,
        metavar="N",
        help="refuse commits of more than N operations (default 100, the Hub's guidance)",
    )
    serve.add_argument(
        "--max-folder-entries",
        type=_at_least_one,
        default=10_000,
        metavar="N",
        help="refuse commits that leave more than N entries in one folder (default 10000, the Hub's limit)",
    )


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


_Options = Callable[[argparse.ArgumentParser, argparse.ArgumentParser], None]

#: Each command: the function that runs it, its help, and its options.
_COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], Report], str, _Options]] = {
    "lock": (_lock, "freeze the environments: requirements.txt, conda-lock.yml, environment.json", _lock_options),
    "checksum": (_checksum, "SHA-256 manifests of the datasets and weights, or of PATHs", _checksum_options),
    "card": (_card, "render README.md from the template, its metadata validated first", _card_options),
    "check": (_check, "the safety gate: safetensors, shard indexes, pickles, secrets, sizes", _check_options),
    "stage": (_stage, "assemble the exact release tree and its manifest under dist/", _sign_options),
    "publish": (_publish, "upload the staged release as one commit, verify it, tag v<version>", _publish_options),
    "release": (_release, "check the locks, then checksum, card, stage and publish", _release_options),
    "reproduce": (_reproduce, "rebuild a published release's environment from its locks", _reproduce_options),
    "verify": (_verify, "check a signed release's signature (DIR or REPO@REV) against what you trust", _verify_options),
    "init": (
        _init,
        "adopt model-release in a model project: scaffold release.toml, noxfile.py, templates/, "
        "requirements.in and GitHub workflows (never overwriting a file), lock, then a release --dry-run",
        _init_options,
    ),
    "hub": (_hub_serve, "the local Hub emulator", _hub_options),
}
