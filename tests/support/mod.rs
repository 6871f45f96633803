//! Running the real `akin` binary against a database of its own, for end-to-end tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
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
            .env("AKIN_WARMUP_STEPS", "20")
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
            client: Client {
                base,
                http: reqwest::Client::new(),
            },
        }
    }

    /// Starts `akin worker` and waits for the line that says it is ready.
    pub async fn worker(&self) -> Worker {
        let mut command = tokio::process::Command::from(self.akin(&["worker"]));
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("akin worker starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("akin worker is ready within a minute")
            .expect("stdout readable")
            .expect("akin worker printed a line");
        assert!(
            line.starts_with("akin worker "),
            "unexpected first line {line:?}"
        );
        Worker { child }
    }

    /// A connection to the sandbox's database, for arranging what the API cannot.
    pub async fn connect(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(&self.database_url)
            .await
            .expect("sandbox connection")
    }

    /// Sets (or replaces) an environment variable of the next commands.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.extra_env.retain(|(k, _)| k != key);
        self.extra_env.push((key.to_owned(), value.to_owned()));
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

/// A running `akin serve`; its HTTP helpers come from [`Client`].
pub struct Server {
    child: Child,
    client: Client,
}

impl std::ops::Deref for Server {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Server {
    /// A client of this server that can move into a task.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub async fn stop(self) -> std::process::ExitStatus {
        terminate(self.child).await
    }

    /// Kills the server with SIGKILL, as a crash would, and waits until it is gone.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("SIGKILL delivered");
    }
}

/// HTTP access to a running server.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
}

impl Client {
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

    /// `PATCH /api/v1/projects/{project}` with `body`, as the admin.
    pub async fn patch_project(&self, project: &str, body: &Value) -> reqwest::Response {
        let url = self.url(&format!("/api/v1/projects/{project}"));
        self.admin(self.http.patch(url))
            .json(body)
            .send()
            .await
            .expect("PATCH sent")
    }

    /// `GET /api/v1/projects/{project}/queries/next` for `annotator`: the leased pair, or
    /// `None` on 204.
    pub async fn next_pair(&self, project: &str, annotator: &str) -> Option<Value> {
        let url = self.url(&format!(
            "/api/v1/projects/{project}/queries/next?annotator={annotator}"
        ));
        let response = self.http.get(url).send().await.expect("sent");
        match response.status() {
            StatusCode::NO_CONTENT => None,
            StatusCode::OK => Some(response.json().await.expect("json")),
            other => panic!("queries/next answered {other}"),
        }
    }

    /// Posts an answer and returns the status.
    pub async fn answer(
        &self,
        query_id: i64,
        verdict: &str,
        annotator: &str,
        key: &str,
    ) -> StatusCode {
        let body = json!({ "query_id": query_id, "verdict": verdict,
                           "idempotency_key": key, "annotator": annotator });
        let url = self.url("/api/v1/answers");
        let response = self.http.post(url).json(&body).send().await;
        response.expect("sent").status()
    }

    /// Leases and answers pairs as `annotator` with `verdict` until none is left; returns
    /// how many it answered.
    pub async fn answer_all(&self, project: &str, annotator: &str, verdict: &str) -> usize {
        let mut answered = 0;
        while let Some(pair) = self.next_pair(project, annotator).await {
            let id = pair["query_id"].as_i64().expect("query id");
            let key = format!("{annotator}-{id}");
            let status = self.answer(id, verdict, annotator, &key).await;
            assert_eq!(status, StatusCode::CREATED, "answer to query {id}");
            answered += 1;
        }
        answered
    }

    /// Starts a round of `project` as admin and returns it.
    pub async fn start_round(&self, project: &str) -> Value {
        let url = self.url(&format!("/api/v1/projects/{project}/rounds"));
        let response = self.admin(self.http.post(url)).send().await.expect("sent");
        assert_eq!(response.status(), StatusCode::CREATED, "starting a round");
        response.json().await.expect("json")
    }

    /// Polls a round until `done` holds for it (at most five minutes) and returns it.
    pub async fn wait_for_round(
        &self,
        project: &str,
        round_id: i64,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let path = format!("/api/v1/projects/{project}/rounds/{round_id}");
        for _ in 0..1200 {
            let round = self.get_json(&path).await;
            if done(&round) {
                return round;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let last = self.get_json(&path).await;
        panic!("round {round_id} is not {what} within five minutes: {last}");
    }

    /// Polls a round until it is open; panics with its reason if it fails.
    pub async fn wait_until_open(&self, project: &str, round_id: i64) -> Value {
        let round = self
            .wait_for_round(project, round_id, "open", |round| {
                matches!(round["state"].as_str(), Some("open" | "failed"))
            })
            .await;
        assert_eq!(
            round["state"], "open",
            "round {round_id} failed: {}",
            round["reason"]
        );
        round
    }
}

/// A running `akin worker`.
pub struct Worker {
    child: Child,
}

impl Worker {
    /// Sends SIGTERM and waits for a clean exit.
    pub async fn stop(self) -> std::process::ExitStatus {
        terminate(self.child).await
    }
}

async fn terminate(mut child: Child) -> std::process::ExitStatus {
    let pid = child.id().expect("still running");
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("akin stops within 30 s of SIGTERM")
        .expect("exit status")
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
