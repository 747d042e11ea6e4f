# mlgrade probe: sent after the student's cells, in the student's kernel, as one cell for the
# values and one cell per call (so that one call that never returns costs only itself).
# It only *collects* values: names from the student's namespace and calls of student functions
# on inputs the grader wrote to PROBE_DIR/in. Everything goes back as .npy (no pickle) plus a
# JSON manifest. Nothing here decides a grade; the grader validates and compares it all.
def _mlgrade_probe(probe_dir, g, select):
    import json
    import os

    import numpy as np

    spec = json.load(open(os.path.join(probe_dir, "spec.json")))
    out_dir = os.path.join(probe_dir, "out")
    os.makedirs(out_dir, exist_ok=True)
    manifest_path = os.path.join(out_dir, "manifest.json")
    manifest = json.load(open(manifest_path)) if os.path.exists(manifest_path) else {}
    counter = [len(manifest)]
    max_items = spec.get("max_items", 64)

    def resolve(dotted):
        parts = dotted.split(".")
        if parts[0] not in g:
            raise NameError(f"name {parts[0]!r} is not defined")
        obj = g[parts[0]]
        for p in parts[1:]:
            obj = getattr(obj, p)
        return obj

    def load_arg(a):
        if "npy" in a:
            return np.load(os.path.join(probe_dir, "in", a["npy"]), allow_pickle=False)
        if "dict" in a:
            return {k: load_arg(v) for k, v in a["dict"].items()}
        if "float" in a:
            return float(a["float"])
        if "int" in a:
            return int(a["int"])
        raise ValueError(f"bad argument spec {a}")

    def save(key, value, depth=0):
        if len(manifest) >= max_items:
            return
        try:
            if isinstance(value, dict) and depth < 3:
                manifest[key] = {"kind": "dict", "keys": [str(k) for k in list(value)[:max_items]]}
                for k, v in list(value.items())[:max_items]:
                    save(f"{key}.{k}", v, depth + 1)
                return
            if isinstance(value, (tuple, list)) and depth < 3 and any(
                isinstance(v, (dict, tuple, list)) or getattr(v, "ndim", 0) > 0 for v in value
            ):
                manifest[key] = {"kind": "seq", "length": len(value)}
                for i, v in enumerate(list(value)[:max_items]):
                    save(f"{key}.{i}", v, depth + 1)
                return
            arr = np.asarray(value, dtype=np.float64)
            counter[0] += 1
            name = f"{select or 'values'}-{counter[0]}.npy"
            np.save(os.path.join(out_dir, name), arr, allow_pickle=False)
            manifest[key] = {"kind": "array", "file": name}
        except Exception as e:  # reported, not trusted
            manifest[key] = {"kind": "error", "error": f"{type(e).__name__}: {e}"[:300]}

    for key, names in (spec.get("values", {}) if select is None else {}).items():
        errors = []
        for name in names:
            try:
                value = resolve(name)
            except Exception as e:
                errors.append(f"{name}: {type(e).__name__}: {e}"[:200])
                continue
            save(key, value)
            manifest[key + "@name"] = {"kind": "name", "name": name}
            break
        else:
            manifest[key] = {"kind": "missing", "error": "; ".join(errors)}
    for call in spec.get("calls", []):
        key = call["key"]
        if key != select:
            continue
        try:
            fn = resolve(call["function"])
            args = [load_arg(a) for a in call.get("args", [])]
            save(key, fn(*args))
        except Exception as e:
            manifest[key] = {"kind": "error", "error": f"{type(e).__name__}: {e}"[:300]}
    with open(manifest_path, "w") as f:
        json.dump(manifest, f)


_mlgrade_probe(__MLGRADE_PROBE_DIR__, globals(), __MLGRADE_SELECT__)
del _mlgrade_probe
