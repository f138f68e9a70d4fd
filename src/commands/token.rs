//! `apns-lab token`: prints a provider authentication token (an ES256 JWT) made from a
//! `.p8` key, as a provider's server signs one.

use std::path::PathBuf;

use crate::common::unix_now;

/// The key.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The .p8 file (PKCS#8 PEM), as downloaded from Apple or written by `serve`.
    #[arg(long)]
    pub(crate) key_file: PathBuf,
    /// The key's id (kid).
    #[arg(long)]
    pub(crate) key_id: String,
    /// The team id (iss).
    #[arg(long)]
    pub(crate) team_id: String,
}

/// Prints the token.
pub(crate) fn run(Args { key_file, key_id, team_id }: Args) -> Result<(), Box<dyn std::error::Error>> {
    let p8 = std::fs::read(&key_file).map_err(|e| format!("{}: {e}", key_file.display()))?;
    let signer =
        provider::TokenSigner::new(&p8, &key_id, &team_id).map_err(|e| format!("{}: {e}", key_file.display()))?;
    println!("{}", signer.sign(unix_now())?);
    Ok(())
}
