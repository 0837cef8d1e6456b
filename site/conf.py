"""Sphinx configuration of the lesson website (built by ``python site/build.py``).

Why Sphinx + MyST-NB + pydata-sphinx-theme: all three are pure-Python packages from PyPI, kept by
the Executable Books / PyData communities, and build a static folder that works opened from disk
(file://) and on any static host, with Sphinx's own client-side search. Jupyter Book 2 / mystmd
would need Node.js and fetches its theme at build time, which breaks the course's "nothing is
downloaded" rule; Jupyter Book 1 is Sphinx + MyST-NB underneath, so we use those directly. The
pydata theme is used directly rather than through sphinx-book-theme, which holds it back at an
older release.

``build.py`` prepares the sources (lesson pages from the solution notebooks with the answers
removed, the lesson table, the schedule) in a staging folder and runs Sphinx on it with this
folder as the configuration directory (``-c site``).
"""

import base64
import hashlib
import json
import tomllib
from pathlib import Path

from docutils import nodes
from latex2mathml.converter import convert as latex_to_mathml

ROOT = Path(__file__).resolve().parents[1]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]

project = "medprep"
author = "the medprep authors"
copyright = "the medprep authors, MIT licence"
release = version = VERSION
language = "en"

# myst_nb brings myst_parser with it; githubpages writes .nojekyll, without which GitHub Pages would
# hide the _static/ and _images/ folders.
extensions = ["myst_nb", "sphinx.ext.githubpages"]

# Lesson pages use the outputs stored in the solution notebooks: building never runs a kernel.
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "substitution"]
myst_heading_anchors = 3
myst_substitutions = {
    "wheel": f"`medprep-{VERSION}-py3-none-any.whl`",  # inline code takes no substitution: bring the backticks
    # A fenced block as a substitution: code blocks take no substitutions inside them.
    "learner_setup": (
        "```bash\n"
        f"python -m pip install medprep-{VERSION}-py3-none-any.whl\n"
        "medprep start\n"
        "```"
    ),
}

# Staged files that are included into pages (or offered as downloads), not pages of their own.
exclude_patterns = ["_generated/**", "downloads/**", "**/.ipynb_checkpoints"]

html_theme = "pydata_sphinx_theme"
html_title = "medprep: preparing medical images for machine learning"
html_static_path = ["_static"]
html_css_files = ["medprep.css"]
# The sources of the lesson pages are intermediate files: learners download the student notebook
# from the link on each lesson page instead.
html_copy_source = False
html_use_index = False  # the lessons define no index entries: no empty "Index" page
html_show_sourcelink = False
html_theme_options = {
    "logo": {"text": "medprep"},  # the full title is too wide for a phone's navigation bar
    "navbar_align": "left",
    "header_links_before_dropdown": 6,
    "secondary_sidebar_items": ["page-toc"],
    "show_prev_next": True,
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_sidebars = {"**": []}
# Light unless the reader switches: the figures are drawn on white. (Left empty, the theme also logs
# a console error on a reader's first visit.)
html_context = {"default_mode": "light"}
html_last_updated_fmt = None


# --- Maths as MathML, rendered by the browser ---------------------------------------------------
# Sphinx's default renderer loads MathJax from a CDN: no maths offline, and a console error. Every
# current browser renders MathML itself, so the formulas are converted once, at build time.


def _visit_math(self, node):
    self.body.append(latex_to_mathml(node.astext(), display="inline"))
    raise nodes.SkipNode


def _visit_displaymath(self, node):
    self.body.append(f'<div class="math-display">{latex_to_mathml(node.astext(), display="block")}</div>')
    raise nodes.SkipNode


html_math_renderer = "mathml"


# --- Alt text of notebook figures ---------------------------------------------------------------
# The lessons store a figure's alt text in its output's metadata, {"image/png": {"alt": ...}}, the
# place nbconvert and JupyterLab read it from. MyST-NB 1.4 takes only width and height from there
# (alt only from cell-level metadata, one for every image of a cell), and names each image file by
# the SHA-256 of its bytes; so after reading a lesson we give each image node the alt text of the
# output with the same bytes.


def output_alt_texts(notebook: dict) -> dict[str, str]:
    """Map the SHA-256 of each figure's bytes to the alt text stored in its output metadata.

    Examples
    --------
    >>> png = base64.b64encode(b"png bytes").decode()
    >>> cell = {"cell_type": "code", "outputs": [
    ...     {"data": {"image/png": png}, "metadata": {"image/png": {"alt": "a ramp"}}}]}
    >>> output_alt_texts({"cells": [cell]}) == {hashlib.sha256(b"png bytes").hexdigest(): "a ramp"}
    True
    """
    found = {}
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            for mime, meta in output.get("metadata", {}).items():
                content = output.get("data", {}).get(mime)
                if not (mime.startswith("image/") and isinstance(meta, dict) and meta.get("alt") and content):
                    continue
                content = "".join(content) if isinstance(content, list) else content
                raw = base64.b64decode(content) if mime != "image/svg+xml" else content.encode()
                found[hashlib.sha256(raw).hexdigest()] = str(meta["alt"])
    return found


def _add_output_alt_text(app, doctree):
    source = Path(app.env.doc2path(app.env.docname))
    if source.suffix != ".ipynb":
        return
    alts = output_alt_texts(json.loads(source.read_text(encoding="utf-8")))
    for image in doctree.findall(nodes.image):
        alt = alts.get(Path(image["uri"]).stem)
        if alt and not image.get("alt"):
            image["alt"] = alt


def setup(app):
    app.add_html_math_renderer(
        "mathml", inline_renderers=(_visit_math, None), block_renderers=(_visit_displaymath, None)
    )
    app.connect("doctree-read", _add_output_alt_text)
