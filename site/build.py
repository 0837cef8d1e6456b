"""Build the lesson website into ``build/site/`` (open ``build/site/index.html``).

Usage, from the repository folder::

    python site/build.py                 # -> build/site/
    python site/build.py --out DIR       # somewhere else

The pages are made from the solution notebooks, so that learners read the stored outputs and
figures, but only after the answers are taken out the way nbgrader takes them out of the student
version: nbgrader's ClearHiddenTests and ClearSolutions with the course's own stubs
(``nbgrader_config.py``), discussion answers dropped so that only the question shows, and the
outputs of answer and check cells cleared (they would show what the reference answer printed).
The prepared notebooks, the lesson table and the schedule are written to a staging folder next
to the output (``build/.site-work/``), never into the repository; Sphinx then builds them with
``site/conf.py``. Nothing is executed and nothing is downloaded.

Examples
--------
>>> print(admonish("**Questions**\\n- Why?\\n- How?\\n", r"\\*\\*Questions\\*\\*", "Questions", "note"))
```{admonition} Questions
:class: note
- Why?
- How?
```
<BLANKLINE>
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(__file__).resolve().parent

# (label as written in the lesson, admonition title, CSS classes: the theme's colour + our own)
ADMONITIONS = [
    (r"\*\*Questions\*\*", "Questions", "note questions"),
    (r"\*\*Objectives\*\*", "Objectives", "tip objectives"),
    (r"#{1,3} Key points", "Key points", "important keypoints"),
]
TIMINGS = re.compile(r"Teaching:\s*(\d+)\s*min\s*·\s*Exercises:\s*(\d+)\s*min")


@dataclass
class Lesson:
    """One lesson: its folder name, title and minutes, as its title cell states them."""

    name: str
    title: str
    teaching: int
    exercises: int

    @property
    def number(self) -> str:
        return self.name.split("_", 1)[0].lstrip("0")


def find_lessons(root: Path = ROOT) -> list[Path]:
    """The solution notebooks, ``solutions/<lesson>/<lesson>.ipynb``, in lesson order."""
    return sorted(path for path in root.glob("solutions/[0-9]*/*.ipynb") if path.stem == path.parent.name)


def read_lesson(notebook: nbformat.NotebookNode, name: str) -> Lesson:
    """Title and minutes from a lesson's title cell (``# Lesson 1: ...``, ``*Teaching: 25 min · ...*``)."""
    first = notebook.cells[0].source if notebook.cells else ""
    title = re.search(r"^#\s+(.+)$", first, re.MULTILINE)
    timings = TIMINGS.search(first)
    if not title or not timings:
        raise ValueError(f"{name}: the first cell needs a '# title' line and '*Teaching: N min · Exercises: N min*'")
    return Lesson(name, title.group(1).strip(), int(timings.group(1)), int(timings.group(2)))


def admonish(markdown: str, label: str, title: str, classes: str | None = None) -> str:
    """Turn a labelled bullet list (``**Questions**`` then ``- ...`` lines) into a MyST admonition.

    ``label`` is a regular expression for the line that introduces the list. Text before and after
    the list is kept; a cell without the label is returned unchanged.
    """
    pattern = re.compile(
        rf"^{label}[ \t]*\n(?:[ \t]*\n)*"  # the label line, maybe blank lines
        r"((?:[-*][ \t].*\n?(?:[ \t]+\S.*\n?)*)+)",  # list items with their indented continuation lines
        re.MULTILINE,
    )
    css = f":class: {classes}\n" if classes else ""
    return pattern.sub(lambda m: f"```{{admonition}} {title}\n{css}{m.group(1).rstrip()}\n```\n", markdown, count=1)


def _is(cell: nbformat.NotebookNode, flag: str) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get(flag))


def nbgrader_config():
    """The course's nbgrader configuration (the stubs ClearSolutions writes)."""
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()


def prepare_notebook(notebook: nbformat.NotebookNode, config=None) -> nbformat.NotebookNode:
    """A copy of a solution notebook that a learner may read (see the module docstring).

    Examples
    --------
    >>> cell = nbformat.v4.new_code_cell("def f():\\n    ### BEGIN SOLUTION\\n    return 42\\n    ### END SOLUTION")
    >>> cell.metadata.nbgrader = {"solution": True, "grade": False, "grade_id": "f", "locked": False}
    >>> prepared = prepare_notebook(nbformat.v4.new_notebook(cells=[cell]))
    >>> "42" in prepared.cells[0].source
    False
    """
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    notebook = nbformat.from_dict(notebook)  # a deep copy: the solution notebook stays as it is
    config = nbgrader_config() if config is None else config
    notebook, _ = ClearHiddenTests(config=config).preprocess(notebook, {})
    # A discussion question's model answer is a markdown solution cell: drop it, the question stays.
    notebook.cells = [c for c in notebook.cells if not (c.cell_type == "markdown" and _is(c, "solution"))]
    notebook, _ = ClearSolutions(config=config).preprocess(notebook, {})
    for cell in notebook.cells:
        if cell.cell_type == "code" and (_is(cell, "solution") or _is(cell, "grade")):
            cell.outputs = []
            cell.execution_count = None
            # MyST-NB turns tags into CSS classes (tag_<name>): site/_static/medprep.css labels the cells.
            tag = "exercise-answer" if _is(cell, "solution") else "exercise-check"
            cell.metadata["tags"] = [*cell.metadata.get("tags", []), tag]
        if cell.cell_type == "markdown":
            for label, title, classes in ADMONITIONS:
                cell.source = admonish(cell.source, label, title, classes)
    return notebook


def _download_cell(lesson: Lesson, href: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(
        f"{{download}}`Download the notebook <{href}>` ({lesson.name}.ipynb, the student version "
        "with the exercises to do) and open it in JupyterLab, or run `medprep start` "
        "([learner setup](index.md#setup-for-learners))."
    )


def lessons_table(lessons: list[Lesson]) -> str:
    """The home page's table of lessons (Markdown), with a hidden toctree for the navigation."""
    rows = [f"| [{lesson.title}]({lesson.name}.ipynb) | {lesson.teaching} min | {lesson.exercises} min |"
            for lesson in lessons]
    teaching, exercises = sum(x.teaching for x in lessons), sum(x.exercises for x in lessons)
    entries = "\n".join(f"Lesson {lesson.number} <{lesson.name}>" for lesson in lessons)
    return (
        "| lesson | teaching | exercises |\n| --- | --- | --- |\n" + "\n".join(rows)
        + f"\n| **total** | **{teaching} min** | **{exercises} min** |\n\n"
        f"```{{toctree}}\n:hidden:\n:maxdepth: 1\n\n{entries}\nFor instructors <instructor>\n```\n"
    )


def schedule_table(lessons: list[Lesson]) -> str:
    """The instructor page's schedule: each lesson's minutes and the running total (Markdown)."""
    rows, elapsed = [], 0
    for lesson in lessons:
        minutes = lesson.teaching + lesson.exercises
        elapsed += minutes
        rows.append(f"| {lesson.number} | [{lesson.title}]({lesson.name}.ipynb) | {lesson.teaching} | "
                    f"{lesson.exercises} | {minutes} | {elapsed // 60} h {elapsed % 60:02d} |")
    return ("| # | lesson | teaching (min) | exercises (min) | together (min) | course so far (without breaks) |\n"
            "| --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows) + "\n")


def stage(source: Path, root: Path = ROOT) -> list[Lesson]:
    """Write every page's source into the empty folder ``source``; return the lessons found."""
    config = nbgrader_config()
    (source / "_generated").mkdir(parents=True)
    (source / "downloads").mkdir()
    lessons = []
    for path in find_lessons(root):
        notebook = nbformat.read(path, as_version=4)
        lesson = read_lesson(notebook, path.stem)
        prepared = prepare_notebook(notebook, config)
        student = root / "notebooks" / lesson.name / f"{lesson.name}.ipynb"
        if not student.exists():
            raise FileNotFoundError(f"{student} is missing: run nbgrader generate_assignment \"[0-9]*\" --force")
        shutil.copy2(student, source / "downloads" / student.name)
        prepared.cells.insert(1, _download_cell(lesson, f"downloads/{student.name}"))
        nbformat.write(prepared, source / f"{lesson.name}.ipynb")
        lessons.append(lesson)
    if not lessons:
        raise FileNotFoundError(f"no lesson found in {root / 'solutions'} (solutions/<lesson>/<lesson>.ipynb)")
    for page in ["index.md", "instructor.md"]:
        shutil.copy2(SITE / page, source / page)
    (source / "_generated" / "lessons.md").write_text(lessons_table(lessons), encoding="utf-8")
    (source / "_generated" / "schedule.md").write_text(schedule_table(lessons), encoding="utf-8")
    shutil.copy2(root / "solutions" / "instructor_notes.md", source / "_generated" / "instructor_notes.md")
    readme = (root / "README.md").read_text(encoding="utf-8")
    (source / "_generated" / "readme_instructors.md").write_text(readme_section(readme), encoding="utf-8")
    return lessons


def _slug(heading: str) -> str:
    """GitHub's (and MyST's) anchor for a heading: lower case, punctuation dropped, spaces as dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def readme_section(readme: str, title: str = "instructor") -> str:
    r"""The README's section (``## ...``) whose title contains ``title``, ready for the instructor page.

    The section's own heading is left out; its subsections keep their level. Links to other places
    of the repository (files, anchors outside the section) mean nothing on the website: their text
    stays, the link goes; web links and anchors inside the section stay links.

    Examples
    --------
    >>> text = "# R\n## For instructors\nSee [notes](notes.md).\n### Step\n```bash\n# a comment\n```\n## Authors\nx\n"
    >>> print(readme_section(text))
    See notes.
    ### Step
    ```bash
    # a comment
    ```
    <BLANKLINE>
    """
    lines, taken, inside, fenced = readme.splitlines(), [], False, False
    for line in lines:
        if line.lstrip().startswith("```"):
            fenced = not fenced
        heading = None if fenced else re.match(r"^(#+)\s+(.*)$", line)
        if heading and len(heading.group(1)) <= 2:
            if inside:
                break
            inside = len(heading.group(1)) == 2 and title.lower() in heading.group(2).lower()
            continue
        if inside:
            taken.append(line)
    if not taken:
        raise ValueError(f"README.md has no '## ...' section with {title!r} in its title, which the instructor "
                         "page of the website shows")
    section = "\n".join(taken) + "\n"
    anchors = {_slug(m) for m in re.findall(r"^#+\s+(.*)$", section, re.MULTILINE)}

    def link(match: re.Match) -> str:
        text, target = match.group(1), match.group(2)
        keep = target.startswith(("http://", "https://", "mailto:")) or target.lstrip("#") in anchors
        return match.group(0) if keep else text

    return re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", link, section)


def _empty_or_sphinx_output(folder: Path) -> None:
    """Refuse to wipe a folder that holds anything other than an earlier build of the site."""
    if folder.exists() and any(folder.iterdir()) and not (folder / ".buildinfo").exists():
        raise SystemExit(f"--out {folder}: the folder is not empty and holds no earlier build of the site; "
                         "choose an empty or new folder")


def build(out: Path = ROOT / "build" / "site") -> Path:
    """Build the website into ``out``; return the path of its ``index.html``.

    Raises ``RuntimeError`` naming Sphinx's problems (warnings count as errors).
    """
    from sphinx.cmd.build import build_main

    out = Path(out).resolve()
    _empty_or_sphinx_output(out)
    # Everything but the finished site stays in the work folder: the staged sources, Sphinx's
    # doctrees, and MyST-NB's copies of the notebooks and images (written beside Sphinx's output
    # folder, hence html/ inside it). Fresh every time: a removed lesson leaves no page behind.
    work = out.parent / f".{out.name}-work"
    shutil.rmtree(work, ignore_errors=True)
    stage(work / "src")
    status = build_main(["-b", "html", "-c", str(SITE), "-d", str(work / "doctrees"), "-W", "--keep-going",
                         "-q", str(work / "src"), str(work / "html")])
    if status != 0:
        raise RuntimeError(f"Sphinx failed (exit status {status}); its warnings are printed above")
    # pydata-sphinx-theme ships this Jinja template among its static files; in the site it is junk
    # whose {{ pathto(...) }} "links" point nowhere.
    (work / "html" / "_static" / "webpack-macros.html").unlink(missing_ok=True)
    # Swapped in only now, so a failed build leaves the previous site as it was.
    shutil.rmtree(out, ignore_errors=True)
    (work / "html").rename(out)
    return out / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the lesson website (static HTML).")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site",
                        help="output folder (default: build/site); emptied first")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        index = build(args.out)
    except (RuntimeError, FileNotFoundError, ValueError) as error:
        print(f"site/build.py: {error}", file=sys.stderr)
        return 1
    print(f"built {index} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
