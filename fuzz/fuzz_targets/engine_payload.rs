#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| preconf_fuzz::engine_payload(data));
