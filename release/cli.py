"""The command line: ``model-release`` / ``python -m release``.

This module alone prints, configures logging, reads the token from the environment and maps
errors to exit codes: 0 success, 1 a check or stage failed, 2 bad usage or bad configuration.
Every command is a small function from parsed arguments to a result dict, which is printed as a
summary, or as one JSON object with ``--json``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from release import __version__
from release.errors import AuthError, ReleaseError, UsageError

Result = dict[str, Any]


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(_command_in(argv))
    args = parser.parse_args(argv)
    if not _logs_nothing(args):
        _configure_logging(args.verbose - args.quiet, json_mode=args.json, serving=args.command == "hub")
    if args.json or args.quiet or not sys.stderr.isatty() or _in_github_actions():
        # huggingface_hub reads this when first imported, which happens after this point.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        result: Result = args.handler(args)
    except ReleaseError as exc:
        _summarise_for_ci(args, None, (type(exc).__name__, str(exc)))
        return _report_error(args, type(exc).__name__, str(exc), exc.exit_code)
    except KeyboardInterrupt:
        return _report_error(args, "Interrupted", f"{args.command} stopped by the user before it finished", 130)
    _print_result(args, result)
    _summarise_for_ci(args, result, None)
    return int(result.get("exit_code", 0))


def _logs_nothing(args: argparse.Namespace) -> bool:
    """``checksum PATH...`` and ``checksum --verify`` read no config and log nothing: they skip setting up
    logging, whose import is ~20 ms of a ~100 ms re-run over unchanged files (benchmarks/bench_checksum.py)."""
    return args.command == "checksum" and bool(args.paths or args.verify)


# --- commands -----------------------------------------------------------------------------------


def cmd_lock(args: argparse.Namespace) -> Result:
    from release.pipeline import check_locks, lock_environments

    config = _config(args)
    if args.check:
        checked = check_locks(config)
        return {"command": "lock", "check": True, "fresh": [str(p) for p in checked], "message": "locks are fresh"}
    locked = lock_environments(config, python=args.python or config.lock.python or sys.executable)
    outcome: Result = {}
    if locked.pins is not None:
        outcome.update(pins=locked.pins, input_sha256=locked.input_sha256, resolver=locked.resolver)
    if locked.conda_platforms is not None:
        outcome.update(conda_platforms=list(locked.conda_platforms), conda_packages=locked.conda_packages)
    if locked.environment_python is not None:
        outcome["environment_python"] = locked.environment_python
    if locked.drift_different is not None:
        outcome["drift"] = {
            "different": [list(d) for d in locked.drift_different],
            "missing": list(locked.drift_missing),
        }
    outcome["written"] = list(locked.written)
    return {"command": "lock", **outcome, "message": "wrote " + ", ".join(locked.written)}


def cmd_checksum(args: argparse.Namespace) -> Result:
    from release.atomic import write_atomic
    from release.checksum import HashCache, Manifest, manifest_of_paths, verify_manifest

    cwd = Path.cwd()
    if args.verify:
        manifest = Manifest.read(Path(args.verify))
        root = Path(args.root) if args.root else cwd
        with _bar(args, "verify", lambda: _manifest_bytes(manifest)) as advance:
            report = verify_manifest(manifest, root, check_extra=args.root is not None, progress=advance)
        result: Result = {
            "command": "checksum",
            "verify": args.verify,
            "checked": report.checked,
            "missing": list(report.missing),
            "extra": list(report.extra),
            "modified": [{"path": p, "expected": e, "actual": a} for p, e, a in report.modified],
            "ok": report.ok,
        }
        if not report.ok:
            result["exit_code"] = 1
            result["message"] = f"{args.verify}: files differ from the manifest"
        else:
            result["message"] = f"{report.checked} file(s) match {args.verify}"
        return result
    if args.paths:
        cache = None if args.no_cache else HashCache.load(_user_cache_dir() / "sha256-cache.json")
        with _bar(args, "sha256", lambda: _paths_bytes(args.paths)) as advance:
            manifest = manifest_of_paths([Path(p) for p in args.paths], cwd, progress=advance, cache=cache)
        if cache is not None:
            cache.save()
        text = manifest.to_json() if args.manifest and args.manifest.endswith(".json") else manifest.to_sha256sum()
        if args.manifest:
            write_atomic(Path(args.manifest), text)
        elif not args.json:
            sys.stdout.write(text)
        return {
            "command": "checksum",
            "files": len(manifest.entries),
            "bytes": manifest.total_size,
            "manifest": args.manifest,
            "entries": [{"path": e.path, "size": e.size, "sha256": e.sha256} for e in manifest.entries],
            "quiet_summary": not args.manifest,
        }
    from release.checksum_stage import compute_checksums
    from release.pipeline import apply_build

    config = _config(args)
    with _progress(args) as progress:
        checksums = compute_checksums(config, progress)
    written = apply_build(checksums)
    return {
        "command": "checksum",
        "files": checksums.files,
        "bytes": checksums.total_size,
        "written": [str(p) for p in written],
        "message": f"manifests written to {checksums.directory}",
    }


def cmd_card(args: argparse.Namespace) -> Result:
    if args.card_action == "validate":
        return _validate_cards([Path(p) for p in args.files], args.repo_type)
    from release.card_stage import plan_cards
    from release.checksum_stage import compute_checksums
    from release.pipeline import apply_build

    config = _config(args)
    checksums = compute_checksums(config)
    card = plan_cards(config, checksums)
    written = [str(p) for p in sorted(card.outputs())]
    if not args.check:
        apply_build(checksums, card)
        return {
            "command": "card",
            "card": str(card.path),
            "written": written,
            "warnings": list(card.warnings),
            "message": f"rendered {card.path}"
            + (f" and {len(written) - 1} .eval_results file(s)" if len(written) > 1 else ""),
        }
    return _card_check_result(card, card.owns_eval_results)


def _card_check_result(card: Any, owns_eval_results: bool) -> Result:
    """``card --check``: the rendered files against the disk, each difference named with a short diff."""
    from release.card import check_rendered

    drift = check_rendered(card.outputs(), [card.eval_results_dir] if owns_eval_results else [])
    lines = []
    for item in drift:
        if item.state == "missing":
            lines.append(f"{item.path}: does not exist")
        elif item.state == "stale":
            lines.append(f"{item.path}: is no longer rendered (the results file has no such benchmark)")
        else:
            lines.append(f"{item.path}: differs from what would be rendered:\n{item.diff.rstrip()}")
    if drift:
        lines.append("Run `model-release card` to render it again.")
    return {
        "command": "card",
        "check": True,
        "card": str(card.path),
        "checked": [str(p) for p in sorted(card.outputs())],
        "drift": [{"path": str(d.path), "state": d.state, "diff": d.diff} for d in drift],
        "warnings": list(card.warnings),
        "exit_code": 1 if drift else 0,
        "message": "\n".join(lines) if drift else f"{card.path} is what the card renders",
    }


def cmd_stage(args: argparse.Namespace) -> Result:
    from release.pipeline import check_locks, stage_release

    config = _config(args)
    check_locks(config)
    with _progress(args) as progress:
        staged = stage_release(config, progress)
    plan = staged.plan
    datasets = [
        {
            "repo_id": d.repo.repo_id,
            "repo_type": "dataset",
            "version": d.repo.version,
            "staged_dir": str(d.plan.dest),
            "files": len(d.plan.files),
            "bytes": sum(f.size for f in d.plan.files),
        }
        for d in staged.datasets
    ]
    lines = [f"staged {d['files']} files of the dataset {d['repo_id']} in {d['staged_dir']}" for d in datasets]
    return {
        "command": "stage",
        "staged_dir": str(plan.dest),
        "files": len(plan.files),
        "bytes": sum(f.size for f in plan.files),
        "datasets": datasets,
        "warnings": [*(w for d in staged.datasets for w in d.card.warnings), *staged.card.warnings],
        "message": "\n".join([*lines, f"staged {len(plan.files)} files in {plan.dest}"]),
    }


def cmd_publish(args: argparse.Namespace) -> Result:
    from release.layout import staged_dir
    from release.stage import read_release_manifest

    config = _config(args)
    token = None if config.is_local_endpoint else _require_token(config, args)
    directory = staged_dir(config)
    manifest = read_release_manifest(directory)
    if manifest.version != config.version or manifest.repo_id != config.repo_id:
        raise UsageError(
            f"{directory} holds {manifest.repo_id} {manifest.version}, not {config.repo_id} {config.version}: "
            "run the stage step again"
        )
    result = _publish(config, args, directory, manifest, token, _staged_datasets(config))
    result.update(command="publish")
    return result


def _staged_datasets(config: Any) -> list[tuple[Any, Path, Any]]:
    """(publish table, staged folder, release manifest) of every dataset published as a repository of its own."""
    from release.layout import dataset_staged_dir
    from release.stage import read_release_manifest

    staged = []
    for dataset in config.datasets:
        if dataset.publish is None:
            continue
        directory = dataset_staged_dir(config, dataset)
        manifest = read_release_manifest(directory)
        if manifest.version != dataset.publish.version or manifest.repo_id != dataset.publish.repo_id:
            raise UsageError(
                f"{directory} holds {manifest.repo_id} {manifest.version}, not {dataset.publish.repo_id} "
                f"{dataset.publish.version}: run the stage step again"
            )
        staged.append((dataset.publish, directory, manifest))
    return staged


def cmd_release(args: argparse.Namespace) -> Result:
    import tempfile
    from contextlib import ExitStack

    from release.pipeline import check_locks, stage_release

    config = _config(args)
    if not config.is_local_endpoint:
        from release.publish import PublishTarget, check_access

        token = _require_token(config, args)
        endpoint = config.endpoint
        check_access(PublishTarget(endpoint, config.repo_id, config.repo_type, token))
    else:
        token = None
    check_locks(config)
    dry_run = bool(getattr(args, "dry_run", False))
    with ExitStack() as scratch, _progress(args) as progress:
        # A dry run changes nothing under the project: the trees are staged in a throwaway folder.
        into = None
        if dry_run:
            into = Path(scratch.enter_context(tempfile.TemporaryDirectory(prefix="model-release-dry-run-")))
        staged = stage_release(config, progress, scratch=into)
        datasets = [(d.repo, d.plan.dest, d.plan.manifest) for d in staged.datasets]
        result = _publish(config, args, staged.plan.dest, staged.plan.manifest, token, datasets)
    warnings = [*(w for d in staged.datasets for w in d.card.warnings), *staged.card.warnings]
    result.update(command="release", version=config.version, warnings=warnings)
    result["staged_dir"] = None if dry_run else str(staged.plan.dest)
    for dataset in result.get("datasets", []) if dry_run else []:
        dataset["staged_dir"] = None
    return result


def cmd_check(args: argparse.Namespace) -> Result:
    """The safety gate over files on disk: what `stage` runs before anything is released."""

    from release.gate import collect_gate_files, run_gate
    from release.pipeline import gate_config

    config = _config(args) if args.config or Path("release.toml").is_file() else None
    findings = run_gate(collect_gate_files([Path(p) for p in args.paths], Path.cwd()), gate_config(config))
    errors = [f for f in findings if f.severity == "error"]
    lines = [
        f"{f.severity.upper():<7} {f.code} {f.path}{f' ({f.where})' if f.where else ''}: {f.message}\n"
        f"        fix: {f.fix}"
        for f in findings
    ]
    summary = f"{len(errors)} error(s), {len(findings) - len(errors)} warning(s)"
    return {
        "command": "check",
        "findings": [f._asdict() for f in findings],
        "exit_code": 1 if errors else 0,
        "message": "\n".join([*lines, summary]),
    }


def cmd_reproduce(args: argparse.Namespace) -> Result:
    from release.reproduce import ReproduceOptions, ReproduceTarget, parse_target, reproduce_release

    repo_id, revision = parse_target(args.target)
    options = ReproduceOptions(
        dest=Path(args.dest) if args.dest else None,
        python=args.python,
        with_weights=args.with_weights,
        conda=args.conda,
        unverified=args.unverified,
        find_links=tuple(args.find_links),
        index_url=args.index_url,
        no_index=args.no_index,
    )
    with _reproduce_hub(args) as (endpoint, hub_token):
        token = hub_token or os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
        if not token:
            from huggingface_hub import get_token

            token = get_token()  # only needed for a private repo; a public one is read without
        target = ReproduceTarget(endpoint, repo_id, args.repo_type, revision, token or None)
        result = reproduce_release(target, options)
    lines = [f"reproduced {repo_id}@{result.revision} (commit {result.commit}) in {result.dest}"]
    lines.append(f"verified against the release manifest: {', '.join(result.verified)}")
    if result.installed:
        lines.append(f"the environment holds {len(result.installed)} distributions, on Python {result.python}")
        lines += result.lock_differences.lines("requirements.txt") or ["the installed set equals the lock"]
    if result.snapshot_differences is not None:
        lines += result.snapshot_differences.lines("environment.json") or ["no differences from environment.json"]
    if result.conda_prefix is not None:
        lines.append(f"conda prefix {result.conda_prefix}: {len(result.conda_packages)} packages")
    if result.weights:
        lines.append(f"downloaded and verified {len(result.weights)} files into {result.dest / 'files'}")
    if result.activate:
        lines.append(f"activate it with: {result.activate}")
    return {"command": "reproduce", **result.to_json(), "message": "\n".join(lines)}


@contextmanager
def _reproduce_hub(args: argparse.Namespace) -> Iterator[tuple[str, str | None]]:
    """(endpoint URL, a token for it or None): --endpoint, else HF_ENDPOINT, else the config's, else the Hub."""
    endpoint = args.endpoint or os.environ.get("HF_ENDPOINT")
    config = _config(args) if endpoint in (None, "local") and (args.config or Path("release.toml").is_file()) else None
    if endpoint is None:
        endpoint = config.endpoint if config is not None else "https://huggingface.co"
    if endpoint == "local":
        if config is None:
            raise UsageError(
                'endpoint "local" needs the project\'s release.toml (its .hub storage): run from the project '
                "or pass --config, or give the Hub's URL with --endpoint or HF_ENDPOINT"
            )
        from release.pipeline import local_hub

        with local_hub(config) as (url, token):
            yield url, token
        return
    yield endpoint.rstrip("/"), None


def cmd_init(args: argparse.Namespace) -> Result:
    """Adopt model-release in a project: scaffold the files that are missing, lock, then a dry run."""
    from release.config import load_config
    from release.scaffold import (
        apply_scaffold,
        describe_findings,
        detected_json,
        install_spec,
        lock_missing,
        next_steps,
        plan_scaffold,
        scan_project,
    )

    root = Path(args.dir).resolve()
    scan = scan_project(root)
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    plan = plan_scaffold(scan, spec=install_spec(os.environ), python=python, repo_id=args.repo_id)
    outcome = apply_scaffold(plan)
    lines = [f"model-release init: {root}"]
    lines += [f"  created  {path}" for path in outcome.created]
    lines += [f"  kept     {path} (it exists: left as it was)" for path in outcome.kept]
    lines += describe_findings(scan, plan)
    result: Result = {
        "command": "init",
        "project": str(root),
        "created": list(outcome.created),
        "kept": list(outcome.kept),
        "install_spec": plan.install_spec,
        "detected": detected_json(scan, plan),
        "locked": [],
        "dry_run": None,
    }
    step = "configuration"
    version, repo_id = scan.version, plan.repo_id
    try:
        config = load_config(root / "release.toml" if (root / "release.toml").is_file() else root / "pyproject.toml")
        step = "lock"
        locked = [_relative(p, root) for p in lock_missing(config)]
        result["locked"] = locked
        lines += [f"  locked   {path}" for path in locked]
        version, repo_id = config.version, config.repo_id
        step = "card"
        options = {"config": str(config.path), "json": args.json, "quiet": args.quiet}
        if config.card.output is not None and not config.card.output.exists():  # a card to commit and check
            card = cmd_card(argparse.Namespace(card_action=None, check=False, **options))
            result["rendered"] = [_relative(Path(p), root) for p in card["written"]]
            lines += [f"  rendered {path}" for path in result["rendered"]]
        step = "dry run"
        dry_run = cmd_release(argparse.Namespace(endpoint=None, dry_run=True, create_pr=False, **options))
        result["dry_run"] = {k: v for k, v in dry_run.items() if k not in ("message", "exit_code")}
        result["exit_code"] = int(dry_run.get("exit_code", 0))
        lines += ["", str(dry_run.get("message", ""))]
    except ReleaseError as exc:
        result["error"] = {"step": step, "type": type(exc).__name__, "message": str(exc)}
        result["exit_code"] = exc.exit_code
        lines += ["", f"The {step} failed: {type(exc).__name__}: {exc}"]
    steps = next_steps(plan, outcome, repo_id=repo_id, version=version, dry_run_ok=result.get("exit_code", 0) == 0)
    result["next_steps"] = steps
    lines += ["", "Next steps:", *(f"  {n}. {text}" for n, text in enumerate(steps, 1))]
    result["message"] = "\n".join(lines)
    return result


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def cmd_hub_serve(args: argparse.Namespace) -> Result:
    from release.hub.faults import FaultRule
    from release.hub.server import parse_token_option, serve

    tokens = [parse_token_option(t) for t in args.token]
    faults = [FaultRule.from_spec(spec) for spec in args.fault]
    serve(
        args.host,
        args.port,
        Path(args.storage),
        tokens,
        faults=faults,
        admin_token=args.admin_token,
        fault_admin=args.fault_admin,
    )
    return {"command": "hub serve", "message": "local Hub stopped"}


# --- helpers of the commands --------------------------------------------------------------------


def _config(args: argparse.Namespace) -> Any:
    """The configuration, with ``--endpoint`` (publish, release, reproduce) in place of its endpoint:
    the card's links and everything else then name the Hub the release goes to."""
    from dataclasses import replace

    from release.config import load_config

    config = load_config(Path(args.config) if args.config else None)
    endpoint = getattr(args, "endpoint", None)
    return replace(config, endpoint=endpoint.rstrip("/")) if endpoint else config


def _require_token(config: Any, args: argparse.Namespace) -> str:
    """The token for a real Hub or mirror: with HF_OIDC_RESOURCE set, one from the Hub's trusted
    publishing (the CI job's OIDC token, exchanged); else HF_TOKEN, else the one `hf auth login` saved."""
    oidc = os.environ.get("HF_OIDC_RESOURCE")
    token = None if oidc else os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if not token:
        from huggingface_hub import get_token

        try:
            token = get_token()  # with HF_OIDC_RESOURCE: the OIDC exchange, which raises rather than fall back
        except Exception as exc:  # OIDCError, or the exchange's HTTP error
            if not oidc:
                raise
            raise AuthError(
                f"trusted publishing (HF_OIDC_RESOURCE={oidc}) gave no token: {type(exc).__name__}: {exc}. "
                "Under GitHub Actions the job needs `permissions: id-token: write` and the Hub repository must "
                "trust the workflow; or unset HF_OIDC_RESOURCE and set HF_TOKEN. Nothing was staged or uploaded"
            ) from exc
    if not token:
        endpoint = config.endpoint
        raise AuthError(
            f"no Hub token for {endpoint}: set HF_TOKEN (a token with write access, from "
            f"{endpoint}/settings/tokens) or run `hf auth login`; nothing was staged or uploaded"
        )
    return str(token)


def _in_github_actions() -> bool:
    from release.ci import in_github_actions

    return in_github_actions(os.environ)


def _summarise_for_ci(args: argparse.Namespace, result: Result | None, error: tuple[str, str] | None) -> None:
    """Under GitHub Actions, append what the command did to $GITHUB_STEP_SUMMARY (never a token)."""
    from release.ci import ActionsRun, append_summary, render_summary, secrets_of

    run = ActionsRun.from_env(os.environ)
    if run is None or run.summary_path is None or args.command == "hub":
        return
    command = str((result or {}).get("command") or args.command)
    options = (("--dry-run", "dry_run"), ("--check", "check"), ("--create-pr", "create_pr"))
    label = " ".join([command, *(flag for flag, name in options if getattr(args, name, False))])
    text = render_summary(label, result, run, error=error, secrets=secrets_of(os.environ))
    try:
        append_summary(run.summary_path, text)
    except OSError as exc:
        print(
            f"WARNING: could not append to the job summary {run.summary_path}: {exc.strerror or exc}", file=sys.stderr
        )


def _publish(
    config: Any,
    args: argparse.Namespace,
    directory: Path,
    manifest: Any,
    token: str | None,
    datasets: Sequence[tuple[Any, Path, Any]] = (),
) -> Result:
    """Publish, or with --dry-run preview, each dataset's own repository (``datasets``), then the release's."""
    from release.pipeline import local_hub
    from release.publish import PublishTarget, StagedRepo, preview_with_datasets, publish_with_datasets

    endpoint = config.endpoint
    dry_run = bool(getattr(args, "dry_run", False))
    hub = local_hub(config, read_only=dry_run) if endpoint == "local" else _remote(endpoint, token)
    with hub as (url, run_token):
        create_pr = bool(getattr(args, "create_pr", False) or config.create_pr)
        target = PublishTarget(
            url, config.repo_id, config.repo_type, run_token, private=config.private, create_pr=create_pr
        )
        model = StagedRepo(directory, manifest, target)
        staged = [
            StagedRepo(
                path,
                release,
                PublishTarget(url, repo.repo_id, "dataset", run_token, private=repo.private, create_pr=create_pr),
            )
            for repo, path, release in datasets
        ]
        if dry_run:
            previews, preview = preview_with_datasets(staged, model)
            return _dry_run_with_datasets(previews, preview, endpoint, staged, model)
        dataset_outcomes, outcome = publish_with_datasets(staged, model)
    dataset_results = [
        _outcome_result(o, d.manifest, d.staged_dir, endpoint) for o, d in zip(dataset_outcomes, staged, strict=True)
    ]
    lines = [r["message"] for r in dataset_results]
    if outcome is None:  # the datasets wait in pull requests; the model is published once they are tagged
        lines.append(
            f"{config.repo_id} {config.tag} was not published: it links to its datasets at their tags. Merge "
            "the datasets' pull requests, then run publish again: it tags them and publishes the model"
        )
        return {
            "repo_id": config.repo_id,
            "repo_type": config.repo_type,
            "version": manifest.version,
            "tag": config.tag,
            "commit": None,
            "endpoint": endpoint,
            "published": False,
            "staged_dir": str(directory),
            "datasets": dataset_results,
            "message": "\n\n".join(lines),
        }
    result = _outcome_result(outcome, manifest, directory, endpoint)
    if dataset_results:
        result["datasets"] = dataset_results
        result["message"] = "\n\n".join([*lines, result["message"]])
    if endpoint == "local":
        storage = config.root / ".hub"
        result["hub_storage"] = str(storage)
        result["next_steps"] = [
            f"model-release hub serve --storage {storage} --port 8000   "
            f"(from a clone, without installing: nox -s hub -- --storage {storage} --port 8000)",
            f"HF_ENDPOINT=http://127.0.0.1:8000 HF_HUB_DISABLE_XET=1 hf download {config.repo_id} "
            f"--revision {outcome.tag}" + (f" --repo-type {config.repo_type}" if config.repo_type != "model" else ""),
            *(
                f"HF_ENDPOINT=http://127.0.0.1:8000 HF_HUB_DISABLE_XET=1 hf download {d['repo_id']} "
                f"--revision {d['tag']} --repo-type dataset"
                for d in dataset_results
            ),
            f"curl http://127.0.0.1:8000/api/{config.repo_type}s/{config.repo_id}/tree/{outcome.tag}?recursive=true",
        ]
    return result


def _outcome_result(outcome: Any, manifest: Any, directory: Path, endpoint: str) -> Result:
    """What publishing one repository did, for the summary and --json."""
    result: Result = {
        "repo_id": outcome.repo_id,
        "repo_type": outcome.repo_type,
        "version": manifest.version,
        "tag": outcome.tag,
        "commit": outcome.commit,
        "endpoint": endpoint,
        "url": outcome.url if endpoint != "local" else None,
        "already_released": outcome.already_released,
        "staged_dir": str(directory),
    }
    published = outcome.manifest or manifest
    # The files and bytes of the release as published, release-manifest.json included.
    result["files"] = len(published.files) + 1
    result["bytes"] = published.total_size + (directory / "release-manifest.json").stat().st_size
    if outcome.plan is not None:
        result["uploaded"] = [e.path for e in outcome.plan.add]
        result["deleted"] = list(outcome.plan.delete)
    if outcome.notes:
        result["release_notes"] = outcome.notes
    name = f"{'dataset ' if outcome.repo_type == 'dataset' else ''}{outcome.repo_id}"
    verb = "was already released" if outcome.already_released else "released"
    result["message"] = f"{name} {outcome.tag} {verb} at commit {outcome.commit}"
    if outcome.notes and not outcome.already_released:
        result["message"] += "\n\n" + outcome.notes.rstrip("\n")
    if outcome.pr_url is not None:
        result["pr_url"] = outcome.pr_url
        result["tagged"] = False
        result["message"] = (
            f"{name} {outcome.tag} is verified in the pull request {outcome.pr_url} "
            f"(commit {outcome.commit}); not tagged yet: merge it, then run publish again to tag {outcome.tag}"
        ) + ("\n\n" + outcome.notes.rstrip("\n") if outcome.notes else "")
    return result


def _dry_run_with_datasets(
    previews: Sequence[Any], preview: Any, endpoint: str, datasets: Sequence[Any], model: Any
) -> Result:
    """``--dry-run`` with datasets published as repositories of their own: each dataset's plan, then the model's."""
    result = _dry_run_result(preview, endpoint, model.staged_dir, model.manifest)
    if not previews:
        return result
    parts = [_dry_run_result(p, endpoint, d.staged_dir, d.manifest) for p, d in zip(previews, datasets, strict=True)]
    result["datasets"] = [{k: v for k, v in part.items() if k != "exit_code"} for part in parts]
    lines = [part["message"] for part in parts] + [result["message"]]
    if any(part["outcome"] == "refuse" for part in [*parts, result]):
        result["exit_code"] = 1
        lines.append("publishing would stop before sending anything: no dataset and not the model would be published")
    result["message"] = "\n\n".join(lines)
    return result


def _dry_run_result(preview: Any, endpoint: str, directory: Path, manifest: Any) -> Result:
    """The plan of ``--dry-run``: what would be uploaded, changed, deleted and kept; nothing was done."""
    result: Result = {
        "dry_run": True,
        "repo_id": preview.repo_id,
        "repo_type": preview.repo_type,
        "version": manifest.version,
        "tag": preview.tag,
        "endpoint": endpoint,
        "repo_exists": preview.repo_exists,
        "outcome": preview.outcome,
        "staged_dir": str(directory),
        "bytes": manifest.total_size,
    }
    if preview.outcome == "already released":
        result["tag_commit"] = preview.tag_commit
        result["message"] = f"dry run: {preview.repo_id} {preview.tag} is already released with identical content"
        return result
    if preview.outcome == "refuse":
        from release.publish import bump_hint

        result["tag_commit"] = preview.tag_commit
        result["differences"] = list(preview.tag_differences)
        result["exit_code"] = 1
        result["message"] = (
            f"dry run: {preview.tag} is already released on {preview.repo_id} with different content, and "
            f"versions are immutable: publishing would be refused; {bump_hint(preview.repo_type)}.\n  - "
            + "\n  - ".join(preview.tag_differences[:20])
        )
        return result
    plan = preview.plan.to_json()
    result["plan"] = plan
    result["release_notes"] = preview.notes
    result["bytes"] = plan["upload_bytes"] + plan["unchanged_bytes"]  # the release as it would be published
    lines = [f"dry run: nothing was sent to {endpoint}. Publishing {preview.repo_id} {preview.tag} would:"]
    if not preview.repo_exists:
        lines.append(f"  create the repository {preview.repo_id}")
    lines += [f"  add       {f['path']} ({f['size']} bytes)" for f in plan["added"]]
    lines += [f"  change    {f['path']} ({f['size']} bytes)" for f in plan["changed"]]
    lines += [f"  delete    {p}" for p in plan["deleted"]]
    lines.append(
        f"  upload {plan['upload_bytes']} bytes in {len(plan['added']) + len(plan['changed'])} file(s); "
        f"keep {plan['unchanged']} unchanged file(s) ({plan['unchanged_bytes']} bytes); "
        f"delete {len(plan['deleted'])} file(s) ({plan['delete_bytes']} bytes); then tag {preview.tag}"
    )
    result["message"] = "\n".join(lines) + "\n\nRelease notes:\n" + preview.notes.rstrip("\n")
    return result


@contextmanager
def _remote(endpoint: str, token: str | None) -> Iterator[tuple[str, str]]:
    assert token is not None
    yield endpoint, token


def _validate_cards(files: list[Path], repo_type: str = "model") -> Result:
    from release.card import check_card_file

    reports = []
    failed = False
    for path in files:
        check = check_card_file(path, repo_type)
        failed = failed or bool(check.errors)
        reports.append({"file": str(path), "errors": [str(p) for p in check.errors], "warnings": list(check.warnings)})
    lines = []
    for report in reports:
        status = "INVALID" if report["errors"] else "ok"
        lines.append(f"{report['file']}: {status}")
        lines += [f"  error: {e}" for e in report["errors"]]
        lines += [f"  warning: {w}" for w in report["warnings"]]
    return {
        "command": "card validate",
        "repo_type": repo_type,
        "cards": reports,
        "exit_code": 1 if failed else 0,
        "message": "\n".join(lines),
    }


def _user_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "model-release"


def _manifest_bytes(manifest: Any) -> int:
    return sum(max(e.size, 0) for e in manifest.entries)


def _paths_bytes(paths: Sequence[str]) -> int:
    total = 0
    for given in paths:
        path = Path(given)
        if path.is_file():
            total += path.stat().st_size
        elif path.is_dir():
            total += sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return total


class _RichProgress:
    """Byte progress bars on stderr (only on a terminal, never with --json or -q)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        if not self.enabled or total < (64 << 20):
            yield lambda _n: None
            return
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, transient=True) as bar:
            task_id = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task_id, n)


class _PlainProgress:
    """Progress as plain lines on stderr, one per tenth of the work: GitHub Actions shows a log, not a terminal."""

    def __init__(self, min_total: int = 64 << 20) -> None:
        self.min_total = min_total

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        if total < self.min_total:
            yield lambda _n: None
            return
        import threading

        lock = threading.Lock()
        state = {"done": 0, "tenth": 1}

        def advance(n: int) -> None:
            with lock:  # files are hashed in parallel
                state["done"] += n
                while state["tenth"] <= 10 and state["done"] * 10 >= total * state["tenth"]:
                    print(
                        f"INFO: {description}: {state['tenth'] * 10}% of {total / (1 << 20):.1f} MiB", file=sys.stderr
                    )
                    state["tenth"] += 1

        yield advance


@contextmanager
def _progress(args: argparse.Namespace) -> Iterator[_RichProgress | _PlainProgress | None]:
    """Bars on a terminal, log lines under GitHub Actions; None otherwise, so nobody computes totals
    for a bar nobody sees."""
    if args.json or args.quiet:
        yield None
    elif _in_github_actions():
        yield _PlainProgress()
    else:
        yield _RichProgress(enabled=True) if sys.stderr.isatty() else None


@contextmanager
def _bar(args: argparse.Namespace, description: str, total: Callable[[], int]) -> Iterator[Callable[[int], None]]:
    with _progress(args) as progress:
        if progress is None:
            yield lambda _n: None
            return
        with progress.task(description, total()) as advance:
            yield advance


# --- output -------------------------------------------------------------------------------------


def _print_result(args: argparse.Namespace, result: Result) -> None:
    if args.json:
        document = {k: v for k, v in result.items() if k not in ("exit_code", "quiet_summary")}
        document["ok"] = result.get("exit_code", 0) == 0
        sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
        return
    if result.get("quiet_summary") or args.quiet:
        return
    out = sys.stdout
    message = result.get("message")
    if message:
        out.write(f"{message}\n")
    for key in ("repo_id", "tag", "commit", "staged_dir", "files", "bytes"):
        if key in result and result[key] is not None and result.get("command") in ("release", "publish", "stage"):
            out.write(f"  {key:<11} {result[key]}\n")
    problems = [f"  missing   {p}" for p in result.get("missing", [])]
    problems += [f"  extra     {p}" for p in result.get("extra", [])]
    problems += [
        f"  modified  {m['path']}\n            expected {m['expected']}\n            actual   {m['actual']}"
        for m in result.get("modified", [])
    ]
    for line in problems:
        out.write(line + "\n")
    if result.get("next_steps") and result.get("command") in ("release", "publish"):
        out.write("Browse and download what was published (the local Hub runs only during the release):\n")
        for step in result["next_steps"]:
            out.write(f"  {step}\n")


def _report_error(args: argparse.Namespace, kind: str, message: str, code: int) -> int:
    sys.stderr.write(f"ERROR: {kind}: {message}\n")
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps({"ok": False, "error": {"type": kind, "message": message}}, indent=2) + "\n")
    return code


def _configure_logging(level: int, *, json_mode: bool, serving: bool) -> None:
    import logging

    levels = {-2: logging.ERROR, -1: logging.WARNING, 0: logging.INFO, 1: logging.DEBUG}
    chosen = levels[max(-2, min(1, level))]
    handler: logging.Handler
    if sys.stderr.isatty() and not json_mode and not _in_github_actions():
        from rich.logging import RichHandler

        handler = RichHandler(show_time=False, show_path=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
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


# --- the parser ---------------------------------------------------------------------------------


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; with ``command``, only that command's options are built.

    Without ``command`` (``--help``, a typo) every command is built, to be listed. Building one
    costs a parser, and argparse asks gettext for its messages in each (a few ``stat`` calls a
    time): with all of them, the parser was a tenth of a no-change ``checksum`` run.
    """
    common = argparse.ArgumentParser(add_help=False, formatter_class=_Formatter)
    _add_global_options(common, suppress=True)
    parser = argparse.ArgumentParser(
        prog="model-release",
        description="Turn a training project into a reproducible, verified, versioned release on the Hugging Face Hub.",
        epilog="Exit codes: 0 success, 1 a check or stage failed, 2 bad usage or configuration.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"model-release {__version__}")
    _add_global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (handler, help_text, add_options) in _COMMANDS.items():
        if command is not None and name != command:
            continue
        sub = commands.add_parser(
            name, parents=[common], help=help_text, description=help_text, formatter_class=_Formatter
        )
        sub.set_defaults(handler=handler)
        add_options(sub, common)
    return parser


class _Formatter(argparse.HelpFormatter):
    """argparse's help layout, with the terminal's width found without importing ``shutil``.

    argparse makes a formatter for every option it adds, and the stock one imports ``shutil`` (with
    ``bz2`` and ``lzma``: ~2.5 ms) for ``get_terminal_size``; this reads ``COLUMNS`` and the
    terminal the same way, once.
    """

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=_terminal_width())


@functools.cache
def _terminal_width() -> int:
    """What ``shutil.get_terminal_size().columns - 2`` gives: ``COLUMNS``, else stdout's terminal, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else 0
        except (AttributeError, ValueError, OSError):
            columns = 0
    return (columns or 80) - 2


def _command_in(argv: Sequence[str]) -> str | None:
    """The command named on a command line (skipping ``--config PATH``), or None (``--help``, a typo)."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in ("-h", "--help"):
            return None
        elif word == "--config":
            skip = True
        elif word in _COMMANDS:
            return word
    return None


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
    validate = card_actions.add_parser(
        "validate", parents=[common], help="validate the metadata of card files", formatter_class=_Formatter
    )
    validate.add_argument("files", nargs="+", metavar="README.md")
    validate.add_argument(
        "--repo-type",
        choices=("model", "dataset"),
        default="model",
        help="check against the model-card (default) or the dataset-card schema",
    )


def _check_options(check: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    check.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to check (no config needed)")


def _publish_options(publish: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
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
    reproduce.add_argument("--repo-type", choices=("model", "dataset"), default="model")
    reproduce.add_argument("--endpoint", help='the Hub URL, or "local" (default: HF_ENDPOINT, else the config\'s)')
    reproduce.add_argument("--python", metavar="PATH", help="build the venv with this interpreter (default: this one)")
    reproduce.add_argument(
        "--unverified",
        action="store_true",
        help="a release without release-manifest.json: install its requirements.txt unverified",
    )
    reproduce.add_argument("--find-links", action="append", default=[], metavar="URL", help="passed to pip install")
    reproduce.add_argument("--index-url", metavar="URL", help="passed to pip install")
    reproduce.add_argument("--no-index", action="store_true", help="passed to pip install")


def _init_options(init: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    init.add_argument("dir", nargs="?", default=".", metavar="DIR", help="the project's folder (default: here)")
    init.add_argument(
        "--repo-id", metavar="NAMESPACE/NAME", help="the Hub repository (default: your-username/<the project's name>)"
    )


def _hub_options(hub: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    hub_actions = hub.add_subparsers(dest="hub_action", required=True, metavar="ACTION")
    serve = hub_actions.add_parser(
        "serve", parents=[common], help="serve the Hub API on loopback", formatter_class=_Formatter
    )
    serve.set_defaults(handler=cmd_hub_serve)
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


def _no_options(parser: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """``stage`` has only the global options."""


def _hub_help(args: argparse.Namespace) -> Result:
    raise UsageError("choose an action: model-release hub serve")


_COMMANDS: dict[
    str,
    tuple[
        Callable[[argparse.Namespace], Result],
        str,
        Callable[[argparse.ArgumentParser, argparse.ArgumentParser], None],
    ],
] = {
    "lock": (cmd_lock, "freeze the environments: requirements.txt, conda-lock.yml, environment.json", _lock_options),
    "checksum": (cmd_checksum, "SHA-256 manifests of the datasets and weights, or of PATHs", _checksum_options),
    "card": (cmd_card, "render README.md from the template, its metadata validated first", _card_options),
    "check": (cmd_check, "the safety gate: safetensors, shard indexes, pickles, secrets, sizes", _check_options),
    "stage": (cmd_stage, "assemble the exact release tree and its manifest under dist/", _no_options),
    "publish": (cmd_publish, "upload the staged release as one commit, verify it, tag v<version>", _publish_options),
    "release": (cmd_release, "check the locks, then checksum, card, stage and publish", _release_options),
    "reproduce": (cmd_reproduce, "rebuild a published release's environment from its locks", _reproduce_options),
    "init": (
        cmd_init,
        "adopt model-release in a model project: scaffold release.toml, noxfile.py, templates/, "
        "requirements.in and GitHub workflows (never overwriting a file), lock, then a release --dry-run",
        _init_options,
    ),
    "hub": (_hub_help, "the local Hub emulator", _hub_options),
}


def _add_global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument("--config", metavar="PATH", default=default, help="release.toml or pyproject.toml")
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="print one JSON object summarising the result",
    )
    parser.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS if suppress else 0)
    parser.add_argument("-q", "--quiet", action="count", default=argparse.SUPPRESS if suppress else 0)
