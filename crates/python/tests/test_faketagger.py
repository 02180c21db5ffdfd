"""The `faketagger` Python package (issue 21): round trips on NumPy and PIL inputs, every layout
accepted or refused as documented, bad tags and images, threads, and the same results as the
command-line tool on the same files.

The comparisons with the CLI need its binary: `FAKETAGGER_BIN` (CI passes the one `cargo test`
built). Without it they skip, except under `CI=true`, where they fail.
"""

import json
import os
import re
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import faketagger
from faketagger import _native
from faketagger import FaketaggerError

ROOT = Path(__file__).resolve().parents[3]
ASTRONAUT = ROOT / "assets" / "astronaut.jpg"
FACES = ROOT.parent / "shared" / "datasets" / "celeba-faces128"
TAG = "0123456789abcdef"


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """The bundled astronaut (public domain), 512×512 RGB."""
    return np.asarray(Image.open(ASTRONAUT).convert("RGB"))


@pytest.fixture(scope="module")
def tagged(photo):
    return faketagger.embed(photo, TAG)


def cli():
    binary = os.environ.get("FAKETAGGER_BIN")
    if binary:
        return binary
    if os.environ.get("CI") == "true":
        pytest.fail("FAKETAGGER_BIN is not set: CI compares the package with the CLI")
    pytest.skip("FAKETAGGER_BIN not set: no CLI to compare with")


def run_cli(*args, home=None):
    env = dict(os.environ)
    if home is not None:
        env["FAKETAGGER_HOME"] = str(home)
    return subprocess.run([cli(), *map(str, args)], capture_output=True, text=True, env=env)


# --- round trips ------------------------------------------------------------------------------


def test_numpy_round_trip(photo, tagged):
    image, info = tagged
    assert image.shape == photo.shape and image.dtype == np.uint8
    assert not np.array_equal(image, photo)
    assert info.tag == TAG and info.verified and not info.may_show
    assert info.strength >= faketagger.DEFAULT_STRENGTH
    assert 35 < info.psnr < 60
    assert info.channel_bits == faketagger.Codec.encode(TAG)
    # the astronaut's face got its own residual, and it reads back aligned
    assert len(info.faces) == 1 and info.faces[0].verified
    left, top, right, bottom = info.faces[0].box
    assert 0 <= left < right <= 512 and 0 <= top < bottom <= 512
    found = faketagger.decode(image)
    assert found.found and found.tag == TAG and bool(found)
    assert 0.9 < found.confidence <= 1.0
    # PSNR as the engine reports it
    mse = np.mean((image.astype(np.float64) - photo) ** 2)
    assert abs(10 * np.log10(255**2 / mse) - info.psnr) < 0.01


def test_samples_cross_as_the_wheel_was_built(photo, tagged):
    # CI builds the abi3 wheel for CPython >= 3.11 (the buffer protocol: the array itself is
    # handed over) and the one for >= 3.9 (its bytes); both give the same tagged pixels
    built = os.environ.get("FAKETAGGER_ABI3", "abi3-py311")
    assert _native.BUFFER_PROTOCOL == (built == "abi3-py311")
    # an array of its own (writable, so it may change while the engine reads it): copied
    samples, _ = faketagger._samples(photo.copy())
    handed = faketagger._handover(samples)
    if _native.BUFFER_PROTOCOL:
        assert handed is samples
    else:
        assert isinstance(handed, bytes) and handed == samples.tobytes()
    image, _ = tagged
    assert image.flags.writeable and image.flags.c_contiguous
    # a PIL image's samples lie in one immutable bytes object: handed over as it is by both
    assert isinstance(photo.base, bytes) and not photo.flags.writeable
    assert faketagger._handover(faketagger._samples(photo)[0]) is photo.base


def test_a_pil_images_bytes_are_read_where_they_lie(photo, tagged):
    image, _ = tagged
    pil_tagged = np.asarray(Image.fromarray(image))
    grey = np.asarray(Image.fromarray(image).convert("L"))
    assert faketagger._whole_bytes(faketagger._samples(grey)[0]) is grey.base
    for array in (pil_tagged, photo, grey):
        assert faketagger._whole_bytes(faketagger._samples(array)[0]) is array.base
        for faces in ("auto", "all", "off"):
            lying = faketagger.decode(array, faces=faces)
            assert lying == faketagger.decode(array.copy(), faces=faces), faces
    assert faketagger.decode(pil_tagged).tag == TAG
    assert faketagger.decode(Image.fromarray(image)).tag == TAG
    # part of the bytes, or not in their order: copied
    for part in (photo[16:], photo[:, 16:], photo[::-1], photo[:, :, ::-1]):
        assert faketagger._whole_bytes(faketagger._samples(part)[0]) is None
    # the bytes of a 16-bit image cross as before
    wide = np.asarray(Image.fromarray(image).convert("L")).astype(np.uint16) * 257
    assert faketagger._whole_bytes(faketagger._samples(wide)[0]) is None


def test_untagged_photo_reads_no_tag(photo):
    read = faketagger.decode(photo)
    assert not read.found and read.tag is None and not read
    # the face was looked at (no tag in the whole photo) and carries none either
    assert len(read.faces) == 1 and not read.faces[0].found and read.faces[0].tag is None
    assert faketagger.decode(photo, faces="off").faces == ()


def test_pil_in_pil_out(photo):
    image = Image.fromarray(photo)
    out, info = faketagger.embed(image, 0xFEED, faces="off")
    assert isinstance(out, Image.Image) and out.mode == "RGB" and out.size == image.size
    assert info.tag == "000000000000feed" and info.faces == ()
    assert faketagger.decode(out).tag == info.tag


def test_tagged_copy_survives_jpeg_through_pil(tagged, tmp_path):
    image, info = tagged
    path = tmp_path / "tagged.jpg"
    Image.fromarray(image).save(path, quality=90)
    assert faketagger.decode(Image.open(path)).tag == info.tag


GREY = {"grey", "grey1", "grey_alpha", "grey16", "pil_grey", "pil_16"}


@pytest.mark.parametrize(
    "layout",
    ["grey", "grey1", "grey_alpha", "rgba", "rgb16", "grey16", "rgba16", "big_endian16",
     "non_contiguous", "pil_grey", "pil_rgba", "pil_palette", "pil_16"],
)
def test_layouts_accepted(photo, layout):
    rgb16 = photo.astype(np.uint16) * 257
    grey = np.asarray(Image.fromarray(photo).convert("L"))
    alpha = np.full(photo.shape[:2], 200, np.uint8)
    image = {
        "grey": grey,
        "grey1": grey[:, :, None],
        "grey_alpha": np.dstack([grey, alpha]),
        "rgba": np.dstack([photo, alpha]),
        "rgb16": rgb16,
        "grey16": grey.astype(np.uint16) * 257,
        "rgba16": np.dstack([rgb16, alpha.astype(np.uint16) * 257]),
        "big_endian16": rgb16.astype(">u2"),
        "non_contiguous": photo[:, ::-1],
        "pil_grey": Image.fromarray(grey),
        "pil_rgba": Image.fromarray(np.dstack([photo, alpha])),
        "pil_palette": Image.fromarray(photo).convert("P"),
        "pil_16": Image.fromarray(grey.astype(np.uint16) * 257),
    }[layout]
    if layout in GREY:
        # faketagger-v1's residual is mostly colour, which a one-channel photo drops (issue
        # 17); the engine's per-bit boosts may still get the luminance part through. Either the
        # copy carries the tag, or the engine says it does not: never an untagged copy.
        assert not faketagger.decode(image).found
        try:
            out, info = faketagger.embed(image, TAG, faces="off")
        except FaketaggerError as e:
            assert re.search("does not survive .* even at strength", str(e)), e
            return
        assert info.verified and faketagger.decode(out).tag == TAG
        return
    out, info = faketagger.embed(image, TAG, faces="off")
    assert info.verified
    if isinstance(image, np.ndarray):
        assert out.shape == image.shape and out.dtype == image.dtype
        if image.ndim == 3 and image.shape[2] in (2, 4):
            # alpha is left as it was
            assert np.array_equal(out[:, :, -1], image[:, :, -1])
    else:
        expected = {"P": "RGB"}.get(image.mode, image.mode)
        assert isinstance(out, Image.Image) and out.mode == expected and out.size == image.size
    assert faketagger.decode(out).tag == TAG


@pytest.mark.parametrize(
    "image, error, words",
    [
        (np.zeros((128, 128, 3), np.float32), TypeError, "uint8 or uint16"),
        (np.zeros((128, 128, 3), np.int32), TypeError, "uint8 or uint16"),
        (np.zeros((128, 128, 3), bool), TypeError, "uint8 or uint16"),
        (np.zeros((128, 128, 5), np.uint8), ValueError, "H×W×C"),
        (np.zeros((128,), np.uint8), ValueError, "H×W×C"),
        (np.zeros((2, 128, 128, 3), np.uint8), ValueError, "H×W×C"),
        (np.zeros((32, 32, 3), np.uint8), FaketaggerError, "under the minimum of 64 px"),
        (np.zeros((20000, 64), np.uint8), FaketaggerError, "over the limit"),
        ([[0, 0], [0, 0]], TypeError, "numpy array or a PIL image"),
        (Image.new("F", (128, 128)), TypeError, "mode 'F'"),
        (Image.new("I", (128, 128)), TypeError, "mode 'I'"),
    ],
)
def test_layouts_refused(image, error, words):
    for call in (lambda: faketagger.embed(image, TAG), lambda: faketagger.decode(image)):
        with pytest.raises(error, match=words):
            call()


@pytest.mark.parametrize(
    "tag, error, words",
    [
        ("xyz", FaketaggerError, 'tag "xyz"'),
        ("0123456789abcdef0", FaketaggerError, "tag"),
        (1 << 64, ValueError, "64-bit"),
        (-1, ValueError, "64-bit"),
        (1.5, TypeError, "16 hex digits"),
        (None, TypeError, "16 hex digits"),
    ],
)
def test_bad_tags(photo, tag, error, words):
    with pytest.raises(error, match=words):
        faketagger.embed(photo, tag)
    if error is FaketaggerError:
        with pytest.raises(error, match=words):
            faketagger.Codec.encode(tag)


def test_bad_options(photo):
    with pytest.raises(FaketaggerError, match="strength"):
        faketagger.embed(photo, TAG, strength=-1)
    with pytest.raises(FaketaggerError, match="strength"):
        faketagger.embed(photo, TAG, strength=float("nan"))
    with pytest.raises(FaketaggerError, match='faces mode "sideways": expected auto, off, only'):
        faketagger.embed(photo, TAG, faces="sideways")
    with pytest.raises(FaketaggerError, match='faces mode "only": expected auto, all, off'):
        faketagger.decode(photo, faces="only")
    flat = np.full((256, 256, 3), 128, np.uint8)
    with pytest.raises(FaketaggerError, match="no face"):
        faketagger.embed(flat, TAG, faces="only")


def test_already_tagged_refused_unless_retag(tagged):
    image, _ = tagged
    with pytest.raises(FaketaggerError, match="already carries tag 0123456789abcdef"):
        faketagger.embed(image, "00000000000000aa")
    again, info = faketagger.embed(image, "00000000000000aa", retag=True)
    assert info.tag == "00000000000000aa"
    assert faketagger.decode(again).tag == "00000000000000aa"


# --- many files, threads ------------------------------------------------------------------------


def test_decode_many_in_order_with_errors(tagged, photo, tmp_path):
    image, _ = tagged
    paths = [tmp_path / "tagged.png", tmp_path / "plain.png", tmp_path / "notes.txt",
             tmp_path / "missing.png"]
    Image.fromarray(image).save(paths[0])
    Image.fromarray(photo).save(paths[1])
    paths[2].write_text("not a photo")
    results = faketagger.decode_many(paths, threads=2, errors="return")
    assert results[0].tag == TAG and not results[1].found
    assert isinstance(results[2], FaketaggerError) and "notes.txt" in str(results[2])
    assert isinstance(results[3], FaketaggerError) and "missing.png" in str(results[3])
    with pytest.raises(FaketaggerError, match="notes.txt"):
        faketagger.decode_many(paths)
    with pytest.raises(ValueError, match="errors"):
        faketagger.decode_many(paths, errors="ignore")
    with pytest.raises(TypeError, match="list of paths"):
        faketagger.decode_many(str(paths[0]))
    with pytest.raises(ValueError, match="threads"):
        faketagger.decode_many(paths[:1], threads=0)


def test_threads_in_parallel_give_the_same_reads(tagged, photo):
    image, _ = tagged
    images = [image, photo] * 4
    alone = [faketagger.decode(i) for i in images]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(faketagger.decode, images))
    assert together == alone
    with ThreadPoolExecutor(3) as pool:
        outs = list(pool.map(lambda t: faketagger.embed(photo, t, faces="off"), [1, 2, 3]))
    assert [info.tag for _, info in outs] == [f"{t:016x}" for t in (1, 2, 3)]


def test_the_gil_is_released_while_decoding(photo):
    done = threading.Event()

    def work():
        faketagger.decode(photo)  # untagged: the crop search, the slowest read
        done.set()

    worker = threading.Thread(target=work)
    spins = 0
    worker.start()
    while not done.is_set():
        spins += 1
    worker.join()
    # with the GIL held for the whole call, this thread could not have run meanwhile
    assert spins > 1000


# --- the same as the command-line tool ---------------------------------------------------------------


def test_embed_gives_the_cli_s_pixels(photo, tmp_path):
    source = tmp_path / "photo.png"
    Image.fromarray(photo).save(source)
    out = tmp_path / "cli.png"
    run = run_cli("embed", source, "-o", out, "--tag", TAG, "--json")
    assert run.returncode == 0, run.stderr
    line = json.loads(run.stdout)
    image, info = faketagger.embed(photo, TAG)
    assert np.array_equal(np.asarray(Image.open(out)), image)
    assert (info.psnr, info.strength, info.channel_bits) == (
        line["psnr"], line["strength"], line["channel_bits"])
    assert [(f.box, f.verified, f.inner_verified) for f in info.faces] == [
        (tuple(f["box"]), f["verified"], f["inner_verified"]) for f in line["faces"]]


def test_decode_gives_the_cli_s_reads(tagged, photo, tmp_path):
    image, _ = tagged
    paths = [tmp_path / "tagged.png", tmp_path / "tagged.jpg", tmp_path / "plain.jpg"]
    Image.fromarray(image).save(paths[0])
    Image.fromarray(image).save(paths[1], quality=80)
    Image.fromarray(photo).save(paths[2], quality=80)
    run = run_cli("decode", *paths, "--json")
    assert run.returncode == 1, run.stderr  # one photo without a tag
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    for line, read in zip(lines, faketagger.decode_many(paths)):
        assert read == faketagger.Detection._from(line)
    # an array of the same pixels reads the same as the file (PNG: lossless)
    assert faketagger.decode(np.asarray(Image.open(paths[0]))) == faketagger.Detection._from(lines[0])


def test_errors_carry_the_cli_s_message(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not a photo")
    run = run_cli("decode", bad)
    assert run.returncode == 2
    [result] = faketagger.decode_many([bad], errors="return")
    assert f"error: {result}" in run.stderr


def test_codec_matches_the_cli():
    run = run_cli("codec", "encode", "--tag", TAG)
    assert run.returncode == 0, run.stderr
    bits = faketagger.Codec.encode(TAG)
    assert bits == run.stdout.strip() and len(bits) == 256 and set(bits) <= {"0", "1"}
    flipped = "".join(("1" if b == "0" else "0") if i % 37 == 0 else b for i, b in enumerate(bits))
    read = faketagger.Codec.decode(flipped)
    assert read.tag == TAG and read.corrected > 0
    assert not faketagger.Codec.decode("0" * 256).found or faketagger.Codec.decode("0" * 256).tag
    with pytest.raises(FaketaggerError, match="bits"):
        faketagger.Codec.decode("01" * 10)


def test_registry_lookup(tmp_path):
    home = tmp_path / "home"
    registry = tmp_path / "registry.db"
    assert run_cli("keys", "new", "newsroom", home=home).returncode == 0
    out = tmp_path / "tagged.png"
    run = run_cli("embed", ASTRONAUT, "-o", out, "--register", "--registry", registry,
                  "--owner", "Alice Example", "--json", home=home)
    assert run.returncode == 0, run.stderr
    tag = json.loads(run.stdout)["tag"]
    found = faketagger.Registry(registry).lookup(tag)
    assert found["record"]["owner"] == "Alice Example"
    assert found["record"]["issuer"] == "newsroom"
    assert found["signature"] == run_json(run_cli("trace", out, "--registry", registry,
                                                  "--json", home=home))["signature"]
    assert faketagger.Registry(registry).lookup("00000000000000aa") is None
    with pytest.raises(FaketaggerError):
        faketagger.Registry(tmp_path)  # a folder, not a registry file


def run_json(run):
    assert run.returncode in (0, 1), run.stderr
    return json.loads(run.stdout.splitlines()[0])


# --- other models, faces, documentation ---------------------------------------------------------


def test_min_face(photo):
    # the astronaut's face is about 88 px wide: not looked for from 300 px up
    assert len(faketagger.Tagger(min_face=300).decode(photo, faces="all").faces) == 0
    assert len(faketagger.Tagger(min_face=40).decode(photo, faces="all").faces) == 1
    with pytest.raises(FaketaggerError, match="min_face 8"):
        faketagger.Tagger(min_face=8)


def test_classic_baseline(photo):
    classic = faketagger.Tagger(classic=True)
    assert classic.scheme == "classic" and "classic" in repr(classic)
    out, info = classic.embed(photo, TAG)
    assert info.faces == () and classic.decode(out).tag == TAG
    with pytest.raises(FaketaggerError, match="weights"):
        faketagger.Tagger(weights=ROOT / "no-such-weights")


@pytest.mark.skipif(not FACES.is_dir() and os.environ.get("CI") != "true",
                    reason="no ../shared faces here")
def test_test_split_faces_round_trip():
    lines = (FACES / "meta.csv").read_text().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","))) for line in lines[1:]]
    files = [FACES / r["file"] for r in rows if r["split"] == "test"][:6]
    assert len(files) == 6
    for i, path in enumerate(files):
        face = np.asarray(Image.open(path).convert("RGB"))
        out, info = faketagger.embed(face, i + 1)
        assert faketagger.decode(out).tag == info.tag == f"{i + 1:016x}"


def test_help_reads_well():
    doc = faketagger.__doc__
    assert "numpy" in doc.lower() and "FaketaggerError" in doc
    for name in faketagger.__all__:
        item = getattr(faketagger, name)
        if callable(item):
            assert item.__doc__ and len(item.__doc__) > 30, name
    assert faketagger.__version__ == faketagger._native.__version__
    assert FaketaggerError.__module__ == "faketagger" and issubclass(FaketaggerError, Exception)
    lo, hi = faketagger.STRENGTH_RANGE
    assert lo < faketagger.DEFAULT_STRENGTH < hi
