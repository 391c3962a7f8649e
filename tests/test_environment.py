"""pyproject.toml, constraints.txt and environment.yml describe the same environment."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]

# PyPI requirement (canonical name, with extras) -> conda-forge package, where they differ
CONDA_NAMES = {
    "ibis-framework[duckdb]": "ibis-duckdb",
    "duckdb": "python-duckdb",
    "matplotlib": "matplotlib-base",
    "seaborn": "seaborn-base",
}
# not on conda-forge under these names: listed in environment.yml's pip: section
PIP_ONLY = {"pypandoc-binary", "typst", "gptables"}
# conda packages that are not Python distributions pinned by constraints.txt
NOT_IN_CONSTRAINTS = {"python", "pip", "quarto", "openjdk"}

_CONDA_SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:(==|=)\s*([^\s#]+))?\s*$")


def _key(requirement: Requirement) -> str:
    name = canonicalize_name(requirement.name)
    extras = ",".join(sorted(canonicalize_name(e) for e in requirement.extras))
    return f"{name}[{extras}]" if extras else name


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _requirements() -> list[Requirement]:
    project = _pyproject()["project"]
    deps = list(project["dependencies"]) + list(project["optional-dependencies"]["test"])
    return [Requirement(d) for d in deps]


def _constraints() -> dict[str, str]:
    pins: dict[str, str] = {}
    for number, line in enumerate((ROOT / "constraints.txt").read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"constraints.txt line {number} is not an exact pin (name==version): {line!r}"
        name = canonicalize_name(name)
        assert pins.get(name, version) == version, f"constraints.txt pins {name} twice, differently"
        pins[name] = version.strip()
    return pins


def _environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))


def _conda_packages() -> dict[str, str | None]:
    """conda-forge packages of environment.yml: name -> pinned version (or None)."""
    packages = {}
    for entry in _environment()["dependencies"]:
        if isinstance(entry, str):
            match = _CONDA_SPEC.match(entry)
            assert match, f"environment.yml entry {entry!r} is not 'name' or 'name=version'"
            packages[match.group(1).lower()] = match.group(3)
    return packages


def _pip_packages() -> dict[str, str | None]:
    """environment.yml's pip: section (without the editable project): name -> version."""
    packages = {}
    for entry in _environment()["dependencies"]:
        if isinstance(entry, dict):
            for line in entry.get("pip", []):
                if line.startswith("-"):  # -e . (the project itself) and pip options
                    continue
                requirement = Requirement(line)
                pins = [s.version for s in requirement.specifier if s.operator == "=="]
                packages[canonicalize_name(requirement.name)] = pins[0] if pins else None
    return packages


def _conda_to_pypi() -> dict[str, str]:
    reverse = {conda: re.sub(r"\[.*\]", "", pypi) for pypi, conda in CONDA_NAMES.items()}
    return {name: reverse.get(name, name) for name in _conda_packages()}


def test_environment_uses_conda_forge():
    assert _environment()["channels"] == ["conda-forge"]


def test_every_dependency_is_pinned_in_constraints():
    pins = _constraints()
    for requirement in _requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} (pyproject.toml) is not pinned in constraints.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, outside pyproject.toml's {requirement}"
        )


def test_every_dependency_is_in_environment_yml():
    conda, pip = _conda_packages(), _pip_packages()
    for requirement in _requirements():
        key = _key(requirement)
        name = canonicalize_name(requirement.name)
        if name in PIP_ONLY:
            assert name in pip, f"{requirement} belongs in environment.yml's pip: section"
        else:
            conda_name = CONDA_NAMES.get(key, CONDA_NAMES.get(name, name))
            assert conda_name in conda, (
                f"{requirement} (pyproject.toml) is missing from environment.yml as {conda_name!r}"
            )


def test_environment_yml_lists_nothing_beyond_pyproject():
    wanted = {canonicalize_name(r.name) for r in _requirements()}
    conda_extra = {
        conda for conda, pypi in _conda_to_pypi().items()
        if conda not in NOT_IN_CONSTRAINTS and canonicalize_name(pypi) not in wanted
    }
    pip_extra = set(_pip_packages()) - wanted
    assert not conda_extra and not pip_extra, (
        f"environment.yml lists packages pyproject.toml does not: {sorted(conda_extra | pip_extra)}"
    )


def test_environment_yml_versions_match_constraints():
    pins, conda = _constraints(), _conda_packages()
    for conda_name, pypi in _conda_to_pypi().items():
        if conda_name in NOT_IN_CONSTRAINTS:
            continue
        version, pin = conda[conda_name], pins[canonicalize_name(pypi)]
        assert version is not None, f"environment.yml does not pin {conda_name}; pin it to {pin}"
        assert Version(version) == Version(pin), (
            f"environment.yml pins {conda_name}={version}, constraints.txt {pypi}=={pin}"
        )
    for name, version in _pip_packages().items():
        assert version == pins[name], (
            f"environment.yml pip: {name}=={version}, constraints.txt {name}=={pins[name]}"
        )


def test_environment_yml_includes_quarto_and_python():
    conda = _conda_packages()
    assert "quarto" in conda, "environment.yml must install Quarto (conda-forge 'quarto')"
    requires = _pyproject()["project"]["requires-python"]
    assert conda.get("python"), "environment.yml must pin python"
    assert Requirement(f"python{requires}").specifier.contains(conda["python"])

