use serde_json::{Value, json};

use super::*;

/// RFC 8037 Appendix A.1–A.3: an Ed25519 private JWK and its RFC 7638
/// thumbprint.
const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
const RFC8037_THUMBPRINT: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";

fn rfc8037() -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "d": RFC8037_D, "x": RFC8037_X})
}

fn generated(algorithm: JwtAlgorithm) -> Value {
    serde_json::from_str(&SigningKeys::generate(algorithm).unwrap()).unwrap()
}

fn parse(keys: &[Value]) -> Result<SigningKeys, KeySetError> {
    SigningKeys::parse(&json!({ "keys": keys }).to_string())
}

fn error(keys: &[Value]) -> String {
    parse(keys).unwrap_err().to_string()
}

#[test]
fn a_key_without_kid_is_named_by_its_rfc_7638_thumbprint() {
    let keys = parse(&[rfc8037()]).unwrap();
    assert_eq!(keys.kids().collect::<Vec<_>>(), [RFC8037_THUMBPRINT]);
    assert_eq!(keys.algorithm(), JwtAlgorithm::EdDsa);
    let mut named = rfc8037();
    named["kid"] = json!("2026-11");
    let keys = parse(&[named]).unwrap();
    assert_eq!(keys.kids().collect::<Vec<_>>(), ["2026-11"]);
}

#[test]
fn new_keys_of_each_algorithm_parse_back_with_their_thumbprint_as_kid() {
    for (algorithm, kty) in [
        (JwtAlgorithm::EdDsa, "OKP"),
        (JwtAlgorithm::Es256, "EC"),
        (JwtAlgorithm::Rs256, "RSA"),
    ] {
        let jwk = generated(algorithm);
        assert_eq!(jwk["kty"], kty);
        assert_eq!(jwk["alg"], algorithm.name());
        assert_eq!(jwk["use"], "sig");
        let mut unnamed = jwk.clone();
        unnamed.as_object_mut().unwrap().remove("kid");
        let keys = parse(&[unnamed]).unwrap();
        assert_eq!(keys.kids().next(), jwk["kid"].as_str(), "{algorithm}");
        assert_eq!(keys.algorithm(), algorithm);
        // Two new keys differ.
        assert_ne!(generated(algorithm)["kid"], jwk["kid"]);
    }
}

#[test]
fn one_bare_jwk_is_a_set_of_one() {
    let jwk = generated(JwtAlgorithm::Es256);
    let keys = SigningKeys::parse(&jwk.to_string()).unwrap();
    assert_eq!(
        keys.kids().collect::<Vec<_>>(),
        [jwk["kid"].as_str().unwrap()]
    );
}

#[test]
fn the_public_set_has_public_members_kid_alg_and_use_only() {
    let keys = [
        generated(JwtAlgorithm::EdDsa),
        generated(JwtAlgorithm::Es256),
        generated(JwtAlgorithm::Rs256),
    ];
    let public = parse(&keys).unwrap().public_jwks();
    let expected: [&[&str]; 3] = [
        &["alg", "crv", "kid", "kty", "use", "x"],
        &["alg", "crv", "kid", "kty", "use", "x", "y"],
        &["alg", "e", "kid", "kty", "n", "use"],
    ];
    for ((jwk, shown), members) in keys
        .iter()
        .zip(public["keys"].as_array().unwrap())
        .zip(expected)
    {
        let mut names: Vec<&str> = shown
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        assert_eq!(names, members, "{shown}");
        assert_eq!(shown["kid"], jwk["kid"]);
        assert_eq!(shown["alg"], jwk["alg"]);
        assert_eq!(shown["use"], "sig");
        for member in ["x", "y", "n", "e", "crv", "kty"] {
            assert_eq!(shown.get(member), jwk.get(member), "{member}");
        }
    }
    let text = public.to_string();
    for jwk in &keys {
        assert!(!text.contains(jwk["d"].as_str().unwrap()));
    }
}

#[test]
fn two_keys_with_one_kid_are_refused() {
    let mut first = generated(JwtAlgorithm::EdDsa);
    let mut second = generated(JwtAlgorithm::Es256);
    first["kid"] = json!("k1");
    second["kid"] = json!("k1");
    assert_eq!(
        error(&[first.clone(), second]),
        "key 2: kid \"k1\" is already the kid of another key"
    );
    // The same key twice, named by its thumbprint both times.
    first.as_object_mut().unwrap().remove("kid");
    assert!(error(&[first.clone(), first]).contains("already the kid"));
}

#[test]
fn a_public_key_alone_is_refused_for_it_cannot_sign() {
    for algorithm in [
        JwtAlgorithm::EdDsa,
        JwtAlgorithm::Es256,
        JwtAlgorithm::Rs256,
    ] {
        let mut jwk = generated(algorithm);
        jwk.as_object_mut().unwrap().remove("d");
        let message = error(&[jwk]);
        assert!(message.contains("\"d\" is missing"), "{message}");
    }
}

#[test]
fn an_alg_or_use_that_contradicts_the_key_is_refused() {
    let mut jwk = generated(JwtAlgorithm::Es256);
    jwk["alg"] = json!("EdDSA");
    let message = error(&[jwk.clone()]);
    assert!(
        message.contains("\"alg\" is \"EdDSA\", but this is a ES256 key"),
        "{message}"
    );
    jwk["alg"] = json!("HS256");
    assert!(error(&[jwk.clone()]).contains("\"alg\" is \"HS256\""));
    jwk["alg"] = json!("ES256");
    jwk["use"] = json!("enc");
    assert!(error(&[jwk]).contains("\"use\" is \"enc\""));
}

#[test]
fn a_public_part_of_another_key_is_refused() {
    for (algorithm, member, said) in [
        (
            JwtAlgorithm::EdDsa,
            "x",
            "\"x\" is not the public key of \"d\"",
        ),
        (JwtAlgorithm::Es256, "x", "not a P-256 key pair"),
        (JwtAlgorithm::Rs256, "n", "not an RSA key pair"),
    ] {
        let mut jwk = generated(algorithm);
        let other = generated(algorithm);
        jwk[member] = other[member].clone();
        let kid = jwk["kid"].as_str().unwrap().to_owned();
        let message = error(&[jwk]);
        let said = format!("key 1 (kid {kid:?}): {said}");
        assert!(message.starts_with(&said), "{algorithm}: {message}");
    }
}

#[test]
fn hmac_secrets_other_curves_small_rsa_keys_and_garbage_are_refused() {
    let small = {
        use rsa::traits::{PrivateKeyParts, PublicKeyParts};
        let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 1024).unwrap();
        let n = |n: &rsa::BigUint| URL_SAFE_NO_PAD.encode(n.to_bytes_be());
        json!({"kty": "RSA", "n": n(key.n()), "e": n(key.e()), "d": n(key.d()),
               "p": n(&key.primes()[0]), "q": n(&key.primes()[1])})
    };
    let mut p384 = generated(JwtAlgorithm::Es256);
    p384["crv"] = json!("P-384");
    let mut short = rfc8037();
    short["d"] = json!("AAAA");
    for (keys, expected) in [
        (
            vec![json!({"kty": "oct", "k": "c2VjcmV0"})],
            "an HMAC secret",
        ),
        (vec![p384], "crv Some(\"P-384\")"),
        (
            vec![small],
            "a 1024-bit modulus; RS256 keys need 2048 bits or more",
        ),
        (vec![short], "\"d\" must be 32 bytes"),
        (vec![json!({"crv": "Ed25519"})], "\"kty\" is missing"),
        (vec![json!("a string")], "a JWK must be an object"),
        (vec![], "holds no key"),
    ] {
        let message = error(&keys);
        assert!(message.contains(expected), "{message}");
    }
    for text in ["", "{", "[]", r#"{"keys": {}}"#] {
        assert!(SigningKeys::parse(text).is_err(), "{text}");
    }
}

#[test]
fn an_error_never_echoes_a_private_member() {
    let mut jwk = rfc8037();
    jwk["x"] = json!("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURp");
    let mut broken = generated(JwtAlgorithm::Es256);
    broken["d"] = json!("!!not-base64!!");
    for key in [jwk, broken] {
        let message = error(std::slice::from_ref(&key));
        assert!(!message.contains(key["d"].as_str().unwrap()), "{message}");
    }
}

#[test]
fn hmac_algorithms_have_no_key_to_generate() {
    assert!(SigningKeys::generate(JwtAlgorithm::Hs256).is_err());
}

#[test]
fn debug_shows_kids_and_algorithms_only() {
    let jwk = generated(JwtAlgorithm::Rs256);
    let shown = format!("{:?}", parse(std::slice::from_ref(&jwk)).unwrap());
    assert_eq!(
        shown,
        format!("[({:?}, \"RS256\")]", jwk["kid"].as_str().unwrap())
    );
}

/// An RSA private JWK of 4104 bits (made for this test with Python's
/// `cryptography`): past what jsonwebtoken's verifier takes.
const RSA_4104: &str = include_str!("rsa_4104.json");

#[test]
fn an_rsa_key_above_4096_bits_is_refused_at_load() {
    let jwk: Value = serde_json::from_str(RSA_4104).unwrap();
    let message = error(&[jwk]);
    assert!(
        message.contains("a 4104-bit modulus; RS256 keys are verified up to 4096 bits"),
        "{message}"
    );
}

#[test]
fn a_key_whose_signature_its_public_key_cannot_verify_is_refused() {
    // The 4104-bit key as the size check would let it through: it signs,
    // and the verifier refuses its public key.
    let big = {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let jwk: Value = serde_json::from_str(RSA_4104).unwrap();
        let number = |name: &str| {
            rsa::BigUint::from_bytes_be(&member(jwk.as_object().unwrap(), name).unwrap())
        };
        let key = rsa::RsaPrivateKey::from_components(
            number("n"),
            number("e"),
            number("d"),
            vec![number("p"), number("q")],
        )
        .unwrap();
        EncodingKey::from_rsa_der(key.to_pkcs1_der().unwrap().as_bytes())
    };
    let rs256 = jsonwebtoken::Algorithm::RS256;
    let public = Jwk::from_encoding_key(&big, rs256).unwrap();
    let message = round_trips(&big, &DecodingKey::from_jwk(&public).unwrap(), rs256).unwrap_err();
    assert_eq!(
        message,
        "its tokens would not verify with its own public key"
    );

    // A decoding key of another key pair.
    let ed = |jwk: &Value| SigningKey::from_private_jwk(jwk).unwrap();
    let (one, other) = (ed(&generated(JwtAlgorithm::EdDsa)), ed(&rfc8037()));
    let eddsa = jsonwebtoken::Algorithm::EdDSA;
    assert!(round_trips(&one.encoding, &one.decoding, eddsa).is_ok());
    assert_eq!(
        round_trips(&one.encoding, &other.decoding, eddsa).unwrap_err(),
        "its tokens would not verify with its own public key"
    );
}
