"""Exports and views: LaTeX (booktabs, parsed back or compiled), the paper's Table 3 / Table 4 layouts,
and the HTML as headless Chromium shows it (screenshots at desktop and narrow widths, no wrapping)."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from gnnbench.reports.aggregate import Filters, aggregate, load_trials
from gnnbench.reports.report import build_report, write_report

CHROMIUM = Path("/usr/bin/chromium")
NON_ASCII = "méthode_zürich"


@pytest.fixture
def report_store(fixture_store, trial_adder):
    """The fixture store, a method with a non-ASCII name, and VQ-GNN / Cluster-GCN under budgets."""
    for seed, acc in enumerate([0.81, 0.83]):
        trial_adder(fixture_store, NON_ASCII, "gcn", "cora", seed, test=acc, rss_mib=120,
                    method_config={"ville": "Köln"})
    for budget in ({"nodes_per_batch": 500}, {"messages_per_batch": 2000}):
        for method, mib in (("vqgnn", 100), ("cluster_gcn", 150), ("ns_sage", 200)):
            for seed in range(2):
                trial_adder(fixture_store, method, "sage", "cora", seed, test=0.8, rss_mib=mib, budget=budget)
    return fixture_store


_SYMBOLS = {r"$\pm$": "±", r"$\times$": "×", r"$\cdot$": "·", r"$\Delta$": "Δ", r"$\geq$": "≥", r"$-$": "−",
            "---": "—", "--": "–"}


def _unlatex(cell: str) -> str:
    cell = re.sub(r"\\bfseries\s*", "", cell.strip())
    for latex, char in _SYMBOLS.items():
        cell = cell.replace(latex, char)
    for escaped, char in ((r"\textbackslash{}", "\\"), (r"\textasciitilde{}", "~"), (r"\textasciicircum{}", "^")):
        cell = cell.replace(escaped, char)
    return re.sub(r"\\([&%$#_{}])", r"\1", cell)


def _latex_rows(tex: str) -> list[list[str]]:
    """The body rows of a booktabs tabular, split on unescaped ``&`` and unescaped."""
    body = tex.split("\\midrule", 1)[1].split("\\bottomrule", 1)[0]
    rows = [r for r in re.split(r"\\\\\s*\n", body) if r.strip()]
    return [[_unlatex(c) for c in re.split(r"(?<!\\)&", r)] for r in rows]


def test_latex_table_parses_back(report_store):
    from gnnbench.reports.latex import render_table
    from gnnbench.reports.tables import performance_table

    table = performance_table(aggregate(load_trials(report_store, Filters(dataset=["cora"]))), "cora")
    tex = render_table(table)
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex  # booktabs
    assert "\\label{tab:performance-cora}" in tex and "\\caption{" in tex
    header = tex.split("\\toprule", 1)[1].split("\\midrule", 1)[0].strip().removesuffix("\\\\")
    assert [_unlatex(c) for c in re.split(r"(?<!\\)&", header)] == table.header
    assert _latex_rows(tex) == [[c.text for c in row] for row in table.rows]
    assert "\\bfseries 82.00 $\\pm$ 2.00 (n=3)" in tex  # the best mean is bold
    assert not re.search(r"[±×·Δ≥−–—]", tex)  # symbols pdfLaTeX's utf8 encoding lacks are LaTeX commands
    assert NON_ASCII.replace("_", "\\_") in tex and "Köln" in tex  # non-ASCII kept as itself
    assert "Shared by all rows: lr=0.01" in tex  # the shared settings are in the caption


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed (the LaTeX is parsed back "
                                                             "by test_latex_table_parses_back instead)")
def test_latex_document_compiles(report_store, tmp_path):
    out = tmp_path / "out"
    write_report(build_report(report_store, Filters(), out), out)
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "report.tex"], cwd=out,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout[-3000:]
    assert (out / "report.pdf").read_bytes()[:5] == b"%PDF-"


def test_cli_format_latex(report_store, db_url, capsys):
    from gnnbench.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["report", "--db", db_url.removeprefix("sqlite:///"), "--dataset", "citeseer", "--format", "latex"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.count("\\begin{table}") == 3 and out.count("\\toprule") == 3 and "| method" not in out


def test_table3_view(report_store):
    from gnnbench.reports.views import table3

    agg = aggregate(load_trials(report_store, Filters()))
    (table,) = table3(agg)
    assert table.header == ["method", "settings", "500 nodes per batch · SAGE-Mean",
                            "2,000 messages passed per batch · SAGE-Mean"]
    rows = {r[0].text: [c.text for c in r[2:]] for r in table.rows}
    assert list(rows) == ["NS-SAGE", "Cluster-GCN", "VQ-GNN"]  # the paper's order
    assert rows["NS-SAGE"] == ["200.0 (2.00×) (n=2)"] * 2
    assert rows["Cluster-GCN"] == ["150.0 (1.50×) (n=2)"] * 2
    assert rows["VQ-GNN"] == ["100.0 (n=2)"] * 2


def test_table4_view(report_store):
    from gnnbench.reports.views import table4

    table = table4(aggregate(load_trials(report_store, Filters(dataset=["cora"]))))
    assert table.header[:4] == ["method", "settings", "cora · GCN", "cora · SAGE-Mean"]
    rows = {r[0].text: [c.text for c in r[2:]] for r in table.rows}
    assert list(rows)[:2] == ["Full-Graph", "NS-SAGE"]
    assert rows["Full-Graph"] == [".8200 ± .0200", ".8100 ± .0000"]
    assert rows["NS-SAGE"][1] == ".8400 ± .0100"
    assert rows["VQ-GNN"][0] == "OOM"
    assert rows[NON_ASCII] == [".8200 ± .0141", "—"]


def test_table4_marks_unsupported_combinations(db_url, trial_adder):
    from gnnbench.reports.views import table4
    from gnnbench.store import Store

    store = Store(db_url)
    trial_adder(store, "full_graph", "gcn", "cora", 0, test=0.8)
    trial_adder(store, "ns_sage", "sage", "cora", 0, test=0.8)
    trial_adder(store, "full_graph", "sage", "cora", 0, test=0.8)
    rows = {r[0].text: [c.text for c in r[2:]] for r in table4(aggregate(load_trials(store, Filters()))).rows}
    assert rows["NS-SAGE"] == ["NA", ".8000"]  # NS-SAGE cannot drive GCN (Table 4 note 1)


@pytest.mark.parametrize("view, message", [("table3", "needs trials run with a per-batch budget"),
                                           ("table4", "needs completed trials"),
                                           ("table5", "is not a choice; choices: full, table3, table4")])
def test_cli_view_without_trials_exits_2(db_url, trial_adder, capsys, view, message):
    from gnnbench.cli import main
    from gnnbench.store import Store

    store = Store(db_url)
    trial_adder(store, "vqgnn", "gcn", "cora", 0, "oom")
    with pytest.raises(SystemExit) as exit_:
        main(["report", "--db", db_url.removeprefix("sqlite:///"), "--view", view])
    assert exit_.value.code == 2
    assert message in " ".join(capsys.readouterr().err.split())


def test_cli_view_table3(report_store, db_url, capsys, tmp_path):
    from gnnbench.cli import main

    out = tmp_path / "t3"
    with pytest.raises(SystemExit) as exit_:
        main(["report", "--db", db_url.removeprefix("sqlite:///"), "--view", "table3", "--out", str(out)])
    assert exit_.value.code == 0
    printed = capsys.readouterr().out
    assert "Table 3 layout" in printed and "| VQ-GNN |" in printed
    assert (out / "csv" / "table3_cora.csv").is_file() and not (out / "figures").exists()


def _chromium(page: Path, tmp_path: Path, *args: str, name: str) -> subprocess.CompletedProcess:
    common = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
              f"--user-data-dir={tmp_path / ('profile-' + name)}"]
    return subprocess.run([*common, *args, page.resolve().as_uri()], capture_output=True, text=True, timeout=120,
                          check=False)


#: measures, in the page, the cells of no-wrap tables laid out on more than one line and the tables
#: wider than their box; writes the counts as attributes of <body> for --dump-dom
_MEASURE = """<script>
const cells = [...document.querySelectorAll('table.nowrap td, table.nowrap th')];
let wrapped = 0;
for (const c of cells) { const r = document.createRange(); r.selectNodeContents(c);
  if (new Set([...r.getClientRects()].map(x => Math.round(x.top))).size > 1) wrapped++; }
const over = [...document.querySelectorAll('div.scroll')].filter(d => d.scrollWidth > d.clientWidth + 1).length;
document.body.dataset.cells = cells.length; document.body.dataset.wrapped = wrapped;
document.body.dataset.overflow = over; document.body.dataset.width = document.documentElement.scrollWidth;
document.title = [...document.querySelectorAll('div.scroll')].filter(d => d.scrollWidth > d.clientWidth + 1)
  .map(d => d.querySelector('caption').textContent + ' ' + d.scrollWidth + '/' + d.clientWidth).join('; ');
</script></body>"""


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium "
                                                  "(apt-get install -y chromium; .ci/run installs it)")
def test_report_in_chromium_desktop_and_narrow(report_store, tmp_path):
    from PIL import Image

    out = tmp_path / "report"
    write_report(build_report(report_store, Filters(dataset=["cora"]), out), out)
    page = out / "report.html"
    html = page.read_text(encoding="utf-8")
    assert NON_ASCII in html and "Köln" in html  # as themselves, not as entities
    # desktop and narrow (headless Chromium lays pages out at 500 px at least, so narrow is 600)
    for width, height in ((1400, 2000), (600, 2000)):
        shot = tmp_path / f"shot-{width}.png"
        run = _chromium(page, tmp_path, f"--window-size={width},{height}", f"--screenshot={shot}", name=f"s{width}")
        assert shot.exists(), run.stderr[-2000:]
        image = Image.open(shot).convert("RGB")
        assert image.size == (width, height)
        colours = image.getcolors(maxcolors=1 << 22)
        assert len(colours) > 50  # text, table shading, figures
        assert sum(n for n, c in colours if c == (255, 255, 255)) < 0.97 * width * height
    # layout, measured in the page (a copy with a script and without the policy that forbids it)
    probe = out / "probe.html"
    probe.write_text(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html).replace(
        "</body>", _MEASURE), encoding="utf-8")
    for width, overflow_ok in ((1400, False), (600, True)):
        dom = _chromium(probe, tmp_path, f"--window-size={width},2000", "--dump-dom", name=f"d{width}").stdout
        attrs = dict(re.findall(r'data-(\w+)="(\d+)"', dom.split("<body", 1)[1].split(">", 1)[0]))
        assert int(attrs["cells"]) > 50, attrs
        assert attrs["wrapped"] == "0", attrs  # no cell of the time and memory tables wraps
        if not overflow_ok:
            assert attrs["overflow"] == "0", re.findall(r"<title>(.*?)</title>", dom)  # at 1400 px every table fits
        assert int(attrs["width"]) <= width, attrs  # the page never scrolls sideways; wide tables scroll in their box
        assert NON_ASCII in dom
