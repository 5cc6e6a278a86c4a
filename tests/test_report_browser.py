"""The report as a reader opens it: `snakemake --report` of a finished CI-scenario run, opened in headless Chromium
(Debian's `chromium`, installed by .ci/run). From the rendered DOM: the landing page shows every claim with a
verdict for every model, fits a 1400-pixel-wide window without horizontal scrolling and opens at the top; every
figure of the report is displayed (the report's own viewer, driven as its buttons drive it). A screenshot of the
landing page is kept as the test's artifact (its path is printed; copied to $SUPERWEIGHT_ARTIFACTS when set)."""
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WIDTH = 1400


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium not installed: .ci/run installs Debian's `chromium` when run as root "
                "(apt-get install -y chromium)")


def browse(page: Path, profile: Path, *args: str, height: int = 1000) -> str:
    """Open a page in a fresh headless Chromium profile (no network use, no state kept) and return its stdout."""
    profile.mkdir(parents=True, exist_ok=True)
    cmd = [chromium(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={WIDTH},{height}",
           "--virtual-time-budget=20000", *args, page.resolve().as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


# Drives the report as its result buttons do (ButtonViewManager: app.setView with the result's data URI), then
# records what the browser shows: the landing view's geometry first, then each image result's <img>.
PROBE = """<script>
window.addEventListener("load", async () => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  await sleep(1000);
  const out = {figures: {}};
  const matrix = document.querySelector("table.sw-matrix");
  const scroller = matrix && matrix.closest(".overflow-auto");
  out.landing = matrix ? {
    matrix_top: matrix.getBoundingClientRect().top, matrix_right: matrix.getBoundingClientRect().right,
    view_width: window.innerWidth, view_height: window.innerHeight,
    page_scroll_width: document.documentElement.scrollWidth,
    scroll_width: scroller ? scroller.scrollWidth : null, client_width: scroller ? scroller.clientWidth : null,
    scroll_top: scroller ? scroller.scrollTop : null} : null;
  for (const [path, r] of Object.entries(results)) {
    if (!r.mime_type.startsWith("image/")) continue;
    app.setView({content: "img", contentPath: r.data_uri, resultPath: path});
    let img = null;
    for (let i = 0; i < 50 && !(img && img.complete); i++) {
      await sleep(100);
      img = Array.from(document.querySelectorAll("#app img")).find(x => x.getAttribute("src") === r.data_uri);
    }
    const box = img ? img.getBoundingClientRect() : null;
    out.figures[path] = img ? {natural_width: img.naturalWidth, natural_height: img.naturalHeight,
                               width: box.width, height: box.height} : null;
  }
  const pre = document.createElement("pre");
  pre.id = "sw-probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


@pytest.fixture(scope="module")
def report(ran, tmp_path_factory):
    from test_workflow import snakemake

    out = tmp_path_factory.mktemp("report") / "report.html"
    r = snakemake(ran, "--report", str(out), "--configfile", ".test/ci.yaml")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    return out


def test_landing_page_shows_every_verdict_in_a_browser(ran, report, tmp_path):
    claims = json.loads((ran / "results/claims.json").read_text())
    dom = browse(report, tmp_path / "profile", "--dump-dom")
    assert 'class="sw-matrix"' in dom, "the landing page does not show the verdict matrix"
    matrix = dom[dom.index('class="sw-matrix"'):]
    matrix = matrix[:matrix.index("</table>")]
    cells = {m.group(2): (m.group(1), html.unescape(m.group(3)), html.unescape(m.group(4))) for m in
             re.finditer(r'<a class="sw-v (sw-[\w-]+)" href="#sw-([^"]+)" title="([^"]*)">([^<]+)</a>', matrix)}
    for r in claims["claims"]:
        assert f"<code>{r['claim'].replace('_', '_<wbr>')}</code>" in matrix, r["claim"]
        key = f"{r['claim']}--{r['model']}"
        assert key in cells, f"no verdict shown for {key}"
        kind, full, shown = cells[key]
        assert full == r["verdict"] and shown.strip() and kind != "sw-other", cells[key]
        assert f'id="sw-{key}"' in dom, f"{key}: the verdict links to no detail"
    for m in claims["models"]:
        assert f"<th>{m}</th>" in matrix
    assert "Where this run departs from the paper" in dom and "How to read the verdicts" in dom
    shot = tmp_path / "landing.png"
    browse(report, tmp_path / "profile2", f"--screenshot={shot}", "--hide-scrollbars", height=1800)
    assert shot.is_file() and shot.stat().st_size > 10_000
    keep = os.environ.get("SUPERWEIGHT_ARTIFACTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "report_landing.png")
    print(f"screenshot of the report's landing page: {shot}" + (f" (and {keep}/report_landing.png)" if keep else ""))


def test_landing_fits_the_window_and_every_figure_is_displayed(ran, report, tmp_path):
    text = report.read_text()
    probed = tmp_path / "report_probed.html"
    end = text.rfind("</body>")  # the report's own; embedded pages may hold others
    probed.write_text(text[:end] + PROBE + "\n" + text[end:] if end >= 0 else text + PROBE)
    dom = browse(probed, tmp_path / "profile", "--dump-dom")
    found = re.search(r'<pre id="sw-probe">(.*?)</pre>', dom, re.S)
    assert found, "the probe did not finish in the browser"
    probe = json.loads(html.unescape(found.group(1)))
    land = probe["landing"]
    assert land, "no verdict matrix on the landing page"
    assert land["scroll_width"] <= land["client_width"] and land["page_scroll_width"] <= WIDTH, land  # no sideways
    assert land["matrix_right"] <= land["view_width"], land
    assert land["scroll_top"] == 0 and 0 <= land["matrix_top"] < land["view_height"], land  # opens at the top
    figures = probe["figures"]
    expected = {p.relative_to(ran).as_posix() for p in (ran / "results").rglob("*.png")}  # plots.format: png
    assert expected and expected <= set(figures), sorted(expected - set(figures))
    for path, f in figures.items():
        assert f and f["natural_width"] > 100 and f["natural_height"] > 100 and f["width"] > 100, (path, f)
    tables = sorted((ran / "results/tables").glob("*.csv"))
    assert tables
    for t in tables:  # each table beside its CSV as a rendered table
        assert "<table" in t.with_suffix(".html").read_text(), t
