//! Both sides of a service spec, normalised.

use std::collections::{BTreeMap, BTreeSet};

use bollard::models::ContainerInspectResponse;
use serde_json::{Value, json};

use super::normal::normal_image;
use super::*;

#[test]
fn compose_config_is_normalised() {
    let config = json!({"services": {"web": {
        "image": "nginx:1.27",
        "command": ["sh", "-c", "echo $$HOME"],
        "environment": {"A": "1", "N": 2},
        "ports": ["127.0.0.1:8080:80/tcp", "9000", {"target": 53, "published": "5353", "protocol": "udp"}],
        "volumes": ["/srv/site:/usr/share/nginx/html:ro", "data:/data:rw", {"type": "bind", "source": "/etc/x", "target": "/x", "read_only": true}],
        "networks": {"front": null, "back": {}},
        "labels": ["team=web"],
        "restart": "unless-stopped",
        "healthcheck": {"test": ["CMD", "true"]}
    }}});
    let env_files = BTreeMap::from([(
        "web".to_string(),
        BTreeMap::from([
            ("A".to_string(), "0".to_string()),
            ("B".to_string(), "x".to_string()),
        ]),
    )]);
    let spec = &desired_services(&config, "proj", &env_files)["web"];
    assert_eq!(
        spec.command.as_deref(),
        Some(&["sh".to_string(), "-c".into(), "echo $HOME".into()][..])
    );
    assert_eq!(
        spec.environment,
        BTreeMap::from([
            ("A".into(), "1".into()),
            ("B".into(), "x".into()),
            ("N".into(), "2".into())
        ]),
        "environment wins over env_file"
    );
    assert_eq!(
        spec.ports,
        ["127.0.0.1:8080:80/tcp", ":5353:53/udp", "::9000/tcp"]
    );
    assert_eq!(
        spec.volumes,
        [
            "bind /etc/x:/x:ro",
            "bind /srv/site:/usr/share/nginx/html:ro",
            "volume proj_data:/data:rw"
        ]
    );
    assert_eq!(spec.networks, ["back", "front"]);
    assert_eq!(spec.labels, BTreeMap::from([("team".into(), "web".into())]));
    assert_eq!(spec.restart, "unless-stopped");
    assert_eq!(spec.state, "running");
}

#[test]
fn network_mode_and_defaults() {
    let config =
        json!({"services": {"a": {"image": "x", "network_mode": "bridge"}, "b": {"image": "x"}}});
    let specs = desired_services(&config, "p", &BTreeMap::new());
    assert_eq!(specs["a"].networks, ["mode:bridge"]);
    assert_eq!(specs["b"].networks, ["default"]);
    assert_eq!(specs["b"].command, None, "left to the image");
    assert_eq!(specs["b"].restart, "no");
}

#[test]
fn env_files_are_read_like_compose() {
    let text = "# comment\nA=1\nexport B=\"two words\"\nC='x'\n\nD=\n";
    assert_eq!(
        parse_env_file(text),
        BTreeMap::from([
            ("A".into(), "1".into()),
            ("B".into(), "two words".into()),
            ("C".into(), "x".into()),
            ("D".into(), String::new())
        ])
    );
}

#[test]
fn strings_are_split_like_a_shell_and_health_strings_run_in_one() {
    // What compose v1 prints for `command: sh -c "trap 'exit 0' TERM; sleep 1"`.
    let config = json!({"services": {"a": {
        "image": "x",
        "command": "sh -c \"trap 'exit 0' TERM; sleep 1\"",
        "healthcheck": {"test": "wget -q -O- http://localhost/ || exit 1"}
    }}});
    let spec = &desired_services(&config, "p", &BTreeMap::new())["a"];
    assert_eq!(
        spec.command.as_deref(),
        Some(
            &[
                "sh".to_string(),
                "-c".into(),
                "trap 'exit 0' TERM; sleep 1".into()
            ][..]
        )
    );
    assert_eq!(
        spec.healthcheck.as_deref(),
        Some(
            &[
                "CMD-SHELL".to_string(),
                "wget -q -O- http://localhost/ || exit 1".into()
            ][..]
        )
    );
}

#[rstest::rstest]
#[case("nginx", "nginx:latest")]
#[case("docker.io/library/nginx:1.27", "nginx:1.27")]
#[case("library/redis", "redis:latest")]
#[case(
    "ghcr.io/immich-app/immich-server:v1",
    "ghcr.io/immich-app/immich-server:v1"
)]
#[case("localhost:5000/app", "localhost:5000/app:latest")]
#[case("postgres@sha256:abc", "postgres@sha256:abc")]
fn image_references_are_compared_in_one_form(#[case] written: &str, #[case] normal: &str) {
    assert_eq!(normal_image(written), normal);
}

#[test]
fn named_resources_secrets_and_configs_resolve_like_compose() {
    // As compose v2 prints it: absolute file paths, names of every resource.
    let config = json!({
        "services": {"web": {
            "image": "x",
            "volumes": [{"type": "volume", "source": "data", "target": "/data"},
                        {"type": "volume", "source": "shared", "target": "/shared"}],
            "networks": {"default": null, "proxy": null},
            "secrets": ["db_password", {"source": "api", "target": "api.key"}],
            "configs": [{"source": "site", "target": "/etc/site.conf"}, "plain"]
        }},
        "volumes": {"data": {"name": "p_data"}, "shared": {"external": true}},
        "networks": {"default": {"name": "p_default"}, "proxy": {"name": "traefik_proxy", "external": true}},
        "secrets": {"db_password": {"file": "/w/db.txt"}, "api": {"file": "/w/api.txt"}},
        "configs": {"site": {"file": "/w/site.conf"}, "plain": {"content": "x"}}
    });
    let spec = &desired_services(&config, "p", &BTreeMap::new())["web"];
    assert_eq!(
        spec.volumes,
        [
            "bind /w/api.txt:/run/secrets/api.key:ro",
            "bind /w/db.txt:/run/secrets/db_password:ro",
            "bind /w/site.conf:/etc/site.conf:ro",
            "volume p_data:/data:rw",
            "volume shared:/shared:rw",
        ]
    );
    assert_eq!(spec.networks, ["default", "traefik_proxy"]);
}

#[test]
fn what_the_image_sets_is_not_a_difference_unless_the_service_sets_it() {
    let image = ImageDefaults {
        env: BTreeMap::from([("PATH".into(), "/bin".into()), ("PORT".into(), "80".into())]),
        labels: BTreeMap::from([("org.opencontainers.image.title".into(), "t".into())]),
        volumes: BTreeSet::from(["/data".to_string()]),
    };
    let mut actual = ServiceSpec {
        environment: BTreeMap::from([
            ("PATH".into(), "/bin".into()),
            ("PORT".into(), "80".into()),
            ("MODE".into(), "prod".into()),
        ]),
        labels: BTreeMap::from([("org.opencontainers.image.title".into(), "t".into())]),
        volumes: vec!["volume :/data:rw".into(), "volume :/cache:rw".into()],
        ..ServiceSpec::default()
    };
    let desired = ServiceSpec {
        environment: BTreeMap::from([("PORT".into(), "80".into()), ("MODE".into(), "prod".into())]),
        ..ServiceSpec::default()
    };
    without_inherited(&mut actual, Some(&desired), &image);
    assert_eq!(
        actual.environment, desired.environment,
        "PATH came from the image; PORT is set by the service too"
    );
    assert!(actual.labels.is_empty());
    assert_eq!(
        actual.volumes,
        ["volume :/cache:rw"],
        "only the image's VOLUME is inherited"
    );
}

#[test]
fn container_inspect_is_normalised_like_the_compose_side() {
    let anonymous = "a".repeat(64);
    let inspect: ContainerInspectResponse = serde_json::from_value(json!({
        "Config": {
            "Image": "docker.io/library/nginx",
            "Cmd": ["nginx", "-g", "daemon off;"],
            "Env": ["A=1", "affinity:container==abc", "EMPTY"],
            "Labels": {"team": "web", "com.docker.compose.service": "web"},
            "Healthcheck": {"Test": ["CMD", "true"]}
        },
        "HostConfig": {
            "PortBindings": {
                "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
                "53": [{"HostIp": "", "HostPort": "5353"}]
            },
            "NetworkMode": "proj_default",
            "RestartPolicy": {"Name": "unless-stopped"}
        },
        "Mounts": [
            {"Type": "bind", "Source": "/srv", "Destination": "/usr/share/nginx/html", "RW": false},
            {"Type": "volume", "Name": "proj_data", "Destination": "/data", "RW": true},
            {"Type": "volume", "Name": anonymous, "Destination": "/cache"},
            {"Type": "tmpfs", "Destination": "/tmp"}
        ],
        "NetworkSettings": {"Networks": {"proj_default": {}, "traefik_proxy": {}}},
        "State": {"Status": "running"}
    }))
    .expect("inspect JSON");
    let expected = ServiceSpec {
        image: Some("nginx:latest".into()),
        command: Some(vec!["nginx".into(), "-g".into(), "daemon off;".into()]),
        entrypoint: None,
        environment: BTreeMap::from([("A".into(), "1".into()), ("EMPTY".into(), String::new())]),
        ports: vec!["127.0.0.1:8080:80/tcp".into(), ":5353:53/tcp".into()],
        volumes: [
            "bind /srv:/usr/share/nginx/html:ro",
            "tmpfs :/tmp:rw",
            "volume :/cache:rw",
            "volume proj_data:/data:rw",
        ]
        .map(String::from)
        .to_vec(),
        networks: vec!["default".into(), "traefik_proxy".into()],
        labels: BTreeMap::from([("team".into(), "web".into())]),
        restart: "unless-stopped".into(),
        healthcheck: Some(vec!["CMD".into(), "true".into()]),
        state: "running".into(),
        privileges: Vec::new(),
    };
    assert_eq!(actual_service(&inspect, "proj"), expected);
}

#[rstest::rstest]
#[case("host", json!({}), &["mode:host"])]
#[case("container:abc", json!({}), &["mode:container"])]
#[case("default", json!({"Networks": {"p_default": {}}}), &["default"])]
fn container_network_modes(#[case] mode: &str, #[case] settings: Value, #[case] expected: &[&str]) {
    let inspect: ContainerInspectResponse = serde_json::from_value(json!({
        "HostConfig": {"NetworkMode": mode},
        "NetworkSettings": settings
    }))
    .expect("inspect JSON");
    let spec = actual_service(&inspect, "p");
    assert_eq!(spec.networks, expected);
    assert_eq!(spec.restart, "no");
    assert_eq!(spec.state, "unknown");
}
