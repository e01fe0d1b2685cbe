//! Sessions per device (docs/api.md §11).

use super::*;
use crate::{Credential, SessionInfo};

fn info(id: i64, family: &str) -> SessionInfo {
    SessionInfo {
        id,
        family: family.into(),
        created_at: NOW - 100,
        last_used_at: Some(NOW - 10),
        expires_at: NOW + 100,
        device: device(),
    }
}

#[test]
fn the_callers_own_session_is_marked_current_and_a_key_has_none() {
    let token = Credential::Token(Claims {
        family: Some("fam-2".into()),
        ..access_claims("agent47", "me")
    });
    let key = Credential::ApiKey {
        digest: crate::KeyDigest::new("d".into()),
        needed: scopes("me"),
    };
    for (credential, expected) in [(token, [false, true]), (key, [false, false])] {
        let mut ports = Mocks::default();
        ports
            .sessions
            .expect_list_live()
            .with(eq(7), eq(NOW))
            .times(1)
            .returning(|_, _| Ok(vec![info(3, "fam-3"), info(2, "fam-2")]));
        let listed = ports
            .service()
            .list_sessions(&credential, &user("agent47", true))
            .unwrap();
        let current: Vec<bool> = listed.iter().map(|listed| listed.current).collect();
        assert_eq!(current, expected);
        assert_eq!(listed[1].session, info(2, "fam-2"));
    }
}

#[test]
fn revoking_a_session_is_the_owners_and_recorded() {
    for stored in [true, false] {
        let mut ports = Mocks::default();
        ports
            .sessions
            .expect_revoke_by_id()
            .withf(|id, user_id, now, event| {
                (*id, *user_id, *now) == (3, 7, NOW)
                    && event.action == Action::SessionRevoked
                    && event.origin == origin()
            })
            .times(1)
            .returning(move |_, _, _, _| Ok(stored));
        let revoked = ports
            .service()
            .revoke_session(&user("agent47", true), 3, &origin())
            .unwrap();
        assert_eq!(revoked, stored);
    }
}
