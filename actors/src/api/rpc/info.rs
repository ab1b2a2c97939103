//! What the node is: `eth_chainId`, `eth_config`, `eth_syncing`, `net_*`, `web3_*`.

use super::{EthApi, RpcResult};
use alloy_primitives::{B256, Bytes, U64, keccak256};
use alloy_rpc_types_eth::SyncStatus;
use jsonrpsee::{core::async_trait, proc_macros::rpc};

/// Node and network information.
#[rpc(server)]
pub trait InfoApi {
    /// The chain id (EIP-155).
    #[method(name = "eth_chainId")]
    async fn chain_id(&self) -> RpcResult<U64>;
    /// The fork configuration in force at the head, and the next and last scheduled (EIP-7910).
    #[method(name = "eth_config")]
    async fn config(&self) -> RpcResult<alloy_eips::eip7910::EthConfig>;
    /// Always `false`: the node serves what it has.
    #[method(name = "eth_syncing")]
    async fn syncing(&self) -> RpcResult<SyncStatus>;
    /// The chain id as a decimal string.
    #[method(name = "net_version")]
    async fn net_version(&self) -> RpcResult<String>;
    /// Always `true`.
    #[method(name = "net_listening")]
    async fn net_listening(&self) -> RpcResult<bool>;
    /// Always 0: there is no peer-to-peer network.
    #[method(name = "net_peerCount")]
    async fn net_peer_count(&self) -> RpcResult<U64>;
    /// `preconf-node/v<version>`.
    #[method(name = "web3_clientVersion")]
    async fn client_version(&self) -> RpcResult<String>;
    /// keccak256 of the data.
    #[method(name = "web3_sha3")]
    async fn sha3(&self, data: Bytes) -> RpcResult<B256>;
}

#[async_trait]
impl InfoApiServer for EthApi {
    async fn chain_id(&self) -> RpcResult<U64> {
        Ok(U64::from(self.chain.reader.spec.chain_id()))
    }

    async fn config(&self) -> RpcResult<alloy_eips::eip7910::EthConfig> {
        let r = &self.chain.reader;
        Ok(r.spec.eth_config(r.head().header.timestamp))
    }

    async fn syncing(&self) -> RpcResult<SyncStatus> {
        Ok(SyncStatus::None)
    }

    async fn net_version(&self) -> RpcResult<String> {
        Ok(self.chain.reader.spec.chain_id().to_string())
    }

    async fn net_listening(&self) -> RpcResult<bool> {
        Ok(true)
    }

    async fn net_peer_count(&self) -> RpcResult<U64> {
        Ok(U64::ZERO)
    }

    async fn client_version(&self) -> RpcResult<String> {
        Ok(concat!("preconf-node/v", env!("CARGO_PKG_VERSION")).to_string())
    }

    async fn sha3(&self, data: Bytes) -> RpcResult<B256> {
        Ok(keccak256(&data))
    }
}
