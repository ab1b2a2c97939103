//! Chain specification: which forks are active when, the genesis block, and the per-block rules
//! that depend on them (base fee, blob parameters, gas limits).
//!
//! A [`ChainSpec`] is built from a geth-style `genesis.json` (see [`ChainSpec::from_genesis`]) or
//! taken from the built-in devnet ([`crate::devnet::devnet_chainspec`]). The Ethereum forks up to
//! Osaka (with its blob-parameter-only forks) and Berachain's Prague1, Prague2 and Osaka1 are
//! supported; the chain must be post-merge from genesis (proof-of-stake only), as every chain this
//! node is meant for is.

use crate::primitives::Header;
use alloy_consensus::{EMPTY_OMMER_ROOT_HASH, Header as EthHeader, constants::EMPTY_WITHDRAWALS};
use alloy_eips::{
    eip1559::{BaseFeeParams, INITIAL_BASE_FEE, calc_next_block_base_fee},
    eip7685::EMPTY_REQUESTS_HASH,
    eip7840::{BLOB_BASE_COST, BlobParams},
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
    #[error("cannot read genesis file {path}: {cause}")]
    Io {
        /// The file.
        path: String,
        /// The cause (in the message, not as a source: printed once).
        cause: std::io::Error,
    },
    /// The genesis file is not valid JSON for a geth-style genesis: where (the field's path) and
    /// why.
    #[error("invalid genesis JSON: {0}")]
    Json(String),
    /// The genesis describes a chain this node cannot run.
    #[error("unsupported genesis: {0}")]
    Unsupported(String),
}

/// Berachain's forks in genesis `config.berachain` (WIRE.md §5). A genesis without the section is
/// plain Ethereum.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BerachainConfig {
    /// Prague1: Berachain's base fee rules and the PoL distributor.
    pub prague1: Option<Prague1>,
    /// Prague2: a new base fee minimum.
    pub prague2: Option<Prague2>,
    /// Osaka1: base fee and blob base fee minimums.
    pub osaka1: Option<Osaka1>,
}

/// `config.berachain.prague1`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prague1 {
    /// Activation timestamp.
    pub time: u64,
    /// EIP-1559 base fee change denominator from this fork on.
    pub base_fee_change_denominator: u64,
    /// The base fee never goes below this (wei).
    pub minimum_base_fee_wei: u64,
    /// The contract the PoL transaction calls.
    pub pol_distributor_address: Address,
}

/// `config.berachain.prague2`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prague2 {
    /// Activation timestamp.
    pub time: u64,
    /// The base fee never goes below this (wei); replaces Prague1's.
    pub minimum_base_fee_wei: u64,
}

/// `config.berachain.osaka1`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Osaka1 {
    /// Activation timestamp (at or after Osaka's).
    pub time: u64,
    /// The base fee never goes below this (wei); replaces Prague1's and Prague2's.
    pub minimum_base_fee_wei: u64,
    /// The base of the EIP-4844 blob fee curve (wei): the blob base fee never goes below it.
    pub minimum_blob_base_fee_wei: u64,
}

/// Everything that is fixed for a chain: its id, forks, genesis and derived genesis header.
#[derive(Debug, Clone)]
pub struct ChainSpec {
    /// The geth-style genesis this spec was made from.
    pub genesis: Genesis,
    /// Berachain's forks (empty for plain Ethereum).
    pub berachain: BerachainConfig,
    hardforks: EthereumChainHardforks,
    blob_params: BlobScheduleBlobParams,
    genesis_header: Header,
    genesis_hash: B256,
}

/// Parses a geth-style genesis: an object (an array or a number is not one, whatever serde would
/// make of it), each field of the right type; an error names the field (`config.chainId`,
/// `alloc.0x….balance`) and the position.
pub fn parse_genesis(text: &str) -> Result<Genesis, ChainSpecError> {
    if !text.trim_start().starts_with('{') {
        return Err(ChainSpecError::Json(
            "a genesis is a JSON object with config, alloc, gasLimit, …".into(),
        ));
    }
    let mut reader = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut reader).map_err(|e| {
        let path = e.path().to_string();
        ChainSpecError::Json(format!("field {path}: {}", e.into_inner()))
    })
}

impl ChainSpec {
    /// Reads and validates a geth-style `genesis.json`.
    pub fn from_file(path: &Path) -> Result<Arc<Self>, ChainSpecError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ChainSpecError::Io {
            path: path.display().to_string(),
            cause,
        })?;
        Ok(Arc::new(Self::from_genesis(parse_genesis(&text)?)?))
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
        let hardforks =
            EthereumChainHardforks::new(forks.into_iter().filter_map(|(f, c)| Some((f, c?))));
        let mut blob_params = BlobScheduleBlobParams::mainnet();
        if let Some(p) = c.blob_schedule.get("cancun") {
            blob_params.cancun = *p;
        }
        if let Some(p) = c.blob_schedule.get("prague") {
            blob_params.prague = *p;
        }
        // From Osaka the blob base fee is bounded by the execution cost (EIP-7918).
        if let Some(p) = c.blob_schedule.get("osaka") {
            blob_params.osaka = p.with_blob_base_cost(BLOB_BASE_COST);
        }
        let mut scheduled = Vec::new();
        for (name, t) in [
            ("bpo1", c.bpo1_time),
            ("bpo2", c.bpo2_time),
            ("bpo3", c.bpo3_time),
            ("bpo4", c.bpo4_time),
            ("bpo5", c.bpo5_time),
        ] {
            let Some(t) = t else { continue };
            if c.osaka_time.is_none_or(|o| t < o) {
                return Err(ChainSpecError::Unsupported(format!(
                    "{name}Time needs osakaTime at or before it"
                )));
            }
            let p = c.blob_schedule.get(name).ok_or_else(|| {
                ChainSpecError::Unsupported(format!(
                    "{name}Time is set but blobSchedule.{name} is missing"
                ))
            })?;
            scheduled.push((t, p.with_blob_base_cost(BLOB_BASE_COST)));
        }
        scheduled.sort_by_key(|(t, _)| *t);
        blob_params = blob_params.with_scheduled(scheduled);
        let berachain = match c
            .extra_fields
            .get_deserialized::<BerachainConfig>("berachain")
        {
            None => BerachainConfig::default(),
            Some(parsed) => {
                parsed.map_err(|e| ChainSpecError::Unsupported(format!("config.berachain: {e}")))?
            }
        };
        if berachain.prague2.is_some() && berachain.prague1.is_none() {
            return Err(ChainSpecError::Unsupported(
                "config.berachain.prague2 needs prague1".into(),
            ));
        }
        if let Some(p1) = &berachain.prague1
            && p1.base_fee_change_denominator == 0
        {
            return Err(ChainSpecError::Unsupported(
                "config.berachain.prague1.baseFeeChangeDenominator must not be 0".into(),
            ));
        }
        if let Some(o1) = &berachain.osaka1 {
            let Some(osaka) = c.osaka_time else {
                return Err(ChainSpecError::Unsupported(
                    "config.berachain.osaka1 needs osakaTime".into(),
                ));
            };
            if o1.time < osaka {
                return Err(ChainSpecError::Unsupported(format!(
                    "config.berachain.osaka1.time {} is before osakaTime {osaka}: Osaka1 must activate at or after Osaka",
                    o1.time
                )));
            }
            if o1.minimum_base_fee_wei == 0 {
                return Err(ChainSpecError::Unsupported(
                    "config.berachain.osaka1.minimumBaseFeeWei must not be 0".into(),
                ));
            }
            if o1.minimum_blob_base_fee_wei == 0 {
                return Err(ChainSpecError::Unsupported(
                    "config.berachain.osaka1.minimumBlobBaseFeeWei must not be 0".into(),
                ));
            }
        }
        let mut spec = Self {
            genesis,
            berachain,
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
        Header::from(EthHeader {
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
        })
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.genesis.config.chain_id
    }

    /// The most bytes one block of this chain can hold: a zero calldata byte costs 4 gas
    /// (EIP-2028; EIP-7623's floor only makes it dearer), so the genesis gas limit pays for at
    /// most `gas_limit / 4` bytes of transactions, plus 1 MiB for the header, the transactions'
    /// envelopes and the withdrawals. Every hop that carries whole blocks accepts at least this.
    pub fn max_block_bytes(&self) -> usize {
        let gas = usize::try_from(self.genesis_header.gas_limit).unwrap_or(usize::MAX);
        (gas / 4).saturating_add(1 << 20)
    }

    /// [`Self::max_block_bytes`] as JSON: bytes are hex there (two characters each), plus 1 MiB
    /// for the field names and quantities.
    pub fn max_block_json_bytes(&self) -> usize {
        self.max_block_bytes()
            .saturating_mul(2)
            .saturating_add(1 << 20)
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

    /// Berachain's Prague1 when it is active for the block after `parent` (forks count as active
    /// by the parent's timestamp).
    pub fn prague1_after(&self, parent: &Header) -> Option<&Prague1> {
        self.berachain
            .prague1
            .as_ref()
            .filter(|p| parent.timestamp >= p.time)
    }

    /// Berachain's Prague1 when it is active for a block with this timestamp: such a block's
    /// header names the previous proposer and its body starts with the PoL transaction.
    pub fn prague1_at(&self, timestamp: u64) -> Option<&Prague1> {
        self.berachain
            .prague1
            .as_ref()
            .filter(|p| timestamp >= p.time)
    }

    /// EIP-1559 parameters for the block after `parent`: elasticity 2, and from Prague1 its
    /// denominator.
    pub fn base_fee_params(&self, parent: &Header) -> BaseFeeParams {
        match self.prague1_after(parent) {
            Some(p) => BaseFeeParams::new(p.base_fee_change_denominator as u128, 2),
            None => BaseFeeParams::ethereum(),
        }
    }

    /// Berachain's Osaka1 when it is active for the block after `parent` (by the parent's
    /// timestamp, as Prague1 and Prague2).
    pub fn osaka1_after(&self, parent: &Header) -> Option<&Osaka1> {
        self.osaka1_at(parent.timestamp)
    }

    /// Berachain's Osaka1 when it is active for a block with this timestamp (its blob floor).
    pub fn osaka1_at(&self, timestamp: u64) -> Option<&Osaka1> {
        self.berachain
            .osaka1
            .as_ref()
            .filter(|o| timestamp >= o.time)
    }

    /// The least base fee allowed for the block after `parent`: Osaka1's minimum when it is
    /// active, else Prague2's, else Prague1's, else none.
    pub fn minimum_base_fee(&self, parent: &Header) -> u64 {
        if let Some(o1) = self.osaka1_after(parent) {
            return o1.minimum_base_fee_wei;
        }
        let p1 = self.prague1_after(parent);
        let p2 = self
            .berachain
            .prague2
            .as_ref()
            .filter(|p| parent.timestamp >= p.time);
        match (p1, p2) {
            (Some(_), Some(p2)) => p2.minimum_base_fee_wei,
            (Some(p1), None) => p1.minimum_base_fee_wei,
            _ => 0,
        }
    }

    /// Base fee of the block that follows `parent`.
    pub fn next_base_fee(&self, parent: &Header) -> u64 {
        calc_next_block_base_fee(
            parent.gas_used,
            parent.gas_limit,
            parent.base_fee_per_gas.unwrap_or(INITIAL_BASE_FEE),
            self.base_fee_params(parent),
        )
        .max(self.minimum_base_fee(parent))
    }

    /// The most gas one transaction may use in a block at this timestamp: 2^24 from Osaka
    /// (EIP-7825), otherwise only the block's gas limit bounds it.
    pub fn tx_gas_limit_cap(&self, timestamp: u64) -> Option<u64> {
        self.is_osaka_active_at_timestamp(timestamp)
            .then_some(revm::primitives::eip7825::TX_GAS_LIMIT_CAP)
    }

    /// Blob parameters in force at this timestamp, `None` before Cancun: the latest
    /// blob-parameter-only fork's, else the fork's (from the genesis `blobSchedule`, mainnet's by
    /// default); from Osaka1 the fee curve starts at its minimum blob base fee.
    pub fn blob_params_at(&self, timestamp: u64) -> Option<BlobParams> {
        let mut params = if self.is_osaka_active_at_timestamp(timestamp) {
            *self
                .blob_params
                .active_scheduled_params_at_timestamp(timestamp)
                .unwrap_or(&self.blob_params.osaka)
        } else if self.is_prague_active_at_timestamp(timestamp) {
            self.blob_params.prague
        } else if self.is_cancun_active_at_timestamp(timestamp) {
            self.blob_params.cancun
        } else {
            return None;
        };
        if let Some(o1) = self.osaka1_at(timestamp) {
            params.min_blob_fee = u128::from(o1.minimum_blob_base_fee_wei);
        }
        Some(params)
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

/// EIP-7910's names of the precompiles, by address (the last byte; P256VERIFY at 0x100).
fn precompile_name(address: &Address) -> Option<&'static str> {
    let a = address.as_slice();
    if a[..18].iter().any(|b| *b != 0) {
        return None;
    }
    Some(match u16::from_be_bytes([a[18], a[19]]) {
        0x01 => "ECREC",
        0x02 => "SHA256",
        0x03 => "RIPEMD160",
        0x04 => "ID",
        0x05 => "MODEXP",
        0x06 => "BN256_ADD",
        0x07 => "BN256_MUL",
        0x08 => "BN256_PAIRING",
        0x09 => "BLAKE2F",
        0x0a => "KZG_POINT_EVALUATION",
        0x0b => "BLS12_G1ADD",
        0x0c => "BLS12_G1MSM",
        0x0d => "BLS12_G2ADD",
        0x0e => "BLS12_G2MSM",
        0x0f => "BLS12_PAIRING_CHECK",
        0x10 => "BLS12_MAP_FP_TO_G1",
        0x11 => "BLS12_MAP_FP2_TO_G2",
        0x100 => "P256VERIFY",
        _ => return None,
    })
}

impl ChainSpec {
    /// The forks by timestamp that change what `eth_config` shows (Cancun, Prague, Osaka and
    /// the blob-parameter-only forks), in activation order.
    fn config_forks(&self) -> Vec<u64> {
        self.fork_times(false)
    }

    /// The activation times of the forks by timestamp (with Shanghai or not), sorted, each once.
    fn fork_times(&self, shanghai: bool) -> Vec<u64> {
        let c = &self.genesis.config;
        let mut times: Vec<u64> = [
            c.shanghai_time.filter(|_| shanghai),
            c.cancun_time,
            c.prague_time,
            c.osaka_time,
            c.bpo1_time,
            c.bpo2_time,
            c.bpo3_time,
            c.bpo4_time,
            c.bpo5_time,
        ]
        .into_iter()
        .flatten()
        .collect();
        times.sort_unstable();
        times.dedup();
        times
    }

    /// EIP-2124's fork hash of the chain at `timestamp`: the genesis hash, then every fork
    /// activated after genesis up to then (each timestamp once).
    fn fork_hash_at(&self, timestamp: u64) -> alloy_hardforks::ForkHash {
        let genesis_time = self.genesis.timestamp;
        self.fork_times(true)
            .into_iter()
            .filter(|t| *t > genesis_time && *t <= timestamp)
            .fold(
                alloy_hardforks::ForkHash::from(self.genesis_hash),
                |h, t| h + t,
            )
    }

    /// What a client configures for the fork active at `timestamp` (EIP-7910).
    fn fork_config(&self, timestamp: u64) -> alloy_eips::eip7910::EthForkConfig {
        use alloy_eips::eip7910::SystemContract;
        let spec = self.spec_id_at(timestamp);
        let precompiles = revm::precompile::Precompiles::new(
            revm::precompile::PrecompileSpecId::from_spec_id(spec),
        )
        .addresses()
        .filter_map(|a| Some((precompile_name(a)?.to_string(), *a)))
        .collect();
        let mut system_contracts = std::collections::BTreeMap::new();
        if self.is_cancun_active_at_timestamp(timestamp) {
            system_contracts.extend(SystemContract::cancun());
        }
        if self.is_prague_active_at_timestamp(timestamp) {
            let deposit = self.genesis.config.deposit_contract_address;
            system_contracts.extend(SystemContract::prague(deposit));
        }
        alloy_eips::eip7910::EthForkConfig {
            activation_time: self
                .config_forks()
                .into_iter()
                .rfind(|t| *t <= timestamp)
                .unwrap_or(0),
            blob_schedule: self
                .blob_params_at(timestamp)
                .unwrap_or_else(BlobParams::cancun),
            chain_id: self.chain_id(),
            fork_id: self.fork_hash_at(timestamp).0.into(),
            precompiles,
            system_contracts,
        }
    }

    /// `eth_config` (EIP-7910) at `now`: the active fork's configuration, the next scheduled
    /// one's and the last scheduled one's (`null` when there is none after the current).
    pub fn eth_config(&self, now: u64) -> alloy_eips::eip7910::EthConfig {
        let forks = self.config_forks();
        let next = forks.iter().find(|t| **t > now).copied();
        let last = forks.last().copied().filter(|t| *t > now);
        alloy_eips::eip7910::EthConfig {
            current: self.fork_config(now),
            next: next.map(|t| self.fork_config(t)),
            last: last.map(|t| self.fork_config(t)),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devnet::devnet_genesis;

    const GWEI: u64 = 1_000_000_000;

    fn berachain(section: serde_json::Value) -> Result<ChainSpec, ChainSpecError> {
        let mut genesis = devnet_genesis(30_000_000);
        genesis
            .config
            .extra_fields
            .insert("berachain".into(), section);
        ChainSpec::from_genesis(genesis)
    }

    fn parent(timestamp: u64, base_fee: u64, gas_used: u64) -> Header {
        Header::from(EthHeader {
            timestamp,
            base_fee_per_gas: Some(base_fee),
            gas_limit: 30_000_000,
            gas_used,
            ..Default::default()
        })
    }

    #[test]
    fn without_the_section_the_base_fee_is_ethereums() {
        let spec =
            ChainSpec::from_genesis(crate::devnet::ethereum_devnet_genesis(30_000_000)).unwrap();
        assert_eq!(spec.berachain, BerachainConfig::default());
        // Empty parent: down by 1/8; full parent: up by 1/8.
        assert_eq!(spec.next_base_fee(&parent(10, 8 * GWEI, 0)), 7 * GWEI);
        assert_eq!(
            spec.next_base_fee(&parent(10, 8 * GWEI, 30_000_000)),
            9 * GWEI
        );
        assert_eq!(spec.next_base_fee(&parent(10, 8, 0)), 7);
    }

    #[test]
    fn prague1_changes_the_denominator_and_prague2_the_minimum() {
        let spec = berachain(serde_json::json!({
            "prague1": {
                "time": 100,
                "baseFeeChangeDenominator": 48,
                "minimumBaseFeeWei": 10 * GWEI,
                "polDistributorAddress": "0x4200000000000000000000000000000000000042"
            },
            "prague2": {"time": 200, "minimumBaseFeeWei": 20 * GWEI}
        }))
        .unwrap();
        // Before Prague1 (by the parent's timestamp): Ethereum's rule, no minimum.
        assert_eq!(spec.next_base_fee(&parent(99, 8 * GWEI, 0)), 7 * GWEI);
        // Prague1: a full parent raises the fee by 1/48; an empty one may not go below 10 gwei.
        assert_eq!(
            spec.next_base_fee(&parent(100, 48 * GWEI, 30_000_000)),
            49 * GWEI
        );
        assert_eq!(spec.next_base_fee(&parent(150, 48 * GWEI, 0)), 47 * GWEI);
        assert_eq!(spec.next_base_fee(&parent(150, 10 * GWEI, 0)), 10 * GWEI);
        assert_eq!(spec.next_base_fee(&parent(150, GWEI, 0)), 10 * GWEI);
        // Prague2: its minimum replaces Prague1's.
        assert_eq!(spec.next_base_fee(&parent(200, 10 * GWEI, 0)), 20 * GWEI);
        assert_eq!(
            spec.next_base_fee(&parent(200, 48 * GWEI, 30_000_000)),
            49 * GWEI
        );
        // Import holds blocks to it: a base fee under the minimum is refused with the reason.
        let p = parent(150, GWEI, 0);
        let mut header = Header::from(EthHeader {
            parent_hash: p.hash_slow(),
            number: p.number + 1,
            timestamp: 152,
            gas_limit: p.gas_limit,
            base_fee_per_gas: Some(GWEI),
            ..Default::default()
        });
        let why = crate::execution::validate_header(&spec, &p, &header).unwrap_err();
        assert!(why.to_string().contains("expected 10000000000"), "{why}");
        header.base_fee_per_gas = Some(10 * GWEI);
        if let Err(e) = crate::execution::validate_header(&spec, &p, &header) {
            assert!(!e.to_string().contains("base fee"), "{e}");
        }
    }

    #[test]
    fn osaka1_floors_the_base_fee_and_the_blob_base_fee_from_its_time() {
        let mut genesis = devnet_genesis(30_000_000);
        genesis.config.osaka_time = Some(100);
        genesis.config.extra_fields.insert(
            "berachain".into(),
            serde_json::json!({
                "prague1": {"time": 0, "baseFeeChangeDenominator": 48, "minimumBaseFeeWei": GWEI,
                    "polDistributorAddress": "0x4200000000000000000000000000000000000042"},
                "prague2": {"time": 0, "minimumBaseFeeWei": 2 * GWEI},
                "osaka1": {"time": 200, "minimumBaseFeeWei": 3 * GWEI, "minimumBlobBaseFeeWei": 5}
            }),
        );
        let spec = ChainSpec::from_genesis(genesis).unwrap();
        // By the parent's timestamp: Prague2's floor until Osaka1, then Osaka1's.
        assert_eq!(spec.next_base_fee(&parent(199, GWEI, 0)), 2 * GWEI);
        assert_eq!(spec.next_base_fee(&parent(200, GWEI, 0)), 3 * GWEI);
        // Osaka (EIP-7918's blob base cost) from 100; the blob fee curve starts at 5 wei from
        // Osaka1, at 1 wei before.
        assert_eq!(spec.blob_params_at(99).map(|p| p.blob_base_cost), Some(0));
        assert_eq!(spec.blob_params_at(150).map(|p| p.min_blob_fee), Some(1));
        assert_eq!(spec.blob_params_at(200).map(|p| p.min_blob_fee), Some(5));
        assert_eq!(spec.tx_gas_limit_cap(99), None);
        assert_eq!(spec.tx_gas_limit_cap(100), Some(1 << 24));
    }

    #[test]
    fn blob_parameter_only_forks_follow_the_genesis_schedule() {
        let mut genesis = devnet_genesis(30_000_000);
        genesis.config.osaka_time = Some(0);
        genesis.config.bpo1_time = Some(50);
        let params = |target: u64, max: u64| alloy_eips::eip7840::BlobParams {
            target_blob_count: target,
            max_blob_count: max,
            ..alloy_eips::eip7840::BlobParams::osaka()
        };
        genesis
            .config
            .blob_schedule
            .insert("bpo1".into(), params(10, 15));
        let spec = ChainSpec::from_genesis(genesis.clone()).unwrap();
        assert_eq!(spec.blob_params_at(49).map(|p| p.max_blob_count), Some(9));
        assert_eq!(spec.blob_params_at(50).map(|p| p.max_blob_count), Some(15));
        genesis.config.blob_schedule.remove("bpo1");
        let e = ChainSpec::from_genesis(genesis).unwrap_err().to_string();
        assert!(e.contains("blobSchedule.bpo1 is missing"), "{e}");
    }

    #[test]
    fn eth_config_names_the_active_fork_and_the_ones_scheduled() {
        let spec = crate::devnet::devnet_chainspec(30_000_000);
        let c = spec.eth_config(5);
        assert_eq!(c.current.activation_time, 0);
        assert_eq!(c.current.chain_id, crate::devnet::DEVNET_CHAIN_ID);
        assert_eq!(
            c.current.precompiles.get("P256VERIFY"),
            Some(&alloy_primitives::address!(
                "0000000000000000000000000000000000000100"
            ))
        );
        assert_eq!(c.current.precompiles.len(), 18);
        assert_eq!(c.current.system_contracts.len(), 5);
        assert_eq!(c.current.blob_schedule.max_blob_count, 9);
        let genesis_hash = alloy_hardforks::ForkHash::from(spec.genesis_hash());
        assert_eq!(c.current.fork_id.as_ref(), &genesis_hash.0);
        assert!(c.next.is_none() && c.last.is_none());
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["current"]["blobSchedule"]["target"], 6, "{json}");
        assert_eq!(json["current"]["chainId"], "0x138d7");

        // Osaka scheduled at 100 on a Prague genesis: Prague now, Osaka next (and last), with
        // the fork hash that includes its time.
        let mut genesis = devnet_genesis(30_000_000);
        genesis.config.osaka_time = Some(100);
        genesis.config.extra_fields.remove("berachain");
        let spec = ChainSpec::from_genesis(genesis).unwrap();
        let c = spec.eth_config(50);
        assert_eq!(c.current.precompiles.len(), 17);
        let next = c.next.expect("Osaka next");
        assert_eq!(next.activation_time, 100);
        assert_eq!(next.precompiles.len(), 18);
        let genesis_hash = alloy_hardforks::ForkHash::from(spec.genesis_hash());
        assert_eq!(next.fork_id.as_ref(), &(genesis_hash + 100u64).0);
        assert_eq!(c.last.map(|l| l.activation_time), Some(100));
        assert!(spec.eth_config(100).next.is_none());
    }

    #[test]
    fn a_broken_osaka1_is_refused_with_the_reason() {
        let osaka1 = |osaka: Option<u64>, section: serde_json::Value| {
            let mut genesis = devnet_genesis(30_000_000);
            genesis.config.osaka_time = osaka;
            genesis
                .config
                .extra_fields
                .insert("berachain".into(), serde_json::json!({ "osaka1": section }));
            ChainSpec::from_genesis(genesis).unwrap_err().to_string()
        };
        let ok =
            serde_json::json!({"time": 10, "minimumBaseFeeWei": 1, "minimumBlobBaseFeeWei": 1});
        assert!(osaka1(None, ok.clone()).contains("needs osakaTime"));
        assert!(osaka1(Some(11), ok).contains("before osakaTime 11"));
        let no_fee =
            serde_json::json!({"time": 10, "minimumBaseFeeWei": 0, "minimumBlobBaseFeeWei": 1});
        assert!(osaka1(Some(0), no_fee).contains("minimumBaseFeeWei must not be 0"));
        let no_blob =
            serde_json::json!({"time": 10, "minimumBaseFeeWei": 1, "minimumBlobBaseFeeWei": 0});
        assert!(osaka1(Some(0), no_blob).contains("minimumBlobBaseFeeWei must not be 0"));
        let missing = serde_json::json!({"time": 10, "minimumBaseFeeWei": 1});
        assert!(osaka1(Some(0), missing).contains("minimumBlobBaseFeeWei"));
    }

    #[test]
    fn a_broken_genesis_names_the_field_and_says_it_once() {
        let e = parse_genesis("[]").unwrap_err().to_string();
        assert!(e.contains("a genesis is a JSON object"), "{e}");
        let e = parse_genesis(r#"{"config":{"chainId":"x"},"alloc":{}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("field config.chainId"), "{e}");
        let e = parse_genesis(r#"{"config":{"chainId":1},"alloc":{"0x01":{"balance":"zz"}}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("alloc"), "{e}");
        // The reason once (it used to be printed again as the error's source).
        assert!(std::error::Error::source(&parse_genesis("{").unwrap_err()).is_none());
    }

    #[test]
    fn a_broken_section_is_refused_with_the_reason() {
        for (section, why) in [
            (
                serde_json::json!({"prague2": {"time": 0, "minimumBaseFeeWei": 1}}),
                "prague2 needs prague1",
            ),
            (
                serde_json::json!({"prague1": {"time": 0, "baseFeeChangeDenominator": 0,
                    "minimumBaseFeeWei": 1, "polDistributorAddress": "0x4200000000000000000000000000000000000042"}}),
                "must not be 0",
            ),
            (
                serde_json::json!({"prague1": {"time": "soon"}}),
                "config.berachain",
            ),
        ] {
            let e = berachain(section).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
    }
}
