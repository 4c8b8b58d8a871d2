//! Key rotation's second half: re-wrapping every subject data key under the current KEK.

use super::{RequestMeta, Vault, append_audit};
use crate::action::AuditAction;
use crate::error::VaultError;
use crate::policy::{Action, Principal};
use crate::seal::SubjectKeys;
use crate::store::{read_tx, write_tx};

impl Vault {
    /// Re-wraps every subject data key under the keyring's current KEK, in batches, without
    /// touching record ciphertext. `progress(done, total)` is called after each batch.
    pub async fn rewrap_data_keys(
        &self,
        meta: &RequestMeta,
        principal: &Principal,
        progress: &(dyn Fn(u64, u64) + Send + Sync),
    ) -> Result<u64, VaultError> {
        const BATCH: usize = 500;
        let mut ev = self.event(meta, Some(principal), AuditAction::KeysRewrap);
        self.authorize(principal, Action::ManageKeys, &ev).await?;
        let keyring = self.keyring();
        let current = keyring.current_kek_version();
        ev.target = Some(format!("kek_v{current}"));
        let total = read_tx(&*self.store, |tx| Ok(tx.count_subject_keys()?)).await?;
        let mut done = 0u64;
        let mut rewrapped = 0u64;
        let mut after: Option<String> = None;
        loop {
            let cursor = after.clone();
            let page = read_tx(&*self.store, move |tx| {
                Ok(tx.list_subject_keys(cursor.as_deref(), BATCH)?)
            })
            .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.subject.clone());
            done += page.len() as u64;
            let keyring = keyring.clone();
            rewrapped += write_tx(&*self.store, move |tx| {
                SubjectKeys::new(&keyring).rewrap(tx, &page)
            })
            .await?;
            progress(done, total);
        }
        ev.count = Some(rewrapped);
        write_tx(&*self.store, move |tx| append_audit(tx, &ev))
            .await
            .map_err(|_| VaultError::AuditUnavailable)?;
        Ok(rewrapped)
    }
}
