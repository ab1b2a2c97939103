"""The web3.py flows of the tool matrix: python3 flows.py RPC_URL

Prints one JSON line per step: {"tool","mode","flow","ok","ms","error"?}. web3.py as it comes:
the signing middleware fills the nonce and fees its default way, and every wait is
`wait_for_transaction_receipt` with its default poll latency.
"""

import json
import sys
import time

from web3 import Web3
from web3.middleware import SignAndSendRawMiddlewareBuilder

URL = sys.argv[1]
# Dev account 4 of the `test ... junk` mnemonic.
KEY = "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a"
TO = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def step(flow, f):
    start = time.perf_counter()
    out = {"tool": "web3.py", "mode": "default", "flow": flow}
    try:
        f()
        out["ok"] = True
    except Exception as e:  # every failure is reported as a failed step
        out["ok"] = False
        out["error"] = str(e)[:300]
    out["ms"] = round((time.perf_counter() - start) * 1000)
    print(json.dumps(out), flush=True)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


w3 = Web3(Web3.HTTPProvider(URL))
acct = w3.eth.account.from_key(KEY)
w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(acct), layer=0)
w3.eth.default_account = acct.address


def send_wait_block():
    tx = w3.eth.send_transaction({"to": TO, "value": 1})
    r = w3.eth.wait_for_transaction_receipt(tx)
    check(r["status"] == 1, f"status {r['status']}")
    b = w3.eth.get_block(r["blockHash"])
    check(b["number"] == r["blockNumber"], f"block {b['number']} vs receipt {r['blockNumber']}")


for i in range(1, 4):
    step(f"send -> wait -> get_block(receipt.blockHash) #{i}", send_wait_block)

counter = json.load(open(__file__.rsplit("/", 1)[0] + "/Counter.json"))
state = {}


def deploy():
    c = w3.eth.contract(abi=counter["abi"], bytecode=counter["bytecode"])
    r = w3.eth.wait_for_transaction_receipt(c.constructor().transact())
    state["address"] = r["contractAddress"]
    check(state["address"], "no contract address")


def call_after_deploy():
    c = w3.eth.contract(address=state["address"], abi=counter["abi"])
    n = c.functions.number().call()
    check(n == 0, f"number {n}")


def transact_then_call():
    c = w3.eth.contract(address=state["address"], abi=counter["abi"])
    w3.eth.wait_for_transaction_receipt(c.functions.set(7).transact())
    n = c.functions.number().call()
    check(n == 7, f"number {n}")


step("deploy + wait", deploy)
step("call after deploy", call_after_deploy)
step("transact + wait + call", transact_then_call)


def clz_contract():
    # A contract solc >= 0.8.31 compiled for its default EVM version (Osaka) using CLZ.
    clz = json.load(open(__file__.rsplit("/", 1)[0] + "/out/Clz.json"))
    c = w3.eth.contract(abi=clz["abi"], bytecode=clz["bytecode"])
    r = w3.eth.wait_for_transaction_receipt(c.constructor().transact())
    n = w3.eth.contract(address=r["contractAddress"], abi=clz["abi"]).functions.clz(1).call()
    check(n == 255, f"clz(1) {n}")


step("deploy + call a CLZ contract (solc 0.8.31, Osaka)", clz_contract)


def pol_block_and_receipt():
    # Berachain's PoL transaction (type 0x7e) opens every block.
    b = w3.eth.get_block("latest", full_transactions=True)
    pol = b["transactions"][0]
    check(pol["type"] == 0x7E, f"type {pol['type']}")
    r = w3.eth.get_transaction_receipt(pol["hash"])
    check(r["type"] == 0x7E and r["cumulativeGasUsed"] == 0 and len(r["logs"]) == 1, f"receipt {r}")


step("get_block(full_transactions) + PoL receipt", pol_block_and_receipt)


def header_hash_from_json():
    # A Prague1 header is Ethereum's 21 fields plus parentProposerPubkey: its RLP, encoded here with
    # pyrlp from the JSON alone, hashes to the block hash.
    import rlp
    from eth_hash.auto import keccak

    b = w3.eth.get_block("latest")
    q = lambda n: n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    raw = lambda v: bytes.fromhex(v[2:]) if isinstance(v, str) else bytes(v)
    fields = [
        b["parentHash"], b["sha3Uncles"], raw(b["miner"]), b["stateRoot"],
        b["transactionsRoot"], b["receiptsRoot"], b["logsBloom"], q(b["difficulty"]),
        q(b["number"]), q(b["gasLimit"]), q(b["gasUsed"]), q(b["timestamp"]), b["extraData"],
        b["mixHash"], b["nonce"], q(b["baseFeePerGas"]), b["withdrawalsRoot"],
        q(b["blobGasUsed"]), q(b["excessBlobGas"]), b["parentBeaconBlockRoot"],
        b["requestsHash"], raw(b["parentProposerPubkey"]),
    ]
    got = keccak(rlp.encode([raw(f) for f in fields]))
    check(got == bytes(b["hash"]), f"hash {got.hex()} vs {b['hash'].hex()}")


step("header hash from JSON (pyrlp)", header_hash_from_json)
