//! The tables, typed alike on both backends: ids are `BigInt` (a rowid
//! alias on SQLite, `BIGSERIAL` on Postgres), times are `BigInt` Unix
//! seconds.

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        password -> Text,
        is_active -> Bool,
        /// Moves on with every password change (docs/api.md §8).
        credential_version -> BigInt,
        is_superuser -> Bool,
        /// The user's grants (docs/api.md §9): scope names, space-separated,
        /// in name order (`Scopes`'s text form).
        scopes -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    user_details (id) {
        id -> BigInt,
        user_id -> BigInt,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        full_name -> Nullable<Text>,
    }
}

diesel::table! {
    /// One row per refresh-token family; times are Unix seconds.
    sessions (id) {
        id -> BigInt,
        family -> Text,
        user_id -> BigInt,
        current_token_id -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        revoked -> Bool,
        /// The scopes granted at login, as `users.scopes` holds grants.
        scopes -> Text,
        /// The device of the login or latest refresh (docs/api.md §11).
        client_address -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        last_used_at -> Nullable<BigInt>,
        /// What the latest rotation retired and issued (docs/api.md §11's
        /// reuse grace; the access token only under a grace). The rotation's
        /// time is `last_used_at`, written by logins and rotations only.
        previous_token_id -> Nullable<Text>,
        successor_access_id -> Nullable<Text>,
        successor_scopes -> Nullable<Text>,
    }
}

diesel::table! {
    /// One row per place in the failed-login count per key: a failure, or
    /// an attempt whose password check is under way (docs/api.md §8);
    /// `failed_at` is when the place was taken, in Unix seconds.
    login_failures (id) {
        id -> BigInt,
        key -> Text,
        failed_at -> BigInt,
    }
}

diesel::table! {
    /// The audit trail (docs/api.md §9), one row per event. `actor` and
    /// `subject` are usernames, not keys: an event outlives its users.
    audit_events (id) {
        id -> BigInt,
        at -> BigInt,
        action -> Text,
        actor -> Nullable<Text>,
        subject -> Nullable<Text>,
        client_address -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    /// API keys (docs/api.md §10): the key's SHA-256 (`digest`, hex), never
    /// the key; times are Unix seconds.
    api_keys (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        prefix -> Text,
        digest -> Text,
        scopes -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(user_details -> users (user_id));
diesel::joinable!(api_keys -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    user_details,
    sessions,
    login_failures,
    audit_events,
    api_keys
);
