//! Any bytes a client can send as one line: the node's parser answers.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = herd_proto::parse_request(text);
    }
});
