//! The use cases: register, login, current user, verify and refresh (the
//! seed's), then logout, details and password changes.

use std::sync::Arc;

use crate::{
    AuthenticateError, ChangePasswordError, Claims, Clock, CreateUserError, DetailsUpdate,
    InfraError, LoginError, LoginFailureRepository, LoginLimits, NewSession, NewUser, Password,
    PasswordHash, PasswordHasher, RefreshError, RegisterError, Rotation, SessionRepository,
    ThrottleKey, TokenKind, TokenPair, TokenRequest, TokenService, UpdateDetailsError, User,
    UserRepository, Username, throttle,
};

/// Input of [`AuthService::register`], already parsed at the boundary.
#[derive(Debug, Clone)]
pub struct RegisterRequest {
    pub username: Username,
    pub password: Password,
    pub is_active: bool,
}

/// Input of [`AuthService::login`]: raw strings, because a login with a
/// name or password that could never have been registered must fail like
/// any other wrong credentials, not with a validation error.
#[derive(Clone)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// The client's network address, for the per-address failure limit.
    pub client_address: Option<String>,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("client_address", &self.client_address)
            .finish_non_exhaustive()
    }
}

/// Input of [`AuthService::change_password`].
#[derive(Debug, Clone)]
pub struct ChangePasswordRequest {
    /// As typed: checked against the stored hash, not against the policy.
    pub current_password: String,
    pub new_password: Password,
}

/// Everything the use cases need from outside.
#[derive(Clone)]
pub struct Ports {
    pub users: Arc<dyn UserRepository>,
    pub sessions: Arc<dyn SessionRepository>,
    pub login_failures: Arc<dyn LoginFailureRepository>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub tokens: Arc<dyn TokenService>,
    pub clock: Arc<dyn Clock>,
}

/// The service's rules that come from configuration.
#[derive(Debug, Clone)]
pub struct AuthPolicy {
    /// A hash made by the hasher at its working cost (of any password):
    /// login checks against it when the user is unknown, so that an unknown
    /// user and a wrong password take the same time.
    pub dummy_hash: PasswordHash,
    pub login_limits: LoginLimits,
}

/// The authentication use cases, over the ports.
pub struct AuthService {
    ports: Ports,
    policy: AuthPolicy,
}

impl AuthService {
    pub fn new(ports: Ports, policy: AuthPolicy) -> Self {
        Self { ports, policy }
    }

    /// Creates a user.
    ///
    /// # Errors
    /// [`RegisterError::UsernameTaken`] if the name is registered, even by
    /// a registration racing this one.
    pub fn register(&self, request: RegisterRequest) -> Result<User, RegisterError> {
        // Cheap early answer that spares a hash for a taken name; the
        // repository's unique constraint still decides races.
        if self
            .ports
            .users
            .find_by_username(&request.username)?
            .is_some()
        {
            return Err(RegisterError::UsernameTaken);
        }
        let password_hash = self.ports.hasher.hash(&request.password)?;
        let new_user = NewUser {
            username: request.username,
            password_hash,
            is_active: request.is_active,
        };
        self.ports
            .users
            .create(&new_user)
            .map_err(|error| match error {
                CreateUserError::UsernameTaken => RegisterError::UsernameTaken,
                CreateUserError::Infra(infra) => RegisterError::Infra(infra),
            })
    }

    /// Checks credentials and issues an access and refresh token pair that
    /// starts a new session. Inactive users may log in, as in the original.
    ///
    /// # Errors
    /// [`LoginError::TooManyAttempts`] while the username or the client
    /// address is over its failure limit (checked before the password, so
    /// even the right one is refused); [`LoginError::InvalidCredentials`]
    /// for an unknown user and a wrong password alike.
    pub fn login(&self, request: LoginRequest) -> Result<TokenPair, LoginError> {
        let now = self.ports.clock.now();
        let username_key = ThrottleKey::Username(request.username.clone()).storage_key();
        let address_key = request
            .client_address
            .map(|address| ThrottleKey::Address(address).storage_key());
        self.check_login_limits(&username_key, address_key.as_deref(), now)?;

        let password = Password::candidate(request.password);
        let user = match Username::parse(request.username) {
            Ok(username) => self.ports.users.find_by_username(&username)?,
            Err(_) => None,
        };
        let is_match = match (&user, &password) {
            (Some(user), Some(password)) => {
                self.ports.hasher.verify(password, &user.password_hash)?
            }
            // Why the dummy check: answering at once for an unknown user
            // (or a password bcrypt could never have hashed) would let
            // anyone enumerate registered usernames by timing the answer.
            // Spending one hash at the same cost makes both paths alike.
            (None, Some(password)) => {
                self.ports
                    .hasher
                    .verify(password, &self.policy.dummy_hash)?;
                false
            }
            (_, None) => {
                self.ports
                    .hasher
                    .verify(&dummy_password(), &self.policy.dummy_hash)?;
                false
            }
        };
        match user {
            Some(user) if is_match => {
                self.ports.login_failures.clear(&username_key)?;
                Ok(self.start_session(&user, now)?)
            }
            _ => {
                let keys: Vec<String> = std::iter::once(username_key).chain(address_key).collect();
                let forget_before = now.saturating_sub(self.policy.login_limits.window_secs);
                self.ports
                    .login_failures
                    .record(&keys, now, forget_before)?;
                Err(LoginError::InvalidCredentials)
            }
        }
    }

    fn check_login_limits(
        &self,
        username_key: &str,
        address_key: Option<&str>,
        now: u64,
    ) -> Result<(), LoginError> {
        let limits = self.policy.login_limits;
        let since = now.saturating_sub(limits.window_secs);
        let checks = std::iter::once((username_key, limits.max_failures))
            .chain(address_key.map(|key| (key, limits.max_failures_per_address)));
        let mut wait = None;
        for (key, max) in checks {
            let failures = self.ports.login_failures.recent(key, since)?;
            wait = wait.max(throttle::retry_after(
                &failures,
                max,
                limits.window_secs,
                now,
            ));
        }
        match wait {
            Some(retry_after_secs) => Err(LoginError::TooManyAttempts { retry_after_secs }),
            None => Ok(()),
        }
    }

    /// Issues a token pair of a new family and records the session.
    fn start_session(&self, user: &User, now: u64) -> Result<TokenPair, InfraError> {
        let (pair, refresh) = self.issue_pair(&user.username, None, now)?;
        self.ports.sessions.create(&NewSession {
            family: refresh.family.clone().unwrap_or_default(),
            user_id: user.id,
            current_token_id: refresh.id,
            created_at: now,
            expires_at: refresh.expires_at,
        })?;
        Ok(pair)
    }

    /// The user an access token names.
    ///
    /// # Errors
    /// [`AuthenticateError::InvalidToken`] if the token is not a valid
    /// access token or names no user; [`AuthenticateError::InactiveUser`]
    /// if the user is deactivated.
    pub fn current_user(&self, access_token: &str) -> Result<User, AuthenticateError> {
        let claims = self
            .verify(access_token)
            .map_err(|_| AuthenticateError::InvalidToken)?;
        let user = self
            .find_subject(&claims)?
            .ok_or(AuthenticateError::InvalidToken)?;
        if !user.is_active {
            return Err(AuthenticateError::InactiveUser);
        }
        Ok(user)
    }

    /// Checks an access token without touching the store.
    ///
    /// # Errors
    /// [`crate::TokenError`] if it is not a valid, unexpired access token.
    pub fn verify(&self, access_token: &str) -> Result<Claims, crate::TokenError> {
        self.ports
            .tokens
            .decode(access_token, TokenKind::Access, self.ports.clock.now())
    }

    /// Rotates a refresh token: a new pair in the same session family, the
    /// presented refresh token retired. Inactive users may refresh, as they
    /// may log in.
    ///
    /// A refresh token that was already rotated is a replay (by a thief, or
    /// by the owner after a theft): the whole family is revoked, so both
    /// lose the session.
    ///
    /// # Errors
    /// [`RefreshError::InvalidToken`] if the token is not a valid refresh
    /// token, names a user that no longer exists, or its session is
    /// revoked, expired or already past this token.
    pub fn refresh(&self, refresh_token: &str) -> Result<TokenPair, RefreshError> {
        let now = self.ports.clock.now();
        let claims = self
            .ports
            .tokens
            .decode(refresh_token, TokenKind::Refresh, now)
            .map_err(|_| RefreshError::InvalidToken)?;
        let family = claims.family.clone().ok_or(RefreshError::InvalidToken)?;
        let user = self
            .find_subject(&claims)?
            .ok_or(RefreshError::InvalidToken)?;
        let (pair, next) = self.issue_pair(&user.username, Some(family.clone()), now)?;
        let rotated = self.ports.sessions.rotate(&Rotation {
            family: family.clone(),
            current_token_id: claims.id,
            next_token_id: next.id,
            expires_at: next.expires_at,
            now,
        })?;
        if !rotated {
            self.ports.sessions.revoke_family(&family)?;
            return Err(RefreshError::InvalidToken);
        }
        Ok(pair)
    }

    /// Ends the session a refresh token belongs to, and no other. Anything
    /// that is not a refresh token of ours is ignored: logout reveals
    /// nothing about the token.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    pub fn logout(&self, refresh_token: &str) -> Result<(), InfraError> {
        // An expired token still names its family: end it too.
        let claims = self
            .ports
            .tokens
            .decode(refresh_token, TokenKind::Refresh, 0);
        match claims {
            Ok(Claims {
                family: Some(family),
                ..
            }) => self.ports.sessions.revoke_family(&family),
            _ => Ok(()),
        }
    }

    /// Ends every session of `user`.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    pub fn logout_all(&self, user: &User) -> Result<(), InfraError> {
        self.ports.sessions.revoke_all_for_user(user.id)
    }

    /// Changes `user`'s email, phone or full name.
    ///
    /// # Errors
    /// [`UpdateDetailsError::EmailTaken`] / [`UpdateDetailsError::PhoneTaken`]
    /// if another user has it.
    pub fn update_details(
        &self,
        user: &User,
        update: &DetailsUpdate,
    ) -> Result<User, UpdateDetailsError> {
        self.ports.users.update_details(user.id, update)
    }

    /// Replaces `user`'s password after checking the current one, and ends
    /// every session: whoever knew the old password loses their refresh
    /// tokens.
    ///
    /// # Errors
    /// [`ChangePasswordError::IncorrectPassword`] if `current_password` is
    /// not the user's.
    pub fn change_password(
        &self,
        user: &User,
        request: ChangePasswordRequest,
    ) -> Result<(), ChangePasswordError> {
        let is_match = match Password::candidate(request.current_password) {
            Some(current) => self.ports.hasher.verify(&current, &user.password_hash)?,
            None => false,
        };
        if !is_match {
            return Err(ChangePasswordError::IncorrectPassword);
        }
        let hash = self.ports.hasher.hash(&request.new_password)?;
        // Sessions first: the two writes are not one transaction, and a
        // failure between them must not leave the old sessions alive with
        // the new password. The other way round, the worst case is a user
        // logged out with the old password still in place.
        self.ports.sessions.revoke_all_for_user(user.id)?;
        self.ports.users.update_password(user.id, &hash)?;
        Ok(())
    }

    /// The user a verified token names, if it still exists.
    fn find_subject(&self, claims: &Claims) -> Result<Option<User>, InfraError> {
        match Username::parse(claims.subject.as_str()) {
            Ok(username) => self.ports.users.find_by_username(&username),
            Err(_) => Ok(None),
        }
    }

    /// Signs an access and a refresh token; returns the pair and the
    /// refresh token's claims.
    fn issue_pair(
        &self,
        username: &Username,
        family: Option<String>,
        now: u64,
    ) -> Result<(TokenPair, Claims), InfraError> {
        let access = self.ports.tokens.issue(&TokenRequest {
            kind: TokenKind::Access,
            subject: username.clone(),
            family: None,
            now,
        })?;
        let refresh = self.ports.tokens.issue(&TokenRequest {
            kind: TokenKind::Refresh,
            subject: username.clone(),
            family,
            now,
        })?;
        let pair = TokenPair {
            access_token: access.token,
            refresh_token: refresh.token,
            expires_in: access.claims.expires_at.saturating_sub(now),
        };
        Ok((pair, refresh.claims))
    }
}

fn dummy_password() -> Password {
    Password::candidate("not-a-real-password").expect("the dummy password is hashable")
}

#[cfg(test)]
mod tests;
