"""The statistician's editing loop (docs/editing.md): a section notebook run by hand against a
built report, writing only to a scratch folder; `build --section` and `--render-only` re-running
one section, or none, and re-rendering; a new section added as the guide says; the unrounded
measures kept outside the published report folder; executed notebooks that read as an audit trail.

One report is built for the module the way a new user gets it: a notebook run by hand in a
repository whose default report has not been built yet builds it (from the repository's
synthetic data, here small).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import yaml

from iapt_report.cli import main
from iapt_report.outputs.exports import read_publication_files
from iapt_report.report.build import SECTIONS, BuildConfig, BuildError, build_reports
from iapt_report.report.build.notebook_inputs import section_inputs
from iapt_report.report.report_data import format_for_text
from iapt_report.sources.synthetic import generate, write_dataset

REPOSITORY = Path(__file__).resolve().parents[1]
MONTHLY = SECTIONS["monthly"]


def _without_quarto(path: str) -> str:
    """PATH without Quarto: the module's builds use the faster fallback renderer."""
    return os.pathsep.join(p for p in path.split(os.pathsep) if not (Path(p) / "quarto").exists())


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    """A checkout as a new user has it after `make venv`: the repository's notebooks, report
    sources and pyproject, its synthetic data in _data/synthetic (small here), no _output yet."""
    root = tmp_path_factory.mktemp("checkout")
    for name in ("notebooks", "report"):
        shutil.copytree(REPOSITORY / name, root / name)
    shutil.copy(REPOSITORY / "pyproject.toml", root / "pyproject.toml")
    write_dataset(generate(date(2019, 9, 1), date(2021, 3, 31), scale=0.01), root / "_data" / "synthetic",
                  marker={"synthetic": True})
    return root


@pytest.fixture(scope="module")
def built(repository):
    """The default report, built because a notebook run by hand asked for it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(repository / "notebooks")  # where Jupyter starts a notebook's kernel
        patch.setenv("PATH", _without_quarto(os.environ.get("PATH", "")))
        measures_path, build_dir = section_inputs("monthly", "2020-09", "England")
    return {"output": repository / "_output", "measures_path": Path(measures_path), "scratch": Path(build_dir),
            "folder": repository / "_output" / "monthly" / "2020-09" / "England"}


def _config(repository: Path, output: Path, **settings) -> BuildConfig:
    """As `iapt-report build --kind monthly --period 2020-09` would run in ``repository``."""
    defaults = {"kind": "monthly", "periods": ["2020-09"], "orgs": ["England"], "renderer": "fallback",
                "data": repository / "_data" / "synthetic", "notebooks": repository / "notebooks",
                "report_sources": repository / "report"}
    return BuildConfig(**{**defaults, **settings, "output": output})


def _copy_output(built, tmp_path) -> Path:
    output = tmp_path / "output"
    shutil.copytree(built["output"], output, symlinks=True)
    return output


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def _published(folder: Path) -> dict[str, str]:
    table = read_publication_files(folder)
    table = table[table.GROUP_TYPE == "England"]
    return dict(zip(table.MEASURE_ID, table.MEASURE_VALUE_SUPPRESSED))


# --- the report a notebook builds when it is missing; where its unrounded measures are -----------

def test_a_notebook_run_by_hand_builds_the_missing_default_report(built):
    assert (built["folder"] / "report.html").is_file()
    assert built["measures_path"] == built["output"] / "_unrounded" / "monthly" / "2020-09" / "England" / \
        "measures_unrounded.parquet"
    assert built["measures_path"].is_file()
    # the scratch folder is outside the repository
    assert not built["scratch"].resolve().is_relative_to(built["output"].parent.resolve())


def test_unrounded_measures_are_kept_outside_the_published_report_folder(built):
    folder, output = built["folder"], built["output"]
    assert not list(folder.rglob("*.parquet")), "nothing unrounded in the report folder"
    unrounded = built["measures_path"].parent
    assert "NOT FOR PUBLICATION" in (unrounded / "README.txt").read_text()
    assert sorted(_manifest(unrounded)["outputs"]) == ["README.txt", "measures_unrounded.parquet"]
    manifest = _manifest(folder)
    assert manifest["parameters"]["unrounded_measures"] == "_unrounded/monthly/2020-09/England/measures_unrounded.parquet"
    # the report's manifest names the very measures its sections read
    assert manifest["parameters"]["measures_sha256"] == hashlib.sha256(built["measures_path"].read_bytes()).hexdigest()
    index = (output / "index.html").read_text()
    assert "monthly/2020-09/England/report.html" in index and "_unrounded" not in index and "parquet" not in index


def test_parameters_that_do_not_go_together_or_a_report_not_built_say_what_to_do(built, tmp_path):
    with pytest.raises(BuildError, match=r"needs period = a financial year"):
        section_inputs("annual", "2020-09", "England", output=built["output"])
    with pytest.raises(BuildError, match="org"):
        section_inputs("monthly", "2020-09", "../../etc", output=built["output"])
    with pytest.raises(FileNotFoundError) as missing:
        section_inputs("monthly", "2020-08", "ZP007", output=built["output"])
    assert "iapt-report build --kind monthly --period 2020-08 --org ZP007" in str(missing.value)
    # as a build runs it: the paths given are used as they are
    assert section_inputs("monthly", "2020-09", "England", measures_path="m.parquet", build_dir="b") == ("m.parquet", "b")


# --- notebooks run by hand, as papermill users run them --------------------------------------------

def test_every_monthly_notebook_runs_by_hand_from_the_repository_root_writing_only_to_scratch(built, tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = dict(os.environ, TMPDIR=str(scratch))
    before = sorted(p.relative_to(built["output"].parent) for p in built["output"].parent.rglob("*"))
    for section in MONTHLY:
        executed = tmp_path / f"{section}.ipynb"
        run = subprocess.run([sys.executable, "-m", "papermill", f"notebooks/{section}.ipynb", str(executed),
                              "-p", "period", "2020-09", "-p", "org", "England", "-p", "output", str(built["output"]),
                              "--no-progress-bar"],
                             cwd=built["output"].parent, env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-2000:]
        written = list(scratch.glob(f"iapt-report-scratch-*/monthly/2020-09/England/variables/{section}.yml"))
        assert len(written) == 1, f"{section} wrote no variables to the scratch folder"
        variables = yaml.safe_load(written[0].read_text())[section]
        in_report = yaml.safe_load((built["folder"] / "_variables.yml").read_text())[section]
        assert variables == in_report  # the same figures as the report's
    after = sorted(p.relative_to(built["output"].parent) for p in built["output"].parent.rglob("*"))
    assert after == before, "a notebook run by hand wrote into the repository or the report"


def test_help_notebook_describes_every_parameter():
    run = subprocess.run([sys.executable, "-m", "papermill", "--help-notebook", "notebooks/outcomes.ipynb"],
                         cwd=REPOSITORY, capture_output=True, text=True, timeout=300, check=True)
    text = re.sub(r"\s+", " ", run.stdout)
    for name, words in (("kind", 'report kind: "monthly" or "annual"'), ("period", "reporting period: YYYY-MM"),
                        ("org", "England, or the code"), ("output", "the folder the report was built into"),
                        ("measures_path", "unrounded measures to read"),
                        ("build_dir", "where this section writes its variables")):
        assert re.search(rf"{name}: str \(default [^)]*\) {re.escape(words)}", text), (name, text)


# --- executed notebooks in a report folder --------------------------------------------------------

def test_executed_notebooks_read_as_an_audit_trail(built):
    folder = built["folder"]
    for section in MONTHLY:
        notebook = json.loads((folder / "notebooks" / f"{section}.ipynb").read_text())
        cells = notebook["cells"]
        assert cells[0]["cell_type"] == "markdown" and "".join(cells[0]["source"]).startswith("# ")
        tags = [c.get("metadata", {}).get("tags", []) for c in cells]
        assert ["parameters"] in tags and ["injected-parameters"] in tags, section
        outputs = [o for c in cells for o in c.get("outputs", [])]
        images = {o["data"]["image/png"] for o in outputs if "image/png" in o.get("data", {})}
        html_tables = sum("<table" in "".join(o.get("data", {}).get("text/html", "")) for o in outputs)
        listed = (folder / "variables" / f"{section}.outputs.txt").read_text().split()
        for name in listed:
            if name.endswith(".png"):  # every chart is shown in the notebook, as the report shows it
                assert base64.b64encode((folder / name).read_bytes()).decode() in images, (section, name)
        tables = [n for n in listed if n.startswith("tables/") and (folder / n).read_text().startswith("|")]
        assert html_tables >= len(tables), (section, tables)


# --- build --section and --render-only -------------------------------------------------------------

def test_build_section_reruns_that_notebook_only_and_reuses_the_others(built, repository, tmp_path):
    output = _copy_output(built, tmp_path)
    folder = output / "monthly" / "2020-09" / "England"
    before = {s: (folder / "notebooks" / f"{s}.ipynb").read_bytes() for s in MONTHLY}

    [report] = build_reports(_config(repository, output, sections=["outcomes"]))

    assert report.error is None, report.error
    assert report.measures_from_cache
    assert report.sections_run == ["outcomes"] and report.sections_reused == [s for s in MONTHLY if s != "outcomes"]
    for section in report.sections_reused:
        assert (folder / "notebooks" / f"{section}.ipynb").read_bytes() == before[section], section
    assert (folder / "notebooks" / "outcomes.ipynb").read_bytes() != before["outcomes"]  # run again
    manifest = _manifest(folder)["parameters"]
    assert manifest["sections_run"] == ["outcomes"] and manifest["sections_reused"] == report.sections_reused
    # the cache the measures came from: <output>/_cache/<key>-*.parquet
    cache_folder, key = manifest["measures_cache"].rsplit("/", 1)
    assert Path(cache_folder).name == "_cache" and list((output / "_cache").glob(f"{key}-*.parquet"))
    assert yaml.safe_load((folder / "_variables.yml").read_text()).keys() >= set(MONTHLY)
    values = _published(folder)
    assert format_for_text(values["M001"], "count") in (folder / "report.html").read_text()


def test_a_failing_section_rerun_leaves_the_report_as_it_was(built, repository, tmp_path):
    output = _copy_output(built, tmp_path)
    folder = output / "monthly" / "2020-09" / "England"
    manifest = (folder / "manifest.json").read_bytes()
    notebooks = tmp_path / "notebooks"
    shutil.copytree(repository / "notebooks", notebooks)
    broken = json.loads((notebooks / "outcomes.ipynb").read_text())
    broken["cells"].append({"id": "broken", "cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                            "source": "raise RuntimeError('deliberately broken cell')"})
    (notebooks / "outcomes.ipynb").write_text(json.dumps(broken))

    [report] = build_reports(_config(repository, output, sections=["outcomes"], notebooks=notebooks))

    assert "deliberately broken cell" in report.error
    assert (folder / "manifest.json").read_bytes() == manifest
    assert (output / "_unrounded" / "monthly" / "2020-09" / "England" / "measures_unrounded.parquet").is_file()


def test_render_only_shows_an_edited_sentence_without_running_a_notebook(built, repository, tmp_path):
    output = _copy_output(built, tmp_path)
    folder = output / "monthly" / "2020-09" / "England"
    before = {s: (folder / "notebooks" / f"{s}.ipynb").read_bytes() for s in MONTHLY}
    sources = tmp_path / "report"
    shutil.copytree(repository / "report", sources)
    prose = sources / "sections" / "outcomes.qmd"
    prose.write_text(prose.read_text().replace("# Outcomes\n", "# Outcomes\n\nA sentence the statistician added.\n"))

    [report] = build_reports(_config(repository, output, sections=[], report_sources=sources))

    assert report.error is None, report.error
    assert report.sections_run == [] and report.sections_reused == MONTHLY
    assert "A sentence the statistician added." in (folder / "report.html").read_text()
    assert {s: (folder / "notebooks" / f"{s}.ipynb").read_bytes() for s in MONTHLY} == before


def test_a_section_rerun_runs_every_section_when_the_measures_changed(built, repository, tmp_path):
    """Outputs are reused only from a report of the very same measures: here the trend is shorter."""
    output = _copy_output(built, tmp_path)
    [report] = build_reports(_config(repository, output, sections=["outcomes"], trend_months=2))
    assert report.error is None, report.error
    assert report.sections_run == MONTHLY and report.sections_reused == []


def test_cli_section_options(built, tmp_path, capsys):
    data = str(built["output"].parent / "_data" / "synthetic")
    assert main(["build", "--data", data, "--output", str(tmp_path), "--section", "outcomes", "--render-only"]) == 2
    assert "--render-only" in capsys.readouterr().err
    assert main(["build", "--data", data, "--output", str(tmp_path), "--section", "ethnicity"]) == 2
    assert "no section 'ethnicity'" in capsys.readouterr().err  # an annual section


# --- a new section, added as docs/editing.md says ------------------------------------------------

NEW_NOTEBOOK = '''\
# %% [markdown]
# # Referral summary
#
# Referrals received in the period, and the headline table's first rows.

# %% tags=["parameters"]
kind: str = "monthly"  # report kind: "monthly" or "annual"
period: str = "2020-09"  # reporting period: YYYY-MM (a month) for monthly, YYYY-YY (a financial year) for annual
org: str = "England"  # England, or the code of a region, ICB, sub-ICB or provider (e.g. ZP007)
output: str = "_output"  # the folder the report was built into by `iapt-report build` (relative: to the repository)
measures_path: str = ""  # unrounded measures to read; empty: those of the report built for kind, period and org in output
build_dir: str = ""  # where this section writes its variables, tables and charts; empty: a scratch folder outside the repository

# %%
from iapt_report.report import sections
from iapt_report.report.build.notebook_inputs import open_section

data, out, when = open_section("referral_summary", kind, period, org, output, measures_path, build_dir)

# %% [markdown]
# ## Referrals received

# %%
received = data.figure("M001")
out.variable("received_sentence", f"In {when}, {received} referrals were received." if received else "")
table = sections.key_facts_table(data).head(2)
out.table("referral_summary", table, caption=sections.caption(f"Referrals, {when}", table))
table

# %%
out.save();
'''

NEW_PROSE = """# Referral summary

{{< var referral_summary.received_sentence >}}

{{< include tables/referral_summary.md >}}
"""


def test_adding_a_section_as_the_editing_guide_says(built, repository, tmp_path, monkeypatch):
    output = _copy_output(built, tmp_path)
    checkout = tmp_path / "checkout"
    for name in ("notebooks", "report"):
        shutil.copytree(repository / name, checkout / name)
    shutil.copy(REPOSITORY / "jupytext.toml", checkout / "jupytext.toml")  # pairs the notebooks, as in the repository
    # 2. the notebook, started from an existing one (its jupytext header names the kernel), and its pair
    existing = (checkout / "notebooks" / "key_facts.py").read_text()
    header = existing[:existing.index("# ---\n", 5) + len("# ---\n")]
    (checkout / "notebooks" / "referral_summary.py").write_text(header + "\n" + NEW_NOTEBOOK)
    subprocess.run([sys.executable, "-m", "jupytext", "--sync", str(checkout / "notebooks" / "referral_summary.py")],
                   check=True, capture_output=True, timeout=120)
    assert (checkout / "notebooks" / "referral_summary.ipynb").is_file()
    # 3. the prose; 4. placed in the monthly report
    (checkout / "report" / "sections" / "referral_summary.qmd").write_text(NEW_PROSE)
    monthly = checkout / "report" / "monthly.qmd"
    monthly.write_text(monthly.read_text().replace("{{< include sections/outcomes.qmd >}}",
                                                   "{{< include sections/referral_summary.qmd >}}\n\n"
                                                   "{{< include sections/outcomes.qmd >}}"))
    # 5. registered
    monkeypatch.setitem(SECTIONS, "monthly", [*MONTHLY[:2], "referral_summary", *MONTHLY[2:]])
    # 6. built: the new section runs, the others are reused
    config = tmp_path / "run.toml"
    config.write_text(f'kind = "monthly"\nperiods = ["2020-09"]\ndata = "{repository / "_data" / "synthetic"}"\n'
                      f'output = "{output}"\nrenderer = "fallback"\nnotebooks = "{checkout / "notebooks"}"\n'
                      f'report_sources = "{checkout / "report"}"\n')
    assert main(["build", "--config", str(config), "--section", "referral_summary"]) == 0

    folder = output / "monthly" / "2020-09" / "England"
    assert _manifest(folder)["parameters"]["sections_run"] == ["referral_summary"]
    html = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", (folder / "report.html").read_text()))
    received = format_for_text(_published(folder)["M001"], "count")
    assert f"In September 2020, {received} referrals were received." in html
    assert "Referral summary" in html and "Referrals, September 2020" in html
    assert html.index("Referral summary") < html.index("Outcomes are measured")  # where it was placed
    executed = json.loads((folder / "notebooks" / "referral_summary.ipynb").read_text())
    assert any("<table" in "".join(o.get("data", {}).get("text/html", ""))
               for c in executed["cells"] for o in c.get("outputs", []))


def test_the_editing_guide_names_every_figure_table_and_chart_the_narrative_inserts():
    guide = (REPOSITORY / "docs" / "editing.md").read_text()
    sources = [REPOSITORY / "report" / "monthly.qmd", REPOSITORY / "report" / "annual.qmd",
               *sorted((REPOSITORY / "report" / "sections").glob("*.qmd"))]
    text = "\n".join(p.read_text() for p in sources)
    names = set(re.findall(r"\{\{< var ([\w.]+) >\}\}", text))
    names |= set(re.findall(r"\{\{< include ((?:tables|figures)/[\w.]+) >\}\}", text))
    assert names
    missing = sorted(name for name in names if f"`{name}`" not in guide)
    assert not missing, f"docs/editing.md does not say where these come from: {missing}"
