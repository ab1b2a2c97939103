//! Account state at a block: balances, nonces, code, storage, proofs, and calls executed on that
//! state without committing anything (EVM calls run on the heavy-work threads).

use super::{
    EthApi, RpcErr, RpcResult, call,
    eth::{Named, parse_storage_key},
};
use alloy_consensus::constants::KECCAK_EMPTY;
use alloy_eips::BlockId;
use alloy_primitives::{Address, B256, Bytes, U64, U256, keccak256};
use alloy_rpc_types_eth::{
    AccessListResult, EIP1186AccountProofResponse, EIP1186StorageProof, TransactionRequest,
};
use jsonrpsee::{core::async_trait, proc_macros::rpc};

/// State reads and calls.
#[rpc(server, namespace = "eth")]
pub trait StateApi {
    /// Balance of an account.
    #[method(name = "getBalance")]
    async fn get_balance(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256>;
    /// Nonce of an account; at `pending` it also counts the pool's executable transactions.
    #[method(name = "getTransactionCount")]
    async fn get_transaction_count(
        &self,
        address: Address,
        block: Option<BlockId>,
    ) -> RpcResult<U64>;
    /// Code of an account.
    #[method(name = "getCode")]
    async fn get_code(&self, address: Address, block: Option<BlockId>) -> RpcResult<Bytes>;
    /// One storage slot (the key is hex of at most 32 bytes, left-padded, as geth reads it).
    #[method(name = "getStorageAt")]
    async fn get_storage_at(
        &self,
        address: Address,
        key: String,
        block: Option<BlockId>,
    ) -> RpcResult<B256>;
    /// EIP-1186 proof of an account and slots (the most recent 128 blocks, and `pending`).
    #[method(name = "getProof")]
    async fn get_proof(
        &self,
        address: Address,
        keys: Vec<String>,
        block: Option<BlockId>,
    ) -> RpcResult<EIP1186AccountProofResponse>;
    /// Executes a call on the state of a block.
    #[method(name = "call")]
    async fn call(&self, request: TransactionRequest, block: Option<BlockId>) -> RpcResult<Bytes>;
    /// The least gas the transaction needs.
    #[method(name = "estimateGas")]
    async fn estimate_gas(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
    ) -> RpcResult<U64>;
    /// The EIP-2930 access list of a call and the gas it uses with it.
    #[method(name = "createAccessList")]
    async fn create_access_list(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
    ) -> RpcResult<AccessListResult>;
}

#[async_trait]
impl StateApiServer for EthApi {
    async fn get_balance(&self, address: Address, block: Option<BlockId>) -> RpcResult<U256> {
        let (_, st) = self.state_for(block)?;
        Ok(st.account(&address)?.map(|a| a.balance).unwrap_or_default())
    }

    async fn get_transaction_count(
        &self,
        address: Address,
        block: Option<BlockId>,
    ) -> RpcResult<U64> {
        let (_, st) = self.state_for(block)?;
        let nonce = st.account(&address)?.map(|a| a.nonce).unwrap_or_default();
        if block.is_some_and(|b| b.is_pending())
            && let Some(n) = self.mempool.next_nonce(address).await?
        {
            return Ok(U64::from(n.max(nonce)));
        }
        Ok(U64::from(nonce))
    }

    async fn get_code(&self, address: Address, block: Option<BlockId>) -> RpcResult<Bytes> {
        let (_, st) = self.state_for(block)?;
        let Some(a) = st.account(&address)? else {
            return Ok(Bytes::new());
        };
        if a.code_hash == KECCAK_EMPTY {
            return Ok(Bytes::new());
        }
        Ok(st.code(&a.code_hash)?.unwrap_or_default())
    }

    async fn get_storage_at(
        &self,
        address: Address,
        key: String,
        block: Option<BlockId>,
    ) -> RpcResult<B256> {
        let key = parse_storage_key(&key)?;
        let (_, st) = self.state_for(block)?;
        Ok(B256::from(
            st.storage(&address, &U256::from_be_bytes(key.0))?,
        ))
    }

    async fn get_proof(
        &self,
        address: Address,
        keys: Vec<String>,
        block: Option<BlockId>,
    ) -> RpcResult<EIP1186AccountProofResponse> {
        let id = block.unwrap_or_default();
        let snapshot = match self.named(id)? {
            // Against the preconfirmed state (the root in the preconfirmed header).
            Named::Preconfirmed(p) => p.state.snapshot.clone(),
            Named::Stored(header) => {
                let r = &self.chain.reader;
                let header = header.ok_or_else(|| RpcErr::Server("header not found".into()))?;
                r.recent_state(header.header.number)
                    .filter(|_| {
                        r.is_canonical(&header.hash, header.header.number)
                            .unwrap_or(false)
                    })
                    .ok_or_else(|| {
                        RpcErr::NotFound(
                            "proofs are served for the most recent 128 blocks only".into(),
                        )
                    })?
            }
        };
        let account = snapshot.account(&address);
        let mut storage_proof = Vec::new();
        for k in &keys {
            let key = parse_storage_key(k)?;
            let hashed = keccak256(key);
            let (value, proof) = match account {
                Some(a) => (
                    a.storage.get(&hashed).copied().unwrap_or_default(),
                    a.storage.proof(&hashed),
                ),
                None => (U256::ZERO, Vec::new()),
            };
            storage_proof.push(EIP1186StorageProof {
                key: serde_json::from_value(serde_json::Value::String(k.clone()))
                    .map_err(|e| RpcErr::InvalidParams(e.to_string()))?,
                value,
                proof: proof.into_iter().map(Bytes::from).collect(),
            });
        }
        Ok(EIP1186AccountProofResponse {
            address,
            balance: account.map(|a| a.balance).unwrap_or_default(),
            code_hash: account.map(|a| a.code_hash).unwrap_or(KECCAK_EMPTY),
            nonce: account.map(|a| a.nonce).unwrap_or_default(),
            storage_hash: account
                .map(|a| a.storage.root_hash())
                .unwrap_or(alloy_trie::EMPTY_ROOT_HASH),
            account_proof: snapshot
                .account_proof(&address)
                .into_iter()
                .map(Bytes::from)
                .collect(),
            storage_proof,
        })
    }

    async fn call(&self, request: TransactionRequest, block: Option<BlockId>) -> RpcResult<Bytes> {
        let (h, st) = self.state_for(block)?;
        let api = self.clone();
        self.heavy
            .run(move || call::call(&api, &h, st, request))
            .await
    }

    async fn estimate_gas(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
    ) -> RpcResult<U64> {
        let (h, st) = self.state_for(block)?;
        let api = self.clone();
        let gas = self
            .heavy
            .run(move || call::estimate_gas(&api, &h, st, request))
            .await?;
        Ok(U64::from(gas))
    }

    async fn create_access_list(
        &self,
        request: TransactionRequest,
        block: Option<BlockId>,
    ) -> RpcResult<AccessListResult> {
        let (h, st) = self.state_for(block)?;
        let api = self.clone();
        self.heavy
            .run(move || call::create_access_list(&api, &h, st, request))
            .await
    }
}
