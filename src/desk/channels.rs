//! Configured channels: the ways in an admin sets up.
//!
//! - A chat widget site: its public key, the origins allowed to embed it, the secret the
//!   shop signs its customers' identities with, and a greeting.
//! - A mail account: the support address, the IMAP folder it is read from, the SMTP
//!   server replies leave through, and whether new tickets are acknowledged.
//! - A Telegram bot: its token and the secret Telegram sends with every webhook call.
//! - An SMS number at Twilio: the number, and the account SID and auth token that
//!   authenticate our calls and sign Twilio's webhooks.
//! - A WhatsApp business number: its phone number id, the access token, the app secret
//!   that signs webhooks and the verify token of the webhook handshake.
//! - A shop (Shopify or WooCommerce): its domain or address and the secret its order
//!   webhooks are signed with.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::agents::random_secret;
use super::{Desk, Error, Result, check_text};
use crate::store::now;
use entity::channel;

/// The kind of a widget site in `channel.kind`.
pub const WIDGET: &str = "widget";
/// Most origins one site may list.
pub const MAX_ORIGINS: usize = 20;
/// Longest greeting, in bytes.
pub const MAX_GREETING: usize = 1000;

/// A widget site's settings, kept as JSON in `channel.settings`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct WidgetSettings {
    /// Exact origins (`https://shop.example`) whose pages may open the widget.
    pub origins: Vec<String>,
    /// The first thing a visitor reads in the chat.
    pub greeting: Option<String>,
    /// Served as the demo shop at `/demo/shop`.
    #[serde(default)]
    pub demo: bool,
}

/// A new widget site as an admin describes it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWidget {
    pub name: String,
    pub origins: Vec<String>,
    #[serde(default)]
    pub greeting: Option<String>,
}

/// A change to a widget site; absent fields stay.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidgetChange {
    pub name: Option<String>,
    pub origins: Option<Vec<String>>,
    /// `null` removes the greeting.
    #[serde(default, deserialize_with = "super::contacts::some")]
    pub greeting: Option<Option<String>>,
    pub active: Option<bool>,
}

/// A widget site ready to serve: the row and its parsed settings.
#[derive(Clone, Debug)]
pub struct WidgetSite {
    pub channel: channel::Model,
    pub settings: WidgetSettings,
}

impl WidgetSite {
    /// True when a page from `origin` may open this site's widget.
    pub fn allows(&self, origin: &str) -> bool {
        self.settings
            .origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin))
    }
}

/// The canonical form of an allowed origin: scheme, host and port, nothing else.
pub fn check_origin(raw: &str) -> Result<String> {
    let bad = |why: &str| Error::invalid("origins", format!("{raw:?} is not an origin: {why}"));
    let url = url::Url::parse(raw.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("use http or https"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("no path, query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("no user name or password"));
    }
    Ok(url.origin().ascii_serialization())
}

fn check_settings(origins: &[String], greeting: Option<&str>) -> Result<Vec<String>> {
    if origins.is_empty() || origins.len() > MAX_ORIGINS {
        return Err(Error::invalid(
            "origins",
            format!("list between 1 and {MAX_ORIGINS} origins"),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for o in origins {
        let o = check_origin(o)?;
        if !out.contains(&o) {
            out.push(o);
        }
    }
    if let Some(g) = greeting {
        check_text("greeting", g, MAX_GREETING)?;
    }
    Ok(out)
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::invalid("name", "must not be empty"));
    }
    check_text("name", name, 200)?;
    Ok(name.to_owned())
}

impl Desk {
    /// Stores a new, active channel with fresh public and token keys.
    pub(crate) async fn insert_channel(
        &self,
        kind: &str,
        name: String,
        secret: String,
        settings: serde_json::Value,
    ) -> Result<channel::Model> {
        let at = now();
        Ok(channel::ActiveModel {
            kind: Set(kind.into()),
            name: Set(name),
            key: Set(random_secret(12)),
            secret: Set(secret),
            token_key: Set(random_secret(32)),
            settings: Set(settings),
            active: Set(true),
            created_at: Set(at),
            updated_at: Set(at),
            ..Default::default()
        }
        .insert(self.store.db())
        .await?)
    }
}

/// A channel's settings of its kind; unreadable ones are a store error.
fn settings_of<T: serde::de::DeserializeOwned>(channel: &channel::Model) -> Result<T> {
    serde_json::from_value(channel.settings.clone()).map_err(|e| {
        Error::Store(sea_orm::DbErr::Custom(format!(
            "channel {} has unreadable settings: {e}",
            channel.id
        )))
    })
}

fn widget_site(channel: channel::Model) -> Result<WidgetSite> {
    let settings = settings_of(&channel)?;
    Ok(WidgetSite { channel, settings })
}

impl Desk {
    /// Creates a widget site; returns it with its secret, which is shown this once.
    pub async fn create_widget(&self, new: &NewWidget) -> Result<(WidgetSite, String)> {
        self.create_widget_with(new, false).await
    }

    /// Creates a widget site, optionally the one the demo shop page uses.
    pub async fn create_widget_with(
        &self,
        new: &NewWidget,
        demo: bool,
    ) -> Result<(WidgetSite, String)> {
        let name = check_name(&new.name)?;
        let origins = check_settings(&new.origins, new.greeting.as_deref())?;
        let secret = random_secret(32);
        let at = now();
        let settings = WidgetSettings {
            origins,
            greeting: new.greeting.clone().filter(|g| !g.trim().is_empty()),
            demo,
        };
        let row = channel::ActiveModel {
            kind: Set(WIDGET.into()),
            name: Set(name),
            key: Set(random_secret(12)),
            secret: Set(secret.clone()),
            token_key: Set(random_secret(32)),
            settings: Set(json!(settings)),
            active: Set(true),
            created_at: Set(at),
            updated_at: Set(at),
            ..Default::default()
        }
        .insert(self.store.db())
        .await?;
        Ok((
            WidgetSite {
                channel: row,
                settings,
            },
            secret,
        ))
    }

    /// Every configured channel, oldest first.
    pub async fn channels(&self) -> Result<Vec<channel::Model>> {
        Ok(channel::Entity::find()
            .order_by_asc(channel::Column::Id)
            .all(self.store.db())
            .await?)
    }

    pub async fn channel(&self, id: i64) -> Result<channel::Model> {
        channel::Entity::find_by_id(id)
            .one(self.store.db())
            .await?
            .ok_or_else(|| Error::not_found("channel", id))
    }

    /// The active widget site with this public key.
    pub async fn widget_by_key(&self, key: &str) -> Result<Option<WidgetSite>> {
        if key.is_empty() || key.len() > 64 {
            return Ok(None);
        }
        channel::Entity::find()
            .filter(channel::Column::Key.eq(key))
            .filter(channel::Column::Kind.eq(WIDGET))
            .filter(channel::Column::Active.eq(true))
            .one(self.store.db())
            .await?
            .map(widget_site)
            .transpose()
    }

    /// The widget site the demo shop page embeds, if one was set up.
    pub async fn demo_widget(&self) -> Result<Option<WidgetSite>> {
        let rows = channel::Entity::find()
            .filter(channel::Column::Kind.eq(WIDGET))
            .filter(channel::Column::Active.eq(true))
            .order_by_asc(channel::Column::Id)
            .all(self.store.db())
            .await?;
        for row in rows {
            let site = widget_site(row)?;
            if site.settings.demo {
                return Ok(Some(site));
            }
        }
        Ok(None)
    }

    /// Changes a widget site's name, origins, greeting or whether it is active.
    pub async fn update_widget(&self, id: i64, change: &WidgetChange) -> Result<WidgetSite> {
        let site = widget_site(self.channel(id).await?)?;
        if site.channel.kind != WIDGET {
            return Err(Error::invalid("id", "not a widget site"));
        }
        let mut settings = site.settings;
        if let Some(origins) = &change.origins {
            settings.origins = check_settings(origins, None)?;
        }
        if let Some(greeting) = &change.greeting {
            if let Some(g) = greeting {
                check_text("greeting", g, MAX_GREETING)?;
            }
            settings.greeting = greeting.clone().filter(|g| !g.trim().is_empty());
        }
        let mut row = channel::ActiveModel {
            id: Set(id),
            settings: Set(json!(settings)),
            updated_at: Set(now()),
            ..Default::default()
        };
        if let Some(name) = &change.name {
            row.name = Set(check_name(name)?);
        }
        if let Some(active) = change.active {
            row.active = Set(active);
        }
        widget_site(row.update(self.store.db()).await?)
    }

    /// Replaces a channel's shared secret; the old one stops working at once.
    pub async fn rotate_channel_secret(&self, id: i64) -> Result<(channel::Model, String)> {
        if self.channel(id).await?.kind != WIDGET {
            return Err(Error::invalid(
                "id",
                "only widget sites have a shared secret; change a mail account's passwords with PATCH",
            ));
        }
        let secret = random_secret(32);
        let row = channel::ActiveModel {
            id: Set(id),
            secret: Set(secret.clone()),
            updated_at: Set(now()),
            ..Default::default()
        }
        .update(self.store.db())
        .await?;
        Ok((row, secret))
    }
}

/// The kind of a mail account in `channel.kind`.
pub const MAIL: &str = "email";

/// How the connection to a mail server is secured.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// TLS from the first byte (IMAP 993, SMTP 465).
    #[default]
    Tls,
    /// Plain, then STARTTLS before logging in (IMAP 143, SMTP 587).
    Starttls,
    /// No encryption: only for a relay on the same host or network.
    None,
}

/// A mail server an account talks to.
#[derive(Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MailServer {
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub security: Security,
    /// The login; none for an SMTP relay that takes mail without one.
    #[serde(default)]
    pub user: Option<String>,
    /// The password, when an admin sets it; stored apart from the settings and never
    /// shown again.
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
    /// IMAP only: the folder to read, `INBOX` unless set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    /// PEM certificates of a private CA to trust besides the public ones (a server with
    /// its own CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<String>,
}

impl std::fmt::Debug for MailServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailServer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("folder", &self.folder)
            .field("tls_ca", &self.tls_ca.as_ref().map(|_| "PEM"))
            .finish()
    }
}

impl MailServer {
    fn check(&self, field: &str) -> Result<()> {
        let host = self.host.trim();
        if host.is_empty()
            || host.len() > 253
            || host.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(Error::invalid(
                format!("{field}.host"),
                "a host name or address",
            ));
        }
        if self.port == 0 {
            return Err(Error::invalid(format!("{field}.port"), "1 to 65535"));
        }
        for (name, value) in [
            ("user", &self.user),
            ("password", &self.password),
            ("folder", &self.folder),
        ] {
            if let Some(v) = value {
                check_text(&format!("{field}.{name}"), v, 500)?;
            }
        }
        if let Some(pem) = &self.tls_ca
            && (pem.len() > 64 * 1024 || !pem.contains("-----BEGIN CERTIFICATE-----"))
        {
            return Err(Error::invalid(
                format!("{field}.tls_ca"),
                "PEM certificates (-----BEGIN CERTIFICATE-----), at most 64 KiB",
            ));
        }
        Ok(())
    }

    /// The IMAP folder to read.
    pub fn folder(&self) -> &str {
        self.folder.as_deref().unwrap_or("INBOX")
    }
}

/// The language of a mail account's automatic answers.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    En,
    De,
}

/// A mail account's settings, kept as JSON in `channel.settings`; its passwords are in
/// `channel.secret`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct MailSettings {
    /// The support address customers write to; replies come from it.
    pub address: String,
    /// The name replies come from ("Example Shop Support").
    #[serde(default)]
    pub display_name: Option<String>,
    /// Where mail is read from; none when an MTA hands mail in over the API.
    #[serde(default)]
    pub imap: Option<MailServer>,
    /// Where replies leave.
    #[serde(default)]
    pub smtp: Option<MailServer>,
    /// Answer a new ticket at once with its number.
    #[serde(default)]
    pub acknowledge: bool,
    /// The acknowledgement's text; `{number}` and `{subject}` are filled in.
    #[serde(default)]
    pub ack_text: Option<String>,
    #[serde(default)]
    pub language: Language,
}

/// A mail account's passwords, kept as JSON in `channel.secret`.
#[derive(Clone, Default, Deserialize, Serialize)]
pub struct MailSecrets {
    pub imap_password: Option<String>,
    pub smtp_password: Option<String>,
}

impl std::fmt::Debug for MailSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MailSecrets { … }")
    }
}

/// The desk's automatic answers in a mail account's language.
pub struct AutoTexts(Language);

impl AutoTexts {
    /// The answer to a new ticket.
    pub fn acknowledgement(&self, t: &entity::ticket::Model, custom: Option<&str>) -> String {
        let fill = |s: &str| {
            s.replace("{number}", &t.number.to_string())
                .replace("{subject}", &t.subject)
        };
        if let Some(custom) = custom {
            return fill(custom);
        }
        fill(match self.0 {
            Language::En => {
                "Thank you for your message. We have received it as ticket [#{number}] and will answer as soon as we can.\n\nPlease keep [#{number}] in the subject when you write to us about this again.\n\nThis is an automatic answer."
            }
            Language::De => {
                "Vielen Dank für Ihre Nachricht. Wir haben sie als Ticket [#{number}] erhalten und antworten so bald wie möglich.\n\nBitte lassen Sie [#{number}] im Betreff stehen, wenn Sie uns dazu wieder schreiben.\n\nDies ist eine automatische Antwort."
            }
        })
    }

    /// The notice a sender gets when their mail was too large to fetch.
    pub fn too_large(&self, t: &entity::ticket::Model, limit: u64) -> String {
        let limit = super::email::megabytes(limit);
        match self.0 {
            Language::En => format!(
                "Your message was larger than the {limit} we accept, so it has not reached our team in full. We have noted it as ticket [#{}]. Please send large files as a download link or in several smaller messages.\n\nThis is an automatic answer.",
                t.number
            ),
            Language::De => format!(
                "Ihre Nachricht war größer als die {limit}, die wir annehmen, und hat unser Team deshalb nicht vollständig erreicht. Wir haben sie als Ticket [#{}] vermerkt. Bitte senden Sie große Dateien als Download-Link oder in mehreren kleineren Nachrichten.\n\nDies ist eine automatische Antwort.",
                t.number
            ),
        }
    }
}

impl MailSettings {
    pub fn texts(&self) -> AutoTexts {
        AutoTexts(self.language)
    }
}

/// A mail account ready to use: the row and its parsed settings.
#[derive(Clone, Debug)]
pub struct MailAccount {
    pub channel: channel::Model,
    pub settings: MailSettings,
}

impl MailAccount {
    /// The account's passwords.
    pub fn secrets(&self) -> MailSecrets {
        serde_json::from_str(&self.channel.secret).unwrap_or_default()
    }

    /// The domain of the support address, for the desk's Message-IDs.
    pub fn domain(&self) -> &str {
        self.settings
            .address
            .rsplit_once('@')
            .map(|(_, d)| d)
            .unwrap_or("localhost")
    }
}

/// A new mail account as an admin describes it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMailAccount {
    pub name: String,
    pub address: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub imap: Option<MailServer>,
    #[serde(default)]
    pub smtp: Option<MailServer>,
    #[serde(default)]
    pub acknowledge: bool,
    #[serde(default)]
    pub ack_text: Option<String>,
    #[serde(default)]
    pub language: Language,
}

/// A change to a mail account; absent fields stay. A server given without a password
/// keeps the password it had.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailAccountChange {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "super::contacts::some")]
    pub display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::contacts::some")]
    pub imap: Option<Option<MailServer>>,
    #[serde(default, deserialize_with = "super::contacts::some")]
    pub smtp: Option<Option<MailServer>>,
    pub acknowledge: Option<bool>,
    #[serde(default, deserialize_with = "super::contacts::some")]
    pub ack_text: Option<Option<String>>,
    pub language: Option<Language>,
    pub active: Option<bool>,
}

fn mail_account(channel: channel::Model) -> Result<MailAccount> {
    let settings = settings_of(&channel)?;
    Ok(MailAccount { channel, settings })
}

fn check_mail_settings(s: &MailSettings) -> Result<()> {
    if let Some(imap) = &s.imap {
        imap.check("imap")?;
    }
    if let Some(smtp) = &s.smtp {
        smtp.check("smtp")?;
    }
    if let Some(name) = &s.display_name {
        check_text("display_name", name, 200)?;
        if name.contains(['\r', '\n']) {
            return Err(Error::invalid("display_name", "one line"));
        }
    }
    if let Some(text) = &s.ack_text {
        check_text("ack_text", text, MAX_GREETING * 4)?;
    }
    Ok(())
}

/// Takes the password out of a server's settings into the secrets. A server given
/// without one keeps the old password, but only while host and login stay the same: a
/// password never follows a changed server.
fn take_password(
    field: &str,
    server: &mut Option<MailServer>,
    before: Option<&MailServer>,
    kept: Option<String>,
) -> Result<Option<String>> {
    let Some(s) = server else { return Ok(None) };
    if let Some(given) = s.password.take() {
        return Ok(Some(given));
    }
    let same = before.is_some_and(|b| b.host == s.host && b.user == s.user);
    if kept.is_some() && !same {
        return Err(Error::invalid(
            format!("{field}.password"),
            "give the password again when the host or login changes",
        ));
    }
    Ok(kept.filter(|_| same))
}

impl Desk {
    /// Adds a mail account.
    pub async fn create_mail_account(&self, new: &NewMailAccount) -> Result<MailAccount> {
        let name = check_name(&new.name)?;
        let address = super::identity::normalize_email(&new.address)
            .map_err(|e| Error::invalid("address", e.to_string()))?;
        let mut settings = MailSettings {
            address,
            display_name: new.display_name.clone().filter(|n| !n.trim().is_empty()),
            imap: new.imap.clone(),
            smtp: new.smtp.clone(),
            acknowledge: new.acknowledge,
            ack_text: new.ack_text.clone().filter(|t| !t.trim().is_empty()),
            language: new.language,
        };
        check_mail_settings(&settings)?;
        if self
            .mail_account_by_address(&settings.address)
            .await?
            .is_some()
        {
            return Err(Error::Conflict {
                code: "address_taken",
                message: format!("a mail account for {} exists", settings.address),
            });
        }
        let secrets = MailSecrets {
            imap_password: take_password("imap", &mut settings.imap, None, None)?,
            smtp_password: take_password("smtp", &mut settings.smtp, None, None)?,
        };
        let row = self
            .insert_channel(MAIL, name, json!(secrets).to_string(), json!(settings))
            .await?;
        mail_account(row)
    }

    /// Changes a mail account.
    pub async fn update_mail_account(
        &self,
        id: i64,
        change: &MailAccountChange,
    ) -> Result<MailAccount> {
        let account = self.mail_account(id).await?;
        let mut secrets = account.secrets();
        let before = account.settings.clone();
        let mut settings = account.settings;
        if let Some(name) = &change.display_name {
            settings.display_name = name.clone().filter(|n| !n.trim().is_empty());
        }
        if let Some(imap) = &change.imap {
            settings.imap = imap.clone();
            secrets.imap_password = take_password(
                "imap",
                &mut settings.imap,
                before.imap.as_ref(),
                secrets.imap_password,
            )?;
        }
        if let Some(smtp) = &change.smtp {
            settings.smtp = smtp.clone();
            secrets.smtp_password = take_password(
                "smtp",
                &mut settings.smtp,
                before.smtp.as_ref(),
                secrets.smtp_password,
            )?;
        }
        if let Some(ack) = change.acknowledge {
            settings.acknowledge = ack;
        }
        if let Some(text) = &change.ack_text {
            settings.ack_text = text.clone().filter(|t| !t.trim().is_empty());
        }
        if let Some(language) = change.language {
            settings.language = language;
        }
        check_mail_settings(&settings)?;
        let mut row = channel::ActiveModel {
            id: Set(id),
            settings: Set(json!(settings)),
            secret: Set(json!(secrets).to_string()),
            updated_at: Set(now()),
            ..Default::default()
        };
        if let Some(name) = &change.name {
            row.name = Set(check_name(name)?);
        }
        if let Some(active) = change.active {
            row.active = Set(active);
        }
        mail_account(row.update(self.store.db()).await?)
    }

    /// A mail account, active or not.
    pub async fn mail_account(&self, id: i64) -> Result<MailAccount> {
        let row = self.channel(id).await?;
        if row.kind != MAIL {
            return Err(Error::not_found("mail account", id));
        }
        mail_account(row)
    }

    /// The active mail accounts, oldest first; the first one sends mail that belongs to
    /// no account (a chat answer followed up by mail).
    pub async fn mail_accounts(&self) -> Result<Vec<MailAccount>> {
        let rows = channel::Entity::find()
            .filter(channel::Column::Kind.eq(MAIL))
            .filter(channel::Column::Active.eq(true))
            .order_by_asc(channel::Column::Id)
            .all(self.store.db())
            .await?;
        // One unreadable account must not stop the others.
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                mail_account(row)
                    .map_err(|e| tracing::error!("skipping a mail account: {e}"))
                    .ok()
            })
            .collect())
    }

    /// The mail account with this support address, active or not.
    pub async fn mail_account_by_address(&self, address: &str) -> Result<Option<MailAccount>> {
        let address = address.trim().to_lowercase();
        let rows = channel::Entity::find()
            .filter(channel::Column::Kind.eq(MAIL))
            .all(self.store.db())
            .await?;
        for row in rows {
            let account = mail_account(row)?;
            if account.settings.address == address {
                return Ok(Some(account));
            }
        }
        Ok(None)
    }
}

/// The kind of a Telegram bot in `channel.kind`.
pub const TELEGRAM: &str = "telegram";

/// A Telegram bot's secrets, kept as JSON in `channel.secret`.
#[derive(Clone, Default, Deserialize, Serialize)]
pub struct BotSecrets {
    /// The token BotFather gave (`123456:ABC…`); it authenticates our calls.
    pub bot_token: String,
    /// Telegram sends it with every webhook call (`X-Telegram-Bot-Api-Secret-Token`).
    pub webhook_secret: String,
}

impl std::fmt::Debug for BotSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BotSecrets { … }")
    }
}

/// A Telegram bot ready to use.
#[derive(Clone, Debug)]
pub struct TelegramBot {
    pub channel: channel::Model,
}

impl TelegramBot {
    pub fn secrets(&self) -> BotSecrets {
        serde_json::from_str(&self.channel.secret).unwrap_or_default()
    }
}

/// Checks a bot token's shape: digits, a colon, and the secret part.
fn check_bot_token(token: &str) -> Result<()> {
    let valid = token.split_once(':').is_some_and(|(id, secret)| {
        !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_digit())
            && secret.len() >= 20
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    if valid {
        Ok(())
    } else {
        Err(Error::invalid(
            "bot_token",
            "a token from BotFather, like 123456789:AAE…",
        ))
    }
}

impl Desk {
    /// Adds a Telegram bot with a fresh webhook secret.
    pub async fn create_telegram_bot(&self, name: &str, bot_token: &str) -> Result<TelegramBot> {
        let name = check_name(name)?;
        let bot_token = bot_token.trim();
        check_bot_token(bot_token)?;
        let secrets = BotSecrets {
            bot_token: bot_token.to_owned(),
            webhook_secret: random_secret(32),
        };
        let row = self
            .insert_channel(TELEGRAM, name, json!(secrets).to_string(), json!({}))
            .await?;
        Ok(TelegramBot { channel: row })
    }

    /// An active Telegram bot, or None (unknown, inactive or another kind).
    pub async fn telegram_bot(&self, id: i64) -> Result<Option<TelegramBot>> {
        Ok(channel::Entity::find_by_id(id)
            .filter(channel::Column::Kind.eq(TELEGRAM))
            .filter(channel::Column::Active.eq(true))
            .one(self.store.db())
            .await?
            .map(|channel| TelegramBot { channel }))
    }
}

/// The kind of an SMS number (Twilio) in `channel.kind`.
pub const SMS: &str = "sms";

/// An SMS number's settings (`channel.settings`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct SmsSettings {
    /// The Twilio number customers text, in E.164 (`+4930…`); answers come from it.
    pub phone_number: String,
}

/// An SMS number's secrets, kept as JSON in `channel.secret`.
#[derive(Clone, Default, Deserialize, Serialize)]
pub struct SmsSecrets {
    /// The Twilio account (`AC` and 32 hex digits).
    pub account_sid: String,
    /// The account's auth token: it authenticates our calls and signs Twilio's webhooks.
    pub auth_token: String,
}

impl std::fmt::Debug for SmsSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SmsSecrets { … }")
    }
}

/// An SMS number ready to use.
#[derive(Clone)]
pub struct SmsNumber {
    pub channel: channel::Model,
    pub settings: SmsSettings,
}

impl std::fmt::Debug for SmsNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsNumber")
            .field("id", &self.channel.id)
            .field("name", &self.channel.name)
            .field("active", &self.channel.active)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl SmsNumber {
    pub fn secrets(&self) -> SmsSecrets {
        serde_json::from_str(&self.channel.secret).unwrap_or_default()
    }
}

/// True for `prefix` followed by exactly `hex` hexadecimal digits.
fn is_hex_id(value: &str, prefix: &str, hex: usize) -> bool {
    value
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == hex && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl Desk {
    /// Adds a Twilio number. The number is stored in E.164 (read in the desk's default
    /// region when it has no country code).
    pub async fn create_sms_number(
        &self,
        name: &str,
        phone_number: &str,
        account_sid: &str,
        auth_token: &str,
    ) -> Result<SmsNumber> {
        let name = check_name(name)?;
        let phone_number =
            super::identity::normalize_phone(phone_number, self.rules.default_region).map_err(
                |e| match e {
                    Error::Invalid { message, .. } => Error::invalid("phone_number", message),
                    other => other,
                },
            )?;
        let (account_sid, auth_token) = (account_sid.trim(), auth_token.trim());
        if !is_hex_id(account_sid, "AC", 32) {
            return Err(Error::invalid(
                "account_sid",
                "the Account SID from Twilio's console: AC and 32 hex digits",
            ));
        }
        if !is_hex_id(auth_token, "", 32) {
            return Err(Error::invalid(
                "auth_token",
                "the Auth Token from Twilio's console: 32 hex digits",
            ));
        }
        if self.sms_number_by_phone(&phone_number).await?.is_some() {
            return Err(Error::Conflict {
                code: "number_taken",
                message: format!("the number {phone_number} is set up already"),
            });
        }
        let secrets = SmsSecrets {
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
        };
        let settings = SmsSettings { phone_number };
        let row = self
            .insert_channel(SMS, name, json!(secrets).to_string(), json!(settings))
            .await?;
        Ok(SmsNumber {
            channel: row,
            settings,
        })
    }

    /// An active SMS number, or None (unknown, inactive or another kind).
    pub async fn sms_number(&self, id: i64) -> Result<Option<SmsNumber>> {
        let Some(channel) = channel::Entity::find_by_id(id)
            .filter(channel::Column::Kind.eq(SMS))
            .filter(channel::Column::Active.eq(true))
            .one(self.store.db())
            .await?
        else {
            return Ok(None);
        };
        let settings = settings_of(&channel)?;
        Ok(Some(SmsNumber { channel, settings }))
    }

    /// The SMS number with this E.164 number, active or not.
    pub async fn sms_number_by_phone(&self, phone_number: &str) -> Result<Option<SmsNumber>> {
        let rows = channel::Entity::find()
            .filter(channel::Column::Kind.eq(SMS))
            .all(self.store.db())
            .await?;
        for channel in rows {
            let settings: SmsSettings = settings_of(&channel)?;
            if settings.phone_number == phone_number {
                return Ok(Some(SmsNumber { channel, settings }));
            }
        }
        Ok(None)
    }
}

/// The kind of a WhatsApp business number in `channel.kind`.
pub const WHATSAPP: &str = "whatsapp";

/// A WhatsApp number's settings (`channel.settings`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct WhatsappSettings {
    /// The Cloud API's id of the business number; webhooks name it.
    pub phone_number_id: String,
}

/// A WhatsApp number's secrets, kept as JSON in `channel.secret`.
#[derive(Clone, Default, Deserialize, Serialize)]
pub struct WhatsappSecrets {
    /// The (system user) access token for the Graph API.
    pub access_token: String,
    /// The Meta app's secret: webhooks are signed with it.
    pub app_secret: String,
    /// What Meta echoes in the webhook verification handshake.
    pub verify_token: String,
}

impl std::fmt::Debug for WhatsappSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WhatsappSecrets { … }")
    }
}

/// A WhatsApp business number ready to use.
#[derive(Clone, Debug)]
pub struct WhatsappNumber {
    pub channel: channel::Model,
    pub settings: WhatsappSettings,
}

impl WhatsappNumber {
    pub fn secrets(&self) -> WhatsappSecrets {
        serde_json::from_str(&self.channel.secret).unwrap_or_default()
    }
}

impl Desk {
    /// Adds a WhatsApp business number with a fresh verify token.
    pub async fn create_whatsapp_number(
        &self,
        name: &str,
        phone_number_id: &str,
        access_token: &str,
        app_secret: &str,
    ) -> Result<WhatsappNumber> {
        let name = check_name(name)?;
        let phone_number_id = phone_number_id.trim();
        if phone_number_id.is_empty()
            || phone_number_id.len() > 40
            || !phone_number_id.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(Error::invalid(
                "phone_number_id",
                "the digits Meta shows for the number",
            ));
        }
        for (field, value) in [("access_token", access_token), ("app_secret", app_secret)] {
            if value.trim().len() < 16
                || value.len() > 1000
                || value.chars().any(char::is_whitespace)
            {
                return Err(Error::invalid(field, "as Meta's app dashboard shows it"));
            }
        }
        if self.whatsapp_by_number_id(phone_number_id).await?.is_some() {
            return Err(Error::Conflict {
                code: "number_taken",
                message: format!("the number {phone_number_id} is set up already"),
            });
        }
        let secrets = WhatsappSecrets {
            access_token: access_token.trim().to_owned(),
            app_secret: app_secret.trim().to_owned(),
            verify_token: random_secret(24),
        };
        let settings = WhatsappSettings {
            phone_number_id: phone_number_id.to_owned(),
        };
        let row = self
            .insert_channel(WHATSAPP, name, json!(secrets).to_string(), json!(settings))
            .await?;
        Ok(WhatsappNumber {
            channel: row,
            settings,
        })
    }

    /// The active WhatsApp numbers.
    pub async fn whatsapp_numbers(&self) -> Result<Vec<WhatsappNumber>> {
        let rows = channel::Entity::find()
            .filter(channel::Column::Kind.eq(WHATSAPP))
            .filter(channel::Column::Active.eq(true))
            .order_by_asc(channel::Column::Id)
            .all(self.store.db())
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|channel| {
                let settings = settings_of(&channel).ok()?;
                Some(WhatsappNumber { channel, settings })
            })
            .collect())
    }

    /// The active number with this phone number id.
    pub async fn whatsapp_by_number_id(
        &self,
        phone_number_id: &str,
    ) -> Result<Option<WhatsappNumber>> {
        Ok(self
            .whatsapp_numbers()
            .await?
            .into_iter()
            .find(|n| n.settings.phone_number_id == phone_number_id))
    }
}

/// The kind of a Shopify shop connection in `channel.kind`.
pub const SHOPIFY: &str = "shopify";
/// The kind of a WooCommerce store connection in `channel.kind`.
pub const WOOCOMMERCE: &str = "woocommerce";

/// A shop connection's settings (`channel.settings`): where its order webhooks come from.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct ShopSettings {
    /// Shopify: the shop's `x.myshopify.com` domain, sent as `X-Shopify-Shop-Domain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// WooCommerce: the store's address, `https://shop.example`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A shop connection ready to take order webhooks; `channel.secret` is the signing secret.
#[derive(Clone)]
pub struct ShopConnection {
    pub channel: channel::Model,
    pub settings: ShopSettings,
}

impl std::fmt::Debug for ShopConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopConnection")
            .field("id", &self.channel.id)
            .field("kind", &self.channel.kind)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl ShopConnection {
    /// The key that, with the shop's order id, identifies an order: `shopify:x.myshopify.com`
    /// or `woocommerce:shop.example`; shop customer ids are kept under it too.
    pub fn source(&self) -> String {
        let place = match (&self.settings.domain, &self.settings.url) {
            (Some(domain), _) => domain.clone(),
            (None, Some(url)) => url
                .split_once("://")
                .map_or(url.as_str(), |(_, rest)| rest)
                .to_owned(),
            (None, None) => self.channel.id.to_string(),
        };
        format!("{}:{place}", self.channel.kind)
    }

    /// The secret webhooks are signed with.
    pub fn signing_secret(&self) -> &str {
        &self.channel.secret
    }
}

/// A change to a shop connection; absent fields stay.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopChange {
    pub name: Option<String>,
    /// A new webhook signing secret (after it changed at the shop).
    pub secret: Option<String>,
    pub active: Option<bool>,
}

/// A Shopify shop domain in canonical form, `name.myshopify.com`.
pub fn check_shop_domain(raw: &str) -> Result<String> {
    let domain = raw.trim().trim_end_matches('/').to_lowercase();
    let domain = domain
        .strip_prefix("https://")
        .unwrap_or(&domain)
        .to_owned();
    let valid = domain.strip_suffix(".myshopify.com").is_some_and(|name| {
        !name.is_empty()
            && name.len() <= 100
            && !name.starts_with('-')
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    if valid {
        Ok(domain)
    } else {
        Err(Error::invalid(
            "domain",
            "the shop's myshopify.com domain, like my-shop.myshopify.com",
        ))
    }
}

/// A WooCommerce store's address: http(s), host and optional path, no query.
fn check_store_url(raw: &str) -> Result<String> {
    let bad = |why: &str| Error::invalid("url", format!("{raw:?} is not a store address: {why}"));
    let url = url::Url::parse(raw.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad("use http or https"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(bad("no query, fragment or user name"));
    }
    Ok(store_address(&url))
}

/// A store's address in the form connections are compared in: scheme, host in lower
/// case, port unless the default, and path without a trailing slash
/// (`https://shop.example/de`).
fn store_address(url: &url::Url) -> String {
    let mut address = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        address.push_str(&format!(":{port}"));
    }
    address.push_str(url.path().trim_end_matches('/'));
    address
}

fn check_signing_secret(secret: &str) -> Result<String> {
    let secret = secret.trim();
    if secret.len() < 8 || secret.len() > 1000 || secret.chars().any(char::is_whitespace) {
        return Err(Error::invalid(
            "secret",
            "the webhook signing secret as the shop shows it (8–1000 characters, no spaces)",
        ));
    }
    Ok(secret.to_owned())
}

impl Desk {
    /// Connects a Shopify shop: its domain and the app's webhook signing secret.
    pub async fn create_shopify_shop(
        &self,
        name: &str,
        domain: &str,
        secret: &str,
    ) -> Result<ShopConnection> {
        let name = check_name(name)?;
        let domain = check_shop_domain(domain)?;
        let secret = check_signing_secret(secret)?;
        if self
            .shop_connection(SHOPIFY, &domain, false)
            .await?
            .is_some()
        {
            return Err(Error::Conflict {
                code: "shop_taken",
                message: format!("the shop {domain} is connected already"),
            });
        }
        let settings = ShopSettings {
            domain: Some(domain),
            url: None,
        };
        let row = self
            .insert_channel(SHOPIFY, name, secret, json!(settings))
            .await?;
        Ok(ShopConnection {
            channel: row,
            settings,
        })
    }

    /// Connects a WooCommerce store: its address and the webhooks' secret (a fresh one
    /// when none is given, to enter in WooCommerce).
    pub async fn create_woocommerce_store(
        &self,
        name: &str,
        url: &str,
        secret: Option<&str>,
    ) -> Result<ShopConnection> {
        let name = check_name(name)?;
        let url = check_store_url(url)?;
        let secret = match secret.filter(|s| !s.trim().is_empty()) {
            Some(s) => check_signing_secret(s)?,
            None => random_secret(32),
        };
        if self
            .shop_connection(WOOCOMMERCE, &url, false)
            .await?
            .is_some()
        {
            return Err(Error::Conflict {
                code: "shop_taken",
                message: format!("the store {url} is connected already"),
            });
        }
        let settings = ShopSettings {
            domain: None,
            url: Some(url),
        };
        let row = self
            .insert_channel(WOOCOMMERCE, name, secret, json!(settings))
            .await?;
        Ok(ShopConnection {
            channel: row,
            settings,
        })
    }

    /// Renames, (de)activates or gives a new signing secret to a shop connection.
    pub async fn update_shop(&self, id: i64, change: &ShopChange) -> Result<ShopConnection> {
        let row = self.channel(id).await?;
        if row.kind != SHOPIFY && row.kind != WOOCOMMERCE {
            return Err(Error::invalid("id", "not a shop connection"));
        }
        let mut update = channel::ActiveModel {
            id: Set(id),
            updated_at: Set(now()),
            ..Default::default()
        };
        if let Some(name) = &change.name {
            update.name = Set(check_name(name)?);
        }
        if let Some(secret) = &change.secret {
            update.secret = Set(check_signing_secret(secret)?);
        }
        if let Some(active) = change.active {
            update.active = Set(active);
        }
        let channel = update.update(self.store.db()).await?;
        let settings = settings_of(&channel)?;
        Ok(ShopConnection { channel, settings })
    }

    /// The Shopify connection for a shop domain (as `X-Shopify-Shop-Domain` names it), if
    /// active.
    pub async fn shopify_shop(&self, domain: &str) -> Result<Option<ShopConnection>> {
        self.shop_connection(SHOPIFY, &domain.trim().to_lowercase(), true)
            .await
    }

    /// The active WooCommerce connection with this channel id.
    pub async fn woocommerce_store(&self, id: i64) -> Result<Option<ShopConnection>> {
        let Some(channel) = channel::Entity::find_by_id(id)
            .filter(channel::Column::Kind.eq(WOOCOMMERCE))
            .filter(channel::Column::Active.eq(true))
            .one(self.store.db())
            .await?
        else {
            return Ok(None);
        };
        let settings = settings_of(&channel)?;
        Ok(Some(ShopConnection { channel, settings }))
    }

    /// The active WooCommerce connection whose address is `source`, the site address
    /// WooCommerce sends as `X-WC-Webhook-Source` (`https://Shop.example/`): compared
    /// by scheme, host (any case) and path, a trailing slash aside.
    pub async fn woocommerce_store_at(&self, source: &str) -> Result<Option<ShopConnection>> {
        let Ok(url) = url::Url::parse(source.trim()) else {
            return Ok(None);
        };
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Ok(None);
        }
        let wanted = store_address(&url);
        let stores = channel::Entity::find()
            .filter(channel::Column::Kind.eq(WOOCOMMERCE))
            .filter(channel::Column::Active.eq(true))
            .all(self.store.db())
            .await?;
        for channel in stores {
            let settings: ShopSettings = settings_of(&channel)?;
            // Addresses stored before they were kept in this form compare alike too.
            let own = settings
                .url
                .as_deref()
                .and_then(|u| url::Url::parse(u).ok())
                .map(|u| store_address(&u));
            if own.as_deref() == Some(wanted.as_str()) {
                return Ok(Some(ShopConnection { channel, settings }));
            }
        }
        Ok(None)
    }

    /// The connection of `kind` whose domain (Shopify) or address (WooCommerce) is `place`.
    async fn shop_connection(
        &self,
        kind: &str,
        place: &str,
        active_only: bool,
    ) -> Result<Option<ShopConnection>> {
        let mut query = channel::Entity::find().filter(channel::Column::Kind.eq(kind));
        if active_only {
            query = query.filter(channel::Column::Active.eq(true));
        }
        for channel in query.all(self.store.db()).await? {
            let settings: ShopSettings = settings_of(&channel)?;
            let own = settings.domain.as_deref().or(settings.url.as_deref());
            if own == Some(place) {
                return Ok(Some(ShopConnection { channel, settings }));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port() {
        assert_eq!(
            check_origin("https://Shop.Example").unwrap(),
            "https://shop.example"
        );
        assert_eq!(
            check_origin("http://localhost:8080/").unwrap(),
            "http://localhost:8080"
        );
        for bad in [
            "shop.example",
            "ftp://shop.example",
            "https://shop.example/path",
            "https://u:p@shop.example",
            "https://shop.example/?q",
        ] {
            assert!(check_origin(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn store_addresses_compare_by_scheme_host_and_path() {
        let address = |raw: &str| store_address(&url::Url::parse(raw).unwrap());
        assert_eq!(address("https://Shop.Example/"), "https://shop.example");
        assert_eq!(address("HTTPS://shop.example"), "https://shop.example");
        assert_eq!(address("https://shop.example:443/"), "https://shop.example");
        assert_eq!(
            address("http://shop.example:8080/de/"),
            "http://shop.example:8080/de"
        );
        assert_eq!(
            address("https://shop.example/De"),
            "https://shop.example/De"
        );
        assert_eq!(
            check_store_url(" https://Shop.Example/laden/ ").unwrap(),
            "https://shop.example/laden"
        );
        assert!(check_store_url("https://shop.example/?p=1").is_err());
    }
}
