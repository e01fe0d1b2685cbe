//! The use cases: register, login, current user, verify and refresh (the
//! seed's), then logout, details and password changes, scopes (docs/api.md
//! §9) and one's own audit trail. The administrators' use cases are in
//! [`crate::admin`].

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::{
    AccessGrant, Action, ApiKeyMinter, ApiKeyRepository, Attempt, AttemptLimit, AuditRepository,
    AuthenticateError, ChangePasswordError, Claims, Clock, CreateUserError, Credential,
    DetailsUpdate, Device, Event, EventQuery, HashStrength, InfraError, InvalidScope, IssuedPair,
    LoginError, LoginFailureRepository, LoginLimits, NewEvent, NewSession, NewUser, Origin,
    Password, PasswordHash, PasswordHasher, Places, RefreshError, RegisterError, Reservation,
    ReuseGrace, Rotation, RotationOutcome, Scope, ScopeCatalogue, Scopes, SessionRepository,
    ThrottleKey, TokenKind, TokenPair, TokenRequest, TokenService, UnixSeconds, UpdateDetailsError,
    User, UserDetails, UserRepository, Username, scope, text,
};

/// Input of [`AuthService::register`], already parsed at the boundary.
#[derive(Debug, Clone)]
pub struct RegisterRequest {
    pub username: Username,
    pub password: Password,
    pub is_active: bool,
    pub origin: Origin,
}

/// Input of [`AuthService::login`]: raw strings, because a login with a
/// name or password that could never have been registered must fail like
/// any other wrong credentials, not with a validation error. `Debug` never
/// shows the password (`secrecy`).
#[derive(Debug, Clone)]
pub struct LoginRequest {
    pub username: String,
    pub password: SecretString,
    /// The scopes asked for, space-separated (`None`: not sent).
    pub scope: Option<String>,
    /// Where the request came from; its client address is also the key of
    /// the per-address failure limit.
    pub origin: Origin,
}

/// Input of [`AuthService::change_password`]. `Debug` never shows either
/// password (`secrecy`).
#[derive(Debug, Clone)]
pub struct ChangePasswordRequest {
    /// As typed: checked against the stored hash, not against the policy.
    pub current_password: SecretString,
    pub new_password: Password,
    /// Where the request came from (the per-address failure limit).
    pub origin: Origin,
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
    pub audit: Arc<dyn AuditRepository>,
    pub api_keys: Arc<dyn ApiKeyRepository>,
    pub key_minter: Arc<dyn ApiKeyMinter>,
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
    /// The scopes known and the grants of a new user.
    pub scopes: ScopeCatalogue,
    /// How long audit events are kept (`AUTH__AUDIT_RETENTION_DAYS`).
    pub audit_retention_secs: u64,
    /// The tokens' `iss` (`AUTH__ISSUER`), as introspection names it.
    pub issuer: String,
    /// How long after a rotation the token it retired, presented again,
    /// gets the same successor pair instead of revoking the family
    /// (`AUTH__REFRESH_REUSE_GRACE_SECS`; 0: never).
    pub refresh_reuse_grace_secs: u64,
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

    /// Who issues this service's tokens (`iss`).
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.policy.issuer
    }

    /// The scopes this service knows (for parsing what a client asks).
    #[must_use]
    pub fn scopes(&self) -> &ScopeCatalogue {
        &self.policy.scopes
    }

    /// Creates a user with the default grants (`AUTH__DEFAULT_SCOPES`).
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
        let now = self.ports.clock.now();
        let event = NewEvent::by(
            &request.username,
            Action::UserRegistered,
            &request.origin,
            now,
        );
        let new_user = NewUser {
            username: request.username,
            password_hash,
            is_active: request.is_active,
            is_superuser: false,
            scopes: self.policy.scopes.defaults().clone(),
            details: UserDetails::default(),
            created_at: now,
        };
        self.ports
            .users
            .create(&new_user, &event)
            .map_err(|error| match error {
                CreateUserError::UsernameTaken => RegisterError::UsernameTaken,
                // A new user has no details to collide.
                CreateUserError::EmailTaken | CreateUserError::PhoneTaken => {
                    RegisterError::Infra(InfraError::unexpected(error.to_string()))
                }
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
    /// [`LoginError::InvalidScope`] for a scope outside the catalogue,
    /// before anything is counted; [`LoginError::TooManyAttempts`] while
    /// the username or the client address is at its limit (even the right
    /// password is refused then; recorded as `login.locked`);
    /// [`LoginError::InvalidCredentials`] for a username no user can have.
    pub fn admit_login(&self, request: LoginRequest) -> Result<Admitted<LoginAttempt>, LoginError> {
        let requested = self
            .requested_scopes(request.scope.as_deref())
            .map_err(|_| LoginError::InvalidScope)?;
        // Text no user can have names no user, and must not reach the store
        // even as a failure count (docs/api.md §8).
        if !text::is_storable(&request.username) {
            return Err(LoginError::InvalidCredentials);
        }
        let username = request.username.clone();
        let origin = request.origin.clone();
        let attempt = LoginAttempt { request, requested };
        self.admit(&username, &origin, attempt)?
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
    pub fn login(&self, attempt: Admitted<LoginAttempt>) -> Result<TokenPair, LoginError> {
        let now = attempt.now;
        let tried = attempt.request.request.username.clone();
        let origin = attempt.request.request.origin.clone();
        let pair = self.settle(attempt, |LoginAttempt { request, requested }| {
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
            let granted = scope::login_grant(requested.as_ref(), &user.scopes);
            self.start_session(&user, granted, &request.origin, now)
        })?;
        match pair {
            Some(pair) => Ok(pair),
            None => {
                self.record_attempt(Action::LoginFailed, &tried, &origin, now)?;
                Err(LoginError::InvalidCredentials)
            }
        }
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

    /// Records an event about an attempt at `tried`'s password: its
    /// subject is that user if the name is one a user could have.
    fn record_attempt(
        &self,
        action: Action,
        tried: &str,
        origin: &Origin,
        now: UnixSeconds,
    ) -> Result<(), InfraError> {
        let subject = Username::parse(tried).ok();
        self.ports.audit.record(&NewEvent {
            at: now,
            action,
            actor: subject.clone(),
            subject,
            origin: origin.clone(),
        })
    }

    /// Reserves a place for an attempt at `username`'s password from
    /// `origin`'s address: the attempt admitted, or the seconds to wait
    /// (recorded as `login.locked`).
    fn admit<R>(
        &self,
        username: &str,
        origin: &Origin,
        request: R,
    ) -> Result<Result<Admitted<R>, u64>, InfraError> {
        let limits = self.policy.login_limits;
        let now = self.ports.clock.now();
        let username_key = ThrottleKey::Username(username.to_owned()).storage_key();
        let address_limit = origin.client_address.clone().map(|address| AttemptLimit {
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
            Reservation::Refused { retry_after_secs } => {
                self.record_attempt(Action::LoginLocked, username, origin, now)?;
                Err(retry_after_secs)
            }
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

    /// Issues a token pair of a new family granting `scopes` and records
    /// the session (with its `login.succeeded`), unless the user's
    /// credential is no longer the one verified (`None`).
    fn start_session(
        &self,
        user: &User,
        scopes: Scopes,
        origin: &Origin,
        now: u64,
    ) -> Result<Option<TokenPair>, InfraError> {
        let refresh = self.issue(
            TokenKind::Refresh,
            &user.username,
            None,
            Scopes::empty(),
            now,
        )?;
        let family = refresh.claims.family.clone().unwrap_or_default();
        let access = self.issue(
            TokenKind::Access,
            &user.username,
            Some(family.clone()),
            scopes.clone(),
            now,
        )?;
        let started = self.ports.sessions.create(
            &NewSession {
                family,
                user_id: user.id,
                credential_version: user.credential_version,
                current_token_id: refresh.claims.id,
                created_at: now,
                expires_at: refresh.claims.expires_at,
                scopes: scopes.clone(),
                device: Device::of(origin),
            },
            &NewEvent::by(&user.username, Action::LoginSucceeded, origin, now),
        )?;
        Ok(started.then(|| pair(&access, refresh.token, scopes, now)))
    }

    /// The credential of a bearer route: an API key (checked by its form
    /// only, see [`AuthService::current_user`]) or an access token checked
    /// by [`AuthService::authorize`].
    ///
    /// # Errors
    /// [`AuthenticateError::InvalidToken`] for a key of the wrong form and
    /// the errors of [`AuthService::authorize`] for a token.
    pub fn credential(
        &self,
        bearer: &str,
        needed: &Scopes,
    ) -> Result<Credential, AuthenticateError> {
        keys::key_credential(&self.ports, bearer, needed)
            .unwrap_or_else(|| self.authorize(bearer, needed).map(Credential::Token))
    }

    /// Checks an access token and that it carries every scope in `needed`,
    /// without touching the store: what a resource server asks of a token
    /// (this service's own routes, and `verify/{token}?scope=`).
    ///
    /// # Errors
    /// [`AuthenticateError::InvalidToken`] if the token is not a valid,
    /// unexpired access token; [`AuthenticateError::InsufficientScope`] if
    /// it lacks any of `needed`.
    pub fn authorize(
        &self,
        access_token: &str,
        needed: &Scopes,
    ) -> Result<Claims, AuthenticateError> {
        let claims = self
            .verify(access_token)
            .map_err(|_| AuthenticateError::InvalidToken)?;
        let granted = match &claims.scopes {
            Some(scopes) => needed.is_subset(scopes),
            // No `scope` claim: `me` (see `Claims::granted`), without
            // building the set on every request.
            None => needed.iter().all(|scope| scope.as_str() == Scope::ME),
        };
        if granted {
            Ok(claims)
        } else {
            Err(AuthenticateError::InsufficientScope {
                needed: needed.clone(),
            })
        }
    }

    /// The active user a credential names: the subject of an authorized
    /// token, or the owner of a live key that carries the scopes the route
    /// needs (one store read either way).
    ///
    /// # Errors
    /// [`AuthenticateError::InvalidToken`] if the user no longer exists or
    /// the key is unknown, revoked or expired;
    /// [`AuthenticateError::InsufficientScope`] for a key without the
    /// route's scopes; [`AuthenticateError::InactiveUser`] if the user is
    /// deactivated.
    pub fn current_user(&self, credential: &Credential) -> Result<User, AuthenticateError> {
        let claims = match credential {
            Credential::Token(claims) => claims,
            Credential::ApiKey { digest, needed } => {
                return keys::key_owner(&self.ports, digest, needed);
            }
        };
        let user = self
            .find_subject(claims)?
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
    /// may log in. The new access token grants the session's scopes (or
    /// the narrower `scope` asked for) that the user still holds.
    ///
    /// A refresh token that was already rotated is a replay (by a thief, or
    /// by the owner after a theft): the whole family is revoked, so both
    /// lose the session (`token.reuse_detected`). Under a reuse grace
    /// (docs/api.md §11) the token the latest rotation retired, presented
    /// within the grace, gets that rotation's pair again instead.
    ///
    /// # Errors
    /// [`RefreshError::InvalidToken`] if the token is not a valid refresh
    /// token, names a user that no longer exists, or its session is
    /// revoked, expired or already past this token;
    /// [`RefreshError::InvalidScope`] for a `scope` that is unknown or
    /// wider than the session's (nothing rotates then).
    pub fn refresh(
        &self,
        refresh_token: &str,
        scope: Option<&str>,
        origin: &Origin,
    ) -> Result<TokenPair, RefreshError> {
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
        let requested = self
            .requested_scopes(scope)
            .map_err(|_| RefreshError::InvalidScope)?;
        let grace = self.policy.refresh_reuse_grace_secs;
        // The grant is decided before anything rotates when a narrower
        // scope is asked for (checked against the session), and under a
        // reuse grace (the rotation stores the access token it issues). A
        // session's scopes never change, so reading them first decides
        // nothing another request could change in between.
        let granted = if requested.is_some() || grace > 0 {
            let session = self
                .ports
                .sessions
                .scopes(&family, user.id)?
                .ok_or(RefreshError::InvalidToken)?;
            Some(
                scope::refresh_grant(&session, requested.as_ref(), &user.scopes)
                    .map_err(|_| RefreshError::InvalidScope)?,
            )
        } else {
            None
        };
        let next = self.issue(
            TokenKind::Refresh,
            &user.username,
            Some(family.clone()),
            Scopes::empty(),
            now,
        )?;
        let early_access = match &granted {
            Some(granted) if grace > 0 => Some(self.issue(
                TokenKind::Access,
                &user.username,
                Some(family.clone()),
                granted.clone(),
                now,
            )?),
            _ => None,
        };
        // The family must be the subject's: a token re-signed with another
        // user's `sub` (a leaked refresh key) neither rotates nor revokes
        // the real owner's session (docs/api.md §8).
        let outcome = self.ports.sessions.rotate(
            &Rotation {
                family: family.clone(),
                user_id: user.id,
                current_token_id: claims.id,
                next_token_id: next.claims.id.clone(),
                expires_at: next.claims.expires_at,
                now,
                device: Device::of(origin),
                grace: early_access
                    .as_ref()
                    .zip(granted.as_ref())
                    .map(|(access, granted)| ReuseGrace {
                        access: AccessGrant {
                            token_id: access.claims.id.clone(),
                            scopes: granted.clone(),
                        },
                        rotated_after: now.saturating_sub(grace),
                    }),
            },
            &NewEvent::by(&user.username, Action::TokenRefreshed, origin, now),
        )?;
        match outcome {
            RotationOutcome::Rotated(session) => {
                let granted = match granted {
                    Some(granted) => granted,
                    None => scope::refresh_grant(&session, None, &user.scopes)
                        .map_err(|_| RefreshError::InvalidScope)?,
                };
                let access = match early_access {
                    Some(access) => access,
                    None => self.issue(
                        TokenKind::Access,
                        &user.username,
                        Some(family),
                        granted.clone(),
                        now,
                    )?,
                };
                Ok(pair(&access, next.token, granted, now))
            }
            RotationOutcome::Replayed(issued) => {
                Ok(self.reissue(&user.username, family, issued, now)?)
            }
            RotationOutcome::Refused => {
                let reuse = NewEvent::by(&user.username, Action::TokenReuseDetected, origin, now);
                self.ports
                    .sessions
                    .revoke_family(&family, user.id, &reuse)?;
                Err(RefreshError::InvalidToken)
            }
        }
    }

    /// The pair a rotation issued, signed again under the ids and time it
    /// was first issued with: the same tokens (signing is deterministic),
    /// for a tab that refreshed with the same token within the reuse grace.
    fn reissue(
        &self,
        username: &Username,
        family: String,
        issued: IssuedPair,
        now: u64,
    ) -> Result<TokenPair, InfraError> {
        let request = |kind, id, scopes| TokenRequest {
            kind,
            subject: username.clone(),
            family: Some(family.clone()),
            scopes,
            now: issued.issued_at,
            id: Some(id),
        };
        let refresh = self.ports.tokens.issue(&request(
            TokenKind::Refresh,
            issued.refresh_token_id,
            Scopes::empty(),
        ))?;
        let granted = issued.access.scopes;
        let access = self.ports.tokens.issue(&request(
            TokenKind::Access,
            issued.access.token_id,
            granted.clone(),
        ))?;
        Ok(pair(&access, refresh.token, granted, now))
    }

    /// Ends the session a refresh token belongs to, and no other: only if
    /// the session is the token subject's. Anything that is not a refresh
    /// token of ours is ignored: logout reveals nothing about the token.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    pub fn logout(&self, refresh_token: &str, origin: &Origin) -> Result<(), InfraError> {
        // An expired token still names its family: end it too.
        let claims = self
            .ports
            .tokens
            .decode(refresh_token, TokenKind::Refresh, 0);
        let Ok(claims) = claims else {
            return Ok(());
        };
        if let (Some(family), Some(owner)) = (&claims.family, self.find_subject(&claims)?) {
            let event = NewEvent::by(
                &owner.username,
                Action::SessionLogout,
                origin,
                self.ports.clock.now(),
            );
            self.ports
                .sessions
                .revoke_family(family, owner.id, &event)?;
        }
        Ok(())
    }

    /// Ends every session of `user`.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    pub fn logout_all(&self, user: &User, origin: &Origin) -> Result<(), InfraError> {
        let event = NewEvent::by(
            &user.username,
            Action::SessionLogoutAll,
            origin,
            self.ports.clock.now(),
        );
        self.ports.sessions.revoke_all_for_user(user.id, &event)
    }

    /// `user`'s own audit trail: the events whose subject they are,
    /// newest first (`query.subject` is ignored).
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    pub fn own_events(&self, user: &User, query: EventQuery) -> Result<Vec<Event>, InfraError> {
        self.ports.audit.list(&EventQuery {
            subject: Some(user.username.clone()),
            current_account_only: true,
            ..query
        })
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
        origin: &Origin,
    ) -> Result<User, UpdateDetailsError> {
        let event = NewEvent::by(
            &user.username,
            Action::ProfileUpdated,
            origin,
            self.ports.clock.now(),
        );
        self.ports.users.update_details(user.id, update, &event)
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
        let username = user.username.to_string();
        let origin = request.origin.clone();
        self.admit(&username, &origin, (user, request))?
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
        let now = attempt.now;
        let tried = attempt.request.0.username.to_string();
        let origin = attempt.request.1.origin.clone();
        let changed = self.settle(attempt, |(user, request)| {
            let Some(current) = Password::candidate(request.current_password) else {
                return Ok(None);
            };
            if !self.verify_stored(&current, &user)? {
                return Ok(None);
            }
            let hash = self.ports.hasher.hash(&request.new_password)?;
            let event = NewEvent::by(
                &user.username,
                Action::PasswordChanged,
                &request.origin,
                now,
            );
            let changed = self.ports.users.change_password(
                user.id,
                user.credential_version,
                &hash,
                &event,
            )?;
            Ok(changed.then_some(()))
        })?;
        if changed.is_none() {
            // It counts as a failed login of the user's name (docs/api.md §8).
            self.record_attempt(Action::LoginFailed, &tried, &origin, now)?;
            return Err(ChangePasswordError::IncorrectPassword);
        }
        Ok(())
    }

    /// The scopes a client asked for, each known to the catalogue. A
    /// `scope` that names none (`scope=` of a form, as OAuth2 clients such
    /// as the docs page send when nothing is ticked) was not asked: RFC
    /// 6749 §3.3 has no empty scope, and the original's form treats it as
    /// absent.
    fn requested_scopes(&self, raw: Option<&str>) -> Result<Option<Scopes>, InvalidScope> {
        let requested = raw.map(|raw| self.policy.scopes.parse(raw)).transpose()?;
        Ok(requested.filter(|scopes| !scopes.is_empty()))
    }

    /// The user a verified token names, if it still exists.
    fn find_subject(&self, claims: &Claims) -> Result<Option<User>, InfraError> {
        match Username::parse(claims.subject.as_str()) {
            Ok(username) => self.ports.users.find_by_username(&username),
            Err(_) => Ok(None),
        }
    }

    /// Signs one token.
    fn issue(
        &self,
        kind: TokenKind,
        username: &Username,
        family: Option<String>,
        scopes: Scopes,
        now: u64,
    ) -> Result<crate::IssuedToken, InfraError> {
        self.ports.tokens.issue(&TokenRequest {
            kind,
            subject: username.clone(),
            family,
            scopes,
            now,
            id: None,
        })
    }
}

/// What an admitted login carries to its password check: the request and
/// the scopes it asked for, already checked against the catalogue.
#[derive(Debug)]
pub struct LoginAttempt {
    request: LoginRequest,
    requested: Option<Scopes>,
}

/// The client's answer from a signed access token and refresh token.
fn pair(access: &crate::IssuedToken, refresh_token: String, scope: Scopes, now: u64) -> TokenPair {
    TokenPair {
        access_token: access.token.clone().into(),
        refresh_token: refresh_token.into(),
        expires_in: access.claims.expires_at.saturating_sub(now),
        scope,
    }
}

fn dummy_password() -> Password {
    Password::candidate("not-a-real-password").expect("the dummy password is hashable")
}

mod devices;
pub(crate) mod keys;
#[cfg(test)]
mod tests;
mod upkeep;

pub use devices::ListedSession;
pub use upkeep::Pruned;
