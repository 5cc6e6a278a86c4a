"""The report as a reader opens it: `snakemake --report` of a finished CI-scenario run, opened in headless Chromium
(Debian's `chromium`, installed by .ci/run). From the rendered DOM: the landing page shows every claim with a
short verdict for every model (its whole wording one click away), fits a 1400-pixel-wide window without horizontal
scrolling and opens at the top; every figure of the report is displayed (the report's own viewer, driven as its
buttons drive it); every HTML page of the report (claims, protocol, summary, each table), opened as the report
holds it, fits a 1400-pixel-wide window with every verdict whole, its <details> open. A screenshot of the landing
page is kept as the test's artifact (its path is printed; copied to $SUPERWEIGHT_ARTIFACTS when set)."""
import base64
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote

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
  const out = {figures: {}, pages: {}};
  const matrix = document.querySelector("table.sw-matrix");
  const scroller = matrix && matrix.closest(".overflow-auto");
  out.landing = matrix ? {
    matrix_top: matrix.getBoundingClientRect().top, matrix_right: matrix.getBoundingClientRect().right,
    view_width: window.innerWidth, view_height: window.innerHeight,
    page_scroll_width: document.documentElement.scrollWidth,
    scroll_width: scroller ? scroller.scrollWidth : null, client_width: scroller ? scroller.clientWidth : null,
    scroll_top: scroller ? scroller.scrollTop : null,
    document_scroll_width: document.scrollingElement.scrollWidth,
    document_client_width: document.scrollingElement.clientWidth} : null;
  for (const [path, r] of Object.entries(results)) {
    if (r.mime_type === "text/html") out.pages[path] = r.data_uri;
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


# One page of the report, every <details> opened: does the document scroll sideways, does any verdict overflow its
# box or the window?
PAGE_PROBE = """<script>
window.addEventListener("load", () => {
  document.querySelectorAll("details").forEach(d => { d.open = true; });
  const s = document.scrollingElement;
  const clipped = Array.from(document.querySelectorAll(".sw-v, .sw-full")).filter(e => {
    const box = e.getBoundingClientRect();
    return e.scrollWidth > e.clientWidth + 1 || box.right > s.clientWidth + 1 || box.left < -1;
  }).map(e => e.textContent);
  const pre = document.createElement("pre");
  pre.id = "sw-probe";
  pre.textContent = JSON.stringify({scroll_width: s.scrollWidth, client_width: s.clientWidth, clipped: clipped,
                                    verdicts: document.querySelectorAll(".sw-v").length});
  document.body.appendChild(pre);
});
</script>"""


def probe(page: Path, script: str, profile: Path) -> dict:
    """Open ``page`` with ``script`` added before its last </body> and return what the script recorded."""
    text = page.read_text()
    probed = page.with_name(page.stem + "_probed.html")
    end = text.rfind("</body>")  # the page's own; embedded pages may hold others
    probed.write_text(text[:end] + script + "\n" + text[end:] if end >= 0 else text + script)
    found = re.search(r'<pre id="sw-probe">(.*?)</pre>', browse(probed, profile, "--dump-dom"), re.S)
    assert found, f"{page}: the probe did not finish in the browser"
    return json.loads(html.unescape(found.group(1)))


def data_uri_text(uri: str) -> str:
    """The document a data: URI holds (base64 or percent-encoded)."""
    head, _, data = uri.partition(",")
    return base64.b64decode(data).decode() if head.endswith(";base64") else unquote(data)


def check_pages(report: Path, tmp: Path) -> dict:
    """The landing view's geometry, each figure as the report shows it, and every HTML page of the report checked
    at WIDTH: {"landing", "figures", "pages": {path: page probe}}."""
    out = probe(report, PROBE, tmp / "profile")
    pages = {}
    for i, (path, uri) in enumerate(sorted(out["pages"].items())):
        page = tmp / f"page{i}.html"
        page.write_text(data_uri_text(uri))
        pages[path] = probe(page, PAGE_PROBE, tmp / "profile")
    out["pages"] = pages
    return out


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
    from superweight.report.html import short_verdict, verdict_kind

    cells = {}
    for c in re.findall(r"<td>(.*?)</td>", matrix, re.S):
        href = re.search(r'href="#sw-([^"]+)"', c)
        if href:
            cells[href.group(1)] = c
    for r in claims["claims"]:
        assert f"<code>{r['claim'].replace('_', '_<wbr>')}</code>" in matrix, r["claim"]
        key = f"{r['claim']}--{r['model']}"
        assert key in cells, f"no verdict shown for {key}"
        shown = re.search(r'class="sw-v (sw-[\w-]+)"[^>]*>([^<]+)<', cells[key])
        assert shown and shown.group(1) == verdict_kind(r["verdict"]) != "sw-other", cells[key]
        assert html.unescape(shown.group(2)) == short_verdict(r["verdict"]), cells[key]  # whole words, never cut
        if short_verdict(r["verdict"]) != r["verdict"]:  # the whole verdict one click away
            full = re.search(r'<span class="sw-full">(.*) <a href="#sw-[^"]+">evidence</a>', cells[key], re.S)
            assert full and html.unescape(re.sub(r"<[^>]+>", "", full.group(1))) == r["verdict"], cells[key]
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


def test_every_page_fits_the_window_and_every_figure_is_displayed(ran, report, tmp_path):
    probe = check_pages(report, tmp_path)
    land = probe["landing"]
    assert land, "no verdict matrix on the landing page"
    assert land["scroll_width"] <= land["client_width"] and land["page_scroll_width"] <= WIDTH, land  # no sideways
    assert land["document_scroll_width"] <= land["document_client_width"], land
    assert land["matrix_right"] <= land["view_width"], land
    assert land["scroll_top"] == 0 and 0 <= land["matrix_top"] < land["view_height"], land  # opens at the top
    pages = probe["pages"]
    expected = {f"results/{p}.html" for p in ("claims", "protocol", "summary")} | {
        p.relative_to(ran).as_posix() for p in (ran / "results/tables").glob("*.html")}
    assert expected <= set(pages), sorted(expected - set(pages))
    for path, page in pages.items():  # every page of the report: no sideways scroll, every verdict whole
        assert page["scroll_width"] <= page["client_width"], (path, page)
        assert not page["clipped"], (path, page["clipped"])
    assert pages["results/claims.html"]["verdicts"] > 0
    figures = probe["figures"]
    expected = {p.relative_to(ran).as_posix() for p in (ran / "results").rglob("*.png")}  # plots.format: png
    assert expected and expected <= set(figures), sorted(expected - set(figures))
    for path, f in figures.items():
        assert f and f["natural_width"] > 100 and f["natural_height"] > 100 and f["width"] > 100, (path, f)
    tables = sorted((ran / "results/tables").glob("*.csv"))
    assert tables
    for t in tables:  # each table beside its CSV as a rendered table
        assert "<table" in t.with_suffix(".html").read_text(), t
