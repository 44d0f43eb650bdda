//! The history in one redb file: ACID, crash-safe (every commit is fsynced
//! before it returns, so a `kill -9` loses nothing recorded), pure Rust.
//!
//! One table keyed by `(stack, sequence)`: a stack's entries are one ordered
//! range, so listing newest first is a reverse range scan and trimming drops
//! the range's head. Values are JSON, so fields can be added without a
//! migration.

use std::path::Path;

use redb::{Database, ReadableDatabase as _, ReadableTable as _, TableDefinition};

use super::{Entry, GateVerdict, HistoryError, HistoryStore, KEEP};

const ENTRIES: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("entries");

/// A [`HistoryStore`] in a redb file.
pub struct RedbStore {
    db: Database,
}

impl RedbStore {
    /// Opens `path`, creating it when missing. A file left by a crash is
    /// repaired here. Blocks: the file is locked and read.
    ///
    /// # Errors
    /// When the file cannot be created, locked (another docker-cd uses it) or read.
    pub fn open(path: &Path) -> Result<Self, HistoryError> {
        let open = || -> Result<Database, redb::Error> {
            let db = Database::create(path)?;
            // Created now, so reads never meet a missing table.
            let txn = db.begin_write()?;
            txn.open_table(ENTRIES)?;
            txn.commit()?;
            Ok(db)
        };
        open()
            .map(|db| Self { db })
            .map_err(|source| HistoryError::Open {
                path: path.display().to_string(),
                source,
            })
    }

    fn append(&self, stack: &str, value: &[u8]) -> Result<(), redb::Error> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(ENTRIES)?;
            let range = (stack, 0)..=(stack, u64::MAX);
            let next = match table.range(range.clone())?.next_back() {
                Some(last) => last?.0.value().1.saturating_add(1),
                None => 0,
            };
            table.insert((stack, next), value)?;
            let mut old = Vec::new();
            for item in table.range(range)?.rev().skip(KEEP) {
                old.push(item?.0.value().1);
            }
            for sequence in old {
                table.remove((stack, sequence))?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Replaces `stack`'s newest value by what `change` makes of it (`None`:
    /// left as it is), read and written in one transaction.
    fn amend_newest(
        &self,
        stack: &str,
        change: impl FnOnce(&[u8]) -> Option<Vec<u8>>,
    ) -> Result<(), redb::Error> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(ENTRIES)?;
            let newest = match table.range((stack, 0)..=(stack, u64::MAX))?.next_back() {
                Some(item) => {
                    let (key, value) = item?;
                    Some((key.value().1, value.value().to_vec()))
                }
                None => None,
            };
            if let Some((sequence, value)) = newest
                && let Some(changed) = change(&value)
            {
                table.insert((stack, sequence), changed.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn read(&self, stack: &str) -> Result<Vec<Vec<u8>>, redb::Error> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(ENTRIES)?;
        let mut values = Vec::new();
        for item in table.range((stack, 0)..=(stack, u64::MAX))?.rev() {
            values.push(item?.1.value().to_vec());
        }
        Ok(values)
    }
}

impl HistoryStore for RedbStore {
    fn record(&self, stack: &str, entry: &Entry) -> Result<(), HistoryError> {
        let value = serde_json::to_vec(entry)?;
        Ok(self.append(stack, &value)?)
    }

    fn settle(&self, stack: &str, verdict: &GateVerdict) -> Result<(), HistoryError> {
        Ok(self.amend_newest(stack, |value| {
            // An entry this version cannot read is left as it is.
            let mut entry: Entry = serde_json::from_slice(value).ok()?;
            entry
                .settle(verdict)
                .then(|| serde_json::to_vec(&entry).ok())
                .flatten()
        })?)
    }

    fn list(&self, stack: &str) -> Result<Vec<Entry>, HistoryError> {
        let values = self.read(stack)?;
        // An entry this version cannot read (written by a newer one) is left
        // out rather than hiding the whole history.
        Ok(values
            .iter()
            .filter_map(|v| match serde_json::from_slice(v) {
                Ok(entry) => Some(entry),
                Err(error) => {
                    tracing::warn!(stack, %error, "unreadable history entry skipped");
                    None
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests;
