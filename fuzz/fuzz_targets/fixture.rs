//! `hookbox test` fixtures: whatever TOML a fixture holds, reading it and
//! building its payload ends in a payload or an error, never a panic.
#![no_main]

use std::path::Path;

use hookbox::hooktest::fixture::Fixture;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(fixture) = toml::from_str::<Fixture>(text) else {
        return;
    };
    if fixture.payload.is_none() {
        let _ = fixture.payload(Path::new("hoop-hooks/tests/fuzz.toml"));
    }
});
