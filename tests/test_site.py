"""The lesson website: how a solution notebook becomes a lesson page, and the built site's content.

The fast tests exercise ``site/build.py``'s preparation on small notebooks made here; the slow
ones build the whole site with the README's command (``python site/build.py``) into a temporary
folder and read the files a browser would get. ``tests/test_browser.py`` opens the same build in
Chromium.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import re
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD_SECONDS = 60  # the budget for one build


def _load(name: str, path: Path):
    # site/ is not a package (a package named "site" would shadow the standard library's), and
    # PyPA's `build` is installed too: load the files under names of their own.
    spec = importlib.util.spec_from_file_location(name, path)
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


site_build = _load("medprep_site_build", ROOT / "site" / "build.py")
site_conf = _load("medprep_site_conf", ROOT / "site" / "conf.py")


# --- reading built files ------------------------------------------------------------------------


class _Page(HTMLParser):
    """Text, links, images and element ids of one HTML page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.links: list[str] = []
        self.images: list[dict] = []
        self.ids: set[str] = set()
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag in ("script", "style"):
            self._skip += 1
        if tag == "img":
            self.images.append(attrs)
        for key in ("href", "src"):
            if attrs.get(key):
                self.links.append(attrs[key])

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


def read_page(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def words(text: str) -> str:
    """Lower-case words separated by one space: markup, punctuation and line breaks don't count."""
    return " ".join(re.findall(r"\w+", text.lower()))


def visible_words(path: Path) -> str:
    """The words a reader of the built file can see (HTML: its text; notebooks: their cells)."""
    if path.suffix == ".html":
        return words("".join(read_page(path).text))
    if path.suffix == ".ipynb":
        return words(" ".join(c.source for c in nbformat.read(path, as_version=4).cells))
    return words(path.read_text(encoding="utf-8", errors="replace"))


def secret_lines(root: Path = ROOT) -> set[str]:
    """Lines learners must not read on the site, as :func:`words`.

    Every line of a solution region and of a hidden-test region in ``solutions/``, and every line
    of a written model answer (a markdown solution cell). Left out: lines of fewer than three
    words (blank, ``pass``, ``return x``), which say nothing on their own, and lines that the
    student notebooks show anyway (teaching code that a solution repeats).
    """
    student = " | ".join(visible_words(p) for p in root.glob("notebooks/[0-9]*/*.ipynb"))
    secrets = set()
    for path in root.glob("solutions/[0-9]*/*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            written_answer = cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("solution")
            inside = False
            for line in cell.source.splitlines():
                if re.search(r"### BEGIN (SOLUTION|HIDDEN TESTS)", line):
                    inside = True
                elif re.search(r"### END (SOLUTION|HIDDEN TESTS)", line):
                    inside = False
                elif inside or written_answer:
                    secrets.add(words(line))
    return {s for s in secrets if len(s.split()) >= 3 and s not in student}


def built_files(site: Path) -> list[Path]:
    return [p for p in site.rglob("*") if p.is_file() and p.suffix in {".html", ".ipynb", ".js", ".txt", ".json"}]


# --- the site, built once per module --------------------------------------------------------------


def build_site(out: Path) -> tuple[Path, float]:
    """Run the README's command into ``out``; the folder and the seconds it took."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "site/build.py", "--out", str(out)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"python site/build.py failed:\n{result.stdout}\n{result.stderr}"
    return out, time.perf_counter() - start


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, float]:
    return build_site(tmp_path_factory.mktemp("website") / "site")


@pytest.fixture(scope="module")
def site(built) -> Path:
    return built[0]


LESSONS = [p.stem for p in site_build.find_lessons()]


# --- fast: preparing one notebook -----------------------------------------------------------------


def _toy_solution_notebook() -> nbformat.NotebookNode:
    """A lesson in miniature, with every kind of cell build.py treats specially."""
    png = base64.b64encode(b"\x89PNG not really").decode()
    kernel = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": kernel})
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# Lesson 9: Toy\n\n*Teaching: 7 min · Exercises: 3 min*\n\n**Questions**\n- Why toys?\n- How?\n\n"
            "**Objectives**\n- Play with a toy that has a long objective\n  continued on a second line.\n"),
        nbformat.v4.new_code_cell("import numpy as np", outputs=[
            nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"},
                                   metadata={"image/png": {"alt": "A toy figure"}})]),
        nbformat.v4.new_code_cell(
            "def double(x):\n    ### BEGIN SOLUTION\n    secret_doubling = x * 2\n    return secret_doubling\n"
            "    ### END SOLUTION",
            outputs=[nbformat.v4.new_output("stream", name="stdout", text="answer printed this\n")]),
        nbformat.v4.new_code_cell(
            'check("double", double)\n### BEGIN HIDDEN TESTS\nassert double(21) == 42  # hidden case\n'
            "### END HIDDEN TESTS",
            outputs=[nbformat.v4.new_output("stream", name="stdout", text="Visible checks passed\n")]),
        nbformat.v4.new_markdown_cell("### Discussion\n\nWhy double?"),
        nbformat.v4.new_markdown_cell("**Model answer.** Because twice is nice."),
        nbformat.v4.new_markdown_cell("Some closing words.\n\n## Key points\n\n- Toys teach.\n- Twice is nice.\n"),
    ]
    meta = {"schema_version": 3, "locked": False, "task": False}
    nb.cells[2].metadata.nbgrader = {**meta, "grade": False, "solution": True, "grade_id": "double_answer"}
    nb.cells[3].metadata.nbgrader = {**meta, "grade": True, "solution": False, "grade_id": "double_checks",
                                     "locked": True, "points": 1}
    nb.cells[5].metadata.nbgrader = {**meta, "grade": True, "solution": True, "grade_id": "q_why", "points": 1}
    return nb


def test_prepared_notebook_keeps_the_task_and_the_check_but_no_answer():
    prepared = site_build.prepare_notebook(_toy_solution_notebook())
    text = "\n".join(c.source for c in prepared.cells)
    for secret in ["secret_doubling", "double(21) == 42", "hidden case", "twice is nice.\n", "Because twice"]:
        assert secret not in text, f"{secret!r} leaked into the lesson page's source"
    assert "raise NotImplementedError()" in text, "the answer cell shows the student stub (nbgrader_config.py)"
    assert 'check("double", double)' in text, "the visible check stays"
    assert "Why double?" in text, "the discussion question stays, without its answer"
    answer, check = prepared.cells[2], prepared.cells[3]
    assert answer.outputs == [] and check.outputs == [], "answer and check cells lose the reference's outputs"
    assert prepared.cells[1].outputs, "teaching cells keep their stored outputs"


def test_prepared_notebook_turns_questions_objectives_and_key_points_into_admonitions():
    prepared = site_build.prepare_notebook(_toy_solution_notebook())
    title, closing = prepared.cells[0].source, prepared.cells[-1].source
    assert "```{admonition} Questions\n:class: note questions\n- Why toys?\n- How?\n```" in title
    assert "- Play with a toy that has a long objective\n  continued on a second line.\n```" in title
    assert closing.startswith("Some closing words.\n\n```{admonition} Key points\n"), "text before is kept"
    assert "## Key points" not in closing


def test_prepare_leaves_the_solution_notebook_unchanged():
    original = _toy_solution_notebook()
    before = json.dumps(original, sort_keys=True)
    site_build.prepare_notebook(original)
    assert json.dumps(original, sort_keys=True) == before


def test_admonish_leaves_a_cell_without_the_label_alone():
    text = "Questions are good.\n- a list\n"
    assert site_build.admonish(text, r"\*\*Questions\*\*", "Questions") == text


def test_read_lesson_takes_title_and_minutes_from_the_title_cell():
    lesson = site_build.read_lesson(_toy_solution_notebook(), "09_toy")
    assert (lesson.title, lesson.teaching, lesson.exercises, lesson.number) == ("Lesson 9: Toy", 7, 3, "9")


def test_read_lesson_names_the_lesson_whose_title_cell_lacks_minutes():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Lesson 9: Toy")])
    with pytest.raises(ValueError, match="09_toy: the first cell needs"):
        site_build.read_lesson(nb, "09_toy")


def test_lesson_table_and_schedule_add_up_the_minutes():
    lessons = [site_build.Lesson("01_a", "Lesson 1: A", 25, 15), site_build.Lesson("02_b", "Lesson 2: B", 30, 20)]
    assert "| **total** | **55 min** | **35 min** |" in site_build.lessons_table(lessons)
    assert "Lesson 2 <02_b>" in site_build.lessons_table(lessons)
    assert site_build.schedule_table(lessons).splitlines()[-1].endswith("| 50 | 1 h 30 |")


def test_output_alt_text_is_found_by_the_image_bytes():
    alts = site_conf.output_alt_texts(_toy_solution_notebook())
    assert alts == {hashlib.sha256(b"\x89PNG not really").hexdigest(): "A toy figure"}


def test_build_refuses_to_empty_a_folder_that_is_not_a_site(tmp_path):
    (tmp_path / "thesis.tex").write_text("years of work")
    with pytest.raises(SystemExit, match="--out .*not empty"):
        site_build.build(tmp_path)
    assert (tmp_path / "thesis.tex").read_text() == "years of work"


def test_secret_lines_are_found_in_the_solutions():
    secrets = secret_lines()
    assert secrets, "the solution notebooks have solution regions: the leak test below must have lines to look for"
    assert not any("your code here" in s for s in secrets)


# --- slow: the whole site -----------------------------------------------------------------------


@pytest.mark.slow
def test_site_is_built_by_one_command_quickly(built):
    site, seconds = built
    assert (site / "index.html").exists()
    assert seconds < BUILD_SECONDS, f"the site took {seconds:.0f} s to build (budget {BUILD_SECONDS} s)"
    for page in LESSONS + ["instructor", "search"]:
        assert (site / f"{page}.html").exists(), f"no page {page}.html"


@pytest.mark.slow
def test_no_line_of_a_solution_or_hidden_test_is_in_the_site(site):
    secrets = secret_lines()
    leaks = []
    for path in built_files(site):
        seen = visible_words(path)
        leaks += [f"{path.relative_to(site)}: {secret!r}" for secret in secrets if secret in seen]
    assert not leaks, "answers or hidden tests on the website:\n" + "\n".join(leaks)


@pytest.mark.slow
def test_every_internal_link_resolves(site):
    broken = []
    for page in site.rglob("*.html"):
        for link in read_page(page).links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith("//"):
                continue  # external: the site itself needs none of them
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if not target.is_file():
                broken.append(f"{page.name}: {link} (no file)")
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in read_page(target).ids:
                broken.append(f"{page.name}: {link} (no element with that id)")
    assert not broken, "broken links:\n" + "\n".join(broken)


@pytest.mark.slow
def test_every_image_has_alt_text(site):
    # Without one, Sphinx writes the file name as the alt text: that counts as missing.
    missing = [f"{page.name}: {img.get('src')}" for page in site.rglob("*.html") for img in read_page(page).images
               if not (img.get("alt") or "").strip() or img.get("alt") == img.get("src")]
    assert not missing, (f"{len(missing)} image(s) without alt text (lesson figures: set "
                         '{"image/png": {"alt": ...}} in the output metadata):\n' + "\n".join(missing))


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_page_has_its_parts(site, lesson):
    page = read_page(site / f"{lesson}.html")
    html = (site / f"{lesson}.html").read_text(encoding="utf-8")
    boxes = [set(classes.split()) for classes in re.findall(r'<div class="([^"]*)"', html)]
    for css in ("questions", "objectives", "keypoints"):
        assert any({"admonition", css} <= box for box in boxes), f"{lesson}: no {css} box"
    downloads = [link for link in page.links if link.endswith(f"{lesson}.ipynb")]
    assert downloads, f"{lesson}: no link to download its notebook"
    student = ROOT / "notebooks" / lesson / f"{lesson}.ipynb"
    assert (site / f"{lesson}.html").parent.joinpath(downloads[0]).read_bytes() == student.read_bytes()
    text = words("".join(page.text))
    for cell in nbformat.read(student, as_version=4).cells:
        if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code":
            assert words(cell.source) in text, f"{lesson}: check cell {cell.metadata.nbgrader.grade_id} not shown"


@pytest.mark.slow
def test_home_page_has_lessons_setup_and_instructor_link(site):
    page = read_page(site / "index.html")
    text = "".join(page.text)
    version = site_conf.VERSION
    assert f"python -m pip install medprep-{version}-py3-none-any.whl" in text
    assert "medprep start" in text
    for lesson in LESSONS:
        info = site_build.read_lesson(nbformat.read(ROOT / "solutions" / lesson / f"{lesson}.ipynb", 4), lesson)
        assert f"{lesson}.html" in page.links
        assert info.title in text and f"{info.teaching} min" in text and f"{info.exercises} min" in text
    assert "instructor.html" in page.links


@pytest.mark.slow
def test_instructor_page_has_schedule_grading_and_notes(site):
    text = "".join(read_page(site / "instructor.html").text)
    assert "This page is for instructors" in text
    assert "course so far" in text, "the schedule"
    assert "nbgrader autograde" in text and "nbgrader generate_feedback" in text, "the grading workflow (README)"
    notes = (ROOT / "solutions" / "instructor_notes.md").read_text()
    for heading in re.findall(r"^## (.+)$", notes, re.MULTILINE):
        assert words(heading) in words(text), f"instructor notes section {heading!r} missing"


@pytest.mark.slow
def test_search_index_knows_every_page(site):
    index = (site / "searchindex.js").read_text(encoding="utf-8")
    for page in LESSONS + ["index", "instructor"]:
        assert f'"{page}"' in index, f"{page} is not in the search index"
