//! API keys: stored by digest with their event, found with their owner,
//! revoked only by their owner, used at most once a minute, pruned once
//! expired, gone with their user.

use adapters_db::DieselApiKeyRepository;
use adapters_db::schema::api_keys;
use diesel::prelude::*;
use domain::{Action, ApiKeyRepository, KeyDigest, KeyName, NewApiKey, UserChange, UserRepository};

use crate::{NOW, TestDb, audit_actions, event, race, scopes};

contract!(
    a_key_is_stored_with_its_event_and_found_by_digest_with_its_owner,
    a_key_of_a_deleted_user_is_not_stored,
    keys_are_listed_newest_first_and_only_the_owners,
    a_key_is_revoked_only_by_its_owner_and_once,
    a_deactivated_owner_comes_back_with_their_key,
    deleting_a_user_deletes_their_keys,
    use_is_written_at_most_once_a_minute_even_by_racing_requests,
    expired_keys_are_pruned,
    concurrent_lookups_each_find_their_own_key_and_owner,
);

struct Keys {
    users: adapters_db::DieselUserRepository,
    keys: DieselApiKeyRepository,
    pool: adapters_db::DbPool,
}

fn keys(db: &TestDb) -> Keys {
    let pool = db.pool(4);
    Keys {
        users: adapters_db::DieselUserRepository::new(pool.clone()),
        keys: DieselApiKeyRepository::new(pool.clone()),
        pool,
    }
}

fn new_key(user_id: i64, digest: &str, expires_at: u64) -> NewApiKey {
    NewApiKey {
        user_id,
        name: KeyName::parse(&format!("key {digest}")).unwrap(),
        prefix: digest.chars().take(8).collect(),
        digest: KeyDigest::new(digest.into()),
        scopes: scopes("items:read me"),
        created_at: NOW,
        expires_at,
    }
}

impl Keys {
    fn store(&self, user_id: i64, digest: &str, expires_at: u64) -> domain::ApiKey {
        self.keys
            .create(
                &new_key(user_id, digest, expires_at),
                &event(Action::ApiKeyCreated),
            )
            .unwrap()
            .expect("the user exists")
    }

    fn last_used(&self, key_id: i64) -> Option<i64> {
        api_keys::table
            .find(key_id)
            .select(api_keys::last_used_at)
            .first(&mut self.pool.get().unwrap())
            .unwrap()
    }

    fn count(&self) -> i64 {
        api_keys::table
            .count()
            .get_result(&mut self.pool.get().unwrap())
            .unwrap()
    }
}

fn a_key_is_stored_with_its_event_and_found_by_digest_with_its_owner(db: &TestDb) {
    let k = keys(db);
    let owner = crate::active_user(&k.users, "agent47");
    let stored = k.store(owner.id, "digest-one", NOW + 100);
    assert_eq!(stored.user_id, owner.id);
    assert_eq!(stored.name.as_str(), "key digest-one");
    assert_eq!(stored.prefix, "digest-o");
    assert_eq!(stored.scopes, scopes("items:read me"));
    assert_eq!((stored.created_at, stored.expires_at), (NOW, NOW + 100));
    assert_eq!(stored.last_used_at, None);
    assert_eq!(
        audit_actions(&k.pool),
        ["user.registered", "api_key.created"]
    );

    let (found, found_owner) = k
        .keys
        .find(&KeyDigest::new("digest-one".into()))
        .unwrap()
        .unwrap();
    assert_eq!(found, stored);
    assert_eq!(found_owner, owner);
    assert_eq!(
        k.keys.find(&KeyDigest::new("digest-two".into())).unwrap(),
        None
    );
}

fn a_key_of_a_deleted_user_is_not_stored(db: &TestDb) {
    let k = keys(db);
    let created = k
        .keys
        .create(
            &new_key(424_242, "digest", NOW + 100),
            &event(Action::ApiKeyCreated),
        )
        .unwrap();
    assert_eq!(created, None);
    assert_eq!(k.count(), 0);
    assert!(
        audit_actions(&k.pool).is_empty(),
        "no event without the key"
    );
}

fn keys_are_listed_newest_first_and_only_the_owners(db: &TestDb) {
    let k = keys(db);
    let agent = crate::active_user(&k.users, "agent47");
    let other = crate::active_user(&k.users, "agent48");
    let first = k.store(agent.id, "d1", NOW + 100);
    k.store(other.id, "d2", NOW + 100);
    let third = k.store(agent.id, "d3", NOW + 100);
    let listed: Vec<i64> = k
        .keys
        .list(agent.id)
        .unwrap()
        .iter()
        .map(|key| key.id)
        .collect();
    assert_eq!(listed, [third.id, first.id]);
}

fn a_key_is_revoked_only_by_its_owner_and_once(db: &TestDb) {
    let k = keys(db);
    let agent = crate::active_user(&k.users, "agent47");
    let other = crate::active_user(&k.users, "agent48");
    let key = k.store(agent.id, "d1", NOW + 100);
    assert!(
        !k.keys
            .revoke(other.id, key.id, &event(Action::ApiKeyRevoked))
            .unwrap()
    );
    let revoked = race(4, |_| {
        k.keys
            .revoke(agent.id, key.id, &event(Action::ApiKeyRevoked))
            .unwrap()
    });
    assert_eq!(revoked.iter().filter(|done| **done).count(), 1);
    assert_eq!(k.keys.find(&KeyDigest::new("d1".into())).unwrap(), None);
    let revocations = audit_actions(&k.pool)
        .into_iter()
        .filter(|action| action == "api_key.revoked")
        .count();
    assert_eq!(revocations, 1, "one event, from the one revocation");
}

fn a_deactivated_owner_comes_back_with_their_key(db: &TestDb) {
    let k = keys(db);
    let agent = crate::active_user(&k.users, "agent47");
    k.store(agent.id, "d1", NOW + 100);
    k.users
        .update(
            agent.id,
            &UserChange {
                is_active: Some(false),
                ..UserChange::default()
            },
            &event(Action::AdminUserUpdated),
        )
        .unwrap();
    let (_, owner) = k.keys.find(&KeyDigest::new("d1".into())).unwrap().unwrap();
    assert!(!owner.is_active);
}

fn deleting_a_user_deletes_their_keys(db: &TestDb) {
    let k = keys(db);
    let agent = crate::active_user(&k.users, "agent47");
    let other = crate::active_user(&k.users, "agent48");
    k.store(agent.id, "d1", NOW + 100);
    k.store(other.id, "d2", NOW + 100);
    assert!(
        k.users
            .delete(agent.id, &event(Action::AdminUserDeleted))
            .unwrap()
    );
    assert_eq!(k.keys.find(&KeyDigest::new("d1".into())).unwrap(), None);
    assert!(k.keys.find(&KeyDigest::new("d2".into())).unwrap().is_some());
}

fn use_is_written_at_most_once_a_minute_even_by_racing_requests(db: &TestDb) {
    let k = keys(db);
    let agent = crate::active_user(&k.users, "agent47");
    let key = k.store(agent.id, "d1", NOW + 1000);
    // Eight requests at once, each seeing the key unused: one time is
    // written, and a later one within the minute writes nothing.
    race(8, |i| k.keys.touch(key.id, NOW + i as u64).unwrap());
    let first = k.last_used(key.id).expect("written");
    assert!((NOW as i64..NOW as i64 + 8).contains(&first));
    k.keys.touch(key.id, first as u64 + 59).unwrap();
    assert_eq!(k.last_used(key.id), Some(first));
    k.keys.touch(key.id, first as u64 + 60).unwrap();
    assert_eq!(k.last_used(key.id), Some(first + 60));
}

fn expired_keys_are_pruned(db: &TestDb) {
    let k = keys(db);
    let agent = crate::active_user(&k.users, "agent47");
    k.store(agent.id, "expired", NOW);
    k.store(agent.id, "live", NOW + 1);
    assert_eq!(k.keys.prune(NOW).unwrap(), 1);
    let left: Vec<String> = k
        .keys
        .list(agent.id)
        .unwrap()
        .into_iter()
        .map(|key| key.prefix)
        .collect();
    assert_eq!(left, ["live"]);
}

fn concurrent_lookups_each_find_their_own_key_and_owner(db: &TestDb) {
    // On Postgres concurrent lookups share queries: each still gets its
    // own key with its own owner (or none).
    const THREADS: usize = 8;
    let k = keys(db);
    let mut stored = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let owner = crate::active_user(&k.users, name);
        stored.push((format!("digest-{name}"), name));
        k.store(owner.id, &format!("digest-{name}"), NOW + 100);
    }
    let found = race(THREADS, |i| {
        (0..30)
            .map(|round| {
                let pick = (i + round) % 4;
                let digest = stored
                    .get(pick)
                    .map_or("digest-nobody".to_owned(), |(digest, _)| digest.clone());
                let found = k.keys.find(&KeyDigest::new(digest)).unwrap();
                (
                    pick,
                    found.map(|(key, owner)| (key.prefix, owner.username.to_string())),
                )
            })
            .collect::<Vec<_>>()
    });
    for (pick, found) in found.into_iter().flatten() {
        match stored.get(pick) {
            Some((digest, owner)) => assert_eq!(
                found,
                Some((digest.chars().take(8).collect(), (*owner).to_owned()))
            ),
            None => assert_eq!(found, None),
        }
    }
}
