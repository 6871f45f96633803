//! Projects: a named set of images that share one input shape and one model lineage.

use akin_core::StrategyMix;
use serde::Serialize;
use sqlx::PgExecutor;
use sqlx::types::Json;

use crate::Result;

/// A project row.
#[derive(Clone, Debug, Serialize)]
pub struct Project {
    pub id: i64,
    pub name: String,
    pub channels: i32,
    pub image_size: i32,
    /// Start the next round on its own once this share (0 < share <= 1) of the open
    /// round's pairs is answered; `None`: only an admin starts rounds.
    pub auto_advance_share: Option<f32>,
    /// How each round splits its new pairs between the strategies; `None`: the default
    /// mix. Only a mix that [`StrategyMix::validate`] accepts is stored.
    pub strategy_mix: Option<Json<StrategyMix>>,
    /// The loss the project's rounds train with, as the trainer spells it ("vicreg",
    /// "simclr", "barlow", "spectral"); `None`: the trainer's default. The database refuses
    /// any other spelling.
    pub loss: Option<String>,
}

impl Project {
    /// The mix the project's rounds use: its own, or the default.
    pub fn effective_mix(&self) -> StrategyMix {
        self.strategy_mix
            .as_ref()
            .map_or_else(StrategyMix::default, |mix| mix.0.clone())
    }
}

/// Counts that the API and the annotator page show.
#[derive(Clone, Debug, Serialize)]
pub struct ProjectStats {
    pub items: i64,
    pub answers: i64,
    pub pending_queries: i64,
}

/// Creates the project, or returns the existing one with that name unchanged.
pub async fn get_or_create(
    db: impl PgExecutor<'_>,
    name: &str,
    channels: i32,
    image_size: i32,
) -> Result<Project> {
    let project = sqlx::query_as!(
        Project,
        r#"INSERT INTO projects (name, channels, image_size) VALUES ($1, $2, $3)
           ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
           RETURNING id, name, channels, image_size, auto_advance_share,
                     strategy_mix AS "strategy_mix: Json<StrategyMix>", loss"#,
        name,
        channels,
        image_size
    )
    .fetch_one(db)
    .await?;
    Ok(project)
}

/// Looks a project up by name.
pub async fn by_name(db: impl PgExecutor<'_>, name: &str) -> Result<Option<Project>> {
    let project = sqlx::query_as!(
        Project,
        r#"SELECT id, name, channels, image_size, auto_advance_share,
                  strategy_mix AS "strategy_mix: Json<StrategyMix>", loss
           FROM projects WHERE name = $1"#,
        name
    )
    .fetch_optional(db)
    .await?;
    Ok(project)
}

/// Looks a project up by id.
pub async fn by_id(db: impl PgExecutor<'_>, id: i64) -> Result<Option<Project>> {
    let project = sqlx::query_as!(
        Project,
        r#"SELECT id, name, channels, image_size, auto_advance_share,
                  strategy_mix AS "strategy_mix: Json<StrategyMix>", loss
           FROM projects WHERE id = $1"#,
        id
    )
    .fetch_optional(db)
    .await?;
    Ok(project)
}

/// Sets (or with `None` clears) the share of answered pairs at which the project starts
/// its next round on its own. The database refuses a share outside (0, 1].
pub async fn set_auto_advance(
    db: impl PgExecutor<'_>,
    id: i64,
    share: Option<f32>,
) -> Result<Project> {
    let project = sqlx::query_as!(
        Project,
        r#"UPDATE projects SET auto_advance_share = $2 WHERE id = $1
           RETURNING id, name, channels, image_size, auto_advance_share,
                     strategy_mix AS "strategy_mix: Json<StrategyMix>", loss"#,
        id,
        share
    )
    .fetch_one(db)
    .await?;
    Ok(project)
}

/// Sets (or with `None` clears, back to the default) the project's strategy mix. The caller
/// validates the mix first.
pub async fn set_strategy_mix(
    db: impl PgExecutor<'_>,
    id: i64,
    mix: Option<&StrategyMix>,
) -> Result<Project> {
    let mix = mix.map(Json);
    let project = sqlx::query_as!(
        Project,
        r#"UPDATE projects SET strategy_mix = $2 WHERE id = $1
           RETURNING id, name, channels, image_size, auto_advance_share,
                     strategy_mix AS "strategy_mix: Json<StrategyMix>", loss"#,
        id,
        mix as Option<Json<&StrategyMix>>
    )
    .fetch_one(db)
    .await?;
    Ok(project)
}

/// Sets (or with `None` clears, back to the trainer's default) the loss the project's rounds
/// train with. The database refuses a name that is not one of the trainer's losses.
pub async fn set_loss(db: impl PgExecutor<'_>, id: i64, loss: Option<&str>) -> Result<Project> {
    let project = sqlx::query_as!(
        Project,
        r#"UPDATE projects SET loss = $2 WHERE id = $1
           RETURNING id, name, channels, image_size, auto_advance_share,
                     strategy_mix AS "strategy_mix: Json<StrategyMix>", loss"#,
        id,
        loss
    )
    .fetch_one(db)
    .await?;
    Ok(project)
}

/// Item, answer and pending-pair counts of one project.
pub async fn stats(db: impl PgExecutor<'_>, project_id: i64) -> Result<ProjectStats> {
    let stats = sqlx::query_as!(
        ProjectStats,
        r#"SELECT
             (SELECT count(*) FROM items WHERE project_id = $1) AS "items!",
             (SELECT count(*) FROM answers WHERE project_id = $1) AS "answers!",
             (SELECT count(*) FROM queries WHERE project_id = $1 AND state = 'pending')
               AS "pending_queries!""#,
        project_id
    )
    .fetch_one(db)
    .await?;
    Ok(stats)
}
