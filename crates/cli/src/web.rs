//! The page `faketagger serve` answers at `/` (issue 22): pick or drop photos, get tagged copies
//! with their PSNR and a before/after view, check a photo for its tag. Its HTML, script and style
//! are compiled into the binary (`web/`); nothing is fetched from elsewhere.
//!
//! On a loopback address the page embeds without an API key. A keyless endpoint on loopback is
//! reachable by any web site the user visits, so a page request ([`PAGE_TOKEN_HEADER`]) is taken
//! only when all of these hold, checked by [`Page::admit`]:
//! - the server listens on a loopback address (elsewhere, embedding stays keyed);
//! - `Host` names a loopback address with this server's port (a DNS-rebinding site's requests
//!   carry its own host name);
//! - `Origin` and `Sec-Fetch-Site`, when the browser sends them, say the request comes from this
//!   very page (cross-site requests);
//! - the token is this server's, drawn at start and written only into the page served at `/`
//!   to a loopback `Host` (another site cannot read that page: same-origin policy, and
//!   `frame-ancestors 'none'`).
//!
//! A page request registers (signs) a tag only when it says `"register": true`, which the page
//! sends only when the user ticks "register", and only on a server started with `--register`.

use std::net::IpAddr;
use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The header carrying the page's token.
pub const PAGE_TOKEN_HEADER: &str = "x-faketagger-page-token";

const INDEX_HTML: &str = include_str!("web/index.html");
const APP_JS: &str = include_str!("web/app.js");
const APP_CSS: &str = include_str!("web/app.css");
/// Where `index.html` takes the page's settings.
const CONFIG_SLOT: &str = "<!--CONFIG-->";

/// Only this server's own assets, no framing, no referrer.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' blob: data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'none'";

/// What the page needs to know of the server, and the checks of keyless requests.
#[derive(Debug)]
pub struct Page {
    token: String,
    /// The server listens on a loopback address: the page may embed without an API key.
    loopback: bool,
    /// The server was started with `--register`: the page may register tags.
    register: bool,
    /// The server embeds for API keys.
    keyed: bool,
    /// Whether faces are read (the learned networks).
    faces: bool,
    max_body_bytes: usize,
    max_pixels: u64,
    /// The port listened on, known once bound.
    port: OnceLock<u16>,
}

/// Why a page request was refused (403).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

impl Page {
    /// A page with a fresh random token.
    pub fn new(
        loopback: bool,
        register: bool,
        keyed: bool,
        faces: bool,
        max_body_bytes: usize,
        max_pixels: u64,
    ) -> Self {
        let bytes: [u8; 32] = rand::random();
        Self {
            token: bytes.iter().map(|b| format!("{b:02x}")).collect(),
            loopback,
            register,
            keyed,
            faces,
            max_body_bytes,
            max_pixels,
            port: OnceLock::new(),
        }
    }

    /// Records the port the server listens on.
    pub fn bound(&self, port: u16) {
        let _ = self.port.set(port);
    }

    /// Whether a page request may register a tag.
    pub fn may_register(&self) -> bool {
        self.register
    }

    /// Whether `Host` names this server on a loopback address.
    fn loopback_host(&self, headers: &HeaderMap) -> bool {
        let Some(port) = self.port.get().copied() else {
            return false;
        };
        let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let (name, given_port) = match host.strip_prefix('[') {
            Some(rest) => match rest.split_once(']') {
                Some((ip, tail)) => (ip, tail.strip_prefix(':')),
                None => return false,
            },
            None => match host.rsplit_once(':') {
                Some((name, p)) => (name, Some(p)),
                None => (host, None),
            },
        };
        let port_ok = match given_port {
            Some(p) => p.parse::<u16>().ok() == Some(port),
            None => port == 80,
        };
        let name_ok = name.eq_ignore_ascii_case("localhost")
            || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        port_ok && name_ok
    }

    /// Admits a keyless request made by the page, or says why not.
    pub fn admit(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let refuse = |code, message: &str| {
            Err(Refusal {
                code,
                message: message.to_owned(),
            })
        };
        if !self.loopback {
            return refuse(
                "keyless_refused",
                "this server does not embed without an API key: keyless embedding from the page \
                 is for a server on a loopback address (--addr 127.0.0.1:PORT)",
            );
        }
        if !self.loopback_host(headers) {
            return refuse(
                "bad_host",
                "the request's Host is not this server's loopback address: keyless embedding \
                 answers the page opened at http://127.0.0.1:PORT or http://localhost:PORT only",
            );
        }
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let same_origin = format!("http://{host}");
        let foreign_origin = headers.get(header::ORIGIN).is_some_and(|origin| {
            !origin
                .to_str()
                .is_ok_and(|o| o.eq_ignore_ascii_case(&same_origin))
        });
        let cross_site = headers
            .get("sec-fetch-site")
            .is_some_and(|site| site.as_bytes() != b"same-origin");
        if foreign_origin || cross_site {
            return refuse(
                "cross_origin",
                "the request comes from another web site than this server's page",
            );
        }
        let given = headers
            .get(PAGE_TOKEN_HEADER)
            .map(HeaderValue::as_bytes)
            .unwrap_or_default();
        if !crate::serve::constant_time_eq(given, self.token.as_bytes()) {
            return refuse(
                "bad_token",
                "the page's token is not this server's: reload the page (the server was \
                 restarted, or the request did not come from its page)",
            );
        }
        Ok(())
    }

    /// `GET /`: the page, with its settings; the token only for a loopback `Host`.
    pub fn index(&self, headers: &HeaderMap) -> Response {
        let keyless = self.loopback && self.loopback_host(headers);
        let config = json!({
            "keyless": keyless,
            "token": keyless.then_some(&self.token),
            "register": keyless && self.register,
            "keyed": self.keyed,
            "faces": self.faces,
            "maxBodyBytes": self.max_body_bytes,
            "maxPixels": self.max_pixels,
            "strength": {
                "default": decimal(faketagger::DEFAULT_STRENGTH),
                "min": decimal(*faketagger::STRENGTH_RANGE.start()),
                "max": decimal(*faketagger::STRENGTH_RANGE.end()),
            },
        });
        // JSON inside <script type="application/json">: '<' escaped so that no text closes it
        let config = config.to_string().replace('<', "\\u003c");
        let html = INDEX_HTML.replace(
            CONFIG_SLOT,
            &format!(r#"<script id="config" type="application/json">{config}</script>"#),
        );
        // the token is in it: never cached
        asset(html, "text/html; charset=utf-8", "no-store")
    }

    /// `GET /app.js`.
    pub fn script() -> Response {
        asset(
            APP_JS.to_owned(),
            "text/javascript; charset=utf-8",
            "no-cache",
        )
    }

    /// `GET /app.css`.
    pub fn style() -> Response {
        asset(APP_CSS.to_owned(), "text/css; charset=utf-8", "no-cache")
    }
}

/// `v` as people write it (0.05, not 0.05000000074505806).
fn decimal(v: f32) -> f64 {
    (f64::from(v) * 1e4).round() / 1e4
}

fn asset(body: String, kind: &'static str, cache: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn page(loopback: bool) -> Page {
        let page = Page::new(loopback, false, false, true, 1 << 20, 1_000_000);
        page.bound(8080);
        page
    }

    #[test]
    fn loopback_hosts_with_the_servers_port_only() {
        let page = page(true);
        for host in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST:8080",
            "[::1]:8080",
        ] {
            assert!(page.loopback_host(&headers(&[("host", host)])), "{host}");
        }
        for host in [
            "127.0.0.1:8081",
            "evil.example:8080",
            "127.0.0.1.evil.example:8080",
            "localhost",
            "[::1]",
            "[::1:8080",
            "",
        ] {
            assert!(!page.loopback_host(&headers(&[("host", host)])), "{host}");
        }
        assert!(!page.loopback_host(&HeaderMap::new()));
    }

    #[test]
    fn a_page_request_needs_loopback_host_origin_and_token() {
        let page_ = page(true);
        let token = page_.token.clone();
        let good = [
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
            (PAGE_TOKEN_HEADER, token.as_str()),
        ];
        assert_eq!(page_.admit(&headers(&good)), Ok(()));
        // without Origin and Sec-Fetch-Site (not a browser): still the token
        assert_eq!(page_.admit(&headers(&[good[0], good[3]])), Ok(()));
        let code = |pairs: &[(&'static str, &str)]| page_.admit(&headers(pairs)).unwrap_err().code;
        assert_eq!(
            code(&[("host", "evil.example:8080"), good[1], good[3]]),
            "bad_host"
        );
        assert_eq!(
            code(&[good[0], ("origin", "http://evil.example"), good[2], good[3]]),
            "cross_origin"
        );
        assert_eq!(
            code(&[good[0], good[1], ("sec-fetch-site", "cross-site"), good[3]]),
            "cross_origin"
        );
        assert_eq!(code(&[good[0], good[1], good[2]]), "bad_token");
        let last = if token.ends_with('0') { '1' } else { '0' };
        let wrong = format!("{}{last}", &token[..token.len() - 1]);
        assert_eq!(
            code(&[good[0], good[1], good[2], (PAGE_TOKEN_HEADER, &wrong)]),
            "bad_token"
        );
        assert_eq!(
            page(false).admit(&headers(&good)).unwrap_err().code,
            "keyless_refused"
        );
    }

    #[test]
    fn tokens_differ_between_servers() {
        assert_ne!(page(true).token, page(true).token);
        assert_eq!(page(true).token.len(), 64);
    }
}
