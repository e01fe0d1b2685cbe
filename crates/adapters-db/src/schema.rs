//! The tables, typed alike on both backends: ids are `BigInt` (a rowid
//! alias on SQLite, `BIGSERIAL` on Postgres).

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        password -> Text,
        is_active -> Bool,
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

diesel::joinable!(user_details -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(users, user_details);
