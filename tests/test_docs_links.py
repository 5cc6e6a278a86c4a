"""README and docs/: every relative link resolves (file, and anchor by GitHub's heading slugs), README stays a short
user's page without commit hashes or issue numbers, and each docs page opens with the question it answers."""
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", REPO / "config" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def prose(text: str) -> str:
    """The text outside fenced code blocks and inline code, where a link or a number is the page's own words."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.M | re.S)
    return re.sub(r"`[^`\n]*`", "", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lowercase, punctuation but - and _ removed, spaces to -."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = re.sub(r"[`*]", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every anchor GitHub gives the page's headings, a repeated heading numbered -1, -2, ..."""
    seen: dict[str, int] = {}
    out = set()
    for line in re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", page.read_text(), flags=re.M | re.S).splitlines():
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            base = slug(m.group(1))
            n = seen.get(base, 0)
            out.add(base if n == 0 else f"{base}-{n}")
            seen[base] = n + 1
    return out


def relative_links(page: Path) -> list[str]:
    return [t for t in LINK.findall(prose(page.read_text()))
            if not re.match(r"[a-z][a-z0-9+.-]*:", t, re.I)]  # http:, https:, mailto: are not checked here


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page):
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no file {dest.relative_to(REPO) if dest.is_relative_to(REPO) else dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading with anchor #{anchor} in {dest.relative_to(REPO)}")
    assert not broken, f"{page.relative_to(REPO)}: broken links:\n" + "\n".join(broken)


def test_slug_follows_github():
    assert slug("What `super_weights.json` holds") == "what-super_weightsjson-holds"
    assert slug("Memory, run time and resource requests") == "memory-run-time-and-resource-requests"
    assert slug("The paper's protocol (config/paper.yaml)") == "the-papers-protocol-configpaperyaml"


def test_readme_is_a_short_page_without_history():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) < 200, "README.md: keep it a user's page under 200 lines; reference goes to docs/"
    words = prose(text)
    hashes = re.findall(r"\b(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b", words)
    assert not hashes, f"README.md names commits {hashes}: history belongs to benchmarks/ and git"
    issues = re.findall(r"(?i)\bissues?\s+#?\d+|(?<![\w/&#])#\d+\b", words)
    assert not issues, f"README.md names issues {issues}: history belongs to benchmarks/ and git"


def test_every_docs_page_is_linked_from_readme_and_opens_with_its_question():
    linked = {(REPO / t.partition("#")[0]).resolve() for t in relative_links(REPO / "README.md")}
    for page in sorted((REPO / "docs").glob("*.md")):
        assert page.resolve() in linked, f"README.md does not link {page.relative_to(REPO)}"
        first = page.read_text().split("\n\n")[1]
        assert re.match(r"\*[^*]+\?\*", first), \
            f"{page.relative_to(REPO)}: start with the question a reader brings, in italics (*...?*)"
