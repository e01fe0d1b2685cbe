//! The API key use cases (docs/api.md §10): a user's own keys, a key as a
//! bearer credential, and introspection for resource servers.

use crate::{
    Action, ApiKey, ApiKeyError, AuthService, AuthenticateError, CreateKeyRequest, CreatedKey,
    Credential, InfraError, IntrospectedKind, Introspection, KeyDigest, NewApiKey, NewEvent,
    Origin, Ports, Scope, Scopes, User, api_key::KEY_PREFIX,
};

impl AuthService {
    /// Creates a key for the caller, with `request.scopes` (by default the
    /// caller's grants but `admin`).
    ///
    /// # Errors
    /// [`AuthenticateError::TokenRequired`] when the caller is a key;
    /// [`ApiKeyError::InvalidScope`] for no scopes or scopes the caller does
    /// not hold; the errors of [`AuthService::current_user`].
    pub fn create_api_key(
        &self,
        credential: &Credential,
        request: CreateKeyRequest,
        origin: &Origin,
    ) -> Result<CreatedKey, ApiKeyError> {
        let user = self.token_user(credential)?;
        let scopes = request
            .scopes
            .unwrap_or_else(|| user.scopes.without(&Scope::admin()));
        if scopes.is_empty() || !scopes.is_subset(&user.scopes) {
            return Err(ApiKeyError::InvalidScope);
        }
        let minted = self.ports.key_minter.mint()?;
        let now = self.ports.clock.now();
        let key = NewApiKey {
            user_id: user.id,
            name: request.name,
            prefix: minted.prefix,
            digest: minted.digest,
            scopes,
            created_at: now,
            expires_at: now.saturating_add(request.lifetime.secs()),
        };
        let event = NewEvent::by(&user.username, Action::ApiKeyCreated, origin, now);
        let key = self
            .ports
            .api_keys
            .create(&key, &event)?
            // Deleted since it was read: as for any request of a gone user.
            .ok_or(AuthenticateError::InvalidToken)?;
        Ok(CreatedKey {
            key,
            secret: minted.secret,
        })
    }

    /// The caller's keys, newest first.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    pub fn list_api_keys(&self, user: &User) -> Result<Vec<ApiKey>, InfraError> {
        self.ports.api_keys.list(user.id)
    }

    /// Revokes one of the caller's keys.
    ///
    /// # Errors
    /// [`ApiKeyError::NotFound`] for a key that is not the caller's.
    pub fn revoke_api_key(
        &self,
        user: &User,
        key_id: i64,
        origin: &Origin,
    ) -> Result<(), ApiKeyError> {
        let event = NewEvent::by(
            &user.username,
            Action::ApiKeyRevoked,
            origin,
            self.ports.clock.now(),
        );
        if self.ports.api_keys.revoke(user.id, key_id, &event)? {
            Ok(())
        } else {
            Err(ApiKeyError::NotFound)
        }
    }

    /// The user a credential names, refusing keys: for what only a user
    /// who logged in may do (create keys, change the password).
    ///
    /// # Errors
    /// [`AuthenticateError::TokenRequired`] for a live key (an unknown or
    /// expired one: those of [`AuthService::current_user`]); otherwise
    /// those of [`AuthService::current_user`].
    pub fn token_user(&self, credential: &Credential) -> Result<User, AuthenticateError> {
        if let Credential::ApiKey { digest, needed } = credential {
            // An unknown or expired key is refused as such (401) first.
            key_owner(&self.ports, digest, needed)?;
            return Err(AuthenticateError::TokenRequired);
        }
        self.current_user(credential)
    }

    /// What `token` is (RFC 7662), for a resource server: an access token
    /// this service signed, unexpired, whose user still exists and is
    /// active, or a live key of an active user; `None` for anything else.
    /// Asking does not count as a use of a key.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    pub fn introspect(&self, token: &str) -> Result<Option<Introspection>, InfraError> {
        let now = self.ports.clock.now();
        if token.starts_with(KEY_PREFIX) {
            let Some(digest) = self.ports.key_minter.digest(token) else {
                return Ok(None);
            };
            let Some((key, user)) = self.ports.api_keys.find(&digest)? else {
                return Ok(None);
            };
            return Ok((key.is_live(now) && user.is_active).then(|| Introspection {
                subject: user.username.to_string(),
                scopes: key.effective_scopes(&user.scopes),
                issued_at: key.created_at,
                expires_at: key.expires_at,
                kind: IntrospectedKind::ApiKey,
            }));
        }
        let Ok(claims) = self.verify(token) else {
            return Ok(None);
        };
        let active = self
            .find_subject(&claims)?
            .is_some_and(|user| user.is_active);
        Ok(active.then(|| Introspection {
            scopes: claims.granted(),
            subject: claims.subject,
            issued_at: claims.issued_at,
            expires_at: claims.expires_at,
            kind: IntrospectedKind::AccessToken,
        }))
    }
}

/// The bearer `token` as a credential, checked without the store: an API
/// key by its form (its checksum), an access token fully.
pub(crate) fn key_credential(
    ports: &Ports,
    token: &str,
    needed: &Scopes,
) -> Option<Result<Credential, AuthenticateError>> {
    token.starts_with(KEY_PREFIX).then(|| {
        let digest = ports
            .key_minter
            .digest(token)
            .ok_or(AuthenticateError::InvalidToken)?;
        Ok(Credential::ApiKey {
            digest,
            needed: needed.clone(),
        })
    })
}

/// The live key with `digest` and its active owner, if the key may do
/// what `needed` names; its use is recorded (at most once a minute).
///
/// # Errors
/// [`AuthenticateError::InvalidToken`] for an unknown, revoked or expired
/// key; [`AuthenticateError::InsufficientScope`] when its scopes (those its
/// owner still holds) lack one of `needed`; [`AuthenticateError::InactiveUser`]
/// when its owner is deactivated.
pub(crate) fn key_owner(
    ports: &Ports,
    digest: &KeyDigest,
    needed: &Scopes,
) -> Result<User, AuthenticateError> {
    let now = ports.clock.now();
    let (key, user) = ports
        .api_keys
        .find(digest)?
        .ok_or(AuthenticateError::InvalidToken)?;
    if !key.is_live(now) {
        return Err(AuthenticateError::InvalidToken);
    }
    if !needed.is_subset(&key.effective_scopes(&user.scopes)) {
        return Err(AuthenticateError::InsufficientScope {
            needed: needed.clone(),
        });
    }
    if !user.is_active {
        return Err(AuthenticateError::InactiveUser);
    }
    if key.use_is_due(now) {
        ports.api_keys.touch(key.id, now)?;
    }
    Ok(user)
}
