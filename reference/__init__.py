"""Reference implementations: plain numpy, small, and the source of every expected value.

The grader compares what a student's code computes with these functions; the
tests pin them to the numbers the handouts print (``../shared/seeds``).
"""
