//! Chain specification: which forks are active when, the genesis block, and the per-block rules
//! that depend on them (base fee, blob parameters, gas limits).
//!
//! A [`ChainSpec`] is built from a geth-style `genesis.json` (see [`ChainSpec::from_genesis`]) or
//! taken from the built-in devnet ([`crate::devnet::devnet_chainspec`]). The Ethereum forks up to
//! Prague are supported; the chain must be post-merge from genesis (proof-of-stake only), as every
//! chain this node is meant for is.

use alloy_consensus::{EMPTY_OMMER_ROOT_HASH, Header, constants::EMPTY_WITHDRAWALS};
use alloy_eips::{
    eip1559::{BaseFeeParams, INITIAL_BASE_FEE, calc_next_block_base_fee},
    eip7685::EMPTY_REQUESTS_HASH,
    eip7840::BlobParams,
    eip7892::BlobScheduleBlobParams,
};
use alloy_evm::eth::spec::EthExecutorSpec;
use alloy_genesis::Genesis;
use alloy_primitives::{Address, B256, U256};
use alloy_trie::EMPTY_ROOT_HASH;
use revm::primitives::hardfork::SpecId;
use std::{path::Path, sync::Arc};

pub use alloy_hardforks::{
    EthereumChainHardforks, EthereumHardfork, EthereumHardforks, ForkCondition,
};

use crate::state_root::genesis_state_root;

/// Errors from loading or validating a chain specification.
#[derive(Debug, thiserror::Error)]
pub enum ChainSpecError {
    /// The genesis file could not be read.
    #[error("cannot read genesis file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The genesis file is not valid JSON for a geth-style genesis.
    #[error("invalid genesis JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The genesis describes a chain this node cannot run.
    #[error("unsupported genesis: {0}")]
    Unsupported(String),
}

/// Everything that is fixed for a chain: its id, forks, genesis and derived genesis header.
#[derive(Debug, Clone)]
pub struct ChainSpec {
    /// The geth-style genesis this spec was made from.
    pub genesis: Genesis,
    hardforks: EthereumChainHardforks,
    blob_params: BlobScheduleBlobParams,
    genesis_header: Header,
    genesis_hash: B256,
}

impl ChainSpec {
    /// Reads and validates a geth-style `genesis.json`.
    pub fn from_file(path: &Path) -> Result<Arc<Self>, ChainSpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| ChainSpecError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let genesis: Genesis = serde_json::from_str(&text)?;
        Ok(Arc::new(Self::from_genesis(genesis)?))
    }

    /// Builds the spec of a geth-style genesis. The chain must be merged at genesis
    /// (`terminalTotalDifficulty` reached by the genesis difficulty, or Shanghai at genesis).
    pub fn from_genesis(genesis: Genesis) -> Result<Self, ChainSpecError> {
        let c = &genesis.config;
        let block = |b: Option<u64>| b.map(ForkCondition::Block);
        let time = |t: Option<u64>| t.map(ForkCondition::Timestamp);
        let merged_at_genesis = c
            .terminal_total_difficulty
            .is_some_and(|ttd| genesis.difficulty >= ttd)
            || c.shanghai_time == Some(genesis.timestamp)
            || c.shanghai_time == Some(0);
        if !merged_at_genesis {
            return Err(ChainSpecError::Unsupported(
                "the chain must be proof-of-stake from genesis (terminalTotalDifficulty <= difficulty, or shanghaiTime at genesis)".into(),
            ));
        }
        if c.london_block != Some(0) {
            return Err(ChainSpecError::Unsupported("londonBlock must be 0".into()));
        }
        let ttd = c.terminal_total_difficulty.unwrap_or(U256::ZERO);
        let forks = [
            (EthereumHardfork::Frontier, Some(ForkCondition::Block(0))),
            (EthereumHardfork::Homestead, block(c.homestead_block)),
            (EthereumHardfork::Tangerine, block(c.eip150_block)),
            (EthereumHardfork::SpuriousDragon, block(c.eip158_block)),
            (EthereumHardfork::Byzantium, block(c.byzantium_block)),
            (
                EthereumHardfork::Constantinople,
                block(c.constantinople_block),
            ),
            (EthereumHardfork::Petersburg, block(c.petersburg_block)),
            (EthereumHardfork::Istanbul, block(c.istanbul_block)),
            (EthereumHardfork::MuirGlacier, block(c.muir_glacier_block)),
            (EthereumHardfork::Berlin, block(c.berlin_block)),
            (EthereumHardfork::London, block(c.london_block)),
            (EthereumHardfork::ArrowGlacier, block(c.arrow_glacier_block)),
            (EthereumHardfork::GrayGlacier, block(c.gray_glacier_block)),
            (
                EthereumHardfork::Paris,
                Some(ForkCondition::TTD {
                    activation_block_number: 0,
                    fork_block: Some(0),
                    total_difficulty: ttd,
                }),
            ),
            (EthereumHardfork::Shanghai, time(c.shanghai_time)),
            (EthereumHardfork::Cancun, time(c.cancun_time)),
            (EthereumHardfork::Prague, time(c.prague_time)),
            (EthereumHardfork::Osaka, time(c.osaka_time)),
        ];
        if c.osaka_time.is_some() {
            return Err(ChainSpecError::Unsupported(
                "Osaka is not supported (Prague is the newest fork)".into(),
            ));
        }
        let hardforks =
            EthereumChainHardforks::new(forks.into_iter().filter_map(|(f, c)| Some((f, c?))));
        let mut blob_params = BlobScheduleBlobParams::mainnet();
        if let Some(p) = c.blob_schedule.get("cancun") {
            blob_params.cancun = *p;
        }
        if let Some(p) = c.blob_schedule.get("prague") {
            blob_params.prague = *p;
        }
        let mut spec = Self {
            genesis,
            hardforks,
            blob_params,
            genesis_header: Header::default(),
            genesis_hash: B256::ZERO,
        };
        spec.genesis_header = spec.make_genesis_header();
        spec.genesis_hash = spec.genesis_header.hash_slow();
        Ok(spec)
    }

    fn make_genesis_header(&self) -> Header {
        let g = &self.genesis;
        let ts = g.timestamp;
        let shanghai = self.is_shanghai_active_at_timestamp(ts);
        let cancun = self.is_cancun_active_at_timestamp(ts);
        let prague = self.is_prague_active_at_timestamp(ts);
        Header {
            parent_hash: g.parent_hash.unwrap_or_default(),
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            beneficiary: g.coinbase,
            state_root: genesis_state_root(&g.alloc),
            transactions_root: EMPTY_ROOT_HASH,
            receipts_root: EMPTY_ROOT_HASH,
            logs_bloom: Default::default(),
            difficulty: g.difficulty,
            number: g.number.unwrap_or(0),
            gas_limit: g.gas_limit,
            gas_used: 0,
            timestamp: ts,
            extra_data: g.extra_data.clone(),
            mix_hash: g.mix_hash,
            nonce: g.nonce.into(),
            base_fee_per_gas: Some(
                g.base_fee_per_gas
                    .map(|f| f as u64)
                    .unwrap_or(INITIAL_BASE_FEE),
            ),
            withdrawals_root: shanghai.then_some(EMPTY_WITHDRAWALS),
            blob_gas_used: cancun.then(|| g.blob_gas_used.unwrap_or(0)),
            excess_blob_gas: cancun.then(|| g.excess_blob_gas.unwrap_or(0)),
            parent_beacon_block_root: cancun.then_some(B256::ZERO),
            requests_hash: prague.then_some(EMPTY_REQUESTS_HASH),
            ..Default::default()
        }
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.genesis.config.chain_id
    }

    /// The genesis block header.
    pub fn genesis_header(&self) -> &Header {
        &self.genesis_header
    }

    /// The genesis block hash.
    pub fn genesis_hash(&self) -> B256 {
        self.genesis_hash
    }

    /// The revm spec in force for a block at this timestamp.
    pub fn spec_id_at(&self, timestamp: u64) -> SpecId {
        alloy_evm::spec_by_timestamp_and_block_number(self, timestamp, u64::MAX)
    }

    /// EIP-1559 parameters for the block after `parent`.
    pub fn base_fee_params(&self, _parent: &Header) -> BaseFeeParams {
        BaseFeeParams::ethereum()
    }

    /// Base fee of the block that follows `parent`.
    pub fn next_base_fee(&self, parent: &Header) -> u64 {
        calc_next_block_base_fee(
            parent.gas_used,
            parent.gas_limit,
            parent.base_fee_per_gas.unwrap_or(INITIAL_BASE_FEE),
            self.base_fee_params(parent),
        )
    }

    /// Blob parameters in force at this timestamp, `None` before Cancun.
    pub fn blob_params_at(&self, timestamp: u64) -> Option<BlobParams> {
        if self.is_prague_active_at_timestamp(timestamp) {
            Some(self.blob_params.prague)
        } else if self.is_cancun_active_at_timestamp(timestamp) {
            Some(self.blob_params.cancun)
        } else {
            None
        }
    }

    /// Excess blob gas of the block after `parent` at `timestamp`.
    pub fn next_excess_blob_gas(&self, parent: &Header, timestamp: u64) -> Option<u64> {
        let params = self.blob_params_at(timestamp)?;
        Some(parent.next_block_excess_blob_gas(params).unwrap_or(0))
    }

    /// Blob base fee for a header, `None` before Cancun.
    pub fn blob_base_fee(&self, header: &Header) -> Option<u128> {
        let params = self.blob_params_at(header.timestamp)?;
        Some(params.calc_blob_fee(header.excess_blob_gas.unwrap_or(0)))
    }
}

impl EthereumHardforks for ChainSpec {
    fn ethereum_fork_activation(&self, fork: EthereumHardfork) -> ForkCondition {
        self.hardforks.ethereum_fork_activation(fork)
    }
}

impl EthExecutorSpec for ChainSpec {
    fn deposit_contract_address(&self) -> Option<Address> {
        self.genesis.config.deposit_contract_address
    }
}
