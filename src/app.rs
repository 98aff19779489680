//! Start-up and shutdown: the store, the HTTP server and the background workers wired
//! together, and stopped in order (stop accepting, finish requests, finish jobs).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::blobs::Blobs;
use crate::config::Config;
use crate::desk::agents::NewAgent;
use crate::desk::{Desk, Role, Rules};
use crate::http::auth::LoginLimiter;
use crate::http::{AppState, router};
use crate::outbox::{self, Worker};
use crate::store::{Store, now};

/// A running desk: the server and its workers.
pub struct App {
    /// The address the server listens on (useful with port 0).
    pub addr: SocketAddr,
    pub state: AppState,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    workers: Vec<JoinHandle<()>>,
}

/// The desk's rules as configured.
pub fn rules(config: &Config) -> Rules {
    Rules {
        reopen_window: config.reopen_window,
        default_region: config.default_region,
        mail: crate::desk::email::MailRules {
            max_message_bytes: config.max_mail_bytes,
            auto_answers_per_hour: config.auto_answers_per_hour,
        },
        survey: crate::desk::surveys::SurveyRules {
            channels: config.survey_channels.clone(),
            valid_for: config.survey_valid,
            change_for: config.survey_change,
            delay: config.survey_delay,
            public_url: config.public_url.clone(),
            key: crate::desk::surveys::SurveyKey::file(config.data_dir.join("survey.key")),
        },
    }
}

/// The desk of a configured store: its rules and the attachments under the data
/// directory.
pub fn desk(config: &Config, store: Store) -> Desk {
    Desk::new(store, rules(config), Blobs::new(&config.data_dir))
}

/// Connects to the configured store and brings its schema up to date.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    if config.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "SWITCHBOARD_DATA_DIR: cannot create {}",
                config.data_dir.display()
            )
        })?;
    }
    let store = Store::connect(&config.database_url, None)
        .await
        .with_context(|| "SWITCHBOARD_DATABASE_URL: cannot connect to the store".to_string())?;
    store.migrate().await.context("migrating the store")?;
    Ok(store)
}

impl App {
    /// Binds the configured address and starts serving and working.
    pub async fn start(config: Config, store: Store) -> anyhow::Result<App> {
        let listener = TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("SWITCHBOARD_BIND: cannot listen on {}", config.bind))?;
        let addr = listener.local_addr()?;
        let desk = desk(&config, store.clone());
        let (search, fresh) = crate::search::open(&config)?;
        crate::http::admin::prometheus();
        let state = AppState {
            search: search.clone(),
            index_health: Arc::default(),
            login_limiter: Arc::new(LoginLimiter::new(config.login_per_minute)),
            widget_limiter: Arc::new(crate::live::widget::visitor_limiter()),
            clients: Arc::new(crate::channels::Clients::new(&config)),
            desk: desk.clone(),
            config: Arc::new(config),
        };
        let (stop, stopped) = watch::channel(false);

        let clients = state.clients.clone();
        let mut handlers: HashMap<&'static str, outbox::Handler> = HashMap::new();
        handlers.insert(
            outbox::kind::DELIVER,
            crate::channels::deliver_handler(desk.clone(), clients.clone()),
        );
        handlers.insert(
            crate::desk::surveys::SURVEY,
            crate::desk::surveys::survey_handler(desk.clone()),
        );
        handlers.insert(
            outbox::kind::EMAIL,
            crate::channels::email::follow_up_handler(desk.clone(), clients),
        );
        let worker = Worker {
            store: store.clone(),
            handlers,
            kick: desk.outbox_kick.clone(),
            poll: Duration::from_secs(1),
            batch: 32,
        };
        let mut workers = vec![tokio::spawn(worker.run(stopped.clone()))];
        let indexer = crate::search::indexer::Indexer {
            store: store.clone(),
            index: search.clone(),
            kick: desk.index_kick.clone(),
            health: state.index_health.clone(),
            poll: Duration::from_secs(1),
            fill: fresh,
        };
        workers.push(tokio::spawn(indexer.run(stopped.clone())));
        workers.push(tokio::spawn(maintenance(state.clone(), stopped.clone())));
        workers.push(tokio::spawn(crate::desk::sla::watch(
            desk.clone(),
            state.config.sla_check,
            stopped.clone(),
        )));
        workers.push(tokio::spawn(crate::channels::email::imap::supervise(
            desk.clone(),
            state.config.mail_poll,
            stopped.clone(),
        )));

        let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        // Small live events go out at once instead of waiting for more to send.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let mut server_stopped = stopped.clone();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = server_stopped.wait_for(|s| *s).await;
                })
                .await
        });
        tracing::info!(%addr, "listening");
        Ok(App {
            addr,
            state,
            stop,
            server,
            workers,
        })
    }

    /// Stops accepting connections, lets requests and the current jobs finish, and waits.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        match tokio::time::timeout(Duration::from_secs(30), self.server).await {
            Ok(Ok(Err(e))) => tracing::error!("server error: {e}"),
            Err(_) => tracing::warn!("requests still running after 30 s; stopping anyway"),
            _ => {}
        }
        for w in self.workers {
            let _ = tokio::time::timeout(Duration::from_secs(30), w).await;
        }
    }
}

/// Housekeeping once a minute: forget idle rate-limit keys, delete expired sessions.
async fn maintenance(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        state.login_limiter.sweep();
        state.widget_limiter.retain_recent();
        let store = &state.desk.store;
        let swept = async {
            let tx = store.write().await?;
            entity::session::Entity::delete_many()
                .filter(entity::session::Column::ExpiresAt.lt(now()))
                .exec(&*tx)
                .await?;
            tx.commit().await
        };
        if let Err(e) = swept.await {
            tracing::warn!("sweeping expired sessions failed: {e}");
        }
    }
}

/// On the first start of a store without an admin: creates one and prints the one-time
/// password and the console's address.
pub async fn first_admin(desk: &Desk, config: &Config) -> anyhow::Result<()> {
    if desk.admin_count().await? > 0 {
        return Ok(());
    }
    let created = desk
        .create_agent(NewAgent {
            email: config.admin_email.clone(),
            name: "Administrator".into(),
            role: Role::Admin,
            password: None,
        })
        .await;
    let (agent, password) = match created {
        Ok(created) => created,
        Err(crate::desk::Error::Conflict { .. }) => {
            // The address belongs to an agent who is no admin (any more): leave it be.
            tracing::warn!(
                "the store has no active admin; add one with `switchboard agent add --role admin` (SWITCHBOARD_ADMIN_EMAIL {} is taken)",
                config.admin_email
            );
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    println!();
    println!("  Switchboard is set up. Sign in as the first admin:");
    println!("    console:  {}", config.console_url());
    println!("    email:    {}", agent.email);
    println!(
        "    password: {}   (shown once; change it after signing in)",
        password.unwrap_or_default()
    );
    println!();
    Ok(())
}

/// `switchboard serve`: runs until SIGTERM or Ctrl-C, then shuts down gracefully.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let desk = desk(&config, store.clone());
    first_admin(&desk, &config).await?;
    let app = App::start(config, store.clone()).await?;
    shutdown_signal().await;
    tracing::info!("shutting down");
    app.stop().await;
    store.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
