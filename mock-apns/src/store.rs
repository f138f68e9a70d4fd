//! The state database (embedded SQLite): the CA, the token secret, signing keys and the
//! registry, so a restart with the same data dir keeps every trust root and token.
//!
//! Writes happen only on admin operations (registering keys and devices), never on the
//! push path; the in-memory maps are the working copy and this is their journal. Tests
//! and the in-process harness use an in-memory database through the same code.

use std::path::Path;
use std::sync::Mutex;

use protocol::Environment;
use rusqlite::{Connection, OptionalExtension, params};

use crate::Error;
use crate::auth::{KeyEnvironment, SigningKey};
use crate::registry::AppRecord;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS keys (
    key_id TEXT PRIMARY KEY, team_id TEXT NOT NULL, environment TEXT NOT NULL,
    topics TEXT, related_key_id TEXT, public_key_pem TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS devices (udid TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS apps (
    udid TEXT NOT NULL, bundle_id TEXT NOT NULL, environment TEXT NOT NULL, team_id TEXT NOT NULL,
    generation INTEGER NOT NULL, token TEXT NOT NULL, unregistered_at INTEGER,
    PRIMARY KEY (udid, bundle_id, environment));
";

/// Every stored device's UDID, and every app with its device's UDID.
pub(crate) type StoredRegistry = (Vec<String>, Vec<(String, AppRecord)>);

/// The database handle.
pub(crate) struct Store {
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (creating) `path`, or an in-memory database for `None`.
    pub(crate) fn open(path: Option<&Path>) -> Result<Self, Error> {
        let conn = match path {
            Some(p) => Connection::open(p)?,
            None => Connection::open_in_memory()?,
        };
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub(crate) fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        self.conn().execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            params![key, value],
        )?;
        Ok(())
    }

    pub(crate) fn save_key(&self, key: &SigningKey) -> Result<(), Error> {
        let topics = key
            .topics
            .as_ref()
            .map(|t| serde_json::to_string(t).unwrap_or_default());
        self.conn().execute(
            "INSERT OR REPLACE INTO keys (key_id, team_id, environment, topics, related_key_id, public_key_pem)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![key.key_id, key.team_id, key.environment.as_str(), topics, key.related_key_id, key.public_key_pem],
        )?;
        Ok(())
    }

    /// Every stored key, rebuilt from its public half.
    pub(crate) fn load_keys(&self) -> Result<Vec<SigningKey>, Error> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT key_id, team_id, environment, topics, related_key_id, public_key_pem FROM keys ORDER BY key_id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(key_id, team_id, env, topics, related, pem)| {
                let env = KeyEnvironment::parse(&env).ok_or_else(|| {
                    Error::Invalid(format!("stored key {key_id} has environment {env:?}"))
                })?;
                let topics = topics.and_then(|t| serde_json::from_str(&t).ok());
                SigningKey::new(&key_id, &team_id, env, topics, related, &pem)
            })
            .collect()
    }

    pub(crate) fn save_device(&self, udid: &str) -> Result<(), Error> {
        self.conn()
            .execute("INSERT OR IGNORE INTO devices (udid) VALUES (?1)", [udid])?;
        Ok(())
    }

    pub(crate) fn save_app(&self, udid: &str, app: &AppRecord) -> Result<(), Error> {
        self.conn().execute(
            "INSERT OR REPLACE INTO apps (udid, bundle_id, environment, team_id, generation, token, unregistered_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                udid,
                app.bundle_id,
                app.environment.as_str(),
                app.team_id,
                app.generation,
                app.token.to_hex(),
                app.unregistered_at.map(|t| t as i64)
            ],
        )?;
        Ok(())
    }

    /// Every stored device with its apps.
    pub(crate) fn load_registry(&self) -> Result<StoredRegistry, Error> {
        let conn = self.conn();
        let devices = conn
            .prepare("SELECT udid FROM devices ORDER BY udid")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        let mut stmt = conn.prepare(
            "SELECT udid, bundle_id, environment, team_id, generation, token, unregistered_at FROM apps ORDER BY udid",
        )?;
        let apps = stmt
            .query_map([], |r| {
                let env: String = r.get(2)?;
                let token: String = r.get(5)?;
                let unregistered: Option<i64> = r.get(6)?;
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    env,
                    r.get::<_, String>(3)?,
                    r.get::<_, u32>(4)?,
                    token,
                    unregistered,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::with_capacity(apps.len());
        for (udid, bundle_id, env, team_id, generation, token, unregistered) in apps {
            let environment: Environment = env
                .parse()
                .map_err(|_| Error::Invalid(format!("stored app has environment {env:?}")))?;
            let token = token
                .parse()
                .map_err(|_| Error::Invalid(format!("stored token for {bundle_id} is not hex")))?;
            out.push((
                udid,
                AppRecord {
                    bundle_id,
                    environment,
                    team_id,
                    generation,
                    token,
                    unregistered_at: unregistered.map(|t| t as u64),
                },
            ));
        }
        Ok((devices, out))
    }

    /// Forgets every device and app (keys and the CA stay).
    pub(crate) fn clear_registry(&self) -> Result<(), Error> {
        self.conn()
            .execute_batch("DELETE FROM apps; DELETE FROM devices;")?;
        Ok(())
    }
}
