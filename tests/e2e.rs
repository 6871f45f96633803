//! End-to-end: the real `akin` binary against real Postgres and libtorch, driven over HTTP
//! from import to export.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{ADMIN_TOKEN, Sandbox, Server};

const PROJECT: &str = "e2e";
const ITEMS: usize = 300;

async fn next_pair(server: &Server, annotator: &str) -> Option<Value> {
    let url = server.url(&format!(
        "/api/v1/projects/{PROJECT}/queries/next?annotator={annotator}"
    ));
    let response = server.http.get(url).send().await.expect("sent");
    match response.status() {
        StatusCode::NO_CONTENT => None,
        StatusCode::OK => Some(response.json().await.expect("json")),
        other => panic!("queries/next answered {other}"),
    }
}

async fn post_answer(server: &Server, query_id: i64, verdict: &str, key: &str) -> StatusCode {
    post_answer_as(server, "tester", query_id, verdict, key).await
}

/// Answers as `annotator`; an annotator answers a pair at most once.
async fn post_answer_as(
    server: &Server,
    annotator: &str,
    query_id: i64,
    verdict: &str,
    key: &str,
) -> StatusCode {
    let body = json!({ "query_id": query_id, "verdict": verdict, "idempotency_key": key,
                       "annotator": annotator });
    let url = server.url("/api/v1/answers");
    server
        .http
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("sent")
        .status()
}

async fn send_answer(
    http: reqwest::Client,
    url: String,
    query_id: i64,
    verdict: &str,
    key: &str,
) -> StatusCode {
    let body = json!({ "query_id": query_id, "verdict": verdict, "idempotency_key": key,
                       "annotator": "tester" });
    http.post(url)
        .json(&body)
        .send()
        .await
        .expect("sent")
        .status()
}

async fn answer_count(server: &Server) -> i64 {
    server
        .get_json(&format!("/api/v1/projects/{PROJECT}"))
        .await["answers"]
        .as_i64()
        .expect("answers is a number")
}

async fn start_round(server: &Server) -> i64 {
    let url = server.url(&format!("/api/v1/projects/{PROJECT}/rounds"));
    let response = server
        .admin(server.http.post(url))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::CREATED);
    let round: Value = response.json().await.expect("json");
    assert_eq!(round["state"], "queued");
    round["id"].as_i64().expect("round id")
}

/// Polls a round until it is open; panics with its reason if it fails.
async fn wait_until_open(server: &Server, round_id: i64) -> Value {
    let path = format!("/api/v1/projects/{PROJECT}/rounds/{round_id}");
    for _ in 0..600 {
        let round = server.get_json(&path).await;
        match round["state"].as_str() {
            Some("open") => return round,
            Some("failed") => panic!("round {round_id} failed: {}", round["reason"]),
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    panic!("round {round_id} did not open within 5 minutes");
}

/// Answers up to `count` pairs, alternating verdicts so that both kinds of edge exist.
async fn answer_pairs(server: &Server, count: usize, tag: &str) -> usize {
    let mut answered = 0;
    for i in 0..count {
        let Some(pair) = next_pair(server, tag).await else {
            break;
        };
        let verdict = if i % 3 == 0 { "same" } else { "different" };
        let id = pair["query_id"].as_i64().expect("query id");
        assert_eq!(
            post_answer_as(server, tag, id, verdict, &format!("{tag}-{i}")).await,
            StatusCode::CREATED
        );
        answered += 1;
    }
    answered
}

#[tokio::test]
async fn a_project_goes_from_import_through_two_rounds_to_export() {
    let sandbox = Sandbox::new("e2e");
    let imported = sandbox.run_ok(&[
        "import",
        "fashion-mnist",
        "--project",
        PROJECT,
        "--limit",
        &ITEMS.to_string(),
    ]);
    assert!(imported.contains("300 new items"), "{imported}");
    let server = sandbox.serve().await;

    let project = server
        .get_json(&format!("/api/v1/projects/{PROJECT}"))
        .await;
    assert_eq!(project["items"], ITEMS);
    assert!(
        project["pending_queries"].as_i64().expect("count") > 0,
        "pairs before any model"
    );

    let first = next_pair(&server, "alice").await.expect("a pair for alice");
    let second = next_pair(&server, "bob").await.expect("a pair for bob");
    assert_ne!(
        first["query_id"], second["query_id"],
        "two annotators never hold one pair"
    );
    let again = next_pair(&server, "alice")
        .await
        .expect("alice's pair again");
    assert_eq!(
        again["query_id"], first["query_id"],
        "a reload gets the held pair back"
    );

    let first_id = first["query_id"].as_i64().expect("id");
    assert_eq!(
        post_answer(&server, first_id, "same", "dup-1").await,
        StatusCode::CREATED
    );
    assert_eq!(
        post_answer(&server, first_id, "same", "dup-1").await,
        StatusCode::OK
    );
    let second_id = second["query_id"].as_i64().expect("id");
    let parallel: Vec<_> = (0..8)
        .map(|_| {
            let (http, url) = (server.http.clone(), server.url("/api/v1/answers"));
            tokio::spawn(
                async move { send_answer(http, url, second_id, "different", "dup-2").await },
            )
        })
        .collect();
    let mut statuses = Vec::new();
    for task in parallel {
        statuses.push(task.await.expect("task finished"));
    }
    assert!(statuses.iter().all(|s| s.is_success()), "{statuses:?}");
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1
    );
    assert_eq!(answer_count(&server).await, 2, "duplicates are stored once");

    let more = answer_pairs(&server, 25, "round0").await;
    assert_eq!(answer_count(&server).await, 2 + more as i64);

    let round_one = start_round(&server).await;
    let rounds_url = server.url(&format!("/api/v1/projects/{PROJECT}/rounds"));
    let busy = server
        .admin(server.http.post(&rounds_url))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        busy.status(),
        StatusCode::CONFLICT,
        "one training job per project"
    );
    let page = server
        .http
        .get(server.url(&format!("/annotate/{PROJECT}")))
        .send()
        .await;
    assert_eq!(
        page.expect("page answers while training").status(),
        StatusCode::OK
    );

    let opened = wait_until_open(&server, round_one).await;
    assert_eq!(opened["metrics"]["answers_used"], 2 + more as i64);
    assert_eq!(
        opened["metrics"]["warm_started"], false,
        "no model to start from"
    );
    assert_eq!(opened["metrics"]["train_steps"], 20, "AKIN_WARMUP_STEPS");
    assert!(
        opened["metrics"]["queries_written"]
            .as_i64()
            .expect("count")
            > 0
    );
    let fresh = next_pair(&server, "carol")
        .await
        .expect("the new round brings pairs");
    assert_eq!(fresh["round_id"], round_one);

    answer_pairs(&server, 10, "round1").await;
    let round_two = start_round(&server).await;
    let opened = wait_until_open(&server, round_two).await;
    assert_eq!(opened["metrics"]["warm_started"], true, "{opened}");
    assert_eq!(opened["metrics"]["train_steps"], 15, "AKIN_TRAIN_STEPS");

    let export_dir = tempfile::tempdir().expect("temp dir");
    let npy_path = export_dir.path().join("http.npy");
    let url = server.url(&format!("/api/v1/projects/{PROJECT}/embeddings?format=npy"));
    let npy = server
        .admin(server.http.get(&url))
        .send()
        .await
        .expect("sent");
    assert_eq!(npy.status(), StatusCode::OK);
    std::fs::write(&npy_path, npy.bytes().await.expect("body")).expect("written");
    assert_numpy_loads(&npy_path, ITEMS);

    let json_url = server.url(&format!(
        "/api/v1/projects/{PROJECT}/embeddings?format=json"
    ));
    let exported: Value = server
        .admin(server.http.get(&json_url))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(exported["items"].as_array().expect("items").len(), ITEMS);
    let csv_url = server.url(&format!("/api/v1/projects/{PROJECT}/embeddings?format=csv"));
    let csv = server
        .admin(server.http.get(&csv_url))
        .send()
        .await
        .expect("sent")
        .text()
        .await;
    assert_eq!(csv.expect("text").lines().count(), ITEMS + 1);

    let offline_path = export_dir.path().join("offline.npy");
    sandbox.run_ok(&[
        "export",
        "embeddings",
        "--project",
        PROJECT,
        "--format",
        "npy",
        "--out",
        offline_path.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(
        std::fs::read(&offline_path).expect("read"),
        std::fs::read(&npy_path).expect("read")
    );

    assert!(
        server.stop().await.success(),
        "SIGTERM stops the server cleanly"
    );
    sandbox.drop_database().await;
}

#[tokio::test]
async fn bad_requests_get_clear_errors_and_change_nothing() {
    let sandbox = Sandbox::new("e2e_bad");
    sandbox.run_ok(&[
        "import",
        "fashion-mnist",
        "--project",
        PROJECT,
        "--limit",
        "40",
    ]);
    let server = sandbox.serve().await;
    let pair = next_pair(&server, "dave").await.expect("a pair");
    let id = pair["query_id"].as_i64().expect("id");

    let bad_verdict = post_answer(&server, id, "maybe", "bad-1").await;
    let unknown_query = post_answer(&server, 999_999, "same", "bad-2").await;
    let garbage = server
        .http
        .post(server.url("/api/v1/answers"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("sent");
    let no_token = server
        .http
        .post(server.url(&format!("/api/v1/projects/{PROJECT}/rounds")))
        .send()
        .await
        .expect("sent");
    let wrong_token = server
        .http
        .get(server.url(&format!("/api/v1/projects/{PROJECT}/embeddings")))
        .bearer_auth("not-the-token")
        .send()
        .await
        .expect("sent");
    let no_project = server
        .http
        .get(server.url("/api/v1/projects/nope"))
        .send()
        .await
        .expect("sent");

    assert_eq!(bad_verdict, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown_query, StatusCode::NOT_FOUND);
    assert_eq!(garbage.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error: Value = garbage.json().await.expect("error body is json");
    assert_eq!(error["error"]["code"], "invalid_request");
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_token.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(no_project.status(), StatusCode::NOT_FOUND);
    assert_eq!(answer_count(&server).await, 0);
    assert_eq!(
        post_answer(&server, id, "same", "good-1").await,
        StatusCode::CREATED
    );
    assert_eq!(
        post_answer(&server, id, "different", "good-1").await,
        StatusCode::CONFLICT
    );
    assert_eq!(
        post_answer(&server, id, "different", "good-2").await,
        StatusCode::CONFLICT
    );
    assert_eq!(answer_count(&server).await, 1);

    server.stop().await;
    sandbox.drop_database().await;
}

#[tokio::test]
async fn without_an_admin_token_admin_routes_refuse_every_request() {
    let mut sandbox = Sandbox::new("e2e_noadmin");
    sandbox
        .extra_env
        .push(("AKIN_ADMIN_TOKEN".into(), String::new()));
    sandbox.run_ok(&[
        "import",
        "fashion-mnist",
        "--project",
        PROJECT,
        "--limit",
        "20",
    ]);
    let server = sandbox.serve().await;

    let rounds = server.url(&format!("/api/v1/projects/{PROJECT}/rounds"));
    let with_guess = server
        .http
        .post(&rounds)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("sent");
    let with_empty = server
        .http
        .post(&rounds)
        .bearer_auth("")
        .send()
        .await
        .expect("sent");

    assert_eq!(with_guess.status(), StatusCode::FORBIDDEN);
    assert_eq!(with_empty.status(), StatusCode::FORBIDDEN);
    let listed = server
        .get_json(&format!("/api/v1/projects/{PROJECT}/rounds"))
        .await;
    assert_eq!(
        listed.as_array().expect("rounds").len(),
        1,
        "only the import's round 0"
    );

    server.stop().await;
    sandbox.drop_database().await;
}

fn assert_numpy_loads(path: &std::path::Path, rows: usize) {
    let script = "import sys, numpy as np\n\
                  a = np.load(sys.argv[1])\n\
                  assert a.shape == (int(sys.argv[2]),), a.shape\n\
                  assert a['embedding'].dtype == np.float32 and a['embedding'].ndim == 2\n\
                  assert len(set(a['item_id'].tolist())) == a.shape[0]\n\
                  assert np.isfinite(a['embedding']).all()\n\
                  print(a['embedding'].shape[1])";
    let output = std::process::Command::new(support::venv_python())
        .args([
            "-c",
            script,
            path.to_str().expect("utf-8"),
            &rows.to_string(),
        ])
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "numpy: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
