//! Transactions the node must not forget across a crash, kept in small files next to the chain:
//! what the sequencer preconfirmed (appended and synced to disk before each flashblock is sent)
//! and what the pool holds (rewritten every second). On restart both are read back and the
//! transactions offered to the pool again.
//!
//! A file is a sequence of records, each `len: u32 BE ‖ block: u64 BE ‖ tx (len bytes, EIP-2718)
//! ‖ check: u32 BE`, where `check` is the first four bytes of keccak256(block ‖ tx). A crash can
//! leave a torn last record; reading stops at the first record that is short or fails its check
//! (and [`Journal::open`] cuts it off, so appends follow whole records).

use alloy_primitives::{Bytes, keccak256};
use std::{
    fs::{File, OpenOptions},
    io::{self, Read, Write},
    path::{Path, PathBuf},
};

/// The largest transaction a record may hold (a blob transaction without its sidecar is far
/// smaller; anything larger is a corrupt length).
const MAX_TX: usize = 4 * 1024 * 1024;

/// One journaled transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The block it was preconfirmed for (0 in the pool's file).
    pub block: u64,
    /// The transaction, EIP-2718 encoded.
    pub tx: Bytes,
}

fn check(block: u64, tx: &[u8]) -> [u8; 4] {
    let mut data = Vec::with_capacity(8 + tx.len());
    data.extend_from_slice(&block.to_be_bytes());
    data.extend_from_slice(tx);
    let h = keccak256(&data);
    [h[0], h[1], h[2], h[3]]
}

fn encode(out: &mut Vec<u8>, r: &Record) {
    out.extend_from_slice(&(r.tx.len() as u32).to_be_bytes());
    out.extend_from_slice(&r.block.to_be_bytes());
    out.extend_from_slice(&r.tx);
    out.extend_from_slice(&check(r.block, &r.tx));
}

/// The whole records at the start of `bytes`, and how many bytes they take.
pub fn decode(bytes: &[u8]) -> (Vec<Record>, usize) {
    let mut records = Vec::new();
    let mut at = 0;
    while let Some(head) = bytes.get(at..at + 12) {
        let len = u32::from_be_bytes(head[..4].try_into().expect("4 bytes")) as usize;
        let block = u64::from_be_bytes(head[4..12].try_into().expect("8 bytes"));
        if len > MAX_TX {
            break;
        }
        let Some(tx) = bytes.get(at + 12..at + 12 + len) else {
            break;
        };
        let Some(sum) = bytes.get(at + 12 + len..at + 16 + len) else {
            break;
        };
        if sum != check(block, tx) {
            break;
        }
        records.push(Record {
            block,
            tx: Bytes::copy_from_slice(tx),
        });
        at += 16 + len;
    }
    (records, at)
}

/// Reads the records of a journal file (none when it does not exist).
pub fn read(path: &Path) -> io::Result<Vec<Record>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(decode(&bytes).0),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Replaces `path` with `records`, durably: a temporary file written and synced, renamed over
/// it, and the directory synced. A crash leaves either the old file or the new one.
pub fn replace(path: &Path, records: &[Record]) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::secret_file::create_private_dir(dir)?;
    }
    let mut bytes = Vec::new();
    for r in records {
        encode(&mut bytes, r);
    }
    let tmp = path.with_extension("tmp");
    let written = (|| {
        let mut file =
            private(OpenOptions::new().write(true).create(true).truncate(true)).open(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        // A full disk must not be made fuller by half-written copies.
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    sync_dir(path)
}

fn private(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(options, 0o600);
    options
}

fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// An append-only journal: each [`append`](Self::append) is on disk when it returns.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// What the file holds, to rewrite it without reading it back.
    records: Vec<Record>,
}

impl Journal {
    /// Opens (or creates) the journal at `path` and returns it with the records it holds; a torn
    /// tail left by a crash is cut off.
    pub fn open(path: &Path) -> io::Result<(Self, Vec<Record>)> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::secret_file::create_private_dir(dir)?;
        }
        let mut file =
            private(OpenOptions::new().read(true).append(true).create(true)).open(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let (records, whole) = decode(&bytes);
        if whole < bytes.len() {
            file.set_len(whole as u64)?;
            file.sync_all()?;
        }
        let journal = Self {
            path: path.to_path_buf(),
            file,
            records: records.clone(),
        };
        Ok((journal, records))
    }

    /// Appends `txs` for `block` and waits until they are on disk.
    pub fn append(&mut self, block: u64, txs: &[Bytes]) -> io::Result<()> {
        if txs.is_empty() {
            return Ok(());
        }
        let mut bytes = Vec::new();
        let records: Vec<Record> = txs
            .iter()
            .map(|tx| Record {
                block,
                tx: tx.clone(),
            })
            .collect();
        for r in &records {
            encode(&mut bytes, r);
        }
        let before = self.file.metadata()?.len();
        if let Err(e) = self
            .file
            .write_all(&bytes)
            .and_then(|()| self.file.sync_data())
        {
            // Cut a partial write off again (shrinking needs no space): a torn record in the
            // middle would hide every record appended after it from the next start.
            let _ = self.file.set_len(before);
            return Err(e);
        }
        self.records.extend(records);
        Ok(())
    }

    /// Forgets the records of blocks before `block` (rewriting the file when any go).
    pub fn keep_from(&mut self, block: u64) -> io::Result<()> {
        let before = self.records.len();
        self.records.retain(|r| r.block >= block);
        if self.records.len() == before {
            return Ok(());
        }
        replace(&self.path, &self.records)?;
        self.file = private(OpenOptions::new().read(true).append(true)).open(&self.path)?;
        Ok(())
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(n: u8) -> Bytes {
        Bytes::from(vec![0x02, n, n, n])
    }

    #[test]
    fn appends_survive_reopening_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j/preconfirmed.journal");
        let (mut j, old) = Journal::open(&path).unwrap();
        assert!(old.is_empty());
        j.append(5, &[tx(1), tx(2)]).unwrap();
        j.append(6, &[tx(3)]).unwrap();
        drop(j);
        // A crash in the middle of the next append: half a record at the end.
        let mut half = Vec::new();
        encode(
            &mut half,
            &Record {
                block: 7,
                tx: tx(4),
            },
        );
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&half[..9]).unwrap();
        drop(f);
        let (mut j, got) = Journal::open(&path).unwrap();
        let blocks: Vec<u64> = got.iter().map(|r| r.block).collect();
        assert_eq!(blocks, [5, 5, 6]);
        assert_eq!(got[2].tx, tx(3));
        // Appends after the cut are whole records.
        j.append(7, &[tx(4)]).unwrap();
        assert_eq!(read(&path).unwrap().len(), 4);
        j.keep_from(6).unwrap();
        j.append(8, &[tx(5)]).unwrap();
        let kept: Vec<(u64, Bytes)> = read(&path)
            .unwrap()
            .into_iter()
            .map(|r| (r.block, r.tx))
            .collect();
        assert_eq!(kept, [(6, tx(3)), (7, tx(4)), (8, tx(5))]);
    }

    #[test]
    fn a_flipped_byte_ends_the_readable_part() {
        let mut bytes = Vec::new();
        for (block, n) in [(1, 1), (2, 2), (3, 3)] {
            encode(&mut bytes, &Record { block, tx: tx(n) });
        }
        let (all, len) = decode(&bytes);
        assert_eq!((all.len(), len), (3, bytes.len()));
        // Damage the second record's transaction: only the first is trusted.
        bytes[16 + 4 + 12 + 1] ^= 0xff;
        assert_eq!(decode(&bytes).0.len(), 1);
        // A length past the limit is not believed.
        let mut huge = vec![0xff, 0xff, 0xff, 0xff];
        huge.extend_from_slice(&[0; 12]);
        assert!(decode(&huge).0.is_empty());
    }

    #[test]
    fn replace_writes_a_whole_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pool.journal");
        assert!(read(&path).unwrap().is_empty());
        let records: Vec<Record> = (0..3)
            .map(|n| Record {
                block: 0,
                tx: tx(n),
            })
            .collect();
        replace(&path, &records).unwrap();
        assert_eq!(read(&path).unwrap(), records);
        replace(&path, &records[..1]).unwrap();
        assert_eq!(read(&path).unwrap(), records[..1]);
    }
}
