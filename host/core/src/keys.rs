//! Idempotency keys: every activity and journey message has a stable key derived from what caused
//! it, so storing the same source event twice never sends it twice.

use sha2::{Digest, Sha256};

/// A stable, UUID-shaped idempotency key for the activity of one source event.
pub fn activity_key(source_id: &str, source_event_id: &str) -> String {
    let digest = Sha256::digest(format!("{source_id}\n{source_event_id}").as_bytes());
    let mut bytes: [u8; 16] = digest[..16].try_into().expect("16 bytes");
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
