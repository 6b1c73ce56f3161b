"""Rendering: Markdown and HTML files, escaping of hostile names, headless Chromium, the CLI command."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from gnnbench.reports.aggregate import Filters
from gnnbench.reports.report import build_report, write_report

EVIL_METHOD = "<script>alert(1)</script>"
EVIL_DATASET = "cora<img src=x onerror=alert(2)>|x"
ODD_METHOD = "cost$1 | *x* & _y_"
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def evil_store(tmp_path_factory, trial_adder):
    from gnnbench.store import Store

    store = Store(f"sqlite:///{tmp_path_factory.mktemp('evil') / 'results.db'}")
    for seed, acc in enumerate([0.5, 0.7]):
        trial_adder(store, EVIL_METHOD, "gcn", EVIL_DATASET, seed, test=acc)
        trial_adder(store, ODD_METHOD, "gcn", EVIL_DATASET, seed, test=acc + 0.1)
        trial_adder(store, "full_graph", "gcn", EVIL_DATASET, seed, test=0.6, rss_mib=300)
    return store


@pytest.fixture(scope="module")
def evil_report(evil_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("evil-report") / "report"
    report = build_report(evil_store, Filters(), out)
    write_report(report, out)
    return out


def _pipes(line: str) -> int:
    """Unescaped ``|`` in a Markdown line (the column separators)."""
    return len(re.findall(r"(?<!\\)\|", line))


def test_hostile_names_are_text_in_html(evil_report):
    page = (evil_report / "report.html").read_text()
    assert "<script" not in page.lower()
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "cora&lt;img src=x onerror=alert(2)&gt;|x" in page
    assert "cost$1 | *x* &amp; _y_" in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    # self-contained: figures are data: URLs, nothing is fetched
    assert page.count('src="data:image/png;base64,') == 2  # convergence and trade-off of the one dataset
    assert not re.search(r'(src|href)="(?!data:)', page)


def test_hostile_names_do_not_break_markdown(evil_report):
    text = (evil_report / "report.md").read_text()
    assert "<script" not in text and "<img" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    tables = [line for line in text.splitlines() if line.startswith("|")]
    assert tables[0].startswith("| method")
    for line in tables:  # every row of a table has as many separators as its header
        if line.startswith("| method"):
            current = _pipes(line)
        assert _pipes(line) == current, line
    assert r"cost$1 \| \*x\* &amp; \_y\_" in text
    # figure files are named safely even though the dataset name is not
    figures = sorted(p.name for p in (evil_report / "figures").iterdir())
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", name) for name in figures)
    assert len(figures) == 6  # convergence and trade-off, PNG, SVG and PDF


def test_files_written(fixture_store, tmp_path):
    out = tmp_path / "out"
    report = build_report(fixture_store, Filters(dataset=["synthetic"]), out)
    written = {p.relative_to(out).as_posix() for p in write_report(report, out)}
    figures = {f"figures/{stem}.{ext}" for stem in ("scaling", "convergence_synthetic", "tradeoff_synthetic")
               for ext in ("png", "svg", "pdf")}
    assert {"report.md", "report.html", "report.tex", "csv/performance_synthetic.csv", "csv/time_synthetic.csv",
            "csv/memory_synthetic.csv", "csv/convergence.csv", "csv/tradeoff.csv", "csv/scaling.csv"} | figures == written
    assert (out / "figures" / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "figures" / "scaling.svg").read_text().lstrip().startswith("<?xml")
    assert (out / "figures" / "scaling.pdf").read_bytes()[:5] == b"%PDF-"
    from PIL import Image

    with Image.open(out / "figures" / "scaling.png") as png:  # 300 dpi, sized for a page (14 × 4.4 in)
        assert png.info["dpi"] == pytest.approx((300, 300), abs=0.5) and png.size[0] >= 14 * 300 - 10
    import pandas as pd

    perf = pd.read_csv(out / "csv" / "performance_synthetic.csv")
    row = perf[perf["variant"] == "full_graph · num_nodes=1000"].iloc[0]
    assert (row["test_mean"], row["n_completed"], row["seeds"]) == (pytest.approx(0.9), 2, "0 1")
    # every column the table shows is in its CSV, as shown
    for table in report.tables:
        csv = pd.read_csv(out / "csv" / f"{table.name}.csv", keep_default_na=False, dtype=str)
        assert table.header == list(csv.columns[:len(table.header)])
        assert csv[table.header].values.tolist() == [[c.text for c in r] for r in table.rows]
    scaling = pd.read_csv(out / "csv" / "scaling.csv")
    assert scaling["num_nodes"].tolist() == [500, 1000, 2000]
    md = (out / "report.md").read_text()
    assert ("| full_graph · num_nodes=500 | gcn | 10 | full graph | dataset.num_nodes=500 | **90.00 ± 0.00 (n=2)** "
            "| baseline |") in md
    assert "](figures/scaling.png)" in md


def test_tables_only_without_out(fixture_store):
    report = build_report(fixture_store, Filters(dataset=["citeseer"]))
    assert [s.title for s in report.sections] == ["dataset citeseer"]
    assert all(not s.figures for s in report.sections)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium "
                                                  "(apt-get install -y chromium; .ci/run installs it)")
def test_html_in_headless_chromium(evil_report, tmp_path):
    from PIL import Image

    page = (evil_report / "report.html").resolve().as_uri()
    common = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--enable-logging=stderr", "--v=0", "--window-size=1200,900"]
    shot = tmp_path / "shot.png"
    run = subprocess.run([*common, f"--user-data-dir={tmp_path / 'profile1'}", f"--screenshot={shot}", page],
                         capture_output=True, text=True, timeout=120, check=False)
    assert shot.exists(), run.stderr[-2000:]
    log = run.stderr
    # the page has no script: any console line is an error or a Content-Security-Policy violation
    assert "Uncaught" not in log and "Content Security Policy" not in log and ":CONSOLE" not in log, log[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 900)
    colours = image.getcolors(maxcolors=1 << 20)
    assert len(colours) > 50  # text, table shading and the embedded figures
    white = sum(n for n, c in colours if c == (255, 255, 255))
    assert white < 0.97 * image.size[0] * image.size[1]
    dom = subprocess.run([*common, f"--user-data-dir={tmp_path / 'profile2'}", "--dump-dom", page],
                         capture_output=True, text=True, timeout=120, check=False).stdout
    assert "gnnbench report" in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom  # shown as text, not parsed as an element
    assert "<script" not in dom.lower()


def test_cli_report(fixture_store, db_url, tmp_path, capsys):
    from gnnbench.cli import main

    db = db_url.removeprefix("sqlite:///")
    out = tmp_path / "cli-out"
    with pytest.raises(SystemExit) as exit_:
        main(["report", "--db", db, "--dataset", "cora", "--out", str(out)])
    assert exit_.value.code == 0
    printed = capsys.readouterr()
    assert "| full_graph | gcn | 10 | full graph | — | **82.00 ± 2.00 (n=3)** | baseline |" in printed.out
    assert (out / "report.html").is_file() and (out / "figures" / "tradeoff_cora.svg").is_file()
    md = (out / "report.md").read_text()
    assert "citeseer" not in md
    assert "scaling" not in md  # cora alone: one size, no scaling section (an empty section is left out)
    assert not (out / "figures" / "scaling.png").exists()
    # the environment block: absolute database path, versions, commit, date range
    assert f"- database: {Path(db).resolve()}" in md
    assert "- CPU: Test CPU" in md and "- torch threads: 1" in md and "- git commit: abc1234" in md
    assert re.search(r"- trials ran: \d{4}-\d\d-\d\d \d\d:\d\d – \d{4}-\d\d-\d\d \d\d:\d\d UTC", md)


@pytest.mark.parametrize("args, message", [
    (["--dataset", "coraa"], "did you mean 'cora'"),
    (["--since", "last week"], "not an ISO-8601 date"),
])
def test_cli_report_bad_input(fixture_store, db_url, capsys, args, message):
    from gnnbench.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["report", "--db", db_url.removeprefix("sqlite:///"), *args])
    assert exit_.value.code == 2
    assert message in " ".join(capsys.readouterr().err.split())


def test_cli_report_missing_db(tmp_path, capsys):
    from gnnbench.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["report", "--db", str(tmp_path / "nope.db")])
    assert exit_.value.code == 2 and "no results database" in capsys.readouterr().err
