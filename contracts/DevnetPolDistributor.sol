// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title The devnet's PoL distributor
/// @notice From Berachain's Prague1 every block starts with the PoL transaction: a system call
/// from 0xff…fe to `distributeFor(pubkey)`, `pubkey` being the previous block's proposer. On
/// Berachain that distributes the proposer's rewards; on the preconf-node devnet this contract
/// stands in for the distributor and records each call, so distributions can be watched with
/// `cast logs`. Runtime bytecode: DevnetPolDistributor.bin-runtime (rebuild: ./build.sh).
contract DevnetPolDistributor {
    /// The only caller: the PoL transaction's sender.
    address public constant SYSTEM_ADDRESS = 0xffffFFFfFFffffffffffffffFfFFFfffFFFfFFfE;

    /// How many times rewards were distributed.
    uint256 public distributions;

    /// Rewards were distributed for the proposer with this BLS public key, in this block.
    event Distributed(bytes pubkey, uint256 indexed blockNumber);

    /// Only the PoL system call may distribute.
    error NotSystemAddress();

    /// Distributes the rewards of the proposer with this public key (48 bytes).
    function distributeFor(bytes calldata pubkey) external {
        if (msg.sender != SYSTEM_ADDRESS) revert NotSystemAddress();
        distributions += 1;
        emit Distributed(pubkey, block.number);
    }
}
