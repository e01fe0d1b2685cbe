//! OAuth2 scopes (docs/api.md §9): what a token may do, the grants a user
//! holds, and the rules that turn one into the other.
//!
//! A scope names a permission: `me` (one's own account), `admin` (the admin
//! API), `introspect` (asking about tokens) and the operator's own
//! (`AUTH__SCOPES`). A user holds a set of **grants**; a token carries the
//! scopes it was **granted**, never more than the grants of its user.

use std::{collections::BTreeSet, fmt, sync::Arc};

/// One scope name: `[a-z][a-z0-9_.:-]{0,63}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope(String);

/// A name that is not a scope name at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("A scope name is a lower-case letter then up to 63 of a-z 0-9 _ . : -")]
pub struct ScopeNameError;

/// A scope outside the catalogue, or one the caller may not ask for: the
/// `Invalid scope.` of docs/api.md §9.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid scope")]
pub struct InvalidScope;

impl Scope {
    pub const MAX_LEN: usize = 64;
    /// Acting on one's own account.
    pub const ME: &'static str = "me";
    /// The admin API.
    pub const ADMIN: &'static str = "admin";
    /// Asking about other tokens (a resource server).
    pub const INTROSPECT: &'static str = "introspect";

    /// # Errors
    /// [`ScopeNameError`] for anything but `[a-z][a-z0-9_.:-]{0,63}`.
    pub fn parse(raw: &str) -> Result<Self, ScopeNameError> {
        let mut chars = raw.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = chars.all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | ':' | '-')
        });
        if first_ok && rest_ok && raw.len() <= Self::MAX_LEN {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ScopeNameError)
        }
    }

    /// One of the built-in names above.
    fn builtin(name: &'static str) -> Self {
        Self(name.to_owned())
    }

    #[must_use]
    pub fn me() -> Self {
        Self::builtin(Self::ME)
    }

    #[must_use]
    pub fn admin() -> Self {
        Self::builtin(Self::ADMIN)
    }

    #[must_use]
    pub fn introspect() -> Self {
        Self::builtin(Self::INTROSPECT)
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Scope {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A set of scopes, in name order (so its text form is canonical).
///
/// Shared, not copied, when cloned: every remembered access token's claims
/// are cloned on each request that presents it (measured with callgrind:
/// copying the set was two allocations and ~450 instructions a request).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Scopes(Arc<BTreeSet<Scope>>);

impl Scopes {
    #[must_use]
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parses names separated by spaces (RFC 6749 §3.3) or commas (as
    /// configuration lists them). Empty text is the empty set.
    ///
    /// # Errors
    /// [`ScopeNameError`] if any name is not a scope name.
    pub fn parse(raw: &str) -> Result<Self, ScopeNameError> {
        raw.split([' ', ','])
            .filter(|name| !name.is_empty())
            .map(Scope::parse)
            .collect()
    }

    /// What an access token without a `scope` claim may do: `me` (the
    /// tokens issued before scopes existed).
    #[must_use]
    pub fn legacy() -> Self {
        Self::from_iter([Scope::me()])
    }

    #[must_use]
    pub fn contains(&self, scope: &Scope) -> bool {
        self.0.contains(scope)
    }

    #[must_use]
    pub fn contains_name(&self, name: &str) -> bool {
        self.0.iter().any(|scope| scope.as_str() == name)
    }

    #[must_use]
    pub fn is_subset(&self, other: &Self) -> bool {
        self.0.is_subset(&other.0)
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    #[must_use]
    pub fn intersection(&self, other: &Self) -> Self {
        self.0.intersection(&other.0).cloned().collect()
    }

    #[must_use]
    pub fn union(&self, other: &Self) -> Self {
        self.0.union(&other.0).cloned().collect()
    }

    /// This set less `scope`.
    #[must_use]
    pub fn without(&self, scope: &Scope) -> Self {
        self.0.iter().filter(|s| *s != scope).cloned().collect()
    }

    /// This set and `scope`.
    #[must_use]
    pub fn with(&self, scope: Scope) -> Self {
        let mut scopes = self.clone();
        Arc::make_mut(&mut scopes.0).insert(scope);
        scopes
    }

    /// The scopes of this set that `other` lacks.
    #[must_use]
    pub fn missing_from(&self, other: &Self) -> Self {
        self.0.difference(&other.0).cloned().collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }
}

impl FromIterator<Scope> for Scopes {
    /// One insert per scope: for the few scopes a set holds this is
    /// cheaper than `BTreeSet`'s own collect, which sorts a vector first
    /// (callgrind: ~750 instructions for one scope read with each user).
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        let mut set = BTreeSet::new();
        for scope in iter {
            set.insert(scope);
        }
        Self(Arc::new(set))
    }
}

/// Space-separated, in name order: the `scope` of a token response and of
/// a token's claims (RFC 9068), and how grants are stored.
impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, scope) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
        }
        Ok(())
    }
}

/// The scopes this service knows and the grants a new user gets, from
/// configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeCatalogue {
    known: Scopes,
    defaults: Scopes,
}

/// Why a catalogue cannot be built from configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    #[error("{0} is not one of the known scopes (me, admin, introspect and AUTH__SCOPES)")]
    UnknownDefault(String),
    #[error("admin is granted to superusers only, never by default")]
    AdminByDefault,
}

impl ScopeCatalogue {
    /// The built-in scopes and the operator's `extra` ones; `defaults` are
    /// what registration grants.
    ///
    /// # Errors
    /// [`CatalogueError`] when a default is unknown or is `admin`.
    pub fn new(extra: &Scopes, defaults: Scopes) -> Result<Self, CatalogueError> {
        let known =
            Scopes::from_iter([Scope::me(), Scope::admin(), Scope::introspect()]).union(extra);
        if let Some(unknown) = defaults.missing_from(&known).iter().next() {
            return Err(CatalogueError::UnknownDefault(unknown.to_string()));
        }
        if defaults.contains_name(Scope::ADMIN) {
            return Err(CatalogueError::AdminByDefault);
        }
        Ok(Self { known, defaults })
    }

    /// The grants of a new user.
    #[must_use]
    pub fn defaults(&self) -> &Scopes {
        &self.defaults
    }

    /// Every scope known.
    #[must_use]
    pub fn known(&self) -> &Scopes {
        &self.known
    }

    /// Scopes as a client asks for them (space-separated), each of which
    /// must be known.
    ///
    /// # Errors
    /// [`InvalidScope`] for a malformed or unknown name.
    pub fn parse(&self, raw: &str) -> Result<Scopes, InvalidScope> {
        let scopes = Scopes::parse(raw).map_err(|_| InvalidScope)?;
        self.check(&scopes)?;
        Ok(scopes)
    }

    /// # Errors
    /// [`InvalidScope`] if any of `scopes` is unknown.
    pub fn check(&self, scopes: &Scopes) -> Result<(), InvalidScope> {
        if scopes.is_subset(&self.known) {
            Ok(())
        } else {
            Err(InvalidScope)
        }
    }

    /// The grants of a new superuser: the defaults, `me` and `admin`.
    #[must_use]
    pub fn superuser_grants(&self) -> Scopes {
        self.defaults.with(Scope::me()).with(Scope::admin())
    }
}

/// What a login grants: the requested scopes the user holds or, when none
/// are asked for, every grant but `admin` (admin only when asked for).
#[must_use]
pub fn login_grant(requested: Option<&Scopes>, grants: &Scopes) -> Scopes {
    match requested {
        Some(requested) => requested.intersection(grants),
        None => grants.without(&Scope::admin()),
    }
}

/// What a refresh grants: the session's scopes (or the narrower `requested`
/// ones) that the user *still* holds, so a withdrawn grant is gone at the
/// next refresh.
///
/// # Errors
/// [`InvalidScope`] when `requested` would widen the session.
pub fn refresh_grant(
    session: &Scopes,
    requested: Option<&Scopes>,
    grants: &Scopes,
) -> Result<Scopes, InvalidScope> {
    let asked = match requested {
        Some(requested) if !requested.is_subset(session) => return Err(InvalidScope),
        Some(requested) => requested,
        None => session,
    };
    Ok(asked.intersection(grants))
}

/// The grants a user may hold: `admin` only while a superuser.
#[must_use]
pub fn allowed_grants(grants: &Scopes, is_superuser: bool) -> bool {
    is_superuser || !grants.contains_name(Scope::ADMIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(raw: &str) -> Scopes {
        Scopes::parse(raw).unwrap()
    }

    fn catalogue() -> ScopeCatalogue {
        ScopeCatalogue::new(&scopes("items:read items:write"), scopes("me")).unwrap()
    }

    #[test]
    fn names_follow_the_pattern() {
        for good in ["me", "items:read", "a", "x.y_z-1:2", &"a".repeat(64)] {
            assert!(Scope::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "Me", "1me", "me!", "ü", "a b", &"a".repeat(65), "-x"] {
            assert_eq!(Scope::parse(bad), Err(ScopeNameError), "{bad}");
        }
    }

    #[test]
    fn a_set_reads_spaces_and_commas_and_writes_spaces_in_order() {
        let set = scopes("me, items:write items:read,,me");
        assert_eq!(set.to_string(), "items:read items:write me");
        assert_eq!(Scopes::parse("").unwrap(), Scopes::empty());
        assert_eq!(Scopes::parse("me Admin"), Err(ScopeNameError));
    }

    #[test]
    fn the_catalogue_knows_the_builtins_and_the_operators_scopes() {
        let catalogue = catalogue();
        assert_eq!(
            catalogue.known().to_string(),
            "admin introspect items:read items:write me"
        );
        assert_eq!(
            catalogue.parse("items:read me"),
            Ok(scopes("items:read me"))
        );
        assert_eq!(catalogue.parse("items:delete"), Err(InvalidScope));
        assert_eq!(catalogue.parse("ME"), Err(InvalidScope));
        assert_eq!(catalogue.superuser_grants().to_string(), "admin me");
    }

    #[test]
    fn defaults_must_be_known_and_never_admin() {
        assert_eq!(
            ScopeCatalogue::new(&Scopes::empty(), scopes("me items:read")),
            Err(CatalogueError::UnknownDefault("items:read".into()))
        );
        assert_eq!(
            ScopeCatalogue::new(&Scopes::empty(), scopes("me admin")),
            Err(CatalogueError::AdminByDefault)
        );
    }

    #[test]
    fn a_login_grants_the_intersection_and_admin_only_when_asked() {
        let grants = scopes("admin items:read me");
        assert_eq!(
            login_grant(Some(&scopes("items:read items:write")), &grants),
            scopes("items:read")
        );
        assert_eq!(login_grant(None, &grants), scopes("items:read me"));
        assert_eq!(
            login_grant(Some(&scopes("admin")), &grants),
            scopes("admin")
        );
        assert_eq!(
            login_grant(Some(&scopes("admin")), &scopes("me")),
            Scopes::empty()
        );
    }

    #[test]
    fn a_refresh_narrows_never_widens_and_drops_withdrawn_grants() {
        let session = scopes("items:read me");
        let grants = scopes("items:read me");
        assert_eq!(refresh_grant(&session, None, &grants), Ok(session.clone()));
        assert_eq!(
            refresh_grant(&session, Some(&scopes("me")), &grants),
            Ok(scopes("me"))
        );
        assert_eq!(
            refresh_grant(&session, Some(&scopes("me items:write")), &grants),
            Err(InvalidScope)
        );
        // A grant withdrawn since the login is gone from the next token.
        assert_eq!(
            refresh_grant(&session, None, &scopes("me")),
            Ok(scopes("me"))
        );
    }

    #[test]
    fn only_a_superuser_may_hold_admin() {
        assert!(allowed_grants(&scopes("admin me"), true));
        assert!(!allowed_grants(&scopes("admin me"), false));
        assert!(allowed_grants(&scopes("me"), false));
    }
}
