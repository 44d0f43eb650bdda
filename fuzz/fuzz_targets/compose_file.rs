//! Compose files (untrusted repository content) never panic the parser or the
//! plan's normaliser.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = docker_cd::compose::file::parse(data);
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(value) = serde_saphyr::from_str::<serde_json::Value>(text)
    {
        let _ = docker_cd::plan::spec::desired_services(&value, "fuzz", &BTreeMap::new());
    }
});
