//! Agents, teams and the credentials that let people and integrations in: argon2id
//! passwords, browser sessions and API tokens. Secrets are shown once and stored only as
//! hashes.

use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::identity::normalize_email;
use super::{Actor, Desk, Error, Result, Role, stored};
use crate::store::now;
use entity::{agent, api_token, session, team, team_member};

/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 12;
/// Prefix of every API token, so leaked tokens are easy to recognise.
pub const TOKEN_PREFIX: &str = "sb_";

/// A new agent; without a password one is generated and returned once.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAgent {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password: Option<String>,
}

/// An admin's change to an agent; absent fields stay.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentUpdate {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub active: Option<bool>,
    pub password: Option<String>,
}

/// An agent as the API shows it, with the teams they are in.
#[derive(Debug, Serialize)]
pub struct AgentView {
    #[serde(flatten)]
    pub agent: agent::Model,
    pub team_ids: Vec<i64>,
}

/// A team with its members.
#[derive(Debug, Serialize)]
pub struct TeamView {
    #[serde(flatten)]
    pub team: team::Model,
    pub agent_ids: Vec<i64>,
}

/// A signed-in agent, as found from a session cookie.
#[derive(Clone, Debug)]
pub struct SignedIn {
    pub agent: agent::Model,
    pub role: Role,
    pub session_id: i64,
    pub csrf_token: String,
}

/// A new session's secrets: the cookie value and the CSRF token.
#[derive(Debug)]
pub struct NewSession {
    pub token: String,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// A random secret of `bytes` bytes, URL-safe.
pub fn random_secret(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The stored form of a high-entropy secret (session or API token): its SHA-256.
/// Such secrets cannot be guessed, so a fast hash is enough; passwords use argon2id.
pub fn secret_hash(secret: &str) -> String {
    crate::blobs::hex(&Sha256::digest(secret.as_bytes()))
}

/// Argon2 work runs on this many threads of its own. Each hash takes 19 MiB for a moment;
/// a fixed pool bounds both that memory (the allocator keeps it per thread) and the CPU
/// a burst of sign-ins can take, whatever the request rate.
const HASHING_THREADS: usize = 2;

type HashJob = Box<dyn FnOnce() + Send>;

/// Runs `work` on the password-hashing threads.
async fn on_hashing_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    static POOL: std::sync::OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<HashJob>>> =
        std::sync::OnceLock::new();
    let pool = POOL.get_or_init(|| {
        let (sender, receiver) = std::sync::mpsc::channel::<HashJob>();
        let receiver = std::sync::Arc::new(std::sync::Mutex::new(receiver));
        for i in 0..HASHING_THREADS {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-hash-{i}"))
                .spawn(move || {
                    loop {
                        let job = receiver.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!("cannot start a password hashing thread: {e}");
            }
        }
        std::sync::Mutex::new(sender)
    });
    let (done, result) = tokio::sync::oneshot::channel();
    let job: HashJob = Box::new(move || {
        let _ = done.send(work());
    });
    pool.lock()
        .unwrap_or_else(|e| e.into_inner())
        .send(job)
        .map_err(|_| {
            Error::Store(sea_orm::DbErr::Custom(
                "password hashing is not available".into(),
            ))
        })?;
    result
        .await
        .map_err(|_| Error::Store(sea_orm::DbErr::Custom("password hashing failed".into())))
}

/// Hashes a password with argon2id (slow on purpose, so off the async threads).
pub async fn hash_password(password: String) -> Result<String> {
    on_hashing_thread(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
    })
    .await?
    .map_err(|e| {
        Error::Store(sea_orm::DbErr::Custom(format!(
            "password hashing failed: {e}"
        )))
    })
}

/// Checks a password against a stored hash (constant-time inside argon2).
pub async fn verify_password(hash: String, password: String) -> bool {
    on_hashing_thread(move || {
        PasswordHash::new(&hash)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// A hash of a password nobody has, verified against for unknown accounts so a login's
/// timing does not tell whether the account exists.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        Argon2::default()
            .hash_password(random_secret(16).as_bytes())
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(Error::invalid(
            "password",
            format!("at least {MIN_PASSWORD} characters"),
        ));
    }
    if password.len() > 1024 {
        return Err(Error::invalid("password", "at most 1024 bytes"));
    }
    Ok(())
}

fn check_name(field: &str, name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must be 1–200 bytes of text"));
    }
    Ok(name.to_owned())
}

/// The active agent `id`, for a field that names one (an assignee, a complaint's
/// owner); an unknown or deactivated agent is an error on `field`.
pub(crate) async fn active_agent<C: sea_orm::ConnectionTrait>(
    db: &C,
    field: &str,
    id: i64,
) -> Result<agent::Model> {
    let a = agent::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::invalid(field, format!("no agent {id}")))?;
    if !a.active {
        return Err(Error::invalid(field, format!("agent {id} is deactivated")));
    }
    Ok(a)
}

impl Desk {
    /// Adds an agent. Returns the generated password when none was given (shown once).
    pub async fn create_agent(&self, new: NewAgent) -> Result<(agent::Model, Option<String>)> {
        let email = normalize_email(&new.email)?;
        let name = check_name("name", &new.name)?;
        let (password, generated) = match new.password {
            Some(p) => {
                check_password(&p)?;
                (p, None)
            }
            None => {
                let p = random_secret(15);
                (p.clone(), Some(p))
            }
        };
        let hash = hash_password(password).await?;
        let tx = self.store.write().await?;
        if agent::Entity::find()
            .filter(agent::Column::Email.eq(email.as_str()))
            .one(&*tx)
            .await?
            .is_some()
        {
            return Err(Error::Conflict {
                code: "agent_exists",
                message: format!("an agent with email {email} exists"),
            });
        }
        let a = agent::ActiveModel {
            email: Set(email),
            name: Set(name),
            role: Set(new.role.as_str().into()),
            password_hash: Set(hash),
            active: Set(true),
            created_at: Set(now()),
            last_login_at: Set(None),
            ..Default::default()
        }
        .insert(&*tx)
        .await?;
        tx.commit().await?;
        Ok((a, generated))
    }

    /// Active admins; start-up creates the first one when there is none.
    pub async fn admin_count(&self) -> Result<u64> {
        Ok(agent::Entity::find()
            .filter(agent::Column::Role.eq(Role::Admin.as_str()))
            .filter(agent::Column::Active.eq(true))
            .count(self.store.db())
            .await?)
    }

    pub async fn agent(&self, id: i64) -> Result<AgentView> {
        let a = agent::Entity::find_by_id(id)
            .one(self.store.db())
            .await?
            .ok_or_else(|| Error::not_found("agent", id))?;
        let team_ids = self.agent_team_ids(id).await?;
        Ok(AgentView { agent: a, team_ids })
    }

    pub async fn agent_team_ids(&self, agent_id: i64) -> Result<Vec<i64>> {
        Ok(team_member::Entity::find()
            .filter(team_member::Column::AgentId.eq(agent_id))
            .order_by_asc(team_member::Column::TeamId)
            .all(self.store.db())
            .await?
            .into_iter()
            .map(|m| m.team_id)
            .collect())
    }

    pub async fn list_agents(&self) -> Result<Vec<AgentView>> {
        let db = self.store.db();
        let agents = agent::Entity::find()
            .order_by_asc(agent::Column::Name)
            .all(db)
            .await?;
        let members = team_member::Entity::find().all(db).await?;
        Ok(agents
            .into_iter()
            .map(|a| {
                let team_ids = members
                    .iter()
                    .filter(|m| m.agent_id == a.id)
                    .map(|m| m.team_id)
                    .collect();
                AgentView { agent: a, team_ids }
            })
            .collect())
    }

    /// Changes an agent; deactivating one, changing the password or lowering the role ends
    /// their sessions.
    /// Admins cannot demote or deactivate themselves, so a desk never loses its last admin
    /// by accident.
    pub async fn update_agent(
        &self,
        id: i64,
        change: AgentUpdate,
        actor: Actor,
    ) -> Result<AgentView> {
        if actor.agent_id() == Some(id)
            && (change.active == Some(false) || change.role.is_some_and(|r| r != Role::Admin))
        {
            return Err(Error::invalid(
                "role",
                "admins cannot demote or deactivate themselves",
            ));
        }
        let hash = match &change.password {
            Some(p) => {
                check_password(p)?;
                Some(hash_password(p.clone()).await?)
            }
            None => None,
        };
        let tx = self.store.write().await?;
        let a = agent::Entity::find_by_id(id)
            .one(&*tx)
            .await?
            .ok_or_else(|| Error::not_found("agent", id))?;
        let mut update = agent::ActiveModel {
            id: Set(a.id),
            ..Default::default()
        };
        if let Some(name) = &change.name {
            update.name = Set(check_name("name", name)?);
        }
        if let Some(role) = change.role {
            update.role = Set(role.as_str().into());
        }
        if let Some(active) = change.active {
            update.active = Set(active);
        }
        // A lower role ends the sessions too: open WebSockets keep the role they were
        // opened with (a lead's feedback topic, say).
        let demoted = match change.role {
            Some(role) => !role.covers(stored(&a.role)?),
            None => false,
        };
        let ends_sessions = hash.is_some() || change.active == Some(false) || demoted;
        if let Some(hash) = hash {
            update.password_hash = Set(hash);
        }
        update.update(&*tx).await?;
        if ends_sessions {
            session::Entity::delete_many()
                .filter(session::Column::AgentId.eq(id))
                .exec(&*tx)
                .await?;
        }
        tx.commit().await?;
        if ends_sessions {
            self.hub.sessions_ended(id, None);
        }
        self.agent(id).await
    }

    /// Checks an email and password; the same work is done for unknown accounts.
    pub async fn authenticate(&self, email: &str, password: &str) -> Result<Option<agent::Model>> {
        let found = match normalize_email(email) {
            Ok(email) => {
                agent::Entity::find()
                    .filter(agent::Column::Email.eq(email))
                    .one(self.store.db())
                    .await?
            }
            Err(_) => None,
        };
        let hash = found
            .as_ref()
            .map(|a| a.password_hash.clone())
            .unwrap_or_else(|| decoy_hash().to_owned());
        let ok = verify_password(hash, password.to_owned()).await;
        Ok(found.filter(|a| ok && a.active))
    }

    /// Starts a browser session for an agent who just signed in.
    pub async fn create_session(&self, agent_id: i64, idle: Duration) -> Result<NewSession> {
        let token = random_secret(32);
        let csrf_token = random_secret(32);
        let at = now();
        let expires_at =
            at + chrono::Duration::from_std(idle).unwrap_or(chrono::Duration::hours(12));
        let tx = self.store.write().await?;
        session::ActiveModel {
            token_hash: Set(secret_hash(&token)),
            agent_id: Set(agent_id),
            csrf_token: Set(csrf_token.clone()),
            created_at: Set(at),
            expires_at: Set(expires_at),
            ..Default::default()
        }
        .insert(&*tx)
        .await?;
        agent::ActiveModel {
            id: Set(agent_id),
            last_login_at: Set(Some(at)),
            ..Default::default()
        }
        .update(&*tx)
        .await?;
        // Sweep this agent's expired sessions while we are here.
        session::Entity::delete_many()
            .filter(session::Column::AgentId.eq(agent_id))
            .filter(session::Column::ExpiresAt.lt(at))
            .exec(&*tx)
            .await?;
        tx.commit().await?;
        Ok(NewSession {
            token,
            csrf_token,
            expires_at,
        })
    }

    /// The agent behind a session cookie, if the session is live and the agent active.
    /// A session in use is extended (at most once a minute) to `idle` from now.
    pub async fn session_agent(&self, token: &str, idle: Duration) -> Result<Option<SignedIn>> {
        let db = self.store.db();
        let Some(s) = session::Entity::find()
            .filter(session::Column::TokenHash.eq(secret_hash(token)))
            .one(db)
            .await?
        else {
            return Ok(None);
        };
        let at = now();
        if s.expires_at <= at {
            return Ok(None);
        }
        let Some(a) = agent::Entity::find_by_id(s.agent_id).one(db).await? else {
            return Ok(None);
        };
        if !a.active {
            return Ok(None);
        }
        let idle = chrono::Duration::from_std(idle).unwrap_or(chrono::Duration::hours(12));
        if at + idle - s.expires_at > chrono::Duration::minutes(1) {
            let tx = self.store.write().await?;
            session::Entity::update_many()
                .col_expr(session::Column::ExpiresAt, (at + idle).into())
                .filter(session::Column::Id.eq(s.id))
                .exec(&*tx)
                .await?;
            tx.commit().await?;
        }
        Ok(Some(SignedIn {
            role: stored(&a.role)?,
            agent: a,
            session_id: s.id,
            csrf_token: s.csrf_token,
        }))
    }

    /// True while a session exists, has not expired and its agent is active (checked by
    /// long-lived connections, without extending the session).
    pub async fn session_live(&self, session_id: i64) -> Result<bool> {
        let db = self.store.db();
        let Some(s) = session::Entity::find_by_id(session_id).one(db).await? else {
            return Ok(false);
        };
        if s.expires_at <= now() {
            return Ok(false);
        }
        Ok(agent::Entity::find_by_id(s.agent_id)
            .one(db)
            .await?
            .is_some_and(|a| a.active))
    }

    /// Signs a session out; its live connections close at once.
    pub async fn end_session(&self, session_id: i64) -> Result<()> {
        let tx = self.store.write().await?;
        let found = session::Entity::find_by_id(session_id).one(&*tx).await?;
        session::Entity::delete_by_id(session_id).exec(&*tx).await?;
        tx.commit().await?;
        if let Some(s) = found {
            self.hub.sessions_ended(s.agent_id, Some(session_id));
        }
        Ok(())
    }

    /// Creates an API token; the token itself is returned once and stored hashed.
    pub async fn create_token(&self, name: &str, role: Role) -> Result<(api_token::Model, String)> {
        let name = check_name("name", name)?;
        let token = format!("{TOKEN_PREFIX}{}", random_secret(32));
        let tx = self.store.write().await?;
        let t = api_token::ActiveModel {
            name: Set(name),
            prefix: Set(token[..TOKEN_PREFIX.len() + 6].to_owned()),
            token_hash: Set(secret_hash(&token)),
            role: Set(role.as_str().into()),
            created_at: Set(now()),
            last_used_at: Set(None),
            revoked_at: Set(None),
            ..Default::default()
        }
        .insert(&*tx)
        .await?;
        tx.commit().await?;
        Ok((t, token))
    }

    /// The live (not revoked) token with this secret; notes its use at most once a minute.
    pub async fn token_by_secret(&self, secret: &str) -> Result<Option<(api_token::Model, Role)>> {
        let Some(t) = api_token::Entity::find()
            .filter(api_token::Column::TokenHash.eq(secret_hash(secret)))
            .one(self.store.db())
            .await?
        else {
            return Ok(None);
        };
        if t.revoked_at.is_some() {
            return Ok(None);
        }
        let at = now();
        if t.last_used_at
            .is_none_or(|u| at - u > chrono::Duration::minutes(1))
        {
            let tx = self.store.write().await?;
            api_token::Entity::update_many()
                .col_expr(api_token::Column::LastUsedAt, Some(at).into())
                .filter(api_token::Column::Id.eq(t.id))
                .exec(&*tx)
                .await?;
            tx.commit().await?;
        }
        let role = stored(&t.role)?;
        Ok(Some((t, role)))
    }

    pub async fn list_tokens(&self) -> Result<Vec<api_token::Model>> {
        Ok(api_token::Entity::find()
            .order_by_asc(api_token::Column::Id)
            .all(self.store.db())
            .await?)
    }

    /// Revokes a token; it stops working at once.
    pub async fn revoke_token(&self, id: i64) -> Result<api_token::Model> {
        let tx = self.store.write().await?;
        let t = api_token::Entity::find_by_id(id)
            .one(&*tx)
            .await?
            .ok_or_else(|| Error::not_found("token", id))?;
        let t = if t.revoked_at.is_none() {
            api_token::ActiveModel {
                id: Set(id),
                revoked_at: Set(Some(now())),
                ..Default::default()
            }
            .update(&*tx)
            .await?
        } else {
            t
        };
        tx.commit().await?;
        Ok(t)
    }

    pub async fn create_team(&self, name: &str) -> Result<TeamView> {
        let name = check_name("name", name)?;
        let tx = self.store.write().await?;
        if team::Entity::find()
            .filter(team::Column::Name.eq(name.as_str()))
            .one(&*tx)
            .await?
            .is_some()
        {
            return Err(Error::Conflict {
                code: "team_exists",
                message: format!("a team named {name:?} exists"),
            });
        }
        let t = team::ActiveModel {
            name: Set(name),
            created_at: Set(now()),
            ..Default::default()
        }
        .insert(&*tx)
        .await?;
        tx.commit().await?;
        Ok(TeamView {
            team: t,
            agent_ids: vec![],
        })
    }

    pub async fn list_teams(&self) -> Result<Vec<TeamView>> {
        let db = self.store.db();
        let teams = team::Entity::find()
            .order_by_asc(team::Column::Name)
            .all(db)
            .await?;
        let members = team_member::Entity::find().all(db).await?;
        Ok(teams
            .into_iter()
            .map(|t| {
                let agent_ids = members
                    .iter()
                    .filter(|m| m.team_id == t.id)
                    .map(|m| m.agent_id)
                    .collect();
                TeamView { team: t, agent_ids }
            })
            .collect())
    }

    /// Puts an agent in a team (or takes them out).
    pub async fn set_team_member(&self, team_id: i64, agent_id: i64, member: bool) -> Result<()> {
        let tx = self.store.write().await?;
        if team::Entity::find_by_id(team_id).one(&*tx).await?.is_none() {
            return Err(Error::not_found("team", team_id));
        }
        if agent::Entity::find_by_id(agent_id)
            .one(&*tx)
            .await?
            .is_none()
        {
            return Err(Error::invalid("agent_id", format!("no agent {agent_id}")));
        }
        let existing = team_member::Entity::find_by_id((team_id, agent_id))
            .one(&*tx)
            .await?;
        match (existing.is_some(), member) {
            (false, true) => {
                team_member::ActiveModel {
                    team_id: Set(team_id),
                    agent_id: Set(agent_id),
                }
                .insert(&*tx)
                .await?;
            }
            (true, false) => {
                team_member::Entity::delete_by_id((team_id, agent_id))
                    .exec(&*tx)
                    .await?;
            }
            _ => {}
        }
        tx.commit().await?;
        Ok(())
    }
}
