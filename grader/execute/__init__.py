"""Stage 2, execute: student code and student files run somewhere the grader can bound and throw away.

:mod:`~grader.execute.isolation` chooses where (bubblewrap, another user, or plain processes), one backend each;
:mod:`~grader.execute.notebooks` runs notebooks and keeps them alive for the checks' calls;
:mod:`~grader.execute.modelserver` is the client of the sandboxed model server; :mod:`~grader.execute.slots`
gives concurrent workers sandbox uids of their own. The code that runs inside is :mod:`grader.insandbox`."""
