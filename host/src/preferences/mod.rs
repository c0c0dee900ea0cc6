//! The preference page's workflows. rapport holds the consent ledger for every tool the shop uses,
//! so it can offer the one page where a person changes their choices for all of them at once:
//! their marketing channels, their own quiet hours, and "forget me". The page is reached by a
//! signed, expiring link (`rapport_core::consent::preferences`) that journey activities carry
//! ([`Preferences::link`]); a channel change lands in the ledger with the source
//! `preferences-page` and queues a consent update for every sink, which sinks take ahead of other
//! work; quiet hours hold journey messages back in delivery; "forget me" is a privacy request the
//! operator confirms (`rapport privacy confirm`). The HTTP side is `admin::preferences`.

use crate::config::ServerConfig;
use crate::ingest::push::Wakers;
use chrono::Duration;
use chrono_tz::Tz;
use rapport_core::clock::SharedClock;
use rapport_core::consent::contact::QuietHours;
use rapport_core::consent::preferences::{self, InvalidLink, SOURCE};
use rapport_core::model::{Channel, Consent, ConsentState, PrivacyKind, Purpose};
use rapport_store::consents::NewChoice;
use rapport_store::privacy_requests::{self, NewRequest};
use rapport_store::{PersonRef, SnapshotDepth, Store, StoreError};

/// Why a page or a change was not served.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// The token does not open a page (malformed, tampered with, expired, or naming nobody the
    /// store still holds): the person is told only that the link is not valid.
    #[error("the preference link is not valid: {0}")]
    NotValid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<InvalidLink> for PageError {
    fn from(why: InvalidLink) -> PageError {
        PageError::NotValid(why.to_string())
    }
}

/// What the page shows a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Their channels, with their marketing choice in force on each (none if never made).
    pub channels: Vec<(Channel, Option<ConsentState>)>,
    /// Their own quiet hours, in the shop's time zone.
    pub quiet_hours: Option<QuietHours>,
    /// The shop's time zone, which the quiet hours are in.
    pub zone: Tz,
    /// Whether a "forget me" of theirs is waiting for the operator.
    pub forget_waiting: bool,
}

/// What a person changed on the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    /// The choice made on each channel the form offered (a channel left unanswered is absent).
    pub channels: Vec<(Channel, ConsentState)>,
    /// Their quiet hours (none clears them).
    pub quiet_hours: Option<QuietHours>,
}

/// What saving changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Saved {
    /// Choices that differ from the ones in force, recorded in the ledger.
    pub choices: usize,
    /// Consent updates queued for the sinks.
    pub queued: usize,
}

/// The preference page of one shop: its signing key, where its links point, the sinks its
/// choices reach.
pub struct Preferences {
    store: Store,
    key: Vec<u8>,
    /// `server.public_url` without a trailing slash; none: no links are made.
    public_url: Option<String>,
    link_lifetime: Duration,
    sinks: Vec<String>,
    wakers: Wakers,
    clock: SharedClock,
    zone: Tz,
}

impl Preferences {
    /// Reads the shop's signing key (made and stored on first use, so every host sharing the
    /// database signs and checks with the same one).
    pub async fn start(
        store: Store,
        server: &ServerConfig,
        sinks: Vec<String>,
        wakers: Wakers,
        clock: SharedClock,
        zone: Tz,
    ) -> Result<Preferences, StoreError> {
        let candidate = hex::encode(rand::random::<[u8; 32]>());
        let key = store.preference_key(&candidate, clock.now_ms()).await?;
        Ok(Preferences {
            store,
            key: key.into_bytes(),
            public_url: (server.public_url.as_deref()).map(|u| u.trim_end_matches('/').to_string()),
            link_lifetime: Duration::days(i64::from(server.preference_link_days)),
            sinks,
            wakers,
            clock,
            zone,
        })
    }

    /// The full link to the preference page of the person whose profile key is `profile_key`
    /// (`{server.public_url}/preferences/{token}`), working for `server.preference_link_days`
    /// from now; none when `server.public_url` is not set.
    pub fn link(&self, profile_key: &str) -> Option<String> {
        let base = self.public_url.as_deref()?;
        let expires = self.clock.now() + self.link_lifetime;
        let token = preferences::sign(&self.key, profile_key, expires);
        Some(format!("{base}/preferences/{token}"))
    }

    /// The hidden field the page's forms carry (see `preferences::form_field`).
    pub fn form_field(&self, token: &str) -> String {
        preferences::form_field(&self.key, token)
    }

    /// Whether a posted form's hidden field is the one `token`'s page carries.
    pub fn form_field_matches(&self, token: &str, field: &str) -> bool {
        preferences::form_field_matches(&self.key, token, field)
    }

    /// What the page `token` opens shows.
    pub async fn open(&self, token: &str) -> Result<Page, PageError> {
        let (profile_id, profile_key) = self.person(token).await?;
        let snapshot = self.snapshot(profile_id).await?;
        let kinds: Vec<_> = snapshot.identities.iter().map(|i| i.kind).collect();
        let quiet_hours = self.store.quiet_hours_of(&[profile_id]).await?;
        Ok(Page {
            channels: preferences::channels(&kinds, &snapshot.consents),
            quiet_hours: quiet_hours.get(&profile_id).copied(),
            zone: self.zone,
            forget_waiting: (self.store)
                .privacy_request_waiting(SOURCE, &profile_key)
                .await?,
        })
    }

    /// Saves the changes made on `token`'s page: each channel choice that differs from the one in
    /// force goes to the ledger with the source `preferences-page`, and every sink is told ahead of
    /// other work; the quiet hours replace theirs.
    pub async fn save(&self, token: &str, changes: &Changes) -> Result<Saved, PageError> {
        let (profile_id, profile_key) = self.person(token).await?;
        let snapshot = self.snapshot(profile_id).await?;
        let kinds: Vec<_> = snapshot.identities.iter().map(|i| i.kind).collect();
        let offered = preferences::channels(&kinds, &snapshot.consents);
        let now = self.clock.now();
        let consents: Vec<Consent> = (changes.channels.iter())
            .filter(|(channel, state)| {
                offered
                    .iter()
                    .any(|(c, current)| c == channel && *current != Some(*state))
            })
            .map(|(channel, state)| Consent {
                channel: *channel,
                purpose: Purpose::Marketing,
                state: *state,
                at: now,
                source: SOURCE.to_string(),
            })
            .collect();
        let choices: Vec<NewChoice> = (consents.iter())
            .map(|consent| NewChoice {
                profile_id,
                consent,
                evidence: format!("{SOURCE}:{profile_key}"),
            })
            .collect();
        let now_ms = now.timestamp_millis();
        let mut tx = self.store.begin().await?;
        let queued = crate::consent::record_choices(&mut tx, &self.sinks, &choices, now_ms).await?;
        rapport_store::preferences::set_quiet_hours(
            &mut tx,
            profile_id,
            changes.quiet_hours,
            now_ms,
        )
        .await?;
        tx.commit().await?;
        self.wakers.wake_all();
        tracing::info!(profile = %profile_key, choices = choices.len(), queued,
            "preferences saved on the preference page");
        Ok(Saved {
            choices: choices.len(),
            queued,
        })
    }

    /// Records the "forget me" of `token`'s person for the operator to confirm; returns false if
    /// one was already waiting. Nothing is forgotten until the operator confirms it.
    pub async fn ask_to_forget(&self, token: &str) -> Result<bool, PageError> {
        let (profile_id, profile_key) = self.person(token).await?;
        let snapshot = self.snapshot(profile_id).await?;
        let request = NewRequest {
            request_id: &profile_key,
            kind: PrivacyKind::Redact,
            identities: &snapshot.identities,
        };
        let mut tx = self.store.begin().await?;
        let asked =
            privacy_requests::insert_unconfirmed(&mut tx, SOURCE, &request, self.clock.now_ms())
                .await?;
        tx.commit().await?;
        tracing::info!(profile = %profile_key, asked,
            "a person asked on the preference page to be forgotten; `rapport privacy list` shows it");
        Ok(asked)
    }

    /// The profile `token` names, if it is valid now and the person is still held (not forgotten).
    async fn person(&self, token: &str) -> Result<(i64, String), PageError> {
        let key = preferences::verify(&self.key, token, self.clock.now())?;
        let found = (self.store)
            .find_profiles(&[PersonRef::ProfileKey(key.clone())])
            .await?;
        match found.first() {
            Some(person) if person.identities > 0 => Ok((person.id, key)),
            _ => Err(PageError::NotValid(
                "it names a profile the store no longer holds (merged away or forgotten)".into(),
            )),
        }
    }

    async fn snapshot(&self, profile_id: i64) -> Result<rapport_store::ProfileSnapshot, PageError> {
        let mut snapshots = (self.store)
            .profile_snapshots(&[profile_id], SnapshotDepth::Basic)
            .await?;
        snapshots
            .remove(&profile_id)
            .ok_or_else(|| PageError::NotValid("the profile went meanwhile".into()))
    }
}
