//! Any config file: a config or a one-line error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(err) = herd_config::Config::parse(text, "fuzz.toml") {
            assert!(!err.to_string().contains('\n'));
        }
    }
});
