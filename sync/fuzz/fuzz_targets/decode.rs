//! Fuzzes the sync message decoder: any bytes must decode or fail with an error, never
//! panic, and whatever decodes must encode back to the same bytes.
#![no_main]

use attach_sync::wire::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::decode(data) {
        assert_eq!(message.encode(), data, "decode then encode must round-trip");
    }
});
