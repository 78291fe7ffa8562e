//! The web UI: the single-page app built in `ui/` (`npm run build` → `ui/dist`), embedded in
//! the binary by `build.rs` and served under `--static-prefix`.
//!
//! This is only the router's fallback, so it can never shadow an API route. Unknown GET paths
//! outside the API answer `index.html` (client-side routes survive a reload); API paths,
//! paths outside the prefix and other methods keep MLflow's JSON `ENDPOINT_NOT_FOUND`, which
//! the clients' fallbacks rely on. `index.html` gets a `<base href="{prefix}/">` so its
//! relative asset URLs (Vite `base: './'`) and the app's API base resolve from any path.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// One embedded file of the built UI.
#[derive(Debug, PartialEq)]
pub struct Asset {
    /// Path relative to `ui/dist`, with `/` separators (e.g. `assets/index-abc123.js`).
    pub path: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));

/// Whether the UI was built into this binary.
pub fn is_built() -> bool {
    find(ASSETS, "index.html").is_some()
}

/// Paths (below the static prefix) that belong to the API: never answered with the UI.
fn is_api_path(path: &str) -> bool {
    const API_ROOTS: &[&str] = &[
        "/api",
        "/ajax-api",
        "/get-artifact",
        "/model-versions/get-artifact",
        "/health",
        "/version",
    ];
    API_ROOTS.iter().any(|root| {
        path.strip_prefix(root)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

fn find<'a>(assets: &'a [Asset], path: &str) -> Option<&'a Asset> {
    assets.iter().find(|a| a.path == path)
}

/// What the fallback answers for one request.
#[derive(Debug, PartialEq)]
enum Served<'a> {
    /// MLflow's JSON 404 (API paths, other methods, paths outside the prefix).
    EndpointNotFound,
    /// A redirect to the UI's root, so relative URLs resolve (`/prefix` → `/prefix/`).
    Redirect(String),
    /// A built file, by its exact path.
    File(&'a Asset),
    /// A missing file under `assets/`: a plain 404, never HTML in place of a script.
    MissingAsset,
    /// The app's `index.html` (client-side route), or the "not built" page when absent.
    Index(Option<&'a Asset>),
}

fn resolve<'a>(assets: &'a [Asset], prefix: &str, method: &Method, path: &str) -> Served<'a> {
    let readable = *method == Method::GET || *method == Method::HEAD;
    let below = if prefix.is_empty() {
        Some(path)
    } else if path == prefix {
        Some("")
    } else {
        path.strip_prefix(prefix)
            .filter(|rest| rest.starts_with('/'))
    };
    let Some(rest) = below else {
        if readable && path == "/" {
            return Served::Redirect(format!("{prefix}/"));
        }
        return Served::EndpointNotFound;
    };
    if !readable || is_api_path(rest) {
        return Served::EndpointNotFound;
    }
    if rest.is_empty() {
        return Served::Redirect(format!("{prefix}/"));
    }
    let file = rest.trim_start_matches('/');
    if file != "index.html" {
        if let Some(asset) = find(assets, file) {
            return Served::File(asset);
        }
        if file.starts_with("assets/") {
            return Served::MissingAsset;
        }
    }
    Served::Index(find(assets, "index.html"))
}

/// The router's fallback: the UI for non-API GET paths, `ENDPOINT_NOT_FOUND` otherwise.
pub async fn fallback(State(app): State<AppState>, method: Method, req: Request) -> Response {
    let prefix = app.config.static_prefix.trim_end_matches('/');
    let path = req.uri().path();
    match resolve(ASSETS, prefix, &method, path) {
        Served::EndpointNotFound => crate::error::endpoint_not_found(path, method.as_str()),
        Served::Redirect(to) => match HeaderValue::from_str(&to) {
            Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
            Err(_) => crate::error::endpoint_not_found(path, method.as_str()),
        },
        Served::File(asset) => {
            // Vite puts a content hash in every name under assets/: those never change.
            let cache = if asset.path.starts_with("assets/") {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            (
                [
                    (header::CONTENT_TYPE, asset.content_type),
                    (header::CACHE_CONTROL, cache),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                ],
                asset.bytes,
            )
                .into_response()
        }
        Served::MissingAsset => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "No such UI file.",
        )
            .into_response(),
        Served::Index(Some(index)) => html(StatusCode::OK, index_with_base(index.bytes, prefix)),
        Served::Index(None) => html(StatusCode::OK, NOT_BUILT.to_string()),
    }
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `index.html` with `<base href="{prefix}/">` first in `<head>`.
fn index_with_base(bytes: &[u8], prefix: &str) -> String {
    let page = String::from_utf8_lossy(bytes);
    let base = format!("<base href=\"{}/\">", escape_attr(prefix));
    match page.find("<head>") {
        Some(at) => {
            let at = at + "<head>".len();
            format!("{}{base}{}", &page[..at], &page[at..])
        }
        None => format!("{base}{page}"),
    }
}

fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

const NOT_BUILT: &str = "<!doctype html>
<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Ferroflow</title></head>
<body style=\"font-family: sans-serif; max-width: 40em; margin: 3em auto\">
<h1>Ferroflow</h1>
<p>The server is running, but this binary was built without the web UI.</p>
<p>Build the UI, then rebuild the server, which embeds it:</p>
<pre>(cd ui &amp;&amp; npm ci &amp;&amp; npm run build)
cargo build --release -p ferroflow</pre>
<p>or simply run <code>bash scripts/run.sh</code>. The REST API works either way.</p>
</body></html>
";

#[cfg(test)]
mod tests {
    use super::*;

    static FAKE: &[Asset] = &[
        Asset {
            path: "index.html",
            content_type: "text/html; charset=utf-8",
            bytes: b"<html><head><title>x</title></head></html>",
        },
        Asset {
            path: "assets/index-1.js",
            content_type: "text/javascript; charset=utf-8",
            bytes: b"1",
        },
        Asset {
            path: "favicon.svg",
            content_type: "image/svg+xml",
            bytes: b"<svg/>",
        },
    ];

    fn get(prefix: &str, path: &str) -> Served<'static> {
        resolve(FAKE, prefix, &Method::GET, path)
    }

    #[test]
    fn root_and_client_routes_answer_index_html() {
        assert_eq!(get("", "/"), Served::Index(find(FAKE, "index.html")));
        assert_eq!(
            get("", "/experiments/1/runs"),
            Served::Index(find(FAKE, "index.html"))
        );
        assert_eq!(
            get("", "/index.html"),
            Served::Index(find(FAKE, "index.html"))
        );
    }

    #[test]
    fn built_files_are_served_by_exact_path() {
        assert_eq!(get("", "/assets/index-1.js"), Served::File(&FAKE[1]));
        assert_eq!(get("", "/favicon.svg"), Served::File(&FAKE[2]));
        assert_eq!(get("", "/assets/gone-2.js"), Served::MissingAsset);
    }

    #[test]
    fn api_paths_stay_endpoint_not_found() {
        for path in [
            "/api",
            "/api/2.0/mlflow/nope",
            "/ajax-api/2.0/mlflow/runs/nope",
            "/api/2.0/mlflow-artifacts/x",
            "/get-artifact/x",
            "/model-versions/get-artifact",
            "/health/x",
            "/version",
        ] {
            assert_eq!(get("", path), Served::EndpointNotFound, "{path}");
        }
        // Only whole segments count: a UI route may start with the same letters.
        assert_eq!(get("", "/apis"), Served::Index(find(FAKE, "index.html")));
        assert_eq!(
            get("", "/versions"),
            Served::Index(find(FAKE, "index.html"))
        );
    }

    #[test]
    fn other_methods_stay_endpoint_not_found() {
        assert_eq!(
            resolve(FAKE, "", &Method::POST, "/experiments"),
            Served::EndpointNotFound
        );
        assert_eq!(
            resolve(FAKE, "", &Method::HEAD, "/"),
            Served::Index(find(FAKE, "index.html"))
        );
    }

    #[test]
    fn static_prefix_is_honoured() {
        assert_eq!(
            get("/mlflow", "/mlflow"),
            Served::Redirect("/mlflow/".into())
        );
        assert_eq!(get("/mlflow", "/"), Served::Redirect("/mlflow/".into()));
        assert_eq!(
            get("/mlflow", "/mlflow/"),
            Served::Index(find(FAKE, "index.html"))
        );
        assert_eq!(
            get("/mlflow", "/mlflow/assets/index-1.js"),
            Served::File(&FAKE[1])
        );
        assert_eq!(
            get("/mlflow", "/mlflow/api/2.0/x"),
            Served::EndpointNotFound
        );
        assert_eq!(
            get("/mlflow", "/assets/index-1.js"),
            Served::EndpointNotFound
        );
        assert_eq!(get("/mlflow", "/mlflowx/"), Served::EndpointNotFound);
    }

    #[test]
    fn index_gets_a_base_href_for_the_prefix() {
        let page = index_with_base(FAKE[0].bytes, "/ml\"flow");
        assert!(
            page.starts_with("<html><head><base href=\"/ml&quot;flow/\"><title>"),
            "{page}"
        );
        assert!(index_with_base(FAKE[0].bytes, "").contains("<base href=\"/\">"));
    }
}
