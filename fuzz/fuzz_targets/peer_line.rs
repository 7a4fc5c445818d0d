//! Any bytes a peer (or a stranger on the peer port) can send as one line.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = herd_proto::peer::parse_peer_line(text);
        let _ = herd_proto::Record::parse_at_line(text);
        let _ = herd_proto::repair::RepairMessage::parse(text);
    }
});
