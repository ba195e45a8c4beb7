//! Static assets (CSS, JavaScript) compiled into the binary from `web-ui/static`.
//! Pages link them as `/static/<name>?v=<hash of the bytes>`, so a browser may cache
//! them for a year and still fetches the new file after an upgrade.

use std::sync::LazyLock;

use crate::{Path, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const FILES: &[Asset] = &[
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../static/app.css"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../static/app.js"),
    },
    Asset {
        name: "htmx.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../static/htmx.min.js"),
    },
];

/// Each asset's name, URL (with its version) and strong ETag.
struct Versioned {
    name: &'static str,
    url: String,
    etag: String,
}

static VERSIONS: LazyLock<Vec<Versioned>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|a| {
            let hash = hex::encode(&Sha256::digest(a.bytes)[..8]);
            Versioned {
                name: a.name,
                url: format!("/static/{}?v={hash}", a.name),
                etag: format!("\"{hash}\""),
            }
        })
        .collect()
});

/// The versioned URL of an asset, for templates.
pub fn url(name: &str) -> &'static str {
    VERSIONS
        .iter()
        .find(|v| v.name == name)
        .map_or("/static/missing", |v| v.url.as_str())
}

#[derive(Debug, Deserialize)]
pub struct Version {
    v: Option<String>,
}

pub async fn serve(
    Path(name): Path<String>,
    Query(version): Query<Version>,
    headers: HeaderMap,
) -> Response {
    let Some((asset, versioned)) = FILES
        .iter()
        .zip(VERSIONS.iter())
        .find(|(a, _)| a.name == name)
    else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let mut out = HeaderMap::new();
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    if let Ok(etag) = HeaderValue::from_str(&versioned.etag) {
        out.insert(header::ETAG, etag);
    }
    // Only the URL naming the current version may be cached forever; any other is
    // revalidated.
    let current = version
        .v
        .is_some_and(|v| versioned.url.ends_with(&format!("?v={v}")));
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if current {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }),
    );
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == versioned.etag));
    if matches {
        return (StatusCode::NOT_MODIFIED, out).into_response();
    }
    (out, asset.bytes).into_response()
}
