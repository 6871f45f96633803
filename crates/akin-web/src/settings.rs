//! The service's settings, read from `AKIN_*` environment variables (and `DATABASE_URL`).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use akin_trainer::{DeviceChoice, ROUND_STEPS, WARMUP_STEPS};

/// Every setting of `akin serve`, with the defaults the README lists.
#[derive(Clone)]
pub struct Settings {
    /// `DATABASE_URL`: Postgres; the database is created when missing.
    pub database_url: String,
    /// `AKIN_BIND`: address to listen on; port 0 picks a free one.
    pub bind: SocketAddr,
    /// `AKIN_DATA_DIR`: image store and checkpoints.
    pub data_dir: PathBuf,
    /// `AKIN_ADMIN_TOKEN`: bearer token for admin routes; `None` refuses them all.
    pub admin_token: Option<String>,
    /// `AKIN_DEVICE`: auto, cpu or cuda.
    pub device: DeviceChoice,
    /// `AKIN_TRAINER_THREADS`: libtorch's thread cap.
    pub trainer_threads: usize,
    /// `AKIN_WARMUP_STEPS`: optimiser steps of a round that trains from scratch (a
    /// project's first, or one whose previous model this worker lacks).
    pub warmup_steps: usize,
    /// `AKIN_TRAIN_STEPS`: optimiser steps of a round warm-started from the previous one.
    pub train_steps: usize,
    /// `AKIN_QUERIES_PER_ROUND`: pairs a round writes.
    pub queries_per_round: usize,
    /// `AKIN_AUDIT_SHARE`: the share (0 to 0.5) of each round's pairs spent asking settled
    /// pairs again, so that wrong answers surface, while audits find something; see
    /// [`AuditBudget`](akin_core::consensus::AuditBudget) for how it shrinks and grows.
    pub audit_share: f64,
    /// `AKIN_KNOWN_PAIR_SHARE`: the share (0 to 0.5) of each round's pairs spent asking known
    /// pairs, planted among the others, so that each annotator is judged against answers
    /// that are known.
    pub known_pair_share: f64,
    /// `AKIN_LEASE_SECONDS`: how long an annotator holds a pair.
    pub lease_seconds: f64,
    /// `AKIN_WORKER`: whether `akin serve` runs a round worker in process (on or off).
    pub worker: bool,
    /// `AKIN_WORKER_NAME`: the name a worker claims rounds under; host name and process id
    /// when unset.
    pub worker_name: String,
    /// `AKIN_WORKER_POLL_SECONDS`: how often an idle worker looks for queued rounds.
    pub worker_poll_seconds: f64,
    /// `AKIN_ROUND_STALE_SECONDS`: a claimed round whose heartbeat is older than this is
    /// taken from its worker.
    pub round_stale_seconds: f64,
    /// `AKIN_ROUND_MAX_ATTEMPTS`: how many times a round is started before a stale one is
    /// failed instead of queued again.
    pub round_max_attempts: i32,
}

/// A setting that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{key}: cannot use {value:?}: {reason}")]
pub struct SettingsError {
    key: &'static str,
    value: String,
    reason: String,
}

impl Settings {
    /// Reads every setting from the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads every setting through `lookup`, which maps a key to its value if set.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let read = |key: &'static str, default: &str| {
            lookup(key)
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        Ok(Self {
            database_url: read("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/akin"),
            bind: parse("AKIN_BIND", read("AKIN_BIND", "127.0.0.1:8080"))?,
            data_dir: PathBuf::from(read("AKIN_DATA_DIR", "data")),
            admin_token: lookup("AKIN_ADMIN_TOKEN").filter(|t| !t.is_empty()),
            device: parse("AKIN_DEVICE", read("AKIN_DEVICE", "auto"))?,
            trainer_threads: parse("AKIN_TRAINER_THREADS", read("AKIN_TRAINER_THREADS", "2"))?,
            warmup_steps: steps(
                "AKIN_WARMUP_STEPS",
                read("AKIN_WARMUP_STEPS", &WARMUP_STEPS.to_string()),
            )?,
            train_steps: steps(
                "AKIN_TRAIN_STEPS",
                read("AKIN_TRAIN_STEPS", &ROUND_STEPS.to_string()),
            )?,
            queries_per_round: parse(
                "AKIN_QUERIES_PER_ROUND",
                read("AKIN_QUERIES_PER_ROUND", "200"),
            )?,
            audit_share: share_up_to_half("AKIN_AUDIT_SHARE", read("AKIN_AUDIT_SHARE", "0.05"))?,
            known_pair_share: share_up_to_half(
                "AKIN_KNOWN_PAIR_SHARE",
                read("AKIN_KNOWN_PAIR_SHARE", "0.05"),
            )?,
            lease_seconds: parse("AKIN_LEASE_SECONDS", read("AKIN_LEASE_SECONDS", "300"))?,
            worker: parse_switch("AKIN_WORKER", read("AKIN_WORKER", "on"))?,
            worker_name: lookup("AKIN_WORKER_NAME")
                .filter(|v| !v.is_empty())
                .unwrap_or_else(default_worker_name),
            worker_poll_seconds: positive(
                "AKIN_WORKER_POLL_SECONDS",
                read("AKIN_WORKER_POLL_SECONDS", "2"),
            )?,
            round_stale_seconds: positive(
                "AKIN_ROUND_STALE_SECONDS",
                read("AKIN_ROUND_STALE_SECONDS", "60"),
            )?,
            round_max_attempts: parse(
                "AKIN_ROUND_MAX_ATTEMPTS",
                read("AKIN_ROUND_MAX_ATTEMPTS", "2"),
            )
            .and_then(|n: i32| at_least_one("AKIN_ROUND_MAX_ATTEMPTS", n))?,
        })
    }
}

/// `host-pid`: unique among the workers that run at one time.
fn default_worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "akin".to_owned());
    format!("{host}-{}", std::process::id())
}

fn parse_switch(key: &'static str, value: String) -> Result<bool, SettingsError> {
    match value.as_str() {
        "on" | "true" | "1" => Ok(true),
        "off" | "false" | "0" => Ok(false),
        _ => Err(SettingsError {
            key,
            value,
            reason: "expected on or off".into(),
        }),
    }
}

/// The most optimiser steps a round may train: about two days on two CPU cores at 170 ms a
/// step, so a value above it is a typo (an extra digit or two) that would hold the worker for
/// weeks.
const MAX_STEPS: usize = 1_000_000;

/// A count of optimiser steps, from 1 (a round that trained nothing would store an untrained
/// model as if it had learned) to [`MAX_STEPS`].
fn steps(key: &'static str, value: String) -> Result<usize, SettingsError> {
    let steps = parse(key, value.clone())?;
    if (1..=MAX_STEPS).contains(&steps) {
        Ok(steps)
    } else {
        Err(SettingsError {
            key,
            value,
            reason: format!("expected 1 to {MAX_STEPS} steps"),
        })
    }
}

fn positive(key: &'static str, value: String) -> Result<f64, SettingsError> {
    let seconds: f64 = parse(key, value.clone())?;
    if seconds.is_finite() && seconds > 0.0 {
        Ok(seconds)
    } else {
        Err(SettingsError {
            key,
            value,
            reason: "expected a positive number of seconds".into(),
        })
    }
}

fn share_up_to_half(key: &'static str, value: String) -> Result<f64, SettingsError> {
    let share: f64 = parse(key, value.clone())?;
    if (0.0..=0.5).contains(&share) {
        Ok(share)
    } else {
        Err(SettingsError {
            key,
            value,
            reason: "expected a share from 0 to 0.5".into(),
        })
    }
}

fn at_least_one(key: &'static str, n: i32) -> Result<i32, SettingsError> {
    if n >= 1 {
        Ok(n)
    } else {
        Err(SettingsError {
            key,
            value: n.to_string(),
            reason: "expected at least 1".into(),
        })
    }
}

fn parse<T: FromStr>(key: &'static str, value: String) -> Result<T, SettingsError>
where
    T::Err: fmt::Display,
{
    value.parse().map_err(|e: T::Err| SettingsError {
        key,
        reason: e.to_string(),
        value,
    })
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &redact_password(&self.database_url))
            .field("bind", &self.bind)
            .field("data_dir", &self.data_dir)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .field("device", &self.device)
            .field("trainer_threads", &self.trainer_threads)
            .field("warmup_steps", &self.warmup_steps)
            .field("train_steps", &self.train_steps)
            .field("queries_per_round", &self.queries_per_round)
            .field("audit_share", &self.audit_share)
            .field("known_pair_share", &self.known_pair_share)
            .field("lease_seconds", &self.lease_seconds)
            .field("worker", &self.worker)
            .field("worker_name", &self.worker_name)
            .field("worker_poll_seconds", &self.worker_poll_seconds)
            .field("round_stale_seconds", &self.round_stale_seconds)
            .field("round_max_attempts", &self.round_max_attempts)
            .finish()
    }
}

/// `postgres://user:secret@host/db` becomes `postgres://user:<redacted>@host/db`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:<redacted>@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let settings = Settings::from_lookup(|_| None).expect("defaults parse");

        assert_eq!(settings.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.data_dir, PathBuf::from("data"));
        assert!(settings.admin_token.is_none());
        assert_eq!(settings.trainer_threads, 2);
        assert_eq!(settings.warmup_steps, 2000);
        assert_eq!(settings.train_steps, 900);
        assert!(settings.worker);
        assert_eq!(settings.round_stale_seconds, 60.0);
        assert_eq!(settings.round_max_attempts, 2);
        assert_eq!(settings.audit_share, 0.05);
        assert_eq!(settings.known_pair_share, 0.05);
        assert!(
            settings
                .worker_name
                .ends_with(&format!("-{}", std::process::id()))
        );
    }

    #[test]
    fn the_worker_can_be_switched_off_and_renamed() {
        let settings = Settings::from_lookup(|k| match k {
            "AKIN_WORKER" => Some("off".into()),
            "AKIN_WORKER_NAME" => Some("gpu-1".into()),
            _ => None,
        })
        .expect("parses");

        assert!(!settings.worker);
        assert_eq!(settings.worker_name, "gpu-1");
    }

    #[test]
    fn round_timings_must_be_positive() {
        let zero_stale =
            Settings::from_lookup(|k| (k == "AKIN_ROUND_STALE_SECONDS").then(|| "0".into()));
        let no_attempts =
            Settings::from_lookup(|k| (k == "AKIN_ROUND_MAX_ATTEMPTS").then(|| "0".into()));
        let bad_switch = Settings::from_lookup(|k| (k == "AKIN_WORKER").then(|| "maybe".into()));

        assert!(zero_stale.is_err());
        assert!(no_attempts.is_err());
        assert!(bad_switch.is_err());
    }

    #[test]
    fn a_round_trains_at_least_one_step() {
        let steps = |key: &'static str, value: &'static str| {
            Settings::from_lookup(|k| (k == key).then(|| value.into()))
                .map(|s| (s.warmup_steps, s.train_steps))
        };

        assert_eq!(steps("AKIN_WARMUP_STEPS", "30").expect("set"), (30, 900));
        assert_eq!(steps("AKIN_TRAIN_STEPS", "1").expect("set"), (2000, 1));
        assert!(steps("AKIN_WARMUP_STEPS", "0").is_err());
        assert!(steps("AKIN_TRAIN_STEPS", "0").is_err());
        assert!(steps("AKIN_TRAIN_STEPS", "-5").is_err());
        assert!(steps("AKIN_TRAIN_STEPS", "many").is_err());
        assert_eq!(
            steps("AKIN_WARMUP_STEPS", "1000000").expect("set"),
            (1_000_000, 900)
        );
        let typo = steps("AKIN_TRAIN_STEPS", "4294967296").expect_err("too many");
        assert!(typo.to_string().contains("1 to 1000000"), "{typo}");
    }

    #[test]
    fn the_audit_share_runs_from_none_to_half_a_round() {
        let share = |value: &'static str| {
            Settings::from_lookup(|k| (k == "AKIN_AUDIT_SHARE").then(|| value.into()))
                .map(|s| s.audit_share)
        };

        assert_eq!(share("0").expect("none"), 0.0);
        assert_eq!(share("0.5").expect("half"), 0.5);
        assert!(share("0.6").is_err());
        assert!(share("-0.1").is_err());
        assert!(share("NaN").is_err());
        assert!(share("some").is_err());
    }

    #[test]
    fn the_known_pair_share_runs_from_none_to_half_a_round() {
        let share = |value: &'static str| {
            Settings::from_lookup(|k| (k == "AKIN_KNOWN_PAIR_SHARE").then(|| value.into()))
                .map(|s| s.known_pair_share)
        };

        assert_eq!(share("0").expect("none"), 0.0);
        assert_eq!(share("0.5").expect("half"), 0.5);
        assert!(share("0.51").is_err());
        assert!(share("-0.1").is_err());
        assert!(share("NaN").is_err());
        assert!(share("few").is_err());
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let error = Settings::from_lookup(|k| (k == "AKIN_BIND").then(|| "nowhere".into()))
            .expect_err("an address without a port is refused");

        assert!(error.to_string().starts_with("AKIN_BIND"));
    }

    #[test]
    fn debug_output_hides_the_token_and_the_database_password() {
        let settings = Settings::from_lookup(|k| match k {
            "AKIN_ADMIN_TOKEN" => Some("hunter2-token".into()),
            "DATABASE_URL" => Some("postgres://akin:s3cret@db:5432/akin".into()),
            _ => None,
        })
        .expect("parses");

        let shown = format!("{settings:?}");

        assert!(!shown.contains("hunter2-token"));
        assert!(!shown.contains("s3cret"));
        assert!(shown.contains("postgres://akin:<redacted>@db:5432/akin"));
    }
}
