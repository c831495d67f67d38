//! An offline basemap: raster tiles from an MBTiles file (a SQLite database of map tiles, as
//! made by common tile tools), read-only, so that an air-gapped control room sees its streets.
//! MBTiles rows count from the south (TMS); callers ask in the web's XYZ scheme (from the north).

use crate::error::db_error;
use polis_base::{Error, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::Row;
use std::collections::HashMap;
use std::path::Path;

/// An open MBTiles file.
#[derive(Clone, Debug)]
pub struct MbTiles {
    pool: SqlitePool,
    /// The file's `metadata` table (name, format, attribution, bounds, minzoom, maxzoom...).
    pub metadata: HashMap<String, String>,
}

impl MbTiles {
    /// Opens `path` read-only; a file without the `tiles` table (or `metadata`) is refused.
    pub async fn open(path: &Path) -> Result<MbTiles> {
        if !path.is_file() {
            return Err(Error::not_found(format!("no tile file at {}", path.display())));
        }
        let what = format!("open the tiles {}", path.display());
        let options = SqliteConnectOptions::new().filename(path).read_only(true).immutable(true);
        let pool =
            SqlitePoolOptions::new().max_connections(4).connect_with(options).await.map_err(|e| db_error(&what, e))?;
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name IN ('tiles', 'metadata')",
        )
        .fetch_all(&pool)
        .await
        .map_err(|e| Error::failed_precondition(format!("{} is not an MBTiles file: {e}", path.display())))?;
        if !(tables.iter().any(|t| t == "tiles") && tables.iter().any(|t| t == "metadata")) {
            return Err(Error::failed_precondition(format!(
                "{} is not an MBTiles file (it needs the tables tiles and metadata)",
                path.display()
            )));
        }
        let rows =
            sqlx::query("SELECT name, value FROM metadata").fetch_all(&pool).await.map_err(|e| db_error(&what, e))?;
        let mut metadata = HashMap::new();
        for r in rows {
            let (name, value): (String, String) = (r.try_get(0).unwrap_or_default(), r.try_get(1).unwrap_or_default());
            metadata.insert(name, value);
        }
        Ok(MbTiles { pool, metadata })
    }

    /// The image format of the tiles (`png`, `jpg` or `webp`; `png` when the file does not say).
    pub fn format(&self) -> &str {
        self.metadata.get("format").map(String::as_str).unwrap_or("png")
    }

    /// The tile at zoom `z`, column `x`, row `y` counted from the north (XYZ); `None` when the
    /// file has none there.
    pub async fn tile(&self, z: u8, x: u32, y: u32) -> Result<Option<Vec<u8>>> {
        if z > 30 || u64::from(x) >= (1u64 << z) || u64::from(y) >= (1u64 << z) {
            return Ok(None);
        }
        let row = (1u64 << z) - 1 - u64::from(y);
        sqlx::query_scalar("SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?")
            .bind(i64::from(z))
            .bind(i64::from(x))
            .bind(row as i64)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| db_error("read a tile", e))
    }
}
