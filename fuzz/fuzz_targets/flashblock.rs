#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| preconf_fuzz::flashblock(data));
