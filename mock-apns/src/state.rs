//! The state room, at the bottom of the crate: the state database (embedded SQLite)
//! with the shapes of its rows, and the data directory one process holds. It imports
//! nothing from the rooms above it.

pub(crate) mod data_dir;
pub(crate) mod rows;
pub(crate) mod store;
