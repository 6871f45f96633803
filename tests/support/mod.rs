//! Running the real `akin` binary against a database of its own, for end-to-end tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

pub const ADMIN_TOKEN: &str = "e2e-admin-token";

/// A throwaway database and data folder, and the environment that points `akin` at them.
pub struct Sandbox {
    pub database: String,
    pub database_url: String,
    pub data_dir: tempfile::TempDir,
    pub extra_env: Vec<(String, String)>,
}

impl Sandbox {
    pub fn new(tag: &str) -> Self {
        let base = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/akin".to_owned());
        let database = format!("akin_{tag}_{}_{}", std::process::id(), nanos());
        let server = base
            .rsplit_once('/')
            .map_or(base.as_str(), |(server, _)| server);
        Self {
            database_url: format!("{server}/{database}"),
            database,
            data_dir: tempfile::tempdir().expect("temp dir"),
            extra_env: Vec::new(),
        }
    }

    /// A command running `akin ARGS` in this sandbox.
    pub fn akin(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_akin"));
        command
            .args(args)
            .env("DATABASE_URL", &self.database_url)
            .env("AKIN_DATA_DIR", self.data_dir.path())
            .env("AKIN_BIND", "127.0.0.1:0")
            .env("AKIN_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("AKIN_TRAIN_STEPS", "15")
            .env("AKIN_QUERIES_PER_ROUND", "40")
            .env("AKIN_TRAINER_THREADS", "2")
            .env("RUST_LOG", "warn")
            .envs(self.extra_env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Runs `akin ARGS` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.akin(args).output().expect("akin runs")
    }

    /// Runs `akin ARGS` and panics with its stderr unless it succeeds; returns stdout.
    pub fn run_ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "akin {args:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8 output")
    }

    /// Starts `akin serve` and waits for the line that names its address.
    pub async fn serve(&self) -> Server {
        let mut command = tokio::process::Command::from(self.akin(&["serve"]));
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("akin serve starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("akin serve prints its address within a minute")
            .expect("stdout readable")
            .expect("akin serve printed a line");
        let base = line
            .strip_prefix("akin listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Server {
            child,
            base,
            http: reqwest::Client::new(),
        }
    }

    /// Drops the sandbox's database.
    pub async fn drop_database(&self) {
        let admin_url = self.database_url.replace(&self.database, "postgres");
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .expect("admin connection");
        sqlx::raw_sql(&format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.database
        ))
        .execute(&mut admin)
        .await
        .expect("drop database");
    }
}

/// A running `akin serve`.
pub struct Server {
    child: Child,
    pub base: String,
    pub http: reqwest::Client,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let response = self
            .http
            .get(self.url(path))
            .send()
            .await
            .expect("GET sent");
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.expect("JSON body")
    }

    pub fn admin(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.bearer_auth(ADMIN_TOKEN)
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub async fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("still running");
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill runs");
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("akin serve stops within 30 s of SIGTERM")
            .expect("exit status")
    }
}

/// Python of the torch virtualenv that `.libtorch` points into (it has numpy).
pub fn venv_python() -> PathBuf {
    let libtorch = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.libtorch");
    let torch = std::fs::canonicalize(&libtorch).expect(".libtorch exists: run scripts/setup.sh");
    let venv = torch
        .ancestors()
        .nth(4)
        .expect("venv/lib/pythonX.Y/site-packages/torch");
    venv.join("bin/python")
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}
