//! The configuration file: whatever TOML it holds, reading and resolving it
//! ends in settings or an error, never a panic.
#![no_main]

use hookbox::settings::{self, ConfigFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let Ok(file) = toml::from_str::<ConfigFile>(text) else {
        return;
    };
    let _ = file.limits.resolve();
    let _ = settings::resolve_policy(&file.egress.allow, &file.egress.unverified_tls);
    let _ = settings::resolve_url_masks(&file.secrets.mask_urls);
    let _ = settings::resolve_env(&file.env.pass, |_| Some("value".into()));
    let _ = file.service.clone().resolve(|_| None);
});
