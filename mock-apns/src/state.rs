//! The state room, at the bottom of the crate: the state database (embedded SQLite)
//! with the shapes of its rows, and the data directory one process holds. It imports
//! nothing from the rooms above it; its [`State`] is what every room stands on.

pub(crate) mod data_dir;
pub(crate) mod rows;
pub(crate) mod store;

use crate::clock::Clock;
use crate::config::Config;
use crate::error::Error;
use crate::tls::Authority;

/// The bottom room: the settings, APNs's clock, the state database and the CA. Every
/// room above holds it as `state`.
pub(crate) struct State {
    pub(crate) config: Config,
    pub(crate) clock: Clock,
    pub(crate) store: store::Store,
    /// The local CA: the server certificate, device and provider certificates.
    pub(crate) authority: Authority,
}

impl State {
    /// Forgets every device, app, token, event, held notification and captured request
    /// in the database (keys, the CA and the token secret stay).
    pub(crate) async fn reset(&self) -> Result<(), Error> {
        self.store.write(vec![store::Write::ClearRegistry]).await
    }
}
