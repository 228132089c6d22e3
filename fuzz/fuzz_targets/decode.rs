#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gkmvlp_fuzz::checks::decode(data));
