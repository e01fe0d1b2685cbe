//! The use cases: register, login, current user, verify and refresh (the
//! seed's), then logout, details and password changes.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::{
    Attempt, AttemptLimit, AuthenticateError, ChangePasswordError, Claims, Clock, CreateUserError,
    DetailsUpdate, HashStrength, InfraError, LoginError, LoginFailureRepository, LoginLimits,
    NewSession, NewUser, Password, PasswordHash, PasswordHasher, Places, RefreshError,
    RegisterError, Reservation, Rotation, SessionRepository, ThrottleKey, TokenKind, TokenPair,
    TokenRequest, TokenService, UnixSeconds, UpdateDetailsError, User, UserRepository, Username,
    text,
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
/// any other wrong credentials, not with a validation error. `Debug` never
/// shows the password (`secrecy`).
#[derive(Debug, Clone)]
pub struct LoginRequest {
    pub username: String,
    pub password: SecretString,
    /// The client's network address, for the per-address failure limit.
    pub client_address: Option<String>,
}

/// Input of [`AuthService::change_password`]. `Debug` never shows either
/// password (`secrecy`).
#[derive(Debug, Clone)]
pub struct ChangePasswordRequest {
    /// As typed: checked against the stored hash, not against the policy.
    pub current_password: SecretString,
    pub new_password: Password,
    /// The client's network address, for the per-address failure limit.
    pub client_address: Option<String>,
}

/// An attempt at a password admitted past the failure limits (docs/api.md §8):
/// it holds its places in the counts until [`AuthService::login`] or
/// [`AuthService::change_password`] settles it.
#[must_use = "an admitted attempt holds places in the failure counts"]
#[derive(Debug)]
pub struct Admitted<R> {
    request: R,
    places: Places,
    username_key: String,
    now: UnixSeconds,
}

impl<R> Admitted<R> {
    /// The places it holds, to give back with [`AuthService::abandon`] if
    /// it never runs.
    #[must_use]
    pub fn places(&self) -> &Places {
        &self.places
    }
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

    /// Admits a login attempt past the failure limits (docs/api.md §8): it
    /// takes its place in the counts of its username and client address,
    /// atomically in the store, before any password is checked. Database
    /// work only, so that a storm of refused guesses never queues behind
    /// password hashing; [`Self::login`] then checks it.
    ///
    /// # Errors
    /// [`LoginError::TooManyAttempts`] while the username or the client
    /// address is at its limit (even the right password is refused then);
    /// [`LoginError::InvalidCredentials`] for a username no user can have.
    pub fn admit_login(&self, request: LoginRequest) -> Result<Admitted<LoginRequest>, LoginError> {
        // Text no user can have names no user, and must not reach the store
        // even as a failure count (docs/api.md §8).
        if !text::is_storable(&request.username) {
            return Err(LoginError::InvalidCredentials);
        }
        let (username, address) = (request.username.clone(), request.client_address.clone());
        self.admit(&username, address, request)?
            .map_err(|retry_after_secs| LoginError::TooManyAttempts { retry_after_secs })
    }

    /// Checks an admitted login's credentials and issues an access and
    /// refresh token pair that starts a new session, stored only while the
    /// password it checked is still the user's. Inactive users may log in,
    /// as in the original.
    ///
    /// # Errors
    /// [`LoginError::InvalidCredentials`] for an unknown user and a wrong
    /// password alike.
    pub fn login(&self, attempt: Admitted<LoginRequest>) -> Result<TokenPair, LoginError> {
        let now = attempt.now;
        self.settle(attempt, |request| {
            let user = match Username::parse(request.username.as_str()) {
                Ok(username) => self.ports.users.find_by_username(&username)?,
                Err(_) => None,
            };
            let password = request.password;
            let (Some(user), Some(password)) =
                (user, Password::candidate(password.expose_secret()))
            else {
                // Why the dummy check: answering at once for an unknown user
                // (or a password bcrypt could never have hashed) would let
                // anyone enumerate registered usernames by timing the answer.
                // Spending one hash at the same cost makes both paths alike.
                let password = Password::candidate(password).unwrap_or_else(dummy_password);
                self.ports
                    .hasher
                    .verify(&password, &self.policy.dummy_hash)?;
                return Ok(None);
            };
            if !self.verify_stored(&password, &user)? {
                return Ok(None);
            }
            self.rehash_if_needed(&password, &user)?;
            self.start_session(&user, now)
        })?
        .ok_or(LoginError::InvalidCredentials)
    }

    /// Gives back the places of an admitted attempt that never ran (its
    /// lane refused it), so that a check that never happened does not
    /// count as a failure. Places already given back are no matter.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    pub fn abandon(&self, places: &Places) -> Result<(), InfraError> {
        self.ports.login_failures.release(places)
    }

    /// Reserves a place for an attempt at `username`'s password from
    /// `client_address`: the attempt admitted, or the seconds to wait.
    fn admit<R>(
        &self,
        username: &str,
        client_address: Option<String>,
        request: R,
    ) -> Result<Result<Admitted<R>, u64>, InfraError> {
        let limits = self.policy.login_limits;
        let now = self.ports.clock.now();
        let username_key = ThrottleKey::Username(username.to_owned()).storage_key();
        let address_limit = client_address.map(|address| AttemptLimit {
            key: ThrottleKey::Address(address).storage_key(),
            max: limits.max_failures_per_address,
        });
        let attempt = Attempt {
            limits: std::iter::once(AttemptLimit {
                key: username_key.clone(),
                max: limits.max_failures,
            })
            .chain(address_limit)
            .collect(),
            now,
            window_secs: limits.window_secs,
        };
        Ok(match self.ports.login_failures.reserve(&attempt)? {
            Reservation::Admitted(places) => Ok(Admitted {
                request,
                places,
                username_key,
                now,
            }),
            Reservation::Refused { retry_after_secs } => Err(retry_after_secs),
        })
    }

    /// Runs `check`, the password check of an admitted attempt, and settles
    /// its places: `Ok(Some)` is a success (places given back, the
    /// username's count cleared); `Ok(None)` a failure (the places stay);
    /// an error gives the places back, since no verdict was reached.
    fn settle<R, T>(
        &self,
        attempt: Admitted<R>,
        check: impl FnOnce(R) -> Result<Option<T>, InfraError>,
    ) -> Result<Option<T>, InfraError> {
        let Admitted {
            request,
            places,
            username_key,
            ..
        } = attempt;
        match check(request) {
            Ok(Some(value)) => {
                self.ports.login_failures.release(&places)?;
                self.ports.login_failures.clear(&username_key)?;
                Ok(Some(value))
            }
            Ok(None) => Ok(None),
            Err(error) => {
                // Best effort: the check's own error is the one to report.
                let _ = self.ports.login_failures.release(&places);
                Err(error)
            }
        }
    }

    /// Checks `password` against `user`'s stored hash. A hash cheaper than
    /// the configured cost (stored before `AUTH__ROUNDS` was raised) would
    /// answer a wrong password faster than an unknown user's dummy check:
    /// the difference is spent on the dummy hash, so timing tells nothing.
    fn verify_stored(&self, password: &Password, user: &User) -> Result<bool, InfraError> {
        let hasher = &self.ports.hasher;
        let is_match = hasher.verify(password, &user.password_hash)?;
        if !is_match && hasher.strength(&user.password_hash) == HashStrength::Weaker {
            hasher.verify(password, &self.policy.dummy_hash)?;
        }
        Ok(is_match)
    }

    /// After a successful check, stores a hash at the configured cost if
    /// the stored one was made at another. Losing to a concurrent password
    /// change is fine: the session is then refused anyway.
    fn rehash_if_needed(&self, password: &Password, user: &User) -> Result<(), InfraError> {
        if self.ports.hasher.strength(&user.password_hash) == HashStrength::Current {
            return Ok(());
        }
        let hash = self.ports.hasher.hash(password)?;
        self.ports
            .users
            .rehash_password(user.id, user.credential_version, &hash)?;
        Ok(())
    }

    /// Issues a token pair of a new family and records the session, unless
    /// the user's credential is no longer the one verified (`None`).
    fn start_session(&self, user: &User, now: u64) -> Result<Option<TokenPair>, InfraError> {
        let (pair, refresh) = self.issue_pair(&user.username, None, now)?;
        let started = self.ports.sessions.create(&NewSession {
            family: refresh.family.clone().unwrap_or_default(),
            user_id: user.id,
            credential_version: user.credential_version,
            current_token_id: refresh.id,
            created_at: now,
            expires_at: refresh.expires_at,
        })?;
        Ok(started.then_some(pair))
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
        // The family must be the subject's: a token re-signed with another
        // user's `sub` (a leaked refresh key) neither rotates nor revokes
        // the real owner's session (docs/api.md §8).
        let rotated = self.ports.sessions.rotate(&Rotation {
            family: family.clone(),
            user_id: user.id,
            current_token_id: claims.id,
            next_token_id: next.id,
            expires_at: next.expires_at,
            now,
        })?;
        if !rotated {
            self.ports.sessions.revoke_family(&family, user.id)?;
            return Err(RefreshError::InvalidToken);
        }
        Ok(pair)
    }

    /// Ends the session a refresh token belongs to, and no other: only if
    /// the session is the token subject's. Anything that is not a refresh
    /// token of ours is ignored: logout reveals nothing about the token.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    pub fn logout(&self, refresh_token: &str) -> Result<(), InfraError> {
        // An expired token still names its family: end it too.
        let claims = self
            .ports
            .tokens
            .decode(refresh_token, TokenKind::Refresh, 0);
        let Ok(claims) = claims else {
            return Ok(());
        };
        match (&claims.family, self.find_subject(&claims)?) {
            (Some(family), Some(owner)) => self.ports.sessions.revoke_family(family, owner.id),
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

    /// Admits `user`'s password change past the failure limits: the check
    /// of the current password counts as a login attempt of the user's
    /// name, under the same limits (docs/api.md §8). Database work only, like
    /// [`Self::admit_login`].
    ///
    /// # Errors
    /// [`ChangePasswordError::TooManyAttempts`] at the limit, before any
    /// check.
    pub fn admit_password_change(
        &self,
        user: User,
        request: ChangePasswordRequest,
    ) -> Result<Admitted<(User, ChangePasswordRequest)>, ChangePasswordError> {
        let (username, address) = (user.username.to_string(), request.client_address.clone());
        self.admit(&username, address, (user, request))?
            .map_err(|retry_after_secs| ChangePasswordError::TooManyAttempts { retry_after_secs })
    }

    /// Replaces the user's password after checking the current one, and
    /// ends every session in the same transaction: whoever knew the old
    /// password loses their refresh tokens.
    ///
    /// # Errors
    /// [`ChangePasswordError::IncorrectPassword`] if `current_password` is
    /// not (or, after a concurrent change, no longer) the user's.
    pub fn change_password(
        &self,
        attempt: Admitted<(User, ChangePasswordRequest)>,
    ) -> Result<(), ChangePasswordError> {
        self.settle(attempt, |(user, request)| {
            let Some(current) = Password::candidate(request.current_password) else {
                return Ok(None);
            };
            if !self.verify_stored(&current, &user)? {
                return Ok(None);
            }
            let hash = self.ports.hasher.hash(&request.new_password)?;
            let changed =
                self.ports
                    .users
                    .change_password(user.id, user.credential_version, &hash)?;
            Ok(changed.then_some(()))
        })?
        .ok_or(ChangePasswordError::IncorrectPassword)
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
            access_token: access.token.into(),
            refresh_token: refresh.token.into(),
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
mod upkeep;

pub use upkeep::Pruned;
