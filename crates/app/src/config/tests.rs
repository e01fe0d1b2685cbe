use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};

use super::*;

const KEY_32: &str = "0123456789abcdef0123456789abcdef";
const KEY_64: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    Settings::from_vars(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
}

fn error_variable(vars: &[(&str, &str)]) -> String {
    settings(vars).unwrap_err().variable
}

#[test]
fn an_empty_environment_gives_the_documented_defaults() {
    let s = settings(&[]).unwrap();
    assert_eq!(s.environment, Environment::Local);
    assert_eq!(
        s.database_url,
        DatabaseUrl::parse("sqlite:///zentra.db").unwrap()
    );
    assert_eq!(s.pool_size, 8);
    assert_eq!(s.lookup_threads, 32);
    assert_eq!(s.sqlite, SqliteOptions::default());
    assert_eq!(s.jwt.algorithm, JwtAlgorithm::Hs256);
    assert_eq!(s.jwt.issuer, "zentra");
    assert_eq!(s.jwt.access_lifetime_secs, 15 * 60);
    assert_eq!(s.jwt.refresh_lifetime_secs, 10_080 * 60);
    assert_eq!(s.bcrypt_cost, 12);
    assert_eq!(
        s.login_limits,
        LoginLimits {
            max_failures: 10,
            max_failures_per_address: 100,
            window_secs: 15 * 60
        }
    );
    assert_eq!(
        s.server,
        ServerSettings {
            host: "127.0.0.1".into(),
            port: 8000,
            public_url: String::new(),
            body_limit_bytes: 65_536,
            trust_forwarded_for: false,
            trusted_proxy_hops: 1,
            client_timeout_secs: 10,
        }
    );
    assert!(s.cors_origins.is_empty());
    assert_eq!(s.scopes.known().to_string(), "admin introspect me");
    assert_eq!(s.scopes.defaults().to_string(), "me");
    assert_eq!(s.audit_retention_secs, 90 * 86_400);
    assert_eq!(s.refresh_reuse_grace_secs, 0);
    assert!(s.first_superuser.is_none());
}

#[test]
fn the_refresh_reuse_grace_is_read_and_bounded() {
    let s = settings(&[("AUTH__REFRESH_REUSE_GRACE_SECS", "10")]).unwrap();
    assert_eq!(s.refresh_reuse_grace_secs, 10);
    for bad in ["301", "-1", "ten"] {
        assert_eq!(
            error_variable(&[("AUTH__REFRESH_REUSE_GRACE_SECS", bad)]),
            "AUTH__REFRESH_REUSE_GRACE_SECS",
            "{bad}"
        );
    }
    // The access token answered again must outlive the grace.
    let short = [
        ("AUTH__ACCESS_TOKEN_EXPIRE_MINS", "1"),
        ("AUTH__REFRESH_REUSE_GRACE_SECS", "60"),
    ];
    assert_eq!(error_variable(&short), "AUTH__REFRESH_REUSE_GRACE_SECS");
    let fits = [
        ("AUTH__ACCESS_TOKEN_EXPIRE_MINS", "1"),
        ("AUTH__REFRESH_REUSE_GRACE_SECS", "59"),
    ];
    assert_eq!(settings(&fits).unwrap().refresh_reuse_grace_secs, 59);
}

#[test]
fn the_operators_scopes_and_default_grants_are_read_and_checked() {
    let s = settings(&[
        ("AUTH__SCOPES", "items:read, items:write"),
        ("AUTH__DEFAULT_SCOPES", "me items:read"),
        ("AUTH__AUDIT_RETENTION_DAYS", "7"),
    ])
    .unwrap();
    assert_eq!(
        s.scopes.known().to_string(),
        "admin introspect items:read items:write me"
    );
    assert_eq!(s.scopes.defaults().to_string(), "items:read me");
    assert_eq!(s.audit_retention_secs, 7 * 86_400);
    assert_eq!(error_variable(&[("AUTH__SCOPES", "Items")]), "AUTH__SCOPES");
    for defaults in ["me items:read", "me admin"] {
        assert_eq!(
            error_variable(&[("AUTH__DEFAULT_SCOPES", defaults)]),
            "AUTH__DEFAULT_SCOPES",
            "{defaults}"
        );
    }
    assert_eq!(
        error_variable(&[("AUTH__AUDIT_RETENTION_DAYS", "0")]),
        "AUTH__AUDIT_RETENTION_DAYS"
    );
}

#[test]
fn the_first_superuser_needs_both_variables_and_a_policy_password() {
    let s = settings(&[
        ("DB__FIRST_SUPERUSER", "root@example.com"),
        ("DB__FIRST_SUPERUSER_PASSWORD", "correct horse"),
    ])
    .unwrap();
    let (username, _password) = s.first_superuser.clone().unwrap();
    assert_eq!(username.as_ref(), "root@example.com");
    assert!(!s.describe().contains("correct horse"));
    assert!(
        s.describe()
            .contains("DB__FIRST_SUPERUSER_PASSWORD = ********")
    );
    assert_eq!(
        error_variable(&[("DB__FIRST_SUPERUSER", "root")]),
        "DB__FIRST_SUPERUSER_PASSWORD"
    );
    assert_eq!(
        error_variable(&[("DB__FIRST_SUPERUSER_PASSWORD", "correct horse")]),
        "DB__FIRST_SUPERUSER"
    );
    assert_eq!(
        error_variable(&[
            ("DB__FIRST_SUPERUSER", "root"),
            ("DB__FIRST_SUPERUSER_PASSWORD", "short")
        ]),
        "DB__FIRST_SUPERUSER_PASSWORD"
    );
    assert_eq!(
        error_variable(&[
            ("DB__FIRST_SUPERUSER", "no spaces"),
            ("DB__FIRST_SUPERUSER_PASSWORD", "correct horse")
        ]),
        "DB__FIRST_SUPERUSER"
    );
}

#[test]
fn local_without_secrets_gets_distinct_random_keys_and_a_warning() {
    let s = settings(&[]).unwrap();
    assert_ne!(
        s.jwt.access_keys,
        AccessKeys::Hmac(s.jwt.refresh_secret.clone())
    );
    assert!(matches!(&s.jwt.access_keys, AccessKeys::Hmac(key) if key.byte_len() >= 64));
    assert_eq!(s.warnings.len(), 2);
    assert!(s.warnings[0].contains("AUTH__SECRET_ACCESS_KEY"));
}

#[test]
fn variables_override_defaults() {
    let s = settings(&[
        ("DB__URL", "postgres://postgres@127.0.0.1:5432/test"),
        ("DB__POOL_SIZE", "3"),
        ("DB__LOOKUP_THREADS", "0"),
        ("DB__SQLITE_SYNCHRONOUS", "normal"),
        ("DB__SQLITE_MMAP_MB", "256"),
        ("AUTH__ALGORITHM", "HS512"),
        ("AUTH__SECRET_ACCESS_KEY", KEY_64),
        ("AUTH__SECRET_REFRESH_KEY", &KEY_64.to_uppercase()),
        ("AUTH__ROUNDS", "4"),
        ("AUTH__ACCESS_TOKEN_EXPIRE_MINS", "5"),
        ("AUTH__ISSUER", "acme"),
        ("SERVER__PORT", "0"),
        ("SERVER__TRUST_FORWARDED_FOR", "true"),
        ("SERVER__TRUSTED_PROXY_HOPS", "2"),
        ("SERVER__CLIENT_TIMEOUT_SECS", "30"),
        ("BACKEND_CORS_ORIGINS", "http://a.test, http://b.test,"),
        ("ENVIRONMENT", "production"),
    ])
    .unwrap();
    assert!(matches!(s.database_url, DatabaseUrl::Postgres(_)));
    assert_eq!(s.pool_size, 3);
    assert_eq!(s.lookup_threads, 0);
    assert_eq!(
        s.sqlite,
        SqliteOptions {
            sync: SqliteSync::Normal,
            mmap_bytes: 256 << 20,
        }
    );
    assert_eq!(s.jwt.algorithm, JwtAlgorithm::Hs512);
    assert_eq!(s.jwt.access_keys, AccessKeys::Hmac(SecretKey::new(KEY_64)));
    assert_eq!(s.jwt.access_lifetime_secs, 300);
    assert_eq!(s.jwt.issuer, "acme");
    assert_eq!(s.bcrypt_cost, 4);
    assert_eq!(s.server.port, 0);
    assert!(s.server.trust_forwarded_for);
    assert_eq!(s.server.trusted_proxy_hops, 2);
    assert_eq!(s.server.client_timeout_secs, 30);
    assert_eq!(s.cors_origins, ["http://a.test", "http://b.test"]);
    assert!(s.warnings.is_empty());
}

#[test]
fn an_unknown_sqlite_synchronous_is_refused() {
    let error = settings(&[("DB__SQLITE_SYNCHRONOUS", "off")]).unwrap_err();
    assert!(
        error.to_string().contains("DB__SQLITE_SYNCHRONOUS"),
        "{error}"
    );
}

#[test]
fn a_secret_like_0123_stays_a_string() {
    // config's try_parsing would turn it into the number 123.
    let s = settings(&[("AUTH__SECRET_ACCESS_KEY", "0123")]).unwrap();
    assert_eq!(s.jwt.access_keys, AccessKeys::Hmac(SecretKey::new("0123")));
}

#[test]
fn bad_values_name_their_variable() {
    assert_eq!(
        error_variable(&[("AUTH__ALGORITHM", "ES384")]),
        "AUTH__ALGORITHM"
    );
    assert_eq!(error_variable(&[("DB__URL", "mysql://x")]), "DB__URL");
    assert_eq!(
        error_variable(&[("DB__POOL_SIZE", "many")]),
        "DB__POOL_SIZE"
    );
    assert_eq!(error_variable(&[("DB__POOL_SIZE", "0")]), "DB__POOL_SIZE");
    assert_eq!(error_variable(&[("AUTH__ROUNDS", "3")]), "AUTH__ROUNDS");
    assert_eq!(error_variable(&[("AUTH__ROUNDS", "32")]), "AUTH__ROUNDS");
    assert_eq!(error_variable(&[("SERVER__PORT", "70000")]), "SERVER__PORT");
    assert_eq!(
        error_variable(&[("SERVER__TRUST_FORWARDED_FOR", "maybe")]),
        "SERVER__TRUST_FORWARDED_FOR"
    );
    for hops in ["0", "17", "-1", "one"] {
        assert_eq!(
            error_variable(&[("SERVER__TRUSTED_PROXY_HOPS", hops)]),
            "SERVER__TRUSTED_PROXY_HOPS",
            "{hops}"
        );
    }
    for secs in ["0", "601", "ten"] {
        assert_eq!(
            error_variable(&[("SERVER__CLIENT_TIMEOUT_SECS", secs)]),
            "SERVER__CLIENT_TIMEOUT_SECS",
            "{secs}"
        );
    }
    assert_eq!(error_variable(&[("ENVIRONMENT", "prod")]), "ENVIRONMENT");
    assert_eq!(
        error_variable(&[("AUTH__REFRESH_TOKEN_EXPIRE_MINS", "1")]),
        "AUTH__REFRESH_TOKEN_EXPIRE_MINS"
    );
}

#[test]
fn outside_local_secrets_are_required_and_long_enough_for_the_algorithm() {
    let production = ("ENVIRONMENT", "production");
    assert_eq!(error_variable(&[production]), "AUTH__SECRET_ACCESS_KEY");
    assert_eq!(
        error_variable(&[production, ("AUTH__SECRET_ACCESS_KEY", KEY_32)]),
        "AUTH__SECRET_REFRESH_KEY"
    );
    let short = &KEY_32[..31];
    let error = settings(&[
        production,
        ("AUTH__SECRET_ACCESS_KEY", short),
        ("AUTH__SECRET_REFRESH_KEY", KEY_32),
    ])
    .unwrap_err();
    assert_eq!(error.variable, "AUTH__SECRET_ACCESS_KEY");
    assert!(error.message.contains("32"), "{error}");
    // 32 bytes suffice for HS256 but not for HS512.
    assert_eq!(
        error_variable(&[
            production,
            ("AUTH__ALGORITHM", "HS512"),
            ("AUTH__SECRET_ACCESS_KEY", KEY_32),
            ("AUTH__SECRET_REFRESH_KEY", KEY_32),
        ]),
        "AUTH__SECRET_ACCESS_KEY"
    );
}

#[test]
fn the_access_and_refresh_keys_must_differ() {
    // One key for both would let a refresh token pass as an access token.
    for environment in ["local", "production"] {
        let error = settings(&[
            ("ENVIRONMENT", environment),
            ("AUTH__SECRET_ACCESS_KEY", KEY_32),
            ("AUTH__SECRET_REFRESH_KEY", KEY_32),
        ])
        .unwrap_err();
        assert_eq!(error.variable, "AUTH__SECRET_REFRESH_KEY", "{environment}");
        assert!(error.message.contains("AUTH__SECRET_ACCESS_KEY"), "{error}");
        assert!(!error.to_string().contains(KEY_32), "{error}");
    }
}

#[test]
fn errors_read_as_one_line_and_never_echo_a_secret() {
    let error = settings(&[
        ("ENVIRONMENT", "staging"),
        ("AUTH__SECRET_ACCESS_KEY", "hunter2"),
    ])
    .unwrap_err();
    let line = error.to_string();
    assert!(line.starts_with("AUTH__SECRET_ACCESS_KEY: "), "{line}");
    assert!(!line.contains('\n'));
    assert!(!line.contains("hunter2"));
}

#[test]
fn describe_lists_the_server_settings() {
    let described = settings(&[
        ("SERVER__TRUSTED_PROXY_HOPS", "3"),
        ("SERVER__CLIENT_TIMEOUT_SECS", "7"),
    ])
    .unwrap()
    .describe();
    for line in [
        "SERVER__TRUSTED_PROXY_HOPS = 3\n",
        "SERVER__CLIENT_TIMEOUT_SECS = 7\n",
    ] {
        assert!(described.contains(line), "{described}");
    }
}

#[test]
fn unrelated_variables_are_ignored() {
    assert!(settings(&[("PATH", "/usr/bin"), ("SERVER", "x"), ("DB", "y")]).is_ok());
}

#[test]
fn random_keys_are_url_safe_and_fresh() {
    let (a, b) = (random_key(), random_key());
    assert_ne!(a, b);
    assert!(a.len() >= 64);
    assert!(
        a.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );
}

#[test]
fn an_unknown_variable_under_our_sections_stops_the_start_naming_it() {
    for typo in ["AUTH__ROUNDZ", "DB__URI", "SERVER__PORT__X", "LOG__LEVEL"] {
        let error = settings(&[(typo, "4")]).unwrap_err();
        assert_eq!(error.variable, typo);
        assert!(error.message.contains(".env.example"), "{error}");
    }
}

#[test]
fn out_of_range_and_unparsable_numbers_say_which() {
    assert_eq!(
        settings(&[("DB__POOL_SIZE", "0")]).unwrap_err().to_string(),
        "DB__POOL_SIZE: 0 is out of range 1..=1024"
    );
    assert_eq!(
        settings(&[("AUTH__ROUNDS", " many ")])
            .unwrap_err()
            .to_string(),
        r#"AUTH__ROUNDS: " many " is not a whole number"#
    );
    assert_eq!(
        settings(&[
            ("AUTH__ACCESS_TOKEN_EXPIRE_MINS", "30"),
            ("AUTH__REFRESH_TOKEN_EXPIRE_MINS", "29"),
        ])
        .unwrap_err()
        .to_string(),
        "AUTH__REFRESH_TOKEN_EXPIRE_MINS: must be at least AUTH__ACCESS_TOKEN_EXPIRE_MINS"
    );
}

#[test]
fn describe_prints_every_declared_variable_once_in_order() {
    let described = settings(&[]).unwrap().describe();
    let names: Vec<&str> = described
        .lines()
        .filter_map(|line| line.split_once(" = ").map(|(name, _)| name))
        .collect();
    let declared: Vec<String> = Variables::variables("")
        .iter()
        .map(Variable::name)
        .collect();
    assert_eq!(names, declared);
    assert!(described.contains("ENVIRONMENT = local\n"), "{described}");
    assert!(described.contains("LOG__FORMAT = text\n"), "{described}");
    assert!(
        described.contains("AUTH__SECRET_REFRESH_KEY = ******** (86 bytes)\n"),
        "{described}"
    );
}

/// `.env.example` is generated: after changing a declaration, rewrite it
/// with `UPDATE_ENV_EXAMPLE=1 cargo test -p app env_example`.
#[test]
fn env_example_is_generated_from_the_declarations() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.env.example");
    let generated = env_example();
    if std::env::var_os("UPDATE_ENV_EXAMPLE").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap();
    assert!(
        committed == generated,
        ".env.example is out of date: run UPDATE_ENV_EXAMPLE=1 cargo test -p app env_example\n{generated}"
    );
}

#[test]
fn env_example_as_a_dot_env_gives_the_defaults() {
    let vars: Vec<(String, String)> = dotenvy::from_read_iter(env_example().as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(vars.len(), Variables::variables("").len());
    let from_example = Settings::from_vars(vars).unwrap();
    assert_eq!(from_example.describe(), settings(&[]).unwrap().describe());
}

#[test]
fn the_readme_documents_every_variable() {
    let readme = include_str!("../../../../README.md");
    for variable in Variables::variables("") {
        let name = variable.name();
        assert!(readme.contains(&format!("`{name}`")), "{name}");
    }
}

// --- signing keys, audience and the public URL (docs/api.md §12) ------------

fn new_jwk(algorithm: JwtAlgorithm) -> serde_json::Value {
    serde_json::from_str(&SigningKeys::generate(algorithm).unwrap()).unwrap()
}

fn jwk_set(keys: &[&serde_json::Value]) -> String {
    serde_json::json!({ "keys": keys }).to_string()
}

const PRODUCTION: (&str, &str) = ("ENVIRONMENT", "production");
const REFRESH: (&str, &str) = ("AUTH__SECRET_REFRESH_KEY", KEY_32);
const DISCOVERED_AT: [(&str, &str); 2] = [
    ("AUTH__ISSUER", "https://auth.example.com"),
    ("SERVER__PUBLIC_URL", "https://auth.example.com"),
];

#[test]
fn an_asymmetric_algorithm_signs_with_the_key_set_and_needs_no_access_secret() {
    let (first, second) = (new_jwk(JwtAlgorithm::EdDsa), new_jwk(JwtAlgorithm::Es256));
    let set = jwk_set(&[&first, &second]);
    let s = settings(&[
        PRODUCTION,
        REFRESH,
        DISCOVERED_AT[0],
        DISCOVERED_AT[1],
        ("AUTH__ALGORITHM", "EdDSA"),
        ("AUTH__SIGNING_KEYS", &set),
    ])
    .unwrap();
    assert_eq!(s.jwt.algorithm, JwtAlgorithm::EdDsa);
    let AccessKeys::Signing(keys) = &s.jwt.access_keys else {
        panic!("{:?}", s.jwt.access_keys)
    };
    assert_eq!(
        keys.kids().collect::<Vec<_>>(),
        [
            first["kid"].as_str().unwrap(),
            second["kid"].as_str().unwrap()
        ]
    );
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    // The refresh secret is still required, for HS256.
    assert_eq!(
        error_variable(&[
            PRODUCTION,
            ("AUTH__ALGORITHM", "EdDSA"),
            ("AUTH__SIGNING_KEYS", &set)
        ]),
        "AUTH__SECRET_REFRESH_KEY"
    );
}

#[test]
fn the_key_set_may_come_from_a_file_but_not_from_both_places() {
    let jwk = new_jwk(JwtAlgorithm::Es256);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    std::fs::write(&path, jwk_set(&[&jwk])).unwrap();
    let path = path.to_str().unwrap();
    let from_file = settings(&[
        PRODUCTION,
        REFRESH,
        ("AUTH__ALGORITHM", "ES256"),
        ("AUTH__SIGNING_KEYS_FILE", path),
    ])
    .unwrap();
    assert!(matches!(from_file.jwt.access_keys, AccessKeys::Signing(_)));
    let both = settings(&[
        ("AUTH__ALGORITHM", "ES256"),
        ("AUTH__SIGNING_KEYS_FILE", path),
        ("AUTH__SIGNING_KEYS", &jwk.to_string()),
    ])
    .unwrap_err();
    assert_eq!(both.variable, "AUTH__SIGNING_KEYS_FILE");
    assert!(both.message.contains("AUTH__SIGNING_KEYS"), "{both}");
    let missing = settings(&[
        ("AUTH__ALGORITHM", "ES256"),
        ("AUTH__SIGNING_KEYS_FILE", "/nonexistent/keys.json"),
    ])
    .unwrap_err();
    assert_eq!(missing.variable, "AUTH__SIGNING_KEYS_FILE");
    assert!(
        missing.message.contains("/nonexistent/keys.json"),
        "{missing}"
    );
}

#[test]
fn the_algorithm_must_be_that_of_the_first_key() {
    let (ed, es) = (new_jwk(JwtAlgorithm::EdDsa), new_jwk(JwtAlgorithm::Es256));
    let error = settings(&[
        ("AUTH__ALGORITHM", "ES256"),
        ("AUTH__SIGNING_KEYS", &jwk_set(&[&ed, &es])),
    ])
    .unwrap_err();
    assert_eq!(error.variable, "AUTH__ALGORITHM");
    assert!(error.message.contains("EdDSA"), "{error}");
    // Keys under HS*: a forgotten AUTH__ALGORITHM, not a silent HS256.
    let error = settings(&[("AUTH__SIGNING_KEYS", &jwk_set(&[&ed]))]).unwrap_err();
    assert_eq!(error.variable, "AUTH__ALGORITHM");
}

#[test]
fn a_bad_key_set_stops_the_start_naming_the_variable_and_not_the_private_key() {
    let jwk = new_jwk(JwtAlgorithm::EdDsa);
    let private = jwk["d"].as_str().unwrap();
    let mut public = jwk.clone();
    public.as_object_mut().unwrap().remove("d");
    let mut contradicting = jwk.clone();
    contradicting["alg"] = serde_json::json!("ES256");
    for (set, said) in [
        (jwk_set(&[&jwk, &jwk]), "already the kid"),
        (jwk_set(&[&public]), "\"d\" is missing"),
        (jwk_set(&[&contradicting]), "\"alg\" is \"ES256\""),
        ("not json".to_owned(), "not JSON"),
    ] {
        let error =
            settings(&[("AUTH__ALGORITHM", "EdDSA"), ("AUTH__SIGNING_KEYS", &set)]).unwrap_err();
        assert_eq!(error.variable, "AUTH__SIGNING_KEYS", "{error}");
        assert!(error.message.contains(said), "{error}");
        assert!(!error.to_string().contains(private), "{error}");
        assert_eq!(error.to_string().lines().count(), 1, "{error}");
    }
}

#[test]
fn outside_local_the_key_set_is_required_and_in_local_a_random_key_serves() {
    let error = settings(&[PRODUCTION, REFRESH, ("AUTH__ALGORITHM", "EdDSA")]).unwrap_err();
    assert_eq!(error.variable, "AUTH__SIGNING_KEYS");
    let local = settings(&[("AUTH__ALGORITHM", "ES256")]).unwrap();
    let AccessKeys::Signing(keys) = &local.jwt.access_keys else {
        panic!("{:?}", local.jwt.access_keys)
    };
    assert_eq!(keys.algorithm(), JwtAlgorithm::Es256);
    assert!(
        local
            .warnings
            .iter()
            .any(|warning| warning.contains("AUTH__SIGNING_KEYS is not set")),
        "{:?}",
        local.warnings
    );
}

#[test]
fn check_config_shows_signing_keys_by_their_kids_only() {
    let jwk = new_jwk(JwtAlgorithm::EdDsa);
    let s = settings(&[
        ("AUTH__ALGORITHM", "EdDSA"),
        ("AUTH__SIGNING_KEYS", &jwk.to_string()),
    ])
    .unwrap();
    let described = s.describe();
    let kid = jwk["kid"].as_str().unwrap();
    assert!(
        described.contains(&format!(
            "AUTH__SIGNING_KEYS = ******** (1 key(s), kid {kid})"
        )),
        "{described}"
    );
    assert!(
        !described.contains(jwk["d"].as_str().unwrap()),
        "{described}"
    );
    let shown = format!("{s:?}");
    assert!(!shown.contains(jwk["d"].as_str().unwrap()), "{shown}");
    // A derived Debug would show the key's DER as decimal bytes.
    let d = URL_SAFE_NO_PAD.decode(jwk["d"].as_str().unwrap()).unwrap();
    let decimal = format!("{:?}", &d[..8]);
    let decimal = decimal.trim_start_matches('[').trim_end_matches(']');
    assert!(!shown.contains(decimal), "{decimal} in {shown}");
    assert!(!described.contains(decimal), "{decimal} in {described}");
}

#[test]
fn an_audience_is_optional() {
    assert_eq!(settings(&[]).unwrap().jwt.audience, None);
    let s = settings(&[("AUTH__AUDIENCE", "orders-api")]).unwrap();
    assert_eq!(s.jwt.audience.as_deref(), Some("orders-api"));
}

#[test]
fn the_public_url_is_an_http_url_kept_without_its_trailing_slash() {
    assert_eq!(settings(&[]).unwrap().public_url, None);
    let s = settings(&[("SERVER__PUBLIC_URL", "https://auth.example.com/")]).unwrap();
    assert_eq!(s.public_url.as_deref(), Some("https://auth.example.com"));
    for bad in ["auth.example.com", "ftp://x", "https://", "https://x/?a=1"] {
        assert_eq!(
            error_variable(&[("SERVER__PUBLIC_URL", bad)]),
            "SERVER__PUBLIC_URL",
            "{bad}"
        );
    }
}

#[test]
fn outside_local_an_asymmetric_algorithm_warns_of_an_issuer_or_public_url_discovery_cannot_use() {
    let jwk = new_jwk(JwtAlgorithm::EdDsa);
    let set = jwk_set(&[&jwk]);
    let base = [
        PRODUCTION,
        REFRESH,
        ("AUTH__ALGORITHM", "EdDSA"),
        ("AUTH__SIGNING_KEYS", set.as_str()),
    ];
    let warnings = |extra: &[(&str, &str)]| {
        let vars: Vec<_> = base.iter().chain(extra).copied().collect();
        settings(&vars).unwrap().warnings
    };
    let both = warnings(&[]);
    assert_eq!(both.len(), 2, "{both:?}");
    assert!(
        both[0].starts_with("AUTH__ISSUER is \"zentra\", not a URL"),
        "{both:?}"
    );
    assert!(both[0].contains("RFC 8414"), "{both:?}");
    assert!(
        both[1].starts_with("SERVER__PUBLIC_URL is not set"),
        "{both:?}"
    );
    assert_eq!(warnings(&[DISCOVERED_AT[1]]), both[..1], "the issuer alone");
    assert_eq!(warnings(&[DISCOVERED_AT[0]]), both[1..], "the URL alone");
    assert!(warnings(&DISCOVERED_AT).is_empty());
    // Neither in local nor under HS*: nothing is discovered there.
    let local = settings(&[
        REFRESH,
        ("AUTH__ALGORITHM", "EdDSA"),
        ("AUTH__SIGNING_KEYS", &set),
    ])
    .unwrap();
    assert!(local.warnings.is_empty(), "{:?}", local.warnings);
    let hs = settings(&[PRODUCTION, REFRESH, ("AUTH__SECRET_ACCESS_KEY", KEY_64)]).unwrap();
    assert!(hs.warnings.is_empty(), "{:?}", hs.warnings);
}
