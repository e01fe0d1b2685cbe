//! Entry points for the cargo-fuzz targets (feature `fuzzing`).

use actix_web::{http::header, test::TestRequest};

use crate::extract::{Encodings, parse_body};

/// Parses `body` as every request DTO, in the given content type, and
/// turns each into its domain input: whatever the bytes, this must
/// return (an error is fine), never panic.
pub fn parse_every_body(content_type: &str, body: &[u8]) {
    let request = TestRequest::default()
        .insert_header((header::CONTENT_TYPE, content_type))
        .to_http_request();
    let form = Encodings::JsonOrForm;
    if let Ok(register) = parse_body::<super::auth::RegisterBody>(&request, body, form) {
        let _ = register.into_request(domain::Origin::default());
    }
    let _ = parse_body::<super::auth::LoginBody>(&request, body, form);
    let _ = parse_body::<super::auth::RefreshBody>(&request, body, form);
    let _ = parse_body::<super::auth::LogoutBody>(&request, body, form);
    if let Ok(details) = parse_body::<super::me::DetailsBody>(&request, body, form) {
        let _ = details.into_update();
    }
    let _ = parse_body::<super::me::PasswordBody>(&request, body, form);
    let catalogue = domain::ScopeCatalogue::new(&domain::Scopes::empty(), domain::Scopes::legacy())
        .expect("the built-in catalogue");
    let json = Encodings::Json;
    if let Ok(create) = parse_body::<super::admin::CreateUserBody>(&request, body, json) {
        let _ = create.into_request(&catalogue);
    }
    if let Ok(update) = parse_body::<super::admin::UpdateUserBody>(&request, body, json) {
        let _ = update.into_request(&catalogue);
    }
    if let Ok(query) = std::str::from_utf8(body) {
        let _ = super::events::parse_query(query, super::events::Filters::UserAndAction);
    }
}
