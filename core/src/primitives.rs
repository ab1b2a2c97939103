//! The chain's block, transaction and receipt types, named once so the rest of the code does not
//! depend on which concrete types they are.
//!
//! Today they are Ethereum's. Berachain's additions (WIRE.md §5: the `0x7E` PoL system
//! transaction and its receipt, and `prev_proposer_pubkey` appended to the header after
//! `requests_hash`) slot in by changing these definitions to enums/structs that wrap the Ethereum
//! ones; callers go through these names and the traits alloy defines on them.

use alloy_consensus::{BlockBody, Header as EthHeader, ReceiptEnvelope, TxEnvelope};
use alloy_primitives::{Address, B256};

/// A signed transaction as it appears in a block.
pub type Transaction = TxEnvelope;
/// A transaction receipt.
pub type Receipt = ReceiptEnvelope;
/// A block header.
pub type Header = EthHeader;
/// A block body: transactions, ommers (always empty post-merge) and withdrawals.
pub type Body = BlockBody<Transaction, Header>;
/// A full block.
pub type Block = alloy_consensus::Block<Transaction, Header>;

/// A block with its hash and the recovered sender of every transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedBlock {
    /// Block hash (keccak of the RLP header).
    pub hash: B256,
    /// The header.
    pub header: Header,
    /// The body.
    pub body: Body,
    /// Sender of each transaction, in order.
    pub senders: Vec<Address>,
}

impl SealedBlock {
    /// Seals a block whose senders are already known.
    pub fn new(header: Header, body: Body, senders: Vec<Address>) -> Self {
        Self {
            hash: header.hash_slow(),
            header,
            body,
            senders,
        }
    }

    /// Recovers every sender and seals; fails on an invalid signature.
    pub fn recover(block: Block) -> Result<Self, alloy_consensus::crypto::RecoveryError> {
        let senders = block
            .body
            .transactions
            .iter()
            .map(recover_sender)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(block.header, block.body, senders))
    }

    /// The block number.
    pub fn number(&self) -> u64 {
        self.header.number
    }

    /// The unsealed block.
    pub fn to_block(&self) -> Block {
        Block {
            header: self.header.clone(),
            body: self.body.clone(),
        }
    }
}

/// The sender of a signed transaction, with the EIP-2 low-`s` rule. Uses libsecp256k1 (several
/// times faster than the pure-Rust backend alloy's `recover_signer` picks), which matters when
/// an rpc node re-verifies every preconfirmed transaction.
pub fn recover_sender(tx: &Transaction) -> Result<Address, alloy_consensus::crypto::RecoveryError> {
    use alloy_consensus::transaction::SignableTransaction;
    let sig = tx.signature();
    if sig.s() > alloy_consensus::crypto::SECP256K1N_HALF {
        return Err(alloy_consensus::crypto::RecoveryError::new());
    }
    let hash = match tx {
        Transaction::Legacy(t) => t.tx().signature_hash(),
        Transaction::Eip2930(t) => t.tx().signature_hash(),
        Transaction::Eip1559(t) => t.tx().signature_hash(),
        Transaction::Eip4844(t) => t.tx().signature_hash(),
        Transaction::Eip7702(t) => t.tx().signature_hash(),
    };
    sig.recover_address_from_prehash(&hash)
        .map_err(|_| alloy_consensus::crypto::RecoveryError::new())
}
