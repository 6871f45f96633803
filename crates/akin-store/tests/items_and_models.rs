//! Projects, items and models: names are unique per project, training copies come back
//! in id order, and embeddings round-trip bit for bit.

mod common;

use akin_core::Verdict;
use akin_store::StoreError;
use akin_store::answers::{self, NewAnswer};
use akin_store::items::{self, NewItem};
use akin_store::models::{self, NewModel};
use akin_store::projects;
use akin_store::rounds::{self, RoundState};
use common::{
    CHANNELS, IMAGE_SIZE, PIXELS_PER_ITEM, TestResult, item, project_with_items, project_with_pairs,
};
use sqlx::PgPool;

const DIM: i32 = 4;

async fn model_for(pool: &PgPool, project_id: i64, checkpoint_path: &str) -> TestResult<i64> {
    let round = rounds::create(pool, project_id, RoundState::Open).await?;
    let new = NewModel {
        project_id,
        round_id: round.id,
        checkpoint_path,
        dim: DIM,
        final_loss: 0.125,
        device: "cpu",
    };
    Ok(models::insert(pool, &new).await?)
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn get_or_create_returns_an_existing_project_unchanged(pool: PgPool) -> TestResult {
    let created = projects::get_or_create(&pool, "faces", 1, 28).await?;

    let again = projects::get_or_create(&pool, "faces", 3, 64).await?;

    assert_eq!(again.id, created.id);
    assert_eq!((again.channels, again.image_size), (1, 28));
    assert_eq!(
        projects::by_name(&pool, "faces").await?.map(|p| p.id),
        Some(created.id)
    );
    assert!(projects::by_name(&pool, "nobody").await?.is_none());
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn insert_many_skips_item_names_the_project_already_has(pool: PgPool) -> TestResult {
    let project = projects::get_or_create(&pool, "p", CHANNELS, IMAGE_SIZE).await?;
    let other = projects::get_or_create(&pool, "other", CHANNELS, IMAGE_SIZE).await?;
    let first = items::insert_many(&pool, project.id, &[item("a", 1), item("b", 2)]).await?;

    let again = [item("b", 9), item("c", 3), item("c", 4)];
    let second = items::insert_many(&pool, project.id, &again).await?;
    let elsewhere = items::insert_many(&pool, other.id, &[item("a", 5)]).await?;

    assert_eq!((first, second, elsewhere), (2, 1, 1));
    let table = items::table(&pool, project.id, PIXELS_PER_ITEM).await?;
    assert_eq!(table.ids.len(), 3);
    assert_eq!(
        table.pixels[PIXELS_PER_ITEM], 2,
        "the first copy of b stays"
    );
    assert_eq!(
        table.pixels[2 * PIXELS_PER_ITEM],
        3,
        "the first c of the batch wins"
    );
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn table_returns_ids_in_order_with_labels_and_pixels_concatenated(
    pool: PgPool,
) -> TestResult {
    let project = projects::get_or_create(&pool, "p", CHANNELS, IMAGE_SIZE).await?;
    let labelled = |name, fill, label| NewItem {
        label,
        ..item(name, fill)
    };
    let new = [
        labelled("z", 7, Some(3)),
        labelled("a", 8, None),
        labelled("m", 9, Some(0)),
    ];
    items::insert_many(&pool, project.id, &new).await?;

    let table = items::table(&pool, project.id, PIXELS_PER_ITEM).await?;

    assert!(table.ids.is_sorted(), "{:?}", table.ids);
    assert_eq!(table.ids.len(), 3);
    assert_eq!(table.labels, [Some(3), None, Some(0)]);
    let expected: Vec<u8> = [7, 8, 9]
        .iter()
        .flat_map(|&fill| [fill; PIXELS_PER_ITEM])
        .collect();
    assert_eq!(table.pixels, expected);
    assert_eq!(table.index_of(table.ids[2]), Some(2));
    assert_eq!(table.index_of(table.ids[2] + 1), None);
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn table_refuses_a_training_copy_of_the_wrong_length(pool: PgPool) -> TestResult {
    let project = projects::get_or_create(&pool, "p", CHANNELS, IMAGE_SIZE).await?;
    let short = NewItem {
        pixels: vec![0; PIXELS_PER_ITEM - 1],
        ..item("short", 0)
    };
    items::insert_many(&pool, project.id, &[item("fine", 1), short]).await?;

    let table = items::table(&pool, project.id, PIXELS_PER_ITEM).await;

    assert!(matches!(table, Err(StoreError::Corrupt(_))), "{table:?}");
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn content_hash_answers_only_for_items_of_the_project(pool: PgPool) -> TestResult {
    let (project, ids) = project_with_items(&pool, "p", 1).await?;
    let (other, _) = project_with_items(&pool, "other", 1).await?;

    let own = items::content_hash(&pool, project.id, ids[0]).await?;
    let foreign = items::content_hash(&pool, other.id, ids[0]).await?;

    assert_eq!(own, Some(item("item-0", 0).content_hash));
    assert_eq!(foreign, None);
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn embeddings_round_trip_bit_exactly(pool: PgPool) -> TestResult {
    let (project, ids) = project_with_items(&pool, "p", 3).await?;
    let model_id = model_for(&pool, project.id, "models/p/0.ot").await?;
    let values = [
        0.0,
        -0.0,
        1.0 / 3.0,
        -2.5e-12,
        f32::MIN_POSITIVE / 4.0,
        f32::MAX,
        f32::MIN,
        f32::EPSILON,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::from_bits(0x7fc0_1234),
        f32::from_bits(0xffa0_0001),
    ];
    models::insert_embeddings(&pool, model_id, &ids, &values).await?;

    let model = models::latest(&pool, project.id).await?.ok_or("no model")?;
    let stored = models::embeddings(&pool, &model).await?;

    assert_eq!(model.id, model_id);
    assert_eq!(stored.item_ids, ids);
    assert_eq!(stored.dim, DIM as usize);
    assert_eq!(bits(&stored.values), bits(&values));
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn embeddings_come_back_in_item_id_order_whatever_the_insert_order(
    pool: PgPool,
) -> TestResult {
    let (project, ids) = project_with_items(&pool, "p", 2).await?;
    let model_id = model_for(&pool, project.id, "models/p/0.ot").await?;
    let (first_row, second_row) = ([1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]);
    let reversed: Vec<f32> = second_row.into_iter().chain(first_row).collect();
    models::insert_embeddings(&pool, model_id, &[ids[1], ids[0]], &reversed).await?;

    let model = models::latest(&pool, project.id).await?.ok_or("no model")?;
    let stored = models::embeddings(&pool, &model).await?;

    assert_eq!(stored.item_ids, ids);
    let expected: Vec<f32> = first_row.into_iter().chain(second_row).collect();
    assert_eq!(bits(&stored.values), bits(&expected));
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn embeddings_that_do_not_match_the_model_dimension_are_corrupt(pool: PgPool) -> TestResult {
    let (project, ids) = project_with_items(&pool, "p", 2).await?;
    let model_id = model_for(&pool, project.id, "models/p/0.ot").await?;
    models::insert_embeddings(&pool, model_id, &ids, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).await?;

    let model = models::latest(&pool, project.id).await?.ok_or("no model")?;
    let stored = models::embeddings(&pool, &model).await;

    assert!(matches!(stored, Err(StoreError::Corrupt(_))), "{stored:?}");
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn latest_is_the_newest_model_of_the_project(pool: PgPool) -> TestResult {
    let (project, _) = project_with_items(&pool, "p", 1).await?;
    let (other, _) = project_with_items(&pool, "other", 1).await?;
    model_for(&pool, project.id, "models/p/0.ot").await?;
    let newest = model_for(&pool, project.id, "models/p/1.ot").await?;

    let latest = models::latest(&pool, project.id).await?.ok_or("no model")?;
    let none_yet = models::latest(&pool, other.id).await?;

    assert_eq!(latest.id, newest);
    assert_eq!(latest.checkpoint_path, "models/p/1.ot");
    assert_eq!(
        (latest.dim, latest.final_loss, latest.device.as_str()),
        (DIM, 0.125, "cpu")
    );
    assert!(none_yet.is_none(), "{none_yet:?}");
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn stats_count_items_answers_and_pending_pairs_of_one_project(pool: PgPool) -> TestResult {
    let asked = project_with_pairs(&pool, 4, 3).await?;
    project_with_pairs_elsewhere(&pool).await?;
    let mut tx = pool.begin().await?;
    let new = NewAnswer {
        query_id: asked.query_ids[0],
        verdict: Verdict::Different,
        annotator: "ann",
        idempotency_key: "key-1",
    };
    answers::record(&mut tx, &new).await?;
    tx.commit().await?;

    let stats = projects::stats(&pool, asked.project.id).await?;

    assert_eq!(
        (stats.items, stats.answers, stats.pending_queries),
        (4, 1, 2)
    );
    Ok(())
}

/// A second project with items and pending pairs, which the first project's counts ignore.
async fn project_with_pairs_elsewhere(pool: &PgPool) -> TestResult {
    let (other, ids) = project_with_items(pool, "elsewhere", 3).await?;
    let round = rounds::create(pool, other.id, RoundState::Open).await?;
    let pairs = [common::pair(ids[0], ids[1]), common::pair(ids[1], ids[2])];
    akin_store::queries::insert_many(pool, other.id, round.id, None, &pairs).await?;
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn set_auto_advance_stores_a_share_and_refuses_one_outside_zero_to_one(
    pool: PgPool,
) -> TestResult {
    let project = projects::get_or_create(&pool, "p", CHANNELS, IMAGE_SIZE).await?;

    let half = projects::set_auto_advance(&pool, project.id, Some(0.5)).await?;
    let zero = projects::set_auto_advance(&pool, project.id, Some(0.0)).await;
    let above_one = projects::set_auto_advance(&pool, project.id, Some(1.5)).await;
    let stored = projects::by_id(&pool, project.id)
        .await?
        .ok_or("project gone")?;
    let cleared = projects::set_auto_advance(&pool, project.id, None).await?;

    assert_eq!(half.auto_advance_share, Some(0.5));
    assert!(
        zero.is_err() && above_one.is_err(),
        "{zero:?} {above_one:?}"
    );
    assert_eq!(stored.auto_advance_share, Some(0.5));
    assert_eq!(cleared.auto_advance_share, None);
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn set_loss_stores_each_trainer_loss_and_refuses_any_other_name(pool: PgPool) -> TestResult {
    let project = projects::get_or_create(&pool, "p", CHANNELS, IMAGE_SIZE).await?;

    let mut stored = Vec::new();
    for loss in ["vicreg", "simclr", "barlow", "spectral"] {
        let updated = projects::set_loss(&pool, project.id, Some(loss)).await?;
        stored.push(updated.loss);
    }
    let alias = projects::set_loss(&pool, project.id, Some("infonce")).await;
    let shouted = projects::set_loss(&pool, project.id, Some("VICREG")).await;
    let kept = projects::by_id(&pool, project.id)
        .await?
        .ok_or("project gone")?;
    let cleared = projects::set_loss(&pool, project.id, None).await?;

    assert_eq!(project.loss, None, "a new project trains with the default");
    let names: Vec<&str> = stored.iter().flatten().map(String::as_str).collect();
    assert_eq!(names, ["vicreg", "simclr", "barlow", "spectral"]);
    assert!(alias.is_err() && shouted.is_err(), "{alias:?} {shouted:?}");
    assert_eq!(kept.loss.as_deref(), Some("spectral"));
    assert_eq!(cleared.loss, None);
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn ids_lists_the_project_items_in_id_order(pool: PgPool) -> TestResult {
    let (project, table_ids) = project_with_items(&pool, "p", 3).await?;
    project_with_items(&pool, "other", 2).await?;

    let ids = items::ids(&pool, project.id).await?;

    assert_eq!(ids, table_ids);
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn previous_skips_the_models_of_the_given_round(pool: PgPool) -> TestResult {
    let (project, _) = project_with_items(&pool, "p", 1).await?;
    let older = model_for(&pool, project.id, "models/p/0.ot").await?;
    let newer = model_for(&pool, project.id, "models/p/1.ot").await?;
    let newer_round = models::latest(&pool, project.id)
        .await?
        .ok_or("no model")?
        .round_id;

    let previous = models::previous(&pool, project.id, newer_round).await?;
    let for_another_round = models::previous(&pool, project.id, newer_round + 100).await?;

    assert_eq!(previous.map(|m| m.id), Some(older));
    assert_eq!(for_another_round.map(|m| m.id), Some(newer));
    Ok(())
}

#[sqlx::test(migrator = "akin_store::MIGRATOR")]
async fn delete_of_round_removes_its_models_and_their_embeddings(pool: PgPool) -> TestResult {
    let (project, ids) = project_with_items(&pool, "p", 1).await?;
    let kept = model_for(&pool, project.id, "models/p/0.ot").await?;
    let dropped = model_for(&pool, project.id, "models/p/1.ot").await?;
    let values = [1.0, 2.0, 3.0, 4.0];
    models::insert_embeddings(&pool, kept, &ids, &values).await?;
    models::insert_embeddings(&pool, dropped, &ids, &values).await?;
    let dropped_round = models::latest(&pool, project.id)
        .await?
        .ok_or("no model")?
        .round_id;

    let deleted = models::delete_of_round(&pool, dropped_round).await?;

    assert_eq!(deleted, 1);
    assert_eq!(
        models::latest(&pool, project.id).await?.map(|m| m.id),
        Some(kept)
    );
    let embeddings: i64 = sqlx::query_scalar("SELECT count(*) FROM embeddings")
        .fetch_one(&pool)
        .await?;
    assert_eq!(embeddings, 1);
    Ok(())
}
