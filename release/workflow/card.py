"""``card``: render the model's card (every card validated first), check it against the disk, or validate card files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from release.card import CardCheck, CardDrift, RepoType, check_card_file, check_rendered
from release.card_stage import Card, plan_cards
from release.checksum_stage import compute_checksums
from release.config import Config
from release.pipeline import apply_build
from release.workflow.report import JsonObject, text_of


@dataclass(frozen=True)
class CardRendered:
    """``card``: README.md (and the .eval_results/ files beside it) written to ``card.output``."""

    card: Card
    command: ClassVar[str] = "card"
    exit_code: ClassVar[int] = 0

    @property
    def written(self) -> list[Path]:
        return sorted(self.card.outputs())

    @property
    def message(self) -> str:
        written = self.written
        others = f" and {len(written) - 1} .eval_results file(s)" if len(written) > 1 else ""
        return f"rendered {self.card.path}{others}"

    def to_json(self) -> JsonObject:
        return {
            "command": self.command,
            "card": str(self.card.path),
            "written": [str(p) for p in self.written],
            "warnings": list(self.card.warnings),
            "message": self.message,
        }

    def text(self) -> str:
        return text_of(self.message)


@dataclass(frozen=True)
class CardChecked:
    """``card --check``: the rendered files against the disk, each difference named with a short diff."""

    card: Card
    drift: tuple[CardDrift, ...]
    command: ClassVar[str] = "card"

    @property
    def exit_code(self) -> int:
        return 1 if self.drift else 0

    @property
    def message(self) -> str:
        if not self.drift:
            return f"{self.card.path} is what the card renders"
        lines = []
        for item in self.drift:
            if item.state == "missing":
                lines.append(f"{item.path}: does not exist")
            elif item.state == "stale":
                lines.append(f"{item.path}: is no longer rendered (the results file has no such benchmark)")
            else:
                lines.append(f"{item.path}: differs from what would be rendered:\n{item.diff.rstrip()}")
        lines.append("Run `model-release card` to render it again.")
        return "\n".join(lines)

    def to_json(self) -> JsonObject:
        return {
            "command": self.command,
            "check": True,
            "card": str(self.card.path),
            "checked": [str(p) for p in sorted(self.card.outputs())],
            "drift": [{"path": str(d.path), "state": d.state, "diff": d.diff} for d in self.drift],
            "warnings": list(self.card.warnings),
            "message": self.message,
        }

    def text(self) -> str:
        return text_of(self.message)


@dataclass(frozen=True)
class CardsValidated:
    """``card validate``: each file's metadata against the model-card or dataset-card schema."""

    repo_type: RepoType
    cards: tuple[tuple[Path, CardCheck], ...]
    command: ClassVar[str] = "card validate"

    @property
    def exit_code(self) -> int:
        return 1 if any(check.errors for _, check in self.cards) else 0

    @property
    def message(self) -> str:
        lines = []
        for path, check in self.cards:
            lines.append(f"{path}: {'INVALID' if check.errors else 'ok'}")
            lines += [f"  error: {e}" for e in check.errors]
            lines += [f"  warning: {w}" for w in check.warnings]
        return "\n".join(lines)

    def to_json(self) -> JsonObject:
        return {
            "command": self.command,
            "repo_type": self.repo_type,
            "cards": [
                {"file": str(path), "errors": [str(p) for p in check.errors], "warnings": list(check.warnings)}
                for path, check in self.cards
            ],
            "message": self.message,
        }

    def text(self) -> str:
        return text_of(self.message)


def render(config: Config) -> CardRendered:
    """Checksums, then every card; the manifests and the model's card are written."""
    checksums = compute_checksums(config)
    card = plan_cards(config, checksums)
    apply_build(checksums, card)
    return CardRendered(card)


def check(config: Config) -> CardChecked:
    """What ``render`` would write, compared with the disk; writes nothing."""
    card = plan_cards(config, compute_checksums(config))
    owned = [card.eval_results_dir] if card.owns_eval_results else []
    return CardChecked(card, tuple(check_rendered(card.outputs(), owned)))


def validate(files: Sequence[Path], repo_type: RepoType = "model") -> CardsValidated:
    return CardsValidated(repo_type, tuple((path, check_card_file(path, repo_type)) for path in files))
