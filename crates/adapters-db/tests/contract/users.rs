//! Creating and finding users, and the pool under them.

use std::time::Duration;

use adapters_db::schema::{user_details, users};
use adapters_db::{DbPool, DieselUserRepository, build_pool, connect, ping};
use diesel::prelude::*;
use domain::{CreateUserError, User, UserDetails, UserRepository};

use crate::{TestDb, active_user, name, new_user, race};

contract!(
    a_created_user_is_found_with_empty_details,
    an_unknown_username_is_not_found,
    usernames_are_case_sensitive,
    a_taken_username_is_refused_and_adds_no_details_row,
    concurrent_creations_of_one_name_have_exactly_one_winner,
    the_details_row_exists_after_create,
    deleting_a_user_deletes_the_details,
    an_exhausted_pool_is_unavailable,
    ping_answers,
);

fn count_rows(pool: &DbPool) -> (i64, i64) {
    let mut conn = pool.get().unwrap();
    let users: i64 = users::table.count().get_result(&mut conn).unwrap();
    let details: i64 = user_details::table.count().get_result(&mut conn).unwrap();
    (users, details)
}

fn a_created_user_is_found_with_empty_details(db: &TestDb) {
    let (repo, _) = db.repo(2);
    let hash = "$2b$04$abcdefghijklmnopqrstuu5Ih1k1Eo6cc7cvBnD0hXgGmvX4P6vba";

    let created = repo.create(&new_user("agent47", hash, true)).unwrap();
    let inactive = repo.create(&new_user("sleeper", "other", false)).unwrap();

    assert_eq!(created.username.as_ref(), "agent47");
    assert_eq!(created.password_hash.as_ref(), hash);
    assert!(created.is_active);
    assert_eq!(created.details, UserDetails::default());
    assert_ne!(created.id, inactive.id);

    let found = repo.find_by_username(&name("agent47")).unwrap().unwrap();
    assert_eq!(found, created);
    let found: User = repo.find_by_username(&name("sleeper")).unwrap().unwrap();
    assert_eq!(found, inactive);
    assert!(!found.is_active);
}

fn an_unknown_username_is_not_found(db: &TestDb) {
    let (repo, _) = db.repo(2);
    active_user(&repo, "agent47");

    assert_eq!(repo.find_by_username(&name("agent48")).unwrap(), None);
    assert_eq!(repo.find_by_username(&name("agent4")).unwrap(), None);
}

fn usernames_are_case_sensitive(db: &TestDb) {
    let (repo, pool) = db.repo(2);

    let upper = repo.create(&new_user("Agent", "upper-hash", true)).unwrap();
    let lower = repo.create(&new_user("agent", "lower-hash", true)).unwrap();

    assert_ne!(upper.id, lower.id);
    let found_upper = repo.find_by_username(&name("Agent")).unwrap().unwrap();
    let found_lower = repo.find_by_username(&name("agent")).unwrap().unwrap();
    assert_eq!(found_upper.password_hash.as_ref(), "upper-hash");
    assert_eq!(found_lower.password_hash.as_ref(), "lower-hash");
    assert_eq!(repo.find_by_username(&name("AGENT")).unwrap(), None);
    assert_eq!(count_rows(&pool), (2, 2));
}

fn a_taken_username_is_refused_and_adds_no_details_row(db: &TestDb) {
    let (repo, pool) = db.repo(2);
    let first = repo.create(&new_user("agent47", "first", true)).unwrap();

    let second = repo.create(&new_user("agent47", "second", false));

    assert!(
        matches!(second, Err(CreateUserError::UsernameTaken)),
        "{second:?}"
    );
    assert_eq!(count_rows(&pool), (1, 1));
    let found = repo.find_by_username(&name("agent47")).unwrap().unwrap();
    assert_eq!(found, first);
}

fn concurrent_creations_of_one_name_have_exactly_one_winner(db: &TestDb) {
    const THREADS: usize = 8;
    let (repo, pool) = db.repo(THREADS as u32);

    let results = race(THREADS, |i| {
        repo.create(&new_user("racer", &format!("hash-{i}"), true))
    });

    let winners = results.iter().filter(|r| r.is_ok()).count();
    let taken = results
        .iter()
        .filter(|r| matches!(r, Err(CreateUserError::UsernameTaken)))
        .count();
    assert_eq!(
        (winners, taken),
        (1, THREADS - 1),
        "every loser must see UsernameTaken: {results:?}"
    );
    assert_eq!(count_rows(&pool), (1, 1));
    let winner = results.into_iter().find_map(Result::ok).unwrap();
    assert_eq!(
        repo.find_by_username(&name("racer")).unwrap().unwrap(),
        winner
    );
}

fn the_details_row_exists_after_create(db: &TestDb) {
    let (repo, pool) = db.repo(2);
    let user = active_user(&repo, "agent47");

    type DetailsRow = (i64, Option<String>, Option<String>, Option<String>);
    let rows: Vec<DetailsRow> = user_details::table
        .filter(user_details::user_id.eq(user.id))
        .select((
            user_details::user_id,
            user_details::email,
            user_details::phone,
            user_details::full_name,
        ))
        .load(&mut pool.get().unwrap())
        .unwrap();

    assert_eq!(rows, [(user.id, None, None, None)]);
}

fn deleting_a_user_deletes_the_details(db: &TestDb) {
    // Needs foreign keys enforced: on SQLite only the pragma does that.
    let (repo, pool) = db.repo(2);
    let gone = active_user(&repo, "gone");
    active_user(&repo, "kept");

    let mut conn = pool.get().unwrap();
    diesel::delete(users::table.filter(users::id.eq(gone.id)))
        .execute(&mut conn)
        .unwrap();
    drop(conn);

    assert_eq!(count_rows(&pool), (1, 1));
    assert_eq!(repo.find_by_username(&name("gone")).unwrap(), None);
    assert!(repo.find_by_username(&name("kept")).unwrap().is_some());
}

fn an_exhausted_pool_is_unavailable(db: &TestDb) {
    connect(&db.url, 1).unwrap();
    let pool = build_pool(&db.url, 1, Duration::from_millis(200)).unwrap();
    let repo = DieselUserRepository::new(pool.clone());
    let _held = pool.get().unwrap();

    let found = repo.find_by_username(&name("agent47"));
    let created = repo.create(&new_user("agent47", "h", true));
    let pinged = ping(&pool);

    assert!(
        matches!(found, Err(domain::InfraError::Unavailable(_))),
        "{found:?}"
    );
    assert!(
        matches!(
            created,
            Err(CreateUserError::Infra(domain::InfraError::Unavailable(_)))
        ),
        "{created:?}"
    );
    assert!(
        matches!(pinged, Err(domain::InfraError::Unavailable(_))),
        "{pinged:?}"
    );
}

fn ping_answers(db: &TestDb) {
    ping(&db.pool(1)).unwrap();
}
