"""What learners and instructors see, in a real browser: Debian's headless Chromium, driven by Selenium.

- The website (built as in tests/test_site.py), opened from disk: no console error on any page,
  every image loaded with an alt text, search works, and screenshots of the home page and of
  lesson 1 at a laptop and a phone size are not blank and have no sideways scrolling. The
  screenshots are also saved to build/screenshots/ for people to look at.
- The learner's path: JupyterLab on a copy of the student notebooks, started as ``medprep start``
  starts it; lesson 1, Run All, and the first exercise's feedback appears.
- The instructor's path: JupyterLab with nbgrader's extensions on a copy of the course folder;
  Nbgrader -> Formgrader lists the four lessons.

Selenium gets the system's chromedriver by path, so Selenium Manager never downloads a driver or
a browser. Without chromium and chromedriver (``apt-get install chromium chromium-driver``; .ci/run
installs them) these tests are skipped with that reason.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from grading import copy_course
from test_site import LESSONS, ROOT, build_site

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                       reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"),
]

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SIZES = {"laptop": (1366, 768, False), "phone": (390, 844, True)}
SCREENSHOTS = ROOT / "build" / "screenshots"
WAIT = 90  # seconds: the most any one browser step may take (a kernel start plus a lesson's first cells)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return build_site(tmp_path_factory.mktemp("website") / "site")[0]


@contextmanager
def chromium(profile: Path):
    """Headless Chromium with a fresh profile in ``profile``, driven through the system's chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(WAIT)
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One browser for the website's pages."""
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


@pytest.fixture
def lab_browser(tmp_path):
    """A browser of its own for each JupyterLab test: a notebook left running asks before the page
    is left, which would block the next test's navigation."""
    with chromium(tmp_path / "chromium-profile") as driver:
        driver.set_window_size(*SIZES["laptop"][:2])
        yield driver


def wait_for(driver, script: str, what: str, timeout: float = WAIT):
    """Run ``script`` (JavaScript returning a value) until it returns something truthy; that value."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.25).until(lambda d: d.execute_script(script))
    except TimeoutException:
        shot = SCREENSHOTS / f"timeout-{what.replace(' ', '-')}.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(shot))
        pytest.fail(f"waited {timeout} s for {what} (screenshot: {shot})")


def severe_console_messages(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def set_viewport(driver, size: str) -> None:
    width, height, mobile = SIZES[size]
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})


# --- the website ----------------------------------------------------------------------------------


def test_every_page_loads_without_console_error(site, browser):
    severe_console_messages(browser)  # start from an empty log
    errors = {}
    for page in sorted(site.glob("*.html")):
        browser.get(page.as_uri())
        wait_for(browser, "return document.readyState === 'complete'", f"{page.name} to load")
        if messages := severe_console_messages(browser):
            errors[page.name] = messages
    assert not errors, f"console errors: {errors}"


def test_every_image_is_shown_with_alt_text(site, browser):
    problems = []
    for page in sorted(site.glob("*.html")):
        browser.get(page.as_uri())
        wait_for(browser, "return [...document.images].every(i => i.complete)", f"the images of {page.name}")
        images = browser.execute_script(
            "return [...document.images].map(i => [i.getAttribute('src'), i.getAttribute('alt') || '',"
            " i.complete && i.naturalWidth > 0]);")
        for src, alt, loaded in images:
            if not loaded:
                problems.append(f"{page.name}: {src} did not load")
            if not alt.strip() or alt == src:
                problems.append(f"{page.name}: {src} has no alt text")
    assert not problems, "\n".join(problems)


def test_search_finds_a_lesson(site, browser):
    browser.get((site / "search.html").as_uri() + "?q=cardiothoracic")
    found = wait_for(browser, "const links = [...document.querySelectorAll('#search-results a')];"
                              "return links.length && links.map(a => a.getAttribute('href'));", "search results")
    assert any("03_features.html" in href for href in found), f"search for 'cardiothoracic' found {found}"


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("page", ["index", LESSONS[0]])
def test_screenshot_is_not_blank_and_fits_the_width(site, browser, page, size):
    set_viewport(browser, size)
    try:
        browser.get((site / f"{page}.html").as_uri())
        wait_for(browser, "return document.readyState === 'complete'", f"{page}.html to load")
        overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOTS / f"{page}-{size}.png"
        assert browser.save_screenshot(str(shot))
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    image = Image.open(shot).convert("L")
    assert image.size == SIZES[size][:2]
    assert ImageStat.Stat(image).var[0] > 200, f"{shot} looks blank"
    assert overflow <= 0, f"{page} at {size} size scrolls sideways by {overflow} px ({shot})"


# --- JupyterLab -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def jupyterlab(root: Path, home: Path):
    """JupyterLab serving ``root`` on a free local port, as ``medprep start`` runs it; yields its URL and token.

    Its configuration, settings and workspaces live under ``home``, so the user's own (in ~/.jupyter)
    cannot change what the test sees.
    """
    token, port = secrets.token_hex(16), free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces")}
    log = home / "jupyterlab.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.token={token}",
             f"--ServerApp.root_dir={root}", f"--port={port}", "--ServerApp.port_retries=0",
             "--ServerApp.ip=127.0.0.1"]
            # CI runs as root, which JupyterLab refuses unless told; learners are not root.
            + (["--allow-root"] if os.geteuid() == 0 else []),
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.25)
        yield url, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def click_menu(driver, menu: str, command: str) -> None:
    """Open the menu bar's ``menu`` and click its item for JupyterLab command ``command``, as a person would."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.XPATH, f"//li[contains(@class, 'lm-MenuBar-item')][normalize-space()='{menu}']").click()
    item = f"li.lm-Menu-item[data-command='{command}']"
    wait_for(driver, f'return document.querySelector("{item}")', f"{command} in the {menu} menu", timeout=10)
    driver.find_element(By.CSS_SELECTOR, item).click()


def first_exercise(notebook: Path) -> str:
    """The name of the function that a notebook's first answer cell asks for."""
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("solution") and cell["cell_type"] == "code":
            return re.search(r"def (\w+)", "".join(cell["source"])).group(1)
    raise AssertionError(f"{notebook} has no answer cell")


def test_learner_runs_lesson_1_and_sees_the_first_feedback(lab_browser, tmp_path):
    browser = lab_browser
    course = tmp_path / "medprep-course"
    shutil.copytree(ROOT / "notebooks", course, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    lesson = LESSONS[0]
    with jupyterlab(course, tmp_path) as (url, token):
        browser.get(f"{url}/lab/tree/{lesson}/{lesson}.ipynb?token={token}")
        wait_for(browser, "return document.querySelectorAll('.jp-Notebook .jp-Cell').length > 5", "the notebook")
        wait_for(browser, "return [...document.querySelectorAll('.jp-Notebook-ExecutionIndicator')]"
                          ".some(e => e.getAttribute('data-status') === 'idle')", "the kernel", timeout=WAIT)
        click_menu(browser, "Run", "runmenu:run-all")
        # Run All stops at the first error: the first exercise's check, on the answer still to write.
        # textContent, not innerText: JupyterLab may skip rendering cells outside the window.
        feedback = wait_for(
            browser,
            "const out = [...document.querySelectorAll('.jp-OutputArea-output')]"
            "  .find(e => /not implemented yet/i.test(e.textContent));"
            "if (out) { out.scrollIntoView({block: 'center'}); return out.textContent; }",
            "the first exercise's feedback")
        # For the screenshot: once Run All has stopped, bring that cell to the middle of the window.
        wait_for(browser, "return document.querySelector('.jp-Notebook-ExecutionIndicator')"
                          "?.getAttribute('data-status') === 'idle'", "Run All to stop")
        wait_for(browser, "const out = [...document.querySelectorAll('.jp-OutputArea-output')]"
                          "  .find(e => /not implemented yet/i.test(e.textContent));"
                          "out.closest('.jp-Cell').scrollIntoView({block: 'center'});"
                          "return new Promise(done => setTimeout(() => done(true), 1000));", "the cell in view")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOTS / "learner-lesson1-run-all.png"))
    first = first_exercise(course / lesson / f"{lesson}.ipynb")
    assert first in feedback, f"the feedback shown is not about the first exercise, {first}:\n{feedback}"


def test_instructor_opens_formgrader_and_sees_the_lessons(lab_browser, tmp_path):
    browser = lab_browser
    # As cloned: formgrader finds the lessons in solutions/ (the source folder) without any command first.
    course = copy_course(tmp_path / "course")
    with jupyterlab(course, tmp_path) as (url, token):
        browser.get(f"{url}/lab?token={token}")
        wait_for(browser, "return [...document.querySelectorAll('.lm-MenuBar-item')]"
                          ".some(e => e.textContent.trim() === 'Nbgrader')", "the Nbgrader menu")
        click_menu(browser, "Nbgrader", "nbgrader:open-formgrader")
        frame = wait_for(browser, "return document.querySelector('iframe[src*=\"formgrader\"]')", "the formgrader tab")
        browser.switch_to.frame(frame)
        try:
            listed = wait_for(browser, "const t = document.body && document.body.textContent;"
                                       f"return {LESSONS!r}.every(l => t.includes(l)) && t;", "the four lessons")
        finally:
            browser.switch_to.default_content()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOTS / "instructor-formgrader.png"))
    assert "Manage Assignments" in listed
