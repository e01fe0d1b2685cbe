//! API keys (docs/api.md §10): a key as a bearer, creating, listing and
//! revoking keys, and introspection.

use secrecy::{ExposeSecret, SecretString};

use super::*;
use crate::{
    ApiKey, ApiKeyError, CreateKeyRequest, Credential, IntrospectedKind, KeyDigest, KeyLifetime,
    KeyName, MintedKey,
};

const KEY: &str = "zk_well-formed";
const KEY_ID: i64 = 31;

fn digest() -> KeyDigest {
    KeyDigest::new("digest-of-the-key".into())
}

/// A key of user 7 with `scopes`, expiring at `expires_at`.
fn key(scopes_: &str, expires_at: u64, last_used_at: Option<u64>) -> ApiKey {
    ApiKey {
        id: KEY_ID,
        user_id: 7,
        name: KeyName::parse("ci").unwrap(),
        prefix: "abcdefgh".into(),
        scopes: scopes(scopes_),
        created_at: NOW - 500,
        expires_at,
        last_used_at,
    }
}

impl Mocks {
    /// `KEY` has the right form; every other `zk_` text does not.
    fn key_form_checks(&mut self) {
        self.minter
            .expect_digest()
            .returning(|presented| (presented == KEY).then(digest));
    }

    fn key_is_stored(&mut self, key: ApiKey, owner: User) {
        self.api_keys
            .expect_find()
            .with(eq(digest()))
            .returning(move |_| Ok(Some((key.clone(), owner.clone()))));
    }

    fn key_use_is_recorded(&mut self) {
        self.api_keys
            .expect_touch()
            .with(eq(KEY_ID), eq(NOW))
            .times(1)
            .returning(|_, _| Ok(()));
    }
}

/// What a `me` route does with a bearer: the credential, then its user.
fn me(service: &AuthService, bearer: &str) -> Result<User, AuthenticateError> {
    let credential = service.credential(bearer, &scopes("me"))?;
    service.current_user(&credential)
}

#[test]
fn a_live_key_yields_its_owner_and_its_use_is_recorded() {
    let mut ports = Mocks::default();
    ports.key_form_checks();
    ports.key_is_stored(key("me", NOW + 100, None), user("agent47", true));
    ports.key_use_is_recorded();

    let owner = me(&ports.service(), KEY).unwrap();
    assert_eq!(owner.username.as_ref(), "agent47");
}

#[test]
fn a_key_used_within_the_minute_writes_nothing() {
    let mut ports = Mocks::default();
    ports.key_form_checks();
    ports.key_is_stored(key("me", NOW + 100, Some(NOW - 59)), user("a47", true));
    // No `touch` expectation: a write would fail the test.

    assert!(me(&ports.service(), KEY).is_ok());
}

#[test]
fn a_key_of_the_wrong_form_is_refused_without_a_store_read() {
    let mut ports = Mocks::default();
    ports.key_form_checks();
    // No `find` expectation, and no token decode: `zk_` is never a JWT.

    let result = me(&ports.service(), "zk_typo");
    assert!(matches!(result, Err(AuthenticateError::InvalidToken)));
}

#[test]
fn an_unknown_or_expired_key_cannot_authenticate() {
    let mut unknown = Mocks::default();
    unknown.key_form_checks();
    unknown.api_keys.expect_find().returning(|_| Ok(None));
    let result = me(&unknown.service(), KEY);
    assert!(matches!(result, Err(AuthenticateError::InvalidToken)));

    let mut expired = Mocks::default();
    expired.key_form_checks();
    expired.key_is_stored(key("me", NOW, None), user("agent47", true));
    let result = me(&expired.service(), KEY);
    assert!(matches!(result, Err(AuthenticateError::InvalidToken)));
}

#[test]
fn a_key_may_use_only_its_scopes_that_its_owner_still_holds() {
    // Given `me`, but the owner's `me` grant was withdrawn since.
    let mut ports = Mocks::default();
    ports.key_form_checks();
    ports.key_is_stored(
        key("items:read me", NOW + 100, None),
        user_granted("agent47", true, "items:read"),
    );

    let result = me(&ports.service(), KEY);
    assert!(
        matches!(result, Err(AuthenticateError::InsufficientScope { ref needed }) if *needed == scopes("me"))
    );
}

#[test]
fn a_key_of_a_deactivated_user_stops_working() {
    let mut ports = Mocks::default();
    ports.key_form_checks();
    ports.key_is_stored(key("me", NOW + 100, None), user("agent47", false));

    let result = me(&ports.service(), KEY);
    assert!(matches!(result, Err(AuthenticateError::InactiveUser)));
}

fn request(scopes_: Option<&str>) -> CreateKeyRequest {
    CreateKeyRequest {
        name: KeyName::parse("deploy").unwrap(),
        scopes: scopes_.map(scopes),
        lifetime: KeyLifetime::DEFAULT,
    }
}

fn minted() -> MintedKey {
    MintedKey {
        secret: SecretString::from("zk_secret"),
        prefix: "secretpr".into(),
        digest: digest(),
    }
}

#[test]
fn a_new_key_holds_the_callers_grants_but_admin_by_default() {
    let mut ports = Mocks::default();
    let caller = user_granted("root", true, "admin items:read me");
    ports.user_exists(caller);
    ports.token_decodes("tok", Ok(access_claims("root", "me")));
    ports
        .minter
        .expect_mint()
        .times(1)
        .returning(|| Ok(minted()));
    ports
        .api_keys
        .expect_create()
        .withf(|new, event| {
            new.user_id == 7
                && new.scopes == scopes("items:read me")
                && new.prefix == "secretpr"
                && new.digest == digest()
                && new.created_at == NOW
                && new.expires_at == NOW + 90 * 86_400
                && event.action == Action::ApiKeyCreated
                && event.subject.as_ref().map(AsRef::as_ref) == Some("root")
        })
        .times(1)
        .returning(|new, _| {
            Ok(Some(ApiKey {
                id: KEY_ID,
                user_id: new.user_id,
                name: new.name.clone(),
                prefix: new.prefix.clone(),
                scopes: new.scopes.clone(),
                created_at: new.created_at,
                expires_at: new.expires_at,
                last_used_at: None,
            }))
        });

    let service = ports.service();
    let credential = service.credential("tok", &scopes("me")).unwrap();
    let created = service
        .create_api_key(&credential, request(None), &origin())
        .unwrap();
    assert_eq!(created.secret.expose_secret(), "zk_secret");
    assert_eq!(created.key.id, KEY_ID);
}

#[test]
fn a_key_cannot_make_keys_and_an_unknown_one_is_refused_as_unknown() {
    let credential = Credential::ApiKey {
        digest: digest(),
        needed: scopes("me"),
    };
    let mut live = Mocks::default();
    live.key_is_stored(key("me", NOW + 100, Some(NOW)), user("agent47", true));
    // No `mint`, no `create`.
    let result = live
        .service()
        .create_api_key(&credential, request(None), &origin());
    assert!(matches!(
        result,
        Err(ApiKeyError::Authenticate(AuthenticateError::TokenRequired))
    ));

    let mut unknown = Mocks::default();
    unknown.api_keys.expect_find().returning(|_| Ok(None));
    let result = unknown
        .service()
        .create_api_key(&credential, request(None), &origin());
    assert!(matches!(
        result,
        Err(ApiKeyError::Authenticate(AuthenticateError::InvalidToken))
    ));
}

#[test]
fn a_key_with_scopes_the_caller_does_not_hold_or_none_is_refused() {
    for asked in ["items:read", ""] {
        let mut ports = Mocks::default();
        ports.user_exists(user("agent47", true));
        ports.token_decodes("tok", Ok(access_claims("agent47", "me")));
        // No `mint`, no `create`.
        let service = ports.service();
        let credential = service.credential("tok", &scopes("me")).unwrap();
        let result = service.create_api_key(&credential, request(Some(asked)), &origin());
        assert!(
            matches!(result, Err(ApiKeyError::InvalidScope)),
            "{asked:?}"
        );
    }
}

#[test]
fn only_ones_own_keys_can_be_revoked() {
    let mut ports = Mocks::default();
    ports
        .api_keys
        .expect_revoke()
        .withf(|user_id, key_id, event| {
            *user_id == 7 && *key_id == KEY_ID && event.action == Action::ApiKeyRevoked
        })
        .returning(|_, _, _| Ok(false));

    let result = ports
        .service()
        .revoke_api_key(&user("agent47", true), KEY_ID, &origin());
    assert!(matches!(result, Err(ApiKeyError::NotFound)));
}

#[test]
fn introspection_tells_a_live_key_with_the_scopes_it_may_use() {
    let mut ports = Mocks::default();
    ports.key_form_checks();
    ports.key_is_stored(
        key("items:read me", NOW + 100, None),
        user_granted("agent47", true, "me"),
    );
    // No `touch`: being asked about is no use of the key.

    let answer = ports.service().introspect(KEY).unwrap().unwrap();
    assert_eq!(answer.subject, "agent47");
    assert_eq!(answer.scopes, scopes("me"));
    assert_eq!(answer.kind, IntrospectedKind::ApiKey);
    assert_eq!(
        (answer.issued_at, answer.expires_at),
        (NOW - 500, NOW + 100)
    );
}

#[test]
fn introspection_calls_inactive_what_would_be_refused() {
    let mut inactive_owner = Mocks::default();
    inactive_owner.key_form_checks();
    inactive_owner.key_is_stored(key("me", NOW + 100, None), user("agent47", false));
    assert_eq!(inactive_owner.service().introspect(KEY).unwrap(), None);

    let mut malformed = Mocks::default();
    malformed.key_form_checks();
    assert_eq!(malformed.service().introspect("zk_typo").unwrap(), None);

    let mut deleted = Mocks::default();
    deleted.token_decodes("tok", Ok(access_claims("ghost", "me")));
    deleted.user_missing("ghost");
    assert_eq!(deleted.service().introspect("tok").unwrap(), None);

    let mut forged = Mocks::default();
    forged.token_decodes("tok", Err(TokenError::Invalid));
    assert_eq!(forged.service().introspect("tok").unwrap(), None);
}

#[test]
fn introspection_tells_an_access_token_of_an_active_user() {
    let mut ports = Mocks::default();
    ports.token_decodes("tok", Ok(access_claims("agent47", "items:read me")));
    ports.user_exists(user("agent47", true));

    let answer = ports.service().introspect("tok").unwrap().unwrap();
    assert_eq!(answer.subject, "agent47");
    assert_eq!(answer.scopes, scopes("items:read me"));
    assert_eq!(answer.kind, IntrospectedKind::AccessToken);
}
