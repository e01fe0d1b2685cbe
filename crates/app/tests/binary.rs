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
        ("AUTH__ALGORITHM", "RS256"),
        ("DB__URL", "mysql://localhost/x"),
        ("AUTH__ROUNDS", "99"),
        ("SERVER__PORT", "port"),
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

#[test]
fn help_lists_serve() {
    let output = Command::new(env!("CARGO_BIN_EXE_zentra"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8(output.stdout).unwrap().contains("serve"));
}
