#!/usr/bin/env bash
# Run GitHub Classroom's real grading reporter (the step every Classroom autograding workflow ends
# with) on results that a grader wrote, exactly as the Actions runner would.
#
# usage: run.sh RUNNERS        e.g.  Q1A_RESULTS=<base64> Q2_RESULTS=<base64> run.sh q1a,q2
# Each runner id R is read from the environment variable R_RESULTS (upper-cased), base64 JSON.
# Prints the reporter's log. The lines Classroom reads are
#   ::notice title=Autograding complete::Points X/Y
#   ::notice title=Autograding report::{"totalPoints":X,"maxPoints":Y}
# Exit status: the reporter's (1 when a runner's status is fail or error).
# Needs node >= 18 and npm (dependencies are installed once into a cache folder).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${CLASSROOM_REPORTER_CACHE:-${TMPDIR:-/tmp}/classroom-reporter}
if [ ! -f "$cache/node_modules/@actions/core/package.json" ]; then
  mkdir -p "$cache"; cp "$here/package.json" "$here/package-lock.json" "$cache/"
  (cd "$cache" && npm install --silent --no-audit --no-fund >/dev/null 2>&1) || { echo "npm install failed" >&2; exit 3; }
fi
rm -rf "$cache/src"; cp -r "$here/src" "$cache/src"
export INPUT_RUNNERS="${1:?usage: run.sh RUNNERS}"
export GITHUB_OUTPUT=${GITHUB_OUTPUT:-/dev/null}
cd "$cache" && exec node src/main.js
