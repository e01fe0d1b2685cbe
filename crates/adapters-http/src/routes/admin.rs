//! The admin API under `/api/admin` (docs/api.md §9): users managed by an
//! active superuser whose token carries `admin`, and everyone's audit
//! trail.
//!
//! Every route takes `Authorized<Admin>` (the token's scope, checked on the
//! worker), then on its lane asks the store whether the caller is an
//! active superuser holding `admin` *now* ([`AdminService::acting_superuser`]),
//! so a demotion takes effect at once, and only then acts. Input is
//! checked before the lane (422 and 400 cost no database call); a path
//! that cannot be a username is 404 only after the superuser check, so a
//! caller who may not administer learns nothing but 403.

use actix_web::{HttpRequest, HttpResponse, Scope, http::StatusCode, web};
use domain::{
    Actor, AdminService, CreateUserRequest, Credential, DetailsUpdate, Email, FullName, Origin,
    Password, PasswordError, Phone, Scope as ScopeName, ScopeCatalogue, Scopes, UpdateUserRequest,
    User, UserDetails, UserPage, UserQuery, Username, text,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    AdminData, GET, LanesData, Service,
    events::{self, EventPage, Filters},
    get_or_head,
    me::{agent47, parse_field, present},
    not_allowed,
    wire::{Rfc3339, ScopeList},
};
use crate::{
    Envelope, FieldError, Lanes, UseCase,
    client_address::RequestOrigin,
    envelope::{NoData, Wire},
    error::{ADMIN_NEEDS_SUPERUSER, ApiError},
    extract::{Admin, Authorized, JsonBody},
    openapi::{error_example, forbidden_examples, unavailable_example},
};

/// The routes, under `/api/admin`.
pub(crate) fn scope() -> Scope {
    web::scope("/api/admin")
        .service(
            web::resource("/users")
                .route(get_or_head().to(list_users))
                .route(web::post().to(create_user))
                .default_service(not_allowed("GET, HEAD, POST")),
        )
        .service(
            web::resource("/users/{username}")
                .route(get_or_head().to(get_user))
                .route(web::patch().to(update_user))
                .route(web::delete().to(delete_user))
                .default_service(not_allowed("GET, HEAD, PATCH, DELETE")),
        )
        .service(
            web::resource("/users/{username}/logout")
                .route(web::post().to(logout_user))
                .default_service(not_allowed("POST")),
        )
        .service(
            web::resource("/users/{username}/unlock")
                .route(web::post().to(unlock_user))
                .default_service(not_allowed("POST")),
        )
        .service(
            web::resource("/users/{username}/api-keys")
                .route(get_or_head().to(super::api_keys::admin_list))
                .default_service(not_allowed(GET)),
        )
        .service(
            web::resource("/users/{username}/api-keys/{id}")
                .route(web::delete().to(super::api_keys::admin_revoke))
                .default_service(not_allowed("DELETE")),
        )
        .service(
            web::resource("/events")
                .route(get_or_head().to(events))
                .default_service(not_allowed(GET)),
        )
}

/// `AdminUser` of docs/api.md §9: `GetUser` with the id and the time of
/// creation.
#[derive(Serialize, ToSchema)]
#[schema(example = json!(AdminUser::from(&agent47())))]
pub(crate) struct AdminUser<'a> {
    id: i64,
    username: &'a str,
    email: Option<&'a str>,
    phone: Option<&'a str>,
    full_name: Option<&'a str>,
    is_active: bool,
    is_superuser: bool,
    /// The scopes the user holds, in name order.
    #[schema(value_type = Vec<String>)]
    scopes: ScopeList<'a>,
    /// RFC 3339, UTC.
    #[schema(value_type = String, format = DateTime)]
    created_at: Rfc3339,
}

impl<'a> From<&'a User> for AdminUser<'a> {
    fn from(user: &'a User) -> Self {
        Self {
            id: user.id,
            username: user.username.as_ref(),
            email: user.details.email.as_ref().map(AsRef::as_ref),
            phone: user.details.phone.as_ref().map(AsRef::as_ref),
            full_name: user.details.full_name.as_ref().map(AsRef::as_ref),
            is_active: user.is_active,
            is_superuser: user.is_superuser,
            scopes: ScopeList(&user.scopes),
            created_at: Rfc3339(user.created_at),
        }
    }
}

/// One page of users.
#[derive(Serialize, ToSchema)]
pub(crate) struct UserList<'a> {
    users: Vec<AdminUser<'a>>,
    /// From 1.
    page: u32,
    per_page: u32,
    /// How many users match in all.
    total: u64,
}

fn user_envelope(status: StatusCode, user: &User) -> Envelope {
    Envelope::new(status).data(AdminUser::from(user)).bearer()
}

fn user_list(page: &UserPage, query: &UserQuery) -> Envelope {
    Envelope::new(StatusCode::OK)
        .data(UserList {
            users: page.users.iter().map(AdminUser::from).collect(),
            page: query.page,
            per_page: query.per_page,
            total: page.total,
        })
        .bearer()
}

fn done(message: &'static str) -> Envelope {
    Envelope::new(StatusCode::OK).message(message).bearer()
}

const USER_DELETED: &str = "User deleted.";
const LOGGED_OUT: &str = "Logged out of all sessions.";
const UNLOCKED: &str = "Login limit cleared.";

/// A user as an administrator creates them: validated like a registration
/// and a details change, every bad field reported at once. Unknown fields
/// are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"username": "agent48", "password": "correct horse",
    "is_superuser": false, "scopes": ["me"], "email": "agent48@example.com"}))]
pub(crate) struct CreateUserBody {
    /// 3–64 of `[A-Za-z0-9_.@-]`, compared exactly.
    #[schema(pattern = "^[A-Za-z0-9_.@-]{3,64}$")]
    username: String,
    /// At least 8 characters, at most 72 UTF-8 bytes, no NUL.
    #[schema(value_type = String, min_length = 8, max_length = 72)]
    password: SecretString,
    #[serde(default = "yes")]
    #[schema(default = true)]
    is_active: bool,
    #[serde(default)]
    #[schema(default = false)]
    is_superuser: bool,
    /// The grants (each a known scope; `admin` only for a superuser).
    /// Absent: the default grants, and `admin` for a superuser.
    #[serde(default)]
    scopes: Option<Vec<String>>,
    /// As `PATCH /api/auth/users/me`.
    #[serde(default)]
    #[schema(format = Email)]
    email: Option<String>,
    /// E.164: `+` and 8 to 15 digits.
    #[serde(default)]
    #[schema(pattern = "^\\+[0-9]{8,15}$")]
    phone: Option<String>,
    #[serde(default)]
    #[schema(max_length = 256)]
    full_name: Option<String>,
}

fn yes() -> bool {
    true
}

impl CreateUserBody {
    pub(crate) fn into_request(
        self,
        catalogue: &ScopeCatalogue,
    ) -> Result<CreateUserRequest, ApiError> {
        let mut errors = Vec::new();
        let username = Username::parse(self.username)
            .map_err(|error| errors.push(FieldError::new("username", error.to_string())))
            .ok();
        let password = Password::parse(self.password)
            .map_err(|error| errors.push(FieldError::new("password", error.to_string())))
            .ok();
        let email = parse_field("email", self.email.map(Some), Email::parse, &mut errors);
        let phone = parse_field("phone", self.phone.map(Some), Phone::parse, &mut errors);
        let full_name = parse_field(
            "full_name",
            self.full_name.map(Some),
            FullName::parse,
            &mut errors,
        );
        let (Some(username), Some(password), true) = (username, password, errors.is_empty()) else {
            return Err(ApiError::Validation(errors));
        };
        let scopes = self
            .scopes
            .map(|names| grants(&names, catalogue))
            .transpose()?;
        Ok(CreateUserRequest {
            username,
            password,
            is_active: self.is_active,
            is_superuser: self.is_superuser,
            scopes,
            details: UserDetails {
                email: email.flatten(),
                phone: phone.flatten(),
                full_name: full_name.flatten(),
            },
        })
    }
}

/// An administrator's change to a user: only the fields sent change; for
/// the details, `null` clears. Unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"is_active": false, "scopes": ["me"], "full_name": null}))]
pub(crate) struct UpdateUserBody {
    /// `false` ends every session of the user.
    #[serde(default)]
    is_active: Option<bool>,
    /// Promoting grants `admin`, demoting withdraws it (unless `scopes`
    /// says otherwise).
    #[serde(default)]
    is_superuser: Option<bool>,
    /// The new grants, replacing the old.
    #[serde(default)]
    scopes: Option<Vec<String>>,
    /// A new password (the §3.2 policy): ends every session of the user.
    #[serde(default)]
    #[schema(value_type = Option<String>, min_length = 8, max_length = 72)]
    password: Option<SecretString>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = Email)]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, pattern = "^\\+[0-9]{8,15}$")]
    phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 256)]
    full_name: Option<Option<String>>,
}

impl UpdateUserBody {
    pub(crate) fn into_request(
        self,
        catalogue: &ScopeCatalogue,
    ) -> Result<UpdateUserRequest, ApiError> {
        let mut errors = Vec::new();
        let password = self.password.and_then(|raw| {
            Password::parse(raw)
                .map_err(|error| errors.push(FieldError::new("password", error.to_string())))
                .ok()
        });
        let details = DetailsUpdate {
            email: parse_field("email", self.email, Email::parse, &mut errors),
            phone: parse_field("phone", self.phone, Phone::parse, &mut errors),
            full_name: parse_field("full_name", self.full_name, FullName::parse, &mut errors),
        };
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        let scopes = self
            .scopes
            .map(|names| grants(&names, catalogue))
            .transpose()?;
        Ok(UpdateUserRequest {
            is_active: self.is_active,
            is_superuser: self.is_superuser,
            scopes,
            password,
            details,
        })
    }

    fn sets_password(&self) -> bool {
        self.password.is_some()
    }
}

/// Grants from their names, each one scope name known to the catalogue:
/// 400 `Invalid scope.` otherwise. (`admin` for a non-superuser is left to
/// the domain, which knows the user: 422 there.)
pub(crate) fn grants(names: &[String], catalogue: &ScopeCatalogue) -> Result<Scopes, ApiError> {
    let scopes = names
        .iter()
        .map(String::as_str)
        .map(ScopeName::parse)
        .collect::<Result<Scopes, _>>()
        .map_err(|_| ApiError::InvalidScope)?;
    catalogue
        .check(&scopes)
        .map_err(|_| ApiError::InvalidScope)?;
    Ok(scopes)
}

/// The users a query string asks for: `page` ≥ 1 (default 1), `per_page`
/// 1–200 (default 50), `q` a username substring of at most 64 characters.
fn user_query(query: &str) -> Result<UserQuery, ApiError> {
    let mut errors = Vec::new();
    let page = events::number(query, "page", &mut errors, |page: u32| page >= 1).unwrap_or(1);
    let per_page = events::number(query, "per_page", &mut errors, |per_page: u32| {
        (1..=UserQuery::MAX_PER_PAGE).contains(&per_page)
    })
    .unwrap_or(UserQuery::DEFAULT_PER_PAGE);
    let contains = events::text(query, "q", &mut errors, |raw| {
        if raw.chars().count() > Username::MAX_LEN || !text::is_storable(raw) {
            Err(format!(
                "q must be at most {} characters, without NUL.",
                Username::MAX_LEN
            ))
        } else {
            Ok(raw.to_owned())
        }
    });
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok(UserQuery {
        page,
        per_page,
        username_contains: contains.filter(|q| !q.is_empty()),
    })
}

/// Runs `work` as the acting superuser on the lane of `use_case`.
pub(crate) async fn as_superuser<T, E>(
    lanes: &Lanes,
    use_case: UseCase,
    admin: AdminData,
    credential: Credential,
    origin: Origin,
    work: impl FnOnce(&AdminService, &Actor) -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: Into<ApiError>,
{
    let admin = admin.into_inner();
    lanes
        .run(use_case, move || -> Result<T, ApiError> {
            let actor = admin.acting_superuser(&credential, origin)?;
            work(&admin, &actor).map_err(Into::into)
        })
        .await
}

/// The user a path names: `None` for a path no user can have (404 after
/// the superuser check).
pub(crate) fn named(path: &str) -> Option<Username> {
    Username::parse(path).ok()
}

pub(crate) fn found(username: Option<Username>) -> Result<Username, ApiError> {
    username.ok_or(ApiError::UserNotFound)
}

#[utoipa::path(get, path = "/api/admin/users", tag = "admin",
    summary = "List users, in id order",
    security(("bearer" = []), ("password" = ["admin"])),
    params(
        // Documented as int64: utoipa would call a u32 int32, whose
        // maximum is half the pages this route takes.
        ("page" = Option<i64>, Query, minimum = 1, maximum = 4_294_967_295_u32, description = "From 1 (default 1)"),
        ("per_page" = Option<u32>, Query, minimum = 1, maximum = 200, description = "Default 50"),
        ("q" = Option<String>, Query, max_length = 64,
            description = "Only usernames containing this (ignoring ASCII case)"),
    ),
    responses(
        (status = 200, description = "A page of users", body = Wire<UserList>,
            example = json!(example_list().to_value())),
        (status = 401, description = "Not authenticated. / Could not validate credentials.", body = Wire<NoData>,
            examples(
                ("Not authenticated." = (value = json!(error_example(ApiError::NotAuthenticated)))),
                ("Could not validate credentials." = (value = json!(error_example(ApiError::InvalidToken)))),
            )),
        (status = 403, description = "Not enough permissions.", body = Wire<NoData>,
            examples(
                ("Not enough permissions. (the token lacks the scope `admin`)" = (value = json!(forbidden_examples()[0]))),
                ("Not enough permissions. (the caller is not an active superuser now)" = (value = json!(forbidden_examples()[1]))),
            )),
        (status = 422, description = "Validation failed.", body = Wire<NoData>,
            example = json!(error_example(ApiError::validation("per_page", "per_page must be an integer from 1 to 200.")))),
        (status = "default", description = "Any other error (404, 405, 431, 500, 503…)", body = Wire<NoData>,
            example = json!(unavailable_example())),
    ))]
pub(crate) async fn list_users(
    admin: AdminData,
    lanes: LanesData,
    request: HttpRequest,
    RequestOrigin(origin): RequestOrigin,
    auth: Authorized<Admin>,
) -> Result<HttpResponse, ApiError> {
    let query = user_query(request.query_string())?;
    let asked = query.clone();
    let page = as_superuser(
        &lanes,
        UseCase::AdminListUsers,
        admin,
        auth.credential,
        origin,
        move |admin, _| admin.list_users(&asked),
    )
    .await?;
    Ok(user_list(&page, &query).into_response())
}

fn example_list() -> Envelope {
    let page = UserPage {
        users: vec![agent47()],
        total: 1,
    };
    user_list(
        &page,
        &UserQuery {
            page: 1,
            per_page: UserQuery::DEFAULT_PER_PAGE,
            username_contains: None,
        },
    )
}

#[utoipa::path(post, path = "/api/admin/users", tag = "admin",
    summary = "Create a user",
    security(("bearer" = []), ("password" = ["admin"])),
    request_body(content = CreateUserBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The new user", body = Wire<AdminUser>,
            example = json!(user_envelope(StatusCode::CREATED, &agent47()).to_value())),
        (status = 400, description = "User already registered. / Email already in use. / Phone already in use. / Invalid scope.", body = Wire<NoData>,
            examples(
                ("User already registered." = (value = json!(error_example(ApiError::AlreadyRegistered)))),
                ("Email already in use." = (value = json!(error_example(ApiError::EmailTaken)))),
                ("Phone already in use." = (value = json!(error_example(ApiError::PhoneTaken)))),
                ("Invalid scope." = (value = json!(error_example(ApiError::InvalidScope)))),
            )),
        (status = 401, description = "Not authenticated. / Could not validate credentials.", body = Wire<NoData>,
            examples(
                ("Not authenticated." = (value = json!(error_example(ApiError::NotAuthenticated)))),
                ("Could not validate credentials." = (value = json!(error_example(ApiError::InvalidToken)))),
            )),
        (status = 403, description = "Not enough permissions.", body = Wire<NoData>,
            examples(
                ("Not enough permissions. (the token lacks the scope `admin`)" = (value = json!(forbidden_examples()[0]))),
                ("Not enough permissions. (the caller is not an active superuser now)" = (value = json!(forbidden_examples()[1]))),
            )),
        (status = 422, description = "Validation failed.", body = Wire<NoData>,
            examples(
                ("A field breaks the policy" = (value = json!(error_example(ApiError::validation("password", PasswordError::TooShort.to_string()))))),
                ("admin for a user who is not a superuser" = (value = json!(error_example(ApiError::validation("scopes", ADMIN_NEEDS_SUPERUSER))))),
            )),
        (status = "default", description = "Any other error (404, 405, 413, 415, 431, 500, 503…)", body = Wire<NoData>,
            example = json!(unavailable_example())),
    ))]
pub(crate) async fn create_user(
    service: Service,
    admin: AdminData,
    lanes: LanesData,
    RequestOrigin(origin): RequestOrigin,
    auth: Authorized<Admin>,
    body: JsonBody<CreateUserBody>,
) -> Result<HttpResponse, ApiError> {
    let create = body.0.into_request(service.scopes())?;
    let user = as_superuser(
        &lanes,
        UseCase::AdminCreateUser,
        admin,
        auth.credential,
        origin,
        move |admin, actor| admin.create_user(actor, create),
    )
    .await?;
    Ok(user_envelope(StatusCode::CREATED, &user).into_response())
}

#[utoipa::path(get, path = "/api/admin/users/{username}", tag = "admin",
    summary = "One user",
    security(("bearer" = []), ("password" = ["admin"])),
    params(("username" = String, Path, description = "The user's username")),
    responses(
        (status = 200, description = "The user", body = Wire<AdminUser>,
            example = json!(user_envelope(StatusCode::OK, &agent47()).to_value())),
        (status = 401, description = "Not authenticated. / Could not validate credentials.", body = Wire<NoData>,
            examples(
                ("Not authenticated." = (value = json!(error_example(ApiError::NotAuthenticated)))),
                ("Could not validate credentials." = (value = json!(error_example(ApiError::InvalidToken)))),
            )),
        (status = 403, description = "Not enough permissions.", body = Wire<NoData>,
            examples(
                ("Not enough permissions. (the token lacks the scope `admin`)" = (value = json!(forbidden_examples()[0]))),
                ("Not enough permissions. (the caller is not an active superuser now)" = (value = json!(forbidden_examples()[1]))),
            )),
        (status = 404, description = "User not found.", body = Wire<NoData>,
            example = json!(error_example(ApiError::UserNotFound))),
        (status = "default", description = "Any other error (405, 431, 500, 503…)", body = Wire<NoData>,
            example = json!(unavailable_example())),
    ))]
pub(crate) async fn get_user(
    admin: AdminData,
    lanes: LanesData,
    RequestOrigin(origin): RequestOrigin,
    auth: Authorized<Admin>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let username = named(&path);
    let user = as_superuser(
        &lanes,
        UseCase::AdminGetUser,
        admin,
        auth.credential,
        origin,
        move |admin, _| -> Result<User, ApiError> { Ok(admin.get_user(&found(username)?)?) },
    )
    .await?;
    Ok(user_envelope(StatusCode::OK, &user).into_response())
}

#[utoipa::path(patch, path = "/api/admin/users/{username}", tag = "admin",
    summary = "Change a user (only the fields sent; null clears a detail)",
    description = "Deactivating a user or setting a password ends every session of the user. \
        A superuser cannot deactivate or demote themself, nor withdraw their own `admin`.",
    security(("bearer" = []), ("password" = ["admin"])),
    params(("username" = String, Path, description = "The user's username")),
    request_body(content = UpdateUserBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The user as changed", body = Wire<AdminUser>,
            example = json!(user_envelope(StatusCode::OK, &agent47()).to_value())),
        (status = 400, description = "Email already in use. / Phone already in use. / Invalid scope.", body = Wire<NoData>,
            examples(
                ("Email already in use." = (value = json!(error_example(ApiError::EmailTaken)))),
                ("Phone already in use." = (value = json!(error_example(ApiError::PhoneTaken)))),
                ("Invalid scope." = (value = json!(error_example(ApiError::InvalidScope)))),
            )),
        (status = 401, description = "Not authenticated. / Could not validate credentials.", body = Wire<NoData>,
            examples(
                ("Not authenticated." = (value = json!(error_example(ApiError::NotAuthenticated)))),
                ("Could not validate credentials." = (value = json!(error_example(ApiError::InvalidToken)))),
            )),
        (status = 403, description = "Not enough permissions. / Not allowed on your own account.", body = Wire<NoData>,
            examples(
                ("Not enough permissions. (the token lacks the scope `admin`)" = (value = json!(forbidden_examples()[0]))),
                ("Not enough permissions. (the caller is not an active superuser now)" = (value = json!(forbidden_examples()[1]))),
                ("Not allowed on your own account." = (value = json!(error_example(ApiError::OwnAccount)))),
            )),
        (status = 404, description = "User not found.", body = Wire<NoData>,
            example = json!(error_example(ApiError::UserNotFound))),
        (status = 422, description = "Validation failed.", body = Wire<NoData>,
            examples(
                ("A field breaks the policy" = (value = json!(error_example(ApiError::validation("email", domain::EmailError.to_string()))))),
                ("admin for a user who is not a superuser" = (value = json!(error_example(ApiError::validation("scopes", ADMIN_NEEDS_SUPERUSER))))),
            )),
        (status = 409, description = "The user was changed at the same time, try again.", body = Wire<NoData>,
            example = json!(error_example(domain::AdminError::Conflict.into()))),
        (status = "default", description = "Any other error (405, 413, 415, 431, 500, 503…)", body = Wire<NoData>,
            example = json!(unavailable_example())),
    ))]
pub(crate) async fn update_user(
    service: Service,
    admin: AdminData,
    lanes: LanesData,
    RequestOrigin(origin): RequestOrigin,
    auth: Authorized<Admin>,
    path: web::Path<String>,
    body: JsonBody<UpdateUserBody>,
) -> Result<HttpResponse, ApiError> {
    let use_case = if body.0.sets_password() {
        UseCase::AdminSetPassword
    } else {
        UseCase::AdminUpdateUser
    };
    let change = body.0.into_request(service.scopes())?;
    let username = named(&path);
    let user = as_superuser(
        &lanes,
        use_case,
        admin,
        auth.credential,
        origin,
        move |admin, actor| -> Result<User, ApiError> {
            Ok(admin.update_user(actor, &found(username)?, change)?)
        },
    )
    .await?;
    Ok(user_envelope(StatusCode::OK, &user).into_response())
}

#[utoipa::path(delete, path = "/api/admin/users/{username}", tag = "admin",
    summary = "Delete a user (details, sessions and counters go with it; audit events stay)",
    security(("bearer" = []), ("password" = ["admin"])),
    params(("username" = String, Path, description = "The user's username")),
    responses(
        (status = 200, description = "User deleted.", body = Wire<NoData>,
            example = json!(done(USER_DELETED).to_value())),
        (status = 401, description = "Not authenticated. / Could not validate credentials.", body = Wire<NoData>,
            examples(
                ("Not authenticated." = (value = json!(error_example(ApiError::NotAuthenticated)))),
                ("Could not validate credentials." = (value = json!(error_example(ApiError::InvalidToken)))),
            )),
        (status = 403, description = "Not enough permissions. / Not allowed on your own account.", body = Wire<NoData>,
            examples(
                ("Not enough permissions. (the token lacks the scope `admin`)" = (value = json!(forbidden_examples()[0]))),
                ("Not enough permissions. (the caller is not an active superuser now)" = (value = json!(forbidden_examples()[1]))),
                ("Not allowed on your own account." = (value = json!(error_example(ApiError::OwnAccount)))),
            )),
        (status = 404, description = "User not found.", body = Wire<NoData>,
            example = json!(error_example(ApiError::UserNotFound))),
        (status = "default", description = "Any other error (405, 431, 500, 503…)", body = Wire<NoData>,
            example = json!(unavailable_example())),
    ))]
pub(crate) async fn delete_user(
    admin: AdminData,
    lanes: LanesData,
    RequestOrigin(origin): RequestOrigin,
    auth: Authorized<Admin>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let username = named(&path);
    as_superuser(
        &lanes,
        UseCase::AdminDeleteUser,
        admin,
        auth.credential,
        origin,
        move |admin, actor| -> Result<(), ApiError> {
            Ok(admin.delete_user(actor, &found(username)?)?)
        },
    )
    .await?;
    Ok(done(USER_DELETED).into_response())
}

#[utoipa::path(post, path = "/api/admin/users/{username}/logout", tag = "admin",
    summary = "End every session of a user",
    security(("bearer" = []), ("password" = ["admin"])),
    params(("username" = String, Path, description = "The user's username")),
    responses(
        (status = 200, description = "Logged out of all sessions.", body = Wire<NoData>,
            example = json!(done(LOGGED_OUT).to_value())),
        (status = 401, description = "Not authenticated. / Could not validate credentials.", body = Wire<NoData>,
            examples(
                ("Not authenticated." = (value = json!(error_example(ApiError::NotAuthenticated)))),
                ("Could not validate credentials." = (value = json!(error_example(ApiError::InvalidToken)))),
            )),
        (status = 403, description = "Not enough permissions.", body = Wire<NoData>,
            examples(
                ("Not enough permissions. (the token lacks the scope `admin`)" = (value = json!(forbidden_examples()[0]))),
                ("Not enough permissions. (the caller is not an active superuser now)" = (value = json!(forbidden_examples()[1]))),
            )),
        (status = 404, description = "User not found.", body = Wire<NoData>,
            example = json!(error_example(ApiError::UserNotFound))),
        (status = "default", description = "Any other error (405, 431, 500, 503…)", body = Wire<NoData>,
            example = json!(unavailable_example())),
    ))]
pub(crate) async fn logout_user(
    admin: AdminData,
    lanes: LanesData,
    RequestOrigin(origin): RequestOrigin,
    auth: Authorized<Admin>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let username = named(&path);
    as_superuser(
        &lanes,
        UseCase::AdminLogoutUser,
        admin,
        auth.credential,
        origin,
        move |admin, actor| -> Result<(), ApiError> {
            Ok(admin.logout_user(actor, &found(username)?)?)
        },
    )
    .await?;
    Ok(done(LOGGED_OUT).into_response())
}

#[utoipa::path(post, path = "/api/admin/users/{username}/unlock", tag = "admin",
    summary = "Clear a user's failed-login count (lifts a 429)",
    security(("bearer" = []), ("password" = ["admin"])),
    params(("username" = String, Path, description = "The user's username")),
    responses(
        (status = 200, description = "Login limit cleared.", body = Wire<NoData>,
            example = json!(done(UNLOCKED).to_value())),
        (status = 401, description = "Not authenticated. / Could not validate credentials.", body = Wire<NoData>,
            examples(
                ("Not authenticated." = (value = json!(error_example(ApiError::NotAuthenticated)))),
                ("Could not validate credentials." = (value = json!(error_example(ApiError::InvalidToken)))),
            )),
        (status = 403, description = "Not enough permissions.", body = Wire<NoData>,
            examples(
                ("Not enough permissions. (the token lacks the scope `admin`)" = (value = json!(forbidden_examples()[0]))),
                ("Not enough permissions. (the caller is not an active superuser now)" = (value = json!(forbidden_examples()[1]))),
            )),
        (status = 404, description = "User not found.", body = Wire<NoData>,
            example = json!(error_example(ApiError::UserNotFound))),
        (status = "default", description = "Any other error (405, 431, 500, 503…)", body = Wire<NoData>,
            example = json!(unavailable_example())),
    ))]
pub(crate) async fn unlock_user(
    admin: AdminData,
    lanes: LanesData,
    RequestOrigin(origin): RequestOrigin,
    auth: Authorized<Admin>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let username = named(&path);
    as_superuser(
        &lanes,
        UseCase::AdminUnlockUser,
        admin,
        auth.credential,
        origin,
        move |admin, actor| -> Result<(), ApiError> {
            Ok(admin.unlock_user(actor, &found(username)?)?)
        },
    )
    .await?;
    Ok(done(UNLOCKED).into_response())
}

#[utoipa::path(get, path = "/api/admin/events", tag = "admin",
    summary = "Everyone's audit trail, newest first",
    description = "Page on with `before` = the `next_before` of the previous page (null: no \
        further page).",
    security(("bearer" = []), ("password" = ["admin"])),
    params(
        ("user" = Option<String>, Query, description = "Only events whose subject is this user"),
        ("action" = Option<String>, Query, description = "Only events of this action (`login.failed`, …)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200,
            description = "Events per page (default 50)"),
        ("before" = Option<i64>, Query, minimum = 1,
            description = "Only events with a smaller id: the `next_before` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of events", body = Wire<EventPage>,
            example = json!(events::example_page().to_value())),
        (status = 401, description = "Not authenticated. / Could not validate credentials.", body = Wire<NoData>,
            examples(
                ("Not authenticated." = (value = json!(error_example(ApiError::NotAuthenticated)))),
                ("Could not validate credentials." = (value = json!(error_example(ApiError::InvalidToken)))),
            )),
        (status = 403, description = "Not enough permissions.", body = Wire<NoData>,
            examples(
                ("Not enough permissions. (the token lacks the scope `admin`)" = (value = json!(forbidden_examples()[0]))),
                ("Not enough permissions. (the caller is not an active superuser now)" = (value = json!(forbidden_examples()[1]))),
            )),
        (status = 422, description = "Validation failed.", body = Wire<NoData>,
            example = json!(error_example(ApiError::validation("action", "Not a known action.")))),
        (status = "default", description = "Any other error (404, 405, 431, 500, 503…)", body = Wire<NoData>,
            example = json!(unavailable_example())),
    ))]
pub(crate) async fn events(
    admin: AdminData,
    lanes: LanesData,
    request: HttpRequest,
    RequestOrigin(origin): RequestOrigin,
    auth: Authorized<Admin>,
) -> Result<HttpResponse, ApiError> {
    let query = events::parse_query(request.query_string(), Filters::UserAndAction)?;
    let limit = query.limit;
    let found = as_superuser(
        &lanes,
        UseCase::AdminEvents,
        admin,
        auth.credential,
        origin,
        move |admin, _| admin.events(&query),
    )
    .await?;
    Ok(events::page(&found, limit).into_response())
}
