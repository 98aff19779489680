//! Switchboard: an omnichannel customer-service helpdesk.
//!
//! Customers write by email, chat, WhatsApp, Telegram or SMS, or they call; every
//! contact becomes a ticket in one store, next to the customer's record and purchase
//! history. `../shared/DESIGN.md` (in the planning repository) has the map; this is the
//! code's.
//!
//! # Layout
//!
//! - [`config`] — settings from `SWITCHBOARD_*` variables or a TOML file, with defaults
//!   that run an embedded desk.
//! - [`store`] — connecting to SQLite or PostgreSQL, migrations, and the write-transaction
//!   discipline both engines share.
//! - [`desk`] — the rules: ingest of customer messages, tickets, contacts and identities
//!   (merging, erasing), orders and refunds, agents and credentials, configured channels
//!   (widget sites, mail accounts, messenger numbers and bots, PBX integrations, shops),
//!   the chat widget's visitors, email's own rules (loops, forwards, automatic answers,
//!   who a reply goes to), phone calls (the PBX's events, call-back tickets), SLA clocks
//!   (business-hour calendars, the policy a ticket follows, due times, pauses, verdicts,
//!   the breach watcher), feedback (survey answers, complaints, praise and suggestions,
//!   the complaint workflow), satisfaction surveys with their signed links, and the team
//!   leads' reports (SQL aggregates). Every way into the system ends in one desk
//!   function.
//! - [`channels`] — wire formats: turning what a provider sends into an `Inbound`, and
//!   delivering replies in the provider's format (the REST API, the chat widget's frames,
//!   tokens and identity signatures; raw mail read with mail-parser, the IMAP poller, and
//!   mail sent through lettre's SMTP pools; Telegram's updates and Bot API; WhatsApp's
//!   Cloud API; SMS and MMS through Twilio's signed webhooks and Messages API; the PBXs'
//!   call events; Shopify's and WooCommerce's signed order webhooks; the shop's order CSV
//!   files, read as a stream).
//! - [`blobs`] — attachment bytes, stored once by content hash under the data directory.
//! - [`live`] — the live hub: events pushed to connected agents after commit, presence,
//!   who views and types on a ticket, calls for the screen pop, SLA warnings and
//!   breaches, feedback and complaints for the team leads; the agent and the chat
//!   widget WebSockets.
//! - [`outbox`] — the durable queue of side effects (indexing, deliveries, surveys),
//!   written with the change that causes them and worked off after commit.
//! - [`search`] — full-text search: the ticket and contact documents built from the
//!   store, the `SearchIndex` interface with its Meilisearch and embedded (tantivy)
//!   backends, and the indexer that drains the outbox's `index` rows and rebuilds an
//!   index (`switchboard reindex`).
//! - [`http`] — the JSON API under `/api/v1`, authentication and authorization, problem
//!   responses, health checks and metrics, search, raw mail in, uploads and attachment
//!   downloads, providers' webhooks, calendars and SLA policies, the leads' feedback
//!   stream, complaints board and reports (JSON and CSV), the public survey pages, and the
//!   embedded web pages (console, lead views, widget script, demo shop).
//! - [`app`] — wiring the server and the workers (outbox, indexer, IMAP pollers, SLA
//!   watcher) together, and stopping them in order.
//! - [`demo`] — realistic demo data and the demo shop's widget site, for trying the desk
//!   from both sides.

pub mod app;
pub mod blobs;
pub mod channels;
pub mod config;
pub mod demo;
pub mod desk;
pub mod http;
pub mod live;
pub mod outbox;
pub mod search;
pub mod store;
