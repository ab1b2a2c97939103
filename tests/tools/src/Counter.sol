// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// The contract every tool flow deploys, calls and sends to.
contract Counter {
    uint256 public number;

    event Set(uint256 number);

    function set(uint256 n) public {
        number = n;
        emit Set(n);
    }

    function increment() public {
        number += 1;
        emit Set(number);
    }
}
