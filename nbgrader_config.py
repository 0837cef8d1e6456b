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

# Grading must finish, and give every submission the marks it deserves, whatever an answer does
# (medprep_helpers/grading.py explains each step):
# - a cell that runs longer than the timeout is interrupted: its tests fail, the rest is graded;
# - a kernel that dies (os._exit, a crash) or ignores the interrupt: the tests above keep
#   their marks, every test below scores zero (plain nbgrader fails the whole submission);
# - every notebook runs on its own fresh copy of the verified course data (MEDPREP_DATA), so an
#   answer that deletes data files cannot hurt the submissions graded after it; damage to the
#   real data/ folder is logged as an error naming the files;
# - huge outputs are cut (LimitOutput: lines; CapOutputs: characters, and images over 1 MB).
c.Execute.timeout = 30
c.Execute.interrupt_on_timeout = True
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 100
c.CapOutputs.max_image_bytes = 1_000_000
c.CapOutputs.max_text_chars = 20_000
c.Autograde.autograde_preprocessors = [
    "medprep_helpers.grading.SafeExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "medprep_helpers.grading.CapOutputs",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# An edited test cell is replaced by the original; a deleted one is put back and run as released.
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "medprep_helpers.grading.OverwriteLockedCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.OverwriteCells.add_missing_cells = True

# Without JupyterHub, `nbgrader zip_collect <lesson>` reads the files in downloaded/<lesson>/archive/
# (or zip files of them) named <student>_<lesson>.ipynb, e.g. ada_01_know_your_data.ipynb.
c.ZipCollectApp.collector_plugin = "nbgrader.plugins.FileNameCollectorPlugin"
c.FileNameCollectorPlugin.named_regexp = r".*[/\\](?P<student_id>[^/\\]+?)_(?P<file_id>\d\d_\w+\.ipynb)$"
