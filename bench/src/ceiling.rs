//! The HTTP ceiling: a bare actix-web server with one `GET /` route
//! answering a small JSON body, the fastest any route of ours could be on
//! this machine with this framework.
//!
//! `ceiling [PORT]` (or `CEILING_PORT`; default 0, a free port) listens on
//! `CEILING_HOST` (default 127.0.0.1) with `HttpServer`'s default number of
//! workers, and prints `ceiling listening on http://ADDR` on stdout as
//! zentra does.

use std::{env, io, net::TcpListener};

use actix_web::{App, HttpResponse, HttpServer, web};

async fn health() -> HttpResponse {
    // The same body as zentra's `GET /`.
    HttpResponse::Ok().json(serde_json::json!({"health": "check complete"}))
}

fn port() -> io::Result<u16> {
    let raw = env::args()
        .nth(1)
        .or_else(|| env::var("CEILING_PORT").ok())
        .unwrap_or_else(|| "0".to_owned());
    raw.parse().map_err(|error| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad port {raw:?}: {error}"),
        )
    })
}

fn main() -> io::Result<()> {
    let host = env::var("CEILING_HOST").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let listener = TcpListener::bind((host.as_str(), port()?))?;
    let address = listener.local_addr()?;
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(|| App::new().route("/", web::get().to(health)))
            .listen(listener)?
            .run();
        println!("ceiling listening on http://{address}");
        server.await
    })
}
