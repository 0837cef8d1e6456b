"""nbgrader configuration for the medprep course.

Instructor versions (with solutions and hidden tests) live in ``solutions/``;
``nbgrader generate_assignment`` writes the student versions to ``notebooks/``.
Each lesson is one assignment: ``solutions/<lesson>/<lesson>.ipynb``.
The README's "For instructors" section walks through the whole grading workflow.
"""

import warnings

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

# nbgrader 0.9.6's own gradebook code triggers SQLAlchemy "Object of type <Submitted...> not in
# session" warnings for every submission: nothing an instructor can act on.
warnings.filterwarnings("ignore", message=r"Object of type <Submitted", module=r"nbgrader\.api")

c.CourseDirectory.course_id = "medprep"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"

# Student stubs: what replaces the code between BEGIN/END SOLUTION.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Grading that a learner's code can neither fool nor harm (medprep_grader/, instructor-only):
# - every locked cell comes back whole from the released notebook; only answers come from the submission;
# - the notebook runs in a bubblewrap sandbox (no course folder, no network, its own HOME, limits on CPU,
#   memory, processes and file size) on a fresh verified copy of the data; grading refuses to run
#   without the sandbox unless --SandboxedExecute.unsafe_no_sandbox=True is given (a warning is logged);
# - the check cells are judged by the grader, outside the kernel: it calls the learner's functions on
#   the visible cases and on hidden cases drawn from the course secret (MEDPREP_GRADING_SECRET or
#   ~/.config/medprep/grading-secret) and writes the verdict as the cell's output;
# - outputs are reduced to inert text and images, capped per cell; learner markdown is sanitized.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # medprep_grader lives beside this file

c.Execute.timeout = 30  # per cell, within SandboxedExecute.submission_timeout for the whole submission
c.Execute.interrupt_on_timeout = True
c.SandboxedExecute.submission_timeout = 120
c.SandboxedExecute.call_timeout = 20
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 100
c.Autograde.autograde_preprocessors = [
    "medprep_grader.preprocessors.SandboxedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "medprep_grader.preprocessors.SanitizeOutputs",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "medprep_grader.preprocessors.RestoreFromRelease",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# Feedback and formgrader pages: sanitize HTML of markdown and outputs again when rendering.
c.HTMLExporter.sanitize_html = True

# Without JupyterHub, `nbgrader zip_collect <lesson>` reads the files in downloaded/<lesson>/archive/
# (or zip files of them) named <student>_<lesson>.ipynb, e.g. ada_01_know_your_data.ipynb.
c.ZipCollectApp.collector_plugin = "nbgrader.plugins.FileNameCollectorPlugin"
c.FileNameCollectorPlugin.named_regexp = r".*[/\\](?P<student_id>[^/\\]+?)_(?P<file_id>\d\d_\w+\.ipynb)$"

# A course-local exchange (exchange/ beside this file, gitignored, made here when missing): without
# JupyterHub, Formgrader and the Assignment List then find an exchange instead of reporting that it
# does not exist ("Error fetching courses!"). With JupyterHub, set this to the shared exchange that
# /etc/jupyter/nbgrader_config.py names for the students (README, "With JupyterHub").
import os  # noqa: E402 - kept beside the one setting that needs it

c.Exchange.root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "exchange")
os.makedirs(c.Exchange.root, exist_ok=True)
