//! The HTTP surface's credentials: tokens are random, shown once and stored as their sha256, so the
//! database never holds one that works. An operator token has a role (`admin` for the admin API,
//! `staff` for the cue page to come); an upload token lets pushes into one source; a browser
//! session and a command's short-lived token stand for an operator token for a while.

use base64::Engine as _;
use rand::RngCore as _;
use rapport_store::tokens::{NewToken, TokenRecord};
use rapport_store::{now_ms, Store, StoreError};
use sha2::{Digest, Sha256};
use std::fmt;
use std::time::Duration;

/// What a token may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Every admin route.
    Admin,
    /// The cue page for shop staff (no admin route).
    Staff,
    /// Pushes into this source.
    Upload(String),
}

impl Role {
    /// `admin`, `staff` or `upload` (with `source` for an upload token).
    pub fn parse(role: &str, source: Option<&str>) -> Result<Role, String> {
        match (role, source) {
            ("admin", None) => Ok(Role::Admin),
            ("staff", None) => Ok(Role::Staff),
            ("upload", Some(source)) => Ok(Role::Upload(source.to_string())),
            ("upload", None) => {
                Err("an upload token is for one source: name it with --source".into())
            }
            ("admin" | "staff", Some(_)) => Err(format!(
                "--source applies to upload tokens only, not to {role}"
            )),
            _ => Err(format!(
                "role {role:?} is not one of admin, staff or upload"
            )),
        }
    }

    fn of(record: &TokenRecord) -> Role {
        match (record.role.as_str(), &record.source_id) {
            ("admin", _) => Role::Admin,
            ("upload", Some(source)) => Role::Upload(source.clone()),
            _ => Role::Staff,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Staff => "staff",
            Role::Upload(_) => "upload",
        }
    }

    fn source(&self) -> Option<&str> {
        match self {
            Role::Upload(source) => Some(source),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Upload(source) => write!(f, "upload to {source}"),
            role => f.write_str(role.name()),
        }
    }
}

/// A credential that checked out.
#[derive(Debug, Clone)]
pub struct Holder {
    /// The operator token it is (or, for a session, was made with).
    pub token_id: i64,
    pub role: Role,
}

/// A token just made: the only time it is seen.
pub struct Issued {
    pub id: i64,
    pub token: String,
}

/// How long a browser session lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// How long a command's own token to reach the daemon lasts.
const COMMAND_LIFETIME: Duration = Duration::from_secs(120);

fn fresh_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "rapport_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

fn sha256(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

async fn issue(
    store: &Store,
    kind: &str,
    role: &Role,
    label: &str,
    parent_id: Option<i64>,
    lifetime: Option<Duration>,
) -> Result<Issued, StoreError> {
    let token = fresh_secret();
    let now = now_ms();
    let id = store
        .insert_token(&NewToken {
            sha256: &sha256(&token),
            kind,
            role: role.name(),
            source_id: role.source(),
            label,
            parent_id,
            created_at: now,
            expires_at: lifetime.map(|l| now + millis(l)),
        })
        .await?;
    Ok(Issued { id, token })
}

/// Makes an operator or upload token labelled `label`.
pub async fn create(store: &Store, role: &Role, label: &str) -> Result<Issued, StoreError> {
    issue(store, "token", role, label, None, None).await
}

/// On a first run (no admin token in force), makes the admin token to be printed once.
pub async fn first_run(store: &Store) -> Result<Option<Issued>, StoreError> {
    if store.has_token_in_force("token", "admin", now_ms()).await? {
        return Ok(None);
    }
    create(store, &Role::Admin, "first run").await.map(Some)
}

/// The operator and upload tokens, revoked ones included (never their secrets).
pub async fn list(store: &Store) -> Result<Vec<TokenRecord>, StoreError> {
    store.tokens_of_kind("token").await
}

/// Revokes operator or upload token `id`, ending its browser sessions; false if none is in force.
pub async fn revoke(store: &Store, id: i64) -> Result<bool, StoreError> {
    store.revoke_token(id, "token", now_ms()).await
}

/// Who holds `secret` (a token, a session or a command's token), if anyone.
pub async fn check(store: &Store, secret: &str) -> Result<Option<Holder>, StoreError> {
    Ok(store
        .token_in_force(&sha256(secret), now_ms())
        .await?
        .map(|record| Holder {
            token_id: record.parent_id.unwrap_or(record.id),
            role: Role::of(&record),
        }))
}

/// A browser session for `holder`, who logged in with an operator token; old sessions are swept.
pub async fn start_session(store: &Store, holder: &Holder) -> Result<String, StoreError> {
    store.delete_expired_tokens(now_ms()).await?;
    let session = issue(
        store,
        "session",
        &holder.role,
        "browser session",
        Some(holder.token_id),
        Some(SESSION_LIFETIME),
    )
    .await?;
    Ok(session.token)
}

/// Ends a browser session or a command's token.
pub async fn end(store: &Store, secret: &str) -> Result<(), StoreError> {
    store.delete_token(&sha256(secret)).await
}

/// An admin token for a command on this machine to reach the running daemon: whoever can open the
/// database can make tokens anyway. It expires in two minutes; [`end`] it once used.
pub async fn for_command(store: &Store, command: &str) -> Result<String, StoreError> {
    store.delete_expired_tokens(now_ms()).await?;
    let issued = issue(
        store,
        "command",
        &Role::Admin,
        command,
        None,
        Some(COMMAND_LIFETIME),
    )
    .await?;
    Ok(issued.token)
}
