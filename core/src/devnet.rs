//! The built-in devnet: chain id 80087, every Ethereum fork through Prague and Berachain's Prague1
//! active at genesis, the four Prague system contracts, a PoL distributor, and ten dev accounts
//! from the well-known `test test … junk` mnemonic (path m/44'/60'/0'/0/i) with 10,000 ether
//! each — the same keys anvil and hardhat print, so wallets and scripts that know them work
//! unchanged.
//!
//! Prague1 (WIRE.md §5): base fee denominator 48 (Ethereum's is 8), minimum base fee 1 gwei (the
//! genesis base fee), and the PoL distributor at [`POL_DISTRIBUTOR`]: `contracts/`'s
//! `DevnetPolDistributor`, which emits `Distributed(bytes pubkey, uint256 indexed blockNumber)`
//! for every block's PoL transaction.

use crate::chainspec::ChainSpec;
use alloy_eips::{
    eip2935::{HISTORY_STORAGE_ADDRESS, HISTORY_STORAGE_CODE},
    eip4788::{BEACON_ROOTS_ADDRESS, BEACON_ROOTS_CODE},
    eip7002::{WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS, WITHDRAWAL_REQUEST_PREDEPLOY_CODE},
    eip7251::{CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS, CONSOLIDATION_REQUEST_PREDEPLOY_CODE},
};
use alloy_genesis::{ChainConfig, Genesis, GenesisAccount};
use alloy_primitives::{Address, B256, Bytes, U256, address};
use alloy_signer_local::{MnemonicBuilder, PrivateKeySigner, coins_bip39::English};

/// Where the devnet's PoL distributor lives (`config.berachain.prague1.polDistributorAddress`).
pub const POL_DISTRIBUTOR: Address = address!("4200000000000000000000000000000000000042");
/// Prague1's base fee change denominator on the devnet.
pub const BASE_FEE_CHANGE_DENOMINATOR: u64 = 48;
/// Prague1's minimum base fee on the devnet (wei): 1 gwei.
pub const MINIMUM_BASE_FEE: u64 = 1_000_000_000;

/// The devnet's chain id.
pub const DEVNET_CHAIN_ID: u64 = 80087;
/// The dev mnemonic.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";
/// How many dev accounts are funded.
pub const DEV_ACCOUNTS: u32 = 10;
/// Default block gas limit.
pub const DEFAULT_GAS_LIMIT: u64 = 30_000_000;
/// Balance of each dev account: 10,000 ether.
pub const DEV_BALANCE: U256 = U256::from_limbs([0x19e0c9bab2400000, 0x21e, 0, 0]);

/// The signer of dev account `index`.
pub fn dev_signer(index: u32) -> PrivateKeySigner {
    MnemonicBuilder::<English>::default()
        .phrase(DEV_MNEMONIC)
        .index(index)
        .and_then(|b| b.build())
        .expect("the dev mnemonic and index are valid")
}

/// All dev signers.
pub fn dev_signers() -> Vec<PrivateKeySigner> {
    (0..DEV_ACCOUNTS).map(dev_signer).collect()
}

fn system_contract(code: &Bytes) -> GenesisAccount {
    GenesisAccount::default()
        .with_nonce(Some(1))
        .with_code(Some(code.clone()))
}

/// The runtime bytecode of `contracts/DevnetPolDistributor.sol` (compiled by
/// `contracts/build.sh`).
fn pol_distributor_code() -> Bytes {
    let hex = include_str!("../../contracts/DevnetPolDistributor.bin-runtime");
    alloy_primitives::hex::decode(hex.trim())
        .expect("the checked-in distributor bytecode is hex")
        .into()
}

/// The newest fork the devnet runs from genesis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DevnetFork {
    /// Prague with Berachain's Prague1.
    Prague,
    /// Prague1, Osaka and Berachain's Osaka1 (what Berachain runs).
    #[default]
    Osaka,
}

impl std::str::FromStr for DevnetFork {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "prague" | "prague1" => Ok(Self::Prague),
            "osaka" | "osaka1" | "fusaka" => Ok(Self::Osaka),
            other => Err(format!(
                "unknown hardfork {other:?}: the devnet runs `osaka` (Osaka + Osaka1, the default) or `prague` (Prague1)"
            )),
        }
    }
}

/// Osaka1's minimum base fee and blob base fee on the devnet: Bepolia's (1 gwei each).
pub const OSAKA1_MINIMUM_FEE: u64 = 1_000_000_000;

/// The devnet genesis with the given block gas limit: Prague1, Osaka and Osaka1 from block 0.
pub fn devnet_genesis(gas_limit: u64) -> Genesis {
    devnet_genesis_at(gas_limit, DevnetFork::Osaka)
}

/// The devnet genesis with the given block gas limit, up to `fork`.
pub fn devnet_genesis_at(gas_limit: u64, fork: DevnetFork) -> Genesis {
    let osaka = fork == DevnetFork::Osaka;
    let mut config = ChainConfig {
        chain_id: DEVNET_CHAIN_ID,
        homestead_block: Some(0),
        eip150_block: Some(0),
        eip155_block: Some(0),
        eip158_block: Some(0),
        byzantium_block: Some(0),
        constantinople_block: Some(0),
        petersburg_block: Some(0),
        istanbul_block: Some(0),
        berlin_block: Some(0),
        london_block: Some(0),
        shanghai_time: Some(0),
        cancun_time: Some(0),
        prague_time: Some(0),
        osaka_time: osaka.then_some(0),
        terminal_total_difficulty: Some(U256::ZERO),
        terminal_total_difficulty_passed: true,
        ..Default::default()
    };
    config.deposit_contract_address = Some(Address::ZERO);
    let mut berachain = serde_json::json!({
        "prague1": {
            "time": 0,
            "baseFeeChangeDenominator": BASE_FEE_CHANGE_DENOMINATOR,
            "minimumBaseFeeWei": MINIMUM_BASE_FEE,
            "polDistributorAddress": POL_DISTRIBUTOR,
        }
    });
    if osaka {
        berachain["osaka1"] = serde_json::json!({
            "time": 0,
            "minimumBaseFeeWei": OSAKA1_MINIMUM_FEE,
            "minimumBlobBaseFeeWei": OSAKA1_MINIMUM_FEE,
        });
    }
    config.extra_fields.insert("berachain".into(), berachain);
    let mut alloc = std::collections::BTreeMap::new();
    alloc.insert(BEACON_ROOTS_ADDRESS, system_contract(&BEACON_ROOTS_CODE));
    alloc.insert(
        HISTORY_STORAGE_ADDRESS,
        system_contract(&HISTORY_STORAGE_CODE),
    );
    alloc.insert(
        WITHDRAWAL_REQUEST_PREDEPLOY_ADDRESS,
        system_contract(&WITHDRAWAL_REQUEST_PREDEPLOY_CODE),
    );
    alloc.insert(
        CONSOLIDATION_REQUEST_PREDEPLOY_ADDRESS,
        system_contract(&CONSOLIDATION_REQUEST_PREDEPLOY_CODE),
    );
    alloc.insert(
        POL_DISTRIBUTOR,
        GenesisAccount::default().with_code(Some(pol_distributor_code())),
    );
    for signer in dev_signers() {
        alloc.insert(
            signer.address(),
            GenesisAccount::default().with_balance(DEV_BALANCE),
        );
    }
    Genesis {
        config,
        nonce: 0,
        timestamp: 0,
        extra_data: Bytes::from_static(b"preconf-node devnet"),
        gas_limit,
        difficulty: U256::ZERO,
        mix_hash: B256::ZERO,
        coinbase: Address::ZERO,
        alloc,
        base_fee_per_gas: Some(1_000_000_000),
        excess_blob_gas: Some(0),
        blob_gas_used: Some(0),
        ..Default::default()
    }
}

/// The devnet genesis as plain Ethereum (no `config.berachain`): for tests that compare with
/// Ethereum-only references.
#[cfg(test)]
pub(crate) fn ethereum_devnet_genesis(gas_limit: u64) -> Genesis {
    let mut genesis = devnet_genesis(gas_limit);
    genesis.config.extra_fields.remove("berachain");
    genesis
}

/// The devnet chain spec (Osaka + Osaka1).
pub fn devnet_chainspec(gas_limit: u64) -> ChainSpec {
    devnet_chainspec_at(gas_limit, DevnetFork::Osaka)
}

/// The devnet chain spec up to `fork`.
pub fn devnet_chainspec_at(gas_limit: u64, fork: DevnetFork) -> ChainSpec {
    ChainSpec::from_genesis(devnet_genesis_at(gas_limit, fork))
        .expect("the built-in devnet genesis is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_accounts_are_the_well_known_ones() {
        assert_eq!(
            dev_signer(0).address(),
            address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
        );
        assert_eq!(
            dev_signer(9).address(),
            address!("a0Ee7A142d267C1f36714E4a8F75612F20a79720")
        );
        assert_eq!(
            DEV_BALANCE,
            U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18))
        );
    }

    #[test]
    fn devnet_runs_osaka_and_osaka1_unless_told_prague() {
        use crate::chainspec::EthereumHardforks as _;
        let spec = devnet_chainspec(DEFAULT_GAS_LIMIT);
        assert!(spec.is_osaka_active_at_timestamp(0));
        let o1 = spec.berachain.osaka1.as_ref().expect("Osaka1 from genesis");
        assert_eq!(o1.minimum_base_fee_wei, OSAKA1_MINIMUM_FEE);
        assert_eq!(
            spec.minimum_base_fee(spec.genesis_header()),
            OSAKA1_MINIMUM_FEE
        );
        assert_eq!(
            spec.blob_params_at(0).map(|p| p.min_blob_fee),
            Some(u128::from(OSAKA1_MINIMUM_FEE))
        );
        assert_eq!(
            spec.blob_base_fee(spec.genesis_header()),
            Some(1_000_000_000)
        );
        let prague = devnet_chainspec_at(DEFAULT_GAS_LIMIT, "prague".parse().unwrap());
        assert!(!prague.is_osaka_active_at_timestamp(u64::MAX));
        assert!(prague.berachain.osaka1.is_none());
        assert!("cancun".parse::<DevnetFork>().is_err());
    }

    #[test]
    fn devnet_is_prague_with_system_contracts() {
        let spec = devnet_chainspec(DEFAULT_GAS_LIMIT);
        assert_eq!(spec.chain_id(), DEVNET_CHAIN_ID);
        assert!(spec.genesis_header().requests_hash.is_some());
        assert_eq!(spec.genesis.alloc.len(), 15);
        let p1 = spec.prague1_at(0).expect("Prague1 from genesis");
        assert_eq!(p1.pol_distributor_address, POL_DISTRIBUTOR);
        assert_eq!(p1.minimum_base_fee_wei, MINIMUM_BASE_FEE);
        let code = &spec.genesis.alloc[&POL_DISTRIBUTOR].code;
        // distributeFor(bytes)
        assert!(
            code.as_ref()
                .is_some_and(|c| c.windows(4).any(|w| w == [0x60, 0x64, 0x4a, 0x6b]))
        );
    }
}
