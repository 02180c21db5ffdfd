"""faketagger: an invisible, error-corrected 64-bit tag for face photos.

An encoder hides a tag (16 hex digits) in a photo; a decoder recovers it after the photo went
through a DeepFake pipeline or an ordinary platform pipeline (JPEG, resize, crop). The engine is
the Rust library of the `faketagger` command-line tool, run in this process on the CPU, with the
GIL released: Python threads embed and decode in parallel.

Images are NumPy arrays (H×W grey, H×W×1–4: grey, grey + alpha, RGB, RGBA; uint8 or uint16) or
PIL images. A tagged copy comes back in the layout it came in: an array of the same shape and
dtype, or a PIL image of the same mode.

    >>> import faketagger, numpy as np
    >>> from PIL import Image
    >>> photo = np.asarray(Image.open("assets/astronaut.jpg"))
    >>> tagged, info = faketagger.embed(photo, "0123456789abcdef")
    >>> info.psnr, info.verified
    (38.93, True)
    >>> faketagger.decode(tagged).tag
    '0123456789abcdef'

A photo without a tag reads `found=False` and `tag=None`, never a random tag: a read is
accepted only within the error-correcting code's radius (the false-positive bound is in the
README). Errors are `FaketaggerError`, carrying the command-line tool's message; arguments of
the wrong Python type or layout raise `TypeError` / `ValueError`.

`Tagger` loads a model once (the built-in one, another weights folder, or the classical
baseline); the module-level functions use a shared built-in `Tagger`, made on first use.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from ._native import FaketaggerError

__version__: str = _native.__version__

#: Strength of the tag when none is given (the engine may raise it so that the tag reads back).
DEFAULT_STRENGTH: float = _native.DEFAULT_STRENGTH
#: Strengths accepted, inclusive.
STRENGTH_RANGE: Tuple[float, float] = tuple(_native.STRENGTH_RANGE)  # type: ignore[assignment]
#: PSNR (dB) under which the tag may show on a photo (`EmbedInfo.may_show`).
PSNR_FLOOR_DB: float = _native.PSNR_FLOOR_DB
#: Smallest width or height an image may have.
MIN_SIDE: int = _native.MIN_SIDE
#: Most pixels an image may have.
MAX_PIXELS: int = _native.MAX_PIXELS

__all__ = [
    "Codec",
    "DEFAULT_STRENGTH",
    "Detection",
    "EmbedInfo",
    "FaceEmbedded",
    "FaceRead",
    "FaketaggerError",
    "MAX_PIXELS",
    "MIN_SIDE",
    "PSNR_FLOOR_DB",
    "Registry",
    "STRENGTH_RANGE",
    "Tagger",
    "decode",
    "decode_many",
    "embed",
]

Box = Tuple[float, float, float, float]
Landmarks = Tuple[Tuple[float, float], ...]
PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class FaceRead:
    """One face found in a photo and what its aligned crop carries.

    `box` is (left, top, right, bottom) in pixels; `landmarks` the eyes, nose and mouth corners.
    """

    box: Box
    landmarks: Landmarks
    found: bool
    tag: Optional[str]
    confidence: float

    @classmethod
    def _from(cls, face: dict) -> "FaceRead":
        return cls(
            box=tuple(face["box"]),
            landmarks=tuple(tuple(p) for p in face["landmarks"]),
            found=face["found"],
            tag=face["tag"],
            confidence=face["confidence"],
        )


@dataclass(frozen=True)
class Detection:
    """What a photo carries.

    `found` is True when the whole photo or one of its faces carries a tag; `tag` is then its
    16 hex digits (the photo's, else the first face's), otherwise None. `confidence` is the
    whole photo's (0–1); `channel_bits` the 256 bits the decoder read from the whole photo;
    `corrected` the code symbols the error correction fixed; `faces` each face read (looked at
    when the whole photo has no tag, or always with `faces="all"`).
    """

    found: bool
    tag: Optional[str]
    confidence: float
    channel_bits: str
    corrected: int
    faces: Tuple[FaceRead, ...] = ()

    def __bool__(self) -> bool:
        return self.found

    @classmethod
    def _from(cls, read: dict) -> "Detection":
        faces = tuple(FaceRead._from(f) for f in read.get("faces", []))
        tag = read["tag"]
        if tag is None:
            # the photo's own read found nothing: the first face that carries one names it
            tag = next((f.tag for f in faces if f.found), None)
        return cls(
            found=read["found"],
            tag=tag,
            confidence=read["confidence"],
            channel_bits=read["channel_bits"],
            corrected=read["corrected"],
            faces=faces,
        )


@dataclass(frozen=True)
class FaceEmbedded:
    """One face tagged with its own residual: where, at what strength, whether its aligned
    crop reads the tag back (`verified`), and whether its inner crop (what a face swap moves into
    another photo) reads it back in place (`inner_verified`; a moved face is read with a search
    around it, which finds more than that one read does)."""

    box: Box
    landmarks: Landmarks
    strength: float
    verified: bool
    inner_verified: bool


@dataclass(frozen=True)
class EmbedInfo:
    """What `embed` did.

    `psnr` (dB) of the tagged copy against the input (None when nothing changed); `strength`
    the strength used (the engine raises it when the tag would not read back); `verified`: the
    tag reads back from the tagged pixels (always True: otherwise `embed` raises); `may_show`:
    PSNR under `PSNR_FLOOR_DB`, the tag may be visible; `faces`: each face tagged.
    """

    tag: str
    channel_bits: str
    psnr: Optional[float]
    strength: float
    verified: bool
    may_show: bool
    faces: Tuple[FaceEmbedded, ...] = ()

    @classmethod
    def _from(cls, info: dict) -> "EmbedInfo":
        return cls(
            tag=info["tag"],
            channel_bits=info["channel_bits"],
            psnr=info["psnr"],
            strength=info["strength"],
            verified=info["verified"],
            may_show=info["may_show"],
            faces=tuple(
                FaceEmbedded(
                    box=tuple(f["box"]),
                    landmarks=tuple(tuple(p) for p in f["landmarks"]),
                    strength=f["strength"],
                    verified=f["verified"],
                    inner_verified=f["inner_verified"],
                )
                for f in info["faces"]
            ),
        )


# PIL modes taken as they are, with the array layout they give; others are converted first.
_PIL_MODES = {"L": "L", "LA": "LA", "RGB": "RGB", "RGBA": "RGBA", "I;16": "I;16"}
_PIL_CONVERT = {"1": "L", "P": "RGBA", "PA": "RGBA", "CMYK": "RGB", "YCbCr": "RGB",
                "LAB": "RGB", "HSV": "RGB", "La": "LA", "RGBa": "RGBA", "RGBX": "RGB"}


def _is_pil(image: Any) -> bool:
    try:
        from PIL import Image
    except ImportError:
        return False
    return isinstance(image, Image.Image)


def _samples(image: Any) -> Tuple[np.ndarray, Any]:
    """The image as a C-contiguous, native-endian H×W×C array, and how to give a result back
    in the caller's layout."""
    if _is_pil(image):
        mode = image.mode
        if mode in ("P", "PA"):
            mode_to = "RGBA" if "transparency" in image.info or mode == "PA" else "RGB"
        else:
            mode_to = _PIL_MODES.get(mode) or _PIL_CONVERT.get(mode)
        if mode_to is None:
            raise TypeError(
                f"PIL image mode {mode!r} is not taken: use L, LA, RGB, RGBA or I;16 "
                "(32-bit integer and float images have no 8- or 16-bit samples)"
            )
        if mode_to != mode:
            image = image.convert(mode_to)
        array = np.asarray(image)
        if mode_to == "I;16":
            array = array.astype(np.uint16)
        return _array_samples(array), ("pil", mode_to)
    if not isinstance(image, np.ndarray):
        raise TypeError(
            f"an image is a numpy array or a PIL image, not {type(image).__name__}"
        )
    return _array_samples(image), ("array", image.shape, image.dtype)


def _array_samples(array: np.ndarray) -> np.ndarray:
    if array.dtype.kind != "u" or array.dtype.itemsize not in (1, 2):
        raise TypeError(
            f"image samples are uint8 or uint16, not {array.dtype} "
            "(scale float images to 0–255 or 0–65535 and convert them first)"
        )
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or not 1 <= array.shape[2] <= 4:
        raise ValueError(
            f"an image array is H×W or H×W×C with C = 1 (grey), 2 (grey + alpha), 3 (RGB) "
            f"or 4 (RGBA); got shape {array.shape}"
        )
    native = array.dtype.newbyteorder("=")
    return np.ascontiguousarray(array, dtype=native)


def _handover(samples: np.ndarray) -> Any:
    """The samples as the native module takes them: the `bytes` that hold exactly them when
    there is one (`np.asarray` of a PIL image: immutable, so `decode` reads them where they lie,
    without a copy); else the array itself (read through the buffer protocol, one copy), or its
    bytes where the module was built for Python 3.9's stable ABI."""
    whole = _whole_bytes(samples)
    if whole is not None:
        return whole
    return samples if _native.BUFFER_PROTOCOL else samples.tobytes()


def _whole_bytes(samples: np.ndarray) -> Optional[bytes]:
    """The `bytes` object whose bytes are the 8-bit `samples`, in order, and nothing else."""
    if samples.dtype.itemsize != 1 or not samples.flags.c_contiguous:
        return None
    base = samples.base
    while isinstance(base, np.ndarray):
        base = base.base
    if type(base) is not bytes or len(base) != samples.nbytes:
        return None
    start = np.frombuffer(base, dtype=np.uint8).__array_interface__["data"][0]
    return base if samples.__array_interface__["data"][0] == start else None


def _rebuild(data: bytearray, samples: np.ndarray, layout: Any) -> Any:
    # a writable view of the bytearray the engine filled: no further copy
    array = np.frombuffer(data, dtype=samples.dtype).reshape(samples.shape)
    if layout[0] == "pil":
        from PIL import Image

        mode = layout[1]
        if array.shape[2] == 1:
            array = array[:, :, 0]
        if mode == "I;16":
            return Image.fromarray(array.astype("<u2"), mode="I;16")
        return Image.fromarray(array, mode=mode)
    _, shape, dtype = layout
    return array.reshape(shape).astype(dtype, copy=False)


def _check_faces(faces: str, allowed: Sequence[str]) -> str:
    if not isinstance(faces, str):
        raise TypeError(f"faces is one of {', '.join(allowed)}, not {faces!r}")
    return faces


def _check_tag(tag: Any) -> str:
    if isinstance(tag, int) and not isinstance(tag, bool):
        if not 0 <= tag < 1 << 64:
            raise ValueError(f"a tag is a 64-bit number; {tag} is out of range")
        return f"{tag:016x}"
    if not isinstance(tag, str):
        raise TypeError(f"a tag is 16 hex digits (str) or an int, not {type(tag).__name__}")
    return tag


class Tagger:
    """A model, loaded once: the built-in one (`weights/faketagger-v1`), the model of a weights
    folder (`weights=`: tagger.json + tagger.bpk, as `faketagger train` writes them), or the
    classical DCT baseline (`classic=True`). `min_face`: the smallest face looked for, in
    pixels (of the photo, or of its copy 1920 px long when larger; the CLI's `--min-face`,
    default 32): larger is faster, as the detector leaves out the levels of its pyramid (that
    of DeepFake tools' MTCNN, 20 px) for smaller faces. Safe to share between threads."""

    def __init__(
        self,
        weights: Optional[PathLike] = None,
        classic: bool = False,
        min_face: Optional[float] = None,
    ) -> None:
        self._engine = _native.Engine(
            None if weights is None else os.fspath(weights), classic,
            None if min_face is None else float(min_face),
        )

    @property
    def scheme(self) -> str:
        """'learned' or 'classic'."""
        return self._engine.scheme

    def __repr__(self) -> str:
        return f"<faketagger.Tagger scheme={self.scheme!r}>"

    def embed(
        self,
        image: Any,
        tag: Union[str, int],
        strength: Optional[float] = None,
        faces: str = "auto",
        retag: bool = False,
    ) -> Tuple[Any, EmbedInfo]:
        """Tags `image` with `tag` (16 hex digits, or an int below 2**64).

        Returns the tagged copy in the input's layout and an `EmbedInfo`. `strength` defaults
        to `DEFAULT_STRENGTH` (range `STRENGTH_RANGE`); the engine raises it when the tag would
        not read back. `faces`: "auto" tags the whole photo and each face found with its own
        residual (aligned as DeepFake tools align faces), "off" the whole photo only, "only"
        the faces only. The tagged copy is checked in memory: save it losslessly, or as JPEG at
        a quality the tag survives (q ≥ 70), and check with `decode`.

        Raises `FaketaggerError` when the photo already carries a tag (unless `retag=True`),
        when the tag does not read back even at the highest strength, and for bad tags,
        strengths and images (same messages as the command-line tool).
        """
        tag = _check_tag(tag)
        faces = _check_faces(faces, ("auto", "off", "only"))
        if strength is None:
            strength = DEFAULT_STRENGTH
        samples, layout = _samples(image)
        height, width, channels = samples.shape
        data, info = self._engine.embed(
            _handover(samples), width, height, channels, samples.dtype.itemsize * 8,
            tag, float(strength), faces, bool(retag),
        )
        return _rebuild(data, samples, layout), EmbedInfo._from(json.loads(info))

    def decode(self, image: Any, faces: str = "auto") -> Detection:
        """Reads the tag `image` carries: the whole photo (with a search over crops), then each
        face found, aligned, when the whole photo has none (`faces="auto"`), always ("all") or
        never ("off")."""
        faces = _check_faces(faces, ("auto", "all", "off"))
        samples, _ = _samples(image)
        height, width, channels = samples.shape
        read = self._engine.decode(
            _handover(samples), width, height, channels, samples.dtype.itemsize * 8, faces
        )
        return Detection._from(json.loads(read))

    def decode_many(
        self,
        paths: Sequence[PathLike],
        threads: Optional[int] = None,
        faces: str = "auto",
        errors: str = "raise",
    ) -> List[Union[Detection, FaketaggerError]]:
        """Reads image files (PNG, JPEG, WebP, TIFF, BMP; EXIF orientation applied, as the
        command-line tool reads them) on `threads` threads (default: every CPU), results in
        the order of `paths`. With `errors="raise"` the first file that cannot be read raises
        `FaketaggerError` (after all were read); with `errors="return"` its place in the list
        holds the `FaketaggerError` instead."""
        if errors not in ("raise", "return"):
            raise ValueError(f"errors is 'raise' or 'return', not {errors!r}")
        faces = _check_faces(faces, ("auto", "all", "off"))
        if isinstance(paths, (str, bytes, os.PathLike)):
            raise TypeError("decode_many takes a list of paths; decode one file with [path]")
        if threads is None:
            threads = os.cpu_count() or 1
        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads is a positive int, not {threads!r}")
        results: List[Union[Detection, FaketaggerError]] = []
        for read, message in self._engine.decode_files(
            [os.fspath(p) for p in paths], threads, faces
        ):
            if read is not None:
                results.append(Detection._from(json.loads(read)))
            else:
                error = FaketaggerError(message)
                if errors == "raise":
                    raise error
                results.append(error)
        return results


_default: Optional[Tagger] = None
_default_lock = threading.Lock()


def _tagger() -> Tagger:
    global _default
    with _default_lock:
        if _default is None:
            _default = Tagger()
        return _default


def embed(
    image: Any,
    tag: Union[str, int],
    strength: Optional[float] = None,
    faces: str = "auto",
    retag: bool = False,
) -> Tuple[Any, EmbedInfo]:
    """`Tagger.embed` with the built-in model."""
    return _tagger().embed(image, tag, strength=strength, faces=faces, retag=retag)


def decode(image: Any, faces: str = "auto") -> Detection:
    """`Tagger.decode` with the built-in model."""
    return _tagger().decode(image, faces=faces)


def decode_many(
    paths: Sequence[PathLike],
    threads: Optional[int] = None,
    faces: str = "auto",
    errors: str = "raise",
) -> List[Union[Detection, FaketaggerError]]:
    """`Tagger.decode_many` with the built-in model."""
    return _tagger().decode_many(paths, threads=threads, faces=faces, errors=errors)


class Codec:
    """The channel code: a 64-bit tag ⇄ 256 channel bits (Reed–Solomon over GF(2^8), with the
    decoder's search radius), as `faketagger codec` has it."""

    @staticmethod
    def encode(tag: Union[str, int]) -> str:
        """The 256 channel bits (a str of '0' and '1') that carry `tag`."""
        return _native.codec_encode(_check_tag(tag))

    @staticmethod
    def decode(bits: str) -> Detection:
        """Hard-decodes 256 channel bits (a str of '0' and '1'): the tag, or `found=False`."""
        if not isinstance(bits, str):
            raise TypeError(f"channel bits are a str of 256 '0'/'1', not {type(bits).__name__}")
        return Detection._from(json.loads(_native.codec_decode(bits)))


class Registry:
    """A tag registry, as `faketagger serve` and `embed --register` keep it: a SQLite file path
    (or `postgres://…` where the package was built with PostgreSQL)."""

    def __init__(self, location: PathLike) -> None:
        self._inner = _native.Registry(os.fspath(location))

    def lookup(self, tag: Union[str, int]) -> Optional[dict]:
        """The record of `tag` (`record`: issuer, owner, created, note, fingerprints,
        signature; `signature`: whether it verifies; `created_utc`), or None when the registry
        never issued it."""
        found = self._inner.lookup(_check_tag(tag))
        return None if found is None else json.loads(found)
