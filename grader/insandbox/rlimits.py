"""Resource limits for sandboxed processes, from ``"as=BYTES,cpu=S,nproc=N,fsize=BYTES,nofile=N"``.

POSIX only (``resource``): the bubblewrap backend's kernels and helpers apply them strictly; the
portable backend's kernel applies each one it can (:mod:`kernel`) and does without elsewhere.
"""

import resource

NAMES = {
    "as": resource.RLIMIT_AS, "cpu": resource.RLIMIT_CPU, "nproc": resource.RLIMIT_NPROC,
    "fsize": resource.RLIMIT_FSIZE, "nofile": resource.RLIMIT_NOFILE, "core": resource.RLIMIT_CORE,
}


def apply(spec: str, strict: bool = True) -> list[str]:
    """Set each limit (soft = hard); a limit can only be lowered, so a higher request keeps the current one.

    ``strict=False``: a limit the platform refuses (macOS and RLIMIT_AS) is skipped and named in the result."""
    refused = []
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        limit = int(value)
        try:
            _soft, hard = resource.getrlimit(NAMES[key])
            if hard != resource.RLIM_INFINITY:
                limit = min(limit, hard)
            resource.setrlimit(NAMES[key], (limit, limit))
        except (ValueError, OSError):
            if strict:
                raise
            refused.append(key)
    return refused
