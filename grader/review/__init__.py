"""``mlgrade review DIR``: the instructor walks through every flagged item of a graded class.

A local page (:mod:`grader.review.server`, standard library ``http.server`` on 127.0.0.1) shows
one question at a time across students (every HDFView screenshot, then every classification
screenshot, ...): the flagged image, the student's other evidence for that question (their
images with the predicted class, the equation with its re-evaluated values), the automatic
score and why. Keys accept, set a score, comment and move on; each decision is written to
``DIR/overrides.yaml`` at once (:mod:`grader.classstep.overrides`), so nothing is lost if the browser or
the server is killed, and every later export applies it.

:mod:`grader.review.queue` builds the queue from the stored records: it is the only map from
what a request names (an item's id, an image's digest) to data, so no request ever names a path.
"""
