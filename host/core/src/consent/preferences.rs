//! The preference page's credential. Every journey activity may carry a link to the host's own
//! preference page, where the person changes their channels, their quiet hours or asks to be
//! forgotten without logging in: the link's token is the credential. It names one profile key and
//! when it stops working, signed with the shop's key (HMAC-SHA256) and written in base64url, so it
//! cannot be forged or stretched, and it says nothing about the person beyond the random key sinks
//! already hold. A token that is malformed, tampered with or expired gets one and the same answer
//! outside; only the host's log tells them apart.
//!
//! The page's form carries a second value derived from the token under another label (`form_field`),
//! which a page on another site cannot compute: a post without it is refused (CSRF).

use super::contact::QuietHours;
use super::StoredConsent;
use crate::model::{Channel, ConsentState, IdentityKind, Purpose};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, NaiveTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What separates a token's signature from signatures of anything else made with the same key.
const TOKEN_LABEL: &[u8] = b"rapport-preferences-link-v1\0";
/// The same for the form field.
const FORM_LABEL: &[u8] = b"rapport-preferences-form-v1\0";
/// Longest profile key a token may carry (keys are `p-` and a few dozen characters).
const MAX_KEY_LEN: usize = 128;

/// The source recorded with every choice made on the page.
pub const SOURCE: &str = "preferences-page";

/// Why a token was not taken. Outside, all three get [`InvalidLink::OUTWARD`]; the variants are
/// for the host's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidLink {
    #[error("the token is not one the host makes")]
    Malformed,
    #[error("the token's signature does not match (tampered with, or signed with another key)")]
    Tampered,
    #[error("the token has expired")]
    Expired,
}

impl InvalidLink {
    /// What the person is told, whatever the reason.
    pub const OUTWARD: &'static str = "This link is not valid (any more).";
}

/// Signs a token naming `profile_key` that works until `expires_at`.
pub fn sign(key: &[u8], profile_key: &str, expires_at: DateTime<Utc>) -> String {
    let payload = payload(profile_key, expires_at);
    let tag = mac(key, TOKEN_LABEL, &payload).finalize().into_bytes();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&payload),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

/// The profile key `token` names, if `key` signed it and it has not expired at `now`. The
/// signature is compared in constant time, before anything the token says is believed.
pub fn verify(key: &[u8], token: &str, now: DateTime<Utc>) -> Result<String, InvalidLink> {
    let (payload, tag) = token.split_once('.').ok_or(InvalidLink::Malformed)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| InvalidLink::Malformed)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| InvalidLink::Malformed)?;
    if payload.len() <= 8 || payload.len() > 8 + MAX_KEY_LEN {
        return Err(InvalidLink::Malformed);
    }
    mac(key, TOKEN_LABEL, &payload)
        .verify_slice(&tag)
        .map_err(|_| InvalidLink::Tampered)?;
    let (expiry, profile_key) = payload.split_at(8);
    let expiry = i64::from_be_bytes(expiry.try_into().expect("eight bytes"));
    if now.timestamp() >= expiry {
        return Err(InvalidLink::Expired);
    }
    String::from_utf8(profile_key.to_vec()).map_err(|_| InvalidLink::Malformed)
}

/// The hidden form field of the page `token` opens: only who holds the shop's key (the host) can
/// compute it, so a post that lacks it did not come from the page.
pub fn form_field(key: &[u8], token: &str) -> String {
    URL_SAFE_NO_PAD.encode(
        mac(key, FORM_LABEL, token.as_bytes())
            .finalize()
            .into_bytes(),
    )
}

/// Whether `field` is the form field of `token`'s page, compared in constant time.
pub fn form_field_matches(key: &[u8], token: &str, field: &str) -> bool {
    URL_SAFE_NO_PAD.decode(field).is_ok_and(|tag| {
        mac(key, FORM_LABEL, token.as_bytes())
            .verify_slice(&tag)
            .is_ok()
    })
}

/// Why quiet hours typed on the page were not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuietHoursInput {
    #[error("give both the start and the end of your quiet hours, or neither")]
    OnlyOne,
    #[error("{0:?} is not a time of day like 21:00")]
    NotATime(String),
    #[error("the start and the end are the same time: give the hours you want no messages in")]
    Same,
}

/// The quiet hours typed on the page (`HH:MM`, as a time input sends them): none when both are
/// empty, which clears them.
pub fn parse_quiet_hours(start: &str, end: &str) -> Result<Option<QuietHours>, QuietHoursInput> {
    let time = |text: &str| {
        NaiveTime::parse_from_str(text, "%H:%M")
            .map_err(|_| QuietHoursInput::NotATime(text.to_string()))
    };
    match (start.trim(), end.trim()) {
        ("", "") => Ok(None),
        ("", _) | (_, "") => Err(QuietHoursInput::OnlyOne),
        (start, end) => QuietHours::new(time(start)?, time(end)?)
            .map(Some)
            .ok_or(QuietHoursInput::Same),
    }
}

/// The channels the page offers a person, with their marketing choice in force on each (none if
/// they never made one): the channels their identities reach (an email address, a phone for
/// text messages) and any other they made a choice on, in the model's order.
pub fn channels(
    identities: &[IdentityKind],
    consents: &[StoredConsent],
) -> Vec<(Channel, Option<ConsentState>)> {
    let reachable = |channel: Channel| match channel {
        Channel::Email => identities.contains(&IdentityKind::Email),
        Channel::Sms => identities.contains(&IdentityKind::Phone),
        Channel::Push | Channel::Postal => false,
    };
    [Channel::Email, Channel::Sms, Channel::Push, Channel::Postal]
        .into_iter()
        .filter_map(|channel| {
            let choice = (consents.iter())
                .find(|c| c.channel == channel && c.purpose == Purpose::Marketing)
                .map(|c| c.state);
            (choice.is_some() || reachable(channel)).then_some((channel, choice))
        })
        .collect()
}

/// What a token signs: its expiry (seconds since the epoch, big-endian) and the profile key.
fn payload(profile_key: &str, expires_at: DateTime<Utc>) -> Vec<u8> {
    let mut payload = expires_at.timestamp().to_be_bytes().to_vec();
    payload.extend_from_slice(profile_key.as_bytes());
    payload
}

fn mac(key: &[u8], label: &[u8], message: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(label);
    mac.update(message);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
    const PERSON: &str = "p-7f3a9c2e1b";

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-06T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_signed_token_names_its_person_until_it_expires() {
        let token = sign(KEY, PERSON, now() + Duration::days(30));
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'),
            "{token} fits in a URL path as it is"
        );
        assert_eq!(verify(KEY, &token, now()).as_deref(), Ok(PERSON));
        let later = now() + Duration::days(30) - Duration::seconds(1);
        assert_eq!(verify(KEY, &token, later).as_deref(), Ok(PERSON));
        assert_eq!(
            verify(KEY, &token, now() + Duration::days(30)),
            Err(InvalidLink::Expired)
        );
    }

    #[test]
    fn a_changed_token_or_another_key_is_refused() {
        let token = sign(KEY, PERSON, now() + Duration::days(30));
        // Every single character changed, one at a time.
        for i in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(bytes).unwrap();
            if changed != token {
                assert!(verify(KEY, &changed, now()).is_err(), "{changed}");
            }
        }
        // Another person's key, or a later expiry, with the old signature.
        let (_, tag) = token.split_once('.').unwrap();
        for payload in [
            payload("p-someone-else", now() + Duration::days(30)),
            payload(PERSON, now() + Duration::days(3000)),
        ] {
            let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(payload));
            assert_eq!(verify(KEY, &forged, now()), Err(InvalidLink::Tampered));
        }
        assert_eq!(
            verify(b"another shop's key", &token, now()),
            Err(InvalidLink::Tampered)
        );
    }

    #[test]
    fn anything_else_is_malformed() {
        for junk in [
            "",
            ".",
            "abc",
            "not base64!.x",
            "AAAA.AAAA",
            &"A".repeat(400),
        ] {
            assert_eq!(
                verify(KEY, junk, now()),
                Err(InvalidLink::Malformed),
                "{junk}"
            );
        }
        // However a token fails, the person is told the same.
        assert_eq!(InvalidLink::OUTWARD, "This link is not valid (any more).");
    }

    #[test]
    fn the_form_field_belongs_to_one_token() {
        let token = sign(KEY, PERSON, now() + Duration::days(1));
        let other = sign(KEY, "p-other", now() + Duration::days(1));
        let field = form_field(KEY, &token);
        assert!(form_field_matches(KEY, &token, &field));
        assert!(!form_field_matches(KEY, &other, &field));
        assert!(!form_field_matches(KEY, &token, ""));
        assert!(!form_field_matches(KEY, &token, "%%%"));
        assert!(!form_field_matches(b"other key", &token, &field));
        assert_ne!(
            field,
            token.split_once('.').unwrap().1,
            "not the token's own signature"
        );
    }

    #[test]
    fn the_page_offers_the_channels_a_person_can_be_reached_on_or_chose_on() {
        let consent = |channel, purpose, state| StoredConsent {
            channel,
            purpose,
            state,
            at: 1,
            source: "till".into(),
        };
        let consents = [
            consent(Channel::Email, Purpose::Marketing, ConsentState::Granted),
            consent(Channel::Postal, Purpose::Marketing, ConsentState::Revoked),
            consent(Channel::Push, Purpose::Transactional, ConsentState::Granted),
        ];
        assert_eq!(
            channels(&[IdentityKind::Phone, IdentityKind::Email], &consents),
            vec![
                (Channel::Email, Some(ConsentState::Granted)),
                (Channel::Sms, None),
                (Channel::Postal, Some(ConsentState::Revoked)),
            ]
        );
        assert_eq!(
            channels(&[IdentityKind::LoyaltyId], &[]),
            vec![],
            "a loyalty card alone reaches nobody"
        );
    }

    #[test]
    fn quiet_hours_from_the_form() {
        let hours = parse_quiet_hours("21:00", "07:30").unwrap().unwrap();
        assert_eq!(hours.minutes(), (21 * 60, 7 * 60 + 30));
        assert_eq!(parse_quiet_hours("", " "), Ok(None));
        assert_eq!(
            parse_quiet_hours("21:00", ""),
            Err(QuietHoursInput::OnlyOne)
        );
        assert_eq!(
            parse_quiet_hours("9pm", "07:00"),
            Err(QuietHoursInput::NotATime("9pm".into()))
        );
        assert_eq!(
            parse_quiet_hours("08:00", "08:00"),
            Err(QuietHoursInput::Same)
        );
    }
}
