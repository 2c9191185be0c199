//! The `dlq` and `checkpoint` commands: their arguments and what they print. They act on a
//! stopped connector's store, or ask the running connector on its sidecar listener for the
//! read-only dead-letter views. The work itself is in the library (`dlq`, `store::operator`);
//! this module only knows the command line.

use std::path::PathBuf;

use anyhow::Context;
use byoc_connector::channel::AnyChannel;
use byoc_connector::config::Config;
use byoc_connector::store::Store;
use clap::Subcommand;

#[derive(Debug, clap::Args)]
pub(crate) struct DlqArgs {
    /// The connector's configuration (for the store path and, for replay, the channel)
    #[arg(long, short, env = "BYOC_CONFIG", global = true)]
    pub(crate) config: Option<PathBuf>,
    /// With [[tenants]]: the tenant whose store to act on (required with several)
    #[arg(long, global = true)]
    pub(crate) tenant: Option<String>,
    #[command(subcommand)]
    pub(crate) action: DlqAction,
}

#[derive(Debug, clap::Args)]
pub(crate) struct CheckpointArgs {
    /// The connector's configuration (for the store path and the topic)
    #[arg(long, short, env = "BYOC_CONFIG", global = true)]
    pub(crate) config: Option<PathBuf>,
    /// With [[tenants]]: the tenant whose store to act on (required with several)
    #[arg(long, global = true)]
    pub(crate) tenant: Option<String>,
    #[command(subcommand)]
    pub(crate) action: CheckpointAction,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CheckpointAction {
    /// Every checkpoint: org, topic and the replay id resumed after, as JSON lines
    List,
    /// Resume after this replay id on the next start (forwards or back, inside Salesforce's
    /// retention); the org defaults to the one that has a checkpoint of the topic
    Set {
        /// Replay id as hex, as `checkpoint list` shows it
        replay_id: String,
        /// Org id, when the store has no checkpoint of the topic yet or several orgs have one
        #[arg(long)]
        org: Option<String>,
    },
    /// Forget the checkpoint: the next start begins at pubsub.start (latest or earliest)
    Reset {
        /// Org id, when several orgs have a checkpoint of the topic
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum DlqAction {
    /// Every dead letter: a table on a terminal, JSON otherwise or with --json. Asks the
    /// running connector (on server.sidecar_listen) when it holds the store
    List {
        /// JSON even on a terminal
        #[arg(long)]
        json: bool,
    },
    /// One dead letter in full, as JSON, the decoded event as an object. Asks the running
    /// connector when it holds the store
    Show {
        /// Dead-letter id
        id: u64,
    },
    /// Re-deliver with the original Idempotency-Key; removed when the partner accepts
    Replay {
        /// Dead-letter id
        #[arg(required_unless_present = "all")]
        id: Option<u64>,
        /// Every dead letter
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
    /// Delete dead letters
    Purge {
        /// Dead-letter id
        #[arg(required_unless_present = "all")]
        id: Option<u64>,
        /// Every dead letter
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
}

pub(crate) async fn dlq(action: DlqAction, config: Config) -> anyhow::Result<()> {
    use byoc_connector::dlq;
    use byoc_connector::store::StoreError;
    use std::io::IsTerminal;

    let store = match Store::open_existing_at(&config.store.location()) {
        Ok(store) => Some(store),
        // A running connector holds the file: read-only commands ask it instead.
        Err(StoreError::Locked { .. })
            if matches!(action, DlqAction::List { .. } | DlqAction::Show { .. }) =>
        {
            None
        }
        Err(error) => {
            return Err(anyhow::Error::new(error)
                .context(format!("cannot open the store {}", shown_location(&config))))
        }
    };
    match (action, store) {
        (DlqAction::List { json }, store) => {
            let summaries: Vec<serde_json::Value> = match &store {
                Some(store) => dlq::list(store)?.iter().map(dlq::summary).collect(),
                None => serde_json::from_value(ask_running_connector(&config, "").await?)?,
            };
            if json || !std::io::stdout().is_terminal() {
                println!("{}", serde_json::Value::from(summaries));
            } else {
                print!("{}", dlq::table(&summaries));
            }
        }
        (DlqAction::Show { id }, store) => {
            let letter = match &store {
                Some(store) => dlq::show(store, id)?,
                None => ask_running_connector(&config, &format!("/{id}")).await?,
            };
            println!("{letter:#}");
        }
        (_, None) => anyhow::bail!("the store is held by a running connector; stop it first"),
        (action, Some(store)) => dlq_write(action, &config, &store).await?,
    }
    Ok(())
}

/// `checkpoint list|set|reset` on the store of a stopped connector.
pub(crate) fn checkpoint(action: CheckpointAction, config: &Config) -> anyhow::Result<()> {
    use byoc_connector::store::operator;
    let store = Store::open_existing_at(&config.store.location())
        .with_context(|| format!("cannot open the store {}", shown_location(config)))?;
    let topic = config.pubsub.topic.as_str();
    match action {
        CheckpointAction::List => {
            for checkpoint in operator::list(&store)? {
                println!("{}", serde_json::to_string(&checkpoint)?);
            }
        }
        CheckpointAction::Set { replay_id, org } => {
            let org = operator::resolve_org(&store, org.as_deref(), topic)?;
            let replaced = operator::set(&store, &org, topic, &replay_id)?;
            println!(
                "checkpoint of {topic} for org {org}: {} -> {}; the next start resumes after it",
                replaced.as_deref().unwrap_or("none"),
                replay_id.trim().to_ascii_lowercase()
            );
        }
        CheckpointAction::Reset { org } => {
            let org = operator::resolve_org(&store, org.as_deref(), topic)?;
            let existed = operator::reset(&store, &org, topic)?;
            println!(
                "checkpoint of {topic} for org {org} {}; the next start begins at pubsub.start ({:?})",
                if existed { "forgotten" } else { "was not set" },
                config.pubsub.start
            );
        }
    }
    Ok(())
}

/// The store a command means, for its errors: the file, or the namespace in the database
/// (never the URL, which may hold a password).
fn shown_location(config: &Config) -> String {
    match config.store.kind {
        byoc_connector::config::StoreKind::Redb => config.store.path.display().to_string(),
        byoc_connector::config::StoreKind::Postgres => {
            format!("namespace {} in store.url", config.store.namespace)
        }
    }
}

/// `GET {DEAD_LETTERS_PATH}{suffix}` on the running connector's sidecar listener
/// (`server.sidecar_listen`), with `server.sidecar_token` when one is set: dead letters hold
/// message text, so they are served only there.
async fn ask_running_connector(config: &Config, suffix: &str) -> anyhow::Result<serde_json::Value> {
    let mut address = config.server.sidecar_listen;
    if address.ip().is_unspecified() {
        address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let dead_letters = byoc_connector::dlq::DEAD_LETTERS_PATH;
    // With [[tenants]] the commands act on the first tenant, whose routes carry its name.
    let path = match config.tenants.first() {
        Some(tenant) => format!(
            "/v1/tenants/{}/{}",
            tenant.name,
            dead_letters.trim_start_matches("/v1/")
        ),
        None => dead_letters.to_owned(),
    };
    let url = format!("http://{address}{path}{suffix}");
    let mut request = reqwest::Client::new().get(&url);
    if let Some(token) = &config.server.sidecar_token {
        request = request.bearer_auth(token.expose());
    }
    let response = request.send().await.with_context(|| {
        format!("the store is in use, and the running connector at {address} cannot be asked")
    })?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if !status.is_success() {
        anyhow::bail!("the running connector at {address} answered {status}: {body}");
    }
    Ok(serde_json::from_str(&body)?)
}

/// The dead-letter commands that change the store; they need it to themselves.
async fn dlq_write(action: DlqAction, config: &Config, store: &Store) -> anyhow::Result<()> {
    use byoc_connector::dlq;
    let store = store.clone();
    match action {
        DlqAction::List { .. } | DlqAction::Show { .. } => {}
        DlqAction::Replay { id, all } => {
            let channel = AnyChannel::try_from(&config.delivery)?;
            if all {
                let (replayed, failed) = dlq::replay_all(&store, &channel).await?;
                println!("replayed {} dead letters", replayed.len());
                for (id, reason) in &failed {
                    eprintln!("dead letter {id} kept: {reason}");
                }
                if !failed.is_empty() {
                    anyhow::bail!("{} dead letters could not be replayed", failed.len());
                }
            } else if let Some(id) = id {
                dlq::replay(&store, &channel, id).await?;
                println!("replayed dead letter {id}");
            }
        }
        DlqAction::Purge { id, all } => {
            if all {
                println!("purged {} dead letters", dlq::purge_all(&store)?);
            } else if let Some(id) = id {
                dlq::purge(&store, id)?;
                println!("purged dead letter {id}");
            }
        }
    }
    Ok(())
}
