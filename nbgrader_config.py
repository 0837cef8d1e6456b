"""nbgrader configuration for the medprep course.

Instructor versions (with solutions and hidden tests) live in ``solutions/``;
``nbgrader generate_assignment`` writes the student versions to ``notebooks/``.
Each lesson is one assignment: ``solutions/<lesson>/<lesson>.ipynb``.
"""

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "medprep"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.db_assignments = [
    {"name": "01_know_your_data"},
    {"name": "02_augment"},
    {"name": "03_features"},
    {"name": "04_harmonize"},
]

# Student stubs: what replaces the code between BEGIN/END SOLUTION.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Grading must finish even when an answer loops forever or floods the output:
# a cell that runs longer than this is interrupted, its tests fail, the rest is graded.
c.Execute.timeout = 30
c.Execute.interrupt_on_timeout = True
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 100

# A test cell deleted by a learner is put back from the gradebook and run as released.
c.OverwriteCells.add_missing_cells = True
