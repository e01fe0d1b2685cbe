//! The heart of Zentra: users, the rules their credentials follow, the
//! ports the outside world must provide, and the use cases built on them.
//!
//! Nothing here knows about HTTP, SQL, JWT or bcrypt. Start reading at
//! [`ports`], then [`service::AuthService`].

pub mod admin;
pub mod api_key;
pub mod audit;
pub mod email;
pub mod error;
pub mod full_name;
pub mod password;
pub mod phone;
pub mod ports;
pub mod scope;
pub mod service;
pub mod session;
pub mod text;
pub mod throttle;
pub mod token;
pub mod user;
pub mod username;

pub use admin::{Actor, AdminService, CreateUserRequest, UpdateUserRequest};
pub use api_key::{
    ApiKey, CreateKeyRequest, CreatedKey, Credential, IntrospectedKind, Introspection, KeyDigest,
    KeyLifetime, KeyLifetimeError, KeyName, KeyNameError, MintedKey, NewApiKey,
};
pub use audit::{Action, Event, EventQuery, NewEvent, Origin};
pub use email::{Email, EmailError};
pub use error::{
    AdminError, ApiKeyError, AuthenticateError, ChangePasswordError, CreateUserError, InfraError,
    LoginError, RefreshError, RegisterError, TokenError, UpdateDetailsError, UpdateUserError,
};
pub use full_name::{FullName, FullNameError};
pub use password::{Password, PasswordError, PasswordHash};
pub use phone::{Phone, PhoneError};
pub use ports::{
    ApiKeyMinter, ApiKeyRepository, AuditRepository, Clock, HashStrength, LoginFailureRepository,
    PasswordHasher, SessionRepository, SystemClock, TokenService, UserRepository,
};
pub use scope::{CatalogueError, InvalidScope, Scope, ScopeCatalogue, ScopeNameError, Scopes};
pub use service::{
    Admitted, AuthPolicy, AuthService, ChangePasswordRequest, ListedSession, LoginAttempt,
    LoginRequest, Ports, Pruned, RegisterRequest,
};
pub use session::{
    AccessGrant, Device, IssuedPair, NewSession, ReuseGrace, Rotation, RotationOutcome, SessionInfo,
};
pub use throttle::{Attempt, AttemptLimit, LoginLimits, Places, Reservation, ThrottleKey};
pub use token::{Claims, IssuedToken, TokenKind, TokenPair, TokenRequest, UnixSeconds};
pub use user::{
    DetailsUpdate, Grants, NewUser, User, UserChange, UserDetails, UserPage, UserQuery,
};
pub use username::{Username, UsernameError};
