"""mlgrade: an automated grader for machine-learning homework.

A submission flows through stages, each a package::

    intake -> execute -> checks -> score -> classstep -> render
    (unpack,   (sandboxed   (one module  (a result   (class-wide   (one module
     LMS names, notebooks,   per kind)    per         best, over-   per output
     notebooks) model server)             question)   rides, integrity) format)

around them ``core`` (typed records and small tools every stage uses), ``rubric`` (the rubric as data
and the kinds' registry), ``insandbox`` (code that runs inside the sandbox and imports nothing of the
grader), and the doors users come in by: ``batch`` (many submissions), ``student`` (the self-check and
the student kit), ``authoring`` (an instructor's own assignment), ``review``, ``platforms`` (Classroom,
Gradescope, LMS downloads, git) and ``cli``.

:data:`LAYERS` is that plan as data: a module imports only from its own layer or from layers before
it, so each stage can be read, tested and replaced without the ones after it (``tests/test_layers.py``
holds the code to it).
"""

__version__ = "0.1.0"

#: The packages in the order they may import each other, lowest first.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("core",),
    ("intake", "insandbox"),
    ("execute",),
    ("rubric",),
    ("checks", "api"),
    ("score",),
    ("classstep",),
    ("render",),
    ("batch", "student", "authoring", "review"),
    ("platforms",),
    ("cli", "__main__"),
)
