//! The embedded store for local runs: one SQLite database in the data directory holding signs,
//! evidence events and blobs. Same guarantees as DynamoDB + S3 (conditional, atomic, append-only
//! evidence, never-overwritten blobs), not the same durability or encryption: it is for
//! development, never for real signers' data.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{
    BlobInventory, BlobStore, BlobVersion, CommitError, SignAdmin, SignReader, SignUpdate,
    SignWriter, StoreError, StoredBlob, WrittenBlob,
};
use crate::evidence::EvidenceEvent;
use crate::ids::SignKey;
use crate::model::SignRecord;
use crate::time;

pub const DATABASE_FILE: &str = "biosign.sqlite3";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS signs (
    org_id  TEXT NOT NULL,
    sign_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    record  TEXT NOT NULL,
    PRIMARY KEY (org_id, sign_id)
);
CREATE TABLE IF NOT EXISTS events (
    org_id  TEXT NOT NULL,
    sign_id TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    event   TEXT NOT NULL,
    PRIMARY KEY (org_id, sign_id, seq)
);
CREATE TABLE IF NOT EXISTS blobs (
    key          TEXT PRIMARY KEY,
    bytes        BLOB NOT NULL,
    sha256       TEXT NOT NULL,
    content_type TEXT NOT NULL,
    written_at   TEXT
);
-- Evidence is append-only: the database itself refuses to change or remove an event.
CREATE TRIGGER IF NOT EXISTS events_are_immutable BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'evidence events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_are_permanent BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'evidence events are append-only'); END;
";

/// Signs, events and blobs in one SQLite file. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct EmbeddedStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("path", &self.path)
            .finish()
    }
}

fn sql(e: rusqlite::Error) -> StoreError {
    StoreError::new(format!("sqlite: {e}"))
}

fn json_err(e: serde_json::Error) -> StoreError {
    StoreError::new(format!("stored JSON is corrupt: {e}"))
}

impl EmbeddedStore {
    /// Opens (creating if needed) the database in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::new(format!(
                "cannot create data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        restrict_permissions(data_dir);
        let path = data_dir.join(DATABASE_FILE);
        let conn = Connection::open(&path).map_err(sql)?;
        // WAL lets the tool read while `serve` writes; the busy timeout makes the other process
        // wait for a write lock instead of failing.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sql)?;
        conn.execute_batch(SCHEMA).map_err(sql)?;
        add_blob_write_times(&conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` on the connection off the async runtime's threads.
    async fn with_conn<T, E>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut conn = conn
                .lock()
                .map_err(|_| StoreError::new("sqlite connection lock poisoned"))?;
            work(&mut conn)
        })
        .await
        .map_err(|e| StoreError::new(format!("sqlite task failed: {e}")))?
    }

    /// How many signs the store holds (`serve` creates a demo sign in an empty store).
    pub async fn count_signs(&self) -> Result<u64, StoreError> {
        self.with_conn(|conn| {
            conn.query_row("SELECT COUNT(*) FROM signs", [], |row| row.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(sql)
        })
        .await
    }
}

/// Databases made before blobs had a write time get the column; their blobs count as written
/// now, so that the orphan sweeper treats them as young rather than guess.
fn add_blob_write_times(conn: &Connection) -> Result<(), StoreError> {
    let has_column = conn
        .prepare("SELECT 1 FROM pragma_table_info('blobs') WHERE name = 'written_at'")
        .and_then(|mut statement| statement.exists([]))
        .map_err(sql)?;
    if !has_column {
        conn.execute_batch("ALTER TABLE blobs ADD COLUMN written_at TEXT")
            .map_err(sql)?;
    }
    conn.execute(
        "UPDATE blobs SET written_at = ?1 WHERE written_at IS NULL",
        params![time::format(&time::now())],
    )
    .map_err(sql)?;
    Ok(())
}

#[cfg(unix)]
fn restrict_permissions(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    // Best effort: the directory holds signatures and the dev signing key.
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
}

#[cfg(not(unix))]
fn restrict_permissions(_dir: &Path) {}

impl SignReader for EmbeddedStore {
    async fn get_sign(&self, key: &SignKey) -> Result<Option<SignRecord>, StoreError> {
        let (org, sign) = (key.org_id.to_string(), key.sign_id.to_string());
        self.with_conn(move |conn| {
            let record: Option<String> = conn
                .query_row(
                    "SELECT record FROM signs WHERE org_id = ?1 AND sign_id = ?2",
                    params![org, sign],
                    |row| row.get(0),
                )
                .optional()
                .map_err(sql)?;
            record
                .map(|r| serde_json::from_str(&r).map_err(json_err))
                .transpose()
        })
        .await
    }
}

impl SignWriter for EmbeddedStore {
    async fn commit(&self, update: &SignUpdate) -> Result<(), CommitError> {
        let record = serde_json::to_string(&update.sign).map_err(json_err)?;
        let event = update
            .event
            .as_ref()
            .map(|e| serde_json::to_string(e).map(|json| (e.seq, json)))
            .transpose()
            .map_err(json_err)?;
        let (org, sign) = (
            update.sign.org_id.to_string(),
            update.sign.sign_id.to_string(),
        );
        let (expected, version) = (update.expected_version, update.sign.version);
        self.with_conn(move |conn| {
            // IMMEDIATE takes the write lock up front, so the version check and the writes are
            // one atomic step even across processes.
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql)?;
            let stored: Option<i64> = tx
                .query_row(
                    "SELECT version FROM signs WHERE org_id = ?1 AND sign_id = ?2",
                    params![org, sign],
                    |row| row.get(0),
                )
                .optional()
                .map_err(sql)?;
            if stored != Some(expected as i64) {
                return Err(CommitError::Conflict);
            }
            tx.execute(
                "UPDATE signs SET version = ?3, record = ?4 WHERE org_id = ?1 AND sign_id = ?2",
                params![org, sign, version as i64, record],
            )
            .map_err(sql)?;
            if let Some((seq, json)) = event {
                let inserted = tx.execute(
                    "INSERT OR IGNORE INTO events (org_id, sign_id, seq, event) VALUES (?1, ?2, ?3, ?4)",
                    params![org, sign, seq as i64, json],
                );
                if inserted.map_err(sql)? == 0 {
                    return Err(CommitError::Conflict);
                }
            }
            tx.commit().map_err(sql)?;
            Ok(())
        })
        .await
    }
}

impl SignAdmin for EmbeddedStore {
    async fn create_sign(&self, sign: &SignRecord) -> Result<(), CommitError> {
        let record = serde_json::to_string(sign).map_err(json_err)?;
        let (org, id, version) = (
            sign.org_id.to_string(),
            sign.sign_id.to_string(),
            sign.version,
        );
        self.with_conn(move |conn| {
            let inserted = conn
                .execute(
                    "INSERT OR IGNORE INTO signs (org_id, sign_id, version, record) VALUES (?1, ?2, ?3, ?4)",
                    params![org, id, version as i64, record],
                )
                .map_err(sql)?;
            if inserted == 0 {
                return Err(CommitError::Conflict);
            }
            Ok(())
        })
        .await
    }

    async fn list_signs(
        &self,
        org: Option<&crate::ids::OrgId>,
    ) -> Result<Vec<SignRecord>, StoreError> {
        let org = org.map(|org| org.to_string());
        self.with_conn(move |conn| {
            let mut statement = conn
                .prepare("SELECT record FROM signs WHERE ?1 IS NULL OR org_id = ?1")
                .map_err(sql)?;
            let rows = statement
                .query_map(params![org], |row| row.get::<_, String>(0))
                .map_err(sql)?;
            rows.map(|row| {
                let json = row.map_err(sql)?;
                serde_json::from_str(&json).map_err(json_err)
            })
            .collect()
        })
        .await
    }

    async fn list_events(&self, key: &SignKey) -> Result<Vec<EvidenceEvent>, StoreError> {
        let (org, sign) = (key.org_id.to_string(), key.sign_id.to_string());
        self.with_conn(move |conn| {
            let mut statement = conn
                .prepare("SELECT event FROM events WHERE org_id = ?1 AND sign_id = ?2 ORDER BY seq")
                .map_err(sql)?;
            let rows = statement
                .query_map(params![org, sign], |row| row.get::<_, String>(0))
                .map_err(sql)?;
            rows.map(|row| {
                let json = row.map_err(sql)?;
                serde_json::from_str(&json).map_err(json_err)
            })
            .collect()
        })
        .await
    }
}

impl BlobStore for EmbeddedStore {
    async fn put_new(
        &self,
        key: &str,
        bytes: Bytes,
        sha256: [u8; 32],
        content_type: &str,
    ) -> Result<WrittenBlob, StoreError> {
        let checksum = base64::engine::general_purpose::STANDARD.encode(sha256);
        let (key, content_type) = (key.to_owned(), content_type.to_owned());
        let written_at = time::format(&time::now());
        self.with_conn(move |conn| {
            let inserted = conn
                .execute(
                    "INSERT OR IGNORE INTO blobs (key, bytes, sha256, content_type, written_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![key, &bytes[..], checksum, content_type, written_at],
                )
                .map_err(sql)?;
            if inserted == 0 {
                return Err(StoreError::new(format!("blob {key} already exists")));
            }
            Ok(WrittenBlob {
                key,
                version_id: None,
            })
        })
        .await
    }

    async fn remove(&self, blob: &WrittenBlob) -> Result<(), StoreError> {
        let key = blob.key.clone();
        self.with_conn(move |conn| {
            conn.execute("DELETE FROM blobs WHERE key = ?1", params![key])
                .map(|_| ())
                .map_err(sql)
        })
        .await
    }

    async fn get(&self, key: &str) -> Result<Option<StoredBlob>, StoreError> {
        let key = key.to_owned();
        self.with_conn(move |conn| {
            conn.query_row(
                "SELECT bytes, sha256 FROM blobs WHERE key = ?1",
                params![key],
                |row| {
                    Ok(StoredBlob {
                        bytes: Bytes::from(row.get::<_, Vec<u8>>(0)?),
                        checksum_sha256: Some(row.get(1)?),
                        encryption: None,
                    })
                },
            )
            .optional()
            .map_err(sql)
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let prefix = prefix.to_owned();
        self.with_conn(move |conn| {
            let mut statement = conn
                .prepare("SELECT key FROM blobs WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key")
                .map_err(sql)?;
            let rows = statement
                .query_map(params![prefix], |row| row.get::<_, String>(0))
                .map_err(sql)?;
            rows.map(|r| r.map_err(sql)).collect()
        })
        .await
    }
}

impl BlobInventory for EmbeddedStore {
    async fn list_versions(&self, prefix: &str) -> Result<Vec<BlobVersion>, StoreError> {
        let prefix = prefix.to_owned();
        self.with_conn(move |conn| {
            let mut statement = conn
                .prepare(
                    "SELECT key, written_at FROM blobs WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key",
                )
                .map_err(sql)?;
            let rows = statement
                .query_map(params![prefix], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?))
                })
                .map_err(sql)?;
            rows.map(|row| {
                let (key, written_at) = row.map_err(sql)?;
                let written_at = written_at
                    .as_deref()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .ok_or_else(|| StoreError::new(format!("blob {key} has no valid write time")))?;
                Ok(BlobVersion {
                    key,
                    version_id: None,
                    written_at,
                    delete_marker: false,
                })
            })
            .collect()
        })
        .await
    }

    async fn remove_version(&self, version: &BlobVersion) -> Result<(), StoreError> {
        self.remove(&WrittenBlob {
            key: version.key.clone(),
            version_id: None,
        })
        .await
    }
}
