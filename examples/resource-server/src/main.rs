//! `cargo run -p resource-server`: an API whose `GET /items` needs a Zentra
//! access token with the scope `items:read`, checked offline.
//!
//! Environment: `ZENTRA_URL` (default `http://127.0.0.1:8000`),
//! `EXPECTED_AUDIENCE` (Zentra's `AUTH__AUDIENCE`, if set there) and
//! `BIND` (default `127.0.0.1:8080`).

use std::{net::TcpListener, sync::Arc};

use resource_server::{Verifier, discover, server};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let zentra = std::env::var("ZENTRA_URL").unwrap_or_else(|_| "http://127.0.0.1:8000".into());
    let audience = std::env::var("EXPECTED_AUDIENCE").ok();
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:8080".into());
    // Blocking calls before the server runs are fine; once it runs, the
    // verifier fetches off the async workers.
    let metadata = discover(&zentra).map_err(std::io::Error::other)?;
    let verifier = Arc::new(Verifier::from_metadata(&metadata, audience));
    let listener = TcpListener::bind(&bind)?;
    println!(
        "resource server listening on http://{}",
        listener.local_addr()?
    );
    server(verifier, listener)?.await
}
