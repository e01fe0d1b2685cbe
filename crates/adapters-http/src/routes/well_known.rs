//! `/.well-known/jwks.json` and `/.well-known/oauth-authorization-server`
//! (docs/api.md §12): what other services need to verify access tokens
//! offline. Both are bare JSON (no envelope, as the standards have them),
//! serialised once at start from the configuration.

use actix_web::{
    HttpResponse,
    http::header::{self, CacheControl, CacheDirective},
    web,
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::openapi::other_error_example;

/// How long a verifier may keep the key set (docs/api.md §12): also how
/// long to wait between publishing a new key and signing with it (README,
/// rotation).
pub const JWKS_MAX_AGE_SECS: u32 = 300;

/// The two documents, as served.
#[derive(Debug, Clone)]
pub(crate) struct WellKnown {
    jwks: web::Bytes,
    metadata: web::Bytes,
}

impl WellKnown {
    /// `jwks`: the public JWK Set; `base`: the service's public URL (no
    /// trailing slash); `scopes`: every scope the service knows.
    pub(crate) fn new(
        jwks: &serde_json::Value,
        issuer: &str,
        base: &str,
        scopes: &domain::Scopes,
    ) -> Self {
        let metadata = Metadata {
            issuer: issuer.to_owned(),
            token_endpoint: format!("{base}/api/auth/token"),
            jwks_uri: format!("{base}/.well-known/jwks.json"),
            introspection_endpoint: format!("{base}/api/auth/token/introspect"),
            scopes_supported: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            grant_types_supported: vec!["password", "refresh_token"],
            token_endpoint_auth_methods_supported: vec!["none"],
            response_types_supported: Vec::new(),
        };
        Self {
            jwks: serde_json::to_vec(jwks).expect("JSON").into(),
            metadata: serde_json::to_vec(&metadata).expect("JSON").into(),
        }
    }
}

/// A public JWK (RFC 7517, RFC 8037): only public members, the `kid` that
/// tokens name, the one `alg` the key verifies and `use: sig`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documents what `WellKnown` serves
pub(crate) struct PublicJwk {
    #[schema(example = "OKP")]
    kty: String,
    #[schema(example = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")]
    kid: String,
    #[schema(example = "EdDSA")]
    alg: String,
    #[serde(rename = "use")]
    #[schema(example = "sig")]
    usage: String,
    /// `Ed25519` (OKP) or `P-256` (EC).
    #[serde(skip_serializing_if = "Option::is_none")]
    crv: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    x: Option<String>,
    /// EC only.
    #[serde(skip_serializing_if = "Option::is_none")]
    y: Option<String>,
    /// RSA only: the modulus.
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<String>,
    /// RSA only: the exponent.
    #[serde(skip_serializing_if = "Option::is_none")]
    e: Option<String>,
}

/// A JWK Set (RFC 7517 §5): empty under HS*, whose keys are secrets.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documents what `WellKnown` serves
pub(crate) struct JwkSet {
    keys: Vec<PublicJwk>,
}

/// Authorization server metadata (RFC 8414 §2).
#[derive(Serialize, ToSchema)]
pub(crate) struct Metadata {
    /// `AUTH__ISSUER`: the `iss` of every token.
    #[schema(example = "https://auth.example.com")]
    issuer: String,
    #[schema(example = "https://auth.example.com/api/auth/token")]
    token_endpoint: String,
    #[schema(example = "https://auth.example.com/.well-known/jwks.json")]
    jwks_uri: String,
    #[schema(example = "https://auth.example.com/api/auth/token/introspect")]
    introspection_endpoint: String,
    #[schema(example = json!(["admin", "introspect", "me"]))]
    scopes_supported: Vec<String>,
    #[schema(example = json!(["password", "refresh_token"]))]
    grant_types_supported: Vec<&'static str>,
    /// Clients authenticate with no secret of their own.
    #[schema(example = json!(["none"]))]
    token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// Required by RFC 8414; no authorization endpoint, so none.
    #[schema(example = json!([]))]
    response_types_supported: Vec<&'static str>,
}

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "service",
    summary = "The public keys that verify access tokens (JWK Set)",
    description = "Bare JSON, cacheable for five minutes. Empty under HS* (the keys are secrets). \
        A verifier picks the key by the token's `kid` and checks the token with that key's `alg` only.",
    responses(
        (status = 200, description = "The public verification keys", body = JwkSet,
            headers(("Cache-Control" = String, description = "public, max-age=300"))),
        (status = "default", description = "Any other error", body = crate::envelope::Wire<crate::envelope::NoData>,
            example = json!(other_error_example())),
    ))]
pub(crate) async fn jwks(documents: web::Data<WellKnown>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(CacheControl(vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(JWKS_MAX_AGE_SECS),
        ]))
        .insert_header(header::ContentType::json())
        .body(documents.jwks.clone())
}

#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "service",
    summary = "Authorization server metadata (RFC 8414)",
    description = "Bare JSON: the issuer and the absolute URLs of the token, JWKS and introspection \
        endpoints (under `SERVER__PUBLIC_URL`).",
    responses(
        (status = 200, description = "The metadata", body = Metadata),
        (status = "default", description = "Any other error", body = crate::envelope::Wire<crate::envelope::NoData>,
            example = json!(other_error_example())),
    ))]
pub(crate) async fn metadata(documents: web::Data<WellKnown>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(header::ContentType::json())
        .body(documents.metadata.clone())
}
