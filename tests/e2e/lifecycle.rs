//! The service as a process: racing clients, restarts, signals.

use std::{process::Command, time::Duration};

use crate::support::{Backend, Database, PASSWORD, TestApp};

fn racing_registrations_of_one_name_give_one_201_and_only_400s(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| app.register("contested", PASSWORD).status))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|&&s| s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|&s| s == 201 || s == 400),
        "{statuses:?}"
    );
    assert_eq!(app.login("contested", PASSWORD).status, 202);
}

fn data_and_tokens_survive_a_restart_and_migrations_rerun_as_a_no_op(backend: Backend) {
    let Some(database) = Database::fresh(backend) else {
        return;
    };
    let first = TestApp::start(database.url(), &[]);
    let (access, refresh) = first.signed_in("agent47");
    drop(first);

    let second = TestApp::start(database.url(), &[]);
    assert_eq!(second.get("/api/auth/users/me", Some(&access)).status, 200);
    assert_eq!(second.login("agent47", PASSWORD).status, 202);
    let refreshed = second.post_raw(
        &format!("/api/auth/token/refresh?refresh_token={refresh}"),
        None,
        "",
    );
    assert_eq!(refreshed.status, 201);
    assert_eq!(second.register("agent47", PASSWORD).status, 400);
}

fn sigterm_stops_the_service_cleanly(backend: Backend) {
    let Some((mut app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    assert_eq!(app.get("/", None).status, 200);
    let sent = Command::new("kill")
        .args(["-TERM", &app.pid().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let status = app
        .wait(Duration::from_secs(15))
        .expect("zentra did not stop within 15 s of SIGTERM");
    assert!(status.success(), "exit status {status:?}\n{}", app.logs());
}

crate::on_both_backends!(
    racing_registrations_of_one_name_give_one_201_and_only_400s,
    data_and_tokens_survive_a_restart_and_migrations_rerun_as_a_no_op,
    sigterm_stops_the_service_cleanly,
);
