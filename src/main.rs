//! The `switchboard` command: serve the desk, migrate the store, manage agents and
//! tokens, load demo data.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switchboard::app;
use switchboard::config::Config;
use switchboard::desk::Role;
use switchboard::desk::agents::NewAgent;

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Omnichannel customer-service helpdesk"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the desk (the default).
    Serve,
    /// Bring the store's schema up to date and exit.
    Migrate,
    /// Rebuild the search index from the store, with progress. The embedded index is
    /// locked by a running server: stop it first (Meilisearch needs no stop).
    Reindex,
    /// Manage agents.
    Agent {
        #[command(subcommand)]
        command: AgentCommand,
    },
    /// Manage API tokens for integrations.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage channels: the chat widget sites shops embed.
    Channel {
        #[command(subcommand)]
        command: ChannelCommand,
    },
    /// Manage contacts.
    Contact {
        #[command(subcommand)]
        command: ContactCommand,
    },
    /// Load realistic demo data: contacts, organizations, orders, tickets on several channels.
    Demo,
    /// Import purchase history from the shop.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Import orders from a CSV file: a Shopify order export or the generic layout (see
    /// the README). Bad rows are reported with their line number and skipped; importing
    /// the same file again changes nothing.
    Orders {
        file: std::path::PathBuf,
        /// The shop the orders come from; by default the generic layout's `source`
        /// column, else `import:<file name>`.
        #[arg(long)]
        source: Option<String>,
        /// Also write the bad rows' report to this file.
        #[arg(long)]
        errors: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum ContactCommand {
    /// Erase a contact and everything personal about it (the right to erasure): the
    /// contacts merged into it, identities, tickets and messages, attachments, orders and
    /// calls. It cannot be undone.
    Erase { id: i64 },
}

#[derive(Subcommand)]
enum AgentCommand {
    /// Add an agent. The password is read from standard input when it is piped in,
    /// otherwise one is generated and printed once.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "agent", value_parser = parse_role)]
        role: Role,
    },
    /// List agents.
    List,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; it is printed once and stored hashed.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "agent", value_parser = parse_role)]
        role: Role,
    },
    /// List tokens (without their secrets).
    List,
    /// Revoke a token by id.
    Revoke { id: i64 },
}

#[derive(Subcommand)]
enum ChannelCommand {
    /// Add a chat widget site; prints its key, the snippet for the shop's pages and
    /// the secret the shop signs identities with (shown once).
    Widget {
        #[arg(long)]
        name: String,
        /// An origin allowed to embed the widget, like https://shop.example (repeat).
        #[arg(long = "origin", required = true)]
        origins: Vec<String>,
        #[arg(long)]
        greeting: Option<String>,
    },
    /// Add a mail account. The password (the same for IMAP and SMTP) is read from the
    /// first line of standard input, if one is piped in.
    Email {
        #[arg(long)]
        name: String,
        /// The support address customers write to.
        #[arg(long)]
        address: String,
        /// The IMAP server to read mail from, host:port (993 is TLS, 143 STARTTLS).
        #[arg(long)]
        imap: Option<String>,
        /// The SMTP server replies leave through, host:port (465 is TLS, 587 STARTTLS).
        #[arg(long)]
        smtp: Option<String>,
        /// The login for both servers; by default the address.
        #[arg(long)]
        user: Option<String>,
        /// tls, starttls or none (only for a relay on the same host); by default by port.
        #[arg(long)]
        security: Option<String>,
        /// The IMAP folder to read.
        #[arg(long, default_value = "INBOX")]
        folder: String,
        /// A PEM file of a private CA the servers' certificates are signed by.
        #[arg(long)]
        tls_ca: Option<std::path::PathBuf>,
        /// Answer new tickets at once with their number.
        #[arg(long)]
        acknowledge: bool,
        /// The language of automatic answers: en or de.
        #[arg(long, default_value = "en")]
        language: String,
    },
    /// Add a Telegram bot. Its token (from BotFather) is read from the first line of
    /// standard input; the bot's webhook is then pointed at this desk
    /// (`SWITCHBOARD_PUBLIC_URL`/webhooks/telegram/ID) with a fresh secret.
    Telegram {
        #[arg(long)]
        name: String,
        /// Only store the bot; register the webhook later (e.g. from a reachable host).
        #[arg(long)]
        no_webhook: bool,
    },
    /// Add an SMS number at Twilio. Its auth token is read from the first line of
    /// standard input; prints the webhook URL to enter for incoming messages at Twilio
    /// (`SWITCHBOARD_PUBLIC_URL`/webhooks/twilio/ID) and the status callback URL.
    Sms {
        #[arg(long)]
        name: String,
        /// The Twilio number, E.164 (`+4930…`).
        #[arg(long)]
        number: String,
        /// The Twilio Account SID (`AC…`).
        #[arg(long)]
        account_sid: String,
    },
    /// Add a WhatsApp business number. Standard input gives the access token (first
    /// line) and the Meta app's secret (second line); prints the webhook address and the
    /// verify token to enter in Meta's app dashboard.
    Whatsapp {
        #[arg(long)]
        name: String,
        /// The Cloud API's phone number id (digits, from the app dashboard).
        #[arg(long)]
        phone_number_id: String,
    },
    /// Add a PBX integration (computer-telephony); prints the URL its call events go to.
    Cti {
        #[arg(long)]
        name: String,
        /// A caller whose calls are rejected (repeat).
        #[arg(long = "block")]
        blocked: Vec<String>,
        /// A PBX user or extension and the agent it is, `USER=AGENT_ID` (repeat).
        #[arg(long = "extension", value_parser = pair)]
        extensions: Vec<(String, i64)>,
        /// A PBX queue and the team whose agents its calls pop up at, `QUEUE=TEAM_ID`
        /// (repeat).
        #[arg(long = "queue", value_parser = pair)]
        queues: Vec<(String, i64)>,
    },
    /// Connect a Shopify shop's order webhooks. The app's webhook signing secret is read
    /// from the first line of standard input; prints the webhook address and topics.
    Shopify {
        #[arg(long)]
        name: String,
        /// The shop's domain, like my-shop.myshopify.com.
        #[arg(long)]
        domain: String,
    },
    /// Connect a WooCommerce store's order webhooks. The webhooks' secret is read from
    /// the first line of standard input, or generated and printed when none is piped in.
    Woocommerce {
        #[arg(long)]
        name: String,
        /// The store's address, like https://shop.example.
        #[arg(long)]
        url: String,
    },
    /// List channels.
    List,
}

/// A mail server from `host:port` and the options of `channel email`.
fn mail_server(
    spec: &str,
    security: Option<&str>,
    user: &str,
    password: Option<&String>,
    folder: Option<&str>,
) -> anyhow::Result<switchboard::desk::channels::MailServer> {
    use switchboard::desk::channels::Security;
    let (host, port) = spec
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| anyhow::anyhow!("{spec:?}: expected host:port"))?;
    let security = match security {
        Some("tls") => Security::Tls,
        Some("starttls") => Security::Starttls,
        Some("none") => Security::None,
        Some(other) => anyhow::bail!("--security {other:?}: expected tls, starttls or none"),
        None => match port {
            143 | 587 | 25 => Security::Starttls,
            _ => Security::Tls,
        },
    };
    Ok(switchboard::desk::channels::MailServer {
        host,
        port,
        security,
        user: Some(user.to_owned()),
        password: password.cloned(),
        folder: folder.map(str::to_owned),
        tls_ca: None,
    })
}

/// `NAME=ID`.
fn pair(s: &str) -> Result<(String, i64), String> {
    let (name, id) = s.rsplit_once('=').ok_or("expected NAME=ID")?;
    let id = id.trim().parse().map_err(|_| "expected a number after =")?;
    Ok((name.trim().to_owned(), id))
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
        .map_err(|_| "expected agent, lead or admin".to_owned())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("switchboard: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&config.log))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("switchboard: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve), config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    if let Command::Serve = command {
        return app::serve(config).await;
    }
    let store = app::open_store(&config).await?;
    let desk = app::desk(&config, store.clone());
    match command {
        Command::Serve => unreachable!("handled above"),
        Command::Migrate => println!("the store is up to date"),
        Command::Reindex => {
            let (index, _) = switchboard::search::open(&config)?;
            // On PostgreSQL the servers' indexers pause while this runs, so none of them
            // writes a document between this rebuild's reading and writing it.
            let turn = loop {
                if let Some(turn) = switchboard::search::indexer::turn(&desk.store).await {
                    break turn;
                }
                eprintln!("waiting for a server's indexer to finish its batch");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            };
            eprintln!("rebuilding the {} search index", index.backend());
            let done = switchboard::search::indexer::rebuild(&desk.store, &*index, |p| {
                let rate =
                    (p.tickets_done + p.contacts_done) as f64 / p.elapsed.as_secs_f64().max(0.001);
                eprint!(
                    "\r  tickets {}/{}  contacts {}/{}  ({rate:.0} documents/s)   ",
                    p.tickets_done, p.tickets_total, p.contacts_done, p.contacts_total
                );
            })
            .await?;
            drop(turn);
            eprintln!();
            println!(
                "indexed {} tickets and {} contacts in {:.1} s",
                done.tickets_done,
                done.contacts_done,
                done.elapsed.as_secs_f64()
            );
        }
        Command::Agent {
            command: AgentCommand::Add { email, name, role },
        } => {
            let password = read_password()?;
            let (agent, generated) = desk
                .create_agent(NewAgent {
                    email,
                    name,
                    role,
                    password,
                })
                .await?;
            println!(
                "added {} <{}> as {} (id {})",
                agent.name, agent.email, agent.role, agent.id
            );
            if let Some(p) = generated {
                println!("password: {p}   (shown once)");
            }
        }
        Command::Agent {
            command: AgentCommand::List,
        } => {
            for a in desk.list_agents().await? {
                let state = if a.agent.active {
                    ""
                } else {
                    "  (deactivated)"
                };
                println!(
                    "{:>5}  {:<6} {} <{}>{state}",
                    a.agent.id, a.agent.role, a.agent.name, a.agent.email
                );
            }
        }
        Command::Token {
            command: TokenCommand::Create { name, role },
        } => {
            let (meta, token) = desk.create_token(&name, role).await?;
            println!("token {} ({}, role {}):", meta.id, meta.name, meta.role);
            println!("{token}");
            println!("shown once; send it as `Authorization: Bearer <token>`");
        }
        Command::Token {
            command: TokenCommand::List,
        } => {
            for t in desk.list_tokens().await? {
                let state = if t.revoked_at.is_some() {
                    "  (revoked)"
                } else {
                    ""
                };
                println!(
                    "{:>5}  {:<6} {}…  {}{state}",
                    t.id, t.role, t.prefix, t.name
                );
            }
        }
        Command::Token {
            command: TokenCommand::Revoke { id },
        } => {
            desk.revoke_token(id).await?;
            println!("token {id} revoked");
        }
        Command::Channel {
            command:
                ChannelCommand::Widget {
                    name,
                    origins,
                    greeting,
                },
        } => {
            let new = switchboard::desk::channels::NewWidget {
                name,
                origins,
                greeting,
            };
            let (site, secret) = desk.create_widget(&new).await?;
            println!(
                "widget site {} ({}), key {}",
                site.channel.id, site.channel.name, site.channel.key
            );
            println!("put this into the shop's pages:");
            println!(
                "  <script src=\"{}/widget.js\" data-site=\"{}\" async></script>",
                config.public_origin(),
                site.channel.key
            );
            println!("identity secret (shown once; keep it on the shop's server):");
            println!("{secret}");
        }
        Command::Channel {
            command:
                ChannelCommand::Email {
                    name,
                    address,
                    imap,
                    smtp,
                    user,
                    security,
                    folder,
                    tls_ca,
                    acknowledge,
                    language,
                },
        } => {
            let password = read_password()?;
            let tls_ca = tls_ca
                .map(|path| {
                    std::fs::read_to_string(&path)
                        .map_err(|e| anyhow::anyhow!("--tls-ca {}: {e}", path.display()))
                })
                .transpose()?;
            let user = user.unwrap_or_else(|| address.clone());
            let language = match language.as_str() {
                "en" => switchboard::desk::channels::Language::En,
                "de" => switchboard::desk::channels::Language::De,
                other => anyhow::bail!("--language {other:?}: expected en or de"),
            };
            let server = |spec: &Option<String>, folder: Option<&str>| {
                spec.as_deref()
                    .map(|s| {
                        let mut server =
                            mail_server(s, security.as_deref(), &user, password.as_ref(), folder)?;
                        server.tls_ca = tls_ca.clone();
                        Ok::<_, anyhow::Error>(server)
                    })
                    .transpose()
            };
            let new = switchboard::desk::channels::NewMailAccount {
                name,
                address,
                display_name: None,
                imap: server(&imap, Some(&folder))?,
                smtp: server(&smtp, None)?,
                acknowledge,
                ack_text: None,
                language,
            };
            let account = desk.create_mail_account(&new).await?;
            println!(
                "mail account {} ({}) for {}",
                account.channel.id, account.channel.name, account.settings.address
            );
            if account.settings.imap.is_none() {
                println!(
                    "no IMAP server: pipe mail in with POST {}/api/v1/inbound/email?channel={}",
                    config.public_origin(),
                    account.channel.id
                );
            }
        }
        Command::Channel {
            command: ChannelCommand::Telegram { name, no_webhook },
        } => {
            let token = read_password()?
                .ok_or_else(|| anyhow::anyhow!("pipe the bot token into standard input"))?;
            let bot = desk.create_telegram_bot(&name, &token).await?;
            let mut url = config.public_url.clone();
            url.set_path(&format!("/webhooks/telegram/{}", bot.channel.id));
            println!("telegram bot {} ({})", bot.channel.id, bot.channel.name);
            if no_webhook {
                println!("webhook not registered; its address is {url}");
            } else {
                let secrets = bot.secrets();
                switchboard::channels::telegram::Api::new(config.telegram_api_url.as_str())
                    .set_webhook(&secrets.bot_token, url.as_str(), &secrets.webhook_secret)
                    .await
                    .map_err(|e| anyhow::anyhow!("registering the webhook failed: {e}"))?;
                println!("webhook registered: {url}");
            }
        }
        Command::Channel {
            command:
                ChannelCommand::Sms {
                    name,
                    number,
                    account_sid,
                },
        } => {
            let token = read_password()?
                .ok_or_else(|| anyhow::anyhow!("pipe the Twilio auth token into standard input"))?;
            let sms = desk
                .create_sms_number(&name, &number, &account_sid, token.trim())
                .await?;
            let api = switchboard::channels::sms::Api::new(
                config.twilio_api_url.as_str(),
                &config.public_url,
            );
            let id = sms.channel.id;
            println!(
                "sms number {id} ({}, {})",
                sms.channel.name, sms.settings.phone_number
            );
            println!(
                "webhook URL (\"A message comes in\", HTTP POST): {}",
                api.webhook_url(id)
            );
            println!(
                "status callback URL (sent with every message): {}",
                api.status_callback_url(id)
            );
        }
        Command::Channel {
            command:
                ChannelCommand::Whatsapp {
                    name,
                    phone_number_id,
                },
        } => {
            let mut input = String::new();
            if !std::io::stdin().is_terminal() {
                std::io::stdin().lock().read_to_string(&mut input)?;
            }
            let mut lines = input.lines().map(str::trim);
            let (Some(token), Some(app_secret)) = (lines.next(), lines.next()) else {
                anyhow::bail!(
                    "pipe the access token and the app secret (two lines) into standard input"
                );
            };
            let number = desk
                .create_whatsapp_number(&name, &phone_number_id, token, app_secret)
                .await?;
            let mut url = config.public_url.clone();
            url.set_path("/webhooks/whatsapp");
            println!(
                "whatsapp number {} ({})",
                number.channel.id, number.channel.name
            );
            println!("callback URL: {url}");
            println!("verify token: {}", number.secrets().verify_token);
            println!("subscribe the app to the \"messages\" field");
        }
        Command::Channel {
            command:
                ChannelCommand::Cti {
                    name,
                    blocked,
                    extensions,
                    queues,
                },
        } => {
            let pbx = desk
                .create_pbx(
                    &name,
                    &blocked,
                    extensions.into_iter().collect(),
                    queues.into_iter().collect(),
                )
                .await?;
            let mut url = config.public_url.clone();
            url.set_path(&format!("/api/v1/cti/{}", pbx.channel.key));
            println!("PBX integration {} ({})", pbx.channel.id, pbx.channel.name);
            println!("post call events to (keep it secret): {url}");
        }
        Command::Channel {
            command: ChannelCommand::Shopify { name, domain },
        } => {
            let secret = read_password()?.ok_or_else(|| {
                anyhow::anyhow!("pipe the app's webhook signing secret into standard input")
            })?;
            let shop = desk.create_shopify_shop(&name, &domain, &secret).await?;
            let mut url = config.public_url.clone();
            url.set_path("/webhooks/shopify");
            println!("shopify shop {} ({})", shop.channel.id, shop.channel.name);
            println!("webhook URL (JSON): {url}");
            println!("topics: orders/create, orders/updated, orders/cancelled, refunds/create");
        }
        Command::Channel {
            command: ChannelCommand::Woocommerce { name, url },
        } => {
            let secret = read_password()?;
            let shop = desk
                .create_woocommerce_store(&name, &url, secret.as_deref())
                .await?;
            let mut delivery = config.public_url.clone();
            delivery.set_path("/webhooks/woocommerce");
            let mut by_id = config.public_url.clone();
            by_id.set_path(&format!("/webhooks/woocommerce/{}", shop.channel.id));
            println!(
                "woocommerce store {} ({})",
                shop.channel.id, shop.channel.name
            );
            println!("delivery URL: {delivery} (or, naming this store: {by_id})");
            println!("topics: order.created, order.updated, order.deleted, order.restored");
            if secret.is_none() {
                println!(
                    "secret (enter it in WooCommerce): {}",
                    shop.signing_secret()
                );
            }
        }
        Command::Channel {
            command: ChannelCommand::List,
        } => {
            for c in desk.channels().await? {
                let state = if c.active { "" } else { "  (inactive)" };
                println!("{:>5}  {:<7} {}  {}{state}", c.id, c.kind, c.key, c.name);
            }
        }
        Command::Contact {
            command: ContactCommand::Erase { id },
        } => {
            let e = desk
                .erase_contact(id, switchboard::desk::Actor::System)
                .await?;
            println!(
                "erased contact {id}: {} contacts, {} tickets, {} messages, {} orders, {} calls",
                e.contacts, e.tickets, e.messages, e.orders, e.calls
            );
        }
        Command::Import {
            command:
                ImportCommand::Orders {
                    file,
                    source,
                    errors,
                },
        } => import_orders(&desk, &file, source.as_deref(), errors.as_deref()).await?,
        Command::Demo => {
            let summary = switchboard::demo::load(&desk, &config.public_origin()).await?;
            println!("{summary}");
        }
    }
    store.close().await;
    Ok(())
}

/// A password piped on standard input (first line), or None to generate one.
fn read_password() -> anyhow::Result<Option<String>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(None);
    }
    let mut input = String::new();
    stdin.lock().read_to_string(&mut input)?;
    let line = input.lines().next().unwrap_or("").to_owned();
    Ok((!line.is_empty()).then_some(line))
}

/// The order import's report on the terminal: bad rows and progress on stderr, the bad
/// rows also in the `--errors` file.
struct ImportTerminal {
    errors: Option<std::io::BufWriter<std::fs::File>>,
    tty: bool,
    last: Option<std::time::Instant>,
    io_error: Option<std::io::Error>,
}

impl switchboard::channels::shop_csv::ImportReport for ImportTerminal {
    fn bad_row(&mut self, row: &switchboard::channels::shop_csv::BadRow) {
        if self.tty && self.last.is_some() {
            eprint!("\r\x1b[K");
        }
        eprintln!("{row}");
        if let Some(file) = self.errors.as_mut()
            && let Err(e) = std::io::Write::write_fmt(file, format_args!("{row}\n"))
        {
            self.io_error.get_or_insert(e);
        }
    }

    fn progress(
        &mut self,
        s: &switchboard::channels::shop_csv::ImportSummary,
        elapsed: std::time::Duration,
    ) {
        let every = if self.tty { 200 } else { 10_000 };
        if self.last.is_some_and(|t| t.elapsed().as_millis() < every) {
            return;
        }
        self.last = Some(std::time::Instant::now());
        let rate = s.rows as f64 / elapsed.as_secs_f64().max(0.001);
        let line = format!("  {} rows, {} orders ({rate:.0} rows/s)", s.rows, s.orders);
        if self.tty {
            eprint!("\r\x1b[K{line}");
        } else {
            eprintln!("{line}");
        }
    }
}

/// `switchboard import orders`.
async fn import_orders(
    desk: &switchboard::desk::Desk,
    file: &std::path::Path,
    source: Option<&str>,
    errors: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    use switchboard::channels::shop_csv;
    let input = std::fs::File::open(file)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", file.display()))?;
    let name = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let default_source = format!("import:{name}");
    let errors_file = errors
        .map(|path| {
            std::fs::File::create(path)
                .map(std::io::BufWriter::new)
                .map_err(|e| anyhow::anyhow!("--errors {}: {e}", path.display()))
        })
        .transpose()?;
    let mut report = ImportTerminal {
        errors: errors_file,
        tty: std::io::stderr().is_terminal(),
        last: None,
        io_error: None,
    };
    let started = std::time::Instant::now();
    let result = shop_csv::import_orders(
        desk,
        std::io::BufReader::with_capacity(256 * 1024, input),
        source,
        &default_source,
        &mut report,
    )
    .await;
    if report.tty && report.last.is_some() {
        eprintln!();
    }
    let s = result.map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    if let Some(mut file) = report.errors.take() {
        std::io::Write::flush(&mut file)?;
    }
    if let Some(e) = report.io_error {
        anyhow::bail!("writing the errors file: {e}");
    }
    println!(
        "read {} rows, {} orders in {:.1} s: {} created, {} updated, {} unchanged, {} skipped (older than stored), {} bad rows",
        s.rows,
        s.orders,
        started.elapsed().as_secs_f64(),
        s.created,
        s.updated,
        s.unchanged,
        s.skipped,
        s.bad_rows
    );
    Ok(())
}
