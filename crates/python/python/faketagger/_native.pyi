"""The engine's native module (Rust, PyO3): use the `faketagger` package, which wraps it."""

from typing import List, Optional, Tuple, Union

import numpy as np

__version__: str
DEFAULT_STRENGTH: float
STRENGTH_RANGE: Tuple[float, float]
PSNR_FLOOR_DB: float
MIN_SIDE: int
MAX_PIXELS: int
BUFFER_PROTOCOL: bool

class FaketaggerError(Exception):
    """An error of the engine, with the command-line tool's message."""

class Engine:
    def __init__(
        self, weights: Optional[str] = None, classic: bool = False, min_face: Optional[float] = None
    ) -> None: ...
    @property
    def scheme(self) -> str: ...
    def embed(
        self,
        samples: Union[np.ndarray, bytes],
        width: int,
        height: int,
        channels: int,
        bits: int,
        tag: str,
        strength: float,
        faces: str,
        retag: bool,
    ) -> Tuple[bytearray, str]: ...
    def decode(
        self, samples: Union[np.ndarray, bytes], width: int, height: int, channels: int, bits: int, faces: str
    ) -> str: ...
    def decode_files(
        self, paths: List[str], threads: int, faces: str
    ) -> List[Tuple[Optional[str], Optional[str]]]: ...

class Registry:
    def __init__(self, location: str) -> None: ...
    def lookup(self, tag: str) -> Optional[str]: ...

def codec_encode(tag: str) -> str: ...
def codec_decode(bits: str) -> str: ...
