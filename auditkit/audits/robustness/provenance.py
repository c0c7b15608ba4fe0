"""Which resources each recipe really read, with a sha256 of each, for the results' manifest.

Two runs used the same inputs when their manifests list the same resources with the same
hashes. For the NLTK data auditkit provides, the entry is checked against the attack TextAttack
actually built: the stop words its `StopwordModification` holds must be the words of the file
that is hashed, and the WordNet reader its swaps use must read from auditkit's root.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditkit.api.results import AuditResult, ResourceUse, Table
from auditkit.errors import AuditkitError

if TYPE_CHECKING:
    from auditkit.audits.robustness.offline import Setup
    from auditkit.audits.robustness.recipes import Recipe

_hashes: dict[tuple, str] = {}


def content_sha256(path: Path) -> str:
    """sha256 of a file's bytes; of a folder, over its files' relative paths and bytes, sorted."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    key = (str(path), *((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files))
    if key in _hashes:
        return _hashes[key]
    if path.is_file():
        digest = _file_sha256(path)
    else:
        h = hashlib.sha256()
        for f in files:
            h.update(f.relative_to(path).as_posix().encode() + b"\0")
            h.update(bytes.fromhex(_file_sha256(f)))
        digest = h.hexdigest()
    _hashes[key] = digest
    return digest


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def words_sha256(words: set[str]) -> str:
    """The hash auditkit's own stop-word file would have for these words (sorted, one a line)."""
    return hashlib.sha256(("\n".join(sorted(words)) + "\n").encode()).hexdigest()


def resources_used(recipe: Recipe, attack: Any, setup: Setup) -> list[ResourceUse]:
    """The resources `recipe` read, checked against the `attack` TextAttack built from it."""
    from auditkit.audits.robustness.offline import NLTK_PACKAGES

    uses: list[ResourceUse] = []
    for resource in recipe.needs:
        for package in resource.nltk:
            path = setup.location(package)
            if path is None:  # prepare_textattack provides every package a recipe declares
                raise AuditkitError(f"robustness: {recipe.name} needs NLTK's {package!r}, "
                                    f"which is not in {setup.root}")  # fmt: skip
            uses.append(
                ResourceUse(
                    name=f"nltk_data/{NLTK_PACKAGES[package]}"
                    + ("/english" if package == "stopwords" else ""),
                    source=setup.sources[package],
                    location=str(path),
                    sha256=content_sha256(path),
                    used_by=[recipe.name],
                )
            )
        if resource.locate is not None:
            origin, path = resource.locate()
            exists = path is not None and path.exists()
            uses.append(
                ResourceUse(
                    name=resource.name,
                    source=origin,
                    location=str(path) if exists else None,
                    sha256=content_sha256(path) if exists else None,
                    used_by=[recipe.name],
                )
            )
    if attack is not None:
        uses += _check_attack(recipe, attack, setup)
    return uses


def _check_attack(recipe: Recipe, attack: Any, setup: Setup) -> list[ResourceUse]:
    """Fail if TextAttack read other words than auditkit's; name built-in lists it used."""
    from textattack.constraints.pre_transformation import StopwordModification

    extra: list[ResourceUse] = []
    constraints = getattr(attack, "pre_transformation_constraints", [])
    for constraint in constraints:
        if not isinstance(constraint, StopwordModification):
            continue
        if "stopwords" in recipe.nltk_packages:
            path = setup.location("stopwords")
            assert path is not None
            provided = set(path.read_text(encoding="utf-8").split())
            if constraint.stopwords != provided:
                raise AuditkitError(
                    f"robustness: {recipe.name}'s stop words ({len(constraint.stopwords)}) are "
                    f"not the {len(provided)} auditkit provided in {path}",
                    hint="NLTK's stopwords corpus was loaded from elsewhere before auditkit "
                    "bound it; report this as a bug",
                )
        else:  # a list built into the recipe (TextFooler's)
            version = importlib.metadata.version("textattack")
            extra.append(
                ResourceUse(
                    name=f"stop words built into {recipe.target.partition(':')[2]}",
                    source=f"textattack {version} ({len(constraint.stopwords)} words)",
                    sha256=words_sha256(constraint.stopwords),
                    used_by=[recipe.name],
                )
            )
    if "wordnet" in recipe.nltk_packages:
        from auditkit.audits.robustness.offline import under_root

        module = sys.modules.get("textattack.transformations.word_swaps.word_swap_wordnet")
        reader = getattr(module, "wordnet", None)
        root = getattr(reader, "root", None) if reader is not None else None
        if root is None or not under_root(root, setup.root):
            raise AuditkitError(
                f"robustness: {recipe.name}'s WordNet is read from {root}, not from {setup.root}",
                hint="report this as a bug",
            )
    return extra


def merge(into: list[ResourceUse], uses: list[ResourceUse]) -> None:
    """Add `uses` to a manifest's list: one entry per resource content, its users merged."""
    for use in uses:
        for have in into:
            same = ("name", "source", "location", "sha256")
            if all(getattr(have, k) == getattr(use, k) for k in same):
                have.used_by = sorted(set(have.used_by) | set(use.used_by))
                break
        else:
            into.append(use.model_copy(deep=True))


def publish(result: AuditResult, manifest_resources: list[ResourceUse] | None, uses) -> None:
    """Write the resources into the audit's `resources` table and the run's manifest."""
    merged: list[ResourceUse] = []
    merge(merged, uses)
    result.tables["resources"] = Table(
        columns=["name", "source", "location", "sha256", "used_by"],
        rows=[[u.name, u.source, u.location, u.sha256, ", ".join(u.used_by)] for u in merged],
        description="data files the recipes read besides the model (also in the manifest)",
    )
    if manifest_resources is not None:
        merge(manifest_resources, merged)
