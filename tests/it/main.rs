//! The integration tests: one binary, one module per area. Store and desk tests run on
//! SQLite and, marked `#[ignore = "needs PostgreSQL"]`, on PostgreSQL (`.ci/run` runs
//! them with `--include-ignored`).

mod api;
mod browser;
mod calls_browser;
mod cli;
mod console;
mod cti;
mod desk;
mod email;
mod email_browser;
mod erase;
mod feedback;
mod import;
mod lead_browser;
mod live;
mod mail_servers;
mod mailserver;
mod meili;
mod outbox;
mod reports;
mod search;
mod search_browser;
mod search_outage;
mod shop;
mod sla;
mod sms;
mod support;
mod survey;
mod survey_browser;
mod telegram;
mod whatsapp;
mod widget;
mod widget_browser;
