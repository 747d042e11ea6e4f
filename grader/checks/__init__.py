"""Stage 3, inspect: the built-in check kinds (one module each, registered through
:mod:`grader.checks.builtin`) and what they share: notebook sessions (:mod:`~grader.checks.notebooks`),
declared inputs and comparisons (:mod:`~grader.checks.values`), model files (:mod:`~grader.checks.modelfiles`),
architectures compared in words (:mod:`~grader.checks.archcompare`), the equation grammar
(:mod:`~grader.checks.equation`; the XOR network on it, :mod:`~grader.checks.xornet`), and the
instructors' pytest files (:mod:`grader.checks.pytest`).

What is homework-specific (the backprop notebook, the XOR network, its hand-written equation) lives in
course packs under ``rubrics/``, written on the same public API as any instructor's assignment
(:mod:`grader.api`): pytest files, reference modules and plugins.
"""
