"""Instructor-only grading for the medprep course (never part of the learner package).

- :mod:`~medprep_grader.preprocessors`: nbgrader preprocessors (restore locked cells, run the
  submission in a sandbox and judge it from outside, sanitize outputs), wired by
  ``nbgrader_config.py``;
- :mod:`~medprep_grader.sandbox`: the bubblewrap sandbox of a learner's kernel;
- :mod:`~medprep_grader.remote`: calls of the learner's functions across the kernel boundary;
- :mod:`~medprep_grader.hidden`: hidden cases drawn from the course secret (:mod:`~medprep_grader.secret`);
- :mod:`~medprep_grader.integrity`: verified data copies and the code fingerprint.

The threat model: a learner's answer may do anything a Python program can do in its own
process, and may set any cell metadata; the grade depends only on the plain values the
learner's functions return for inputs drawn from the instructor's secret, judged in the
grader's process, which never runs learner code.
"""
