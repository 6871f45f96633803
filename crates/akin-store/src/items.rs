//! Items: one image of a project, with its training pixels and optional hidden label.

use sqlx::PgExecutor;

use crate::{Result, StoreError};

/// An item to insert.
#[derive(Clone, Debug)]
pub struct NewItem {
    pub name: String,
    pub content_hash: String,
    pub width: i32,
    pub height: i32,
    pub label: Option<i32>,
    /// Training copy: channels x size x size bytes.
    pub pixels: Vec<u8>,
}

/// Every item of a project in id order, as the trainer and the selector need them.
#[derive(Clone, Debug, Default)]
pub struct ItemTable {
    pub ids: Vec<i64>,
    pub labels: Vec<Option<i32>>,
    /// The items' training copies, concatenated in `ids` order.
    pub pixels: Vec<u8>,
}

impl ItemTable {
    /// Dense index of an item id (items are sorted by id).
    pub fn index_of(&self, id: i64) -> Option<usize> {
        self.ids.binary_search(&id).ok()
    }
}

/// Inserts items, skipping names the project already has. Returns how many were new.
pub async fn insert_many(
    db: impl PgExecutor<'_>,
    project_id: i64,
    items: &[NewItem],
) -> Result<u64> {
    let names: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
    let hashes: Vec<&str> = items.iter().map(|i| i.content_hash.as_str()).collect();
    let widths: Vec<i32> = items.iter().map(|i| i.width).collect();
    let heights: Vec<i32> = items.iter().map(|i| i.height).collect();
    let labels: Vec<Option<i32>> = items.iter().map(|i| i.label).collect();
    let pixels: Vec<&[u8]> = items.iter().map(|i| i.pixels.as_slice()).collect();

    let inserted = sqlx::query!(
        r#"INSERT INTO items (project_id, name, content_hash, width, height, label, pixels)
           SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::int[], $5::int[], $6::int[],
                                    $7::bytea[])
           ON CONFLICT (project_id, name) DO NOTHING"#,
        project_id,
        &names as &[&str],
        &hashes as &[&str],
        &widths,
        &heights,
        &labels as &[Option<i32>],
        &pixels as &[&[u8]],
    )
    .execute(db)
    .await?;
    Ok(inserted.rows_affected())
}

/// Loads every item of a project, checking that each training copy has `pixels_per_item` bytes.
pub async fn table(
    db: impl PgExecutor<'_>,
    project_id: i64,
    pixels_per_item: usize,
) -> Result<ItemTable> {
    let rows = sqlx::query!(
        "SELECT id, label, pixels FROM items WHERE project_id = $1 ORDER BY id",
        project_id
    )
    .fetch_all(db)
    .await?;

    let mut table = ItemTable {
        pixels: Vec::with_capacity(rows.len() * pixels_per_item),
        ..ItemTable::default()
    };
    for row in rows {
        if row.pixels.len() != pixels_per_item {
            return Err(StoreError::Corrupt(format!(
                "item {} has {} training bytes, expected {pixels_per_item}",
                row.id,
                row.pixels.len()
            )));
        }
        table.ids.push(row.id);
        table.labels.push(row.label);
        table.pixels.extend_from_slice(&row.pixels);
    }
    Ok(table)
}

/// Every item id of a project in order, without the pixels.
pub async fn ids(db: impl PgExecutor<'_>, project_id: i64) -> Result<Vec<i64>> {
    let ids = sqlx::query_scalar!(
        "SELECT id FROM items WHERE project_id = $1 ORDER BY id",
        project_id
    )
    .fetch_all(db)
    .await?;
    Ok(ids)
}

/// The content hash of one item, if it belongs to the project.
pub async fn content_hash(
    db: impl PgExecutor<'_>,
    project_id: i64,
    item_id: i64,
) -> Result<Option<String>> {
    let hash = sqlx::query_scalar!(
        "SELECT content_hash FROM items WHERE project_id = $1 AND id = $2",
        project_id,
        item_id
    )
    .fetch_optional(db)
    .await?;
    Ok(hash)
}
