//! The administrators' use cases (docs/api.md §9): users managed by a
//! superuser holding `admin`, the first superuser, and everyone's audit
//! trail. Every change is recorded with the acting superuser, in the
//! change's own transaction.

use crate::{
    Action, AdminError, ApiKey, AuthenticateError, Credential, DetailsUpdate, Event, EventQuery,
    Grants, InfraError, NewEvent, NewUser, Origin, Password, Ports, Scope, ScopeCatalogue, Scopes,
    ThrottleKey, UpdateUserError, User, UserChange, UserDetails, UserPage, UserQuery, Username,
    scope, service,
};

/// Who is acting: a superuser, checked against the store on this call, or
/// the system (start-up, an operator's command).
#[derive(Debug, Clone)]
pub struct Actor {
    user: Option<User>,
    /// Whether the superuser acts through an API key: a key sets no
    /// password (docs/api.md §10), not even through the admin API.
    by_key: bool,
    origin: Origin,
}

impl Actor {
    /// The service itself or an operator at the command line.
    #[must_use]
    pub fn system() -> Self {
        Self {
            user: None,
            by_key: false,
            origin: Origin::default(),
        }
    }

    /// The acting superuser, if a user acts.
    #[must_use]
    pub fn user(&self) -> Option<&User> {
        self.user.as_ref()
    }

    fn is(&self, user: &User) -> bool {
        self.user.as_ref().is_some_and(|actor| actor.id == user.id)
    }

    fn event(&self, action: Action, subject: &Username, at: u64) -> NewEvent {
        NewEvent {
            at,
            action,
            actor: self.user.as_ref().map(|user| user.username.clone()),
            subject: Some(subject.clone()),
            origin: self.origin.clone(),
        }
    }
}

/// A user as an administrator creates them.
#[derive(Debug, Clone)]
pub struct CreateUserRequest {
    pub username: Username,
    pub password: Password,
    pub is_active: bool,
    pub is_superuser: bool,
    /// `None`: the default grants (and `admin` for a superuser).
    pub scopes: Option<Scopes>,
    pub details: UserDetails,
}

/// An administrator's change to a user: `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct UpdateUserRequest {
    pub is_active: Option<bool>,
    pub is_superuser: Option<bool>,
    pub scopes: Option<Scopes>,
    pub password: Option<Password>,
    pub details: DetailsUpdate,
}

impl UpdateUserRequest {
    /// Whether it would take away the account's own administration: what
    /// a superuser may not do to themself.
    fn locks_out(&self) -> bool {
        self.is_active == Some(false)
            || self.is_superuser == Some(false)
            || self
                .scopes
                .as_ref()
                .is_some_and(|scopes| !scopes.contains_name(Scope::ADMIN))
    }
}

/// The administrators' use cases, over the same ports as
/// [`crate::AuthService`].
pub struct AdminService {
    ports: Ports,
    scopes: ScopeCatalogue,
}

impl AdminService {
    #[must_use]
    pub fn new(ports: Ports, scopes: ScopeCatalogue) -> Self {
        Self { ports, scopes }
    }

    /// The superuser an `admin`-scoped credential names, read from the
    /// store on this call: a user demoted, deactivated or stripped of
    /// `admin` since the token was issued is refused at once.
    ///
    /// The credential's own `admin` scope is checked here too, not only by
    /// the route: a token granted less (a login that did not ask for
    /// `admin`), or a key without it, never reaches the admin API, whoever
    /// holds it.
    ///
    /// # Errors
    /// [`AdminError::Forbidden`] unless the credential carries `admin` and
    /// its user exists, is active, is a superuser and holds `admin`; for a
    /// key, [`AdminError::Authenticate`] when it is unknown or expired.
    pub fn acting_superuser(
        &self,
        credential: &Credential,
        origin: Origin,
    ) -> Result<Actor, AdminError> {
        let user = match credential {
            Credential::Token(claims) => {
                if !claims.granted().contains_name(Scope::ADMIN) {
                    return Err(AdminError::Forbidden);
                }
                match Username::parse(claims.subject.as_str()) {
                    Ok(username) => self.ports.users.find_by_username(&username)?,
                    Err(_) => None,
                }
            }
            Credential::ApiKey { digest, .. } => {
                let needed = Scopes::from_iter([Scope::admin()]);
                match service::keys::key_owner(&self.ports, digest, &needed) {
                    Ok(user) => Some(user),
                    Err(AuthenticateError::InactiveUser) => None,
                    Err(other) => return Err(AdminError::Authenticate(other)),
                }
            }
        };
        match user {
            Some(user)
                if user.is_active
                    && user.is_superuser
                    && user.scopes.contains_name(Scope::ADMIN) =>
            {
                Ok(Actor {
                    user: Some(user),
                    by_key: credential.is_api_key(),
                    origin,
                })
            }
            _ => Err(AdminError::Forbidden),
        }
    }

    /// # Errors
    /// [`AdminError::Infra`] when the store fails.
    pub fn list_users(&self, query: &UserQuery) -> Result<UserPage, AdminError> {
        Ok(self.ports.users.list(query)?)
    }

    /// # Errors
    /// [`AdminError::NotFound`] for an unknown user.
    pub fn get_user(&self, username: &Username) -> Result<User, AdminError> {
        self.ports
            .users
            .find_by_username(username)?
            .ok_or(AdminError::NotFound)
    }

    /// Creates a user with the grants asked for (or the defaults, and
    /// `admin` for a superuser).
    ///
    /// # Errors
    /// [`AdminError::InvalidScope`], [`AdminError::AdminScopeNeedsSuperuser`],
    /// [`AdminError::UsernameTaken`], [`AdminError::EmailTaken`],
    /// [`AdminError::PhoneTaken`].
    pub fn create_user(
        &self,
        actor: &Actor,
        request: CreateUserRequest,
    ) -> Result<User, AdminError> {
        // A new user's password is one the caller picks.
        if actor.by_key {
            return Err(AdminError::Forbidden);
        }
        let scopes = match request.scopes {
            Some(scopes) => self.checked_grants(scopes, request.is_superuser)?,
            None if request.is_superuser => self.scopes.superuser_grants(),
            None => self.scopes.defaults().clone(),
        };
        let password_hash = self.ports.hasher.hash(&request.password)?;
        let now = self.ports.clock.now();
        let event = actor.event(Action::AdminUserCreated, &request.username, now);
        let user = NewUser {
            username: request.username,
            password_hash,
            is_active: request.is_active,
            is_superuser: request.is_superuser,
            scopes,
            details: request.details,
            created_at: now,
        };
        Ok(self.ports.users.create(&user, &event)?)
    }

    /// Changes a user. Deactivating them or setting a password ends every
    /// session of theirs; demoting them withdraws `admin`, promoting grants
    /// it (unless `scopes` says otherwise). All in one transaction: a
    /// refused change changes nothing.
    ///
    /// # Errors
    /// [`AdminError::OwnAccount`] when a superuser would deactivate,
    /// demote or withdraw `admin` from themself; [`AdminError::NotFound`];
    /// [`AdminError::InvalidScope`]; [`AdminError::AdminScopeNeedsSuperuser`];
    /// [`AdminError::EmailTaken`] / [`AdminError::PhoneTaken`];
    /// [`AdminError::Conflict`] as [`Self::change_user`] says.
    pub fn update_user(
        &self,
        actor: &Actor,
        username: &Username,
        request: UpdateUserRequest,
    ) -> Result<User, AdminError> {
        self.change_user(actor, username, |_| request.clone())
    }

    /// Adds `scopes` to a user's grants: `zentra grant`.
    ///
    /// # Errors
    /// As [`Self::update_user`].
    pub fn grant(
        &self,
        actor: &Actor,
        username: &Username,
        scopes: &Scopes,
    ) -> Result<User, AdminError> {
        self.change_user(actor, username, |target| UpdateUserRequest {
            scopes: Some(target.scopes.union(scopes)),
            ..UpdateUserRequest::default()
        })
    }

    /// Applies the change `edit` computes from the user as read. A change
    /// to the grants is stored only while they are still the ones read
    /// ([`UserChange::grants_as_read`]); when another change to them
    /// commits first, the user is read again and the change computed
    /// afresh, at most [`Self::CHANGE_ATTEMPTS`] times. A new password is
    /// hashed once, after the first attempt's checks.
    ///
    /// # Errors
    /// As [`Self::update_user`]; [`AdminError::Conflict`] when every
    /// attempt found the grants changed.
    fn change_user(
        &self,
        actor: &Actor,
        username: &Username,
        edit: impl Fn(&User) -> UpdateUserRequest,
    ) -> Result<User, AdminError> {
        let mut password_hash = None;
        for _ in 0..Self::CHANGE_ATTEMPTS {
            let target = self.get_user(username)?;
            let request = edit(&target);
            if actor.is(&target) && request.locks_out() {
                return Err(AdminError::OwnAccount);
            }
            if actor.by_key && request.password.is_some() {
                return Err(AdminError::Forbidden);
            }
            let is_superuser = request.is_superuser.unwrap_or(target.is_superuser);
            let scopes = match request.scopes {
                Some(scopes) => Some(self.checked_grants(scopes, is_superuser)?),
                None if is_superuser == target.is_superuser => None,
                None if is_superuser => Some(target.scopes.with(Scope::admin())),
                None => Some(target.scopes.without(&Scope::admin())),
            };
            if let (None, Some(password)) = (&password_hash, &request.password) {
                password_hash = Some(self.ports.hasher.hash(password)?);
            }
            let grants_as_read =
                (request.is_superuser.is_some() || scopes.is_some()).then(|| Grants::of(&target));
            let change = UserChange {
                is_active: request.is_active,
                is_superuser: request.is_superuser,
                scopes,
                grants_as_read,
                revoke_sessions: request.is_active == Some(false) || password_hash.is_some(),
                password_hash: password_hash.clone(),
                details: request.details,
            };
            let event = actor.event(Action::AdminUserUpdated, username, self.ports.clock.now());
            match self.ports.users.update(target.id, &change, &event) {
                Err(UpdateUserError::GrantsChanged) => {}
                stored => return Ok(stored?),
            }
        }
        Err(AdminError::Conflict)
    }

    /// How often [`Self::change_user`] computes a change afresh before it
    /// gives up: each miss means another administrator's change to the
    /// same user's grants committed within the moment between a read and
    /// a write.
    const CHANGE_ATTEMPTS: usize = 8;

    /// Deletes a user with their details, sessions and failed-login count;
    /// the audit events about them stay.
    ///
    /// # Errors
    /// [`AdminError::OwnAccount`] for the acting superuser's own account;
    /// [`AdminError::NotFound`].
    pub fn delete_user(&self, actor: &Actor, username: &Username) -> Result<(), AdminError> {
        let target = self.get_user(username)?;
        if actor.is(&target) {
            return Err(AdminError::OwnAccount);
        }
        let event = actor.event(Action::AdminUserDeleted, username, self.ports.clock.now());
        if !self.ports.users.delete(target.id, &event)? {
            return Err(AdminError::NotFound);
        }
        // After the user: a count left behind by a failure here is only
        // forgotten at the end of its window.
        self.ports.login_failures.clear(&username_key(username))?;
        Ok(())
    }

    /// Ends every session of a user.
    ///
    /// # Errors
    /// [`AdminError::NotFound`].
    pub fn logout_user(&self, actor: &Actor, username: &Username) -> Result<(), AdminError> {
        let target = self.get_user(username)?;
        let event = actor.event(Action::AdminUserLoggedOut, username, self.ports.clock.now());
        Ok(self.ports.sessions.revoke_all_for_user(target.id, &event)?)
    }

    /// Lifts a user's failed-login lock: their count is forgotten. (A
    /// client address's own count is not: it may be guessing at others.)
    ///
    /// # Errors
    /// [`AdminError::NotFound`].
    pub fn unlock_user(&self, actor: &Actor, username: &Username) -> Result<(), AdminError> {
        self.get_user(username)?;
        self.ports.login_failures.clear(&username_key(username))?;
        let event = actor.event(Action::AdminUserUnlocked, username, self.ports.clock.now());
        Ok(self.ports.audit.record(&event)?)
    }

    /// A user's API keys, newest first.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] for an unknown user.
    pub fn list_api_keys(&self, username: &Username) -> Result<Vec<ApiKey>, AdminError> {
        let target = self.get_user(username)?;
        Ok(self.ports.api_keys.list(target.id)?)
    }

    /// Revokes one of a user's API keys.
    ///
    /// # Errors
    /// [`AdminError::NotFound`] for an unknown user,
    /// [`AdminError::KeyNotFound`] for a key that is not theirs.
    pub fn revoke_api_key(
        &self,
        actor: &Actor,
        username: &Username,
        key_id: i64,
    ) -> Result<(), AdminError> {
        let target = self.get_user(username)?;
        let event = actor.event(Action::AdminApiKeyRevoked, username, self.ports.clock.now());
        if self.ports.api_keys.revoke(target.id, key_id, &event)? {
            Ok(())
        } else {
            Err(AdminError::KeyNotFound)
        }
    }

    /// Everyone's audit trail, newest first.
    ///
    /// # Errors
    /// [`AdminError::Infra`] when the store fails.
    pub fn events(&self, query: &EventQuery) -> Result<Vec<Event>, AdminError> {
        Ok(self.ports.audit.list(query)?)
    }

    /// Creates the first superuser (`DB__FIRST_SUPERUSER`) as an active
    /// superuser granted `me admin`, if no user of that name exists; an
    /// existing user is never changed. Safe when instances start together:
    /// the store's unique name decides, and the losers find it taken.
    ///
    /// # Errors
    /// [`InfraError`] when the store or the hasher fails.
    pub fn ensure_superuser(
        &self,
        username: &Username,
        password: &Password,
    ) -> Result<bool, InfraError> {
        if self.ports.users.find_by_username(username)?.is_some() {
            return Ok(false);
        }
        let request = CreateUserRequest {
            username: username.clone(),
            password: password.clone(),
            is_active: true,
            is_superuser: true,
            scopes: None,
            details: UserDetails::default(),
        };
        match self.create_user(&Actor::system(), request) {
            Ok(_) => Ok(true),
            Err(AdminError::UsernameTaken) => Ok(false),
            Err(AdminError::Infra(infra)) => Err(infra),
            Err(other) => Err(InfraError::unexpected(other.to_string())),
        }
    }

    /// Grants known to the catalogue, with `admin` only for a superuser.
    fn checked_grants(&self, scopes: Scopes, is_superuser: bool) -> Result<Scopes, AdminError> {
        self.scopes
            .check(&scopes)
            .map_err(|_| AdminError::InvalidScope)?;
        if !scope::allowed_grants(&scopes, is_superuser) {
            return Err(AdminError::AdminScopeNeedsSuperuser);
        }
        Ok(scopes)
    }
}

fn username_key(username: &Username) -> String {
    ThrottleKey::Username(username.to_string()).storage_key()
}

#[cfg(test)]
mod tests;
