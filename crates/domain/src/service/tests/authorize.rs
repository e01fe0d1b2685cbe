//! A resource server's check of a token's scopes (docs/api.md §9).
use super::*;

#[test]
fn a_token_with_every_needed_scope_is_authorized_without_the_store() {
    let mut ports = Mocks::default();
    ports.token_decodes("at", Ok(access_claims("agent47", "items:read me")));
    // No user repository expectation: authorize never reads the store.
    let claims = ports
        .service()
        .authorize("at", &scopes("me items:read"))
        .unwrap();
    assert_eq!(claims.subject, "agent47");
}

#[test]
fn a_token_lacking_a_needed_scope_is_insufficient_and_names_what_is_needed() {
    let mut ports = Mocks::default();
    ports.token_decodes("at", Ok(access_claims("agent47", "items:read")));
    match ports.service().authorize("at", &scopes("me")) {
        Err(AuthenticateError::InsufficientScope { needed }) => {
            assert_eq!(needed, scopes("me"));
        }
        other => panic!("expected InsufficientScope, got {other:?}"),
    }
}

#[test]
fn a_token_without_a_scope_claim_counts_as_me() {
    let mut ports = Mocks::default();
    ports.token_decodes("old", Ok(claims(TokenKind::Access, "agent47", None)));
    let service = ports.service();
    assert!(service.authorize("old", &scopes("me")).is_ok());
    assert!(matches!(
        service.authorize("old", &scopes("items:read")),
        Err(AuthenticateError::InsufficientScope { .. })
    ));
}

#[test]
fn an_invalid_token_is_invalid_before_any_scope_is_looked_at() {
    let mut ports = Mocks::default();
    ports.token_decodes("bad", Err(TokenError::Invalid));
    assert!(matches!(
        ports.service().authorize("bad", &Scopes::empty()),
        Err(AuthenticateError::InvalidToken)
    ));
}
