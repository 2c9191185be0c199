//! `[[tenants]]`: several channels (orgs, topics, partners) served by one process.
//!
//! A tenant is a `name` plus any of the channel sections (`auth`, `pubsub`, `interaction`,
//! `delivery`, `channel`, `routing`, `capabilities`) and its own `store.namespace` (PostgreSQL)
//! or `store.path` (redb). The top-level channel sections are the defaults every tenant
//! inherits, merged key by key with the tenant's own keys winning; an `auth` whose `kind`
//! differs from the top-level one replaces it whole. So a fleet of a hundred orgs writes what
//! they share once and each tenant holds only what is its own. The process-wide sections
//! (`server`, `log`, `ha`, `pipeline`, `store.kind`/`url` and the store's tuning) stay at the
//! top. Secrets come from `BYOC__TENANTS__<NAME>__SECTION__KEY`, `<NAME>` being the tenant's
//! name in capitals with `-` and `.` written as `_`. This file owns the tenant keys, the
//! merge and the checks across tenants; each section's own keys and checks are its file's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use toml::{Table, Value};

use super::env::Overrides;
use super::error::Problems;
use super::runtime::{StoreConfig, StoreKind, DEFAULT_STORE_NAMESPACE};
use super::tenant_env::env_form;
use super::{
    decode_channel, CapabilitiesConfig, ChannelConfig, ChannelSections, Config, DeliveryConfig,
    InteractionConfig, PubSubConfig, RoutingConfig,
};
use crate::auth::AuthConfig;

/// Longest accepted tenant name.
pub const MAX_TENANT_NAME_LEN: usize = 64;

/// The channel sections a tenant may give; each inherits the top-level section of its name.
pub(super) const TENANT_SECTIONS: &[&str] = &[
    "pubsub",
    "auth",
    "interaction",
    "delivery",
    "channel",
    "routing",
    "capabilities",
];

/// The `store` keys a tenant may give: where its state lives, not how the store runs.
const TENANT_STORE_KEYS: &[&str] = &["namespace", "path"];

/// One `[[tenants]]` entry, with every inherited value filled in.
#[derive(Debug, Clone, Serialize)]
pub struct TenantConfig {
    /// The tenant's name: its metrics label, its sidecar path segment
    /// (`/v1/tenants/{name}/…`) and its default store namespace.
    pub name: String,
    /// Its Pub/Sub subscription.
    pub pubsub: PubSubConfig,
    /// Its org's credentials.
    pub auth: AuthConfig,
    /// Its org's Interaction Service and channel definition.
    pub interaction: InteractionConfig,
    /// Its partner's event endpoint.
    pub delivery: DeliveryConfig,
    /// Its channel addresses.
    pub channel: ChannelConfig,
    /// Its partner's routing endpoint and decision rules.
    pub routing: RoutingConfig,
    /// What it registers with `PATCH /capabilities`.
    pub capabilities: CapabilitiesConfig,
    /// The process's store settings with this tenant's namespace and redb file.
    pub store: StoreConfig,
}

impl TenantConfig {
    /// Its channel sections, as the single-channel fields of [`Config`] hold them.
    pub(super) fn sections(&self) -> ChannelSections {
        ChannelSections {
            pubsub: self.pubsub.clone(),
            auth: self.auth.clone(),
            interaction: self.interaction.clone(),
            delivery: self.delivery.clone(),
            channel: self.channel.clone(),
            routing: self.routing.clone(),
            capabilities: self.capabilities.clone(),
        }
    }
}

impl Config {
    /// Every channel this process serves, each as a single-channel configuration: the
    /// tenant's name and its sections over the process-wide ones, or, without
    /// `[[tenants]]`, this configuration itself under no name.
    pub fn channels(&self) -> Vec<(Option<String>, Config)> {
        if self.tenants.is_empty() {
            return vec![(None, self.clone())];
        }
        self.tenants
            .iter()
            .map(|tenant| {
                let config = Config {
                    pubsub: tenant.pubsub.clone(),
                    auth: tenant.auth.clone(),
                    interaction: tenant.interaction.clone(),
                    delivery: tenant.delivery.clone(),
                    channel: tenant.channel.clone(),
                    routing: tenant.routing.clone(),
                    capabilities: tenant.capabilities.clone(),
                    store: tenant.store.clone(),
                    tenants: Vec::new(),
                    ..self.clone()
                };
                (Some(tenant.name.clone()), config)
            })
            .collect()
    }
}

/// Takes `tenants` out of `root`: `None` when absent, else its entries (a problem is recorded
/// for anything but a non-empty array of tables, and the entries that are tables are kept).
pub(super) fn take(root: &mut Table, problems: &mut Problems) -> Option<Vec<Table>> {
    let value = root.remove("tenants")?;
    // The example file spells out the default; any other value would be silently unused.
    let top_namespace = root
        .get("store")
        .and_then(Value::as_table)
        .and_then(|store| store.get("namespace"));
    if top_namespace.is_some_and(|namespace| namespace.as_str() != Some(DEFAULT_STORE_NAMESPACE)) {
        problems.push(
            "store.namespace",
            "is per tenant when [[tenants]] is given",
            "remove it from [store]; each tenant's namespace is its name, or its own store.namespace",
        );
    }
    let Value::Array(entries) = value else {
        problems.push(
            "tenants",
            format!("must be an array of tables, found {}", value.type_str()),
            "write each tenant as a [[tenants]] table with a name",
        );
        return Some(Vec::new());
    };
    if entries.is_empty() {
        problems.push(
            "tenants",
            "is empty",
            "add a [[tenants]] table per channel, or remove the key to serve the one channel the top-level sections describe",
        );
    }
    let mut tables = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        match entry {
            Value::Table(table) => tables.push(table),
            other => problems.push(
                format!("tenants[{index}]"),
                format!("must be a table, found {}", other.type_str()),
                "write each tenant as a [[tenants]] table with a name",
            ),
        }
    }
    Some(tables)
}

/// Decodes every tenant over the top-level `defaults` (the document without its process-wide
/// sections) and checks them against each other; `None` when any failed.
pub(super) fn decode(
    tables: Vec<Table>,
    defaults: &Table,
    store: Option<&StoreConfig>,
    overrides: &Overrides,
    problems: &mut Problems,
) -> Option<Vec<TenantConfig>> {
    let mut tenants = Vec::with_capacity(tables.len());
    let mut failed = tables.is_empty();
    for (index, table) in tables.into_iter().enumerate() {
        match decode_one(index, table, defaults, store, overrides, problems) {
            Some(tenant) => tenants.push(tenant),
            None => failed = true,
        }
    }
    check_distinct(&tenants, problems);
    (!failed).then_some(tenants)
}

/// Decodes `tenants[index]`; its problems name `tenants[index].…`, except those about a value
/// it inherited, which name the top-level key (once, however many tenants inherit it).
fn decode_one(
    index: usize,
    mut table: Table,
    defaults: &Table,
    store: Option<&StoreConfig>,
    overrides: &Overrides,
    problems: &mut Problems,
) -> Option<TenantConfig> {
    let prefix = format!("tenants[{index}]");
    let name = take_name(&prefix, &mut table, problems);
    let own_store = take_store(&prefix, &mut table, problems);
    for key in table.keys() {
        if !TENANT_SECTIONS.contains(&key.as_str()) {
            problems.push(
                format!("{prefix}.{key}"),
                "is not a known key of a tenant",
                format!(
                    "a tenant takes name, store.namespace, store.path and the sections {}; the others are process-wide",
                    TENANT_SECTIONS.join(", ")
                ),
            );
        }
    }
    let mut merged = Table::new();
    for section in TENANT_SECTIONS {
        let inherited = defaults.get(*section).cloned();
        let own = table.get(*section).cloned();
        let value = match (inherited, own) {
            (Some(Value::Table(base)), Some(Value::Table(own))) => {
                Value::Table(merge_section(section, base, own))
            }
            (_, Some(own)) => own,
            (Some(inherited), None) => inherited,
            (None, None) => continue,
        };
        merged.insert((*section).to_owned(), value);
    }
    let scoped = overrides.scoped(&prefix);
    let mut found = Problems::default();
    let sections = decode_channel(&mut merged, &scoped, &mut found);
    for mut problem in found.into_vec() {
        if names_own_or_missing(&problem.key, &table, defaults) {
            problem.key = format!("{prefix}.{}", problem.key);
        }
        problems.add(problem);
    }
    let name = name?;
    let store = tenant_store(&prefix, &name, own_store?, store?, problems)?;
    let sections = sections?;
    Some(TenantConfig {
        name,
        pubsub: sections.pubsub,
        auth: sections.auth,
        interaction: sections.interaction,
        delivery: sections.delivery,
        channel: sections.channel,
        routing: sections.routing,
        capabilities: sections.capabilities,
        store,
    })
}

/// `base` with `own`'s keys set over it, nested tables merged the same way. An `auth` of
/// another `kind` is taken as it is: the other kind's keys would not apply.
fn merge_section(section: &str, base: Table, own: Table) -> Table {
    if section == "auth"
        && own
            .get("kind")
            .is_some_and(|kind| Some(kind) != base.get("kind"))
    {
        return own;
    }
    merge_tables(base, own)
}

fn merge_tables(mut base: Table, own: Table) -> Table {
    for (key, value) in own {
        let merged = match (base.remove(&key), value) {
            (Some(Value::Table(inner)), Value::Table(own_inner)) => {
                Value::Table(merge_tables(inner, own_inner))
            }
            (_, value) => value,
        };
        base.insert(key, merged);
    }
    base
}

/// Whether the problem with the section-relative `key` is the tenant's to fix: the tenant
/// set the key, or nobody did (a missing key is missing in the tenant).
fn names_own_or_missing(key: &str, tenant: &Table, defaults: &Table) -> bool {
    contains_key(tenant, key) || !contains_key(defaults, key)
}

/// Whether the dotted `key` (`auth.client_id`, `capabilities.formats[1]`) is set in `table`.
fn contains_key(table: &Table, key: &str) -> bool {
    let mut current = table;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let part = part.split('[').next().unwrap_or(part);
        match (current.get(part), parts.peek()) {
            (None, _) => return false,
            (Some(Value::Table(next)), Some(_)) => current = next,
            // The key itself, or a value inside an array or a non-table.
            (Some(_), _) => return true,
        }
    }
    true
}

/// Takes and checks `name`; `None` when it is missing or breaks the rule.
fn take_name(prefix: &str, table: &mut Table, problems: &mut Problems) -> Option<String> {
    let key = format!("{prefix}.name");
    let hint = format!(
        "name the tenant with 1 to {MAX_TENANT_NAME_LEN} letters, digits, '.', '_' or '-', like `name = \"acme-sms\"`; it labels its metrics and names it in sidecar paths"
    );
    match table.remove("name") {
        Some(Value::String(name)) if is_valid_name(&name) => Some(name),
        Some(Value::String(_)) => {
            problems.push(
                key,
                format!("must be 1 to {MAX_TENANT_NAME_LEN} characters of letters, digits, '.', '_' or '-'"),
                hint,
            );
            None
        }
        Some(other) => {
            problems.push(
                key,
                format!("must be a string, found {}", other.type_str()),
                hint,
            );
            None
        }
        None => {
            problems.push(key, "is missing", hint);
            None
        }
    }
}

/// Whether `name` follows the tenant name rule.
fn is_valid_name(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    !name.is_empty() && name.len() <= MAX_TENANT_NAME_LEN && name.chars().all(allowed)
}

/// The tenant's own `store.namespace` and `store.path`; `None` when `store` is not a table
/// or holds other keys.
fn take_store(
    prefix: &str,
    table: &mut Table,
    problems: &mut Problems,
) -> Option<(Option<String>, Option<PathBuf>)> {
    let store = match table.remove("store") {
        None => return Some((None, None)),
        Some(Value::Table(store)) => store,
        Some(other) => {
            problems.push(
                format!("{prefix}.store"),
                format!("must be a table, found {}", other.type_str()),
                "write it as `store = { namespace = \"acme\" }` or a [tenants.store] table",
            );
            return None;
        }
    };
    let mut ok = true;
    let mut text = |key: &str| match store.get(key) {
        None => None,
        Some(Value::String(value)) => Some(value.clone()),
        Some(other) => {
            problems.push(
                format!("{prefix}.store.{key}"),
                format!("must be a string, found {}", other.type_str()),
                "see docs/tenants.md",
            );
            ok = false;
            None
        }
    };
    let namespace = text("namespace");
    let path = text("path").map(PathBuf::from);
    for key in store.keys() {
        if !TENANT_STORE_KEYS.contains(&key.as_str()) {
            problems.push(
                format!("{prefix}.store.{key}"),
                "is process-wide, not per tenant",
                "a tenant's store takes only namespace and path; set the others in the top-level [store]",
            );
            ok = false;
        }
    }
    ok.then_some((namespace, path))
}

/// The process's store settings with the tenant's namespace (default: its name) and redb
/// file (default: the top-level `store.path` with the name before its extension).
fn tenant_store(
    prefix: &str,
    name: &str,
    (namespace, path): (Option<String>, Option<PathBuf>),
    store: &StoreConfig,
    problems: &mut Problems,
) -> Option<StoreConfig> {
    let tenant_store = StoreConfig {
        namespace: namespace.unwrap_or_else(|| name.to_owned()),
        path: path.unwrap_or_else(|| path_for(&store.path, name)),
        ..store.clone()
    };
    let mut found = Problems::default();
    tenant_store.validate(&mut found);
    let found = found.into_vec();
    let failed = !found.is_empty();
    for mut problem in found {
        problem.key = format!("{prefix}.{}", problem.key);
        problems.add(problem);
    }
    (!failed).then_some(tenant_store)
}

/// `/var/lib/byoc/state.redb` and `acme` → `/var/lib/byoc/state.acme.redb`.
fn path_for(base: &Path, name: &str) -> PathBuf {
    let stem = base.file_stem().map_or_else(
        || "byoc-connector".to_owned(),
        |stem| stem.to_string_lossy().into_owned(),
    );
    let file = match base.extension() {
        Some(extension) => format!("{stem}.{name}.{}", extension.to_string_lossy()),
        None => format!("{stem}.{name}"),
    };
    base.with_file_name(file)
}

/// Two tenants may share neither a name (nor its environment form), a PostgreSQL namespace
/// nor a redb file: each would read and overwrite the other's checkpoint.
fn check_distinct(tenants: &[TenantConfig], problems: &mut Problems) {
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut namespaces: BTreeMap<&str, usize> = BTreeMap::new();
    let mut paths: BTreeMap<&Path, usize> = BTreeMap::new();
    for (index, tenant) in tenants.iter().enumerate() {
        if let Some(first) = names.insert(env_form(&tenant.name), index) {
            let first_name = &tenants[first].name;
            let problem = if *first_name == tenant.name {
                format!("`{}` is also tenants[{first}]'s name", tenant.name)
            } else {
                format!(
                    "`{}` differs from tenants[{first}]'s `{first_name}` only in case, '-', '.' or '_'",
                    tenant.name
                )
            };
            problems.push(
                format!("tenants[{index}].name"),
                problem,
                "give every tenant its own name; BYOC__TENANTS__<NAME>__… variables must name one tenant",
            );
        }
        match tenant.store.kind {
            StoreKind::Postgres => {
                if let Some(first) = namespaces.insert(&tenant.store.namespace, index) {
                    problems.push(
                        format!("tenants[{index}].store.namespace"),
                        format!("`{}` is also tenants[{first}]'s namespace", tenant.store.namespace),
                        "give each tenant its own namespace (the default is its name): tenants sharing one would share a checkpoint and a lease",
                    );
                }
            }
            StoreKind::Redb => {
                if let Some(first) = paths.insert(&tenant.store.path, index) {
                    problems.push(
                        format!("tenants[{index}].store.path"),
                        format!("`{}` is also tenants[{first}]'s file", tenant.store.path.display()),
                        "give each tenant its own file, or leave store.path out to derive it from the tenant's name",
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenants_redb_file_is_the_shared_path_with_its_name_before_the_extension() {
        assert_eq!(
            path_for(Path::new("/var/lib/byoc/state.redb"), "acme"),
            PathBuf::from("/var/lib/byoc/state.acme.redb")
        );
        assert_eq!(
            path_for(Path::new("state"), "acme"),
            PathBuf::from("state.acme")
        );
    }

    #[test]
    fn a_dotted_key_is_found_through_nested_tables_and_arrays() {
        let table: Table = "[auth]\nclient_id = \"x\"\n[capabilities]\nformats = [\"a\"]\n"
            .parse()
            .unwrap();
        assert!(contains_key(&table, "auth.client_id"));
        assert!(contains_key(&table, "capabilities.formats[0]"));
        assert!(!contains_key(&table, "auth.client_secret"));
        assert!(!contains_key(&table, "pubsub"));
    }
}
