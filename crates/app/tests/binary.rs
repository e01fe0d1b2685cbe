//! The binary's behaviour at the command line. (Having integration tests
//! also makes `cargo test` build `zentra` for the end-to-end suite.)

use std::process::Command;

fn zentra(env: &[(&str, &str)]) -> std::process::Output {
    let workdir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_zentra"))
        .env_clear()
        .current_dir(workdir.path())
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn a_bad_value_stops_the_start_with_one_line_naming_the_variable() {
    for (variable, value) in [
        ("AUTH__ALGORITHM", "ES384"),
        ("AUTH__SIGNING_KEYS", "{\"kty\": \"oct\"}"),
        ("DB__URL", "mysql://localhost/x"),
        ("AUTH__ROUNDS", "99"),
        ("SERVER__PORT", "port"),
        // A typo under one of our sections, rather than a silent default.
        ("AUTH__ROUNDZ", "4"),
    ] {
        let output = zentra(&[(variable, value)]);
        assert_eq!(output.status.code(), Some(2), "{variable}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(variable), "{stderr}");
    }
}

#[test]
fn outside_local_a_short_secret_stops_the_start_without_echoing_it() {
    let output = zentra(&[
        ("ENVIRONMENT", "production"),
        ("AUTH__SECRET_ACCESS_KEY", "tooshort"),
        (
            "AUTH__SECRET_REFRESH_KEY",
            "0123456789abcdef0123456789abcdef",
        ),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("AUTH__SECRET_ACCESS_KEY"), "{stderr}");
    assert!(!stderr.contains("tooshort"), "{stderr}");
}

#[test]
fn an_unreachable_database_fails_the_start_with_the_reason() {
    let output = zentra(&[
        ("DB__URL", "sqlite:////nonexistent-dir/zentra.db"),
        ("AUTH__ROUNDS", "4"),
        ("SERVER__PORT", "0"),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("nonexistent-dir"), "{stderr}");
}

fn zentra_in(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: &str,
) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_zentra"))
        .args(args)
        .env_clear()
        .current_dir(dir)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn new_key_prints_a_fresh_url_safe_key_without_any_configuration() {
    // A broken configuration must not stop key generation.
    let dir = tempfile::tempdir().unwrap();
    let a = zentra_in(
        dir.path(),
        &["new-key"],
        &[("AUTH__ALGORITHM", "broken")],
        "",
    );
    let b = zentra_in(dir.path(), &["new-key"], &[], "");
    assert!(a.status.success());
    let (a, b) = (stdout(&a).trim().to_owned(), stdout(&b).trim().to_owned());
    assert_ne!(a, b);
    assert!(a.len() >= 64, "{a}");
    assert!(
        a.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{a}"
    );
}

#[test]
fn new_key_with_an_algorithm_prints_a_private_jwk_the_service_starts_with() {
    let dir = tempfile::tempdir().unwrap();
    for (algorithm, kty) in [("EdDSA", "OKP"), ("ES256", "EC"), ("RS256", "RSA")] {
        let output = zentra_in(dir.path(), &["new-key", "--algorithm", algorithm], &[], "");
        assert!(output.status.success(), "{output:?}");
        let text = stdout(&output);
        assert_eq!(text.lines().count(), 1, "{text}");
        let jwk: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(jwk["kty"], kty);
        assert_eq!(jwk["alg"], algorithm);
        assert!(jwk["d"].is_string(), "{jwk}");
        let kid = jwk["kid"].as_str().unwrap();
        let checked = zentra_in(
            dir.path(),
            &["check-config"],
            &[
                ("ENVIRONMENT", "production"),
                ("AUTH__ALGORITHM", algorithm),
                ("AUTH__SIGNING_KEYS", text.trim()),
                (
                    "AUTH__SECRET_REFRESH_KEY",
                    "0123456789abcdef0123456789abcdef",
                ),
            ],
            "",
        );
        assert!(checked.status.success(), "{checked:?}");
        let shown = stdout(&checked);
        assert!(shown.contains(&format!("kid {kid})")), "{shown}");
        assert!(!shown.contains(jwk["d"].as_str().unwrap()), "{shown}");
    }
    let hmac = zentra_in(dir.path(), &["new-key", "--algorithm", "HS512"], &[], "");
    assert!(hmac.status.success());
    assert!(stdout(&hmac).trim().len() >= 64);
    let unknown = zentra_in(dir.path(), &["new-key", "--algorithm", "ES384"], &[], "");
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn check_config_prints_every_setting_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "a-very-secret-key-that-is-long-enough-0123";
    let output = zentra_in(
        dir.path(),
        &["check-config"],
        &[
            ("AUTH__SECRET_ACCESS_KEY", secret),
            ("AUTH__SECRET_REFRESH_KEY", &secret.to_uppercase()),
            ("DB__URL", "postgres://zentra:hunter2@db.internal/zentra"),
            ("SERVER__PORT", "9000"),
        ],
        "",
    );
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(text.contains("SERVER__PORT = 9000"), "{text}");
    assert!(
        text.contains("AUTH__SECRET_ACCESS_KEY = ********"),
        "{text}"
    );
    assert!(!text.contains(secret), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("db.internal"), "{text}");

    let bad = zentra_in(
        dir.path(),
        &["check-config"],
        &[("DB__POOL_SIZE", "-1")],
        "",
    );
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn migrate_applies_pending_migrations_once() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("DB__URL", "sqlite:///z.db")];
    let first = zentra_in(dir.path(), &["migrate"], &env, "");
    assert!(first.status.success(), "{first:?}");
    assert!(stdout(&first).contains("applied 20261124000001"));
    let second = zentra_in(dir.path(), &["migrate"], &env, "");
    assert_eq!(stdout(&second).trim(), "no pending migrations");
}

#[test]
fn create_user_reads_the_password_from_stdin_and_refuses_duplicates_and_weak_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("DB__URL", "sqlite:///z.db"), ("AUTH__ROUNDS", "4")];
    let args = ["create-user", "--username", "operator"];
    let created = zentra_in(dir.path(), &args, &env, "correct horse\n");
    assert!(created.status.success(), "{created:?}");
    assert_eq!(
        stdout(&created).trim(),
        "created user operator (scopes: me)"
    );

    let again = zentra_in(dir.path(), &args, &env, "correct horse\n");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("User already registered."));

    let weak = zentra_in(
        dir.path(),
        &["create-user", "--username", "other"],
        &env,
        "short\n",
    );
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("password"));
}

#[test]
fn operators_create_superusers_and_grant_scopes() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("DB__URL", "sqlite:///z.db"),
        ("AUTH__ROUNDS", "4"),
        ("AUTH__SCOPES", "items:read"),
    ];
    let root = zentra_in(
        dir.path(),
        &["create-user", "--username", "root", "--superuser"],
        &env,
        "correct horse\n",
    );
    assert!(root.status.success(), "{root:?}");
    assert_eq!(
        stdout(&root).trim(),
        "created superuser root (scopes: admin me)"
    );
    let user = zentra_in(
        dir.path(),
        &["create-user", "--username", "agent47"],
        &env,
        "correct horse\n",
    );
    assert!(user.status.success(), "{user:?}");

    let granted = zentra_in(dir.path(), &["grant", "agent47", "items:read"], &env, "");
    assert!(granted.status.success(), "{granted:?}");
    assert_eq!(stdout(&granted).trim(), "agent47 now holds: items:read me");
    // admin only to a superuser; unknown scopes and users are refused.
    for (args, said) in [
        (["grant", "agent47", "admin"], "admin scope"),
        (["grant", "agent47", "items:nope"], "unknown scope"),
        (["grant", "nobody", "me"], "User not found."),
    ] {
        let refused = zentra_in(dir.path(), &args, &env, "");
        assert!(!refused.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&refused.stderr).contains(said),
            "{args:?}: {refused:?}"
        );
    }
}

#[test]
fn every_command_has_help() {
    for command in [
        "serve",
        "migrate",
        "new-key",
        "check-config",
        "create-user",
        "grant",
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_zentra"))
            .args([command, "--help"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{command}");
        assert!(stdout(&output).contains("Usage: zentra"), "{command}");
    }
}
