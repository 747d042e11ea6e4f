"""Resource limits for sandboxed processes, from ``"as=BYTES,cpu=S,nproc=N,fsize=BYTES,nofile=N"``."""

import resource

NAMES = {
    "as": resource.RLIMIT_AS, "cpu": resource.RLIMIT_CPU, "nproc": resource.RLIMIT_NPROC,
    "fsize": resource.RLIMIT_FSIZE, "nofile": resource.RLIMIT_NOFILE, "core": resource.RLIMIT_CORE,
}


def apply(spec: str) -> None:
    """Set each limit (soft = hard); a limit can only be lowered, so a higher request keeps the current one."""
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        limit = int(value)
        _soft, hard = resource.getrlimit(NAMES[key])
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(NAMES[key], (limit, limit))
