"""Integrity evidence (grader.classstep.integrity): planted copies are found, independent work is not paired.

Fast tests: fingerprints made in-process from real files (the grader makes them in the sandboxed
model server; ``test_integrity_batch.py`` grades a class end to end through it).
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests"))

from integrity_samples import (  # noqa: E402
    BACKPROP_VARIANTS,
    STARTER_CELLS,
    disguise,
    jpeg_bytes,
    notebook_bytes,
    png_bytes,
    recompressed,
)

from grader.classstep.integrity import IntegrityConfig, as_rows, compare_class  # noqa: E402
from grader.insandbox.fingerprint import image_print, layer_print  # noqa: E402
from grader.insandbox.h5read import read_h5  # noqa: E402
from grader.rubric.integrity import KnownXor  # noqa: E402
from grader.score.codeprint import fingerprint_cells, normalized_tokens  # noqa: E402
from reference import xor as ref  # noqa: E402

MODELS = ROOT / "tests" / "data" / "models"
SHOTS = ["hdfview.{png,jpg,jpeg}", "classify.{png,jpg,jpeg}", "misclassify.{png,jpg,jpeg}"]


def record(student: str, **parts) -> SimpleNamespace:
    fp = {"version": 1, "models": [], "images": [], "code": [], "xor": [], "notes": []}
    fp.update(parts)
    return SimpleNamespace(student=student, integrity=fp, submission_hash=f"sha-{student}", errors=[])


def models_of(*files: tuple[str, Path]) -> list[dict]:
    out = []
    for rel, path in files:
        info, arrays = read_h5(str(path), with_arrays=True, want="weights")
        out.append({"file": rel, "format": info.format, "layers": [lp for a in arrays if (lp := layer_print(a))]})
    return out


def code_of(files: dict[str, list[str]]) -> list[dict]:
    return [{"file": rel, **fingerprint_cells(cells).to_dict()} for rel, cells in files.items()]


def image_of(rel: str, data: bytes) -> dict:
    from PIL import Image

    return {"file": rel, **image_print(Image.open(io.BytesIO(data)))}


def pairs(report, kind: str | None = None) -> set[tuple[str, str]]:
    return {(e.student_a, e.student_b) for e in report.pairs if kind is None or e.kind == kind}


# --------------------------------------------------------------------------- weights

def _keras2_copy(source: Path, target: Path, rename: str = "copied", dtype=None) -> None:
    """A Keras 2 ``save_weights`` file holding ``source``'s arrays under new layer names."""
    from kerasfiles import write_keras2_weights

    _info, arrays = read_h5(str(source), with_arrays=True, want="weights")
    layers = [(f"{rename}_{i}", [(f"w{k}:0", a if dtype is None else a.astype(dtype).astype(np.float32))
                                 for k, a in enumerate(arr)]) for i, arr in enumerate(arrays) if arr]
    write_keras2_weights(target, layers, keras_version="2.15.0", varlen=True)


def test_weights_resaved_under_another_keras_version_and_renamed_layers_match(tmp_path):
    k3 = MODELS / "k3_func_cnn.h5"  # Keras 3 full model
    _keras2_copy(k3, tmp_path / "copy.h5")  # Keras 2 layout, other layer names
    _keras2_copy(k3, tmp_path / "half.h5", dtype=np.float16)  # saved in half precision: not bit-equal
    report = compare_class([
        record("orig", models=models_of(("digits.h5", k3))),
        record("same", models=models_of(("digits.h5", MODELS / "k3_func_cnn.weights.h5"))),  # Keras 3 .weights.h5
        record("renamed", models=models_of(("model.h5", tmp_path / "copy.h5"))),
        record("halved", models=models_of(("digits.h5", tmp_path / "half.h5"))),
        record("other", models=models_of(("digits.h5", MODELS / "k2_func_cnn.h5"))),  # trained on its own
    ])
    found = {(e.student_a, e.student_b): e for e in report.pairs if e.kind == "weights"}
    assert set(found) == {("orig", "same"), ("orig", "renamed"), ("renamed", "same"), ("halved", "orig"),
                          ("halved", "renamed"), ("halved", "same")}
    assert "3 identical of 3 weighted layers" in found[("orig", "renamed")].detail
    assert "near-identical" in found[("halved", "orig")].detail and found[("halved", "orig")].similarity > 0.999
    assert [g.students for g in report.groups] == [["halved", "orig", "renamed", "same"]]


def test_independently_trained_models_are_not_paired():
    """Every real model file of the test data (two Keras versions, architectures trained on their own)."""
    recs = []
    for path in sorted(MODELS.glob("*.h5")):
        if path.name.startswith(("k2_tf_op", "k3_ops_relu", "k3_func_cnn.weights", "k2_seq_mlp_weights")):
            continue  # refused files, and the two saved twice from one model
        recs.append(record(path.name, models=models_of(("digits.h5", path))))
    report = compare_class(recs)
    # the test models were all trained from one fixed seed: two such files with the same architecture come
    # out near-identical, which is what the report's detail warns about; anything else must not pair
    same_seed = {("k2_rescaling_mlp.h5", "k2_shared.h5")}
    assert pairs(report, "weights") <= same_seed
    for e in report.pairs:
        assert "same random seed" in e.detail


def test_layer_print_depends_on_values_not_names_and_skips_constant_layers():
    rng = np.random.default_rng(1)
    k, b = rng.normal(size=(50, 20)).astype(np.float32), rng.normal(size=20).astype(np.float32)
    a1, a2 = layer_print([k, b]), layer_print([k.copy(), b.copy()])
    assert a1["exact"] == a2["exact"] and a1["sketch"] == a2["sketch"]
    assert layer_print([k * 2, b * 2])["exact"] != a1["exact"]
    assert layer_print([np.zeros((50, 20)), np.zeros(20)])["trivial"]
    assert layer_print([]) is None


def test_a_layer_shared_by_most_of_the_class_is_not_evidence():
    rng = np.random.default_rng(2)
    base = layer_print([rng.normal(size=(300, 40))])
    recs = [record(f"s{i:02d}", models=[{"file": "w.h5", "layers": [base, layer_print([rng.normal(size=(40, 2))])]}])
            for i in range(12)]
    report = compare_class(recs)
    assert not report.pairs
    assert any("12 of 12 submissions" in n for n in report.notes)


# --------------------------------------------------------------------------- XOR weights

def xor_item(kind: str, w1, w2, decimals: int = 8, where: str = "") -> dict:
    return {"kind": kind, "file": "xor.ipynb", "where": where or kind, "w1": np.asarray(w1).tolist(),
            "w2": np.asarray(w2).ravel().tolist(), "decimals": decimals}


def test_500_independent_xor_runs_give_no_pair():
    runs = json.loads((ROOT / "tests" / "data" / "integrity" / "xor_runs.json").read_text())
    recs = [record(f"s{i:03d}", xor=[xor_item("notebook", w1, w2)]) for i, (w1, w2) in enumerate(
        zip(runs["w1"], runs["w2"], strict=True))]
    report = compare_class(recs)
    assert not report.pairs and not report.flags
    # ten times the default tolerance still pairs nobody: the closest independent runs differ by 0.1
    assert not compare_class(recs, IntegrityConfig(xor_tolerance=0.099)).pairs


def test_an_equation_copied_from_anothers_notebook_is_found_with_neurons_reordered():
    runs = json.loads((ROOT / "tests" / "data" / "integrity" / "xor_runs.json").read_text())
    w1, w2 = np.array(runs["w1"][5]), np.array(runs["w2"][5])
    perm = [2, 0, 3, 1]
    recs = [record("author", xor=[xor_item("notebook", w1, w2, where="xor.ipynb, In [2]")]),
            record("copier", xor=[xor_item("equation", np.round(w1[:, perm], 3), np.round(w2[perm], 3), 3,
                                           "xor_equation.txt")]),
            record("honest", xor=[xor_item("notebook", runs["w1"][6], runs["w2"][6])])]
    report = compare_class(recs)
    assert pairs(report) == {("author", "copier")}
    e = report.pairs[0]
    assert e.kind == "xor" and e.file_a == "xor.ipynb, In [2]" and e.file_b == "xor_equation.txt"


def test_the_handouts_sample_weights_are_flagged_on_their_own():
    recs = [record("lazy", xor=[xor_item("equation", np.round(ref.HANDOUT_WEIGHTS1, 4),
                                         np.round(ref.HANDOUT_WEIGHTS2, 4), 4, "xor_equation.txt")]),
            record("fine", xor=[xor_item("notebook", *ref.train(3, 300)[:2])])]
    assert not compare_class(recs).flags  # the handout's weights are the course's: the rubric names them
    known = KnownXor(label="the handout's sample weights", weights1=ref.HANDOUT_WEIGHTS1.tolist(),
                     weights2=ref.HANDOUT_WEIGHTS2.ravel().tolist())
    report = compare_class(recs, IntegrityConfig(known_xor=[known]))
    assert [(e.kind, e.student_a, e.file_a) for e in report.flags] == [("handout-xor", "lazy", "xor_equation.txt")]
    assert report.flags[0].file_b.startswith("the handout's sample weights (7.1932855")
    assert not report.pairs


def test_the_default_rubric_names_the_handouts_xor_weights():
    from grader.rubric import load_rubric

    for path in (ROOT / "rubric.yaml", ROOT / "rubrics" / "hw4" / "rubric.yaml"):
        (known,) = load_rubric(path).integrity.known_xor
        assert np.allclose(known.matrix[:3], ref.HANDOUT_WEIGHTS1) and np.allclose(known.matrix[3], ref.HANDOUT_WEIGHTS2.ravel())


# --------------------------------------------------------------------------- images

def _animals(n: int):
    from synth import draw_animal

    for i in range(n):
        yield i, {f"what{k + 1}.jpg": jpeg_bytes(draw_animal(kind, 1000 + i * 10 + k))
                  for k, kind in enumerate(("cat", "dog"))} | {
            "trick_cat.jpg": jpeg_bytes(draw_animal("cat", 1000 + i * 10 + 3, ears="floppy")),
            "trick_dog.jpg": jpeg_bytes(draw_animal("dog", 1000 + i * 10 + 4, ears="pointy"))}


def test_independent_photos_and_screenshots_give_no_pair_but_copies_do():
    from make_submissions import classify_png, hdfview_png
    from PIL import Image, ImageOps

    recs = []
    photos = dict(_animals(40))
    for i, files in photos.items():
        images = [image_of(rel, data) for rel, data in files.items()]
        images += [image_of("hdfview.png", hdfview_png(i)), image_of("classify.png", classify_png([("a", 0)], i))]
        recs.append(record(f"s{i:02d}", images=images))
    assert not compare_class(recs, screenshot_patterns=SHOTS).pairs  # 160 photos, 80 look-alike screenshots
    # planted: a re-encoded and resized copy, a mirrored copy, the same screenshot file
    mirrored = jpeg_bytes(ImageOps.mirror(Image.open(io.BytesIO(photos[2]["trick_dog.jpg"]))))
    recs += [record("copier1", images=[image_of("What1.jpeg", recompressed(photos[1]["what1.jpg"]))]),
             record("copier2", images=[image_of("trick_dog.jpg", mirrored)]),
             record("copier3", images=[image_of("hdfview.png", hdfview_png(7))])]
    report = compare_class(recs, screenshot_patterns=SHOTS)
    found = {(e.student_a, e.student_b, e.kind) for e in report.pairs}
    assert found == {("copier1", "s01", "image"), ("copier2", "s02", "image"), ("copier3", "s07", "screenshot")}
    mirror = next(e for e in report.pairs if e.student_a == "copier2")
    assert "mirrored" in mirror.detail


def test_a_well_known_image_is_flagged_and_a_screenshot_only_by_its_pixels(tmp_path):
    from make_submissions import hdfview_png
    from synth import draw_animal

    famous = draw_animal("dog", 77)
    (tmp_path / "known").mkdir()
    (tmp_path / "known" / "famous_corgi.png").write_bytes(png_bytes(famous))
    (tmp_path / "known" / "handout_hdfview.png").write_bytes(hdfview_png(1))
    config = IntegrityConfig(known_images=["known", "missing.png"])
    recs = [record("a", images=[image_of("trick_dog.jpg", recompressed(jpeg_bytes(famous)))]),
            record("b", images=[image_of("hdfview.png", hdfview_png(2))]),  # the same window, own numbers
            record("c", images=[image_of("hdfview.png", hdfview_png(1))])]  # the handout's screenshot itself
    report = compare_class(recs, config, base_dir=tmp_path, screenshot_patterns=SHOTS)
    assert {(e.student_a, e.file_b) for e in report.flags} == {("a", "known/famous_corgi.png"),
                                                               ("c", "known/handout_hdfview.png")}
    assert any("missing.png" in n for n in report.notes)


# --------------------------------------------------------------------------- code

def test_renaming_comments_layout_and_cell_order_change_no_fingerprint():
    for cells in BACKPROP_VARIANTS:
        own = fingerprint_cells(STARTER_CELLS + cells).hashes
        copied = fingerprint_cells(disguise(STARTER_CELLS + cells)[::-1]).hashes
        assert np.intersect1d(own, copied).size >= 0.9 * max(own.size, copied.size)


def test_normalised_tokens():
    code = "import numpy as np\n!pip install x\n%matplotlib inline\nw = np.random.rand(3, 4)  # init\nprint(w.T)\n"
    assert normalized_tokens(code) == ["import", "numpy", "as", "numpy", ";", "V", "=", "numpy", ".", "random", ".",
                                       "rand", "(", "N", ",", "N", ")", ";", "print", "(", "V", ".", "V", ")", ";"]
    same = "import numpy\nweights=numpy.random.rand(5,6)\nprint( weights.T )"
    assert normalized_tokens(same)[3:] == normalized_tokens(code)[5:]
    assert normalized_tokens("def f(x):\n    if x:\n        return 'a'\n    return f'{x}'\n") == [
        "def", "V", "(", "V", ")", ":", ";", ">", "if", "V", ":", ";", ">", "return", "S", ";", "<", "return", "S",
        ";"]


def test_independent_notebooks_give_no_pair_and_disguised_copies_do():
    recs = [record(f"s{i}", code=code_of({"backprop.ipynb": STARTER_CELLS + cells}))
            for i, cells in enumerate(BACKPROP_VARIANTS)]
    assert not compare_class(recs).pairs
    recs += [record("z_copy", code=code_of({"hw4 part1.ipynb": STARTER_CELLS + disguise(BACKPROP_VARIANTS[2])}))]
    report = compare_class(recs)
    assert [(e.student_a, e.file_a, e.student_b, e.file_b) for e in report.pairs] == [
        ("s2", "backprop.ipynb", "z_copy", "hw4 part1.ipynb")]
    assert report.pairs[0].similarity >= 0.9


def test_starter_code_is_ignored(tmp_path):
    """Everyone hands in the handout's XOR code with their own prints: no pair once it is named."""
    from make_submissions import XOR_CODE

    (tmp_path / "handout").mkdir()
    (tmp_path / "handout" / "xor.ipynb").write_bytes(notebook_bytes([XOR_CODE]))
    recs = [record(f"s{i}", code=code_of({"xor.ipynb": [XOR_CODE, f"print(nn.weights1)\nprint({i})"]}))
            for i in range(4)]
    assert pairs(compare_class(recs)) == {(f"s{i}", f"s{j}") for i in range(4) for j in range(i + 1, 4)}
    report = compare_class(recs, IntegrityConfig(starter=["handout/xor.ipynb"]), base_dir=tmp_path)
    assert not report.pairs and not report.notes


HOSTILE_CODE = [
    "'''" + "a\n" * 300_000,  # an unterminated triple-quoted string (Python 3.11's tokenize: quadratic)
    '"' * 200_000,
    "'" + "\\" * 199_999,
    "(" * 100_000 + ")" * 100_000,
    "x" * 500_000,
    "1e" * 100_000,
    "\t" * 100_000 + "a\n" + " " * 100_000 + "b",
    "import " + ",".join(["a as b"] * 50_000),
    "from a import (" + "x, " * 100_000,
    "\n".join(" " * (i % 200) + "x" for i in range(50_000)),
]


@pytest.mark.parametrize("text", HOSTILE_CODE, ids=range(len(HOSTILE_CODE)))
def test_code_fingerprints_are_linear_on_hostile_text(text):
    started = time.process_time()
    fingerprint_cells([text, text[:1000]])
    assert time.process_time() - started < 3.0


def test_code_fingerprints_never_fail_on_any_text():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=200, deadline=2000, derandomize=True)
    @given(st.lists(st.text(alphabet=st.sampled_from(list("'\"\\#()[]{}\n\t :=.,abx019%!fr")) | st.characters(),
                            max_size=400), max_size=4))
    def run(cells):
        cp = fingerprint_cells(cells)
        assert cp.hashes.dtype == np.uint64

    run()


# --------------------------------------------------------------------------- output

def test_rows_csv_and_summary_section_escape_student_text():
    from grader.render import ClassReport, get_format
    from grader.render.integrity import integrity_section
    from grader.rubric import load_rubric

    evil = "=HYPERLINK(\"http://x\")<script>"
    recs = [record("a<b>", code=code_of({evil + ".ipynb": STARTER_CELLS + BACKPROP_VARIANTS[0]})),
            record("c", code=code_of({"backprop.ipynb": STARTER_CELLS + disguise(BACKPROP_VARIANTS[0])}))]
    ir = compare_class(recs)
    rows = as_rows(ir)
    assert rows and rows[0]["group"] == "G1" and rows[0]["submission_a"] == "sha-a<b>"
    rep = ClassReport(load_rubric(ROOT / "rubric.yaml"), [], integrity=ir)
    text = get_format("integrity").render(rep)
    assert text.splitlines()[0].startswith("group,kind,student_a,file_a,student_b")
    assert "'=HYPERLINK" in text
    html = integrity_section(rep)
    assert "<script>" not in html and "a&lt;b&gt;" in html and "G1" in html


def test_rubric_integrity_settings_are_checked_and_never_change_the_digest():
    from grader.rubric import RubricError, parse_rubric

    base = (ROOT / "rubric.yaml").read_text().split("\nintegrity:")[0]
    plain = parse_rubric(base)
    tuned = parse_rubric(base + "\nintegrity:\n  code_similarity: 0.8\n  starter: [handout/xor.ipynb]\n")
    assert tuned.integrity.code_similarity == 0.8 and tuned.digest() == plain.digest()
    with pytest.raises(RubricError, match=r"integrity.code_simil: unknown key"):
        parse_rubric(base + "\nintegrity:\n  code_simil: 0.8\n")
    with pytest.raises(RubricError, match=r"integrity.weights_cosine"):
        parse_rubric(base + "\nintegrity:\n  weights_cosine: 2\n")


def test_records_without_fingerprints_are_named():
    recs = [record("a"), SimpleNamespace(student="old", integrity={}, submission_hash="", errors=[])]
    report = compare_class(recs)
    assert report.compared == 1 and "old" in report.notes[0]


def test_collect_reads_notebooks_equations_and_python_files(tmp_path):
    """The grader's half of collection (the sandbox's half is stood in for)."""
    from make_submissions import complete_files

    from grader.intake.submission import Submission
    from grader.score.fingerprints import collect

    files = complete_files(seed=11)
    files["helpers/extra.py"] = b"def f(a, b):\n    return a + b\n" * 3
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    sent = []

    def fake_server(cmd, staged):
        sent.append((cmd, staged))
        return {"models": [{"format": "keras2-weights", "layers": []} for _ in cmd["models"]],
                "images": [{"phash": "0" * 16} for _ in cmd["images"]]}

    sub = Submission("s", tmp_path, tmp_path, sorted(files))
    fp = collect(sub, SimpleNamespace(), request=fake_server)
    cmd, staged = sent[0]
    assert cmd["model_labels"] == ["digits.h5", "weights.h5"] and len(cmd["images"]) == 7
    assert all(Path(p).is_file() for p in staged.values())
    assert [c["file"] for c in fp["code"]] == ["backprop.ipynb", "xor.ipynb", "helpers/extra.py"]
    w1, w2, _ = ref.train(11)
    kinds = {x["kind"]: x for x in fp["xor"]}
    assert set(kinds) == {"notebook", "equation"}
    assert np.allclose(kinds["notebook"]["w1"], w1, atol=1e-7) and kinds["equation"]["decimals"] == 8
    assert np.allclose(kinds["equation"]["w2"], w2.ravel(), atol=1e-7)


def test_collect_survives_a_server_that_fails(tmp_path):
    from grader.intake.submission import Submission
    from grader.score.fingerprints import collect

    (tmp_path / "w.h5").write_bytes(b"x")

    def broken(cmd, staged):
        raise RuntimeError("model server: gone")

    fp = collect(Submission("s", tmp_path, tmp_path, ["w.h5"]), SimpleNamespace(), request=broken)
    assert fp["models"] == [] and "not fingerprinted" in fp["notes"][0]


def test_a_compromised_servers_answer_is_cleaned_before_it_is_stored(tmp_path):
    """A model server a student's file took over answers anything: records keep only well-formed fields."""
    from grader.intake.submission import Submission
    from grader.score.fingerprints import collect

    (tmp_path / "w.h5").write_bytes(b"x")
    (tmp_path / "a.png").write_bytes(b"x")

    def evil(cmd, staged):
        return {"models": [{"format": "x" * 10_000, "layers": [
            {"exact": "ab", "size": "huge", "shapes": [["a"], 3], "sketch": "A" * 100_000, "trivial": "yes"},
            {"exact": "<script>"}, "junk"] * 300}],
            "images": [{"phash": "00ff", "dhash": ["x"], "width": "w", "pixels": 5}, {"phash": "zz"}]}

    fp = collect(Submission("s", tmp_path, tmp_path, ["a.png", "w.h5"]), SimpleNamespace(), request=evil)
    model = fp["models"][0]
    assert len(model["format"]) == 40 and len(model["layers"]) == 134  # of the first 400 entries
    assert model["layers"][0] == {"shapes": [[]], "size": 0, "exact": "ab", "trivial": False}
    assert fp["images"] == [{"file": "a.png", "phash": "00ff"}]
    compare_class([record("s", **{k: fp[k] for k in ("models", "images")}),
                   record("t", **{k: fp[k] for k in ("models", "images")})])


def test_integrity_json_groups_the_evidence_with_the_settings_used():
    from grader.render import ClassReport, get_format
    from grader.rubric import load_rubric

    recs = [record("a", code=code_of({"nb.ipynb": STARTER_CELLS + BACKPROP_VARIANTS[3]})),
            record("b", code=code_of({"nb.ipynb": disguise(STARTER_CELLS + BACKPROP_VARIANTS[3])}))]
    rep = ClassReport(load_rubric(ROOT / "rubric.yaml"), [], integrity=compare_class(recs))
    data = json.loads(get_format("integrity-json").render(rep))
    assert data["settings"]["code_similarity"] == 0.6 and data["compared"] == 2
    assert data["groups"][0]["students"] == ["a", "b"] and data["groups"][0]["evidence"][0]["kind"] == "code"
    assert json.loads(get_format("integrity-json").render(ClassReport(rep.rubric, []))) == {"enabled": False}
