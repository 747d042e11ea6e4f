"""The notebook runner: a long-lived process that executes one notebook job at a time.

Protocol: one JSON :class:`NotebookJob` per line on stdin, one JSON
:class:`NotebookRun` per line on stdout. Everything else (nbclient and kernel
logs) goes to stderr. The runner is trusted code; the kernels it starts are
not, so they run under rlimits and, with ``isolation="bwrap"``, in a sandbox
that sees only the job folder.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from grader.nbexec.jobs import CellReport, NotebookJob, NotebookRun
from grader.nbload import load_notebook
from grader.sandbox import Limits, ServiceProcess

SUPPORT = Path(__file__).resolve().parent / "support"
SUPPORT_INSIDE = "/mlgrade/support"
INSANDBOX = Path(__file__).resolve().parent.parent / "insandbox"  # the zygote's own code
INSANDBOX_INSIDE = "/mlgrade/insandbox"
TIMEOUT_ENAME = "CellTimeoutError"


# --------------------------------------------------------------------------- output budget

class BudgetedClient(NotebookClient):
    """nbclient with an output budget: text is kept up to ``budget`` characters in all,
    rich data is dropped, and streams are merged by plain appends (nbclient's
    ``coalesce_streams`` regex is quadratic on long lines)."""

    def __init__(self, nb, km, budget: int, **kw):
        super().__init__(nb, km=km, **kw)
        self.budget_left = budget
        self.truncated = False
        self.timed_out: set[int] = set()  # cells we interrupted for running too long
        self.current_cell = -1

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        self.current_cell = cell_index
        return await super().async_execute_cell(cell, cell_index, execution_count, store_history)

    async def _async_handle_timeout(self, timeout, cell=None):
        self.timed_out.add(self.current_cell)
        return await super()._async_handle_timeout(timeout, cell)

    def _take(self, text: str) -> str:
        if len(text) <= self.budget_left:
            self.budget_left -= len(text)
            return text
        kept = text[: max(self.budget_left, 0)]
        self.budget_left = 0
        if not self.truncated:
            self.truncated = True
            kept += "\n[mlgrade: output truncated]\n"
        return kept

    def output(self, outs, msg, display_id, cell_index):
        msg_type = msg["msg_type"]
        content = msg["content"]
        if msg_type == "stream":
            text = self._take(str(content.get("text", "")))
            if not text:
                return None
            name = content.get("name", "stdout")
            if outs and outs[-1].get("output_type") == "stream" and outs[-1].get("name") == name:
                outs[-1]["text"] += text
                return outs[-1]
            out = nbformat.v4.new_output("stream", name=name, text=text)
        elif msg_type == "error":
            tb = [self._take(str(line)[:500]) for line in list(content.get("traceback", []))[-30:]]
            out = nbformat.v4.new_output(
                "error",
                ename=str(content.get("ename", ""))[:200],
                evalue=self._take(str(content.get("evalue", ""))[:2000]),
                traceback=tb,
            )
        elif msg_type in ("execute_result", "display_data"):
            plain = content.get("data", {}).get("text/plain")
            if not plain:
                return None
            out = nbformat.v4.new_output("display_data", data={"text/plain": self._take(str(plain))})
        else:
            return None
        outs.append(out)
        return out


# --------------------------------------------------------------------------- kernels

class Zygote(ServiceProcess):
    """The runner's kernel factory: one sandboxed process that forks a kernel per notebook.

    All its kernels live under ``jobs_root`` (the only writable folder it sees);
    after each notebook it kills every process left in the sandbox and empties
    its scratch folders, so nothing of one student reaches the next.
    """

    def __init__(self, isolation: str, uid: int):
        env = {
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONHASHSEED": "0", "JPY_PARENT_PID": "0", "MPLBACKEND": "Agg",
            "PYTHONDONTWRITEBYTECODE": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            "MPLCONFIGDIR": "{jobs_root}/.mpl", "HOME": "{jobs_root}",
        }
        script = f"{INSANDBOX_INSIDE}/zygote.py" if isolation == "bwrap" else str(INSANDBOX / "zygote.py")
        super().__init__(script, isolation, uid, env, tmpfs=["/content"],
                         ro_binds=[(str(SUPPORT), SUPPORT_INSIDE), (str(INSANDBOX), INSANDBOX_INSIDE)])

    @property
    def support(self) -> str:
        return SUPPORT_INSIDE if self.isolation == "bwrap" else str(SUPPORT)

    def request(self, cmd: dict, timeout: float = 30) -> dict:
        answer = super().request(cmd, timeout)
        if "error" in answer:
            raise RuntimeError(f"kernel zygote: {answer['error']}")
        return answer

    def new_job_dir(self) -> Path:
        self.counter += 1
        return self.jobs_root / str(self.counter)

    def sweep(self) -> None:
        if self.isolation == "bwrap":
            self.request({"op": "sweep", "paths": ["/tmp", "/content", "/dev/shm"], "keep": [str(self.jobs_root)]})


_ZYGOTE: Zygote | None = None


def get_zygote(isolation: str, uid: int) -> Zygote:
    global _ZYGOTE
    z = _ZYGOTE
    if z is None or not z.alive() or z.isolation != isolation or z.uid != uid:
        if z is not None:
            z.close()
        z = _ZYGOTE = Zygote(isolation, uid)
    return z


class ZygoteProvisioner(LocalProvisioner):
    """Starts kernels by asking the zygote to fork one, instead of exec'ing a new Python."""

    zygote: Zygote | None = None
    kernel_env: dict[str, str] = {}
    kernel_cwd: str = ""
    log_path: str = ""
    limits: str = ""

    @property
    def has_process(self) -> bool:
        return self.pid is not None

    async def launch_kernel(self, cmd: list[str], **kwargs: Any):
        assert self.zygote is not None
        answer = self.zygote.request({
            "op": "spawn", "args": cmd[1:], "env": self.kernel_env, "cwd": self.kernel_cwd,
            "log": self.log_path, "limits": self.limits,
        })
        self.pid = self.pgid = answer["pid"]
        return self.connection_info

    async def poll(self) -> int | None:
        if self.pid is None or self.zygote is None or not self.zygote.alive():
            return -9
        try:
            return self.zygote.request({"op": "poll", "pid": self.pid})["code"]
        except RuntimeError:
            return -9

    async def wait(self) -> int | None:
        code = None
        for _ in range(100):
            code = await self.poll()
            if code is not None:
                break
            await asyncio.sleep(0.05)
        self.pid = None
        return code

    async def send_signal(self, signum: int) -> None:
        if self.pid is not None and self.zygote is not None and self.zygote.alive():
            try:
                self.zygote.request({"op": "signal", "pid": self.pid, "sig": int(signum)})
            except RuntimeError:
                pass

    async def kill(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGKILL)

    async def terminate(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGTERM)

    async def cleanup(self, restart: bool = False) -> None:
        pass


def _kernel_env(job: NotebookJob, kdir: Path, support: str) -> dict[str, str]:
    venv_bin = os.path.dirname(sys.executable)
    env = {
        "PATH": f"{support}/bin:{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "PYTHONPATH": f"{support}/colab",
        "IPYTHONDIR": str(kdir / "ipython"),
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(kdir / "mpl"),
        "HOME": str(kdir / "home"),
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1",
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MLGRADE_SUBMISSION": str(kdir / "sub"),
        "JPY_PARENT_PID": "0",
    }
    if job.isolation == "bwrap":
        env["MLGRADE_SANDBOXED"] = "1"
    return env


def _kernel_limits(job: NotebookJob) -> str:
    # RLIMIT_NPROC counts all processes of a uid: only a dedicated sandbox uid (we are root and drop
    # to it) can use it; a user's own uid would count their desktop too.
    processes = 64 if job.isolation == "bwrap" and os.geteuid() == 0 else None
    cpu = int(job.notebook_timeout) + 30
    return Limits(memory_bytes=job.memory_bytes, cpu_seconds=cpu, processes=processes).env_value()


def _make_kernel_manager(job: NotebookJob, kdir: Path, zygote: Zygote) -> _KernelManager:
    specs = kdir / "kernels" / "mlgrade"
    specs.mkdir(parents=True)
    (specs / "kernel.json").write_text(json.dumps({
        "argv": ["mlgrade-zygote", "-f", "{connection_file}"], "display_name": "mlgrade",
        "language": "python", "interrupt_mode": "message",
    }))
    km = _KernelManager(
        kernel_name="mlgrade",
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kdir / "kernels")]),
        transport="ipc",  # Unix sockets in the job folder: no ports, and the sandbox has no network
        ip=str(kdir / "k"),
    )
    km.sandbox_uid = job.uid if job.isolation == "bwrap" else None
    km.connection_file = str(kdir / "connection.json")
    km.kernel_id = str(uuid.uuid4())
    prov = ZygoteProvisioner(kernel_id=km.kernel_id, kernel_spec=km.kernel_spec, parent=km)
    prov.zygote = zygote
    prov.kernel_env = _kernel_env(job, kdir, zygote.support)
    prov.kernel_cwd = str(kdir / "sub")
    prov.log_path = str(kdir / "kernel.log")
    prov.limits = _kernel_limits(job)
    km.provisioner = prov
    return km


class _KernelManager(AsyncKernelManager):
    """Hands the connection file to the sandbox uid (it is written 0600 by us)."""

    sandbox_uid: int | None = None

    def write_connection_file(self, **kw):
        result = super().write_connection_file(**kw)
        if self.sandbox_uid is not None and os.geteuid() == 0:
            os.chown(self.connection_file, self.sandbox_uid, self.sandbox_uid)
        return result


# --------------------------------------------------------------------------- the job folder

LINK_ABOVE = 1024 * 1024


def _copy_tree(src: Path, dst: Path, uid: int | None) -> None:
    """The kernel's own view of the submission: it may add, replace or delete files in it, and the
    files the other checks read stay as they were.

    Small files are copied and given to the sandbox user, so a notebook may also overwrite them.
    Large ones (model files) are hard-linked when the sandbox runs as another user: the link keeps
    our owner and mode 0644, so the kernel can replace the name but never change the bytes.
    """
    dst.mkdir()
    for root, dirs, files in os.walk(src, followlinks=False):
        rel = Path(root).relative_to(src)
        for d in dirs:
            (dst / rel / d).mkdir()
        for f in files:
            s = Path(root) / f
            if s.is_symlink():
                continue
            if uid is not None and s.stat().st_size > LINK_ABOVE and s.stat().st_uid != uid:
                try:
                    os.link(s, dst / rel / f)
                    continue
                except OSError:
                    pass
            shutil.copyfile(s, dst / rel / f)
    if uid is not None:
        os.chown(dst, uid, uid)
        for root, dirs, files in os.walk(dst):
            for name in dirs + files:
                p = os.path.join(root, name)
                if os.lstat(p).st_nlink == 1:  # never hand over a hard link's shared inode
                    os.lchown(p, uid, uid)


def _prepare_job_dir(job: NotebookJob, kdir: Path) -> None:
    kdir.mkdir()
    owner = job.uid if job.isolation == "bwrap" and os.geteuid() == 0 else None
    _copy_tree(Path(job.submission_dir), kdir / "sub", owner)
    for alias in job.drive_aliases:  # Colab paths like "Colab Notebooks/x" lead back here
        link = kdir / "sub" / alias
        if alias and "/" not in alias and not link.exists():
            os.symlink(".", link)
    startup = kdir / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    shutil.copyfile(SUPPORT / "startup.py", startup / "00-mlgrade.py")
    for d in ("mpl", "home", "probe"):
        (kdir / d).mkdir()
    if owner is not None:
        os.chown(kdir, owner, owner)
        for d in ("ipython", "ipython/profile_default", "ipython/profile_default/startup", "mpl", "home", "probe"):
            os.chown(kdir / d, owner, owner)
    os.chmod(kdir, 0o755)


def _collect(kdir: Path, job: NotebookJob, run: NotebookRun) -> None:
    """Move what the grader needs out of the sandbox's folder, into the worker's job folder."""
    dest = Path(job.job_dir)
    dest.mkdir(parents=True, exist_ok=True)
    out = kdir / "probe" / "out"
    if out.is_dir() and not out.is_symlink():
        target = dest / "probe_out"
        target.mkdir()
        for f in out.iterdir():
            if f.is_file() and not f.is_symlink():
                shutil.copyfile(f, target / f.name)
        run.probe_out = str(target)
    log = kdir / "kernel.log"
    if log.is_file() and not log.is_symlink():
        (dest / "kernel.log").write_bytes(log.read_bytes()[-20000:])


def _seed_source(seed: int) -> str:
    return (
        "import random as _mlg_random\n"
        f"_mlg_random.seed({seed})\n"
        "try:\n"
        "    import numpy as _mlg_np\n"
        f"    _mlg_np.random.seed({seed % 2**32})\n"
        "    del _mlg_np\n"
        "except ImportError:\n"
        "    pass\n"
        "del _mlg_random\n"
    )


def _probe_source(probe_dir: str, select: str | None) -> str:
    text = (SUPPORT / "probe.py").read_text()
    return text.replace("__MLGRADE_PROBE_DIR__", repr(probe_dir)).replace("__MLGRADE_SELECT__", repr(select))


# --------------------------------------------------------------------------- one job

async def run_job(job: NotebookJob) -> NotebookRun:
    started = time.monotonic()
    nb, reason = load_notebook(job.notebook)
    if nb is None:
        return NotebookRun("invalid", reason, elapsed_s=round(time.monotonic() - started, 3))
    zygote = get_zygote(job.isolation, job.uid)
    kdir = zygote.new_job_dir()
    _prepare_job_dir(job, kdir)
    code = [(i, c) for i, c in enumerate(nb.cells) if c.get("cell_type") == "code" and c.get("source", "").strip()]
    run = NotebookRun("ok", code_cells=len(code))
    exec_nb = nbformat.v4.new_notebook()
    # cell 0 seeds the RNGs, then the student's code cells, then (maybe) the grader's probe
    exec_nb.cells = [nbformat.v4.new_code_cell(_seed_source(job.seed))]
    exec_nb.cells += [nbformat.v4.new_code_cell(c["source"]) for _, c in code]
    km = _make_kernel_manager(job, kdir, zygote)
    client = BudgetedClient(
        exec_nb, km, budget=job.output_chars,
        timeout=int(job.cell_timeout), allow_errors=True, interrupt_on_timeout=True,
        error_on_timeout={"ename": TIMEOUT_ENAME, "evalue": f"the cell ran longer than {job.cell_timeout:g} s",
                          "traceback": []},
        startup_timeout=60, iopub_timeout=5, raise_on_iopub_timeout=False, shutdown_kernel="immediate",
        extra_arguments=["--HistoryManager.hist_file=:memory:", "--HistoryManager.enabled=False"],
    )
    exit_code = None
    try:
        await asyncio.wait_for(_drive(client, job, kdir, code, run), timeout=job.notebook_timeout)
    except TimeoutError:
        run.status = "timeout"
        run.reason = f"the notebook did not finish within {job.notebook_timeout:g} s and was stopped"
        if run.probe_status == "none" and job.probe:
            run.probe_status = "skipped"
    except DeadKernelError:
        # nbclient turns a cancelled wait into DeadKernelError: tell the two apart by the clock
        if time.monotonic() - started >= job.notebook_timeout - 1:
            run.status = "timeout"
            run.reason = f"the notebook did not finish within {job.notebook_timeout:g} s and was stopped"
        else:
            run.status = "kernel_died"
            exit_code = await km.provisioner.poll() if km.provisioner is not None else None
    except Exception as e:  # a kernel that never starts, a broken connection, ...
        run.status = "error"
        run.reason = f"the notebook could not be run ({type(e).__name__}: {str(e)[:300]})"
    finally:
        await _stop_kernel(client, km)
        try:
            zygote.sweep()
        except RuntimeError:
            pass  # a zygote that no longer answers is replaced before the next notebook
        _collect(kdir, job, run)
        shutil.rmtree(kdir, ignore_errors=True)
    if run.status == "kernel_died":
        tail = _tail(Path(job.job_dir) / "kernel.log")
        code = exit_code
        how = ""
        if isinstance(code, int) and code < 0:
            how = f", killed by {signal.Signals(-code).name}"
        elif isinstance(code, int) and code > 128:
            how = f", killed by {signal.Signals(code - 128).name}" if code - 128 in signal.valid_signals() else ""
        elif code:
            how = f", exit code {code}"
        hint = " (out of memory?)" if "MemoryError" in tail or "Cannot allocate" in tail else ""
        where = f" {run.reason}" if run.reason else ""
        run.reason = f"the kernel died{where}{how}{hint}" + (f": {tail}" if tail else "")
    run.elapsed_s = round(time.monotonic() - started, 3)
    return run


async def _drive(client: BudgetedClient, job: NotebookJob, kdir: Path, code, run: NotebookRun) -> None:
    started = time.monotonic()
    await client.async_start_new_kernel(cwd=str(kdir / "sub"))
    await client.async_start_new_kernel_client()
    await client.async_execute_cell(client.nb.cells[0], 0, store_history=False)
    for pos, (index, _) in enumerate(code, start=1):
        cell = client.nb.cells[pos]
        try:
            await client.async_execute_cell(cell, pos)
        except DeadKernelError:
            run.reason = f"while running cell {index + 1}"
            raise
        finally:
            run.cells.append(_cell_report(index, cell, pos in client.timed_out, job.cell_timeout))
    if job.probe is not None:
        run.probe_status = "running"
        probe_dir = kdir / "probe"
        (probe_dir / "in").mkdir()
        for name, host_path in job.probe.inputs.items():
            shutil.copyfile(host_path, probe_dir / "in" / name)
        spec = {"values": job.probe.values, "calls": job.probe.calls, "max_items": job.probe.max_items}
        (probe_dir / "spec.json").write_text(json.dumps(spec))
        if job.isolation == "bwrap" and os.geteuid() == 0:
            for p in [probe_dir / "in", *(probe_dir / "in").iterdir()]:
                os.chown(p, job.uid, job.uid)
        for select in [None, *[c["key"] for c in job.probe.calls]]:
            left = job.notebook_timeout - (time.monotonic() - started) - 2
            client.timeout = max(1, int(min(job.probe_timeout, left)))
            probe_cell = nbformat.v4.new_code_cell(_probe_source(str(probe_dir), select))
            client.nb.cells.append(probe_cell)
            try:
                await client.async_execute_cell(probe_cell, len(client.nb.cells) - 1, store_history=False)
            except DeadKernelError:
                run.reason = "while the grader called your code" if select else "while the grader read your values"
                raise
            if len(client.nb.cells) - 1 in client.timed_out:
                run.probe_problems[select or ""] = f"took longer than {client.timeout} s and was interrupted"
            else:
                errs = [o for o in probe_cell.outputs if o.get("output_type") == "error"]
                if errs:
                    run.probe_problems[select or ""] = (
                        f"failed: {errs[0].get('ename')}: {str(errs[0].get('evalue', ''))[:200]}"
                    )
        manifest = probe_dir / "out" / "manifest.json"
        run.probe_status = "ok" if manifest.is_file() else "error"
    run.stdout_tail = _stdout_tail(client.nb.cells)


def _cell_report(index: int, cell, timed_out: bool = False, limit: float = 0) -> CellReport:
    if timed_out:
        return CellReport(index, "timeout", TIMEOUT_ENAME, f"the cell ran longer than {limit:g} s and was interrupted")
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            status = "timeout" if out.get("ename") == TIMEOUT_ENAME else "error"
            tb = "\n".join(str(line) for line in list(out.get("traceback", []))[-20:])[-4000:]
            return CellReport(index, status, str(out.get("ename", ""))[:200], str(out.get("evalue", ""))[:500], tb)
    return CellReport(index, "ok")


def _stdout_tail(cells, limit: int = 2000) -> str:
    text = "".join(
        o.get("text", "") for c in cells for o in c.get("outputs", []) if o.get("output_type") == "stream"
    )
    return text[-limit:]


async def _stop_kernel(client: BudgetedClient, km: _KernelManager) -> None:
    try:
        if client.kc is not None:
            client.kc.stop_channels()
    except Exception:
        pass
    try:
        if km.has_kernel:
            await asyncio.wait_for(km.shutdown_kernel(now=True), timeout=10)
    except Exception:
        try:
            if km.provisioner is not None:
                await km.provisioner.kill()
        except Exception:
            pass
    try:
        await km.cleanup_resources()
    except Exception:
        pass


def _tail(path: Path, limit: int = 400) -> str:
    try:
        data = path.read_bytes()[-8000:].decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [ln for ln in data.splitlines() if ln.strip() and "running over TCP" not in ln and "WARNING" not in ln]
    return " | ".join(lines[-3:])[-limit:]


# --------------------------------------------------------------------------- main loop

def main() -> None:
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything printed by libraries goes to stderr, never into the protocol
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            job = NotebookJob.from_dict(json.loads(line))
            run = loop.run_until_complete(run_job(job))
        except Exception as e:
            run = NotebookRun("error", f"the notebook runner failed ({type(e).__name__}: {str(e)[:300]})")
        protocol.write(json.dumps(run.to_dict()) + "\n")
        protocol.flush()


if __name__ == "__main__":
    main()
