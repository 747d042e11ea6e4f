"""Start an IPython kernel under resource limits. Runs inside the sandbox; imports nothing of mlgrade.

Limits come from MLGRADE_LIMITS="as=BYTES,cpu=SECONDS,nproc=N,fsize=BYTES,nofile=N".
"""

import os
import resource
import signal
import sys

_NAMES = {
    "as": resource.RLIMIT_AS,
    "cpu": resource.RLIMIT_CPU,
    "nproc": resource.RLIMIT_NPROC,
    "fsize": resource.RLIMIT_FSIZE,
    "nofile": resource.RLIMIT_NOFILE,
    "core": resource.RLIMIT_CORE,
}


def _apply_limits(spec: str) -> None:
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        limit = int(value)
        _soft, hard = resource.getrlimit(_NAMES[key])
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)  # limits may only be lowered
        resource.setrlimit(_NAMES[key], (limit, limit))


def main() -> None:
    _apply_limits(os.environ.pop("MLGRADE_LIMITS", "") + ",core=0")
    for sig in (signal.SIGTERM, signal.SIGPIPE, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # an interrupt is a KeyboardInterrupt
    sys.argv = ["ipykernel_launcher", *sys.argv[1:]]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
