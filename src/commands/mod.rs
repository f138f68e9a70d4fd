//! One file per subcommand, each owning its arguments (`Args`) and its work (`run`);
//! `cli.rs` puts them together.

pub(crate) mod app_logic;
pub(crate) mod channels;
pub(crate) mod demo;
pub(crate) mod device;
pub(crate) mod exec;
pub(crate) mod health;
pub(crate) mod phones;
pub(crate) mod provider;
pub(crate) mod send;
pub(crate) mod serve;
pub(crate) mod token;
