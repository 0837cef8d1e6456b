"""What a learner sees in JupyterLab when a check fails: the message first and alone.

A wrong answer and a crashing answer to lesson 1's first exercise are run in a real browser
(Debian's headless Chromium); the check cell's output must start with the check's message
(what was checked, expected, found, a hint), show the learner's own failing line for a crash,
and hold no frame of the checking layer and no library traceback. Screenshots are saved to
build/screenshots/ for people to look at.
"""

from __future__ import annotations

import json
import shutil

import pytest
from test_browser import SCREENSHOTS, chromium, click_menu, jupyterlab, pytestmark, wait_for  # noqa: F401

from grading import ROOT, lessons

LESSON = lessons()[0]

ANSWERS = {
    # counts positives instead of dividing by the group size: a typical mistake
    "wrong": ('def label_rate_by(meta, column, label="cardiomegaly"):\n'
              "    return meta.groupby(column)[label].sum().sort_index()"),
    # a typo in the column name: pandas raises KeyError deep inside its own code
    "crash": ('def label_rate_by(meta, column, label="cardiomegaly"):\n'
              '    counts = meta.groupby(column)["cardiomegally"].mean()\n'
              "    return counts.sort_index()"),
}
EXPECTED = {"wrong": "values are fractions", "crash": "KeyError"}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(ANSWERS))
def test_a_failed_check_shows_its_message_first_and_alone(kind, tmp_path):
    course = tmp_path / "medprep-course"
    shutil.copytree(ROOT / "notebooks" / LESSON, course / LESSON)
    path = course / LESSON / f"{LESSON}.ipynb"
    notebook = json.loads(path.read_text())
    answer = next(c for c in notebook["cells"]
                  if c["metadata"].get("nbgrader", {}).get("grade_id") == "label_rate_by_answer")
    answer["source"] = ANSWERS[kind]
    path.write_text(json.dumps(notebook))
    with chromium(tmp_path / "profile") as browser, jupyterlab(course, tmp_path) as (url, token):
        browser.set_window_size(1366, 768)
        browser.get(f"{url}/lab/tree/{LESSON}/{LESSON}.ipynb?token={token}")
        wait_for(browser, "return document.querySelectorAll('.jp-Notebook .jp-Cell').length > 5", "the notebook")
        wait_for(browser, "return [...document.querySelectorAll('.jp-Notebook-ExecutionIndicator')]"
                          ".some(e => e.getAttribute('data-status') === 'idle')", "the kernel")
        click_menu(browser, "Run", "runmenu:run-all")
        shown = wait_for(
            browser,
            "const out = [...document.querySelectorAll('.jp-OutputArea-output')]"
            "  .find(e => /Check failed|Not implemented yet/.test(e.textContent));"
            "if (out) { out.scrollIntoView({block: 'center'}); return out.textContent; }",
            "the check's message")
        # Run All stops at this cell; bring it to the middle of the window once JupyterLab has settled.
        wait_for(browser, "return document.querySelector('.jp-Notebook-ExecutionIndicator')"
                          "?.getAttribute('data-status') === 'idle'", "the kernel to finish")
        wait_for(browser, "const out = [...document.querySelectorAll('.jp-OutputArea-output')]"
                          "  .find(e => /Check failed/.test(e.textContent));"
                          "out.closest('.jp-Cell').scrollIntoView({block: 'center'});"
                          "return new Promise(done => setTimeout(() => done(true), 1000));", "the cell in view")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOTS / f"learner-failed-check-{kind}.png"))
    assert shown.lstrip().startswith("Check failed"), shown[:300]
    assert "label_rate_by:" in shown and EXPECTED[kind] in shown, shown[:600]
    assert "Traceback" not in shown and "checks.py" not in shown and "site-packages" not in shown, shown[:600]
    if kind == "crash":
        assert '"cardiomegally"' in shown, "the learner's own failing line is not shown"
    assert len(shown) < 800, f"the message is not alone: {len(shown)} characters"
