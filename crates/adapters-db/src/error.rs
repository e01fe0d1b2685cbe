//! Errors of this adapter, and the one place where driver errors become
//! domain errors.
//!
//! What reaches the domain carries the driver error only as its `source`,
//! for logs; the HTTP layer never shows it to a client.

use std::error::Error as StdError;
use std::path::PathBuf;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use domain::{CreateUserError, InfraError, UpdateDetailsError, UpdateUserError};

/// Why a new connection could not be opened. `r2d2` keeps only the
/// `Display` of the last one, so each message carries its cause.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the SQLite path is not valid UTF-8")]
    NonUtf8Path,
    #[error(transparent)]
    Connection(#[from] diesel::ConnectionError),
    #[error("could not configure the SQLite connection: {0}")]
    Pragmas(#[source] DieselError),
    #[error("the connection does not answer: {0}")]
    Ping(#[source] DieselError),
}

/// Why the database could not be made ready at start-up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Checked once, before the pool opens anything: directories are never
    /// created (see `pool::build_pool`).
    #[error("the directory {} of the SQLite database does not exist", .0.display())]
    MissingDirectory(PathBuf),
    #[error("the database pool size must be at least 1")]
    PoolSize,
    #[error("could not connect to the database")]
    Connect(#[source] r2d2::Error),
    #[error("could not run the database migrations")]
    Migrations(#[source] Box<dyn StdError + Send + Sync>),
}

/// Messages of SQLite result codes that mean "try again later" (diesel
/// reports them all as `DatabaseErrorKind::Unknown`): BUSY, LOCKED,
/// READONLY, IOERR, CANTOPEN, FULL.
const SQLITE_UNAVAILABLE_MESSAGES: &[&str] = &[
    "database is locked",
    "database table is locked",
    "database schema is locked",
    "readonly database",
    "disk I/O error",
    "unable to open database file",
    "database or disk is full",
];

/// Failing to get a pooled connection means the database is down or
/// saturated.
pub(crate) fn pool_error(err: r2d2::Error) -> InfraError {
    InfraError::unavailable(err)
}

pub(crate) fn query_error(err: DieselError) -> InfraError {
    if is_unavailable(&err) {
        InfraError::unavailable(err)
    } else {
        InfraError::unexpected(err)
    }
}

/// The unique constraints a user's creation or change can break, as each
/// backend names them: Postgres by the constraint's name (its default,
/// `<table>_<column>_key`), SQLite only in the message.
const USERNAME_TAKEN: (&str, &str) = (
    "users_username_key",
    "UNIQUE constraint failed: users.username",
);
const EMAIL_TAKEN: (&str, &str) = (
    "user_details_email_key",
    "UNIQUE constraint failed: user_details.email",
);
const PHONE_TAKEN: (&str, &str) = (
    "user_details_phone_key",
    "UNIQUE constraint failed: user_details.phone",
);

/// What a unique violation says is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Taken {
    Username,
    Email,
    Phone,
}

/// Which of the known unique constraints `err` breaks, if it is a unique
/// violation of one of them.
fn taken(err: &DieselError) -> Option<Taken> {
    let DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) = err else {
        return None;
    };
    let breaks = |(constraint, message): (&str, &str)| {
        info.constraint_name() == Some(constraint) || info.message() == message
    };
    [
        (USERNAME_TAKEN, Taken::Username),
        (EMAIL_TAKEN, Taken::Email),
        (PHONE_TAKEN, Taken::Phone),
    ]
    .into_iter()
    .find_map(|(constraint, taken)| breaks(constraint).then_some(taken))
}

/// A unique violation while creating a user is a taken username, email or
/// phone, told apart by the constraint it breaks; one on anything else is
/// a bug.
pub(crate) fn create_user_error(err: DieselError) -> CreateUserError {
    match taken(&err) {
        Some(Taken::Username) => CreateUserError::UsernameTaken,
        Some(Taken::Email) => CreateUserError::EmailTaken,
        Some(Taken::Phone) => CreateUserError::PhoneTaken,
        None => CreateUserError::Infra(query_error(err)),
    }
}

/// A unique violation while updating details is a taken email or phone;
/// one on anything else is a bug.
pub(crate) fn update_details_error(err: DieselError) -> UpdateDetailsError {
    match taken(&err) {
        Some(Taken::Email) => UpdateDetailsError::EmailTaken,
        Some(Taken::Phone) => UpdateDetailsError::PhoneTaken,
        Some(Taken::Username) | None => UpdateDetailsError::Infra(query_error(err)),
    }
}

/// As [`update_details_error`], for an administrator's change (which never
/// writes the username).
pub(crate) fn update_user_error(err: DieselError) -> UpdateUserError {
    match taken(&err) {
        Some(Taken::Email) => UpdateUserError::EmailTaken,
        Some(Taken::Phone) => UpdateUserError::PhoneTaken,
        Some(Taken::Username) | None => UpdateUserError::Infra(query_error(err)),
    }
}

fn is_unavailable(err: &DieselError) -> bool {
    match err {
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection
            | DatabaseErrorKind::UnableToSendCommand
            | DatabaseErrorKind::SerializationFailure
            | DatabaseErrorKind::ReadOnlyTransaction,
            _,
        ) => true,
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, info) => {
            let message = info.message();
            SQLITE_UNAVAILABLE_MESSAGES
                .iter()
                .any(|known| message.contains(known))
        }
        DieselError::RollbackErrorOnCommit { commit_error, .. } => is_unavailable(commit_error),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db_error(kind: DatabaseErrorKind, message: &str) -> DieselError {
        DieselError::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn a_unique_violation_on_creation_names_what_is_taken() {
        let cases = [
            (
                db_error(
                    DatabaseErrorKind::UniqueViolation,
                    "UNIQUE constraint failed: users.username",
                ),
                "username",
            ),
            (pg_unique("users_username_key"), "username"),
            (pg_unique("user_details_email_key"), "email"),
            (
                db_error(
                    DatabaseErrorKind::UniqueViolation,
                    "UNIQUE constraint failed: user_details.phone",
                ),
                "phone",
            ),
            (db_error(DatabaseErrorKind::UniqueViolation, "dup"), "infra"),
            (pg_unique("user_details_user_id_key"), "infra"),
        ];
        for (err, expected) in cases {
            let got = match create_user_error(err) {
                CreateUserError::UsernameTaken => "username",
                CreateUserError::EmailTaken => "email",
                CreateUserError::PhoneTaken => "phone",
                CreateUserError::Infra(InfraError::Unexpected(_)) => "infra",
                CreateUserError::Infra(other) => panic!("{other:?}"),
            };
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn an_administrators_change_maps_details_violations_and_nothing_else() {
        assert!(matches!(
            update_user_error(pg_unique("user_details_email_key")),
            UpdateUserError::EmailTaken
        ));
        assert!(matches!(
            update_user_error(pg_unique("user_details_phone_key")),
            UpdateUserError::PhoneTaken
        ));
        assert!(matches!(
            update_user_error(pg_unique("users_username_key")),
            UpdateUserError::Infra(InfraError::Unexpected(_))
        ));
    }

    #[test]
    fn lost_connections_and_a_locked_sqlite_are_unavailable() {
        for err in [
            db_error(DatabaseErrorKind::ClosedConnection, "gone"),
            db_error(DatabaseErrorKind::UnableToSendCommand, "broken pipe"),
            db_error(DatabaseErrorKind::Unknown, "database is locked"),
            db_error(
                DatabaseErrorKind::Unknown,
                "attempt to write a readonly database",
            ),
            db_error(DatabaseErrorKind::Unknown, "disk I/O error"),
            DieselError::RollbackErrorOnCommit {
                rollback_error: Box::new(DieselError::NotInTransaction),
                commit_error: Box::new(db_error(DatabaseErrorKind::Unknown, "database is locked")),
            },
        ] {
            assert!(
                matches!(query_error(err), InfraError::Unavailable(_)),
                "should be unavailable"
            );
        }
    }

    /// Error information as Postgres gives it: a constraint name.
    #[derive(Debug)]
    struct PgInfo(&'static str);

    impl diesel::result::DatabaseErrorInformation for PgInfo {
        fn message(&self) -> &str {
            "duplicate key value violates unique constraint"
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            Some("user_details")
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            Some(self.0)
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn pg_unique(constraint: &'static str) -> DieselError {
        DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new(PgInfo(constraint)),
        )
    }

    #[test]
    fn a_unique_violation_of_a_detail_names_the_detail() {
        for (err, email) in [
            (pg_unique("user_details_email_key"), true),
            (pg_unique("user_details_phone_key"), false),
            (
                db_error(
                    DatabaseErrorKind::UniqueViolation,
                    "UNIQUE constraint failed: user_details.email",
                ),
                true,
            ),
            (
                db_error(
                    DatabaseErrorKind::UniqueViolation,
                    "UNIQUE constraint failed: user_details.phone",
                ),
                false,
            ),
        ] {
            match (update_details_error(err), email) {
                (UpdateDetailsError::EmailTaken, true)
                | (UpdateDetailsError::PhoneTaken, false) => {}
                (other, _) => panic!("wrong mapping: {other:?}"),
            }
        }
    }

    #[test]
    fn an_unrecognised_violation_of_a_detail_is_unexpected() {
        for err in [
            pg_unique("user_details_user_id_key"),
            db_error(
                DatabaseErrorKind::UniqueViolation,
                "UNIQUE constraint failed: user_details.user_id",
            ),
            db_error(DatabaseErrorKind::UniqueViolation, "dup"),
            db_error(
                DatabaseErrorKind::ForeignKeyViolation,
                "user_details_email_key",
            ),
        ] {
            assert!(matches!(
                update_details_error(err),
                UpdateDetailsError::Infra(InfraError::Unexpected(_))
            ));
        }
        assert!(matches!(
            update_details_error(db_error(DatabaseErrorKind::Unknown, "database is locked")),
            UpdateDetailsError::Infra(InfraError::Unavailable(_))
        ));
    }

    #[test]
    fn other_errors_are_unexpected() {
        for err in [
            db_error(DatabaseErrorKind::Unknown, "no such table: users"),
            db_error(DatabaseErrorKind::ForeignKeyViolation, "fk"),
            DieselError::NotFound,
        ] {
            assert!(matches!(query_error(err), InfraError::Unexpected(_)));
        }
        let err = create_user_error(db_error(DatabaseErrorKind::NotNullViolation, "null"));
        assert!(matches!(
            err,
            CreateUserError::Infra(InfraError::Unexpected(_))
        ));
    }
}
