//! The `UserRepository` port on diesel.

use diesel::prelude::*;
use domain::{CreateUserError, InfraError, NewUser, User, UserDetails, UserRepository, Username};

use crate::error::{create_user_error, pool_error, query_error};
use crate::pool::DbPool;
use crate::rows::{NewUserDetailsRow, NewUserRow, UserRow, UserWithDetailsRow};
use crate::schema::{user_details, users};

/// Users in `users` and `user_details`, on SQLite or Postgres.
///
/// Every method blocks: call it off the async workers.
#[derive(Debug, Clone)]
pub struct DieselUserRepository {
    pool: DbPool,
}

impl DieselUserRepository {
    #[must_use]
    pub fn new(pool: DbPool) -> Self {
        Self { pool }
    }
}

impl UserRepository for DieselUserRepository {
    fn create(&self, user: &NewUser) -> Result<User, CreateUserError> {
        let mut conn = self.pool.get().map_err(pool_error)?;
        let row = conn
            .transaction(|conn| {
                // No check-then-insert: the UNIQUE constraint decides, so two
                // concurrent registrations of one name cannot both win.
                let row: UserRow = diesel::insert_into(users::table)
                    .values(NewUserRow {
                        username: user.username.as_ref(),
                        password: user.password_hash.as_ref(),
                        is_active: user.is_active,
                    })
                    .returning(users::all_columns)
                    .get_result(conn)?;
                diesel::insert_into(user_details::table)
                    .values(NewUserDetailsRow { user_id: row.id })
                    .execute(conn)?;
                Ok(row)
            })
            .map_err(create_user_error)?;
        Ok(row.into_user(UserDetails::default())?)
    }

    fn find_by_username(&self, username: &Username) -> Result<Option<User>, InfraError> {
        let mut conn = self.pool.get().map_err(pool_error)?;
        users::table
            .left_join(user_details::table)
            .filter(users::username.eq(username.as_ref()))
            .select((
                users::id,
                users::username,
                users::password,
                users::is_active,
                user_details::email.nullable(),
                user_details::phone.nullable(),
                user_details::full_name.nullable(),
            ))
            .first::<UserWithDetailsRow>(&mut conn)
            .optional()
            .map_err(query_error)?
            .map(UserWithDetailsRow::into_user)
            .transpose()
    }
}
