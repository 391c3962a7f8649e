"""Re-running only some of a report's sections: the other sections' executed notebooks, variables,
tables and charts are taken from the report folder built before, when that was built from the
very same measures.

``iapt-report build --section outcomes`` re-runs the outcomes notebook and re-renders the
report; ``--render-only`` re-runs no notebook (a change to the narrative only). The new report
is still built in a staging folder and swapped into place whole; its manifest says which
sections were run and which were reused.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from iapt_report.outputs.paths import OutputPathError, inside
from iapt_report.report.section_output import OUTPUTS_SUFFIX


def reusable_sections(previous: Path, sections: list[str], measures_sha256: str) -> list[str]:
    """The sections whose outputs in the report folder ``previous`` may be reused: that report was
    built by iapt-report from measures with the same hash (its manifest's ``measures_sha256``),
    and holds the section's executed notebook, variables and list of files, every file listed."""
    try:
        manifest = json.loads((previous / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(manifest, dict) or manifest.get("tool") != "iapt-report":
        return []
    parameters = manifest.get("parameters")
    if not isinstance(parameters, dict) or parameters.get("measures_sha256") != measures_sha256:
        return []
    return [section for section in sections if _outputs_of(previous, section) is not None]


def _outputs_of(folder: Path, section: str) -> list[Path] | None:
    """Every file a section's run left in a report folder, or None when any is missing."""
    listing = folder / "variables" / f"{section}{OUTPUTS_SUFFIX}"
    fixed = [folder / "notebooks" / f"{section}.ipynb", folder / "variables" / f"{section}.yml", listing]
    if not all(path.is_file() for path in fixed):
        return None
    files = []
    for line in listing.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            path = inside(folder, line)  # never a path outside the report folder
        except OutputPathError:
            return None
        if not path.is_file():
            return None
        files.append(path)
    return fixed + files


def copy_section_outputs(previous: Path, staging: Path, sections: list[str]) -> None:
    """Copy the files of ``sections`` (see :func:`reusable_sections`) from ``previous`` to ``staging``."""
    for section in sections:
        for path in _outputs_of(previous, section) or []:
            target = staging / path.relative_to(previous)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def plan_sections(sections: list[str], requested: list[str] | None, reusable: list[str]) -> list[str]:
    """The sections to run: every one when ``requested`` is None (a full build); otherwise those
    requested and those with nothing to reuse (a new section, or an earlier report built from
    other measures: then every section runs)."""
    if requested is None:
        return list(sections)
    return [section for section in sections if section in requested or section not in reusable]
