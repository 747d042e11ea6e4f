# mlgrade: IPython startup inside the grading kernel (no network, headless).
def _mlgrade_setup():
    import os

    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        ip = get_ipython()  # noqa: F821 - defined by IPython
    except NameError:
        return

    def _noop(name):
        def magic(line="", cell=None):
            print(f"mlgrade: %{name} {line} skipped while grading (no network, fixed environment)")

        return magic

    for name in ("pip", "conda", "tensorflow_version"):
        ip.register_magic_function(_noop(name), "line", name)
    try:
        ip.register_magic_function(_noop("pip"), "cell", "pip")
    except Exception:
        pass


_mlgrade_setup()
del _mlgrade_setup
