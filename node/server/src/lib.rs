//! The node's HTTP server, assembled: the JSON API under `/api/v1` (`attach_api`), its
//! OpenAPI document, health checks, and the web UI's pages (`attach_web`) on the same
//! server. This crate sits above both sides; neither depends on the other.
//! Handlers are thin: extract, call one app function, render.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use attach_api::error::{self, ApiError};
use attach_app::App;
pub use attach_http::HttpOptions;
pub use attach_replication::node::SyncHandle;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Attach clinic node API",
        description = "The JSON API of an Attach clinic node. Sign in with POST /api/v1/session \
                       and send the returned token as `Authorization: Bearer <token>` (browsers \
                       get a session cookie instead). Errors are JSON: `{code, message, errors?}`."
    ),
    components(schemas(error::ErrorBody, error::ProblemBody)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The router (JSON API and web UI) and the OpenAPI document generated from the same
/// route table.
pub fn router_and_spec(app: App, options: HttpOptions) -> (Router, utoipa::openapi::OpenApi) {
    let (api, spec) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", attach_api::routes())
        .split_for_parts();
    let mut spec = spec;
    document_auth_errors(&mut spec);
    let spec_json = spec.clone();
    let router = api
        .route("/healthz", get(healthz))
        .route(
            "/api/openapi.json",
            get(move || async move { axum::Json(spec_json) }),
        )
        .with_state(app.clone())
        .merge(attach_web::routes(app, options.secure_cookies))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(axum::Extension(options))
        .layer(DefaultBodyLimit::max(options.max_body_bytes))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(request_span));
    (router, spec)
}

/// Every operation can answer 401 (no session, an ended one, or, for sign-in, bad
/// credentials) and 403 (not allowed, or a temporary password to change first); say so in
/// the document once for all of them. (A `Modify` on `ApiDoc` runs before the routes are
/// added, so this runs on the finished document.)
fn document_auth_errors(spec: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let error = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build(),
        )
    };
    for item in spec.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            let responses = &mut op.responses.responses;
            responses
                .entry("401".to_owned())
                .or_insert_with(|| error("Sign in first: no session, or it has ended."));
            responses.entry("403".to_owned()).or_insert_with(|| {
                error("Not allowed, or a temporary password must be changed first.")
            });
        }
    }
}

/// The hub's web pages for provincial coordinators (`attach hub`, on `hub_web_listen`):
/// the same security headers, body limit, panic handling and request spans as a node's.
pub fn hub_web_router(app: App, options: HttpOptions) -> Router {
    attach_web::hub_routes(app, options.secure_cookies)
        .route("/healthz", get(healthz))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(options.max_body_bytes))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
}

pub fn router(app: App, options: HttpOptions) -> Router {
    router_with_sync(app, options, SyncHandle(None))
}

/// The router of a node that syncs: the sync status page and API read `sync`.
pub fn router_with_sync(app: App, options: HttpOptions, sync: SyncHandle) -> Router {
    router_and_spec(app, options).0.layer(axum::Extension(sync))
}

/// A panic in a handler is a bug; the client still gets our JSON error, and the node
/// keeps serving.
fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    tracing::error!("a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "something went wrong on the node (the details are in its log); reload to check whether the change was saved before trying again.",
    )
    .into_response()
}

/// The span of one request: method and path only. The query string is left out because
/// it can hold a patient's name or PHN (panel search).
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
    )
}

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// Unknown paths: a JSON error under `/api`, an HTML page for browsers elsewhere.
async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    if uri.path().starts_with("/api") {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such API route; the API is described at /api/openapi.json",
        )
        .into_response()
    } else {
        attach_web::not_found_page()
    }
}

async fn method_not_allowed(uri: axum::http::Uri) -> axum::response::Response {
    if uri.path().starts_with("/api") {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this API route does not take that method; the API is described at /api/openapi.json",
        )
        .into_response()
    } else {
        attach_web::error_page(
            StatusCode::METHOD_NOT_ALLOWED,
            "Not possible here",
            "This page does not take that kind of request. Go back and use the page's own \
             links and buttons."
                .to_owned(),
        )
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn run(
    app: App,
    options: HttpOptions,
    sync: SyncHandle,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_router(router_with_sync(app, options, sync), listener, shutdown).await
}

/// Serves a router built by [`router_with_sync`] (perhaps with layers added, e.g. the
/// request counter of `/metrics`) until `shutdown` resolves.
pub async fn serve_router(
    router: Router,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
