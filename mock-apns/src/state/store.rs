//! The state database (embedded SQLite in WAL mode): everything APNs would remember —
//! the CA, the token secret, signing keys, devices, installs, generations, the token
//! index with its 410 timestamps, lifecycle events and the recent capture log — so a
//! restart with the same data dir forgets nothing.
//!
//! The in-memory tables are the working copy and this is their journal. At start-up the
//! database is read on the calling thread ([`Opened`]); from then on one writer thread
//! owns the connection ([`Store`]) and no async worker ever waits on SQLite. Writers
//! send batches of [`Write`]s; the writer thread takes everything queued, commits it in
//! one transaction (group commit) and only then tells each sender it is durable. With
//! `synchronous = FULL` a commit survives a crash of the process and of the machine.
//! Tests and the in-process harness use an in-memory database through the same code.

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use protocol::Environment;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot};

use super::rows::{
    Batch, Held, HeldKey, KeyRow, StoredActivity, StoredApp, StoredChannel, StoredDevice, StoredToken,
    StoredWebSubscription,
};
use crate::error::Error;

/// The schema this build writes. A database with a higher `user_version` was written by
/// a newer apns-lab and is refused rather than misread. Version 2 keeps the capture log
/// in batches (`capture_batches`); version 1's one row per request (`capture`) is still
/// read, and moved into a batch when the database is opened. Version 3 adds Live
/// Activity tokens (`activities`) and the activity a held notification is for
/// (`held.activity`); a version-2 database gains both when opened. Version 4 adds Web
/// Push subscriptions (`web_subscriptions`), a new table an older database gains; version
/// 5 adds what ended one (`web_subscriptions.ended_by`), a column a version-4 database gains.
const SCHEMA_VERSION: i64 = 5;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS keys (
    key_id TEXT PRIMARY KEY, team_id TEXT NOT NULL, environment TEXT NOT NULL,
    topics TEXT, related_key_id TEXT, public_key_pem TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS devices (
    udid TEXT PRIMARY KEY, generation INTEGER NOT NULL, online INTEGER NOT NULL, backup TEXT);
CREATE TABLE IF NOT EXISTS apps (
    udid TEXT NOT NULL, seq INTEGER NOT NULL, bundle_id TEXT NOT NULL, environment TEXT NOT NULL,
    team_id TEXT NOT NULL, install_gen INTEGER NOT NULL, version INTEGER NOT NULL,
    uninstalled_at INTEGER NOT NULL, learned_at INTEGER NOT NULL, pending INTEGER NOT NULL,
    indexed INTEGER NOT NULL, token BLOB NOT NULL,
    PRIMARY KEY (udid, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead_tokens (
    environment TEXT NOT NULL, token BLOB NOT NULL, udid TEXT NOT NULL, bundle_id TEXT NOT NULL,
    dead_at INTEGER NOT NULL, PRIMARY KEY (environment, token)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS capture (seq INTEGER PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS capture_batches (
    newest_seq INTEGER PRIMARY KEY, oldest_seq INTEGER NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS held (
    udid TEXT NOT NULL, bundle_id TEXT NOT NULL, environment TEXT NOT NULL, apns_id TEXT NOT NULL,
    received_ms INTEGER NOT NULL, expires_at INTEGER NOT NULL, priority INTEGER NOT NULL,
    push_type TEXT NOT NULL, topic TEXT NOT NULL, collapse_id TEXT, payload BLOB NOT NULL, activity TEXT,
    PRIMARY KEY (udid, bundle_id, environment)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS activities (
    udid TEXT NOT NULL, seq INTEGER NOT NULL, bundle_id TEXT NOT NULL, environment TEXT NOT NULL,
    push_to_start INTEGER NOT NULL, attributes_type TEXT NOT NULL, activity_id TEXT, token BLOB NOT NULL,
    issued_at INTEGER NOT NULL, ended_at INTEGER NOT NULL, learned_at INTEGER NOT NULL, pending INTEGER NOT NULL,
    channel TEXT, PRIMARY KEY (udid, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS web_subscriptions (
    id TEXT PRIMARY KEY, udid TEXT NOT NULL, origin TEXT NOT NULL, name TEXT NOT NULL,
    application_server_key BLOB NOT NULL, p256dh BLOB NOT NULL, auth BLOB NOT NULL, phone_key BLOB NOT NULL,
    created_at INTEGER NOT NULL, ended_at INTEGER NOT NULL, ended_by TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS channels (
    id TEXT PRIMARY KEY, bundle_id TEXT NOT NULL, environment TEXT NOT NULL, storage_policy INTEGER NOT NULL,
    created_at INTEGER NOT NULL, deleted_at INTEGER NOT NULL) WITHOUT ROWID;
";

/// One change to persist.
pub(crate) enum Write {
    /// A signing key (its public half and restrictions).
    Key(KeyRow),
    /// A device with all its apps (and their live tokens), and its dead tokens.
    Device(StoredDevice, Vec<StoredToken>),
    /// A device's Live Activity tokens (all of them, replacing what was stored).
    Activities(String, Vec<StoredActivity>),
    /// A Web Push subscription (made, or ended).
    WebSubscription(StoredWebSubscription),
    /// A broadcast channel (created, or deleted).
    Channel(StoredChannel),
    /// Forget every device, app, token, event and captured request.
    ClearRegistry,
    /// A lifecycle event (JSON), keeping the newest `keep`.
    Event { seq: u64, body: String, keep: u64 },
    /// Captured requests (one batch), keeping the batches that hold the newest `keep`.
    Capture { batch: Batch, keep: u64 },
    /// A notification held for an offline device (replacing the app's previous one).
    Hold(HeldKey, Held),
    /// Forget what is held for a device.
    DropHeld(String),
    /// Forget what is held for one app of a device (it was delivered and acknowledged, or
    /// it expired).
    DropHeldApp(HeldKey),
}

/// A batch and whom to tell when it is durable.
type Job = (Vec<Write>, Option<oneshot::Sender<Result<(), String>>>);

/// How many batches may wait for the writer before senders wait too.
const QUEUE: usize = 4096;

/// The database before the writer starts: read what was saved, set up what is missing.
pub(crate) struct Opened {
    conn: Connection,
    path: Option<PathBuf>,
}

fn explain(path: Option<&Path>, e: rusqlite::Error) -> Error {
    let place = path.map_or_else(|| "the in-memory state".to_owned(), |p| p.display().to_string());
    let detail = match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => "it is not an apns-lab state database (or it is corrupt)".to_owned(),
        Some(rusqlite::ErrorCode::ReadOnly)
        | Some(rusqlite::ErrorCode::CannotOpen)
        | Some(rusqlite::ErrorCode::PermissionDenied) => {
            format!("it cannot be opened for writing: {e} (give --data-dir a directory this user can write)")
        }
        // SQLite reports a full disk met while growing its files as a plain I/O error.
        Some(rusqlite::ErrorCode::DiskFull) => super::data_dir::disk_full(&e),
        Some(rusqlite::ErrorCode::SystemIoFailure) if path.is_some_and(disk_is_full) => super::data_dir::disk_full(&e),
        Some(rusqlite::ErrorCode::SystemIoFailure) => {
            format!("{e}: the disk under the data dir failed; check it, or give --data-dir another directory")
        }
        _ => e.to_string(),
    };
    Error::Invalid(format!("state database {place}: {detail}"))
}

/// Whether the disk holding `file` is out of room: a 64 KiB probe next to it fails with
/// "no space".
fn disk_is_full(file: &Path) -> bool {
    let probe = file.with_extension("space-probe");
    let full = std::fs::write(&probe, [0u8; 64 * 1024])
        .is_err_and(|e| matches!(e.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded));
    let _ = std::fs::remove_file(&probe);
    full
}

/// Moves a version-1 capture log (one row per request) into one batch.
fn migrate_capture(conn: &Connection) -> rusqlite::Result<()> {
    let rows: Vec<(i64, Vec<u8>)> = conn
        .prepare("SELECT seq, body FROM capture ORDER BY seq")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    if rows.is_empty() {
        return Ok(());
    }
    let mut batch = Batch { oldest: 0, newest: 0, bytes: Vec::new() };
    for (seq, body) in &rows {
        batch.push(*seq as u64, |out| out.extend_from_slice(body));
    }
    let tx = conn.unchecked_transaction()?;
    tx.execute(
        "INSERT OR REPLACE INTO capture_batches (newest_seq, oldest_seq, body) VALUES (?1, ?2, ?3)",
        params![batch.newest as i64, batch.oldest as i64, batch.bytes],
    )?;
    tx.execute("DELETE FROM capture", [])?;
    tx.commit()
}

/// Adds `column` to `table` if an older build made the table without it.
fn add_column(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<()> {
    let has: bool = conn.query_row(
        &format!("SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = '{column}'"),
        [],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    if !has {
        conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} TEXT;"))?;
    }
    Ok(())
}

/// Gives a version-2 `held` table its `activity` column.
fn migrate_held(conn: &Connection) -> rusqlite::Result<()> {
    let has: bool =
        conn.query_row("SELECT COUNT(*) FROM pragma_table_info('held') WHERE name = 'activity'", [], |r| {
            r.get::<_, i64>(0).map(|n| n > 0)
        })?;
    if !has {
        conn.execute_batch("ALTER TABLE held ADD COLUMN activity TEXT;")?;
    }
    Ok(())
}

impl Opened {
    /// Opens (creating) `path`, or an in-memory database for `None`, and checks its schema.
    pub(crate) fn open(path: Option<&Path>) -> Result<Opened, Error> {
        let conn = match path {
            Some(p) => Connection::open(p),
            None => Connection::open_in_memory(),
        }
        .map_err(|e| explain(path, e))?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| explain(path, e))?;
        if version > SCHEMA_VERSION {
            return Err(Error::Invalid(format!(
                "state database {} was written by a newer apns-lab (schema {version}; this build reads up to {SCHEMA_VERSION}); it was left untouched",
                path.map_or("(memory)".into(), |p| p.display().to_string())
            )));
        }
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;").map_err(|e| explain(path, e))?;
        conn.execute_batch(SCHEMA).map_err(|e| explain(path, e))?;
        migrate_capture(&conn).map_err(|e| explain(path, e))?;
        migrate_held(&conn).map_err(|e| explain(path, e))?;
        add_column(&conn, "activities", "channel").map_err(|e| explain(path, e))?;
        add_column(&conn, "web_subscriptions", "ended_by").map_err(|e| explain(path, e))?;
        conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION};")).map_err(|e| explain(path, e))?;
        Ok(Opened { conn, path: path.map(Path::to_path_buf) })
    }

    pub(crate) fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()?)
    }

    pub(crate) fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", params![key, value])?;
        Ok(())
    }

    pub(crate) fn save_key(&self, key: KeyRow) -> Result<(), Error> {
        apply(&self.conn, &Write::Key(key))?;
        Ok(())
    }

    /// Every stored key, rebuilt from its public half.
    pub(crate) fn load_keys(&self) -> Result<Vec<KeyRow>, Error> {
        let mut stmt = self.conn.prepare(
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
        Ok(rows
            .into_iter()
            .map(|(key_id, team_id, environment, topics, related_key_id, public_key_pem)| KeyRow {
                key_id,
                team_id,
                environment,
                topics: topics.and_then(|t| serde_json::from_str(&t).ok()),
                related_key_id,
                public_key_pem,
            })
            .collect())
    }

    /// Every stored device with its apps, in UDID order, passed to `each` one at a time
    /// (a million devices are never all in a `Vec` at once).
    pub(crate) fn load_devices(&self, mut each: impl FnMut(StoredDevice)) -> Result<(), Error> {
        let bad = |what: String| Error::Invalid(format!("state database: {what}"));
        let mut apps = self.conn.prepare(
            "SELECT udid, bundle_id, environment, team_id, install_gen, version, uninstalled_at, learned_at, pending,
             indexed, token FROM apps ORDER BY udid, seq",
        )?;
        let mut app_rows = apps.query([])?;
        let mut next_app = app_rows.next()?;
        let mut devices = self.conn.prepare("SELECT udid, generation, online, backup FROM devices ORDER BY udid")?;
        let mut rows = devices.query([])?;
        while let Some(row) = rows.next()? {
            let udid: String = row.get(0)?;
            let backup: Option<String> = row.get(3)?;
            let backup = match backup {
                None => None,
                Some(json) => Some(
                    serde_json::from_str::<Vec<(String, String, Environment)>>(&json)
                        .map_err(|e| bad(format!("backup of {udid}: {e}")))?,
                ),
            };
            let mut device =
                StoredDevice { udid, generation: row.get(1)?, online: row.get(2)?, backup, apps: Vec::new() };
            while let Some(app) = next_app {
                let owner: String = app.get(0)?;
                if owner != device.udid {
                    break;
                }
                let env: String = app.get(2)?;
                device.apps.push(StoredApp {
                    bundle_id: app.get(1)?,
                    environment: env.parse().map_err(|_| bad(format!("app environment {env:?}")))?,
                    team_id: app.get(3)?,
                    install_gen: app.get(4)?,
                    version: app.get(5)?,
                    uninstalled_at: app.get::<_, i64>(6)? as u64,
                    learned_at: app.get::<_, i64>(7)? as u64,
                    pending: app.get(8)?,
                    indexed: app.get(9)?,
                    token: <[u8; 32]>::try_from(app.get::<_, Vec<u8>>(10)?.as_slice())
                        .map_err(|_| bad("a stored token is not 32 bytes".into()))?,
                });
                next_app = app_rows.next()?;
            }
            each(device);
        }
        Ok(())
    }

    /// Every dead token, passed to `each`.
    pub(crate) fn load_tokens(&self, mut each: impl FnMut(StoredToken)) -> Result<(), Error> {
        let mut stmt = self.conn.prepare("SELECT environment, token, udid, bundle_id, dead_at FROM dead_tokens")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let env: String = row.get(0)?;
            let token: Vec<u8> = row.get(1)?;
            let (Ok(environment), Ok(token)) = (env.parse(), <[u8; 32]>::try_from(token.as_slice())) else {
                return Err(Error::Invalid("state database: a stored token is malformed".into()));
            };
            each(StoredToken {
                environment,
                token,
                udid: row.get(2)?,
                bundle_id: row.get(3)?,
                dead_at: row.get::<_, i64>(4)? as u64,
            });
        }
        Ok(())
    }

    /// Every stored Live Activity token with its device's UDID, in issue order.
    pub(crate) fn load_activities(&self, mut each: impl FnMut(String, StoredActivity)) -> Result<(), Error> {
        let bad = || Error::Invalid("state database: a stored activity token is malformed".into());
        let mut stmt = self.conn.prepare(
            "SELECT udid, bundle_id, environment, push_to_start, attributes_type, activity_id, token, issued_at, ended_at,
             learned_at, pending, channel FROM activities ORDER BY udid, seq",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let env: String = r.get(2)?;
            each(
                r.get(0)?,
                StoredActivity {
                    bundle_id: r.get(1)?,
                    environment: env.parse().map_err(|_| bad())?,
                    push_to_start: r.get(3)?,
                    attributes_type: r.get(4)?,
                    activity_id: r.get(5)?,
                    token: r.get(6)?,
                    issued_at: r.get::<_, i64>(7)? as u64,
                    ended_at: r.get::<_, i64>(8)? as u64,
                    learned_at: r.get::<_, i64>(9)? as u64,
                    pending: r.get(10)?,
                    channel: r.get(11)?,
                },
            );
        }
        Ok(())
    }

    /// Every stored broadcast channel, deleted ones too, oldest first.
    pub(crate) fn load_channels(&self, mut each: impl FnMut(StoredChannel)) -> Result<(), Error> {
        let bad = || Error::Invalid("state database: a stored channel is malformed".into());
        let mut stmt = self.conn.prepare(
            "SELECT id, bundle_id, environment, storage_policy, created_at, deleted_at FROM channels ORDER BY created_at",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let env: String = r.get(2)?;
            each(StoredChannel {
                id: r.get(0)?,
                bundle_id: r.get(1)?,
                environment: env.parse().map_err(|_| bad())?,
                storage_policy: r.get(3)?,
                created_at: r.get::<_, i64>(4)? as u64,
                deleted_at: r.get::<_, i64>(5)? as u64,
            });
        }
        Ok(())
    }

    /// Every stored Web Push subscription, ended ones too, oldest first.
    pub(crate) fn load_web_subscriptions(&self, mut each: impl FnMut(StoredWebSubscription)) -> Result<(), Error> {
        let mut stmt = self.conn.prepare(
            "SELECT id, udid, origin, name, application_server_key, p256dh, auth, phone_key, created_at, ended_at,
             ended_by FROM web_subscriptions ORDER BY created_at",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            each(StoredWebSubscription {
                id: r.get(0)?,
                udid: r.get(1)?,
                origin: r.get(2)?,
                name: r.get(3)?,
                application_server_key: r.get(4)?,
                p256dh: r.get(5)?,
                auth: r.get(6)?,
                phone_key: r.get(7)?,
                created_at: r.get::<_, i64>(8)? as u64,
                ended_at: r.get::<_, i64>(9)? as u64,
                ended_by: r.get(10)?,
            });
        }
        Ok(())
    }

    /// The stored lifecycle events (JSON), oldest first, with their sequence numbers.
    pub(crate) fn load_events(&self) -> Result<Vec<(u64, String)>, Error> {
        let mut stmt = self.conn.prepare("SELECT seq, body FROM events ORDER BY seq")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The stored capture log (encoded records), oldest first.
    pub(crate) fn load_capture(&self) -> Result<Vec<(u64, Vec<u8>)>, Error> {
        let mut stmt = self.conn.prepare("SELECT body FROM capture_batches ORDER BY newest_seq")?;
        let batches = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        let mut records = Vec::new();
        for batch in batches {
            records.extend(Batch::records(&batch?));
        }
        Ok(records)
    }

    /// Every held notification, passed to `each`.
    pub(crate) fn load_held(&self, mut each: impl FnMut(HeldKey, Held)) -> Result<(), Error> {
        let bad = || Error::Invalid("state database: a held notification is malformed".into());
        let mut stmt = self.conn.prepare(
            "SELECT udid, bundle_id, environment, apns_id, received_ms, expires_at, priority, push_type, topic, collapse_id, payload, activity FROM held",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let env: String = r.get(2)?;
            let apns_id: String = r.get(3)?;
            let push_type: String = r.get(7)?;
            let held = Held {
                apns_id: protocol::ApnsId::parse(&apns_id).map_err(|_| bad())?,
                received_ms: r.get::<_, i64>(4)? as u64,
                expires_at: r.get::<_, i64>(5)? as u64,
                priority: protocol::Priority::try_from(r.get::<_, u8>(6)?).map_err(|_| bad())?,
                push_type: protocol::PushType::from_name(&push_type).map_err(|_| bad())?,
                topic: r.get(8)?,
                collapse_id: r.get(9)?,
                payload: bytes::Bytes::from(r.get::<_, Vec<u8>>(10)?),
                activity: match r.get::<_, Option<String>>(11)? {
                    Some(json) => Some(serde_json::from_str(&json).map_err(|_| bad())?),
                    None => None,
                },
            };
            let key: HeldKey =
                (r.get::<_, String>(0)?.into(), r.get::<_, String>(1)?.into(), env.parse().map_err(|_| bad())?);
            each(key, held);
        }
        Ok(())
    }

    /// Hands the connection to the writer thread.
    pub(crate) fn start_writer(self) -> Result<Store, Error> {
        let (tx, rx) = mpsc::channel::<Job>(QUEUE);
        let path = self.path.clone();
        let thread = std::thread::Builder::new()
            .name("apns-lab-store".into())
            .spawn(move || writer(self.conn, rx, path))
            .map_err(Error::Io)?;
        Ok(Store { tx, thread: Some(thread) })
    }
}

/// The writer thread: group commit until every sender is gone.
fn writer(mut conn: Connection, mut rx: mpsc::Receiver<Job>, path: Option<PathBuf>) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < 1024
            && let Ok(job) = rx.try_recv()
        {
            jobs.push(job);
        }
        let result = (|| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            for (writes, _) in &jobs {
                for w in writes {
                    apply(&tx, w)?;
                }
            }
            tx.commit()
        })();
        let result = result.map_err(|e| explain(path.as_deref(), e).to_string());
        if let Err(e) = &result {
            tracing::error!(error = %e, "state database write failed");
        }
        for (_, done) in jobs {
            if let Some(done) = done {
                let _ = done.send(result.clone());
            }
        }
    }
}

fn apply(conn: &Connection, w: &Write) -> rusqlite::Result<()> {
    match w {
        Write::Key(KeyRow { key_id, team_id, environment, topics, related_key_id, public_key_pem }) => {
            let topics = topics.as_ref().map(|t| serde_json::to_string(t).unwrap_or_default());
            conn.prepare_cached(
                "INSERT OR REPLACE INTO keys (key_id, team_id, environment, topics, related_key_id, public_key_pem)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![key_id, team_id, environment, topics, related_key_id, public_key_pem])?;
        }
        Write::Device(d, tokens) => {
            let backup = d.backup.as_ref().map(|b| serde_json::to_string(b).unwrap_or_default());
            conn.prepare_cached(
                "INSERT OR REPLACE INTO devices (udid, generation, online, backup) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![d.udid, d.generation, d.online, backup])?;
            conn.prepare_cached("DELETE FROM apps WHERE udid = ?1")?.execute([&d.udid])?;
            let mut insert = conn.prepare_cached(
                "INSERT INTO apps (udid, seq, bundle_id, environment, team_id, install_gen, version, uninstalled_at, learned_at,
                 pending, indexed, token) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            for (seq, a) in d.apps.iter().enumerate() {
                insert.execute(params![
                    d.udid,
                    seq as i64,
                    a.bundle_id,
                    a.environment.as_str(),
                    a.team_id,
                    a.install_gen,
                    a.version,
                    a.uninstalled_at as i64,
                    a.learned_at as i64,
                    a.pending,
                    a.indexed,
                    &a.token[..]
                ])?;
            }
            let mut insert = conn.prepare_cached(
                "INSERT OR REPLACE INTO dead_tokens (environment, token, udid, bundle_id, dead_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for t in tokens {
                insert.execute(params![t.environment.as_str(), &t.token[..], t.udid, t.bundle_id, t.dead_at as i64])?;
            }
        }
        Write::ClearRegistry => {
            conn.execute_batch(
                "DELETE FROM apps; DELETE FROM devices; DELETE FROM dead_tokens; DELETE FROM events; DELETE FROM capture; DELETE FROM capture_batches; DELETE FROM held; DELETE FROM activities; DELETE FROM channels; DELETE FROM web_subscriptions;",
            )?;
        }
        Write::Event { seq, body, keep } => {
            conn.prepare_cached("INSERT OR REPLACE INTO events (seq, body) VALUES (?1, ?2)")?
                .execute(params![*seq as i64, body])?;
            conn.prepare_cached("DELETE FROM events WHERE seq <= ?1")?.execute([seq.saturating_sub(*keep) as i64])?;
        }
        Write::Capture { batch, keep } => {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO capture_batches (newest_seq, oldest_seq, body) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![batch.newest as i64, batch.oldest as i64, &batch.bytes[..]])?;
            // A batch goes once every record in it is older than the newest `keep`.
            conn.prepare_cached("DELETE FROM capture_batches WHERE newest_seq <= ?1")?
                .execute([batch.newest.saturating_sub(*keep) as i64])?;
        }
        Write::Hold((udid, bundle, env), h) => {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO held (udid, bundle_id, environment, apns_id, received_ms, expires_at, priority,
                 push_type, topic, collapse_id, payload, activity) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                &**udid,
                &**bundle,
                env.as_str(),
                h.apns_id.as_str(),
                h.received_ms as i64,
                h.expires_at as i64,
                h.priority.as_u8(),
                h.push_type.as_str(),
                h.topic,
                h.collapse_id,
                &h.payload[..],
                h.activity.as_ref().map(|a| serde_json::to_string(a).unwrap_or_default()),
            ])?;
        }
        Write::Activities(udid, rows) => {
            conn.prepare_cached("DELETE FROM activities WHERE udid = ?1")?.execute([udid])?;
            let mut insert = conn.prepare_cached(
                "INSERT INTO activities (udid, seq, bundle_id, environment, push_to_start, attributes_type, activity_id,
                 token, issued_at, ended_at, learned_at, pending, channel)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?;
            for (seq, a) in rows.iter().enumerate() {
                insert.execute(params![
                    udid,
                    seq as i64,
                    a.bundle_id,
                    a.environment.as_str(),
                    a.push_to_start,
                    a.attributes_type,
                    a.activity_id,
                    a.token,
                    a.issued_at as i64,
                    a.ended_at as i64,
                    a.learned_at as i64,
                    a.pending,
                    a.channel,
                ])?;
            }
        }
        Write::Channel(c) => {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO channels (id, bundle_id, environment, storage_policy, created_at, deleted_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                c.id,
                c.bundle_id,
                c.environment.as_str(),
                c.storage_policy,
                c.created_at as i64,
                c.deleted_at as i64
            ])?;
        }
        Write::WebSubscription(w) => {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO web_subscriptions (id, udid, origin, name, application_server_key, p256dh,
                 auth, phone_key, created_at, ended_at, ended_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                w.id,
                w.udid,
                w.origin,
                w.name,
                w.application_server_key,
                w.p256dh,
                w.auth,
                w.phone_key,
                w.created_at as i64,
                w.ended_at as i64,
                w.ended_by
            ])?;
        }
        Write::DropHeld(udid) => {
            conn.prepare_cached("DELETE FROM held WHERE udid = ?1")?.execute([udid])?;
        }
        Write::DropHeldApp((udid, bundle, env)) => {
            conn.prepare_cached("DELETE FROM held WHERE udid = ?1 AND bundle_id = ?2 AND environment = ?3")?
                .execute(params![&**udid, &**bundle, env.as_str()])?;
        }
    }
    Ok(())
}

/// The handle to the writer thread.
pub(crate) struct Store {
    tx: mpsc::Sender<Job>,
    thread: Option<JoinHandle<()>>,
}

impl Store {
    /// Writes `writes` in the next group commit and waits until they are durable.
    pub(crate) async fn write(&self, writes: Vec<Write>) -> Result<(), Error> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send((writes, Some(done)))
            .await
            .map_err(|_| Error::Invalid("the state database writer has stopped".into()))?;
        wait.await.map_err(|_| Error::Invalid("the state database writer has stopped".into()))?.map_err(Error::Invalid)
    }

    /// Queues `writes` without waiting (for state whose loss in a crash is harmless:
    /// the capture log, an uninstall APNs learned of — the next push relearns it).
    pub(crate) fn write_later(&self, writes: Vec<Write>) {
        if let Err(mpsc::error::TrySendError::Full((writes, _))) = self.tx.try_send((writes, None)) {
            let tx = self.tx.clone();
            tokio::spawn(async move {
                let _ = tx.send((writes, None)).await;
            });
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Closing the channel ends the writer after it has committed what was queued.
        let (closed, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.tx, closed));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
