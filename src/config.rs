//! Settings from `SWITCHBOARD_*` environment variables or an optional TOML file, with
//! defaults that run an embedded desk (SQLite under `./data`) and no other setup.
//!
//! The TOML file named by `SWITCHBOARD_CONFIG` may set the same settings under their
//! lower-case names without the prefix (`bind = "0.0.0.0:8080"`); the environment wins.
//! A wrong value stops start-up with an error naming the variable.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::desk::email::MailRules;

/// Everything the server reads at start-up.
#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub bind: SocketAddr,
    pub database_url: String,
    /// The origin browsers and providers use to reach the desk, e.g. `https://desk.example`.
    pub public_url: url::Url,
    /// How long after resolution a customer's message reopens the ticket instead of
    /// opening a new, linked one.
    pub reopen_window: Duration,
    /// Region for phone numbers written without a country code (ISO 3166 alpha-2).
    pub default_region: phonenumber::country::Id,
    /// Idle lifetime of an agent's browser session.
    pub session_idle: Duration,
    /// The address of the admin created on the first start of an empty store.
    pub admin_email: String,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Login attempts allowed per minute from one address and for one account.
    pub login_per_minute: u32,
    /// Larger mail is not fetched: a note records it and the sender is told.
    pub max_mail_bytes: u64,
    /// Automatic answers (acknowledgements, notices) one customer gets per hour at most.
    pub auto_answers_per_hour: u64,
    /// How often a mail account is checked when its server has no IMAP IDLE.
    pub mail_poll: Duration,
    /// Telegram's Bot API (a stand-in's address in tests).
    pub telegram_api_url: url::Url,
    /// Twilio's REST API (a stand-in's address in tests); media URLs Twilio sends are
    /// fetched through it too.
    pub twilio_api_url: url::Url,
    /// The Graph API WhatsApp's Cloud API lives in, with its version.
    pub whatsapp_api_url: url::Url,
    /// A Meilisearch server to search with; without one, the embedded index in the data
    /// directory is used.
    pub meilisearch_url: Option<url::Url>,
    /// Its API key (a master key, or a key allowed to manage the indexes).
    pub meilisearch_key: Option<Secret>,
    /// Put before the index names (`tickets`, `contacts`), so several desks can share a
    /// server.
    pub meilisearch_prefix: String,
    /// tracing filter, e.g. `info,switchboard=debug`.
    pub log: String,
    /// How often the SLA watcher looks for due times coming up and passed.
    pub sla_check: Duration,
    /// Channels whose tickets get a satisfaction survey when resolved, unless their
    /// configured channel says otherwise (`survey` on the channel).
    pub survey_channels: Vec<crate::desk::Channel>,
    /// How long a survey link takes an answer.
    pub survey_valid: Duration,
    /// How long after answering the customer may change the answer.
    pub survey_change: Duration,
    /// How long after the resolution the survey goes out.
    pub survey_delay: Duration,
}

/// A setting that must never reach a log: `Debug` prints no more than that it is set.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// A setting that could not be read; the message names the variable.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: String,
    pub message: String,
}

/// Where each setting's raw text came from: the environment or the TOML file.
struct Source {
    values: BTreeMap<String, (String, String)>,
}

impl Source {
    fn get(&self, key: &str) -> Option<(&str, &str)> {
        self.values
            .get(key)
            .map(|(origin, v)| (origin.as_str(), v.as_str()))
    }

    fn parse<T>(
        &self,
        key: &str,
        default: impl FnOnce() -> T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match self.get(key) {
            None => Ok(default()),
            Some((origin, raw)) => parse(raw.trim()).map_err(|message| ConfigError {
                var: origin.to_owned(),
                message: format!("{message} (got {raw:?})"),
            }),
        }
    }
}

const KEYS: &[&str] = &[
    "data_dir",
    "bind",
    "database_url",
    "public_url",
    "reopen_days",
    "default_region",
    "session_hours",
    "admin_email",
    "max_body_bytes",
    "login_per_minute",
    "max_mail_bytes",
    "auto_answers_per_hour",
    "mail_poll_seconds",
    "sla_check_seconds",
    "telegram_api_url",
    "twilio_api_url",
    "whatsapp_api_url",
    "meilisearch_url",
    "meilisearch_key",
    "meilisearch_prefix",
    "log",
    "survey_channels",
    "survey_valid_days",
    "survey_change_days",
    "survey_delay_minutes",
];

impl Config {
    /// Reads the process environment (and the file it may name).
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_vars(std::env::vars())
    }

    /// Reads settings from the given variables; tests pass their own.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let env: BTreeMap<String, String> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with("SWITCHBOARD_"))
            .collect();
        let mut values = BTreeMap::new();
        if let Some(path) = env.get("SWITCHBOARD_CONFIG") {
            let err = |message: String| ConfigError {
                var: "SWITCHBOARD_CONFIG".into(),
                message,
            };
            let text = std::fs::read_to_string(path)
                .map_err(|e| err(format!("cannot read {path}: {e}")))?;
            let table: toml::Table =
                toml::from_str(&text).map_err(|e| err(format!("{path} is not valid TOML: {e}")))?;
            for (key, value) in table {
                if !KEYS.contains(&key.as_str()) {
                    return Err(err(format!("{path}: unknown setting {key:?}")));
                }
                let raw = match value {
                    toml::Value::String(s) => s,
                    other => other.to_string(),
                };
                values.insert(key.clone(), (format!("{path}: {key}"), raw));
            }
        }
        for key in KEYS {
            let var = format!("SWITCHBOARD_{}", key.to_uppercase());
            if let Some(v) = env.get(&var) {
                values.insert((*key).to_owned(), (var, v.clone()));
            }
        }
        let src = Source { values };

        let data_dir = src.parse(
            "data_dir",
            || PathBuf::from("./data"),
            |s| {
                if s.is_empty() {
                    Err("must not be empty".into())
                } else {
                    Ok(PathBuf::from(s))
                }
            },
        )?;
        let bind = src.parse(
            "bind",
            || SocketAddr::from(([127, 0, 0, 1], 8080)),
            |s| {
                s.parse()
                    .map_err(|_| "expected an address like 127.0.0.1:8080".into())
            },
        )?;
        let database_url = src.parse(
            "database_url",
            || {
                format!(
                    "sqlite://{}?mode=rwc",
                    data_dir.join("switchboard.db").display()
                )
            },
            |s| {
                if s.starts_with("sqlite:")
                    || s.starts_with("postgres://")
                    || s.starts_with("postgresql://")
                {
                    Ok(s.to_owned())
                } else {
                    Err("expected sqlite://PATH or postgres://USER@HOST/DB".into())
                }
            },
        )?;
        let public_url = src.parse(
            "public_url",
            || url::Url::parse(&format!("http://{bind}")).expect("socket address is a valid URL"),
            |s| {
                let u = url::Url::parse(s).map_err(|e| format!("not a URL: {e}"))?;
                if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
                    return Err("expected an http(s) URL such as https://desk.example".into());
                }
                if u.query().is_some() || u.fragment().is_some() {
                    return Err("must not have a query or fragment".into());
                }
                Ok(u)
            },
        )?;
        let reopen_days: u64 = src.parse(
            "reopen_days",
            || 7,
            |s| {
                s.parse::<u64>()
                    .ok()
                    .filter(|d| *d <= 3650)
                    .ok_or_else(|| "expected a number of days (0–3650)".into())
            },
        )?;
        let default_region = src.parse(
            "default_region",
            || phonenumber::country::Id::DE,
            |s| {
                s.to_uppercase()
                    .parse()
                    .map_err(|_| "expected a two-letter country code such as DE or US".into())
            },
        )?;
        let session_hours: u64 = src.parse(
            "session_hours",
            || 12,
            |s| {
                s.parse::<u64>()
                    .ok()
                    .filter(|h| (1..=24 * 90).contains(h))
                    .ok_or_else(|| "expected hours between 1 and 2160".into())
            },
        )?;
        let admin_email = src.parse(
            "admin_email",
            || "admin@switchboard.localhost".to_owned(),
            |s| crate::desk::identity::normalize_email(s).map_err(|e| e.to_string()),
        )?;
        let max_body_bytes = src.parse(
            "max_body_bytes",
            || 10 << 20,
            |s| {
                s.parse::<usize>()
                    .ok()
                    .filter(|n| *n >= 1024)
                    .ok_or_else(|| "expected a number of bytes ≥ 1024".into())
            },
        )?;
        let login_per_minute = src.parse(
            "login_per_minute",
            || 10,
            |s| {
                s.parse::<u32>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| "expected a positive number".into())
            },
        )?;
        let max_mail_bytes = src.parse(
            "max_mail_bytes",
            || MailRules::default().max_message_bytes,
            |s| {
                s.parse::<u64>()
                    .ok()
                    .filter(|n| *n >= 1024)
                    .ok_or_else(|| "expected a number of bytes ≥ 1024".into())
            },
        )?;
        let auto_answers_per_hour = src.parse(
            "auto_answers_per_hour",
            || MailRules::default().auto_answers_per_hour,
            |s| {
                s.parse::<u64>()
                    .map_err(|_| "expected a number (0 turns automatic answers off)".into())
            },
        )?;
        // A watcher's interval: a second to an hour.
        let interval = |s: &str| -> Result<u64, String> {
            s.parse::<u64>()
                .ok()
                .filter(|n| (1..=3600).contains(n))
                .ok_or_else(|| "expected seconds between 1 and 3600".into())
        };
        let mail_poll_seconds: u64 = src.parse("mail_poll_seconds", || 60, interval)?;
        let sla_check_seconds: u64 = src.parse("sla_check_seconds", || 30, interval)?;
        let api_url = |s: &str| {
            let u = url::Url::parse(s).map_err(|e| format!("not a URL: {e}"))?;
            if !matches!(u.scheme(), "http" | "https") {
                return Err("expected an http(s) URL".to_owned());
            }
            Ok(u)
        };
        let telegram_api_url = src.parse(
            "telegram_api_url",
            || url::Url::parse("https://api.telegram.org").expect("a URL"),
            api_url,
        )?;
        let whatsapp_api_url = src.parse(
            "whatsapp_api_url",
            || url::Url::parse("https://graph.facebook.com/v21.0").expect("a URL"),
            api_url,
        )?;
        let twilio_api_url = src.parse(
            "twilio_api_url",
            || url::Url::parse("https://api.twilio.com").expect("a URL"),
            api_url,
        )?;
        let meilisearch_url = src.parse("meilisearch_url", || None, |s| api_url(s).map(Some))?;
        let meilisearch_key = src.parse(
            "meilisearch_key",
            || None,
            |s| Ok::<_, String>(Some(Secret(s.to_owned())).filter(|k| !k.0.is_empty())),
        )?;
        let meilisearch_prefix = src.parse("meilisearch_prefix", String::new, |s| {
            if s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                Ok(s.to_owned())
            } else {
                Err("expected letters, digits, - and _ (at most 64)".to_owned())
            }
        })?;
        let log = src.parse(
            "log",
            || "info".to_owned(),
            |s| {
                tracing_subscriber::EnvFilter::try_new(s)
                    .map(|_| s.to_owned())
                    .map_err(|e| format!("not a valid log filter: {e}"))
            },
        )?;

        let survey_channels = src.parse(
            "survey_channels",
            || crate::desk::surveys::SurveyRules::default().channels,
            |s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|w| !w.is_empty() && *w != "none")
                    .map(|w| {
                        w.parse::<crate::desk::Channel>()
                            .map_err(|_| format!("unknown channel {w:?}; expected a comma-separated list of email, chat, whatsapp, telegram, sms, or none"))
                    })
                    .collect()
            },
        )?;
        let days = |key: &str, default: u64| {
            src.parse(
                key,
                || default,
                |s| {
                    s.parse::<u64>()
                        .ok()
                        .filter(|d| (1..=365).contains(d))
                        .ok_or_else(|| "expected a number of days (1–365)".into())
                },
            )
        };
        let survey_valid_days = days("survey_valid_days", 14)?;
        let survey_change_days = days("survey_change_days", 3)?;
        let survey_delay_minutes: u64 = src.parse(
            "survey_delay_minutes",
            || 0,
            |s| {
                s.parse::<u64>()
                    .ok()
                    .filter(|m| *m <= 7 * 24 * 60)
                    .ok_or_else(|| "expected minutes (0–10080)".into())
            },
        )?;

        Ok(Config {
            data_dir,
            bind,
            database_url,
            public_url,
            reopen_window: Duration::from_secs(reopen_days * 86_400),
            default_region,
            session_idle: Duration::from_secs(session_hours * 3600),
            admin_email,
            max_body_bytes,
            login_per_minute,
            max_mail_bytes,
            auto_answers_per_hour,
            mail_poll: Duration::from_secs(mail_poll_seconds),
            sla_check: Duration::from_secs(sla_check_seconds),
            telegram_api_url,
            twilio_api_url,
            whatsapp_api_url,
            meilisearch_url,
            meilisearch_key,
            meilisearch_prefix,
            log,
            survey_channels,
            survey_valid: Duration::from_secs(survey_valid_days * 86_400),
            survey_change: Duration::from_secs(survey_change_days * 86_400),
            survey_delay: Duration::from_secs(survey_delay_minutes * 60),
        })
    }

    /// The public origin (`scheme://host[:port]`) that Origin headers must match.
    pub fn public_origin(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }

    /// True when the desk is served over HTTPS, so cookies get the `Secure` flag.
    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// The console's address, printed for the first admin.
    pub fn console_url(&self) -> String {
        let mut u = self.public_url.clone();
        u.set_path("/");
        u.to_string()
    }
}
