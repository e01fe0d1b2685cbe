//! The heart of Zentra: users, the rules their credentials follow, the
//! ports the outside world must provide, and the use cases built on them.
//!
//! Nothing here knows about HTTP, SQL, JWT or bcrypt. Start reading at
//! [`ports`], then [`service::AuthService`].

pub mod error;
pub mod password;
pub mod ports;
pub mod service;
pub mod token;
pub mod user;
pub mod username;

pub use error::{
    AuthenticateError, CreateUserError, InfraError, LoginError, RefreshError, RegisterError,
    TokenError,
};
pub use password::{Password, PasswordError, PasswordHash};
pub use ports::{Clock, PasswordHasher, SystemClock, TokenService, UserRepository};
pub use service::{AuthService, LoginRequest, RegisterRequest};
pub use token::{Claims, IssuedToken, TokenKind, TokenPair, TokenRequest, UnixSeconds};
pub use user::{NewUser, User, UserDetails};
pub use username::{Username, UsernameError};
