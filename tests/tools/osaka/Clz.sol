// SPDX-License-Identifier: MIT
pragma solidity ^0.8.31;

/// Counts leading zeros with Osaka's CLZ opcode (EIP-7939), as solc >= 0.8.31 compiles for Osaka
/// by default.
contract Clz {
    function clz(uint256 x) external pure returns (uint256 r) {
        assembly {
            r := clz(x)
        }
    }
}
