//! The data directory: creating it (`init`), and opening its pieces — config, sealed
//! keyring, store, TLS certificate. Key and config files are created owner-only, and a
//! keyring file that other users can read is refused.

use anyhow::{Context, Result, bail};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

use phivault_core::crypto::{KdfParams, Keyring};
use phivault_core::store::Store;
use phivault_core::{SystemClock, Vault, VaultConfig};
use phivault_store_postgres::{PgOptions, PgStore};
use phivault_store_sqlite::{SqliteOptions, SqliteStore, Synchronous};

use crate::config::{self, CONFIG_FILE, Config};

/// Where the development vault lives unless `--data-dir` says otherwise.
pub(crate) const DEV_DATA_DIR: &str = ".phivault-dev";
/// The development vault keeps its passphrase beside the keyring; never do this in production.
pub(crate) const DEV_PASSPHRASE_FILE: &str = "DEV-ONLY-PASSPHRASE";

/// Writes `bytes` to a new owner-only (0600) file, atomically (temporary file + rename).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// Reads a secret file, refusing it when group or others may read it.
pub(crate) fn read_private(path: &Path) -> Result<Vec<u8>> {
    let meta = fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "{} is readable by other users; run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    Ok(fs::read(path)?)
}

/// The passphrase from `PHIVAULT_PASSPHRASE`, or asked for on the terminal.
pub(crate) fn passphrase(confirm: bool) -> Result<Zeroizing<String>> {
    if let Some(p) = config::env::secret(config::env::PASSPHRASE) {
        return Ok(p);
    }
    let p = Zeroizing::new(
        rpassword::prompt_password("Keyring passphrase: ")
            .context("no PHIVAULT_PASSPHRASE and no terminal to ask for it")?,
    );
    if confirm {
        let again = Zeroizing::new(rpassword::prompt_password("Repeat passphrase: ")?);
        if *again != *p {
            bail!("the passphrases differ");
        }
    }
    Ok(p)
}

/// Argon2id parameters for new keyring files. `PHIVAULT_INSECURE_FAST_KDF=1` makes them
/// tiny, for test suites that create many vaults; a keyring sealed that way is weak.
pub(crate) fn kdf_params() -> Result<KdfParams> {
    Ok(if config::env::insecure_fast_kdf()? {
        KdfParams::insecure_fast_for_tests()
    } else {
        KdfParams::recommended()
    })
}

/// The pieces of an opened data directory.
pub(crate) struct Opened {
    pub(crate) dir: PathBuf,
    pub(crate) config: Config,
    pub(crate) vault: Arc<Vault>,
}

/// Connects to the PostgreSQL database named by the storage URL (applying migrations).
pub(crate) fn connect_postgres(url: &str) -> Result<PgStore> {
    // The URL may carry a password: errors name the backend, never the URL.
    PgStore::connect(url, PgOptions::default()).context("connecting to PostgreSQL")
}

/// Opens the store alone (no keys): for commands that only read hashes and ids.
pub(crate) fn open_store(dir: &Path, config: &Config) -> Result<Arc<dyn Store>> {
    open_store_journaled(dir, config, None)
}

/// [`open_store`], with a SQLite store journaling its commits for point-in-time recovery.
fn open_store_journaled(
    dir: &Path,
    config: &Config,
    journal: Option<Arc<phivault_store_sqlite::journal::Journal>>,
) -> Result<Arc<dyn Store>> {
    if config.is_postgres() {
        return Ok(Arc::new(connect_postgres(&config.storage)?));
    }
    let synchronous = if config.sqlite_synchronous == "normal" {
        Synchronous::Normal
    } else {
        Synchronous::Full
    };
    let opts = SqliteOptions {
        synchronous,
        ..SqliteOptions::default()
    };
    let path = config.sqlite_path(dir);
    if !path.exists() {
        bail!(
            "no vault database at {}; run `phivault init` first",
            path.display()
        );
    }
    let store = match journal {
        Some(j) => SqliteStore::open_with_journal(&path, opts, j),
        None => SqliteStore::open(&path, opts),
    }
    .with_context(|| format!("opening {}", path.display()))?;
    Ok(Arc::new(store))
}

/// Opens the keyring file with `passphrase`.
pub(crate) fn open_keyring(dir: &Path, config: &Config, passphrase: &str) -> Result<Keyring> {
    let bytes = read_private(&dir.join(&config.keyring))?;
    Keyring::open(&bytes, passphrase.as_bytes()).context("opening the keyring")
}

/// Opens config, keyring and store, and builds the vault service.
pub(crate) fn open(dir: &Path, passphrase: &str) -> Result<Opened> {
    open_journaled(dir, Config::load(dir)?, passphrase, None)
}

/// [`open`] for `serve`, with its loaded `config`: a SQLite store journals its commits
/// into `journal` (the vault's clock stamps them, so the journal's clock must be the
/// vault's).
pub(crate) fn open_journaled(
    dir: &Path,
    config: Config,
    passphrase: &str,
    journal: Option<Arc<phivault_store_sqlite::journal::Journal>>,
) -> Result<Opened> {
    let keyring = open_keyring(dir, &config, passphrase)?;
    let store = open_store_journaled(dir, &config, journal)?;
    let vault_config = VaultConfig {
        max_token_ttl: time::Duration::days(i64::from(config.max_token_ttl_days)),
        mfa_required: config.mfa_required,
        session_idle_timeout: time::Duration::minutes(i64::from(config.session_idle_minutes)),
        session_lifetime: time::Duration::hours(i64::from(config.session_lifetime_hours)),
        ..VaultConfig::default()
    };
    let vault = Arc::new(Vault::new(
        store,
        keyring,
        Arc::new(SystemClock),
        vault_config,
    ));
    Ok(Opened {
        dir: dir.to_owned(),
        config,
        vault,
    })
}

/// A self-signed certificate for `localhost`, `127.0.0.1` and `::1` (PEM cert, PEM key).
pub(crate) fn self_signed_cert() -> Result<(String, Zeroizing<String>)> {
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let cert = rcgen::generate_simple_self_signed(names).context("generating a certificate")?;
    Ok((
        cert.cert.pem(),
        Zeroizing::new(cert.signing_key.serialize_pem()),
    ))
}

/// Creates a new data directory: config, sealed keyring, database (with a fresh vault
/// id), certificate.
pub(crate) async fn init(
    dir: &Path,
    config: &Config,
    passphrase: &str,
    tls: Option<(PathBuf, PathBuf)>,
) -> Result<()> {
    // A keyring or database without a config is still a vault (one whose config was lost,
    // or whose init was interrupted): a fresh keyring over it would orphan every stored key.
    let mut existing = vec![dir.join(CONFIG_FILE), dir.join(&config.keyring)];
    if !config.is_postgres() {
        existing.push(config.sqlite_path(dir));
    }
    if let Some(found) = existing.iter().find(|p| p.exists()) {
        bail!(
            "{} already holds a vault ({} exists); refusing to overwrite it",
            dir.display(),
            found.display()
        );
    }
    config.check()?;
    // A PostgreSQL database is checked before any file is written: one database holds
    // one vault, whose nodes share a copy of the first node's data directory.
    let postgres = if config.is_postgres() {
        let store = connect_postgres(&config.storage)?;
        let existing = phivault_core::store::read_tx(&store, |tx| {
            Ok(tx.get_meta(phivault_core::store::META_VAULT_ID)?)
        })
        .await?;
        if existing.is_some() {
            bail!(
                "the PostgreSQL database already holds a vault; to add a node, copy the data \
                 directory of an existing node instead of running init"
            );
        }
        Some(store)
    } else {
        None
    };
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    let keyring = Keyring::generate()?;
    let sealed = keyring.seal(passphrase.as_bytes(), &kdf_params()?)?;
    write_private(&dir.join(&config.keyring), &sealed)?;

    let (cert_path, key_path) = (dir.join(&config.tls_cert), dir.join(&config.tls_key));
    if let Some(parent) = cert_path.parent() {
        fs::create_dir_all(parent)?;
    }
    match tls {
        Some((cert, key)) => {
            fs::copy(&cert, &cert_path).with_context(|| format!("copying {}", cert.display()))?;
            write_private(&key_path, &read_private(&key)?)?;
        }
        None => {
            let (cert, key) = self_signed_cert()?;
            fs::write(&cert_path, cert)?;
            write_private(&key_path, key.as_bytes())?;
        }
    }
    let text = toml::to_string(config)?;
    write_private(&dir.join(CONFIG_FILE), text.as_bytes())?;
    let store: Box<dyn Store> = match postgres {
        Some(store) => Box::new(store),
        None => Box::new(open_store_creating(dir, config)?),
    };
    let vault_id = uuid::Uuid::new_v4().to_string();
    phivault_core::store::write_tx(&*store, move |tx| {
        Ok(tx.set_meta(phivault_core::store::META_VAULT_ID, &vault_id)?)
    })
    .await?;
    Ok(())
}

fn open_store_creating(dir: &Path, config: &Config) -> Result<SqliteStore> {
    let path = config.sqlite_path(dir);
    let store = SqliteStore::open(&path, SqliteOptions::default())
        .with_context(|| format!("creating {}", path.display()))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
    Ok(store)
}
