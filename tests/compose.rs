//! Checks docker-compose.yml without Docker: the file is parsed and its wiring asserted, so that
//! Postgres and the service keep fitting together as the file changes. Registered as a test of
//! the `akin` crate, which is why the file is found relative to that crate's manifest.

use serde_yaml::Value;

const COMPOSE_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docker-compose.yml");

fn compose() -> Value {
    let text = std::fs::read_to_string(COMPOSE_FILE)
        .unwrap_or_else(|error| panic!("cannot read {COMPOSE_FILE}: {error}"));
    serde_yaml::from_str(&text)
        .unwrap_or_else(|error| panic!("{COMPOSE_FILE} is not YAML: {error}"))
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    compose
        .get("services")
        .and_then(|services| services.get(name))
        .unwrap_or_else(|| panic!("docker-compose.yml has no service `{name}`"))
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// A service's environment as (name, value) pairs, from the map or the `NAME=value` list form.
/// The value is `None` where Compose copies it from the environment Compose runs in.
fn environment(service: &Value) -> Vec<(String, Option<String>)> {
    match service.get("environment") {
        Some(Value::Mapping(map)) => map
            .iter()
            .filter_map(|(name, value)| Some((name.as_str()?.to_owned(), scalar_text(value))))
            .collect(),
        Some(Value::Sequence(entries)) => entries
            .iter()
            .filter_map(Value::as_str)
            .map(|entry| match entry.split_once('=') {
                Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
                None => (entry.to_owned(), None),
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn env_value(service: &Value, name: &str) -> Option<String> {
    environment(service)
        .into_iter()
        .find(|(key, _)| key == name)
        .and_then(|(_, value)| value)
}

/// The named volumes a service mounts, as (volume, container path); bind mounts are left out.
fn named_volume_mounts(service: &Value) -> Vec<(String, String)> {
    let Some(mounts) = service.get("volumes").and_then(Value::as_sequence) else {
        return Vec::new();
    };
    mounts.iter().filter_map(named_volume_mount).collect()
}

fn named_volume_mount(mount: &Value) -> Option<(String, String)> {
    if let Some(short) = mount.as_str() {
        let mut parts = short.split(':');
        let (source, target) = (parts.next()?, parts.next()?);
        let is_path = source.starts_with(['.', '/', '~', '$']);
        return (!is_path).then(|| (source.to_owned(), target.to_owned()));
    }
    let kind = mount
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("volume");
    let source = mount.get("source").and_then(Value::as_str)?;
    let target = mount.get("target").and_then(Value::as_str)?;
    (kind == "volume").then(|| (source.to_owned(), target.to_owned()))
}

/// (host port, container port) of each `ports` entry, in short or long syntax.
fn published_ports(service: &Value) -> Vec<(Option<u16>, u16)> {
    let Some(entries) = service.get("ports").and_then(Value::as_sequence) else {
        return Vec::new();
    };
    entries.iter().filter_map(published_port).collect()
}

fn published_port(entry: &Value) -> Option<(Option<u16>, u16)> {
    if let Some(target) = entry.get("target") {
        let host = entry.get("published").and_then(scalar_text);
        return Some((host?.parse().ok(), scalar_text(target)?.parse().ok()?));
    }
    let text = scalar_text(entry)?;
    let without_protocol = text.split('/').next()?;
    let parts: Vec<&str> = without_protocol.split(':').collect();
    let container = parts.last()?.parse().ok()?;
    let host = parts
        .len()
        .checked_sub(2)
        .and_then(|index| parts[index].parse().ok());
    Some((host, container))
}

/// The health check command of a service as one line of text.
fn healthcheck_command(service: &Value) -> String {
    match service
        .get("healthcheck")
        .and_then(|check| check.get("test"))
    {
        Some(Value::Sequence(words)) => words
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        Some(Value::String(line)) => line.clone(),
        _ => String::new(),
    }
}

/// The host part of a `postgres://user:password@host:port/db` URL.
fn host_of(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?']).next()?;
    let host_and_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    host_and_port.split(':').next()
}

#[test]
fn postgres_and_akin_are_both_services() {
    let compose = compose();

    let services = compose
        .get("services")
        .and_then(Value::as_mapping)
        .expect("a services map");

    assert!(services.contains_key("postgres"), "no postgres service");
    assert!(services.contains_key("akin"), "no akin service");
}

#[test]
fn akin_publishes_port_8080_on_the_host() {
    let compose = compose();

    let ports = published_ports(service(&compose, "akin"));

    assert!(
        ports.contains(&(Some(8080), 8080)),
        "akin publishes {ports:?}, not 8080:8080"
    );
}

#[test]
fn akin_listens_inside_its_container_on_the_published_port() {
    let compose = compose();

    let bind = env_value(service(&compose, "akin"), "AKIN_BIND");

    assert_eq!(bind.as_deref(), Some("0.0.0.0:8080"));
}

#[test]
fn every_top_level_volume_is_mounted_and_every_named_mount_is_declared() {
    let compose = compose();
    let declared: Vec<String> = compose
        .get("volumes")
        .and_then(Value::as_mapping)
        .expect("a top-level volumes map")
        .keys()
        .filter_map(|name| name.as_str().map(str::to_owned))
        .collect();

    let services = compose
        .get("services")
        .and_then(Value::as_mapping)
        .expect("a services map");
    let mounted: Vec<String> = services
        .values()
        .flat_map(named_volume_mounts)
        .map(|(volume, _)| volume)
        .collect();

    assert!(!declared.is_empty(), "no volumes declared at top level");
    for volume in &declared {
        assert!(
            mounted.contains(volume),
            "volume `{volume}` is declared but never mounted"
        );
    }
    for volume in &mounted {
        assert!(
            declared.contains(volume),
            "volume `{volume}` is mounted but not declared"
        );
    }
}

#[test]
fn postgres_and_akin_keep_their_data_on_named_volumes() {
    let compose = compose();
    let akin = service(&compose, "akin");
    let data_dir = env_value(akin, "AKIN_DATA_DIR").expect("AKIN_DATA_DIR is set for akin");

    let postgres_targets: Vec<String> = named_volume_mounts(service(&compose, "postgres"))
        .into_iter()
        .map(|(_, target)| target)
        .collect();
    let akin_targets: Vec<String> = named_volume_mounts(akin)
        .into_iter()
        .map(|(_, target)| target)
        .collect();

    assert!(
        postgres_targets
            .iter()
            .any(|target| target == "/var/lib/postgresql/data")
    );
    assert!(
        akin_targets.contains(&data_dir),
        "{data_dir} is not on a named volume"
    );
}

#[test]
fn the_postgres_healthcheck_runs_pg_isready() {
    let compose = compose();

    let command = healthcheck_command(service(&compose, "postgres"));

    assert!(
        command.contains("pg_isready"),
        "postgres health check is `{command}`"
    );
}

#[test]
fn the_akin_healthcheck_probes_healthz() {
    let compose = compose();

    let command = healthcheck_command(service(&compose, "akin"));

    assert!(
        command.contains("/healthz"),
        "akin health check is `{command}`"
    );
}

#[test]
fn akin_starts_only_once_postgres_is_healthy() {
    let compose = compose();

    let condition = service(&compose, "akin")
        .get("depends_on")
        .and_then(|depends_on| depends_on.get("postgres"))
        .and_then(|postgres| postgres.get("condition"))
        .and_then(Value::as_str);

    assert_eq!(condition, Some("service_healthy"));
}

#[test]
fn the_database_url_points_at_the_postgres_service() {
    let compose = compose();

    let url = env_value(service(&compose, "akin"), "DATABASE_URL").expect("DATABASE_URL is set");

    assert_eq!(host_of(&url), Some("postgres"), "DATABASE_URL is {url}");
}

#[test]
fn the_admin_token_comes_from_the_environment_and_is_never_written_in_the_file() {
    let compose = compose();

    let token = environment(service(&compose, "akin"))
        .into_iter()
        .find(|(name, _)| name == "AKIN_ADMIN_TOKEN")
        .map(|(_, value)| value)
        .expect("AKIN_ADMIN_TOKEN is passed to akin");

    let from_environment = token
        .as_deref()
        .is_none_or(|value| value.starts_with("${AKIN_ADMIN_TOKEN"));
    assert!(
        from_environment,
        "AKIN_ADMIN_TOKEN is hard-coded as {token:?}"
    );
}

#[test]
fn akin_is_built_from_the_dockerfile_next_to_the_compose_file() {
    let compose = compose();

    let build = service(&compose, "akin")
        .get("build")
        .expect("akin has a build section");
    let dockerfile = build
        .get("dockerfile")
        .and_then(Value::as_str)
        .unwrap_or("Dockerfile");
    let context = build
        .as_str()
        .or_else(|| build.get("context").and_then(Value::as_str));

    assert_eq!(context, Some("."));
    let path = std::path::Path::new(COMPOSE_FILE).with_file_name(dockerfile);
    assert!(path.is_file(), "{} does not exist", path.display());
}

#[test]
fn host_of_reads_the_host_between_the_credentials_and_the_port() {
    let url = "postgres://akin:p%40ss@db.internal:5432/akin?sslmode=disable";

    let host = host_of(url);

    assert_eq!(host, Some("db.internal"));
}
