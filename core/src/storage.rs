//! On-disk storage on redb: blocks, receipts, the transaction index, the canonical chain, the
//! latest flat state and the history of every account and slot.
//!
//! Each imported block is one redb write transaction (blocks, receipts, index, state, history and
//! the head pointer together), committed with `Durability::Immediate`: a kill at any moment leaves
//! either the previous head or the new one, never half a block. The in-memory state trie
//! ([`crate::state::StateSnapshot`]) is derived from the flat state at start-up and checked
//! against the head's state root.
//!
//! Keys: state tables are keyed by keccak(address) and keccak(slot), the order the state trie
//! uses. History rows are keyed `hashed key ‖ block number (BE)` and hold the value *after* that
//! block, so the value at block N is the last row at or before N.

use crate::{
    chainspec::ChainSpec,
    primitives::{Body, Header, Receipt, SealedBlock},
    state::{
        AccountFields, AccountState, StateDiff, StateError, StateProvider, StateSnapshot,
        hashed_address, hashed_slot,
    },
};
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_rlp::{Decodable, Encodable};
use redb::{
    Database, Durability, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition,
};
use std::{
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
};

const HEADERS: TableDefinition<'_, &[u8; 32], &[u8]> = TableDefinition::new("headers");
const BODIES: TableDefinition<'_, &[u8; 32], &[u8]> = TableDefinition::new("bodies");
const RECEIPTS: TableDefinition<'_, &[u8; 32], &[u8]> = TableDefinition::new("receipts");
/// The recovered senders of a block's transactions (20 bytes each, in block order), so reading a
/// block never repeats the signature recovery.
const SENDERS: TableDefinition<'_, &[u8; 32], &[u8]> = TableDefinition::new("senders");
const CANONICAL: TableDefinition<'_, u64, &[u8; 32]> = TableDefinition::new("canonical");
const TX_LOOKUP: TableDefinition<'_, &[u8; 32], &[u8]> = TableDefinition::new("tx_lookup");
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");
const ACCOUNTS: TableDefinition<'_, &[u8; 32], &[u8]> = TableDefinition::new("accounts");
const STORAGE: TableDefinition<'_, &[u8; 64], &[u8; 32]> = TableDefinition::new("storage");
const CODE: TableDefinition<'_, &[u8; 32], &[u8]> = TableDefinition::new("code");
const ACCOUNT_HISTORY: TableDefinition<'_, &[u8; 40], &[u8]> =
    TableDefinition::new("account_history");
const STORAGE_HISTORY: TableDefinition<'_, &[u8; 72], &[u8; 32]> =
    TableDefinition::new("storage_history");

const HEAD: &str = "head";
const SAFE: &str = "safe";
const FINALIZED: &str = "finalized";
const GENESIS: &str = "genesis";

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// redb failed.
    #[error("database: {0}")]
    Db(String),
    /// A record could not be decoded: the database is corrupt.
    #[error("corrupt record in {table}: {detail}")]
    Corrupt {
        /// Table name.
        table: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The datadir holds a different chain.
    #[error("datadir holds genesis {found}, but the chain spec's genesis is {expected}")]
    GenesisMismatch {
        /// Genesis in the database.
        found: B256,
        /// Genesis of the spec.
        expected: B256,
    },
    /// The database is closed after a failed write and could not be opened again yet (the disk
    /// is still full, or readers still hold the old file); [`Store::reopen`] tries again.
    #[error("database unavailable after a failed write: {0}")]
    Unavailable(String),
    /// The database file exists but holds nothing: it was truncated. A new chain is never
    /// started over it silently.
    #[error(
        "{0} is empty (truncated?): refusing to start a new chain over it; move it away to start over"
    )]
    Truncated(PathBuf),
    /// The datadir holds a node's journal but no database: a new chain is never started there
    /// silently.
    #[error(
        "{0} is missing, but the datadir holds a node's journal: refusing to start a new chain there; remove the datadir's journal/ directory to start over"
    )]
    Missing(PathBuf),
    /// Another process holds the datadir.
    #[error("datadir {0} is in use by another preconf-node process (its LOCK file is held)")]
    Locked(PathBuf),
    /// A block's parent is not the current head.
    #[error("block {number} ({hash}) does not extend the head {head}")]
    NotOnHead {
        /// Block number.
        number: u64,
        /// Block hash.
        hash: B256,
        /// Current head.
        head: B256,
    },
}

macro_rules! db_err {
    ($($t:ty),*) => {$(
        impl From<$t> for StorageError {
            fn from(e: $t) -> Self { StorageError::Db(e.to_string()) }
        }
    )*};
}
db_err!(
    redb::Error,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

impl From<redb::DatabaseError> for StorageError {
    fn from(e: redb::DatabaseError) -> Self {
        match e {
            redb::DatabaseError::Storage(redb::StorageError::Corrupted(detail)) => {
                StorageError::Corrupt {
                    table: "database file",
                    detail: format!(
                        "{detail} (the file was damaged on disk; restore it from a backup, or move it away to start over)"
                    ),
                }
            }
            e => StorageError::Db(e.to_string()),
        }
    }
}

impl From<StorageError> for StateError {
    fn from(e: StorageError) -> Self {
        StateError(e.to_string())
    }
}

/// Where a transaction sits in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxLocation {
    /// Block hash.
    pub block_hash: B256,
    /// Block number.
    pub block_number: u64,
    /// Index in the block.
    pub index: u64,
}

/// The node's database. Clones share one open database file.
///
/// redb refuses every later operation once a write has failed with an I/O error (a full disk:
/// its `PreviousIo`), until the file is opened again. [`Store::reopen`] does that in place, so a
/// node whose commit failed can carry on once the cause is gone instead of stalling for good.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

#[derive(Debug)]
struct StoreInner {
    path: PathBuf,
    /// `None` between closing a failed database and opening it again.
    db: RwLock<Option<Arc<Database>>>,
}

fn corrupt(table: &'static str, detail: impl ToString) -> StorageError {
    StorageError::Corrupt {
        table,
        detail: detail.to_string(),
    }
}

fn storage_key(hashed_address: &B256, hashed_slot: &B256) -> [u8; 64] {
    let mut k = [0u8; 64];
    k[..32].copy_from_slice(hashed_address.as_slice());
    k[32..].copy_from_slice(hashed_slot.as_slice());
    k
}

fn account_history_key(hashed_address: &B256, block: u64) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..32].copy_from_slice(hashed_address.as_slice());
    k[32..].copy_from_slice(&block.to_be_bytes());
    k
}

fn storage_history_key(hashed_address: &B256, hashed_slot: &B256, block: u64) -> [u8; 72] {
    let mut k = [0u8; 72];
    k[..64].copy_from_slice(&storage_key(hashed_address, hashed_slot));
    k[64..].copy_from_slice(&block.to_be_bytes());
    k
}

/// Memory redb may use to cache pages of the database file (its default, 1 GiB, lets the process
/// grow by every page a long run touches). The hot data of block building and JSON-RPC reads
/// (recent headers, bodies, receipts, the touched part of the state) fits well within it.
pub const CACHE_BYTES: usize = 64 * 1024 * 1024;

impl Store {
    /// Bytes redb holds in its page cache (at most [`CACHE_BYTES`]).
    pub fn cache_bytes(&self) -> usize {
        self.db()
            .map(|db| redb::ReadableDatabase::cache_stats(&*db).used_bytes())
            .unwrap_or(0)
    }

    /// The open database, or [`StorageError::Unavailable`] while it is being reopened.
    fn db(&self) -> Result<Arc<Database>, StorageError> {
        self.inner
            .db
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or_else(|| StorageError::Unavailable("reopening".into()))
    }

    /// Opens (or creates) the database file `DIR/chain.redb`. An existing but empty file is
    /// refused ([`StorageError::Truncated`]): that is a damaged database, not a new chain.
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        // The datadir also holds the node's secrets: owner-only when this node creates it.
        crate::secret_file::create_private_dir(dir)
            .map_err(|e| StorageError::Db(format!("{}: {e}", dir.display())))?;
        let path = dir.join("chain.redb");
        if std::fs::metadata(&path).is_ok_and(|m| m.len() == 0) {
            return Err(StorageError::Truncated(path));
        }
        // A node's journal is written only beside its database: one without the other is a
        // chain whose database went missing, not a new chain.
        if !path.exists() && dir.join("journal").is_dir() {
            return Err(StorageError::Missing(path));
        }
        let db = open_file(&path)?;
        #[cfg(unix)]
        {
            // Owner-only, like everything else in the datadir.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| StorageError::Db(format!("{}: {e}", path.display())))?;
        }
        Ok(Self {
            inner: Arc::new(StoreInner {
                path,
                db: RwLock::new(Some(Arc::new(db))),
            }),
        })
    }

    /// Whether the database refuses every operation after a failed write (redb's `PreviousIo`)
    /// and must be opened again ([`Store::reopen`]).
    pub fn needs_reopen(&self) -> bool {
        match self.db() {
            Err(_) => true,
            Ok(db) => matches!(
                db.begin_write(),
                Err(redb::TransactionError::Storage(
                    redb::StorageError::PreviousIo
                ))
            ),
        }
    }

    /// Closes the database and opens its file again, which clears redb's failed state after an
    /// I/O error (redb checks and repairs the file on opening); for up to `wait` while another
    /// handle of this process still holds the file. Until the file is open again every operation
    /// answers [`StorageError::Unavailable`]; readers still holding the failed handle get its
    /// errors (redb latches the failure on that handle), never pages the new one rewrites.
    /// Calling it again after a failure retries. One caller at a time (the chain actor), and
    /// only for a failed handle ([`Store::needs_reopen`]).
    pub fn reopen(&self, wait: std::time::Duration) -> Result<(), StorageError> {
        // Drop this handle's reference (readers now get `Unavailable` at once instead of waiting
        // on the lock); the file closes when the last reader lets go of it.
        let old = self
            .inner
            .db
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(old);
        let deadline = std::time::Instant::now() + wait;
        let opened = loop {
            match create(&self.inner.path) {
                Err(redb::DatabaseError::DatabaseAlreadyOpen)
                    if std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => break other,
            }
        };
        let db = opened
            .map_err(StorageError::from)
            .and_then(with_tables)
            .map_err(|e| StorageError::Unavailable(e.to_string()))?;
        *self.inner.db.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(db));
        Ok(())
    }

    /// Whether the database is open (false after a failed [`Store::reopen`]).
    pub fn is_open(&self) -> bool {
        self.inner
            .db
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }
}

/// The exclusive claim of one process on a datadir (`DIR/LOCK`, an advisory file lock released
/// when the value is dropped or the process dies). A node takes it before it writes anything
/// there, so a second node started on the same datadir changes nothing before it is refused.
#[derive(Debug)]
pub struct DatadirLock {
    _file: std::fs::File,
}

impl DatadirLock {
    /// Creates `dir` (owner-only) if needed, narrows an existing one that others may read to
    /// owner-only (it holds the node's keys and secrets), and takes the lock.
    pub fn acquire(dir: &Path) -> Result<Self, StorageError> {
        let io = |e: std::io::Error| StorageError::Db(format!("{}: {e}", dir.display()));
        crate::secret_file::create_private_dir(dir).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir).map_err(io)?.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(target: "storage", dir = %dir.display(), mode = format!("{:o}", mode & 0o777), "datadir readable by others: narrowing it to 0700");
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(io)?;
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("LOCK"))
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(StorageError::Locked(dir.to_path_buf())),
            Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }
}

/// Opens (or creates) a database file and makes sure every table exists.
fn open_file(path: &Path) -> Result<Database, StorageError> {
    with_tables(create(path)?)
}

/// Makes sure every table exists in `db`.
fn with_tables(db: Database) -> Result<Database, StorageError> {
    let txn = db.begin_write()?;
    {
        // Create every table so read transactions never meet a missing one.
        txn.open_table(HEADERS)?;
        txn.open_table(BODIES)?;
        txn.open_table(RECEIPTS)?;
        txn.open_table(SENDERS)?;
        txn.open_table(CANONICAL)?;
        txn.open_table(TX_LOOKUP)?;
        txn.open_table(META)?;
        txn.open_table(ACCOUNTS)?;
        txn.open_table(STORAGE)?;
        txn.open_table(CODE)?;
        txn.open_table(ACCOUNT_HISTORY)?;
        txn.open_table(STORAGE_HISTORY)?;
    }
    txn.commit()?;
    Ok(db)
}

/// Opens the file with redb's integrity check: the checksum of every page of the committed trees
/// is verified, so a file damaged on disk (a flipped byte in any table) is refused with
/// [`StorageError::Corrupt`] instead of being read — or panicking redb — later. It reads the
/// whole file: start-up time grows with the database.
fn create(path: &Path) -> Result<Database, redb::DatabaseError> {
    redb::Builder::new()
        .set_cache_size(CACHE_BYTES)
        .set_check_integrity_on_open(true)
        .create(path)
}

impl Store {
    /// Writes the genesis block and state on a fresh database, or checks that an existing
    /// database holds the same chain. Returns true when the genesis was written.
    pub fn init_genesis(&self, spec: &ChainSpec) -> Result<bool, StorageError> {
        if let Some(found) = self.meta_hash(GENESIS)? {
            if found != spec.genesis_hash() {
                return Err(StorageError::GenesisMismatch {
                    found,
                    expected: spec.genesis_hash(),
                });
            }
            return Ok(false);
        }
        let diff = StateDiff::genesis(spec);
        let header = spec.genesis_header().clone();
        let body = Body {
            withdrawals: header.withdrawals_root.map(|_| Default::default()),
            ..Default::default()
        };
        let block = SealedBlock::new(header, body, Vec::new());
        self.write_block(&block, &[], &diff)?;
        let txn = self.db()?.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            meta.insert(GENESIS, block.hash.as_slice())?;
            meta.insert(SAFE, block.hash.as_slice())?;
            meta.insert(FINALIZED, block.hash.as_slice())?;
        }
        txn.commit()?;
        Ok(true)
    }

    /// Commits a block that extends the current head, with its receipts and state changes, and
    /// makes it the head. One write transaction.
    pub fn commit_block(
        &self,
        block: &SealedBlock,
        receipts: &[Receipt],
        diff: &StateDiff,
    ) -> Result<(), StorageError> {
        let head = self.head_hash()?.unwrap_or_default();
        if block.header.parent_hash != head {
            return Err(StorageError::NotOnHead {
                number: block.number(),
                hash: block.hash,
                head,
            });
        }
        self.write_block(block, receipts, diff)
    }

    fn write_block(
        &self,
        block: &SealedBlock,
        receipts: &[Receipt],
        diff: &StateDiff,
    ) -> Result<(), StorageError> {
        let mut txn = self.db()?.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        let number = block.number();
        let hash = block.hash.0;
        {
            let mut buf = Vec::with_capacity(600);
            block.header.encode(&mut buf);
            txn.open_table(HEADERS)?.insert(&hash, buf.as_slice())?;
            buf.clear();
            block.body.encode(&mut buf);
            txn.open_table(BODIES)?.insert(&hash, buf.as_slice())?;
            buf.clear();
            receipts.to_vec().encode(&mut buf);
            txn.open_table(RECEIPTS)?.insert(&hash, buf.as_slice())?;
            let senders: Vec<u8> = block.senders.iter().flat_map(|a| a.0).collect();
            txn.open_table(SENDERS)?.insert(&hash, senders.as_slice())?;
            txn.open_table(CANONICAL)?.insert(number, &hash)?;
            let mut lookup = txn.open_table(TX_LOOKUP)?;
            for (i, tx) in block.body.transactions.iter().enumerate() {
                let mut v = [0u8; 48];
                v[..32].copy_from_slice(&hash);
                v[32..40].copy_from_slice(&number.to_be_bytes());
                v[40..].copy_from_slice(&(i as u64).to_be_bytes());
                lookup.insert(&tx.tx_hash().0, v.as_slice())?;
            }

            let mut code = txn.open_table(CODE)?;
            for (h, c) in &diff.contracts {
                code.insert(&h.0, c.as_ref())?;
            }
            let mut accounts = txn.open_table(ACCOUNTS)?;
            let mut storage = txn.open_table(STORAGE)?;
            let mut acc_hist = txn.open_table(ACCOUNT_HISTORY)?;
            let mut st_hist = txn.open_table(STORAGE_HISTORY)?;
            for (address, change) in &diff.accounts {
                let ha = hashed_address(address);
                match &change.info {
                    Some(f) => {
                        accounts.insert(&ha.0, f.encode().as_slice())?;
                        acc_hist
                            .insert(&account_history_key(&ha, number), f.encode().as_slice())?;
                    }
                    None => {
                        accounts.remove(&ha.0)?;
                        acc_hist.insert(&account_history_key(&ha, number), [].as_slice())?;
                    }
                }
                if change.storage_wiped || change.info.is_none() {
                    // Record every existing slot as cleared at this block, then drop them.
                    let lo = storage_key(&ha, &B256::ZERO);
                    let hi = storage_key(&ha, &B256::repeat_byte(0xff));
                    let slots: Vec<[u8; 64]> = storage
                        .range::<&[u8; 64]>(&lo..=&hi)?
                        .map(|r| r.map(|(k, _)| *k.value()))
                        .collect::<Result<_, _>>()?;
                    for k in slots {
                        storage.remove(&k)?;
                        let hs = B256::from_slice(&k[32..]);
                        st_hist.insert(&storage_history_key(&ha, &hs, number), &[0u8; 32])?;
                    }
                }
                for (slot, value) in &change.storage {
                    let hs = hashed_slot(slot);
                    let key = storage_key(&ha, &hs);
                    let v = value.to_be_bytes::<32>();
                    if value.is_zero() {
                        storage.remove(&key)?;
                    } else {
                        storage.insert(&key, &v)?;
                    }
                    st_hist.insert(&storage_history_key(&ha, &hs, number), &v)?;
                }
            }
            txn.open_table(META)?.insert(HEAD, hash.as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Records the safe and finalized blocks named by the consensus layer.
    pub fn set_safe_finalized(&self, safe: B256, finalized: B256) -> Result<(), StorageError> {
        let txn = self.db()?.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            if !safe.is_zero() {
                meta.insert(SAFE, safe.as_slice())?;
            }
            if !finalized.is_zero() {
                meta.insert(FINALIZED, finalized.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn read(&self) -> Result<ReadTransaction, StorageError> {
        Ok(self.db()?.begin_read()?)
    }

    fn meta_hash(&self, key: &str) -> Result<Option<B256>, StorageError> {
        let txn = self.read()?;
        let meta = txn.open_table(META)?;
        Ok(meta.get(key)?.map(|v| B256::from_slice(v.value())))
    }

    /// The head block hash.
    pub fn head_hash(&self) -> Result<Option<B256>, StorageError> {
        self.meta_hash(HEAD)
    }

    /// The safe block hash.
    pub fn safe_hash(&self) -> Result<Option<B256>, StorageError> {
        self.meta_hash(SAFE)
    }

    /// The finalized block hash.
    pub fn finalized_hash(&self) -> Result<Option<B256>, StorageError> {
        self.meta_hash(FINALIZED)
    }

    /// A header by hash, checked against its hash (a damaged record is an error, never served).
    pub fn header(&self, hash: &B256) -> Result<Option<Header>, StorageError> {
        let txn = self.read()?;
        let t = txn.open_table(HEADERS)?;
        let Some(v) = t.get(&hash.0)? else {
            return Ok(None);
        };
        let header = Header::decode(&mut v.value()).map_err(|e| corrupt("headers", e))?;
        if header.hash_slow() != *hash {
            return Err(corrupt(
                "headers",
                format!("the header stored for {hash} does not hash to it"),
            ));
        }
        Ok(Some(header))
    }

    /// The canonical block hash at a height.
    pub fn canonical_hash(&self, number: u64) -> Result<Option<B256>, StorageError> {
        let txn = self.read()?;
        let t = txn.open_table(CANONICAL)?;
        Ok(t.get(number)?.map(|v| B256::from(*v.value())))
    }

    /// A block body by hash.
    pub fn body(&self, hash: &B256) -> Result<Option<Body>, StorageError> {
        let txn = self.read()?;
        let t = txn.open_table(BODIES)?;
        t.get(&hash.0)?
            .map(|v| Body::decode(&mut v.value()).map_err(|e| corrupt("bodies", e)))
            .transpose()
    }

    /// The senders of a block's transactions, as recovered when it was imported (`None` for a
    /// block stored without them).
    pub fn senders(&self, hash: &B256) -> Result<Option<Vec<Address>>, StorageError> {
        let txn = self.read()?;
        let t = txn.open_table(SENDERS)?;
        let Some(v) = t.get(&hash.0)? else {
            return Ok(None);
        };
        let bytes = v.value();
        if bytes.len() % 20 != 0 {
            return Err(corrupt("senders", "length is not a multiple of 20"));
        }
        Ok(Some(
            bytes.chunks_exact(20).map(Address::from_slice).collect(),
        ))
    }

    /// A block's receipts by block hash.
    pub fn receipts(&self, hash: &B256) -> Result<Option<Vec<Receipt>>, StorageError> {
        let txn = self.read()?;
        let t = txn.open_table(RECEIPTS)?;
        t.get(&hash.0)?
            .map(|v| Vec::<Receipt>::decode(&mut v.value()).map_err(|e| corrupt("receipts", e)))
            .transpose()
    }

    /// Where a transaction was included.
    pub fn tx_location(&self, tx_hash: &B256) -> Result<Option<TxLocation>, StorageError> {
        let txn = self.read()?;
        let t = txn.open_table(TX_LOOKUP)?;
        let Some(v) = t.get(&tx_hash.0)? else {
            return Ok(None);
        };
        let v = v.value();
        if v.len() != 48 {
            return Err(corrupt("tx_lookup", "bad length"));
        }
        Ok(Some(TxLocation {
            block_hash: B256::from_slice(&v[..32]),
            block_number: u64::from_be_bytes(v[32..40].try_into().expect("8 bytes")),
            index: u64::from_be_bytes(v[40..48].try_into().expect("8 bytes")),
        }))
    }

    /// Contract code by hash, checked against it.
    pub fn code(&self, hash: &B256) -> Result<Option<Bytes>, StorageError> {
        let txn = self.read()?;
        let t = txn.open_table(CODE)?;
        let Some(v) = t.get(&hash.0)? else {
            return Ok(None);
        };
        let code = Bytes::copy_from_slice(v.value());
        if alloy_primitives::keccak256(&code) != *hash {
            return Err(corrupt(
                "code",
                format!("the code stored for {hash} does not hash to it"),
            ));
        }
        Ok(Some(code))
    }

    /// Builds the state trie of the head from the flat state tables. `progress` is called every
    /// 10,000 accounts with the count so far.
    pub fn load_state(
        &self,
        mut progress: impl FnMut(usize),
    ) -> Result<StateSnapshot, StorageError> {
        let txn = self.read()?;
        let accounts = txn.open_table(ACCOUNTS)?;
        let storage = txn.open_table(STORAGE)?;
        let mut snapshot = StateSnapshot::default();
        for (n, row) in accounts.iter()?.enumerate() {
            let (k, v) = row?;
            let ha = B256::from(*k.value());
            let f = AccountFields::decode(v.value())
                .ok_or_else(|| corrupt("accounts", "bad length"))?;
            let mut acc = AccountState {
                nonce: f.nonce,
                balance: f.balance,
                code_hash: f.code_hash,
                storage: Default::default(),
            };
            let lo = storage_key(&ha, &B256::ZERO);
            let hi = storage_key(&ha, &B256::repeat_byte(0xff));
            for slot in storage.range::<&[u8; 64]>(&lo..=&hi)? {
                let (k, v) = slot?;
                let hs = B256::from_slice(&k.value()[32..]);
                acc.storage = acc.storage.insert(&hs, U256::from_be_bytes(*v.value()));
            }
            snapshot = snapshot.with_hashed_account(&ha, acc);
            if (n + 1) % 10_000 == 0 {
                progress(n + 1);
            }
        }
        Ok(snapshot)
    }

    /// The state as of a canonical block, read from the history tables.
    pub fn historical_state(&self, block: u64) -> Result<HistoricalState, StorageError> {
        Ok(HistoricalState {
            store: self.clone(),
            txn: Arc::new(self.read()?),
            block,
        })
    }
}

/// State at an older canonical block, read from the history tables.
#[derive(Debug, Clone)]
pub struct HistoricalState {
    store: Store,
    txn: Arc<ReadTransaction>,
    block: u64,
}

impl StateProvider for HistoricalState {
    fn account(&self, address: &Address) -> Result<Option<AccountFields>, StateError> {
        let ha = hashed_address(address);
        let t = self
            .txn
            .open_table(ACCOUNT_HISTORY)
            .map_err(StorageError::from)?;
        let lo = account_history_key(&ha, 0);
        let hi = account_history_key(&ha, self.block);
        let last = t
            .range::<&[u8; 40]>(&lo..=&hi)
            .map_err(StorageError::from)?
            .next_back();
        match last {
            None => Ok(None),
            Some(row) => {
                let (_, v) = row.map_err(StorageError::from)?;
                let v = v.value();
                if v.is_empty() {
                    return Ok(None);
                }
                AccountFields::decode(v)
                    .map(Some)
                    .ok_or_else(|| corrupt("account_history", "bad length").into())
            }
        }
    }

    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, StateError> {
        let ha = hashed_address(address);
        let hs = hashed_slot(slot);
        let t = self
            .txn
            .open_table(STORAGE_HISTORY)
            .map_err(StorageError::from)?;
        let lo = storage_history_key(&ha, &hs, 0);
        let hi = storage_history_key(&ha, &hs, self.block);
        let last = t
            .range::<&[u8; 72]>(&lo..=&hi)
            .map_err(StorageError::from)?
            .next_back();
        match last {
            None => Ok(U256::ZERO),
            Some(row) => Ok(U256::from_be_bytes(
                *row.map_err(StorageError::from)?.1.value(),
            )),
        }
    }

    fn code(&self, hash: &B256) -> Result<Option<Bytes>, StateError> {
        Ok(self.store.code(hash)?)
    }

    fn block_hash(&self, number: u64) -> Result<B256, StateError> {
        if number > self.block {
            return Ok(B256::ZERO);
        }
        Ok(self.store.canonical_hash(number)?.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reopened_database_serves_again() {
        let dir = tempfile::tempdir().unwrap();
        let spec = crate::devnet::devnet_chainspec(crate::devnet::DEFAULT_GAS_LIMIT);
        let store = Store::open(dir.path()).unwrap();
        store.init_genesis(&spec).unwrap();
        assert!(!store.needs_reopen());
        store.reopen(std::time::Duration::from_secs(5)).unwrap();
        assert!(store.is_open() && !store.needs_reopen());
        assert_eq!(store.head_hash().unwrap(), Some(spec.genesis_hash()));
        assert!(
            store.init_genesis(&spec).is_ok(),
            "the reopened file is the same chain"
        );
    }
}
