"""The reader's checks (report_check.py) on small hand-written pages: each fault found, each good page clean."""

from __future__ import annotations

from pathlib import Path

from iapt_report.report.report_check import check_report


def page(folder: Path, body: str, files: tuple[str, ...] = ()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.html").write_text(
        '<!DOCTYPE html><html lang="en-GB"><head><title>t</title></head><body>'
        '<header id="title-block-header"><h1 class="title">NHS Talking Therapies monthly statistics: '
        'September 2020</h1><p class="subtitle">England</p></header>'
        f'<main id="content">{body}</main></body></html>', encoding="utf-8")
    for name in files:
        (folder / name).write_text("x")
    return folder


def table(*rows: tuple[str, ...], caption: str = "") -> str:
    header, *body = rows
    cells = "".join(f"<th>{c}</th>" for c in header)
    lines = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in body)
    return f"<table><caption>{caption}</caption><thead><tr>{cells}</tr></thead><tbody>{lines}</tbody></table>"


GOOD = (
    '<h1 id="key-facts">Key facts</h1>'
    "<p>Referrals received rose from 6,612 in August 2020 to 6,977 in September 2020.</p>"
    "<p>The recovery rate was highest for Anxiety (55.0%) and lowest for Depression (48.8%).</p>"
    + table(("Problem", "Recovery rate"), ("Anxiety", "55.0%"), ("Depression", "48.8%"), ("Other", "50.1%"))
    + '<p><a href="measures.csv">measures</a> and <a href="#key-facts">back to the top</a>.</p>'
    '<h1 id="about">About these statistics</h1>'
    "<p>Counts of fewer than 5 are suppressed and shown as *.</p>"
)


def test_a_good_page_has_no_problems(tmp_path):
    assert check_report(page(tmp_path, GOOD, files=("measures.csv",))) == []


def test_each_fault_is_found(tmp_path):
    faults = {
        "placeholder": "<p>In ?var:key_facts.period there were 5 referrals.</p>",
        "shortcode": "<p>{{< var key_facts.period >}}</p>",
        "nan": "<p>The mean wait was nan days.</p>",
        "empty row": table(("Region", "Finished", "Rate"), ("London", "not available", "not available")),
        "suppressed in a sentence": "<ul><li>a mean of suppressed treatment sessions;</li></ul>",
        "fewer than 5 in a sentence": "<p>fewer than 5 of the fewer than 5 referrals waited.</p>",
        "wrong direction": "<p>Referrals received rose from 1,694,790 in 2019-20 to 1,456,446 in 2020-21.</p>",
        "wrong extreme": "<p>Recovery was lowest for Depression (50.0%).</p>"
                         + table(("Problem", "Recovery rate"), ("Depression", "50.0%"), ("Other", "48.8%")),
        "duplicated row": table(("Provider", "Referrals"), ("Alpha", "10"), ("Alpha", "15")),
        "month as code": "<p>Referrals fell in 2019-09.</p>",
        "missing file": '<p><a href="metadata.csv">metadata</a></p>',
        "missing anchor": '<p><a href="#nowhere">see below</a></p>',
    }
    for number, (fault, body) in enumerate(faults.items()):
        problems = check_report(page(tmp_path / str(number), body))
        assert len(problems) >= 1, f"{fault} not found"


def test_a_financial_year_is_not_taken_for_a_month(tmp_path):
    body = "<p>Referrals fell from 1,694,790 in 2019-20 to 1,456,446 in 2020-21, and in 2011-12.</p>"
    assert check_report(page(tmp_path, body)) == []


def test_words_explaining_the_rule_are_allowed_in_any_section(tmp_path):
    body = ('<h1 id="kf">Key facts</h1><p>Figures based on fewer than 5 referrals are suppressed and shown '
            "as * in the tables.</p>")
    assert check_report(page(tmp_path, body)) == []
