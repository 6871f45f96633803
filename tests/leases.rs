//! End-to-end: how pairs reach annotators. Two annotators never hold one pair; a reload
//! neither loses nor repeats one; an expired lease puts its pair back; a pair asked again
//! goes only to someone who has not answered it, and the review API shows why and how far
//! each annotator is trusted; a planted known pair weighs down whoever misses it.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Sandbox, Server};

const PROJECT: &str = "leases";

fn import(sandbox: &Sandbox, items: usize) {
    sandbox.run_ok(&[
        "import",
        "fashion-mnist",
        "--project",
        PROJECT,
        "--limit",
        &items.to_string(),
    ]);
}

fn query_id(pair: &Value) -> i64 {
    pair["query_id"].as_i64().expect("query id")
}

#[tokio::test]
async fn annotators_leasing_at_once_never_hold_one_pair() {
    const ANNOTATORS: usize = 6;
    const WAVES: usize = 3;
    let sandbox = Sandbox::new("leases_apart");
    import(&sandbox, 40);
    let server = sandbox.serve().await;

    let mut waves: Vec<Vec<i64>> = Vec::new();
    for wave in 0..WAVES {
        let leasing: Vec<_> = (0..ANNOTATORS)
            .map(|annotator| {
                let client = server.client();
                tokio::spawn(async move {
                    let name = format!("ann{annotator}");
                    let pair = client.next_pair(PROJECT, &name).await?;
                    let id = query_id(&pair);
                    let key = format!("{name}-{wave}");
                    client.answer(id, "different", &name, &key).await;
                    Some(id)
                })
            })
            .collect();
        let mut held = Vec::new();
        for task in leasing {
            held.extend(task.await.expect("leasing task"));
        }
        waves.push(held);
    }

    for held in &waves {
        let distinct: HashSet<i64> = held.iter().copied().collect();
        assert_eq!(distinct.len(), held.len(), "a pair held twice: {held:?}");
    }
    assert_eq!(waves[0].len(), ANNOTATORS, "enough pairs for everyone");
    server.stop().await;
    sandbox.drop_database().await;
}

#[tokio::test]
async fn a_reload_neither_loses_nor_repeats_a_pair() {
    let sandbox = Sandbox::new("leases_reload");
    import(&sandbox, 20);
    let server = sandbox.serve().await;
    let project = format!("/api/v1/projects/{PROJECT}");
    let pending = server.get_json(&project).await["pending_queries"]
        .as_i64()
        .expect("count");

    let mut answered = Vec::new();
    while let Some(pair) = server.next_pair(PROJECT, "ann").await {
        let reloaded = server.next_pair(PROJECT, "ann").await.expect("held pair");
        assert_eq!(
            query_id(&reloaded),
            query_id(&pair),
            "a reload keeps the pair"
        );
        let key = format!("ann-{}", query_id(&pair));
        let status = server.answer(query_id(&pair), "same", "ann", &key).await;
        assert_eq!(status, StatusCode::CREATED);
        answered.push(query_id(&pair));
    }

    let distinct: HashSet<i64> = answered.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        answered.len(),
        "no pair twice: {answered:?}"
    );
    assert_eq!(
        answered.len() as i64,
        pending,
        "every pending pair was handed out"
    );
    assert_eq!(server.get_json(&project).await["pending_queries"], 0);
    server.stop().await;
    sandbox.drop_database().await;
}

#[tokio::test]
async fn an_expired_lease_puts_its_pair_back_in_the_pool() {
    let mut sandbox = Sandbox::new("leases_expire");
    import(&sandbox, 20);
    sandbox.set_env("AKIN_LEASE_SECONDS", "1");
    let server = sandbox.serve().await;

    let abandoned = server.next_pair(PROJECT, "ann").await.expect("a pair");
    let while_held = server.next_pair(PROJECT, "bob").await.expect("a pair");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after_expiry = server.next_pair(PROJECT, "cy").await.expect("a pair");

    assert_ne!(query_id(&while_held), query_id(&abandoned));
    assert_eq!(query_id(&after_expiry), query_id(&abandoned));
    server.stop().await;
    sandbox.drop_database().await;
}

/// Replaces round 0's pairs with the triangle of the project's first three items and
/// returns the query ids of (a, b), (b, c), (a, c) and the items.
async fn ask_a_triangle(sandbox: &Sandbox) -> ([i64; 3], [i64; 3]) {
    let mut db = sandbox.connect().await;
    let items: Vec<i64> = sqlx::query_scalar("SELECT id FROM items ORDER BY id LIMIT 3")
        .fetch_all(&mut db)
        .await
        .expect("items");
    let [a, b, c] = items[..] else {
        panic!("three items");
    };
    sqlx::query("UPDATE queries SET state = 'retired' WHERE state = 'pending'")
        .execute(&mut db)
        .await
        .expect("retired");
    let mut ids = [0; 3];
    for (slot, (first, second)) in [(a, b), (b, c), (a, c)].into_iter().enumerate() {
        ids[slot] = sqlx::query_scalar(
            "INSERT INTO queries (project_id, round_id, item_a, item_b, strategy, score)
             SELECT project_id, (SELECT max(id) FROM rounds), $1, $2, 'arranged', 0
             FROM items WHERE id = $1 RETURNING id",
        )
        .bind(first)
        .bind(second)
        .fetch_one(&mut db)
        .await
        .expect("query inserted");
    }
    (ids, [a, b, c])
}

#[tokio::test]
async fn a_pair_in_conflict_is_asked_again_only_of_someone_who_has_not_answered_it() {
    let sandbox = Sandbox::new("leases_reask");
    import(&sandbox, 20);
    let server = sandbox.serve().await;
    let ([ab, bc, ac], [_, b, c]) = ask_a_triangle(&sandbox).await;
    assert_eq!(
        server.answer(ab, "same", "ann", "k1").await,
        StatusCode::CREATED
    );
    assert_eq!(
        server.answer(ac, "same", "ann", "k2").await,
        StatusCode::CREATED
    );
    assert_eq!(
        server.answer(bc, "different", "bob", "k3").await,
        StatusCode::CREATED
    );

    let round_id = server.start_round(PROJECT).await["id"]
        .as_i64()
        .expect("id");
    server.wait_until_open(PROJECT, round_id).await;
    let review = |path: &str| {
        let url = server.url(&format!("/api/v1/projects/{PROJECT}/{path}"));
        server.admin(server.http.get(url)).send()
    };
    let conflicts: Value = review("conflicts")
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let awaiting: Value = review("awaiting")
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let annotators: Value = review("annotators")
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let for_bob = server.next_pair(PROJECT, "bob").await.expect("other pairs");
    let for_cy = server.next_pair(PROJECT, "cy").await.expect("the re-ask");
    let bob_again = server.answer(query_id(&for_cy), "same", "bob", "k4").await;
    let anonymous = server
        .http
        .get(server.url(&format!("/api/v1/projects/{PROJECT}/conflicts")))
        .send()
        .await
        .expect("sent");

    assert_eq!(conflicts.as_array().expect("list").len(), 1, "{conflicts}");
    let conflict = &conflicts[0];
    assert_eq!(
        (conflict["item_a"].as_i64(), conflict["item_b"].as_i64()),
        (Some(b), Some(c))
    );
    assert_eq!(conflict["graph_says"], "same");
    assert_eq!(conflict["answers"][0]["annotator"], "bob");
    assert_eq!(conflict["answers"][0]["verdict"], "different");
    let reask = &awaiting[0];
    assert_eq!(
        (reask["item_a"].as_i64(), reask["item_b"].as_i64()),
        (Some(b), Some(c))
    );
    assert_eq!(reask["strategy"], "conflict");
    assert_eq!(reask["annotators"], serde_json::json!(["bob"]));
    assert_ne!(
        query_id(&for_bob),
        query_id(reask),
        "bob answered this pair already"
    );
    assert_eq!(
        query_id(&for_cy),
        query_id(reask),
        "the re-ask goes first to others"
    );
    let names: Vec<&str> = annotators
        .as_array()
        .expect("list")
        .iter()
        .map(|a| a["annotator"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["ann", "bob"], "{annotators}");
    let reliability = |i: usize| annotators[i]["reliability"].as_f64().expect("number");
    assert!((0.0..1.0).contains(&reliability(0)) && (0.0..1.0).contains(&reliability(1)));
    assert!(
        reliability(1) < reliability(0),
        "bob contradicted the graph: {annotators}"
    );
    assert_eq!(annotators[0]["answers"], 2);
    assert_eq!(bob_again, StatusCode::CONFLICT);
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    server.stop().await;
    sandbox.drop_database().await;
}

/// `GET /api/v1/projects/{PROJECT}/{path}` as admin.
async fn admin_get(server: &Server, path: &str) -> Value {
    let url = server.url(&format!("/api/v1/projects/{PROJECT}/{path}"));
    let response = server.admin(server.http.get(url)).send().await;
    response.expect("sent").json().await.expect("json")
}

/// Two items of the project whose pair round 0 did not ask.
async fn an_unasked_pair(sandbox: &Sandbox) -> (i64, i64) {
    let mut db = sandbox.connect().await;
    sqlx::query_as(
        "SELECT a.id, b.id FROM items a JOIN items b ON a.id < b.id
         WHERE NOT EXISTS (SELECT 1 FROM queries q WHERE q.item_a = a.id AND q.item_b = b.id)
         ORDER BY a.id, b.id LIMIT 1",
    )
    .fetch_one(&mut db)
    .await
    .expect("an unasked pair")
}

/// Starts a round and answers its pairs as `annotator` until the known `pair` (answered with
/// `verdict`) and two others ("different") are answered. Returns the known pair as
/// `queries/next` showed it.
async fn answer_a_round(
    server: &Server,
    annotator: &str,
    pair: (i64, i64),
    verdict: &str,
) -> Value {
    let round_id = server.start_round(PROJECT).await["id"]
        .as_i64()
        .expect("id");
    server.wait_until_open(PROJECT, round_id).await;
    let mut shown = None;
    let mut others = 0;
    while shown.is_none() || others < 2 {
        let next = server
            .next_pair(PROJECT, annotator)
            .await
            .expect("the round planted the known pair");
        let id = query_id(&next);
        let items = (next["item_a"]["id"].as_i64(), next["item_b"]["id"].as_i64());
        let is_known =
            items == (Some(pair.0), Some(pair.1)) || items == (Some(pair.1), Some(pair.0));
        let given = if is_known { verdict } else { "different" };
        let key = format!("{annotator}-{id}");
        assert_eq!(
            server.answer(id, given, annotator, &key).await,
            StatusCode::CREATED
        );
        if is_known {
            shown = Some(next);
        } else {
            others += 1;
        }
    }
    shown.expect("answered the known pair")
}

#[tokio::test]
async fn a_planted_known_pair_settles_itself_and_weighs_down_the_annotator_who_misses_it() {
    let sandbox = Sandbox::new("leases_known");
    import(&sandbox, 20);
    let server = sandbox.serve().await;
    let (a, b) = an_unasked_pair(&sandbox).await;
    let known_url = server.url(&format!("/api/v1/projects/{PROJECT}/known-pairs"));
    let post = |body: Value| {
        server
            .admin(server.http.post(&known_url))
            .json(&body)
            .send()
    };
    let mut refused = Vec::new();
    for body in [
        json!({ "item_a": a, "item_b": b, "verdict": "not_sure" }),
        json!({ "item_a": a, "item_b": b, "verdict": "maybe" }),
        json!({ "item_a": a, "item_b": a, "verdict": "same" }),
        json!({ "item_a": a, "item_b": 999_999_999, "verdict": "same" }),
        json!({ "item_a": a, "verdict": "same" }),
    ] {
        refused.push(post(body).await.expect("sent").status());
    }
    let anonymous = server
        .http
        .post(&known_url)
        .json(&json!({ "item_a": a, "item_b": b, "verdict": "same" }))
        .send()
        .await
        .expect("sent")
        .status();
    let known_before = admin_get(&server, "known-pairs").await;
    let planted = post(json!({ "item_a": b, "item_b": a, "verdict": "same" }))
        .await
        .expect("sent")
        .status();
    let repeated = post(json!({ "item_a": a, "item_b": b, "verdict": "same" }))
        .await
        .expect("sent")
        .status();
    let known_after = admin_get(&server, "known-pairs").await;

    let shown_to_ann = answer_a_round(&server, "ann", (a, b), "same").await;
    let shown_to_bob = answer_a_round(&server, "bob", (a, b), "different").await;
    let conflicts = admin_get(&server, "conflicts").await;
    let annotators = admin_get(&server, "annotators").await;
    let mut db = sandbox.connect().await;
    let strategies: Vec<String> =
        sqlx::query_scalar("SELECT strategy FROM queries WHERE item_a = $1 AND item_b = $2")
            .bind(a)
            .bind(b)
            .fetch_all(&mut db)
            .await
            .expect("strategies");

    assert!(
        refused
            .iter()
            .all(|s| *s == StatusCode::UNPROCESSABLE_ENTITY),
        "{refused:?}"
    );
    assert_eq!(anonymous, StatusCode::UNAUTHORIZED);
    assert_eq!(known_before, json!([]));
    assert_eq!((planted, repeated), (StatusCode::CREATED, StatusCode::OK));
    assert_eq!(
        known_after.as_array().expect("list").len(),
        1,
        "{known_after}"
    );
    assert_eq!(known_after[0]["item_a"], a);
    assert_eq!(known_after[0]["item_b"], b);
    assert_eq!(known_after[0]["verdict"], "same");
    assert_eq!(strategies, ["known", "known"]);
    for shown in [&shown_to_ann, &shown_to_bob] {
        assert!(
            shown.get("strategy").is_none(),
            "a planted pair shows: {shown}"
        );
    }
    let known_listed = conflicts
        .as_array()
        .expect("list")
        .iter()
        .any(|c| c["item_a"] == a && c["item_b"] == b);
    assert!(!known_listed, "the known pair is settled: {conflicts}");
    let trust = |name: &str| {
        let entry = annotators
            .as_array()
            .expect("list")
            .iter()
            .find(|e| e["annotator"] == name);
        entry.expect("listed")["reliability"]
            .as_f64()
            .expect("number")
    };
    assert!(
        trust("bob") < trust("ann"),
        "bob missed the known pair: {annotators}"
    );
    server.stop().await;
    sandbox.drop_database().await;
}
