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
# Needs node >= 18 and npm (dependencies are installed once per lock file into a cache folder).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# The dependencies, installed once per lock file: into a fresh folder first, moved into place whole, so a
# run killed mid-install or a changed lock file never leaves a half-installed cache that looks done.
lock=$(sha256sum "$here/package-lock.json" | cut -c1-16)
cache=${CLASSROOM_REPORTER_CACHE:-${TMPDIR:-/tmp}}/classroom-reporter-$lock
fresh=""
trap 'rm -rf "$fresh"' EXIT  # an install cut short leaves nothing
if [ ! -f "$cache/.installed" ]; then
  mkdir -p "$(dirname "$cache")"
  fresh=$(mktemp -d "$cache.XXXXXX")
  cp "$here/package.json" "$here/package-lock.json" "$fresh/"
  installed=""
  for wait_s in 5 15 0; do  # the registry can fail once: try three times
    if (cd "$fresh" && npm install --no-audit --no-fund >"$fresh/npm.log" 2>&1); then installed=1; break; fi
    sleep "$wait_s"
  done
  if [ -z "$installed" ]; then
    echo "npm install failed:" >&2; tail -n 20 "$fresh/npm.log" >&2; exit 3
  fi
  touch "$fresh/.installed"
  if ! mv -T "$fresh" "$cache" 2>/dev/null; then
    # something is there: another run's finished install (use it), or an unfinished one left by a killed run
    if [ ! -f "$cache/.installed" ]; then rm -rf "$cache"; mv -T "$fresh" "$cache"; fi
  fi
  [ -f "$cache/.installed" ] || { echo "the reporter's dependencies in $cache are incomplete" >&2; exit 3; }
fi
rm -rf "$fresh"  # gone already once moved into place; another run's install is used otherwise
trap - EXIT
export INPUT_RUNNERS="${1:?usage: run.sh RUNNERS}"
export GITHUB_OUTPUT=${GITHUB_OUTPUT:-/dev/null}
# The reporter's code runs from here; its two dependencies come from the shared install (CommonJS require).
export NODE_PATH="$cache/node_modules"
exec node "$here/src/main.js"
