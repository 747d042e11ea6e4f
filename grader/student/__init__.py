"""What students receive: the student build of a rubric, the student kit, and the check that nothing leaks.

A student build (:mod:`grader.student.compile`) is the rubric compiled for students' machines:
public checks keep their tests, with the instructor's reference replaced by the answers it gave
on the public inputs (recorded as data at export); hidden questions, hidden tests, hidden cases
and hidden data become "checked when graded"; reference modules and instructor-only files never
ship. :mod:`grader.student.leaks` scans what ships for anything that answers the assignment, and
:mod:`grader.student.kit` packs the build with mlgrade's student wheel for students and for
GitHub Classroom templates.
"""
