"""Where people grade: one module per platform, named by the command that serves it.

``classroom`` (``mlgrade classroom``, ``mlgrade init classroom``), ``repos`` (grading a
Classroom roster of repositories at a deadline), ``gradescope`` (``mlgrade gradescope``,
``mlgrade export gradescope``) and ``lmsdownload`` (LMS bulk downloads). Each turns its
platform's inputs into submissions for the shared stages and its outputs into a renderer call.
"""
