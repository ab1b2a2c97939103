// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Counter} from "../src/Counter.sol";

interface Vm {
    function envUint(string calldata name) external view returns (uint256);
    function startBroadcast(uint256 privateKey) external;
    function stopBroadcast() external;
}

/// `forge script --broadcast`: deploys a Counter, sets it and increments it (three transactions).
contract CounterScript {
    Vm constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    function run() external {
        vm.startBroadcast(vm.envUint("PRIVATE_KEY"));
        Counter c = new Counter();
        c.set(41);
        c.increment();
        vm.stopBroadcast();
    }
}
