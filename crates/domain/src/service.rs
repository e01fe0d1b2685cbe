//! The use cases of the seed: register, login, current user, verify and
//! refresh.

use std::sync::Arc;

use crate::{
    AuthenticateError, Claims, Clock, CreateUserError, InfraError, LoginError, NewUser, Password,
    PasswordHash, PasswordHasher, RefreshError, RegisterError, TokenKind, TokenPair, TokenRequest,
    TokenService, User, UserRepository, Username,
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
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The authentication use cases, over the ports.
pub struct AuthService {
    users: Arc<dyn UserRepository>,
    hasher: Arc<dyn PasswordHasher>,
    tokens: Arc<dyn TokenService>,
    clock: Arc<dyn Clock>,
    dummy_hash: PasswordHash,
}

impl AuthService {
    /// `dummy_hash` must be a hash made by `hasher` at its working cost (of
    /// any password): login checks against it when the user is unknown, so
    /// that an unknown user and a wrong password take the same time.
    pub fn new(
        users: Arc<dyn UserRepository>,
        hasher: Arc<dyn PasswordHasher>,
        tokens: Arc<dyn TokenService>,
        clock: Arc<dyn Clock>,
        dummy_hash: PasswordHash,
    ) -> Self {
        Self {
            users,
            hasher,
            tokens,
            clock,
            dummy_hash,
        }
    }

    /// Creates a user.
    ///
    /// # Errors
    /// [`RegisterError::UsernameTaken`] if the name is registered, even by
    /// a registration racing this one.
    pub fn register(&self, request: RegisterRequest) -> Result<User, RegisterError> {
        // Cheap early answer that spares a hash for a taken name; the
        // repository's unique constraint still decides races.
        if self.users.find_by_username(&request.username)?.is_some() {
            return Err(RegisterError::UsernameTaken);
        }
        let password_hash = self.hasher.hash(&request.password)?;
        let new_user = NewUser {
            username: request.username,
            password_hash,
            is_active: request.is_active,
        };
        self.users.create(&new_user).map_err(|error| match error {
            CreateUserError::UsernameTaken => RegisterError::UsernameTaken,
            CreateUserError::Infra(infra) => RegisterError::Infra(infra),
        })
    }

    /// Checks credentials and issues an access and refresh token pair.
    /// Inactive users may log in, as in the original.
    ///
    /// # Errors
    /// [`LoginError::InvalidCredentials`] for an unknown user and a wrong
    /// password alike.
    pub fn login(&self, request: LoginRequest) -> Result<TokenPair, LoginError> {
        let password = Password::candidate(request.password);
        let user = match Username::parse(request.username) {
            Ok(username) => self.users.find_by_username(&username)?,
            Err(_) => None,
        };
        let is_match = match (&user, &password) {
            (Some(user), Some(password)) => self.hasher.verify(password, &user.password_hash)?,
            // Why the dummy check: answering at once for an unknown user
            // (or a password bcrypt could never have hashed) would let
            // anyone enumerate registered usernames by timing the answer.
            // Spending one hash at the same cost makes both paths alike.
            (None, Some(password)) => {
                self.hasher.verify(password, &self.dummy_hash)?;
                false
            }
            (_, None) => {
                self.hasher.verify(&dummy_password(), &self.dummy_hash)?;
                false
            }
        };
        match user {
            Some(user) if is_match => Ok(self.issue_pair(&user.username, None)?),
            _ => Err(LoginError::InvalidCredentials),
        }
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
        self.tokens
            .decode(access_token, TokenKind::Access, self.clock.now())
    }

    /// Issues a new token pair for the holder of a refresh token, in the
    /// same session family. Inactive users may refresh, as they may log in.
    ///
    /// # Errors
    /// [`RefreshError::InvalidToken`] if the token is not a valid refresh
    /// token or names a user that no longer exists.
    pub fn refresh(&self, refresh_token: &str) -> Result<TokenPair, RefreshError> {
        let claims = self
            .tokens
            .decode(refresh_token, TokenKind::Refresh, self.clock.now())
            .map_err(|_| RefreshError::InvalidToken)?;
        let user = self
            .find_subject(&claims)?
            .ok_or(RefreshError::InvalidToken)?;
        Ok(self.issue_pair(&user.username, claims.family)?)
    }

    /// The user a verified token names, if it still exists.
    fn find_subject(&self, claims: &Claims) -> Result<Option<User>, InfraError> {
        match Username::parse(claims.subject.as_str()) {
            Ok(username) => self.users.find_by_username(&username),
            Err(_) => Ok(None),
        }
    }

    fn issue_pair(
        &self,
        username: &Username,
        family: Option<String>,
    ) -> Result<TokenPair, InfraError> {
        let now = self.clock.now();
        let access = self.tokens.issue(&TokenRequest {
            kind: TokenKind::Access,
            subject: username.clone(),
            family: None,
            now,
        })?;
        let refresh = self.tokens.issue(&TokenRequest {
            kind: TokenKind::Refresh,
            subject: username.clone(),
            family,
            now,
        })?;
        Ok(TokenPair {
            access_token: access.token,
            refresh_token: refresh.token,
            expires_in: access.claims.expires_at.saturating_sub(now),
        })
    }
}

fn dummy_password() -> Password {
    Password::candidate("not-a-real-password").expect("the dummy password is hashable")
}

#[cfg(test)]
mod tests;
