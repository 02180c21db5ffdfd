//! `faketagger serve`: embedding, decoding and tag lookups over HTTP, JSON in and out.
//!
//! - `GET /`, `/app.js`, `/app.css`: the page (`crate::web`), which on a loopback address embeds
//!   without an API key behind its token and the checks of [`crate::web::Page::admit`].
//! - `POST /v1/embed` (API key, or the page's token): `{"image": BASE64, "owner": ...,
//!   "note": ...}` draws a fresh tag, embeds it and registers it signed by the server's issuer;
//!   `{"image": ..., "tag": HEX}` embeds a given tag without registering it, `"register": false`
//!   a fresh one (the page registers only with `"register": true`, on a server started with
//!   `--register`); `"faces": "auto|off|only"` as `embed --faces`. Answers the tagged image
//!   (base64), how each face was tagged, and the record.
//! - `POST /v1/decode`: `{"images": [BASE64, ...], "faces": "auto|all|off"}` → one provenance
//!   report per image, with its faces' reads (`faces`) when they were looked at.
//! - `GET /v1/tags/{tag}`: the record of a tag and whether its signature verifies.
//! - `GET /matches/byBinding?alg=ALG&value=BASE64`: C2PA soft-binding resolution (the tag's 8
//!   bytes, base64) → `{"matches": [...]}`.
//! - `GET /health`.
//!
//! Limits: request body size, image pixels (checked before decoding), images per batch, and a
//! fixed number of images worked on at once (others wait up to a timeout, then get 503). Every
//! error is `{"error": {"code": ..., "message": ...}}` with a 4xx/5xx status. SIGINT/SIGTERM stop
//! accepting connections and let requests in flight finish.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use faketagger::provenance::{self, Trace};
use faketagger::registry::{Issuer, Registry, RegistryError};
use faketagger::{Error, FaceMode, Tag, Tagger};
use image::ImageFormat;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::settings::{ServeSettings, open_registry};

/// The soft-binding algorithm name `GET /matches/byBinding` answers for.
pub const SOFT_BINDING_ALG: &str = "org.faketagger.tag.v1";
struct Inner {
    tagger: Tagger,
    /// The face detector, for the learned networks (the baseline has no face reads).
    detector: Option<faketagger::faces::Detector>,
    /// How it looks for faces (`--min-face`).
    detect: faketagger::faces::DetectOptions,
    registry: Registry,
    api_keys: Vec<String>,
    issuer: Option<Issuer>,
    workers: Arc<Semaphore>,
    concurrency: u32,
    queue_timeout: Duration,
    max_pixels: u64,
    max_batch: usize,
    max_body_bytes: usize,
    served: AtomicU64,
    /// The page at `/` and the checks of its keyless requests.
    page: crate::web::Page,
}

/// Who asks to embed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// A holder of an API key.
    Key,
    /// The page served at `/`, on loopback, without a key.
    Page,
}

type App = Arc<Inner>;

pub fn serve(settings: ServeSettings, quiet: bool) -> Result<ExitCode> {
    let tagger = settings.model.tagger()?;
    let detector = match tagger.scheme() {
        faketagger::SchemeKind::Learned => Some(settings.model.detector()?),
        _ => None,
    };
    let registry = open_registry(&settings.registry)?;
    let concurrency = u32::try_from(settings.concurrency.get()).unwrap_or(u32::MAX);
    let reads_faces = detector.is_some();
    let keyed = !settings.api_keys.is_empty();
    let app: App = Arc::new(Inner {
        tagger,
        detector,
        detect: settings.model.detect,
        registry,
        api_keys: settings.api_keys,
        issuer: settings.issuer,
        workers: Arc::new(Semaphore::new(concurrency as usize)),
        concurrency,
        queue_timeout: settings.queue_timeout,
        max_pixels: settings.max_pixels,
        max_batch: settings.max_batch,
        max_body_bytes: settings.max_body_bytes,
        served: AtomicU64::new(0),
        page: crate::web::Page::new(
            settings.addr.ip().is_loopback(),
            settings.register,
            keyed,
            reads_faces,
            settings.max_body_bytes,
            settings.max_pixels,
        ),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the HTTP runtime")?;
    // the last handle on the registry is dropped after the runtime: a PostgreSQL client blocks
    // when it closes, which is not allowed on the runtime's threads
    let handle = app.clone();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(settings.addr)
            .await
            .with_context(|| format!("--addr {}", settings.addr))?;
        let local = listener.local_addr()?;
        app.page.bound(local.port());
        // a result, not progress: scripts and tests read the port from it (--addr …:0)
        println!("listening on http://{local}");
        if !quiet {
            eprintln!(
                "registry {}; embedding {}; {} workers",
                app.registry.location(),
                match (&app.issuer, app.api_keys.is_empty()) {
                    (Some(issuer), false) => format!("on, records signed by {}", issuer.name()),
                    (_, false) => "on".into(),
                    (_, true) => "off for API clients (no --api-keys)".into(),
                },
                app.concurrency
            );
            if local.ip().is_loopback() {
                eprintln!(
                    "the page: http://{local}/ (embeds without a key, from this computer only; {})",
                    match &app.issuer {
                        Some(issuer) if app.page.may_register() =>
                            format!("registers when asked, signed by {}", issuer.name()),
                        _ => "registers nothing: --register to allow it".into(),
                    }
                );
            }
        }
        let router = router(app.clone(), settings.max_body_bytes);
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("serving")?;
        if !quiet {
            eprintln!(
                "stopped after {} requests",
                app.served.load(Ordering::Relaxed)
            );
        }
        anyhow::Ok(())
    })?;
    drop(runtime);
    drop(handle);
    Ok(ExitCode::from(crate::commands::EXIT_FOUND))
}

fn router(app: App, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/app.js", get(|| async { crate::web::Page::script() }))
        .route("/app.css", get(|| async { crate::web::Page::style() }))
        .route("/health", get(health))
        .route("/v1/embed", post(embed))
        .route("/v1/decode", post(decode))
        .route("/v1/tags/{tag}", get(tag_record))
        .route("/matches/byBinding", get(by_binding))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(app)
}

async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// A JSON error: `{"error": {"code": ..., "message": ...}}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A request body axum could not take: 413 naming the limit, 415, or 400 for everything
    /// else (bad syntax, a wrong type, an unknown field: axum says 422 for the last two, the API
    /// documents 400).
    fn json(rejection: JsonRejection, max_body_bytes: usize) -> Self {
        match rejection.status() {
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                rejection.body_text(),
            ),
            StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "the request body is over this server's limit of {} MiB ({max_body_bytes} \
                     bytes, --max-body-mib); base64 adds a third to an image's size",
                    max_body_bytes as f64 / f64::from(1u32 << 20)
                ),
            ),
            _ => Self::bad_request("bad_json", rejection.body_text()),
        }
    }

    fn engine(error: Error) -> Self {
        let message = error.to_string();
        match error {
            Error::BadImage { .. } => Self::bad_request("bad_image", message),
            Error::Truncated { .. } => Self::bad_request("truncated_image", message),
            Error::AlreadyTagged { .. } => {
                Self::new(StatusCode::CONFLICT, "already_tagged", message)
            }
            Error::NotCarried { .. } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "tag_not_carried", message)
            }
            Error::NoFaces { .. } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "no_faces", message)
            }
            Error::ImageTooSmall { .. } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "image_too_small", message)
            }
            Error::ImageTooLarge { .. } => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "image_too_large", message)
            }
            Error::OutOfRange { .. } | Error::Codec(_) => {
                Self::bad_request("bad_parameter", message)
            }
            Error::Registry(RegistryError::Invalid { .. }) => {
                Self::bad_request("bad_parameter", message)
            }
            Error::Registry(RegistryError::Database(_)) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "registry_unavailable",
                message,
            ),
            Error::Registry(_) => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "registry", message),
            _ => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": { "code": self.code, "message": self.message } }));
        let mut response = (self.status, body).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

type Reply = Result<Json<Value>, ApiError>;

impl Inner {
    /// Waits for `n` workers (at most all of them), up to the queue timeout.
    async fn workers(&self, n: usize) -> Result<OwnedSemaphorePermit, ApiError> {
        let n = u32::try_from(n)
            .unwrap_or(u32::MAX)
            .clamp(1, self.concurrency);
        match tokio::time::timeout(
            self.queue_timeout,
            self.workers.clone().acquire_many_owned(n),
        )
        .await
        {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "every worker is busy; retry later",
            )),
        }
    }

    /// Who may embed: an API key's holder, or the page on loopback (its token header).
    fn authorize(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        if headers.contains_key(crate::web::PAGE_TOKEN_HEADER) {
            return self
                .page
                .admit(headers)
                .map(|()| Caller::Page)
                .map_err(|r| ApiError::new(StatusCode::FORBIDDEN, r.code, r.message));
        }
        if self.api_keys.is_empty() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "embedding_disabled",
                "this server does not embed: it was started without --api-keys",
            ));
        }
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(given) = given else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send an API key as `Authorization: Bearer KEY`",
            ));
        };
        // compare with every key, in time independent of where they differ
        let known = self.api_keys.iter().fold(false, |found, key| {
            found | constant_time_eq(key.as_bytes(), given.as_bytes())
        });
        if known {
            Ok(Caller::Key)
        } else {
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "unknown API key",
            ))
        }
    }

    fn read(&self, base64: &str, name: &str) -> Result<faketagger::io::LoadedImage, ApiError> {
        let bytes = BASE64
            .decode(base64.trim())
            .map_err(|e| ApiError::bad_request("bad_base64", format!("{name}: not base64: {e}")))?;
        faketagger::io::read_image_bytes(&bytes, name, self.max_pixels).map_err(ApiError::engine)
    }

    fn embed(&self, request: EmbedRequest, caller: Caller) -> Reply {
        let loaded = self.read(&request.image, "image")?;
        let strength =
            faketagger::check_strength(request.strength.unwrap_or(faketagger::DEFAULT_STRENGTH))
                .map_err(ApiError::engine)?;
        let (format, name) = match request.format.as_deref().unwrap_or("png") {
            "png" => (ImageFormat::Png, "png"),
            "jpeg" | "jpg" => (ImageFormat::Jpeg, "jpeg"),
            other => {
                return Err(ApiError::bad_request(
                    "bad_parameter",
                    format!("format {other:?}: png or jpeg"),
                ));
            }
        };
        let quality = faketagger::io::check_jpeg_quality(
            request
                .quality
                .unwrap_or(faketagger::io::DEFAULT_JPEG_QUALITY.into()),
        )
        .map_err(ApiError::engine)?;
        let saving = faketagger::Saving {
            format,
            quality,
            metadata: &loaded.metadata,
            path: std::path::Path::new("response"),
        };
        // a key's holder registers unless given a tag (or told not to); the page only when
        // the user asked for it
        let register = match caller {
            Caller::Key => request.register.unwrap_or(request.tag.is_none()),
            Caller::Page => request.register.unwrap_or(false),
        };
        if register && caller == Caller::Page && !self.page.may_register() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "registering_disabled",
                "this server does not register tags for the page: start it with --register",
            ));
        }
        let source = if register {
            if request.tag.is_some() {
                return Err(ApiError::bad_request(
                    "bad_parameter",
                    "tag: a registered tag is drawn fresh; leave out `tag` to register one",
                ));
            }
            let Some(issuer) = &self.issuer else {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "embedding_disabled",
                    "no issuer key to sign records",
                ));
            };
            let Some(owner) = request.owner.as_deref().filter(|o| !o.trim().is_empty()) else {
                return Err(ApiError::bad_request(
                    "bad_parameter",
                    "owner: required to register a tag",
                ));
            };
            provenance::TagSource::Register {
                registry: &self.registry,
                issuer,
                owner,
                note: request.note.as_deref().unwrap_or(""),
            }
        } else {
            if request.owner.is_some() || request.note.is_some() {
                return Err(ApiError::bad_request(
                    "bad_parameter",
                    "owner and note go with registration; leave out `tag` (or send \"register\": \
                     true) to register a fresh one",
                ));
            }
            provenance::TagSource::Given(match &request.tag {
                Some(text) => text.parse().map_err(|e: faketagger::codec::CodecError| {
                    ApiError::bad_request("bad_tag", e.to_string())
                })?,
                None => Tag::new(rand::random()),
            })
        };
        let mode = request
            .faces
            .as_deref()
            .unwrap_or("auto")
            .parse::<faketagger::FaceTagging>()
            .and_then(|mode| mode.for_scheme(self.tagger.scheme()))
            .map_err(|e| ApiError::bad_request("bad_parameter", e.to_string()))?;
        let found = faketagger::faces::faces_to_tag(
            mode,
            self.detector.as_ref(),
            &loaded.image,
            &self.detect,
        )
        .map_err(ApiError::engine)?;
        let sites = mode.sites(&found);
        let provenance::TaggedPhoto {
            tag,
            mut embedded,
            record,
        } = provenance::tag_photo(
            &self.tagger,
            &loaded.image,
            std::path::Path::new("image"),
            strength,
            sites,
            Some(&saving),
            source,
            request.retag,
            Some(&self.registry),
        )
        .map_err(ApiError::engine)?;
        let bytes = embedded.bytes.take().unwrap_or_default();
        let mut body = faketagger::json::embedded(tag, &embedded);
        body["format"] = json!(name);
        body["image"] = json!(BASE64.encode(bytes));
        body["record"] = json!(record);
        Ok(Json(body))
    }

    /// The provenance report of one image, with its faces' reads (`faces`, when looked at).
    fn trace_one(&self, base64: &str, index: usize, faces: FaceMode) -> Result<Value, ApiError> {
        let loaded = self.read(base64, &format!("images[{index}]"))?;
        let read = self
            .tagger
            .decode_with_faces(&loaded.image, self.detector.as_ref(), faces, &self.detect)
            .map_err(ApiError::engine)?;
        let trace: Trace = provenance::trace(&loaded.image, read.detection(), &self.registry)
            .map_err(|e| ApiError::engine(e.into()))?;
        let mut value = serde_json::to_value(&trace).unwrap_or(Value::Null);
        if !read.faces.is_empty() {
            value["faces"] = faketagger::json::face_reads(&read.faces);
        }
        Ok(value)
    }

    /// Traces a batch on `threads` threads; one result per image, errors included.
    fn decode(
        &self,
        images: &[String],
        threads: usize,
        faces: FaceMode,
    ) -> Result<Vec<Value>, ApiError> {
        Ok(faketagger::io::par_map(
            images,
            threads,
            |i, image| match self.trace_one(image, i, faces) {
                Ok(trace) => trace,
                Err(e) => json!({ "error": { "code": e.code, "message": e.message } }),
            },
        ))
    }
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Runs engine or database work off the async threads (the PostgreSQL client blocks).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("worker failed: {e}"),
        ))
    })
}

async fn health(State(app): State<App>) -> Reply {
    app.served.fetch_add(1, Ordering::Relaxed);
    let app2 = app.clone();
    let records =
        blocking(move || app2.registry.len().map_err(|e| ApiError::engine(e.into()))).await?;
    Ok(Json(json!({ "status": "ok", "records": records })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmbedRequest {
    image: String,
    tag: Option<String>,
    owner: Option<String>,
    note: Option<String>,
    strength: Option<f32>,
    format: Option<String>,
    quality: Option<i64>,
    /// Tag an image that already carries a tag (refused by default, 409).
    #[serde(default)]
    retag: bool,
    /// `auto` (default), `off` or `only`, as `embed --faces`.
    faces: Option<String>,
    /// Register a fresh tag (signed by the server's issuer). Default: for an API key, when no
    /// `tag` is given; for the page, never unless it says so (the user ticked "register").
    register: Option<bool>,
}

async fn page(State(app): State<App>, headers: HeaderMap) -> Response {
    app.served.fetch_add(1, Ordering::Relaxed);
    app.page.index(&headers)
}

async fn embed(
    State(app): State<App>,
    headers: HeaderMap,
    body: Result<Json<EmbedRequest>, JsonRejection>,
) -> Reply {
    app.served.fetch_add(1, Ordering::Relaxed);
    let caller = app.authorize(&headers)?;
    let Json(request) = body.map_err(|e| ApiError::json(e, app.max_body_bytes))?;
    let permit = app.workers(1).await?;
    let app2 = app.clone();
    blocking(move || {
        let _permit = permit;
        app2.embed(request, caller)
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecodeRequest {
    images: Vec<String>,
    /// `auto` (default), `all` or `off`, as `decode --faces`.
    faces: Option<String>,
}

async fn decode(State(app): State<App>, body: Result<Json<DecodeRequest>, JsonRejection>) -> Reply {
    app.served.fetch_add(1, Ordering::Relaxed);
    let Json(request) = body.map_err(|e| ApiError::json(e, app.max_body_bytes))?;
    if request.images.is_empty() {
        return Err(ApiError::bad_request(
            "bad_parameter",
            "images: give at least one",
        ));
    }
    if request.images.len() > app.max_batch {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_images",
            format!(
                "{} images; at most {} per request",
                request.images.len(),
                app.max_batch
            ),
        ));
    }
    let faces: FaceMode = request
        .faces
        .as_deref()
        .unwrap_or("auto")
        .parse()
        .map_err(|e: Error| ApiError::bad_request("bad_parameter", e.to_string()))?;
    let permit = app.workers(request.images.len()).await?;
    let threads = permit.num_permits();
    let app2 = app.clone();
    let results = blocking(move || {
        let _permit = permit;
        app2.decode(&request.images, threads, faces)
    })
    .await?;
    Ok(Json(json!({ "results": results })))
}

fn lookup_json(app: &Inner, tag: Tag) -> Result<Option<Value>, ApiError> {
    let found = app
        .registry
        .lookup(tag)
        .map_err(|e| ApiError::engine(e.into()))?;
    Ok(found.map(|l| faketagger::json::lookup(tag, &l)))
}

async fn tag_record(State(app): State<App>, Path(text): Path<String>) -> Reply {
    app.served.fetch_add(1, Ordering::Relaxed);
    let tag: Tag = text.parse().map_err(|e: faketagger::codec::CodecError| {
        ApiError::bad_request("bad_tag", e.to_string())
    })?;
    let app2 = app.clone();
    match blocking(move || lookup_json(&app2, tag)).await? {
        Some(found) => Ok(Json(found)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("tag {tag} is not registered here"),
        )),
    }
}

#[derive(Debug, Deserialize)]
struct BindingQuery {
    alg: String,
    value: String,
}

async fn by_binding(
    State(app): State<App>,
    query: Result<Query<BindingQuery>, QueryRejection>,
) -> Reply {
    app.served.fetch_add(1, Ordering::Relaxed);
    let Query(query) = query.map_err(|e| ApiError::bad_request("bad_query", e.body_text()))?;
    if query.alg != SOFT_BINDING_ALG {
        return Err(ApiError::bad_request(
            "unsupported_algorithm",
            format!(
                "alg {:?}: this service resolves {SOFT_BINDING_ALG}",
                query.alg
            ),
        ));
    }
    // an unescaped '+' in a query string arrives as a space, which base64 never holds: every
    // space is one, the first and last too (trimmed first, a leading '+' was lost)
    let value = query.value.replace(' ', "+");
    let value = value.trim();
    let bytes: [u8; 8] = BASE64
        .decode(value)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                "bad_base64",
                format!(
                    "value {value:?}: the tag's 8 bytes, base64 (12 characters ending in '='); \
                     percent-encode '+' as %2B, '/' as %2F and '=' as %3D in the query"
                ),
            )
        })?;
    let tag = Tag::from_bytes(bytes);
    let app2 = app.clone();
    let found = blocking(move || lookup_json(&app2, tag)).await?;
    let matches: Vec<Value> = found
        .into_iter()
        .map(|mut m| {
            if let Some(object) = m.as_object_mut() {
                object.insert(
                    "manifestId".into(),
                    json!(format!("urn:faketagger:tag:{tag}")),
                );
            }
            m
        })
        .collect();
    Ok(Json(json!({ "matches": matches })))
}
