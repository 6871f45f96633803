//! `connect`: creates the database when the server lacks it, then migrates it.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use akin_store::{MIGRATOR, connect};
use common::{BoxError, TestResult};
use sqlx::{Connection, PgConnection, PgPool};

/// Callers that start at once in `connect_from_many_callers_at_once_makes_one_database`.
const SIMULTANEOUS_CALLERS: usize = 8;

/// The server `DATABASE_URL` names, and a database name, marked with `tag`, that no one else
/// uses.
fn fresh_database(tag: &str) -> TestResult<(String, String)> {
    let url = std::env::var("DATABASE_URL")?;
    let url = url.split_once('?').map_or(url.as_str(), |(path, _)| path);
    let (server, _) = url
        .rsplit_once('/')
        .ok_or("DATABASE_URL has no database name")?;
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.subsec_nanos();
    let name = format!("akin_store_test_{tag}_{}_{nanos}", std::process::id());
    Ok((server.to_owned(), name))
}

async fn admin() -> TestResult<PgConnection> {
    Ok(PgConnection::connect(&std::env::var("DATABASE_URL")?).await?)
}

async fn database_exists(admin: &mut PgConnection, name: &str) -> TestResult<bool> {
    let exists = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(admin)
        .await?;
    Ok(exists)
}

async fn drop_database(admin: &mut PgConnection, name: &str) -> TestResult {
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(admin)
        .await?;
    Ok(())
}

/// How many migrations ran on the database behind `pool`, and whether it has the answers table.
async fn migration_state(pool: &PgPool) -> TestResult<(usize, bool)> {
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await?;
    let answers_table = sqlx::query_scalar("SELECT to_regclass('answers') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    Ok((usize::try_from(applied)?, answers_table))
}

#[tokio::test]
async fn connect_creates_a_missing_database_and_migrates_it() -> TestResult {
    let (server, name) = fresh_database("missing")?;
    let url = format!("{server}/{name}");
    let mut admin = admin().await?;
    let existed_before = database_exists(&mut admin, &name).await?;

    let outcome = async {
        let pool = connect(&url, 2).await?;
        let exists = database_exists(&mut admin, &name).await?;
        let migrations = migration_state(&pool).await?;
        pool.close().await;
        let again = connect(&url, 2).await?;
        again.close().await;
        Ok::<_, BoxError>((exists, migrations))
    }
    .await;
    drop_database(&mut admin, &name).await?;

    let (exists, migrations) = outcome?;
    assert!(!existed_before);
    assert!(exists, "connect did not create {name}");
    assert_eq!(migrations, (MIGRATOR.iter().count(), true));
    Ok(())
}

#[tokio::test]
async fn connect_from_many_callers_at_once_makes_one_database() -> TestResult {
    let (server, name) = fresh_database("race")?;
    let url = format!("{server}/{name}");
    let mut admin = admin().await?;

    // `connect`'s future is not `Send`, so the callers share this thread: they still
    // interleave at every round trip to the server.
    let callers = tokio::task::LocalSet::new();
    let handles: Vec<_> = (0..SIMULTANEOUS_CALLERS)
        .map(|_| {
            let url = url.clone();
            callers.spawn_local(async move {
                let pool = connect(&url, 1).await?;
                pool.close().await;
                Ok::<_, BoxError>(())
            })
        })
        .collect();
    let mut failures = Vec::new();
    for handle in handles {
        if let Err(e) = callers.run_until(handle).await? {
            failures.push(e.to_string());
        }
    }
    let migrations = async {
        let pool = PgPool::connect(&url).await?;
        let state = migration_state(&pool).await;
        pool.close().await;
        state
    }
    .await;
    drop_database(&mut admin, &name).await?;

    assert!(failures.is_empty(), "callers failed: {failures:?}");
    assert_eq!(migrations?, (MIGRATOR.iter().count(), true));
    Ok(())
}
