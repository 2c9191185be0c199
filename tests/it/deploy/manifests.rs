//! The Kubernetes manifests under `deploy/kubernetes/` as the tests see them: YAML parsed into
//! JSON values, and the connector's pod with its environment resolved from the layout's
//! Secrets and ConfigMaps and its config loaded by the real loader, as the kubelet and the
//! connector would.

use std::path::{Path, PathBuf};

use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

use super::{deploy_dir, CONFIG_FILE_VAR};
use byoc_connector::config::Config;

/// The layouts under `deploy/kubernetes/`.
pub const LAYOUTS: &[&str] = &["daemon", "sidecar", "ha"];

/// The name of the connector's container in every layout.
pub const CONNECTOR_CONTAINER: &str = "byoc-connector";

/// One YAML document and the file it came from.
pub struct Document {
    /// `daemon/deployment.yaml`.
    pub file: String,
    /// The document, as JSON values.
    pub value: Value,
}

/// Every `.yaml`/`.yml` file under `dir`, recursively, sorted.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(yaml_files(&path));
        } else if matches!(
            path.extension().and_then(|ext| ext.to_str()),
            Some("yaml" | "yml")
        ) {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// A YAML value as JSON, so tests can use `pointer`; anchors and odd keys are refused.
fn yaml_to_json(yaml: &Yaml) -> Value {
    match yaml {
        Yaml::String(text) => Value::String(text.clone()),
        Yaml::Integer(number) => Value::from(*number),
        Yaml::Real(text) => Value::from(text.parse::<f64>().unwrap()),
        Yaml::Boolean(flag) => Value::Bool(*flag),
        Yaml::Null => Value::Null,
        Yaml::Array(items) => Value::Array(items.iter().map(yaml_to_json).collect()),
        Yaml::Hash(entries) => Value::Object(
            entries
                .iter()
                .map(|(key, value)| {
                    let key = key.as_str().expect("manifest keys are strings").to_owned();
                    (key, yaml_to_json(value))
                })
                .collect(),
        ),
        Yaml::Alias(_) | Yaml::BadValue => panic!("unsupported YAML: {yaml:?}"),
    }
}

/// Every document of every manifest under `deploy/kubernetes/<dir>`.
pub fn documents(dir: &str) -> Vec<Document> {
    let root = deploy_dir().join("kubernetes");
    let mut documents = Vec::new();
    for path in yaml_files(&root.join(dir)) {
        let file = path.strip_prefix(&root).unwrap().display().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed = YamlLoader::load_from_str(&text)
            .unwrap_or_else(|error| panic!("{file} is not valid YAML: {error}"));
        for yaml in &parsed {
            documents.push(Document {
                file: file.clone(),
                value: yaml_to_json(yaml),
            });
        }
    }
    documents
}

/// The string at `pointer`, if there is one.
pub fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// The array at `pointer`; empty when absent.
pub fn items<'a>(value: &'a Value, pointer: &str) -> &'a [Value] {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A layout's manifests, and the Deployment and container that run the connector.
pub struct Manifests {
    /// `daemon`, `sidecar` or `ha`.
    pub layout: &'static str,
    /// Every document of the layout.
    pub documents: Vec<Document>,
    /// The Deployment that runs the connector.
    pub deployment: Value,
    /// The connector's container.
    pub container: Value,
}

/// The connector as one layout deploys it, with its config loaded the way the pod would.
pub struct ConnectorPod {
    /// `daemon`, `sidecar` or `ha`.
    pub layout: &'static str,
    /// Where it came from.
    pub manifests: Manifests,
    /// The container's environment, values resolved from the layout's Secrets and ConfigMaps.
    pub env: Vec<(String, String)>,
    /// The config from the ConfigMap, loaded with that environment by the real loader.
    pub config: Config,
}

/// The connector of every layout.
pub fn connector_pods() -> Vec<ConnectorPod> {
    LAYOUTS
        .iter()
        .map(|layout| ConnectorPod::load(layout))
        .collect()
}

impl ConnectorPod {
    /// Loads the layout and the connector config its pod would read; panics on any broken link.
    pub fn load(layout: &'static str) -> Self {
        let manifests = Manifests::load(layout);
        let env = manifests.resolved_env();
        let config_text = manifests.config_text(&env);
        let config =
            Config::from_toml_str_with_env(&config_text, env.clone()).unwrap_or_else(|error| {
                panic!("{layout}: the connector config does not load:\n{error}")
            });
        Self {
            layout,
            manifests,
            env,
            config,
        }
    }

    /// The port of `server.listen` (ops).
    pub fn listen_port(&self) -> u16 {
        self.config.server.listen.port()
    }

    /// The port of `server.sidecar_listen`.
    pub fn sidecar_port(&self) -> u16 {
        self.config.server.sidecar_listen.port()
    }

    /// The ports reachable from outside the pod: ops, and the sidecar when it is not loopback.
    pub fn exposed_ports(&self) -> Vec<u16> {
        let mut ports = vec![self.listen_port()];
        if !self.config.server.sidecar_listen.ip().is_loopback() {
            ports.push(self.sidecar_port());
        }
        ports
    }
}

impl Manifests {
    /// The layout's documents and the one Deployment with the connector's container.
    pub fn load(layout: &'static str) -> Self {
        let documents = documents(layout);
        let mut runs_connector = documents.iter().filter(|document| {
            text(&document.value, "/kind") == Some("Deployment")
                && items(&document.value, "/spec/template/spec/containers")
                    .iter()
                    .any(|container| text(container, "/name") == Some(CONNECTOR_CONTAINER))
        });
        let deployment = runs_connector
            .next()
            .unwrap_or_else(|| {
                panic!("{layout}: no Deployment with a {CONNECTOR_CONTAINER} container")
            })
            .value
            .clone();
        assert!(
            runs_connector.next().is_none(),
            "{layout}: one connector Deployment"
        );
        let container = items(&deployment, "/spec/template/spec/containers")
            .iter()
            .find(|container| text(container, "/name") == Some(CONNECTOR_CONTAINER))
            .unwrap()
            .clone();
        Self {
            layout,
            documents,
            deployment,
            container,
        }
    }

    /// The Deployment's pod template spec.
    pub fn pod_spec(&self) -> &Value {
        self.deployment.pointer("/spec/template/spec").unwrap()
    }

    /// The document of `kind` called `name`.
    pub fn named(&self, kind: &str, name: &str) -> &Value {
        self.documents
            .iter()
            .map(|document| &document.value)
            .find(|value| {
                text(value, "/kind") == Some(kind) && text(value, "/metadata/name") == Some(name)
            })
            .unwrap_or_else(|| panic!("{}: no {kind} named {name}", self.layout))
    }

    /// Every document of `kind`.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.documents
            .iter()
            .map(|document| &document.value)
            .filter(move |value| text(value, "/kind") == Some(kind))
    }

    /// `key` of the Secret or ConfigMap `name` (`stringData` or `data`).
    pub fn data(&self, kind: &str, name: &str, key: &str) -> String {
        let object = self.named(kind, name);
        ["/stringData", "/data"]
            .iter()
            .find_map(|field| object.pointer(field)?.get(key)?.as_str())
            .unwrap_or_else(|| {
                panic!(
                    "{}: {kind} {name} has no key {key} (Secrets use stringData here)",
                    self.layout
                )
            })
            .to_owned()
    }

    /// The container's `env` and `envFrom`, values looked up in the layout's Secrets and ConfigMaps.
    pub fn resolved_env(&self) -> Vec<(String, String)> {
        let mut env = Vec::new();
        for variable in items(&self.container, "/env") {
            let name = text(variable, "/name").unwrap().to_owned();
            let value = if let Some(value) = text(variable, "/value") {
                value.to_owned()
            } else if let Some(reference) = variable.pointer("/valueFrom/secretKeyRef") {
                self.data(
                    "Secret",
                    text(reference, "/name").unwrap(),
                    text(reference, "/key").unwrap(),
                )
            } else if let Some(field) = variable.pointer("/valueFrom/fieldRef/fieldPath") {
                assert_eq!(
                    field.as_str(),
                    Some("metadata.name"),
                    "{}: env {name} takes a pod field this test does not know",
                    self.layout
                );
                // What the downward API gives a Deployment's pod: its generated name.
                format!("byoc-connector-{}-5d9f7c6b8-x2k4q", self.layout)
            } else if let Some(reference) = variable.pointer("/valueFrom/configMapKeyRef") {
                self.data(
                    "ConfigMap",
                    text(reference, "/name").unwrap(),
                    text(reference, "/key").unwrap(),
                )
            } else {
                panic!(
                    "{}: env {name} has a source this test does not know",
                    self.layout
                )
            };
            env.push((name, value));
        }
        for source in items(&self.container, "/envFrom") {
            let (kind, reference) = match (source.get("secretRef"), source.get("configMapRef")) {
                (Some(reference), _) => ("Secret", reference),
                (_, Some(reference)) => ("ConfigMap", reference),
                _ => panic!("{}: unknown envFrom source", self.layout),
            };
            let object = self.named(kind, text(reference, "/name").unwrap());
            let prefix = text(source, "/prefix").unwrap_or_default();
            for field in ["stringData", "data"] {
                for (key, value) in object
                    .get(field)
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    env.push((
                        format!("{prefix}{key}"),
                        value.as_str().unwrap_or_default().to_owned(),
                    ));
                }
            }
        }
        env
    }

    /// The container's arguments, after the binary.
    pub fn arguments(&self) -> Vec<String> {
        let words = |pointer: &str| -> Vec<String> {
            items(&self.container, pointer)
                .iter()
                .map(|word| word.as_str().unwrap().to_owned())
                .collect()
        };
        let mut command = words("/command");
        if let Some(binary) = command.first() {
            assert!(
                binary.ends_with("byoc-connector"),
                "{}: command runs {binary}",
                self.layout
            );
            command.remove(0);
        }
        command.extend(words("/args"));
        command
    }

    /// The config file the connector reads: `--config` or `$BYOC_CONFIG` in `env`.
    pub fn config_path(&self, env: &[(String, String)]) -> PathBuf {
        let arguments = self.arguments();
        let from_flag = arguments
            .iter()
            .position(|word| word == "--config" || word == "-c")
            .and_then(|index| arguments.get(index + 1));
        let from_env = env
            .iter()
            .find(|(name, _)| name == CONFIG_FILE_VAR)
            .map(|(_, value)| value);
        PathBuf::from(from_flag.or(from_env).unwrap_or_else(|| {
            panic!(
                "{}: neither --config nor {CONFIG_FILE_VAR} is set",
                self.layout
            )
        }))
    }

    /// The volume mounted over `path` and the path inside that volume.
    pub fn volume_for(&self, path: &Path) -> (&Value, String) {
        let mount = items(&self.container, "/volumeMounts")
            .iter()
            .filter(|mount| path.starts_with(text(mount, "/mountPath").unwrap()))
            .max_by_key(|mount| text(mount, "/mountPath").unwrap().len())
            .unwrap_or_else(|| panic!("{}: nothing is mounted at {}", self.layout, path.display()));
        let mount_path = text(mount, "/mountPath").unwrap();
        let inside = match text(mount, "/subPath") {
            Some(sub_path) if path == Path::new(mount_path) => sub_path.to_owned(),
            _ => path.strip_prefix(mount_path).unwrap().display().to_string(),
        };
        let name = text(mount, "/name").unwrap();
        let volume = items(self.pod_spec(), "/volumes")
            .iter()
            .find(|volume| text(volume, "/name") == Some(name))
            .unwrap_or_else(|| panic!("{}: no volume {name}", self.layout));
        (volume, inside)
    }

    /// The Secret or ConfigMap key a projected file comes from (its `items`, if listed).
    pub fn key_of(source: &Value, inside: &str) -> String {
        let listed = items(source, "/items");
        if listed.is_empty() {
            return inside.to_owned();
        }
        listed
            .iter()
            .find(|item| text(item, "/path") == Some(inside))
            .and_then(|item| text(item, "/key"))
            .unwrap_or_else(|| panic!("no item projects {inside}"))
            .to_owned()
    }

    /// The text of the config file, from the ConfigMap key mounted at its path.
    pub fn config_text(&self, env: &[(String, String)]) -> String {
        let path = self.config_path(env);
        let (volume, inside) = self.volume_for(&path);
        let source = volume.get("configMap").unwrap_or_else(|| {
            panic!(
                "{}: {} is not on a ConfigMap volume",
                self.layout,
                path.display()
            )
        });
        let key = Self::key_of(source, &inside);
        self.data("ConfigMap", text(source, "/name").unwrap(), &key)
    }

    /// A port given as a number, a numeric string or the name of a container port in the pod.
    pub fn resolve_port(&self, port: &Value) -> u16 {
        if let Some(number) = port.as_u64() {
            return u16::try_from(number).unwrap();
        }
        let name = port.as_str().expect("a port is a number or a name");
        if let Ok(number) = name.parse() {
            return number;
        }
        items(self.pod_spec(), "/containers")
            .iter()
            .flat_map(|container| items(container, "/ports"))
            .find(|declared| text(declared, "/name") == Some(name))
            .and_then(|declared| declared.pointer("/containerPort")?.as_u64())
            .map_or_else(
                || panic!("{}: no container port named {name}", self.layout),
                |number| u16::try_from(number).unwrap(),
            )
    }
}
