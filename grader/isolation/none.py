"""No isolation: helpers and kernels are plain child processes of the grader, with limits and timeouts only.

For a student checking their own work on a machine without bubblewrap (their code,
their machine). Each notebook gets a fresh Python running :mod:`grader.insandbox.kernel`
(no fork, no zygote), in a private copy of the submission, supervised from the grader
with the same code and records as the bubblewrap backend. Nothing here assumes Linux but
``select`` on pipes and POSIX signals for the cell timeout.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from grader.isolation import INSANDBOX, SUPPORT, Backend, ServiceSpec, kernel_limits, kill_tree, notebook_env
from grader.isolation.service import ServiceProcess
from grader.isolation.staging import Staging

KEEP_ENV = ("PATH", "HOME", "LANG", "SYSTEMROOT", "TMPDIR", "TEMP", "TMP")


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in KEEP_ENV}


class NoIsolation(Backend):
    name = "none"
    isolated = False
    guarantees = (
        "student code ran without isolation, as your own user, with only time and memory limits "
        "(fine for checking your own work; batch grading uses a sandbox)"
    )

    def problem(self) -> str | None:
        return None

    def start_service(self, spec: ServiceSpec) -> ServiceProcess:
        staging = Staging()
        scratch = str(staging.private_dir())
        env = {**_base_env(), **{k: v.replace("{scratch}", scratch) for k, v in spec.env.items()}}
        return ServiceProcess([sys.executable, str(INSANDBOX / spec.script)], staging, env=env, uid=None,
                              startup_timeout=spec.startup_timeout)

    def run_notebook(self, slot: int, request: dict[str, Any], deadline_s: float) -> dict[str, Any]:
        from grader.insandbox import supervise

        staging = Staging()
        try:
            copy = staging.put_tree(Path(request["submission"]), owner=None,
                                    aliases=list(request.get("aliases", [])), link_large=False)
            env = {**_base_env(), **notebook_env(str(SUPPORT), str(copy.host), False)}
            env["MLGRADE_LIMITS"] = kernel_limits(request["memory_bytes"], request["notebook_timeout"], False)
            cwd = copy.host / request.get("cwd", "")
            try:
                proc = subprocess.Popen(
                    [sys.executable, str(INSANDBOX / "kernel.py"), str(int(request.get("output_chars", 100_000)))],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    cwd=cwd, env=env, start_new_session=True,
                )
            except OSError as e:
                return {"status": "error", "reason": f"the notebook kernel did not start ({e})"}
            assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
            kernel = supervise.Kernel(proc.pid, proc.stdin.fileno(), proc.stdout.fileno(), proc.stderr.fileno(),
                                      signal_fn=lambda sig: os.kill(proc.pid, sig))
            try:
                answer = supervise.supervise(kernel, request)
                supervise.finish(kernel, answer)
                if answer.get("status") == "kernel_died":
                    try:
                        proc.wait(timeout=2)
                    except subprocess.TimeoutExpired:
                        pass
                answer["exit"] = proc.poll()
            finally:
                kill_tree(proc)  # its process group: what it started in the background goes too
                for stream in (proc.stdin, proc.stdout, proc.stderr):
                    try:
                        stream.close()
                    except OSError:
                        pass
            return answer
        finally:
            staging.close()
