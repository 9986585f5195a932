//! Per-run resource limits and the store's memory accountant that enforces
//! the memory limit and measures peak use.
//!
//! Every limit is declared once, in the `limits!` table below: its field of
//! [`Limits`] (plain data the sandbox enforces), its flag and `[limits]` key
//! ([`LimitSettings`]), its kind, default and documentation. Adding a limit
//! is one line there, plus the code that enforces it.

use std::time::Duration;

use hookbox_core::units::{self, UnitError};

/// Most table elements one run may have (CPython's function tables need a few
/// thousand; this only stops a runaway `table.grow`).
pub const MAX_TABLE_ELEMENTS: usize = 1_000_000;

/// One kind of limit: how it is written in flags and the file, and read.
pub trait LimitKind {
    /// The value the sandbox enforces.
    type Value: Clone + std::fmt::Debug + PartialEq;
    /// The value as a user writes it.
    type Written: Clone + std::fmt::Debug;
    /// The flag's placeholder in `--help`.
    const PLACEHOLDER: &'static str;
    /// Reads a written value, naming `flag` in the error.
    fn read(flag: &str, written: &Self::Written) -> Result<Self::Value, UnitError>;
}

/// A duration: `5s`, `1500ms`.
pub struct Wall;
/// A size in bytes: `64MiB`, `512KiB`, `1048576`.
pub struct Size;
/// A plain count.
pub struct Count;

impl LimitKind for Wall {
    type Value = Duration;
    type Written = String;
    const PLACEHOLDER: &'static str = "DURATION";
    fn read(flag: &str, written: &String) -> Result<Duration, UnitError> {
        units::parse_duration(flag, written)
    }
}

impl LimitKind for Size {
    type Value = u64;
    type Written = String;
    const PLACEHOLDER: &'static str = "SIZE";
    fn read(flag: &str, written: &String) -> Result<u64, UnitError> {
        units::parse_size(flag, written)
    }
}

impl LimitKind for Count {
    type Value = u64;
    type Written = u64;
    const PLACEHOLDER: &'static str = "N";
    fn read(flag: &str, written: &u64) -> Result<u64, UnitError> {
        units::nonzero(flag, *written)
    }
}

/// Declares every limit once. Each line gives the field of [`Limits`], the
/// key it is set by (flag `--max-output`, file key `max_output` in
/// `[limits]`), its kind and its default as a user would write it; the doc
/// comment is both the field's documentation and the flag's help.
macro_rules! limits {
    ($(
        $(#[doc = $doc:literal])+
        $field:ident by $key:ident: $kind:ty = $default:literal;
    )+) => {
        /// The limits one run is held to. Every field has a safe default.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct Limits {
            $($(#[doc = $doc])+ pub $field: <$kind as LimitKind>::Value,)+
        }

        impl Default for Limits {
            fn default() -> Self {
                Limits {$(
                    $field: <$kind>::read(stringify!($key), &$default.into())
                        .expect("a limit's default reads as its kind"),
                )+}
            }
        }

        /// The limits as flags and as the configuration file's `[limits]`
        /// section: every one optional, falling back to the defaults of
        /// [`Limits`].
        #[derive(Debug, Clone, Default, serde::Deserialize)]
        #[cfg_attr(feature = "clap", derive(clap::Args))]
        #[serde(deny_unknown_fields)]
        pub struct LimitSettings {
            $(
                #[doc = concat!($($doc,)+ " [default: ", $default, "]")]
                #[cfg_attr(feature = "clap", arg(
                    long,
                    value_name = <$kind as LimitKind>::PLACEHOLDER,
                    help = concat!($($doc,)+ " [default: ", $default, "]").trim_start(),
                ))]
                pub $key: Option<<$kind as LimitKind>::Written>,
            )+
        }

        impl LimitSettings {
            /// Every key (`timeout`, `max_output`, ...; see [`flag`]) with
            /// its default as written.
            pub const DEFAULTS: &'static [(&'static str, &'static str)] =
                &[$((stringify!($key), concat!($default))),+];

            /// These values, falling back to `base` for those not given.
            pub fn over(self, base: LimitSettings) -> LimitSettings {
                LimitSettings {$($key: self.$key.or(base.$key),)+}
            }

            /// Resolves the values over the defaults.
            pub fn resolve(&self) -> Result<Limits, UnitError> {
                let defaults = Limits::default();
                Ok(Limits {$(
                    $field: match &self.$key {
                        Some(written) => <$kind>::read(&flag(stringify!($key)), written)?,
                        None => defaults.$field,
                    },
                )+})
            }
        }
    };
}

/// The flag a `[limits]` key is also given as.
pub fn flag(key: &str) -> String {
    format!("--{}", key.replace('_', "-"))
}

limits! {
    /// Wall-clock limit of a run, including time blocked in host calls such
    /// as sleeps, e.g. `5s` or `1500ms`.
    timeout by timeout: Wall = "10s";
    /// Fuel (CPU) budget in units, about 1.2e10 per second of busy CPU on
    /// a 2-core x86-64 machine; a typical forwarding hook uses about ten
    /// million.
    fuel by fuel: Count = 20_000_000_000u64;
    /// Linear memory one run may hold, all memories together, e.g. `64MiB`.
    memory_bytes by memory: Size = "128MiB";
    /// Bytes kept of each of stdout and stderr; the rest is dropped and
    /// marked as truncated.
    output_bytes by max_output: Size = "64KiB";
    /// Bytes a run may write to its private scratch folder (`/tmp`): every
    /// byte written or grown (also what is deleted later) plus 4 KiB for
    /// each file or folder created; a write past it fails with "No space
    /// left on device".
    scratch_bytes by max_scratch: Size = "16MiB";
    /// Largest payload handed to a hook (Hoop's payload carries the session
    /// input, so it can be large, but not unbounded).
    payload_bytes by max_payload: Size = "1MiB";
    /// Largest body of each HTTP request a hook sends and each response it
    /// receives.
    http_body_bytes by max_http_body: Size = "10MiB";
}

/// Enforces the memory limit over all linear memories of a store together and
/// remembers the peak and whether a growth was refused.
#[derive(Debug)]
pub struct MemoryAccountant {
    limit: usize,
    current: usize,
    peak: usize,
    refused: bool,
}

impl MemoryAccountant {
    /// An accountant that lets memories grow up to `limit` bytes in total.
    pub fn new(limit: u64) -> Self {
        MemoryAccountant {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            current: 0,
            peak: 0,
            refused: false,
        }
    }

    /// The most memory held at one time, in bytes.
    pub fn peak(&self) -> u64 {
        self.peak as u64
    }

    /// Whether a growth was refused because of the limit.
    pub fn refused(&self) -> bool {
        self.refused
    }
}

impl wasmtime::ResourceLimiter for MemoryAccountant {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let after = self.current - current.min(self.current) + desired;
        if after > self.limit {
            self.refused = true;
            return Ok(false);
        }
        self.current = after;
        self.peak = self.peak.max(after);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

#[cfg(test)]
mod tests {
    use wasmtime::ResourceLimiter;

    use super::*;

    #[test]
    fn memories_are_limited_together() {
        let mut accountant = MemoryAccountant::new(100);
        assert!(accountant.memory_growing(0, 60, None).unwrap());
        assert!(accountant.memory_growing(0, 30, None).unwrap());
        assert!(!accountant.memory_growing(30, 50, None).unwrap());
        assert!(accountant.refused());
        assert_eq!(accountant.peak(), 90);
    }

    #[test]
    fn growth_within_the_limit_tracks_the_peak() {
        let mut accountant = MemoryAccountant::new(1000);
        assert!(accountant.memory_growing(0, 100, None).unwrap());
        assert!(accountant.memory_growing(100, 400, None).unwrap());
        assert!(!accountant.refused());
        assert_eq!(accountant.peak(), 400);
    }

    #[test]
    fn every_default_reads_and_unset_values_keep_it() {
        let limits = LimitSettings {
            timeout: Some("2s".into()),
            fuel: Some(5),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(limits.timeout, Duration::from_secs(2));
        assert_eq!(limits.fuel, 5);
        assert_eq!(limits.memory_bytes, Limits::default().memory_bytes);
        assert_eq!(Limits::default().output_bytes, 64 * 1024);
    }

    #[test]
    fn the_readme_documents_every_limit_with_its_default() {
        let readme = include_str!("../../../docs/running-hooks.md");
        for (key, default) in LimitSettings::DEFAULTS {
            let row = format!("| `{}` | `{default}`", flag(key));
            assert!(
                readme.contains(&row),
                "docs/running-hooks.md's Limits table lacks {row:?}"
            );
        }
    }

    #[test]
    fn bad_values_name_their_flag() {
        let settings = LimitSettings {
            max_http_body: Some("0B".into()),
            ..Default::default()
        };
        assert_eq!(
            settings.resolve(),
            Err(UnitError::Zero {
                flag: "--max-http-body".into()
            })
        );
    }
}
