//! Every request DTO parses any bytes, JSON or form, without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for content_type in ["application/json", "application/x-www-form-urlencoded"] {
        adapters_http::fuzzing::parse_every_body(content_type, data);
    }
});
