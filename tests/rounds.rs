//! End-to-end: rounds as claimed jobs. A separate `akin worker` trains what a web-only server
//! queues; a server killed mid-round loses no answer and its round is resumed, or failed with
//! a reason and retried; one-sided answers train and say what they lack; a project advances
//! on its own exactly once; a project's strategy mix and the audit share shape its next
//! round, and the audits' answers the round after; a project's loss and its "different" answers train the round, which stores its
//! evaluation.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Sandbox, Server};

const PROJECT: &str = "rounds";

fn import(sandbox: &Sandbox, project: &str, items: usize) {
    sandbox.run_ok(&[
        "import",
        "fashion-mnist",
        "--project",
        project,
        "--limit",
        &items.to_string(),
    ]);
}

async fn answer_count(server: &Server) -> i64 {
    let project = server
        .get_json(&format!("/api/v1/projects/{PROJECT}"))
        .await;
    project["answers"].as_i64().expect("answers is a number")
}

/// Answers up to `count` pairs as `annotator`, alternating verdicts; returns how many.
async fn answer_some(server: &Server, annotator: &str, count: usize) -> usize {
    let mut answered = 0;
    while answered < count {
        let Some(pair) = server.next_pair(PROJECT, annotator).await else {
            break;
        };
        let id = pair["query_id"].as_i64().expect("query id");
        let verdict = if answered % 2 == 0 {
            "same"
        } else {
            "different"
        };
        let key = format!("{annotator}-{id}");
        assert_eq!(
            server.answer(id, verdict, annotator, &key).await,
            StatusCode::CREATED
        );
        answered += 1;
    }
    answered
}

/// Waits until the round has trained at least one step.
async fn wait_until_training(server: &Server, round_id: i64) -> Value {
    server
        .wait_for_round(PROJECT, round_id, "training", |round| {
            round["state"] == "training" && round["metrics"]["step"].as_i64().unwrap_or(0) > 0
        })
        .await
}

#[tokio::test]
async fn a_separate_worker_trains_the_round_a_web_only_server_queued() {
    let mut sandbox = Sandbox::new("rounds_worker");
    import(&sandbox, PROJECT, 30);
    sandbox.set_env("AKIN_WORKER", "off");
    let server = sandbox.serve().await;
    let answered = answer_some(&server, "ann", 8).await;

    let round = server.start_round(PROJECT).await;
    let round_id = round["id"].as_i64().expect("id");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let waiting = server
        .get_json(&format!("/api/v1/projects/{PROJECT}/rounds/{round_id}"))
        .await;
    sandbox.set_env("AKIN_WORKER_NAME", "gpu-box");
    sandbox.set_env("AKIN_WORKER_POLL_SECONDS", "0.2");
    let worker = sandbox.worker().await;
    let opened = server.wait_until_open(PROJECT, round_id).await;

    assert_eq!(
        waiting["state"], "queued",
        "a web-only server trains nothing"
    );
    assert_eq!(opened["claimed_by"], "gpu-box");
    assert_eq!(opened["attempts"], 1);
    assert_eq!(opened["metrics"]["answers_used"], answered);
    let pair = server.next_pair(PROJECT, "bob").await.expect("new pairs");
    assert_eq!(pair["round_id"], round_id);
    assert!(worker.stop().await.success(), "SIGTERM stops the worker");
    server.stop().await;
    sandbox.drop_database().await;
}

/// Starts a long round, answers while it trains, kills the server, and returns the round id
/// and the number of answers given.
async fn kill_mid_round(sandbox: &mut Sandbox) -> (i64, i64) {
    sandbox.set_env("AKIN_WARMUP_STEPS", "100000");
    sandbox.set_env("AKIN_ROUND_STALE_SECONDS", "2");
    let server = sandbox.serve().await;
    let before = answer_some(&server, "ann", 6).await as i64;
    let round_id = server.start_round(PROJECT).await["id"]
        .as_i64()
        .expect("id");
    wait_until_training(&server, round_id).await;

    let during = answer_some(&server, "bob", 6).await as i64;
    let training = server
        .get_json(&format!("/api/v1/projects/{PROJECT}/rounds/{round_id}"))
        .await;
    let stored = answer_count(&server).await;
    server.kill().await;

    assert!(during > 0, "pairs were left to answer during training");
    assert_eq!(stored, before + during);
    assert_eq!(training["state"], "training");
    assert_eq!(
        training["metrics"]["answers_used"], before,
        "answers given during training count for the next round"
    );
    sandbox.set_env("AKIN_WARMUP_STEPS", "20");
    (round_id, before + during)
}

#[tokio::test]
async fn a_server_killed_mid_round_loses_no_answer_and_resumes_the_round() {
    let mut sandbox = Sandbox::new("rounds_resume");
    import(&sandbox, PROJECT, 30);
    let (round_id, answers) = kill_mid_round(&mut sandbox).await;

    let server = sandbox.serve().await;
    let stored = answer_count(&server).await;
    let resumed = server.wait_until_open(PROJECT, round_id).await;

    assert_eq!(stored, answers, "every answer survives the kill");
    assert_eq!(resumed["attempts"], 2, "{resumed}");
    assert!(resumed["metrics"]["interrupted"].is_string(), "{resumed}");
    assert_eq!(resumed["metrics"]["answers_used"], answers);
    server.stop().await;
    sandbox.drop_database().await;
}

#[tokio::test]
async fn a_round_out_of_attempts_fails_with_a_reason_and_a_retry_opens_it() {
    let mut sandbox = Sandbox::new("rounds_retry");
    import(&sandbox, PROJECT, 30);
    sandbox.set_env("AKIN_ROUND_MAX_ATTEMPTS", "1");
    let (round_id, answers) = kill_mid_round(&mut sandbox).await;

    let server = sandbox.serve().await;
    let failed = server
        .wait_for_round(PROJECT, round_id, "failed", |round| {
            round["state"] == "failed"
        })
        .await;
    let retry_url = server.url(&format!(
        "/api/v1/projects/{PROJECT}/rounds/{round_id}/retry"
    ));
    let anonymous = server.http.post(&retry_url).send().await.expect("sent");
    let retried = server
        .admin(server.http.post(&retry_url))
        .send()
        .await
        .expect("sent");
    let retried_status = retried.status();
    let retried: Value = retried.json().await.expect("json");
    let opened = server.wait_until_open(PROJECT, round_id).await;
    let again = server
        .admin(server.http.post(&retry_url))
        .send()
        .await
        .expect("sent");

    let reason = failed["reason"].as_str().expect("a reason");
    assert!(reason.contains("stopped sending heartbeats"), "{reason}");
    assert_eq!(answer_count(&server).await, answers);
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(retried_status, StatusCode::OK);
    assert_eq!(retried["state"], "queued");
    assert_eq!(opened["attempts"], 1);
    assert_eq!(
        again.status(),
        StatusCode::CONFLICT,
        "an open round is not retried"
    );
    server.stop().await;
    sandbox.drop_database().await;
}

#[tokio::test]
async fn one_sided_answers_train_and_say_what_they_lack() {
    let sandbox = Sandbox::new("rounds_one_sided");
    import(&sandbox, "alldifferent", 16);
    import(&sandbox, "allsame", 16);
    let server = sandbox.serve().await;
    let different = server.answer_all("alldifferent", "ann", "different").await;
    let same = server.answer_all("allsame", "ann", "same").await;

    let first = server.start_round("alldifferent").await["id"]
        .as_i64()
        .expect("id");
    let second = server.start_round("allsame").await["id"]
        .as_i64()
        .expect("id");
    let all_different = server.wait_until_open("alldifferent", first).await;
    let all_same = server.wait_until_open("allsame", second).await;

    assert!(different > 0 && same > 0, "round 0 asked pairs");
    let warnings = |round: &Value| -> Vec<String> {
        serde_json::from_value(round["metrics"]["warnings"].clone()).expect("warnings")
    };
    let all_different = warnings(&all_different);
    assert!(
        all_different.contains(&"no 'same' answers yet: trained on augmentations only".into()),
        "{all_different:?}"
    );
    assert!(all_different.contains(&"every answer so far says 'different'".into()));
    let all_same = warnings(&all_same);
    assert!(
        all_same.contains(&"no 'different' answers yet: classes cannot be told apart".into()),
        "{all_same:?}"
    );
    assert!(all_same.contains(&"every answer so far says 'same'".into()));
    server.stop().await;
    sandbox.drop_database().await;
}

#[tokio::test]
async fn a_project_set_to_advance_starts_exactly_one_next_round() {
    let sandbox = Sandbox::new("rounds_advance");
    import(&sandbox, PROJECT, 30);
    let server = sandbox.serve().await;
    let project_url = server.url(&format!("/api/v1/projects/{PROJECT}"));

    let mut refused = Vec::new();
    for body in [
        json!({ "auto_advance_share": 0 }),
        json!({ "auto_advance_share": 1.5 }),
        json!({ "auto_advance_share": "most" }),
        json!({ "advance": 0.5 }),
    ] {
        refused.push(server.patch_project(PROJECT, &body).await.status());
    }
    let anonymous = server
        .http
        .patch(&project_url)
        .json(&json!({ "auto_advance_share": 0.5 }))
        .send()
        .await
        .expect("sent");
    let accepted = server
        .patch_project(PROJECT, &json!({ "auto_advance_share": 0.5 }))
        .await;
    let accepted_status = accepted.status();
    let accepted: Value = accepted.json().await.expect("json");
    let pairs = accepted["pending_queries"].as_i64().expect("count");

    let answering: Vec<_> = (0..4)
        .map(|annotator| {
            let client = server.client();
            tokio::spawn(async move {
                let name = format!("ann{annotator}");
                client.answer_all(PROJECT, &name, "different").await
            })
        })
        .collect();
    let mut answered = 0;
    for task in answering {
        answered += task.await.expect("answering task");
    }
    let rounds = server
        .get_json(&format!("/api/v1/projects/{PROJECT}/rounds"))
        .await;
    let next_id = rounds[0]["id"].as_i64().expect("id");
    server.wait_until_open(PROJECT, next_id).await;
    let rounds = server
        .get_json(&format!("/api/v1/projects/{PROJECT}/rounds"))
        .await;

    assert!(
        refused
            .iter()
            .all(|s| *s == StatusCode::UNPROCESSABLE_ENTITY),
        "{refused:?}"
    );
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(accepted_status, StatusCode::OK);
    assert_eq!(accepted["auto_advance_share"], 0.5);
    assert!(
        pairs > 1 && answered as i64 >= pairs,
        "{answered} of {pairs}"
    );
    let numbers: Vec<i64> = rounds
        .as_array()
        .expect("rounds")
        .iter()
        .map(|round| round["number"].as_i64().expect("number"))
        .collect();
    assert_eq!(numbers, [1, 0], "exactly one round started on its own");
    server.stop().await;
    sandbox.drop_database().await;
}

/// Runs a round of [`PROJECT`] to its opening and returns it with the strategies of the
/// pairs it wrote.
async fn run_round(server: &Server, sandbox: &Sandbox) -> (Value, Vec<String>) {
    let round_id = server.start_round(PROJECT).await["id"]
        .as_i64()
        .expect("id");
    let round = server.wait_until_open(PROJECT, round_id).await;
    let mut db = sandbox.connect().await;
    let strategies: Vec<String> =
        sqlx::query_scalar("SELECT strategy FROM queries WHERE round_id = $1 ORDER BY id")
            .bind(round_id)
            .fetch_all(&mut db)
            .await
            .expect("strategies");
    (round, strategies)
}

fn metrics_of(round: &Value) -> Value {
    round["metrics"].clone()
}

fn audits_in(strategies: &[String]) -> usize {
    strategies.iter().filter(|s| *s == "audit").count()
}

#[tokio::test]
async fn a_monitor_only_mix_and_the_audit_share_make_up_the_next_round() {
    let mut sandbox = Sandbox::new("rounds_mix");
    import(&sandbox, PROJECT, 30);
    sandbox.set_env("AKIN_AUDIT_SHARE", "0.1");
    let server = sandbox.serve().await;

    let mut refused = Vec::new();
    for body in [
        json!({ "strategy_mix": { "monitor": -1.0 } }),
        json!({ "strategy_mix": {} }),
        json!({ "strategy_mix": { "random": 1.0 } }),
        json!({ "strategy_mix": "monitor" }),
        json!({ "strategy_mix": { "monitor": 1.0 }, "auto_advance_share": 2 }),
    ] {
        refused.push(server.patch_project(PROJECT, &body).await.status());
    }
    let unchanged = server
        .get_json(&format!("/api/v1/projects/{PROJECT}"))
        .await;
    let accepted = server
        .patch_project(PROJECT, &json!({ "strategy_mix": { "monitor": 1.0 } }))
        .await;
    let accepted_status = accepted.status();
    let accepted: Value = accepted.json().await.expect("json");
    let answered = server.answer_all(PROJECT, "ann", "different").await;
    let (_, strategies) = run_round(&server, &sandbox).await;

    assert!(
        refused
            .iter()
            .all(|s| *s == StatusCode::UNPROCESSABLE_ENTITY),
        "{refused:?}"
    );
    assert_eq!(unchanged["strategy_mix"]["exemplar"], 0.7, "{unchanged}");
    assert_eq!(unchanged["auto_advance_share"], Value::Null);
    assert_eq!(accepted_status, StatusCode::OK);
    assert_eq!(accepted["strategy_mix"]["monitor"], 1.0);
    assert_eq!(accepted["strategy_mix"]["exemplar"], 0.0);
    assert!(answered >= 4, "round 0 asked {answered} pairs");
    let audits = audits_in(&strategies);
    let monitored = strategies.iter().filter(|s| *s == "monitor").count();
    assert_eq!(audits, 4, "a tenth of 40 pairs: {strategies:?}");
    assert_eq!(monitored, strategies.len() - audits, "{strategies:?}");
    assert!(monitored > 0);
    server.stop().await;
    sandbox.drop_database().await;
}

#[tokio::test]
async fn audits_shrink_while_they_agree_and_grow_once_many_are_overturned() {
    let mut sandbox = Sandbox::new("rounds_audits");
    import(&sandbox, PROJECT, 30);
    sandbox.set_env("AKIN_AUDIT_SHARE", "0.25");
    let server = sandbox.serve().await;

    server.answer_all(PROJECT, "ann", "different").await;
    let (first, first_strategies) = run_round(&server, &sandbox).await;
    // An audit never goes to an annotator who answered its pair, so bob answers them.
    server.answer_all(PROJECT, "bob", "different").await;
    let (second, second_strategies) = run_round(&server, &sandbox).await;
    server.answer_all(PROJECT, "carol", "same").await;
    let (third, _) = run_round(&server, &sandbox).await;

    assert_eq!(
        metrics_of(&first)["audit_pairs"],
        10,
        "a quarter of 40 pairs"
    );
    assert_eq!(audits_in(&first_strategies), 10, "{first_strategies:?}");
    assert_eq!(
        metrics_of(&second)["previous_audits"],
        json!({ "answered": 10, "overturned": 0 })
    );
    assert_eq!(metrics_of(&second)["audit_pairs"], 5, "halved: all agreed");
    assert_eq!(audits_in(&second_strategies), 5, "{second_strategies:?}");
    assert_eq!(
        metrics_of(&third)["previous_audits"],
        json!({ "answered": 5, "overturned": 5 })
    );
    assert_eq!(
        metrics_of(&third)["audit_pairs"],
        10,
        "doubled: more than a quarter disagreed"
    );
    server.stop().await;
    sandbox.drop_database().await;
}

#[tokio::test]
async fn audits_answered_while_the_next_round_trains_count_for_no_round() {
    let mut sandbox = Sandbox::new("rounds_late_audits");
    import(&sandbox, PROJECT, 30);
    sandbox.set_env("AKIN_AUDIT_SHARE", "0.25");
    // Long enough a warm-started round to answer a round's pairs while it trains.
    sandbox.set_env("AKIN_TRAIN_STEPS", "300");
    let server = sandbox.serve().await;

    server.answer_all(PROJECT, "ann", "different").await;
    let (first, first_strategies) = run_round(&server, &sandbox).await;
    let second_id = server.start_round(PROJECT).await["id"]
        .as_i64()
        .expect("id");
    wait_until_training(&server, second_id).await;
    let late = server.answer_all(PROJECT, "bob", "same").await;
    let training = server
        .get_json(&format!("/api/v1/projects/{PROJECT}/rounds/{second_id}"))
        .await;
    let second = server.wait_until_open(PROJECT, second_id).await;

    assert_eq!(metrics_of(&first)["audit_pairs"], 10);
    assert_eq!(audits_in(&first_strategies), 10, "{first_strategies:?}");
    assert!(late >= 10, "bob answered the audits too: {late}");
    assert_eq!(
        training["state"], "training",
        "bob answered while it trained"
    );
    assert_eq!(
        metrics_of(&second)["previous_audits"],
        json!({ "answered": 0, "overturned": 0 }),
        "bob's answers came after the round's snapshot"
    );
    assert_eq!(metrics_of(&second)["audit_pairs"], 10, "unchanged");
    server.stop().await;
    sandbox.drop_database().await;
}

#[tokio::test]
async fn a_project_loss_is_set_by_name_refused_otherwise_and_cleared_with_null() {
    let sandbox = Sandbox::new("rounds_loss");
    import(&sandbox, PROJECT, 16);
    let server = sandbox.serve().await;

    let fresh = server
        .get_json(&format!("/api/v1/projects/{PROJECT}"))
        .await;
    let set = server
        .patch_project(PROJECT, &json!({ "loss": "simclr" }))
        .await;
    let set_status = set.status();
    let set: Value = set.json().await.expect("json");
    let mut refused = Vec::new();
    for body in [
        json!({ "loss": "infonce" }),
        json!({ "loss": "SimCLR" }),
        json!({ "loss": 3 }),
        json!({ "loss": "adam", "auto_advance_share": 0.5, "strategy_mix": { "monitor": 1.0 } }),
    ] {
        let response = server.patch_project(PROJECT, &body).await;
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        refused.push((status, body));
    }
    let unchanged = server
        .get_json(&format!("/api/v1/projects/{PROJECT}"))
        .await;
    let cleared = server
        .patch_project(PROJECT, &json!({ "loss": null }))
        .await;
    let cleared_status = cleared.status();
    let cleared: Value = cleared.json().await.expect("json");

    assert_eq!(fresh["loss"], "vicreg", "the trainer's default: {fresh}");
    assert_eq!(set_status, StatusCode::OK);
    assert_eq!(set["loss"], "simclr");
    for (status, body) in &refused {
        assert_eq!(*status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let message = body["error"]["message"].as_str().expect("a message");
        for name in ["vicreg", "simclr", "barlow", "spectral"] {
            assert!(message.contains(&format!("\"{name}\"")), "{message}");
        }
    }
    assert_eq!(unchanged["loss"], "simclr", "{unchanged}");
    assert_eq!(unchanged["auto_advance_share"], Value::Null);
    assert_eq!(unchanged["strategy_mix"]["exemplar"], 0.7);
    assert_eq!(cleared_status, StatusCode::OK);
    assert_eq!(cleared["loss"], "vicreg");
    server.stop().await;
    sandbox.drop_database().await;
}

#[tokio::test]
async fn a_round_trains_with_the_project_loss_and_its_different_answers_and_stores_its_evaluation()
{
    const ITEMS: usize = 200;
    let sandbox = Sandbox::new("rounds_evaluation");
    import(&sandbox, PROJECT, ITEMS);
    let server = sandbox.serve().await;
    let set = server
        .patch_project(PROJECT, &json!({ "loss": "spectral" }))
        .await;
    let answered = answer_some(&server, "ann", usize::MAX).await;

    let round_id = server.start_round(PROJECT).await["id"]
        .as_i64()
        .expect("id");
    let opened = server.wait_until_open(PROJECT, round_id).await;

    assert_eq!(set.status(), StatusCode::OK);
    assert!(answered >= 4, "round 0 asked {answered} pairs");
    let metrics = &opened["metrics"];
    assert_eq!(metrics["loss"], "spectral", "{metrics}");
    assert_eq!(
        metrics["train_seed"], round_id,
        "each round trains under its own seed: {metrics}"
    );
    assert!(
        metrics["known_negatives"].as_u64() > Some(0),
        "half the answers say 'different': {metrics}"
    );
    let number = |key: &str| -> f64 {
        metrics[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} is a number: {metrics}"))
    };
    assert!(number("rank_me") > 0.0);
    let knn = number("knn_accuracy");
    assert!(knn > 0.0 && knn <= 1.0, "{knn}");
    let probe = number("linear_probe_accuracy");
    assert!((0.0..=1.0).contains(&probe), "{probe}");
    assert_eq!(metrics["evaluated_items"], ITEMS, "every item is labelled");
    assert!(number("label_recovery") > 0.0);
    assert!(number("answers_per_label") > 0.0);
    server.stop().await;
    sandbox.drop_database().await;
}
