//! `deploy/kubernetes/<layout>/`: every manifest parses, and the connector's container is
//! wired to what the connector really does: its config loads with the environment the pod
//! gives it, probes ask routes it serves on the port it listens on, the store and the key
//! are on the volumes the config names, and its command line parses.

use std::collections::BTreeSet;

use serde_json::Value;

use super::manifests::{
    connector_pods, documents, items, text, yaml_files, ConnectorPod, Manifests,
    CONNECTOR_CONTAINER, LAYOUTS,
};
use super::{assert_binary_accepts, config_reads_env_var, deploy_dir, store_dir, CONFIG_FILE_VAR};
use crate::support::server::{get, start};
use byoc_connector::auth::AuthConfig;
use byoc_connector::config::StoreKind;

#[test]
fn every_manifest_parses_and_says_what_it_is() {
    let all = documents("");
    assert!(!all.is_empty());
    for layout in LAYOUTS {
        assert!(
            all.iter().any(|document| document.file.starts_with(layout)),
            "no manifests for {layout}"
        );
    }
    for document in &all {
        let kind = text(&document.value, "/kind");
        assert!(
            text(&document.value, "/apiVersion").is_some(),
            "{}: no apiVersion",
            document.file
        );
        assert!(kind.is_some(), "{}: no kind", document.file);
        if kind != Some("Kustomization") {
            assert!(
                text(&document.value, "/metadata/name").is_some(),
                "{}: no metadata.name",
                document.file
            );
        }
    }
}

#[test]
fn each_kustomization_lists_every_manifest_beside_it() {
    for layout in LAYOUTS {
        let dir = deploy_dir().join("kubernetes").join(layout);
        let kustomization = documents(layout)
            .into_iter()
            .find(|document| text(&document.value, "/kind") == Some("Kustomization"))
            .unwrap_or_else(|| panic!("{layout}: no kustomization.yaml"));
        let listed: BTreeSet<String> = items(&kustomization.value, "/resources")
            .iter()
            .map(|resource| resource.as_str().unwrap().to_owned())
            .collect();
        let present: BTreeSet<String> = yaml_files(&dir)
            .iter()
            .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
            .filter(|name| name != "kustomization.yaml")
            .collect();
        assert_eq!(
            listed, present,
            "{layout}: kustomization resources vs files"
        );
    }
}

#[test]
fn the_connector_config_loads_from_the_configmap_with_the_pods_environment() {
    for pod in connector_pods() {
        // `load` resolved $BYOC_CONFIG through the volume mounts to a ConfigMap key and loaded
        // it with the real loader; check it is that file, not a default.
        assert!(
            pod.manifests.config_path(&pod.env).is_absolute(),
            "{}",
            pod.layout
        );
        assert!(!pod.config.pubsub.topic.is_empty(), "{}", pod.layout);
    }
}

#[test]
fn a_sidecar_api_reachable_from_other_pods_takes_its_token_from_a_secret() {
    for pod in connector_pods() {
        if pod.config.server.sidecar_listen.ip().is_loopback() {
            continue;
        }
        assert!(
            pod.config.server.sidecar_token.is_some(),
            "{}: no sidecar token",
            pod.layout
        );
        let from_secret = items(&pod.manifests.container, "/env")
            .iter()
            .any(|variable| {
                text(variable, "/name") == Some("BYOC__SERVER__SIDECAR_TOKEN")
                    && variable.pointer("/valueFrom/secretKeyRef").is_some()
            });
        assert!(
            from_secret,
            "{}: the token is not from a Secret",
            pod.layout
        );
    }
}

#[test]
fn every_environment_variable_of_the_connector_is_one_the_config_reads() {
    for pod in connector_pods() {
        for (name, _) in &pod.env {
            assert!(
                config_reads_env_var(name),
                "{}: env {name} is neither {CONFIG_FILE_VAR} nor BYOC__SECTION__KEY of a real key",
                pod.layout
            );
        }
    }
}

#[tokio::test]
async fn probes_ask_routes_the_connector_serves_on_the_port_it_listens_on() {
    let server = start().await;
    server.readiness.set_ready(true);
    for pod in connector_pods() {
        let layout = pod.layout;
        // The kubelet probes the pod's IP, so a loopback-only listener would fail every probe.
        assert!(
            pod.config.server.listen.ip().is_unspecified(),
            "{layout}: server.listen {} is not reachable from the kubelet",
            pod.config.server.listen
        );
        for probe in ["livenessProbe", "readinessProbe"] {
            let http_get = pod
                .manifests
                .container
                .pointer(&format!("/{probe}/httpGet"))
                .unwrap_or_else(|| panic!("{layout}: no {probe} httpGet"));
            let path = text(http_get, "/path").unwrap();
            let port = pod.manifests.resolve_port(http_get.get("port").unwrap());

            assert_eq!(
                port,
                pod.listen_port(),
                "{layout}: {probe} port vs server.listen"
            );
            assert_eq!(
                get(server.address, path).await.status,
                200,
                "{layout}: {probe} path {path}"
            );
        }
        let annotations = pod
            .manifests
            .deployment
            .pointer("/spec/template/metadata/annotations");
        if let Some(scrape_port) = annotations.and_then(|found| found.get("prometheus.io/port")) {
            assert_eq!(
                pod.manifests.resolve_port(scrape_port),
                pod.listen_port(),
                "{layout}: scrape port"
            );
            let path = text(annotations.unwrap(), "/prometheus.io~1path").unwrap_or("/metrics");
            assert_eq!(
                get(server.address, path).await.status,
                200,
                "{layout}: scrape path"
            );
        }
    }
    server.shutdown.cancel();
}

#[test]
fn every_port_aimed_at_the_connector_is_one_it_listens_on_beyond_loopback() {
    for pod in connector_pods() {
        let layout = pod.layout;
        let declared: Vec<u16> = items(&pod.manifests.container, "/ports")
            .iter()
            .map(|port| {
                pod.manifests
                    .resolve_port(port.get("containerPort").unwrap())
            })
            .collect();
        assert_eq!(
            declared,
            pod.exposed_ports(),
            "{layout}: containerPort vs server.listen and a non-loopback server.sidecar_listen"
        );
        let labels = pod
            .manifests
            .deployment
            .pointer("/spec/template/metadata/labels")
            .unwrap();
        let selects_pod = |selector: &Value| {
            selector.as_object().is_some_and(|wanted| {
                wanted
                    .iter()
                    .all(|(key, value)| labels.get(key) == Some(value))
            })
        };
        for service in pod
            .manifests
            .of_kind("Service")
            .filter(|service| selects_pod(&service["spec"]["selector"]))
        {
            for port in items(service, "/spec/ports") {
                let target = port.get("targetPort").or(port.get("port")).unwrap();
                assert!(
                    pod.exposed_ports()
                        .contains(&pod.manifests.resolve_port(target)),
                    "{layout}: Service targetPort"
                );
            }
        }
        for policy in pod
            .manifests
            .of_kind("NetworkPolicy")
            .filter(|policy| selects_pod(&policy["spec"]["podSelector"]["matchLabels"]))
        {
            for rule in items(policy, "/spec/ingress") {
                for port in items(rule, "/ports") {
                    // Resolving panics on a name no container declares.
                    pod.manifests.resolve_port(port.get("port").unwrap());
                }
            }
        }
    }
}

#[test]
fn one_replica_is_recreated_with_the_store_on_a_persistent_volume() {
    for pod in connector_pods() {
        let layout = pod.layout;
        if pod.config.ha.enabled {
            continue;
        }
        // Two connectors would both subscribe and deliver every event twice.
        assert_eq!(
            pod.manifests.deployment.pointer("/spec/replicas"),
            Some(&Value::from(1)),
            "{layout}"
        );
        assert_eq!(
            text(&pod.manifests.deployment, "/spec/strategy/type"),
            Some("Recreate"),
            "{layout}"
        );
        let store = pod.config.store.path.clone();
        let (volume, _) = pod.manifests.volume_for(&store);
        let claim = text(volume, "/persistentVolumeClaim/claimName").unwrap_or_else(|| {
            panic!(
                "{layout}: the store {} is not on a PersistentVolumeClaim",
                store.display()
            )
        });
        pod.manifests.named("PersistentVolumeClaim", claim);
        let (_, inside) = pod.manifests.volume_for(&store_dir(&pod.config));
        assert_eq!(
            inside, "",
            "{layout}: the claim is mounted at the store's directory"
        );
    }
}

#[test]
fn the_private_key_file_is_a_key_of_a_mounted_secret() {
    for pod in connector_pods() {
        let AuthConfig::JwtBearer(jwt) = &pod.config.auth else {
            continue;
        };
        let (volume, inside) = pod.manifests.volume_for(&jwt.private_key_file);
        let source = volume
            .get("secret")
            .unwrap_or_else(|| panic!("{}: the key is not on a Secret volume", pod.layout));
        let key = Manifests::key_of(source, &inside);
        let pem = pod
            .manifests
            .data("Secret", text(source, "/secretName").unwrap(), &key);
        assert!(
            pem.contains("PRIVATE KEY"),
            "{}: {key} is not a PEM private key",
            pod.layout
        );
    }
}

#[test]
fn the_container_runs_this_version_with_a_command_line_the_binary_accepts() {
    for pod in connector_pods() {
        let arguments = pod.manifests.arguments();
        assert_eq!(
            arguments.first().map(String::as_str),
            Some("run"),
            "{}",
            pod.layout
        );
        assert_binary_accepts(&arguments, &format!("kubernetes/{} container", pod.layout));
        let image = text(&pod.manifests.container, "/image").unwrap();
        assert!(
            image.ends_with(&format!(":{}", env!("CARGO_PKG_VERSION"))),
            "{}: image {image} is not this version",
            pod.layout
        );
    }
}

#[test]
fn shutdown_outlasts_the_drain_on_a_hardened_container() {
    for pod in connector_pods() {
        let layout = pod.layout;
        let termination_grace = pod
            .manifests
            .pod_spec()
            .pointer("/terminationGracePeriodSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(30);
        assert!(
            termination_grace > pod.config.pipeline.grace_secs,
            "{layout}: terminationGracePeriodSeconds {termination_grace} must exceed pipeline.grace_secs {}",
            pod.config.pipeline.grace_secs
        );
        let setting = |name: &str| {
            pod.manifests
                .container
                .pointer(&format!("/securityContext/{name}"))
                .or_else(|| {
                    pod.manifests
                        .pod_spec()
                        .pointer(&format!("/securityContext/{name}"))
                })
                .and_then(Value::as_bool)
        };
        assert_eq!(setting("readOnlyRootFilesystem"), Some(true), "{layout}");
        assert_eq!(setting("runAsNonRoot"), Some(true), "{layout}");
        assert_eq!(setting("allowPrivilegeEscalation"), Some(false), "{layout}");
    }
}

#[test]
fn in_the_sidecar_layout_the_app_and_the_connector_talk_over_localhost() {
    let pod = ConnectorPod::load("sidecar");
    let app_ports: BTreeSet<u16> = items(pod.manifests.pod_spec(), "/containers")
        .iter()
        .filter(|container| text(container, "/name") != Some(CONNECTOR_CONTAINER))
        .flat_map(|container| items(container, "/ports"))
        .map(|port| {
            pod.manifests
                .resolve_port(port.get("containerPort").unwrap())
        })
        .collect();
    let urls = [
        pod.config.delivery.url.clone(),
        pod.config.routing.url.clone(),
    ];
    for url in urls.into_iter().flatten() {
        let parsed = reqwest::Url::parse(&url).unwrap();
        assert_eq!(parsed.host_str(), Some("127.0.0.1"), "{url}");
        assert!(
            app_ports.contains(&parsed.port().unwrap()),
            "{url}: no app container listens there"
        );
    }
    assert!(pod.config.server.sidecar_listen.ip().is_loopback());
    let connector_address = format!("127.0.0.1:{}", pod.sidecar_port());
    let app_env_points_at_connector = items(pod.manifests.pod_spec(), "/containers")
        .iter()
        .filter(|container| text(container, "/name") != Some(CONNECTOR_CONTAINER))
        .flat_map(|container| items(container, "/env"))
        .filter_map(|variable| text(variable, "/value"))
        .any(|value| value.contains(&connector_address));
    assert!(
        app_env_points_at_connector,
        "the app is not told the connector's address {connector_address}"
    );
}

#[test]
fn the_ha_layout_runs_standbys_on_postgres_with_a_disruption_budget() {
    let pod = ConnectorPod::load("ha");
    let deployment = &pod.manifests.deployment;
    assert!(pod.config.ha.enabled);
    assert_eq!(pod.config.store.kind, StoreKind::Postgres);
    let replicas = deployment.pointer("/spec/replicas").and_then(Value::as_u64);
    assert!(matches!(replicas, Some(2 | 3)), "replicas {replicas:?}");
    // One pod at a time, so a standby is always there to take over.
    assert_eq!(
        text(deployment, "/spec/strategy/type"),
        Some("RollingUpdate")
    );
    assert_eq!(
        deployment.pointer("/spec/strategy/rollingUpdate/maxUnavailable"),
        Some(&Value::from(1))
    );
    let labels = deployment
        .pointer("/spec/template/metadata/labels")
        .unwrap();
    let budgets: Vec<&Value> = pod
        .manifests
        .of_kind("PodDisruptionBudget")
        .filter(|budget| {
            budget["spec"]["selector"]["matchLabels"]
                .as_object()
                .is_some_and(|wanted| {
                    wanted
                        .iter()
                        .all(|(key, value)| labels.get(key) == Some(value))
                })
        })
        .collect();
    assert_eq!(budgets.len(), 1, "one PodDisruptionBudget selects the pods");
    let budget = budgets[0];
    let keeps_one = match (
        budget
            .pointer("/spec/maxUnavailable")
            .and_then(Value::as_u64),
        budget.pointer("/spec/minAvailable").and_then(Value::as_u64),
    ) {
        (Some(max_unavailable), None) => {
            max_unavailable >= 1 && max_unavailable < replicas.unwrap()
        }
        (None, Some(min_available)) => min_available >= 1 && min_available < replicas.unwrap(),
        other => panic!("the budget sets one of maxUnavailable or minAvailable: {other:?}"),
    };
    assert!(
        keeps_one,
        "the budget lets drains proceed yet keeps a replica"
    );
    // The URL carries the password: only from a Secret.
    let from_secret = |name: &str| {
        items(&pod.manifests.container, "/env")
            .iter()
            .any(|variable| {
                text(variable, "/name") == Some(name)
                    && variable.pointer("/valueFrom/secretKeyRef").is_some()
            })
    };
    assert!(from_secret("BYOC__STORE__URL"));
    assert!(pod.config.store.url.is_some());
    // Each replica is named after its pod in logs and in the lease row.
    let replica_id = pod.config.ha.replica_id();
    assert!(replica_id.starts_with("byoc-connector-ha-"), "{replica_id}");
    // No volume for state: it is all in PostgreSQL.
    assert!(pod
        .manifests
        .of_kind("PersistentVolumeClaim")
        .next()
        .is_none());
    // A release at shutdown needs the drain to end before the kubelet's SIGKILL.
    let termination_grace = pod
        .manifests
        .pod_spec()
        .pointer("/terminationGracePeriodSeconds")
        .and_then(Value::as_u64)
        .unwrap_or(30);
    assert!(termination_grace > pod.config.pipeline.grace_secs + 2);
}
