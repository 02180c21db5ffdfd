//! `faketagger._native`: the engine for Python, wrapped by the `faketagger` package
//! (`python/faketagger/__init__.py`), which turns NumPy arrays and PIL images into the samples
//! handed over here and the JSON returned into its result classes.
//!
//! Everything runs with the GIL released ([`Python::detach`]), so Python threads embed and decode
//! in parallel. Errors are [`FaketaggerError`] with the CLI's message (the library's
//! [`faketagger::Error`] as the CLI prints it).

use std::path::PathBuf;

use faketagger::faces::{DetectOptions, Detector};
use faketagger::io::{self, Samples};
use faketagger::{Codec, FaceMode, FaceTagging, Tag, Tagger, json, provenance};
use pyo3::exceptions::PyException;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes};

pyo3::create_exception!(
    faketagger,
    FaketaggerError,
    PyException,
    "An error of the engine: a bad image, tag or option, a photo that already carries a tag, a tag that does not read back. The message is the command-line tool's."
);

/// The library's error as a Python exception, with the CLI's message.
fn error(e: impl std::fmt::Display) -> PyErr {
    FaketaggerError::new_err(e.to_string())
}

/// The name images handed over in memory have in messages.
const IN_MEMORY: &str = "<image>";

/// A parsed tag ("tag ...: ..." as the CLI's `--tag` says it).
fn parse_tag(text: &str) -> PyResult<Tag> {
    text.parse::<Tag>()
        .map_err(|e| error(format!("tag {text:?}: {e}")))
}

/// The samples of an image handed over from Python, copied once: `bytes` of unsigned
/// `bits`-bit samples in the machine's byte order (a PIL image's, or an array's `tobytes()` where
/// the module has no buffer protocol), else any C-contiguous buffer of them (the package hands
/// over NumPy arrays), read while the caller holds the GIL.
fn samples(py: Python<'_>, samples: &Bound<'_, PyAny>, bits: u8) -> PyResult<Samples> {
    if let Ok(bytes) = samples.cast::<PyBytes>() {
        let bytes = bytes.as_bytes();
        return Ok(match bits {
            8 => Samples::U8(bytes.to_vec()),
            16 => Samples::U16(
                bytes
                    .chunks_exact(2)
                    .map(|p| u16::from_ne_bytes([p[0], p[1]]))
                    .collect(),
            ),
            _ => return Err(bad_bits(bits)),
        });
    }
    buffer_samples(py, samples, bits)
}

/// [`samples`] of a buffer (a NumPy array).
#[cfg(any(Py_3_11, not(Py_LIMITED_API)))]
fn buffer_samples(py: Python<'_>, buffer: &Bound<'_, PyAny>, bits: u8) -> PyResult<Samples> {
    use pyo3::buffer::PyBuffer;
    Ok(match bits {
        8 => Samples::U8(PyBuffer::<u8>::get(buffer)?.to_vec(py)?),
        16 => Samples::U16(PyBuffer::<u16>::get(buffer)?.to_vec(py)?),
        _ => return Err(bad_bits(bits)),
    })
}

/// Python 3.9's and 3.10's stable ABI (feature `abi3-py39`) has no buffer protocol: the package
/// hands over `bytes`.
#[cfg(not(any(Py_3_11, not(Py_LIMITED_API))))]
fn buffer_samples(_py: Python<'_>, samples: &Bound<'_, PyAny>, _bits: u8) -> PyResult<Samples> {
    Err(pyo3::exceptions::PyTypeError::new_err(format!(
        "samples are bytes for a module built for Python 3.9's stable ABI, not {}",
        samples.get_type().name()?
    )))
}

/// Whether [`samples`] takes NumPy arrays as they are (the buffer protocol), or their bytes.
const BUFFER_PROTOCOL: bool = cfg!(any(Py_3_11, not(Py_LIMITED_API)));

fn bad_bits(bits: u8) -> PyErr {
    PyValueError::new_err(format!("{bits}-bit samples: 8 or 16 expected"))
}

/// The tagger and the face detector: a model loaded once, shared by every call and thread.
#[pyclass(frozen, module = "faketagger._native")]
struct Engine {
    // boxed: the networks' tensors want a 64-byte alignment that a Python object's memory does
    // not give (PyO3 places the struct inside the object)
    models: Box<Models>,
}

struct Models {
    tagger: Tagger,
    detector: Option<Detector>,
    detect: DetectOptions,
}

impl std::ops::Deref for Engine {
    type Target = Models;
    fn deref(&self) -> &Models {
        &self.models
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("scheme", &self.tagger.scheme())
            .finish_non_exhaustive()
    }
}

#[pymethods]
impl Engine {
    /// The built-in model (`weights/faketagger-v1`), the model of a weights folder, or the
    /// classical baseline; on the CPU. `min_face`: the smallest face looked for, in pixels
    /// (the CLI's `--min-face`; `None`: the engine's default, 32).
    #[new]
    #[pyo3(signature = (weights=None, classic=false, min_face=None))]
    fn new(
        py: Python<'_>,
        weights: Option<PathBuf>,
        classic: bool,
        min_face: Option<f32>,
    ) -> PyResult<Self> {
        let mut detect = faketagger::faces::default_detect_options();
        if let Some(min_face) = min_face {
            detect.min_face = min_face;
        }
        detect
            .validate()
            .map_err(|e| error(format!("min_face {}: {e}", detect.min_face)))?;
        py.detach(|| {
            let device = faketagger::model::Backend::Flex.device().map_err(error)?;
            let tagger = match (&weights, classic) {
                (Some(_), true) => {
                    return Err(error("weights and classic: choose one"));
                }
                (_, true) => Tagger::classic(),
                (Some(dir), false) => Tagger::load(dir, &device)
                    .map_err(|e| error(format!("weights {}: {e}", dir.display())))?,
                (None, false) => Tagger::builtin(&device).map_err(error)?,
            };
            // the classical baseline tags and reads whole photos only
            let detector = match tagger.scheme() {
                faketagger::SchemeKind::Learned => {
                    Some(faketagger::faces::builtin_detector(&device).map_err(error)?)
                }
                _ => None,
            };
            Ok(Self {
                models: Box::new(Models {
                    tagger,
                    detector,
                    detect,
                }),
            })
        })
    }

    /// "learned" or "classic".
    #[getter]
    fn scheme(&self) -> &'static str {
        match self.tagger.scheme() {
            faketagger::SchemeKind::Learned => "learned",
            _ => "classic",
        }
    }

    /// Tags the image in `samples` with `tag`; the tagged samples (same layout) and the JSON of
    /// what was done (`faketagger::json::embedded`). The tag must read back from the tagged
    /// pixels, and a photo that already carries one is refused unless `retag`.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (samples, width, height, channels, bits, tag, strength, faces, retag))]
    fn embed<'py>(
        &self,
        py: Python<'py>,
        samples: &Bound<'py, PyAny>,
        width: u32,
        height: u32,
        channels: u8,
        bits: u8,
        tag: &str,
        strength: f32,
        faces: &str,
        retag: bool,
    ) -> PyResult<(Bound<'py, PyByteArray>, String)> {
        let tag = parse_tag(tag)?;
        let samples = self::samples(py, samples, bits)?;
        let (tagged, report) = py
            .detach(|| -> Result<_, faketagger::Error> {
                let mode = faces
                    .parse::<FaceTagging>()?
                    .for_scheme(self.tagger.scheme())?;
                let photo = io::image_from_samples(IN_MEMORY, width, height, channels, samples)?;
                let found = faketagger::faces::faces_to_tag(
                    mode,
                    self.detector.as_ref(),
                    &photo,
                    &self.detect,
                )?;
                let tagged = provenance::tag_photo(
                    &self.tagger,
                    &photo,
                    IN_MEMORY.as_ref(),
                    strength,
                    mode.sites(&found),
                    None,
                    provenance::TagSource::Given(tag),
                    retag,
                    None,
                )?;
                let report = json::embedded(tagged.tag, &tagged.embedded).to_string();
                // the tagged image in the input's layout
                let image = tagged.embedded.image;
                let image = if image.color() == photo.color() {
                    image
                } else {
                    faketagger::attacks::same_layout(image, &photo)
                };
                Ok((image, report))
            })
            .map_err(error)?;
        Ok((PyByteArray::new(py, tagged.as_bytes()), report))
    }

    /// Reads the image in `samples`: the whole photo, then its faces as `faces` says
    /// ("auto": when the whole photo has no tag; "all"; "off"). The JSON of the read
    /// (`faketagger::json::photo`).
    #[pyo3(signature = (samples, width, height, channels, bits, faces))]
    #[allow(clippy::too_many_arguments)]
    fn decode(
        &self,
        py: Python<'_>,
        samples: &Bound<'_, PyAny>,
        width: u32,
        height: u32,
        channels: u8,
        bits: u8,
        faces: &str,
    ) -> PyResult<String> {
        let mode = faces.parse::<FaceMode>().map_err(error)?;
        // 8-bit samples in `bytes` (immutable: a PIL image's) are read where they lie
        if let (8, Ok(bytes)) = (bits, samples.cast::<PyBytes>()) {
            let raw = bytes.as_bytes();
            return py
                .detach(|| -> Result<_, faketagger::Error> {
                    let photo = io::BorrowedSamples::new(IN_MEMORY, width, height, channels, raw)?;
                    let read = self.tagger.decode_samples(
                        &photo,
                        self.detector.as_ref(),
                        mode,
                        &self.detect,
                    )?;
                    Ok(json::photo(&read).to_string())
                })
                .map_err(error);
        }
        let samples = self::samples(py, samples, bits)?;
        py.detach(|| -> Result<_, faketagger::Error> {
            let photo = io::image_from_samples(IN_MEMORY, width, height, channels, samples)?;
            self.read(&photo, mode)
        })
        .map_err(error)
    }

    /// Reads image files on `threads` threads (files read as the CLI reads them): per path,
    /// the JSON of its read or the error's message.
    #[pyo3(signature = (paths, threads, faces))]
    fn decode_files(
        &self,
        py: Python<'_>,
        paths: Vec<PathBuf>,
        threads: usize,
        faces: &str,
    ) -> PyResult<Vec<(Option<String>, Option<String>)>> {
        let mode = faces.parse::<FaceMode>().map_err(error)?;
        Ok(py.detach(|| {
            io::map_files(&paths, threads, io::ReadOptions::default(), |loaded| {
                self.read(&loaded.image, mode)
            })
            .into_iter()
            .map(|result| match result {
                Ok(report) => (Some(report), None),
                Err(e) => (None, Some(e.to_string())),
            })
            .collect()
        }))
    }
}

impl Models {
    fn read(
        &self,
        photo: &image::DynamicImage,
        mode: FaceMode,
    ) -> Result<String, faketagger::Error> {
        // without a detector (the classical baseline) the whole photo only is read
        let read =
            self.tagger
                .decode_with_faces(photo, self.detector.as_ref(), mode, &self.detect)?;
        Ok(json::photo(&read).to_string())
    }
}

/// The 256 channel bits (a string of 0 and 1) that carry `tag`.
#[pyfunction]
fn codec_encode(tag: &str) -> PyResult<String> {
    Ok(Codec::v1().encode(parse_tag(tag)?).to_string())
}

/// Hard-decodes 256 channel bits: the JSON of the read (`faketagger::json::detection`).
#[pyfunction]
fn codec_decode(bits: &str) -> PyResult<String> {
    let bits: faketagger::ChannelBits = bits
        .trim()
        .parse()
        .map_err(|e| error(format!("bits: {e}")))?;
    let decoding = Codec::v1()
        .decode_hard(&bits)
        .map_err(|e| error(format!("bits: {e}")))?;
    Ok(json::detection(&faketagger::Detection::from(decoding)).to_string())
}

/// A tag registry (a SQLite file, or `postgres://…` where built with PostgreSQL).
#[pyclass(frozen, module = "faketagger._native")]
#[derive(Debug)]
struct Registry {
    inner: faketagger::registry::Registry,
}

#[pymethods]
impl Registry {
    #[new]
    fn new(py: Python<'_>, location: &str) -> PyResult<Self> {
        py.detach(|| faketagger::registry::Registry::open(location))
            .map(|inner| Self { inner })
            .map_err(error)
    }

    /// The record of `tag` and its signature's status, as JSON; `None` when not registered.
    fn lookup(&self, py: Python<'_>, tag: &str) -> PyResult<Option<String>> {
        let tag = parse_tag(tag)?;
        py.detach(|| self.inner.lookup(tag))
            .map(|found| found.map(|l| json::lookup(tag, &l).to_string()))
            .map_err(error)
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("FaketaggerError", m.py().get_type::<FaketaggerError>())?;
    m.add("DEFAULT_STRENGTH", faketagger::DEFAULT_STRENGTH)?;
    m.add(
        "STRENGTH_RANGE",
        (
            *faketagger::STRENGTH_RANGE.start(),
            *faketagger::STRENGTH_RANGE.end(),
        ),
    )?;
    m.add("PSNR_FLOOR_DB", faketagger::PSNR_FLOOR_DB)?;
    m.add("MIN_SIDE", io::MIN_SIDE)?;
    m.add("MAX_PIXELS", io::MAX_PIXELS)?;
    m.add("BUFFER_PROTOCOL", BUFFER_PROTOCOL)?;
    m.add_class::<Engine>()?;
    m.add_class::<Registry>()?;
    m.add_function(wrap_pyfunction!(codec_encode, m)?)?;
    m.add_function(wrap_pyfunction!(codec_decode, m)?)?;
    Ok(())
}
