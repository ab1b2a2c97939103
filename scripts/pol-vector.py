#!/usr/bin/env python3
"""The PoL transaction test vector of core/src/pol.rs, computed without the node's code: pyrlp and
eth-hash (both come with web3.py: pip install -r tests/tools/requirements.txt).

bera-reth's PoL hash test (value from bera-geth): chain 80087, distributor 0x42…42, block 10
(nonce 9), base fee 1 gwei, pubkey = ASCII 'test_pubkey_for_consistent_hash_validation__' + 4
zero bytes. Prints the EIP-2718 encoding and the hash."""
import rlp
from eth_hash.auto import keccak


def quantity(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


pubkey = b"test_pubkey_for_consistent_hash_validation__" + bytes(4)
selector = keccak(b"distributeFor(bytes)")[:4]
# ABI: offset 32, length 48, the key padded to 64 bytes.
data = selector + quantity(32).rjust(32, b"\0") + quantity(48).rjust(32, b"\0") + pubkey + bytes(16)
fields = [
    quantity(80087),
    bytes.fromhex("ff" * 19 + "fe"),
    bytes.fromhex("4200000000000000000000000000000000000042"),
    quantity(9),
    quantity(30_000_000),
    quantity(1_000_000_000),
    data,
]
encoded = b"\x7e" + rlp.encode(fields)
print("encoding 0x" + encoded.hex())
print("hash     0x" + keccak(encoded).hex())
