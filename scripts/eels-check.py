#!/usr/bin/env python3
"""Replays the chain a node serves through the Ethereum execution specification (EELS, PyPI
`ethereum-execution`), block by block: every block must pass EELS' own header checks, execution
and roots.

    python3 scripts/eels-check.py RPC_URL FORK GENESIS_JSON

FORK is an EELS fork module (`osaka`, `prague`) that runs from genesis; GENESIS_JSON is the
genesis the node runs (its `alloc` is the starting state, checked against the node's genesis
state root). Blocks come from `debug_getRawHeader` / `debug_getRawBlock` up to the finalized
head. Prints `eels FORK: N blocks accepted (T transactions)`; exits non-zero naming the block and
the specification's reason otherwise.
"""
import importlib
import json
import sys
import urllib.request

from ethereum_rlp import rlp
from ethereum_types.numeric import U64, U256, Uint
from ethereum.utils.hexadecimal import hex_to_bytes, hex_to_bytes32


def call(url, method, params):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        answer = json.load(resp)
    if "error" in answer:
        raise SystemExit(f"{method}: {answer['error']}")
    return answer["result"]


def main():
    url, fork_name, genesis_path = sys.argv[1:4]
    mod = lambda name: importlib.import_module(f"ethereum.forks.{fork_name}.{name}")
    fork, blocks, state_m, types = mod("fork"), mod("blocks"), mod("state"), mod("fork_types")
    hex_to_address = mod("utils.hexadecimal").hex_to_address
    genesis = json.load(open(genesis_path))
    state = state_m.State()
    for addr, acct in genesis["alloc"].items():
        address = hex_to_address(addr)
        number = lambda v: int(v, 0) if isinstance(v, str) else int(v)
        state_m.set_account(
            state,
            address,
            types.Account(
                nonce=Uint(number(acct.get("nonce", 0))),
                balance=U256(number(acct.get("balance", 0))),
                code=hex_to_bytes(acct.get("code", "0x")),
            ),
        )
        for key, value in acct.get("storage", {}).items():
            state_m.set_storage(state, address, hex_to_bytes32(key), U256(int(value, 16)))
    header = rlp.decode_to(blocks.Header, hex_to_bytes(call(url, "debug_getRawHeader", ["0x0"])))
    if state_m.state_root(state) != header.state_root:
        raise SystemExit("the genesis state root differs from the node's genesis header")
    chain = fork.BlockChain(
        blocks=[blocks.Block(header=header, transactions=(), ommers=(), withdrawals=())],
        state=state,
        chain_id=U64(genesis["config"]["chainId"]),
    )
    head = int(call(url, "eth_getBlockByNumber", ["finalized", False])["number"], 16)
    txs = 0
    for n in range(1, head + 1):
        block = rlp.decode_to(blocks.Block, hex_to_bytes(call(url, "debug_getRawBlock", [hex(n)])))
        try:
            fork.state_transition(chain, block)
        except Exception as e:  # the specification's own exception names the rule
            raise SystemExit(f"block {n}: {type(e).__name__}: {e}")
        txs += len(block.transactions)
    print(f"eels {fork_name}: {head} blocks accepted ({txs} transactions)")


main()
